use crate::ParseError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use ulid::Ulid;

/// The OpenAPI pattern of a prefixed ULID (Crockford base32, either case, as `ulid` reads it).
macro_rules! ulid_id {
    ($name:ident, $prefix:literal, $pattern:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(try_from = "String", into = "String")]
        #[schema(value_type = String, pattern = $pattern, example = json!(concat!($prefix, "01JDZ6K3Q2W9V8T7S6R5P4N3M2")))]
        pub struct $name(Ulid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn from_ulid(ulid: Ulid) -> Self {
                Self(ulid)
            }

            pub fn ulid(&self) -> Ulid {
                self.0
            }

            pub fn parse(raw: &str) -> Result<Self, ParseError> {
                let body = raw.trim().strip_prefix($prefix).ok_or_else(|| {
                    ParseError::new(format!("identifier must start with {:?}", $prefix))
                })?;
                Ulid::from_str(body)
                    .map(Self)
                    .map_err(|_| ParseError::new("identifier is not a valid ULID"))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.to_string()
            }
        }
    };
}

ulid_id!(
    TicketId,
    "tkt_",
    "^tkt_[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$",
    "Stable, sortable identifier of a ticket."
);
ulid_id!(
    MessageId,
    "msg_",
    "^msg_[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$",
    "Identifier of a message on a ticket; sorts by creation time."
);
ulid_id!(
    AuditId,
    "aud_",
    "^aud_[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$",
    "Identifier of an audit event; sorts by creation time."
);
ulid_id!(
    TopicId,
    "top_",
    "^top_[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$",
    "Identifier of a community forum topic; sorts by creation time."
);
ulid_id!(
    PostId,
    "pst_",
    "^pst_[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$",
    "Identifier of a reply in a forum topic; sorts by creation time."
);

/// The short human number of a ticket, `HD-1042`. Allocated from an atomic counter and made
/// unique by a conditional write, so two tickets can never share one.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^#?[Hh][Dd]-[1-9][0-9]{0,14}$", example = "HD-1042")]
pub struct TicketNumber(u64);

impl TicketNumber {
    pub const PREFIX: &'static str = "HD-";
    /// Fifteen digits: far beyond any real desk, and it keeps numbers exact in JSON clients.
    pub const MAX: u64 = 999_999_999_999_999;

    pub fn new(n: u64) -> Result<Self, ParseError> {
        if n == 0 {
            return Err(ParseError::new("ticket numbers start at 1"));
        }
        if n > Self::MAX {
            return Err(ParseError::new("ticket number is out of range"));
        }
        Ok(Self(n))
    }

    pub fn value(&self) -> u64 {
        self.0
    }

    /// Accepts `HD-1042`, `hd-1042`, `#HD-1042` (as typed in a search box).
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim().trim_start_matches('#');
        let digits = s
            .get(..3)
            .filter(|p| p.eq_ignore_ascii_case(Self::PREFIX))
            .map(|_| &s[3..])
            .ok_or_else(|| ParseError::new("ticket number must look like HD-1042"))?;
        if digits.is_empty() || digits.len() > 15 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(ParseError::new("ticket number must look like HD-1042"));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| ParseError::new("ticket number is out of range"))?;
        Self::new(n)
    }
}

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", Self::PREFIX, self.0)
    }
}

impl TryFrom<String> for TicketNumber {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TicketNumber> for String {
    fn from(value: TicketNumber) -> Self {
        value.to_string()
    }
}

/// A department's slug: lower-case letters, digits and dashes (`billing`, `tech-support`).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^[a-z0-9]([a-z0-9-]{0,46}[a-z0-9])?$", example = "billing")]
pub struct DepartmentId(String);

impl DepartmentId {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        let ok = !s.is_empty()
            && s.len() <= 48
            && !s.starts_with('-')
            && !s.ends_with('-')
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(ParseError::new(
                "department id must be 1-48 lower-case letters, digits or dashes",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DepartmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for DepartmentId {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<DepartmentId> for String {
    fn from(value: DepartmentId) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ticket_id_round_trips() {
        let id = TicketId::from_ulid(Ulid::new());
        let s = id.to_string();
        assert!(s.starts_with("tkt_"));
        assert_eq!(TicketId::parse(&s).expect("parse"), id);
        assert!(TicketId::parse("msg_01JDZ6K3Q2W9V8T7S6R5P4N3M2").is_err());
        assert!(TicketId::parse("tkt_nope").is_err());
    }

    #[test]
    fn ticket_numbers() {
        assert_eq!(TicketNumber::parse("HD-1042").expect("ok").value(), 1042);
        assert_eq!(
            TicketNumber::parse("#hd-7").expect("ok").to_string(),
            "HD-7"
        );
        for bad in [
            "",
            "HD-",
            "HD-0",
            "HD-12a",
            "XX-12",
            "HD--1",
            "HD-99999999999999999999",
        ] {
            assert!(TicketNumber::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn department_ids() {
        assert!(DepartmentId::parse("tech-support").is_ok());
        for bad in ["", "Tech", "a b", "-x", "x-", "é"] {
            assert!(DepartmentId::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn number_display_parse_round_trip(n in 1u64..=TicketNumber::MAX) {
            let num = TicketNumber::new(n).expect("nonzero");
            prop_assert_eq!(TicketNumber::parse(&num.to_string()).expect("parse"), num);
        }

        #[test]
        fn numbers_above_max_are_refused(n in (TicketNumber::MAX + 1)..u64::MAX) {
            prop_assert!(TicketNumber::new(n).is_err());
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,40}") {
            let _ = TicketNumber::parse(&s);
            let _ = TicketId::parse(&s);
            let _ = DepartmentId::parse(&s);
        }
    }
}
