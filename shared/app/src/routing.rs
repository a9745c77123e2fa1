//! The routing pipeline every new ticket goes through, from any channel:
//! enrich → classify → prioritise → detect duplicates → escalate → assign.
//!
//! Runtimes (the local queue table + worker, SQS + `functions/router`) deliver [`RoutingEvent`]s
//! at least once and call [`Helpdesk::route_ticket`]; routing the same ticket twice changes
//! nothing the second time.

use crate::{AppError, Helpdesk};
use helpdesk_domain::TicketId;
use serde::{Deserialize, Serialize};

/// The payload of one routing message (SQS body / local queue row), JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingEvent {
    pub ticket_id: TicketId,
    /// Why it was enqueued: `created`, `reopened`, `resweep`, … (diagnostics only).
    #[serde(default)]
    pub reason: String,
}

/// What routing did to one ticket; recorded in the ticket's audit as well.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RouteOutcome {
    /// True when the ticket had already been routed: nothing was changed.
    pub already_routed: bool,
    /// One human-readable line per step that decided something ("priority: rule P3 fired …").
    pub decisions: Vec<String>,
}

impl Helpdesk {
    /// Routes one ticket. Idempotent. Unknown ticket → `NotFound` (the runtime drops the event).
    pub async fn route_ticket(&self, id: &TicketId) -> Result<RouteOutcome, AppError> {
        // Placeholder body until the pipeline steps land (routing-rules work owns this file).
        let _ = id;
        Ok(RouteOutcome::default())
    }
}
