//! Knowledge base: articles, their versions and approval workflow, who may do what, and the
//! vocabulary shared with the search index. Pure: no I/O, time passed in.
//!
//! An article's head tracks two things at once: the workflow state of its newest version
//! (`status`), and which version is live (`published_version`). Editing a published article
//! makes a new draft while the published version stays live; only publishing replaces it.

use crate::audit::ActorRef;
use crate::ticket::string_enum;
use crate::{Actor, DomainError, ParseError, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use ulid::Ulid;

/// Who may read an article. An article can serve several audiences; a search only ever returns
/// articles that share at least one audience with the caller.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Agents only: troubleshooting guides, procedures, escalation contacts, training.
    Internal,
    /// Every customer, and the public help centre.
    Customers,
    /// Customers flagged as business owners.
    BusinessOwners,
}

impl Audience {
    pub const ALL: [Audience; 3] = [
        Audience::Internal,
        Audience::Customers,
        Audience::BusinessOwners,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Audience::Internal => "internal",
            Audience::Customers => "customers",
            Audience::BusinessOwners => "business_owners",
        }
    }

    pub fn parse(s: &str) -> Option<Audience> {
        Audience::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// What a reader may see: the team everything; customers the customer articles (and the
    /// business-owner ones when flagged); anonymous visitors and the platform the customer ones.
    pub fn for_reader(actor: Option<&Actor>, business_owner: bool) -> Vec<Audience> {
        match actor {
            Some(Actor::Staff { .. } | Actor::System { .. }) => Audience::ALL.to_vec(),
            Some(Actor::Customer { .. }) if business_owner => {
                vec![Audience::Customers, Audience::BusinessOwners]
            }
            Some(Actor::Customer { .. } | Actor::Platform { .. }) | None => {
                vec![Audience::Customers]
            }
        }
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Stable, sortable identifier of an article (`kb_…`). Translations are separate articles that
/// share a translation group.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^kb_[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$", example = "kb_01JDZ6K3Q2W9V8T7S6R5P4N3M2")]
pub struct ArticleId(Ulid);

impl ArticleId {
    pub const PREFIX: &'static str = "kb_";

    pub fn from_ulid(ulid: Ulid) -> Self {
        Self(ulid)
    }

    pub fn ulid(&self) -> Ulid {
        self.0
    }

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let body = raw
            .trim()
            .strip_prefix(Self::PREFIX)
            .ok_or_else(|| ParseError::new("article id must start with \"kb_\""))?;
        Ulid::from_str(body)
            .map(Self)
            .map_err(|_| ParseError::new("article id is not a valid ULID"))
    }
}

impl fmt::Display for ArticleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", Self::PREFIX, self.0)
    }
}

impl TryFrom<String> for ArticleId {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ArticleId> for String {
    fn from(value: ArticleId) -> Self {
        value.to_string()
    }
}

string_enum!(
    /// Workflow state of an article's newest version.
    ArticleStatus { Draft => "draft", InReview => "in_review", Published => "published", Archived => "archived" }
);

string_enum!(
    /// A workflow step. Authors (any team member) submit; supervisors and admins approve,
    /// request changes, publish and archive.
    KbAction { Submit => "submit", Approve => "approve", RequestChanges => "request_changes", Publish => "publish", Archive => "archive" }
);

impl KbAction {
    /// Only supervisors and admins take the steps that decide what readers see.
    pub fn needs_supervisor(&self) -> bool {
        !matches!(self, KbAction::Submit)
    }

    /// The state after this step, or why it is refused.
    pub fn apply(&self, from: ArticleStatus) -> Result<ArticleStatus, DomainError> {
        use ArticleStatus::*;
        let to = match (self, from) {
            (KbAction::Submit, Draft) => InReview,
            (KbAction::Approve, InReview) => Published,
            (KbAction::RequestChanges, InReview) => Draft,
            (KbAction::Publish, Draft | InReview) => Published,
            (KbAction::Archive, Draft | InReview | Published) => Archived,
            _ => {
                return Err(DomainError::Invalid {
                    field: "action",
                    message: format!("cannot {self} an article that is {from}"),
                })
            }
        };
        Ok(to)
    }

