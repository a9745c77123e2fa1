//! Automation settings (admins), agents' follow-ups on a ticket, and agents' notifications.

use crate::auth::Caller;
use crate::extract::{etag, if_match, ApiJson};
use crate::problem::{ApiError, Problem};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use helpdesk_app::automations::{AutomationSettings, NewFollowUp, Notification, ScheduledJob};

/// The settings and their version (`ETag`; 0 before the first save). Everything is off by
/// default.
#[utoipa::path(get, path = "/api/v1/automation/settings", tag = "automations", security(("bearer" = [])),
    responses((status = 200, body = AutomationSettings), (status = 403, body = Problem)))]
pub async fn get_settings(
    State(s): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    let (settings, version) = s.helpdesk.get_automation_settings(&actor).await?;
    Ok((StatusCode::OK, [etag(version)], Json(settings)).into_response())
}

/// Replaces the settings (admins). Send `If-Match` with the version read (`"0"` before the
/// first save): a stale one is a 409.
#[utoipa::path(put, path = "/api/v1/automation/settings", tag = "automations", security(("bearer" = [])),
    params(("If-Match" = Option<String>, Header)), request_body = AutomationSettings,
    responses((status = 200, body = AutomationSettings), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn put_settings(
    State(s): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    ApiJson(settings): ApiJson<AutomationSettings>,
) -> Result<Response, Response> {
    let expected = if_match(&headers).map_err(IntoResponse::into_response)?;
    let (settings, version) = s
        .helpdesk
        .put_automation_settings(&actor, settings, expected)
        .await
        .map_err(|e| ApiError(e).into_response())?;
    Ok((StatusCode::OK, [etag(version)], Json(settings)).into_response())
}

/// Every scheduled job of the ticket: agents' follow-ups and the automations' own (survey,
/// "did this solve it?", auto-close), with their state.
#[utoipa::path(get, path = "/api/v1/tickets/{ticket}/follow-ups", tag = "automations", security(("bearer" = [])),
    params(("ticket" = String, Path, description = "Ticket id or number")),
    responses((status = 200, body = Vec<ScheduledJob>), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_follow_ups(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(ticket): Path<String>,
) -> Result<Json<Vec<ScheduledJob>>, ApiError> {
    Ok(Json(s.helpdesk.list_follow_ups(&actor, &ticket).await?))
}

/// Schedules a follow-up: at `at` the assignee (or, unassigned, the agent who scheduled it)
/// gets an in-app notification and an audit entry; with `email_template` the customer also
/// gets that template by e-mail.
#[utoipa::path(post, path = "/api/v1/tickets/{ticket}/follow-ups", tag = "automations", security(("bearer" = [])),
    params(("ticket" = String, Path, description = "Ticket id or number")), request_body = NewFollowUp,
    responses((status = 201, body = ScheduledJob), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_follow_up(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(ticket): Path<String>,
    ApiJson(input): ApiJson<NewFollowUp>,
) -> Result<Response, ApiError> {
    let job = s
        .helpdesk
        .schedule_follow_up(&actor, &ticket, input)
        .await?;
    Ok((StatusCode::CREATED, Json(job)).into_response())
}

/// Cancels a pending follow-up (any scheduled job of the ticket). Cancelling twice is fine; one
/// that already ran is a 409.
#[utoipa::path(delete, path = "/api/v1/tickets/{ticket}/follow-ups/{id}", tag = "automations", security(("bearer" = [])),
    params(("ticket" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = ScheduledJob), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn cancel_follow_up(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path((ticket, id)): Path<(String, String)>,
) -> Result<Json<ScheduledJob>, ApiError> {
    Ok(Json(
        s.helpdesk.cancel_follow_up(&actor, &ticket, &id).await?,
    ))
}

/// The caller's in-app notifications (follow-up reminders, SLA warnings and breaches), newest
/// first, the last 50.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "automations", security(("bearer" = [])),
    responses((status = 200, body = Vec<Notification>), (status = 403, body = Problem)))]
pub async fn notifications(
    State(s): State<AppState>,
    Caller(actor): Caller,
) -> Result<Json<Vec<Notification>>, ApiError> {
    Ok(Json(s.helpdesk.list_notifications(&actor, 50).await?))
}
