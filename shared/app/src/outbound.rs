//! Outbound e-mail: replies and acknowledgements go out through a [`MailSender`] (SESv2 in
//! AWS, `DATA/outbox/email/*.eml` locally), and a send is never lost.
//!
//! A mail is never sent inside the ticket's transaction. The transaction that stores the reply
//! (or creates the ticket, for an acknowledgement) also stores an *outbound item* in state
//! `pending`; after the commit the mail is delivered at once, and anything still pending is
//! picked up by [`Helpdesk::deliver_pending_mail`] (the local server runs it every minute).
//!
//! Delivery is a conditional state machine on the item's version:
//! `pending` → `sending` (claimed: attempts + 1, a lease) → `sent`, or back to `pending` with
//! `last_error` and a backoff, or `failed` after [`MAX_ATTEMPTS`] or a permanent refusal. Only the
//! caller whose claim wins sends, so concurrent deliveries (the post-commit send and a sweep)
//! send once, and a `sent` item is never sent again. If a process dies between the send and
//! recording it, the lease runs out and the mail is sent again — with the same Message-ID, which
//! mail clients show once.
//!
//! | item | pk | sk | index |
//! |---|---|---|---|
//! | outbound mail | `T#{ticket}` | `OUT#{ulid}` (a reply's ULID is its message's) | gsi1 `MAILQ#{shard}` / `{next attempt}#{ticket}#{ulid}` while pending or sending |
//! | auto-acknowledgement claim (one per sender, the last hour) | `ACK#{email}` | `LAST` | — (TTL an hour after the ack) |
//! | outbound mail of no ticket (help-centre sign-in link) | `MAIL#{ulid}` | `OUT#{ulid}` | gsi1 as above (`-` for the ticket); TTL `expires_at` |

use crate::inbound::mid_key;
use crate::keys::{self, from_item, to_doc};
use crate::ports::{Condition, Index, Item, Key, Query, SortKey, TableError, WriteOp};
use crate::{AppError, Helpdesk};
use async_trait::async_trait;
use helpdesk_domain::template::{escape_html, text_to_html, Template, TemplateValues};
use helpdesk_domain::{
    Customer, DeliveryState, EmailAddress, Message, MessageDelivery, MessageKind, Ticket, TicketId,
    Timestamp,
};
use helpdesk_mail::{compose_reply, Mailbox, OutboundEmail, ThreadSigner};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The mail service's id for a sent message (SES message id, the outbox file name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentId(pub String);

#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later (throttled, unreachable, a disk that is full for now).
    #[error("temporary failure: {0}")]
    Retryable(String),
    /// The mail service refused this message for good (bad address, unverified sender).
    #[error("refused: {0}")]
    Permanent(String),
}

/// Hands one MIME message to the mail service.
#[async_trait]
pub trait MailSender: Send + Sync {
    async fn send(
        &self,
        raw_mime: &[u8],
        envelope_from: &str,
        recipients: &[String],
    ) -> Result<SentId, SendError>;
}

/// Outbound mail settings: with them, public replies and acknowledgements are e-mailed.
#[derive(Clone)]
pub struct MailSettings {
    /// The same key and domain inbound mail verifies with.
    pub signer: ThreadSigner,
    /// The support address (`Support <support@example.com>`): From, and the local part of the
    /// signed Reply-To.
    pub from: Mailbox,
    /// Used for the send right after a commit; sweeps take their own.
    pub sender: Arc<dyn MailSender>,
}

/// After this many failed tries a mail is `failed` (and shown so on the ticket).
pub const MAX_ATTEMPTS: u32 = 8;
/// A claim (`sending`) older than this is taken to have died; the mail is tried again.
pub const SEND_LEASE_SECS: i64 = 300;
/// No second acknowledgement to the same sender within this many seconds.
pub const ACK_INTERVAL_SECS: i64 = 3600;
/// The quoted customer message in a reply is cut to this many characters…
const QUOTE_MAX_CHARS: usize = 2_000;
/// …and lines.
const QUOTE_MAX_LINES: usize = 40;
/// References keep the thread's first Message-ID and the latest ones, this many in all.
const REFERENCES_MAX: usize = 10;

/// Seconds to wait after the `attempts`-th failure: 1, 2, 4, … minutes, at most an hour.
pub fn backoff_secs(attempts: u32) -> i64 {
    (60i64 << attempts.saturating_sub(1).min(6)).min(3600)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutboundKind {
    /// An agent's public reply.
    Reply,
    /// The automatic acknowledgement of a new e-mail ticket.
    AutoAck,
    /// A CSAT survey (automations).
    Survey,
    /// "Did this solve it?", or an agent's scheduled follow-up to the customer.
    FollowUp,
    /// A status change told to the customer.
    StatusUpdate,
    /// An SLA warning or breach told to the assignee and the team leads.
    SlaAlert,
    /// A notice to supervisors that routing escalated the ticket.
    Escalation,
    /// A help-centre sign-in link (no ticket; expires with the link).
    SignInLink,
}

impl OutboundKind {
    /// For people (the console).
    pub fn label(&self) -> &'static str {
        match self {
            OutboundKind::Reply => "Reply",
            OutboundKind::AutoAck => "Acknowledgement",
            OutboundKind::Survey => "Satisfaction survey",
            OutboundKind::FollowUp => "Follow-up",
            OutboundKind::StatusUpdate => "Status update",
            OutboundKind::SlaAlert => "SLA alert (to the team)",
            OutboundKind::Escalation => "Escalation notice",
            OutboundKind::SignInLink => "Sign-in link",
        }
    }
}

