use crate::ParseError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An e-mail address, trimmed and lower-cased (support desks treat addresses
/// case-insensitively; the local part's case is never meaningful in practice).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, format = "email", example = "ana@example.com")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(ParseError::new("e-mail address is empty"));
        }
        if s.len() > 254 {
            return Err(ParseError::new(
                "e-mail address is longer than 254 characters",
            ));
        }
        let (local, domain) = s
            .rsplit_once('@')
            .ok_or_else(|| ParseError::new("e-mail address has no '@'"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(ParseError::new("e-mail address has an invalid local part"));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(ParseError::new("e-mail address has an invalid local part"));
        }
        let local_ok = local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        if !local_ok {
            return Err(ParseError::new(
                "e-mail address has a character not allowed in its local part",
            ));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 {
            return Err(ParseError::new("e-mail domain needs a dot"));
        }
        for label in &labels {
            let ok = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-');
            if !ok {
                return Err(ParseError::new("e-mail address has an invalid domain"));
            }
        }
        Ok(Self(s.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }

    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map(|(l, _)| l).unwrap_or("")
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_and_normalises() {
        let e = EmailAddress::parse("  Ana.Lopez+billing@Example.COM ").expect("valid");
        assert_eq!(e.as_str(), "ana.lopez+billing@example.com");
        assert_eq!(e.domain(), "example.com");
        assert_eq!(e.local_part(), "ana.lopez+billing");
    }

    #[test]
    fn rejects_bad_shapes() {
        for bad in [
            "",
            "ana",
            "@example.com",
            "ana@",
            "ana@localhost",
            "ana@@example.com",
            "a b@example.com",
            ".ana@example.com",
            "ana..b@example.com",
            "ana@-x.com",
            "ana@x..com",
            "<ana@example.com>",
        ] {
            assert!(
                EmailAddress::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn serde_round_trip_and_rejection() {
        let e: EmailAddress = serde_json::from_str("\"X@Y.io\"").expect("valid");
        assert_eq!(serde_json::to_string(&e).expect("ser"), "\"x@y.io\"");
        assert!(serde_json::from_str::<EmailAddress>("\"nope\"").is_err());
    }

    proptest! {
        #[test]
        fn never_panics_and_parsed_values_reparse(s in "\\PC{0,80}") {
            if let Ok(e) = EmailAddress::parse(&s) {
                let again = EmailAddress::parse(e.as_str()).expect("reparse");
                prop_assert_eq!(again, e);
            }
        }

        #[test]
        fn generated_addresses_are_accepted(local in "[a-z0-9]{1,20}(\\.[a-z0-9]{1,5})?", domain in "[a-z0-9]{1,10}\\.[a-z]{2,6}") {
            let raw = format!("{local}@{domain}");
            prop_assert!(EmailAddress::parse(&raw).is_ok());
        }
    }
}
