//! The help centre's request form (the web-form channel): a visitor, signed in or not, sends
//! a request with optional files. It becomes a ticket with channel `web`, the customer gets the
//! automatic acknowledgement like an e-mail ticket's, and abuse is limited per network address
//! and per e-mail address (both hashed before they reach a key).
//!
//! | item | pk | sk |
//! |---|---|---|
//! | per-address / per-e-mail windows | `RATE#helpreq-ip#{hash}` / `RATE#helpreq-email#{hash}` | `{window start}` (TTL) |

use crate::attachments::{NewAttachment, UPLOADS_MAX, UPLOAD_TOTAL_MAX};
use crate::ratelimit::key_hash;
use crate::tickets::{CustomerRef, MessageMeta, NewTicket};
use crate::{AppError, Helpdesk};
use base64::Engine;
use helpdesk_domain::{Actor, ActorRef, Channel, DomainError, EmailAddress, Ticket};
use std::collections::BTreeSet;

/// One file, at most (a form is not a file transfer service).
pub const FILE_MAX: usize = 5 * 1024 * 1024;
/// Requests per e-mail address an hour.
pub const PER_EMAIL_PER_HOUR: i64 = 5;
/// Requests per network address an hour (an office may share one).
pub const PER_IP_PER_HOUR: i64 = 20;
/// Offered categories, at most.
const CATEGORIES_MAX: usize = 30;

/// A file posted with the form.
#[derive(Debug, Clone)]
pub struct Upload {
    pub filename: String,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// What the visitor typed.
#[derive(Debug, Clone, Default)]
pub struct WebRequest {
    pub name: String,
    pub email: String,
    /// One of [`Helpdesk::request_categories`], or empty ("not sure").
    pub category: String,
    pub subject: String,
    pub description: String,
    pub attachments: Vec<Upload>,
    /// The visitor's language (their customer record's locale on first contact).
    pub locale: Option<String>,
    /// The form's one-time id: submitting the same form with the same content twice makes one
    /// ticket.
    pub form_id: Option<String>,
    /// The caller's network address, for the per-address limit.
    pub ip: Option<std::net::IpAddr>,
}

/// A problem with one field of the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn field_error(field: &'static str, e: impl std::fmt::Display) -> FieldError {
    FieldError {
        field,
        message: e.to_string(),
    }
}

fn domain_message(e: DomainError) -> String {
    match e {
        DomainError::Invalid { message, .. } => message,
        other => other.to_string(),
    }
}

/// Every problem with a request, field by field (empty when it can be sent). `email_override`
/// is a signed-in customer's own address, which wins over what was typed.
pub fn check_web_request(
    req: &WebRequest,
    categories: &[String],
    email_override: Option<&EmailAddress>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Err(e) = helpdesk_domain::people::parse_name("name", &req.name) {
        errors.push(field_error("name", domain_message(e)));
    }
    if email_override.is_none() {
        if let Err(e) = EmailAddress::parse(&req.email) {
            errors.push(field_error("email", e));
        }
    }
    let cat = req.category.trim();
    if !cat.is_empty() && !categories.iter().any(|c| c == cat) {
        errors.push(field_error(
            "category",
            "choose one of the listed categories",
        ));
    }
    if let Err(e) = helpdesk_domain::ticket::parse_subject(&req.subject) {
        errors.push(field_error("subject", domain_message(e)));
    }
    if let Err(e) = helpdesk_domain::message::parse_body(&req.description) {
        errors.push(field_error("description", domain_message(e)));
    }
    if req.attachments.len() > UPLOADS_MAX {
        errors.push(field_error(
            "attachments",
            format!("at most {UPLOADS_MAX} files"),
        ));
    } else if let Some(big) = req.attachments.iter().find(|u| u.bytes.len() > FILE_MAX) {
        errors.push(field_error(
            "attachments",
            format!(
                "{} is larger than {} MB; send a smaller file",
                big.filename.trim(),
                FILE_MAX / (1024 * 1024)
            ),
        ));
    } else if req.attachments.iter().map(|u| u.bytes.len()).sum::<usize>() > UPLOAD_TOTAL_MAX {
        errors.push(field_error(
            "attachments",
            format!(
                "the files add up to more than {} MB",
                UPLOAD_TOTAL_MAX / (1024 * 1024)
            ),
        ));
    }
    errors
}

impl Helpdesk {
    /// The categories a customer may pick: those the routing rules send to a department and
    /// those the current classifier model knows (so a pick routes like an agent's), sorted.
    /// Empty when neither is configured: the form then shows no category.
    pub async fn request_categories(&self) -> Result<Vec<String>, AppError> {
        let mut set = BTreeSet::new();
        let (rules, _) = self.routing_rules().await?;
        set.extend(rules.settings.category_departments.keys().cloned());
        let system = Actor::System {
            job: "help-web-form".into(),
        };
        if let Some(info) = self.classifier_info(&system).await? {
            set.extend(info.labels);
        }
        Ok(set
            .into_iter()
            .filter(|c| matches!(helpdesk_domain::ticket::parse_category(c), Ok(Some(_))))
            .take(CATEGORIES_MAX)
            .collect())
    }

