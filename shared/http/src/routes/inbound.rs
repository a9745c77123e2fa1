use crate::auth::Caller;
use crate::extract::{bad_param, in_query, ApiQuery};
use crate::problem::{ApiError, Problem};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use helpdesk_app::directory::DirectoryPage;
use helpdesk_app::inbound::Quarantined;

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuarantineParams {
    /// 1-200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<usize>,
    /// `next_cursor` from the previous page; any other value is a 400.
    cursor: Option<String>,
}

/// Inbound messages that could not become tickets (unparseable, too large, no usable sender),
/// newest first, with the reason; the raw message is kept. `helpdesk ingest-email` on the raw
/// file (or the reprocess use case) runs them again.
#[utoipa::path(get, path = "/api/v1/quarantine", tag = "email", security(("bearer" = [])), params(QuarantineParams),
    responses((status = 200, body = DirectoryPage<Quarantined>), (status = 403, body = Problem)))]
pub async fn list(
    State(s): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(p): ApiQuery<QuarantineParams>,
) -> Result<Json<DirectoryPage<Quarantined>>, Problem> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(bad_param("limit", "must be 1-200"));
    }
    s.helpdesk
        .list_quarantine(&actor, limit, p.cursor.filter(|c| !c.is_empty()))
        .await
        .map(Json)
        .map_err(|e| in_query(e, &["limit", "cursor"]))
}

/// Runs a quarantined message through ingestion again (after a fix, or with new limits). It
/// leaves the quarantine unless it is rejected again; the outcome says what became of it.
#[utoipa::path(post, path = "/api/v1/quarantine/{id}/reprocess", tag = "email", security(("bearer" = [])),
    params(("id" = String, Path, description = "The quarantine id (SHA-256 of the raw message)")),
    responses((status = 200, body = helpdesk_app::inbound::IngestOutcome), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn reprocess(
    State(s): State<AppState>,
    Caller(actor): Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<helpdesk_app::inbound::IngestOutcome>, ApiError> {
    Ok(Json(s.helpdesk.reprocess(&actor, &id).await?))
}
