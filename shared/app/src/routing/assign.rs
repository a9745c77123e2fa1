//! Assignment: the least-loaded qualified agent with room, round-robin among ties; waiting
//! tickets picked up when an agent becomes available; supervisors' rebalance.
//!
//! Loads are counters kept in the same transaction as every ticket write (`stats.rs`), so they
//! never drift from the tickets. Two routings that pick the same agent at once cannot both
//! commit: each bumps the agent's assignment sequence (`AG#{email}` / `#LOADSEQ`) conditionally
//! on the version it read, so the loser starts over and sees the winner's ticket in the load.

use super::{routing_actor, RoutingSettings};
use crate::keys::{self, from_item};
use crate::ports::{Condition, Index, Item, Key, Query, SortKey, TableError, WriteOp};
use crate::tickets::{Transfer, UpdateTicket};
use crate::{AppError, Helpdesk};
use helpdesk_domain::routing::{
    choose_agent, plan_rebalance, primary_language, HeldTicket, Load, Move, Requirements,
};
use helpdesk_domain::{
    Actor, Agent, AgentStatus, AuditEvent, AuditId, EmailAddress, FieldChange, Status, Ticket,
    TicketId,
};
use serde::Serialize;
use std::collections::BTreeMap;

pub type RebalanceMove = Move;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RebalancePlan {
    pub dry_run: bool,
    pub moves: Vec<RebalanceMove>,
    /// Moves carried out (0 on a dry run).
    pub applied: usize,
    /// Moves that could not be carried out (the ticket changed meanwhile, …), with why.
    pub failed: Vec<String>,
}

// Built once per routing and matched at once; boxing the writes would buy nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Pick {
    Agent {
        agent: Box<Agent>,
        /// The conditional bump of the agent's assignment sequence.
        guard: WriteOp,
        /// The department's round-robin cursor, moved to this agent.
        cursor: WriteOp,
        /// Requirements nobody in the department could meet, dropped.
        relaxed: Vec<String>,
    },
    Nobody(String),
}

fn seq_key(agent: &EmailAddress) -> Key {
    Key::new(format!("AG#{agent}"), "#LOADSEQ")
}

fn cursor_key(t: &Ticket) -> Key {
    Key::new(
        format!(
            "RR#{}",
            t.department.as_ref().map(|d| d.as_str()).unwrap_or("-")
        ),
        "RR",
    )
}

fn requirements(t: &Ticket, settings: &RoutingSettings) -> Requirements {
    Requirements {
        department: t.department.clone(),
        skill: t.category.as_deref().map(|c| settings.skill_for(c)),
        language: t
            .routing
            .language
            .as_deref()
            .or(t.customer.locale.as_deref())
            .map(primary_language)
            .filter(|l| !l.is_empty()),
    }
}

impl Helpdesk {
    /// An agent's directory record, for tools acting as that agent (`helpdesk rebalance`).
    pub async fn agent_record(&self, email: &EmailAddress) -> Result<Option<Agent>, AppError> {
        self.load_agent(email).await
    }

