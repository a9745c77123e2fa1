//! Re-threading: an agent moves a customer message that landed on the wrong ticket to the right
//! one. One transaction moves the message, re-points its Message-ID (so later replies in that
//! e-mail thread follow it), adjusts both tickets and audits both sides.

use crate::inbound::mid_key;
use crate::keys::{self, from_item};
use crate::ports::{Condition, Key, Query, SortKey, TableError, WriteOp};
use crate::{AppError, Helpdesk};
use helpdesk_domain::message::parse_body;
use helpdesk_domain::{Actor, FieldChange, Message, MessageId, MessageKind, Status, Ticket};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveMessage {
    /// The ticket to move the message to: id or number (`HD-12`).
    pub to: String,
    /// Why, for the audit log of both tickets.
    #[serde(default)]
    pub note: Option<String>,
}

impl Helpdesk {
    /// Moves one customer message to another ticket. Returns the message as it now is and the
    /// target ticket. Moving a message that is already on the target answers the same.
    pub async fn move_message(
        &self,
        actor: &Actor,
        ticket_ref: &str,
        message: &str,
        input: MoveMessage,
    ) -> Result<(Message, Ticket), AppError> {
        let source = self.workable_ticket(actor, ticket_ref).await?;
        let message_id = MessageId::parse(message)
            .map_err(|_| AppError::validation("message", "is not a message id"))?;
        let target = self
            .resolve_ticket_ref(input.to.trim())
            .await?
            .ok_or_else(|| AppError::validation("to", "no such ticket"))?;
        let sk = format!("M#{}", message_id.ulid());
        if target.id == source.id {
            return Err(AppError::validation(
                "to",
                "the message is already on this ticket",
            ));
        }
        if target.status == Status::Closed || target.merged_into.is_some() {
            return Err(AppError::validation(
                "to",
                "the target ticket is closed; reopen it or pick another",
            ));
        }
        let note = input
            .note
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .map(parse_body)
            .transpose()
            .map_err(|_| AppError::validation("note", "must be text up to 100 kB"))?;
        let Some(item) = self
            .table
            .get(&Key::new(keys::ticket_pk(&source.id), sk.clone()))
            .await
            .map_err(AppError::storage("reading a message"))?
        else {
            // A retry after success finds the message on the target already.
            if let Some(moved) = self
                .table
                .get(&Key::new(keys::ticket_pk(&target.id), sk))
                .await
                .map_err(AppError::storage("reading a message"))?
            {
                return Ok((from_item(&moved)?, target));
            }
            return Err(AppError::NotFound { what: "message" });
        };
        let original: Message = from_item(&item)?;
        if original.kind != MessageKind::CustomerMessage {
            return Err(AppError::validation(
                "message",
                "only customer messages can be moved; replies and notes belong to their ticket",
            ));
        }
        let first = self
            .table
            .query(
                &Query::partition(None, keys::ticket_pk(&source.id))
                    .sk(SortKey::BeginsWith("M#".into()))
                    .limit(1),
            )
            .await
            .map_err(AppError::storage("reading a ticket's thread"))?;
        if first.items.first().map(|i| i.key.sk.as_str()) == Some(sk.as_str()) {
            return Err(AppError::validation(
                "message",
                "this message opened the ticket; merge the ticket instead",
            ));
        }
        let now = self.clock.now();
        let mut moved = original.clone();
        moved.ticket_id = target.id;
        moved.delivery = None;
        moved.thread_reason = Some(format!(
            "moved here from {} by {}{}",
            source.number,
            actor.reference().id,
            original
                .thread_reason
                .as_deref()
                .map(|r| format!(" (it had been threaded by: {r})"))
                .unwrap_or_default()
        ));
        let mut src = source.clone();
        src.message_count = src.message_count.saturating_sub(1);
        src.updated_at = now;
        src.version = source.version + 1;
        let mut tgt = target.clone();
        tgt.message_count += 1;
        tgt.updated_at = now;
        tgt.version = target.version + 1;
        let change = |before: &Ticket, after: &Ticket| FieldChange {
            field: "message".into(),
            before: serde_json::json!(before.number.to_string()),
            after: serde_json::json!(after.number.to_string()),
        };
        let out_event = self.audit(
            source.id,
            actor,
            "message_moved_out",
            vec![change(&source, &target)],
            note.clone(),
            now,
        );
        let in_event = self.audit(
            target.id,
            actor,
            "message_moved_in",
            vec![change(&source, &target)],
            note,
            now,
        );
        let mut ops = vec![
            WriteOp::Delete {
                key: item.key.clone(),
                condition: Condition::Exists,
            },
            WriteOp::Put {
                item: keys::message_item(&target.id, &moved)?,
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                item: keys::ticket_item(&src)?,
                condition: Condition::VersionIs(source.version),
            },
            WriteOp::Put {
                item: keys::ticket_item(&tgt)?,
                condition: Condition::VersionIs(target.version),
            },
            WriteOp::Put {
                item: keys::audit_item(&out_event)?,
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                item: keys::audit_item(&in_event)?,
                condition: Condition::NotExists,
            },
        ];
        if let Some(id) = &original.email_message_id {
            // Replies to this e-mail now thread to the target.
            ops.push(WriteOp::Put {
                item: keys::pointer_item(mid_key(id), &target.id),
                condition: Condition::None,
            });
        }
        match self.table.transact(ops).await {
            Ok(()) => Ok((moved, tgt)),
            Err(TableError::TransactionCancelled { .. }) => Err(AppError::Conflict {
                detail: "one of the tickets changed while moving the message; reload and retry"
                    .into(),
                current_version: None,
            }),
            Err(e) => Err(AppError::storage("moving a message")(e)),
        }
    }
}
