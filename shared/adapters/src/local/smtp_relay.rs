//! Outbound mail through an SMTP relay (the self-hosted binary's alternative to the `.eml`
//! outbox): lettre's async SMTP client hands over the message exactly as composed. A 5xx answer
//! is a permanent refusal; anything else (connection, timeout, 4xx) is retried by the queue.

use async_trait::async_trait;
use helpdesk_app::outbound::{MailSender, SendError, SentId};
use lettre::address::{Address, Envelope};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

pub struct SmtpRelaySender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpRelaySender {
    /// `url`: `smtps://user:pass@host[:465]` (TLS), `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS) or `smtp://host:25` (plain, for a relay on the same machine). `hello` is the
    /// name given in EHLO (the support domain). The error never repeats the URL: it may hold a
    /// password.
    pub fn from_url(url: &str, hello: &str) -> Result<Self, String> {
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|_| {
            "HELPDESK_SMTP_RELAY is not a valid smtp:// or smtps:// URL".to_string()
        })?;
        Ok(Self {
            transport: builder
                .hello_name(ClientId::Domain(hello.to_string()))
                .timeout(Some(Duration::from_secs(30)))
                .build(),
        })
    }
}

#[async_trait]
impl MailSender for SmtpRelaySender {
    async fn send(
        &self,
        raw_mime: &[u8],
        envelope_from: &str,
        recipients: &[String],
    ) -> Result<SentId, SendError> {
        let from: Address = envelope_from
            .parse()
            .map_err(|e| SendError::Permanent(format!("sender {envelope_from:?}: {e}")))?;
        let to = recipients
            .iter()
            .map(|r| {
                r.parse::<Address>()
                    .map_err(|e| SendError::Permanent(format!("recipient {r:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let envelope = Envelope::new(Some(from), to)
            .map_err(|e| SendError::Permanent(format!("envelope: {e}")))?;
        match self.transport.send_raw(&envelope, raw_mime).await {
            Ok(response) => Ok(SentId(format!(
                "smtp {} {}",
                response.code(),
                response.message().collect::<Vec<_>>().join(" ")
            ))),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Retryable(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        let err = SmtpRelaySender::from_url("http://user:secret@host", "example.com")
            .err()
            .expect("refused");
        assert!(!err.contains("secret"), "{err}");
        assert!(SmtpRelaySender::from_url("smtp://127.0.0.1:2525", "example.com").is_ok());
        assert!(SmtpRelaySender::from_url("smtps://u:p@mail.example.com", "example.com").is_ok());
    }
}
