//! Delivery of routing events: the queue port, enqueueing after ticket writes, the consumer's
//! use case, the re-enqueue sweep for tickets left unrouted, and the dead-letter list for admins.
//!
//! Delivery is at least once. Every new (or reopened) ticket, and every customer reply on a routed
//! ticket (escalation rules are evaluated again, see `routing`), gets an "unrouted" marker in the
//! same transaction that writes it (`T#{id}/ROUTE`, in the sparse gsi1 `ROUTEQ#{shard}` by next
//! check time). Enqueueing happens after the commit and may fail; the sweep finds markers whose
//! check time has passed and enqueues them again with backoff. Processing an event routes the
//! ticket (idempotent) and then deletes the marker, so a ticket is swept only while unrouted.
//!
//! The queue itself is its own small port, not the `Table`: SQS in AWS and a queue table in the
//! embedded SQLite file locally. A queue needs receive-with-lease, receive counts and a
//! dead-letter queue, which the key-value `Table` port (and DynamoDB) do not model.
//!
//! On AWS the routing queue also carries the help centre's sign-in requests
//! (`{"sign_in": {…}}`, see `helpcentre`), so that the `router` function does that work after
//! the request has been answered; [`parse_queue_message`] tells the two apart.

use crate::helpcentre::{SignInOutcome, SignInRequest};
use crate::keys::{self, from_item, to_doc};
use crate::ports::{Condition, Index, Item, Query, SortKey, TableError, WriteOp};
use crate::routing::{RouteOutcome, RoutingEvent};
use crate::{AppError, Helpdesk};
use async_trait::async_trait;
use helpdesk_domain::{Actor, TicketId, Timestamp};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("no such dead letter")]
    NotFound,
    #[error("not supported by this queue: {0}")]
    Unsupported(&'static str),
}

/// A message that failed too often (or could not be read) and waits for an admin.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    /// The queue's id for it; `POST /api/v1/routing/dead-letters/{id}/requeue` takes it.
    pub id: String,
    /// The raw message body.
    pub body: String,
    /// The ticket it names, when the body is a readable routing event.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub ticket_id: Option<TicketId>,
    /// Deliveries so far.
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enqueued_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The routing queue: SQS (+ DLQ) in AWS, the embedded queue table locally.
#[async_trait]
pub trait RoutingQueue: Send + Sync {
    async fn enqueue(&self, event: &RoutingEvent) -> Result<(), QueueError>;
    /// Up to `limit` dead letters, oldest first.
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError>;
    /// Moves one dead letter back onto the queue with a fresh attempt count.
    async fn requeue_dead_letter(&self, id: &str) -> Result<(), QueueError>;
}

/// Reads a message body; a body that is not a routing event is poison (never retried locally,
/// reported failed on SQS so the redrive policy moves it to the DLQ).
pub fn parse_routing_event(body: &str) -> Result<RoutingEvent, AppError> {
    serde_json::from_str(body)
        .map_err(|e| AppError::validation("body", format!("not a routing event: {e}")))
}

/// One message of the work queues: a routing event, or a help-centre sign-in request.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueMessage {
    Route(RoutingEvent),
    SignIn(SignInRequest),
}

#[derive(Serialize, Deserialize)]
struct SignInEnvelope {
    sign_in: SignInRequest,
}

/// The body of a sign-in request on a queue: `{"sign_in": {"id", "email", "requested_at"}}`.
pub fn sign_in_message_body(request: &SignInRequest) -> Result<String, QueueError> {
    serde_json::to_string(&SignInEnvelope {
        sign_in: request.clone(),
    })
    .map_err(|e| QueueError::Unavailable(Box::new(e)))
}

/// Reads a message body of either kind; anything else is poison (see [`parse_routing_event`]).
pub fn parse_queue_message(body: &str) -> Result<QueueMessage, AppError> {
    let value: serde_json::Value = serde_json::from_str(body)
        .map_err(|e| AppError::validation("body", format!("not a queue message: {e}")))?;
    if value.get("sign_in").is_some() {
        let envelope: SignInEnvelope = serde_json::from_value(value)
            .map_err(|e| AppError::validation("body", format!("not a sign-in request: {e}")))?;
        return Ok(QueueMessage::SignIn(envelope.sign_in));
    }
    serde_json::from_value(value)
        .map(QueueMessage::Route)
        .map_err(|e| AppError::validation("body", format!("not a routing event: {e}")))
}

