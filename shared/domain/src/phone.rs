use crate::ParseError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A phone number in E.164 form: `+`, then 8 to 15 digits, the first not 0 (country codes
/// never start with 0). The only form SMS providers (SNS) accept.
///
/// Parsing forgives the separators people type (spaces, `-`, `.`, `(`, `)`), so
/// `+44 7700 900123` becomes `+447700900123`; anything else — a missing `+`, letters, a
/// national number with a trunk `0` — is rejected rather than guessed at.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = r"^\+[1-9][0-9]{7,14}$", example = "+447700900123")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub const MIN_DIGITS: usize = 8;
    pub const MAX_DIGITS: usize = 15;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let digits = compact.strip_prefix('+').ok_or_else(|| {
            ParseError::new("phone number must be in E.164 form: + and the country code")
        })?;
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(ParseError::new(
                "phone number may contain only digits after +",
            ));
        }
        if !(Self::MIN_DIGITS..=Self::MAX_DIGITS).contains(&digits.len()) {
            return Err(ParseError::new(format!(
                "phone number must have {} to {} digits after +",
                Self::MIN_DIGITS,
                Self::MAX_DIGITS
            )));
        }
        if digits.starts_with('0') {
            return Err(ParseError::new(
                "phone number must start with a country code (not 0) after +",
            ));
        }
        Ok(Self(compact))
    }

    /// `+447700900123`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For logs: the country code region and the last three digits only, `+44•••••••123`.
    pub fn masked(&self) -> String {
        let digits = &self.0[1..];
        let shown_head = 2.min(digits.len());
        let shown_tail = 3.min(digits.len() - shown_head);
        let hidden = digits.len() - shown_head - shown_tail;
        format!(
            "+{}{}{}",
            &digits[..shown_head],
            "•".repeat(hidden),
            &digits[digits.len() - shown_tail..]
        )
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> Self {
        value.0
    }
}

impl fmt::Display for PhoneNumber {
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
        let p = PhoneNumber::parse(" +44 7700-900.123 ").expect("valid");
        assert_eq!(p.as_str(), "+447700900123");
        assert_eq!(
            PhoneNumber::parse("+1 (555) 010-0199")
                .expect("valid")
                .as_str(),
            "+15550100199"
        );
        // The bounds: 8 and 15 digits.
        assert!(PhoneNumber::parse("+12345678").is_ok());
        assert!(PhoneNumber::parse("+123456789012345").is_ok());
    }

    #[test]
    fn rejects_bad_shapes() {
        for bad in [
            "",
            "+",
            "447700900123",      // no +
            "07700 900123",      // national form
            "+0447700900123",    // country code cannot start with 0
            "+1234567",          // 7 digits
            "+1234567890123456", // 16 digits
            "+44 7700 9001a3",
            "++447700900123",
            "+44\u{2212}7700900123", // a minus sign that is not '-'
            "+٤٤٧٧٠٠٩٠٠١٢٣",         // non-ASCII digits
        ] {
            assert!(
                PhoneNumber::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn serde_round_trip_and_rejection() {
        let p: PhoneNumber = serde_json::from_str("\"+44 7700 900123\"").expect("valid");
        assert_eq!(serde_json::to_string(&p).expect("ser"), "\"+447700900123\"");
        assert!(serde_json::from_str::<PhoneNumber>("\"07700900123\"").is_err());
    }

    #[test]
    fn masking_hides_the_subscriber_number() {
        let p = PhoneNumber::parse("+447700900123").expect("valid");
        assert_eq!(p.masked(), "+44•••••••123");
        let short = PhoneNumber::parse("+12345678").expect("valid");
        assert_eq!(short.masked(), "+12•••678");
    }

    proptest! {
        #[test]
        fn never_panics_and_parsed_values_reparse(s in "\\PC{0,24}") {
            if let Ok(p) = PhoneNumber::parse(&s) {
                let again = PhoneNumber::parse(p.as_str()).expect("reparse");
                prop_assert_eq!(&again, &p);
                let digits = &p.as_str()[1..];
                prop_assert!((8..=15).contains(&digits.len()));
                prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
                prop_assert!(!digits.starts_with('0'));
                let masked = p.masked();
                prop_assert_eq!(masked.chars().count(), p.as_str().len());
                prop_assert!(masked.ends_with(&digits[digits.len() - 3..]));
            }
        }

        #[test]
        fn every_e164_number_is_accepted(first in 1u8..=9, rest in "[0-9]{7,14}") {
            let raw = format!("+{first}{rest}");
            let p = PhoneNumber::parse(&raw).expect("valid E.164");
            prop_assert_eq!(p.as_str(), raw.as_str());
        }

        #[test]
        fn separators_do_not_change_the_number(first in 1u8..=9, groups in proptest::collection::vec("[0-9]{1,4}", 2..5), sep in "[ .()-]") {
            let digits: String = groups.concat();
            prop_assume!((7..=14).contains(&digits.len()));
            let spaced = format!("+{first}{sep}{}", groups.join(&sep));
            let p = PhoneNumber::parse(&spaced).expect("valid with separators");
            prop_assert_eq!(p.as_str(), format!("+{first}{digits}"));
        }

        #[test]
        fn wrong_lengths_are_rejected(first in 1u8..=9, rest in "[0-9]{0,6}|[0-9]{15,20}") {
            let raw = format!("+{first}{rest}");
            prop_assert!(PhoneNumber::parse(&raw).is_err());
        }
    }
}
