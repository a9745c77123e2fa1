use crate::{AuditId, TicketId};
use serde::{Deserialize, Serialize};

/// Who did something, as recorded in history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActorRef {
    /// customer, agent, supervisor, admin, platform or system
    pub kind: String,
    /// e-mail for people, client id for the platform, job name for the system
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldChange {
    pub field: String,
    /// The field's value before: any JSON value (a status is a string, tags a list, a cleared
    /// assignee `null`), so the schema does not constrain its type.
    pub before: serde_json::Value,
    /// The field's value after, like `before`.
    pub after: serde_json::Value,
}

impl Eq for FieldChange {}

/// One entry of a ticket's history: who, what, before → after, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: AuditId,
    pub ticket_id: TicketId,
    pub actor: ActorRef,
    /// created, updated, replied, noted, customer_replied, transferred, merged, merged_from
    pub action: String,
    #[serde(default)]
    pub changes: Vec<FieldChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}
