//! One settings type for every binary: [`Settings`], read once ([`Settings::from_env`] on the
//! Lambdas, the same plus flags in the `helpdesk` binary), with typed values and secrets that
//! never print. Each setting is parsed here and only here: a value that is present but unusable
//! is an error naming its variable, and a capability a binary needs whose settings are missing
//! is an error naming every missing variable ([`Settings::require`]).

use helpdesk_app::alerts::{PagingOptions, DEFAULT_MAX_SMS_PER_WINDOW};
use helpdesk_domain::EmailAddress;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A secret value (a key, a token, a password in a URL). Its `Debug` and `Display` print `***`;
/// [`Secret::expose`] is the only way to the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The e-mail threading key (`HELPDESK_THREAD_KEY`; self-hosted: `DATA/keys/thread.key`): signs
/// outbound Message-IDs and reply addresses, verifies them inbound, and (on AWS) is the root of
/// the public links' keys. Parsed in one place, [`ThreadKey::parse`].
#[derive(Clone, PartialEq, Eq)]
pub struct ThreadKey(Vec<u8>);

impl ThreadKey {
    /// The shortest key accepted, in bytes.
    pub const MIN_LEN: usize = 32;

    /// A key given as text (an environment variable): at least [`ThreadKey::MIN_LEN`] bytes.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() < Self::MIN_LEN {
            return Err(format!("must be at least {} characters", Self::MIN_LEN));
        }
        Ok(Self(text.as_bytes().to_vec()))
    }

    /// A key read from a key file (random bytes made on first start).
    pub fn from_key_file(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The signer of mail in `domain`.
    pub fn signer(&self, domain: &MailDomain) -> helpdesk_mail::ThreadSigner {
        helpdesk_mail::ThreadSigner::new(&self.0, domain.as_str())
    }

    /// The key material, for keys derived from it (public links).
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for ThreadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ThreadKey(***)")
    }
}

/// The support address's domain (`HELPDESK_MAIL_DOMAIN`, `--mail-domain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailDomain(String);

