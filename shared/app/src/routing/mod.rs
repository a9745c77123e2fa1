//! The routing pipeline every new ticket goes through, from any channel:
//! enrich → classify → prioritise → detect duplicates → escalate → assign.
//!
//! Runtimes (the local queue table + worker, SQS + `functions/router`) deliver [`RoutingEvent`]s
//! at least once and call [`Helpdesk::route_ticket`]; routing the same ticket twice changes
//! nothing the second time: the ticket records when it was routed (and for how many reopens),
//! and every change routing makes is one transaction conditional on the ticket's version.
//!
//! | item | pk | sk | notes |
//! |---|---|---|---|
//! | routing rules (priority, escalation, settings) | `CFG#routing` | `CFG` | versioned document, admin API |
//! | round-robin cursor of a department | `RR#{department or -}` | `RR` | the last agent picked |
//! | an agent's assignment sequence | `AG#{email}` | `#LOADSEQ` | version bumped by every routed assignment (race guard) |
//! | agent loads | `LOAD#agents` | `{email}#open`, `{email}#weight` | counters kept by every ticket write (stats.rs) |
//! | an organisation's tickets | `ACCT#{account}` | `{created}#{ticket}` | written by a ticket's first routing; duplicates across the organisation |
//! | an escalation's pending SMS page | `T#{id}` | `PAGE#{escalation audit id}` | see `paging.rs` |
//!
//! A routed, up-to-date ticket (a customer replied, or an event came twice) is only
//! re-evaluated: the escalation rules that have not fired on it decide, and nothing is written
//! unless one fires.

mod assign;
mod paging;
pub mod rules;

use crate::keys::{self, from_item};
use crate::ports::{Condition, Index, Item, Query, SortKey, TableError, WriteOp};
use crate::{AppError, Helpdesk};
use helpdesk_domain::routing::{
    decide_escalation, normalise, DuplicateFlag, MinHasher, TicketFacts,
};
use helpdesk_domain::ticket::parse_category;
use helpdesk_domain::{
    ActorRef, Agent, AuditEvent, AuditId, FieldChange, Message, MessageKind, Role, Status, Ticket,
    TicketId,
};
use serde::{Deserialize, Serialize};

pub use assign::{RebalanceMove, RebalancePlan};
pub use rules::{RoutingRules, RoutingSettings};

/// The payload of one routing message (SQS body / local queue row), JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingEvent {
    pub ticket_id: TicketId,
    /// Why it was enqueued: `created`, `reopened`, `resweep`, … (diagnostics only).
    #[serde(default)]
    pub reason: String,
}

/// What routing did to one ticket; recorded in the ticket's audit as well.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RouteOutcome {
    /// True when the ticket had already been routed: nothing was changed.
    pub already_routed: bool,
    /// One human-readable line per step that decided something ("priority: rule P3 fired …").
    pub decisions: Vec<String>,
}

/// How many times a routing that lost a race (the ticket or an agent's assignments changed
/// meanwhile) starts over.
const ROUTE_ATTEMPTS: usize = 6;
/// Recent tickets of the same customer compared for duplicates, at most.
const DUPLICATE_CANDIDATES: usize = 25;
/// Supervisors e-mailed per escalation, at most (one transaction).
const NOTIFY_MAX: usize = 20;

pub(crate) fn routing_actor() -> ActorRef {
    ActorRef {
        kind: "system".into(),
        id: "routing".into(),
    }
}

fn change<T: Serialize>(field: &str, before: &T, after: &T) -> FieldChange {
    FieldChange {
        field: field.to_string(),
        before: serde_json::to_value(before).unwrap_or(serde_json::Value::Null),
        after: serde_json::to_value(after).unwrap_or(serde_json::Value::Null),
    }
}

