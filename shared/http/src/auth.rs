//! Who is calling. Two sources of identity, one result (`helpdesk_domain::Actor`):
//! - self-hosted: HS256 JWTs signed with a key from the data directory (`helpdesk token …`);
//! - AWS: API Gateway's JWT authorizer has already verified the Cognito token; the Lambda
//!   function passes the verified claims in as a [`VerifiedClaims`] request extension, and the
//!   router never trusts a bearer token on its own in that mode.

use crate::problem::Problem;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use helpdesk_domain::{Actor, EmailAddress, Role};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub const LOCAL_ISSUER: &str = "helpdesk-local";

/// Claims of a locally issued token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    /// customer, agent, supervisor, admin or platform
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

pub enum AuthConfig {
    /// Verify bearer tokens with this HMAC key (self-hosted).
    LocalJwt { key: Vec<u8> },
    /// API identity comes only from [`VerifiedClaims`] put there by the Lambda adapter; the
    /// console signs in through the identity provider's hosted UI when `console` is set.
    GatewayVerified { console: Option<ConsoleSso> },
}

/// Console sign-in through an OpenID Connect provider (Cognito hosted UI in AWS).
pub struct ConsoleSso {
    pub provider: std::sync::Arc<dyn helpdesk_app::ports::IdentityProvider>,
    /// The registered callback, `https://…/app/auth/callback`.
    pub redirect_uri: String,
    /// HMAC key for CSRF tokens (a deployment secret).
    pub session_key: Vec<u8>,
}

/// Claims an upstream authorizer has verified (API Gateway JWT authorizer → Cognito).
#[derive(Debug, Clone)]
pub struct VerifiedClaims(pub serde_json::Map<String, serde_json::Value>);

impl AuthConfig {
    pub fn issue(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        match self {
            AuthConfig::LocalJwt { key } => jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                claims,
                &EncodingKey::from_secret(key),
            ),
            AuthConfig::GatewayVerified { .. } => {
                Err(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat.into())
            }
        }
    }

    /// Verifies a locally issued token (bearer header or console session cookie).
    pub fn verify_token(&self, token: &str) -> Result<Actor, Problem> {
        let AuthConfig::LocalJwt { key } = self else {
            return Err(Problem::unauthorized("no verified identity"));
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[LOCAL_ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        // A token that names a start (`nbf`) is not valid before it, like one past its `exp`.
        validation.validate_nbf = true;
        let data =
            jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(key), &validation)
                .map_err(|e| Problem::unauthorized(format!("invalid token: {e}")))?;
        actor_from_local(&data.claims)
    }
}

/// Builds the claims for a local token; checks the combination makes sense.
pub fn local_claims(
    role: &str,
    email: Option<&str>,
    now: i64,
    ttl_seconds: i64,
) -> Result<Claims, String> {
    let claims = Claims {
        sub: email.unwrap_or("platform").to_string(),
        role: role.to_string(),
        email: email.map(str::to_string),
        iss: LOCAL_ISSUER.into(),
        iat: now,
        exp: now + ttl_seconds,
    };
    actor_from_local(&claims).map_err(|p| p.detail)?;
    Ok(claims)
}

fn actor_from_local(c: &Claims) -> Result<Actor, Problem> {
    let email = || {
        c.email
            .as_deref()
            .ok_or_else(|| Problem::unauthorized("token has no email"))
            .and_then(|e| {
                EmailAddress::parse(e).map_err(|_| Problem::unauthorized("token email is invalid"))
            })
    };
    match c.role.as_str() {
        "customer" => Ok(Actor::Customer { email: email()? }),
        "platform" => Ok(Actor::Platform {
            client_id: c.sub.clone(),
            on_behalf_of: None,
        }),
        other => {
            let role =
                Role::parse(other).map_err(|_| Problem::unauthorized("token role is unknown"))?;
            Ok(Actor::Staff {
                email: email()?,
                role,
            })
        }
    }
}

