//! Console sessions: the signed token in a Secure, HttpOnly, SameSite=Strict cookie, and CSRF
//! tokens derived from it (HMAC), checked on every form post.

use crate::auth::AuthConfig;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use helpdesk_domain::Actor;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SESSION_COOKIE: &str = "hd_session";
pub const LOGIN_COOKIE: &str = "hd_login";
pub const SESSION_SECONDS: i64 = 12 * 3600;

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

pub fn set_cookie(name: &str, value: &str, max_age: i64) -> String {
    format!("{name}={value}; Path=/app; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}")
}

/// The sign-in state cookie must survive the top-level redirect back from the identity
/// provider, so it is `Lax` (and scoped to the callback path, short-lived).
pub const OAUTH_COOKIE: &str = "hd_oauth";

pub fn set_oauth_cookie(value: &str, max_age: i64) -> String {
    format!(
        "{OAUTH_COOKIE}={value}; Path=/app/auth; HttpOnly; Secure; SameSite=Lax; Max-Age={max_age}"
    )
}

fn mac(key: &[u8], purpose: &str, data: &str) -> Option<String> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).ok()?;
    m.update(purpose.as_bytes());
    m.update(b"\0");
    m.update(data.as_bytes());
    let bytes = m.finalize().into_bytes();
    Some(bytes.iter().take(16).map(|b| format!("{b:02x}")).collect())
}

/// The CSRF token for a session: stable for the session, useless without it.
pub fn csrf_for(auth: &AuthConfig, session: &str) -> String {
    match auth {
        AuthConfig::LocalJwt { key } => mac(key, "csrf", session).unwrap_or_default(),
        AuthConfig::GatewayVerified { console: Some(sso) } => {
            mac(&sso.session_key, "csrf", session).unwrap_or_default()
        }
        AuthConfig::GatewayVerified { console: None } => String::new(),
    }
}

/// Verifies a console session: a local token, or the identity provider's ID token.
pub async fn session_actor(auth: &AuthConfig, session: &str) -> Option<Actor> {
    match auth {
        AuthConfig::LocalJwt { .. } => auth.verify_token(session).ok(),
        AuthConfig::GatewayVerified { console: Some(sso) } => {
            let claims = sso.provider.verify_id_token(session).await.ok()?;
            crate::auth::actor_from_cognito(&claims).ok()
        }
        AuthConfig::GatewayVerified { console: None } => None,
    }
}

/// PKCE (RFC 7636): a random verifier and its S256 challenge.
pub fn pkce_pair() -> (String, String) {
    use base64::Engine;
    use sha2::Digest;
    let verifier = format!("{}{}", random_token(), random_token());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub fn csrf_ok(auth: &AuthConfig, session: &str, presented: &str) -> bool {
    let expected = csrf_for(auth, session);
    !expected.is_empty() && constant_time_eq(expected.as_bytes(), presented.as_bytes())
}

/// Constant-time string comparison for secrets (state, CSRF).
pub fn same(a: &str, b: &str) -> bool {
    constant_time_eq(a.as_bytes(), b.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A random value for the login form's double-submit cookie.
pub fn random_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A signed-in team member. Anything else is redirected to the sign-in page.
pub struct ConsoleUser {
    pub actor: Actor,
    pub session: String,
    pub csrf: String,
}

impl ConsoleUser {
    pub fn email(&self) -> String {
        self.actor.reference().id
    }
}

pub struct ToLogin(Response);

impl IntoResponse for ToLogin {
    fn into_response(self) -> Response {
        self.0
    }
}

impl FromRequestParts<AppState> for ConsoleUser {
    type Rejection = ToLogin;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/app");
        let to_login = || {
            ToLogin(Redirect::to(&format!("/app/login?next={}", urlencode(next))).into_response())
        };
        let session = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(to_login)?;
        let actor = session_actor(&state.auth, &session)
            .await
            .ok_or_else(to_login)?;
        if !actor.is_staff() {
            return Err(to_login());
        }
        let csrf = csrf_for(&state.auth, &session);
        Ok(ConsoleUser {
            actor,
            session,
            csrf,
        })
    }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Only same-site paths under /app are followed after sign-in (no open redirect).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/app")
                && !n.starts_with("//")
                && !n.contains("://")
                && !n.contains('\\') =>
        {
            n.to_string()
        }
        _ => "/app".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_is_bound_to_the_session() {
        let auth = AuthConfig::LocalJwt { key: vec![1; 32] };
        let t = csrf_for(&auth, "session-a");
        assert!(csrf_ok(&auth, "session-a", &t));
        assert!(!csrf_ok(&auth, "session-b", &t));
        assert!(!csrf_ok(&auth, "session-a", ""));
    }

    #[test]
    fn next_is_never_off_site() {
        assert_eq!(safe_next(Some("/app/tickets?x=1")), "/app/tickets?x=1");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/api/v1/x",
            "/app\\@evil",
        ] {
            assert_eq!(safe_next(Some(bad)), "/app");
        }
    }

    #[test]
    fn cookies_parse() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; hd_session=tok; b=2".parse().expect("hv"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("tok"));
        assert_eq!(cookie(&h, "missing"), None);
    }
}