/// ISO 639-1 for the languages whatlang knows that have one; the 639-3 code otherwise (also a
/// valid language tag).
fn language_tag(lang: whatlang::Lang) -> String {
    use whatlang::Lang::*;
    let two = match lang {
        Eng => "en",
        Deu => "de",
        Fra => "fr",
        Spa => "es",
        Por => "pt",
        Ita => "it",
        Nld => "nl",
        Rus => "ru",
        Jpn => "ja",
        Cmn => "zh",
        Pol => "pl",
        Swe => "sv",
        Tur => "tr",
        Ukr => "uk",
        Ara => "ar",
        Kor => "ko",
        Dan => "da",
        Fin => "fi",
        Nob => "nb",
        Ces => "cs",
        Hun => "hu",
        Ell => "el",
        Heb => "he",
        Hin => "hi",
        Ron => "ro",
        Ind => "id",
        Vie => "vi",
        Tha => "th",
        Cat => "ca",
        Hrv => "hr",
        Bul => "bg",
        Slk => "sk",
        Slv => "sl",
        Lit => "lt",
        Lav => "lv",
        Est => "et",
        Srp => "sr",
        _ => return lang.code().to_string(),
    };
    two.to_string()
}

/// The language of a text, when the detector is sure of it.
pub fn detect_language(text: &str) -> Option<String> {
    let info = whatlang::detect(text)?;
    info.is_reliable().then(|| language_tag(info.lang()))
}

/// Customer messages since the last public reply.
fn unanswered(thread: &[Message]) -> u32 {
    let n = thread
        .iter()
        .rev()
        .take_while(|m| m.kind != MessageKind::PublicReply)
        .filter(|m| m.kind == MessageKind::CustomerMessage)
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Why a ticket is looked at: never routed, reopened since it was routed, or routed and up to
/// date (a customer reply or a redelivered event): then only escalation rules not fired yet are
/// evaluated, and nothing changes unless one fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    First,
    Reopened,
    Recheck,
}

/// What one routing attempt prepared: the ticket as it should be and what goes with it.
struct Plan {
    mode: Mode,
    ticket: Ticket,
    changes: Vec<FieldChange>,
    decisions: Vec<String>,
    ops: Vec<WriteOp>,
    escalated: Vec<String>,
    mail: Vec<String>,
}

enum Attempt {
    Done(RouteOutcome),
    Retry,
}

impl Helpdesk {
    /// Routes one ticket. Idempotent. Unknown ticket → `NotFound` (the runtime drops the event).
    pub async fn route_ticket(&self, id: &TicketId) -> Result<RouteOutcome, AppError> {
        for _ in 0..ROUTE_ATTEMPTS {
            match self.route_attempt(id).await? {
                Attempt::Done(outcome) => return Ok(outcome),
                Attempt::Retry => continue,
            }
        }
        Err(AppError::Conflict {
            detail: "the ticket or its agents kept changing during routing; retry".into(),
            current_version: None,
        })
    }

