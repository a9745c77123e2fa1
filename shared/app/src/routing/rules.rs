//! The routing rules as one versioned document (`CFG#routing`): priority rules, escalation
//! rules and the pipeline's settings. Admins replace it whole (PUT) or add, replace and delete
//! single rules; every write is conditional on the version read, so a stale write is a 409.

use crate::keys::{from_item, to_doc};
use crate::ports::{Condition, Item, Key, TableError};
use crate::{AppError, Helpdesk};
use helpdesk_domain::routing::{
    validate_escalation_rules, EscalationRule, PriorityPolicy, PriorityRule, RuleError,
};
use helpdesk_domain::{Actor, DepartmentId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub fn rules_key() -> Key {
    Key::new("CFG#routing", "CFG")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingSettings {
    /// Classifier answers below this confidence leave the category empty ("needs triage").
    #[serde(default = "default_threshold")]
    pub triage_threshold: f32,
    /// Tickets of the same customer this recent are compared for near-duplicates (0 = off).
    #[serde(default = "default_window")]
    pub duplicate_window_hours: u32,
    /// Similarity (0-1) from which a ticket is flagged as a possible duplicate.
    #[serde(default = "default_similarity")]
    pub duplicate_threshold: f32,
    /// An identical body from the same customer within this many minutes is merged (0 = off).
    #[serde(default = "default_resend")]
    pub exact_resend_minutes: u32,
    /// Category → department queue (case-insensitive category).
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, String>)]
    pub category_departments: BTreeMap<String, DepartmentId>,
    /// Category → the agent skill it needs; by default the category itself, lower-cased with
    /// spaces as dashes.
    #[serde(default)]
    pub category_skills: BTreeMap<String, String>,
    /// Department for tickets no category maps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub default_department: Option<DepartmentId>,
}

fn default_threshold() -> f32 {
    0.6
}
fn default_window() -> u32 {
    72
}
fn default_similarity() -> f32 {
    0.5
}
fn default_resend() -> u32 {
    10
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self {
            triage_threshold: default_threshold(),
            duplicate_window_hours: default_window(),
            duplicate_threshold: default_similarity(),
            exact_resend_minutes: default_resend(),
            category_departments: BTreeMap::new(),
            category_skills: BTreeMap::new(),
            default_department: None,
        }
    }
}

impl RoutingSettings {
    /// The skill a category needs of its agent.
    pub fn skill_for(&self, category: &str) -> String {
        self.category_skills
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(category))
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| {
                category
                    .trim()
                    .to_lowercase()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join("-")
            })
    }
}

/// Every routing rule, as stored and as the admin API reads and writes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingRules {
    #[serde(default)]
    pub priority: PriorityPolicy,
    #[serde(default)]
    pub escalation: Vec<EscalationRule>,
    #[serde(default)]
    pub settings: RoutingSettings,
}

impl RoutingRules {
    /// What a fresh install starts with: the default keyword priority rules
    /// (`helpdesk_domain::routing::default_priority_rules`), nothing else.
    pub fn seeded() -> Self {
        let mut rules = Self::default();
        rules.priority.rules = helpdesk_domain::routing::default_priority_rules();
        rules
    }
}

fn rule_error(e: RuleError) -> AppError {
    AppError::validation(e.field, e.message)
}

impl RoutingRules {
    /// Checks and normalises (keywords are stored normalised).
    pub fn validate(&mut self) -> Result<(), AppError> {
        self.priority.validate().map_err(rule_error)?;
        validate_escalation_rules(&mut self.escalation).map_err(rule_error)?;
        let s = &self.settings;
        let unit = |v: f32| v.is_finite() && (0.0..=1.0).contains(&v);
        if !unit(s.triage_threshold) {
            return Err(AppError::validation(
                "settings.triage_threshold",
                "must be between 0 and 1",
            ));
        }
        if !unit(s.duplicate_threshold) || s.duplicate_threshold == 0.0 {
            return Err(AppError::validation(
                "settings.duplicate_threshold",
                "must be above 0 and at most 1",
            ));
        }
        if s.duplicate_window_hours > 24 * 90 {
            return Err(AppError::validation(
                "settings.duplicate_window_hours",
                "must be at most 2160 (90 days)",
            ));
        }
        if s.exact_resend_minutes > 24 * 60 {
            return Err(AppError::validation(
                "settings.exact_resend_minutes",
                "must be at most 1440 (a day)",
            ));
        }
        for (k, v) in &s.category_skills {
            if k.trim().is_empty() || helpdesk_domain::ticket::parse_tags([v.as_str()]).is_err() {
                return Err(AppError::validation(
                    "settings.category_skills",
                    format!("{k:?} → {v:?}: skills are lower-case words like agent skills"),
                ));
            }
        }
        Ok(())
    }
}

/// Which list a single-rule operation works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    Priority,
    Escalation,
}

