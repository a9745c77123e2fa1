//! Knowledge-base search for the API Lambda, chosen by `HELPDESK_KB_SEARCH` (template parameter
//! `KbSearch`):
//!
//! - `opensearch` (default): the OpenSearch domain at `HELPDESK_OPENSEARCH_ENDPOINT`, requests
//!   signed with the function role (SigV4).
//! - `embedded`: a RAM tantivy index inside each Lambda instance, rebuilt from DynamoDB (the
//!   published versions, `Helpdesk::reindex_kb`) on the instance's first search and again before
//!   a search once it is older than `HELPDESK_KB_MAX_AGE_SECONDS` (default 300). Publishes made
//!   on the same instance show at once; on other instances within that bound. No second copy
//!   of the index is kept anywhere (DynamoDB is the source of truth), which suits small
//!   knowledge bases: a rebuild reads every published article.

use async_trait::async_trait;
use helpdesk_adapters::aws::OpenSearchKbIndex;
use helpdesk_adapters::local::TantivyKbIndex;
use helpdesk_app::ports::{KbDocument, KbHit, KbIndex, KbIndexError, KbQuery};
use helpdesk_app::Helpdesk;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Attaches the configured KB index to `helpdesk`.
pub fn with_kb_index(
    helpdesk: Helpdesk,
    get: impl Fn(&str) -> Option<String>,
    config: &aws_config::SdkConfig,
) -> Result<Helpdesk, String> {
    let mode = get("HELPDESK_KB_SEARCH").unwrap_or_else(|| "opensearch".into());
    match mode.as_str() {
        "opensearch" => {
            let endpoint = get("HELPDESK_OPENSEARCH_ENDPOINT")
                .filter(|e| !e.is_empty())
                .ok_or("HELPDESK_OPENSEARCH_ENDPOINT is not set (HELPDESK_KB_SEARCH=opensearch)")?;
            // The domain endpoint attribute has no scheme.
            let endpoint = if endpoint.starts_with("http") {
                endpoint
            } else {
                format!("https://{endpoint}")
            };
            let index = get("HELPDESK_OPENSEARCH_INDEX").unwrap_or_else(|| "kb".into());
            let kb = OpenSearchKbIndex::from_sdk_config(&endpoint, &index, config)
                .map_err(|e| e.to_string())?;
            Ok(helpdesk.with_kb_index(Arc::new(kb)))
        }
        "embedded" => {
            let max_age = get("HELPDESK_KB_MAX_AGE_SECONDS")
                .map(|s| {
                    s.parse::<u64>()
                        .map_err(|_| "HELPDESK_KB_MAX_AGE_SECONDS must be a number of seconds")
                })
                .transpose()?
                .unwrap_or(300);
            let kb = Arc::new(RebuiltKbIndex {
                inner: TantivyKbIndex::in_memory().map_err(|e| e.to_string())?,
                built: Mutex::new(None),
                max_age: Duration::from_secs(max_age),
                helpdesk: OnceLock::new(),
            });
            let helpdesk = helpdesk.with_kb_index(kb.clone());
            // The rebuild runs the app's reindex over this index; the Helpdesk and the index
            // refer to each other for the life of the process, which is what a Lambda wants.
            let _ = kb.helpdesk.set(helpdesk.clone());
            Ok(helpdesk)
        }
        other => Err(format!(
            "HELPDESK_KB_SEARCH must be opensearch or embedded, not {other:?}"
        )),
    }
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
