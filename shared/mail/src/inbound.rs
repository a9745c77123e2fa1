//! Inbound: raw RFC 5322 bytes → [`InboundEmail`] (or a reason it was rejected).

use std::panic::{catch_unwind, AssertUnwindSafe};

use chrono::{DateTime, Utc};
use mail_parser::{
    Address, HeaderName, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{auto, html, reply, text, AutoKind, ReplyParts};

/// Size limits applied by [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A larger message is rejected before it is parsed.
    pub max_message_bytes: usize,
    /// A larger attachment is listed with [`OmitReason::TooLarge`] and no bytes.
    pub max_attachment_bytes: usize,
    /// Once the kept attachments add up to this, later ones are listed with
    /// [`OmitReason::TotalTooLarge`] and no bytes.
    pub max_total_attachment_bytes: usize,
}

impl Default for Limits {
    /// 40 MiB per message (the most SES accepts), 20 MiB per attachment, 30 MiB in all.
    fn default() -> Self {
        Self {
            max_message_bytes: 40 * 1024 * 1024,
            max_attachment_bytes: 20 * 1024 * 1024,
            max_total_attachment_bytes: 30 * 1024 * 1024,
        }
    }
}

/// What [`parse`] made of the bytes. Every input ends as one of the two.
#[derive(Debug, Clone, PartialEq)]
pub enum ParsedEmail {
    Parsed(Box<InboundEmail>),
    Rejected { reason: RejectReason },
}

impl ParsedEmail {
    pub fn into_result(self) -> Result<InboundEmail, RejectReason> {
        match self {
            ParsedEmail::Parsed(email) => Ok(*email),
            ParsedEmail::Rejected { reason } => Err(reason),
        }
    }
}

/// Why a message could not become an [`InboundEmail`]. The caller keeps the raw bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum RejectReason {
    #[error("the message is empty")]
    Empty,
    #[error("the message is {size} bytes, over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("the input is not an e-mail message (no header fields)")]
    NotAMessage,
    #[error("the message has no sender address (From or Sender)")]
    NoFrom,
    #[error("the MIME parser failed on this message")]
    ParserFault,
}

/// A person on a message: an address and, when the header had one, a display name.
///
/// Inbound addresses are trimmed and lower-cased, as the domain's `EmailAddress` is; whether an
/// address is acceptable for a customer record is for the caller to decide.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Mailbox {
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Mailbox {
    pub fn new(address: impl Into<String>, name: Option<&str>) -> Self {
        Self {
            address: address.into(),
            name: name.map(str::to_owned),
        }
    }
}

/// An attachment or an inline part (an image referenced by `cid:` from the HTML, say).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    /// The file name from the headers, without any directory part.
    pub filename: Option<String>,
    /// `type/subtype`, lower case.
    pub content_type: String,
    /// Decoded size in bytes (also when the bytes were omitted). Text parts are counted and
    /// kept as UTF-8, whatever their declared charset.
    pub size: usize,
    /// The Content-ID without angle brackets: the HTML refers to it as `cid:{content_id}`.
    pub content_id: Option<String>,
    /// Shown within the body (Content-Disposition: inline) rather than offered for download.
    pub inline: bool,
    /// `Some` when the bytes were left out because of a [`Limits`] rule.
    pub omitted: Option<OmitReason>,
    /// The decoded content; empty when omitted. Not serialised: bytes belong in a blob store.
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// Why an attachment's bytes were not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum OmitReason {
    #[error("the attachment is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the message's attachments add up to more than {limit} bytes")]
    TotalTooLarge { limit: usize },
}