    async fn route_attempt(&self, id: &TicketId) -> Result<Attempt, AppError> {
        let before = self
            .load_ticket(id)
            .await?
            .ok_or(AppError::NotFound { what: "ticket" })?;
        let done = |why: &str| {
            Ok(Attempt::Done(RouteOutcome {
                already_routed: true,
                decisions: vec![why.to_string()],
            }))
        };
        if before.status == Status::Closed || before.merged_into.is_some() {
            return done("closed: nothing to route");
        }
        let mode = if before.routing.routed_at.is_none() {
            Mode::First
        } else if before.routing.routed_reopens < before.reopen_count {
            Mode::Reopened
        } else {
            Mode::Recheck
        };
        let first = mode == Mode::First;
        let rules = self.routing_rules().await?.0;
        let now = self.clock.now();
        let thread = self.thread_messages(id).await?;
        let body = thread
            .iter()
            .find(|m| m.kind == MessageKind::CustomerMessage)
            .map(|m| m.body_text.clone())
            .unwrap_or_default();
        let mut t = before.clone();
        let mut decisions = Vec::new();
        let mut changes = Vec::new();

        if first {
            // The customer's recent tickets, read once for both duplicate checks.
            let recent = self.recent_with_bodies(&before, &rules.settings).await?;
            // Exact re-sends are merged before anything else is decided about them.
            if let Some(outcome) = self
                .merge_exact_resend(&before, &body, &recent, &rules.settings)
                .await?
            {
                return Ok(Attempt::Done(outcome));
            }
            let e = self.enrich_customer(&mut t).await?;
            decisions.push(e.decision);
            if before.customer != t.customer {
                changes.push(change("customer", &before.customer, &t.customer));
            }
            self.classify_for_routing(&mut t, &body, &rules.settings, &mut decisions)
                .await;
            if let Some(lang) = detect_language(&format!("{}\n{}", t.subject, body)) {
                decisions.push(format!("language: detected {lang}"));
                if t.customer.locale.is_none() {
                    t.customer.locale = Some(lang.clone());
                }
                t.routing.language = Some(lang);
            }
            let facts = facts_of(&t, &body, &thread);
            let d = rules
                .priority
                .decide(&facts, t.routing.priority_set_by_staff);
            decisions.push(format!("priority: {} ({})", d.priority, d.fired.join(", ")));
            t.priority = d.priority;
            t.routing.priority_rules = d.fired;
            if t.department.is_none() {
                if let Some(dept) = self.department_for(&t, &rules.settings).await? {
                    decisions.push(format!("department: {dept}"));
                    t.department = Some(dept);
                }
            }
            // The organisation's other customers' recent tickets too (after enrichment, which
            // knows the account).
            let mut candidates = recent;
            candidates.extend(
                self.organisation_recent(&t, &rules.settings, &candidates)
                    .await?,
            );
            if let Some(dup) = near_duplicate(&t, &body, &candidates, &rules.settings) {
                decisions.push(format!(
                    "duplicate: possibly {} (similarity {:.2})",
                    dup.number, dup.score
                ));
                t.routing.possible_duplicate = Some(dup);
            }
        } else if mode == Mode::Reopened {
            decisions.push(format!(
                "reopened ({} times): routing again",
                t.reopen_count
            ));
        }

        // Escalation: rules not fired before on this ticket, on everything the customer wrote.
        let mut facts = facts_of(&t, &body, &thread);
        facts.text = normalise(&format!("{} {}", t.subject, customer_text(&thread)));
        // Only rules that have not fired on this ticket decide (a rule fires once per ticket:
        // its actions and notices are not repeated by later replies or redeliveries).
        let not_fired: Vec<_> = rules
            .escalation
            .iter()
            .filter(|r| !t.routing.escalation_rules.contains(&r.id))
            .cloned()
            .collect();
        let esc = decide_escalation(&not_fired, &facts);
        let fresh = esc.fired.clone();
        if mode == Mode::Recheck {
            if fresh.is_empty() {
                return done("already routed");
            }
            decisions.push(format!(
                "re-evaluated after routing ({} customer message(s) unanswered, reopened {} times)",
                facts.unanswered_replies, t.reopen_count
            ));
        }
        let mut notify = false;
        if !fresh.is_empty() {
            if let Some(p) = esc.raise_to.filter(|p| *p > t.priority) {
                t.priority = p;
            }
            if let Some(d) = esc.department.filter(|d| Some(d) != t.department.as_ref()) {
                if self.load_department(&d).await?.is_some() {
                    t.department = Some(d);
                    if t.status == Status::Assigned {
                        // Moving queues: the new department's routing picks the agent.
                        t.assignee = None;
                        t.status = Status::New;
                    }
                } else {
                    decisions.push(format!("escalation: department {d} does not exist"));
                }
            }
            t.routing.escalated = true;
            t.routing.escalation_rules.extend(fresh.iter().cloned());
            notify = esc.notify_supervisors;
            decisions.push(format!("escalated: {}", fresh.join(", ")));
        }

        t.routing.routed_at = Some(before.routing.routed_at.unwrap_or(now));
        t.routing.routed_reopens = t.reopen_count;

        // Assignment.
        let mut ops = Vec::new();
        if t.assignee.is_none() && t.status == Status::New {
            match self.pick_agent(&t, &rules.settings).await? {
                assign::Pick::Agent {
                    agent,
                    guard,
                    cursor,
                    relaxed,
                } => {
                    for r in relaxed {
                        decisions.push(format!(
                            "assignment: no agent of the department has {r}; not required"
                        ));
                    }
                    decisions.push(format!("assigned: {} (least loaded)", agent.email));
                    t.assignee = Some(agent.email.clone());
                    t.status = Status::Assigned;
                    ops.push(guard);
                    ops.push(cursor);
                }
                assign::Pick::Nobody(why) => decisions.push(format!("unassigned: {why}")),
            }
        }

        for (field, b, a) in [
            ("category", json(&before.category), json(&t.category)),
            ("priority", json(&before.priority), json(&t.priority)),
            ("department", json(&before.department), json(&t.department)),
            ("assignee", json(&before.assignee), json(&t.assignee)),
            ("status", json(&before.status), json(&t.status)),
        ] {
            if b != a {
                changes.push(FieldChange {
                    field: field.into(),
                    before: b,
                    after: a,
                });
            }
        }
        if before.status != t.status {
            t.updated_at = now;
        }
        let plan = Plan {
            mode,
            changes,
            decisions,
            ops,
            escalated: fresh,
            mail: Vec::new(),
            ticket: t,
        };
        self.commit_route(&before, plan, notify, now).await
    }

