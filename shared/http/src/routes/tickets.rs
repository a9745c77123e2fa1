use crate::auth::Caller;
use crate::extract::{bad_param, etag, if_match, in_query, ApiJson, ApiQuery};
use crate::problem::{ApiError, Problem};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use helpdesk_app::listing::{AssigneeFilter, SortOrder, TicketFilter, TicketPage};
use helpdesk_app::tickets::{
    BulkRequest, BulkResult, Merge, NewMessage, NewTicket, TicketView, Transfer, UpdateTicket,
};
use helpdesk_domain::{Channel, DepartmentId, EmailAddress, Message, Priority, Status, Ticket};

pub(crate) fn with_etag<T: serde::Serialize>(
    status: StatusCode,
    version: u64,
    body: &T,
) -> Response {
    (status, [etag(version)], Json(body)).into_response()
}

#[utoipa::path(
    post, path = "/api/v1/tickets", tag = "tickets", security(("bearer" = [])),
    request_body = NewTicket,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key returns the same ticket for 24 h")),
    responses(
        (status = 201, body = Ticket, description = "Created"),
        (status = 200, body = Ticket, description = "Replay of an Idempotency-Key"),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)
    )
)]
pub async fn create(
    State(s): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    ApiJson(input): ApiJson<NewTicket>,
) -> Result<Response, ApiError> {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let (ticket, created) = s.helpdesk.create_ticket(&actor, input, key).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut resp = with_etag(status, ticket.version, &ticket);
    if let Ok(v) = format!("/api/v1/tickets/{}", ticket.id).parse() {
        resp.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    Ok(resp)
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListParams {
    /// `all`, `open` (new, assigned, in_progress), `done` (resolved, closed), or statuses, comma-separated.
    #[param(
        pattern = r"^(all|open|done|(new|assigned|in_progress|resolved|closed)(,(new|assigned|in_progress|resolved|closed))*)?$"
    )]
    status: Option<String>,
    /// Priorities, comma-separated.
    #[param(pattern = r"^((low|medium|high|urgent)(,(low|medium|high|urgent))*)?$")]
    priority: Option<String>,
    /// `me`, `unassigned`, `any`, or an agent's e-mail.
    #[param(
        pattern = r"^(me|unassigned|none|any|[A-Za-z0-9_+-]{1,32}(\.[A-Za-z0-9_+-]{1,16}){0,2}@[a-z0-9]{1,20}(\.[a-z]{2,10}){1,2})?$"
    )]
    assignee: Option<String>,
    #[param(pattern = "^[a-z0-9]([a-z0-9-]{0,46}[a-z0-9])?$")]
    department: Option<String>,
    category: Option<String>,
    #[param(value_type = Option<Channel>)]
    channel: Option<String>,
    /// A customer's e-mail.
    #[param(
        pattern = r"^[A-Za-z0-9_+-]{1,32}(\.[A-Za-z0-9_+-]{1,16}){0,2}@[a-z0-9]{1,20}(\.[a-z]{2,10}){1,2}$"
    )]
    customer: Option<String>,
    /// RFC 3339 lower bound on creation time (inclusive); a date (`2026-01-31`) means its start.
    #[param(value_type = Option<String>, format = DateTime)]
    created_from: Option<String>,
    /// RFC 3339 upper bound on creation time (inclusive); a date means its start.
    #[param(value_type = Option<String>, format = DateTime)]
    created_to: Option<String>,
    /// Ticket number, customer e-mail, or words of the subject / customer name.
    #[param(max_length = 200)]
    q: Option<String>,
    /// `priority` (default: most urgent, then oldest), `newest`, `oldest`.
    #[param(pattern = "^(priority|newest|oldest)$")]
    sort: Option<String>,
    /// 1-100, default 25.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
    /// `next_cursor` from the previous page; any other value is a 400.
    cursor: Option<String>,
}

fn parse_list<T>(
    field: &str,
    raw: &str,
    parse: impl Fn(&str) -> Result<T, helpdesk_domain::ParseError>,
) -> Result<Vec<T>, Problem> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse(s).map_err(|e| bad_param(field, format!("{s:?}: {e}"))))
        .collect()
}

fn parse_time(field: &str, raw: &str) -> Result<helpdesk_domain::Timestamp, Problem> {
    chrono::DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        })
        .map_err(|_| bad_param(field, "must be an RFC 3339 time or a date (2026-01-31)"))
}

/// The list's query parameters, for naming them in its 400s.
const QUERY_PARAMS: &[&str] = &[
    "status",
    "priority",
    "assignee",
    "department",
    "category",
    "channel",
    "customer",
    "created_from",
    "created_to",
    "q",
    "sort",
    "limit",
    "cursor",
];

