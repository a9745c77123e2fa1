//! Signed values for public links and cookies (surveys, unsubscribe, help-centre sign-in).
//!
//! One deployment secret (`AutomationConfig::link_secret`); a key per purpose is derived from
//! it, so a value signed for one purpose is never valid as another, and the secret itself never
//! signs user-visible data.

use crate::{AppError, Helpdesk};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub(crate) fn mac(secret: &[u8], purpose: &str, payload: &str) -> Vec<u8> {
    let derived = match HmacSha256::new_from_slice(secret) {
        Ok(mut m) => {
            m.update(purpose.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    };
    match HmacSha256::new_from_slice(&derived) {
        Ok(mut m) => {
            m.update(payload.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

pub(crate) fn verify_mac(secret: &[u8], purpose: &str, payload: &str, sig: &str) -> bool {
    let Ok(given) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sig) else {
        return false;
    };
    let Ok(mut derived) = HmacSha256::new_from_slice(secret) else {
        return false;
    };
    derived.update(purpose.as_bytes());
    let key = derived.finalize().into_bytes();
    let Ok(mut m) = HmacSha256::new_from_slice(&key) else {
        return false;
    };
    m.update(payload.as_bytes());
    // Constant-time comparison.
    m.verify_slice(&given).is_ok()
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Longest signed value [`Helpdesk::open`] looks at (a cookie must fit in 4 KiB).
pub const SIGNED_MAX: usize = 3_000;

impl Helpdesk {
    /// `payload` signed for `purpose`, as `base64url(payload).base64url(mac)`: safe in URLs and
    /// cookies. Needs the link secret (`with_automation`); without it signing is unavailable.
    pub fn seal(&self, purpose: &str, payload: &str) -> Result<String, AppError> {
        let cfg = self
            .automation
            .as_ref()
            .ok_or_else(|| AppError::internal("signing a link", "no link secret is configured"))?;
        let body = b64(payload.as_bytes());
        Ok(format!(
            "{body}.{}",
            b64(&mac(&cfg.link_secret, purpose, &body))
        ))
    }

    /// The payload of a value [`Helpdesk::seal`]ed for this `purpose`, if its signature holds.
    /// Expiry and single use are the caller's rules: put them in the payload.
    pub fn open(&self, purpose: &str, sealed: &str) -> Option<String> {
        let cfg = self.automation.as_ref()?;
        if sealed.len() > SIGNED_MAX {
            return None;
        }
        let (body, sig) = sealed.trim().split_once('.')?;
        if !verify_mac(&cfg.link_secret, purpose, body, sig) {
            return None;
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .ok()?;
        String::from_utf8(raw).ok()
    }
}
