pub(crate) mod attachments;
pub(crate) mod automations;
pub(crate) mod classifier;
pub(crate) mod dead_letters;
pub(crate) mod directory;
pub(crate) mod forums;
pub(crate) mod inbound;
pub(crate) mod kb;
pub(crate) mod kb_files;
pub(crate) mod routing_rules;
pub(crate) mod sla;
pub(crate) mod templates;
pub(crate) mod tickets;

use crate::auth::Caller;
use crate::problem::Problem;
use crate::AppState;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Serialize;

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/me", get(me))
        .route("/tickets", get(tickets::list).post(tickets::create))
        .route("/tickets/bulk", post(tickets::bulk))
        .route(
            "/tickets/{ticket}",
            get(tickets::get_one).patch(tickets::update),
        )
        .route(
            "/tickets/{ticket}/messages",
            // Room for base64-encoded attachments (see helpdesk_app::attachments).
            post(tickets::add_message)
                .layer(axum::extract::DefaultBodyLimit::max(16 * 1024 * 1024)),
        )
        .route(
            "/tickets/{ticket}/messages/{message}/attachments/{index}",
            get(attachments::download),
        )
        .route(
            "/tickets/{ticket}/messages/{message}/move",
            post(attachments::move_message),
        )
        .route("/tickets/{ticket}/transfer", post(tickets::transfer))
        .route("/tickets/{ticket}/merge", post(tickets::merge))
        .route("/tickets/{ticket}/render", post(templates::render))
        .route("/templates", get(templates::list).post(templates::create))
        .route(
            "/templates/{name}/{locale}",
            get(templates::get_one)
                .put(templates::update)
                .delete(templates::delete),
        )
        .route(
            "/agents",
            get(directory::list_agents).post(directory::create_agent),
        )
        .route(
            "/agents/{email}",
            get(directory::get_agent)
                .put(directory::update_agent)
                .delete(directory::delete_agent),
        )
        .route("/agents/{email}/status", put(directory::set_agent_status))
        .route(
            "/departments",
            get(directory::list_departments).post(directory::create_department),
        )
        .route(
            "/departments/{id}",
            get(directory::get_department)
                .put(directory::update_department)
                .delete(directory::delete_department),
        )
        .route(
            "/customers",
            get(directory::list_customers).post(directory::create_customer),
        )
        .route(
            "/customers/{email}",
            get(directory::get_customer)
                .put(directory::update_customer)
                .delete(directory::delete_customer),
        )
        .route("/kb/articles", get(kb::list).post(kb::create))
        .route(
            "/kb/articles/{id}",
            get(kb::get_one).put(kb::update).delete(kb::delete),
        )
        .route("/kb/articles/{id}/published", get(kb::published))
        .route("/kb/articles/{id}/versions", get(kb::versions))
        .route("/kb/articles/{id}/versions/{number}", get(kb::version))
        .route(
            "/kb/articles/{id}/versions/{number}/restore",
            post(kb::restore),
        )
        .route("/kb/articles/{id}/diff", get(kb::diff))
        .route("/kb/articles/{id}/submit", post(kb::submit))
        .route("/kb/articles/{id}/approve", post(kb::approve))
        .route(
            "/kb/articles/{id}/request-changes",
            post(kb::request_changes),
        )
        .route("/kb/articles/{id}/publish", post(kb::publish))
        .route("/kb/articles/{id}/archive", post(kb::archive))
        .route("/kb/articles/{id}/comments", post(kb::comment))
        .route(
            "/kb/articles/{id}/feedback",
            get(kb::feedback_summary).post(kb::feedback),
        )
        .route("/kb/articles/{id}/views", post(kb::view))
        .route(
            "/kb/articles/{id}/files",
            post(kb_files::upload).layer(axum::extract::DefaultBodyLimit::max(
                kb_files::UPLOAD_BODY_MAX,
            )),
        )
        .route(
            "/kb/articles/{id}/files/upload-url",
            post(kb_files::upload_url),
        )
        .route("/kb/articles/{id}/files/uploaded", post(kb_files::uploaded))
        .route(
            "/kb/articles/{id}/files/{file}",
            get(kb_files::published_file).delete(kb_files::remove),
        )
        .route(
            "/kb/articles/{id}/versions/{number}/files/{file}",
            get(kb_files::version_file),
        )
        .route("/kb/search", get(kb::search))
        .route("/kb/suggest", get(kb::suggest))
        .route("/kb/preview", post(kb::preview))
        .route("/kb/deflections", post(kb::deflection))
        .route("/kb/stats", get(kb::stats))
        .route("/kb/reindex", post(kb::reindex))
        .route(
            "/tickets/{ticket}/suggested-articles",
            get(kb::suggested_for_ticket),
        )
        .route("/tickets/{ticket}/articles", get(kb::links).post(kb::link))
        .route("/stats/dashboard", get(dashboard))
        .route("/sla/policy", get(sla::get_policy).put(sla::put_policy))
        .route(
            "/automation/settings",
            get(automations::get_settings).put(automations::put_settings),
        )
        .route(
            "/tickets/{ticket}/follow-ups",
            get(automations::list_follow_ups).post(automations::create_follow_up),
        )
        .route(
            "/tickets/{ticket}/follow-ups/{id}",
            axum::routing::delete(automations::cancel_follow_up),
        )
        .route("/notifications", get(automations::notifications))
        .route("/quarantine", get(inbound::list))
        .route("/quarantine/{id}/reprocess", post(inbound::reprocess))
        .route("/classifier", get(classifier::get_info))
        .route("/classifier/train", post(classifier::train))
        .route("/routing/dead-letters", get(dead_letters::list))
        .route(
            "/routing/dead-letters/{id}/requeue",
            post(dead_letters::requeue),
        )
        .route(
            "/routing/rules",
            get(routing_rules::get_rules).put(routing_rules::put_rules),
        )
        .route(
            "/routing/rules/priority/{id}",
            put(routing_rules::put_priority_rule).delete(routing_rules::delete_priority_rule),
        )
        .route(
            "/routing/rules/escalation/{id}",
            put(routing_rules::put_escalation_rule).delete(routing_rules::delete_escalation_rule),
        )
        .route("/routing/tickets/{ticket}", post(routing_rules::route_now))
        .route("/routing/rebalance", post(routing_rules::rebalance))
        .route(
            "/forums/categories",
            get(forums::categories).post(forums::create_category),
        )
        .route(
            "/forums/categories/{slug}",
            put(forums::update_category).delete(forums::delete_category),
        )
        .route(
            "/forums/categories/{slug}/topics",
            get(forums::list_topics).post(forums::create_topic),
        )
        .route("/forums/topics", get(forums::all_topics))
        .route("/forums/topics/{id}", get(forums::get_topic))
        .route("/forums/topics/{id}/posts", post(forums::reply))
        .route("/forums/topics/{id}/votes", post(forums::vote))
        .route("/forums/topics/{id}/accept", post(forums::accept))
        .route("/forums/topics/{id}/moderation", post(forums::moderate))
        .route("/forums/topics/{id}/reports", post(forums::report))
        .route("/forums/topics/{id}/reports/resolve", post(forums::resolve))
        .route("/forums/topics/{id}/ticket", post(forums::to_ticket))
        .route("/forums/reports", get(forums::reports))
        .route("/openapi.json", get(openapi_json))
        .fallback(not_found);
    Router::new()
        .route("/healthz", get(healthz))
        .nest("/api/v1", api)
        .merge(crate::console::router())
        .merge(crate::survey::router())
        .merge(crate::help::router())
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> Problem {
    Problem::not_found("no such route")
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
}

