//! Loop and abuse protection: was this mail written by a machine?

use mail_parser::{Message, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};

use crate::inbound::{normalize_id, Mailbox};

/// What kind of automatic mail a message is. Anything but `None` must never trigger an
/// automatic answer from us (RFC 3834), or two robots mail each other forever.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AutoKind {
    /// Written by a person, as far as the headers tell.
    #[default]
    None,
    /// Out-of-office and other automatic answers (`Auto-Submitted`, `X-Autoreply`,
    /// `X-Auto-Response-Suppress: OOF`, `Precedence: auto_reply`, "Automatic reply:" subjects).
    AutoReply,
    /// Newsletters and mailing lists (`Precedence: bulk/junk/list`, `List-Id`,
    /// `List-Unsubscribe`).
    Bulk,
    /// A delivery failure report about a mail we sent: the recipient it failed for and the
    /// RFC 3463 status (`5.1.1`), when the report says.
    Bounce {
        recipient: Option<String>,
        status: Option<String>,
    },
}

impl AutoKind {
    /// `true` for anything a machine wrote: never answer it automatically.
    pub fn is_automatic(&self) -> bool {
        !matches!(self, AutoKind::None)
    }
}

/// Subject prefixes of automatic replies (compared case-insensitively).
const AUTO_REPLY_SUBJECTS: &[&str] = &[
    "out of office",
    "out of the office",
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "auto-response",
    "autoresponse",
    "automatic response",
    "abwesenheitsnotiz",
    "automatische antwort",
    "réponse automatique",
    "absence du bureau",
    "respuesta automática",
    "fuera de la oficina",
    "resposta automática",
    "ausência temporária",
    "automatisch antwoord",
    "risposta automatica",
    "fuori sede",
];

pub(crate) fn classify(
    message: &Message<'_>,
    from: &Mailbox,
    subject: &str,
    text: &str,
) -> AutoKind {
    if let Some(bounce) = bounce(message, from, text) {
        return bounce;
    }
    if is_auto_reply(message, subject) {
        return AutoKind::AutoReply;
    }
    if is_bulk(message) {
        return AutoKind::Bulk;
    }
    AutoKind::None
}

/// The values of a top-level header, by name (case-insensitive), as text.
fn header_texts<'a>(message: &'a Message<'a>, name: &'a str) -> impl Iterator<Item = String> + 'a {
    message
        .headers()
        .iter()
        .filter(move |h| h.name.as_str().eq_ignore_ascii_case(name))
        .map(|h| match &h.value {
            mail_parser::HeaderValue::Text(t) => t.trim().to_owned(),
            mail_parser::HeaderValue::TextList(list) => list.join(", "),
            _ => String::from("?"),
        })
}

fn has_header(message: &Message<'_>, name: &str) -> bool {
    message
        .headers()
        .iter()
        .any(|h| h.name.as_str().eq_ignore_ascii_case(name))
}

/// The first token of a header like `Precedence: bulk` or `Auto-Submitted: auto-replied; x`.
fn first_token(value: &str) -> String {
    value
        .split([';', ',', ' ', '\t', '('])
        .find(|t| !t.is_empty())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn is_auto_reply(message: &Message<'_>, subject: &str) -> bool {
    let auto_submitted = header_texts(message, "Auto-Submitted")
        .chain(header_texts(message, "Autosubmitted"))
        .any(|v| {
            let token = first_token(&v);
            !token.is_empty() && token != "no"
        });
    let x_auto = ["X-Autoreply", "X-Autorespond", "X-Autoresponder"]
        .iter()
        .any(|name| header_texts(message, name).any(|v| !v.trim().eq_ignore_ascii_case("no")));
    let suppress = header_texts(message, "X-Auto-Response-Suppress").any(|v| {
        v.split([',', ' ', ';'])
            .any(|t| t.eq_ignore_ascii_case("oof") || t.eq_ignore_ascii_case("all"))
    });
    let precedence = header_texts(message, "Precedence").any(|v| first_token(&v) == "auto_reply");
    let subject = subject.trim().to_lowercase();
    let by_subject = AUTO_REPLY_SUBJECTS.iter().any(|p| subject.starts_with(p));
    auto_submitted || x_auto || suppress || precedence || by_subject
}

fn is_bulk(message: &Message<'_>) -> bool {
    header_texts(message, "Precedence")
        .any(|v| matches!(first_token(&v).as_str(), "bulk" | "junk" | "list"))
        || has_header(message, "List-Id")
        || has_header(message, "List-Unsubscribe")
}

fn bounce(message: &Message<'_>, from: &Mailbox, text: &str) -> Option<AutoKind> {
    let is_report = message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct.attributes().is_some_and(|attrs| {
                attrs.iter().any(|a| {
                    a.name.eq_ignore_ascii_case("report-type")
                        && a.value.to_ascii_lowercase().contains("delivery-status")
                })
            })
    });
    // The machine-readable parts of a DSN (RFC 3464), wherever they sit.
    let status_parts: Vec<&mail_parser::MessagePart<'_>> = message
        .parts
        .iter()
        .filter(|part| {
            part.content_type().is_some_and(|ct| {
                ct.ctype().eq_ignore_ascii_case("message")
                    && ct.subtype().is_some_and(|s| {
                        s.eq_ignore_ascii_case("delivery-status")
                            || s.eq_ignore_ascii_case("global-delivery-status")
                    })
            })
        })
        .collect();
    let local = from
        .address
        .rsplit_once('@')
        .map_or(from.address.as_str(), |(l, _)| l);
    let from_daemon =
        local.eq_ignore_ascii_case("mailer-daemon") || local.eq_ignore_ascii_case("postmaster");
    let failed_header = header_texts(message, "X-Failed-Recipients").next();

    if !is_report && status_parts.is_empty() && !from_daemon && failed_header.is_none() {
        return None;
    }
    let mut report: String = status_parts
        .iter()
        .map(|part| match &part.body {
            PartType::Text(t) | PartType::Html(t) => t.to_string(),
            PartType::Binary(b) | PartType::InlineBinary(b) => {
                String::from_utf8_lossy(b).into_owned()
            }
            PartType::Message(m) => String::from_utf8_lossy(m.raw_message()).into_owned(),
            PartType::Multipart(_) => String::new(),
        })
        .collect::<Vec<_>>()
        .join("\n\n");
    if report.trim().is_empty() {
        // Some daemons write the report fields into the text.
        report = text.to_owned();
    }
    let (mut recipient, status) = parse_delivery_status(&report);
    if recipient.is_none() {
        recipient = failed_header
            .as_deref()
            .and_then(|v| v.split(',').find_map(clean_address));
    }
    Some(AutoKind::Bounce { recipient, status })
}

