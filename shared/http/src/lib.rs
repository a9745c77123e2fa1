//! The one axum `Router` of the help desk: JSON API under `/api/v1`, its OpenAPI document, and
//! health. The Lambda function and the self-hosted binary serve this same router.

pub mod auth;
pub mod console;
pub mod extract;
pub mod help;
pub mod openapi;
pub mod problem;
mod routes;
pub mod survey;

pub use auth::{AuthConfig, Claims, VerifiedClaims};
pub use problem::Problem;

use axum::Router;
use helpdesk_app::Helpdesk;
use std::sync::Arc;

/// The caller's network address, put on each request by the runtime (API Gateway's source IP in
/// the Lambda, the TCP peer when self-hosted). Used for abuse limits only; absent in tests that
/// call the router directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub std::net::IpAddr);

#[derive(Clone)]
pub struct AppState {
    pub helpdesk: Helpdesk,
    pub auth: Arc<AuthConfig>,
}

/// Builds the router over the application.
pub fn router(helpdesk: Helpdesk, auth: AuthConfig) -> Router {
    routes::router(AppState {
        helpdesk,
        auth: Arc::new(auth),
    })
}
