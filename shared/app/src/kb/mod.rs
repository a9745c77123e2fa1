//! Knowledge base: articles with immutable versions and an approval workflow, readers'
//! feedback and views, search through the [`KbIndex`] port, suggestions, and the
//! effectiveness numbers.
//!
//! Uploaded files (documents, images, videos) are blobs `att/{sha256}` shared with ticket
//! attachments, recorded on versions: see [`files`].
//!
//! | item | pk | sk | indexes |
//! |---|---|---|---|
//! | article head | `KB#{id}` | `#ARTICLE` | gsi1 `KBS#{status}`, gsi2 `KBL#{locale}`, gsi3 `KBA` (all `{updated}#{id}`), gsi4 `KBLIVE` / `{id}` while live, gsi5 `KBT#{group}` / `{locale}#{id}` |
//! | version (immutable) | `KB#{id}` | `V#{n:010}` | — |
//! | review comment / audit | `KB#{id}` | `C#{ulid}` / `A#{ulid}` | — |
//! | feedback vote (one per viewer) | `KB#{id}` | `FB#{viewer hash}` | — |
//! | ticket link / resolved-ticket claim | `KB#{id}` | `LINK#{ticket}` / `RLINK#{ticket}` | — |
//! | a ticket's linked articles | `TKB#{ticket}` | `{article}` | — |
//! | counters | `KBSTATS` | `{views,yes,no,rsum,rcnt,rlinks,defl}#{id}` | — |
//! | zero-result queries | `KBZERO#{yyyy-mm}` | `{normalised query}` | — |
//! | rate windows | `KBRATE#{who}` | `{kind}#{window}` (TTL) | — |
//! | deflection claim | `KBDEFL#{session}` | `{article}` (TTL 30 days) | — |
//! | needs reindex | `KBREINDEX` | `{id}` | — |
//! | resolution to count (pending) | `KBRESOLVED` | `{ticket}` | — |
//!
//! "Linked from a resolved ticket" counts each (article, ticket) pair once: when a ticket
//! leaves the open statuses (resolved, or closed directly), the ticket write also puts a
//! `KBRESOLVED` marker; right after the commit every linked article is counted with an
//! `RLINK#{ticket}` claim (`attribute_not_exists` + `ADD`), then the marker goes. A crash in
//! between leaves the marker for the minute sweep ([`Helpdesk::sweep_kb_resolutions`]); retries
//! count nothing twice. Reopening and resolving again does not count an article again (the
//! number reads "resolved tickets that link this article"), but an article linked since does
//! count, and so does a link made while the ticket is resolved or closed.
//!
//! The search index is fed after each commit (publish → upsert, archive → remove). If that call
//! fails the write stands, the article is flagged, and `helpdesk reindex` rebuilds everything.

mod browse;
pub mod diff;
pub mod files;
pub mod render;

use crate::directory::require;
use crate::keys::{self, from_item, time_key, to_doc};
use crate::ports::{
    Condition, Index, Item, KbDocument, KbIndexError, KbQuery, Key, Query, SortKey, TableError,
    WriteOp,
};
use crate::{AppError, Helpdesk};
use helpdesk_domain::kb::{
    self, can_author, can_read_drafts, Article, ArticleContent, ArticleId, ArticleStatus,
    ArticleVersion, AttachmentRef, Feedback, KbAction, KbAuditEvent, ReviewComment, StepError,
    Video,
};
use helpdesk_domain::{Actor, Audience, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use browse::LiveArticle;
pub use diff::ArticleDiff;

// ---------------------------------------------------------------------------------------------
// Inputs and views.

/// An article's content as written by an author. Every save of it is a new version.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleInput {
    pub title: String,
    #[serde(default)]
    pub summary: String,
    /// Markdown.
    pub body: String,
    /// Topic path, most general first: `["Billing", "Refunds"]`.
    #[serde(default)]
    pub topic: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// `internal`, `customers`, `business_owners` (at least one).
    pub audiences: Vec<Audience>,
    /// Default `en`.
    #[serde(default)]
    pub locale: Option<String>,
    /// The article this one translates.
    #[serde(default)]
    pub translation_of: Option<ArticleId>,
    /// YouTube or Vimeo links; stored as privacy-friendly embed URLs.
    #[serde(default)]
    pub videos: Vec<String>,
    /// The article's uploaded files (upload them with `POST /kb/articles/{id}/files`).
    /// Omitted: the files stay as they are. Given: the files to keep, each one already on the
    /// article (a save can drop or reorder files, not add any).
    #[serde(default)]
    pub attachments: Option<Vec<AttachmentRef>>,
    #[serde(default)]
    pub related: Vec<ArticleId>,
    /// For updates: the article's `version` as read (or send `If-Match`). Stale → 409.
    #[serde(default)]
    pub version: Option<u64>,
}