    /// Steps this status allows, in the order a console shows them.
    pub fn allowed_from(from: ArticleStatus) -> Vec<KbAction> {
        KbAction::ALL
            .iter()
            .copied()
            .filter(|a| a.apply(from).is_ok())
            .collect()
    }

    /// Whether `actor` may take this step at all.
    pub fn permitted(&self, actor: &Actor) -> bool {
        if self.needs_supervisor() {
            actor.is_supervisor()
        } else {
            can_author(actor)
        }
    }
}

/// Authors: every team member writes, edits, submits and comments.
pub fn can_author(actor: &Actor) -> bool {
    actor.is_staff()
}

/// Drafts, versions, review comments and feedback comments are for the team.
pub fn can_read_drafts(actor: &Actor) -> bool {
    actor.sees_internal()
}

/// Where a video is hosted. Only these two are embedded, through their privacy-friendly players.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VideoHost {
    Youtube,
    Vimeo,
}

/// A video tutorial: a YouTube or Vimeo link reduced to its id, embedded without tracking
/// cookies (`youtube-nocookie.com`, Vimeo's `dnt=1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Video {
    pub host: VideoHost,
    pub id: String,
    /// The player URL to put in an `<iframe>`.
    pub embed_url: String,
    /// The link as a person would open it.
    pub watch_url: String,
}

impl Video {
    fn new(host: VideoHost, id: String) -> Self {
        let (embed_url, watch_url) = match host {
            VideoHost::Youtube => (
                format!("https://www.youtube-nocookie.com/embed/{id}"),
                format!("https://www.youtube.com/watch?v={id}"),
            ),
            VideoHost::Vimeo => (
                format!("https://player.vimeo.com/video/{id}?dnt=1"),
                format!("https://vimeo.com/{id}"),
            ),
        };
        Video {
            host,
            id,
            embed_url,
            watch_url,
        }
    }

