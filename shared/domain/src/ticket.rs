//! The ticket and its workflow. The allowed status transitions are data (`TRANSITIONS`), so the
//! console, the API and the docs all read one table.

use crate::audit::FieldChange;
use crate::{
    DepartmentId, DomainError, EmailAddress, ParseError, TicketId, TicketNumber, Timestamp,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(raw: &str) -> Result<Self, ParseError> {
                let s = raw.trim().to_ascii_lowercase();
                match s.as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(ParseError::new(format!(
                        "must be one of: {}",
                        [$($text),+].join(", ")
                    ))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// Where a ticket came from.
    Channel { Email => "email", Web => "web", InApp => "in_app", Chat => "chat", Phone => "phone", Sms => "sms", Social => "social", Community => "community" }
);

string_enum!(
    /// How urgent a ticket is. Ordered low → urgent.
    Priority { Low => "low", Medium => "medium", High => "high", Urgent => "urgent" }
);

impl Priority {
    /// Sort rank used in index keys: urgent sorts first.
    pub fn rank(&self) -> u8 {
        match self {
            Priority::Urgent => 0,
            Priority::High => 1,
            Priority::Medium => 2,
            Priority::Low => 3,
        }
    }
}

string_enum!(
    /// The workflow: new → assigned → in_progress → resolved → closed.
    Status { New => "new", Assigned => "assigned", InProgress => "in_progress", Resolved => "resolved", Closed => "closed" }
);

/// Every allowed status change. Anything not listed is refused. `closed` has no way out: only a
/// merge touches a closed ticket, and merge is its own operation.
pub const TRANSITIONS: &[(Status, Status)] = &[
    (Status::New, Status::Assigned),
    (Status::New, Status::InProgress),
    (Status::New, Status::Resolved),
    (Status::New, Status::Closed),
    (Status::Assigned, Status::New),
    (Status::Assigned, Status::InProgress),
    (Status::Assigned, Status::Resolved),
    (Status::Assigned, Status::Closed),
    (Status::InProgress, Status::Assigned),
    (Status::InProgress, Status::Resolved),
    (Status::InProgress, Status::Closed),
    // Reopen: the customer came back, or the fix did not hold (to its owner, or back to the
    // queue when nobody owns it).
    (Status::Resolved, Status::InProgress),
    (Status::Resolved, Status::New),
    (Status::Resolved, Status::Closed),
];

impl Status {
    pub fn can_move_to(self, to: Status) -> bool {
        TRANSITIONS.contains(&(self, to))
    }

    /// Open = still needs work from the team.
    pub fn is_open(self) -> bool {
        matches!(self, Status::New | Status::Assigned | Status::InProgress)
    }

    pub fn allowed_next(self) -> Vec<Status> {
        TRANSITIONS
            .iter()
            .filter(|(from, _)| *from == self)
            .map(|(_, to)| *to)
            .collect()
    }
}

/// The customer as recorded on the ticket: a snapshot, so the ticket reads correctly even if
/// the customer's profile changes later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketCustomer {
    pub email: EmailAddress,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub tier: crate::Tier,
    #[serde(default)]
    pub business_owner: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_user_id: Option<String>,
    /// The platform plan's name (finer than `tier`), from the customer directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// The customer's language tag (`en`, `pt-BR`), from the customer directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// The platform account (organisation) the customer belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ticket {
    pub id: TicketId,
    pub number: TicketNumber,
    pub subject: String,
    pub channel: Channel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub priority: Priority,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<EmailAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<DepartmentId>,
    #[serde(default)]
    pub tags: BTreeSet<String>,
    pub customer: TicketCustomer,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_response_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Set on a ticket that was merged into another; the source is closed and points here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<TicketId>,
    #[serde(default)]
    pub merged_from: Vec<TicketId>,
    /// People copied on the ticket's e-mail (Cc, other recipients): they get public replies and
    /// may thread by subject token, like the customer.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub participants: BTreeSet<EmailAddress>,
    /// Where e-mail to the customer goes when their latest e-mail asked for it (Reply-To).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<EmailAddress>,
    #[serde(default)]
    pub reopen_count: u32,
    #[serde(default)]
    pub message_count: u32,
    /// What the routing pipeline decided (triage flag, duplicate, escalation, rules fired).
    #[serde(default)]
    pub routing: crate::routing::TicketRouting,
    /// Optimistic-concurrency version: every stored change increments it.
    pub version: u64,
}

pub const SUBJECT_MAX: usize = 300;
pub const TAG_MAX: usize = 40;
pub const TAGS_MAX: usize = 30;
pub const CATEGORY_MAX: usize = 80;
/// People copied on one ticket, at most (more are ignored: mail to 200 people is a newsletter).
pub const PARTICIPANTS_MAX: usize = 20;

/// Parses a subject: trimmed, non-empty, bounded, without control or format characters (see
/// [`crate::text`]: a right-to-left override would show another text than the one stored).
pub fn parse_subject(raw: &str) -> Result<String, DomainError> {
    let stripped = crate::text::strip_format_chars(raw);
    let s = stripped.trim();
    if s.is_empty() {
        return Err(DomainError::Invalid {
            field: "subject",
            message: "must not be empty".into(),
        });
    }
    if s.chars().count() > SUBJECT_MAX {
        return Err(DomainError::Invalid {
            field: "subject",
            message: format!("must be at most {SUBJECT_MAX} characters"),
        });
    }
    Ok(s.chars().filter(|c| !c.is_control()).collect())
}

/// Tags are lower-case words; duplicates collapse.
pub fn parse_tags<'a>(
    raw: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeSet<String>, DomainError> {
    let mut out = BTreeSet::new();
    for t in raw {
        let t = t.trim().to_lowercase();
        let ok = !t.is_empty()
            && t.chars().count() <= TAG_MAX
            && t.chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_' || c == ':');
        if !ok {
            return Err(DomainError::Invalid {
                field: "tags",
                message: format!("tag {t:?} must be 1-{TAG_MAX} letters, digits, '-', '_' or ':'"),
            });
        }
        out.insert(t);
    }
    if out.len() > TAGS_MAX {
        return Err(DomainError::Invalid {
            field: "tags",
            message: format!("at most {TAGS_MAX} tags"),
        });
    }
    Ok(out)
}

pub fn parse_category(raw: &str) -> Result<Option<String>, DomainError> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > CATEGORY_MAX || s.chars().any(char::is_control) {
        return Err(DomainError::Invalid {
            field: "category",
            message: format!("must be at most {CATEGORY_MAX} printable characters"),
        });
    }
    Ok(Some(s.to_string()))
}