/// A workflow step's optional remark (required for `request-changes`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepInput {
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub version: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentInput {
    pub body: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackInput {
    pub helpful: bool,
    /// 1-5.
    #[serde(default)]
    pub rating: Option<u8>,
    #[serde(default)]
    pub comment: Option<String>,
    /// Anonymous visitors: a random id the help centre keeps for the browser (8-64 of
    /// `A-Z a-z 0-9 _ -`); one vote per id. Signed-in callers vote as themselves.
    #[serde(default)]
    pub visitor_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeflectionInput {
    /// The suggested article the visitor opened.
    pub article_id: ArticleId,
    /// The request form's session (8-64 of `A-Z a-z 0-9 _ -`); counted once per article.
    pub session_id: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkInput {
    pub article_id: ArticleId,
}

/// Filters of the article list (staff).
#[derive(Debug, Clone, Default)]
pub struct ArticleFilter {
    pub status: Option<ArticleStatus>,
    pub audience: Option<Audience>,
    /// A topic path prefix.
    pub topic: Option<Vec<String>>,
    pub locale: Option<String>,
    pub limit: usize,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ArticleSummary {
    pub id: ArticleId,
    pub title: String,
    pub status: ArticleStatus,
    pub locale: String,
    pub audiences: Vec<Audience>,
    pub topic: Vec<String>,
    pub tags: Vec<String>,
    pub latest_version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_version: Option<u64>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub version: u64,
}

impl From<&Article> for ArticleSummary {
    fn from(a: &Article) -> Self {
        ArticleSummary {
            id: a.id,
            title: a.content.title.clone(),
            status: a.status,
            locale: a.content.locale.clone(),
            audiences: a.content.audiences.iter().copied().collect(),
            topic: a.content.topic.clone(),
            tags: a.content.tags.iter().cloned().collect(),
            latest_version: a.latest_version,
            published_version: a.published_version,
            updated_at: a.updated_at,
            version: a.version,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ArticlePage {
    pub items: Vec<ArticleSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The team's view of an article: its head, the newest version rendered, what may happen next,
/// review comments and history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ArticleView {
    pub article: Article,
    /// The newest version's body, rendered and sanitised.
    pub body_html: String,
    /// Workflow steps this caller may take now.
    pub allowed_actions: Vec<KbAction>,
    pub comments: Vec<ReviewComment>,
    pub audit: Vec<KbAuditEvent>,
    pub translations: Vec<Translation>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Translation {
    pub article_id: ArticleId,
    pub locale: String,
    pub title: String,
}

/// What a reader sees: the live version only.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublishedArticle {
    pub id: ArticleId,
    /// The live version's number.
    pub version: u64,
    pub title: String,
    pub summary: String,
    /// Rendered and sanitised Markdown.
    pub body_html: String,
    pub topic: Vec<String>,
    pub tags: Vec<String>,
    pub audiences: Vec<Audience>,
    pub locale: String,
    pub videos: Vec<Video>,
    pub attachments: Vec<AttachmentRef>,
    /// The uploaded files with where to download them (same order as `attachments`).
    pub files: Vec<files::FileLink>,
    pub related: Vec<ArticleId>,
    /// Live translations this reader may also read.
    pub translations: Vec<Translation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionSummary {
    pub number: u64,
    pub title: String,
    pub author: helpdesk_domain::ActorRef,
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<u64>,
    /// This is the version readers see.
    pub live: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KbSearchHit {
    pub article_id: ArticleId,
    pub locale: String,
    pub title: String,
    pub summary: String,
    /// HTML: escaped text with the matches in `<mark>`.
    pub snippet: String,
    pub score: f32,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KbSearchResults {
    pub query: String,
    pub hits: Vec<KbSearchHit>,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ArticleStats {
    pub article_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub views: i64,
    pub helpful_yes: i64,
    pub helpful_no: i64,
    /// Share of "yes" votes, 0-100; absent without votes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helpful_pct: Option<f64>,
    pub ratings: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_rating: Option<f64>,
    /// Resolved or closed tickets that link this article.
    pub resolved_ticket_links: i64,
    /// Customers who opened this suggestion and then did not submit their request.
    pub deflections: i64,
}

impl ArticleStats {
    /// Fills in the derived numbers from the counts and the sum of all ratings.
    fn finish(&mut self, rating_sum: i64) {
        let votes = self.helpful_yes + self.helpful_no;
        self.helpful_pct =
            (votes > 0).then(|| round1(self.helpful_yes as f64 * 100.0 / votes as f64));
        self.avg_rating =
            (self.ratings > 0).then(|| round1(rating_sum as f64 / self.ratings as f64));
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ZeroResultQuery {
    pub query: String,
    pub count: i64,
}

/// The KB-effectiveness numbers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KbStats {
    pub totals: ArticleStats,
    /// Most viewed first (at most 50).
    pub articles: Vec<ArticleStats>,
    /// This month's searches that found nothing, most frequent first (at most 20).
    pub zero_result_queries: Vec<ZeroResultQuery>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FeedbackSummary {
    pub stats: ArticleStats,
    /// Votes that came with a comment (at most 50).
    pub comments: Vec<Feedback>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LinkOutcome {
    pub article_id: ArticleId,
    pub ticket_id: String,
    /// The ticket is resolved or closed, so the link counts for the article's effectiveness.
    pub counted_as_resolved: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReindexReport {
    pub articles: usize,
    pub documents: usize,
    pub flags_cleared: usize,
}

// ---------------------------------------------------------------------------------------------
// Helpers.

const SEARCH_LIMIT_MAX: usize = 50;
const FEEDBACK_PER_HOUR: i64 = 30;
const ANON_FEEDBACK_PER_ARTICLE_HOUR: i64 = 120;
const DEFLECTION_TTL_SECS: i64 = 30 * 86_400;

fn check_token(field: &'static str, raw: &str) -> Result<String, AppError> {
    let s = raw.trim();
    if (8..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(s.to_string())
    } else {
        Err(AppError::validation(
            field,
            "must be 8-64 characters of A-Z a-z 0-9 _ -",
        ))
    }
}

/// A viewer's identity as a short hash, so e-mail addresses stay out of the keys.
fn viewer_hash(actor: Option<&Actor>, visitor: Option<&str>) -> Result<String, AppError> {
    let who = match actor {
        Some(Actor::Staff { email, .. } | Actor::Customer { email }) => format!("u:{email}"),
        Some(Actor::System { job }) => format!("s:{job}"),
        Some(Actor::Platform { client_id, .. }) => match visitor {
            Some(v) => format!("p:{client_id}:{}", check_token("visitor_id", v)?),
            None => {
                return Err(AppError::validation(
                    "visitor_id",
                    "the platform votes on behalf of a visitor: name one",
                ))
            }
        },
        None => match visitor {
            Some(v) => format!("v:{}", check_token("visitor_id", v)?),
            None => {
                return Err(AppError::validation(
                    "visitor_id",
                    "anonymous feedback needs the browser's visitor id",
                ))
            }
        },
    };
    Ok(crate::ratelimit::key_hash(&who))
}

fn step_error(e: StepError) -> AppError {
    match e {
        StepError::Forbidden(why) => AppError::Forbidden(why),
        StepError::Rule(r) => r.into(),
    }
}

fn stale(what: &str, current: u64, expected: u64) -> AppError {
    AppError::Conflict {
        detail: format!("the {what} is at version {current}, not {expected}"),
        current_version: Some(current),
    }
}

fn conflict_on_cancel(e: TableError) -> AppError {
    match e {
        TableError::ConditionFailed | TableError::TransactionCancelled { .. } => {
            AppError::Conflict {
                detail: "the article changed since it was read; reload and try again".into(),
                current_version: None,
            }
        }
        other => AppError::storage("saving an article")(other),
    }
}

fn index_error(e: KbIndexError) -> AppError {
    match e {
        KbIndexError::BadQuery(m) => AppError::validation("q", m),
        other => AppError::internal("searching the knowledge base", other),
    }
}

fn document(id: ArticleId, v: &ArticleVersion, updated_at: Timestamp) -> KbDocument {
    KbDocument {
        article_id: id.to_string(),
        locale: v.content.locale.clone(),
        version: v.number,
        title: v.content.title.clone(),
        summary: v.content.summary.clone(),
        body: render::markdown_to_text(&v.content.body),
        tags: v.content.tags.iter().cloned().collect(),
        topic: v.content.topic.clone(),
        audiences: v.content.audiences.iter().copied().collect(),
        updated_at,
    }
}

impl Helpdesk {
    fn kb_audit(
        &self,
        id: ArticleId,
        actor: &Actor,
        action: &str,
        version: Option<u64>,
        note: Option<String>,
        now: Timestamp,
    ) -> Result<Item, AppError> {
        let event = KbAuditEvent {
            id: self.ids.ulid().to_string(),
            article_id: id,
            actor: actor.reference(),
            action: action.to_string(),
            version,
            note,
            at: now,
        };
        Ok(Item::new(
            Key::new(keys::kb_pk(&id), format!("A#{}", event.id)),
            1,
            to_doc(&event)?,
        ))
    }

    pub(crate) async fn load_article(&self, id: &ArticleId) -> Result<Option<Article>, AppError> {
        self.load_entity(&keys::kb_article_key(id), "reading an article")
            .await
    }

    async fn article_or_404(&self, id: &ArticleId) -> Result<Article, AppError> {
        self.load_article(id)
            .await?
            .ok_or(AppError::NotFound { what: "article" })
    }

    async fn load_version(
        &self,
        id: &ArticleId,
        number: u64,
    ) -> Result<Option<ArticleVersion>, AppError> {
        self.load_entity(
            &keys::kb_version_key(id, number),
            "reading an article version",
        )
        .await
    }

    async fn version_or_404(
        &self,
        id: &ArticleId,
        number: u64,
    ) -> Result<ArticleVersion, AppError> {
        self.load_version(id, number)
            .await?
            .ok_or(AppError::NotFound { what: "version" })
    }

    /// What this reader may see (a customer's business-owner flag comes from their record).
    pub async fn kb_reader_audiences(
        &self,
        actor: Option<&Actor>,
    ) -> Result<Vec<Audience>, AppError> {
        let owner = match actor {
            Some(Actor::Customer { email }) => self
                .load_customer(email)
                .await?
                .is_some_and(|c| c.business_owner),
            _ => false,
        };
        Ok(Audience::for_reader(actor, owner))
    }

    /// Validates an author's input into content (and checks what it points at exists).
    async fn content_from_input(
        &self,
        me: Option<ArticleId>,
        input: &ArticleInput,
        current_files: &[AttachmentRef],
    ) -> Result<ArticleContent, AppError> {
        let attachments = match &input.attachments {
            None => current_files.to_vec(),
            Some(keep) => {
                if let Some(f) = keep.iter().find(|f| !current_files.contains(f)) {
                    return Err(AppError::validation(
                        "attachments",
                        format!(
                            "{:?} is not a file of this article; upload files with POST /api/v1/kb/articles/{{id}}/files",
                            f.name
                        ),
                    ));
                }
                kb::check_attachments(keep.clone())?
            }
        };
        let locale = match input.locale.as_deref().map(str::trim) {
            None | Some("") => "en".to_string(),
            Some(l) => helpdesk_domain::people::parse_locale(l).map_err(|_| {
                AppError::validation("locale", "must be a language tag such as en or pt-BR")
            })?,
        };
        let translation_of = match input.translation_of {
            None => None,
            Some(t) if Some(t) == me => {
                return Err(AppError::validation(
                    "translation_of",
                    "an article does not translate itself",
                ))
            }
            Some(t) => {
                let original = self.load_article(&t).await?.ok_or_else(|| {
                    AppError::validation("translation_of", format!("no article {t}"))
                })?;
                // Translations of a translation join the original's group.
                Some(original.content.translation_group(original.id))
            }
        };
        let related = kb::check_related(me, &input.related)?;
        for r in &related {
            if self.load_article(r).await?.is_none() {
                return Err(AppError::validation("related", format!("no article {r}")));
            }
        }
        Ok(ArticleContent {
            title: kb::parse_title(&input.title)?,
            summary: kb::parse_summary(&input.summary)?,
            body: kb::parse_body(&input.body)?,
            topic: kb::parse_topic(input.topic.iter().map(String::as_str))?,
            tags: helpdesk_domain::ticket::parse_tags(input.tags.iter().map(String::as_str))?,
            audiences: kb::parse_audiences(&input.audiences)?,
            locale,
            translation_of: translation_of.filter(|g| Some(*g) != me),
            videos: kb::parse_videos(&input.videos)?,
            attachments,
            related,
        })
    }

    // ---- authoring ----

    pub async fn create_article(
        &self,
        actor: &Actor,
        input: ArticleInput,
    ) -> Result<Article, AppError> {
        require(can_author(actor), "only the support team writes articles")?;
        let content = self.content_from_input(None, &input, &[]).await?;
        let now = self.clock.now();
        let id = ArticleId::from_ulid(self.ids.ulid());
        let article = Article {
            id,
            content: content.clone(),
            status: ArticleStatus::Draft,
            latest_version: 1,
            published_version: None,
            published_at: None,
            created_by: actor.reference(),
            created_at: now,
            updated_at: now,
            needs_reindex: false,
            version: 1,
        };
        let version = ArticleVersion {
            article_id: id,
            number: 1,
            content,
            author: actor.reference(),
            created_at: now,
            restored_from: None,
        };
        self.table
            .transact(vec![
                WriteOp::Put {
                    item: keys::kb_article_item(&article)?,
                    condition: Condition::NotExists,
                },
                WriteOp::Put {
                    item: Item::new(keys::kb_version_key(&id, 1), 1, to_doc(&version)?),
                    condition: Condition::NotExists,
                },
                WriteOp::Put {
                    item: self.kb_audit(id, actor, "created", Some(1), None, now)?,
                    condition: Condition::NotExists,
                },
            ])
            .await
            .map_err(conflict_on_cancel)?;
        Ok(article)
    }

    /// Saves new content as a new version (a draft). A published article stays live with its
    /// published version until the new one is published. Saving identical content changes
    /// nothing.
    pub async fn update_article(
        &self,
        actor: &Actor,
        id: &ArticleId,
        input: ArticleInput,
        if_match: Option<u64>,
    ) -> Result<Article, AppError> {
        require(can_author(actor), "only the support team writes articles")?;
        let head = self.article_or_404(id).await?;
        let content = self
            .content_from_input(Some(*id), &input, &head.content.attachments)
            .await?;
        self.save_content(actor, head, content, if_match.or(input.version), None)
            .await
    }

    async fn save_content(
        &self,
        actor: &Actor,
        head: Article,
        content: ArticleContent,
        expected: Option<u64>,
        restored_from: Option<u64>,
    ) -> Result<Article, AppError> {
        self.save_content_as(actor, head, content, expected, restored_from, None)
            .await
    }

    /// [`Self::save_content`], audited as `audit` (action and note) when given, e.g. a file
    /// added or removed.
    async fn save_content_as(
        &self,
        actor: &Actor,
        head: Article,
        content: ArticleContent,
        expected: Option<u64>,
        restored_from: Option<u64>,
        audit: Option<(&'static str, String)>,
    ) -> Result<Article, AppError> {
        if let Some(v) = expected {
            if v != head.version {
                return Err(stale("article", head.version, v));
            }
        }
        if content == head.content && restored_from.is_none() {
            return Ok(head);
        }
        let now = self.clock.now();
        let mut next = head.with_new_content(content.clone(), now);
        next.version = head.version + 1;
        let number = next.latest_version;
        let version = ArticleVersion {
            article_id: head.id,
            number,
            content,
            author: actor.reference(),
            created_at: now,
            restored_from,
        };
        let (action, note) = match (restored_from, audit) {
            (Some(n), _) => ("restored", Some(format!("from version {n}"))),
            (None, Some((action, note))) => (action, Some(note)),
            (None, None) => ("edited", None),
        };
        self.table
            .transact(vec![
                WriteOp::Put {
                    item: keys::kb_article_item(&next)?,
                    condition: Condition::VersionIs(head.version),
                },
                WriteOp::Put {
                    item: Item::new(keys::kb_version_key(&head.id, number), 1, to_doc(&version)?),
                    condition: Condition::NotExists,
                },
                WriteOp::Put {
                    item: self.kb_audit(head.id, actor, action, Some(number), note, now)?,
                    condition: Condition::NotExists,
                },
            ])
            .await
            .map_err(conflict_on_cancel)?;
        Ok(next)
    }

    /// An old version's content as a new draft version.
    pub async fn restore_article_version(
        &self,
        actor: &Actor,
        id: &ArticleId,
        number: u64,
        if_match: Option<u64>,
    ) -> Result<Article, AppError> {
        require(can_author(actor), "only the support team writes articles")?;
        let head = self.article_or_404(id).await?;
        let old = self.version_or_404(id, number).await?;
        self.save_content(actor, head, old.content, if_match, Some(number))
            .await
    }

    /// Deletes an article that was never published (with its versions and comments); anything
    /// that has been live is archived instead, so links and statistics keep their meaning.
    pub async fn delete_article(
        &self,
        actor: &Actor,
        id: &ArticleId,
        if_match: Option<u64>,
    ) -> Result<(), AppError> {
        let head = self.article_or_404(id).await?;
        let own = actor.reference() == head.created_by;
        require(
            can_author(actor) && (own || actor.is_supervisor()),
            "only the author or a supervisor deletes a draft",
        )?;
        if let Some(v) = if_match {
            if v != head.version {
                return Err(stale("article", head.version, v));
            }
        }
        if head.published_version.is_some() || head.published_at.is_some() {
            return Err(AppError::validation(
                "status",
                "an article that has been published is archived, not deleted",
            ));
        }
        self.table
            .delete(
                &keys::kb_article_key(id),
                Condition::VersionIs(head.version),
            )
            .await
            .map_err(conflict_on_cancel)?;
        // The head is gone, so nothing reaches the rest; remove it for tidiness.
        let mut cursor = None;
        loop {
            let page = self
                .table
                .query(
                    &Query::partition(None, keys::kb_pk(id))
                        .limit(100)
                        .cursor(cursor),
                )
                .await
                .map_err(AppError::storage("deleting an article"))?;
            for item in &page.items {
                self.table
                    .delete(&item.key, Condition::None)
                    .await
                    .map_err(AppError::storage("deleting an article"))?;
            }
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(())
    }

    // ---- workflow ----

    /// Submit, approve, request changes, publish or archive. Publishing (or approving) makes
    /// the newest version live and indexes it; archiving takes it out of the index.
    pub async fn article_step(
        &self,
        actor: &Actor,
        id: &ArticleId,
        action: KbAction,
        input: StepInput,
        if_match: Option<u64>,
    ) -> Result<Article, AppError> {
        let comment = input
            .comment
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(kb::parse_comment)
            .transpose()?;
        if action == KbAction::RequestChanges && comment.is_none() {
            return Err(AppError::validation(
                "comment",
                "say what should change, for the author",
            ));
        }
        let head = self.article_or_404(id).await?;
        if let Some(v) = if_match.or(input.version) {
            if v != head.version {
                return Err(stale("article", head.version, v));
            }
        }
        let now = self.clock.now();
        let mut next = head.step(actor, action, now).map_err(step_error)?;
        next.version = head.version + 1;
        let mut ops = vec![
            WriteOp::Put {
                item: keys::kb_article_item(&next)?,
                condition: Condition::VersionIs(head.version),
            },
            WriteOp::Put {
                item: self.kb_audit(
                    head.id,
                    actor,
                    action.as_str(),
                    Some(head.latest_version),
                    comment.clone(),
                    now,
                )?,
                condition: Condition::NotExists,
            },
        ];
        if let Some(body) = comment {
            let c = ReviewComment {
                id: self.ids.ulid().to_string(),
                article_id: head.id,
                version: head.latest_version,
                author: actor.reference(),
                body,
                action: Some(action),
                at: now,
            };
            ops.push(WriteOp::Put {
                item: Item::new(
                    Key::new(keys::kb_pk(&head.id), format!("C#{}", c.id)),
                    1,
                    to_doc(&c)?,
                ),
                condition: Condition::NotExists,
            });
        }
        self.table.transact(ops).await.map_err(conflict_on_cancel)?;
        self.sync_index(&head, next).await
    }

    /// Brings the search index in step with a head change. Failure leaves the write standing
    /// and flags the article for `helpdesk reindex`.
    async fn sync_index(&self, before: &Article, after: Article) -> Result<Article, AppError> {
        if before.published_version == after.published_version {
            return Ok(after);
        }
        let Some(index) = self.kb_index.clone() else {
            return Ok(after);
        };
        let old_live = match before.published_version {
            Some(n) => self.load_version(&before.id, n).await?,
            None => None,
        };
        let new_live = match after.published_version {
            Some(n) => Some(self.version_or_404(&after.id, n).await?),
            None => None,
        };
        let id = after.id.to_string();
        let mut result = Ok(());
        if let Some(v) = &new_live {
            result = index
                .upsert(vec![document(after.id, v, after.updated_at)])
                .await;
        }
        if let Some(old) = &old_live {
            let still_there = new_live
                .as_ref()
                .is_some_and(|n| n.content.locale == old.content.locale);
            if !still_there && result.is_ok() {
                result = index.remove(&id, &old.content.locale).await;
            }
        }
        match result {
            Ok(()) => Ok(after),
            Err(e) => {
                tracing::warn!(article = %id, error = %e, "KB index update failed; flagged for reindex");
                self.flag_for_reindex(after).await
            }
        }
    }

    async fn flag_for_reindex(&self, after: Article) -> Result<Article, AppError> {
        let mut flagged = after.clone();
        flagged.needs_reindex = true;
        flagged.version = after.version + 1;
        let now = self.clock.now();
        let ops = vec![
            WriteOp::Put {
                item: keys::kb_article_item(&flagged)?,
                condition: Condition::VersionIs(after.version),
            },
            WriteOp::Put {
                item: Item::new(
                    Key::new(keys::KB_REINDEX_PARTITION, after.id.to_string()),
                    1,
                    serde_json::json!({ "article_id": after.id.to_string(), "at": time_key(&now) }),
                ),
                condition: Condition::None,
            },
            WriteOp::Put {
                item: self.kb_audit(
                    after.id,
                    &Actor::System {
                        job: "kb-index".into(),
                    },
                    "index_failed",
                    after.published_version,
                    Some("the search index was not updated; run helpdesk reindex".into()),
                    now,
                )?,
                condition: Condition::NotExists,
            },
        ];
        match self.table.transact(ops).await {
            Ok(()) => Ok(flagged),
            // Someone changed it meanwhile; their write triggers its own index update.
            Err(TableError::TransactionCancelled { .. }) => Ok(after),
            Err(e) => Err(AppError::storage("flagging an article for reindex")(e)),
        }
    }

    /// [`Helpdesk::reindex_kb`] for an API caller: admins only.
    pub async fn reindex_kb_as(&self, actor: &Actor) -> Result<ReindexReport, AppError> {
        require(
            actor.can_manage_directory(),
            "only admins rebuild the search index",
        )?;
        self.reindex_kb().await
    }

    /// Empties the index and fills it again from storage: every live version. Clears the
    /// reindex flags. Safe to run at any time (at-least-once, idempotent).
    pub async fn reindex_kb(&self) -> Result<ReindexReport, AppError> {
        let index = self.kb_index.clone().ok_or_else(|| {
            AppError::internal(
                "rebuilding the KB index",
                std::io::Error::other("no search index configured"),
            )
        })?;
        let ie = |e: KbIndexError| AppError::internal("rebuilding the KB index", e);
        index.clear().await.map_err(ie)?;
        let mut report = ReindexReport {
            articles: 0,
            documents: 0,
            flags_cleared: 0,
        };
        let mut cursor = None;
        loop {
            let page = self
                .table
                .query(
                    &Query::partition(Some(Index::Gsi4), keys::KB_LIVE_PARTITION)
                        .limit(100)
                        .cursor(cursor),
                )
                .await
                .map_err(AppError::storage("listing live articles"))?;
            let mut docs = Vec::new();
            for item in &page.items {
                let a: Article = from_item(item)?;
                report.articles += 1;
                if let Some(n) = a.published_version {
                    if let Some(v) = self.load_version(&a.id, n).await? {
                        docs.push(document(a.id, &v, a.updated_at));
                    }
                }
            }
            report.documents += docs.len();
            if !docs.is_empty() {
                index.upsert(docs).await.map_err(ie)?;
            }
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        loop {
            let page = self
                .table
                .query(&Query::partition(None, keys::KB_REINDEX_PARTITION).limit(100))
                .await
                .map_err(AppError::storage("listing reindex flags"))?;
            if page.items.is_empty() {
                break;
            }
            for item in &page.items {
                if let Ok(id) = ArticleId::parse(&item.key.sk) {
                    if let Some(mut a) = self.load_article(&id).await? {
                        if a.needs_reindex {
                            let read = a.version;
                            a.needs_reindex = false;
                            a.version = read + 1;
                            // A concurrent edit may win; the flag is informational only.
                            let _ = self
                                .table
                                .put(keys::kb_article_item(&a)?, Condition::VersionIs(read))
                                .await;
                            report.flags_cleared += 1;
                        }
                    }
                }
                self.table
                    .delete(&item.key, Condition::None)
                    .await
                    .map_err(AppError::storage("clearing a reindex flag"))?;
            }
        }
        Ok(report)
    }

    pub async fn comment_on_article(
        &self,
        actor: &Actor,
        id: &ArticleId,
        input: CommentInput,
    ) -> Result<ReviewComment, AppError> {
        require(
            can_author(actor),
            "only the support team comments on articles",
        )?;
        let body = kb::parse_comment(&input.body)?;
        let head = self.article_or_404(id).await?;
        let now = self.clock.now();
        let c = ReviewComment {
            id: self.ids.ulid().to_string(),
            article_id: head.id,
            version: head.latest_version,
            author: actor.reference(),
            body,
            action: None,
            at: now,
        };
        self.table
            .transact(vec![
                WriteOp::Put {
                    item: Item::new(
                        Key::new(keys::kb_pk(&head.id), format!("C#{}", c.id)),
                        1,
                        to_doc(&c)?,
                    ),
                    condition: Condition::NotExists,
                },
                WriteOp::Put {
                    item: self.kb_audit(
                        head.id,
                        actor,
                        "commented",
                        Some(head.latest_version),
                        None,
                        now,
                    )?,
                    condition: Condition::NotExists,
                },
                WriteOp::Check {
                    key: keys::kb_article_key(&head.id),
                    condition: Condition::Exists,
                },
            ])
            .await
            .map_err(conflict_on_cancel)?;
        Ok(c)
    }

    // ---- reading (team) ----

    async fn partition_prefix<T: serde::de::DeserializeOwned>(
        &self,
        id: &ArticleId,
        prefix: &str,
        forward: bool,
        limit: usize,
    ) -> Result<Vec<T>, AppError> {
        let page = self
            .table
            .query(
                &Query::partition(None, keys::kb_pk(id))
                    .sk(SortKey::BeginsWith(prefix.to_string()))
                    .forward(forward)
                    .limit(limit),
            )
            .await
            .map_err(AppError::storage("reading an article"))?;
        page.items.iter().map(from_item).collect()
    }

    async fn translations(
        &self,
        head: &Article,
        audiences: Option<&[Audience]>,
    ) -> Result<Vec<Translation>, AppError> {
        let group = head.content.translation_group(head.id);
        let page = self
            .table
            .query(
                &Query::partition(Some(Index::Gsi5), keys::kb_translation_partition(&group))
                    .limit(50),
            )
            .await
            .map_err(AppError::storage("listing translations"))?;
        let mut out = Vec::new();
        for item in &page.items {
            let a: Article = from_item(item)?;
            if a.id == head.id {
                continue;
            }
            match audiences {
                None => out.push(Translation {
                    article_id: a.id,
                    locale: a.content.locale.clone(),
                    title: a.content.title.clone(),
                }),
                // Readers: only live translations they may read, as they read them.
                Some(aud) => {
                    if let Some(n) = a.published_version {
                        if let Some(v) = self.load_version(&a.id, n).await? {
                            if v.content.visible_to(aud) {
                                out.push(Translation {
                                    article_id: a.id,
                                    locale: v.content.locale,
                                    title: v.content.title,
                                });
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    pub async fn get_article(
        &self,
        actor: &Actor,
        id: &ArticleId,
    ) -> Result<ArticleView, AppError> {
        // Readers outside the team learn nothing about drafts, not even that they exist.
        if !can_read_drafts(actor) {
            return Err(AppError::NotFound { what: "article" });
        }
        let article = self.article_or_404(id).await?;
        let comments = self.partition_prefix(id, "C#", true, 200).await?;
        let audit = self.partition_prefix(id, "A#", false, 200).await?;
        let translations = self.translations(&article, None).await?;
        let allowed_actions = KbAction::allowed_from(article.status)
            .into_iter()
            .filter(|a| a.permitted(actor))
            .collect();
        let (aid, n) = (article.id, article.latest_version);
        Ok(ArticleView {
            body_html: render::markdown_with_files(
                &article.content.body,
                &article.content.attachments,
                &|i, _| files::version_file_url(&aid, n, i),
            ),
            article,
            allowed_actions,
            comments,
            audit,
            translations,
        })
    }

    pub async fn list_articles(
        &self,
        actor: &Actor,
        filter: ArticleFilter,
    ) -> Result<ArticlePage, AppError> {
        require(
            can_read_drafts(actor),
            "the article list is for the support team",
        )?;
        let locale = filter
            .locale
            .as_deref()
            .map(|l| {
                helpdesk_domain::people::parse_locale(l)
                    .map_err(|_| AppError::validation("locale", "must be a language tag"))
            })
            .transpose()?;
        let (index, pk) = match (filter.status, &locale) {
            (Some(s), _) => (Index::Gsi1, keys::kb_status_partition(s)),
            (None, Some(l)) => (Index::Gsi2, keys::kb_locale_partition(l)),
            (None, None) => (Index::Gsi3, keys::KB_ALL_PARTITION.to_string()),
        };
        let limit = filter.limit.clamp(1, 200);
        let mut items = Vec::new();
        let mut cursor = filter.cursor;
        // Other filters narrow the key query; a bounded number of pages keeps it cheap.
        for _ in 0..10 {
            let page = self
                .table
                .query(
                    &Query::partition(Some(index), pk.clone())
                        .forward(false)
                        .limit(limit - items.len())
                        .cursor(cursor.take()),
                )
                .await
                .map_err(AppError::storage("listing articles"))?;
            for item in &page.items {
                let a: Article = from_item(item)?;
                let ok = locale.as_ref().is_none_or(|l| &a.content.locale == l)
                    && filter
                        .audience
                        .is_none_or(|au| a.content.audiences.contains(&au))
                    && filter
                        .topic
                        .as_ref()
                        .is_none_or(|t| a.content.topic.starts_with(t));
                if ok {
                    items.push(ArticleSummary::from(&a));
                }
            }
            cursor = page.cursor;
            if cursor.is_none() || items.len() >= limit {
                break;
            }
        }
        Ok(ArticlePage {
            items,
            next_cursor: cursor,
        })
    }

    pub async fn list_article_versions(
        &self,
        actor: &Actor,
        id: &ArticleId,
    ) -> Result<Vec<VersionSummary>, AppError> {
        require(can_read_drafts(actor), "versions are for the support team")?;
        let head = self.article_or_404(id).await?;
        let versions: Vec<ArticleVersion> = self.partition_prefix(id, "V#", false, 500).await?;
        Ok(versions
            .into_iter()
            .map(|v| VersionSummary {
                live: head.published_version == Some(v.number),
                number: v.number,
                title: v.content.title,
                author: v.author,
                created_at: v.created_at,
                restored_from: v.restored_from,
            })
            .collect())
    }

    pub async fn get_article_version(
        &self,
        actor: &Actor,
        id: &ArticleId,
        number: u64,
    ) -> Result<ArticleVersion, AppError> {
        require(can_read_drafts(actor), "versions are for the support team")?;
        self.version_or_404(id, number).await
    }

    pub async fn diff_article_versions(
        &self,
        actor: &Actor,
        id: &ArticleId,
        from: u64,
        to: u64,
    ) -> Result<ArticleDiff, AppError> {
        require(can_read_drafts(actor), "versions are for the support team")?;
        let a = self.version_or_404(id, from).await?;
        let b = self.version_or_404(id, to).await?;
        Ok(diff::diff(from, &a.content, to, &b.content))
    }

    /// A preview of Markdown as readers will see it (the editor's preview).
    pub fn preview_markdown(&self, actor: &Actor, markdown: &str) -> Result<String, AppError> {
        self.preview_markdown_with_files(actor, markdown, &[], &|_, _| String::new())
    }

    /// The preview with an article's uploaded files resolved (`url`: where this caller
    /// downloads file `i`), so `file:` references show as readers will see them.
    pub fn preview_markdown_with_files(
        &self,
        actor: &Actor,
        markdown: &str,
        files: &[AttachmentRef],
        url: &dyn Fn(usize, &AttachmentRef) -> String,
    ) -> Result<String, AppError> {
        require(can_author(actor), "only the support team writes articles")?;
        if markdown.len() > kb::BODY_MAX {
            return Err(AppError::validation(
                "body",
                format!("must be at most {} bytes", kb::BODY_MAX),
            ));
        }
        Ok(render::markdown_with_files(markdown, files, url))
    }

    // ---- reading (everyone) ----

    /// The live version of an article, if this reader may read it; anything else (draft,
    /// archived, another audience) is "not found".
    async fn readable_live(
        &self,
        actor: Option<&Actor>,
        id: &ArticleId,
    ) -> Result<(Article, ArticleVersion, Vec<Audience>), AppError> {
        let not_found = AppError::NotFound { what: "article" };
        let head = self.load_article(id).await?.ok_or(not_found)?;
        let n = head
            .published_version
            .ok_or(AppError::NotFound { what: "article" })?;
        let v = self
            .load_version(id, n)
            .await?
            .ok_or(AppError::NotFound { what: "article" })?;
        let audiences = self.kb_reader_audiences(actor).await?;
        if !v.content.visible_to(&audiences) {
            return Err(AppError::NotFound { what: "article" });
        }
        Ok((head, v, audiences))
    }

    pub async fn get_published_article(
        &self,
        actor: Option<&Actor>,
        id: &ArticleId,
    ) -> Result<PublishedArticle, AppError> {
        self.get_published_article_at(actor, id, files::FileBase::Api)
            .await
    }

    /// [`Helpdesk::get_published_article`] with file links under `base`.
    pub async fn get_published_article_at(
        &self,
        actor: Option<&Actor>,
        id: &ArticleId,
        base: files::FileBase,
    ) -> Result<PublishedArticle, AppError> {
        let (head, v, audiences) = self.readable_live(actor, id).await?;
        let translations = self.translations(&head, Some(&audiences)).await?;
        let c = v.content;
        Ok(PublishedArticle {
            id: head.id,
            version: v.number,
            title: c.title,
            summary: c.summary,
            body_html: render::markdown_with_files(&c.body, &c.attachments, &|i, _| {
                files::published_file_url_at(base, &head.id, i)
            }),
            topic: c.topic,
            tags: c.tags.into_iter().collect(),
            audiences: c.audiences.into_iter().collect(),
            locale: c.locale,
            videos: c.videos,
            files: files::file_links(&c.attachments, &|i, _| {
                files::published_file_url_at(base, &head.id, i)
            }),
            attachments: c.attachments,
            related: c.related.into_iter().collect(),
            translations,
            published_at: head.published_at,
        })
    }

    async fn run_search(
        &self,
        audiences: Vec<Audience>,
        text: &str,
        locale: Option<String>,
        topic: Option<Vec<String>>,
        limit: usize,
    ) -> Result<Vec<KbSearchHit>, AppError> {
        let words = render::search_words(text);
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let index = self.kb_index.clone().ok_or_else(|| {
            AppError::internal(
                "searching the knowledge base",
                std::io::Error::other("no search index configured"),
            )
        })?;
        let hits = index
            .search(&KbQuery {
                text: words,
                audiences: audiences.clone(),
                locale,
                topic,
                limit: limit.clamp(1, SEARCH_LIMIT_MAX),
            })
            .await
            .map_err(index_error)?;
        // The index is a copy and may lag (a failed removal): every hit is checked against
        // storage before anyone sees it.
        let mut out = Vec::new();
        for h in hits {
            let Ok(id) = ArticleId::parse(&h.article_id) else {
                continue;
            };
            let Some(head) = self.load_article(&id).await? else {
                continue;
            };
            let Some(n) = head.published_version else {
                continue;
            };
            let Some(v) = self.load_version(&id, n).await? else {
                continue;
            };
            if !v.content.visible_to(&audiences) || v.content.locale != h.locale {
                continue;
            }
            out.push(KbSearchHit {
                article_id: id,
                locale: v.content.locale,
                title: v.content.title,
                summary: v.content.summary,
                snippet: helpdesk_mail::sanitize_html(&h.snippet),
                score: h.score,
            });
        }
        Ok(out)
    }

    /// Full-text search over what this caller may read. A search that finds nothing is counted
    /// (by normalised query) for the authors' "missing articles" list.
    pub async fn search_kb(
        &self,
        actor: Option<&Actor>,
        q: &str,
        locale: Option<&str>,
        topic: Option<Vec<String>>,
        limit: usize,
    ) -> Result<KbSearchResults, AppError> {
        if q.chars().count() > 500 {
            return Err(AppError::validation("q", "must be at most 500 characters"));
        }
        let locale = locale
            .map(|l| {
                helpdesk_domain::people::parse_locale(l)
                    .map_err(|_| AppError::validation("locale", "must be a language tag"))
            })
            .transpose()?;
        let audiences = self.kb_reader_audiences(actor).await?;
        let hits = self.run_search(audiences, q, locale, topic, limit).await?;
        if hits.is_empty() {
            if let Some(norm) = kb::normalise_query(q) {
                let month = keys::month_key(&self.clock.now());
                self.table
                    .add(&Key::new(keys::kb_zero_partition(&month), norm), 1)
                    .await
                    .map_err(AppError::storage("counting a zero-result search"))?;
            }
        }
        Ok(KbSearchResults {
            query: q.trim().to_string(),
            hits,
        })
    }

    /// Suggest-while-typing for the customer request form: the public audience only (plus
    /// business-owner articles for a flagged customer), never internal articles.
    pub async fn suggest_articles(
        &self,
        actor: Option<&Actor>,
        text: &str,
        locale: Option<&str>,
        limit: usize,
    ) -> Result<Vec<KbSearchHit>, AppError> {
        if text.chars().count() > 2_000 {
            return Err(AppError::validation(
                "text",
                "must be at most 2000 characters",
            ));
        }
        let locale = locale
            .map(|l| {
                helpdesk_domain::people::parse_locale(l)
                    .map_err(|_| AppError::validation("locale", "must be a language tag"))
            })
            .transpose()?;
        // Even a team member typing here sees what a customer would.
        let audiences: Vec<Audience> = self
            .kb_reader_audiences(actor)
            .await?
            .into_iter()
            .filter(|a| *a != Audience::Internal)
            .collect();
        self.run_search(audiences, text, locale, None, limit.clamp(1, 10))
            .await
    }

    /// The articles most likely to answer a ticket, from its subject and first message.
    pub async fn suggested_articles_for_ticket(
        &self,
        actor: &Actor,
        reference: &str,
        limit: usize,
    ) -> Result<Vec<KbSearchHit>, AppError> {
        require(
            actor.can_work_tickets(),
            "suggestions are for the support team",
        )?;
        let ticket = self
            .resolve_ticket_ref(reference)
            .await?
            .filter(|t| actor.can_read_ticket(t))
            .ok_or(AppError::NotFound { what: "ticket" })?;
        let first = self
            .table
            .query(
                &Query::partition(None, keys::ticket_pk(&ticket.id))
                    .sk(SortKey::BeginsWith("M#".into()))
                    .limit(1),
            )
            .await
            .map_err(AppError::storage("reading a ticket's first message"))?;
        let mut text = ticket.subject.clone();
        if let Some(item) = first.items.first() {
            let m: helpdesk_domain::Message = from_item(item)?;
            text.push(' ');
            text.extend(m.body_text.chars().take(1_000));
        }
        let audiences = self.kb_reader_audiences(Some(actor)).await?;
        self.run_search(audiences, &text, None, None, limit.clamp(1, 20))
            .await
    }

    // ---- feedback and effectiveness ----

    /// KB feedback's fixed-window limit (see [`Helpdesk::rate_limit`]).
    async fn kb_rate(
        &self,
        who: &str,
        kind: &str,
        limit: i64,
        window_secs: i64,
    ) -> Result<(), AppError> {
        self.rate_limit(
            &format!("kb{kind}"),
            who,
            limit,
            window_secs,
            "too much feedback from here; try again later",
        )
        .await
    }

    /// "Was this helpful?": one vote per viewer and article (a second is a 409), rate-limited
    /// per viewer, and per article for anonymous visitors.
    pub async fn article_feedback(
        &self,
        actor: Option<&Actor>,
        id: &ArticleId,
        input: FeedbackInput,
    ) -> Result<Feedback, AppError> {
        let rating = kb::parse_rating(input.rating)?;
        let comment = input
            .comment
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(kb::parse_comment)
            .transpose()?;
        let viewer = viewer_hash(actor, input.visitor_id.as_deref())?;
        self.readable_live(actor, id).await?;
        self.kb_rate(&viewer, "fb", FEEDBACK_PER_HOUR, 3_600)
            .await?;
        if actor.is_none() {
            self.kb_rate(
                &format!("anon#{id}"),
                "fb",
                ANON_FEEDBACK_PER_ARTICLE_HOUR,
                3_600,
            )
            .await?;
        }
        let fb = Feedback {
            article_id: *id,
            helpful: input.helpful,
            rating,
            comment,
            at: self.clock.now(),
        };
        let mut ops = vec![
            WriteOp::Put {
                item: Item::new(
                    Key::new(keys::kb_pk(id), format!("FB#{viewer}")),
                    1,
                    to_doc(&fb)?,
                ),
                condition: Condition::NotExists,
            },
            WriteOp::Add {
                key: keys::kb_stat_key(if fb.helpful { "yes" } else { "no" }, id),
                by: 1,
            },
        ];
        if let Some(r) = rating {
            ops.push(WriteOp::Add {
                key: keys::kb_stat_key("rsum", id),
                by: i64::from(r),
            });
            ops.push(WriteOp::Add {
                key: keys::kb_stat_key("rcnt", id),
                by: 1,
            });
        }
        match self.table.transact(ops).await {
            Ok(()) => Ok(fb),
            Err(TableError::TransactionCancelled { .. } | TableError::ConditionFailed) => {
                Err(AppError::Conflict {
                    detail: "this viewer has already given feedback on this article".into(),
                    current_version: None,
                })
            }
            Err(e) => Err(AppError::storage("recording feedback")(e)),
        }
    }

    /// Counts a view of a live article this reader may read.
    pub async fn record_article_view(
        &self,
        actor: Option<&Actor>,
        id: &ArticleId,
    ) -> Result<i64, AppError> {
        self.readable_live(actor, id).await?;
        self.table
            .add(&keys::kb_stat_key("views", id), 1)
            .await
            .map_err(AppError::storage("counting a view"))
    }

    /// A customer opened a suggested article and left without submitting: counted once per
    /// form session and article.
    pub async fn record_deflection(
        &self,
        actor: Option<&Actor>,
        input: DeflectionInput,
    ) -> Result<bool, AppError> {
        let session = check_token("session_id", &input.session_id)?;
        self.readable_live(actor, &input.article_id).await?;
        let now = self.clock.now().timestamp();
        let claim = Item::new(
            Key::new(format!("KBDEFL#{session}"), input.article_id.to_string()),
            1,
            serde_json::json!({}),
        )
        .expiring_at(now + DEFLECTION_TTL_SECS);
        match self
            .table
            .transact(vec![
                WriteOp::Put {
                    item: claim,
                    condition: Condition::NotExists,
                },
                WriteOp::Add {
                    key: keys::kb_stat_key("defl", &input.article_id),
                    by: 1,
                },
            ])
            .await
        {
            Ok(()) => Ok(true),
            Err(TableError::TransactionCancelled { .. } | TableError::ConditionFailed) => Ok(false),
            Err(e) => Err(AppError::storage("recording a deflection")(e)),
        }
    }

    /// Links an article to a ticket (idempotent). A link on a resolved or closed ticket counts
    /// once towards the article's "linked from resolved tickets".
    pub async fn link_article_to_ticket(
        &self,
        actor: &Actor,
        reference: &str,
        article: &ArticleId,
    ) -> Result<LinkOutcome, AppError> {
        require(
            actor.can_work_tickets(),
            "only the support team links articles",
        )?;
        let ticket = self
            .resolve_ticket_ref(reference)
            .await?
            .filter(|t| actor.can_read_ticket(t))
            .ok_or(AppError::NotFound { what: "ticket" })?;
        let head = self
            .load_article(article)
            .await?
            .ok_or_else(|| AppError::validation("article_id", format!("no article {article}")))?;
        let now = self.clock.now();
        let tid = ticket.id.to_string();
        let link = serde_json::json!({ "ticket_id": tid, "article_id": article.to_string(), "at": time_key(&now) });
        for key in [
            Key::new(keys::kb_pk(article), format!("LINK#{tid}")),
            Key::new(
                keys::kb_ticket_links_partition(&ticket.id),
                article.to_string(),
            ),
        ] {
            self.table
                .put(Item::new(key, 1, link.clone()), Condition::None)
                .await
                .map_err(AppError::storage("linking an article"))?;
        }
        let mut counted = false;
        if !ticket.status.is_open() {
            self.count_resolved_link(actor, &head, &ticket).await?;
            counted = true;
        }
        Ok(LinkOutcome {
            article_id: *article,
            ticket_id: tid,
            counted_as_resolved: counted,
        })
    }

    /// Counts `article` once as linked from the resolved `ticket` (a claim makes repeats count
    /// nothing). Returns whether this call counted it.
    async fn count_resolved_link(
        &self,
        actor: &Actor,
        head: &Article,
        ticket: &helpdesk_domain::Ticket,
    ) -> Result<bool, AppError> {
        let now = self.clock.now();
        let tid = ticket.id.to_string();
        let claim = serde_json::json!({
            "ticket_id": tid,
            "article_id": head.id.to_string(),
            "at": time_key(&now),
        });
        match self
            .table
            .transact(vec![
                WriteOp::Put {
                    item: Item::new(
                        Key::new(keys::kb_pk(&head.id), format!("RLINK#{tid}")),
                        1,
                        claim,
                    ),
                    condition: Condition::NotExists,
                },
                WriteOp::Add {
                    key: keys::kb_stat_key("rlinks", &head.id),
                    by: 1,
                },
                WriteOp::Put {
                    item: self.kb_audit(
                        head.id,
                        actor,
                        "linked",
                        head.published_version,
                        Some(format!("from resolved ticket {}", ticket.number)),
                        now,
                    )?,
                    condition: Condition::NotExists,
                },
            ])
            .await
        {
            Ok(()) => Ok(true),
            Err(TableError::TransactionCancelled { .. } | TableError::ConditionFailed) => Ok(false),
            Err(e) => Err(AppError::storage("counting a resolved-ticket link")(e)),
        }
    }

    /// Counts every article linked to a ticket that has been resolved, then clears the
    /// ticket's pending marker. Idempotent: run again (a retry, the sweep) it counts nothing
    /// twice. Returns how many articles this run counted.
    pub async fn count_resolution_links(
        &self,
        ticket: &helpdesk_domain::TicketId,
    ) -> Result<usize, AppError> {
        let marker = Key::new(keys::KB_RESOLVED_PARTITION, ticket.to_string());
        let actor = Actor::System {
            job: "kb-resolution".into(),
        };
        let mut counted = 0;
        if let Some(t) = self.load_ticket(ticket).await? {
            let mut cursor = None;
            loop {
                let page = self
                    .table
                    .query(
                        &Query::partition(None, keys::kb_ticket_links_partition(ticket))
                            .limit(100)
                            .cursor(cursor),
                    )
                    .await
                    .map_err(AppError::storage("reading a ticket's articles"))?;
                for item in &page.items {
                    let Ok(id) = ArticleId::parse(&item.key.sk) else {
                        continue;
                    };
                    if let Some(head) = self.load_article(&id).await? {
                        if self.count_resolved_link(&actor, &head, &t).await? {
                            counted += 1;
                        }
                    }
                }
                match page.cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        self.table
            .delete(&marker, Condition::None)
            .await
            .map_err(AppError::storage("clearing a resolution marker"))?;
        Ok(counted)
    }

    /// Counts the links of resolutions whose follow-up did not finish (at most `limit`
    /// tickets per run; the next run continues). Part of the minute sweep.
    pub async fn sweep_kb_resolutions(&self, limit: usize) -> Result<usize, AppError> {
        let page = self
            .table
            .query(&Query::partition(None, keys::KB_RESOLVED_PARTITION).limit(limit.max(1)))
            .await
            .map_err(AppError::storage("listing pending resolutions"))?;
        let mut counted = 0;
        for item in &page.items {
            match helpdesk_domain::TicketId::parse(&item.key.sk) {
                // One failing ticket does not hold up the others; its marker stays for the
                // next sweep.
                Ok(t) => match self.count_resolution_links(&t).await {
                    Ok(n) => counted += n,
                    Err(e) => {
                        tracing::warn!(ticket = %t, error = %e, "counting KB links of a resolution failed; retried next sweep")
                    }
                },
                Err(_) => self
                    .table
                    .delete(&item.key, Condition::None)
                    .await
                    .map_err(AppError::storage("clearing a resolution marker"))?,
            }
        }
        Ok(counted)
    }

    /// The articles linked to a ticket (staff).
    pub async fn ticket_article_links(
        &self,
        actor: &Actor,
        reference: &str,
    ) -> Result<Vec<ArticleSummary>, AppError> {
        require(
            actor.can_work_tickets(),
            "only the support team reads links",
        )?;
        let ticket = self
            .resolve_ticket_ref(reference)
            .await?
            .ok_or(AppError::NotFound { what: "ticket" })?;
        let page = self
            .table
            .query(&Query::partition(None, keys::kb_ticket_links_partition(&ticket.id)).limit(100))
            .await
            .map_err(AppError::storage("reading a ticket's articles"))?;
        let mut out = Vec::new();
        for item in &page.items {
            if let Ok(id) = ArticleId::parse(&item.key.sk) {
                if let Some(a) = self.load_article(&id).await? {
                    out.push(ArticleSummary::from(&a));
                }
            }
        }
        Ok(out)
    }

    /// Every article's counters, with its rating sum.
    async fn stat_counters(&self) -> Result<BTreeMap<String, (ArticleStats, i64)>, AppError> {
        let mut per: BTreeMap<String, (ArticleStats, i64)> = BTreeMap::new();
        let mut cursor = None;
        loop {
            let page = self
                .table
                .query(
                    &Query::partition(None, keys::KB_STATS_PARTITION)
                        .limit(1_000)
                        .cursor(cursor),
                )
                .await
                .map_err(AppError::storage("reading KB counters"))?;
            for item in &page.items {
                let Some((kind, id)) = item.key.sk.split_once('#') else {
                    continue;
                };
                let n = item.counter.unwrap_or(0);
                let (s, rsum) = per.entry(id.to_string()).or_insert_with(|| {
                    (
                        ArticleStats {
                            article_id: id.to_string(),
                            ..Default::default()
                        },
                        0,
                    )
                });
                match kind {
                    "views" => s.views = n,
                    "yes" => s.helpful_yes = n,
                    "no" => s.helpful_no = n,
                    "rsum" => *rsum = n,
                    "rcnt" => s.ratings = n,
                    "rlinks" => s.resolved_ticket_links = n,
                    "defl" => s.deflections = n,
                    _ => {}
                }
            }
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        for (s, rsum) in per.values_mut() {
            s.finish(*rsum);
        }
        Ok(per)
    }

    pub async fn kb_stats(&self, actor: &Actor) -> Result<KbStats, AppError> {
        require(
            can_read_drafts(actor),
            "KB numbers are for the support team",
        )?;
        let per = self.stat_counters().await?;
        let mut totals = ArticleStats {
            article_id: "*".into(),
            ..Default::default()
        };
        let mut rsum = 0;
        for (s, r) in per.values() {
            totals.views += s.views;
            totals.helpful_yes += s.helpful_yes;
            totals.helpful_no += s.helpful_no;
            totals.ratings += s.ratings;
            rsum += r;
            totals.resolved_ticket_links += s.resolved_ticket_links;
            totals.deflections += s.deflections;
        }
        totals.finish(rsum);
        let mut articles: Vec<ArticleStats> = per.into_values().map(|(s, _)| s).collect();
        articles.sort_by(|a, b| {
            b.views
                .cmp(&a.views)
                .then(b.helpful_yes.cmp(&a.helpful_yes))
        });
        articles.truncate(50);
        for s in &mut articles {
            if let Ok(id) = ArticleId::parse(&s.article_id) {
                s.title = self.load_article(&id).await?.map(|a| a.content.title);
            }
        }
        let month = keys::month_key(&self.clock.now());
        let page = self
            .table
            .query(&Query::partition(None, keys::kb_zero_partition(&month)).limit(1_000))
            .await
            .map_err(AppError::storage("reading zero-result searches"))?;
        let mut zero: Vec<ZeroResultQuery> = page
            .items
            .iter()
            .map(|i| ZeroResultQuery {
                query: i.key.sk.clone(),
                count: i.counter.unwrap_or(0),
            })
            .collect();
        zero.sort_by(|a, b| b.count.cmp(&a.count).then(a.query.cmp(&b.query)));
        zero.truncate(20);
        Ok(KbStats {
            totals,
            articles,
            zero_result_queries: zero,
        })
    }

    /// One article's numbers and the comments readers left with their votes (staff).
    pub async fn article_feedback_summary(
        &self,
        actor: &Actor,
        id: &ArticleId,
    ) -> Result<FeedbackSummary, AppError> {
        require(can_read_drafts(actor), "feedback is for the support team")?;
        self.article_or_404(id).await?;
        let mut stats = ArticleStats {
            article_id: id.to_string(),
            ..Default::default()
        };
        let counter = |kind: &'static str| {
            let key = keys::kb_stat_key(kind, id);
            async move {
                self.table
                    .counter(&key)
                    .await
                    .map_err(AppError::storage("reading KB counters"))
            }
        };
        stats.views = counter("views").await?;
        stats.helpful_yes = counter("yes").await?;
        stats.helpful_no = counter("no").await?;
        stats.ratings = counter("rcnt").await?;
        stats.resolved_ticket_links = counter("rlinks").await?;
        stats.deflections = counter("defl").await?;
        let rsum = counter("rsum").await?;
        stats.finish(rsum);
        let votes: Vec<Feedback> = self.partition_prefix(id, "FB#", true, 1_000).await?;
        let mut comments: Vec<Feedback> =
            votes.into_iter().filter(|f| f.comment.is_some()).collect();
        comments.sort_by_key(|f| std::cmp::Reverse(f.at));
        comments.truncate(50);
        Ok(FeedbackSummary { stats, comments })
    }
}
