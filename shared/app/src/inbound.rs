//! Inbound e-mail: store the raw message first, then parse, thread (explainably) and create or
//! append — never drop, never thread silently. Redelivery of the same message is a no-op.
//!
//! Threading, in order; the reason is stored on the message:
//! 1. our own signed Message-ID in In-Reply-To / References;
//! 2. a signed plus-address (`support+{ticket}.{mac}@…`) among the recipients;
//! 3. In-Reply-To / References matching a stored Message-ID;
//! 4. a subject token `[#HD-1042]`, accepted only from the ticket's customer;
//!
//! otherwise a new ticket. A reply to a closed ticket opens a follow-up ticket.
//!
//! | item | pk | sk | index |
//! |---|---|---|---|
//! | Message-ID → ticket (threading and idempotency) | `MID#{sha256(id)}` | `MID` | — |
//! | quarantined message | `QUAR#{sha256(raw)}` | `Q` | gsi1 `QUARANTINE` / `{received}#{hash}` |
//! | bounce of a customer address | `CU#{email}` | `#BOUNCE` | — |
//! | received message and its outcome | `INBOX#{sha256(raw)}` | `R` | gsi1 `INBOX_PENDING` / `{received}#{hash}` while pending |
//!
//! Every message is noted as pending before its bytes are stored and gets its outcome recorded
//! after: one left pending (a crash, storage down mid-way) is found by
//! [`Helpdesk::recover_inbound`] and ingested again. Whatever happens, a message ends recorded
//! (created, appended), ignored for a stated reason, or quarantined: never just dropped.

use crate::attachments::{attachment_blob_key, sha256_hex};
use crate::keys::{self, from_item, to_doc};
use crate::ports::{Condition, Index, Item, Key, Query, WriteOp};
use crate::tickets::{CustomerRef, MessageMeta, NewMessage, NewTicket};
use crate::{AppError, Helpdesk};
use async_trait::async_trait;
use helpdesk_domain::{
    Actor, ActorRef, AttachmentMeta, Channel, EmailAddress, MessageKind, Status, Ticket, TicketId,
    TicketNumber, ATTACHMENTS_MAX,
};
use helpdesk_mail::{AutoKind, InboundEmail, Limits, ParsedEmail, ThreadSigner};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
#[error("blob store: {0}")]
pub struct BlobError(pub String);

/// Where raw messages and attachments live: the data directory locally, S3 in AWS.
#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), BlobError>;
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError>;

    /// Size, SHA-256 and first bytes of a stored blob, `None` when there is none. Stores that
    /// can stream (S3) should, rather than hold a large file in memory.
    async fn digest(&self, key: &str) -> Result<Option<BlobDigest>, BlobError> {
        Ok(self.get(key).await?.map(|b| BlobDigest {
            size: b.len() as u64,
            sha256_hex: crate::attachments::sha256_hex(&b),
            head: b.iter().take(BlobDigest::HEAD_LEN).copied().collect(),
        }))
    }

    /// Copies a blob to another key (S3: server-side CopyObject). A missing source is an error.
    async fn copy(&self, from: &str, to: &str) -> Result<(), BlobError> {
        let bytes = self
            .get(from)
            .await?
            .ok_or_else(|| BlobError(format!("no blob {from:?} to copy")))?;
        self.put(to, &bytes).await
    }

    /// A time-limited URL through which a client uploads exactly these bytes straight into the
    /// store (S3: a presigned PUT that carries the SHA-256 checksum, so the store refuses other
    /// bytes). For files too large to pass through the API function. `None`: this store takes
    /// uploads only through the app (the self-hosted data directory).
    async fn presign_put(&self, _upload: &PresignPut) -> Result<Option<PresignedPut>, BlobError> {
        Ok(None)
    }

    /// A time-limited URL from which a client downloads a blob straight from the store (S3: a
    /// presigned GET whose response carries the given content type and disposition), for files
    /// too large to pass back through the API function. `None`: serve the bytes.
    async fn presign_get(&self, _get: &PresignGet) -> Result<Option<String>, BlobError> {
        Ok(None)
    }
}

/// What a presigned download serves.
#[derive(Debug, Clone)]
pub struct PresignGet {
    pub key: String,
    /// `Content-Type` of the response.
    pub content_type: String,
    /// `Content-Disposition` of the response.
    pub content_disposition: String,
    pub expires_in: std::time::Duration,
}

