//! The inbound e-mail Lambda: an SES receipt rule stores each message in S3 (its S3 action,
//! key `{MAIL_PREFIX}{messageId}`), then invokes this function (`Event` invocation) with the
//! notification — headers only, never the content. For each record the function reads the raw
//! MIME back from S3 and hands it to [`Helpdesk::ingest_email`], which keeps its own copy under
//! `raw/…` in the same bucket, then threads it or opens a ticket.
//!
//! Redelivery is safe: the ingest records every Message-ID, so the same message a second time
//! (a Lambda retry, or SES delivering twice) is `ignored`. Nothing is dropped silently: a
//! missing S3 object, an unusable SES message id or a storage failure fails the invocation, so
//! Lambda retries it and finally sends it to the function's dead-letter queue.

use aws_lambda_events::event::ses::SimpleEmailEvent;
use helpdesk_adapters::aws::S3BlobStore;
use helpdesk_app::inbound::{BlobStore, InboundConfig, IngestOutcome};
use helpdesk_app::Helpdesk;
use helpdesk_compose::settings::{MailDomain, ThreadKey};
use helpdesk_compose::{aws::Stack, Capability, ComposeError, Settings};
use lambda_runtime::LambdaEvent;
use serde::Serialize;

/// Where the receipt rule's S3 action writes, unless `MAIL_PREFIX` says otherwise.
pub const DEFAULT_PREFIX: &str = helpdesk_compose::settings::DEFAULT_MAIL_PREFIX;

/// The shortest threading key accepted (`HELPDESK_THREAD_KEY`).
pub const MIN_THREAD_KEY_LEN: usize = ThreadKey::MIN_LEN;

/// What the function needs besides its table: the mail bucket (received and raw mail), inbound
/// settings (threading), mail (the acknowledgement of a new ticket goes out through SES) and
/// the routing queue (new tickets' routing events).
pub const NEEDS: &[Capability] = &[
    Capability::MailBucket,
    Capability::Inbound,
    Capability::Mail,
    Capability::RoutingQueue,
];

/// How the handler finds and ingests received mail.
pub struct InboundSettings {
    /// The object key prefix of the receipt rule's S3 action (`MAIL_PREFIX`).
    pub prefix: String,
    pub inbound: InboundConfig,
}

impl InboundSettings {
    /// Validates the threading key and the mail domain (as [`helpdesk_compose::Settings`]
    /// does); the support address is `support@{mail_domain}`.
    pub fn new(prefix: Option<&str>, thread_key: &str, mail_domain: &str) -> Result<Self, String> {
        let key = ThreadKey::parse(thread_key).map_err(|e| format!("HELPDESK_THREAD_KEY {e}"))?;
        let domain =
            MailDomain::parse(mail_domain).map_err(|e| format!("HELPDESK_MAIL_DOMAIN: {e}"))?;
        Ok(Self {
            prefix: prefix.unwrap_or(DEFAULT_PREFIX).to_string(),
            inbound: InboundConfig {
                signer: key.signer(&domain),
                limits: helpdesk_mail::Limits::default(),
                support_local: "support".into(),
            },
        })
    }
}

/// The function as `main` runs it (and the tests start it).
pub struct Function {
    helpdesk: Helpdesk,
    blobs: S3BlobStore,
    settings: InboundSettings,
}

impl Function {
    pub async fn build(settings: &Settings) -> Result<Self, ComposeError> {
        let stack = Stack::connect(settings).await;
        Ok(Self {
            helpdesk: stack.helpdesk(NEEDS)?,
            blobs: stack.mail_bucket()?,
            settings: InboundSettings {
                prefix: stack.received_mail_prefix()?.to_string(),
                inbound: stack.inbound()?,
            },
        })
    }

    pub fn helpdesk(&self) -> &Helpdesk {
        &self.helpdesk
    }

    pub async fn handle(
        &self,
        event: LambdaEvent<SimpleEmailEvent>,
    ) -> Result<InboundSummary, lambda_runtime::Error> {
        handle(&self.helpdesk, &self.blobs, &self.settings, event).await
    }
}

