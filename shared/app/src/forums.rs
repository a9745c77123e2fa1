//! Community forums over the `Table` port: categories, topics and replies, votes, accepted
//! answers, reports and the moderation queue, staff moderation, display-name profiles, and
//! turning a topic into a ticket. Rules live in `helpdesk_domain::forum`.
//!
//! Keys (rows "Forum …" in `infra/ACCESS_PATTERNS.md`, table in `keys.rs`):
//!
//! | item            | pk                          | sk                  | indexes |
//! |-----------------|-----------------------------|---------------------|---------|
//! | category        | `FCAT#{slug}`               | `#CAT`              | gsi1 `FCATS` / `{order:010}#{slug}` |
//! | topic           | `FT#{id}`                   | `#TOPIC`            | gsi1 `FTC#{cat}` (visible) or `FTCH#{cat}` (hidden) / `{pinned 1/0}#{last activity}#{id}`; gsi3 `FTALL` / `{last activity}#{id}` |
//! | reply           | `FT#{id}`                   | `P#{post ulid}`     | — |
//! | vote counter    | `FT#{id}`                   | `C#{topic or post}` | — (atomic counter) |
//! | report case     | `FT#{id}`                   | `R#{topic or post}` | gsi1 `FREPORTS` / `{first report}#{topic}#{target}` while open |
//! | forum event     | `FT#{id}`                   | `E#{ulid}`          | — |
//! | vote            | `FV#{topic}`                | `{user}#{target}`   | — (conditional put = one vote) |
//! | report marker   | `FRB#{topic}#{target}`      | `{reporter}`        | — (conditional put = one report) |
//! | profile         | `FPROF#{email}`             | `#PROFILE`          | — |

use crate::kb::render::markdown_to_html;
use crate::ports::{Condition, Index, Item, Key, Query, SortKey, TableError, WriteOp};
use crate::ratelimit::key_hash;
use crate::tickets::{CustomerRef, MessageMeta, NewTicket};
use crate::{keys, AppError, Helpdesk};
use helpdesk_domain::forum::{
    self, Author, AuthorKind, Category, ForumEvent, ModAction, Post, ReportCase, ReportEntry,
    ReportReason, Target, Topic,
};
use helpdesk_domain::{
    Actor, AuditId, Channel, DomainError, EmailAddress, PostId, TicketId, TicketNumber, TopicId,
};
use serde::{Deserialize, Serialize};

const TOPIC_SK: &str = "#TOPIC";
const CATEGORY_SK: &str = "#CAT";
const PROFILE_SK: &str = "#PROFILE";
pub const CATEGORIES_PARTITION: &str = "FCATS";
pub const ALL_TOPICS_PARTITION: &str = "FTALL";
pub const REPORTS_PARTITION: &str = "FREPORTS";
/// Per-author limits (staff are not limited): new topics and replies per hour.
pub const TOPICS_PER_HOUR: i64 = 5;
pub const REPLIES_PER_HOUR: i64 = 30;
/// Reports per reporter (signed-in user or anonymous visitor) per hour.
pub const REPORTS_PER_HOUR: i64 = 10;
/// Optimistic retries for counters kept on the topic (reply count, last activity).
const RETRIES: usize = 5;

fn category_key(slug: &str) -> Key {
    Key::new(format!("FCAT#{slug}"), CATEGORY_SK)
}
fn topic_pk(id: &TopicId) -> String {
    format!("FT#{id}")
}
fn topic_key(id: &TopicId) -> Key {
    Key::new(topic_pk(id), TOPIC_SK)
}
fn post_key(topic: &TopicId, post: &PostId) -> Key {
    Key::new(topic_pk(topic), format!("P#{}", post.ulid()))
}
fn counter_key(topic: &TopicId, target: Target) -> Key {
    Key::new(topic_pk(topic), format!("C#{}", target.key()))
}
fn case_key(topic: &TopicId, target: Target) -> Key {
    Key::new(topic_pk(topic), format!("R#{}", target.key()))
}
fn vote_key(topic: &TopicId, user: &str, target: Target) -> Key {
    Key::new(format!("FV#{topic}"), format!("{user}#{}", target.key()))
}
fn report_marker_key(topic: &TopicId, target: Target, reporter: &str) -> Key {
    Key::new(format!("FRB#{topic}#{}", target.key()), reporter)
}
fn profile_key(email: &EmailAddress) -> Key {
    Key::new(format!("FPROF#{email}"), PROFILE_SK)
}

fn category_item(c: &Category) -> Result<Item, AppError> {
    Ok(
        Item::new(category_key(&c.slug), c.version, keys::to_doc(c)?).with_index(
            Index::Gsi1,
            CATEGORIES_PARTITION,
            format!("{:010}#{}", c.order, c.slug),
        ),
    )
}

fn topic_item(t: &Topic) -> Result<Item, AppError> {
    let activity = keys::time_key(&t.last_activity_at);
    let partition = if t.hidden {
        format!("FTCH#{}", t.category)
    } else {
        format!("FTC#{}", t.category)
    };
    Ok(Item::new(topic_key(&t.id), t.version, keys::to_doc(t)?)
        .with_index(
            Index::Gsi1,
            partition,
            format!("{}#{activity}#{}", if t.pinned { 1 } else { 0 }, t.id),
        )
        .with_index(
            Index::Gsi3,
            ALL_TOPICS_PARTITION,
            format!("{activity}#{}", t.id),
        ))
}

fn post_item(p: &Post) -> Result<Item, AppError> {
    Ok(Item::new(
        post_key(&p.topic_id, &p.id),
        p.version,
        keys::to_doc(p)?,
    ))
}

fn case_item(c: &ReportCase) -> Result<Item, AppError> {
    let target = c.target();
    let mut item = Item::new(case_key(&c.topic_id, target), c.version, keys::to_doc(c)?);
    if c.open {
        item = item.with_index(
            Index::Gsi1,
            REPORTS_PARTITION,
            format!(
                "{}#{}#{}",
                keys::time_key(&c.first_at),
                c.topic_id,
                target.key()
            ),
        );
    }
    Ok(item)
}

fn event_item(e: &ForumEvent) -> Result<Item, AppError> {
    Ok(Item::new(
        Key::new(topic_pk(&e.topic_id), format!("E#{}", e.id.ulid())),
        1,
        keys::to_doc(e)?,
    ))
}