/// What [`BlobStore::digest`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobDigest {
    pub size: u64,
    /// Lower-case hex.
    pub sha256_hex: String,
    /// The first [`BlobDigest::HEAD_LEN`] bytes (for file-type signatures).
    pub head: Vec<u8>,
}

impl BlobDigest {
    pub const HEAD_LEN: usize = 64;
}

/// What a presigned upload is for.
#[derive(Debug, Clone)]
pub struct PresignPut {
    pub key: String,
    pub content_type: String,
    pub size: u64,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256_hex: String,
    pub expires_in: std::time::Duration,
}

/// How the client uploads: `PUT url` with exactly these headers and the bytes as the body.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PresignedPut {
    pub method: String,
    pub url: String,
    /// Headers the upload must send as given (they are signed).
    pub headers: std::collections::BTreeMap<String, String>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

pub struct InboundConfig {
    pub signer: ThreadSigner,
    pub limits: Limits,
    /// The local part of the support address (`support` in `support@help.example.com`):
    /// mail from it, or from one of its plus addresses, is our own coming back (a loop).
    pub support_local: String,
}

impl InboundConfig {
    /// Whether `from` is the support address itself or one of its plus addresses (signed
    /// reply addresses included): such mail is ours, looping back.
    pub fn is_own_address(&self, from: &EmailAddress) -> bool {
        if !from.domain().eq_ignore_ascii_case(self.signer.domain()) {
            return false;
        }
        let local = from.local_part();
        let base = local.split('+').next().unwrap_or(local);
        base.eq_ignore_ascii_case(self.support_local.trim())
            || self.signer.verify_reply_address(from.as_str()).is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created,
    Appended,
    Ignored,
    Rejected,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IngestOutcome {
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<TicketNumber>,
    pub reason: String,
    /// Where the raw message is kept.
    pub raw: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quarantined {
    pub id: String,
    pub raw: String,
    pub reason: String,
    pub size: usize,
    pub received_at: chrono::DateTime<chrono::Utc>,
}

pub(crate) fn mid_key(message_id: &str) -> Key {
    let normalised = message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_ascii_lowercase();
    Key::new(format!("MID#{}", sha256_hex(normalised.as_bytes())), "MID")
}

pub fn raw_blob_key(hash: &str) -> String {
    format!("raw/{}/{hash}.eml", &hash[..2.min(hash.len())])
}

fn quarantine_key(hash: &str) -> Key {
    Key::new(format!("QUAR#{hash}"), "Q")
}

const QUARANTINE_PARTITION: &str = "QUARANTINE";

fn inbox_key(hash: &str) -> Key {
    Key::new(format!("INBOX#{hash}"), "R")
}

/// Messages received whose outcome is not recorded yet (gsi1; sparse: only pending ones).
const INBOX_PENDING_PARTITION: &str = "INBOX_PENDING";

/// A message left pending this long is taken to be stranded (its ingestion crashed or failed)
/// and is ingested again by the recovery sweep. Far above the time one ingestion takes.
pub const RECOVER_AFTER: chrono::Duration = chrono::Duration::minutes(2);

/// Recovery attempts before a stranded message is quarantined for a person to look at.
pub const RECOVERY_ATTEMPTS: u32 = 5;

/// What is known of one received message (`INBOX#{hash}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct InboxRecord {
    raw: String,
    size: usize,
    received_at: chrono::DateTime<chrono::Utc>,
    /// Recovery sweeps that picked it up.
    #[serde(default)]
    recoveries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ticket: Option<TicketNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// What one recovery sweep did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct RecoveryReport {
    /// Pending messages older than [`RECOVER_AFTER`] that were looked at.
    pub examined: usize,
    /// Ingested again, with an outcome recorded now.
    pub recovered: usize,
    /// Given up after [`RECOVERY_ATTEMPTS`] and quarantined.
    pub quarantined: usize,
    /// Failed again; the next sweep retries.
    pub errors: usize,
}

fn system() -> Actor {
    Actor::System {
        job: "inbound-email".into(),
    }
}

enum Thread {
    Ticket(Box<Ticket>, String),
    New(String),
}

impl Helpdesk {
    /// Ingests one raw message. Errors only when the raw message cannot be stored (or storage is
    /// down, or the ticket it belongs to stayed too busy to take it): the caller then reports a
    /// temporary failure (SMTP 451, a failed Lambda invocation) and the sender or the recovery
    /// sweep tries again. Everything else is an outcome with a reason, recorded with the message.
    pub async fn ingest_email(
        &self,
        raw: &[u8],
        blobs: &dyn BlobStore,
        cfg: &InboundConfig,
    ) -> Result<IngestOutcome, AppError> {
        self.ingest_raw(raw, blobs, cfg, false).await
    }

    /// `again`: a deliberate second run (recovery, reprocessing quarantine), which must not be
    /// short-cut by the outcome recorded the first time.
    async fn ingest_raw(
        &self,
        raw: &[u8],
        blobs: &dyn BlobStore,
        cfg: &InboundConfig,
        again: bool,
    ) -> Result<IngestOutcome, AppError> {
        let hash = sha256_hex(raw);
        let raw_key = raw_blob_key(&hash);
        let record = self.inbox_record(&hash).await?;
        if let Some((r, _)) = record.as_ref().filter(|_| !again) {
            if let Some(outcome) = r.outcome {
                // The very same bytes again (SES or a sender retrying): already handled.
                return Ok(IngestOutcome {
                    outcome: Outcome::Ignored,
                    ticket: r.ticket,
                    reason: format!(
                        "duplicate delivery: this message was already handled ({})",
                        serde_json::to_value(outcome)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default()
                    ),
                    raw: raw_key,
                });
            }
        }
        let now = self.clock.now();
        let pending = InboxRecord {
            raw: raw_key.clone(),
            size: raw.len(),
            received_at: record.as_ref().map_or(now, |(r, _)| r.received_at),
            recoveries: record.as_ref().map_or(0, |(r, _)| r.recoveries),
            outcome: None,
            ticket: None,
            reason: None,
        };
        let version = record.as_ref().map_or(0, |(_, v)| *v);
        // Noted before the bytes are kept, so no crash can leave stored bytes nobody looks at.
        self.put_inbox_record(&hash, &pending, true, version + 1)
            .await?;
        blobs
            .put(&raw_key, raw)
            .await
            .map_err(|e| AppError::internal("storing a raw message", e))?;
        let outcome = self.ingest_stored(raw, &hash, &raw_key, blobs, cfg).await?;
        if outcome.outcome == Outcome::Ignored {
            // A concurrent delivery of the same bytes may have recorded what it did (created,
            // appended): that is the outcome worth keeping.
            if let Some((r, _)) = self.inbox_record(&hash).await? {
                if matches!(r.outcome, Some(Outcome::Created | Outcome::Appended)) {
                    return Ok(outcome);
                }
            }
        }
        let done = InboxRecord {
            outcome: Some(outcome.outcome),
            ticket: outcome.ticket,
            reason: Some(outcome.reason.clone()),
            ..pending
        };
        self.put_inbox_record(&hash, &done, false, version + 2)
            .await?;
        Ok(outcome)
    }

    async fn inbox_record(&self, hash: &str) -> Result<Option<(InboxRecord, u64)>, AppError> {
        match self
            .table
            .get(&inbox_key(hash))
            .await
            .map_err(AppError::storage("reading a received message's record"))?
        {
            Some(item) => Ok(Some((from_item(&item)?, item.version))),
            None => Ok(None),
        }
    }

    async fn put_inbox_record(
        &self,
        hash: &str,
        record: &InboxRecord,
        pending: bool,
        version: u64,
    ) -> Result<(), AppError> {
        let mut item = Item::new(inbox_key(hash), version, to_doc(record)?);
        if pending {
            item = item.with_index(
                Index::Gsi1,
                INBOX_PENDING_PARTITION,
                format!("{}#{hash}", keys::time_key(&record.received_at)),
            );
        }
        self.table
            .put(item, Condition::None)
            .await
            .map_err(AppError::storage("recording a received message"))
    }

    /// Ingests again every message left pending for longer than [`RECOVER_AFTER`] (up to
    /// `limit`): the crash or failure that stranded it is past. One that keeps failing is
    /// quarantined after [`RECOVERY_ATTEMPTS`], with the reason. Needs this process's blob
    /// store and inbound settings; without them it does nothing.
    pub async fn recover_inbound(
        &self,
        now: helpdesk_domain::Timestamp,
        limit: usize,
    ) -> Result<RecoveryReport, AppError> {
        let mut report = RecoveryReport::default();
        let (Some(blobs), Some(cfg)) = (self.blobs.clone(), self.inbound.clone()) else {
            return Ok(report);
        };
        let page = self
            .table
            .query(
                &Query::partition(Some(Index::Gsi1), INBOX_PENDING_PARTITION)
                    .sk(crate::ports::SortKey::Lt(keys::time_key(
                        &(now - RECOVER_AFTER),
                    )))
                    .limit(limit.clamp(1, 200)),
            )
            .await
            .map_err(AppError::storage("listing stranded messages"))?;
        for item in &page.items {
            report.examined += 1;
            let hash = item.key.pk.trim_start_matches("INBOX#").to_string();
            match self.recover_one(&hash, item, blobs.as_ref(), &cfg).await {
                Ok(true) => report.recovered += 1,
                Ok(false) => report.quarantined += 1,
                Err(e) => {
                    report.errors += 1;
                    tracing::warn!(message = %hash, error = %e, "recovering a stranded message failed; the next sweep retries");
                }
            }
        }
        Ok(report)
    }

    /// `Ok(true)`: ingested with an outcome; `Ok(false)`: given up and quarantined.
    async fn recover_one(
        &self,
        hash: &str,
        item: &Item,
        blobs: &dyn BlobStore,
        cfg: &InboundConfig,
    ) -> Result<bool, AppError> {
        let mut record: InboxRecord = from_item(item)?;
        record.recoveries += 1;
        // Counted first (conditional on what was read, so two sweeps do not both count one
        // attempt): a message that crashes the ingestion every time still reaches the limit.
        let counted = Item::new(inbox_key(hash), item.version + 1, to_doc(&record)?).with_index(
            Index::Gsi1,
            INBOX_PENDING_PARTITION,
            format!("{}#{hash}", keys::time_key(&record.received_at)),
        );
        self.table
            .put(counted, Condition::VersionIs(item.version))
            .await
            .map_err(AppError::storage("counting a recovery attempt"))?;
        let Some(raw) = blobs
            .get(&record.raw)
            .await
            .map_err(|e| AppError::internal("reading a stranded message", e))?
        else {
            // Noted but never stored: the sender was never told it arrived, and retries.
            let done = InboxRecord {
                outcome: Some(Outcome::Ignored),
                reason: Some(
                    "the message was not stored (the sender was not acknowledged and retries)"
                        .into(),
                ),
                ..record
            };
            self.put_inbox_record(hash, &done, false, item.version + 2)
                .await?;
            return Ok(true);
        };
        if record.recoveries > RECOVERY_ATTEMPTS {
            let reason = format!(
                "ingestion did not finish after {RECOVERY_ATTEMPTS} recovery attempts; reprocess it once the cause is fixed"
            );
            self.quarantine(hash, &record.raw, &reason, record.size)
                .await?;
            let done = InboxRecord {
                outcome: Some(Outcome::Rejected),
                reason: Some(format!("quarantined: {reason}")),
                ..record
            };
            self.put_inbox_record(hash, &done, false, item.version + 2)
                .await?;
            return Ok(false);
        }
        self.ingest_raw(&raw, blobs, cfg, true).await?;
        Ok(true)
    }

    /// The ingestion proper, once the raw message is kept.
    async fn ingest_stored(
        &self,
        raw: &[u8],
        hash: &str,
        raw_key: &str,
        blobs: &dyn BlobStore,
        cfg: &InboundConfig,
    ) -> Result<IngestOutcome, AppError> {
        let (hash, raw_key) = (hash.to_string(), raw_key.to_string());
        let outcome = |outcome, ticket: Option<TicketNumber>, reason: String| IngestOutcome {
            outcome,
            ticket,
            reason,
            raw: raw_key.clone(),
        };
        let mail = match helpdesk_mail::parse(raw, &cfg.limits) {
            ParsedEmail::Parsed(m) => *m,
            ParsedEmail::Rejected { reason } => {
                let reason = reason.to_string();
                self.quarantine(&hash, &raw_key, &reason, raw.len()).await?;
                return Ok(outcome(
                    Outcome::Rejected,
                    None,
                    format!("quarantined: {reason}"),
                ));
            }
        };
        let mid = mid_key(&mail.message_id);
        if let Some(existing) = self
            .table
            .get(&mid)
            .await
            .map_err(AppError::storage("looking up a Message-ID"))?
        {
            let number = self.pointer_ticket(&existing).await?.map(|t| t.number);
            return Ok(outcome(
                Outcome::Ignored,
                number,
                "duplicate delivery: this Message-ID is already recorded".into(),
            ));
        }
        let Ok(from) = EmailAddress::parse(&mail.from.address) else {
            let reason = format!("unusable sender address {:?}", mail.from.address);
            self.quarantine(&hash, &raw_key, &reason, raw.len()).await?;
            return Ok(outcome(
                Outcome::Rejected,
                None,
                format!("quarantined: {reason}"),
            ));
        };
        if cfg.is_own_address(&from) {
            // Our own mail coming back (a forward rule, a misrouted reply): answering it would
            // mail ourselves, possibly forever.
            self.record_message_id(&mid, serde_json::json!({ "loop": true }))
                .await?;
            return Ok(outcome(
                Outcome::Ignored,
                None,
                format!("mail loop: sent from our own support address {from}; no ticket and no acknowledgement"),
            ));
        }
        if let AutoKind::Bounce { recipient, status } = &mail.auto {
            let who = recipient
                .as_deref()
                .and_then(|r| EmailAddress::parse(r).ok());
            if let Some(who) = &who {
                let doc =
                    serde_json::json!({ "status": status, "at": self.clock.now(), "raw": raw_key });
                self.table
                    .put(
                        Item::new(Key::new(keys::customer_key(who).pk, "#BOUNCE"), 1, doc),
                        Condition::None,
                    )
                    .await
                    .map_err(AppError::storage("recording a bounce"))?;
            }
            self.record_message_id(&mid, serde_json::json!({ "bounce": true }))
                .await?;
            let about = who
                .map(|w| w.to_string())
                .unwrap_or_else(|| "an unknown recipient".into());
            return Ok(outcome(
                Outcome::Ignored,
                None,
                format!("delivery failure report: {about} marked as bouncing"),
            ));
        }
        let thread = self.find_thread(&mail, &from, &cfg.signer).await?;
        let automatic = mail.auto.is_automatic();
        let keeps_message = match &thread {
            Thread::Ticket(t, _) => t.status != Status::Closed || !automatic,
            Thread::New(_) => !automatic,
        };
        let attachments = if keeps_message {
            self.store_attachments(&mail, blobs).await?
        } else {
            Vec::new()
        };
        // Everyone else the customer wrote to (not us) is copied on the ticket from now on.
        let ours = cfg.signer.domain().to_ascii_lowercase();
        let participants: Vec<EmailAddress> = mail
            .to
            .iter()
            .chain(mail.cc.iter())
            .filter_map(|m| EmailAddress::parse(&m.address).ok())
            .filter(|a| *a != from && !a.domain().eq_ignore_ascii_case(&ours))
            .take(helpdesk_domain::ticket::PARTICIPANTS_MAX)
            .collect();
        let reply_to = mail
            .reply_to
            .iter()
            .filter_map(|m| EmailAddress::parse(&m.address).ok())
            .find(|a| !a.domain().eq_ignore_ascii_case(&ours))
            .filter(|a| *a != from);
        let meta = |reason: String| MessageMeta {
            author: Some(ActorRef {
                kind: "customer".into(),
                id: from.to_string(),
            }),
            author_name: mail.from.name.clone(),
            body_html: mail.html.clone(),
            email_message_id: Some(mail.message_id.clone()),
            thread_reason: Some(reason),
            extra: Vec::new(),
            ticket_id: None,
            acknowledge: false,
            attachments: attachments.clone(),
            participants: participants.clone(),
            reply_to: reply_to.clone(),
        };
        let body = if mail.text.trim().is_empty() {
            "(no text in this message)".to_string()
        } else {
            mail.text.clone()
        };
        match thread {
            Thread::Ticket(ticket, reason) if ticket.status != Status::Closed => {
                let mut m = meta(reason.clone());
                // The pointer item names the ticket the message landed on.
                m.extra = vec![WriteOp::Put {
                    item: keys::pointer_item(mid.clone(), &ticket.id),
                    condition: Condition::NotExists,
                }];
                // No version: a ticket that moved meanwhile (the router, an agent) is re-read
                // and the message appended to it as it is now.
                match self
                    .add_message_with(
                        &system(),
                        &ticket.id.to_string(),
                        NewMessage {
                            kind: Some(MessageKind::CustomerMessage),
                            body,
                            template: None,
                            version: None,
                            attachments: Vec::new(),
                        },
                        m,
                    )
                    .await
                {
                    Ok((_, t)) => Ok(outcome(Outcome::Appended, Some(t.number), reason)),
                    Err(e @ AppError::Conflict { .. }) => {
                        self.duplicate_or(&mid, e, |number| {
                            outcome(
                                Outcome::Ignored,
                                number.or(Some(ticket.number)),
                                "duplicate delivery: this Message-ID was recorded concurrently"
                                    .into(),
                            )
                        })
                        .await
                    }
                    Err(AppError::Rule(helpdesk_domain::DomainError::Closed)) => {
                        // Closed between threading and appending: a follow-up, as if it had
                        // been closed before. Ingesting again threads it that way.
                        Err(AppError::Conflict {
                            detail: "the ticket was closed while the message was appended".into(),
                            current_version: None,
                        })
                    }
                    Err(e) => Err(e),
                }
            }
            Thread::Ticket(closed, _) if automatic => Ok(outcome(
                Outcome::Ignored,
                Some(closed.number),
                "automatic message to a closed ticket".into(),
            )),
            Thread::New(_) if automatic => {
                self.record_message_id(&mid, serde_json::json!({ "automatic": true }))
                    .await?;
                Ok(outcome(
                    Outcome::Ignored,
                    None,
                    "automatic reply or list mail does not open tickets".into(),
                ))
            }
            other => {
                let (reason, tags) = match other {
                    Thread::Ticket(closed, _) => (
                        format!("reply to closed {}; opened as a follow-up", closed.number),
                        vec!["follow-up".to_string()],
                    ),
                    Thread::New(reason) => (reason, Vec::new()),
                };
                let subject = if mail.subject.trim().is_empty() {
                    "(no subject)".to_string()
                } else {
                    mail.subject.clone()
                };
                let input = NewTicket {
                    subject,
                    body,
                    channel: Some(Channel::Email),
                    priority: None,
                    category: None,
                    customer: Some(CustomerRef {
                        email: from.clone(),
                        name: mail.from.name.clone().filter(|n| !n.trim().is_empty()),
                        platform_user_id: None,
                        locale: None,
                    }),
                    department: None,
                    assignee: None,
                    tags,
                };
                let id = TicketId::from_ulid(self.ids.ulid());
                let mut m = meta(reason.clone());
                m.ticket_id = Some(id);
                // A person wrote to us (automatic mail never gets here): acknowledge it.
                m.acknowledge = !automatic;
                m.extra = vec![WriteOp::Put {
                    item: keys::pointer_item(mid.clone(), &id),
                    condition: Condition::NotExists,
                }];
                match self.create_ticket_with(&system(), input, None, m).await {
                    Ok((t, _)) => Ok(outcome(Outcome::Created, Some(t.number), reason)),
                    Err(e @ AppError::Conflict { .. }) => {
                        self.duplicate_or(&mid, e, |number| {
                            outcome(
                                Outcome::Ignored,
                                number,
                                "duplicate delivery: this Message-ID was recorded concurrently"
                                    .into(),
                            )
                        })
                        .await
                    }
                    Err(AppError::Validation { field, message }) => {
                        let reason = format!("{field}: {message}");
                        self.quarantine(&hash, &raw_key, &reason, raw.len()).await?;
                        Ok(outcome(
                            Outcome::Rejected,
                            None,
                            format!("quarantined: {reason}"),
                        ))
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Records a Message-ID that opened no ticket (bounces, automatic mail, loops), so a
    /// redelivery is recognised.
    async fn record_message_id(&self, mid: &Key, doc: serde_json::Value) -> Result<(), AppError> {
        self.table
            .put(Item::new(mid.clone(), 1, doc), Condition::None)
            .await
            .map_err(AppError::storage("recording a Message-ID"))
    }

    /// After a write that lost a race: a duplicate only if the Message-ID is now recorded
    /// (another delivery of the same message won). Anything else is `error`, passed on so the
    /// message is retried, never reported as handled.
    async fn duplicate_or(
        &self,
        mid: &Key,
        error: AppError,
        duplicate: impl FnOnce(Option<TicketNumber>) -> IngestOutcome,
    ) -> Result<IngestOutcome, AppError> {
        match self
            .table
            .get(mid)
            .await
            .map_err(AppError::storage("looking up a Message-ID"))?
        {
            Some(item) => {
                let number = self.pointer_ticket(&item).await?.map(|t| t.number);
                Ok(duplicate(number))
            }
            None => Err(error),
        }
    }

    /// Keeps each attachment's bytes in the blob store, content-addressed (a redelivery or the
    /// same file twice stores nothing new), and returns what the message records of them.
    async fn store_attachments(
        &self,
        mail: &InboundEmail,
        blobs: &dyn BlobStore,
    ) -> Result<Vec<AttachmentMeta>, AppError> {
        let mut out = Vec::new();
        for (i, a) in mail.attachments.iter().enumerate() {
            if i >= ATTACHMENTS_MAX {
                tracing::warn!(
                    message_id = %mail.message_id,
                    count = mail.attachments.len(),
                    "attachments beyond the limit are listed in the raw message only"
                );
                break;
            }
            let blob_key = if a.omitted.is_none() {
                let key = attachment_blob_key(&sha256_hex(&a.bytes));
                blobs
                    .put(&key, &a.bytes)
                    .await
                    .map_err(|e| AppError::internal("storing an attachment", e))?;
                Some(key)
            } else {
                None
            };
            out.push(AttachmentMeta {
                filename: a
                    .filename
                    .as_deref()
                    .map(helpdesk_domain::text::strip_format_chars)
                    .filter(|f| !f.trim().is_empty())
                    .unwrap_or_else(|| format!("part-{}", i + 1)),
                content_type: a.content_type.clone(),
                size: a.size as u64,
                blob_key,
                content_id: a.content_id.clone(),
                inline: a.inline,
                omitted: a.omitted.map(|o| o.to_string()),
            });
        }
        Ok(out)
    }

    async fn pointer_ticket(&self, item: &Item) -> Result<Option<Ticket>, AppError> {
        match keys::pointer_target(item) {
            Some(id) => self.load_ticket(&id).await,
            None => Ok(None),
        }
    }

    async fn find_thread(
        &self,
        mail: &InboundEmail,
        from: &EmailAddress,
        signer: &ThreadSigner,
    ) -> Result<Thread, AppError> {
        // Most recent first: In-Reply-To, then References from the end.
        let ids: Vec<&String> = mail
            .in_reply_to
            .iter()
            .chain(mail.references.iter().rev())
            .collect();
        for id in &ids {
            if let Some(t) = signer.verify_message_id(id) {
                if let Some(ticket) = self.ticket_from_token(&t).await? {
                    return Ok(Thread::Ticket(
                        Box::new(ticket),
                        format!("our signed Message-ID <{id}> in In-Reply-To/References"),
                    ));
                }
            }
        }
        for rcpt in mail.to.iter().chain(mail.cc.iter()) {
            if let Some(t) = signer.verify_reply_address(&rcpt.address) {
                if let Some(ticket) = self.ticket_from_token(&t).await? {
                    return Ok(Thread::Ticket(
                        Box::new(ticket),
                        format!("signed reply address {}", rcpt.address),
                    ));
                }
            }
        }
        for id in &ids {
            if let Some(item) = self
                .table
                .get(&mid_key(id))
                .await
                .map_err(AppError::storage("looking up a Message-ID"))?
            {
                if let Some(ticket) = self.pointer_ticket(&item).await? {
                    return Ok(Thread::Ticket(
                        Box::new(ticket),
                        format!("In-Reply-To/References <{id}> matches a message on this ticket"),
                    ));
                }
            }
        }
        if let Some(token) = helpdesk_mail::subject_token(&mail.subject) {
            if let Some(ticket) = self.resolve_ticket_ref(&token).await.ok().flatten() {
                if ticket.customer.email == *from {
                    return Ok(Thread::Ticket(
                        Box::new(ticket),
                        format!("subject token [#{token}] from the ticket's customer"),
                    ));
                }
                if ticket.participants.contains(from) {
                    return Ok(Thread::Ticket(
                        Box::new(ticket),
                        format!("subject token [#{token}] from {from}, copied on that ticket"),
                    ));
                }
                return Ok(Thread::New(format!("new ticket: subject token [#{token}] ignored because {from} is neither that ticket's customer nor copied on it")));
            }
        }
        Ok(Thread::New(
            "new ticket: no thread reference matched".into(),
        ))
    }

    /// The ticket a signed token names: an id or a number.
    async fn ticket_from_token(&self, token: &str) -> Result<Option<Ticket>, AppError> {
        Ok(self.resolve_ticket_ref(token).await.ok().flatten())
    }

    async fn quarantine(
        &self,
        hash: &str,
        raw_key: &str,
        reason: &str,
        size: usize,
    ) -> Result<(), AppError> {
        let now = self.clock.now();
        let q = Quarantined {
            id: hash.to_string(),
            raw: raw_key.to_string(),
            reason: reason.to_string(),
            size,
            received_at: now,
        };
        let item = Item::new(quarantine_key(hash), 1, to_doc(&q)?).with_index(
            Index::Gsi1,
            QUARANTINE_PARTITION,
            format!("{}#{hash}", keys::time_key(&now)),
        );
        match self.table.put(item, Condition::NotExists).await {
            Ok(()) | Err(crate::ports::TableError::ConditionFailed) => Ok(()),
            Err(e) => Err(AppError::storage("quarantining a message")(e)),
        }
    }

    /// Messages that could not be ingested, newest first (admins).
    pub async fn list_quarantine(
        &self,
        actor: &Actor,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<crate::directory::DirectoryPage<Quarantined>, AppError> {
        if !actor.can_manage_directory() {
            return Err(AppError::Forbidden("only admins see quarantined mail"));
        }
        let page = self
            .table
            .query(
                &Query::partition(Some(Index::Gsi1), QUARANTINE_PARTITION)
                    .forward(false)
                    .limit(limit.clamp(1, 200))
                    .cursor(cursor),
            )
            .await
            .map_err(AppError::storage("listing quarantined mail"))?;
        let items = page
            .items
            .iter()
            .map(from_item)
            .collect::<Result<Vec<Quarantined>, _>>()?;
        Ok(crate::directory::DirectoryPage {
            items,
            next_cursor: page.cursor,
        })
    }

    /// Runs a quarantined message through ingestion again (after a fix, or with new limits);
    /// it leaves the quarantine unless it is rejected again.
    pub async fn reprocess_quarantined(
        &self,
        actor: &Actor,
        id: &str,
        blobs: &dyn BlobStore,
        cfg: &InboundConfig,
    ) -> Result<IngestOutcome, AppError> {
        if !actor.can_manage_directory() {
            return Err(AppError::Forbidden(
                "only admins reprocess quarantined mail",
            ));
        }
        if id.len() != 64 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(AppError::validation("id", "is not a quarantine id"));
        }
        let item = self
            .table
            .get(&quarantine_key(id))
            .await
            .map_err(AppError::storage("reading quarantine"))?
            .ok_or(AppError::NotFound {
                what: "quarantined message",
            })?;
        let q: Quarantined = from_item(&item)?;
        let raw = blobs
            .get(&q.raw)
            .await
            .map_err(|e| AppError::internal("reading a raw message", e))?
            .ok_or(AppError::NotFound {
                what: "raw message",
            })?;
        // Leave the quarantine first, so a second rejection records itself afresh.
        self.table
            .delete(&quarantine_key(id), Condition::Exists)
            .await
            .map_err(AppError::storage("leaving quarantine"))?;
        self.ingest_raw(&raw, blobs, cfg, true).await
    }

    /// [`Self::reprocess_quarantined`] with this installation's blob store and inbound settings
    /// (the API's and console's "reprocess" button).
    pub async fn reprocess(&self, actor: &Actor, id: &str) -> Result<IngestOutcome, AppError> {
        if !actor.can_manage_directory() {
            return Err(AppError::Forbidden(
                "only admins reprocess quarantined mail",
            ));
        }
        let (Some(blobs), Some(cfg)) = (self.blobs.clone(), self.inbound.clone()) else {
            return Err(AppError::internal(
                "reprocessing quarantined mail",
                "inbound mail is not configured in this process",
            ));
        };
        self.reprocess_quarantined(actor, id, blobs.as_ref(), &cfg)
            .await
    }
}
