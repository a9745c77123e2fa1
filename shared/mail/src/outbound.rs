//! Outbound: an agent's reply → RFC 5322 MIME bytes (mail-builder does the encoding).

use chrono::{DateTime, Utc};
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;
use mail_builder::MessageBuilder;

use crate::inbound::{normalize_id, Mailbox};

/// A message to send. Ids may be given with or without angle brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundEmail {
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// Usually our signed reply address ([`crate::ThreadSigner::reply_address`]).
    pub reply_to: Option<Mailbox>,
    pub subject: String,
    pub text: String,
    /// When present the message is `multipart/alternative` (text and HTML).
    pub html: Option<String>,
    /// Usually [`crate::ThreadSigner::message_id_for`].
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// The Date header: the crate has no clock.
    pub date: DateTime<Utc>,
    /// Marks mail no person wrote (acknowledgements, SLA notices): `Auto-Submitted:
    /// auto-replied` and `X-Auto-Response-Suppress: All`, so other robots do not answer it.
    pub auto_submitted: bool,
    pub attachments: Vec<OutboundAttachment>,
}

/// A file to attach. With a `content_id` (and an HTML body) it is an inline part the HTML shows
/// as `<img src="cid:{content_id}">`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundAttachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub content_id: Option<String>,
}

/// Writes the message as MIME: `text/plain`, or `multipart/alternative` with the HTML; inline
/// parts in `multipart/related` with it; other attachments in `multipart/mixed` around it.
/// Non-ASCII headers are RFC 2047 encoded, file names RFC 2231; header values cannot carry line
/// breaks into the output.
pub fn compose_reply(email: &OutboundEmail) -> Vec<u8> {
    let mut builder = MessageBuilder::new()
        .date(email.date.timestamp())
        .from(address(&email.from));
    if !email.to.is_empty() {
        builder = builder.to(address_list(&email.to));
    }
    if !email.cc.is_empty() {
        builder = builder.cc(address_list(&email.cc));
    }
    if let Some(reply_to) = &email.reply_to {
        builder = builder.reply_to(address(reply_to));
    }
    builder = builder.subject(one_line(&email.subject));
    if let Some(id) = normalize_id(&email.message_id) {
        builder = builder.message_id(id);
    }
    if let Some(id) = email.in_reply_to.as_deref().and_then(normalize_id) {
        builder = builder.in_reply_to(id);
    }
    let references: Vec<String> = email
        .references
        .iter()
        .filter_map(|r| normalize_id(r))
        .collect();
    if !references.is_empty() {
        builder = builder.references(MessageId::from(references));
    }
    if email.auto_submitted {
        builder = builder
            .header("Auto-Submitted", Raw::new("auto-replied"))
            .header("X-Auto-Response-Suppress", Raw::new("All"));
    }

    let body = match &email.html {
        Some(html) => MimePart::new(
            "multipart/alternative",
            vec![
                MimePart::new("text/plain", email.text.as_str()),
                MimePart::new("text/html", html.as_str()),
            ],
        ),
        None => MimePart::new("text/plain", email.text.as_str()),
    };
    let (inline, attached): (Vec<_>, Vec<_>) = email
        .attachments
        .iter()
        .partition(|a| a.content_id.is_some() && email.html.is_some());
    let body = if inline.is_empty() {
        body
    } else {
        let mut parts = vec![body];
        parts.extend(inline.into_iter().map(|a| {
            let cid = a.content_id.as_deref().and_then(normalize_id);
            let disposition =
                ContentType::new("inline").attribute("filename", one_line(&a.filename));
            let part = MimePart::new(content_type(a), a.bytes.as_slice())
                .header("Content-Disposition", disposition);
            match cid {
                Some(cid) => part.cid(cid),
                None => part,
            }
        }));
        MimePart::new("multipart/related", parts)
    };
    let body = if attached.is_empty() {
        body
    } else {
        let mut parts = vec![body];
        parts.extend(attached.into_iter().map(|a| {
            MimePart::new(content_type(a), a.bytes.as_slice()).attachment(one_line(&a.filename))
        }));
        MimePart::new("multipart/mixed", parts)
    };

    let mut out = Vec::new();
    builder.body(body).serialize(&mut out);
    out
}

/// Header text on one line: control characters (CR and LF above all) become spaces. mail-builder
/// does this too; doing it here keeps the guarantee ours.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn address(mailbox: &Mailbox) -> Address<'static> {
    let email: String = mailbox
        .address
        .chars()
        .filter(|c| !c.is_control() && !c.is_whitespace())
        .collect();
    let name = mailbox
        .name
        .as_deref()
        .map(one_line)
        .filter(|n| !n.trim().is_empty());
    Address::new_address(name, email)
}

fn address_list(mailboxes: &[Mailbox]) -> Address<'static> {
    Address::new_list(mailboxes.iter().map(address).collect())
}

/// The declared type when it looks like `type/subtype`, else `application/octet-stream`.
fn content_type(attachment: &OutboundAttachment) -> &str {
    let ct = attachment.content_type.trim();
    let valid = ct.split_once('/').is_some_and(|(t, s)| {
        let token = |x: &str| {
            !x.is_empty()
                && x.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
        };
        token(t) && token(s)
    });
    if valid {
        ct
    } else {
        "application/octet-stream"
    }
}
