use crate::ports::TableError;
use helpdesk_domain::DomainError;

/// What a use case can answer besides success. The HTTP layer maps each to a status code and a
/// problem document; `Internal` keeps its cause for the log and shows clients nothing of it.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    /// Stale write: the stored version is not the one the caller based its change on.
    #[error("conflict: {detail}")]
    Conflict {
        detail: String,
        current_version: Option<u64>,
    },
    /// Input that does not parse; `field` names it (a JSON pointer-ish path).
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    /// Input over a size limit (an uploaded file); `field` names it. HTTP 413.
    #[error("{field}: {message}")]
    TooLarge { field: String, message: String },
    /// Too many requests of this kind from this caller (abuse limits, e.g. KB feedback).
    #[error("rate limited: {0}")]
    RateLimited(&'static str),
    /// Input that parses but breaks a rule of the domain (e.g. a status transition).
    #[error("{0}")]
    Rule(DomainError),
    #[error("internal error while {context}")]
    Internal {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl AppError {
    pub fn internal(
        context: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        AppError::Internal {
            context,
            source: source.into(),
        }
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn storage(context: &'static str) -> impl FnOnce(TableError) -> AppError {
        move |e| match e {
            TableError::InvalidCursor => {
                AppError::validation("cursor", "is not a cursor from this list")
            }
            other => AppError::internal(context, other),
        }
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid { field, message } => AppError::Validation {
                field: field.to_string(),
                message,
            },
            other => AppError::Rule(other),
        }
    }
}