    async fn commit_route(
        &self,
        before: &Ticket,
        mut plan: Plan,
        notify: bool,
        now: helpdesk_domain::Timestamp,
    ) -> Result<Attempt, AppError> {
        let t = &mut plan.ticket;
        let mut ops = Vec::new();
        // A re-evaluation that escalates is recorded by its `escalated` event alone (with what
        // changed); routing proper also records a `routed` event.
        if plan.mode != Mode::Recheck {
            let routed = AuditEvent {
                id: AuditId::from_ulid(self.ids.ulid()),
                ticket_id: t.id,
                actor: routing_actor(),
                action: "routed".into(),
                changes: plan.changes.clone(),
                note: Some(plan.decisions.join("\n")),
                at: now,
            };
            ops.push(WriteOp::Put {
                item: keys::audit_item(&routed)?,
                condition: Condition::NotExists,
            });
        }
        if plan.mode == Mode::First {
            ops.push(WriteOp::Add {
                key: crate::stats::daily(&now, "routed"),
                by: 1,
            });
            // The organisation's ticket index (duplicates across its customers).
            if let Some(account) = t.customer.account_id.as_deref().filter(|a| !a.is_empty()) {
                ops.push(WriteOp::Put {
                    item: Item::new(
                        keys::account_ticket_key(account, &t.created_at, &t.id),
                        1,
                        serde_json::json!({ "ticket_id": t.id, "customer": t.customer.email }),
                    ),
                    condition: Condition::None,
                });
            }
        }
        let mut deliver = Vec::new();
        let mut paging = false;
        let mut hand_over = false;
        if !plan.escalated.is_empty() {
            let mut escalation_changes = vec![change(
                "escalation_rules",
                &before.routing.escalation_rules,
                &t.routing.escalation_rules,
            )];
            let mut note = format!("rules: {}", plan.escalated.join(", "));
            if plan.mode == Mode::Recheck {
                escalation_changes.extend(plan.changes.iter().cloned());
                note = format!("{note}\n{}", plan.decisions.join("\n"));
            }
            let escalated = AuditEvent {
                id: AuditId::from_ulid(self.ids.ulid()),
                ticket_id: t.id,
                actor: routing_actor(),
                action: "escalated".into(),
                changes: escalation_changes,
                note: Some(note),
                at: now,
            };
            ops.push(WriteOp::Put {
                item: keys::audit_item(&escalated)?,
                condition: Condition::NotExists,
            });
            ops.push(WriteOp::Add {
                key: crate::stats::daily(&now, "escalated"),
                by: 1,
            });
            if notify {
                let leads = self.supervisors().await?;
                plan.mail = leads.iter().map(|a| a.email.to_string()).collect();
                let recipients = leads
                    .iter()
                    .map(|a| helpdesk_mail::Mailbox {
                        address: a.email.to_string(),
                        name: Some(a.name.clone()),
                    })
                    .collect();
                let text = format!(
                    "Ticket {} was escalated by routing.\n\nSubject: {}\nPriority: {}\nCustomer tier: {}{}\nRules: {}\nAssignee: {}\n",
                    t.number,
                    t.subject,
                    t.priority,
                    t.customer.tier,
                    if t.customer.business_owner { " (business owner)" } else { "" },
                    plan.escalated.join(", "),
                    t.assignee.as_ref().map(|a| a.to_string()).unwrap_or_else(|| "nobody yet".into()),
                );
                if let Some((mail, op)) = self.escalation_mail(t, recipients, text, now)? {
                    ops.push(op);
                    deliver.push(mail.id);
                }
                // And the leads on call are paged by SMS, decided in this transaction; by this
                // process, or by the routing queue's consumer when this one cannot page.
                if let Some(op) = self.escalation_page_op(t, &escalated.id, &plan.escalated)? {
                    ops.push(op);
                    if self.sms.is_some() {
                        paging = true;
                    } else {
                        ops.push(crate::queue::unrouted_marker_op(
                            &t.id,
                            "escalation_page",
                            now,
                        )?);
                        hand_over = true;
                    }
                }
            }
        }
        ops.extend(plan.ops);
        ops.push(self.sla_write(Some(before), t, None, now).await?);
        ops.extend(crate::stats::ticket_deltas(Some(before), t));
        t.version = before.version + 1;
        ops.insert(
            0,
            WriteOp::Put {
                item: keys::ticket_item(t)?,
                condition: Condition::VersionIs(before.version),
            },
        );
        match self.table.transact(ops).await {
            Ok(()) => {}
            // The ticket changed, or an agent got another ticket meanwhile: start over.
            Err(TableError::TransactionCancelled { .. }) => return Ok(Attempt::Retry),
            Err(e) => return Err(AppError::storage("storing a routing decision")(e)),
        }
        for id in deliver {
            self.deliver_after_commit(&t.id, &id).await;
        }
        if !plan.mail.is_empty() {
            plan.decisions
                .push(format!("notified: {}", plan.mail.join(", ")));
        }
        if hand_over {
            self.enqueue_routing(&t.id, "escalation_page").await;
            plan.decisions
                .push("paged by SMS: handed to the routing queue".into());
        }
        if paging {
            // Best effort here; a page left pending fails the routing event's processing
            // (`process_routing_event`), whose retry sends it.
            match self.deliver_escalation_pages(&t.id).await {
                Ok(reports) => {
                    let sent: Vec<String> = reports
                        .iter()
                        .flat_map(|r| r.sent.iter().map(|e| e.to_string()))
                        .collect();
                    plan.decisions.push(format!(
                        "paged by SMS: {}",
                        if sent.is_empty() {
                            "nobody on call".to_string()
                        } else {
                            sent.join(", ")
                        }
                    ));
                }
                Err(e) => {
                    tracing::warn!(error = %e, ticket = %t.number, "escalation page pending; retried with the routing event");
                    plan.decisions
                        .push("paged by SMS: pending (provider unavailable)".into());
                }
            }
        }
        tracing::info!(ticket = %t.number, decisions = ?plan.decisions, "routed");
        Ok(Attempt::Done(RouteOutcome {
            already_routed: false,
            decisions: plan.decisions,
        }))
    }

