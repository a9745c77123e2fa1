//! The OpenAPI document, generated from the handlers' annotations and the types they use.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "helpdesk API",
        description = "Tickets, agents, departments, customers, response templates and the knowledge base. Errors are application/problem+json (RFC 9457).",
        license(name = "Apache-2.0")
    ),
    paths(
        routes::healthz,
        routes::openapi_json,
        routes::me,
        routes::dashboard,
        routes::sla::get_policy,
        routes::sla::put_policy,
        routes::inbound::list,
        routes::inbound::reprocess,
        routes::attachments::download,
        routes::attachments::move_message,
        routes::classifier::get_info,
        routes::classifier::train,
        routes::automations::get_settings,
        routes::automations::put_settings,
        routes::automations::list_follow_ups,
        routes::automations::create_follow_up,
        routes::automations::cancel_follow_up,
        routes::automations::notifications,
        crate::survey::answer,
        crate::survey::comment,
        crate::survey::unsubscribe_form,
        crate::survey::unsubscribe,
        routes::routing_rules::get_rules,
        routes::routing_rules::put_rules,
        routes::routing_rules::put_priority_rule,
        routes::routing_rules::put_escalation_rule,
        routes::routing_rules::delete_priority_rule,
        routes::routing_rules::delete_escalation_rule,
        routes::routing_rules::route_now,
        routes::routing_rules::rebalance,
        routes::dead_letters::list,
        routes::dead_letters::requeue,
        routes::tickets::create,
        routes::tickets::list,
        routes::tickets::get_one,
        routes::tickets::update,
        routes::tickets::add_message,
        routes::tickets::bulk,
        routes::tickets::transfer,
        routes::tickets::merge,
        routes::templates::list,
        routes::templates::create,
        routes::templates::get_one,
        routes::templates::update,
        routes::templates::delete,
        routes::templates::render,
        routes::directory::list_agents,
        routes::directory::create_agent,
        routes::directory::get_agent,
        routes::directory::update_agent,
        routes::directory::delete_agent,
        routes::directory::set_agent_status,
        routes::directory::list_departments,
        routes::directory::create_department,
        routes::directory::get_department,
        routes::directory::update_department,
        routes::directory::delete_department,
        routes::directory::list_customers,
        routes::directory::create_customer,
        routes::directory::get_customer,
        routes::directory::update_customer,
        routes::directory::delete_customer,
        routes::kb::list,
        routes::forums::categories,
        routes::forums::create_category,
        routes::forums::update_category,
        routes::forums::delete_category,
        routes::forums::list_topics,
        routes::forums::create_topic,
        routes::forums::all_topics,
        routes::forums::get_topic,
        routes::forums::reply,
        routes::forums::vote,
        routes::forums::accept,
        routes::forums::moderate,
        routes::forums::report,
        routes::forums::resolve,
        routes::forums::reports,
        routes::forums::to_ticket,
        routes::kb::create,
        routes::kb::get_one,
        routes::kb::update,
        routes::kb::delete,
        routes::kb::published,
        routes::kb::versions,
        routes::kb::version,
        routes::kb::restore,
        routes::kb::diff,
        routes::kb::submit,
        routes::kb::approve,
        routes::kb::request_changes,
        routes::kb::publish,
        routes::kb::archive,
        routes::kb::comment,
        routes::kb::feedback,
        routes::kb::feedback_summary,
        routes::kb::view,
        routes::kb::search,
        routes::kb::suggest,
        routes::kb::deflection,
        routes::kb::preview,
        routes::kb::stats,
        routes::kb::reindex,
        routes::kb::suggested_for_ticket,
        routes::kb::link,
        routes::kb::links,
        crate::help::kb::api::search,
        crate::help::kb::api::suggest,
        crate::help::kb::api::published,
        crate::help::kb::api::feedback,
        crate::help::kb::api::view,
        crate::help::kb::api::deflection,
        crate::help::kb::api::file,
        routes::kb_files::upload,
        routes::kb_files::remove,
        routes::kb_files::published_file,
        routes::kb_files::version_file,
        routes::kb_files::upload_url,
        routes::kb_files::uploaded,
    ),
    components(schemas(crate::problem::Problem, helpdesk_domain::Status, helpdesk_domain::Priority, helpdesk_domain::Channel)),
    modifiers(&BearerAuth, &ProblemResponses),
    tags(
        (name = "tickets", description = "Tickets, their thread and workflow"),
        (name = "agents", description = "The support team"),
        (name = "departments"),
        (name = "customers"),
        (name = "routing", description = "Routing: priority and escalation rules, routing a ticket now, rebalance, the routing queue's dead letters"),
        (name = "sla", description = "Service levels: policy, clocks, alerts"),
        (name = "email", description = "Inbound e-mail: quarantine and reprocessing"),
        (name = "classifier", description = "Ticket categorisation: the model trained from agents' category decisions"),
        (name = "automations", description = "CSAT surveys, follow-ups, auto-close, status-update e-mails; public survey and unsubscribe pages"),
        (name = "templates", description = "Response templates with personalisation tokens; auto_ack acknowledges new e-mail tickets and help-centre requests"),
        (name = "kb", description = "Knowledge base: articles, versions, approval, search, feedback, suggestions"),
        (name = "kb-public", description = "The knowledge base for anonymous clients (help centre, no token; on AWS outside the JWT authorizer): public articles only"),
        (name = "forums", description = "Community forums: categories, topics, replies, votes, accepted answers, reports, moderation, topic to ticket"),
        (name = "system")
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The answers every operation can give that its annotation need not repeat, so the document
/// says what the server does (checked by `scripts/schemathesis.sh` and `tests/tests/openapi.rs`):
/// - every error is `application/problem+json` (RFC 9457) with the `Problem` schema;
/// - 400 where a request has something to be malformed: a JSON body (syntax), a query parameter
///   or a header parameter (e.g. `If-Match`); query parameters are never a 422;
/// - 401 where a bearer token is accepted (a missing, expired, not-yet-valid or forged one);
/// - 413 and 415 where a body is taken (over the size limit; not the documented media type);
/// - 422 where a JSON body is taken (a field missing or invalid) or the path names something (a
///   segment that is not a valid id);
/// - 404 where the path names something (it may not exist, or not be yours).
struct ProblemResponses;

const PROBLEM_JSON: &str = "application/problem+json";

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            // The survey and unsubscribe pages answer in HTML, errors included.
            if !(path.starts_with("/api/") || path.starts_with("/help/api/")) {
                continue;
            }
            let path_params = item.parameters.clone().unwrap_or_default();
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                for param in op.parameters.iter_mut().flatten() {
                    constrain(path, param);
                }
                let mut params = path_params.clone();
                params.extend(op.parameters.clone().unwrap_or_default());
                let has = |place: ParameterIn| {
                    params.iter().any(|p| {
                        std::mem::discriminant(&p.parameter_in) == std::mem::discriminant(&place)
                    })
                };
                let json_body = op
                    .request_body
                    .as_ref()
                    .is_some_and(|b| b.content.keys().any(|c| c == "application/json"));
                let any_body = op.request_body.is_some();
                add_problems(op, &[
                    (json_body || any_body || has(ParameterIn::Query) || has(ParameterIn::Header), "400", "Bad request: malformed JSON, or a query parameter or header that is not valid (`field` names it)"),
                    (takes_bearer(op), "401", "No valid bearer token: missing, expired, not yet valid or not ours"),
                    (has(ParameterIn::Path), "404", "Not found (or not yours)"),
                    (any_body, "413", "The body is over this request's size limit (`too-large`)"),
                    (any_body, "415", "The body was not sent as the documented media type"),
                    (json_body || has(ParameterIn::Path), "422", "A field of the body is missing or invalid, or a path segment is not a valid id (`field` names it)"),
                ]);
                for response in op.responses.responses.values_mut() {
                    if let RefOr::T(r) = response {
                        as_problem(r);
                    }
                }
            }
        }
    }
}