/// A requested change to a ticket's properties. `None` leaves a field alone; for the optional
/// fields, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketPatch {
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    pub category: Option<Option<String>>,
    pub assignee: Option<Option<EmailAddress>>,
    pub department: Option<Option<DepartmentId>>,
    pub tags: Option<BTreeSet<String>>,
}

impl TicketPatch {
    pub fn is_empty(&self) -> bool {
        *self == TicketPatch::default()
    }
}

fn change<T: Serialize>(field: &str, before: &T, after: &T) -> FieldChange {
    FieldChange {
        field: field.to_string(),
        before: serde_json::to_value(before).unwrap_or(serde_json::Value::Null),
        after: serde_json::to_value(after).unwrap_or(serde_json::Value::Null),
    }
}

impl Ticket {
    /// Applies a patch, enforcing the workflow, and returns what changed (for the audit log).
    /// The ticket is untouched when an error is returned.
    ///
    /// Coupling rules, so a ticket never says something untrue:
    /// - giving a `new` ticket an assignee moves it to `assigned`;
    /// - removing the assignee of an `assigned` ticket moves it back to `new`;
    /// - `assigned` and `in_progress` need an assignee (`in_progress` from `new` is allowed only
    ///   with one).
    pub fn apply(
        &mut self,
        patch: &TicketPatch,
        now: Timestamp,
    ) -> Result<Vec<FieldChange>, DomainError> {
        if self.status == Status::Closed {
            return Err(DomainError::Closed);
        }
        let mut next = self.clone();
        let mut changes = Vec::new();

        if let Some(assignee) = &patch.assignee {
            if *assignee != next.assignee {
                changes.push(change("assignee", &next.assignee, assignee));
                next.assignee = assignee.clone();
            }
        }
        let mut target = patch.status;
        if target.is_none() {
            if next.status == Status::New && next.assignee.is_some() && patch.assignee.is_some() {
                target = Some(Status::Assigned);
            } else if next.status == Status::Assigned && next.assignee.is_none() {
                target = Some(Status::New);
            }
        }
        if let Some(to) = target {
            if to != next.status {
                if !next.status.can_move_to(to) {
                    return Err(DomainError::InvalidTransition {
                        from: next.status,
                        to,
                    });
                }
                // A reopened ticket with an owner goes back to them (in_progress), not the queue.
                if next.status == Status::Resolved && to == Status::New && next.assignee.is_some() {
                    return Err(DomainError::InvalidTransition {
                        from: next.status,
                        to,
                    });
                }
                if matches!(to, Status::Assigned | Status::InProgress) && next.assignee.is_none() {
                    return Err(DomainError::NeedsAssignee(to));
                }
                changes.push(change("status", &next.status, &to));
                if next.status == Status::Resolved && matches!(to, Status::InProgress | Status::New)
                {
                    next.reopen_count += 1;
                }
                match to {
                    Status::Resolved => next.resolved_at = Some(now),
                    Status::Closed => next.closed_at = Some(now),
                    Status::InProgress | Status::Assigned | Status::New => next.resolved_at = None,
                }
                next.status = to;
            }
        }
        // An explicit status of `assigned` with no assignee was refused above; an unassigned
        // ticket that stays `assigned` cannot happen because the coupling ran first.
        if next.assignee.is_none() && matches!(next.status, Status::Assigned | Status::InProgress) {
            return Err(DomainError::NeedsAssignee(next.status));
        }
        if let Some(p) = patch.priority {
            if p != next.priority {
                changes.push(change("priority", &next.priority, &p));
                next.priority = p;
            }
        }
        if let Some(c) = &patch.category {
            if *c != next.category {
                changes.push(change("category", &next.category, c));
                next.category = c.clone();
            }
        }
        if let Some(d) = &patch.department {
            if *d != next.department {
                changes.push(change("department", &next.department, d));
                next.department = d.clone();
            }
        }
        if let Some(t) = &patch.tags {
            if *t != next.tags {
                changes.push(change("tags", &next.tags, t));
                next.tags = t.clone();
            }
        }
        if !changes.is_empty() {
            next.updated_at = now;
        }
        *self = next;
        Ok(changes)
    }

