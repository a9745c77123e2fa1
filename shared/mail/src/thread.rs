//! Signed threading keys in our own outbound mail, and the subject token.
//!
//! A reply's `In-Reply-To`/`References` carry our `Message-ID`, and its `To` our reply address,
//! so both can name the ticket. They are signed (HMAC-SHA256, truncated to 64 bits) so that a
//! stranger cannot attach mail to a ticket by guessing its number.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::text::{hex, unhex};

type HmacSha256 = Hmac<Sha256>;

/// Length of the signature in hex characters (64 bits).
const TAG_HEX_LEN: usize = 16;

/// Signs and verifies threading keys for one mail domain.
///
/// - `Message-ID`: `<t.{ticket}.{unique}.{tag}@{domain}>`
/// - reply address: `{local}+{ticket}.{tag}@{domain}`
///
/// Tickets and unique parts are written as they are when made of ASCII letters, digits, `-` and
/// `_` (`HD-1042`, ULIDs); any other character is escaped as `=XX` per UTF-8 byte, so every
/// string round-trips. Signatures ignore ASCII case, because mail systems may fold the case of
/// addresses: ticket ids should be case-insensitive (ticket numbers and ULIDs are). An empty
/// ticket or unique part gives a key that never verifies.
#[derive(Clone)]
pub struct ThreadSigner {
    mac: HmacSha256,
    domain: String,
}

impl fmt::Debug for ThreadSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadSigner")
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl ThreadSigner {
    /// `secret` should be at least 32 random bytes and stay stable: rotating it stops replies
    /// to older mail from threading by key (they still thread by Message-ID lookup).
    pub fn new(secret: &[u8], domain: &str) -> Self {
        Self {
            mac: <HmacSha256 as KeyInit>::new_from_slice(secret)
                .expect("HMAC takes a key of any length"),
            domain: domain.trim().trim_end_matches('.').to_ascii_lowercase(),
        }
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// `<t.{ticket}.{unique}.{tag}@{domain}>`, angle brackets included.
    pub fn message_id_for(&self, ticket: &str, unique: &str) -> String {
        let (ticket, unique) = (escape(ticket), escape(unique));
        let tag = self.tag(&["message-id", &ticket, &unique]);
        format!("<t.{ticket}.{unique}.{tag}@{}>", self.domain)
    }

    /// `{local}+{ticket}.{tag}@{domain}`.
    pub fn reply_address(&self, local: &str, ticket: &str) -> String {
        let ticket = escape(ticket);
        let tag = self.tag(&["reply-address", &ticket]);
        format!("{local}+{ticket}.{tag}@{}", self.domain)
    }

    /// The ticket named by one of our `Message-ID`s (with or without angle brackets), when the
    /// signature and the domain check out.
    pub fn verify_message_id(&self, id: &str) -> Option<String> {
        let id = id.trim();
        let id = id.strip_prefix('<').unwrap_or(id);
        let id = id.strip_suffix('>').unwrap_or(id);
        let (local, domain) = id.rsplit_once('@')?;
        if !self.is_our_domain(domain) {
            return None;
        }
        let rest = local
            .get(..2)
            .filter(|p| p.eq_ignore_ascii_case("t."))
            .and_then(|_| local.get(2..))?;
        let mut fields = rest.split('.');
        let (ticket, unique, tag) = (fields.next()?, fields.next()?, fields.next()?);
        if fields.next().is_some() {
            return None;
        }
        self.verify(&["message-id", ticket, unique], tag)?;
        unescape(ticket)
    }

    /// The ticket named by one of our reply addresses (`support+HD-1042.{tag}@domain`, also
    /// inside `Name <…>`), when the signature and the domain check out.
    pub fn verify_reply_address(&self, address: &str) -> Option<String> {
        let address = address.trim();
        let address = match address.rfind('<') {
            Some(open) => address[open + 1..].split('>').next().unwrap_or_default(),
            None => address,
        };
        let (local, domain) = address.trim().rsplit_once('@')?;
        if !self.is_our_domain(domain) {
            return None;
        }
        let (_, key) = local.rsplit_once('+')?;
        let (ticket, tag) = key.rsplit_once('.')?;
        self.verify(&["reply-address", ticket], tag)?;
        unescape(ticket)
    }

    fn is_our_domain(&self, domain: &str) -> bool {
        domain
            .trim_end_matches('.')
            .eq_ignore_ascii_case(&self.domain)
    }

    fn mac_over(&self, fields: &[&str]) -> HmacSha256 {
        let mut mac = self.mac.clone();
        for field in fields {
            // Fields never contain NUL (escaped tokens are ASCII letters, digits, `-_=`).
            mac.update(field.to_ascii_lowercase().as_bytes());
            mac.update(b"\0");
        }
        mac
    }

    fn tag(&self, fields: &[&str]) -> String {
        let full = self.mac_over(fields).finalize().into_bytes();
        hex(full.get(..TAG_HEX_LEN / 2).unwrap_or_default())
    }

    /// Constant-time comparison of `tag` with the signature of `fields`.
    fn verify(&self, fields: &[&str], tag: &str) -> Option<()> {
        if tag.len() != TAG_HEX_LEN || fields.iter().any(|f| !is_escaped_token(f)) {
            return None;
        }
        let tag = unhex(tag)?;
        self.mac_over(fields).verify_truncated_left(&tag).ok()
    }
}

fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn is_escaped_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| is_plain(c) || c == '=')
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_plain(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push('=');
                out.push_str(&hex(&[b]).to_ascii_uppercase());
            }
        }
    }
    out
}