    /// Accepts `https://www.youtube.com/watch?v=ID`, `https://youtu.be/ID`,
    /// `…/embed/ID`, `…/shorts/ID`, `https://vimeo.com/123`, `https://player.vimeo.com/video/123`.
    /// Anything else (other hosts, `http:` with credentials, odd ids) is refused.
    pub fn parse(raw: &str) -> Result<Video, ParseError> {
        let bad = || ParseError::new(format!("{raw:?} is not a YouTube or Vimeo video link"));
        let s = raw.trim();
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .ok_or_else(bad)?;
        let (authority, path_query) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') || authority.contains(':') {
            return Err(bad());
        }
        let host = authority.to_ascii_lowercase();
        let (path, query) = match path_query.split_once('?') {
            Some((p, q)) => (p, q.split('#').next().unwrap_or("")),
            None => (path_query.split('#').next().unwrap_or(""), ""),
        };
        let segments: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        match host.as_str() {
            "youtube.com"
            | "www.youtube.com"
            | "m.youtube.com"
            | "youtube-nocookie.com"
            | "www.youtube-nocookie.com" => {
                let id = match segments.as_slice() {
                    ["watch"] => query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix("v="))
                        .ok_or_else(bad)?,
                    ["embed" | "shorts" | "live", id] => id,
                    _ => return Err(bad()),
                };
                youtube_id(id)
                    .map(|id| Video::new(VideoHost::Youtube, id))
                    .ok_or_else(bad)
            }
            "youtu.be" => match segments.as_slice() {
                [id] => youtube_id(id)
                    .map(|id| Video::new(VideoHost::Youtube, id))
                    .ok_or_else(bad),
                _ => Err(bad()),
            },
            "vimeo.com" | "www.vimeo.com" => match segments.as_slice() {
                [id] => vimeo_id(id)
                    .map(|id| Video::new(VideoHost::Vimeo, id))
                    .ok_or_else(bad),
                _ => Err(bad()),
            },
            "player.vimeo.com" => match segments.as_slice() {
                ["video", id] => vimeo_id(id)
                    .map(|id| Video::new(VideoHost::Vimeo, id))
                    .ok_or_else(bad),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

fn youtube_id(id: &str) -> Option<String> {
    (id.len() == 11
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    .then(|| id.to_string())
}

fn vimeo_id(id: &str) -> Option<String> {
    ((1..=12).contains(&id.len()) && id.chars().all(|c| c.is_ascii_digit())).then(|| id.to_string())
}

/// A file attached to an article (stored as a blob; the article keeps the reference).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttachmentRef {
    pub name: String,
    /// The blob store key.
    pub blob: String,
    pub content_type: String,
    pub size: u64,
}

/// What an uploaded article file is, by its declared content type. Only these are accepted:
/// common documents, raster images (no SVG: it can carry script) and two web video formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KbFileKind {
    Document,
    Image,
    Video,
}

/// Documents and images: 4 MiB. An upload through the API Lambda travels inside one
/// invocation payload (6 MB synchronous, with API Gateway base64-encoding binary bodies, so
/// about 4.4 MiB of file at most); 4 MiB fits it on both runtimes.
pub const KB_FILE_MAX: u64 = 4 * 1024 * 1024;
/// Videos (`video/mp4`, `video/webm`): 100 MiB. Self-hosted they upload directly; on AWS a
/// video over [`KB_FILE_MAX`] cannot pass through the Lambda payload and goes straight to S3
/// with a presigned upload (see `helpdesk_app::kb::files`).
pub const KB_VIDEO_MAX: u64 = 100 * 1024 * 1024;
/// Uploaded files on one article version (documents, images and videos together).
pub const KB_FILES_MAX: usize = ATTACHMENTS_MAX;

impl KbFileKind {
    /// The kind of an accepted content type (lower case, no parameters), `None` if refused.
    pub fn of(content_type: &str) -> Option<KbFileKind> {
        let kind = match content_type {
            "application/pdf"
            | "text/plain"
            | "text/csv"
            | "text/markdown"
            | "application/rtf"
            | "application/zip"
            | "application/msword"
            | "application/vnd.ms-excel"
            | "application/vnd.ms-powerpoint"
            | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            | "application/vnd.openxmlformats-officedocument.presentationml.presentation"
            | "application/vnd.oasis.opendocument.text"
            | "application/vnd.oasis.opendocument.spreadsheet"
            | "application/vnd.oasis.opendocument.presentation" => KbFileKind::Document,
            "image/png" | "image/jpeg" | "image/gif" | "image/webp" => KbFileKind::Image,
            "video/mp4" | "video/webm" => KbFileKind::Video,
            _ => return None,
        };
        Some(kind)
    }

    /// The largest file of this kind, in bytes.
    pub fn max_bytes(self) -> u64 {
        match self {
            KbFileKind::Document | KbFileKind::Image => KB_FILE_MAX,
            KbFileKind::Video => KB_VIDEO_MAX,
        }
    }
}

/// Whether the first bytes of a file agree with its declared type, for the types that have a
/// signature (images, videos, PDF, the zip-based office formats). A file that claims to be a
/// PNG but is HTML is refused rather than stored.
pub fn content_matches(content_type: &str, head: &[u8]) -> bool {
    let zip = head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06");
    match content_type {
        "image/png" => head.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => head.starts_with(&[0xFF, 0xD8, 0xFF]),
        "image/gif" => head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a"),
        "image/webp" => head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP",
        "video/mp4" => head.len() >= 8 && &head[4..8] == b"ftyp",
        "video/webm" => head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]),
        "application/pdf" => head.starts_with(b"%PDF-"),
        "application/zip"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation"
        | "application/vnd.oasis.opendocument.text"
        | "application/vnd.oasis.opendocument.spreadsheet"
        | "application/vnd.oasis.opendocument.presentation" => zip,
        _ => true,
    }
}

/// An uploaded file's name: a plain file name (no path), 1-150 characters, format characters
/// (bidi overrides, zero-width spaces) removed (see [`crate::text`]).
pub fn parse_file_name(raw: &str) -> Result<String, DomainError> {
    let raw = crate::text::strip_format_chars(raw);
    // Browsers on Windows may send a full path; keep its last part.
    let name = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if name.is_empty()
        || name.chars().count() > 150
        || name.chars().any(char::is_control)
        || name == "."
        || name == ".."
        || name.chars().all(|c| c.is_ascii_digit())
    {
        return Err(invalid(
            "file",
            "needs a plain file name of 1-150 characters (not only digits)",
        ));
    }
    Ok(name.to_string())
}