pub use crate::keys::{route_marker_key, route_partition, ROUTE_SK};

/// How long after creation the sweep first looks at an unrouted ticket (the event is normally
/// routed long before).
pub const FIRST_CHECK_SECS: i64 = 120;
/// The longest wait between two re-enqueues of the same ticket.
pub const MAX_CHECK_SECS: i64 = 3600;

/// The "not routed yet" marker of a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteMarker {
    pub ticket_id: TicketId,
    pub reason: String,
    pub since: Timestamp,
    /// When the sweep next enqueues it again.
    pub next_check: Timestamp,
    /// Enqueues by the sweep so far (drives the backoff).
    #[serde(default)]
    pub resweeps: u32,
}

pub fn route_marker_item(m: &RouteMarker, version: u64) -> Result<Item, AppError> {
    Ok(
        Item::new(route_marker_key(&m.ticket_id), version, to_doc(m)?).with_index(
            Index::Gsi1,
            route_partition(crate::sla::shard_of(&m.ticket_id)),
            format!("{}#{}", keys::time_key(&m.next_check), m.ticket_id),
        ),
    )
}

/// Put for the marker of a ticket written now (inside the ticket's own transaction).
pub(crate) fn unrouted_marker_op(
    id: &TicketId,
    reason: &str,
    now: Timestamp,
) -> Result<WriteOp, AppError> {
    let marker = RouteMarker {
        ticket_id: *id,
        reason: reason.to_string(),
        since: now,
        next_check: now + chrono::Duration::seconds(FIRST_CHECK_SECS),
        resweeps: 0,
    };
    Ok(WriteOp::Put {
        item: route_marker_item(&marker, 1)?,
        condition: Condition::None,
    })
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResweepReport {
    /// Markers due for a check.
    pub examined: usize,
    pub enqueued: usize,
    /// Enqueue failures (the marker stays due; the next sweep tries again).
    pub errors: usize,
    pub queries: usize,
}

/// What processing one delivered message came to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Processed {
    Routed(RouteOutcome),
    /// The ticket does not exist (deleted, or a bogus id): the event is dropped.
    UnknownTicket,
    /// A help-centre sign-in request.
    SignIn(SignInOutcome),
}

impl Helpdesk {
    /// Sends new tickets' routing events to `queue` (SQS, or the embedded queue table).
    pub fn with_routing_queue(mut self, queue: Arc<dyn RoutingQueue>) -> Self {
        self.routing_queue = Some(queue);
        self
    }

    pub fn routing_queue(&self) -> Option<&Arc<dyn RoutingQueue>> {
        self.routing_queue.as_ref()
    }

    /// Enqueues a routing event after the ticket was stored. Never fails the caller: the ticket
    /// is safe and still marked unrouted, so the sweep enqueues it again.
    pub async fn enqueue_routing(&self, id: &TicketId, reason: &str) {
        let Some(queue) = &self.routing_queue else {
            return;
        };
        let event = RoutingEvent {
            ticket_id: *id,
            reason: reason.to_string(),
        };
        if let Err(e) = queue.enqueue(&event).await {
            tracing::error!(error = %e, ticket = %id, reason, "enqueueing a routing event failed; the sweep will retry");
        }
    }

    /// The consumers' use case (local workers and `functions/router`) for any message: a
    /// routing event or a sign-in request. Safe to run twice for the same message.
    pub async fn process_queue_message(
        &self,
        message: &QueueMessage,
    ) -> Result<Processed, AppError> {
        match message {
            QueueMessage::Route(event) => self.process_routing_event(event).await,
            QueueMessage::SignIn(request) => self
                .process_sign_in_request(request)
                .await
                .map(Processed::SignIn),
        }
    }

    /// The consumer's use case (local worker and `functions/router`): routes the ticket, then
    /// clears its unrouted marker. Safe to run twice for the same event.
    pub async fn process_routing_event(&self, event: &RoutingEvent) -> Result<Processed, AppError> {
        if self.load_ticket(&event.ticket_id).await?.is_none() {
            self.clear_route_marker(&event.ticket_id).await?;
            tracing::warn!(ticket = %event.ticket_id, "routing event for an unknown ticket dropped");
            return Ok(Processed::UnknownTicket);
        }
        let outcome = self.route_ticket(&event.ticket_id).await?;
        // Escalation pages a crash or an unavailable SMS provider left pending: sent now, or
        // this fails and the event comes back (claims keep a phone from being paged twice).
        self.deliver_escalation_pages(&event.ticket_id).await?;
        self.clear_route_marker(&event.ticket_id).await?;
        Ok(Processed::Routed(outcome))
    }

