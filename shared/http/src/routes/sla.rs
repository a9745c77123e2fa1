use crate::auth::Caller;
use crate::extract::{etag, if_match, ApiJson};
use crate::problem::{ApiError, Problem};
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use helpdesk_domain::sla::SlaPolicy;

#[utoipa::path(get, path = "/api/v1/sla/policy", tag = "sla", security(("bearer" = [])),
    responses((status = 200, body = SlaPolicy), (status = 403, body = Problem), (status = 404, body = Problem, description = "No policy yet: no SLA clocks run")))]
pub async fn get_policy(
    State(s): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    match s.helpdesk.get_sla_policy(&actor).await? {
        Some((policy, version)) => {
            Ok((StatusCode::OK, [etag(version)], Json(policy)).into_response())
        }
        None => Ok(Problem::not_found("no SLA policy is configured").into_response()),
    }
}

#[utoipa::path(put, path = "/api/v1/sla/policy", tag = "sla", security(("bearer" = [])),
    params(("If-Match" = Option<String>, Header)), request_body = SlaPolicy,
    responses((status = 200, body = SlaPolicy), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn put_policy(
    State(s): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    ApiJson(policy): ApiJson<SlaPolicy>,
) -> Result<Response, Response> {
    let expected = if_match(&headers).map_err(IntoResponse::into_response)?;
    let (policy, version) = s
        .helpdesk
        .put_sla_policy(&actor, policy, expected)
        .await
        .map_err(|e| ApiError(e).into_response())?;
    Ok((StatusCode::OK, [etag(version)], Json(policy)).into_response())
}
