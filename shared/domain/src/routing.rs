//! Routing rules, as data: priority rules, escalation rules, near-duplicate detection and the
//! choice of an agent. Pure functions over plain values; the app layer feeds them what it read.
//!
//! - [`PriorityPolicy::decide`]: explicit rules (first `set` rule that matches) win over the
//!   per-tier defaults; `raise` rules and the business-owner raise apply on top. Every decision
//!   names the rules that fired.
//! - [`EscalationRule`]: all of a rule's conditions must hold; its actions raise the priority,
//!   move the ticket to a department, notify supervisors and mark the ticket escalated.
//! - [`MinHasher`]: MinHash signatures over word shingles, with LSH bands to find candidates
//!   cheaply and the signature agreement as the similarity score.
//! - [`choose_agent`] and [`plan_rebalance`]: qualified, available agents under capacity, the
//!   lowest priority-weighted load first, round-robin among ties.

use crate::{Agent, AgentStatus, DepartmentId, EmailAddress, Priority, TicketId, Tier};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What routing recorded on a ticket. Stored with the ticket (serde defaults: tickets stored
/// before routing existed read back as "not routed").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketRouting {
    /// When the pipeline finished with this ticket; set once, which makes routing idempotent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The ticket's reopen count when it was last routed: a reopen routes it again.
    #[serde(default)]
    pub routed_reopens: u32,
    /// Staff chose the priority when creating the ticket: priority rules leave it alone.
    #[serde(default, skip_serializing_if = "is_false")]
    pub priority_set_by_staff: bool,
    /// No category, or the classifier was not confident enough: a person should categorise it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub needs_triage: bool,
    /// The rules that decided the priority (`rule:outage`, `default:tier=enterprise`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub priority_rules: Vec<String>,
    /// Language detected from the text (ISO 639-1 where one exists), when detection was sure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// A similar recent ticket of the same customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub possible_duplicate: Option<DuplicateFlag>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub escalated: bool,
    /// Ids of the escalation rules that fired.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalation_rules: Vec<String>,
}

// Scores are finite by construction (ratios of counts).
impl Eq for TicketRouting {}
impl Eq for DuplicateFlag {}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DuplicateFlag {
    #[schema(value_type = String)]
    pub ticket_id: TicketId,
    pub number: String,
    /// Estimated Jaccard similarity of the two texts' word shingles, 0–1.
    pub score: f32,
}

/// A rule that does not validate: `field` is a path into the submitted document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RuleError {
    pub field: String,
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> RuleError {
    RuleError {
        field: field.into(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Text.

/// Lower-case words of letters and digits separated by single spaces: what keyword rules and
/// duplicate detection compare.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = true;
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// Whether `phrase` (normalised) occurs in `text` (normalised) as whole words.
pub fn contains_phrase(text: &str, phrase: &str) -> bool {
    if phrase.is_empty() {
        return false;
    }
    let hay = format!(" {text} ");
    hay.contains(&format!(" {phrase} "))
}

// FNV-1a, 64 bits: stable across processes, so stored signatures stay comparable.
fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

// SplitMix64: a strong cheap mixer, the i-th hash function of the MinHash family.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Hashes of the word `k`-shingles of normalised text (texts shorter than `k` words give one
/// shingle of all their words; empty text gives none).
pub fn shingles(normalised: &str, k: usize) -> BTreeSet<u64> {
    let words: Vec<&str> = normalised.split(' ').filter(|w| !w.is_empty()).collect();
    let k = k.max(1);
    if words.is_empty() {
        return BTreeSet::new();
    }
    if words.len() <= k {
        return BTreeSet::from([fnv64(words.join(" ").as_bytes())]);
    }
    words
        .windows(k)
        .map(|w| fnv64(w.join(" ").as_bytes()))
        .collect()
}

/// Exact Jaccard similarity of two shingle sets (what MinHash estimates).
pub fn jaccard(a: &BTreeSet<u64>, b: &BTreeSet<u64>) -> f32 {
    if a.is_empty() && b.is_empty() {
        return 0.0;
    }
    let inter = a.intersection(b).count();
    let union = a.len() + b.len() - inter;
    inter as f32 / union as f32
}

/// MinHash with `bands × rows` hash functions over word shingles.
#[derive(Debug, Clone, Copy)]
pub struct MinHasher {
    pub shingle_words: usize,
    pub bands: usize,
    pub rows: usize,
}

impl Default for MinHasher {
    /// 2-word shingles, 64 hashes in 16 bands of 4: two texts with similarity 0.5 share a band
    /// with probability ~0.65, at 0.8 ~1.0, at 0.2 ~0.025.
    fn default() -> Self {
        Self {
            shingle_words: 2,
            bands: 16,
            rows: 4,
        }
    }
}

impl MinHasher {
    pub fn signature(&self, normalised: &str) -> Vec<u64> {
        let set = shingles(normalised, self.shingle_words);
        (0..self.bands * self.rows)
            .map(|i| {
                let seed = mix(i as u64 + 1);
                set.iter().map(|s| mix(s ^ seed)).min().unwrap_or(u64::MAX)
            })
            .collect()
    }

    /// The fraction of positions where two signatures agree: an estimate of their Jaccard
    /// similarity. Signatures of empty texts are similar to nothing.
    pub fn similarity(&self, a: &[u64], b: &[u64]) -> f32 {
        if a.is_empty() || a.len() != b.len() || a.iter().all(|x| *x == u64::MAX) {
            return 0.0;
        }
        let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
        same as f32 / a.len() as f32
    }

    /// One hash per band: two texts are candidates when any band hash is equal.
    pub fn bands(&self, signature: &[u64]) -> Vec<u64> {
        signature
            .chunks(self.rows.max(1))
            .enumerate()
            .map(|(i, rows)| {
                let mut bytes = (i as u64).to_le_bytes().to_vec();
                for r in rows {
                    bytes.extend_from_slice(&r.to_le_bytes());
                }
                fnv64(&bytes)
            })
            .collect()
    }

    pub fn candidates(&self, a: &[u64], b: &[u64]) -> bool {
        let (ba, bb) = (self.bands(a), self.bands(b));
        ba.iter().zip(&bb).any(|(x, y)| x == y)
    }
}

// ---------------------------------------------------------------------------------------------
// What the rules look at.

/// The facts about one ticket the rules decide on.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketFacts {
    pub category: Option<String>,
    pub tier: Tier,
    pub business_owner: bool,
    /// Normalised subject and body.
    pub text: String,
    pub priority: Priority,
    pub reopen_count: u32,
    /// Customer messages since the last public reply.
    pub unanswered_replies: u32,
}

fn category_matches(categories: &[String], category: Option<&str>) -> bool {
    categories.is_empty()
        || category.is_some_and(|c| categories.iter().any(|x| x.eq_ignore_ascii_case(c.trim())))
}

fn validate_id(field: &str, id: &str) -> Result<(), RuleError> {
    let ok = !id.is_empty()
        && id.len() <= 40
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            "must be 1-40 lower-case letters, digits, '-' or '_'",
        ))
    }
}

