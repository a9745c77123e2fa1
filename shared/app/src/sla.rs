//! SLA use cases: the policy (admin data), each ticket's clock state kept beside it, and the
//! sweep that raises warnings and breaches exactly once.
//!
//! | item | pk | sk | index |
//! |---|---|---|---|
//! | policy | `CFG#sla_policy` | `CFG` | — |
//! | a ticket's SLA state (events, next due) | `T#{id}` | `SLA` | gsi1 `DUE#{shard}` / `{due}#{id}` while something is due |
//! | one alert (claim) | `T#{id}` | `ALERT#{clock}#{started}#{w75\|breach}` | — |
//!
//! The due index is sparse and sharded, so a sweep reads only what is due: one query per shard.

use crate::keys::{self, from_item, to_doc};
use crate::ports::{Condition, Index, Item, Key, TableError, WriteOp};
use crate::{AppError, Helpdesk};
use async_trait::async_trait;
use helpdesk_domain::sla::{ClockKind, ClockState, SlaClock, SlaEvent, SlaPolicy};
use helpdesk_domain::{
    Actor, EmailAddress, MessageKind, Priority, Ticket, TicketId, TicketNumber, Tier, Timestamp,
};
use serde::{Deserialize, Serialize};

pub(crate) use crate::due::shard_of;
pub use crate::due::SHARDS;

/// The due-index family of SLA clocks (gsi1 `DUE#{shard}`).
const DUE_FAMILY: &str = "DUE";

pub fn policy_key() -> Key {
    Key::new("CFG#sla_policy", "CFG")
}

fn state_key(id: &TicketId) -> Key {
    Key::new(keys::ticket_pk(id), "SLA")
}

/// What the sweeper needs to know of a ticket, kept beside it so a sweep never reads tickets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlaState {
    pub ticket_id: TicketId,
    pub number: TicketNumber,
    pub priority: Priority,
    pub tier: Tier,
    pub business_owner: bool,
    #[serde(default)]
    pub assignee: Option<EmailAddress>,
    pub events: Vec<SlaEvent>,
    #[serde(default)]
    pub next_due: Option<Timestamp>,
}

/// One warning or breach, raised once per clock (cycle) and threshold. Its JSON is what the
/// local outbox stores and what the AWS sweeper publishes to SNS (read back by `sms-alerts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlaAlert {
    pub ticket_id: TicketId,
    pub number: TicketNumber,
    pub clock: ClockKind,
    /// `warning` or `breach`.
    pub level: String,
    /// The warning's percentage of the target; absent for a breach.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<u8>,
    /// When the threshold was (or the target is) reached.
    pub at: chrono::DateTime<chrono::Utc>,
    pub priority: Priority,
    pub business_owner: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<EmailAddress>,
    /// Breaches, urgent tickets and business owners also page the supervisors on call.
    pub page_supervisors: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("alert delivery failed: {0}")]
pub struct DeliveryError(pub String);

/// Where alerts go: the local outbox, or SNS in AWS.
#[async_trait]
pub trait AlertSink: Send + Sync {
    async fn deliver(&self, alert: &SlaAlert) -> Result<(), DeliveryError>;
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct SweepReport {
    pub examined: usize,
    pub alerts: Vec<SlaAlert>,
    /// Storage queries the sweep made (one page per shard when little is due).
    pub queries: usize,
}

/// The SLA events a ticket change produces.
pub fn events_for(
    before: Option<&Ticket>,
    after: &Ticket,
    message: Option<MessageKind>,
    now: Timestamp,
) -> Vec<SlaEvent> {
    let mut out = Vec::new();
    match before {
        None => out.push(SlaEvent::Created {
            at: after.created_at,
            priority: after.priority,
        }),
        Some(b) => {
            if b.priority != after.priority {
                out.push(SlaEvent::PriorityChanged {
                    at: now,
                    to: after.priority,
                });
            }
            if b.status != after.status {
                out.push(SlaEvent::StatusChanged {
                    at: now,
                    to: after.status,
                });
            }
        }
    }
    match message {
        Some(MessageKind::PublicReply) if before.is_some_and(|b| b.first_response_at.is_none()) => {
            out.push(SlaEvent::FirstPublicReply { at: now })
        }
        Some(MessageKind::PublicReply) => out.push(SlaEvent::AgentReplied { at: now }),
        Some(MessageKind::CustomerMessage) if before.is_some() => {
            out.push(SlaEvent::CustomerReplied { at: now })
        }
        _ => {}
    }
    out
}

fn state_item(state: &SlaState, version: u64) -> Result<Item, AppError> {
    let mut item = Item::new(state_key(&state.ticket_id), version, to_doc(state)?);
    if let Some(due) = state.next_due {
        item = item.with_index(
            Index::Gsi1,
            crate::due::partition(DUE_FAMILY, &state.ticket_id),
            crate::due::sort_key(&due, &state.ticket_id.to_string()),
        );
    }
    Ok(item)
}

impl Helpdesk {
    pub(crate) async fn load_sla_policy(&self) -> Result<Option<SlaPolicy>, AppError> {
        self.load_entity(&policy_key(), "reading the SLA policy")
            .await
    }