impl Helpdesk {
    /// The stored rules and their version. The first read of a fresh install seeds them (the
    /// default keyword priority rules, [`RoutingRules::seeded`]) as version 1, with a
    /// conditional put: seeded once, on either runtime, and never again — once the document
    /// exists, deleting a seeded rule deletes it for good.
    pub async fn routing_rules(&self) -> Result<(RoutingRules, u64), AppError> {
        let item = self
            .table
            .get(&rules_key())
            .await
            .map_err(AppError::storage("reading the routing rules"))?;
        if let Some(i) = item {
            return Ok((from_item(&i)?, i.version));
        }
        let seeded = RoutingRules::seeded();
        match self
            .table
            .put(
                Item::new(rules_key(), 1, to_doc(&seeded)?),
                Condition::NotExists,
            )
            .await
        {
            Ok(()) => {
                tracing::info!("routing rules seeded with the default keyword priority rules");
                Ok((seeded, 1))
            }
            // Seeded (or saved) concurrently: that document stands.
            Err(TableError::ConditionFailed) => {
                let item = self
                    .table
                    .get(&rules_key())
                    .await
                    .map_err(AppError::storage("reading the routing rules"))?
                    .ok_or(AppError::NotFound {
                        what: "routing rules",
                    })?;
                Ok((from_item(&item)?, item.version))
            }
            Err(e) => Err(AppError::storage("seeding the routing rules")(e)),
        }
    }

    pub async fn get_routing_rules(&self, actor: &Actor) -> Result<(RoutingRules, u64), AppError> {
        if !actor.is_staff() {
            return Err(AppError::Forbidden(
                "routing rules are for the support team",
            ));
        }
        self.routing_rules().await
    }

    /// Replaces every rule. `if_match` is the version read; a different stored version is a 409.
    pub async fn put_routing_rules(
        &self,
        actor: &Actor,
        mut rules: RoutingRules,
        if_match: Option<u64>,
    ) -> Result<(RoutingRules, u64), AppError> {
        if !actor.can_manage_directory() {
            return Err(AppError::Forbidden("only admins change routing rules"));
        }
        rules.validate()?;
        for d in rules
            .settings
            .category_departments
            .values()
            .chain(rules.settings.default_department.iter())
            .chain(
                rules
                    .escalation
                    .iter()
                    .filter_map(|r| r.then.department.as_ref()),
            )
        {
            if self.load_department(d).await?.is_none() {
                return Err(AppError::validation(
                    "department",
                    format!("no department {d}"),
                ));
            }
        }
        let (_, current) = self.routing_rules().await?;
        if let Some(expected) = if_match {
            if expected != current {
                return Err(AppError::Conflict {
                    detail: format!("the routing rules are at version {current}, not {expected}"),
                    current_version: Some(current),
                });
            }
        }
        let condition = if current == 0 {
            Condition::NotExists
        } else {
            Condition::VersionIs(current)
        };
        let version = current + 1;
        match self
            .table
            .put(Item::new(rules_key(), version, to_doc(&rules)?), condition)
            .await
        {
            Ok(()) => Ok((rules, version)),
            Err(TableError::ConditionFailed) => Err(AppError::Conflict {
                detail: "the routing rules changed since they were read".into(),
                current_version: None,
            }),
            Err(e) => Err(AppError::storage("saving the routing rules")(e)),
        }
    }

    /// Adds a priority rule, or replaces the one with the same id (in place).
    pub async fn upsert_priority_rule(
        &self,
        actor: &Actor,
        rule: PriorityRule,
        if_match: Option<u64>,
    ) -> Result<(RoutingRules, u64), AppError> {
        let (mut rules, version) = self.get_routing_rules(actor).await?;
        match rules.priority.rules.iter_mut().find(|r| r.id == rule.id) {
            Some(r) => *r = rule,
            None => rules.priority.rules.push(rule),
        }
        self.put_routing_rules(actor, rules, Some(if_match.unwrap_or(version)))
            .await
    }

    /// Adds an escalation rule, or replaces the one with the same id (in place).
    pub async fn upsert_escalation_rule(
        &self,
        actor: &Actor,
        rule: EscalationRule,
        if_match: Option<u64>,
    ) -> Result<(RoutingRules, u64), AppError> {
        let (mut rules, version) = self.get_routing_rules(actor).await?;
        match rules.escalation.iter_mut().find(|r| r.id == rule.id) {
            Some(r) => *r = rule,
            None => rules.escalation.push(rule),
        }
        self.put_routing_rules(actor, rules, Some(if_match.unwrap_or(version)))
            .await
    }

    pub async fn delete_routing_rule(
        &self,
        actor: &Actor,
        kind: RuleKind,
        id: &str,
        if_match: Option<u64>,
    ) -> Result<(RoutingRules, u64), AppError> {
        let (mut rules, version) = self.get_routing_rules(actor).await?;
        let before = rules.priority.rules.len() + rules.escalation.len();
        match kind {
            RuleKind::Priority => rules.priority.rules.retain(|r| r.id != id),
            RuleKind::Escalation => rules.escalation.retain(|r| r.id != id),
        }
        if rules.priority.rules.len() + rules.escalation.len() == before {
            return Err(AppError::NotFound { what: "rule" });
        }
        self.put_routing_rules(actor, rules, Some(if_match.unwrap_or(version)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_validate_and_name_the_field() {
        let mut r = RoutingRules::default();
        r.validate().expect("defaults are valid");
        r.settings.triage_threshold = 1.5;
        match r.validate() {
            Err(AppError::Validation { field, .. }) => {
                assert_eq!(field, "settings.triage_threshold")
            }
            other => panic!("{other:?}"),
        }
        let mut r = RoutingRules::default();
        r.settings.duplicate_threshold = f32::NAN;
        assert!(r.validate().is_err());
    }

    #[test]
    fn skills_default_to_the_category() {
        let mut s = RoutingSettings::default();
        assert_eq!(s.skill_for("Account Access"), "account-access");
        s.category_skills
            .insert("billing".into(), "payments".into());
        assert_eq!(s.skill_for("Billing"), "payments");
    }
}
