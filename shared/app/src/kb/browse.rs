//! Browsing the public knowledge base (the help centre's home and topic pages): the live
//! articles a reader may read, as they read them, with their view counts. Internal articles
//! are never part of it, whoever asks.

use super::*;

/// Live articles read for one listing, at most (10 pages of the `KBLIVE` index).
const LIVE_SCAN_PAGES: usize = 10;

/// One live article as a reader sees it in a list.
#[derive(Debug, Clone, Serialize)]
pub struct LiveArticle {
    pub id: ArticleId,
    /// The translation group: one entry per group and language.
    pub group: ArticleId,
    pub title: String,
    pub summary: String,
    pub topic: Vec<String>,
    pub audiences: Vec<Audience>,
    pub locale: String,
    pub published_at: Option<chrono::DateTime<chrono::Utc>>,
    pub views: i64,
}

impl Helpdesk {
    /// Every live article this reader may read (never internal ones), newest first, with view
    /// counts. Reads the head when it is the live version, the live version otherwise.
    pub async fn readable_live_articles(
        &self,
        actor: Option<&Actor>,
    ) -> Result<Vec<LiveArticle>, AppError> {
        let audiences: Vec<Audience> = self
            .kb_reader_audiences(actor)
            .await?
            .into_iter()
            .filter(|a| *a != Audience::Internal)
            .collect();
        let views = self.view_counts().await?;
        let mut out = Vec::new();
        let mut cursor = None;
        for _ in 0..LIVE_SCAN_PAGES {
            let page = self
                .table
                .query(
                    &Query::partition(Some(Index::Gsi4), keys::KB_LIVE_PARTITION)
                        .limit(100)
                        .cursor(cursor.take()),
                )
                .await
                .map_err(AppError::storage("listing live articles"))?;
            for item in &page.items {
                let head: Article = from_item(item)?;
                let Some(n) = head.published_version else {
                    continue;
                };
                let content = if head.latest_version == n {
                    head.content.clone()
                } else {
                    match self.load_version(&head.id, n).await? {
                        Some(v) => v.content,
                        None => continue,
                    }
                };
                if !content.visible_to(&audiences) {
                    continue;
                }
                out.push(LiveArticle {
                    id: head.id,
                    group: content.translation_group(head.id),
                    title: content.title,
                    summary: content.summary,
                    topic: content.topic,
                    audiences: content.audiences.into_iter().collect(),
                    locale: content.locale,
                    published_at: head.published_at,
                    views: views.get(&head.id.to_string()).copied().unwrap_or(0),
                });
            }
            cursor = page.cursor;
            if cursor.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| b.published_at.cmp(&a.published_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Views per article id (one query over the counters' partition).
    async fn view_counts(&self) -> Result<BTreeMap<String, i64>, AppError> {
        let mut out = BTreeMap::new();
        let mut cursor = None;
        loop {
            let page = self
                .table
                .query(
                    &Query::partition(None, keys::KB_STATS_PARTITION)
                        .sk(SortKey::BeginsWith("views#".into()))
                        .limit(1_000)
                        .cursor(cursor),
                )
                .await
                .map_err(AppError::storage("reading KB view counts"))?;
            for item in &page.items {
                if let Some(id) = item.key.sk.strip_prefix("views#") {
                    out.insert(id.to_string(), item.counter.unwrap_or(0));
                }
            }
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(out)
    }
}
