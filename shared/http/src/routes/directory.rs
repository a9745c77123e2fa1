//! Agents, departments, customers: admins write, the team reads.

use crate::auth::Caller;
use crate::extract::{bad_param, etag, if_match, in_query, ApiJson, ApiQuery};
use crate::problem::{ApiError, Problem};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use helpdesk_app::directory::{AgentInput, CustomerInput, DepartmentInput, DirectoryPage};
use helpdesk_domain::{Agent, AgentStatus, Customer, Department, DepartmentId, EmailAddress};

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1-200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<usize>,
    /// `next_cursor` from the previous page; any other value is a 400.
    cursor: Option<String>,
}

impl PageParams {
    fn limit(&self) -> Result<usize, Problem> {
        match self.limit {
            None => Ok(50),
            Some(l) if (1..=200).contains(&l) => Ok(l),
            Some(_) => Err(bad_param("limit", "must be 1-200")),
        }
    }
}

fn email(raw: &str) -> Result<EmailAddress, Problem> {
    EmailAddress::parse(raw).map_err(|e| Problem::validation("email", e.to_string()))
}

fn department_id(raw: &str) -> Result<DepartmentId, Problem> {
    DepartmentId::parse(raw).map_err(|e| Problem::validation("id", e.to_string()))
}

fn page_query(ApiQuery(p): ApiQuery<PageParams>) -> Result<(usize, Option<String>), Problem> {
    Ok((p.limit()?, p.cursor.filter(|c| !c.is_empty())))
}

/// A list's answer: a stale `cursor` is a query problem like a bad `limit`.
fn page_fail(e: helpdesk_app::AppError) -> Response {
    fail(in_query(e, &["limit", "cursor"]))
}

fn versioned<T: serde::Serialize>(status: StatusCode, version: u64, body: &T) -> Response {
    (status, [etag(version)], Json(body)).into_response()
}

fn fail(p: impl Into<Problem>) -> Response {
    p.into().into_response()
}

// ---- agents ----

#[utoipa::path(get, path = "/api/v1/agents", tag = "agents", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = DirectoryPage<Agent>), (status = 403, body = Problem)))]
pub async fn list_agents(
    State(s): State<AppState>,
    Caller(actor): Caller,
    q: ApiQuery<PageParams>,
) -> Result<Json<DirectoryPage<Agent>>, Response> {
    let (limit, cursor) = page_query(q).map_err(fail)?;
    s.helpdesk
        .list_agents(&actor, limit, cursor)
        .await
        .map(Json)
        .map_err(page_fail)
}

