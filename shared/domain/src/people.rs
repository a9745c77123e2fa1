use crate::ticket::string_enum;
use crate::{DepartmentId, EmailAddress, ParseError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

string_enum!(
    /// The customer's plan on the platform; drives priority and SLA targets.
    Tier { Free => "free", Pro => "pro", Business => "business", Enterprise => "enterprise" }
);

impl Default for Tier {
    fn default() -> Self {
        Tier::Free
    }
}

string_enum!(
    /// A team member's role. Supervisors manage queues; admins also manage people and settings.
    Role { Agent => "agent", Supervisor => "supervisor", Admin => "admin" }
);

string_enum!(
    /// Whether an agent takes new work right now.
    AgentStatus { Available => "available", Busy => "busy", Offline => "offline" }
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Customer {
    pub email: EmailAddress,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// BCP 47 language tag, e.g. `en`, `pt-BR`.
    #[serde(default = "default_locale")]
    pub locale: String,
    #[serde(default)]
    pub tier: Tier,
    #[serde(default)]
    pub business_owner: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_user_id: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub version: u64,
}

pub fn default_locale() -> String {
    "en".to_string()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Agent {
    pub email: EmailAddress,
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub departments: BTreeSet<DepartmentId>,
    #[serde(default)]
    pub skills: BTreeSet<String>,
    #[serde(default)]
    pub languages: BTreeSet<String>,
    /// Maximum open tickets this agent should carry.
    pub capacity: u32,
    pub status: AgentStatus,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Department {
    pub id: DepartmentId,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub version: u64,
}

/// A person's display name: trimmed, 1-120 printable characters.
pub fn parse_name(field: &'static str, raw: &str) -> Result<String, crate::DomainError> {
    let s = raw.trim();
    if s.is_empty() || s.chars().count() > 120 || s.chars().any(char::is_control) {
        return Err(crate::DomainError::Invalid {
            field,
            message: "must be 1-120 printable characters".into(),
        });
    }
    Ok(s.to_string())
}

/// A BCP 47-shaped language tag (`en`, `pt-BR`, `zh-Hant-TW`); normalised to `ll[-Rest]`.
pub fn parse_locale(raw: &str) -> Result<String, crate::DomainError> {
    let s = raw.trim().replace('_', "-");
    let mut parts = s.split('-');
    let lang = parts.next().unwrap_or("");
    let lang_ok = (2..=3).contains(&lang.len()) && lang.chars().all(|c| c.is_ascii_alphabetic());
    let rest: Vec<&str> = parts.collect();
    let rest_ok = rest
        .iter()
        .all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if !lang_ok || !rest_ok {
        return Err(crate::DomainError::Invalid {
            field: "locale",
            message: "must be a language tag such as en or pt-BR".into(),
        });
    }
    let mut out = lang.to_ascii_lowercase();
    for p in rest {
        out.push('-');
        if p.len() == 2 {
            out.push_str(&p.to_ascii_uppercase());
        } else {
            out.push_str(p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales() {
        assert_eq!(parse_locale("pt_br").expect("ok"), "pt-BR");
        assert_eq!(parse_locale("EN").expect("ok"), "en");
        assert!(parse_locale("english!").is_err());
        assert!(parse_locale("").is_err());
    }

    #[test]
    fn names() {
        assert!(parse_name("name", " ").is_err());
        assert_eq!(parse_name("name", " Ana ").expect("ok"), "Ana");
    }
}