pub const TITLE_MAX: usize = 200;
pub const SUMMARY_MAX: usize = 500;
pub const BODY_MAX: usize = 200_000;
pub const TOPIC_DEPTH_MAX: usize = 5;
pub const TOPIC_PART_MAX: usize = 60;
pub const VIDEOS_MAX: usize = 10;
pub const ATTACHMENTS_MAX: usize = 20;
pub const RELATED_MAX: usize = 20;
pub const COMMENT_MAX: usize = 4_000;

/// What one version of an article says. Every save stores a whole copy, so any two versions
/// can be compared and any one restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ArticleContent {
    pub title: String,
    #[serde(default)]
    pub summary: String,
    /// Markdown.
    pub body: String,
    /// Topic path, most general first (`["Billing", "Refunds"]`).
    #[serde(default)]
    pub topic: Vec<String>,
    #[serde(default)]
    pub tags: BTreeSet<String>,
    pub audiences: BTreeSet<Audience>,
    pub locale: String,
    /// The article this one translates (its translation group); `None` for an original.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translation_of: Option<ArticleId>,
    #[serde(default)]
    pub videos: Vec<Video>,
    #[serde(default)]
    pub attachments: Vec<AttachmentRef>,
    #[serde(default)]
    pub related: BTreeSet<ArticleId>,
}

impl ArticleContent {
    /// The group that links an article with its translations.
    pub fn translation_group(&self, id: ArticleId) -> ArticleId {
        self.translation_of.unwrap_or(id)
    }

    pub fn visible_to(&self, audiences: &[Audience]) -> bool {
        self.audiences.iter().any(|a| audiences.contains(a))
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> DomainError {
    DomainError::Invalid {
        field,
        message: message.into(),
    }
}

fn printable_line(
    field: &'static str,
    raw: &str,
    min: usize,
    max: usize,
) -> Result<String, DomainError> {
    let s = raw.trim();
    let n = s.chars().count();
    if n < min || n > max || s.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("must be {min}-{max} printable characters on one line"),
        ));
    }
    Ok(s.to_string())
}

pub fn parse_title(raw: &str) -> Result<String, DomainError> {
    printable_line("title", raw, 1, TITLE_MAX)
}

pub fn parse_summary(raw: &str) -> Result<String, DomainError> {
    printable_line("summary", raw, 0, SUMMARY_MAX)
}

pub fn parse_body(raw: &str) -> Result<String, DomainError> {
    if raw.trim().is_empty() {
        return Err(invalid("body", "must not be empty"));
    }
    if raw.len() > BODY_MAX {
        return Err(invalid("body", format!("must be at most {BODY_MAX} bytes")));
    }
    if raw
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(invalid("body", "must not contain control characters"));
    }
    Ok(raw.replace("\r\n", "\n"))
}

/// `["Billing", "Refunds"]`, or a path written `Billing / Refunds`.
pub fn parse_topic<'a>(
    parts: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<String>, DomainError> {
    let mut out = Vec::new();
    for p in parts {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        if p.chars().count() > TOPIC_PART_MAX || p.chars().any(|c| c.is_control() || c == '/') {
            return Err(invalid(
                "topic",
                format!("each level must be 1-{TOPIC_PART_MAX} printable characters without '/'"),
            ));
        }
        out.push(p.to_string());
    }
    if out.len() > TOPIC_DEPTH_MAX {
        return Err(invalid(
            "topic",
            format!("at most {TOPIC_DEPTH_MAX} levels"),
        ));
    }
    Ok(out)
}

pub fn parse_topic_path(raw: &str) -> Result<Vec<String>, DomainError> {
    parse_topic(raw.split('/'))
}

pub fn parse_comment(raw: &str) -> Result<String, DomainError> {
    let s = raw.trim();
    if s.is_empty() || s.chars().count() > COMMENT_MAX {
        return Err(invalid(
            "comment",
            format!("must be 1-{COMMENT_MAX} characters"),
        ));
    }
    if s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(invalid("comment", "must not contain control characters"));
    }
    Ok(s.to_string())
}