impl MailDomain {
    pub fn parse(text: &str) -> Result<Self, String> {
        let domain = text.trim();
        if domain.is_empty() || domain.contains(['@', '/']) || domain.contains(char::is_whitespace)
        {
            return Err(format!("{text:?} is not a domain name"));
        }
        Ok(Self(domain.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for MailDomain {
    /// [`DEFAULT_MAIL_DOMAIN`].
    fn default() -> Self {
        Self(DEFAULT_MAIL_DOMAIN.into())
    }
}

impl std::str::FromStr for MailDomain {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl fmt::Display for MailDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The default support domain of the self-hosted binary.
pub const DEFAULT_MAIL_DOMAIN: &str = "helpdesk.localhost";

/// Base URL of the public pages linked from e-mail (`HELPDESK_PUBLIC_URL`, `--public-url`):
/// an http(s) URL, kept without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = text.trim().trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("must be an http(s) URL, not {text:?}"));
        }
        Ok(Self(url.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for PublicUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

/// How to reach AWS; what is `None` comes from the SDK's default chain.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// `AWS_REGION` (or `AWS_DEFAULT_REGION`); Lambda sets it.
    pub region: Option<String>,
    /// `AWS_ENDPOINT_URL`: one endpoint for every service (an emulator, for tests).
    pub endpoint_url: Option<String>,
    /// `AWS_ACCESS_KEY_ID`; with the secret below, static credentials (Lambda sets them).
    pub access_key_id: Option<String>,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<Secret>,
    /// `AWS_SESSION_TOKEN`.
    pub session_token: Option<Secret>,
}

/// Mail: the support address and the threading key.
#[derive(Debug, Clone, Default)]
pub struct MailSettings {
    /// `HELPDESK_MAIL_DOMAIN`; the self-hosted binary defaults to [`DEFAULT_MAIL_DOMAIN`].
    pub domain: Option<MailDomain>,
    /// `HELPDESK_MAIL_FROM` (AWS): the support address, in `domain`. Self-hosted:
    /// `support@{domain}`.
    pub from: Option<EmailAddress>,
    /// `HELPDESK_THREAD_KEY` (AWS). Self-hosted: the key file in the data directory.
    pub thread_key: Option<ThreadKey>,
    /// `HELPDESK_SMTP_RELAY` (self-hosted): outbound mail through an SMTP relay instead of the
    /// outbox; the URL may hold a password.
    pub smtp_relay: Option<Secret>,
}

/// The mail bucket (`MAIL_BUCKET`): attachments (`att/`), raw mail (`raw/`) and what the SES
/// receipt rule stores (`MAIL_PREFIX`, default `inbound/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailBucket {
    pub name: String,
    pub received_prefix: String,
}

/// The receipt rule's default S3 prefix.
pub const DEFAULT_MAIL_PREFIX: &str = "inbound/";

/// The routing queue on SQS.
#[derive(Debug, Clone, Default)]
pub struct RoutingSettings {
    /// `ROUTING_QUEUE_URL`.
    pub queue_url: Option<String>,
    /// `ROUTING_DLQ_URL`: its dead-letter queue, for the admins' dead-letter list.
    pub dead_letter_url: Option<String>,
}

/// The platform's user API (customer pre-population): `CUSTOMER_DIRECTORY_URL` (empty: off, the
/// stored customers table), `CUSTOMER_DIRECTORY_TOKEN`, `CUSTOMER_DIRECTORY_TIMEOUT_MS`
/// (default 2000), `CUSTOMER_DIRECTORY_CACHE_SECS` (default 300).
#[derive(Debug, Clone)]
pub struct DirectorySettings {
    pub url: String,
    pub token: Option<Secret>,
    pub timeout: Duration,
    pub cache_ttl: Duration,
}

/// Knowledge-base search of the API function (`HELPDESK_KB_SEARCH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KbSearch {
    /// `opensearch` (default): the domain at `HELPDESK_OPENSEARCH_ENDPOINT`, index
    /// `HELPDESK_OPENSEARCH_INDEX` (default `kb`).
    OpenSearch {
        endpoint: Option<String>,
        index: String,
    },
    /// `embedded`: a RAM index per instance, rebuilt when older than
    /// `HELPDESK_KB_MAX_AGE_SECONDS` (default 300).
    Embedded { max_age: Duration },
}

impl Default for KbSearch {
    fn default() -> Self {
        Self::OpenSearch {
            endpoint: None,
            index: "kb".into(),
        }
    }
}

/// The console's sign-in through Cognito's hosted UI (API function).
#[derive(Debug, Clone, Default)]
pub struct ConsoleSettings {
    /// `HELPDESK_COGNITO_DOMAIN`.
    pub cognito_domain: Option<String>,
    /// `HELPDESK_COGNITO_ISSUER`.
    pub issuer: Option<String>,
    /// `HELPDESK_COGNITO_CLIENT_ID`.
    pub client_id: Option<String>,
    /// `HELPDESK_CONSOLE_CALLBACK_URL`.
    pub callback_url: Option<String>,
    /// `HELPDESK_SESSION_KEY` (at least 32 characters): the CSRF tokens' key.
    pub session_key: Option<Secret>,
}

/// Everything a binary may be configured with. Fields a runtime does not use stay `None`.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub aws: AwsSettings,
    /// `TABLE_NAME` (AWS).
    pub table_name: Option<String>,
    /// `HELPDESK_DATA`, `--data` (self-hosted).
    pub data_dir: Option<PathBuf>,
    pub mail: MailSettings,
    /// `MAIL_BUCKET`, `MAIL_PREFIX` (AWS).
    pub mail_bucket: Option<MailBucket>,
    /// `CLASSIFIER_BUCKET` (AWS): classifier models (`classifier/models/`).
    pub classifier_bucket: Option<String>,
    pub routing: RoutingSettings,
    /// `ALERTS_TOPIC_ARN` (AWS): the SLA alert topic.
    pub alerts_topic_arn: Option<String>,
    /// `HELPDESK_PUBLIC_URL`, `--public-url`.
    pub public_url: Option<PublicUrl>,
    /// `SMS_MAX_PER_RECIPIENT_PER_WINDOW` (1–100, default 5), `HELPDESK_CONSOLE_URL`.
    pub paging: PagingOptions,
    pub directory: Option<DirectorySettings>,
    /// `HELPDESK_KB_SEARCH` and the rest (AWS API function; self-hosted: always the on-disk
    /// embedded index).
    pub kb: KbSearch,
    pub console: ConsoleSettings,
}

/// Every variable [`Settings::from_env`] reads (besides `RUST_LOG`, read by the logging init).
pub const VARIABLES: &[&str] = &[
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "TABLE_NAME",
    "HELPDESK_DATA",
    "HELPDESK_MAIL_DOMAIN",
    "HELPDESK_MAIL_FROM",
    "HELPDESK_THREAD_KEY",
    "HELPDESK_SMTP_RELAY",
    "MAIL_BUCKET",
    "MAIL_PREFIX",
    "CLASSIFIER_BUCKET",
    "ROUTING_QUEUE_URL",
    "ROUTING_DLQ_URL",
    "ALERTS_TOPIC_ARN",
    "HELPDESK_PUBLIC_URL",
    "SMS_MAX_PER_RECIPIENT_PER_WINDOW",
    "HELPDESK_CONSOLE_URL",
    "CUSTOMER_DIRECTORY_URL",
    "CUSTOMER_DIRECTORY_TOKEN",
    "CUSTOMER_DIRECTORY_TIMEOUT_MS",
    "CUSTOMER_DIRECTORY_CACHE_SECS",
    "HELPDESK_KB_SEARCH",
    "HELPDESK_OPENSEARCH_ENDPOINT",
    "HELPDESK_OPENSEARCH_INDEX",
    "HELPDESK_KB_MAX_AGE_SECONDS",
    "HELPDESK_COGNITO_DOMAIN",
    "HELPDESK_COGNITO_ISSUER",
    "HELPDESK_COGNITO_CLIENT_ID",
    "HELPDESK_CONSOLE_CALLBACK_URL",
    "HELPDESK_SESSION_KEY",
];

/// The variables the self-hosted binary reads (the rest are the Lambdas'; the self-hosted
/// binary keeps its keys in the data directory). Its `main` reads only these, so a Lambda
/// variable left in a shell cannot stop it.
pub const SELF_HOSTED_VARIABLES: &[&str] = &[
    "HELPDESK_DATA",
    "HELPDESK_MAIL_DOMAIN",
    "HELPDESK_PUBLIC_URL",
    "HELPDESK_SMTP_RELAY",
    "SMS_MAX_PER_RECIPIENT_PER_WINDOW",
    "HELPDESK_CONSOLE_URL",
    "CUSTOMER_DIRECTORY_URL",
    "CUSTOMER_DIRECTORY_TOKEN",
    "CUSTOMER_DIRECTORY_TIMEOUT_MS",
    "CUSTOMER_DIRECTORY_CACHE_SECS",
];

/// What a binary can be asked to wire. Each Lambda declares the ones it needs; a needed
/// capability whose settings are missing stops start-up ([`Settings::require`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// The DynamoDB table (`TABLE_NAME`). Every function needs it.
    Table,
    /// Outbound mail through SES, signed with the threading key.
    Mail,
    /// Inbound mail: threading (the key) and loop detection (the support address).
    Inbound,
    /// The mail bucket: attachments, raw mail, received mail.
    MailBucket,
    /// Classifier models in S3.
    ClassifierModels,
    /// New tickets' routing events to SQS.
    RoutingQueue,
    /// The routing DLQ, for the admins' dead-letter list.
    RoutingDeadLetters,
    /// Signed public links (surveys, unsubscribe, help-centre sign-in) under the public URL.
    Links,
    /// Knowledge-base search.
    KbSearch,
    /// SLA alerts to the SNS topic.
    SlaAlerts,
    /// SMS pages through SNS (limits have defaults).
    SmsPaging,
    /// The platform's user API; optional by design (an empty URL keeps the stored customers).
    CustomerDirectory,
    /// The console's sign-in through Cognito.
    ConsoleSignIn,
}

impl Capability {
    /// What it is, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Table => "storage",
            Self::Mail => "outbound mail",
            Self::Inbound => "inbound mail",
            Self::MailBucket => "the mail bucket",
            Self::ClassifierModels => "classifier models",
            Self::RoutingQueue => "the routing queue",
            Self::RoutingDeadLetters => "the routing dead-letter list",
            Self::Links => "signed public links",
            Self::KbSearch => "knowledge-base search",
            Self::SlaAlerts => "SLA alerts",
            Self::SmsPaging => "SMS paging",
            Self::CustomerDirectory => "the customer directory",
            Self::ConsoleSignIn => "console sign-in",
        }
    }

    /// The variables (of an AWS function's environment) it needs that `settings` lacks.
    fn missing(self, s: &Settings) -> Vec<&'static str> {
        let mut missing = Vec::new();
        let mut need = |present: bool, variable: &'static str| {
            if !present {
                missing.push(variable);
            }
        };
        match self {
            Self::Table => need(s.table_name.is_some(), "TABLE_NAME"),
            Self::Mail => {
                need(s.mail.from.is_some(), "HELPDESK_MAIL_FROM");
                need(s.mail.domain.is_some(), "HELPDESK_MAIL_DOMAIN");
                need(s.mail.thread_key.is_some(), "HELPDESK_THREAD_KEY");
            }
            Self::Inbound => {
                need(s.mail.domain.is_some(), "HELPDESK_MAIL_DOMAIN");
                need(s.mail.thread_key.is_some(), "HELPDESK_THREAD_KEY");
            }
            Self::MailBucket => need(s.mail_bucket.is_some(), "MAIL_BUCKET"),
            Self::ClassifierModels => need(s.classifier_bucket.is_some(), "CLASSIFIER_BUCKET"),
            Self::RoutingQueue => need(s.routing.queue_url.is_some(), "ROUTING_QUEUE_URL"),
            Self::RoutingDeadLetters => {
                need(s.routing.dead_letter_url.is_some(), "ROUTING_DLQ_URL")
            }
            Self::Links => {
                need(s.mail.thread_key.is_some(), "HELPDESK_THREAD_KEY");
                need(s.public_url.is_some(), "HELPDESK_PUBLIC_URL");
            }
            Self::KbSearch => {
                if let KbSearch::OpenSearch { endpoint: None, .. } = s.kb {
                    need(false, "HELPDESK_OPENSEARCH_ENDPOINT");
                }
            }
            Self::SlaAlerts => need(s.alerts_topic_arn.is_some(), "ALERTS_TOPIC_ARN"),
            Self::SmsPaging | Self::CustomerDirectory => {}
            Self::ConsoleSignIn => {
                let c = &s.console;
                need(c.cognito_domain.is_some(), "HELPDESK_COGNITO_DOMAIN");
                need(c.issuer.is_some(), "HELPDESK_COGNITO_ISSUER");
                need(c.client_id.is_some(), "HELPDESK_COGNITO_CLIENT_ID");
                need(c.callback_url.is_some(), "HELPDESK_CONSOLE_CALLBACK_URL");
                need(c.session_key.is_some(), "HELPDESK_SESSION_KEY");
            }
        }
        missing
    }
}