/// A parsed inbound e-mail with everything the help desk needs and nothing it must not show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboundEmail {
    /// Without angle brackets. Synthesised when the message had none: see `message_id_synthesized`.
    pub message_id: String,
    /// `true` when `message_id` is `sha256-{hex}@helpdesk.invalid`, derived from the raw bytes
    /// (stable: the same bytes always get the same id, so a redelivery is still recognised).
    pub message_id_synthesized: bool,
    /// Ids from In-Reply-To, without angle brackets.
    pub in_reply_to: Vec<String>,
    /// Ids from References, oldest first, without angle brackets and without duplicates.
    pub references: Vec<String>,
    pub from: Mailbox,
    pub reply_to: Vec<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// Decoded from any charset; empty when the message had no subject.
    pub subject: String,
    /// The Date header, when present and plausible.
    pub date: Option<DateTime<Utc>>,
    /// The plain-text body (line ends `\n`); derived from the HTML when the mail is HTML-only.
    pub text: String,
    /// The HTML body after [`crate::sanitize_html`]; `None` when the mail had no HTML part.
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Whether a machine wrote this mail (auto-reply, bulk/list mail, bounce).
    pub auto: AutoKind,
    /// Size of the raw message in bytes.
    pub raw_size: usize,
}

impl InboundEmail {
    /// The body split into what the sender just wrote, the quoted history and the signature.
    pub fn reply_parts(&self) -> ReplyParts {
        reply::split_reply(&self.text)
    }
}

/// Parses one raw message. Never panics: anything unusable comes back as
/// [`ParsedEmail::Rejected`] with a reason, so the caller can keep the bytes and say why.
pub fn parse(raw: &[u8], limits: &Limits) -> ParsedEmail {
    let rejected = |reason| ParsedEmail::Rejected { reason };
    if raw.len() > limits.max_message_bytes {
        return rejected(RejectReason::TooLarge {
            size: raw.len(),
            limit: limits.max_message_bytes,
        });
    }
    if raw.iter().all(u8::is_ascii_whitespace) {
        return rejected(RejectReason::Empty);
    }
    // mail-parser and ammonia are written not to panic; this keeps the promise even if one of
    // them has a bug (the release profile unwinds).
    match catch_unwind(AssertUnwindSafe(|| parse_message(raw, limits))) {
        Ok(Ok(email)) => ParsedEmail::Parsed(Box::new(email)),
        Ok(Err(reason)) => rejected(reason),
        Err(_) => rejected(RejectReason::ParserFault),
    }
}

fn parse_message(raw: &[u8], limits: &Limits) -> Result<InboundEmail, RejectReason> {
    let message = MessageParser::new()
        .parse(raw)
        .ok_or(RejectReason::NotAMessage)?;
    if message.headers().is_empty() {
        return Err(RejectReason::NotAMessage);
    }

    let from = first_mailbox(&message, &HeaderName::From)
        .or_else(|| first_mailbox(&message, &HeaderName::Sender))
        .ok_or(RejectReason::NoFrom)?;

    let (message_id, message_id_synthesized) = match first_id(&message, &HeaderName::MessageId) {
        Some(id) => (id, false),
        None => (synthesized_message_id(raw), true),
    };
    let subject = message
        .subject()
        .map(text::clean_header_text)
        .unwrap_or_default();

    let html = html_body(&message);
    let text = text_body(&message, html.as_deref());
    let auto = auto::classify(&message, &from, &subject, &text);

    Ok(InboundEmail {
        message_id,
        message_id_synthesized,
        in_reply_to: ids(&message, &HeaderName::InReplyTo),
        references: ids(&message, &HeaderName::References),
        reply_to: mailboxes(&message, &HeaderName::ReplyTo),
        to: mailboxes(&message, &HeaderName::To),
        cc: mailboxes(&message, &HeaderName::Cc),
        from,
        subject,
        date: message.date().and_then(to_utc),
        text,
        html,
        attachments: attachments(&message, limits),
        auto,
        raw_size: raw.len(),
    })
}

/// Every header of the top-level part with this name, in order.
fn header_values<'a>(
    message: &'a Message<'a>,
    name: &'a HeaderName<'a>,
) -> impl Iterator<Item = &'a HeaderValue<'a>> + 'a {
    message
        .headers()
        .iter()
        .filter(move |h| h.name == *name)
        .map(|h| &h.value)
}