/// Liveness: answers without touching storage, so a slow database does not restart healthy
/// processes.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "system", responses((status = 200, description = "This document")))]
pub async fn openapi_json() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        crate::openapi::document_json(),
    )
        .into_response()
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    /// customer, agent, supervisor, admin, platform
    pub role: String,
    pub id: String,
}

#[utoipa::path(get, path = "/api/v1/me", tag = "system", security(("bearer" = [])), responses((status = 200, body = Me), (status = 401, body = Problem)))]
pub async fn me(Caller(actor): Caller) -> Json<Me> {
    let r = actor.reference();
    Json(Me {
        role: r.kind,
        id: r.id,
    })
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DashboardParams {
    /// Length of the period compared with the one before it, 1-90 days (default 7).
    #[param(minimum = 1, maximum = 90)]
    days: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/stats/dashboard", tag = "system", security(("bearer" = [])), params(DashboardParams),
    responses((status = 200, body = helpdesk_app::stats::Dashboard), (status = 403, body = Problem)))]
pub async fn dashboard(
    axum::extract::State(s): axum::extract::State<AppState>,
    Caller(actor): Caller,
    crate::extract::ApiQuery(p): crate::extract::ApiQuery<DashboardParams>,
) -> Result<Json<helpdesk_app::stats::Dashboard>, axum::response::Response> {
    use axum::response::IntoResponse;
    let days = p.days.unwrap_or(7);
    if !(1..=90).contains(&days) {
        return Err(crate::extract::bad_param("days", "must be 1-90").into_response());
    }
    s.helpdesk
        .dashboard(&actor, days)
        .await
        .map(Json)
        .map_err(|e| crate::problem::ApiError(e).into_response())
}
