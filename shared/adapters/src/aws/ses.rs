//! SESv2: outbound e-mail as raw MIME ([`SesMailSender`]).
//!
//! The help desk composes the whole message (threading headers, text and HTML parts) and SES
//! sends it as it is (`SendEmail` with `Content.Raw`). The From address (or its domain) must be
//! a verified identity; in the SES sandbox the recipients must be verified too.

use async_trait::async_trait;
use aws_sdk_sesv2::config::timeout::TimeoutConfig;
use aws_sdk_sesv2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sesv2::error::{DisplayErrorContext, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use aws_sdk_sesv2::Client;
use helpdesk_app::outbound::{MailSender, SendError, SentId};
use std::time::Duration;

/// A send that takes longer than this is abandoned and retried later (well inside the
/// delivery lease, so a slow send is never taken over while it runs).
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .operation_timeout(SEND_TIMEOUT)
        .build()
}

/// An SESv2 client for a local emulator (moto): fixed region and test credentials.
pub fn connect_local(endpoint_url: &str) -> Client {
    let config = aws_sdk_sesv2::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "helpdesk-local",
        ))
        .endpoint_url(endpoint_url)
        .timeout_config(timeouts())
        .build();
    Client::from_conf(config)
}

/// A client from the standard AWS environment (credentials chain, region, `AWS_ENDPOINT_URL`).
pub fn client_from(config: &aws_config::SdkConfig) -> Client {
    let conf = aws_sdk_sesv2::config::Builder::from(config)
        .timeout_config(timeouts())
        .build();
    Client::from_conf(conf)
}

/// Registers an identity (an address or a domain) to send from. Real SES then waits for the
/// verification (DNS records or a link); emulators accept it at once. For setup and tests.
pub async fn create_email_identity(client: &Client, identity: &str) -> Result<(), String> {
    client
        .create_email_identity()
        .email_identity(identity)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| DisplayErrorContext(&e).to_string())
}

/// [`MailSender`] on SESv2 `SendEmail` with raw content.
#[derive(Debug, Clone)]
pub struct SesMailSender {
    client: Client,
    configuration_set: Option<String>,
}

impl SesMailSender {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            configuration_set: None,
        }
    }

    /// Sends through a configuration set (event publishing for bounces and complaints).
    pub fn with_configuration_set(mut self, name: impl Into<String>) -> Self {
        self.configuration_set = Some(name.into());
        self
    }
}

/// Whether retrying can help: refusals of this message or sender are permanent; throttling,
/// paused sending, a suspended account (an operator can fix it) and transport failures are not.
fn classify(error: &SdkError<SendEmailError>) -> SendError {
    let text = DisplayErrorContext(error).to_string();
    match error {
        SdkError::ServiceError(e) => match e.err() {
            SendEmailError::MessageRejected(_)
            | SendEmailError::MailFromDomainNotVerifiedException(_)
            | SendEmailError::BadRequestException(_)
            | SendEmailError::NotFoundException(_) => SendError::Permanent(text),
            _ => SendError::Retryable(text),
        },
        SdkError::ConstructionFailure(_) => SendError::Permanent(text),
        _ => SendError::Retryable(text),
    }
}

#[async_trait]
impl MailSender for SesMailSender {
    async fn send(
        &self,
        raw_mime: &[u8],
        envelope_from: &str,
        recipients: &[String],
    ) -> Result<SentId, SendError> {
        if recipients.is_empty() {
            return Err(SendError::Permanent("no recipients".into()));
        }
        let raw = RawMessage::builder()
            .data(Blob::new(raw_mime))
            .build()
            .map_err(|e| SendError::Permanent(e.to_string()))?;
        let out = self
            .client
            .send_email()
            .from_email_address(envelope_from)
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(recipients.to_vec()))
                    .build(),
            )
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(|e| {
                let err = classify(&e);
                tracing::warn!(error = %err, "SES SendEmail failed");
                err
            })?;
        Ok(SentId(out.message_id().unwrap_or_default().to_string()))
    }
}