/// The part of the customer's message a reply quotes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// "On …, Carla <carla@example.com> wrote:"
    pub attribution: String,
    pub text: String,
}

/// An outbound mail as stored: what to send and how its delivery is going. The MIME is composed
/// from it at each try (the Date stays the creation time), so the item stays small.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundMail {
    pub id: String,
    /// The ticket the mail belongs to; `None` for mail about no ticket (sign-in links).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<TicketId>,
    /// The reply this mail carries; `None` for acknowledgements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<helpdesk_domain::MessageId>,
    pub kind: OutboundKind,
    pub state: DeliveryState,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    pub created_at: Timestamp,
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    /// Copied recipients (the ticket's participants, on public replies).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<Mailbox>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Mailbox>,
    pub subject: String,
    pub text: String,
    /// HTML of the text when it came from a template (rendered with escaped values);
    /// otherwise the HTML part is built from `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<Quote>,
    /// Our Message-ID, without angle brackets.
    pub email_message_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    #[serde(default)]
    pub references: Vec<String>,
    pub auto_submitted: bool,
    /// Files sent with the message; their bytes are read from the blob store at delivery.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<helpdesk_domain::AttachmentMeta>,
    /// When the mail (and its item) stops mattering: it is not sent later, and the stored text
    /// goes with it (a sign-in link must not outlive its validity in storage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// An outbound mail as agents see it in the ticket view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OutboundSummary {
    pub id: String,
    pub kind: OutboundKind,
    /// The reply it carries (absent for acknowledgements).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub message_id: Option<helpdesk_domain::MessageId>,
    pub subject: String,
    /// Our Message-ID.
    pub email_message_id: String,
    pub delivery: MessageDelivery,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// What a delivery sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MailSweepReport {
    /// Due items looked at.
    pub examined: usize,
    pub sent: usize,
    /// Failed this time, to be tried again later.
    pub retrying: usize,
    /// Given up on (visible on the ticket).
    pub failed: usize,
    /// Claimed or changed by someone else meanwhile.
    pub skipped: usize,
    /// Items that could not be read or updated (logged; the next sweep tries again).
    pub errors: usize,
    pub queries: usize,
}

/// What one delivery try did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Sent,
    Retrying,
    Failed,
    /// Not due, already delivered, or claimed by someone else.
    Skipped,
}

pub(crate) fn outbound_sk(id: &str) -> String {
    format!("OUT#{id}")
}

fn outbound_key(ticket: &TicketId, id: &str) -> Key {
    Key::new(keys::ticket_pk(ticket), outbound_sk(id))
}

fn queue_partition(shard: u32) -> String {
    format!("MAILQ#{shard}")
}

fn ack_claim_key(email: &EmailAddress) -> Key {
    Key::new(format!("ACK#{email}"), "LAST")
}

/// Where a mail of no ticket is stored (its own partition).
pub(crate) fn standalone_key(id: &str) -> Key {
    Key::new(format!("MAIL#{id}"), outbound_sk(id))
}

fn mail_key(mail: &OutboundMail) -> Key {
    match &mail.ticket_id {
        Some(t) => outbound_key(t, &mail.id),
        None => standalone_key(&mail.id),
    }
}

