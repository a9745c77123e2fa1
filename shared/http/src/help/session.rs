//! Who is visiting the help centre.
//!
//! - Every visitor gets a random `hd_visitor` cookie (set by [`visitor_layer`] on the first
//!   page). It keys anonymous votes and binds CSRF tokens: a form's `_csrf` is an HMAC of the
//!   visitor id, so a cross-site page can neither read nor forge it.
//! - A signed-in customer carries `hd_customer`: their address and the session's expiry and id,
//!   sealed with the deployment's link secret (`Helpdesk::seal`). It is issued only by the
//!   e-mailed sign-in link (`account.rs`); nothing else in the help centre trusts an address
//!   a visitor typed.
//!
//! The cookie alone is not enough: its session must still be stored (`Helpdesk::
//! help_session_active`), so signing out or expiry ends it everywhere, even for a copied cookie.
//!
//! Cookies are `HttpOnly; Secure; SameSite=Lax; Path=/help`: Lax so the e-mailed link (a
//! top-level navigation from the mail client) arrives with the visitor cookie.

use crate::console::session::{cookie, random_token, same};
use crate::AppState;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use helpdesk_domain::{Actor, EmailAddress};

pub const VISITOR_COOKIE: &str = "hd_visitor";
pub const CUSTOMER_COOKIE: &str = "hd_customer";
/// How long a sign-in lasts.
pub const CUSTOMER_SESSION_SECONDS: i64 = 7 * 24 * 3600;
const SESSION_PURPOSE: &str = "help-session-v1";
const CSRF_PURPOSE: &str = "help-csrf-v1";

/// The default Content-Security-Policy of help-centre pages: no inline script or style, frames
/// only from the two video hosts articles may embed.
pub const CSP: &str = "default-src 'self'; img-src 'self' data: https:; media-src 'self'; \
frame-src https://www.youtube-nocookie.com https://player.vimeo.com; style-src 'self'; \
script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// The visitor id the layer put on the request.
#[derive(Debug, Clone)]
pub struct Visitor(pub String);

fn valid_visitor(v: &str) -> bool {
    v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit())
}

pub fn cookie_header(name: &str, value: &str, max_age: i64) -> String {
    format!("{name}={value}; Path=/help; HttpOnly; Secure; SameSite=Lax; Max-Age={max_age}")
}

/// Gives every visitor an id cookie and every help-centre response safe default headers
/// (a handler's own headers win).
pub async fn visitor_layer(mut req: Request, next: Next) -> Response {
    let existing = cookie(req.headers(), VISITOR_COOKIE).filter(|v| valid_visitor(v));
    let fresh = existing.is_none();
    let id = existing.unwrap_or_else(random_token);
    req.extensions_mut().insert(Visitor(id.clone()));
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if fresh {
        if let Ok(v) = HeaderValue::from_str(&cookie_header(VISITOR_COOKIE, &id, 365 * 24 * 3600)) {
            h.append(header::SET_COOKIE, v);
        }
    }
    let defaults = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        // Pages carry a per-visitor CSRF token and may show a customer's own data.
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in defaults {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    resp
}

/// A customer signed in through an e-mailed link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpCustomer {
    pub email: EmailAddress,
    /// Unix seconds.
    pub expires: i64,
    /// The sign-in this cookie came from (lets a sign-in be revoked server-side).
    pub session_id: String,
}

impl HelpCustomer {
    pub fn actor(&self) -> Actor {
        Actor::Customer {
            email: self.email.clone(),
        }
    }
}

/// The sealed cookie value for a sign-in (`account.rs` sets it after the link is used).
pub fn seal_customer(
    helpdesk: &helpdesk_app::Helpdesk,
    c: &HelpCustomer,
) -> Result<String, helpdesk_app::AppError> {
    helpdesk.seal(
        SESSION_PURPOSE,
        &format!("{}\n{}\n{}", c.email, c.expires, c.session_id),
    )
}

/// The customer a cookie value names, if its seal holds and it has not expired.
pub fn open_customer(helpdesk: &helpdesk_app::Helpdesk, value: &str) -> Option<HelpCustomer> {
    let payload = helpdesk.open(SESSION_PURPOSE, value)?;
    let mut parts = payload.split('\n');
    let email = EmailAddress::parse(parts.next()?).ok()?;
    let expires: i64 = parts.next()?.parse().ok()?;
    let session_id = parts.next()?.to_string();
    if parts.next().is_some() || expires <= helpdesk.now().timestamp() {
        return None;
    }
    Some(HelpCustomer {
        email,
        expires,
        session_id,
    })
}

/// What every help-centre handler knows about its caller.
#[derive(Debug, Clone)]
pub struct HelpCtx {
    pub visitor: String,
    pub customer: Option<HelpCustomer>,
    /// The CSRF token to put in this visitor's forms (`_csrf`).
    pub csrf: String,
    /// The visitor's languages, most preferred first (never empty; `en` last).
    pub languages: Vec<String>,
    /// The caller's address, when the runtime knows it (abuse limits).
    pub ip: Option<std::net::IpAddr>,
}

impl HelpCtx {
    /// Whether a form's `_csrf` belongs to this visitor.
    pub fn csrf_ok(&self, presented: &str) -> bool {
        !self.csrf.is_empty() && same(&self.csrf, presented)
    }

    /// The actor for use cases: the signed-in customer, or nobody (anonymous).
    pub fn actor(&self) -> Option<Actor> {
        self.customer.as_ref().map(HelpCustomer::actor)
    }
}

fn csrf_for(helpdesk: &helpdesk_app::Helpdesk, visitor: &str) -> String {
    helpdesk
        .seal(CSRF_PURPOSE, visitor)
        .ok()
        .and_then(|s| s.split_once('.').map(|(_, sig)| sig.to_string()))
        .unwrap_or_default()
}

fn query_param(parts: &Parts, name: &str) -> Option<String> {
    let q = parts.uri.query()?;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

impl FromRequestParts<AppState> for HelpCtx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let visitor = parts
            .extensions
            .get::<Visitor>()
            .map(|v| v.0.clone())
            .unwrap_or_else(random_token);
        let mut customer =
            cookie(&parts.headers, CUSTOMER_COOKIE).and_then(|c| open_customer(&s.helpdesk, &c));
        if let Some(c) = &customer {
            // The seal proves we issued the cookie; the stored session says it was not ended
            // since (sign-out, expiry). Unreadable storage counts as signed out.
            let active = s
                .helpdesk
                .help_session_active(&c.session_id, &c.email)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "help-centre session check failed");
                    false
                });
            if !active {
                customer = None;
            }
        }
        let languages =
            super::locale::preferred(query_param(parts, "lang").as_deref(), &parts.headers);
        let ip = parts.extensions.get::<crate::ClientIp>().map(|c| c.0);
        Ok(HelpCtx {
            ip,
            csrf: csrf_for(&s.helpdesk, &visitor),
            visitor,
            customer,
            languages,
        })
    }
}