/// Outbound mail settings for a Lambda from its environment (`HELPDESK_MAIL_FROM`,
/// `HELPDESK_MAIL_DOMAIN`, `HELPDESK_THREAD_KEY` — the same key inbound mail verifies with),
/// sending through SESv2. `Ok(None)` when none is set (mail off); an error when only some are,
/// or a value is unusable, so a half-configured deployment fails at start, not at send time.
pub fn mail_settings_from(
    var: impl Fn(&str) -> Option<String>,
    client: Client,
) -> Result<Option<helpdesk_app::outbound::MailSettings>, String> {
    let (from, domain, key) = (
        var("HELPDESK_MAIL_FROM").filter(|v| !v.is_empty()),
        var("HELPDESK_MAIL_DOMAIN").filter(|v| !v.is_empty()),
        var("HELPDESK_THREAD_KEY").filter(|v| !v.is_empty()),
    );
    let (from, domain, key) = match (from, domain, key) {
        (None, None, None) => return Ok(None),
        (Some(f), Some(d), Some(k)) => (f, d, k),
        _ => return Err(
            "set all of HELPDESK_MAIL_FROM, HELPDESK_MAIL_DOMAIN and HELPDESK_THREAD_KEY, or none"
                .into(),
        ),
    };
    if key.len() < 32 {
        return Err("HELPDESK_THREAD_KEY must be at least 32 characters".into());
    }
    let address = helpdesk_domain::EmailAddress::parse(&from)
        .map_err(|e| format!("HELPDESK_MAIL_FROM: {e}"))?;
    if !address.domain().eq_ignore_ascii_case(&domain) {
        return Err("HELPDESK_MAIL_FROM must be an address in HELPDESK_MAIL_DOMAIN".into());
    }
    Ok(Some(helpdesk_app::outbound::MailSettings {
        signer: helpdesk_mail::ThreadSigner::new(key.as_bytes(), &domain),
        from: helpdesk_mail::Mailbox::new(address.to_string(), Some("Support")),
        sender: std::sync::Arc::new(SesMailSender::new(client)),
    }))
}

/// The support address's local part (`HELPDESK_MAIL_FROM`; `support` when it is not set):
/// inbound mail from it is a loop.
pub fn support_local(var: &impl Fn(&str) -> Option<String>) -> Result<String, String> {
    match var("HELPDESK_MAIL_FROM").filter(|v| !v.trim().is_empty()) {
        Some(from) => helpdesk_domain::EmailAddress::parse(from.trim())
            .map(|a| a.local_part().to_string())
            .map_err(|e| format!("HELPDESK_MAIL_FROM: {e}")),
        None => Ok("support".into()),
    }
}

/// Inbound mail settings (for reprocessing quarantined mail from the API) from the same
/// environment: `HELPDESK_MAIL_DOMAIN` and `HELPDESK_THREAD_KEY`, both or neither.
pub fn inbound_settings_from(
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<helpdesk_app::inbound::InboundConfig>, String> {
    match (
        var("HELPDESK_MAIL_DOMAIN").filter(|v| !v.is_empty()),
        var("HELPDESK_THREAD_KEY").filter(|v| !v.is_empty()),
    ) {
        (None, None) => Ok(None),
        (Some(domain), Some(key)) if key.len() >= 32 => {
            Ok(Some(helpdesk_app::inbound::InboundConfig {
                signer: helpdesk_mail::ThreadSigner::new(key.as_bytes(), &domain),
                limits: helpdesk_mail::Limits::default(),
                support_local: support_local(&var)?,
            }))
        }
        (Some(_), Some(_)) => Err("HELPDESK_THREAD_KEY must be at least 32 characters".into()),
        _ => Err("set both HELPDESK_MAIL_DOMAIN and HELPDESK_THREAD_KEY, or neither".into()),
    }
}

#[cfg(test)]
mod settings_tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn all_or_nothing_and_checked() {
        let client = || connect_local("http://127.0.0.1:9");
        const KEY: &str = "0123456789abcdef0123456789abcdef";
        assert!(mail_settings_from(vars(&[]), client())
            .expect("off")
            .is_none());
        let on = mail_settings_from(
            vars(&[
                ("HELPDESK_MAIL_FROM", "support@help.example.com"),
                ("HELPDESK_MAIL_DOMAIN", "help.example.com"),
                ("HELPDESK_THREAD_KEY", KEY),
            ]),
            client(),
        )
        .expect("ok")
        .expect("on");
        assert_eq!(on.from.address, "support@help.example.com");
        assert!(
            mail_settings_from(
                vars(&[("HELPDESK_MAIL_FROM", "support@help.example.com")]),
                client()
            )
            .is_err(),
            "half set"
        );
        assert!(mail_settings_from(
            vars(&[
                ("HELPDESK_MAIL_FROM", "support@help.example.com"),
                ("HELPDESK_MAIL_DOMAIN", "help.example.com"),
                ("HELPDESK_THREAD_KEY", "short")
            ]),
            client()
        )
        .is_err());
        assert!(mail_settings_from(
            vars(&[
                ("HELPDESK_MAIL_FROM", "support@elsewhere.example"),
                ("HELPDESK_MAIL_DOMAIN", "help.example.com"),
                ("HELPDESK_THREAD_KEY", KEY)
            ]),
            client()
        )
        .is_err());
    }
}