pub(crate) fn filter_from(params: Vec<(String, String)>) -> Result<TicketFilter, Problem> {
    let mut f = TicketFilter {
        limit: 25,
        ..Default::default()
    };
    for (name, value) in params {
        match name.as_str() {
            "status" => match value.trim() {
                "" | "all" => {}
                "open" => f
                    .statuses
                    .extend(Status::ALL.iter().filter(|s| s.is_open())),
                "done" => f
                    .statuses
                    .extend(Status::ALL.iter().filter(|s| !s.is_open())),
                other => f
                    .statuses
                    .extend(parse_list("status", other, Status::parse)?),
            },
            "priority" => f
                .priorities
                .extend(parse_list("priority", &value, Priority::parse)?),
            "assignee" => {
                f.assignee = match value.trim() {
                    "" | "any" => None,
                    "me" => Some(AssigneeFilter::Me),
                    "unassigned" | "none" => Some(AssigneeFilter::Unassigned),
                    other => Some(AssigneeFilter::Agent(
                        EmailAddress::parse(other)
                            .map_err(|e| bad_param("assignee", e.to_string()))?,
                    )),
                }
            }
            "department" => {
                f.department = Some(
                    DepartmentId::parse(&value)
                        .map_err(|e| bad_param("department", e.to_string()))?,
                )
            }
            "category" => f.category = Some(value.trim().to_string()).filter(|c| !c.is_empty()),
            "channel" => {
                f.channel =
                    Some(Channel::parse(&value).map_err(|e| bad_param("channel", e.to_string()))?)
            }
            "customer" => {
                f.customer = Some(
                    EmailAddress::parse(&value)
                        .map_err(|e| bad_param("customer", e.to_string()))?,
                )
            }
            "created_from" => f.created_from = Some(parse_time("created_from", &value)?),
            "created_to" => f.created_to = Some(parse_time("created_to", &value)?),
            "q" => {
                if value.chars().count() > 200 {
                    return Err(bad_param("q", "must be at most 200 characters"));
                }
                f.text = Some(value).filter(|q| !q.trim().is_empty());
            }
            "sort" => {
                f.sort = SortOrder::parse(value.trim()).map_err(|e| in_query(e, &["sort"]))?
            }
            "limit" => {
                f.limit = value
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|l| (1..=100).contains(l))
                    .ok_or_else(|| bad_param("limit", "must be 1-100"))?;
            }
            "cursor" => f.cursor = Some(value).filter(|c| !c.is_empty()),
            other => return Err(bad_param(other, "unknown query parameter")),
        }
    }
    f.statuses.sort();
    f.statuses.dedup();
    Ok(f)
}

#[utoipa::path(
    get, path = "/api/v1/tickets", tag = "tickets", security(("bearer" = [])),
    params(ListParams, ("On-Behalf-Of" = Option<String>, Header, description = "Platform only: the customer (e-mail) the request is for; required to read or answer a ticket, which must be theirs")),
    responses((status = 200, body = TicketPage), (status = 401, body = Problem), (status = 400, body = Problem))
)]
pub async fn list(
    State(s): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(params): ApiQuery<Vec<(String, String)>>,
) -> Result<Json<TicketPage>, Response> {
    // A parameter that was sent and is wrong is a 400; the platform's rule that a list names a
    // customer (`customer=` or `On-Behalf-Of`) stays the 422 docs/in-app.md gives it.
    let sent: Vec<&str> = QUERY_PARAMS
        .iter()
        .copied()
        .filter(|name| params.iter().any(|(n, _)| n == name))
        .collect();
    let filter = filter_from(params).map_err(IntoResponse::into_response)?;
    s.helpdesk
        .list_tickets(&actor, filter)
        .await
        .map(Json)
        .map_err(|e| in_query(e, &sent).into_response())
}

#[utoipa::path(
    get, path = "/api/v1/tickets/{ticket}", tag = "tickets", security(("bearer" = [])),
    params(("ticket" = String, Path, description = "Ticket id (tkt_…) or number (HD-1042)"), ("On-Behalf-Of" = Option<String>, Header, description = "Platform only: the customer (e-mail) the request is for; required to read or answer a ticket, which must be theirs")),
    responses((status = 200, body = TicketView), (status = 404, body = Problem))
)]
pub async fn get_one(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(ticket): Path<String>,
) -> Result<Response, ApiError> {
    let view = s.helpdesk.get_ticket(&actor, &ticket).await?;
    Ok(with_etag(StatusCode::OK, view.ticket.version, &view))
}

