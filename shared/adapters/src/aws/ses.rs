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