fn validate_keywords(field: &str, keywords: &mut [String]) -> Result<(), RuleError> {
    if keywords.len() > 50 {
        return Err(invalid(field, "at most 50 keywords per rule"));
    }
    for (i, k) in keywords.iter_mut().enumerate() {
        let n = normalise(k);
        if n.is_empty() || n.chars().count() > 80 {
            return Err(invalid(
                format!("{field}[{i}]"),
                "must be 1-80 characters with at least one letter or digit",
            ));
        }
        *k = n;
    }
    Ok(())
}

fn validate_categories(field: &str, categories: &[String]) -> Result<(), RuleError> {
    if categories.len() > 50 {
        return Err(invalid(field, "at most 50 categories per rule"));
    }
    for (i, c) in categories.iter().enumerate() {
        if c.trim().is_empty() || c.chars().count() > 80 || c.chars().any(char::is_control) {
            return Err(invalid(
                format!("{field}[{i}]"),
                "must be 1-80 printable characters",
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Priority.

/// What a priority rule does when it matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PriorityAction {
    /// This priority (the first matching `set` rule wins).
    Set(Priority),
    /// Raise by this many levels (1-3), capped at urgent; every matching raise applies.
    Raise(u8),
}

/// One priority rule: every condition given must hold (an empty list is no condition).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityRule {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Any of these categories (case-insensitive).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Any of these customer tiers.
    #[serde(default)]
    pub tiers: Vec<Tier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_owner: Option<bool>,
    /// Any of these words or phrases in the subject or body (matched as whole words, case and
    /// punctuation ignored).
    #[serde(default)]
    pub keywords: Vec<String>,
    pub action: PriorityAction,
    /// One of the defaults a fresh install starts with ([`default_priority_rules`]). A matching
    /// `set` rule an admin wrote wins over a seeded one wherever it stands; replacing a seeded
    /// rule through the API makes it the admin's.
    #[serde(default, skip_serializing_if = "is_false")]
    pub seeded: bool,
}

/// The keyword rules a fresh install is seeded with (once; admins edit or delete them like any
/// rule): outages are urgent, locked-out customers and double charges high.
pub fn default_priority_rules() -> Vec<PriorityRule> {
    let rule = |id: &str, description: &str, keywords: &[&str], p: Priority| PriorityRule {
        id: id.into(),
        description: Some(description.into()),
        categories: Vec::new(),
        tiers: Vec::new(),
        business_owner: None,
        keywords: keywords.iter().map(|k| normalise(k)).collect(),
        action: PriorityAction::Set(p),
        seeded: true,
    };
    vec![
        rule(
            "default-outage",
            "Outages affect everyone: urgent.",
            &[
                "outage",
                "down for everyone",
                "site is down",
                "service is down",
            ],
            Priority::Urgent,
        ),
        rule(
            "default-locked-out",
            "Customers who cannot get in: high.",
            &[
                "cannot log in",
                "can't log in",
                "cant log in",
                "unable to log in",
                "locked out",
            ],
            Priority::High,
        ),
        rule(
            "default-charged-twice",
            "Double charges: high.",
            &["charged twice", "double charged", "charged two times"],
            Priority::High,
        ),
    ]
}

impl PriorityRule {
    pub fn matches(&self, f: &TicketFacts) -> bool {
        category_matches(&self.categories, f.category.as_deref())
            && (self.tiers.is_empty() || self.tiers.contains(&f.tier))
            && self.business_owner.is_none_or(|b| b == f.business_owner)
            && (self.keywords.is_empty()
                || self.keywords.iter().any(|k| contains_phrase(&f.text, k)))
    }
}

/// The priority rules of the help desk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityPolicy {
    /// Evaluated in order.
    #[serde(default)]
    pub rules: Vec<PriorityRule>,
    /// The priority of a tier's tickets when no `set` rule matched.
    #[serde(default)]
    pub tier_defaults: BTreeMap<Tier, Priority>,
    /// Business owners' tickets are raised this many levels (0 = not at all).
    #[serde(default = "one")]
    pub business_owner_raise: u8,
}

fn one() -> u8 {
    1
}

impl Default for PriorityPolicy {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            tier_defaults: BTreeMap::new(),
            business_owner_raise: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityDecision {
    pub priority: Priority,
    /// What fired, in order: `rule:{id}`, `default:tier={tier}`, `keep:{priority}`,
    /// `business_owner+{n}`.
    pub fired: Vec<String>,
}

pub fn raise(p: Priority, levels: u8) -> Priority {
    let idx = Priority::ALL.iter().position(|x| *x == p).unwrap_or(0);
    let to = (idx + usize::from(levels)).min(Priority::ALL.len() - 1);
    Priority::ALL[to]
}

impl PriorityPolicy {
    pub fn validate(&mut self) -> Result<(), RuleError> {
        if self.rules.len() > 200 {
            return Err(invalid("priority.rules", "at most 200 rules"));
        }
        if self.business_owner_raise > 3 {
            return Err(invalid("priority.business_owner_raise", "must be 0-3"));
        }
        let mut ids = BTreeSet::new();
        for (i, r) in self.rules.iter_mut().enumerate() {
            let at = format!("priority.rules[{i}]");
            validate_id(&format!("{at}.id"), &r.id)?;
            if !ids.insert(r.id.clone()) {
                return Err(invalid(format!("{at}.id"), "repeats another rule's id"));
            }
            validate_categories(&format!("{at}.categories"), &r.categories)?;
            validate_keywords(&format!("{at}.keywords"), &mut r.keywords)?;
            if let PriorityAction::Raise(n) = r.action {
                if !(1..=3).contains(&n) {
                    return Err(invalid(format!("{at}.action.raise"), "must be 1-3"));
                }
            }
            if r.description.as_ref().is_some_and(|d| d.len() > 500) {
                return Err(invalid(
                    format!("{at}.description"),
                    "must be at most 500 characters",
                ));
            }
        }
        Ok(())
    }

    /// The priority for a ticket. `keep_current` (staff chose it) skips the `set` rules and the
    /// defaults; raises still apply.
    pub fn decide(&self, f: &TicketFacts, keep_current: bool) -> PriorityDecision {
        let mut fired = Vec::new();
        let explicit = if keep_current {
            None
        } else {
            // Explicit (admin) rules first, then the seeded defaults, each in order.
            let set = |seeded: bool| {
                self.rules.iter().find(|r| {
                    r.seeded == seeded && matches!(r.action, PriorityAction::Set(_)) && r.matches(f)
                })
            };
            set(false).or_else(|| set(true))
        };
        let mut priority = match (explicit, keep_current) {
            (Some(r), _) => {
                fired.push(format!("rule:{}", r.id));
                match r.action {
                    PriorityAction::Set(p) => p,
                    PriorityAction::Raise(_) => f.priority,
                }
            }
            (None, false) if self.tier_defaults.contains_key(&f.tier) => {
                fired.push(format!("default:tier={}", f.tier));
                self.tier_defaults
                    .get(&f.tier)
                    .copied()
                    .unwrap_or(f.priority)
            }
            _ => {
                fired.push(format!("keep:{}", f.priority));
                f.priority
            }
        };
        for r in &self.rules {
            if let PriorityAction::Raise(n) = r.action {
                if r.matches(f) {
                    priority = raise(priority, n);
                    fired.push(format!("rule:{}", r.id));
                }
            }
        }
        if f.business_owner && self.business_owner_raise > 0 {
            priority = raise(priority, self.business_owner_raise);
            fired.push(format!("business_owner+{}", self.business_owner_raise));
        }
        PriorityDecision { priority, fired }
    }
}

// ---------------------------------------------------------------------------------------------
// Escalation.

/// When an escalation rule fires: every condition given must hold, and a rule needs at least one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationCondition {
    /// Any of these priorities (after the priority rules ran).
    #[serde(default)]
    pub priorities: Vec<Priority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_owner: Option<bool>,
    #[serde(default)]
    pub tiers: Vec<Tier>,
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Reopened more than this many times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reopened_more_than: Option<u32>,
    /// The customer wrote at least this many times since the last answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unanswered_replies_at_least: Option<u32>,
}

impl EscalationCondition {
    fn is_empty(&self) -> bool {
        *self == EscalationCondition::default()
    }

    pub fn matches(&self, f: &TicketFacts) -> bool {
        (self.priorities.is_empty() || self.priorities.contains(&f.priority))
            && self.business_owner.is_none_or(|b| b == f.business_owner)
            && (self.tiers.is_empty() || self.tiers.contains(&f.tier))
            && (self.keywords.is_empty()
                || self.keywords.iter().any(|k| contains_phrase(&f.text, k)))
            && self.reopened_more_than.is_none_or(|n| f.reopen_count > n)
            && self
                .unanswered_replies_at_least
                .is_none_or(|n| f.unanswered_replies >= n)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationAction {
    /// Raise the priority to at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raise_to: Option<Priority>,
    /// Move the ticket to this department's queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub department: Option<DepartmentId>,
    /// E-mail (and page by SMS, where configured) the supervisors and admins.
    #[serde(default)]
    pub notify_supervisors: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationRule {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub when: EscalationCondition,
    pub then: EscalationAction,
}

pub fn validate_escalation_rules(rules: &mut [EscalationRule]) -> Result<(), RuleError> {
    if rules.len() > 100 {
        return Err(invalid("escalation", "at most 100 rules"));
    }
    let mut ids = BTreeSet::new();
    for (i, r) in rules.iter_mut().enumerate() {
        let at = format!("escalation[{i}]");
        validate_id(&format!("{at}.id"), &r.id)?;
        if !ids.insert(r.id.clone()) {
            return Err(invalid(format!("{at}.id"), "repeats another rule's id"));
        }
        if r.when.is_empty() {
            return Err(invalid(
                format!("{at}.when"),
                "needs at least one condition",
            ));
        }
        validate_keywords(&format!("{at}.when.keywords"), &mut r.when.keywords)?;
        if r.then == EscalationAction::default() {
            // Marking escalated alone is allowed, but say so explicitly by notifying or moving.
            return Err(invalid(
                format!("{at}.then"),
                "needs an action: raise_to, department or notify_supervisors",
            ));
        }
    }
    Ok(())
}

/// What the escalation rules decided for one ticket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EscalationDecision {
    pub fired: Vec<String>,
    pub raise_to: Option<Priority>,
    /// The first department named by a firing rule.
    pub department: Option<DepartmentId>,
    pub notify_supervisors: bool,
}

pub fn decide_escalation(rules: &[EscalationRule], f: &TicketFacts) -> EscalationDecision {
    let mut d = EscalationDecision::default();
    for r in rules.iter().filter(|r| r.when.matches(f)) {
        d.fired.push(r.id.clone());
        if let Some(p) = r.then.raise_to {
            d.raise_to = Some(d.raise_to.map_or(p, |q| q.max(p)));
        }
        if d.department.is_none() {
            d.department = r.then.department.clone();
        }
        d.notify_supervisors |= r.then.notify_supervisors;
    }
    d
}

// ---------------------------------------------------------------------------------------------
// Assignment.

/// An agent's open tickets, and their weight by priority.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Load {
    pub open: i64,
    pub weighted: i64,
}

/// How much one open ticket of a priority counts in an agent's load.
pub fn weight(p: Priority) -> i64 {
    match p {
        Priority::Low => 1,
        Priority::Medium => 2,
        Priority::High => 3,
        Priority::Urgent => 4,
    }
}

/// What a ticket needs of its agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirements {
    pub department: Option<DepartmentId>,
    /// A skill named after the category (or mapped from it).
    pub skill: Option<String>,
    /// Primary language subtag (`de` of `de-AT`).
    pub language: Option<String>,
}

pub fn primary_language(tag: &str) -> String {
    tag.split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Agents who list no language are taken to speak English.
pub fn speaks(agent: &Agent, language: &str) -> bool {
    if agent.languages.is_empty() {
        return language == "en";
    }
    agent
        .languages
        .iter()
        .any(|l| primary_language(l) == language)
}

impl Requirements {
    /// Drops the skill or language requirement that no agent of the department can meet at all
    /// (the department does not model it); returns what was dropped, for the audit.
    pub fn relax_for(&mut self, department_agents: &[&Agent]) -> Vec<String> {
        let mut dropped = Vec::new();
        if let Some(s) = &self.skill {
            if !department_agents.iter().any(|a| a.skills.contains(s)) {
                dropped.push(format!("skill {s}"));
                self.skill = None;
            }
        }
        if let Some(l) = &self.language {
            if !department_agents.iter().any(|a| speaks(a, l)) {
                dropped.push(format!("language {l}"));
                self.language = None;
            }
        }
        dropped
    }

    pub fn in_department(&self, agent: &Agent) -> bool {
        self.department
            .as_ref()
            .is_none_or(|d| agent.departments.contains(d))
    }

    pub fn qualifies(&self, agent: &Agent) -> bool {
        self.in_department(agent)
            && self.skill.as_ref().is_none_or(|s| agent.skills.contains(s))
            && self.language.as_ref().is_none_or(|l| speaks(agent, l))
    }
}

/// Whether an agent takes a new ticket now: available and under capacity.
pub fn has_room(agent: &Agent, load: Load) -> bool {
    agent.status == AgentStatus::Available && load.open < i64::from(agent.capacity)
}

/// The agent for a ticket: among qualified agents with room, the lowest weighted load; among
/// ties, the first after `cursor` (the last one picked) in e-mail order, wrapping around.
pub fn choose_agent<'a>(
    req: &Requirements,
    agents: &'a [(Agent, Load)],
    cursor: Option<&EmailAddress>,
) -> Option<&'a Agent> {
    let eligible: Vec<&(Agent, Load)> = agents
        .iter()
        .filter(|(a, l)| req.qualifies(a) && has_room(a, *l))
        .collect();
    let min = eligible.iter().map(|(_, l)| l.weighted).min()?;
    let mut ties: Vec<&Agent> = eligible
        .iter()
        .filter(|(_, l)| l.weighted == min)
        .map(|(a, _)| a)
        .collect();
    ties.sort_by(|a, b| a.email.as_str().cmp(b.email.as_str()));
    let next = cursor.and_then(|c| ties.iter().find(|a| a.email.as_str() > c.as_str()));
    next.or(ties.first()).copied()
}

// ---------------------------------------------------------------------------------------------
// Rebalance.

/// An open ticket as the rebalance plan sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldTicket {
    pub id: TicketId,
    pub number: String,
    pub priority: Priority,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub assignee: EmailAddress,
    pub requirements: Requirements,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Move {
    #[schema(value_type = String)]
    pub ticket_id: TicketId,
    pub number: String,
    #[schema(value_type = String)]
    pub from: EmailAddress,
    /// `None`: back to the department queue, unassigned (nobody qualified has room).
    #[schema(value_type = Option<String>)]
    pub to: Option<EmailAddress>,
    /// `offline` or `overloaded`.
    pub reason: String,
}

/// Moves that take every open ticket off offline agents and the excess (newest, lowest priority
/// first) off agents over capacity. Targets are chosen like routing does, with loads updated as
/// the plan goes; an offline agent's ticket with no target goes back to its queue, an
/// overloaded agent's stays.
pub fn plan_rebalance(agents: &[(Agent, Load)], held: &[HeldTicket]) -> Vec<Move> {
    let mut loads: Vec<(Agent, Load)> = agents.to_vec();
    let mut moves = Vec::new();
    let mut cursor: Option<EmailAddress> = None;
    for (agent, _) in agents {
        let mine: Vec<&HeldTicket> = held.iter().filter(|t| t.assignee == agent.email).collect();
        let (reason, mut to_move): (&str, Vec<&HeldTicket>) = match agent.status {
            AgentStatus::Offline => ("offline", mine),
            _ => {
                let excess = mine.len().saturating_sub(agent.capacity as usize);
                if excess == 0 {
                    continue;
                }
                let mut sorted = mine;
                // Keep the most urgent, oldest work; move the rest.
                sorted.sort_by(|a, b| {
                    (a.priority.rank(), a.created_at).cmp(&(b.priority.rank(), b.created_at))
                });
                let keep = sorted.len() - excess;
                ("overloaded", sorted.split_off(keep))
            }
        };
        to_move.sort_by(|a, b| {
            (a.priority.rank(), a.created_at).cmp(&(b.priority.rank(), b.created_at))
        });
        for t in to_move {
            let others: Vec<(Agent, Load)> = loads
                .iter()
                .filter(|(a, _)| a.email != agent.email)
                .cloned()
                .collect();
            let target =
                choose_agent(&t.requirements, &others, cursor.as_ref()).map(|a| a.email.clone());
            if target.is_none() && reason == "overloaded" {
                continue;
            }
            let w = weight(t.priority);
            for (a, l) in loads.iter_mut() {
                if a.email == agent.email {
                    l.open -= 1;
                    l.weighted -= w;
                }
                if Some(&a.email) == target.as_ref() {
                    l.open += 1;
                    l.weighted += w;
                }
            }
            if target.is_some() {
                cursor = target.clone();
            }
            moves.push(Move {
                ticket_id: t.id,
                number: t.number.clone(),
                from: agent.email.clone(),
                to: target,
                reason: reason.to_string(),
            });
        }
    }
    moves
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;

    fn facts(text: &str) -> TicketFacts {
        TicketFacts {
            category: None,
            tier: Tier::Free,
            business_owner: false,
            text: normalise(text),
            priority: Priority::Medium,
            reopen_count: 0,
            unanswered_replies: 0,
        }
    }

    fn email(s: &str) -> EmailAddress {
        EmailAddress::parse(s).expect("email")
    }

    fn agent(name: &str, status: AgentStatus, capacity: u32) -> Agent {
        let now = chrono::Utc::now();
        Agent {
            email: email(&format!("{name}@example.com")),
            name: name.into(),
            role: Role::Agent,
            departments: BTreeSet::from([DepartmentId::parse("billing").expect("d")]),
            skills: BTreeSet::new(),
            languages: BTreeSet::new(),
            capacity,
            status,
            phone: None,
            on_call: false,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    fn load(open: i64, weighted: i64) -> Load {
        Load { open, weighted }
    }

    #[test]
    fn normalising_and_phrases() {
        assert_eq!(
            normalise("  I CANNOT log-in!!  Help…"),
            "i cannot log in help"
        );
        assert!(contains_phrase(
            &normalise("We cannot log in today"),
            "cannot log in"
        ));
        assert!(!contains_phrase(
            &normalise("we cannot login"),
            "cannot log in"
        ));
        assert!(!contains_phrase(&normalise("an outage"), "outa"));
        assert!(!contains_phrase("anything", ""));
        assert_eq!(normalise("Ünïcode ÇA"), "ünïcode ça");
    }

    fn policy() -> PriorityPolicy {
        let mut p: PriorityPolicy = serde_json::from_value(serde_json::json!({
            "rules": [
                { "id": "outage", "keywords": ["Outage", "site is down"], "action": { "set": "urgent" } },
                { "id": "billing-enterprise", "categories": ["Billing"], "tiers": ["enterprise"], "action": { "set": "high" } },
                { "id": "charged-twice", "keywords": ["charged twice"], "action": { "raise": 1 } }
            ],
            "tier_defaults": { "enterprise": "medium", "free": "low" }
        }))
        .expect("policy");
        p.validate().expect("valid");
        p
    }

    #[test]
    fn keyword_rule_fires_and_is_recorded() {
        let d = policy().decide(&facts("Total OUTAGE since 9am"), false);
        assert_eq!(d.priority, Priority::Urgent);
        assert_eq!(d.fired, vec!["rule:outage"]);
    }

    #[test]
    fn category_by_tier_rule_beats_the_tier_default() {
        let mut f = facts("invoice question");
        f.category = Some("billing".into());
        f.tier = Tier::Enterprise;
        let d = policy().decide(&f, false);
        assert_eq!(
            (d.priority, d.fired.clone()),
            (Priority::High, vec!["rule:billing-enterprise".to_string()])
        );
        f.category = Some("shipping".into());
        let d = policy().decide(&f, false);
        assert_eq!(d.priority, Priority::Medium);
        assert_eq!(d.fired, vec!["default:tier=enterprise"]);
    }

    #[test]
    fn raises_stack_on_the_base_and_business_owners_are_raised() {
        let mut f = facts("I was charged twice");
        let d = policy().decide(&f, false);
        // free default low, +1 for charged twice
        assert_eq!(d.priority, Priority::Medium);
        assert_eq!(d.fired, vec!["default:tier=free", "rule:charged-twice"]);
        f.business_owner = true;
        let d = policy().decide(&f, false);
        assert_eq!(d.priority, Priority::High);
        assert_eq!(d.fired.last().map(String::as_str), Some("business_owner+1"));
        f.text = normalise("outage");
        assert_eq!(
            policy().decide(&f, false).priority,
            Priority::Urgent,
            "capped"
        );
    }

    #[test]
    fn seeded_defaults_fire_but_admin_rules_win() {
        let mut p = PriorityPolicy {
            rules: default_priority_rules(),
            ..Default::default()
        };
        p.validate().expect("the defaults are valid");
        for (text, want, rule) in [
            (
                "Total outage since 9am",
                Priority::Urgent,
                "rule:default-outage",
            ),
            (
                "The app is down for everyone",
                Priority::Urgent,
                "rule:default-outage",
            ),
            (
                "I can't log in since yesterday",
                Priority::High,
                "rule:default-locked-out",
            ),
            ("I cannot log in", Priority::High, "rule:default-locked-out"),
            (
                "I am locked out of my account",
                Priority::High,
                "rule:default-locked-out",
            ),
            (
                "You double charged me",
                Priority::High,
                "rule:default-charged-twice",
            ),
            (
                "I was charged twice",
                Priority::High,
                "rule:default-charged-twice",
            ),
        ] {
            let d = p.decide(&facts(text), false);
            assert_eq!((d.priority, d.fired[0].as_str()), (want, rule), "{text}");
        }
        assert_eq!(
            p.decide(&facts("How do I export?"), false).priority,
            Priority::Medium
        );
        // An admin rule added after the seeded ones still wins.
        p.rules.push(serde_json::from_value(serde_json::json!(
            { "id": "planned", "keywords": ["outage"], "tiers": ["free"], "action": { "set": "low" } }
        )).expect("rule"));
        p.validate().expect("valid");
        let d = p.decide(&facts("planned outage tonight?"), false);
        assert_eq!(
            (d.priority, d.fired),
            (Priority::Low, vec!["rule:planned".to_string()])
        );
        // The flag round-trips, and is absent from admin rules.
        let json = serde_json::to_value(&p.rules).expect("json");
        assert_eq!(json[0]["seeded"], true);
        assert!(json[3].get("seeded").is_none());
    }

    #[test]
    fn staff_priority_is_kept_but_still_raised() {
        let mut f = facts("outage");
        f.priority = Priority::Low;
        let d = policy().decide(&f, true);
        assert_eq!(d.priority, Priority::Low);
        assert_eq!(d.fired, vec!["keep:low"]);
        f.business_owner = true;
        assert_eq!(policy().decide(&f, true).priority, Priority::Medium);
    }

    #[test]
    fn priority_rules_validate_with_field_paths() {
        let mut p = policy();
        p.rules[1].id = "outage".into();
        assert_eq!(p.validate().expect_err("dup").field, "priority.rules[1].id");
        let mut p = policy();
        p.rules[0].keywords.push("   !!! ".into());
        assert_eq!(
            p.validate().expect_err("empty").field,
            "priority.rules[0].keywords[2]"
        );
        let mut p = policy();
        p.rules[2].action = PriorityAction::Raise(0);
        assert_eq!(
            p.validate().expect_err("raise").field,
            "priority.rules[2].action.raise"
        );
        let mut p = policy();
        p.rules[0].id = "Has Space".into();
        assert!(p.validate().is_err());
        // Keywords are stored normalised.
        assert_eq!(policy().rules[0].keywords, vec!["outage", "site is down"]);
    }

    fn escalations() -> Vec<EscalationRule> {
        let mut rules: Vec<EscalationRule> = serde_json::from_value(serde_json::json!([
            { "id": "urgent-bo", "when": { "priorities": ["urgent"], "business_owner": true },
              "then": { "notify_supervisors": true, "department": "vip" } },
            { "id": "reopened", "when": { "reopened_more_than": 2 }, "then": { "raise_to": "high" } },
            { "id": "ignored", "when": { "unanswered_replies_at_least": 3 }, "then": { "raise_to": "urgent", "notify_supervisors": true } },
            { "id": "legal", "when": { "keywords": ["lawyer"], "tiers": ["enterprise"] }, "then": { "department": "legal" } }
        ]))
        .expect("rules");
        validate_escalation_rules(&mut rules).expect("valid");
        rules
    }

    #[test]
    fn escalation_conditions_all_must_hold() {
        let mut f = facts("help");
        f.priority = Priority::Urgent;
        assert!(decide_escalation(&escalations(), &f).fired.is_empty());
        f.business_owner = true;
        let d = decide_escalation(&escalations(), &f);
        assert_eq!(d.fired, vec!["urgent-bo"]);
        assert!(d.notify_supervisors);
        assert_eq!(d.department.map(|d| d.to_string()), Some("vip".into()));
    }

    #[test]
    fn escalation_counts_reopens_and_unanswered_replies() {
        let mut f = facts("help");
        f.reopen_count = 2;
        assert!(decide_escalation(&escalations(), &f).fired.is_empty());
        f.reopen_count = 3;
        f.unanswered_replies = 3;
        let d = decide_escalation(&escalations(), &f);
        assert_eq!(d.fired, vec!["reopened", "ignored"]);
        assert_eq!(d.raise_to, Some(Priority::Urgent), "highest raise wins");
        let mut f = facts("My lawyer will call");
        assert!(decide_escalation(&escalations(), &f).fired.is_empty());
        f.tier = Tier::Enterprise;
        assert_eq!(decide_escalation(&escalations(), &f).fired, vec!["legal"]);
    }

    #[test]
    fn escalation_rules_need_a_condition_and_an_action() {
        let mut rules = escalations();
        rules[1].when = EscalationCondition::default();
        assert_eq!(
            validate_escalation_rules(&mut rules)
                .expect_err("when")
                .field,
            "escalation[1].when"
        );
        let mut rules = escalations();
        rules[3].then = EscalationAction::default();
        assert_eq!(
            validate_escalation_rules(&mut rules)
                .expect_err("then")
                .field,
            "escalation[3].then"
        );
    }

    #[test]
    fn minhash_estimates_similarity_and_bands_find_candidates() {
        let h = MinHasher::default();
        let a = normalise(
            "I was charged twice for my subscription this month, please refund the second payment",
        );
        let b = normalise("Hello, I was charged twice for my subscription this month. Please refund the second payment!");
        let c = normalise("How do I change the language of the dashboard to German");
        let (sa, sb, sc) = (h.signature(&a), h.signature(&b), h.signature(&c));
        let exact = jaccard(&shingles(&a, 2), &shingles(&b, 2));
        let est = h.similarity(&sa, &sb);
        assert!(exact > 0.7, "exact {exact}");
        assert!((est - exact).abs() < 0.2, "estimate {est} vs {exact}");
        assert!(h.candidates(&sa, &sb));
        assert!(h.similarity(&sa, &sc) < 0.1);
        assert!(!h.candidates(&sa, &sc));
        assert_eq!(h.similarity(&sa, &sa), 1.0);
        assert_eq!(h.similarity(&h.signature(""), &h.signature("")), 0.0);
        assert_eq!(h.signature(&a), h.signature(&a), "deterministic");
    }

    #[test]
    fn chooses_the_least_loaded_qualified_agent_with_room() {
        let req = Requirements {
            department: DepartmentId::parse("billing").ok(),
            ..Default::default()
        };
        let agents = vec![
            (agent("ana", AgentStatus::Available, 5), load(3, 6)),
            (agent("bo", AgentStatus::Available, 5), load(1, 4)),
            (agent("cy", AgentStatus::Offline, 5), load(0, 0)),
            (agent("di", AgentStatus::Available, 2), load(2, 2)),
            (agent("ed", AgentStatus::Busy, 5), load(0, 0)),
        ];
        assert_eq!(
            choose_agent(&req, &agents, None).map(|a| a.name.as_str()),
            Some("bo")
        );
        let mut other = req.clone();
        other.department = DepartmentId::parse("sales").ok();
        assert!(choose_agent(&other, &agents, None).is_none());
    }

    #[test]
    fn round_robin_among_ties() {
        let req = Requirements::default();
        let agents = vec![
            (agent("ana", AgentStatus::Available, 5), load(1, 2)),
            (agent("bo", AgentStatus::Available, 5), load(1, 2)),
            (agent("cy", AgentStatus::Available, 5), load(1, 2)),
        ];
        let mut cursor = None;
        let mut picked = Vec::new();
        for _ in 0..4 {
            let a = choose_agent(&req, &agents, cursor.as_ref()).expect("someone");
            picked.push(a.name.clone());
            cursor = Some(a.email.clone());
        }
        assert_eq!(picked, vec!["ana", "bo", "cy", "ana"]);
    }

    #[test]
    fn skills_and_languages_qualify_and_relax_when_nobody_has_them() {
        let mut de = agent("de", AgentStatus::Available, 5);
        de.languages = BTreeSet::from(["de-AT".to_string()]);
        de.skills = BTreeSet::from(["refunds".to_string()]);
        let en = agent("en", AgentStatus::Available, 5);
        let mut req = Requirements {
            skill: Some("refunds".into()),
            language: Some("de".into()),
            ..Default::default()
        };
        assert!(req.qualifies(&de));
        assert!(!req.qualifies(&en));
        let mut fr = req.clone();
        fr.language = Some("fr".into());
        assert_eq!(fr.relax_for(&[&de, &en]), vec!["language fr"]);
        assert!(fr.qualifies(&de));
        assert!(req.relax_for(&[&de, &en]).is_empty());
        assert_eq!(primary_language("pt_BR"), "pt");
    }

    fn held(n: u8, who: &str, p: Priority) -> HeldTicket {
        HeldTicket {
            id: TicketId::from_ulid(ulid::Ulid::from_parts(u64::from(n), 1)),
            number: format!("HD-{n}"),
            priority: p,
            created_at: chrono::DateTime::from_timestamp(1_700_000_000 + i64::from(n), 0)
                .expect("t"),
            assignee: email(&format!("{who}@example.com")),
            requirements: Requirements::default(),
        }
    }

    #[test]
    fn rebalance_moves_off_offline_and_overloaded_agents() {
        let agents = vec![
            (agent("ana", AgentStatus::Offline, 5), load(2, 4)),
            (agent("bo", AgentStatus::Available, 2), load(3, 6)),
            (agent("cy", AgentStatus::Available, 5), load(0, 0)),
        ];
        let tickets = vec![
            held(1, "ana", Priority::Medium),
            held(2, "ana", Priority::Urgent),
            held(3, "bo", Priority::Low),
            held(4, "bo", Priority::Urgent),
            held(5, "bo", Priority::Medium),
        ];
        let plan = plan_rebalance(&agents, &tickets);
        let summary: Vec<(String, String, Option<String>)> = plan
            .iter()
            .map(|m| {
                (
                    m.number.clone(),
                    m.reason.clone(),
                    m.to.as_ref().map(|e| e.to_string()),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "HD-2".into(),
                    "offline".into(),
                    Some("cy@example.com".into())
                ),
                (
                    "HD-1".into(),
                    "offline".into(),
                    Some("cy@example.com".into())
                ),
                (
                    "HD-3".into(),
                    "overloaded".into(),
                    Some("cy@example.com".into())
                ),
            ]
        );
        // Nobody with room: an offline agent's work goes back to the queue, an overloaded
        // agent's stays.
        let alone = vec![
            (agent("ana", AgentStatus::Offline, 5), load(1, 2)),
            (agent("bo", AgentStatus::Available, 0), load(1, 2)),
        ];
        let plan = plan_rebalance(
            &alone,
            &[held(1, "ana", Priority::Low), held(3, "bo", Priority::Low)],
        );
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].to, None);
    }
}