#[utoipa::path(
    patch, path = "/api/v1/tickets/{ticket}", tag = "tickets", security(("bearer" = [])),
    params(("ticket" = String, Path), ("If-Match" = Option<String>, Header, description = "ETag (\"v3\") of the version the change is based on")),
    request_body = UpdateTicket,
    responses((status = 200, body = Ticket), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem, description = "Stale version"), (status = 422, body = Problem))
)]
pub async fn update(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(ticket): Path<String>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<UpdateTicket>,
) -> Result<Response, Response> {
    let expected = if_match(&headers).map_err(IntoResponse::into_response)?;
    let t = s
        .helpdesk
        .update_ticket(&actor, &ticket, input, expected)
        .await
        .map_err(|e| ApiError(e).into_response())?;
    Ok(with_etag(StatusCode::OK, t.version, &t))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MessageCreated {
    pub message: Message,
    pub ticket: Ticket,
}

#[utoipa::path(
    post, path = "/api/v1/tickets/{ticket}/messages", tag = "tickets", security(("bearer" = [])),
    params(("ticket" = String, Path), ("On-Behalf-Of" = Option<String>, Header, description = "Platform only: the customer (e-mail) the request is for; required to read or answer a ticket, which must be theirs")),
    request_body = NewMessage,
    responses((status = 201, body = MessageCreated), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem))
)]
pub async fn add_message(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(ticket): Path<String>,
    ApiJson(input): ApiJson<NewMessage>,
) -> Result<Response, ApiError> {
    let (message, ticket) = s.helpdesk.add_message(&actor, &ticket, input).await?;
    let version = ticket.version;
    Ok(with_etag(
        StatusCode::CREATED,
        version,
        &MessageCreated { message, ticket },
    ))
}

#[utoipa::path(
    post, path = "/api/v1/tickets/bulk", tag = "tickets", security(("bearer" = [])),
    request_body = BulkRequest,
    responses((status = 200, body = BulkResult, description = "Per-ticket outcomes; check `failed`"), (status = 403, body = Problem), (status = 422, body = Problem))
)]
pub async fn bulk(
    State(s): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<BulkRequest>,
) -> Result<Json<BulkResult>, ApiError> {
    Ok(Json(s.helpdesk.bulk(&actor, input).await?))
}

#[utoipa::path(
    post, path = "/api/v1/tickets/{ticket}/transfer", tag = "tickets", security(("bearer" = [])),
    params(("ticket" = String, Path)),
    request_body = Transfer,
    responses((status = 200, body = Ticket), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem))
)]
pub async fn transfer(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(ticket): Path<String>,
    ApiJson(input): ApiJson<Transfer>,
) -> Result<Response, ApiError> {
    let t = s.helpdesk.transfer(&actor, &ticket, input).await?;
    Ok(with_etag(StatusCode::OK, t.version, &t))
}

#[utoipa::path(
    post, path = "/api/v1/tickets/{ticket}/merge", tag = "tickets", security(("bearer" = [])),
    params(("ticket" = String, Path, description = "The ticket merged away (it is closed)")),
    request_body = Merge,
    responses((status = 200, body = Ticket, description = "The surviving ticket"), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem))
)]
pub async fn merge(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(ticket): Path<String>,
    ApiJson(input): ApiJson<Merge>,
) -> Result<Response, ApiError> {
    let t = s.helpdesk.merge(&actor, &ticket, input).await?;
    Ok(with_etag(StatusCode::OK, t.version, &t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn filters_parse() {
        let f = filter_from(p(&[
            ("status", "open"),
            ("priority", "high,urgent"),
            ("assignee", "me"),
            ("sort", "newest"),
            ("limit", "10"),
        ]))
        .expect("ok");
        assert_eq!(f.statuses.len(), 3);
        assert_eq!(f.priorities, vec![Priority::High, Priority::Urgent]);
        assert_eq!(f.assignee, Some(AssigneeFilter::Me));
        assert_eq!(f.sort, SortOrder::Newest);
        assert_eq!(f.limit, 10);
    }

    #[test]
    fn bad_filters_name_their_field() {
        for (name, value) in [
            ("status", "nope"),
            ("limit", "0"),
            ("limit", "x"),
            ("created_from", "yesterday"),
            ("assignee", "bob"),
            ("bogus", "1"),
            ("sort", "up"),
        ] {
            let err = filter_from(p(&[(name, value)])).expect_err("invalid");
            assert_eq!(err.field.as_deref(), Some(name), "{name}={value}");
        }
    }
}
