//! Customers of the help centre: e-mailed sign-in links, server-side sessions, and what a signed-in
//! customer may do to their own tickets besides replying (reopen).
//!
//! | item | pk | sk | notes |
//! |---|---|---|---|
//! | sign-in link | `SIGNIN#{sha256(token)}` | `SIGNIN` | `{email, expires, used_at?}`; TTL a day after it expires (so a late click says "expired", not "unknown") |
//! | help-centre session | `HSESS#{sha256(session id)}` | `HSESS` | `{email, expires}`; TTL at expiry; deleted at sign-out |
//!
//! The token is 256 random bits sent only in the e-mail; storage keeps its hash. It is used up by
//! a conditional write in the same transaction that creates the session, so two concurrent uses
//! cannot both sign in.
//!
//! Asking for a link answers the same, and in the same time, whether or not the address is
//! known: the request does only what is the same for every address (the rate limits, then one
//! [`SignInRequest`] on the [`SignInQueue`]) and answers. Looking the address up, making the link
//! and queueing its mail happen in a worker ([`Helpdesk::process_sign_in_request`]): the
//! self-hosted `serve` has a durable queue in its SQLite file with a worker woken at once (rows
//! stay until done, so a crash or restart resumes them); on AWS the request goes to the routing
//! SQS queue, whose `router` function processes it (redelivered until done, then the DLQ). Work
//! after a Lambda's response is not reliable, and a queue both runtimes already run needs no
//! new infrastructure. Delivery is at least once; processing is idempotent because the link
//! and its mail are written in one transaction under the request's id, so a second delivery
//! finds the mail and adds no second link.

use crate::attachments::sha256_hex;
use crate::keys::{self, from_item};
use crate::outbound::{outbound_item, standalone_key};
use crate::outbound::{OutboundKind, OutboundMail};
use crate::ports::{Condition, Index, Item, Key, Query, TableError, WriteOp};
use crate::queue::QueueError;
use crate::ratelimit::key_hash;
use crate::{AppError, Helpdesk};
use async_trait::async_trait;
use base64::Engine;
use helpdesk_domain::template::{escape_html, Template, TemplateValues};
use helpdesk_domain::{Actor, DeliveryState, EmailAddress, Status, Ticket, TicketPatch, Timestamp};
use helpdesk_mail::Mailbox;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How long an e-mailed link works.
pub const SIGN_IN_LINK_SECS: i64 = 20 * 60;
/// Links asked for one address per hour, at most.
pub const SIGN_IN_PER_ADDRESS_HOURLY: i64 = 5;
/// Links asked for from one network address per hour, at most.
pub const SIGN_IN_PER_IP_HOURLY: i64 = 30;
/// The template of the sign-in mail (overridable per locale like any template).
pub const SIGN_IN_TEMPLATE: &str = "signin_link";
pub const DEFAULT_SIGN_IN_SUBJECT: &str = "Your sign-in link for the help centre";
pub const DEFAULT_SIGN_IN_BODY: &str = "Hello {{customer.first_name}},\n\nuse the link below to sign in to the help centre and follow your requests. It works once, within 20 minutes.\n\nIf you did not ask for it, you can ignore this e-mail: nobody can sign in without the link.\n\n{{agent.name}}";

/// A queued request older than this is dropped instead of answered: its asker has moved on
/// (or asked again), and a link arriving much later would surprise them. Shorter than the link's
/// life, so the link's mail (the record that makes processing idempotent, kept until the link
/// expires) outlives every delivery of its request.
pub const SIGN_IN_REQUEST_MAX_AGE_SECS: i64 = 10 * 60;

const TOKEN_BYTES: usize = 32;
/// base64url without padding of [`TOKEN_BYTES`].
const TOKEN_CHARS: usize = 43;

/// Why a sign-in link does not sign in.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Not a link we made (malformed, forged, or long forgotten).
    #[error("this sign-in link is not valid")]
    Invalid,
    #[error("this sign-in link was already used")]
    Used,
    #[error("this sign-in link has expired")]
    Expired,
    #[error(transparent)]
    Unavailable(AppError),
}