/// A setting a needed capability lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingSetting {
    pub variable: &'static str,
    pub capability: Capability,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// A value is present but unusable.
    #[error("{variable}: {message}")]
    Invalid {
        variable: &'static str,
        message: String,
    },
    /// Needed capabilities lack settings; every missing variable is named.
    #[error("{}", describe_missing(.0))]
    Missing(Vec<MissingSetting>),
}

fn describe_missing(missing: &[MissingSetting]) -> String {
    let list: Vec<String> = missing
        .iter()
        .map(|m| format!("{} (for {})", m.variable, m.capability.describe()))
        .collect();
    format!("missing settings: {}", list.join(", "))
}

fn invalid(variable: &'static str) -> impl Fn(String) -> SettingsError {
    move |message| SettingsError::Invalid { variable, message }
}

impl Settings {
    /// The self-hosted defaults for a data directory: the default mail domain, nothing else.
    pub fn local(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: Some(data_dir.into()),
            mail: MailSettings {
                domain: Some(MailDomain::default()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// Reads every setting from `var` (the process environment in `main`, a template's
    /// function environment in tests). Empty values count as unset. A present value that is
    /// unusable is an error naming its variable; what a binary needs is checked by
    /// [`Settings::require`].
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        // Plain values are trimmed; secrets are taken as they are.
        let get = |k: &str| {
            var(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let secret = |k: &str| var(k).filter(|v| !v.trim().is_empty()).map(Secret::new);
        let number = |k: &'static str| -> Result<Option<u64>, SettingsError> {
            get(k)
                .map(|v| {
                    v.parse::<u64>()
                        .map_err(|_| invalid(k)(format!("must be a whole number, not {v:?}")))
                })
                .transpose()
        };

        let aws = AwsSettings {
            region: get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")),
            endpoint_url: get("AWS_ENDPOINT_URL"),
            access_key_id: get("AWS_ACCESS_KEY_ID"),
            secret_access_key: secret("AWS_SECRET_ACCESS_KEY"),
            session_token: secret("AWS_SESSION_TOKEN"),
        };

        let domain = get("HELPDESK_MAIL_DOMAIN")
            .map(|d| MailDomain::parse(&d).map_err(invalid("HELPDESK_MAIL_DOMAIN")))
            .transpose()?;
        let from = get("HELPDESK_MAIL_FROM")
            .map(|f| {
                EmailAddress::parse(&f).map_err(|e| invalid("HELPDESK_MAIL_FROM")(e.to_string()))
            })
            .transpose()?;
        if let (Some(from), Some(domain)) = (&from, &domain) {
            if !from.domain().eq_ignore_ascii_case(domain.as_str()) {
                return Err(invalid("HELPDESK_MAIL_FROM")(format!(
                    "{from} is not an address in HELPDESK_MAIL_DOMAIN ({domain})"
                )));
            }
        }
        let thread_key = var("HELPDESK_THREAD_KEY")
            .filter(|k| !k.is_empty())
            .map(|k| ThreadKey::parse(&k).map_err(invalid("HELPDESK_THREAD_KEY")))
            .transpose()?;
        let smtp_relay = secret("HELPDESK_SMTP_RELAY").map(|s| Secret::new(s.expose().trim()));

        let mail_bucket = get("MAIL_BUCKET").map(|name| MailBucket {
            name,
            received_prefix: get("MAIL_PREFIX").unwrap_or_else(|| DEFAULT_MAIL_PREFIX.into()),
        });

        let public_url = get("HELPDESK_PUBLIC_URL")
            .map(|u| PublicUrl::parse(&u).map_err(invalid("HELPDESK_PUBLIC_URL")))
            .transpose()?;

        let max_per_window = match get("SMS_MAX_PER_RECIPIENT_PER_WINDOW") {
            None => DEFAULT_MAX_SMS_PER_WINDOW,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| {
                    invalid("SMS_MAX_PER_RECIPIENT_PER_WINDOW")(format!(
                        "must be a number from 1 to 100, not {v:?}"
                    ))
                })?,
        };
        let console_url = get("HELPDESK_CONSOLE_URL")
            .map(|u| {
                PublicUrl::parse(&u)
                    .map(|_| u)
                    .map_err(invalid("HELPDESK_CONSOLE_URL"))
            })
            .transpose()?;

        let directory = match get("CUSTOMER_DIRECTORY_URL") {
            None => None,
            Some(url) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(invalid("CUSTOMER_DIRECTORY_URL")(format!(
                        "must be an http(s) URL, not {url:?}"
                    )));
                }
                Some(DirectorySettings {
                    url,
                    token: secret("CUSTOMER_DIRECTORY_TOKEN"),
                    timeout: Duration::from_millis(
                        number("CUSTOMER_DIRECTORY_TIMEOUT_MS")?
                            .unwrap_or(2000)
                            .max(1),
                    ),
                    cache_ttl: Duration::from_secs(
                        number("CUSTOMER_DIRECTORY_CACHE_SECS")?.unwrap_or(300),
                    ),
                })
            }
        };

        let kb = match get("HELPDESK_KB_SEARCH").as_deref() {
            None | Some("opensearch") => KbSearch::OpenSearch {
                // The domain endpoint attribute has no scheme.
                endpoint: get("HELPDESK_OPENSEARCH_ENDPOINT").map(|e| {
                    if e.starts_with("http") {
                        e
                    } else {
                        format!("https://{e}")
                    }
                }),
                index: get("HELPDESK_OPENSEARCH_INDEX").unwrap_or_else(|| "kb".into()),
            },
            Some("embedded") => KbSearch::Embedded {
                max_age: Duration::from_secs(number("HELPDESK_KB_MAX_AGE_SECONDS")?.unwrap_or(300)),
            },
            Some(other) => {
                return Err(invalid("HELPDESK_KB_SEARCH")(format!(
                    "must be opensearch or embedded, not {other:?}"
                )))
            }
        };

        let session_key = secret("HELPDESK_SESSION_KEY");
        if session_key.as_ref().is_some_and(|k| k.expose().len() < 32) {
            return Err(invalid("HELPDESK_SESSION_KEY")(
                "must be at least 32 characters".into(),
            ));
        }

        Ok(Self {
            aws,
            table_name: get("TABLE_NAME"),
            data_dir: get("HELPDESK_DATA").map(PathBuf::from),
            mail: MailSettings {
                domain,
                from,
                thread_key,
                smtp_relay,
            },
            mail_bucket,
            classifier_bucket: get("CLASSIFIER_BUCKET"),
            routing: RoutingSettings {
                queue_url: get("ROUTING_QUEUE_URL"),
                dead_letter_url: get("ROUTING_DLQ_URL"),
            },
            alerts_topic_arn: get("ALERTS_TOPIC_ARN"),
            public_url,
            paging: PagingOptions {
                max_per_window,
                console_url,
            },
            directory,
            kb,
            console: ConsoleSettings {
                cognito_domain: get("HELPDESK_COGNITO_DOMAIN"),
                issuer: get("HELPDESK_COGNITO_ISSUER"),
                client_id: get("HELPDESK_COGNITO_CLIENT_ID"),
                callback_url: get("HELPDESK_CONSOLE_CALLBACK_URL"),
                session_key,
            },
        })
    }