fn address_list<'a>(value: &'a HeaderValue<'a>) -> Vec<&'a mail_parser::Addr<'a>> {
    match value {
        HeaderValue::Address(Address::List(list)) => list.iter().collect(),
        HeaderValue::Address(Address::Group(groups)) => {
            groups.iter().flat_map(|g| g.addresses.iter()).collect()
        }
        _ => Vec::new(),
    }
}

fn to_mailbox(addr: &mail_parser::Addr<'_>) -> Option<Mailbox> {
    // "a@x b@y" (two addresses without a comma) keeps the first.
    let address: String = addr
        .address
        .as_deref()?
        .split(|c: char| c.is_whitespace() || c.is_control())
        .find(|t| t.contains('@'))?
        .trim_matches(|c| c == '<' || c == '>')
        .to_lowercase();
    if address.is_empty() || !address.contains('@') {
        return None;
    }
    let name = addr
        .name
        .as_deref()
        .map(text::clean_header_text)
        .map(|n| n.trim_matches('"').trim().to_owned())
        .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case(&address));
    Some(Mailbox { address, name })
}

fn first_mailbox(message: &Message<'_>, name: &HeaderName<'_>) -> Option<Mailbox> {
    header_values(message, name)
        .flat_map(address_list)
        .find_map(to_mailbox)
}

fn mailboxes(message: &Message<'_>, name: &HeaderName<'_>) -> Vec<Mailbox> {
    let mut out: Vec<Mailbox> = Vec::new();
    for mailbox in header_values(message, name)
        .flat_map(address_list)
        .filter_map(to_mailbox)
    {
        if !out.iter().any(|m| m.address == mailbox.address) {
            out.push(mailbox);
        }
    }
    out
}

/// `<id>` → `id`; whitespace and control characters dropped; `None` when nothing is left.
pub(crate) fn normalize_id(raw: &str) -> Option<String> {
    let id: String = raw
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control() && *c != '<' && *c != '>')
        .collect();
    (!id.is_empty()).then_some(id)
}

fn id_texts<'a>(value: &'a HeaderValue<'a>) -> Vec<&'a str> {
    match value {
        HeaderValue::Text(t) => vec![t.as_ref()],
        HeaderValue::TextList(list) => list.iter().map(|t| t.as_ref()).collect(),
        _ => Vec::new(),
    }
}

fn first_id(message: &Message<'_>, name: &HeaderName<'_>) -> Option<String> {
    header_values(message, name)
        .flat_map(id_texts)
        .find_map(normalize_id)
}