/// Crockford base32, as the `ulid` crate reads it (either case).
const ULID: &str = "[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}";

/// What the server accepts in a path segment or header, said in the document (the parsers are
/// in `helpdesk_domain`; a value outside these is refused, one inside may still name nothing:
/// 404).
fn constraint(path: &str, name: &str) -> Option<String> {
    let ulid = |prefix: &str| format!("^{prefix}{ULID}$");
    Some(match name {
        "If-Match" => r#"^(W/)?"?v?[0-9]{1,19}"?$"#.into(),
        "ticket" => format!("^(tkt_{ULID}|#?[Hh][Dd]-[1-9][0-9]{{0,14}})$"),
        "message" => ulid("msg_"),
        "id" if path.contains("/kb/articles/") => ulid("kb_"),
        "id" if path.contains("/forums/topics/") => ulid("top_"),
        "id" if path.starts_with("/api/v1/departments/") => {
            "^[a-z0-9]([a-z0-9-]{0,46}[a-z0-9])?$".into()
        }
        "id" if path.starts_with("/api/v1/routing/rules/") => "^[a-z0-9_-]{1,40}$".into(),
        // A conservative shape of what `EmailAddress` accepts (no `%`: clients would have to
        // escape it in a path, and fuzzers do not).
        "email" => r"^[A-Za-z0-9_+-]{1,32}(\.[A-Za-z0-9_+-]{1,16}){0,2}@[a-z0-9]{1,20}(\.[a-z]{2,10}){1,2}$".into(),
        "slug" => "^[a-z0-9][a-z0-9-]{0,38}[a-z0-9]$".into(),
        "name" if path.starts_with("/api/v1/templates/") => "^[a-z0-9_-]{1,64}$".into(),
        "locale" => "^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$".into(),
        _ => return None,
    })
}

