//! The platform's user API as the [`CustomerDirectory`]: customer pre-population over HTTP, with
//! a bearer credential, a per-request timeout and a small TTL cache (routing bursts ask about
//! the same customers; the platform should not see one request per ticket).
//!
//! Contract: `GET {url}/{platform user id}` for in-app tickets, else `GET {url}?email={email}`;
//! 200 with a JSON profile (`name`, `tier`, `business_owner`, `plan`, `locale`, `account_id`,
//! `platform_user_id`, all optional), 404 when unknown. Anything else is "unavailable".

use async_trait::async_trait;
use helpdesk_app::customer_directory::{CustomerDirectory, CustomerProfile, DirectoryError};
use helpdesk_domain::EmailAddress;
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A credential that never prints.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct DirectorySettings {
    /// The user API's base URL, e.g. `https://platform.example.com/internal/users`.
    pub url: String,
    pub token: Option<Secret>,
    pub timeout: Duration,
    /// How long an answer (a profile or "unknown") is reused; zero turns the cache off.
    pub cache_ttl: Duration,
}

/// Entries kept at most; the cache is cleared when full (simple, bounded memory).
const CACHE_MAX: usize = 10_000;

pub struct HttpCustomerDirectory {
    client: reqwest::Client,
    settings: DirectorySettings,
    cache: Mutex<HashMap<String, (Instant, Option<CustomerProfile>)>>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl HttpCustomerDirectory {
    pub fn new(settings: DirectorySettings) -> Result<Self, ConfigError> {
        let url = reqwest::Url::parse(&settings.url)
            .map_err(|e| ConfigError(format!("CUSTOMER_DIRECTORY_URL is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError("CUSTOMER_DIRECTORY_URL must be http(s)".into()));
        }
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .build()
            .map_err(|e| ConfigError(format!("building the HTTP client: {e}")))?;
        Ok(Self {
            client,
            settings,
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn cached(&self, key: &str) -> Option<Option<CustomerProfile>> {
        let cache = match self.cache.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        cache
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.settings.cache_ttl)
            .map(|(_, p)| p.clone())
    }

    fn remember(&self, key: String, profile: Option<CustomerProfile>) {
        if self.settings.cache_ttl.is_zero() {
            return;
        }
        let mut cache = match self.cache.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, (Instant::now(), profile));
    }

    async fn fetch(&self, url: reqwest::Url) -> Result<Option<CustomerProfile>, DirectoryError> {
        let mut request = self.client.get(url);
        if let Some(t) = &self.settings.token {
            request = request.bearer_auth(&t.0);
        }
        let response = request
            .send()
            .await
            .map_err(|e| DirectoryError::Unavailable(Box::new(e.without_url())))?;
        match response.status() {
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| DirectoryError::Unavailable(Box::new(e.without_url())))?;
                serde_json::from_slice::<CustomerProfile>(&bytes)
                    .map(Some)
                    .map_err(|e| DirectoryError::BadAnswer(e.to_string()))
            }
            s => Err(DirectoryError::Unavailable(
                format!("the user API answered {s}").into(),
            )),
        }
    }
}

#[async_trait]
impl CustomerDirectory for HttpCustomerDirectory {
    async fn lookup(
        &self,
        email: &EmailAddress,
        platform_user_id: Option<&str>,
    ) -> Result<Option<CustomerProfile>, DirectoryError> {
        let base = reqwest::Url::parse(&self.settings.url)
            .map_err(|e| DirectoryError::Unavailable(Box::new(e)))?;
        let (key, url) = match platform_user_id.map(str::trim).filter(|p| !p.is_empty()) {
            Some(puid) => {
                let mut url = base;
                url.path_segments_mut()
                    .map_err(|_| DirectoryError::BadAnswer("the URL cannot take a path".into()))?
                    .pop_if_empty()
                    .push(puid);
                (format!("puid:{puid}"), url)
            }
            None => {
                let mut url = base;
                url.query_pairs_mut().append_pair("email", email.as_str());
                (format!("email:{email}"), url)
            }
        };
        if let Some(hit) = self.cached(&key) {
            return Ok(hit);
        }
        let profile = self.fetch(url).await?;
        // Failures are not cached: the next ticket tries again.
        self.remember(key, profile.clone());
        Ok(profile)
    }
}
