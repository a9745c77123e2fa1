//! SMS pages of routing escalations ("notify supervisors"), through the same path as SLA alerts
//! ([`Helpdesk::page_leads`]: supervisors and admins on call, a claim per page and phone, the
//! per-phone rate limit, opt-outs).
//!
//! The page is decided in the escalation's transaction: a pending item `T#{id}` /
//! `PAGE#{escalation audit id}` is written with it, so it exists if and only if the escalation
//! does. After the commit it is sent and deleted. A crash in between, or an unavailable SMS
//! provider, leaves the item: the routing event fails and is redelivered, and
//! [`Helpdesk::deliver_escalation_pages`] (run by every processing of a routing event) sends
//! it then. The claims (`SMS#{phone}` / `PAGE#{ticket}#escalation#{audit id}`) make that
//! retry page each phone once.
//!
//! A process that routes but cannot page (on AWS the API function, when a supervisor routes a
//! ticket on demand) hands the page over: the same transaction writes the ticket's unrouted
//! marker and an event is enqueued after it, so the router function, which pages, sends it (the
//! resweep re-enqueues it if that enqueue is lost).

use crate::alerts::{escalation_sms_text, Page, PageReport};
use crate::keys::{self, from_item, to_doc};
use crate::ports::{Condition, Item, Query, SortKey, WriteOp};
use crate::{AppError, Helpdesk};
use helpdesk_domain::{AuditId, Priority, Ticket, TicketId};
use serde::{Deserialize, Serialize};

/// A page decided by an escalation, waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingPage {
    pub ticket_id: TicketId,
    /// The escalation's audit event id: with the ticket, the page's identity.
    pub escalation: String,
    pub number: String,
    pub priority: Priority,
    pub business_owner: bool,
    pub rules: Vec<String>,
}

impl PendingPage {
    fn reference(&self) -> String {
        format!("{}#escalation#{}", self.ticket_id, self.escalation)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the SMS provider was unavailable for {0} page(s); the routing event will be retried")]
struct PagesFailed(usize);

impl Helpdesk {
    /// The pending page of an escalation, for its transaction. `None` when this process can
    /// neither page nor hand the page to a process that can (no SMS paging, no routing queue).
    pub(crate) fn escalation_page_op(
        &self,
        t: &Ticket,
        escalation: &AuditId,
        rules: &[String],
    ) -> Result<Option<WriteOp>, AppError> {
        if self.sms.is_none() && self.routing_queue.is_none() {
            return Ok(None);
        }
        let page = PendingPage {
            ticket_id: t.id,
            escalation: escalation.to_string(),
            number: t.number.to_string(),
            priority: t.priority,
            business_owner: t.customer.business_owner,
            rules: rules.to_vec(),
        };
        Ok(Some(WriteOp::Put {
            item: Item::new(
                keys::escalation_page_key(&t.id, &page.escalation),
                1,
                to_doc(&page)?,
            ),
            condition: Condition::NotExists,
        }))
    }

    /// Sends the ticket's pending escalation pages and deletes each one sent (or decided: rate
    /// limited, opted out, rejected). Idempotent. A page the SMS provider could not take stays
    /// pending and the call fails, so the routing event is redelivered and pages only whom it
    /// missed.
    pub async fn deliver_escalation_pages(
        &self,
        id: &TicketId,
    ) -> Result<Vec<PageReport>, AppError> {
        let Some(sms) = self.sms.clone() else {
            return Ok(Vec::new());
        };
        let page = self
            .table
            .query(
                &Query::partition(None, keys::ticket_pk(id))
                    .sk(SortKey::BeginsWith(keys::ESCALATION_PAGE_PREFIX.into()))
                    .limit(50),
            )
            .await
            .map_err(AppError::storage("reading a ticket's pending pages"))?;
        let mut reports = Vec::new();
        let mut failed = 0;
        for item in &page.items {
            let pending: PendingPage = from_item(item)?;
            let text = escalation_sms_text(
                &pending.number,
                pending.priority,
                pending.business_owner,
                &pending.rules,
                sms.options.console_url.as_deref(),
            );
            let report = self
                .page_leads(
                    &Page {
                        reference: pending.reference(),
                        number: pending.number.clone(),
                        text,
                    },
                    sms.sender.as_ref(),
                    &sms.options,
                )
                .await?;
            tracing::info!(
                ticket = %pending.number,
                sent = report.sent.len(),
                opted_out = report.opted_out.len(),
                rate_limited = report.rate_limited.len(),
                already_paged = report.already_paged.len(),
                failed = report.failed.len(),
                "escalation paged"
            );
            if report.should_retry() {
                failed += report.failed.len();
            } else {
                self.table
                    .delete(&item.key, Condition::None)
                    .await
                    .map_err(AppError::storage("clearing a sent escalation page"))?;
            }
            reports.push(report);
        }
        if failed > 0 {
            return Err(AppError::internal(
                "paging supervisors",
                PagesFailed(failed),
            ));
        }
        Ok(reports)
    }
}