/// Maps Cognito claims to an actor: the highest staff group wins; the `helpdesk/platform`
/// scope (client-credentials token) is the platform; anyone else with an e-mail is a customer.
pub fn actor_from_cognito(
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Result<Actor, Problem> {
    let groups = cognito_groups(claims.get("cognito:groups"));
    let scope = claims.get("scope").and_then(|v| v.as_str()).unwrap_or("");
    if scope.split_whitespace().any(|s| s == "helpdesk/platform") {
        let client = claims
            .get("client_id")
            .and_then(|v| v.as_str())
            .unwrap_or("platform");
        return Ok(Actor::Platform {
            client_id: client.to_string(),
            on_behalf_of: None,
        });
    }
    let email = claims
        .get("email")
        .and_then(|v| v.as_str())
        .ok_or_else(|| Problem::unauthorized("token has no email claim"))
        .and_then(|e| {
            EmailAddress::parse(e).map_err(|_| Problem::unauthorized("token email is invalid"))
        })?;
    for (group, role) in [
        ("admin", Role::Admin),
        ("supervisor", Role::Supervisor),
        ("agent", Role::Agent),
    ] {
        if groups.iter().any(|g| g == group) {
            return Ok(Actor::Staff { email, role });
        }
    }
    Ok(Actor::Customer { email })
}

/// API Gateway passes array claims as a string like `[admin agent]`; raw JWTs carry arrays.
fn cognito_groups(v: Option<&serde_json::Value>) -> Vec<String> {
    match v {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        Some(serde_json::Value::String(s)) => s
            .trim_matches(|c| c == '[' || c == ']')
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|g| !g.is_empty())
            .map(|g| g.trim_matches('"').to_string())
            .collect(),
        _ => Vec::new(),
    }
}

/// The authenticated caller of a route.
pub struct Caller(pub Actor);

/// The header in which the platform names the customer a request is for (in-app channel).
pub const ON_BEHALF_OF: &str = "on-behalf-of";

/// The platform's `On-Behalf-Of` customer, when the caller is the platform and sent one.
fn with_on_behalf_of(actor: Actor, parts: &Parts) -> Result<Actor, Problem> {
    let Actor::Platform { client_id, .. } = actor else {
        return Ok(actor);
    };
    let on_behalf_of = match parts.headers.get(ON_BEHALF_OF) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| EmailAddress::parse(s).ok())
                .ok_or_else(|| {
                    Problem::validation(ON_BEHALF_OF, "must be the customer's e-mail address")
                })?,
        ),
    };
    Ok(Actor::Platform {
        client_id,
        on_behalf_of,
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match state.auth.as_ref() {
            AuthConfig::GatewayVerified { .. } => {
                let claims = parts
                    .extensions
                    .get::<VerifiedClaims>()
                    .ok_or_else(|| Problem::unauthorized("sign in first"))?;
                let actor = actor_from_cognito(&claims.0)?;
                with_on_behalf_of(actor, parts).map(Caller)
            }
            AuthConfig::LocalJwt { .. } => {
                let header = parts
                    .headers
                    .get(axum::http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        Problem::unauthorized(
                            "send Authorization: Bearer <token> (see `helpdesk token --help`)",
                        )
                    })?;
                let token = header
                    .strip_prefix("Bearer ")
                    .or_else(|| header.strip_prefix("bearer "))
                    .ok_or_else(|| Problem::unauthorized("Authorization must be a Bearer token"))?;
                let actor = state.auth.verify_token(token.trim())?;
                with_on_behalf_of(actor, parts).map(Caller)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn cognito_groups_map_to_roles() {
        let a = actor_from_cognito(&claims(
            json!({"email": "a@example.com", "cognito:groups": "[agent admin]"}),
        ))
        .expect("ok");
        assert_eq!(a.role(), Some(Role::Admin));
        let a = actor_from_cognito(&claims(
            json!({"email": "a@example.com", "cognito:groups": ["supervisor"]}),
        ))
        .expect("ok");
        assert_eq!(a.role(), Some(Role::Supervisor));
        let c = actor_from_cognito(&claims(json!({"email": "c@example.com"}))).expect("ok");
        assert!(matches!(c, Actor::Customer { .. }));
        let p = actor_from_cognito(&claims(
            json!({"scope": "helpdesk/platform", "client_id": "abc"}),
        ))
        .expect("ok");
        assert!(matches!(p, Actor::Platform { .. }));
        assert!(actor_from_cognito(&claims(json!({"cognito:groups": "[admin]"}))).is_err());
    }

    #[test]
    fn local_tokens_round_trip_and_reject_tampering() {
        let cfg = AuthConfig::LocalJwt { key: vec![7; 32] };
        let c =
            local_claims("supervisor", Some("s@example.com"), 1_900_000_000, 3600).expect("claims");
        let token = cfg.issue(&c).expect("issue");
        let actor = cfg.verify_token(&token).expect("verify");
        assert_eq!(actor.role(), Some(Role::Supervisor));
        let other = AuthConfig::LocalJwt { key: vec![8; 32] };
        assert!(
            other.verify_token(&token).is_err(),
            "another key refuses it"
        );
        let expired = local_claims("agent", Some("a@example.com"), 1_000, 60).expect("claims");
        assert!(
            cfg.verify_token(&cfg.issue(&expired).expect("issue"))
                .is_err(),
            "expired"
        );
        assert!(
            local_claims("agent", None, 0, 60).is_err(),
            "staff need an email"
        );
        assert!(local_claims("root", Some("a@example.com"), 0, 60).is_err());
    }
}
