//! The API function's embedded knowledge-base index (`HELPDESK_KB_SEARCH=embedded`): a RAM
//! tantivy index inside each Lambda instance, rebuilt from the table (the published versions,
//! `Helpdesk::reindex_kb`) on the instance's first search and again before a search once it is
//! older than `HELPDESK_KB_MAX_AGE_SECONDS` (default 300). Publishes made on the same instance
//! show at once; on other instances within that bound. No second copy of the index is kept
//! anywhere (the table is the source of truth), which suits small knowledge bases: a rebuild
//! reads every published article.

use crate::ComposeError;
use async_trait::async_trait;
use helpdesk_adapters::local::TantivyKbIndex;
use helpdesk_app::ports::{KbDocument, KbHit, KbIndex, KbIndexError, KbQuery};
use helpdesk_app::Helpdesk;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Attaches a rebuilt-on-demand RAM index to `helpdesk`.
pub fn with_rebuilt_index(helpdesk: Helpdesk, max_age: Duration) -> Result<Helpdesk, ComposeError> {
    let kb = Arc::new(RebuiltKbIndex {
        inner: TantivyKbIndex::in_memory()
            .map_err(|e| ComposeError::adapter("HELPDESK_KB_SEARCH")(e.to_string()))?,
        built: Mutex::new(None),
        max_age,
        helpdesk: OnceLock::new(),
    });
    let helpdesk = helpdesk.with_kb_index(kb.clone());
    // The rebuild runs the app's reindex over this index; the Helpdesk and the index refer to
    // each other for the life of the process, which is what a Lambda wants.
    let _ = kb.helpdesk.set(helpdesk.clone());
    Ok(helpdesk)
}

/// The embedded index of one Lambda instance, rebuilt from storage when missing or too old.
pub struct RebuiltKbIndex {
    inner: TantivyKbIndex,
    built: Mutex<Option<Instant>>,
    max_age: Duration,
    helpdesk: OnceLock<Helpdesk>,
}

impl RebuiltKbIndex {
    async fn refresh_if_stale(&self) -> Result<(), KbIndexError> {
        let due = {
            let mut built = self
                .built
                .lock()
                .map_err(|_| KbIndexError::Unavailable("poisoned".into()))?;
            let due = built.is_none_or(|t| t.elapsed() > self.max_age);
            if due {
                // Claimed before the rebuild: concurrent searches use the current index.
                *built = Some(Instant::now());
            }
            due
        };
        if let (true, Some(helpdesk)) = (due, self.helpdesk.get()) {
            match helpdesk.reindex_kb().await {
                Ok(_) => {}
                Err(e) => {
                    // Try again on the next search.
                    if let Ok(mut built) = self.built.lock() {
                        *built = None;
                    }
                    return Err(KbIndexError::Unavailable(Box::new(std::io::Error::other(
                        format!("rebuilding the embedded KB index: {e}"),
                    ))));
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl KbIndex for RebuiltKbIndex {
    async fn upsert(&self, docs: Vec<KbDocument>) -> Result<(), KbIndexError> {
        self.inner.upsert(docs).await
    }
    async fn remove(&self, article_id: &str, locale: &str) -> Result<(), KbIndexError> {
        self.inner.remove(article_id, locale).await
    }
    async fn search(&self, query: &KbQuery) -> Result<Vec<KbHit>, KbIndexError> {
        self.refresh_if_stale().await?;
        self.inner.search(query).await
    }
    async fn clear(&self) -> Result<(), KbIndexError> {
        self.inner.clear().await
    }
}