fn unescape(s: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(s.len());
    let mut rest = s;
    while let Some(eq) = rest.find('=') {
        bytes.extend_from_slice(&rest.as_bytes()[..eq]);
        bytes.extend(unhex(rest.get(eq + 1..eq + 3)?)?);
        rest = &rest[eq + 3..];
    }
    bytes.extend_from_slice(rest.as_bytes());
    String::from_utf8(bytes).ok()
}

/// The ticket number in a subject's `[#HD-1042]` token (also `[HD-1042]`), as `HD-1042`.
///
/// Only a hint: the architecture accepts it from the ticket's customer or a participant only.
pub fn subject_token(subject: &str) -> Option<String> {
    let mut rest = subject;
    while let Some(open) = rest.find('[') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find(']') else {
            break;
        };
        let inner = rest[..close].trim();
        if inner.len() <= 24 {
            if let Ok(number) = helpdesk_domain::TicketNumber::parse(inner) {
                return Some(number.to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> ThreadSigner {
        ThreadSigner::new(b"0123456789abcdef0123456789abcdef", "Help.Example.com")
    }

    #[test]
    fn message_ids_round_trip() {
        let s = signer();
        let id = s.message_id_for("HD-1042", "01HZX3K7Q9");
        assert!(id.starts_with("<t.HD-1042.01HZX3K7Q9."), "{id}");
        assert!(id.ends_with("@help.example.com>"), "{id}");
        assert_eq!(s.verify_message_id(&id).as_deref(), Some("HD-1042"));
        let bare = id.trim_matches(['<', '>']);
        assert_eq!(s.verify_message_id(bare).as_deref(), Some("HD-1042"));
        assert_eq!(
            s.verify_message_id(&bare.to_uppercase()).as_deref(),
            Some("HD-1042")
        );
    }

    #[test]
    fn reply_addresses_round_trip() {
        let s = signer();
        let addr = s.reply_address("support", "HD-7");
        assert!(addr.starts_with("support+HD-7."), "{addr}");
        assert!(addr.ends_with("@help.example.com"), "{addr}");
        assert_eq!(s.verify_reply_address(&addr).as_deref(), Some("HD-7"));
        assert_eq!(
            s.verify_reply_address(&addr.to_lowercase()).as_deref(),
            Some("hd-7")
        );
        assert_eq!(
            s.verify_reply_address(&format!("\"Help\" <{addr}>"))
                .as_deref(),
            Some("HD-7")
        );
    }

    #[test]
    fn odd_tickets_are_escaped_and_round_trip() {
        let s = signer();
        for ticket in ["a.b", "a=b", "ü+ß@x", "a b"] {
            let id = s.message_id_for(ticket, "u.1");
            assert_eq!(s.verify_message_id(&id).as_deref(), Some(ticket), "{id}");
            let addr = s.reply_address("support", ticket);
            assert_eq!(
                s.verify_reply_address(&addr).as_deref(),
                Some(ticket),
                "{addr}"
            );
        }
        assert_ne!(s.message_id_for("a.b", "u"), s.message_id_for("a-b", "u"));
    }

    #[test]
    fn forgeries_are_refused() {
        let s = signer();
        let id = s.message_id_for("HD-1042", "u1");
        let tag = id
            .trim_matches(['<', '>'])
            .split('@')
            .next()
            .and_then(|l| l.rsplit('.').next())
            .expect("tag")
            .to_owned();
        let forged_ticket = format!("<t.HD-1043.u1.{tag}@help.example.com>");
        assert_eq!(s.verify_message_id(&forged_ticket), None);
        let other_domain = id.replace("help.example.com", "evil.example");
        assert_eq!(s.verify_message_id(&other_domain), None);
        let other_key = ThreadSigner::new(b"another secret", "help.example.com");
        assert_eq!(other_key.verify_message_id(&id), None);
        // A message-id tag does not work as a reply-address tag.
        assert_eq!(
            s.verify_reply_address(&format!("support+HD-1042.{tag}@help.example.com")),
            None
        );
        for junk in [
            "",
            "<>",
            "t.@help.example.com",
            "t...@help.example.com",
            "t.a.b.zz@help.example.com",
            "support@help.example.com",
            "support+.@help.example.com",
            "support+x.0123456789abcdef@help.example.com",
            "support+=zz.0123456789abcdef@help.example.com",
        ] {
            assert_eq!(s.verify_message_id(junk), None, "{junk}");
            assert_eq!(s.verify_reply_address(junk), None, "{junk}");
        }
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let text = format!("{:?}", signer());
        assert!(text.contains("help.example.com"));
        assert!(!text.contains("0123"));
    }

    #[test]
    fn subject_tokens() {
        assert_eq!(
            subject_token("Re: [#HD-1042] Cannot log in").as_deref(),
            Some("HD-1042")
        );
        assert_eq!(subject_token("AW: [hd-7] x").as_deref(), Some("HD-7"));
        assert_eq!(
            subject_token("[External] Re: [#HD-12]").as_deref(),
            Some("HD-12")
        );
        assert_eq!(subject_token("HD-1042 without brackets"), None);
        assert_eq!(subject_token("[#HD-0]"), None);
        assert_eq!(subject_token("[#HD-]"), None);
        assert_eq!(subject_token("[[[#"), None);
    }
}
