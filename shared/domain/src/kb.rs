//! Knowledge-base vocabulary shared by the content model and the search index.

use serde::{Deserialize, Serialize};

/// Who may read an article. An article can serve several audiences; a search only ever returns
/// articles that share at least one audience with the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Agents only: troubleshooting guides, procedures, escalation contacts, training.
    Internal,
    /// Every customer, and the public help centre.
    Customers,
    /// Customers flagged as business owners.
    BusinessOwners,
}

impl Audience {
    pub const ALL: [Audience; 3] = [
        Audience::Internal,
        Audience::Customers,
        Audience::BusinessOwners,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Audience::Internal => "internal",
            Audience::Customers => "customers",
            Audience::BusinessOwners => "business_owners",
        }
    }

    pub fn parse(s: &str) -> Option<Audience> {
        Audience::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Audience::ALL {
            assert_eq!(Audience::parse(a.as_str()), Some(a));
            let json = serde_json::to_string(&a).expect("serialises");
            assert_eq!(json, format!("\"{}\"", a.as_str()));
        }
        assert_eq!(Audience::parse("everyone"), None);
    }
}