fn ids(message: &Message<'_>, name: &HeaderName<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in header_values(message, name)
        .flat_map(id_texts)
        .filter_map(normalize_id)
    {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

fn synthesized_message_id(raw: &[u8]) -> String {
    let digest = Sha256::digest(raw);
    format!(
        "sha256-{}@helpdesk.invalid",
        text::hex(digest.get(..16).unwrap_or_default())
    )
}

fn to_utc(date: &mail_parser::DateTime) -> Option<DateTime<Utc>> {
    let plausible = (1970..=9999).contains(&date.year)
        && (1..=12).contains(&date.month)
        && (1..=31).contains(&date.day)
        && date.hour < 24
        && date.minute < 60
        && date.second < 61
        && date.tz_hour < 24
        && date.tz_minute < 60;
    if !plausible {
        return None;
    }
    DateTime::from_timestamp(date.to_timestamp(), 0)
}

/// The sanitised HTML of every HTML body part, in order; `None` when there is none.
fn html_body(message: &Message<'_>) -> Option<String> {
    let parts: Vec<String> = message
        .html_body
        .iter()
        .filter_map(|&id| message.parts.get(id as usize))
        .filter_map(|part| match &part.body {
            PartType::Html(h) => Some(html::sanitize_html(h)),
            _ => None,
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// The text body parts, in order; HTML-only mail gets text derived from its (sanitised) HTML.
fn text_body(message: &Message<'_>, html: Option<&str>) -> String {
    let mut texts: Vec<String> = Vec::new();
    let mut saw_html = false;
    for part in message
        .text_body
        .iter()
        .filter_map(|&id| message.parts.get(id as usize))
    {
        match &part.body {
            PartType::Text(t) => texts.push(plain_text(part, t)),
            PartType::Html(_) => saw_html = true,
            _ => {}
        }
    }
    if texts.iter().all(|t| t.trim().is_empty()) {
        if let (true, Some(html)) = (saw_html || texts.is_empty(), html) {
            return html::text_from_sanitized(html);
        }
    }
    let joined = texts.join("\n\n");
    joined.trim_end().to_owned()
}

fn plain_text(part: &MessagePart<'_>, body: &str) -> String {
    let body = text::normalize_newlines(body);
    let ct = part.content_type();
    let attr = |name: &str| {
        ct.and_then(|ct| {
            ct.attributes()?
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(name))
                .map(|a| a.value.to_ascii_lowercase())
        })
    };
    if attr("format").as_deref() == Some("flowed") {
        text::unflow(&body, attr("delsp").as_deref() == Some("yes"))
    } else {
        body
    }
}

fn attachments(message: &Message<'_>, limits: &Limits) -> Vec<Attachment> {
    let mut kept_total = 0usize;
    let mut out = Vec::new();
    for part in message
        .attachments
        .iter()
        .filter_map(|&id| message.parts.get(id as usize))
        // Broken MIME can list a multipart container (or one whose parts could not be found);
        // its parts, if any, are listed on their own.
        .filter(|part| {
            !part.is_multipart()
                && !part
                    .content_type()
                    .is_some_and(|ct| ct.ctype().eq_ignore_ascii_case("multipart"))
        })
    {
        let bytes = part.contents();
        let size = bytes.len();
        let omitted = if size > limits.max_attachment_bytes {
            Some(OmitReason::TooLarge {
                limit: limits.max_attachment_bytes,
            })
        } else if kept_total.saturating_add(size) > limits.max_total_attachment_bytes {
            Some(OmitReason::TotalTooLarge {
                limit: limits.max_total_attachment_bytes,
            })
        } else {
            kept_total += size;
            None
        };
        let disposition = part.content_disposition();
        let content_id = part.content_id().and_then(normalize_id);
        let inline = match disposition {
            Some(d) => d.is_inline(),
            None => content_id.is_some() || matches!(part.body, PartType::InlineBinary(_)),
        };
        out.push(Attachment {
            filename: filename(part),
            content_type: content_type(part),
            size,
            content_id,
            inline,
            omitted,
            bytes: if omitted.is_some() {
                Vec::new()
            } else {
                bytes.to_vec()
            },
        });
    }
    out
}

fn content_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None if part.is_message() => "message/rfc822".to_owned(),
        None if part.is_text() => "text/plain".to_owned(),
        None => "application/octet-stream".to_owned(),
    }
}

/// The header's file name without directories, control or format characters (a right-to-left
/// override would show `é\u{202E}gpj.exe` as `éexe.jpg`); a nested message without one is named
/// after its subject.
fn filename(part: &MessagePart<'_>) -> Option<String> {
    let raw = part.attachment_name().map(str::to_owned).or_else(|| {
        let nested = part.message()?;
        let subject = nested.subject().map(text::clean_header_text)?;
        Some(format!("{}.eml", subject.trim()))
    })?;
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = helpdesk_domain::text::strip_format_chars(base)
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let clean = clean.trim().trim_start_matches('.').trim();
    if clean.is_empty() {
        return None;
    }
    Some(text::truncate_bytes(clean, 255).to_owned())
}
