//! Ticket use cases: create, read, update, reply, bulk, transfer, merge.

use crate::keys::{self, from_item};
use crate::ports::{Condition, Query, SortKey, TableError, WriteOp};
use crate::{AppError, Helpdesk};
use helpdesk_domain::message::parse_body;
use helpdesk_domain::people::{parse_locale, parse_name};
use helpdesk_domain::ticket::{parse_category, parse_subject, parse_tags, TicketCustomer};
use helpdesk_domain::{
    Actor, Agent, AuditEvent, AuditId, Channel, Customer, Department, DepartmentId, EmailAddress,
    FieldChange, Message, MessageId, MessageKind, Priority, Status, Ticket, TicketId, TicketNumber,
    TicketPatch, Tier, Timestamp,
};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeSet;

/// Deserialises a field that may be absent (leave alone), `null` (clear) or a value (set).
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Who the ticket is for, as given by staff or the platform.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerRef {
    pub email: EmailAddress,
    #[serde(default)]
    pub name: Option<String>,
    /// The platform's user id (in-app channel); links the ticket to the platform account.
    #[serde(default)]
    pub platform_user_id: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    pub subject: String,
    /// The customer's first message (or the agent's log of a phone call).
    pub body: String,
    /// Staff may log any channel; customers get `web`, the platform `in_app`.
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default)]
    pub category: Option<String>,
    /// Required for staff and platform; customers create tickets for themselves.
    #[serde(default)]
    pub customer: Option<CustomerRef>,
    #[serde(default)]
    pub department: Option<DepartmentId>,
    #[serde(default)]
    pub assignee: Option<EmailAddress>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A change to a ticket. Absent fields stay; `null` clears the optional ones.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTicket {
    #[serde(default)]
    pub status: Option<Status>,
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub category: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub assignee: Option<Option<EmailAddress>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub department: Option<Option<DepartmentId>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// The version the change is based on (or send `If-Match`). A stale one is a 409.
    #[serde(default)]
    pub version: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// `public_reply` or `internal_note` for staff; customers and the platform post
    /// `customer_message` (the default for them).
    #[serde(default)]
    pub kind: Option<MessageKind>,
    /// The text. Leave it out (or empty) when replying with a `template`.
    #[serde(default)]
    pub body: String,
    /// Staff: the name of a response template to reply with, rendered for this ticket in the
    /// customer's locale (falling back to `en`) instead of `body`.
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub version: Option<u64>,
    /// Files to attach (e-mailed with a public reply).
    #[serde(default)]
    pub attachments: Vec<crate::attachments::NewAttachment>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketView {
    pub ticket: Ticket,
    pub messages: Vec<Message>,
    /// Empty for customers: history is internal.
    pub audit: Vec<AuditEvent>,
    /// The SLA clocks now (staff only; absent without an SLA policy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla: Option<helpdesk_domain::sla::SlaClock>,
    /// Mail to the customer's address has bounced (staff only). Replies are still sent.
    pub customer_bouncing: bool,
    /// Every e-mail sent (or being sent) for this ticket, acknowledgements included, with its
    /// delivery state (staff only). Replies also carry theirs as `delivery`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outbound_mail: Vec<crate::outbound::OutboundSummary>,
    /// The customer's survey answers, one per resolution (staff only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub csat: Vec<crate::automations::CsatResponse>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    #[serde(default)]
    pub to_agent: Option<EmailAddress>,
    #[serde(default)]
    pub to_department: Option<DepartmentId>,
    /// Why it moves; stored as an internal note the receiver sees.
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub version: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Merge {
    /// The ticket that survives (id or number).
    pub into: String,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    /// Needs `assignee` (an agent's e-mail, or null to unassign).
    Assign,
    /// Needs `status`.
    SetStatus,
    /// Needs `priority`.
    SetPriority,
    Close,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// Ticket ids or numbers, at most 100, no repeats.
    pub ticket_ids: Vec<String>,
    pub action: BulkAction,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub assignee: Option<Option<EmailAddress>>,
    #[serde(default)]
    pub status: Option<Status>,
    #[serde(default)]
    pub priority: Option<Priority>,
}

impl BulkRequest {
    fn update(&self) -> Result<UpdateTicket, AppError> {
        let missing = |field: &str| {
            AppError::validation(
                field.to_string(),
                format!("is required for action {:?}", self.action),
            )
        };
        Ok(match self.action {
            BulkAction::Assign => UpdateTicket {
                assignee: Some(self.assignee.clone().ok_or_else(|| missing("assignee"))?),
                ..Default::default()
            },
            BulkAction::SetStatus => UpdateTicket {
                status: Some(self.status.ok_or_else(|| missing("status"))?),
                ..Default::default()
            },
            BulkAction::SetPriority => UpdateTicket {
                priority: Some(self.priority.ok_or_else(|| missing("priority"))?),
                ..Default::default()
            },
            BulkAction::Close => UpdateTicket {
                status: Some(Status::Closed),
                ..Default::default()
            },
        })
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BulkOutcome {
    pub ticket_id: String,
    pub ok: bool,
    /// HTTP-like status of this item: 200, 404, 409, 422…
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<Ticket>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BulkResult {
    pub succeeded: usize,
    pub failed: usize,
    pub results: Vec<BulkOutcome>,
}

pub const BULK_MAX: usize = 100;

/// Extra facts about a message from a channel adapter (inbound e-mail), and writes that must
/// commit with it (the Message-ID index item that makes redelivery a no-op).
#[derive(Debug, Clone, Default)]
pub struct MessageMeta {
    pub author: Option<helpdesk_domain::ActorRef>,
    pub author_name: Option<String>,
    /// Sanitised HTML only.
    pub body_html: Option<String>,
    pub email_message_id: Option<String>,
    pub thread_reason: Option<String>,
    pub extra: Vec<WriteOp>,
    /// A new ticket's id chosen in advance, so `extra` can point at it.
    pub ticket_id: Option<TicketId>,
    /// Send the customer the automatic acknowledgement (new tickets from e-mail written by a
    /// person), rate-limited per sender.
    pub acknowledge: bool,
    /// Already stored in the blob store.
    pub attachments: Vec<helpdesk_domain::AttachmentMeta>,
    /// People copied on the e-mail; added to the ticket's participants.
    pub participants: Vec<EmailAddress>,
    /// The customer's Reply-To on this e-mail; with `email_message_id` set it replaces the
    /// ticket's (their latest e-mail decides where answers go).
    pub reply_to: Option<EmailAddress>,
}

impl Helpdesk {
    pub(crate) fn audit(
        &self,
        ticket: TicketId,
        actor: &Actor,
        action: &str,
        changes: Vec<FieldChange>,
        note: Option<String>,
        now: Timestamp,
    ) -> AuditEvent {
        AuditEvent {
            id: AuditId::from_ulid(self.ids.ulid()),
            ticket_id: ticket,
            actor: actor.reference(),
            action: action.to_string(),
            changes,
            note,
            at: now,
        }
    }

    /// Finds a ticket by id (`tkt_…`) or number (`HD-1042`).
    pub async fn resolve_ticket_ref(&self, reference: &str) -> Result<Option<Ticket>, AppError> {
        if let Ok(id) = TicketId::parse(reference) {
            return self.load_ticket(&id).await;
        }
        if let Ok(number) = TicketNumber::parse(reference) {
            let Some(item) = self
                .table
                .get(&keys::number_key(&number))
                .await
                .map_err(AppError::storage("looking up a ticket number"))?
            else {
                return Ok(None);
            };
            let id: TicketId = keys::pointer_target(&item).ok_or_else(|| {
                AppError::internal(
                    "reading a number item",
                    std::io::Error::other("no ticket_id"),
                )
            })?;
            return self.load_ticket(&id).await;
        }
        Err(AppError::validation(
            "ticket",
            "must be a ticket id (tkt_…) or number (HD-1042)",
        ))
    }

    pub(crate) async fn load_ticket(&self, id: &TicketId) -> Result<Option<Ticket>, AppError> {
        self.load_entity(&keys::ticket_key(id), "reading a ticket")
            .await
    }

    /// Reads one stored entity by key.
    pub(crate) async fn load_entity<T: serde::de::DeserializeOwned>(
        &self,
        key: &crate::ports::Key,
        context: &'static str,
    ) -> Result<Option<T>, AppError> {
        let item = self
            .table
            .get(key)
            .await
            .map_err(AppError::storage(context))?;
        item.as_ref().map(from_item).transpose()
    }

    /// Loads a ticket the actor may read; another customer's ticket is "not found", so ids
    /// cannot be probed.
    pub(crate) async fn readable_ticket(
        &self,
        actor: &Actor,
        reference: &str,
    ) -> Result<Ticket, AppError> {
        match self.resolve_ticket_ref(reference).await? {
            Some(t) if actor.can_read_ticket(&t) => Ok(t),
            _ => Err(AppError::NotFound { what: "ticket" }),
        }
    }

    pub(crate) async fn workable_ticket(
        &self,
        actor: &Actor,
        reference: &str,
    ) -> Result<Ticket, AppError> {
        if !actor.can_work_tickets() {
            return Err(AppError::Forbidden("only the support team changes tickets"));
        }
        self.readable_ticket(actor, reference).await
    }

    pub(crate) async fn load_agent(&self, email: &EmailAddress) -> Result<Option<Agent>, AppError> {
        self.load_entity(&keys::agent_key(email), "reading an agent")
            .await
    }

    pub(crate) async fn load_department(
        &self,
        id: &DepartmentId,
    ) -> Result<Option<Department>, AppError> {
        self.load_entity(&keys::department_key(id), "reading a department")
            .await
    }

    pub(crate) async fn load_customer(
        &self,
        email: &EmailAddress,
    ) -> Result<Option<Customer>, AppError> {
        self.load_entity(&keys::customer_key(email), "reading a customer")
            .await
    }

    /// Checks that a referenced agent and department exist; returns guard operations that make
    /// the final transaction fail if one is deleted in between.
    async fn references_exist(
        &self,
        assignee: Option<&EmailAddress>,
        department: Option<&DepartmentId>,
    ) -> Result<Vec<(WriteOp, &'static str)>, AppError> {
        let mut guards = Vec::new();
        if let Some(a) = assignee {
            if self.load_agent(a).await?.is_none() {
                return Err(AppError::validation("assignee", format!("no agent {a}")));
            }
            guards.push((
                WriteOp::Check {
                    key: keys::agent_key(a),
                    condition: Condition::Exists,
                },
                "assignee",
            ));
        }
        if let Some(d) = department {
            if self.load_department(d).await?.is_none() {
                return Err(AppError::validation(
                    "department",
                    format!("no department {d}"),
                ));
            }
            guards.push((
                WriteOp::Check {
                    key: keys::department_key(d),
                    condition: Condition::Exists,
                },
                "department",
            ));
        }
        Ok(guards)
    }

    pub async fn create_ticket(
        &self,
        actor: &Actor,
        input: NewTicket,
        idempotency_key: Option<&str>,
    ) -> Result<(Ticket, bool), AppError> {
        self.create_ticket_with(actor, input, idempotency_key, MessageMeta::default())
            .await
    }

    /// `create_ticket` for channel adapters: the first message carries `meta`, and
    /// `meta.extra` commits in the same transaction (a failed condition there is a conflict).
    pub async fn create_ticket_with(
        &self,
        actor: &Actor,
        input: NewTicket,
        idempotency_key: Option<&str>,
        meta: MessageMeta,
    ) -> Result<(Ticket, bool), AppError> {
        let subject = parse_subject(&input.subject).map_err(AppError::from)?;
        let body = parse_body(&input.body).map_err(AppError::from)?;
        let (channel, customer_ref, staff_fields) = match actor {
            Actor::Customer { email } => {
                if input.customer.as_ref().is_some_and(|c| c.email != *email) {
                    return Err(AppError::validation(
                        "customer.email",
                        "customers open tickets for themselves only",
                    ));
                }
                (
                    Channel::Web,
                    CustomerRef {
                        email: email.clone(),
                        name: input.customer.as_ref().and_then(|c| c.name.clone()),
                        platform_user_id: None,
                        locale: input.customer.as_ref().and_then(|c| c.locale.clone()),
                    },
                    false,
                )
            }
            Actor::Platform { on_behalf_of, .. } => {
                let c = input
                    .customer
                    .clone()
                    .ok_or_else(|| AppError::validation("customer", "is required"))?;
                if on_behalf_of.as_ref().is_some_and(|o| *o != c.email) {
                    return Err(AppError::validation(
                        "customer.email",
                        "must be the customer named in On-Behalf-Of",
                    ));
                }
                if c.platform_user_id
                    .as_deref()
                    .map(str::trim)
                    .unwrap_or("")
                    .is_empty()
                {
                    return Err(AppError::validation(
                        "customer.platform_user_id",
                        "is required for in-app tickets",
                    ));
                }
                (Channel::InApp, c, false)
            }
            Actor::Staff { .. } | Actor::System { .. } => {
                let c = input
                    .customer
                    .clone()
                    .ok_or_else(|| AppError::validation("customer", "is required"))?;
                (input.channel.unwrap_or(Channel::Phone), c, true)
            }
        };
        if !staff_fields
            && (input.assignee.is_some()
                || input.department.is_some()
                || !input.tags.is_empty()
                || input.priority.is_some())
        {
            return Err(AppError::Forbidden(
                "only the support team sets priority, assignee, department or tags",
            ));
        }
        if let Some(puid) = &customer_ref.platform_user_id {
            if puid.trim().is_empty() || puid.len() > 128 || puid.chars().any(char::is_control) {
                return Err(AppError::validation(
                    "customer.platform_user_id",
                    "must be 1-128 printable characters",
                ));
            }
        }
        let name = customer_ref
            .name
            .as_deref()
            .map(|n| parse_name("customer.name", n))
            .transpose()
            .map_err(AppError::from)?;
        let locale = customer_ref
            .locale
            .as_deref()
            .map(parse_locale)
            .transpose()
            .map_err(|_| {
                AppError::validation(
                    "customer.locale",
                    "must be a language tag such as en or pt-BR",
                )
            })?;
        let category = match &input.category {
            Some(c) => parse_category(c).map_err(AppError::from)?,
            None => None,
        };
        let tags = parse_tags(input.tags.iter().map(String::as_str)).map_err(AppError::from)?;
        let guards = self
            .references_exist(input.assignee.as_ref(), input.department.as_ref())
            .await?;
        let idem = idempotency_key
            .map(|k| {
                let k = k.trim();
                if k.is_empty() || k.len() > 200 || !k.chars().all(|c| c.is_ascii_graphic()) {
                    Err(AppError::validation(
                        "Idempotency-Key",
                        "must be 1-200 visible ASCII characters",
                    ))
                } else {
                    Ok(keys::idempotency_key(&actor.reference().id, k))
                }
            })
            .transpose()?;
        if let Some(key) = &idem {
            if let Some(existing) = self.idempotent_replay(key).await? {
                return Ok((existing, false));
            }
        }

        let now = self.clock.now();
        let customer = self
            .ensure_customer(&customer_ref, name, locale, now)
            .await?;
        let number = self
            .table
            .add(&keys::ticket_number_counter(), 1)
            .await
            .map_err(AppError::storage("allocating a ticket number"))?;
        let number = TicketNumber::new(u64::try_from(number).unwrap_or(0))
            .map_err(|e| AppError::internal("allocating a ticket number", e))?;
        let id = meta
            .ticket_id
            .unwrap_or_else(|| TicketId::from_ulid(self.ids.ulid()));
        let ticket = Ticket {
            id,
            number,
            subject,
            channel,
            category,
            priority: input.priority.unwrap_or(Priority::Medium),
            status: if input.assignee.is_some() {
                Status::Assigned
            } else {
                Status::New
            },
            assignee: input.assignee.clone(),
            department: input.department.clone(),
            tags,
            customer: TicketCustomer {
                email: customer.email.clone(),
                name: customer.name.clone(),
                tier: customer.tier,
                business_owner: customer.business_owner,
                platform_user_id: customer.platform_user_id.clone(),
                plan: customer.plan.clone(),
                locale: Some(customer.locale.clone()),
                account_id: customer.account_id.clone(),
            },
            created_at: now,
            updated_at: now,
            first_response_at: None,
            resolved_at: None,
            closed_at: None,
            merged_into: None,
            merged_from: Vec::new(),
            participants: meta
                .participants
                .iter()
                .take(helpdesk_domain::ticket::PARTICIPANTS_MAX)
                .cloned()
                .collect(),
            reply_to: meta.reply_to.clone(),
            reopen_count: 0,
            message_count: 1,
            routing: helpdesk_domain::routing::TicketRouting {
                priority_set_by_staff: input.priority.is_some(),
                ..Default::default()
            },
            version: 1,
        };
        // The first message is always the customer's words, even when an agent logs a call.
        let kind = MessageKind::CustomerMessage;
        let message = Message {
            id: MessageId::from_ulid(self.ids.ulid()),
            ticket_id: id,
            kind,
            author: meta.author.clone().unwrap_or_else(|| actor.reference()),
            author_name: meta.author_name.clone().or_else(|| customer.name.clone()),
            channel,
            body_text: body,
            body_html: meta.body_html.clone(),
            attachments: meta.attachments.clone(),
            merged_from: None,
            email_message_id: meta.email_message_id.clone(),
            thread_reason: meta.thread_reason.clone(),
            created_at: now,
            delivery: None,
        };
        let created = self.audit(id, actor, "created", Vec::new(), None, now);
        let mut ops = vec![
            WriteOp::Put {
                item: keys::ticket_item(&ticket)?,
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                item: keys::pointer_item(keys::number_key(&number), &id),
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                item: keys::message_item(&id, &message)?,
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                item: keys::audit_item(&created)?,
                condition: Condition::NotExists,
            },
        ];
        ops.extend(crate::stats::ticket_deltas(None, &ticket));
        ops.push(self.sla_write(None, &ticket, None, now).await?);
        // Marked unrouted with the ticket, so the sweep finds it if the enqueue below fails.
        ops.push(crate::queue::unrouted_marker_op(&id, "created", now)?);
        let extra_from = ops.len();
        ops.extend(meta.extra);
        let extra_to = ops.len();
        // The acknowledgement is queued with the ticket, so it is sent if and only if the
        // ticket exists.
        let ack = if meta.acknowledge {
            self.prepare_ack(&ticket, &customer, message.email_message_id.as_deref(), now)
                .await?
        } else {
            None
        };
        if let Some(a) = &ack {
            ops.extend(a.ops.iter().cloned());
        }
        let idem_position = idem.as_ref().map(|key| {
            ops.push(WriteOp::Put {
                item: keys::pointer_item(key.clone(), &id).expiring_at(now.timestamp() + 24 * 3600),
                condition: Condition::NotExists,
            });
            ops.len() - 1
        });
        let guard_fields = self.push_guards(&mut ops, guards);
        let result = self.table.transact(ops).await;
        if let Some(a) = &ack {
            match result {
                Ok(()) => {
                    self.deliver_after_commit(&id, &a.mail.id).await;
                }
                Err(_) => self.release_ack(a).await,
            }
        }
        match result {
            Ok(()) => {
                self.enqueue_routing(&id, "created").await;
                Ok((ticket, true))
            }
            Err(TableError::TransactionCancelled { failed }) => {
                if failed.iter().any(|p| (extra_from..extra_to).contains(p)) {
                    return Err(AppError::Conflict {
                        detail: "already recorded (duplicate delivery)".into(),
                        current_version: None,
                    });
                }
                if let (Some(pos), Some(key)) = (idem_position, &idem) {
                    if failed.contains(&pos) {
                        if let Some(existing) = self.idempotent_replay(key).await? {
                            return Ok((existing, false));
                        }
                    }
                }
                Err(guard_error(&failed, &guard_fields).unwrap_or_else(|| {
                    AppError::internal(
                        "creating a ticket",
                        TableError::TransactionCancelled { failed },
                    )
                }))
            }
            Err(e) => Err(AppError::storage("creating a ticket")(e)),
        }
    }

    fn push_guards(
        &self,
        ops: &mut Vec<WriteOp>,
        guards: Vec<(WriteOp, &'static str)>,
    ) -> Vec<(usize, &'static str)> {
        guards
            .into_iter()
            .map(|(op, field)| {
                ops.push(op);
                (ops.len() - 1, field)
            })
            .collect()
    }

    async fn idempotent_replay(&self, key: &crate::ports::Key) -> Result<Option<Ticket>, AppError> {
        let Some(item) = self
            .table
            .get(key)
            .await
            .map_err(AppError::storage("reading an idempotency key"))?
        else {
            return Ok(None);
        };
        match keys::pointer_target(&item) {
            Some(id) => self.load_ticket(&id).await,
            None => Ok(None),
        }
    }

    /// Returns the customer's profile, creating it on first contact. Never overwrites a profile:
    /// the directory (and later the platform) is the source of truth for tier and flags.
    async fn ensure_customer(
        &self,
        r: &CustomerRef,
        name: Option<String>,
        locale: Option<String>,
        now: Timestamp,
    ) -> Result<Customer, AppError> {
        if let Some(existing) = self.load_customer(&r.email).await? {
            return Ok(existing);
        }
        let customer = Customer {
            email: r.email.clone(),
            name,
            locale: locale.unwrap_or_else(helpdesk_domain::people::default_locale),
            tier: Tier::Free,
            business_owner: false,
            platform_user_id: r.platform_user_id.as_ref().map(|p| p.trim().to_string()),
            plan: None,
            account_id: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        match self
            .table
            .put(keys::customer_item(&customer)?, Condition::NotExists)
            .await
        {
            Ok(()) => Ok(customer),
            // Created concurrently by another request: use that one.
            Err(TableError::ConditionFailed) => self
                .load_customer(&r.email)
                .await?
                .ok_or(AppError::NotFound { what: "customer" }),
            Err(e) => Err(AppError::storage("creating a customer")(e)),
        }
    }

    /// The ticket with its thread and history, as the actor may see it.
    pub async fn get_ticket(&self, actor: &Actor, reference: &str) -> Result<TicketView, AppError> {
        let ticket = self.readable_ticket(actor, reference).await?;
        let mut messages = Vec::new();
        let mut audit = Vec::new();
        let mut outbound: Vec<crate::outbound::OutboundMail> = Vec::new();
        let mut csat = Vec::new();
        let mut cursor = None;
        // One partition holds the ticket, its messages, its audit and its outbound mail: read
        // it in pages.
        loop {
            let page = self
                .table
                .query(
                    &Query::partition(None, keys::ticket_pk(&ticket.id))
                        .sk(SortKey::Ge("A#".into()))
                        .limit(500)
                        .cursor(cursor),
                )
                .await
                .map_err(AppError::storage("reading a ticket's thread"))?;
            for item in &page.items {
                if item.key.sk.starts_with("M#") {
                    let m: Message = from_item(item)?;
                    if m.kind.is_public() || actor.sees_internal() {
                        messages.push(m);
                    }
                } else if item.key.sk.starts_with("A#") && actor.sees_internal() {
                    audit.push(from_item(item)?);
                } else if item.key.sk.starts_with("OUT#") && actor.sees_internal() {
                    outbound.push(from_item(item)?);
                } else if item.key.sk.starts_with("CSAT#") && actor.sees_internal() {
                    csat.push(from_item(item)?);
                }
            }
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        messages.sort_by_key(|m: &Message| (m.created_at, m.id));
        outbound.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        for m in &mut messages {
            m.delivery = outbound
                .iter()
                .find(|o| o.message_id == Some(m.id))
                .map(|o| o.delivery());
        }
        let (sla, customer_bouncing) = if actor.sees_internal() {
            (
                self.ticket_sla(&ticket, self.clock.now()).await?,
                self.is_bouncing(&ticket.customer.email).await?,
            )
        } else {
            (None, false)
        };
        Ok(TicketView {
            ticket,
            messages,
            audit,
            sla,
            customer_bouncing,
            outbound_mail: outbound.iter().map(|o| o.summary()).collect(),
            csat,
        })
    }

    /// Stores a changed ticket plus extra items in one transaction, conditional on the version
    /// it was read at. A lost race is a conflict, never an overwrite.
    async fn commit(
        &self,
        before: &Ticket,
        ticket: &mut Ticket,
        mut extra: Vec<WriteOp>,
        guards: Vec<(WriteOp, &'static str)>,
        message: Option<MessageKind>,
    ) -> Result<(), AppError> {
        let read_version = before.version;
        extra.push(
            self.sla_write(Some(before), ticket, message, self.clock.now())
                .await?,
        );
        ticket.version = read_version + 1;
        let mut ops = vec![WriteOp::Put {
            item: keys::ticket_item(ticket)?,
            condition: Condition::VersionIs(read_version),
        }];
        ops.append(&mut extra);
        ops.extend(crate::stats::ticket_deltas(Some(before), ticket));
        // Automations a status change starts (survey, follow-up and auto-close jobs, a
        // status-update mail) commit with it, so they exist if and only if the change does.
        let automated = self
            .automation_writes(before, ticket, "", self.clock.now())
            .await?;
        ops.extend(automated.ops);
        // A reopened ticket goes through routing again (marker + event, as on creation). So
        // does a customer's reply to a routed ticket: escalation rules ("replied N times without
        // an answer", keywords) are evaluated again. Through the queue rather than inline: the
        // reply is stored whatever happens to routing (paging, directory), the evaluation gets
        // the queue's retries and dead letters, and an event processed twice is harmless because
        // each rule fires once per ticket (recorded on it, conditional on its version).
        let reopened = ticket.reopen_count > before.reopen_count;
        let replied = message == Some(MessageKind::CustomerMessage)
            && before.routing.routed_at.is_some()
            && ticket.status != Status::Closed;
        let route_reason = if reopened {
            Some("reopened")
        } else if replied {
            Some("customer_replied")
        } else {
            None
        };
        if let Some(reason) = route_reason {
            ops.push(crate::queue::unrouted_marker_op(
                &ticket.id,
                reason,
                self.clock.now(),
            )?);
        }
        // A resolution (leaving the open statuses) counts the ticket's linked KB articles: the
        // marker commits with it, the counting follows (see `kb` "linked from a resolved ticket").
        let resolved = before.status.is_open() && !ticket.status.is_open();
        if resolved {
            ops.push(WriteOp::Put {
                item: crate::ports::Item::new(
                    crate::ports::Key::new(keys::KB_RESOLVED_PARTITION, ticket.id.to_string()),
                    1,
                    serde_json::json!({ "at": keys::time_key(&self.clock.now()) }),
                ),
                condition: Condition::None,
            });
        }
        let guard_fields = self.push_guards(&mut ops, guards);
        match self.table.transact(ops).await {
            Ok(()) => {
                for id in &automated.mail {
                    self.deliver_after_commit(&ticket.id, id).await;
                }
                if resolved {
                    if let Err(e) = self.count_resolution_links(&ticket.id).await {
                        tracing::warn!(ticket = %ticket.id, error = %e, "counting KB links of a resolution failed; the sweep retries");
                    }
                }
                if let Some(reason) = route_reason {
                    self.enqueue_routing(&ticket.id, reason).await;
                }
                Ok(())
            }
            Err(TableError::TransactionCancelled { failed }) => {
                if let Some(e) = guard_error(&failed, &guard_fields) {
                    return Err(e);
                }
                // Position 0 is the ticket's own version check; an empty list is an engine
                // that cannot say (a concurrent transaction): both mean "the ticket moved",
                // which a caller without a version retries. Anything else is one of the extra
                // items' conditions (e.g. a Message-ID already recorded): not a stale read,
                // and retrying would fail the same way.
                if failed.is_empty() || failed.contains(&0) {
                    let current = self.load_ticket(&ticket.id).await?.map(|t| t.version);
                    return Err(AppError::Conflict {
                        detail: "the ticket changed since it was read; reload and try again".into(),
                        current_version: current,
                    });
                }
                Err(AppError::Conflict {
                    detail: "already recorded".into(),
                    current_version: None,
                })
            }
            Err(e) => Err(AppError::storage("saving a ticket")(e)),
        }
    }

    pub async fn update_ticket(
        &self,
        actor: &Actor,
        reference: &str,
        input: UpdateTicket,
        if_match: Option<u64>,
    ) -> Result<Ticket, AppError> {
        let expected = if_match.or(input.version);
        let patch = TicketPatch {
            status: input.status,
            priority: input.priority,
            category: match &input.category {
                Some(Some(c)) => Some(parse_category(c).map_err(AppError::from)?),
                Some(None) => Some(None),
                None => None,
            },
            assignee: input.assignee.clone(),
            department: input.department.clone(),
            tags: input
                .tags
                .as_ref()
                .map(|t| parse_tags(t.iter().map(String::as_str)))
                .transpose()
                .map_err(AppError::from)?,
        };
        let patch = &patch;
        crate::retry::unless_versioned(expected.is_some(), move || async move {
            let mut ticket = self.workable_ticket(actor, reference).await?;
            check_expected(&ticket, expected)?;
            self.apply_patch(
                actor,
                &mut ticket,
                patch.clone(),
                "updated",
                None,
                Vec::new(),
            )
            .await?;
            Ok(ticket)
        })
        .await
    }

    /// Applies a patch and stores it with its audit event (and extra items), or does nothing
    /// when nothing changes.
    pub(crate) async fn apply_patch(
        &self,
        actor: &Actor,
        ticket: &mut Ticket,
        patch: TicketPatch,
        action: &str,
        note: Option<String>,
        extra: Vec<WriteOp>,
    ) -> Result<Vec<FieldChange>, AppError> {
        let new_assignee = patch
            .assignee
            .as_ref()
            .and_then(|a| a.as_ref())
            .filter(|a| Some(*a) != ticket.assignee.as_ref())
            .cloned();
        let new_department = patch
            .department
            .as_ref()
            .and_then(|d| d.as_ref())
            .filter(|d| Some(*d) != ticket.department.as_ref())
            .cloned();
        let guards = self
            .references_exist(new_assignee.as_ref(), new_department.as_ref())
            .await?;
        let now = self.clock.now();
        let mut next = ticket.clone();
        let changes = next.apply(&patch, now)?;
        if changes.is_empty() && extra.is_empty() {
            return Ok(changes);
        }
        let event = self.audit(ticket.id, actor, action, changes.clone(), note, now);
        let mut ops = vec![WriteOp::Put {
            item: keys::audit_item(&event)?,
            condition: Condition::NotExists,
        }];
        ops.extend(extra);
        // An agent's category decision is a labelled example for the classifier.
        ops.extend(self.training_example_write(actor, &next, &changes).await?);
        self.commit(ticket, &mut next, ops, guards, None).await?;
        *ticket = next;
        Ok(changes)
    }

    pub async fn add_message(
        &self,
        actor: &Actor,
        reference: &str,
        input: NewMessage,
    ) -> Result<(Message, Ticket), AppError> {
        self.add_message_with(actor, reference, input, MessageMeta::default())
            .await
    }

    /// `add_message` for channel adapters (see `create_ticket_with`). Without `input.version`
    /// a ticket that moved meanwhile (the router, an agent, another message) is re-read and
    /// the message added to it as it is now: only a caller who named a version gets a 409.
    pub async fn add_message_with(
        &self,
        actor: &Actor,
        reference: &str,
        input: NewMessage,
        meta: MessageMeta,
    ) -> Result<(Message, Ticket), AppError> {
        // Uploaded files are stored once, whatever the attempts (blobs are content-addressed);
        // only after the first attempt's checks passed, so a refused caller stores nothing.
        let uploads = tokio::sync::OnceCell::new();
        let (input, meta, uploads) = (&input, &meta, &uploads);
        crate::retry::unless_versioned(input.version.is_some(), move || async move {
            self.try_add_message(actor, reference, input, meta, uploads)
                .await
        })
        .await
    }

    async fn try_add_message(
        &self,
        actor: &Actor,
        reference: &str,
        input: &NewMessage,
        meta: &MessageMeta,
        uploads: &tokio::sync::OnceCell<Vec<helpdesk_domain::AttachmentMeta>>,
    ) -> Result<(Message, Ticket), AppError> {
        let mut ticket = self.readable_ticket(actor, reference).await?;
        check_expected(&ticket, input.version)?;
        let kind = input.kind.unwrap_or(if actor.is_staff() {
            MessageKind::PublicReply
        } else {
            MessageKind::CustomerMessage
        });
        if !actor.can_post(&ticket, kind) {
            return Err(AppError::Forbidden(
                "this caller cannot post that kind of message",
            ));
        }
        if ticket.status == Status::Closed {
            return Err(AppError::Rule(helpdesk_domain::DomainError::Closed));
        }
        let source = match &input.template {
            Some(name) => {
                if !actor.is_staff() {
                    return Err(AppError::Forbidden(
                        "only the support team replies with templates",
                    ));
                }
                if !input.body.trim().is_empty() {
                    return Err(AppError::validation(
                        "template",
                        "give either body or template, not both",
                    ));
                }
                self.render_for(actor, &ticket, name, None, "template")
                    .await?
                    .text
            }
            None => input.body.clone(),
        };
        let body = parse_body(&source).map_err(AppError::from)?;
        let mut attachments = meta.attachments.clone();
        attachments.extend(
            uploads
                .get_or_try_init(|| self.store_uploads(&input.attachments))
                .await?
                .iter()
                .cloned(),
        );
        let now = self.clock.now();
        let mut next = ticket.clone();
        let mut changes = Vec::new();
        for p in &meta.participants {
            if next.participants.len() >= helpdesk_domain::ticket::PARTICIPANTS_MAX {
                break;
            }
            if *p != next.customer.email {
                next.participants.insert(p.clone());
            }
        }
        if meta.email_message_id.is_some()
            && meta
                .author
                .as_ref()
                .is_some_and(|a| a.id == next.customer.email.as_str())
        {
            next.reply_to = meta.reply_to.clone();
        }
        match kind {
            MessageKind::PublicReply => next.record_public_reply(now),
            MessageKind::InternalNote => next.updated_at = now,
            MessageKind::CustomerMessage => {
                next.message_count += 1;
                next.updated_at = now;
                if next.status == Status::Resolved {
                    // The customer came back: reopen, to its owner if it has one.
                    let to = if next.assignee.is_some() {
                        Status::InProgress
                    } else {
                        Status::New
                    };
                    changes = next.apply(
                        &TicketPatch {
                            status: Some(to),
                            ..Default::default()
                        },
                        now,
                    )?;
                }
            }
        }
        let author_name = match actor {
            Actor::Staff { email, .. } => self.load_agent(email).await?.map(|a| a.name),
            _ => ticket.customer.name.clone(),
        };
        let mut message = Message {
            id: MessageId::from_ulid(self.ids.ulid()),
            ticket_id: ticket.id,
            kind,
            author: meta.author.clone().unwrap_or_else(|| actor.reference()),
            author_name: meta.author_name.clone().or(author_name),
            channel: ticket.channel,
            body_text: body,
            body_html: meta.body_html.clone(),
            attachments,
            merged_from: None,
            email_message_id: meta.email_message_id.clone(),
            thread_reason: meta.thread_reason.clone(),
            created_at: now,
            delivery: None,
        };
        let action = match kind {
            MessageKind::PublicReply => "replied",
            MessageKind::InternalNote => "noted",
            MessageKind::CustomerMessage => "customer_replied",
        };
        let event = self.audit(ticket.id, actor, action, changes, None, now);
        // A public reply is e-mailed to the customer: queued in this transaction (which also
        // gives the reply its Message-ID), delivered after it.
        let mut mail = None;
        let mut mail_ops = Vec::new();
        if kind == MessageKind::PublicReply {
            if let Some(settings) = self.mail.clone() {
                let (m, o) = self.reply_mail(&settings, &ticket, &mut message).await?;
                mail = Some(m);
                mail_ops = o;
            }
        }
        let mut ops = vec![
            WriteOp::Put {
                item: keys::message_item(&ticket.id, &message)?,
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                item: keys::audit_item(&event)?,
                condition: Condition::NotExists,
            },
        ];
        ops.extend(mail_ops);
        ops.extend(meta.extra.iter().cloned());
        self.commit(&ticket, &mut next, ops, Vec::new(), Some(kind))
            .await?;
        ticket = next;
        if let Some(m) = &mail {
            message.delivery = Some(
                self.deliver_after_commit(&ticket.id, &m.id)
                    .await
                    .unwrap_or_else(|| m.delivery()),
            );
        }
        Ok((message, ticket))
    }

    pub async fn bulk(&self, actor: &Actor, request: BulkRequest) -> Result<BulkResult, AppError> {
        if !actor.can_work_tickets() {
            return Err(AppError::Forbidden("only the support team changes tickets"));
        }
        if request.ticket_ids.is_empty() {
            return Err(AppError::validation("ticket_ids", "must not be empty"));
        }
        if request.ticket_ids.len() > BULK_MAX {
            return Err(AppError::validation(
                "ticket_ids",
                format!("at most {BULK_MAX} tickets at once"),
            ));
        }
        let unique: BTreeSet<&String> = request.ticket_ids.iter().collect();
        if unique.len() != request.ticket_ids.len() {
            return Err(AppError::validation(
                "ticket_ids",
                "must not repeat a ticket",
            ));
        }
        let update = request.update()?;
        // Each ticket is its own conditional write: one failure does not undo the others, and
        // the response says exactly which ones failed and why.
        let outcomes = futures::future::join_all(request.ticket_ids.iter().map(|id| {
            let update = update.clone();
            async move {
                match self.update_ticket(actor, id, update, None).await {
                    Ok(t) => BulkOutcome {
                        ticket_id: id.clone(),
                        ok: true,
                        status: 200,
                        error: None,
                        ticket: Some(t),
                    },
                    Err(e) => BulkOutcome {
                        ticket_id: id.clone(),
                        ok: false,
                        status: e.status_hint(),
                        error: Some(e.to_string()),
                        ticket: None,
                    },
                }
            }
        }))
        .await;
        let succeeded = outcomes.iter().filter(|o| o.ok).count();
        Ok(BulkResult {
            succeeded,
            failed: outcomes.len() - succeeded,
            results: outcomes,
        })
    }

    pub async fn transfer(
        &self,
        actor: &Actor,
        reference: &str,
        input: Transfer,
    ) -> Result<Ticket, AppError> {
        let input = &input;
        crate::retry::unless_versioned(input.version.is_some(), move || async move {
            self.try_transfer(actor, reference, input).await
        })
        .await
    }

    async fn try_transfer(
        &self,
        actor: &Actor,
        reference: &str,
        input: &Transfer,
    ) -> Result<Ticket, AppError> {
        let mut ticket = self.workable_ticket(actor, reference).await?;
        check_expected(&ticket, input.version)?;
        if input.to_agent.is_none() && input.to_department.is_none() {
            return Err(AppError::validation(
                "to_agent",
                "give to_agent, to_department or both",
            ));
        }
        // Agents hand over their own tickets; supervisors move anyone's.
        let own = ticket.assignee.is_none() || ticket.assignee.as_ref() == actor.staff_email();
        if !own && !actor.is_supervisor() {
            return Err(AppError::Forbidden(
                "agents transfer only their own or unassigned tickets",
            ));
        }
        let note = input
            .note
            .as_deref()
            .map(parse_body)
            .transpose()
            .map_err(|_| AppError::validation("note", "must be non-empty text up to 100 kB"))?;
        let mut extra = Vec::new();
        if let Some(text) = &note {
            let now = self.clock.now();
            let message = Message {
                id: MessageId::from_ulid(self.ids.ulid()),
                ticket_id: ticket.id,
                kind: MessageKind::InternalNote,
                author: actor.reference(),
                author_name: None,
                channel: ticket.channel,
                body_text: format!("Transfer: {text}"),
                body_html: None,
                attachments: Vec::new(),
                merged_from: None,
                email_message_id: None,
                thread_reason: None,
                created_at: now,
                delivery: None,
            };
            extra.push(WriteOp::Put {
                item: keys::message_item(&ticket.id, &message)?,
                condition: Condition::NotExists,
            });
        }
        let mut patch = TicketPatch::default();
        if let Some(a) = &input.to_agent {
            patch.assignee = Some(Some(a.clone()));
        }
        if let Some(d) = &input.to_department {
            patch.department = Some(Some(d.clone()));
            // Moving to a department queue without a person: it waits there unassigned. Work
            // already in progress keeps its owner (in_progress → new is not a workflow move).
            if input.to_agent.is_none() && ticket.status != Status::InProgress {
                patch.assignee = Some(None);
            }
        }
        self.apply_patch(actor, &mut ticket, patch, "transferred", note, extra)
            .await?;
        Ok(ticket)
    }

    /// Merges `source` into `into`: the source's public thread is linked under the target, the
    /// source is closed with a pointer. Safe to repeat.
    pub async fn merge(
        &self,
        actor: &Actor,
        source_ref: &str,
        input: Merge,
    ) -> Result<Ticket, AppError> {
        if !actor.can_work_tickets() {
            return Err(AppError::Forbidden("only the support team merges tickets"));
        }
        let source = self.readable_ticket(actor, source_ref).await?;
        let target = self
            .resolve_ticket_ref(&input.into)
            .await?
            .ok_or_else(|| AppError::validation("into", "no such ticket"))?;
        if source.id == target.id {
            return Err(AppError::validation(
                "into",
                "a ticket cannot be merged into itself",
            ));
        }
        if source.merged_into == Some(target.id) {
            return Ok(target);
        }
        if target.status == Status::Closed {
            return Err(AppError::validation("into", "the target ticket is closed"));
        }
        if target.merged_into.is_some() {
            return Err(AppError::validation(
                "into",
                "the target was itself merged away",
            ));
        }
        let view = self
            .get_ticket(
                &Actor::System {
                    job: "merge".into(),
                },
                &source.id.to_string(),
            )
            .await?;
        // Copy the thread first, each copy keyed by its original id so a retry writes nothing
        // twice; then flip both tickets in one transaction.
        let mut copied = 0u32;
        for m in &view.messages {
            let mut copy = m.clone();
            copy.ticket_id = target.id;
            copy.delivery = None;
            copy.merged_from = Some(source.id);
            match self
                .table
                .put(keys::message_item(&target.id, &copy)?, Condition::NotExists)
                .await
            {
                Ok(()) | Err(TableError::ConditionFailed) => {}
                Err(e) => return Err(AppError::storage("copying messages for a merge")(e)),
            }
            if m.kind.is_public() {
                copied += 1;
            }
        }
        let now = self.clock.now();
        let mut src = source.clone();
        let src_changes = src.merge_into(target.id, now)?;
        src.version = source.version + 1;
        let mut tgt = target.clone();
        tgt.merged_from.push(source.id);
        tgt.message_count += copied;
        tgt.updated_at = now;
        tgt.version = target.version + 1;
        let note = input
            .note
            .as_deref()
            .map(parse_body)
            .transpose()
            .map_err(|_| AppError::validation("note", "must be non-empty text up to 100 kB"))?;
        let src_event = self.audit(source.id, actor, "merged", src_changes, note.clone(), now);
        let tgt_event = self.audit(
            target.id,
            actor,
            "merged_from",
            vec![FieldChange {
                field: "merged_from".into(),
                before: serde_json::Value::Null,
                after: serde_json::json!(source.id.to_string()),
            }],
            note,
            now,
        );
        // Only the source changes status or priority, so only its counters move.
        let mut ops = crate::stats::ticket_deltas(Some(&source), &src);
        ops.push(self.sla_write(Some(&source), &src, None, now).await?);
        ops.extend([
            WriteOp::Put {
                item: keys::ticket_item(&src)?,
                condition: Condition::VersionIs(source.version),
            },
            WriteOp::Put {
                item: keys::ticket_item(&tgt)?,
                condition: Condition::VersionIs(target.version),
            },
            WriteOp::Put {
                item: keys::audit_item(&src_event)?,
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                item: keys::audit_item(&tgt_event)?,
                condition: Condition::NotExists,
            },
        ]);
        match self.table.transact(ops).await {
            Ok(()) => Ok(tgt),
            Err(TableError::TransactionCancelled { .. }) => {
                // Lost a race; if the other writer did this same merge, answer as it did.
                if let Some(now_src) = self.load_ticket(&source.id).await? {
                    if now_src.merged_into == Some(target.id) {
                        return self
                            .load_ticket(&target.id)
                            .await?
                            .ok_or(AppError::NotFound { what: "ticket" });
                    }
                }
                Err(AppError::Conflict {
                    detail: "one of the tickets changed during the merge; retry".into(),
                    current_version: None,
                })
            }
            Err(e) => Err(AppError::storage("merging tickets")(e)),
        }
    }
}

fn check_expected(ticket: &Ticket, expected: Option<u64>) -> Result<(), AppError> {
    match expected {
        Some(v) if v != ticket.version => Err(AppError::Conflict {
            detail: format!(
                "the ticket is at version {}, not {v}; reload and try again",
                ticket.version
            ),
            current_version: Some(ticket.version),
        }),
        _ => Ok(()),
    }
}

fn guard_error(failed: &[usize], guards: &[(usize, &'static str)]) -> Option<AppError> {
    guards
        .iter()
        .find(|(pos, _)| failed.contains(pos))
        .map(|(_, field)| AppError::validation(*field, "was removed while this change was made"))
}

impl AppError {
    /// The HTTP-like status of an error, for per-item outcomes of bulk operations.
    pub fn status_hint(&self) -> u16 {
        match self {
            AppError::NotFound { .. } => 404,
            AppError::Forbidden(_) => 403,
            AppError::Conflict { .. } => 409,
            AppError::RateLimited(_) => 429,
            AppError::TooLarge { .. } => 413,
            AppError::Validation { .. } | AppError::Rule(_) => 422,
            AppError::Internal { .. } => 500,
        }
    }
}