    /// The write that keeps a ticket's SLA state in step with a change, for the change's own
    /// transaction. Unconditional: the ticket's version condition already orders ticket writes,
    /// and the sweeper (which only moves `next_due`) writes conditionally and yields.
    pub(crate) async fn sla_write(
        &self,
        before: Option<&Ticket>,
        after: &Ticket,
        message: Option<MessageKind>,
        now: Timestamp,
    ) -> Result<WriteOp, AppError> {
        let existing = match before {
            Some(_) => self
                .table
                .get(&state_key(&after.id))
                .await
                .map_err(AppError::storage("reading SLA state"))?,
            None => None,
        };
        let (mut state, version) = match &existing {
            Some(item) => (from_item::<SlaState>(item)?, item.version),
            // Tickets from before SLA tracking start their history at creation.
            None => (
                SlaState {
                    ticket_id: after.id,
                    number: after.number,
                    priority: after.priority,
                    tier: after.customer.tier,
                    business_owner: after.customer.business_owner,
                    assignee: None,
                    events: before
                        .map(|b| {
                            vec![SlaEvent::Created {
                                at: b.created_at,
                                priority: b.priority,
                            }]
                        })
                        .unwrap_or_default(),
                    next_due: None,
                },
                0,
            ),
        };
        state.events.extend(events_for(before, after, message, now));
        state.priority = after.priority;
        state.assignee = after.assignee.clone();
        state.tier = after.customer.tier;
        state.business_owner = after.customer.business_owner;
        state.next_due = match self.load_sla_policy().await? {
            Some(policy) => SlaClock::compute(
                &policy,
                state.tier,
                state.business_owner,
                &state.events,
                now,
            )
            .ok()
            .and_then(|c| c.next_due(now)),
            None => None,
        };
        Ok(WriteOp::Put {
            item: state_item(&state, version + 1)?,
            condition: Condition::None,
        })
    }

    /// The ticket's clocks at `now`, or `None` without a policy.
    pub async fn ticket_sla(
        &self,
        ticket: &Ticket,
        now: Timestamp,
    ) -> Result<Option<SlaClock>, AppError> {
        let Some(policy) = self.load_sla_policy().await? else {
            return Ok(None);
        };
        let state = match self
            .table
            .get(&state_key(&ticket.id))
            .await
            .map_err(AppError::storage("reading SLA state"))?
        {
            Some(item) => from_item::<SlaState>(&item)?.events,
            None => vec![SlaEvent::Created {
                at: ticket.created_at,
                priority: ticket.priority,
            }],
        };
        Ok(SlaClock::for_ticket(&policy, ticket, &state, now).ok())
    }

    pub async fn get_sla_policy(
        &self,
        actor: &Actor,
    ) -> Result<Option<(SlaPolicy, u64)>, AppError> {
        if !actor.is_staff() {
            return Err(AppError::Forbidden("SLA policies are for the support team"));
        }
        let item = self
            .table
            .get(&policy_key())
            .await
            .map_err(AppError::storage("reading the SLA policy"))?;
        item.map(|i| from_item::<SlaPolicy>(&i).map(|p| (p, i.version)))
            .transpose()
    }

    /// Replaces the policy. It applies to each ticket from its next change or sweep.
    pub async fn put_sla_policy(
        &self,
        actor: &Actor,
        policy: SlaPolicy,
        if_match: Option<u64>,
    ) -> Result<(SlaPolicy, u64), AppError> {
        if !actor.can_manage_directory() {
            return Err(AppError::Forbidden("only admins change SLA policies"));
        }
        let current = self
            .table
            .get(&policy_key())
            .await
            .map_err(AppError::storage("reading the SLA policy"))?
            .map(|i| i.version);
        let condition = match (current, if_match) {
            (Some(v), Some(expected)) if v != expected => {
                return Err(AppError::Conflict {
                    detail: format!("the policy is at version {v}, not {expected}"),
                    current_version: Some(v),
                })
            }
            (Some(v), _) => Condition::VersionIs(v),
            (None, _) => Condition::NotExists,
        };
        let version = current.unwrap_or(0) + 1;
        match self
            .table
            .put(
                Item::new(policy_key(), version, to_doc(&policy)?),
                condition,
            )
            .await
        {
            Ok(()) => Ok((policy, version)),
            Err(TableError::ConditionFailed) => Err(AppError::Conflict {
                detail: "the policy changed since it was read".into(),
                current_version: None,
            }),
            Err(e) => Err(AppError::storage("saving the SLA policy")(e)),
        }
    }