#[utoipa::path(post, path = "/api/v1/agents", tag = "agents", security(("bearer" = [])), request_body = AgentInput,
    responses((status = 201, body = Agent), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_agent(
    State(s): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<AgentInput>,
) -> Result<Response, ApiError> {
    let a = s.helpdesk.create_agent(&actor, input).await?;
    Ok(versioned(StatusCode::CREATED, a.version, &a))
}

#[utoipa::path(get, path = "/api/v1/agents/{email}", tag = "agents", security(("bearer" = [])), params(("email" = String, Path)),
    responses((status = 200, body = Agent), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_agent(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(raw): Path<String>,
) -> Result<Response, Response> {
    let a = s
        .helpdesk
        .get_agent(&actor, &email(&raw).map_err(fail)?)
        .await
        .map_err(fail)?;
    Ok(versioned(StatusCode::OK, a.version, &a))
}

#[utoipa::path(put, path = "/api/v1/agents/{email}", tag = "agents", security(("bearer" = [])), params(("email" = String, Path), ("If-Match" = Option<String>, Header)), request_body = AgentInput,
    responses((status = 200, body = Agent), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_agent(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<AgentInput>,
) -> Result<Response, Response> {
    let expected = if_match(&headers).map_err(fail)?;
    let a = s
        .helpdesk
        .update_agent(&actor, &email(&raw).map_err(fail)?, input, expected)
        .await
        .map_err(fail)?;
    Ok(versioned(StatusCode::OK, a.version, &a))
}

#[utoipa::path(delete, path = "/api/v1/agents/{email}", tag = "agents", security(("bearer" = [])), params(("email" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_agent(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, Response> {
    let expected = if_match(&headers).map_err(fail)?;
    s.helpdesk
        .delete_agent(&actor, &email(&raw).map_err(fail)?, expected)
        .await
        .map_err(fail)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    pub status: AgentStatus,
}

#[utoipa::path(put, path = "/api/v1/agents/{email}/status", tag = "agents", security(("bearer" = [])), params(("email" = String, Path)), request_body = StatusChange,
    responses((status = 200, body = Agent), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn set_agent_status(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(raw): Path<String>,
    ApiJson(input): ApiJson<StatusChange>,
) -> Result<Response, Response> {
    let a = s
        .helpdesk
        .set_agent_status(&actor, &email(&raw).map_err(fail)?, input.status)
        .await
        .map_err(fail)?;
    Ok(versioned(StatusCode::OK, a.version, &a))
}

// ---- departments ----

#[utoipa::path(get, path = "/api/v1/departments", tag = "departments", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = DirectoryPage<Department>), (status = 403, body = Problem)))]
pub async fn list_departments(
    State(s): State<AppState>,
    Caller(actor): Caller,
    q: ApiQuery<PageParams>,
) -> Result<Json<DirectoryPage<Department>>, Response> {
    let (limit, cursor) = page_query(q).map_err(fail)?;
    s.helpdesk
        .list_departments(&actor, limit, cursor)
        .await
        .map(Json)
        .map_err(page_fail)
}

#[utoipa::path(post, path = "/api/v1/departments", tag = "departments", security(("bearer" = [])), request_body = DepartmentInput,
    responses((status = 201, body = Department), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_department(
    State(s): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<DepartmentInput>,
) -> Result<Response, ApiError> {
    let d = s.helpdesk.create_department(&actor, input).await?;
    Ok(versioned(StatusCode::CREATED, d.version, &d))
}

#[utoipa::path(get, path = "/api/v1/departments/{id}", tag = "departments", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Department), (status = 404, body = Problem)))]
pub async fn get_department(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(raw): Path<String>,
) -> Result<Response, Response> {
    let d = s
        .helpdesk
        .get_department(&actor, &department_id(&raw).map_err(fail)?)
        .await
        .map_err(fail)?;
    Ok(versioned(StatusCode::OK, d.version, &d))
}

#[utoipa::path(put, path = "/api/v1/departments/{id}", tag = "departments", security(("bearer" = [])), params(("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = DepartmentInput,
    responses((status = 200, body = Department), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_department(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<DepartmentInput>,
) -> Result<Response, Response> {
    let expected = if_match(&headers).map_err(fail)?;
    let d = s
        .helpdesk
        .update_department(&actor, &department_id(&raw).map_err(fail)?, input, expected)
        .await
        .map_err(fail)?;
    Ok(versioned(StatusCode::OK, d.version, &d))
}

#[utoipa::path(delete, path = "/api/v1/departments/{id}", tag = "departments", security(("bearer" = [])), params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_department(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, Response> {
    let expected = if_match(&headers).map_err(fail)?;
    s.helpdesk
        .delete_department(&actor, &department_id(&raw).map_err(fail)?, expected)
        .await
        .map_err(fail)?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- customers ----

#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = DirectoryPage<Customer>), (status = 403, body = Problem)))]
pub async fn list_customers(
    State(s): State<AppState>,
    Caller(actor): Caller,
    q: ApiQuery<PageParams>,
) -> Result<Json<DirectoryPage<Customer>>, Response> {
    let (limit, cursor) = page_query(q).map_err(fail)?;
    s.helpdesk
        .list_customers(&actor, limit, cursor)
        .await
        .map(Json)
        .map_err(page_fail)
}

#[utoipa::path(post, path = "/api/v1/customers", tag = "customers", security(("bearer" = [])), request_body = CustomerInput,
    responses((status = 201, body = Customer), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_customer(
    State(s): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<CustomerInput>,
) -> Result<Response, ApiError> {
    let c = s.helpdesk.create_customer(&actor, input).await?;
    Ok(versioned(StatusCode::CREATED, c.version, &c))
}

#[utoipa::path(get, path = "/api/v1/customers/{email}", tag = "customers", security(("bearer" = [])), params(("email" = String, Path)),
    responses((status = 200, body = Customer), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_customer(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(raw): Path<String>,
) -> Result<Response, Response> {
    let c = s
        .helpdesk
        .get_customer(&actor, &email(&raw).map_err(fail)?)
        .await
        .map_err(fail)?;
    Ok(versioned(StatusCode::OK, c.version, &c))
}

#[utoipa::path(put, path = "/api/v1/customers/{email}", tag = "customers", security(("bearer" = [])), params(("email" = String, Path), ("If-Match" = Option<String>, Header)), request_body = CustomerInput,
    responses((status = 200, body = Customer), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_customer(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<CustomerInput>,
) -> Result<Response, Response> {
    let expected = if_match(&headers).map_err(fail)?;
    let c = s
        .helpdesk
        .update_customer(&actor, &email(&raw).map_err(fail)?, input, expected)
        .await
        .map_err(fail)?;
    Ok(versioned(StatusCode::OK, c.version, &c))
}

#[utoipa::path(delete, path = "/api/v1/customers/{email}", tag = "customers", security(("bearer" = [])), params(("email" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_customer(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, Response> {
    let expected = if_match(&headers).map_err(fail)?;
    s.helpdesk
        .delete_customer(&actor, &email(&raw).map_err(fail)?, expected)
        .await
        .map_err(fail)?;
    Ok(StatusCode::NO_CONTENT)
}