pub fn parse_audiences(raw: &[Audience]) -> Result<BTreeSet<Audience>, DomainError> {
    let set: BTreeSet<Audience> = raw.iter().copied().collect();
    if set.is_empty() {
        return Err(invalid("audiences", "name at least one audience"));
    }
    Ok(set)
}

pub fn parse_videos(raw: &[String]) -> Result<Vec<Video>, DomainError> {
    if raw.len() > VIDEOS_MAX {
        return Err(invalid("videos", format!("at most {VIDEOS_MAX} videos")));
    }
    let mut out: Vec<Video> = Vec::new();
    for r in raw {
        let v = Video::parse(r).map_err(|e| invalid("videos", e.message))?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}

pub fn check_attachments(raw: Vec<AttachmentRef>) -> Result<Vec<AttachmentRef>, DomainError> {
    if raw.len() > ATTACHMENTS_MAX {
        return Err(invalid(
            "attachments",
            format!("at most {ATTACHMENTS_MAX} attachments"),
        ));
    }
    for a in &raw {
        let ok_name = !a.name.trim().is_empty()
            && a.name.chars().count() <= 200
            && !a
                .name
                .chars()
                .any(|c| c.is_control() || c == '/' || c == '\\');
        let ok_blob = !a.blob.is_empty()
            && a.blob.len() <= 300
            && !a.blob.contains("..")
            && a.blob
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c));
        let ok_type = a.content_type.contains('/')
            && a.content_type.len() <= 100
            && !a
                .content_type
                .chars()
                .any(|c| c.is_control() || c.is_whitespace());
        if !(ok_name && ok_blob && ok_type) {
            return Err(invalid(
                "attachments",
                format!(
                    "{:?}: needs a file name, a blob key and a content type",
                    a.name
                ),
            ));
        }
    }
    Ok(raw)
}

pub fn check_related(
    id: Option<ArticleId>,
    raw: &[ArticleId],
) -> Result<BTreeSet<ArticleId>, DomainError> {
    let set: BTreeSet<ArticleId> = raw.iter().copied().collect();
    if set.len() > RELATED_MAX {
        return Err(invalid(
            "related",
            format!("at most {RELATED_MAX} related articles"),
        ));
    }
    if id.is_some_and(|me| set.contains(&me)) {
        return Err(invalid("related", "an article is not related to itself"));
    }
    Ok(set)
}

/// An article's head: its newest content and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Article {
    pub id: ArticleId,
    /// The newest version's content (what the editor shows).
    pub content: ArticleContent,
    /// Workflow state of the newest version.
    pub status: ArticleStatus,
    /// Number of the newest content version (1, 2, …).
    pub latest_version: u64,
    /// The version readers see, if any. Stays while a newer draft is reviewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_by: ActorRef,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// The search index may be behind (an index call failed); `helpdesk reindex` fixes it.
    #[serde(default)]
    pub needs_reindex: bool,
    /// Optimistic concurrency: send it back (or `If-Match`) with a change; a stale one is a 409.
    pub version: u64,
}

impl Article {
    /// A new content version on top of this head: the newest becomes a draft, the live one
    /// stays live (except after archiving, where nothing is live).
    pub fn with_new_content(&self, content: ArticleContent, now: Timestamp) -> Article {
        Article {
            content,
            status: ArticleStatus::Draft,
            latest_version: self.latest_version + 1,
            updated_at: now,
            ..self.clone()
        }
    }

    /// Takes a workflow step; returns the new head. Publishing makes the newest version live;
    /// archiving takes the live version down.
    pub fn step(
        &self,
        actor: &Actor,
        action: KbAction,
        now: Timestamp,
    ) -> Result<Article, StepError> {
        if !action.permitted(actor) {
            return Err(StepError::Forbidden(if action.needs_supervisor() {
                "only supervisors and admins approve, request changes, publish or archive"
            } else {
                "only the support team writes articles"
            }));
        }
        let status = action.apply(self.status).map_err(StepError::Rule)?;
        let mut next = Article {
            status,
            updated_at: now,
            ..self.clone()
        };
        match status {
            ArticleStatus::Published => {
                next.published_version = Some(self.latest_version);
                next.published_at = Some(now);
            }
            ArticleStatus::Archived => {
                next.published_version = None;
            }
            ArticleStatus::Draft | ArticleStatus::InReview => {}
        }
        Ok(next)
    }

