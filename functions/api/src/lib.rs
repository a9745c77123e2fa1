//! The API Lambda: API Gateway HTTP API (payload v2) → the shared router.
//!
//! API Gateway's JWT authorizer verifies Cognito tokens before the function runs; this adapter
//! moves the verified claims from the Lambda request context into the router's neutral
//! [`VerifiedClaims`] extension. Nothing above this crate sees a Lambda type.

use axum::Router;
use helpdesk_compose::{aws::Stack, Capability, ComposeError, Settings};
use helpdesk_http::auth::ConsoleSso;
use helpdesk_http::{AuthConfig, ClientIp, VerifiedClaims};
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;

/// What the function needs besides its table: mail (replies and acknowledgements through SES,
/// right after their commit), inbound settings (reprocessing quarantined mail), the mail bucket
/// (attachments, raw mail), classifier models, the routing queue and its DLQ (the admins'
/// dead-letter list), signed links (surveys, unsubscribe, help-centre sign-in), KB search and
/// the console's sign-in.
pub const NEEDS: &[Capability] = &[
    Capability::Mail,
    Capability::Inbound,
    Capability::MailBucket,
    Capability::ClassifierModels,
    Capability::RoutingQueue,
    Capability::RoutingDeadLetters,
    Capability::Links,
    Capability::KbSearch,
    Capability::ConsoleSignIn,
];

/// The function as `main` runs it (and the tests start it): the router, ready for
/// `lambda_http::run`.
pub async fn build(settings: &Settings) -> Result<Router, ComposeError> {
    let stack = Stack::connect(settings).await;
    let helpdesk = stack.helpdesk(NEEDS)?;
    let sign_in = stack.console_sign_in()?;
    let console = ConsoleSso {
        provider: sign_in.provider,
        redirect_uri: sign_in.redirect_uri,
        session_key: sign_in.session_key,
    };
    Ok(app(helpdesk, Some(console)))
}

/// The router with the claims bridge, ready for `lambda_http::run`. `console` enables the
/// console's sign-in through Cognito's hosted UI.
pub fn app(helpdesk: helpdesk_app::Helpdesk, console: Option<ConsoleSso>) -> Router {
    helpdesk_http::router(helpdesk, AuthConfig::GatewayVerified { console })
        .layer(axum::middleware::map_request(bridge_claims))
}

async fn bridge_claims(mut req: axum::extract::Request) -> axum::extract::Request {
    // A client cannot set extensions: the claims below come only from API Gateway's context.
    req.extensions_mut().remove::<VerifiedClaims>();
    req.extensions_mut().remove::<ClientIp>();
    // API Gateway's own view of the peer, not a client-supplied X-Forwarded-For.
    let ip = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            ctx.http.source_ip.as_deref().and_then(|ip| ip.parse().ok())
        }
        _ => None,
    };
    if let Some(ip) = ip {
        req.extensions_mut().insert(ClientIp(ip));
    }
    let claims = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| {
                jwt.claims
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect::<serde_json::Map<_, _>>()
            }),
        _ => None,
    };
    if let Some(claims) = claims.filter(|c| !c.is_empty()) {
        req.extensions_mut().insert(VerifiedClaims(claims));
    }
    req
}