/// A sign-in that worked: put `session_id` and `expires` in the customer's cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub email: EmailAddress,
    pub session_id: String,
    /// Unix seconds.
    pub expires: i64,
}

/// A request for a sign-in link, queued by `/help/signin` for the worker
/// ([`Helpdesk::process_sign_in_request`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInRequest {
    /// A ULID; also the id of the link's mail, which makes processing idempotent.
    pub id: String,
    pub email: EmailAddress,
    pub requested_at: Timestamp,
}

/// Where sign-in requests wait for the worker: the embedded queue self-hosted, the routing SQS
/// queue on AWS (see the module documentation).
#[async_trait]
pub trait SignInQueue: Send + Sync {
    async fn enqueue_sign_in(&self, request: &SignInRequest) -> Result<(), QueueError>;
}

/// What processing one sign-in request came to (logged by the worker; never shown to the asker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInOutcome {
    /// The link was stored and its mail queued (and, normally, sent).
    Mailed,
    /// A delivery of a request already processed: its mail exists, nothing new was made.
    AlreadyMailed,
    /// Not a known customer: nothing is sent.
    NotACustomer,
    /// Older than [`SIGN_IN_REQUEST_MAX_AGE_SECS`]: dropped.
    Stale,
    /// Outbound mail or the public URL is not configured (a warning is logged).
    NotConfigured,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LinkDoc {
    email: EmailAddress,
    /// Unix seconds.
    expires: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    used_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionDoc {
    email: EmailAddress,
    expires: i64,
}

fn link_key(token: &str) -> Key {
    Key::new(format!("SIGNIN#{}", sha256_hex(token.as_bytes())), "SIGNIN")
}

fn session_key(session_id: &str) -> Key {
    Key::new(
        format!("HSESS#{}", sha256_hex(session_id.as_bytes())),
        "HSESS",
    )
}

fn random_b64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Whether `token` has the shape of one of our tokens (checked before any storage read).
pub fn token_shape_ok(token: &str) -> bool {
    token.len() == TOKEN_CHARS
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Helpdesk {
    /// Where sign-in requests go for the worker (see the module documentation). Without one,
    /// [`Helpdesk::request_sign_in`] processes the request itself before it answers (tools and
    /// tests that build a `Helpdesk` by hand; known addresses then answer measurably slower).
    pub fn with_sign_in_queue(mut self, queue: Arc<dyn SignInQueue>) -> Self {
        self.sign_in_queue = Some(queue);
        self
    }

    /// Asks for a sign-in link for `email`: rate-limited per network address and per address
    /// (hashed, so the keys hold no address), then queued. The same work, and the same `Ok`,
    /// whether or not the address is a customer: no enumeration, not even by timing. The link is
    /// mailed by [`Helpdesk::process_sign_in_request`] to known customers only.
    pub async fn request_sign_in(
        &self,
        email: &EmailAddress,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(), AppError> {
        const MSG: &str = "too many sign-in links were asked for; try again in an hour";
        if let Some(ip) = ip {
            let who = key_hash(&ip.to_string());
            self.rate_limit("signin-ip", &who, SIGN_IN_PER_IP_HOURLY, 3600, MSG)
                .await?;
        }
        let who = key_hash(email.as_str());
        self.rate_limit("signin-addr", &who, SIGN_IN_PER_ADDRESS_HOURLY, 3600, MSG)
            .await?;
        let request = SignInRequest {
            id: self.ids.ulid().to_string(),
            email: email.clone(),
            requested_at: self.clock.now(),
        };
        match &self.sign_in_queue {
            Some(queue) => queue
                .enqueue_sign_in(&request)
                .await
                .map_err(|e| AppError::internal("queueing a sign-in request", e)),
            None => self.process_sign_in_request(&request).await.map(|_| ()),
        }
    }

    /// The worker's half of a sign-in request: sends `{public_url}/help/signin/{token}` to the
    /// address if it is a known customer (a stored profile or a ticket). Safe to run twice for
    /// the same request: the link and its mail are written in one transaction, the mail under
    /// the request's id, so a second run finds the mail and only makes sure it is delivered.
    pub async fn process_sign_in_request(
        &self,
        request: &SignInRequest,
    ) -> Result<SignInOutcome, AppError> {
        let now = self.clock.now();
        if (now - request.requested_at).num_seconds() > SIGN_IN_REQUEST_MAX_AGE_SECS {
            tracing::info!(request = %request.id, "a sign-in request waited too long; dropped");
            return Ok(SignInOutcome::Stale);
        }
        let email = &request.email;
        let customer = self.load_customer(email).await?;
        let known = customer.is_some() || self.has_tickets(email).await?;
        if !known {
            return Ok(SignInOutcome::NotACustomer);
        }
        let (Some(settings), Some(config)) = (self.mail.clone(), self.automation.clone()) else {
            tracing::warn!(
                "a sign-in link was asked for, but outbound mail or public links are off"
            );
            return Ok(SignInOutcome::NotConfigured);
        };
        if config.public_url.is_empty() {
            // A relative link in an e-mail leads nowhere.
            tracing::warn!("a sign-in link was asked for, but no public URL is configured");
            return Ok(SignInOutcome::NotConfigured);
        }
        let token = random_b64(TOKEN_BYTES);
        let expires = now.timestamp() + SIGN_IN_LINK_SECS;
        let doc = LinkDoc {
            email: email.clone(),
            expires,
            used_at: None,
        };
        let link =
            Item::new(link_key(&token), 1, keys::to_doc(&doc)?).expiring_at(expires + 24 * 3600);

        let locale = customer
            .as_ref()
            .map(|c| c.locale.clone())
            .unwrap_or_else(helpdesk_domain::people::default_locale);
        let template = self.find_template(SIGN_IN_TEMPLATE, &locale).await?;
        let (subject_src, body_src) = match &template {
            Some(t) => (
                t.subject
                    .clone()
                    .unwrap_or_else(|| DEFAULT_SIGN_IN_SUBJECT.to_string()),
                t.body.clone(),
            ),
            None => (
                DEFAULT_SIGN_IN_SUBJECT.to_string(),
                DEFAULT_SIGN_IN_BODY.to_string(),
            ),
        };
        let team = settings
            .from
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "The support team".to_string());
        let name = customer.as_ref().and_then(|c| c.name.clone());
        let values = TemplateValues::new(name.as_deref(), email.as_str(), "", "", &team);
        let parse = |src: &str| {
            Template::parse(src).map_err(|e| AppError::internal("parsing a stored template", e))
        };
        let (subject_t, body_t) = (parse(&subject_src)?, parse(&body_src)?);
        let subject: String = subject_t
            .render_text(&values)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let url = format!("{}/help/signin/{token}", config.public_url);
        // A plain link: no tracking, no images.
        let text = format!("{}\n\n{url}\n", body_t.render_text(&values));
        let html = format!(
            "{}<p><a href=\"{1}\">Sign in to the help centre</a></p>\n<p style=\"color:#666;font-size:small\">{1}</p>\n",
            body_t.render_html(&values),
            escape_html(&url),
        );
        let id = request.id.clone();
        let mail = OutboundMail {
            email_message_id: format!("signin.{id}@{}", settings.signer.domain()),
            id,
            ticket_id: None,
            message_id: None,
            kind: OutboundKind::SignInLink,
            state: DeliveryState::Pending,
            attempts: 0,
            last_error: None,
            next_attempt_at: Some(now),
            sent_at: None,
            provider_id: None,
            created_at: now,
            from: settings.from.clone(),
            to: vec![Mailbox::new(email.as_str(), name.as_deref())],
            cc: Vec::new(),
            reply_to: None,
            subject,
            text,
            html: Some(html),
            quote: None,
            in_reply_to: None,
            references: Vec::new(),
            auto_submitted: true,
            attachments: Vec::new(),
            expires_at: chrono::DateTime::from_timestamp(expires, 0),
        };
        let ops = vec![
            WriteOp::Put {
                item: link,
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                item: outbound_item(&mail, 1)?,
                condition: Condition::NotExists,
            },
        ];
        let key = standalone_key(&mail.id);
        let outcome = match self.table.transact(ops).await {
            Ok(()) => SignInOutcome::Mailed,
            Err(TableError::TransactionCancelled { .. }) => {
                // The mail of this request exists (a redelivery): no second link. Anything else
                // cancelled the write: fail, so the queue delivers the request again.
                let exists = self
                    .table
                    .get(&key)
                    .await
                    .map_err(AppError::storage("reading a sign-in mail"))?
                    .is_some();
                if !exists {
                    return Err(AppError::internal(
                        "storing a sign-in link",
                        "the write was cancelled",
                    ));
                }
                SignInOutcome::AlreadyMailed
            }
            Err(e) => return Err(AppError::storage("storing a sign-in link")(e)),
        };
        // Sent now, or left queued for the mail sweep (a mail already sent is skipped).
        self.deliver_now(&key).await;
        Ok(outcome)
    }

    async fn has_tickets(&self, email: &EmailAddress) -> Result<bool, AppError> {
        let page = self
            .table
            .query(&Query::partition(Some(Index::Gsi3), keys::customer_partition(email)).limit(1))
            .await
            .map_err(AppError::storage("looking up a customer's tickets"))?;
        Ok(!page.items.is_empty())
    }

    /// The stored link and its state, if it can still be used.
    async fn usable_link(&self, token: &str) -> Result<(Item, LinkDoc), SignInError> {
        if !token_shape_ok(token) {
            return Err(SignInError::Invalid);
        }
        let item = self
            .table
            .get(&link_key(token))
            .await
            .map_err(|e| SignInError::Unavailable(AppError::storage("reading a sign-in link")(e)))?
            .ok_or(SignInError::Invalid)?;
        let doc: LinkDoc = from_item(&item).map_err(SignInError::Unavailable)?;
        if doc.used_at.is_some() {
            return Err(SignInError::Used);
        }
        if doc.expires <= self.clock.now().timestamp() {
            return Err(SignInError::Expired);
        }
        Ok((item, doc))
    }

    /// Whether a link can still sign in, without using it (the page before the button).
    pub async fn check_sign_in(&self, token: &str) -> Result<(), SignInError> {
        self.usable_link(token).await.map(|_| ())
    }

    /// Uses up a sign-in link and opens a session of `session_secs` for its address.
    pub async fn consume_sign_in(
        &self,
        token: &str,
        session_secs: i64,
    ) -> Result<SignedIn, SignInError> {
        let (item, mut doc) = self.usable_link(token).await?;
        let now = self.clock.now();
        doc.used_at = Some(now);
        let session_id = random_b64(16);
        let expires = now.timestamp() + session_secs.max(60);
        let session = SessionDoc {
            email: doc.email.clone(),
            expires,
        };
        let ops = vec![
            WriteOp::Put {
                item: Item {
                    version: item.version + 1,
                    doc: keys::to_doc(&doc).map_err(SignInError::Unavailable)?,
                    ..item.clone()
                },
                condition: Condition::VersionIs(item.version),
            },
            WriteOp::Put {
                item: Item::new(
                    session_key(&session_id),
                    1,
                    keys::to_doc(&session).map_err(SignInError::Unavailable)?,
                )
                .expiring_at(expires),
                condition: Condition::NotExists,
            },
        ];
        match self.table.transact(ops).await {
            Ok(()) => Ok(SignedIn {
                email: doc.email,
                session_id,
                expires,
            }),
            // Someone used the link between our read and our write.
            Err(TableError::TransactionCancelled { .. }) => Err(SignInError::Used),
            Err(e) => Err(SignInError::Unavailable(AppError::storage(
                "using a sign-in link",
            )(e))),
        }
    }

    /// Opens a help-centre session for an address whose ownership the caller has already
    /// verified (the e-mailed link is the only such path over HTTP; tests and tools use this).
    pub async fn start_help_session(
        &self,
        email: &EmailAddress,
        session_secs: i64,
    ) -> Result<SignedIn, AppError> {
        let session_id = random_b64(16);
        let expires = self.clock.now().timestamp() + session_secs.max(60);
        let session = SessionDoc {
            email: email.clone(),
            expires,
        };
        let item =
            Item::new(session_key(&session_id), 1, keys::to_doc(&session)?).expiring_at(expires);
        self.table
            .put(item, Condition::NotExists)
            .await
            .map_err(AppError::storage("opening a help-centre session"))?;
        Ok(SignedIn {
            email: email.clone(),
            session_id,
            expires,
        })
    }

    /// Whether a help-centre session is still on (not signed out, not expired) for `email`.
    pub async fn help_session_active(
        &self,
        session_id: &str,
        email: &EmailAddress,
    ) -> Result<bool, AppError> {
        if session_id.is_empty() || session_id.len() > 64 {
            return Ok(false);
        }
        let Some(item) = self
            .table
            .get(&session_key(session_id))
            .await
            .map_err(AppError::storage("reading a help-centre session"))?
        else {
            return Ok(false);
        };
        let doc: SessionDoc = from_item(&item)?;
        Ok(doc.email == *email && doc.expires > self.clock.now().timestamp())
    }

    /// Ends a help-centre session (sign-out). Ending one that is gone is fine.
    pub async fn end_help_session(&self, session_id: &str) -> Result<(), AppError> {
        if session_id.is_empty() || session_id.len() > 64 {
            return Ok(());
        }
        self.table
            .delete(&session_key(session_id), Condition::None)
            .await
            .map_err(AppError::storage("ending a help-centre session"))
    }

    /// A customer reopens their own resolved ticket (the help centre's Reopen button): back to
    /// its owner, or to the queue when nobody owns it, as when they reply.
    pub async fn reopen_as_customer(
        &self,
        actor: &Actor,
        reference: &str,
    ) -> Result<Ticket, AppError> {
        if !matches!(actor, Actor::Customer { .. }) {
            return Err(AppError::Forbidden(
                "only the ticket's customer reopens it here",
            ));
        }
        // The customer sent no version: a ticket that moved meanwhile is read again.
        crate::retry::unless_versioned(false, || async {
            let mut ticket = self.readable_ticket(actor, reference).await?;
            if ticket.status != Status::Resolved {
                return Err(AppError::validation(
                    "status",
                    "only a resolved request can be reopened",
                ));
            }
            let to = if ticket.assignee.is_some() {
                Status::InProgress
            } else {
                Status::New
            };
            let patch = TicketPatch {
                status: Some(to),
                ..Default::default()
            };
            self.apply_patch(actor, &mut ticket, patch, "reopened", None, Vec::new())
                .await?;
            Ok(ticket)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_and_shape_checked() {
        let a = random_b64(TOKEN_BYTES);
        assert_eq!(a.len(), TOKEN_CHARS);
        assert!(token_shape_ok(&a));
        assert_ne!(a, random_b64(TOKEN_BYTES));
        for bad in [
            "",
            "short",
            &format!("{a}x"),
            &a.replace(|_c: char| true, "%"),
        ] {
            assert!(!token_shape_ok(bad), "{bad}");
        }
    }

    #[test]
    fn stored_keys_hold_no_token() {
        let t = random_b64(TOKEN_BYTES);
        let k = link_key(&t);
        assert!(!k.pk.contains(&t));
        assert_eq!(k.pk.len(), "SIGNIN#".len() + 64);
    }
}
