//! The local outbox: what AWS would send goes to files in the data directory, so it can be
//! read, tailed and tested — SLA alerts (SNS) appended to `outbox/alerts.jsonl`, one JSON object
//! per line, e-mail (SES) as one `.eml` file per message in `outbox/email/`, and SMS pages
//! (SNS SMS) appended to `outbox/sms.jsonl`.

use async_trait::async_trait;
use helpdesk_app::alerts::{SmsError, SmsOutcome, SmsSender};
use helpdesk_app::outbound::{MailSender, SendError, SentId};
use helpdesk_app::sla::{AlertSink, DeliveryError, SlaAlert};
use helpdesk_domain::PhoneNumber;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct OutboxAlertSink {
    path: PathBuf,
    lock: tokio::sync::Mutex<()>,
}

impl OutboxAlertSink {
    /// Alerts go to `DATA/outbox/alerts.jsonl`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join("outbox").join("alerts.jsonl"),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl AlertSink for OutboxAlertSink {
    async fn deliver(&self, alert: &SlaAlert) -> Result<(), DeliveryError> {
        let line = serde_json::to_string(alert).map_err(|e| DeliveryError(e.to_string()))?;
        let _guard = self.lock.lock().await;
        append_line(self.path.clone(), line)
            .await
            .map_err(|e| DeliveryError(e.to_string()))
    }
}

/// Appends one JSON line and syncs it: the outbox is append-only, and a line is on disk before
/// the caller counts it as sent.
async fn append_line(path: PathBuf, line: String) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        f.write_all(line.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_data()
    })
    .await
    .map_err(std::io::Error::other)?
}

/// [`SmsSender`] into `DATA/outbox/sms.jsonl`: `{"at","to","text"}` per message. The text,
/// E.164 check, claims and rate limit are the shared paging code's (`helpdesk_app::alerts`), as
/// for SNS; the opt-out list SNS keeps is `DATA/sms-opted-out.txt` here (one E.164 number per
/// line; `#` comments).
pub struct OutboxSmsSender {
    path: PathBuf,
    opt_out: PathBuf,
    lock: tokio::sync::Mutex<()>,
}

impl OutboxSmsSender {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join("outbox").join("sms.jsonl"),
            opt_out: data_dir.join("sms-opted-out.txt"),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn opted_out(&self, to: &PhoneNumber) -> Result<bool, SmsError> {
        match std::fs::read_to_string(&self.opt_out) {
            Ok(list) => Ok(list
                .lines()
                .map(|l| l.split('#').next().unwrap_or("").trim())
                .any(|l| l == to.as_str())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(SmsError::Unavailable(format!(
                "reading the opt-out list: {e}"
            ))),
        }
    }
}

#[async_trait]
impl SmsSender for OutboxSmsSender {
    async fn send(&self, to: &PhoneNumber, text: &str) -> Result<SmsOutcome, SmsError> {
        if self.opted_out(to)? {
            return Ok(SmsOutcome::OptedOut);
        }
        let line = serde_json::json!({ "at": chrono::Utc::now(), "to": to.as_str(), "text": text })
            .to_string();
        let _guard = self.lock.lock().await;
        append_line(self.path.clone(), line)
            .await
            .map_err(|e| SmsError::Unavailable(format!("writing the SMS outbox: {e}")))?;
        Ok(SmsOutcome::Sent)
    }
}

/// [`MailSender`] into `DATA/outbox/email/{timestamp}-{hash of the Message-ID}.eml`: each message
/// written to a temporary name, synced and renamed, so a reader never sees half a message.
pub struct OutboxMailSender {
    dir: PathBuf,
}

impl OutboxMailSender {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("outbox").join("email"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The Message-ID header's value (unfolded), if the header block has one.
fn header_message_id(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let mut value: Option<String> = None;
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break;
        }
        match &mut value {
            Some(v) if line.starts_with([' ', '\t']) => v.push_str(line.trim()),
            Some(_) => break,
            None => {
                if let Some((name, rest)) = line.split_once(':') {
                    if name.trim().eq_ignore_ascii_case("message-id") {
                        value = Some(rest.trim().to_string());
                    }
                }
            }
        }
    }
    value.filter(|v| !v.is_empty())
}

fn hex16(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[async_trait]
impl MailSender for OutboxMailSender {
    async fn send(
        &self,
        raw_mime: &[u8],
        _envelope_from: &str,
        recipients: &[String],
    ) -> Result<SentId, SendError> {
        if recipients.is_empty() {
            return Err(SendError::Permanent("no recipients".into()));
        }
        let id = header_message_id(raw_mime);
        let hash = hex16(id.as_deref().map(str::as_bytes).unwrap_or(raw_mime));
        let name = format!(
            "{}-{hash}.eml",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
        );
        let path = self.dir.join(&name);
        let bytes = raw_mime.to_vec();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })
        .await
        .map_err(|e| SendError::Retryable(e.to_string()))?
        .map_err(|e| SendError::Retryable(format!("writing {name}: {e}")))?;
        Ok(SentId(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_message_id_header() {
        let raw = b"From: a@b\r\nMessage-ID:\r\n <x@y>\r\nSubject: s\r\n\r\nMessage-ID: <body@z>";
        assert_eq!(header_message_id(raw).as_deref(), Some("<x@y>"));
        assert_eq!(
            header_message_id(b"Subject: s\r\n\r\nMessage-ID: <b@z>"),
            None
        );
        assert_eq!(
            header_message_id(b"message-id: <l@y>\n\n").as_deref(),
            Some("<l@y>")
        );
    }

    #[tokio::test]
    async fn writes_one_file_per_message() {
        let dir = std::env::temp_dir().join(format!("outbox-test-{}", std::process::id()));
        let sender = OutboxMailSender::new(&dir);
        let raw = b"Message-ID: <m1@example.com>\r\nSubject: s\r\n\r\nbody\r\n";
        let id = sender
            .send(raw, "support@example.com", &["c@example.com".into()])
            .await
            .expect("sent");
        assert!(id.0.ends_with(".eml"));
        let written = std::fs::read(sender.dir().join(&id.0)).expect("file");
        assert_eq!(written, raw);
        assert!(matches!(
            sender.send(raw, "support@example.com", &[]).await,
            Err(SendError::Permanent(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
