use thiserror::Error;

/// A value that could not be parsed into a domain type. `field` is filled by the caller that
/// knows where the value came from (an API body, a CSV column…).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
}

impl ParseError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// A rule of the domain that a requested change would break.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("a ticket cannot move from {from} to {to}")]
    InvalidTransition {
        from: crate::Status,
        to: crate::Status,
    },
    #[error("ticket is closed; closed tickets are final")]
    Closed,
    #[error("status {0} needs an assignee")]
    NeedsAssignee(crate::Status),
    #[error("a ticket cannot be merged into itself")]
    MergeIntoSelf,
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}