    /// One sweep at `now`: every clock due by then raises its warnings and breach once (a
    /// conditional write claims each), whatever sweeps ran before, overlap or were missed.
    pub async fn sweep_sla(
        &self,
        now: Timestamp,
        sink: &dyn AlertSink,
    ) -> Result<SweepReport, AppError> {
        let mut report = SweepReport::default();
        let Some(policy) = self.load_sla_policy().await? else {
            return Ok(report);
        };
        let mut scan = crate::due::DueScan::new(DUE_FAMILY, now, 200);
        while let Some(items) = scan
            .next_page(self.table.as_ref(), "sweeping SLA clocks")
            .await?
        {
            for item in &items {
                report.examined += 1;
                let state: SlaState = from_item(item)?;
                self.sweep_one(&policy, state, item.version, now, sink, &mut report.alerts)
                    .await?;
            }
        }
        report.queries = scan.queries;
        Ok(report)
    }

    async fn sweep_one(
        &self,
        policy: &SlaPolicy,
        mut state: SlaState,
        version: u64,
        now: Timestamp,
        sink: &dyn AlertSink,
        out: &mut Vec<SlaAlert>,
    ) -> Result<(), AppError> {
        let Ok(clock) =
            SlaClock::compute(policy, state.tier, state.business_owner, &state.events, now)
        else {
            return Ok(());
        };
        let mut undelivered = false;
        for c in clock.clocks() {
            let mut due: Vec<(Option<u8>, Timestamp)> = c
                .warnings
                .iter()
                .filter(|w| w.crossed)
                .filter_map(|w| w.at.map(|at| (Some(w.percent), at)))
                .filter(|(_, at)| *at <= now)
                .collect();
            if c.state == ClockState::Breached {
                due.push((None, c.target_at.unwrap_or(now)));
            }
            for (percent, at) in due {
                let what = percent
                    .map(|p| format!("w{p}"))
                    .unwrap_or_else(|| "breach".into());
                let claim = Key::new(
                    keys::ticket_pk(&state.ticket_id),
                    format!("ALERT#{}#{}#{what}", c.kind, keys::time_key(&c.started_at)),
                );
                let alert = SlaAlert {
                    ticket_id: state.ticket_id,
                    number: state.number,
                    clock: c.kind,
                    level: if percent.is_some() {
                        "warning".into()
                    } else {
                        "breach".into()
                    },
                    percent,
                    at,
                    priority: state.priority,
                    business_owner: state.business_owner,
                    assignee: state.assignee.clone(),
                    page_supervisors: percent.is_none()
                        || state.priority == Priority::Urgent
                        || state.business_owner,
                };
                // No TTL: the claim is the ticket's record that the alert went out, and an
                // expiring claim could let a late sweep raise it again.
                let item = Item::new(claim.clone(), 1, to_doc(&alert)?);
                match self.table.put(item, Condition::NotExists).await {
                    Ok(()) => {}
                    Err(TableError::ConditionFailed) => continue, // raised before: once only
                    Err(e) => return Err(AppError::storage("claiming an SLA alert")(e)),
                }
                if let Err(e) = sink.deliver(&alert).await {
                    // Give the claim back so the next sweep tries again; nothing is lost.
                    tracing::warn!(error = %e, ticket = %state.number, "SLA alert not delivered; will retry");
                    let _ = self.table.delete(&claim, Condition::Exists).await;
                    undelivered = true;
                    continue;
                }
                // The e-mail to the assignee (and leads) rides on the same once-only claim.
                self.queue_alert_mail(&alert).await;
                out.push(alert);
            }
        }
        // Re-index on the next thing due; a ticket change in between wins (it recomputed).
        // An undelivered alert keeps the ticket due now, so the next sweep tries again.
        state.next_due = if undelivered {
            Some(now)
        } else {
            clock.next_due(now)
        };
        match self
            .table
            .put(
                state_item(&state, version + 1)?,
                Condition::VersionIs(version),
            )
            .await
        {
            Ok(()) | Err(TableError::ConditionFailed) => Ok(()),
            Err(e) => Err(AppError::storage("re-indexing an SLA clock")(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_in_range() {
        let id = TicketId::parse("tkt_01JDZ6K3Q2W9V8T7S6R5P4N3M2").expect("id");
        assert_eq!(shard_of(&id), shard_of(&id));
        assert!(shard_of(&id) < SHARDS);
    }
}