    /// Sends a request from the help centre: checks it, applies the per-address and
    /// per-e-mail limits, stores the files and creates the ticket (channel `web`) with its
    /// acknowledgement. `signed_in` is a customer signed in by e-mailed link: the request is
    /// theirs whatever address was typed.
    pub async fn submit_web_request(
        &self,
        signed_in: Option<&EmailAddress>,
        req: WebRequest,
    ) -> Result<Ticket, AppError> {
        let categories = self.request_categories().await?;
        if let Some(e) = check_web_request(&req, &categories, signed_in)
            .into_iter()
            .next()
        {
            return Err(AppError::validation(e.field, e.message));
        }
        let email = match signed_in {
            Some(e) => e.clone(),
            None => EmailAddress::parse(&req.email)
                .map_err(|e| AppError::validation("email", e.to_string()))?,
        };
        if let Some(ip) = req.ip {
            self.rate_limit(
                "helpreq-ip",
                &key_hash(&ip.to_string()),
                PER_IP_PER_HOUR,
                3_600,
                "too many requests from your network; please try again in an hour",
            )
            .await?;
        }
        self.rate_limit(
            "helpreq-email",
            &key_hash(&email.to_string().to_ascii_lowercase()),
            PER_EMAIL_PER_HOUR,
            3_600,
            "too many requests from this e-mail address; please try again in an hour",
        )
        .await?;
        // The ticket API's own checks (file names, types, count, total) and storage.
        let uploads: Vec<NewAttachment> = req
            .attachments
            .iter()
            .map(|u| NewAttachment {
                filename: u.filename.clone(),
                content_type: u.content_type.clone(),
                content_base64: base64::engine::general_purpose::STANDARD.encode(&u.bytes),
            })
            .collect();
        let attachments = self.store_uploads(&uploads).await.map_err(|e| match e {
            AppError::Validation { message, .. } => AppError::validation("attachments", message),
            other => other,
        })?;
        // A double click sends the same form twice: one ticket. Another request from the same
        // (back-button) form differs in content, so it gets its own.
        let idempotency = req.form_id.as_deref().map(|f| {
            let content = format!(
                "{email}\n{}\n{}",
                req.subject.trim(),
                req.description.trim()
            );
            format!("web:{}:{}", key_hash(f), key_hash(&content))
        });
        // Checked above; parsed again for its cleaned form (format characters removed).
        let name = helpdesk_domain::people::parse_name("name", &req.name)?;
        let locale = req
            .locale
            .as_deref()
            .and_then(|l| helpdesk_domain::people::parse_locale(l).ok());
        let category = req.category.trim();
        let input = NewTicket {
            subject: req.subject,
            body: req.description,
            channel: Some(Channel::Web),
            priority: None,
            category: (!category.is_empty()).then(|| category.to_string()),
            customer: Some(CustomerRef {
                email: email.clone(),
                name: Some(name.clone()),
                platform_user_id: None,
                locale,
            }),
            department: None,
            assignee: None,
            tags: Vec::new(),
        };
        let meta = MessageMeta {
            author: Some(ActorRef {
                kind: "customer".into(),
                id: email.to_string(),
            }),
            author_name: Some(name),
            // Like a person's e-mail: the customer is told their request arrived.
            acknowledge: true,
            attachments,
            ..MessageMeta::default()
        };
        let system = Actor::System {
            job: "help-web-form".into(),
        };
        let (ticket, _) = self
            .create_ticket_with(&system, input, idempotency.as_deref(), meta)
            .await?;
        Ok(ticket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_request() -> WebRequest {
        WebRequest {
            name: "Ana".into(),
            email: "ana@example.com".into(),
            subject: "Cannot log in".into(),
            description: "It says my password is wrong.".into(),
            ..WebRequest::default()
        }
    }

    #[test]
    fn a_complete_request_has_no_errors() {
        assert!(check_web_request(&ok_request(), &[], None).is_empty());
    }

    #[test]
    fn every_bad_field_is_named() {
        let req = WebRequest {
            name: " ".into(),
            email: "not an address".into(),
            category: "Made up".into(),
            subject: "".into(),
            description: "".into(),
            ..WebRequest::default()
        };
        let fields: Vec<&str> = check_web_request(&req, &["Billing".into()], None)
            .iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            ["name", "email", "category", "subject", "description"]
        );
    }

    #[test]
    fn a_signed_in_customer_needs_no_typed_address() {
        let mut req = ok_request();
        req.email = String::new();
        let me = EmailAddress::parse("me@example.com").expect("address");
        assert!(check_web_request(&req, &[], Some(&me)).is_empty());
    }

    #[test]
    fn file_limits() {
        let file = |n: usize| Upload {
            filename: "a.bin".into(),
            content_type: None,
            bytes: vec![0; n],
        };
        let mut req = ok_request();
        req.attachments = vec![file(FILE_MAX + 1)];
        assert_eq!(check_web_request(&req, &[], None)[0].field, "attachments");
        req.attachments = vec![file(FILE_MAX), file(FILE_MAX), file(1)];
        let e = check_web_request(&req, &[], None);
        assert!(e[0].message.contains("add up"), "{e:?}");
        req.attachments = (0..=UPLOADS_MAX).map(|_| file(1)).collect();
        assert!(check_web_request(&req, &[], None)[0]
            .message
            .contains("at most"));
        req.attachments = vec![file(FILE_MAX)];
        assert!(check_web_request(&req, &[], None).is_empty());
    }
}
