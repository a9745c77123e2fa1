//! Routing: the rules document (admins write, the team reads), single-rule edits, routing one
//! ticket now, and supervisors' rebalance.

use crate::auth::Caller;
use crate::extract::{bad_param, etag, if_match, ApiJson, ApiQuery};
use crate::problem::{ApiError, Problem};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use helpdesk_app::routing::rules::RuleKind;
use helpdesk_app::routing::{RebalancePlan, RouteOutcome, RoutingRules};
use helpdesk_domain::routing::{EscalationRule, PriorityRule};

fn rules_response(rules: RoutingRules, version: u64) -> Response {
    (StatusCode::OK, [etag(version)], Json(rules)).into_response()
}

#[utoipa::path(get, path = "/api/v1/routing/rules", tag = "routing", security(("bearer" = [])),
    responses((status = 200, body = RoutingRules, description = "The rules. A fresh install's first read seeds the default keyword priority rules (`seeded: true`; outage → urgent, cannot log in / locked out → high, charged twice → high) as ETag \"v1\"; admins edit or delete them like any rule, and they are never seeded again"), (status = 403, body = Problem)))]
pub async fn get_rules(
    State(s): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    let (rules, version) = s.helpdesk.get_routing_rules(&actor).await?;
    Ok(rules_response(rules, version))
}

#[utoipa::path(put, path = "/api/v1/routing/rules", tag = "routing", security(("bearer" = [])),
    params(("If-Match" = Option<String>, Header, description = "The ETag read; a stale one is a 409")), request_body = RoutingRules,
    responses((status = 200, body = RoutingRules), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn put_rules(
    State(s): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    ApiJson(rules): ApiJson<RoutingRules>,
) -> Result<Response, Response> {
    let expected = if_match(&headers).map_err(IntoResponse::into_response)?;
    let (rules, version) = s
        .helpdesk
        .put_routing_rules(&actor, rules, expected)
        .await
        .map_err(|e| ApiError(e).into_response())?;
    Ok(rules_response(rules, version))
}

#[utoipa::path(put, path = "/api/v1/routing/rules/priority/{id}", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = PriorityRule,
    responses((status = 200, body = RoutingRules), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn put_priority_rule(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(rule): ApiJson<PriorityRule>,
) -> Result<Response, Response> {
    let expected = if_match(&headers).map_err(IntoResponse::into_response)?;
    if rule.id != id {
        return Err(Problem::validation("id", "must match the id in the path").into_response());
    }
    let (rules, version) = s
        .helpdesk
        .upsert_priority_rule(&actor, rule, expected)
        .await
        .map_err(|e| ApiError(e).into_response())?;
    Ok(rules_response(rules, version))
}

#[utoipa::path(put, path = "/api/v1/routing/rules/escalation/{id}", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = EscalationRule,
    responses((status = 200, body = RoutingRules), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn put_escalation_rule(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(rule): ApiJson<EscalationRule>,
) -> Result<Response, Response> {
    let expected = if_match(&headers).map_err(IntoResponse::into_response)?;
    if rule.id != id {
        return Err(Problem::validation("id", "must match the id in the path").into_response());
    }
    let (rules, version) = s
        .helpdesk
        .upsert_escalation_rule(&actor, rule, expected)
        .await
        .map_err(|e| ApiError(e).into_response())?;
    Ok(rules_response(rules, version))
}

async fn delete_rule(
    s: AppState,
    actor: helpdesk_domain::Actor,
    kind: RuleKind,
    id: String,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let expected = if_match(&headers).map_err(IntoResponse::into_response)?;
    let (rules, version) = s
        .helpdesk
        .delete_routing_rule(&actor, kind, &id, expected)
        .await
        .map_err(|e| ApiError(e).into_response())?;
    Ok(rules_response(rules, version))
}

#[utoipa::path(delete, path = "/api/v1/routing/rules/priority/{id}", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = RoutingRules), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_priority_rule(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    delete_rule(s, actor, RuleKind::Priority, id, headers).await
}

#[utoipa::path(delete, path = "/api/v1/routing/rules/escalation/{id}", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = RoutingRules), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_escalation_rule(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    delete_rule(s, actor, RuleKind::Escalation, id, headers).await
}

#[utoipa::path(post, path = "/api/v1/routing/tickets/{ticket}", tag = "routing", security(("bearer" = [])),
    params(("ticket" = String, Path, description = "Ticket id or number")),
    responses((status = 200, body = RouteOutcome, description = "What routing decided; `already_routed` when it had nothing to do"), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn route_now(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(reference): Path<String>,
) -> Result<Json<RouteOutcome>, ApiError> {
    if !actor.is_supervisor() {
        return Err(ApiError(helpdesk_app::AppError::Forbidden(
            "only supervisors route tickets by hand",
        )));
    }
    let ticket = s
        .helpdesk
        .resolve_ticket_ref(&reference)
        .await?
        .ok_or(helpdesk_app::AppError::NotFound { what: "ticket" })?;
    Ok(Json(s.helpdesk.route_ticket(&ticket.id).await?))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RebalanceParams {
    /// `true` (or `1`): only return the plan; `false` (or `0`, the default) applies it. Anything
    /// else, an empty value included, is a 400.
    #[serde(default)]
    #[param(value_type = Option<bool>)]
    dry_run: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/routing/rebalance", tag = "routing", security(("bearer" = [])), params(RebalanceParams),
    responses((status = 200, body = RebalancePlan), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn rebalance(
    State(s): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(p): ApiQuery<RebalanceParams>,
) -> Result<Json<RebalancePlan>, Response> {
    let dry_run = match p.dry_run.as_deref().map(str::trim) {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(_) => return Err(bad_param("dry_run", "must be true or false").into_response()),
    };
    s.helpdesk
        .rebalance(&actor, dry_run)
        .await
        .map(Json)
        .map_err(|e| ApiError(e).into_response())
}