    async fn clear_route_marker(&self, id: &TicketId) -> Result<(), AppError> {
        self.table
            .delete(&route_marker_key(id), Condition::None)
            .await
            .map_err(AppError::storage("clearing a ticket's unrouted marker"))
    }

    /// Whether a ticket still waits for routing (its marker exists).
    pub async fn is_unrouted(&self, id: &TicketId) -> Result<bool, AppError> {
        Ok(self
            .table
            .get(&route_marker_key(id))
            .await
            .map_err(AppError::storage("reading a ticket's unrouted marker"))?
            .is_some())
    }

    /// Enqueues again every ticket whose unrouted marker is due at `now`, at most `limit` per
    /// shard, and moves each marker's next check out (doubling, up to an hour). Part of the
    /// minute sweep (`helpdesk sweep`, the serve timer, `functions/sla-sweeper`).
    pub async fn resweep_unrouted(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<ResweepReport, AppError> {
        let mut report = ResweepReport::default();
        let Some(queue) = self.routing_queue.clone() else {
            return Ok(report);
        };
        let upto = format!("{}~", keys::time_key(&now));
        for shard in 0..crate::sla::SHARDS {
            let page = self
                .table
                .query(
                    &Query::partition(Some(Index::Gsi1), route_partition(shard))
                        .sk(SortKey::Le(upto.clone()))
                        .limit(limit),
                )
                .await
                .map_err(AppError::storage("reading unrouted tickets"))?;
            report.queries += 1;
            for item in page.items {
                report.examined += 1;
                let mut marker: RouteMarker = from_item(&item)?;
                let event = RoutingEvent {
                    ticket_id: marker.ticket_id,
                    reason: "resweep".into(),
                };
                if let Err(e) = queue.enqueue(&event).await {
                    report.errors += 1;
                    tracing::error!(error = %e, ticket = %marker.ticket_id, "re-enqueueing an unrouted ticket failed");
                    continue;
                }
                report.enqueued += 1;
                marker.resweeps = marker.resweeps.saturating_add(1);
                let wait = (FIRST_CHECK_SECS << marker.resweeps.min(10)).min(MAX_CHECK_SECS);
                marker.next_check = now + chrono::Duration::seconds(wait);
                // A marker deleted meanwhile (the ticket got routed) must stay deleted.
                match self
                    .table
                    .put(
                        route_marker_item(&marker, item.version + 1)?,
                        Condition::VersionIs(item.version),
                    )
                    .await
                {
                    Ok(()) | Err(TableError::ConditionFailed) => {}
                    Err(e) => return Err(AppError::storage("rescheduling an unrouted ticket")(e)),
                }
            }
        }
        Ok(report)
    }

    /// Admins: routing events that failed too often, oldest first.
    pub async fn routing_dead_letters(
        &self,
        actor: &Actor,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, AppError> {
        crate::directory::require(
            actor.can_manage_directory(),
            "only admins see the routing dead letters",
        )?;
        let queue = self.queue_or_unavailable()?;
        queue
            .dead_letters(limit.clamp(1, 100))
            .await
            .map_err(|e| queue_error("listing dead letters", e))
    }

    /// Admins: puts one dead letter back on the queue.
    pub async fn requeue_dead_letter(&self, actor: &Actor, id: &str) -> Result<(), AppError> {
        crate::directory::require(
            actor.can_manage_directory(),
            "only admins requeue routing dead letters",
        )?;
        let queue = self.queue_or_unavailable()?;
        queue
            .requeue_dead_letter(id)
            .await
            .map_err(|e| queue_error("requeueing a dead letter", e))
    }

    fn queue_or_unavailable(&self) -> Result<&Arc<dyn RoutingQueue>, AppError> {
        self.routing_queue.as_ref().ok_or_else(|| {
            AppError::internal(
                "reading the routing queue",
                QueueError::Unsupported("no routing queue is configured"),
            )
        })
    }
}

fn queue_error(context: &'static str, e: QueueError) -> AppError {
    match e {
        QueueError::NotFound => AppError::NotFound {
            what: "dead letter",
        },
        other => AppError::internal(context, other),
    }
}
