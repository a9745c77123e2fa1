//! Community forums of the help centre: categories, topics, replies, votes, accepted answers,
//! reports and moderation. The rules here are pure; `helpdesk_app::forums` stores and enforces
//! them.
//!
//! Identity: customers post under the e-mail address they signed in with (verified by the
//! e-mailed link) and a public display name; staff post under their team e-mail with a staff
//! badge. E-mail addresses are never shown publicly, so a display name may not contain one.

use crate::audit::ActorRef;
use crate::ticket::string_enum;
use crate::{Actor, AuditId, DomainError, EmailAddress, ParseError, PostId, TicketId, TopicId};
use serde::{Deserialize, Serialize};
use std::fmt;

pub const TITLE_MIN: usize = 5;
pub const TITLE_MAX: usize = 150;
pub const BODY_MAX: usize = 20_000;
pub const DISPLAY_NAME_MIN: usize = 2;
pub const DISPLAY_NAME_MAX: usize = 40;
pub const CATEGORY_NAME_MAX: usize = 80;
pub const CATEGORY_DESCRIPTION_MAX: usize = 300;
pub const REPORT_DETAILS_MAX: usize = 500;
/// A report case keeps the newest reasons only; the count keeps counting.
pub const REPORT_REASONS_KEPT: usize = 10;
/// Slugs that are paths of the community pages themselves.
pub const RESERVED_SLUGS: &[&str] = &["topics", "profile", "new", "static"];

/// A section of the forums, e.g. "Billing questions".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Category {
    /// URL name: 2-40 of `a-z`, `0-9` and `-`.
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Position in the list (ascending), then slug.
    #[serde(default)]
    pub order: u32,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub version: u64,
}

string_enum!(
    /// Whether a post's author is a customer or a member of the team.
    AuthorKind { Customer => "customer", Staff => "staff" }
);

/// Who wrote a topic or reply. `email` is internal: public pages show `display_name` only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Author {
    pub kind: AuthorKind,
    pub email: EmailAddress,
    pub display_name: String,
}

impl Author {
    pub fn is(&self, actor: &Actor) -> bool {
        match (self.kind, actor) {
            (AuthorKind::Customer, Actor::Customer { email })
            | (AuthorKind::Staff, Actor::Staff { email, .. }) => *email == self.email,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Topic {
    pub id: TopicId,
    /// The category's slug.
    pub category: String,
    pub title: String,
    /// Markdown source; rendered through the KB's sanitiser.
    pub body: String,
    pub author: Author,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Creation or newest reply: the list's order.
    pub last_activity_at: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    pub reply_count: u32,
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub locked: bool,
    #[serde(default)]
    pub pinned: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_post: Option<PostId>,
    /// The ticket the topic continued in (see `turn into ticket`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<TicketId>,
    pub version: u64,
}

/// A reply in a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Post {
    pub id: PostId,
    pub topic_id: TopicId,
    pub body: String,
    pub author: Author,
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    pub hidden: bool,
    pub version: u64,
}

/// What a vote, report or moderation action is about: the topic itself or one reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Topic,
    Post(PostId),
}

impl Target {
    /// `topic` or the post id, as used in keys and forms.
    pub fn key(&self) -> String {
        match self {
            Target::Topic => "topic".into(),
            Target::Post(p) => p.to_string(),
        }
    }

    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let raw = raw.trim();
        if raw.is_empty() || raw == "topic" {
            return Ok(Target::Topic);
        }
        PostId::parse(raw)
            .map(Target::Post)
            .map_err(|e| DomainError::Invalid {
                field: "post",
                message: e.message,
            })
    }

