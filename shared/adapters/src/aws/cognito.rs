//! The console's sign-in through Cognito's hosted UI: authorization code + PKCE, token
//! exchange at `/oauth2/token`, and ID-token verification against the pool's JWKS (RS256),
//! cached and refreshed when a new signing key appears.

use async_trait::async_trait;
use helpdesk_app::ports::{IdentityError, IdentityProvider};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

#[derive(Debug, Clone)]
pub struct CognitoConfig {
    /// The hosted UI's base URL, e.g. `https://support.auth.eu-west-1.amazoncognito.com`.
    pub domain: String,
    /// The user pool's issuer, e.g. `https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC`.
    pub issuer: String,
    /// The console's app client (public, no secret).
    pub client_id: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Jwk {
    kid: String,
    n: String,
    e: String,
    #[serde(default)]
    kty: String,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

pub struct CognitoIdentity {
    config: CognitoConfig,
    http: reqwest::Client,
    keys: RwLock<(Option<Instant>, Vec<Jwk>)>,
}

/// A fetch of the key set at most this often when an unknown `kid` shows up, so forged
/// tokens cannot make us hammer the provider.
const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(60);

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> IdentityError {
    IdentityError::Unavailable(Box::new(e))
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl CognitoIdentity {
    pub fn new(config: CognitoConfig) -> Result<Self, IdentityError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(unavailable)?;
        Ok(Self {
            config,
            http,
            keys: RwLock::new((None, Vec::new())),
        })
    }

    async fn key_for(&self, kid: &str) -> Result<Jwk, IdentityError> {
        if let Some(k) = self.keys.read().await.1.iter().find(|k| k.kid == kid) {
            return Ok(k.clone());
        }
        let mut guard = self.keys.write().await;
        let fresh = guard
            .0
            .is_some_and(|at| at.elapsed() < REFRESH_AT_MOST_EVERY);
        if !fresh {
            let url = format!(
                "{}/.well-known/jwks.json",
                self.config.issuer.trim_end_matches('/')
            );
            let jwks: Jwks = self
                .http
                .get(&url)
                .send()
                .await
                .map_err(unavailable)?
                .error_for_status()
                .map_err(unavailable)?
                .json()
                .await
                .map_err(unavailable)?;
            *guard = (Some(Instant::now()), jwks.keys);
        }
        guard
            .1
            .iter()
            .find(|k| k.kid == kid)
            .cloned()
            .ok_or_else(|| IdentityError::Rejected("token signed with an unknown key".into()))
    }
}

#[async_trait]
impl IdentityProvider for CognitoIdentity {
    fn authorize_url(&self, state: &str, code_challenge: &str, redirect_uri: &str) -> String {
        format!(
            "{}/oauth2/authorize?{}",
            self.config.domain.trim_end_matches('/'),
            form_encode(&[
                ("response_type", "code"),
                ("client_id", &self.config.client_id),
                ("redirect_uri", redirect_uri),
                ("scope", "openid email profile"),
                ("state", state),
                ("code_challenge", code_challenge),
                ("code_challenge_method", "S256"),
            ])
        )
    }

    async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<String, IdentityError> {
        #[derive(Deserialize)]
        struct TokenResponse {
            id_token: Option<String>,
            error: Option<String>,
        }
        let url = format!("{}/oauth2/token", self.config.domain.trim_end_matches('/'));
        let body = form_encode(&[
            ("grant_type", "authorization_code"),
            ("client_id", &self.config.client_id),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
        ]);
        let resp = self
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(unavailable)?;
        let status = resp.status();
        let parsed: TokenResponse = resp.json().await.map_err(unavailable)?;
        match (status.is_success(), parsed.id_token, parsed.error) {
            (true, Some(token), _) => Ok(token),
            (_, _, Some(err)) => Err(IdentityError::Rejected(format!(
                "token endpoint said {err}"
            ))),
            _ => Err(IdentityError::Rejected(format!(
                "token endpoint answered {status} without an ID token"
            ))),
        }
    }

    async fn verify_id_token(&self, token: &str) -> Result<Map<String, Value>, IdentityError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| IdentityError::Rejected(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(IdentityError::Rejected("ID tokens must be RS256".into()));
        }
        let kid = header
            .kid
            .ok_or_else(|| IdentityError::Rejected("token has no kid".into()))?;
        let jwk = self.key_for(&kid).await?;
        if !jwk.kty.is_empty() && jwk.kty != "RSA" {
            return Err(IdentityError::Rejected("signing key is not RSA".into()));
        }
        let key = DecodingKey::from_rsa_components(&jwk.n, &jwk.e)
            .map_err(|e| IdentityError::Rejected(e.to_string()))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[self.config.issuer.as_str()]);
        validation.set_audience(&[self.config.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| IdentityError::Rejected(e.to_string()))?;
        if data.claims.get("token_use").and_then(|v| v.as_str()) != Some("id") {
            return Err(IdentityError::Rejected("not an ID token".into()));
        }
        Ok(data.claims)
    }
}
