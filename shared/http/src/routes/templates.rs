//! Response templates: admins write, the team reads and renders them for a ticket.

use crate::auth::Caller;
use crate::extract::{bad_param, etag, if_match, in_query, ApiJson, ApiQuery};
use crate::problem::{ApiError, Problem};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use helpdesk_app::directory::DirectoryPage;
use helpdesk_app::templates::{RenderRequest, RenderedTemplate, TemplateInput, TemplateUpdate};
use helpdesk_domain::template::ResponseTemplate;

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TemplateListParams {
    /// Only the translations of this template (empty: all templates).
    #[param(pattern = "^[a-z0-9_-]{0,64}$")]
    name: Option<String>,
    /// 1-200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<usize>,
    /// `next_cursor` from the previous page; any other value is a 400.
    cursor: Option<String>,
}

fn fail(e: impl Into<Problem>) -> Response {
    e.into().into_response()
}

fn versioned(status: StatusCode, t: &ResponseTemplate) -> Response {
    (status, [etag(t.version)], Json(t)).into_response()
}

#[utoipa::path(get, path = "/api/v1/templates", tag = "templates", security(("bearer" = [])), params(TemplateListParams),
    responses((status = 200, body = DirectoryPage<ResponseTemplate>), (status = 403, body = Problem), (status = 400, body = Problem)))]
pub async fn list(
    State(s): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(p): ApiQuery<TemplateListParams>,
) -> Result<Json<DirectoryPage<ResponseTemplate>>, Response> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(fail(bad_param("limit", "must be 1-200")));
    }
    s.helpdesk
        .list_templates(
            &actor,
            p.name.as_deref().filter(|n| !n.is_empty()),
            limit,
            p.cursor.filter(|c| !c.is_empty()),
        )
        .await
        .map(Json)
        .map_err(|e| fail(in_query(e, &["name", "limit", "cursor"])))
}

/// Tokens: `{{customer.first_name}}`, `{{customer.name}}`, `{{ticket.number}}`,
/// `{{ticket.subject}}`, `{{agent.name}}`, `{{agent.first_name}}`. An unknown token or an
/// unbalanced `{{` / `}}` is a 422 naming the field (`subject` or `body`).
#[utoipa::path(post, path = "/api/v1/templates", tag = "templates", security(("bearer" = [])), request_body = TemplateInput,
    responses((status = 201, body = ResponseTemplate), (status = 403, body = Problem), (status = 409, body = Problem, description = "That name and locale exist"), (status = 422, body = Problem)))]
pub async fn create(
    State(s): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<TemplateInput>,
) -> Result<Response, ApiError> {
    let t = s.helpdesk.create_template(&actor, input).await?;
    Ok(versioned(StatusCode::CREATED, &t))
}

#[utoipa::path(get, path = "/api/v1/templates/{name}/{locale}", tag = "templates", security(("bearer" = [])),
    params(("name" = String, Path), ("locale" = String, Path)),
    responses((status = 200, body = ResponseTemplate), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_one(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path((name, locale)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = s.helpdesk.get_template(&actor, &name, &locale).await?;
    Ok(versioned(StatusCode::OK, &t))
}

#[utoipa::path(put, path = "/api/v1/templates/{name}/{locale}", tag = "templates", security(("bearer" = [])),
    params(("name" = String, Path), ("locale" = String, Path), ("If-Match" = Option<String>, Header)), request_body = TemplateUpdate,
    responses((status = 200, body = ResponseTemplate), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path((name, locale)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<TemplateUpdate>,
) -> Result<Response, Response> {
    let expected = if_match(&headers).map_err(IntoResponse::into_response)?;
    let t = s
        .helpdesk
        .update_template(&actor, &name, &locale, input, expected)
        .await
        .map_err(fail)?;
    Ok(versioned(StatusCode::OK, &t))
}

#[utoipa::path(delete, path = "/api/v1/templates/{name}/{locale}", tag = "templates", security(("bearer" = [])),
    params(("name" = String, Path), ("locale" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path((name, locale)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, Response> {
    let expected = if_match(&headers).map_err(IntoResponse::into_response)?;
    s.helpdesk
        .delete_template(&actor, &name, &locale, expected)
        .await
        .map_err(fail)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Fills a template in for this ticket (the customer's locale unless `locale` is given, then its
/// language, then `en`): a preview to edit and send as a reply. To send it unchanged, post a
/// message with `template` instead of `body`.
#[utoipa::path(post, path = "/api/v1/tickets/{ticket}/render", tag = "templates", security(("bearer" = [])),
    params(("ticket" = String, Path)), request_body = RenderRequest,
    responses((status = 200, body = RenderedTemplate), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn render(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(ticket): Path<String>,
    ApiJson(input): ApiJson<RenderRequest>,
) -> Result<Json<RenderedTemplate>, ApiError> {
    Ok(Json(
        s.helpdesk.render_template(&actor, &ticket, input).await?,
    ))
}