fn clean_address(raw: &str) -> Option<String> {
    let address = normalize_id(raw)?.to_lowercase();
    address.contains('@').then_some(address)
}

/// Reads a `message/delivery-status` body: blocks of header fields separated by blank lines,
/// the first about the message, the others one per recipient. Prefers the first recipient whose
/// `Action` is `failed`.
fn parse_delivery_status(report: &str) -> (Option<String>, Option<String>) {
    let report = report.replace("\r\n", "\n");
    let mut best: Option<(Option<String>, Option<String>)> = None;
    for block in report.split("\n\n") {
        let mut recipient = None;
        let mut original = None;
        let mut status = None;
        let mut failed = false;
        for field in unfold(block) {
            let Some((name, value)) = field.split_once(':') else {
                continue;
            };
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim();
            match name.as_str() {
                "final-recipient" => recipient = recipient_value(value),
                "original-recipient" => original = recipient_value(value),
                "status" => status = status_value(value),
                "action" => failed = value.eq_ignore_ascii_case("failed"),
                _ => {}
            }
        }
        let recipient = recipient.or(original);
        if recipient.is_none() && status.is_none() {
            continue;
        }
        if failed {
            return (recipient, status);
        }
        if best.is_none() {
            best = Some((recipient, status));
        }
    }
    best.unwrap_or((None, None))
}

/// Header fields with their continuation lines joined.
fn unfold(block: &str) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    for line in block.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
                continue;
            }
        }
        fields.push(line.to_owned());
    }
    fields
}

/// `rfc822; ana@example.com` → `ana@example.com`.
fn recipient_value(value: &str) -> Option<String> {
    let address = value.split_once(';').map_or(value, |(_, a)| a);
    clean_address(address)
}

/// `5.1.1 (bad mailbox)` → `5.1.1`; anything not shaped like a status code is ignored.
fn status_value(value: &str) -> Option<String> {
    let code = value.split_whitespace().next()?;
    let mut fields = code.split('.');
    let shaped = fields.next().is_some_and(|c| matches!(c, "2" | "4" | "5"))
        && fields.clone().count() == 2
        && fields.all(|f| !f.is_empty() && f.len() <= 3 && f.bytes().all(|b| b.is_ascii_digit()));
    shaped.then(|| code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_status_prefers_the_failed_recipient() {
        let report = "Reporting-MTA: dns; mx.example.net\r\n\r\n\
            Final-Recipient: rfc822; ok@example.com\r\nAction: delivered\r\nStatus: 2.0.0\r\n\r\n\
            Original-Recipient: rfc822;Bob@Example.com\r\nFinal-Recipient: rfc822;\r\n bob@example.com\r\n\
            Action: failed\r\nStatus: 5.1.1 (user unknown)\r\n";
        assert_eq!(
            parse_delivery_status(report),
            (Some("bob@example.com".into()), Some("5.1.1".into()))
        );
    }

    #[test]
    fn status_codes_are_validated() {
        assert_eq!(status_value("4.4.7"), Some("4.4.7".into()));
        assert_eq!(status_value("5.7.26 blocked"), Some("5.7.26".into()));
        assert_eq!(status_value("550"), None);
        assert_eq!(status_value("9.1.1"), None);
        assert_eq!(status_value("5.1."), None);
    }

    #[test]
    fn tokens() {
        assert_eq!(first_token(" Auto-Replied; owner=x"), "auto-replied");
        assert_eq!(first_token(""), "");
    }
}