fn stale(current: u64) -> AppError {
    AppError::Conflict {
        detail: "changed since you read it; reload and try again".into(),
        current_version: Some(current),
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs and views.

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryInput {
    /// Required when creating; the URL name (2-40 of a-z, 0-9, '-').
    #[serde(default)]
    pub slug: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub order: Option<u32>,
    /// When updating: the version read (or `If-Match`); a stale one is a 409.
    #[serde(default)]
    pub version: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTopic {
    pub title: String,
    /// Markdown.
    pub body: String,
    /// The public name to post under; required on a customer's first post, changes it later.
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    /// Markdown.
    pub body: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Moderation {
    pub action: ModAction,
    /// A reply of the topic (hide/unhide only); the topic itself when absent.
    #[serde(default)]
    pub post: Option<PostId>,
    /// Why, for the moderation history.
    #[serde(default)]
    pub note: Option<String>,
    /// The topic's (or reply's) version read; a stale one is a 409.
    #[serde(default)]
    pub version: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInput {
    /// The reply that answers the topic; `null` clears the accepted answer.
    pub post: Option<PostId>,
    #[serde(default)]
    pub version: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportInput {
    #[serde(default)]
    pub post: Option<PostId>,
    pub reason: ReportReason,
    #[serde(default)]
    pub details: Option<String>,
}

/// Who reports: a signed-in user, or an anonymous visitor by their visitor id.
#[derive(Debug, Clone)]
pub enum Reporter {
    User(Actor),
    Visitor(String),
}

/// An author as others see them: no e-mail address unless the viewer is staff.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicAuthor {
    pub display_name: String,
    pub staff: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailAddress>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TopicSummary {
    pub id: TopicId,
    pub category: String,
    pub title: String,
    pub author: PublicAuthor,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_activity_at: chrono::DateTime<chrono::Utc>,
    pub reply_count: u32,
    pub votes: i64,
    pub pinned: bool,
    pub locked: bool,
    pub hidden: bool,
    pub answered: bool,
    /// Continued privately as a ticket.
    pub continued_privately: bool,
    pub version: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TopicList {
    pub category: Category,
    pub items: Vec<TopicSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AllTopics {
    pub items: Vec<TopicSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PostView {
    pub id: PostId,
    /// Markdown source.
    pub body: String,
    /// Sanitised HTML.
    pub html: String,
    pub author: PublicAuthor,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub hidden: bool,
    pub votes: i64,
    /// The viewer voted for it.
    pub voted: bool,
    pub accepted: bool,
    /// The viewer wrote it.
    pub yours: bool,
    pub version: u64,
}

/// A topic with its replies: the accepted answer first, then the rest oldest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TopicView {
    pub topic: TopicSummary,
    pub body: String,
    pub html: String,
    pub voted: bool,
    pub yours: bool,
    pub can_reply: bool,
    pub can_accept: bool,
    pub can_moderate: bool,
    pub posts: Vec<PostView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Staff only: the ticket it continued in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<TicketNumber>,
    /// Staff only: moderation history, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<ForumEvent>,
    /// Staff only: report cases of the topic and its replies.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<ReportCase>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VoteState {
    pub voted: bool,
    pub votes: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportOutcome {
    /// This reporter had already reported it; nothing new was recorded.
    pub already_reported: bool,
}

/// One line of the moderation queue.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportLine {
    pub case: ReportCase,
    pub topic_title: String,
    /// The reported text, shortened.
    pub excerpt: String,
    pub hidden: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportQueue {
    pub items: Vec<ReportLine>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ForumProfile {
    pub email: EmailAddress,
    pub display_name: String,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub version: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TopicTicket {
    pub ticket_id: TicketId,
    pub number: TicketNumber,
    /// false when the topic had already been turned into this ticket.
    pub created: bool,
}

fn public_author(a: &Author, viewer: Option<&Actor>) -> PublicAuthor {
    PublicAuthor {
        display_name: a.display_name.clone(),
        staff: a.kind == AuthorKind::Staff,
        email: forum::can_moderate(viewer).then(|| a.email.clone()),
    }
}

fn summary(t: &Topic, votes: i64, viewer: Option<&Actor>) -> TopicSummary {
    TopicSummary {
        id: t.id,
        category: t.category.clone(),
        title: t.title.clone(),
        author: public_author(&t.author, viewer),
        created_at: t.created_at,
        last_activity_at: t.last_activity_at,
        reply_count: t.reply_count,
        votes,
        pinned: t.pinned,
        locked: t.locked,
        hidden: t.hidden,
        answered: t.accepted_post.is_some(),
        continued_privately: t.ticket.is_some(),
        version: t.version,
    }
}

fn limit(l: Option<usize>) -> Result<usize, AppError> {
    let l = l.unwrap_or(25);
    if !(1..=100).contains(&l) {
        return Err(AppError::validation("limit", "must be 1-100"));
    }
    Ok(l)
}

fn clean_note(note: Option<&str>) -> Result<Option<String>, AppError> {
    note.map(|n| {
        forum::parse_report_details(n)
            .map_err(|_| AppError::validation("note", "must be at most 500 characters"))
    })
    .transpose()
    .map(Option::flatten)
}

impl Helpdesk {
    // -----------------------------------------------------------------------------------------
    // Categories.

    pub async fn forum_categories(&self) -> Result<Vec<Category>, AppError> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .table
                .query(
                    &Query::partition(Some(Index::Gsi1), CATEGORIES_PARTITION)
                        .limit(100)
                        .cursor(cursor),
                )
                .await
                .map_err(AppError::storage("listing forum categories"))?;
            for item in &page.items {
                out.push(keys::from_item::<Category>(item)?);
            }
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    pub async fn forum_category(&self, slug: &str) -> Result<Category, AppError> {
        let item = self
            .table
            .get(&category_key(slug))
            .await
            .map_err(AppError::storage("reading a forum category"))?
            .ok_or(AppError::NotFound { what: "category" })?;
        keys::from_item(&item)
    }

    pub async fn create_forum_category(
        &self,
        actor: &Actor,
        input: CategoryInput,
    ) -> Result<Category, AppError> {
        if !forum::can_manage_categories(Some(actor)) {
            return Err(AppError::Forbidden("only admins manage forum categories"));
        }
        let slug = forum::parse_slug(input.slug.as_deref().unwrap_or(""))?;
        let now = self.clock.now();
        let c = Category {
            slug,
            name: forum::parse_category_name(&input.name)?,
            description: forum::parse_category_description(
                input.description.as_deref().unwrap_or(""),
            )?,
            order: input.order.unwrap_or(0),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        match self
            .table
            .put(category_item(&c)?, Condition::NotExists)
            .await
        {
            Ok(()) => Ok(c),
            Err(TableError::ConditionFailed) => Err(AppError::validation(
                "slug",
                "a category with this slug already exists",
            )),
            Err(e) => Err(AppError::storage("creating a forum category")(e)),
        }
    }

    pub async fn update_forum_category(
        &self,
        actor: &Actor,
        slug: &str,
        input: CategoryInput,
        expected: Option<u64>,
    ) -> Result<Category, AppError> {
        if !forum::can_manage_categories(Some(actor)) {
            return Err(AppError::Forbidden("only admins manage forum categories"));
        }
        let mut c = self.forum_category(slug).await?;
        if input.slug.as_deref().is_some_and(|s| s.trim() != c.slug) {
            return Err(AppError::validation("slug", "cannot be changed"));
        }
        if let Some(v) = expected.or(input.version) {
            if v != c.version {
                return Err(stale(c.version));
            }
        }
        let read = c.version;
        c.name = forum::parse_category_name(&input.name)?;
        c.description =
            forum::parse_category_description(input.description.as_deref().unwrap_or(""))?;
        c.order = input.order.unwrap_or(c.order);
        c.updated_at = self.clock.now();
        c.version = read + 1;
        match self
            .table
            .put(category_item(&c)?, Condition::VersionIs(read))
            .await
        {
            Ok(()) => Ok(c),
            Err(TableError::ConditionFailed) => {
                let now = self.forum_category(slug).await?;
                Err(stale(now.version))
            }
            Err(e) => Err(AppError::storage("updating a forum category")(e)),
        }
    }

    /// Only empty categories go (a topic's home never disappears under it).
    pub async fn delete_forum_category(
        &self,
        actor: &Actor,
        slug: &str,
        expected: Option<u64>,
    ) -> Result<(), AppError> {
        if !forum::can_manage_categories(Some(actor)) {
            return Err(AppError::Forbidden("only admins manage forum categories"));
        }
        let c = self.forum_category(slug).await?;
        if let Some(v) = expected {
            if v != c.version {
                return Err(stale(c.version));
            }
        }
        for partition in [format!("FTC#{slug}"), format!("FTCH#{slug}")] {
            let page = self
                .table
                .query(&Query::partition(Some(Index::Gsi1), partition).limit(1))
                .await
                .map_err(AppError::storage("checking a category for topics"))?;
            if !page.items.is_empty() {
                return Err(AppError::validation(
                    "slug",
                    "the category still has topics; move or keep it",
                ));
            }
        }
        match self
            .table
            .delete(&category_key(slug), Condition::VersionIs(c.version))
            .await
        {
            Ok(()) => Ok(()),
            Err(TableError::ConditionFailed) => Err(stale(c.version)),
            Err(e) => Err(AppError::storage("deleting a forum category")(e)),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Profiles.

    pub async fn forum_profile(
        &self,
        email: &EmailAddress,
    ) -> Result<Option<ForumProfile>, AppError> {
        self.table
            .get(&profile_key(email))
            .await
            .map_err(AppError::storage("reading a forum profile"))?
            .map(|i| keys::from_item(&i))
            .transpose()
    }

    /// Sets (or changes) a customer's public display name. Posts already written keep the
    /// name they were written under.
    pub async fn set_display_name(
        &self,
        actor: &Actor,
        raw: &str,
    ) -> Result<ForumProfile, AppError> {
        let Actor::Customer { email } = actor else {
            return Err(AppError::Forbidden(
                "display names are for customers; the team posts under its directory name",
            ));
        };
        let name = forum::parse_display_name(raw)?;
        let existing = self.forum_profile(email).await?;
        let (version, condition) = match &existing {
            Some(p) => (p.version + 1, Condition::VersionIs(p.version)),
            None => (1, Condition::NotExists),
        };
        let profile = ForumProfile {
            email: email.clone(),
            display_name: name,
            updated_at: self.clock.now(),
            version,
        };
        let item = Item::new(profile_key(email), version, keys::to_doc(&profile)?);
        match self.table.put(item, condition).await {
            Ok(()) => Ok(profile),
            Err(TableError::ConditionFailed) => Err(AppError::Conflict {
                detail: "your profile changed at the same time; try again".into(),
                current_version: None,
            }),
            Err(e) => Err(AppError::storage("saving a forum profile")(e)),
        }
    }

    /// The author a post is written under; a customer without a display name must choose one.
    async fn author_for(
        &self,
        actor: &Actor,
        display_name: Option<&str>,
    ) -> Result<Author, AppError> {
        match actor {
            Actor::Customer { email } => {
                let given = display_name.map(str::trim).filter(|n| !n.is_empty());
                let profile = self.forum_profile(email).await?;
                let name = match (given, profile) {
                    (Some(n), Some(p)) if forum::parse_display_name(n)? == p.display_name => {
                        p.display_name
                    }
                    (Some(n), _) => self.set_display_name(actor, n).await?.display_name,
                    (None, Some(p)) => p.display_name,
                    (None, None) => {
                        return Err(AppError::validation(
                            "display_name",
                            "choose the name to show with your posts",
                        ))
                    }
                };
                Ok(Author {
                    kind: AuthorKind::Customer,
                    email: email.clone(),
                    display_name: name,
                })
            }
            Actor::Staff { email, .. } => {
                let name = self
                    .table
                    .get(&keys::agent_key(email))
                    .await
                    .map_err(AppError::storage("reading an agent"))?
                    .and_then(|i| keys::from_item::<helpdesk_domain::Agent>(&i).ok())
                    .map(|a| a.name)
                    .filter(|n| !n.trim().is_empty() && !n.contains('@'))
                    .unwrap_or_else(|| "Support team".to_string());
                Ok(Author {
                    kind: AuthorKind::Staff,
                    email: email.clone(),
                    display_name: name,
                })
            }
            _ => Err(AppError::Forbidden(
                "sign in as a customer or team member to post",
            )),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Topics and replies.

    async fn load_topic(&self, id: &TopicId) -> Result<Topic, AppError> {
        let item = self
            .table
            .get(&topic_key(id))
            .await
            .map_err(AppError::storage("reading a topic"))?
            .ok_or(AppError::NotFound { what: "topic" })?;
        keys::from_item(&item)
    }

    /// A topic the viewer may see (hidden ones are "not found" to everyone else).
    async fn visible_topic(&self, viewer: Option<&Actor>, id: &TopicId) -> Result<Topic, AppError> {
        let t = self.load_topic(id).await?;
        if !forum::can_see_topic(viewer, &t) {
            return Err(AppError::NotFound { what: "topic" });
        }
        Ok(t)
    }

    async fn load_post(&self, topic: &TopicId, id: &PostId) -> Result<Post, AppError> {
        let item = self
            .table
            .get(&post_key(topic, id))
            .await
            .map_err(AppError::storage("reading a reply"))?
            .ok_or(AppError::NotFound { what: "reply" })?;
        keys::from_item(&item)
    }

    async fn votes_of(&self, topic: &TopicId, target: Target) -> Result<i64, AppError> {
        self.table
            .counter(&counter_key(topic, target))
            .await
            .map_err(AppError::storage("reading votes"))
    }

    pub async fn create_topic(
        &self,
        actor: &Actor,
        category: &str,
        input: NewTopic,
    ) -> Result<Topic, AppError> {
        if !forum::can_post(Some(actor)) {
            return Err(AppError::Forbidden("sign in to start a topic"));
        }
        let title = forum::parse_title(&input.title)?;
        let body = forum::parse_body(&input.body)?;
        let category = self.forum_category(category).await?;
        let author = self
            .author_for(actor, input.display_name.as_deref())
            .await?;
        if !actor.is_staff() {
            self.rate_limit(
                "forum-topic",
                &key_hash(&author.email.to_string()),
                TOPICS_PER_HOUR,
                3600,
                "you have started many topics in the last hour; try again later",
            )
            .await?;
        }
        let now = self.clock.now();
        let topic = Topic {
            id: TopicId::from_ulid(self.ids.ulid()),
            category: category.slug.clone(),
            title,
            body,
            author,
            created_at: now,
            last_activity_at: now,
            reply_count: 0,
            hidden: false,
            locked: false,
            pinned: false,
            accepted_post: None,
            ticket: None,
            version: 1,
        };
        let result = self
            .table
            .transact(vec![
                WriteOp::Put {
                    item: topic_item(&topic)?,
                    condition: Condition::NotExists,
                },
                WriteOp::Check {
                    key: category_key(&category.slug),
                    condition: Condition::Exists,
                },
            ])
            .await;
        match result {
            Ok(()) => Ok(topic),
            Err(TableError::TransactionCancelled { failed }) if failed.contains(&1) => {
                Err(AppError::NotFound { what: "category" })
            }
            Err(e) => Err(AppError::storage("creating a topic")(e)),
        }
    }

    /// Adds a reply; the topic's reply count and last activity move with it in one transaction.
    pub async fn reply_to_topic(
        &self,
        actor: &Actor,
        topic_id: &TopicId,
        input: NewPost,
    ) -> Result<Post, AppError> {
        if !forum::can_post(Some(actor)) {
            return Err(AppError::Forbidden(
                "sign in as a customer or team member to reply",
            ));
        }
        let mut topic = self.visible_topic(Some(actor), topic_id).await?;
        forum::check_reply(Some(actor), &topic)?;
        let body = forum::parse_body(&input.body)?;
        let author = self
            .author_for(actor, input.display_name.as_deref())
            .await?;
        if !actor.is_staff() {
            self.rate_limit(
                "forum-reply",
                &key_hash(&author.email.to_string()),
                REPLIES_PER_HOUR,
                3600,
                "you have replied many times in the last hour; try again later",
            )
            .await?;
        }
        let now = self.clock.now();
        let post = Post {
            id: PostId::from_ulid(self.ids.ulid()),
            topic_id: *topic_id,
            body,
            author,
            created_at: now,
            hidden: false,
            version: 1,
        };
        for _ in 0..RETRIES {
            let read = topic.version;
            let mut next = topic.clone();
            next.reply_count = next.reply_count.saturating_add(1);
            next.last_activity_at = now.max(next.last_activity_at);
            next.version = read + 1;
            let result = self
                .table
                .transact(vec![
                    WriteOp::Put {
                        item: post_item(&post)?,
                        condition: Condition::NotExists,
                    },
                    WriteOp::Put {
                        item: topic_item(&next)?,
                        condition: Condition::VersionIs(read),
                    },
                ])
                .await;
            match result {
                Ok(()) => return Ok(post),
                Err(TableError::TransactionCancelled { .. }) => {
                    // Someone else replied or moderated meanwhile: re-read and re-check.
                    topic = self.visible_topic(Some(actor), topic_id).await?;
                    forum::check_reply(Some(actor), &topic)?;
                }
                Err(e) => return Err(AppError::storage("adding a reply")(e)),
            }
        }
        Err(AppError::Conflict {
            detail: "the topic is very busy; try again".into(),
            current_version: Some(topic.version),
        })
    }

    /// A category's visible topics: pinned first, then newest activity first.
    pub async fn list_topics(
        &self,
        viewer: Option<&Actor>,
        category: &str,
        cursor: Option<String>,
        page_size: Option<usize>,
    ) -> Result<TopicList, AppError> {
        let category = self.forum_category(category).await?;
        let page = self
            .table
            .query(
                &Query::partition(Some(Index::Gsi1), format!("FTC#{}", category.slug))
                    .forward(false)
                    .limit(limit(page_size)?)
                    .cursor(cursor),
            )
            .await
            .map_err(AppError::storage("listing topics"))?;
        let items = self.summaries(viewer, &page.items).await?;
        Ok(TopicList {
            category,
            items,
            next_cursor: page.cursor,
        })
    }

    /// Staff: every topic, hidden ones included, newest activity first.
    pub async fn list_all_topics(
        &self,
        actor: &Actor,
        cursor: Option<String>,
        page_size: Option<usize>,
    ) -> Result<AllTopics, AppError> {
        if !forum::can_moderate(Some(actor)) {
            return Err(AppError::Forbidden(
                "only the support team moderates the forums",
            ));
        }
        let page = self
            .table
            .query(
                &Query::partition(Some(Index::Gsi3), ALL_TOPICS_PARTITION)
                    .forward(false)
                    .limit(limit(page_size)?)
                    .cursor(cursor),
            )
            .await
            .map_err(AppError::storage("listing topics"))?;
        let items = self.summaries(Some(actor), &page.items).await?;
        Ok(AllTopics {
            items,
            next_cursor: page.cursor,
        })
    }

    async fn summaries(
        &self,
        viewer: Option<&Actor>,
        items: &[Item],
    ) -> Result<Vec<TopicSummary>, AppError> {
        let topics = items
            .iter()
            .map(keys::from_item::<Topic>)
            .collect::<Result<Vec<_>, _>>()?;
        let votes = futures::future::try_join_all(
            topics.iter().map(|t| self.votes_of(&t.id, Target::Topic)),
        )
        .await?;
        Ok(topics
            .iter()
            .zip(votes)
            .filter(|(t, _)| forum::can_see_topic(viewer, t))
            .map(|(t, v)| summary(t, v, viewer))
            .collect())
    }

    /// A topic with one page of its replies (100 per page, `cursor` for the next).
    pub async fn topic_view(
        &self,
        viewer: Option<&Actor>,
        id: &TopicId,
        cursor: Option<String>,
    ) -> Result<TopicView, AppError> {
        let topic = self.visible_topic(viewer, id).await?;
        let pk = topic_pk(id);
        let staff = forum::can_moderate(viewer);
        let first_page = cursor.is_none();
        let page = self
            .table
            .query(
                &Query::partition(None, pk.clone())
                    .sk(SortKey::BeginsWith("P#".into()))
                    .limit(100)
                    .cursor(cursor),
            )
            .await
            .map_err(AppError::storage("reading replies"))?;
        let counters = self.partition_items(&pk, "C#").await?;
        let votes_for = |target: Target| {
            let sk = format!("C#{}", target.key());
            counters
                .iter()
                .find(|i| i.key.sk == sk)
                .and_then(|i| i.counter)
                .unwrap_or(0)
        };
        let mine: Vec<String> = match viewer.and_then(forum::user_key) {
            Some(user) => {
                let prefix = format!("{user}#");
                let mut out = Vec::new();
                let mut c = None;
                loop {
                    let p = self
                        .table
                        .query(
                            &Query::partition(None, format!("FV#{id}"))
                                .sk(SortKey::BeginsWith(prefix.clone()))
                                .limit(100)
                                .cursor(c),
                        )
                        .await
                        .map_err(AppError::storage("reading votes"))?;
                    out.extend(
                        p.items
                            .iter()
                            .filter_map(|i| i.key.sk.strip_prefix(&prefix).map(str::to_string)),
                    );
                    match p.cursor {
                        Some(next) => c = Some(next),
                        None => break,
                    }
                }
                out
            }
            None => Vec::new(),
        };
        let mut page_posts = page
            .items
            .iter()
            .map(keys::from_item::<Post>)
            .collect::<Result<Vec<_>, _>>()?;
        // The accepted answer leads the first page wherever it was written, and is not
        // repeated on later pages.
        if let Some(accepted) = topic.accepted_post {
            let here = page_posts.iter().any(|p| p.id == accepted);
            if first_page && !here {
                match self.load_post(id, &accepted).await {
                    Ok(p) => page_posts.insert(0, p),
                    Err(AppError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            } else if !first_page {
                page_posts.retain(|p| p.id != accepted);
            }
        }
        let mut posts = Vec::new();
        for p in page_posts {
            if !forum::can_see_post(viewer, &p) {
                continue;
            }
            let target = Target::Post(p.id);
            posts.push(PostView {
                id: p.id,
                html: markdown_to_html(&p.body),
                author: public_author(&p.author, viewer),
                created_at: p.created_at,
                hidden: p.hidden,
                votes: votes_for(target),
                voted: mine.contains(&target.key()),
                accepted: topic.accepted_post == Some(p.id),
                yours: viewer.is_some_and(|v| p.author.is(v)),
                version: p.version,
                body: p.body,
            });
        }
        // The accepted answer leads; the rest stay in the order they were written.
        posts.sort_by_key(|p| !p.accepted);
        let (ticket, events, reports) = if staff {
            let ticket = match topic.ticket {
                Some(tid) => self
                    .table
                    .get(&keys::ticket_key(&tid))
                    .await
                    .map_err(AppError::storage("reading a ticket"))?
                    .and_then(|i| keys::from_item::<helpdesk_domain::Ticket>(&i).ok())
                    .map(|t| t.number),
                None => None,
            };
            let events = self
                .partition_items(&pk, "E#")
                .await?
                .iter()
                .map(keys::from_item::<ForumEvent>)
                .collect::<Result<Vec<_>, _>>()?;
            let reports = self
                .partition_items(&pk, "R#")
                .await?
                .iter()
                .map(keys::from_item::<ReportCase>)
                .collect::<Result<Vec<_>, _>>()?;
            (ticket, events, reports)
        } else {
            (None, Vec::new(), Vec::new())
        };
        let topic_votes = votes_for(Target::Topic);
        Ok(TopicView {
            voted: mine.contains(&Target::Topic.key()),
            yours: viewer.is_some_and(|v| topic.author.is(v)),
            can_reply: forum::check_reply(viewer, &topic).is_ok(),
            can_accept: forum::can_accept(viewer, &topic),
            can_moderate: staff,
            body: topic.body.clone(),
            html: markdown_to_html(&topic.body),
            topic: summary(&topic, topic_votes, viewer),
            posts,
            next_cursor: page.cursor,
            ticket,
            events,
            reports,
        })
    }

    /// Every item of a topic's partition whose sort key starts with `prefix`.
    async fn partition_items(&self, pk: &str, prefix: &str) -> Result<Vec<Item>, AppError> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .table
                .query(
                    &Query::partition(None, pk)
                        .sk(SortKey::BeginsWith(prefix.into()))
                        .limit(100)
                        .cursor(cursor),
                )
                .await
                .map_err(AppError::storage("reading a topic"))?;
            out.extend(page.items);
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Votes and accepted answers.

    /// Toggles the actor's vote on the topic or one of its replies: one vote per person,
    /// enforced by a conditional put of the vote item with the counter in the same transaction.
    pub async fn toggle_vote(
        &self,
        actor: &Actor,
        topic_id: &TopicId,
        target: Target,
    ) -> Result<VoteState, AppError> {
        if !forum::can_post(Some(actor)) {
            return Err(AppError::Forbidden(
                "sign in as a customer or team member to vote",
            ));
        }
        let topic = self.visible_topic(Some(actor), topic_id).await?;
        let author = match target {
            Target::Topic => topic.author.clone(),
            Target::Post(p) => {
                let post = self.load_post(topic_id, &p).await?;
                if !forum::can_see_post(Some(actor), &post) {
                    return Err(AppError::NotFound { what: "reply" });
                }
                post.author
            }
        };
        forum::check_vote(Some(actor), &author)?;
        let user = forum::user_key(actor).ok_or(AppError::Forbidden("sign in to vote"))?;
        let key = vote_key(topic_id, &user, target);
        let existing = self
            .table
            .get(&key)
            .await
            .map_err(AppError::storage("reading a vote"))?;
        let ops = match existing {
            Some(_) => vec![
                WriteOp::Delete {
                    key,
                    condition: Condition::Exists,
                },
                WriteOp::Add {
                    key: counter_key(topic_id, target),
                    by: -1,
                },
            ],
            None => vec![
                WriteOp::Put {
                    item: Item::new(
                        key,
                        1,
                        serde_json::json!({ "at": keys::time_key(&self.clock.now()) }),
                    ),
                    condition: Condition::NotExists,
                },
                WriteOp::Add {
                    key: counter_key(topic_id, target),
                    by: 1,
                },
            ],
        };
        let voted = matches!(ops.first(), Some(WriteOp::Put { .. }));
        match self.table.transact(ops).await {
            Ok(()) => Ok(VoteState {
                voted,
                votes: self.votes_of(topic_id, target).await?,
            }),
            // A double click raced this one: the other request decided; report the outcome.
            Err(TableError::TransactionCancelled { .. }) => Ok(VoteState {
                voted: !voted,
                votes: self.votes_of(topic_id, target).await?,
            }),
            Err(e) => Err(AppError::storage("recording a vote")(e)),
        }
    }

    /// The topic's author (or staff) marks the reply that answered it, or clears it.
    pub async fn accept_answer(
        &self,
        actor: &Actor,
        topic_id: &TopicId,
        input: AcceptInput,
    ) -> Result<Topic, AppError> {
        let topic = self.visible_topic(Some(actor), topic_id).await?;
        if !forum::can_accept(Some(actor), &topic) {
            return Err(AppError::Forbidden(
                "only the topic's author or the support team accepts an answer",
            ));
        }
        if let Some(v) = input.version {
            if v != topic.version {
                return Err(stale(topic.version));
            }
        }
        let mut guard = None;
        if let Some(p) = &input.post {
            let post = self
                .load_post(topic_id, p)
                .await
                .map_err(|_| AppError::validation("post", "is not a reply of this topic"))?;
            if post.hidden {
                return Err(AppError::validation("post", "is hidden"));
            }
            guard = Some(post);
        }
        let action = if input.post.is_some() {
            "accept"
        } else {
            "unaccept"
        };
        let mut next = topic.clone();
        next.accepted_post = input.post;
        self.save_topic_change(actor, topic, next, input.post, action, None, guard.as_ref())
            .await
    }

    /// Writes a changed topic with its history entry, conditional on the version read.
    #[allow(clippy::too_many_arguments)]
    async fn save_topic_change(
        &self,
        actor: &Actor,
        before: Topic,
        mut next: Topic,
        post: Option<PostId>,
        action: &str,
        note: Option<String>,
        post_guard: Option<&Post>,
    ) -> Result<Topic, AppError> {
        let now = self.clock.now();
        next.version = before.version + 1;
        let event = ForumEvent {
            id: AuditId::from_ulid(self.ids.ulid()),
            topic_id: next.id,
            post_id: post,
            actor: actor.reference(),
            action: action.into(),
            note,
            at: now,
        };
        let mut ops = vec![
            WriteOp::Put {
                item: topic_item(&next)?,
                condition: Condition::VersionIs(before.version),
            },
            WriteOp::Put {
                item: event_item(&event)?,
                condition: Condition::NotExists,
            },
        ];
        if let Some(p) = post_guard {
            // The accepted reply must still be as read (not hidden meanwhile).
            ops.push(WriteOp::Check {
                key: post_key(&p.topic_id, &p.id),
                condition: Condition::VersionIs(p.version),
            });
        }
        match self.table.transact(ops).await {
            Ok(()) => Ok(next),
            Err(TableError::TransactionCancelled { .. }) => {
                let now = self.load_topic(&next.id).await?;
                Err(stale(now.version))
            }
            Err(e) => Err(AppError::storage("saving a topic")(e)),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Moderation.

    pub async fn moderate(
        &self,
        actor: &Actor,
        topic_id: &TopicId,
        input: Moderation,
    ) -> Result<TopicView, AppError> {
        if !forum::can_moderate(Some(actor)) {
            return Err(AppError::Forbidden(
                "only the support team moderates the forums",
            ));
        }
        let note = clean_note(input.note.as_deref())?;
        let topic = self.load_topic(topic_id).await?;
        match input.post {
            None => {
                if let Some(v) = input.version {
                    if v != topic.version {
                        return Err(stale(topic.version));
                    }
                }
                let mut next = topic.clone();
                if forum::moderate_topic(&mut next, input.action) {
                    self.save_topic_change(
                        actor,
                        topic,
                        next,
                        None,
                        input.action.as_str(),
                        note,
                        None,
                    )
                    .await?;
                }
            }
            Some(post_id) => {
                let post = self.load_post(topic_id, &post_id).await?;
                if let Some(v) = input.version {
                    if v != post.version {
                        return Err(stale(post.version));
                    }
                }
                let mut next = post.clone();
                if forum::moderate_post(&mut next, input.action)? {
                    next.version = post.version + 1;
                    let event = ForumEvent {
                        id: AuditId::from_ulid(self.ids.ulid()),
                        topic_id: *topic_id,
                        post_id: Some(post_id),
                        actor: actor.reference(),
                        action: input.action.as_str().into(),
                        note,
                        at: self.clock.now(),
                    };
                    match self
                        .table
                        .transact(vec![
                            WriteOp::Put {
                                item: post_item(&next)?,
                                condition: Condition::VersionIs(post.version),
                            },
                            WriteOp::Put {
                                item: event_item(&event)?,
                                condition: Condition::NotExists,
                            },
                        ])
                        .await
                    {
                        Ok(()) => {}
                        Err(TableError::TransactionCancelled { .. }) => {
                            let now = self.load_post(topic_id, &post_id).await?;
                            return Err(stale(now.version));
                        }
                        Err(e) => return Err(AppError::storage("moderating a reply")(e)),
                    }
                }
            }
        }
        self.topic_view(Some(actor), topic_id, None).await
    }

    /// Reports a topic or reply. One report per reporter and target; a resolved case opens
    /// again when someone new reports it.
    pub async fn report(
        &self,
        reporter: &Reporter,
        topic_id: &TopicId,
        input: ReportInput,
    ) -> Result<ReportOutcome, AppError> {
        let (viewer, who) = match reporter {
            Reporter::User(a) => (
                Some(a),
                forum::user_key(a).ok_or(AppError::Forbidden("sign in to report"))?,
            ),
            Reporter::Visitor(v) if !v.trim().is_empty() => (None, format!("v:{}", key_hash(v))),
            Reporter::Visitor(_) => return Err(AppError::validation("visitor", "is missing")),
        };
        let details = input
            .details
            .as_deref()
            .map(forum::parse_report_details)
            .transpose()?
            .flatten();
        let topic = self.visible_topic(viewer, topic_id).await?;
        let target = match input.post {
            Some(p) => {
                let post = self.load_post(topic_id, &p).await?;
                if !forum::can_see_post(viewer, &post) {
                    return Err(AppError::NotFound { what: "reply" });
                }
                Target::Post(p)
            }
            None => Target::Topic,
        };
        if !forum::can_moderate(viewer) {
            self.rate_limit(
                "forum-report",
                &key_hash(&who),
                REPORTS_PER_HOUR,
                3600,
                "you have sent many reports in the last hour; try again later",
            )
            .await?;
        }
        let now = self.clock.now();
        let entry = ReportEntry {
            reason: input.reason,
            details,
            at: now,
        };
        let marker = report_marker_key(&topic.id, target, &who);
        for _ in 0..RETRIES {
            let existing = self
                .table
                .get(&case_key(&topic.id, target))
                .await
                .map_err(AppError::storage("reading reports"))?
                .map(|i| keys::from_item::<ReportCase>(&i))
                .transpose()?;
            let (mut case, condition) = match existing {
                Some(c) => {
                    let v = c.version;
                    (c, Condition::VersionIs(v))
                }
                None => (
                    ReportCase {
                        topic_id: topic.id,
                        post_id: target.post(),
                        count: 0,
                        reasons: Vec::new(),
                        first_at: now,
                        last_at: now,
                        open: true,
                        resolved_by: None,
                        resolution: None,
                        version: 0,
                    },
                    Condition::NotExists,
                ),
            };
            if !case.open {
                // A new round in the queue starts now.
                case.first_at = now;
            }
            case.add(entry.clone());
            case.version += 1;
            let ops = vec![
                WriteOp::Put {
                    item: Item::new(
                        marker.clone(),
                        1,
                        serde_json::json!({ "at": keys::time_key(&now) }),
                    ),
                    condition: Condition::NotExists,
                },
                WriteOp::Put {
                    item: case_item(&case)?,
                    condition,
                },
            ];
            match self.table.transact(ops).await {
                Ok(()) => {
                    return Ok(ReportOutcome {
                        already_reported: false,
                    })
                }
                Err(TableError::TransactionCancelled { failed }) if failed.contains(&0) => {
                    return Ok(ReportOutcome {
                        already_reported: true,
                    })
                }
                Err(TableError::TransactionCancelled { .. }) => {
                    // Either the case moved on meanwhile or the engine could not say which
                    // operation failed: a marker read decides.
                    if self
                        .table
                        .get(&marker)
                        .await
                        .map_err(AppError::storage("reading reports"))?
                        .is_some()
                    {
                        return Ok(ReportOutcome {
                            already_reported: true,
                        });
                    }
                }
                Err(e) => return Err(AppError::storage("recording a report")(e)),
            }
        }
        Err(AppError::Conflict {
            detail: "many reports at once; try again".into(),
            current_version: None,
        })
    }

    /// Anonymous reports are also counted per network address (30 an hour), so a script that
    /// drops its visitor cookie cannot flood the queue. The address is stored hashed.
    pub async fn limit_anonymous_reports(&self, ip: &str) -> Result<(), AppError> {
        self.rate_limit(
            "forum-report-ip",
            &key_hash(ip),
            30,
            3600,
            "too many reports from your network; try again later",
        )
        .await
    }

    /// The moderation queue: open report cases, oldest first.
    pub async fn list_reports(
        &self,
        actor: &Actor,
        cursor: Option<String>,
        page_size: Option<usize>,
    ) -> Result<ReportQueue, AppError> {
        if !forum::can_moderate(Some(actor)) {
            return Err(AppError::Forbidden(
                "only the support team moderates the forums",
            ));
        }
        let page = self
            .table
            .query(
                &Query::partition(Some(Index::Gsi1), REPORTS_PARTITION)
                    .limit(limit(page_size)?)
                    .cursor(cursor),
            )
            .await
            .map_err(AppError::storage("listing reports"))?;
        let mut items = Vec::new();
        for item in &page.items {
            let case: ReportCase = keys::from_item(item)?;
            let Ok(topic) = self.load_topic(&case.topic_id).await else {
                continue;
            };
            let (text, hidden) = match case.post_id {
                Some(p) => match self.load_post(&case.topic_id, &p).await {
                    Ok(post) => (post.body, post.hidden),
                    Err(_) => continue,
                },
                None => (topic.body.clone(), topic.hidden),
            };
            let mut excerpt: String = text.chars().take(200).collect();
            if text.chars().count() > 200 {
                excerpt.push('…');
            }
            items.push(ReportLine {
                case,
                topic_title: topic.title,
                excerpt,
                hidden,
            });
        }
        Ok(ReportQueue {
            items,
            next_cursor: page.cursor,
        })
    }

    /// Closes a report case (after hiding the content, or deciding it is fine).
    pub async fn resolve_reports(
        &self,
        actor: &Actor,
        topic_id: &TopicId,
        target: Target,
        note: Option<&str>,
    ) -> Result<ReportCase, AppError> {
        if !forum::can_moderate(Some(actor)) {
            return Err(AppError::Forbidden(
                "only the support team moderates the forums",
            ));
        }
        let note = clean_note(note)?;
        let mut case: ReportCase = keys::from_item(
            &self
                .table
                .get(&case_key(topic_id, target))
                .await
                .map_err(AppError::storage("reading reports"))?
                .ok_or(AppError::NotFound { what: "report" })?,
        )?;
        if !case.open {
            return Ok(case);
        }
        let read = case.version;
        case.open = false;
        case.resolved_by = Some(actor.reference());
        case.resolution = note.clone();
        case.version = read + 1;
        let event = ForumEvent {
            id: AuditId::from_ulid(self.ids.ulid()),
            topic_id: *topic_id,
            post_id: target.post(),
            actor: actor.reference(),
            action: "resolve_reports".into(),
            note,
            at: self.clock.now(),
        };
        match self
            .table
            .transact(vec![
                WriteOp::Put {
                    item: case_item(&case)?,
                    condition: Condition::VersionIs(read),
                },
                WriteOp::Put {
                    item: event_item(&event)?,
                    condition: Condition::NotExists,
                },
            ])
            .await
        {
            Ok(()) => Ok(case),
            Err(TableError::TransactionCancelled { .. }) => Err(AppError::Conflict {
                detail: "new reports arrived meanwhile; reload the queue".into(),
                current_version: None,
            }),
            Err(e) => Err(AppError::storage("resolving reports")(e)),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Topic → ticket.

    /// Staff continue a topic privately: a ticket for the topic's author with its text, audited
    /// on the ticket and the topic. The topic records the ticket in the same transaction that
    /// creates it, so doing this twice gives the same ticket.
    pub async fn topic_to_ticket(
        &self,
        actor: &Actor,
        topic_id: &TopicId,
        link: &str,
    ) -> Result<TopicTicket, AppError> {
        if !forum::can_turn_into_ticket(Some(actor)) {
            return Err(AppError::Forbidden(
                "only the support team turns topics into tickets",
            ));
        }
        let topic = self.load_topic(topic_id).await?;
        if let Some(existing) = self.existing_topic_ticket(&topic).await? {
            return Ok(existing);
        }
        if topic.author.kind != AuthorKind::Customer {
            return Err(AppError::Rule(DomainError::Invalid {
                field: "topic",
                message: "was started by the team; there is no customer to continue with".into(),
            }));
        }
        let now = self.clock.now();
        let ticket_id = TicketId::from_ulid(self.ids.ulid());
        let mut next = topic.clone();
        next.ticket = Some(ticket_id);
        next.version = topic.version + 1;
        let topic_event = ForumEvent {
            id: AuditId::from_ulid(self.ids.ulid()),
            topic_id: topic.id,
            post_id: None,
            actor: actor.reference(),
            action: "ticket".into(),
            note: Some(format!("continued as ticket {ticket_id}")),
            at: now,
        };
        let ticket_event = self.audit(
            ticket_id,
            actor,
            "from_community_topic",
            Vec::new(),
            Some(format!(
                "Continued from community topic \"{}\" ({})",
                topic.title, topic.id
            )),
            now,
        );
        let input = NewTicket {
            subject: forum::ticket_subject(&topic),
            body: forum::ticket_body(&topic, link),
            channel: Some(Channel::Community),
            priority: None,
            category: None,
            customer: Some(CustomerRef {
                email: topic.author.email.clone(),
                name: None,
                platform_user_id: None,
                locale: None,
            }),
            department: None,
            assignee: None,
            tags: Vec::new(),
        };
        let meta = MessageMeta {
            // The first message is the customer's own words from the topic.
            author: Some(helpdesk_domain::ActorRef {
                kind: "customer".into(),
                id: topic.author.email.to_string(),
            }),
            author_name: Some(topic.author.display_name.clone()),
            ticket_id: Some(ticket_id),
            extra: vec![
                WriteOp::Put {
                    item: topic_item(&next)?,
                    condition: Condition::VersionIs(topic.version),
                },
                WriteOp::Put {
                    item: event_item(&topic_event)?,
                    condition: Condition::NotExists,
                },
                WriteOp::Put {
                    item: keys::audit_item(&ticket_event)?,
                    condition: Condition::NotExists,
                },
            ],
            ..MessageMeta::default()
        };
        match self.create_ticket_with(actor, input, None, meta).await {
            Ok((ticket, _)) => Ok(TopicTicket {
                ticket_id: ticket.id,
                number: ticket.number,
                created: true,
            }),
            Err(AppError::Conflict { .. }) => {
                // The topic changed meanwhile: most likely a concurrent conversion won.
                let now = self.load_topic(topic_id).await?;
                match self.existing_topic_ticket(&now).await? {
                    Some(t) => Ok(t),
                    None => Err(stale(now.version)),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn existing_topic_ticket(&self, topic: &Topic) -> Result<Option<TopicTicket>, AppError> {
        let Some(id) = topic.ticket else {
            return Ok(None);
        };
        let item = self
            .table
            .get(&keys::ticket_key(&id))
            .await
            .map_err(AppError::storage("reading a ticket"))?
            .ok_or_else(|| {
                AppError::internal(
                    "reading a topic's ticket",
                    std::io::Error::other(format!("topic {} names missing ticket {id}", topic.id)),
                )
            })?;
        let ticket: helpdesk_domain::Ticket = keys::from_item(&item)?;
        Ok(Some(TopicTicket {
            ticket_id: ticket.id,
            number: ticket.number,
            created: false,
        }))
    }
}