/// The S3 key the receipt rule's S3 action used for one message: `{prefix}{messageId}`.
/// SES message ids are letters, digits and `-`; anything else (or nothing) is refused rather
/// than turned into some other key.
pub fn inbound_key(prefix: &str, ses_message_id: &str) -> Result<String, String> {
    let id = ses_message_id.trim();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!("unusable SES message id {ses_message_id:?}"));
    }
    Ok(format!("{prefix}{id}"))
}

/// What happened to one record.
#[derive(Debug, Clone, Serialize)]
pub struct Processed {
    pub ses_message_id: String,
    /// Where the receipt rule stored it.
    pub object_key: String,
    #[serde(flatten)]
    pub ingest: IngestOutcome,
}

/// What one invocation did; the function's result (visible in `sam local invoke` and tests).
#[derive(Debug, Clone, Serialize)]
pub struct InboundSummary {
    pub processed: Vec<Processed>,
}

/// One invocation. `blobs` is the mail bucket: the stored message is read from it and the
/// ingest's raw copy is written to it. Any failure fails the whole invocation; the records
/// already ingested are ignored on the retry.
pub async fn handle(
    helpdesk: &Helpdesk,
    blobs: &dyn BlobStore,
    settings: &InboundSettings,
    event: LambdaEvent<SimpleEmailEvent>,
) -> Result<InboundSummary, lambda_runtime::Error> {
    let mut processed = Vec::with_capacity(event.payload.records.len());
    for record in &event.payload.records {
        let id = record.ses.mail.message_id.as_deref().unwrap_or_default();
        let key = inbound_key(&settings.prefix, id).map_err(|e| {
            tracing::error!(error = %e, "SES record without a usable message id");
            lambda_runtime::Error::from(e)
        })?;
        let raw = match blobs.get(&key).await {
            Ok(Some(raw)) => raw,
            Ok(None) => {
                // The S3 action runs before this one, so the object should be there; a retry
                // gives an eventually consistent or misconfigured store another chance, and the
                // DLQ keeps the notification if it never appears.
                tracing::error!(ses_message_id = id, key = %key, "the stored message is missing");
                return Err(format!("the stored message {key} is missing").into());
            }
            Err(e) => {
                tracing::error!(error = %e, ses_message_id = id, key = %key, "reading the stored message failed");
                return Err(e.to_string().into());
            }
        };
        let outcome = helpdesk
            .ingest_email(&raw, blobs, &settings.inbound)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, ses_message_id = id, "ingesting the message failed");
                lambda_runtime::Error::from(e.to_string())
            })?;
        tracing::info!(
            ses_message_id = id,
            outcome = ?outcome.outcome,
            ticket = outcome.ticket.map(|t| t.to_string()),
            reason = %outcome.reason,
            raw = %outcome.raw,
            "inbound message handled"
        );
        processed.push(Processed {
            ses_message_id: id.to_string(),
            object_key: key,
            ingest: outcome,
        });
    }
    Ok(InboundSummary { processed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_object_key_is_the_prefix_and_the_ses_message_id() {
        assert_eq!(
            inbound_key("inbound/", "o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1").expect("key"),
            "inbound/o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1"
        );
        assert_eq!(inbound_key("", " abc-1 ").expect("key"), "abc-1");
        for bad in ["", "  ", "../x", "a/b", "a b", "a?b"] {
            assert!(inbound_key("inbound/", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn settings_need_a_long_key_and_a_domain() {
        let key = "k".repeat(32);
        let s = InboundSettings::new(None, &key, "support.example.com").expect("settings");
        assert_eq!(s.prefix, DEFAULT_PREFIX);
        assert_eq!(
            InboundSettings::new(Some("mail/"), &key, "support.example.com")
                .expect("settings")
                .prefix,
            "mail/"
        );
        assert!(InboundSettings::new(None, &"k".repeat(31), "support.example.com").is_err());
        assert!(InboundSettings::new(None, &key, "").is_err());
        assert!(InboundSettings::new(None, &key, "support@example.com").is_err());
    }
}
