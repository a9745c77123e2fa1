//! The OpenAPI document, generated from the handlers' annotations and the types they use.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
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
    modifiers(&BearerAuth),
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

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Serialised once per process: the document never changes while it runs.
pub fn document_json() -> String {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| document().to_pretty_json().unwrap_or_else(|_| "{}".into()))
        .clone()
}
