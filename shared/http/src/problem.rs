//! Errors as `application/problem+json` (RFC 9457) with stable `type` URIs.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use helpdesk_app::AppError;
use helpdesk_domain::DomainError;
use serde::Serialize;

const TYPE_BASE: &str = "https://helpdesk.dev/problems/";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable identifier of the kind of problem, e.g. `https://helpdesk.dev/problems/validation`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The offending input, for validation problems (e.g. `customer.email`, `If-Match`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For stale writes: the version now stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
    /// For refused status changes: where the ticket may go from here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("{TYPE_BASE}{kind}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            current_version: None,
            allowed: None,
        }
    }

    pub fn validation(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut p = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid input",
            detail,
        );
        p.field = Some(field.into());
        p
    }

    pub fn bad_request(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut p = Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        );
        p.field = Some(field.into());
        p
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Sign-in required",
            detail,
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

/// Use-case errors, mapped once.
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl From<AppError> for Problem {
    fn from(e: AppError) -> Self {
        match e {
            AppError::NotFound { what } => Problem::not_found(format!("{what} not found")),
            AppError::Forbidden(why) => {
                Problem::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed", why)
            }
            AppError::Conflict {
                detail,
                current_version,
            } => {
                let mut p = Problem::new(StatusCode::CONFLICT, "stale-version", "Conflict", detail);
                p.current_version = current_version;
                p
            }
            AppError::Validation { field, message } => Problem::validation(field, message),
            AppError::TooLarge { field, message } => {
                let mut p = Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too-large",
                    "Too large",
                    message,
                );
                p.field = Some(field);
                p
            }
            AppError::RateLimited(why) => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                why,
            ),
            AppError::Rule(rule) => {
                let mut p = Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    rule_kind(&rule),
                    "Not allowed by the workflow",
                    rule.to_string(),
                );
                if let DomainError::InvalidTransition { from, .. } = &rule {
                    p.field = Some("status".into());
                    p.allowed = Some(from.allowed_next().iter().map(|s| s.to_string()).collect());
                }
                if let DomainError::NeedsAssignee(_) = &rule {
                    p.field = Some("assignee".into());
                }
                p
            }
            AppError::Internal { context, source } => {
                // The whole cause chain goes to the log; the client gets an opaque answer.
                let mut chain = format!("{source}");
                let mut cur: Option<&(dyn std::error::Error + 'static)> = source.source();
                while let Some(c) = cur {
                    chain.push_str(&format!(": {c}"));
                    cur = c.source();
                }
                tracing::error!(context, cause = %chain, "internal error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "something went wrong on our side; it has been logged",
                )
            }
        }
    }
}

fn rule_kind(rule: &DomainError) -> &'static str {
    match rule {
        DomainError::InvalidTransition { .. } => "invalid-transition",
        DomainError::Closed => "ticket-closed",
        DomainError::NeedsAssignee(_) => "needs-assignee",
        DomainError::MergeIntoSelf => "merge-into-self",
        DomainError::Invalid { .. } => "validation",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        Problem::from(self.0).into_response()
    }
}
