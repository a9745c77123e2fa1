//! The agent console: server-rendered pages under `/app`, forms that work without JavaScript,
//! a small vendored script (htmx) and `app.js` for selection and the board.

mod automations;
mod community;
mod kb;
mod kb_files;
mod mail;
mod pages;
mod routing;
pub mod session;
pub mod view;

use crate::AppState;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app", get(pages::dashboard))
        .route("/app/login", get(pages::login_form).post(pages::login))
        .route("/app/logout", post(pages::logout))
        .route("/app/auth/callback", get(pages::auth_callback))
        .route("/app/me/status", post(pages::set_my_status))
        .route(
            "/app/tickets",
            get(pages::ticket_list).post(pages::create_ticket),
        )
        .route("/app/tickets/new", get(pages::new_ticket))
        .route("/app/tickets/bulk", post(pages::bulk))
        .route("/app/tickets/{ticket}", get(pages::ticket_detail))
        .route("/app/tickets/{ticket}/update", post(pages::update_ticket))
        .route("/app/tickets/{ticket}/reply", post(pages::reply))
        .route("/app/tickets/{ticket}/transfer", post(pages::transfer))
        .route("/app/tickets/{ticket}/merge", post(pages::merge))
        .route("/app/tickets/{ticket}/move", post(pages::move_card))
        .route("/app/board", get(pages::board))
        .route("/app/kb", get(kb::list).post(kb::create))
        .route("/app/kb/new", get(kb::new_article))
        .route("/app/kb/preview", post(kb::preview))
        .route("/app/kb/search", get(kb::search))
        .route("/app/kb/{id}", get(kb::show))
        .route("/app/kb/{id}/edit", get(kb::edit).post(kb::save))
        .route("/app/kb/{id}/history", get(kb::history))
        .route("/app/kb/{id}/restore", post(kb::restore))
        .route("/app/kb/{id}/step", post(kb::step))
        .route("/app/kb/{id}/comment", post(kb::comment))
        .route(
            "/app/kb/{id}/files",
            post(kb_files::upload).layer(axum::extract::DefaultBodyLimit::max(
                crate::routes::kb_files::UPLOAD_BODY_MAX,
            )),
        )
        .route("/app/kb/{id}/files/{file}/remove", post(kb_files::remove))
        .route(
            "/app/kb/{id}/versions/{number}/files/{file}",
            get(kb_files::download),
        )
        .route("/app/tickets/{ticket}/kb-link", post(kb::link))
        .route(
            "/app/tickets/{ticket}/messages/{message}/attachments/{index}",
            get(mail::attachment),
        )
        .route(
            "/app/tickets/{ticket}/messages/{message}/move",
            post(mail::move_message),
        )
        .route("/app/quarantine", get(mail::quarantine))
        .route("/app/quarantine/{id}/reprocess", post(mail::reprocess))
        .route("/app/routing/dead-letters", get(routing::dead_letters))
        .route(
            "/app/routing/dead-letters/{id}/requeue",
            post(routing::requeue),
        )
        .route(
            "/app/tickets/{ticket}/follow-ups",
            post(automations::add_follow_up),
        )
        .route(
            "/app/tickets/{ticket}/follow-ups/{id}/cancel",
            post(automations::cancel_follow_up),
        )
        .route(
            "/app/automations",
            get(automations::settings_page).post(automations::save_settings),
        )
        .route("/app/community", get(community::home))
        .route(
            "/app/community/categories",
            post(community::create_category),
        )
        .route("/app/community/topics/{id}", get(community::topic))
        .route(
            "/app/community/topics/{id}/moderate",
            post(community::moderate),
        )
        .route(
            "/app/community/topics/{id}/resolve",
            post(community::resolve),
        )
        .route("/app/community/topics/{id}/accept", post(community::accept))
        .route("/app/community/topics/{id}/reply", post(community::reply))
        .route(
            "/app/community/topics/{id}/ticket",
            post(community::to_ticket),
        )
        .route(
            "/app/static/app.css",
            get(|| async {
                asset(
                    "text/css; charset=utf-8",
                    include_str!("../../static/app.css"),
                )
            }),
        )
        .route(
            "/app/static/app.js",
            get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("../../static/app.js"),
                )
            }),
        )
        .route(
            "/app/static/htmx.min.js",
            get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("../../static/htmx.min.js"),
                )
            }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> axum::response::Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
