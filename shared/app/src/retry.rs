//! Retrying a read-modify-write whose record moved underneath it.
//!
//! A caller that sends a version (`If-Match`, `version`) asked for "change it as I saw it": a
//! moved record is their conflict (409). A caller that sends none (an e-mail arriving, a
//! customer's reply from the app, a bulk edit) asked for "apply this to whatever is current":
//! the use case re-reads and tries again, bounded, with jittered backoff so that contenders
//! spread out instead of colliding again in lock step.

use crate::AppError;
use rand::Rng;
use std::future::Future;
use std::time::Duration;

/// Attempts of an unversioned write before the conflict is given back. Enough for dozens of
/// writers on one ticket at once (each round lets one through, and the backoff spreads them).
pub const UNVERSIONED_ATTEMPTS: u32 = 40;

/// Backoff before attempt `n + 1`: full jitter over an exponential window, 4 ms doubling to
/// 250 ms.
pub fn backoff(n: u32) -> Duration {
    let window = 4u64.saturating_mul(1 << n.min(6)).min(250);
    Duration::from_millis(rand::thread_rng().gen_range(1..=window))
}

impl AppError {
    /// A stale-version conflict of a record that is still there: another write won the race.
    /// (A conflict on a create-only item, e.g. a Message-ID already recorded, has no current
    /// version and is not retried.)
    pub fn moved(&self) -> bool {
        matches!(
            self,
            AppError::Conflict {
                current_version: Some(_),
                ..
            }
        )
    }
}

/// Runs `attempt` until it succeeds, fails with something other than [`AppError::moved`], or
/// [`UNVERSIONED_ATTEMPTS`] are used. With `versioned` the first answer is final.
pub async fn unless_versioned<T, F, Fut>(versioned: bool, mut attempt: F) -> Result<T, AppError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AppError>>,
{
    let mut n = 1;
    loop {
        match attempt().await {
            Err(e) if !versioned && n < UNVERSIONED_ATTEMPTS && e.moved() => {
                tracing::debug!(
                    attempt = n,
                    "the record moved underneath an unversioned write; retrying"
                );
                tokio::time::sleep(backoff(n)).await;
                n += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn moved() -> AppError {
        AppError::Conflict {
            detail: "moved".into(),
            current_version: Some(3),
        }
    }

    #[tokio::test]
    async fn an_unversioned_write_is_retried_until_it_lands() {
        let calls = AtomicU32::new(0);
        let r = unless_versioned(false, || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                Err(moved())
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(r.ok(), Some(7));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_versioned_write_gets_its_conflict_at_once() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = unless_versioned(true, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(moved())
        })
        .await;
        assert!(matches!(r, Err(AppError::Conflict { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_duplicate_is_not_retried_and_retries_are_bounded() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = unless_versioned(false, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(AppError::Conflict {
                detail: "already recorded".into(),
                current_version: None,
            })
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        for n in 0..50 {
            assert!(backoff(n) <= Duration::from_millis(250));
        }
    }
}
