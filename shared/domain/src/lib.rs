//! Pure types and rules of the help desk.
//!
//! No I/O, no async, no clock: every function that needs "now" takes it as an argument, so the
//! rules can be tested exhaustively and reused by both runtimes (AWS and self-hosted).

pub mod audit;
pub mod email;
pub mod error;
pub mod forum;
pub mod ids;
pub mod kb;
pub mod message;
pub mod people;
pub mod phone;
pub mod policy;
pub mod routing;
pub mod sla;
pub mod template;
pub mod text;
pub mod ticket;

pub use audit::{ActorRef, AuditEvent, FieldChange};
pub use email::EmailAddress;
pub use error::{DomainError, ParseError};
pub use ids::{AuditId, DepartmentId, MessageId, PostId, TicketId, TicketNumber, TopicId};
pub use kb::Audience;
pub use message::{
    AttachmentMeta, DeliveryState, Message, MessageDelivery, MessageKind, ATTACHMENTS_MAX,
};
pub use people::{Agent, AgentStatus, Customer, Department, Role, Tier};
pub use phone::PhoneNumber;
pub use policy::Actor;
pub use ticket::{Channel, Priority, Status, Ticket, TicketPatch};

/// Timestamps are UTC everywhere; conversion to a calendar's zone happens at the edges.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