    /// Checks that every capability in `needs` has its settings (the variables of an AWS
    /// function's environment); the error names every missing variable at once.
    pub fn require(&self, needs: &[Capability]) -> Result<(), SettingsError> {
        let mut missing: Vec<MissingSetting> = Vec::new();
        for &capability in needs {
            for variable in capability.missing(self) {
                if !missing.iter().any(|m| m.variable == variable) {
                    missing.push(MissingSetting {
                        variable,
                        capability,
                    });
                }
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(SettingsError::Missing(missing))
        }
    }

    /// The local part of the support address (`support` unless `HELPDESK_MAIL_FROM` says
    /// otherwise): inbound mail from it is a loop.
    pub fn support_local(&self) -> String {
        self.mail
            .from
            .as_ref()
            .map(|f| f.local_part().to_string())
            .unwrap_or_else(|| "support".into())
    }

    /// Sets the mail domain (a flag's value).
    pub fn with_mail_domain(mut self, domain: &str) -> Result<Self, SettingsError> {
        self.mail.domain = Some(MailDomain::parse(domain).map_err(invalid("--mail-domain"))?);
        Ok(self)
    }

    /// Sets the public URL (a flag's value).
    pub fn with_public_url(mut self, url: &str) -> Result<Self, SettingsError> {
        self.public_url = Some(PublicUrl::parse(url).map_err(invalid("--public-url"))?);
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn invalid_variable(r: Result<Settings, SettingsError>) -> &'static str {
        match r {
            Err(SettingsError::Invalid { variable, .. }) => variable,
            other => panic!("expected an invalid setting, got {other:?}"),
        }
    }

    #[test]
    fn secrets_never_print() {
        let s = Settings::from_env(env(&[
            ("HELPDESK_THREAD_KEY", KEY),
            (
                "HELPDESK_SESSION_KEY",
                "session-key-session-key-session-key",
            ),
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG"),
            (
                "HELPDESK_SMTP_RELAY",
                "smtps://user:hunter2@mail.example.com",
            ),
            (
                "CUSTOMER_DIRECTORY_URL",
                "https://platform.example.com/users",
            ),
            ("CUSTOMER_DIRECTORY_TOKEN", "platform-token"),
        ]))
        .expect("settings");
        let printed = format!("{s:?}");
        for secret in [
            KEY,
            "session-key",
            "wJalrXUtnFEMI",
            "hunter2",
            "platform-token",
        ] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert_eq!(Secret::new("x").to_string(), "***");
        assert_eq!(
            s.mail.smtp_relay.as_ref().map(Secret::expose),
            Some("smtps://user:hunter2@mail.example.com")
        );
    }

    #[test]
    fn a_missing_capability_names_every_missing_variable() {
        let s = Settings::from_env(env(&[
            ("TABLE_NAME", "t"),
            ("HELPDESK_MAIL_DOMAIN", "help.example.com"),
        ]))
        .expect("settings");
        let err = s
            .require(&[Capability::Table, Capability::Mail, Capability::Inbound])
            .expect_err("mail is missing");
        assert_eq!(
            err.to_string(),
            "missing settings: HELPDESK_MAIL_FROM (for outbound mail), HELPDESK_THREAD_KEY (for outbound mail)"
        );
        assert!(s.require(&[Capability::Table]).is_ok());
        // The default KB mode needs its endpoint; embedded needs nothing.
        assert!(s.require(&[Capability::KbSearch]).is_err());
        let s = Settings::from_env(env(&[("HELPDESK_KB_SEARCH", "embedded")])).expect("s");
        assert!(s.require(&[Capability::KbSearch]).is_ok());
        assert!(Settings::default()
            .require(&[Capability::SmsPaging, Capability::CustomerDirectory])
            .is_ok());
    }

    #[test]
    fn the_thread_key_is_parsed_one_way() {
        assert!(ThreadKey::parse(KEY).is_ok());
        assert!(ThreadKey::parse(&KEY[1..]).is_err());
        assert_eq!(
            invalid_variable(Settings::from_env(env(&[("HELPDESK_THREAD_KEY", "short")]))),
            "HELPDESK_THREAD_KEY"
        );
        assert_eq!(format!("{:?}", ThreadKey::parse(KEY)), "Ok(ThreadKey(***))");
    }

    #[test]
    fn mail_settings_are_checked() {
        let s = Settings::from_env(env(&[
            ("HELPDESK_MAIL_FROM", "help@help.example.com"),
            ("HELPDESK_MAIL_DOMAIN", "Help.Example.com"),
            ("HELPDESK_THREAD_KEY", KEY),
        ]))
        .expect("settings");
        assert_eq!(s.support_local(), "help");
        assert_eq!(
            s.mail.domain.as_ref().map(MailDomain::as_str),
            Some("Help.Example.com")
        );
        assert!(s.require(&[Capability::Mail, Capability::Inbound]).is_ok());
        assert_eq!(Settings::default().support_local(), "support");
        for (k, v) in [
            ("HELPDESK_MAIL_DOMAIN", "support@example.com"),
            ("HELPDESK_MAIL_DOMAIN", "a b"),
            ("HELPDESK_MAIL_FROM", "not an address"),
        ] {
            assert_eq!(
                invalid_variable(Settings::from_env(env(&[(k, v)]))),
                k,
                "{v}"
            );
        }
        assert_eq!(
            invalid_variable(Settings::from_env(env(&[
                ("HELPDESK_MAIL_FROM", "support@elsewhere.example"),
                ("HELPDESK_MAIL_DOMAIN", "help.example.com"),
            ]))),
            "HELPDESK_MAIL_FROM"
        );
    }

    #[test]
    fn paging_defaults_and_limits() {
        let s = Settings::from_env(env(&[])).expect("defaults");
        assert_eq!(s.paging.max_per_window, DEFAULT_MAX_SMS_PER_WINDOW);
        assert_eq!(s.paging.console_url, None);
        let s = Settings::from_env(env(&[
            ("SMS_MAX_PER_RECIPIENT_PER_WINDOW", "2"),
            ("HELPDESK_CONSOLE_URL", "https://desk.example.com"),
        ]))
        .expect("set");
        assert_eq!(s.paging.max_per_window, 2);
        assert_eq!(
            s.paging.console_url.as_deref(),
            Some("https://desk.example.com")
        );
        for bad in ["0", "101", "five", "-1"] {
            assert_eq!(
                invalid_variable(Settings::from_env(env(&[(
                    "SMS_MAX_PER_RECIPIENT_PER_WINDOW",
                    bad
                )]))),
                "SMS_MAX_PER_RECIPIENT_PER_WINDOW"
            );
        }
        assert_eq!(
            invalid_variable(Settings::from_env(env(&[(
                "HELPDESK_CONSOLE_URL",
                "desk.example.com"
            )]))),
            "HELPDESK_CONSOLE_URL"
        );
    }

    #[test]
    fn directory_kb_and_console_values() {
        assert!(Settings::from_env(env(&[("CUSTOMER_DIRECTORY_URL", "")]))
            .expect("off")
            .directory
            .is_none());
        let d = Settings::from_env(env(&[
            (
                "CUSTOMER_DIRECTORY_URL",
                "https://platform.example.com/users",
            ),
            ("CUSTOMER_DIRECTORY_TIMEOUT_MS", "500"),
        ]))
        .expect("on")
        .directory
        .expect("directory");
        assert_eq!(d.timeout, Duration::from_millis(500));
        assert_eq!(d.cache_ttl, Duration::from_secs(300));
        for (k, v) in [
            ("CUSTOMER_DIRECTORY_URL", "ftp://x"),
            ("HELPDESK_KB_SEARCH", "elastic"),
            ("HELPDESK_SESSION_KEY", "short"),
            ("HELPDESK_PUBLIC_URL", "desk.example.com"),
        ] {
            assert_eq!(
                invalid_variable(Settings::from_env(env(&[(k, v)]))),
                k,
                "{v}"
            );
        }
        assert_eq!(
            invalid_variable(Settings::from_env(env(&[
                (
                    "CUSTOMER_DIRECTORY_URL",
                    "https://platform.example.com/users"
                ),
                ("CUSTOMER_DIRECTORY_TIMEOUT_MS", "soon"),
            ]))),
            "CUSTOMER_DIRECTORY_TIMEOUT_MS"
        );
        let s = Settings::from_env(env(&[
            (
                "HELPDESK_OPENSEARCH_ENDPOINT",
                "search-kb.eu-west-1.es.amazonaws.com",
            ),
            ("MAIL_BUCKET", "mail"),
            ("HELPDESK_PUBLIC_URL", "https://desk.example.com/"),
        ]))
        .expect("settings");
        assert_eq!(
            s.kb,
            KbSearch::OpenSearch {
                endpoint: Some("https://search-kb.eu-west-1.es.amazonaws.com".into()),
                index: "kb".into()
            }
        );
        assert_eq!(
            s.mail_bucket,
            Some(MailBucket {
                name: "mail".into(),
                received_prefix: DEFAULT_MAIL_PREFIX.into()
            })
        );
        assert_eq!(
            s.public_url.as_ref().map(PublicUrl::as_str),
            Some("https://desk.example.com")
        );
    }
}