    pub fn post(&self) -> Option<PostId> {
        match self {
            Target::Topic => None,
            Target::Post(p) => Some(*p),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

string_enum!(
    /// Staff moderation. `lock`/`unlock` and `pin`/`unpin` apply to topics only.
    ModAction { Hide => "hide", Unhide => "unhide", Lock => "lock", Unlock => "unlock", Pin => "pin", Unpin => "unpin" }
);

string_enum!(
    /// Why a visitor reports a post.
    ReportReason { Spam => "spam", Abuse => "abuse", OffTopic => "off_topic", PersonalData => "personal_data", Other => "other" }
);

/// One report as kept on its case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportEntry {
    pub reason: ReportReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// All reports about one topic or reply: the moderation queue shows one line per case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportCase {
    pub topic_id: TopicId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_id: Option<PostId>,
    pub count: u32,
    /// The newest reasons (at most [`REPORT_REASONS_KEPT`]).
    pub reasons: Vec<ReportEntry>,
    pub first_at: chrono::DateTime<chrono::Utc>,
    pub last_at: chrono::DateTime<chrono::Utc>,
    pub open: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<ActorRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    pub version: u64,
}

impl ReportCase {
    pub fn target(&self) -> Target {
        self.post_id.map(Target::Post).unwrap_or(Target::Topic)
    }

    /// Adds a report; a resolved case opens again (something new was reported).
    pub fn add(&mut self, entry: ReportEntry) {
        self.count = self.count.saturating_add(1);
        self.last_at = entry.at;
        self.reasons.push(entry);
        if self.reasons.len() > REPORT_REASONS_KEPT {
            let drop = self.reasons.len() - REPORT_REASONS_KEPT;
            self.reasons.drain(..drop);
        }
        self.open = true;
        self.resolved_by = None;
        self.resolution = None;
    }
}

/// One entry of a topic's history: staff moderation, accepted answers and tickets — the
/// changes someone may need to explain later (votes and replies are not audited).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ForumEvent {
    pub id: AuditId,
    pub topic_id: TopicId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_id: Option<PostId>,
    pub actor: ActorRef,
    /// hide, unhide, lock, unlock, pin, unpin, accept, unaccept, resolve_reports, ticket
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}

// ---------------------------------------------------------------------------------------------
// Validation.

fn invalid(field: &'static str, message: impl Into<String>) -> DomainError {
    DomainError::Invalid {
        field,
        message: message.into(),
    }
}

/// Trims, drops control characters (keeping newlines and tabs in bodies) and, in one-line
/// fields (titles, names), format characters such as bidi overrides (see [`crate::text`]),
/// counts characters.
fn clean_text(
    field: &'static str,
    raw: &str,
    min: usize,
    max: usize,
    multiline: bool,
) -> Result<String, DomainError> {
    let one_line;
    let raw = if multiline {
        raw
    } else {
        one_line = crate::text::strip_format_chars(raw);
        &one_line
    };
    let s: String = raw
        .trim()
        .chars()
        .filter(|c| !c.is_control() || (multiline && (*c == '\n' || *c == '\t')))
        .collect();
    let n = s.chars().count();
    if n == 0 && min > 0 {
        return Err(invalid(field, "must not be empty"));
    }
    if n < min {
        return Err(invalid(field, format!("must be at least {min} characters")));
    }
    if n > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    Ok(s)
}

pub fn parse_title(raw: &str) -> Result<String, DomainError> {
    let one_line = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    clean_text("title", &one_line, TITLE_MIN, TITLE_MAX, false)
}

pub fn parse_body(raw: &str) -> Result<String, DomainError> {
    // Windows line ends from form posts count as one character each.
    clean_text("body", &raw.replace("\r\n", "\n"), 1, BODY_MAX, true)
}

pub fn parse_slug(raw: &str) -> Result<String, DomainError> {
    let s = raw.trim();
    let ok = (2..=40).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if !ok {
        return Err(invalid(
            "slug",
            "must be 2-40 characters of a-z, 0-9 and '-', not starting or ending with '-'",
        ));
    }
    if RESERVED_SLUGS.contains(&s) {
        return Err(invalid("slug", format!("\"{s}\" is reserved")));
    }
    Ok(s.to_string())
}

pub fn parse_category_name(raw: &str) -> Result<String, DomainError> {
    clean_text("name", raw, 1, CATEGORY_NAME_MAX, false)
}

pub fn parse_category_description(raw: &str) -> Result<String, DomainError> {
    clean_text("description", raw, 0, CATEGORY_DESCRIPTION_MAX, false)
}

/// Public display names: 2-40 characters, one line, no e-mail address (they are shown to
/// everyone), and nothing that reads like the team speaking (staff posts carry their own badge).
pub fn parse_display_name(raw: &str) -> Result<String, DomainError> {
    let s = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let s = clean_text(
        "display_name",
        &s,
        DISPLAY_NAME_MIN,
        DISPLAY_NAME_MAX,
        false,
    )?;
    if s.contains('@') {
        return Err(invalid(
            "display_name",
            "must not contain an e-mail address or '@'",
        ));
    }
    let letters: String = s
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    if letters.is_empty() {
        return Err(invalid("display_name", "must contain letters or digits"));
    }
    const RESERVED: &[&str] = &[
        "admin",
        "administrator",
        "staff",
        "support",
        "supportteam",
        "helpdesk",
        "moderator",
    ];
    if RESERVED.contains(&letters.as_str()) || letters.contains("moderator") {
        return Err(invalid("display_name", "is reserved for the support team"));
    }
    Ok(s)
}

pub fn parse_report_details(raw: &str) -> Result<Option<String>, DomainError> {
    let s = clean_text("details", raw, 0, REPORT_DETAILS_MAX, true)?;
    Ok((!s.is_empty()).then_some(s))
}

// ---------------------------------------------------------------------------------------------
// Who may do what. `None` is an anonymous visitor.

/// The stable key of a forum user (votes, reports): kind and address.
pub fn user_key(actor: &Actor) -> Option<String> {
    match actor {
        Actor::Customer { email } => Some(format!("c:{email}")),
        Actor::Staff { email, .. } => Some(format!("s:{email}")),
        Actor::Platform { .. } | Actor::System { .. } => None,
    }
}

/// Start topics and reply: signed-in customers and staff. The platform's service credential
/// and the product's jobs do not speak in the community.
pub fn can_post(actor: Option<&Actor>) -> bool {
    matches!(actor, Some(Actor::Customer { .. } | Actor::Staff { .. }))
}

pub fn can_moderate(actor: Option<&Actor>) -> bool {
    matches!(actor, Some(Actor::Staff { .. }))
}

/// Categories are site structure: admins only.
pub fn can_manage_categories(actor: Option<&Actor>) -> bool {
    matches!(actor, Some(a) if a.can_manage_directory())
}

/// Hidden content is for its author and the team only.
pub fn can_see_topic(actor: Option<&Actor>, topic: &Topic) -> bool {
    !topic.hidden || can_moderate(actor) || actor.is_some_and(|a| topic.author.is(a))
}

pub fn can_see_post(actor: Option<&Actor>, post: &Post) -> bool {
    !post.hidden || can_moderate(actor) || actor.is_some_and(|a| post.author.is(a))
}

/// Why a reply is refused, if it is.
pub fn check_reply(actor: Option<&Actor>, topic: &Topic) -> Result<(), DomainError> {
    if !can_post(actor) {
        return Err(invalid("actor", "sign in to reply"));
    }
    if can_moderate(actor) {
        // The team may still write a closing word in a locked or hidden topic.
        return Ok(());
    }
    if topic.hidden {
        return Err(invalid("topic", "is hidden by a moderator"));
    }
    if topic.locked {
        return Err(invalid("topic", "is locked; it takes no new replies"));
    }
    Ok(())
}

/// The topic's author or the team marks the answer that solved it.
pub fn can_accept(actor: Option<&Actor>, topic: &Topic) -> bool {
    match actor {
        Some(Actor::Staff { .. }) => true,
        Some(a @ Actor::Customer { .. }) => topic.author.is(a) && !topic.locked && !topic.hidden,
        _ => false,
    }
}

/// Signed-in people vote, once per topic or reply, and not for their own words.
pub fn check_vote(actor: Option<&Actor>, author: &Author) -> Result<(), DomainError> {
    if !can_post(actor) {
        return Err(invalid("actor", "sign in to vote"));
    }
    if actor.is_some_and(|a| author.is(a)) {
        return Err(invalid("post", "you cannot vote for your own post"));
    }
    Ok(())
}

/// Staff turn a topic into a private ticket for its author.
pub fn can_turn_into_ticket(actor: Option<&Actor>) -> bool {
    can_moderate(actor)
}

/// Applies a moderation action to a topic; `false` when it changed nothing.
pub fn moderate_topic(topic: &mut Topic, action: ModAction) -> bool {
    let (flag, value) = match action {
        ModAction::Hide => (&mut topic.hidden, true),
        ModAction::Unhide => (&mut topic.hidden, false),
        ModAction::Lock => (&mut topic.locked, true),
        ModAction::Unlock => (&mut topic.locked, false),
        ModAction::Pin => (&mut topic.pinned, true),
        ModAction::Unpin => (&mut topic.pinned, false),
    };
    let changed = *flag != value;
    *flag = value;
    changed
}

/// Replies can only be hidden or shown again.
pub fn moderate_post(post: &mut Post, action: ModAction) -> Result<bool, DomainError> {
    let value = match action {
        ModAction::Hide => true,
        ModAction::Unhide => false,
        other => {
            return Err(invalid(
                "action",
                format!("{other} applies to topics, not replies"),
            ))
        }
    };
    let changed = post.hidden != value;
    post.hidden = value;
    Ok(changed)
}

/// The ticket a topic becomes: its title as subject, its text and a link back as the body.
pub fn ticket_subject(topic: &Topic) -> String {
    let subject: String = topic
        .title
        .chars()
        .take(crate::ticket::SUBJECT_MAX)
        .collect();
    subject
}

pub fn ticket_body(topic: &Topic, link: &str) -> String {
    format!(
        "{}\n\n---\nContinued privately from the community topic \"{}\": {link}",
        topic.body, topic.title
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;

    fn email(s: &str) -> EmailAddress {
        EmailAddress::parse(s).expect("email")
    }

    fn customer(s: &str) -> Actor {
        Actor::Customer { email: email(s) }
    }

    fn staff(role: Role) -> Actor {
        Actor::Staff {
            email: email("agent@example.com"),
            role,
        }
    }

    fn topic() -> Topic {
        let now = chrono::Utc::now();
        Topic {
            id: TopicId::from_ulid(ulid::Ulid::new()),
            category: "general".into(),
            title: "Printer offline".into(),
            body: "It says offline.".into(),
            author: Author {
                kind: AuthorKind::Customer,
                email: email("ana@example.com"),
                display_name: "Ana".into(),
            },
            created_at: now,
            last_activity_at: now,
            reply_count: 0,
            hidden: false,
            locked: false,
            pinned: false,
            accepted_post: None,
            ticket: None,
            version: 1,
        }
    }

    #[test]
    fn titles_and_bodies_have_limits() {
        assert_eq!(
            parse_title("  Printer\n  offline  ").expect("ok"),
            "Printer offline"
        );
        assert!(parse_title("Hey").is_err());
        assert_eq!(
            parse_title("Refund \u{202E}fdp.exe").expect("ok"),
            "Refund fdp.exe"
        );
        assert!(parse_title(&"x".repeat(TITLE_MAX + 1)).is_err());
        assert_eq!(parse_body("a\r\nb\u{0}").expect("ok"), "a\nb");
        assert!(parse_body("   ").is_err());
        assert!(parse_body(&"x".repeat(BODY_MAX + 1)).is_err());
    }

    #[test]
    fn display_names_never_show_an_address_or_pose_as_staff() {
        assert_eq!(parse_display_name("  Ana   S. ").expect("ok"), "Ana S.");
        assert_eq!(parse_display_name("\u{202E}anA S.").expect("ok"), "anA S.");
        for bad in [
            "a",
            "ana@example.com",
            "x@y",
            "Support",
            "MODERATOR 1",
            // Format characters are removed before the checks, so they hide nothing.
            "Sup\u{200B}port",
            "\u{202E}\u{202C}",
            "  ",
            "!!",
            &"n".repeat(41),
        ] {
            let e = parse_display_name(bad).expect_err(bad);
            assert!(
                matches!(
                    e,
                    DomainError::Invalid {
                        field: "display_name",
                        ..
                    }
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn slugs() {
        assert_eq!(parse_slug("billing-2").expect("ok"), "billing-2");
        for bad in ["B", "a", "-ab", "ab-", "a b", "topics", "über"] {
            assert!(parse_slug(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn who_may_post_moderate_and_accept() {
        let t = topic();
        let author = customer("ana@example.com");
        let other = customer("bob@example.com");
        let agent = staff(Role::Agent);
        assert!(!can_post(None));
        assert!(can_post(Some(&author)));
        assert!(!can_post(Some(&Actor::Platform {
            client_id: "p".into(),
            on_behalf_of: None,
        })));
        assert!(can_moderate(Some(&agent)));
        assert!(!can_moderate(Some(&author)));
        assert!(can_accept(Some(&author), &t));
        assert!(!can_accept(Some(&other), &t));
        assert!(can_accept(Some(&agent), &t));
        assert!(!can_accept(None, &t));
        assert!(can_manage_categories(Some(&staff(Role::Admin))));
        assert!(!can_manage_categories(Some(&agent)));
        // A customer with the same address as a staff author is not that author.
        let mut staff_topic = t.clone();
        staff_topic.author.kind = AuthorKind::Staff;
        assert!(!can_accept(Some(&author), &staff_topic));
    }

    #[test]
    fn locked_and_hidden_topics() {
        let mut t = topic();
        let author = customer("ana@example.com");
        let other = customer("bob@example.com");
        let agent = staff(Role::Agent);
        assert!(check_reply(Some(&other), &t).is_ok());
        assert!(check_reply(None, &t).is_err());
        assert!(moderate_topic(&mut t, ModAction::Lock));
        assert!(!moderate_topic(&mut t, ModAction::Lock));
        assert!(check_reply(Some(&other), &t).is_err());
        assert!(check_reply(Some(&agent), &t).is_ok());
        moderate_topic(&mut t, ModAction::Hide);
        assert!(!can_see_topic(None, &t));
        assert!(!can_see_topic(Some(&other), &t));
        assert!(can_see_topic(Some(&author), &t));
        assert!(can_see_topic(Some(&agent), &t));
    }

    #[test]
    fn posts_only_hide_and_votes_are_not_for_oneself() {
        let t = topic();
        let mut p = Post {
            id: PostId::from_ulid(ulid::Ulid::new()),
            topic_id: t.id,
            body: "Try restarting.".into(),
            author: t.author.clone(),
            created_at: t.created_at,
            hidden: false,
            version: 1,
        };
        assert!(moderate_post(&mut p, ModAction::Lock).is_err());
        assert!(moderate_post(&mut p, ModAction::Hide).expect("ok"));
        assert!(!can_see_post(Some(&customer("bob@example.com")), &p));
        assert!(can_see_post(Some(&customer("ana@example.com")), &p));
        assert!(check_vote(Some(&customer("ana@example.com")), &p.author).is_err());
        assert!(check_vote(Some(&customer("bob@example.com")), &p.author).is_ok());
        assert!(check_vote(None, &p.author).is_err());
    }

    #[test]
    fn report_cases_keep_the_newest_reasons_and_reopen() {
        let t = topic();
        let mut case = ReportCase {
            topic_id: t.id,
            post_id: None,
            count: 0,
            reasons: Vec::new(),
            first_at: t.created_at,
            last_at: t.created_at,
            open: false,
            resolved_by: Some(customer("x@example.com").reference()),
            resolution: Some("ok".into()),
            version: 1,
        };
        for i in 0..12 {
            case.add(ReportEntry {
                reason: ReportReason::Spam,
                details: Some(format!("{i}")),
                at: t.created_at,
            });
        }
        assert_eq!(case.count, 12);
        assert_eq!(case.reasons.len(), REPORT_REASONS_KEPT);
        assert_eq!(case.reasons[0].details.as_deref(), Some("2"));
        assert!(case.open && case.resolved_by.is_none());
        assert_eq!(case.target(), Target::Topic);
    }

    #[test]
    fn targets_parse() {
        assert_eq!(Target::parse("topic").expect("t"), Target::Topic);
        let id = PostId::from_ulid(ulid::Ulid::new());
        assert_eq!(Target::parse(&id.to_string()).expect("p"), Target::Post(id));
        assert!(Target::parse("pst_nope").is_err());
    }
}
