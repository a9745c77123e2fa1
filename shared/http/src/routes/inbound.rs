use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::AppState;
use axum::extract::{Query, State};
use axum::Json;
use helpdesk_app::directory::DirectoryPage;
use helpdesk_app::inbound::Quarantined;

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuarantineParams {
    /// 1-200, default 50.
    limit: Option<usize>,
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
    Query(p): Query<QuarantineParams>,
) -> Result<Json<DirectoryPage<Quarantined>>, ApiError> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError(helpdesk_app::AppError::validation(
            "limit",
            "must be 1-200",
        )));
    }
    Ok(Json(
        s.helpdesk
            .list_quarantine(&actor, limit, p.cursor.filter(|c| !c.is_empty()))
            .await?,
    ))
}