    async fn classify_for_routing(
        &self,
        t: &mut Ticket,
        body: &str,
        settings: &RoutingSettings,
        decisions: &mut Vec<String>,
    ) {
        if t.category.is_some() {
            t.routing.needs_triage = false;
            return;
        }
        let Some(classifier) = &self.classifier else {
            t.routing.needs_triage = true;
            decisions.push("category: no classifier; needs triage".into());
            return;
        };
        match classifier.classify(&t.subject, body).await {
            Ok(Some(c)) if c.confidence >= settings.triage_threshold => {
                match parse_category(&c.category) {
                    Ok(Some(cat)) => {
                        decisions.push(format!(
                            "category: {cat} ({} at {:.2})",
                            c.model, c.confidence
                        ));
                        t.category = Some(cat);
                        t.routing.needs_triage = false;
                    }
                    _ => {
                        t.routing.needs_triage = true;
                        decisions.push(
                            "category: unusable answer from the classifier; needs triage".into(),
                        );
                    }
                }
            }
            Ok(Some(c)) => {
                t.routing.needs_triage = true;
                decisions.push(format!(
                    "category: {} at {:.2} is below {:.2}; needs triage",
                    c.category, c.confidence, settings.triage_threshold
                ));
            }
            Ok(None) => {
                t.routing.needs_triage = true;
                decisions.push("category: no trained model; needs triage".into());
            }
            Err(e) => {
                tracing::warn!(error = %e, ticket = %t.id, "classifier failed; the ticket needs triage");
                t.routing.needs_triage = true;
                decisions.push("category: classifier unavailable; needs triage".into());
            }
        }
    }

