use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use helpdesk_app::classify::ModelInfo;

/// The current categorisation model: when it was trained, on how many labelled tickets, its
/// categories and its accuracy on a held-out slice. Supervisors and admins.
#[utoipa::path(get, path = "/api/v1/classifier", tag = "classifier", security(("bearer" = [])),
    responses((status = 200, body = ModelInfo), (status = 403, body = Problem), (status = 404, body = Problem, description = "No model trained yet")))]
pub async fn get_info(
    State(s): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    match s.helpdesk.classifier_info(&actor).await? {
        Some(info) => Ok(Json(info).into_response()),
        None => Ok(Problem::not_found("no classifier model is trained yet").into_response()),
    }
}

/// Trains a new model from every ticket whose category an agent set or corrected, and makes
/// it current. Admins. 422 when there are too few labelled tickets or categories.
#[utoipa::path(post, path = "/api/v1/classifier/train", tag = "classifier", security(("bearer" = [])),
    responses((status = 200, body = ModelInfo), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn train(
    State(s): State<AppState>,
    Caller(actor): Caller,
) -> Result<Json<ModelInfo>, ApiError> {
    Ok(Json(s.helpdesk.train_classifier(&actor).await?))
}