fn constrain(path: &str, param: &mut utoipa::openapi::path::Parameter) {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let place = std::mem::discriminant(&param.parameter_in);
    if place == std::mem::discriminant(&ParameterIn::Query) {
        return; // query parameters carry their own patterns (empty means "no filter")
    }
    if let Some(pattern) = constraint(path, &param.name) {
        param.schema = Some(RefOr::T(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(pattern))
                .into(),
        ));
    }
}

fn takes_bearer(op: &Operation) -> bool {
    op.security.as_ref().is_some_and(|reqs| {
        reqs.iter().any(|r| {
            serde_json::to_value(r)
                .ok()
                .and_then(|v| v.as_object().map(|o| o.contains_key("bearer")))
                .unwrap_or(false)
        })
    })
}

fn add_problems(op: &mut Operation, wanted: &[(bool, &str, &str)]) {
    for (applies, status, description) in wanted {
        if *applies && !op.responses.responses.contains_key(*status) {
            let mut r = Response::new(*description);
            r.content.insert(PROBLEM_JSON.into(), problem_content());
            op.responses.responses.insert((*status).into(), RefOr::T(r));
        }
    }
}

fn problem_content() -> Content {
    Content::new(Some(RefOr::Ref(Ref::from_schema_name("Problem"))))
}

/// An error answer documented as JSON is really a problem document.
fn as_problem(r: &mut Response) {
    if let Some(json) = r.content.shift_remove("application/json") {
        let is_problem =
            matches!(&json.schema, Some(RefOr::Ref(re)) if re.ref_location.ends_with("/Problem"));
        if is_problem {
            r.content.insert(PROBLEM_JSON.into(), json);
        } else {
            r.content.insert("application/json".into(), json);
        }
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Serialised once per process: the document never changes while it runs.
pub fn document_json() -> String {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(document()).unwrap_or_default();
        unsigned_integers(&mut doc);
        serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into())
    })
    .clone()
}

/// utoipa writes `u64` as `format: int64, minimum: 0`, which says "at most 2^63 - 1", and `usize`
/// with no bound at all; the server takes any 64-bit unsigned value, so both get that bound.
fn unsigned_integers(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(o) => {
            let integer = match o.get("type") {
                Some(Value::String(t)) => t == "integer",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
                _ => false,
            };
            let unsigned = o.get("minimum").and_then(Value::as_u64) == Some(0);
            let format = o.get("format").and_then(Value::as_str);
            if integer && unsigned && matches!(format, None | Some("int64")) {
                o.remove("format");
                o.entry("maximum").or_insert_with(|| Value::from(u64::MAX));
            }
            o.values_mut().for_each(unsigned_integers);
        }
        Value::Array(items) => items.iter_mut().for_each(unsigned_integers),
        _ => {}
    }
}