    /// Every agent's load, from one partition of counters.
    pub async fn agent_loads(&self) -> Result<BTreeMap<String, Load>, AppError> {
        let mut out: BTreeMap<String, Load> = BTreeMap::new();
        let mut q = Query::partition(None, crate::stats::LOAD_PARTITION).limit(500);
        loop {
            let page = self
                .table
                .query(&q)
                .await
                .map_err(AppError::storage("reading agent loads"))?;
            for item in &page.items {
                let v = item.counter.unwrap_or(0).max(0);
                if let Some(email) = item.key.sk.strip_suffix("#open") {
                    out.entry(email.to_string()).or_default().open = v;
                } else if let Some(email) = item.key.sk.strip_suffix("#weight") {
                    out.entry(email.to_string()).or_default().weighted = v;
                }
            }
            match page.cursor {
                Some(c) => q.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    pub(crate) async fn pick_agent(
        &self,
        t: &Ticket,
        settings: &RoutingSettings,
    ) -> Result<Pick, AppError> {
        let agents = self.all_agents().await?;
        let mut req = requirements(t, settings);
        let in_dept: Vec<&Agent> = agents.iter().filter(|a| req.in_department(a)).collect();
        if in_dept.is_empty() {
            return Ok(Pick::Nobody(match &t.department {
                Some(d) => format!("no agent works in {d}"),
                None => "no agents".into(),
            }));
        }
        let relaxed = req.relax_for(&in_dept);
        let loads = self.agent_loads().await?;
        let with_loads: Vec<(Agent, Load)> = agents
            .iter()
            .map(|a| {
                (
                    a.clone(),
                    loads.get(a.email.as_str()).copied().unwrap_or_default(),
                )
            })
            .collect();
        let cursor = self
            .table
            .get(&cursor_key(t))
            .await
            .map_err(AppError::storage("reading a round-robin cursor"))?
            .and_then(|i| {
                i.doc
                    .get("last")
                    .and_then(|v| v.as_str())
                    .and_then(|s| EmailAddress::parse(s).ok())
            });
        let Some(agent) = choose_agent(&req, &with_loads, cursor.as_ref()) else {
            return Ok(Pick::Nobody(format!(
                "no qualified agent is available with room; waits in the {} queue",
                t.department
                    .as_ref()
                    .map(|d| d.as_str())
                    .unwrap_or("general")
            )));
        };
        let seq = self
            .table
            .get(&seq_key(&agent.email))
            .await
            .map_err(AppError::storage("reading an agent's assignment sequence"))?
            .map(|i| i.version);
        let guard = WriteOp::Put {
            item: Item::new(
                seq_key(&agent.email),
                seq.unwrap_or(0) + 1,
                serde_json::json!({}),
            ),
            condition: seq.map_or(Condition::NotExists, Condition::VersionIs),
        };
        let cursor = WriteOp::Put {
            item: Item::new(
                cursor_key(t),
                1,
                serde_json::json!({ "last": agent.email.to_string() }),
            ),
            condition: Condition::None,
        };
        Ok(Pick::Agent {
            agent: Box::new(agent.clone()),
            guard,
            cursor,
            relaxed,
        })
    }

    /// Assigns one routed, unassigned ticket if a qualified agent has room. Returns the agent.
    async fn assign_waiting_ticket(&self, id: &TicketId) -> Result<Option<EmailAddress>, AppError> {
        let settings = self.routing_rules().await?.0.settings;
        for _ in 0..super::ROUTE_ATTEMPTS {
            let Some(before) = self.load_ticket(id).await? else {
                return Ok(None);
            };
            if before.assignee.is_some()
                || before.status != Status::New
                || before.routing.routed_at.is_none()
            {
                return Ok(None);
            }
            let Pick::Agent {
                agent,
                guard,
                cursor,
                ..
            } = self.pick_agent(&before, &settings).await?
            else {
                return Ok(None);
            };
            let now = self.clock.now();
            let mut t = before.clone();
            t.assignee = Some(agent.email.clone());
            t.status = Status::Assigned;
            t.updated_at = now;
            t.version = before.version + 1;
            let event = AuditEvent {
                id: AuditId::from_ulid(self.ids.ulid()),
                ticket_id: t.id,
                actor: routing_actor(),
                action: "assigned".into(),
                changes: vec![
                    FieldChange {
                        field: "assignee".into(),
                        before: serde_json::Value::Null,
                        after: serde_json::json!(agent.email.to_string()),
                    },
                    FieldChange {
                        field: "status".into(),
                        before: serde_json::json!(before.status),
                        after: serde_json::json!(t.status),
                    },
                ],
                note: Some(format!(
                    "waiting ticket picked up: {} became available",
                    agent.email
                )),
                at: now,
            };
            let mut ops = vec![
                WriteOp::Put {
                    item: keys::ticket_item(&t)?,
                    condition: Condition::VersionIs(before.version),
                },
                WriteOp::Put {
                    item: keys::audit_item(&event)?,
                    condition: Condition::NotExists,
                },
                guard,
                cursor,
                self.sla_write(Some(&before), &t, None, now).await?,
            ];
            ops.extend(crate::stats::ticket_deltas(Some(&before), &t));
            match self.table.transact(ops).await {
                Ok(()) => return Ok(Some(agent.email)),
                Err(TableError::TransactionCancelled { .. }) => continue,
                Err(e) => return Err(AppError::storage("assigning a waiting ticket")(e)),
            }
        }
        Ok(None)
    }

    /// When `agent` becomes available: the waiting (routed, unassigned) tickets of their
    /// departments, most urgent and oldest first, go to whoever qualified has room — the
    /// newcomer first, having the lowest load. Stops at the first ticket nobody can take.
    pub async fn assign_waiting(&self, agent: &Agent) -> Result<usize, AppError> {
        let mut waiting: Vec<Ticket> = Vec::new();
        let departments: Vec<Option<&helpdesk_domain::DepartmentId>> =
            if agent.departments.is_empty() {
                vec![None]
            } else {
                agent.departments.iter().map(Some).collect()
            };
        for d in departments {
            // gsi4 sorts a department's open tickets by priority, then age.
            let page = self
                .table
                .query(
                    &Query::partition(Some(Index::Gsi4), keys::department_partition(d))
                        .sk(SortKey::BeginsWith("o#".into()))
                        .limit(200),
                )
                .await
                .map_err(AppError::storage("reading a department queue"))?;
            for item in &page.items {
                let t: Ticket = from_item(item)?;
                if t.assignee.is_none() && t.status == Status::New && t.routing.routed_at.is_some()
                {
                    waiting.push(t);
                }
            }
        }
        waiting.sort_by(|a, b| {
            (a.priority.rank(), a.created_at).cmp(&(b.priority.rank(), b.created_at))
        });
        let room = usize::try_from(agent.capacity).unwrap_or(usize::MAX);
        let mut assigned = 0;
        for t in waiting.iter().take(room.saturating_mul(2).max(1)) {
            match self.assign_waiting_ticket(&t.id).await? {
                Some(_) => assigned += 1,
                None => break,
            }
        }
        if assigned > 0 {
            tracing::info!(agent = %agent.email, assigned, "waiting tickets assigned");
        }
        Ok(assigned)
    }

    /// Hook for agent status changes: becoming available picks up waiting work. Never fails
    /// the status change itself.
    pub(crate) async fn on_agent_status(&self, before: AgentStatus, agent: &Agent) {
        if agent.status == AgentStatus::Available && before != AgentStatus::Available {
            if let Err(e) = self.assign_waiting(agent).await {
                tracing::warn!(error = %e, agent = %agent.email, "assigning waiting tickets failed; the next status change or rebalance retries");
            }
        }
    }

    /// Supervisors: moves tickets off offline agents and off agents over capacity. A dry run
    /// only returns the plan; otherwise each move is a transfer (audited, conditional on the
    /// ticket's version) and failures are reported per ticket.
    pub async fn rebalance(&self, actor: &Actor, dry_run: bool) -> Result<RebalancePlan, AppError> {
        if !actor.is_supervisor() {
            return Err(AppError::Forbidden("only supervisors rebalance work"));
        }
        let settings = self.routing_rules().await?.0.settings;
        let agents = self.all_agents().await?;
        let loads = self.agent_loads().await?;
        let with_loads: Vec<(Agent, Load)> = agents
            .iter()
            .map(|a| {
                (
                    a.clone(),
                    loads.get(a.email.as_str()).copied().unwrap_or_default(),
                )
            })
            .collect();
        let mut held = Vec::new();
        let mut tickets: BTreeMap<TicketId, Ticket> = BTreeMap::new();
        for (a, l) in &with_loads {
            if a.status != AgentStatus::Offline && l.open <= i64::from(a.capacity) {
                continue;
            }
            let mut q =
                Query::partition(Some(Index::Gsi2), keys::assignee_partition(Some(&a.email)))
                    .sk(SortKey::BeginsWith("o#".into()))
                    .limit(200);
            loop {
                let page = self
                    .table
                    .query(&q)
                    .await
                    .map_err(AppError::storage("reading an agent's open tickets"))?;
                for item in &page.items {
                    let t: Ticket = from_item(item)?;
                    let mut req = requirements(&t, &settings);
                    let in_dept: Vec<&Agent> =
                        agents.iter().filter(|x| req.in_department(x)).collect();
                    req.relax_for(&in_dept);
                    held.push(HeldTicket {
                        id: t.id,
                        number: t.number.to_string(),
                        priority: t.priority,
                        created_at: t.created_at,
                        assignee: a.email.clone(),
                        requirements: req,
                    });
                    tickets.insert(t.id, t);
                }
                match page.cursor {
                    Some(c) if held.len() < 10_000 => q.cursor = Some(c),
                    _ => break,
                }
            }
        }
        // Work in progress cannot go back to an unassigned queue (the workflow has no such
        // move): it stays with its owner unless someone can take it.
        let moves: Vec<Move> = plan_rebalance(&with_loads, &held)
            .into_iter()
            .filter(|m| {
                m.to.is_some()
                    || tickets
                        .get(&m.ticket_id)
                        .is_some_and(|t| t.status != Status::InProgress)
            })
            .collect();
        let mut plan = RebalancePlan {
            dry_run,
            moves,
            applied: 0,
            failed: Vec::new(),
        };
        if dry_run {
            return Ok(plan);
        }
        for m in &plan.moves {
            let note = Some(format!(
                "Rebalance: {} is {}.",
                m.from,
                if m.reason == "offline" {
                    "offline"
                } else {
                    "over capacity"
                }
            ));
            let result = match &m.to {
                Some(to) => self
                    .transfer(
                        actor,
                        &m.ticket_id.to_string(),
                        Transfer {
                            to_agent: Some(to.clone()),
                            to_department: None,
                            note,
                            version: None,
                        },
                    )
                    .await
                    .map(|_| ()),
                None => self
                    .update_ticket(
                        actor,
                        &m.ticket_id.to_string(),
                        UpdateTicket {
                            assignee: Some(None),
                            ..Default::default()
                        },
                        None,
                    )
                    .await
                    .map(|_| ()),
            };
            match result {
                Ok(()) => plan.applied += 1,
                Err(e) => plan.failed.push(format!("{}: {e}", m.number)),
            }
        }
        tracing::info!(
            applied = plan.applied,
            failed = plan.failed.len(),
            "rebalance"
        );
        Ok(plan)
    }
}