    pub fn is_live(&self) -> bool {
        self.published_version.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepError {
    Forbidden(&'static str),
    Rule(DomainError),
}

/// One immutable version of an article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ArticleVersion {
    pub article_id: ArticleId,
    pub number: u64,
    pub content: ArticleContent,
    pub author: ActorRef,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Set when this version restores an older one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<u64>,
}

/// A reviewer's or author's remark on a version; authors see them while revising.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReviewComment {
    pub id: String,
    pub article_id: ArticleId,
    /// The content version it is about.
    pub version: u64,
    pub author: ActorRef,
    pub body: String,
    /// Set when the comment came with a workflow step (e.g. `request_changes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<KbAction>,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// One entry of an article's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KbAuditEvent {
    pub id: String,
    pub article_id: ArticleId,
    pub actor: ActorRef,
    /// created, edited, restored, file_added, file_removed, submit, approve, request_changes,
    /// publish, archive, commented, linked, index_failed
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// A reader's vote: helpful or not, an optional 1–5 rating and comment. One per viewer and
/// article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Feedback {
    pub article_id: ArticleId,
    pub helpful: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,
    /// Plain text; only the team reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}

pub fn parse_rating(raw: Option<u8>) -> Result<Option<u8>, DomainError> {
    match raw {
        Some(r) if !(1..=5).contains(&r) => Err(invalid("rating", "must be 1-5")),
        other => Ok(other),
    }
}

/// A search query as counted in the zero-result list: lower case, single spaces, at most 100
/// characters. `None` for a query with nothing searchable in it.
pub fn normalise_query(raw: &str) -> Option<String> {
    let words: Vec<String> = raw
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .collect();
    let mut s = words.join(" ");
    if s.is_empty() {
        return None;
    }
    if let Some((i, _)) = s.char_indices().nth(100) {
        s.truncate(i);
    }
    Some(s.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EmailAddress, Role};

    fn staff(role: Role) -> Actor {
        Actor::Staff {
            email: EmailAddress::parse("s@example.com").expect("email"),
            role,
        }
    }

    fn content() -> ArticleContent {
        ArticleContent {
            title: "Reset your password".into(),
            summary: String::new(),
            body: "Click *Forgot password*.".into(),
            topic: vec!["Account".into()],
            tags: BTreeSet::new(),
            audiences: BTreeSet::from([Audience::Customers]),
            locale: "en".into(),
            translation_of: None,
            videos: vec![],
            attachments: vec![],
            related: BTreeSet::new(),
        }
    }

    fn article() -> Article {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("t");
        Article {
            id: ArticleId::from_ulid(Ulid::nil()),
            content: content(),
            status: ArticleStatus::Draft,
            latest_version: 1,
            published_version: None,
            published_at: None,
            created_by: staff(Role::Agent).reference(),
            created_at: now,
            updated_at: now,
            needs_reindex: false,
            version: 1,
        }
    }

    #[test]
    fn names_round_trip() {
        for a in Audience::ALL {
            assert_eq!(Audience::parse(a.as_str()), Some(a));
            let json = serde_json::to_string(&a).expect("serialises");
            assert_eq!(json, format!("\"{}\"", a.as_str()));
        }
        assert_eq!(Audience::parse("everyone"), None);
        let id = ArticleId::from_ulid(Ulid::new());
        assert_eq!(ArticleId::parse(&id.to_string()), Ok(id));
        assert!(ArticleId::parse("tkt_01JDZ6K3Q2W9V8T7S6R5P4N3M2").is_err());
    }

    #[test]
    fn state_machine() {
        use ArticleStatus::*;
        use KbAction::*;
        assert_eq!(Submit.apply(Draft), Ok(InReview));
        assert_eq!(Approve.apply(InReview), Ok(Published));
        assert_eq!(RequestChanges.apply(InReview), Ok(Draft));
        assert_eq!(Publish.apply(Draft), Ok(Published));
        assert_eq!(Archive.apply(Published), Ok(Archived));
        for (a, s) in [
            (Submit, InReview),
            (Submit, Published),
            (Approve, Draft),
            (Approve, Published),
            (RequestChanges, Draft),
            (Publish, Published),
            (Publish, Archived),
            (Archive, Archived),
            (Submit, Archived),
        ] {
            assert!(a.apply(s).is_err(), "{a} from {s}");
        }
        assert_eq!(KbAction::allowed_from(Archived), Vec::<KbAction>::new());
        assert_eq!(
            KbAction::allowed_from(InReview),
            vec![Approve, RequestChanges, Publish, Archive]
        );
    }

    #[test]
    fn who_may_do_what() {
        let agent = staff(Role::Agent);
        let sup = staff(Role::Supervisor);
        let admin = staff(Role::Admin);
        let customer = Actor::Customer {
            email: EmailAddress::parse("c@example.com").expect("e"),
        };
        assert!(KbAction::Submit.permitted(&agent));
        assert!(!KbAction::Submit.permitted(&customer));
        for a in [
            KbAction::Approve,
            KbAction::RequestChanges,
            KbAction::Publish,
            KbAction::Archive,
        ] {
            assert!(!a.permitted(&agent), "{a}");
            assert!(!a.permitted(&customer), "{a}");
            assert!(a.permitted(&sup), "{a}");
            assert!(a.permitted(&admin), "{a}");
        }
        assert!(can_author(&agent) && !can_author(&customer));
        assert!(!can_read_drafts(&customer));
        let now = article().created_at;
        let a = article()
            .step(&agent, KbAction::Submit, now)
            .expect("submit");
        assert!(matches!(
            a.step(&agent, KbAction::Approve, now),
            Err(StepError::Forbidden(_))
        ));
        let p = a.step(&sup, KbAction::Approve, now).expect("approve");
        assert_eq!(p.published_version, Some(1));
        // A new draft over a published article keeps the published version live.
        let d = p.with_new_content(content(), now);
        assert_eq!(
            (d.status, d.latest_version, d.published_version),
            (ArticleStatus::Draft, 2, Some(1))
        );
        let p2 = d.step(&sup, KbAction::Publish, now).expect("publish");
        assert_eq!(p2.published_version, Some(2));
        let gone = p2.step(&sup, KbAction::Archive, now).expect("archive");
        assert_eq!(gone.published_version, None);
        assert!(matches!(
            gone.step(&sup, KbAction::Publish, now),
            Err(StepError::Rule(_))
        ));
    }

    #[test]
    fn readers_audiences() {
        let customer = Actor::Customer {
            email: EmailAddress::parse("c@example.com").expect("e"),
        };
        assert_eq!(Audience::for_reader(None, true), vec![Audience::Customers]);
        assert_eq!(
            Audience::for_reader(Some(&customer), false),
            vec![Audience::Customers]
        );
        assert_eq!(
            Audience::for_reader(Some(&customer), true),
            vec![Audience::Customers, Audience::BusinessOwners]
        );
        assert!(
            Audience::for_reader(Some(&staff(Role::Agent)), false).contains(&Audience::Internal)
        );
        let mut c = content();
        c.audiences = BTreeSet::from([Audience::Internal]);
        assert!(!c.visible_to(&Audience::for_reader(Some(&customer), true)));
    }

    #[test]
    fn video_links() {
        let ok = [
            (
                "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
                VideoHost::Youtube,
                "dQw4w9WgXcQ",
            ),
            (
                "https://youtube.com/watch?feature=x&v=dQw4w9WgXcQ#t=3",
                VideoHost::Youtube,
                "dQw4w9WgXcQ",
            ),
            (
                "https://youtu.be/dQw4w9WgXcQ",
                VideoHost::Youtube,
                "dQw4w9WgXcQ",
            ),
            (
                "https://m.youtube.com/shorts/dQw4w9WgXcQ",
                VideoHost::Youtube,
                "dQw4w9WgXcQ",
            ),
            (
                "https://www.youtube.com/embed/dQw4w9WgXcQ",
                VideoHost::Youtube,
                "dQw4w9WgXcQ",
            ),
            ("https://vimeo.com/76979871", VideoHost::Vimeo, "76979871"),
            (
                "https://player.vimeo.com/video/76979871?h=abc",
                VideoHost::Vimeo,
                "76979871",
            ),
        ];
        for (url, host, id) in ok {
            let v = Video::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!((v.host, v.id.as_str()), (host, id), "{url}");
        }
        let v = Video::parse("https://youtu.be/dQw4w9WgXcQ").expect("ok");
        assert_eq!(
            v.embed_url,
            "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"
        );
        let v = Video::parse("https://vimeo.com/76979871").expect("ok");
        assert_eq!(v.embed_url, "https://player.vimeo.com/video/76979871?dnt=1");
        for bad in [
            "",
            "javascript:alert(1)",
            "https://evil.example/watch?v=dQw4w9WgXcQ",
            "https://youtube.com.evil.example/watch?v=dQw4w9WgXcQ",
            "https://user@youtube.com/watch?v=dQw4w9WgXcQ",
            "https://www.youtube.com/watch?v=short",
            "https://www.youtube.com/watch?v=dQw4w9WgXc\"",
            "https://youtu.be/",
            "https://vimeo.com/abc",
            "https://vimeo.com/channels/staffpicks/1",
            "ftp://vimeo.com/1",
        ] {
            assert!(Video::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_rules() {
        assert_eq!(KbFileKind::of("video/mp4"), Some(KbFileKind::Video));
        assert_eq!(KbFileKind::of("image/png"), Some(KbFileKind::Image));
        assert_eq!(
            KbFileKind::of("application/pdf"),
            Some(KbFileKind::Document)
        );
        for bad in [
            "text/html",
            "image/svg+xml",
            "application/javascript",
            "video/quicktime",
        ] {
            assert_eq!(KbFileKind::of(bad), None, "{bad}");
        }
        assert!(KbFileKind::Video.max_bytes() > KbFileKind::Document.max_bytes());
        assert!(content_matches("image/png", b"\x89PNG\r\n\x1a\nrest"));
        assert!(!content_matches("image/png", b"<html><script>"));
        assert!(content_matches("video/mp4", b"\0\0\0\x18ftypmp42"));
        assert!(!content_matches("video/webm", b"\0\0\0\x18ftypmp42"));
        assert!(content_matches("text/plain", b"anything"));
        assert_eq!(
            parse_file_name("C:\\Users\\a\\guide.pdf"),
            Ok("guide.pdf".into())
        );
        assert!(parse_file_name("12").is_err());
        assert_eq!(parse_file_name("é\u{202E}gpj.exe").expect("ok"), "égpj.exe");
        assert!(parse_file_name("a\nb").is_err());
        assert!(parse_file_name("dir/").is_err());
    }

    #[test]
    fn field_rules() {
        assert!(parse_title("  ").is_err());
        assert!(parse_title(&"x".repeat(TITLE_MAX + 1)).is_err());
        assert!(parse_title("a\nb").is_err());
        assert_eq!(
            parse_topic_path("Billing / Refunds").expect("ok"),
            vec!["Billing", "Refunds"]
        );
        assert!(parse_topic(["a/b"]).is_err());
        assert!(parse_audiences(&[]).is_err());
        assert!(parse_rating(Some(0)).is_err() && parse_rating(Some(6)).is_err());
        assert_eq!(parse_rating(Some(5)), Ok(Some(5)));
        assert_eq!(
            normalise_query("  How do I RESET my password?? "),
            Some("how do i reset my password".into())
        );
        assert_eq!(normalise_query("?!"), None);
        let me = ArticleId::from_ulid(Ulid::new());
        assert!(check_related(Some(me), &[me]).is_err());
        assert!(check_attachments(vec![AttachmentRef {
            name: "a.pdf".into(),
            blob: "../etc/passwd".into(),
            content_type: "application/pdf".into(),
            size: 1
        }])
        .is_err());
    }
}