/// The delivery-queue shard: the ticket's, or (no ticket) one from the mail's id.
fn mail_shard(mail: &OutboundMail) -> u32 {
    match &mail.ticket_id {
        Some(t) => crate::sla::shard_of(t),
        None => {
            mail.id.bytes().fold(0x811c_9dc5u32, |h, b| {
                (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
            }) % crate::sla::SHARDS
        }
    }
}

pub(crate) fn outbound_item(mail: &OutboundMail, version: u64) -> Result<Item, AppError> {
    let mut item = Item::new(mail_key(mail), version, to_doc(mail)?);
    if matches!(mail.state, DeliveryState::Pending | DeliveryState::Sending) {
        let due = mail.next_attempt_at.unwrap_or(mail.created_at);
        let ticket = mail
            .ticket_id
            .map(|t| t.to_string())
            .unwrap_or_else(|| "-".into());
        item = item.with_index(
            Index::Gsi1,
            queue_partition(mail_shard(mail)),
            format!("{}#{ticket}#{}", keys::time_key(&due), mail.id),
        );
    }
    if let Some(t) = mail.expires_at {
        item = item.expiring_at(t.timestamp());
    }
    Ok(item)
}

fn bare_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

/// `Re: {subject} [#HD-n]`, without doubling an existing `Re:` or token.
pub fn reply_subject(ticket: &Ticket) -> String {
    let base = ticket.subject.trim();
    let lower = base.to_lowercase();
    let mut s = if lower.starts_with("re:") || lower.starts_with("re ") {
        base.to_string()
    } else {
        format!("Re: {base}")
    };
    with_token(&mut s, ticket);
    s
}

fn with_token(subject: &mut String, ticket: &Ticket) {
    if helpdesk_mail::subject_token(subject).as_deref() != Some(&ticket.number.to_string()) {
        subject.push_str(&format!(" [#{}]", ticket.number));
    }
}

/// Cuts text to a bounded quote, on a character boundary, saying so when it cut.
fn trim_quote(text: &str) -> String {
    let mut out = String::new();
    let mut cut = false;
    for (i, line) in text.trim().lines().enumerate() {
        if i >= QUOTE_MAX_LINES {
            cut = true;
            break;
        }
        if out.chars().count() + line.chars().count() > QUOTE_MAX_CHARS {
            let room = QUOTE_MAX_CHARS.saturating_sub(out.chars().count());
            out.push_str(&line.chars().take(room).collect::<String>());
            cut = true;
            break;
        }
        if i > 0 {
            out.push('\n');
        }
        out.push_str(line);
    }
    if cut {
        out.push_str(" […]");
    }
    out
}

/// Ids a reply refers to: In-Reply-To the customer's last mail (or, without one, the thread's
/// last mail); References the thread's ids, oldest first, capped, ending with In-Reply-To.
/// Synthesised ids (messages that had none) are left out: nobody else knows them.
fn threading(thread: &[Message]) -> (Option<String>, Vec<String>) {
    let usable = |m: &&Message| {
        m.email_message_id
            .as_deref()
            .is_some_and(|id| !id.is_empty() && !id.ends_with("@helpdesk.invalid"))
    };
    let in_reply_to = thread
        .iter()
        .rev()
        .filter(usable)
        .find(|m| m.kind == MessageKind::CustomerMessage)
        .or_else(|| thread.iter().rev().find(usable))
        .and_then(|m| m.email_message_id.as_deref())
        .map(bare_id);
    let mut refs: Vec<String> = Vec::new();
    for m in thread.iter().filter(usable) {
        let id = bare_id(m.email_message_id.as_deref().unwrap_or_default());
        if Some(&id) != in_reply_to.as_ref() && !refs.contains(&id) {
            refs.push(id);
        }
    }
    if let Some(id) = &in_reply_to {
        refs.push(id.clone());
    }
    if refs.len() > REFERENCES_MAX {
        let tail = refs.split_off(refs.len() - (REFERENCES_MAX - 1));
        refs.truncate(1);
        refs.extend(tail);
    }
    (in_reply_to, refs)
}

impl OutboundMail {
    /// The message as the mail crate writes it: text and HTML parts, the quote below the reply.
    pub fn to_email(&self) -> OutboundEmail {
        let mut text = self.text.trim_end().to_string();
        let mut html = self
            .html
            .clone()
            .unwrap_or_else(|| text_to_html(&self.text));
        if let Some(q) = &self.quote {
            text.push_str("\n\n");
            text.push_str(&q.attribution);
            for line in q.text.lines() {
                text.push('\n');
                text.push('>');
                if !line.is_empty() {
                    text.push(' ');
                    text.push_str(line);
                }
            }
            html.push_str(&format!(
                "<p>{}</p>\n<blockquote style=\"margin:0 0 0 .8ex;border-left:1px solid #ccc;padding-left:1ex\">\n{}</blockquote>\n",
                escape_html(&q.attribution),
                text_to_html(&q.text)
            ));
        }
        text.push('\n');
        OutboundEmail {
            from: self.from.clone(),
            to: self.to.clone(),
            cc: self.cc.clone(),
            reply_to: self.reply_to.clone(),
            subject: self.subject.clone(),
            text,
            html: Some(format!(
                "<!DOCTYPE html>\n<html><body>\n{html}</body></html>\n"
            )),
            message_id: self.email_message_id.clone(),
            in_reply_to: self.in_reply_to.clone(),
            references: self.references.clone(),
            date: self.created_at,
            auto_submitted: self.auto_submitted,
            attachments: Vec::new(),
        }
    }

    pub fn delivery(&self) -> MessageDelivery {
        MessageDelivery {
            state: self.state,
            attempts: self.attempts,
            last_error: self.last_error.clone(),
            next_attempt_at: match self.state {
                DeliveryState::Pending | DeliveryState::Sending => self.next_attempt_at,
                _ => None,
            },
            sent_at: self.sent_at,
            to: self
                .to
                .iter()
                .map(|m| m.address.clone())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    pub fn summary(&self) -> OutboundSummary {
        OutboundSummary {
            id: self.id.clone(),
            kind: self.kind,
            message_id: self.message_id,
            subject: self.subject.clone(),
            email_message_id: self.email_message_id.clone(),
            delivery: self.delivery(),
            created_at: self.created_at,
        }
    }
}

/// A prepared acknowledgement: the writes for the ticket's transaction and the claim to give
/// back if that transaction fails.
pub(crate) struct PreparedAck {
    pub mail: OutboundMail,
    pub ops: Vec<WriteOp>,
    claim: (Key, u64),
}

/// The acknowledgement used when no `auto_ack` template exists in any fitting locale.
pub const DEFAULT_ACK_SUBJECT: &str = "We received your request: {{ticket.subject}}";
pub const DEFAULT_ACK_BODY: &str = "Hello {{customer.first_name}},\n\nthank you for writing to us. Your request has been received as {{ticket.number}}, and a member of our team will get back to you as soon as possible.\n\nTo add anything, simply reply to this e-mail.\n\n{{agent.name}}";

impl Helpdesk {
    /// Turns outbound e-mail on: public replies and acknowledgements of new e-mail tickets are
    /// queued with their change and delivered through `settings.sender`.
    pub fn with_mail(mut self, settings: MailSettings) -> Self {
        self.mail = Some(Arc::new(settings));
        self
    }

    pub fn mail_settings(&self) -> Option<&MailSettings> {
        self.mail.as_deref()
    }

    fn reply_to_for(settings: &MailSettings, ticket: &Ticket) -> Mailbox {
        let local = settings.from.address.split('@').next().unwrap_or("support");
        Mailbox {
            address: settings.signer.reply_address(local, &ticket.id.to_string()),
            name: settings.from.name.clone(),
        }
    }

    /// Where mail to the customer goes: the Reply-To of their latest e-mail, else their address.
    fn customer_mailbox(ticket: &Ticket) -> Mailbox {
        match &ticket.reply_to {
            Some(r) => Mailbox {
                address: r.to_string(),
                name: None,
            },
            None => Mailbox {
                address: ticket.customer.email.to_string(),
                name: ticket.customer.name.clone(),
            },
        }
    }

    /// The people copied on a ticket, for the Cc of public replies.
    fn participant_mailboxes(ticket: &Ticket) -> Vec<Mailbox> {
        let to = Self::customer_mailbox(ticket).address;
        ticket
            .participants
            .iter()
            .filter(|p| p.as_str() != to && **p != ticket.customer.email)
            .map(|p| Mailbox {
                address: p.to_string(),
                name: None,
            })
            .collect()
    }

    /// The thread's messages, oldest first (one query, paged).
    pub(crate) async fn thread_messages(
        &self,
        ticket: &TicketId,
    ) -> Result<Vec<Message>, AppError> {
        let mut out = Vec::new();
        let mut q = Query::partition(None, keys::ticket_pk(ticket))
            .sk(SortKey::BeginsWith("M#".into()))
            .limit(500);
        loop {
            let page = self
                .table
                .query(&q)
                .await
                .map_err(AppError::storage("reading a ticket's thread"))?;
            for item in &page.items {
                out.push(from_item::<Message>(item)?);
            }
            match page.cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        out.sort_by_key(|m| (m.created_at, m.id));
        Ok(out)
    }

    /// The outbound mail for a public reply, and the writes that go with the reply's own
    /// transaction: the pending item and the pointer from its Message-ID to the ticket (so the
    /// customer's answer threads by Message-ID as well as by our signature). Sets the reply's
    /// `email_message_id`.
    pub(crate) async fn reply_mail(
        &self,
        settings: &MailSettings,
        ticket: &Ticket,
        reply: &mut Message,
    ) -> Result<(OutboundMail, Vec<WriteOp>), AppError> {
        let thread = self.thread_messages(&ticket.id).await?;
        let (in_reply_to, references) = threading(&thread);
        let quote = thread
            .iter()
            .rev()
            .find(|m| m.kind == MessageKind::CustomerMessage)
            .map(|m| {
                let who = match &m.author_name {
                    Some(name) if !name.trim().is_empty() => {
                        format!("{} <{}>", name.trim(), m.author.id)
                    }
                    _ => m.author.id.clone(),
                };
                let new_text = helpdesk_mail::split_reply(&m.body_text).new_text;
                let text = if new_text.trim().is_empty() {
                    &m.body_text
                } else {
                    &new_text
                };
                Quote {
                    attribution: format!(
                        "On {}, {who} wrote:",
                        m.created_at.format("%a, %-d %b %Y at %H:%M UTC")
                    ),
                    text: trim_quote(text),
                }
            });
        let id = reply.id.ulid().to_string();
        let message_id = bare_id(&settings.signer.message_id_for(&ticket.id.to_string(), &id));
        reply.email_message_id = Some(message_id.clone());
        let mail = OutboundMail {
            id,
            ticket_id: Some(ticket.id),
            message_id: Some(reply.id),
            kind: OutboundKind::Reply,
            state: DeliveryState::Pending,
            attempts: 0,
            last_error: None,
            next_attempt_at: Some(reply.created_at),
            sent_at: None,
            provider_id: None,
            created_at: reply.created_at,
            from: settings.from.clone(),
            to: vec![Self::customer_mailbox(ticket)],
            cc: Self::participant_mailboxes(ticket),
            reply_to: Some(Self::reply_to_for(settings, ticket)),
            subject: reply_subject(ticket),
            text: reply.body_text.clone(),
            html: None,
            quote,
            email_message_id: message_id.clone(),
            in_reply_to,
            references,
            auto_submitted: false,
            attachments: reply.attachments.clone(),
            expires_at: None,
        };
        let ops = vec![
            WriteOp::Put {
                item: outbound_item(&mail, 1)?,
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                item: keys::pointer_item(mid_key(&message_id), &ticket.id),
                condition: Condition::NotExists,
            },
        ];
        Ok((mail, ops))
    }

    /// The acknowledgement of a new e-mail ticket, unless the sender had one in the last hour.
    /// Claims the sender's slot first (a conditional write, so two concurrent mails from one
    /// sender get one acknowledgement); give it back with [`Helpdesk::release_ack`] if the
    /// ticket's transaction fails.
    pub(crate) async fn prepare_ack(
        &self,
        ticket: &Ticket,
        customer: &Customer,
        customer_message_id: Option<&str>,
        now: Timestamp,
    ) -> Result<Option<PreparedAck>, AppError> {
        let Some(settings) = self.mail.as_deref() else {
            return Ok(None);
        };
        let Some(claim) = self.claim_ack(&customer.email, ticket, now).await? else {
            return Ok(None);
        };
        let template = self
            .find_template(
                helpdesk_domain::template::AUTO_ACK_TEMPLATE,
                &customer.locale,
            )
            .await?;
        let (subject_src, body_src) = match &template {
            Some(t) => (
                t.subject
                    .clone()
                    .unwrap_or_else(|| DEFAULT_ACK_SUBJECT.to_string()),
                t.body.clone(),
            ),
            None => (
                DEFAULT_ACK_SUBJECT.to_string(),
                DEFAULT_ACK_BODY.to_string(),
            ),
        };
        let team = settings
            .from
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "The support team".to_string());
        let values = TemplateValues::new(
            ticket.customer.name.as_deref(),
            ticket.customer.email.as_str(),
            &ticket.number.to_string(),
            &ticket.subject,
            &team,
        );
        // Stored templates were checked when saved; the defaults are known to parse.
        let parse = |src: &str| {
            Template::parse(src).map_err(|e| AppError::internal("parsing a stored template", e))
        };
        let (subject_t, body_t) = (parse(&subject_src)?, parse(&body_src)?);
        let mut subject: String = subject_t
            .render_text(&values)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        with_token(&mut subject, ticket);
        let id = self.ids.ulid().to_string();
        let message_id = bare_id(&settings.signer.message_id_for(&ticket.id.to_string(), &id));
        let in_reply_to = customer_message_id
            .map(bare_id)
            .filter(|m| !m.is_empty() && !m.ends_with("@helpdesk.invalid"));
        let mail = OutboundMail {
            id,
            ticket_id: Some(ticket.id),
            message_id: None,
            kind: OutboundKind::AutoAck,
            state: DeliveryState::Pending,
            attempts: 0,
            last_error: None,
            next_attempt_at: Some(now),
            sent_at: None,
            provider_id: None,
            created_at: now,
            from: settings.from.clone(),
            to: vec![Self::customer_mailbox(ticket)],
            cc: Vec::new(),
            reply_to: Some(Self::reply_to_for(settings, ticket)),
            subject,
            text: body_t.render_text(&values),
            html: Some(body_t.render_html(&values)),
            quote: None,
            email_message_id: message_id.clone(),
            references: in_reply_to.iter().cloned().collect(),
            in_reply_to,
            auto_submitted: true,
            attachments: Vec::new(),
            expires_at: None,
        };
        let ops = vec![
            WriteOp::Put {
                item: outbound_item(&mail, 1)?,
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                item: keys::pointer_item(mid_key(&message_id), &ticket.id),
                condition: Condition::NotExists,
            },
        ];
        Ok(Some(PreparedAck { mail, ops, claim }))
    }

    /// A mail the help desk writes on its own (survey, follow-up, status update), queued for
    /// the caller's transaction like an acknowledgement: the item's id and the writes.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn queue_automated_mail(
        &self,
        settings: &MailSettings,
        ticket: &Ticket,
        kind: OutboundKind,
        subject: String,
        text: String,
        html: String,
        now: Timestamp,
    ) -> Result<(String, Vec<WriteOp>), AppError> {
        let id = self.ids.ulid().to_string();
        let to = vec![Self::customer_mailbox(ticket)];
        self.queue_mail_to(settings, ticket, kind, id, to, subject, text, html, now)
    }

    /// [`Helpdesk::queue_automated_mail`] with a chosen id (idempotent re-queueing) and
    /// recipients.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn queue_mail_to(
        &self,
        settings: &MailSettings,
        ticket: &Ticket,
        kind: OutboundKind,
        id: String,
        to: Vec<Mailbox>,
        mut subject: String,
        text: String,
        html: String,
        now: Timestamp,
    ) -> Result<(String, Vec<WriteOp>), AppError> {
        with_token(&mut subject, ticket);
        let message_id = bare_id(&settings.signer.message_id_for(&ticket.id.to_string(), &id));
        let mail = OutboundMail {
            id: id.clone(),
            ticket_id: Some(ticket.id),
            message_id: None,
            kind,
            state: DeliveryState::Pending,
            attempts: 0,
            last_error: None,
            next_attempt_at: Some(now),
            sent_at: None,
            provider_id: None,
            created_at: now,
            from: settings.from.clone(),
            to,
            cc: Vec::new(),
            reply_to: Some(Self::reply_to_for(settings, ticket)),
            subject,
            text,
            html: Some(html),
            quote: None,
            email_message_id: message_id.clone(),
            in_reply_to: None,
            references: Vec::new(),
            auto_submitted: true,
            attachments: Vec::new(),
            expires_at: None,
        };
        let ops = vec![
            WriteOp::Put {
                item: outbound_item(&mail, 1)?,
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                item: keys::pointer_item(mid_key(&message_id), &ticket.id),
                condition: Condition::NotExists,
            },
        ];
        Ok((id, ops))
    }

    /// Takes the sender's acknowledgement slot unless it was taken in the last hour.
    async fn claim_ack(
        &self,
        email: &EmailAddress,
        ticket: &Ticket,
        now: Timestamp,
    ) -> Result<Option<(Key, u64)>, AppError> {
        let key = ack_claim_key(email);
        let current = self
            .table
            .get(&key)
            .await
            .map_err(AppError::storage("reading an acknowledgement claim"))?;
        let condition = match &current {
            Some(item) => {
                let last = item
                    .doc
                    .get("at")
                    .and_then(|v| serde_json::from_value::<Timestamp>(v.clone()).ok());
                if last.is_some_and(|at| (now - at).num_seconds() < ACK_INTERVAL_SECS) {
                    return Ok(None);
                }
                Condition::VersionIs(item.version)
            }
            None => Condition::NotExists,
        };
        let version = current.map(|i| i.version).unwrap_or(0) + 1;
        let item = Item::new(
            key.clone(),
            version,
            serde_json::json!({ "at": now, "ticket_id": ticket.id.to_string() }),
        )
        .expiring_at(now.timestamp() + ACK_INTERVAL_SECS);
        match self.table.put(item, condition).await {
            Ok(()) => Ok(Some((key, version))),
            // Another mail from this sender claimed it first.
            Err(TableError::ConditionFailed) => Ok(None),
            Err(e) => Err(AppError::storage("claiming an acknowledgement")(e)),
        }
    }

    /// Gives an acknowledgement slot back when its ticket was not created after all.
    pub(crate) async fn release_ack(&self, ack: &PreparedAck) {
        let (key, version) = &ack.claim;
        if let Err(e) = self.table.delete(key, Condition::VersionIs(*version)).await {
            tracing::warn!(error = %e, "could not give back an acknowledgement claim");
        }
    }

    /// A notice to supervisors that the ticket was escalated, for the routing transaction (the
    /// pending item; the mail queue delivers it with retries). `None` without outbound mail or
    /// recipients.
    pub(crate) fn escalation_mail(
        &self,
        ticket: &Ticket,
        recipients: Vec<Mailbox>,
        text: String,
        now: Timestamp,
    ) -> Result<Option<(OutboundMail, WriteOp)>, AppError> {
        let Some(settings) = self.mail.as_deref() else {
            return Ok(None);
        };
        if recipients.is_empty() {
            return Ok(None);
        }
        let id = self.ids.ulid().to_string();
        let message_id = bare_id(&settings.signer.message_id_for(&ticket.id.to_string(), &id));
        let subject: String = format!("[Escalated] {}: {}", ticket.number, ticket.subject)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let mail = OutboundMail {
            id,
            ticket_id: Some(ticket.id),
            message_id: None,
            kind: OutboundKind::Escalation,
            state: DeliveryState::Pending,
            attempts: 0,
            last_error: None,
            next_attempt_at: Some(now),
            sent_at: None,
            provider_id: None,
            created_at: now,
            from: settings.from.clone(),
            to: recipients,
            cc: Vec::new(),
            reply_to: None,
            subject,
            text,
            html: None,
            quote: None,
            email_message_id: message_id,
            in_reply_to: None,
            references: Vec::new(),
            auto_submitted: true,
            attachments: Vec::new(),
            expires_at: None,
        };
        let op = WriteOp::Put {
            item: outbound_item(&mail, 1)?,
            condition: Condition::NotExists,
        };
        Ok(Some((mail, op)))
    }

    /// Delivers one queued mail now (right after its transaction committed). Failures stay
    /// queued for the sweep; the returned state is what the caller can show.
    pub(crate) async fn deliver_after_commit(
        &self,
        ticket: &TicketId,
        id: &str,
    ) -> Option<MessageDelivery> {
        self.deliver_now(&outbound_key(ticket, id)).await
    }

    pub(crate) async fn deliver_now(&self, key: &Key) -> Option<MessageDelivery> {
        let settings = self.mail.clone()?;
        let now = self.clock.now();
        let result = async {
            let item = self
                .table
                .get(key)
                .await
                .map_err(AppError::storage("reading an outbound mail"))?
                .ok_or(AppError::NotFound {
                    what: "outbound mail",
                })?;
            self.deliver_item(&item, now, settings.sender.as_ref())
                .await
        }
        .await;
        match result {
            Ok((_, mail)) => Some(mail.delivery()),
            Err(e) => {
                tracing::warn!(error = %e, mail = %key.sk, "outbound mail stays queued for the next sweep");
                None
            }
        }
    }

    /// One delivery try of a stored item (as read; its version guards every transition).
    async fn deliver_item(
        &self,
        item: &Item,
        now: Timestamp,
        sender: &dyn MailSender,
    ) -> Result<(DeliveryOutcome, OutboundMail), AppError> {
        let mut mail: OutboundMail = from_item(item)?;
        let due = mail.next_attempt_at.is_none_or(|t| t <= now);
        let ready = match mail.state {
            DeliveryState::Pending => due,
            // A claim whose lease ran out: its sender died before recording the outcome.
            DeliveryState::Sending => mail.next_attempt_at.is_some_and(|t| t <= now),
            DeliveryState::Sent | DeliveryState::Failed => false,
        };
        if !ready {
            return Ok((DeliveryOutcome::Skipped, mail));
        }
        // Read before the claim: a missing blob leaves the mail pending for the next sweep.
        let mut email = mail.to_email();
        email.attachments = self.load_for_mail(&mail.attachments).await?;
        mail.state = DeliveryState::Sending;
        mail.attempts += 1;
        mail.next_attempt_at = Some(now + chrono::Duration::seconds(SEND_LEASE_SECS));
        let claimed = item.version + 1;
        match self
            .table
            .put(
                outbound_item(&mail, claimed)?,
                Condition::VersionIs(item.version),
            )
            .await
        {
            Ok(()) => {}
            Err(TableError::ConditionFailed) => return Ok((DeliveryOutcome::Skipped, mail)),
            Err(e) => return Err(AppError::storage("claiming an outbound mail")(e)),
        }
        let raw = compose_reply(&email);
        let recipients: Vec<String> = mail
            .to
            .iter()
            .chain(mail.cc.iter())
            .map(|m| m.address.clone())
            .collect();
        let result = sender.send(&raw, &mail.from.address, &recipients).await;
        let outcome = match result {
            Ok(SentId(provider_id)) => {
                if mail.kind == OutboundKind::SignInLink {
                    // Delivered: storage keeps no usable copy of the link.
                    mail.text = "(sign-in link delivered; not kept)".into();
                    mail.html = None;
                }
                mail.state = DeliveryState::Sent;
                mail.sent_at = Some(now);
                mail.provider_id = Some(provider_id);
                mail.next_attempt_at = None;
                mail.last_error = None;
                DeliveryOutcome::Sent
            }
            Err(SendError::Retryable(e)) if mail.attempts < MAX_ATTEMPTS => {
                mail.state = DeliveryState::Pending;
                mail.next_attempt_at =
                    Some(now + chrono::Duration::seconds(backoff_secs(mail.attempts)));
                mail.last_error = Some(e);
                DeliveryOutcome::Retrying
            }
            Err(SendError::Retryable(e)) => {
                mail.state = DeliveryState::Failed;
                mail.next_attempt_at = None;
                mail.last_error = Some(format!("gave up after {} attempts: {e}", mail.attempts));
                DeliveryOutcome::Failed
            }
            Err(SendError::Permanent(e)) => {
                mail.state = DeliveryState::Failed;
                mail.next_attempt_at = None;
                mail.last_error = Some(format!("refused: {e}"));
                DeliveryOutcome::Failed
            }
        };
        match outcome {
            DeliveryOutcome::Failed => {
                tracing::error!(ticket = ?mail.ticket_id, mail = %mail.id, error = ?mail.last_error, "outbound mail failed for good")
            }
            DeliveryOutcome::Retrying => {
                tracing::warn!(ticket = ?mail.ticket_id, mail = %mail.id, attempts = mail.attempts, error = ?mail.last_error, "outbound mail will be retried")
            }
            _ => {}
        }
        match self
            .table
            .put(
                outbound_item(&mail, claimed + 1)?,
                Condition::VersionIs(claimed),
            )
            .await
        {
            Ok(()) => Ok((outcome, mail)),
            Err(TableError::ConditionFailed) => {
                // Our lease ran out and someone else claimed the mail meanwhile.
                tracing::warn!(ticket = ?mail.ticket_id, mail = %mail.id, "outbound mail was reclaimed while being sent");
                Ok((DeliveryOutcome::Skipped, mail))
            }
            Err(e) => Err(AppError::storage("recording an outbound mail's delivery")(
                e,
            )),
        }
    }

    /// Delivers every queued mail that is due at `now` (new, to be retried, or whose claim
    /// timed out), through `sender`. Safe to run concurrently and as often as wanted.
    pub async fn deliver_pending_mail(
        &self,
        now: Timestamp,
        sender: &dyn MailSender,
    ) -> Result<MailSweepReport, AppError> {
        let mut report = MailSweepReport::default();
        let upto = format!("{}~", keys::time_key(&now));
        for shard in 0..crate::sla::SHARDS {
            let mut q = Query::partition(Some(Index::Gsi1), queue_partition(shard))
                .sk(SortKey::Le(upto.clone()))
                .limit(100);
            loop {
                let page = self
                    .table
                    .query(&q)
                    .await
                    .map_err(AppError::storage("reading the outbound mail queue"))?;
                report.queries += 1;
                for item in &page.items {
                    report.examined += 1;
                    // One bad item (unreadable, a storage hiccup) must not hold up the rest.
                    match self.deliver_item(item, now, sender).await {
                        Ok((DeliveryOutcome::Sent, _)) => report.sent += 1,
                        Ok((DeliveryOutcome::Retrying, _)) => report.retrying += 1,
                        Ok((DeliveryOutcome::Failed, _)) => report.failed += 1,
                        Ok((DeliveryOutcome::Skipped, _)) => report.skipped += 1,
                        Err(e) => {
                            tracing::error!(error = %e, item = %item.key.sk, "outbound mail not delivered this sweep");
                            report.errors += 1;
                        }
                    }
                }
                match page.cursor {
                    Some(c) => q.cursor = Some(c),
                    None => break,
                }
            }
        }
        Ok(report)
    }

    /// Whether mail to this address has bounced (inbound recorded a delivery failure report).
    pub(crate) async fn is_bouncing(&self, email: &EmailAddress) -> Result<bool, AppError> {
        Ok(self
            .table
            .get(&Key::new(keys::customer_key(email).pk, "#BOUNCE"))
            .await
            .map_err(AppError::storage("reading a bounce"))?
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use helpdesk_domain::{ActorRef, Channel, MessageId};

    fn message(kind: MessageKind, id: Option<&str>, minute: i64) -> Message {
        Message {
            id: MessageId::from_ulid(ulid::Ulid::new()),
            ticket_id: TicketId::from_ulid(ulid::Ulid::nil()),
            kind,
            author: ActorRef {
                kind: "customer".into(),
                id: "c@example.com".into(),
            },
            author_name: None,
            channel: Channel::Email,
            body_text: "x".into(),
            body_html: None,
            attachments: Vec::new(),
            merged_from: None,
            email_message_id: id.map(str::to_string),
            thread_reason: None,
            created_at: chrono::DateTime::from_timestamp(minute * 60, 0).unwrap_or_default(),
            delivery: None,
        }
    }

    #[test]
    fn threading_prefers_the_last_customer_mail_and_caps_references() {
        let mut thread = vec![
            message(MessageKind::CustomerMessage, Some("first@x"), 0),
            message(MessageKind::PublicReply, Some("<t.a.b.c@ours>"), 1),
            message(MessageKind::CustomerMessage, Some("second@x"), 2),
            message(MessageKind::PublicReply, Some("t.a.d.e@ours"), 3),
            message(MessageKind::InternalNote, None, 4),
            message(
                MessageKind::CustomerMessage,
                Some("sha256-ab@helpdesk.invalid"),
                5,
            ),
        ];
        let (irt, refs) = threading(&thread);
        assert_eq!(irt.as_deref(), Some("second@x"));
        assert_eq!(
            refs,
            vec!["first@x", "t.a.b.c@ours", "t.a.d.e@ours", "second@x"]
        );
        for i in 0..20 {
            thread.push(message(
                MessageKind::PublicReply,
                Some(&format!("r{i}@ours")),
                10 + i,
            ));
        }
        let (irt, refs) = threading(&thread);
        assert_eq!(irt.as_deref(), Some("second@x"));
        assert_eq!(refs.len(), REFERENCES_MAX);
        assert_eq!(refs[0], "first@x");
        assert_eq!(refs.last().map(String::as_str), Some("second@x"));
        assert_eq!(threading(&[]), (None, Vec::new()));
    }

    #[test]
    fn quotes_are_bounded() {
        let long = "line\n".repeat(100);
        let q = trim_quote(&long);
        assert_eq!(q.lines().count(), QUOTE_MAX_LINES);
        assert!(q.ends_with("[…]"));
        let wide = "é".repeat(5_000);
        let q = trim_quote(&wide);
        assert!(q.chars().count() <= QUOTE_MAX_CHARS + 4);
        assert_eq!(trim_quote("short"), "short");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_secs(1), 60);
        assert_eq!(backoff_secs(2), 120);
        assert_eq!(backoff_secs(5), 960);
        assert_eq!(backoff_secs(7), 3600);
        assert_eq!(backoff_secs(40), 3600);
    }

    #[test]
    fn the_html_part_is_escaped_text() {
        let mail = OutboundMail {
            id: "01".into(),
            ticket_id: Some(TicketId::from_ulid(ulid::Ulid::nil())),
            message_id: None,
            kind: OutboundKind::Reply,
            state: DeliveryState::Pending,
            attempts: 0,
            last_error: None,
            next_attempt_at: None,
            sent_at: None,
            provider_id: None,
            created_at: chrono::DateTime::from_timestamp(0, 0).unwrap_or_default(),
            from: Mailbox::new("support@x.example", Some("Support")),
            to: vec![Mailbox::new("c@example.com", None)],
            cc: Vec::new(),
            reply_to: None,
            subject: "Re: s".into(),
            text: "Use <b>this</b> & that".into(),
            html: None,
            quote: Some(Quote {
                attribution: "On …, <c@example.com> wrote:".into(),
                text: "<script>alert(1)</script>\n\nsecond".into(),
            }),
            email_message_id: "t.1@x.example".into(),
            in_reply_to: None,
            references: Vec::new(),
            auto_submitted: false,
            attachments: Vec::new(),
            expires_at: None,
        };
        let email = mail.to_email();
        let html = email.html.expect("html");
        assert!(
            html.contains("Use &lt;b&gt;this&lt;/b&gt; &amp; that"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(
            email
                .text
                .contains("\n> <script>alert(1)</script>\n>\n> second"),
            "{}",
            email.text
        );
    }
}