    async fn department_for(
        &self,
        t: &Ticket,
        settings: &RoutingSettings,
    ) -> Result<Option<helpdesk_domain::DepartmentId>, AppError> {
        let by_category = t.category.as_ref().and_then(|c| {
            settings
                .category_departments
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(c))
                .map(|(_, d)| d.clone())
        });
        let Some(d) = by_category.or_else(|| settings.default_department.clone()) else {
            return Ok(None);
        };
        Ok(self.load_department(&d).await?.map(|_| d))
    }

    /// Recent tickets of the same customer (gsi3 `TC#{email}`, newest first, within the longer
    /// of the two duplicate windows, at most 25), each with its first message.
    async fn recent_with_bodies(
        &self,
        t: &Ticket,
        settings: &RoutingSettings,
    ) -> Result<Vec<(Ticket, String)>, AppError> {
        let window = chrono::Duration::hours(i64::from(settings.duplicate_window_hours)).max(
            chrono::Duration::minutes(i64::from(settings.exact_resend_minutes)),
        );
        if window.is_zero() {
            return Ok(Vec::new());
        }
        let from = keys::time_key(&(t.created_at - window));
        let page = self
            .table
            .query(
                &Query::partition(
                    Some(Index::Gsi3),
                    keys::customer_partition(&t.customer.email),
                )
                .sk(SortKey::Ge(from))
                .forward(false)
                .limit(DUPLICATE_CANDIDATES + 1),
            )
            .await
            .map_err(AppError::storage("reading a customer's recent tickets"))?;
        let mut out = Vec::new();
        for item in &page.items {
            let other: Ticket = from_item(item)?;
            if other.id == t.id || other.merged_into.is_some() || other.created_at > t.created_at {
                continue;
            }
            let body = self.first_body(&other.id).await?;
            out.push((other, body));
        }
        Ok(out)
    }

    /// Recent tickets of the other customers of the same organisation (the ticket's
    /// `customer.account_id`): the account's ticket index `ACCT#{account}` (newest first, within
    /// the duplicate window, at most 25; no Scan), minus tickets already in `known`.
    async fn organisation_recent(
        &self,
        t: &Ticket,
        settings: &RoutingSettings,
        known: &[(Ticket, String)],
    ) -> Result<Vec<(Ticket, String)>, AppError> {
        let Some(account) = t.customer.account_id.as_deref().filter(|a| !a.is_empty()) else {
            return Ok(Vec::new());
        };
        if settings.duplicate_window_hours == 0 {
            return Ok(Vec::new());
        }
        let window = chrono::Duration::hours(i64::from(settings.duplicate_window_hours));
        let page = self
            .table
            .query(
                &Query::partition(None, keys::account_partition(account))
                    .sk(SortKey::Ge(keys::time_key(&(t.created_at - window))))
                    .forward(false)
                    .limit(DUPLICATE_CANDIDATES + 1),
            )
            .await
            .map_err(AppError::storage(
                "reading an organisation's recent tickets",
            ))?;
        let mut out = Vec::new();
        for item in &page.items {
            let Some(id) = item
                .doc
                .get("ticket_id")
                .and_then(|v| v.as_str())
                .and_then(|v| TicketId::parse(v).ok())
            else {
                continue;
            };
            if id == t.id || known.iter().any(|(k, _)| k.id == id) {
                continue;
            }
            let Some(other) = self.load_ticket(&id).await? else {
                continue;
            };
            if other.merged_into.is_some() || other.created_at > t.created_at {
                continue;
            }
            let body = self.first_body(&other.id).await?;
            out.push((other, body));
        }
        Ok(out)
    }

    async fn first_body(&self, id: &TicketId) -> Result<String, AppError> {
        let page = self
            .table
            .query(
                &Query::partition(None, keys::ticket_pk(id))
                    .sk(SortKey::BeginsWith("M#".into()))
                    .limit(1),
            )
            .await
            .map_err(AppError::storage("reading a ticket's first message"))?;
        Ok(match page.items.first() {
            Some(item) => from_item::<Message>(item)?.body_text,
            None => String::new(),
        })
    }

    /// An identical body from the same customer within minutes is the same request sent again:
    /// merged into the earlier ticket with the ordinary merge.
    async fn merge_exact_resend(
        &self,
        t: &Ticket,
        body: &str,
        recent: &[(Ticket, String)],
        settings: &RoutingSettings,
    ) -> Result<Option<RouteOutcome>, AppError> {
        let mine = normalise(body);
        if settings.exact_resend_minutes == 0 || mine.is_empty() {
            return Ok(None);
        }
        let window = chrono::Duration::minutes(i64::from(settings.exact_resend_minutes));
        let Some((other, _)) = recent.iter().find(|(o, b)| {
            o.status != Status::Closed
                && t.created_at - o.created_at <= window
                && normalise(b) == mine
        }) else {
            return Ok(None);
        };
        let system = helpdesk_domain::Actor::System {
            job: "routing".into(),
        };
        self.merge(
            &system,
            &t.id.to_string(),
            crate::tickets::Merge {
                into: other.id.to_string(),
                note: Some(format!(
                    "Exact re-send of {} within {} minutes: merged automatically by routing.",
                    other.number, settings.exact_resend_minutes
                )),
            },
        )
        .await?;
        Ok(Some(RouteOutcome {
            already_routed: false,
            decisions: vec![format!(
                "duplicate: exact re-send of {}; merged into it",
                other.number
            )],
        }))
    }

    /// Supervisors and admins (escalation notices), from the agents index.
    async fn supervisors(&self) -> Result<Vec<Agent>, AppError> {
        let mut out = Vec::new();
        for a in self.all_agents().await? {
            if matches!(a.role, Role::Supervisor | Role::Admin) && out.len() < NOTIFY_MAX {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Every agent (gsi1 `AGENTS`, paged; no Scan).
    pub(crate) async fn all_agents(&self) -> Result<Vec<Agent>, AppError> {
        let mut out = Vec::new();
        let mut q = Query::partition(Some(Index::Gsi1), keys::AGENTS_PARTITION).limit(200);
        loop {
            let page = self
                .table
                .query(&q)
                .await
                .map_err(AppError::storage("listing agents"))?;
            for item in &page.items {
                out.push(from_item::<Agent>(item)?);
            }
            match page.cursor {
                Some(c) => q.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }
}

/// The most similar recent ticket of the same customer within the window, when similar enough
/// (MinHash over word shingles of subject and body, LSH bands as the cheap first filter).
fn near_duplicate(
    t: &Ticket,
    body: &str,
    recent: &[(Ticket, String)],
    settings: &RoutingSettings,
) -> Option<DuplicateFlag> {
    if settings.duplicate_window_hours == 0 {
        return None;
    }
    let window = chrono::Duration::hours(i64::from(settings.duplicate_window_hours));
    let hasher = MinHasher::default();
    let mine = hasher.signature(&normalise(&format!("{} {body}", t.subject)));
    let mut best: Option<DuplicateFlag> = None;
    for (other, other_body) in recent {
        if t.created_at - other.created_at > window {
            continue;
        }
        let sig = hasher.signature(&normalise(&format!("{} {other_body}", other.subject)));
        if !hasher.candidates(&mine, &sig) {
            continue;
        }
        let score = hasher.similarity(&mine, &sig);
        if score >= settings.duplicate_threshold && best.as_ref().is_none_or(|b| score > b.score) {
            best = Some(DuplicateFlag {
                ticket_id: other.id,
                number: other.number.to_string(),
                score,
            });
        }
    }
    best
}

fn json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Everything the customer wrote (the newest 20 messages), for escalation keywords: a reply
/// saying "lawyer" escalates as the first message would.
fn customer_text(thread: &[Message]) -> String {
    let mut parts: Vec<&str> = thread
        .iter()
        .rev()
        .filter(|m| m.kind == MessageKind::CustomerMessage)
        .take(20)
        .map(|m| m.body_text.as_str())
        .collect();
    parts.reverse();
    parts.join("\n")
}

fn facts_of(t: &Ticket, body: &str, thread: &[Message]) -> TicketFacts {
    TicketFacts {
        category: t.category.clone(),
        tier: t.customer.tier,
        business_owner: t.customer.business_owner,
        text: normalise(&format!("{} {body}", t.subject)),
        priority: t.priority,
        reopen_count: t.reopen_count,
        unanswered_replies: unanswered(thread),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_languages_it_is_sure_of() {
        assert_eq!(
            detect_language("Ich kann mich seit heute Morgen nicht mehr anmelden, bitte helfen Sie mir schnell.").as_deref(),
            Some("de")
        );
        assert_eq!(
            detect_language(
                "I cannot log in to my account since this morning, please help me quickly."
            )
            .as_deref(),
            Some("en")
        );
        assert_eq!(detect_language(""), None);
    }
}
