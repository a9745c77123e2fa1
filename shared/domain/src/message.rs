use crate::ticket::string_enum;
use crate::{ActorRef, Channel, DomainError, MessageId, ParseError, TicketId};
use serde::{Deserialize, Serialize};
use std::fmt;

string_enum!(
    /// What a message is: from the customer, a reply the customer sees, or a note only the team sees.
    MessageKind { CustomerMessage => "customer_message", PublicReply => "public_reply", InternalNote => "internal_note" }
);

impl MessageKind {
    pub fn is_public(&self) -> bool {
        !matches!(self, MessageKind::InternalNote)
    }
}

/// Metadata of an attachment; the bytes live in the blob store under `blob_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttachmentMeta {
    pub filename: String,
    /// `type/subtype`, lower case, as the sender declared it (downloads never trust it for
    /// rendering: see the HTTP layer).
    pub content_type: String,
    pub size: u64,
    /// Content-addressed key in the blob store; `None` when the bytes were not kept
    /// (`omitted` says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_key: Option<String>,
    /// Content-ID of an inline part: the message's HTML refers to it as `cid:{content_id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
    /// Shown within the body rather than offered as a download.
    #[serde(default)]
    pub inline: bool,
    /// Why the bytes were not kept (over a size limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omitted: Option<String>,
}

/// Attachments on one message, at most.
pub const ATTACHMENTS_MAX: usize = 50;

impl AttachmentMeta {
    /// A file name safe to offer in a download or show: no path, no control or format
    /// characters (a right-to-left override would show `éexe.jpg` for `é\u{202E}gpj.exe`; see
    /// [`crate::text`]), not empty. Applied when serving too, so names stored before format
    /// characters were removed on input are shown as they really are.
    pub fn safe_filename(&self) -> String {
        let name = crate::text::strip_format_chars(&self.filename);
        let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
        let cleaned: String = base
            .chars()
            .filter(|c| !c.is_control() && *c != '"')
            .take(150)
            .collect();
        let cleaned = cleaned.trim().trim_start_matches('.').to_string();
        if cleaned.is_empty() {
            "attachment".into()
        } else {
            cleaned
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    pub id: MessageId,
    pub ticket_id: TicketId,
    pub kind: MessageKind,
    pub author: ActorRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    pub channel: Channel,
    pub body_text: String,
    /// Already sanitised HTML (the mail adapter sanitises before storing); never raw input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_html: Option<String>,
    #[serde(default)]
    pub attachments: Vec<AttachmentMeta>,
    /// Set when this message was moved here from a merged ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<TicketId>,
    /// The e-mail's Message-ID, for messages that arrived or left by e-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_message_id: Option<String>,
    /// Why an inbound e-mail was put on this ticket (or started it): shown to agents, who can
    /// correct a wrong threading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_reason: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// How the e-mail carrying this reply is doing (public replies, when outbound mail is on).
    /// Filled in when the ticket is read; never stored on the message itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<MessageDelivery>,
}

string_enum!(
    /// Where an outbound e-mail is: waiting (or waiting to be retried), being handed to the mail
    /// service, handed over, or given up on after too many failures (or a permanent refusal).
    DeliveryState { Pending => "pending", Sending => "sending", Sent => "sent", Failed => "failed" }
);

/// The delivery of the e-mail that carries a reply, as agents see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageDelivery {
    pub state: DeliveryState,
    /// Sends tried so far.
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the next try is due (pending) or the current one times out (sending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The recipient's address.
    pub to: String,
}

pub const BODY_MAX: usize = 100_000;

/// A message body: non-empty after trimming, bounded, without NUL and other control characters
/// except line breaks and tabs.
pub fn parse_body(raw: &str) -> Result<String, DomainError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(DomainError::Invalid {
            field: "body",
            message: "must not be empty".into(),
        });
    }
    if s.len() > BODY_MAX {
        return Err(DomainError::Invalid {
            field: "body",
            message: format!("must be at most {BODY_MAX} bytes"),
        });
    }
    Ok(s.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r'))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_rules() {
        assert!(parse_body("  ").is_err());
        assert_eq!(parse_body("a\u{0}b\nc").expect("ok"), "ab\nc");
        assert!(parse_body(&"x".repeat(BODY_MAX + 1)).is_err());
    }

    #[test]
    fn kinds() {
        assert!(!MessageKind::InternalNote.is_public());
        assert_eq!(
            MessageKind::parse("public_reply").expect("ok"),
            MessageKind::PublicReply
        );
    }
}

#[cfg(test)]
mod attachment_tests {
    use super::AttachmentMeta;

    fn named(n: &str) -> AttachmentMeta {
        AttachmentMeta {
            filename: n.into(),
            content_type: "application/octet-stream".into(),
            size: 1,
            blob_key: None,
            content_id: None,
            inline: false,
            omitted: None,
        }
    }

    #[test]
    fn download_names_lose_paths_quotes_and_control_characters() {
        assert_eq!(named("../../etc/passwd").safe_filename(), "passwd");
        assert_eq!(named("C:\\x\\report.pdf").safe_filename(), "report.pdf");
        assert_eq!(named("a\"b\r\n.txt").safe_filename(), "ab.txt");
        assert_eq!(named("").safe_filename(), "attachment");
        assert_eq!(named("é\u{202E}gpj.exe").safe_filename(), "égpj.exe");
        assert_eq!(named("\u{202E}\u{200B}").safe_filename(), "attachment");
        assert_eq!(named("...").safe_filename(), "attachment");
        assert_eq!(named(".htaccess").safe_filename(), "htaccess");
    }
}
