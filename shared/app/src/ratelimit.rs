//! Fixed-window rate limits over the storage port: one counter item per caller and window,
//! created with a conditional put and counted with an atomic add, expiring an hour after its
//! window. Works the same on DynamoDB and the local engine; no in-process state, so every
//! Lambda instance and every server process sees one count.

use crate::ports::{Condition, Item, Key, TableError};
use crate::{AppError, Helpdesk};

/// Who a limit counts, as it may appear in a key: the first 128 bits of SHA-256 in hex, so no
/// address, IP or visitor id is stored.
pub fn key_hash(who: &str) -> String {
    let mut h = crate::attachments::sha256_hex(who.as_bytes());
    h.truncate(32);
    h
}

impl Helpdesk {
    /// Counts one event for `who` in the current `window_secs` window of `bucket`; above `limit`
    /// the caller is refused with `AppError::RateLimited(message)` (HTTP 429). `who` is stored
    /// in a key: pass a hash or an id, never a secret.
    pub async fn rate_limit(
        &self,
        bucket: &str,
        who: &str,
        limit: i64,
        window_secs: i64,
        message: &'static str,
    ) -> Result<(), AppError> {
        let window_secs = window_secs.max(1);
        let now = self.clock.now().timestamp();
        let start = now - now.rem_euclid(window_secs);
        let key = Key::new(format!("RATE#{bucket}#{who}"), format!("{start}"));
        let item = Item::new(key.clone(), 1, serde_json::json!({}))
            .expiring_at(start + window_secs + 3_600);
        match self.table.put(item, Condition::NotExists).await {
            Ok(()) | Err(TableError::ConditionFailed) => {}
            Err(e) => return Err(AppError::storage("checking a rate limit")(e)),
        }
        let n = self
            .table
            .add(&key, 1)
            .await
            .map_err(AppError::storage("checking a rate limit"))?;
        if n > limit {
            return Err(AppError::RateLimited(message));
        }
        Ok(())
    }
}
