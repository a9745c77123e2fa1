//! The routing queue's dead letters (admins): events that failed too often or could not be read.

use crate::auth::Caller;
use crate::extract::{bad_param, ApiQuery};
use crate::problem::{ApiError, Problem};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use helpdesk_app::queue::DeadLetter;

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterParams {
    /// 1-100, default 50.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct DeadLetterList {
    pub items: Vec<DeadLetter>,
}

/// Routing events that were dead-lettered (failed `max_receives` times, or unreadable), oldest
/// first, with the last error. Admins only.
#[utoipa::path(get, path = "/api/v1/routing/dead-letters", tag = "routing", security(("bearer" = [])), params(DeadLetterParams),
    responses((status = 200, body = DeadLetterList), (status = 403, body = Problem)))]
pub async fn list(
    State(s): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(p): ApiQuery<DeadLetterParams>,
) -> Result<Json<DeadLetterList>, Response> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(bad_param("limit", "must be 1-100").into_response());
    }
    let items = s
        .helpdesk
        .routing_dead_letters(&actor, limit)
        .await
        .map_err(|e| ApiError(e).into_response())?;
    Ok(Json(DeadLetterList { items }))
}

/// Puts a dead letter back on the routing queue with a fresh attempt count. Admins only.
#[utoipa::path(post, path = "/api/v1/routing/dead-letters/{id}/requeue", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path, description = "The dead letter's id from the list")),
    responses((status = 202, description = "Requeued"), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn requeue(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.helpdesk.requeue_dead_letter(&actor, &id).await?;
    Ok(StatusCode::ACCEPTED)
}
