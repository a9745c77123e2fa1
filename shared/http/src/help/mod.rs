//! The customer help centre: server-rendered public pages under `/help` (mobile-first, no
//! sign-in to read). Customers read and rate articles, send requests, sign in by e-mailed link
//! to follow their tickets, and use the community forums.
//!
//! On AWS these paths reach the function through the API's `$default` route, which has no
//! authorizer: every page here decides for itself what an anonymous visitor may do.
//!
//! - `session`: the visitor cookie (CSRF, anonymous votes), the signed-in customer, security
//!   headers; `HelpCtx` is what every handler takes.
//! - `layout`: the one page shell; `locale`: language negotiation.
//! - `kb`: home, search, topics, articles, feedback; `request`: the request form;
//!   `account`: sign-in link and "my tickets"; `forums`: the community.

mod account;
mod forums;
pub(crate) mod kb;
pub mod layout;
pub mod locale;
mod request;
pub mod session;

use crate::AppState;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(kb::router())
        .merge(request::router())
        .merge(account::router())
        .merge(forums::router())
        .route(
            "/help/static/help.css",
            get(|| async {
                asset(
                    "text/css; charset=utf-8",
                    include_str!("../../static/help.css"),
                )
            }),
        )
        .route(
            "/help/static/help.js",
            get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("../../static/help.js"),
                )
            }),
        )
        .layer(axum::middleware::from_fn(session::visitor_layer))
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