    /// Records an agent's public reply: the first one sets the first-response time.
    pub fn record_public_reply(&mut self, now: Timestamp) {
        if self.first_response_at.is_none() {
            self.first_response_at = Some(now);
        }
        self.message_count += 1;
        self.updated_at = now;
    }

    /// Closes this ticket as merged into `target`. Allowed from any status, closed included
    /// (merging an already-closed duplicate is how agents tidy up), but only once.
    pub fn merge_into(
        &mut self,
        target: TicketId,
        now: Timestamp,
    ) -> Result<Vec<FieldChange>, DomainError> {
        if target == self.id {
            return Err(DomainError::MergeIntoSelf);
        }
        if let Some(existing) = self.merged_into {
            if existing == target {
                return Ok(Vec::new());
            }
            return Err(DomainError::Invalid {
                field: "into",
                message: format!("ticket was already merged into {existing}"),
            });
        }
        let mut changes = vec![change("merged_into", &None::<TicketId>, &Some(target))];
        if self.status != Status::Closed {
            changes.push(change("status", &self.status, &Status::Closed));
            self.status = Status::Closed;
            self.closed_at = Some(now);
        }
        self.merged_into = Some(target);
        self.updated_at = now;
        Ok(changes)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::Tier;
    use chrono::TimeZone;
    use proptest::prelude::*;

    pub fn sample_ticket() -> Ticket {
        let now = chrono::Utc
            .with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
            .single()
            .expect("time");
        Ticket {
            id: TicketId::from_ulid(ulid::Ulid::nil()),
            number: TicketNumber::new(1).expect("n"),
            subject: "Cannot log in".into(),
            channel: Channel::Email,
            category: None,
            priority: Priority::Medium,
            status: Status::New,
            assignee: None,
            department: None,
            tags: BTreeSet::new(),
            customer: TicketCustomer {
                email: EmailAddress::parse("c@example.com").expect("e"),
                name: None,
                tier: Tier::Free,
                business_owner: false,
                platform_user_id: None,
                plan: None,
                locale: None,
                account_id: None,
            },
            created_at: now,
            updated_at: now,
            first_response_at: None,
            resolved_at: None,
            closed_at: None,
            merged_into: None,
            merged_from: vec![],
            participants: BTreeSet::new(),
            reply_to: None,
            reopen_count: 0,
            message_count: 1,
            routing: Default::default(),
            version: 1,
        }
    }

    fn agent() -> EmailAddress {
        EmailAddress::parse("agent@example.com").expect("e")
    }

    fn now() -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 1, 6, 9, 0, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn assigning_a_new_ticket_moves_it_to_assigned() {
        let mut t = sample_ticket();
        let changes = t
            .apply(
                &TicketPatch {
                    assignee: Some(Some(agent())),
                    ..Default::default()
                },
                now(),
            )
            .expect("ok");
        assert_eq!(t.status, Status::Assigned);
        assert_eq!(changes.len(), 2);
        // and unassigning moves it back
        t.apply(
            &TicketPatch {
                assignee: Some(None),
                ..Default::default()
            },
            now(),
        )
        .expect("ok");
        assert_eq!(t.status, Status::New);
    }

    #[test]
    fn in_progress_needs_an_assignee() {
        let mut t = sample_ticket();
        let err = t
            .apply(
                &TicketPatch {
                    status: Some(Status::InProgress),
                    ..Default::default()
                },
                now(),
            )
            .expect_err("needs assignee");
        assert_eq!(err, DomainError::NeedsAssignee(Status::InProgress));
        assert_eq!(t.status, Status::New, "ticket untouched on error");
    }

    #[test]
    fn closed_is_final() {
        let mut t = sample_ticket();
        t.apply(
            &TicketPatch {
                status: Some(Status::Closed),
                ..Default::default()
            },
            now(),
        )
        .expect("ok");
        assert!(t.closed_at.is_some());
        let err = t
            .apply(
                &TicketPatch {
                    status: Some(Status::InProgress),
                    ..Default::default()
                },
                now(),
            )
            .expect_err("closed");
        assert_eq!(err, DomainError::Closed);
    }

    #[test]
    fn reopen_counts() {
        let mut t = sample_ticket();
        t.apply(
            &TicketPatch {
                assignee: Some(Some(agent())),
                status: Some(Status::InProgress),
                ..Default::default()
            },
            now(),
        )
        .expect("ok");
        // assigned → in_progress? The patch jumps new → in_progress with an assignee: allowed.
        assert_eq!(t.status, Status::InProgress);
        t.apply(
            &TicketPatch {
                status: Some(Status::Resolved),
                ..Default::default()
            },
            now(),
        )
        .expect("ok");
        assert!(t.resolved_at.is_some());
        t.apply(
            &TicketPatch {
                status: Some(Status::InProgress),
                ..Default::default()
            },
            now(),
        )
        .expect("ok");
        assert_eq!(t.reopen_count, 1);
        assert!(t.resolved_at.is_none());
    }

    #[test]
    fn an_unowned_resolved_ticket_reopens_to_the_queue() {
        let mut t = sample_ticket();
        let resolve = TicketPatch {
            status: Some(Status::Resolved),
            ..Default::default()
        };
        let reopen = TicketPatch {
            status: Some(Status::New),
            ..Default::default()
        };
        t.apply(&resolve, now()).expect("resolve");
        t.apply(&reopen, now()).expect("reopen to new");
        assert_eq!((t.status, t.reopen_count), (Status::New, 1));
        assert!(t.resolved_at.is_none());
        // With an owner it goes back to them instead.
        t.apply(
            &TicketPatch {
                assignee: Some(Some(agent())),
                ..Default::default()
            },
            now(),
        )
        .expect("assign");
        t.apply(&resolve, now()).expect("resolve");
        assert!(t.apply(&reopen, now()).is_err());
    }

    #[test]
    fn no_op_patch_changes_nothing() {
        let mut t = sample_ticket();
        let before = t.clone();
        let changes = t
            .apply(
                &TicketPatch {
                    priority: Some(Priority::Medium),
                    ..Default::default()
                },
                now(),
            )
            .expect("ok");
        assert!(changes.is_empty());
        assert_eq!(t, before);
    }

    #[test]
    fn merge_is_idempotent_and_refuses_self() {
        let mut t = sample_ticket();
        let target = TicketId::from_ulid(ulid::Ulid::from_parts(1, 1));
        assert_eq!(t.merge_into(t.id, now()), Err(DomainError::MergeIntoSelf));
        assert_eq!(t.merge_into(target, now()).expect("ok").len(), 2);
        assert_eq!(t.status, Status::Closed);
        assert!(t.merge_into(target, now()).expect("again").is_empty());
        let other = TicketId::from_ulid(ulid::Ulid::from_parts(2, 2));
        assert!(t.merge_into(other, now()).is_err());
    }

    #[test]
    fn tags_and_subject_parse() {
        assert_eq!(parse_tags(["VIP", "vip", "billing"]).expect("ok").len(), 2);
        assert!(parse_tags(["has space"]).is_err());
        assert!(parse_subject("   ").is_err());
        assert_eq!(parse_subject(" hi\u{7} there ").expect("ok"), "hi there");
        assert_eq!(
            parse_subject("Invoice \u{202E}fdp.exe\u{202C}").expect("ok"),
            "Invoice fdp.exe"
        );
        assert!(parse_subject("\u{200B}\u{202E} ").is_err());
    }

    fn any_status() -> impl Strategy<Value = Status> {
        prop::sample::select(Status::ALL.to_vec())
    }

    fn any_patch() -> impl Strategy<Value = TicketPatch> {
        (
            prop::option::of(any_status()),
            prop::option::of(prop::sample::select(Priority::ALL.to_vec())),
            prop::option::of(prop::option::of(Just(agent()))),
        )
            .prop_map(|(status, priority, assignee)| TicketPatch {
                status,
                priority,
                assignee,
                ..Default::default()
            })
    }

    proptest! {
        /// Whatever sequence of patches agents send, the ticket never ends in a state the
        /// workflow forbids, and every status change it made is in the transition table.
        #[test]
        fn workflow_invariants_hold(patches in prop::collection::vec(any_patch(), 0..25)) {
            let mut t = sample_ticket();
            for p in &patches {
                let before = t.clone();
                match t.apply(p, now()) {
                    Ok(changes) => {
                        if before.status != t.status {
                            prop_assert!(before.status.can_move_to(t.status));
                            prop_assert!(changes.iter().any(|c| c.field == "status"));
                        }
                    }
                    Err(_) => prop_assert_eq!(&t, &before),
                }
                if matches!(t.status, Status::Assigned | Status::InProgress) {
                    prop_assert!(t.assignee.is_some());
                }
                if before.status == Status::Closed {
                    prop_assert_eq!(&t, &before);
                }
            }
        }

        #[test]
        fn status_parse_round_trips(s in any_status()) {
            prop_assert_eq!(Status::parse(s.as_str()).expect("parse"), s);
        }
    }
}
