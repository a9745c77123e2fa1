//! SLA policies as data: targets by priority × tier, business-owner overrides, a calendar and
//! warning thresholds.

use super::{BusinessCalendar, ClockKind};
use crate::{DomainError, Priority, Tier};
use chrono::Duration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Warning thresholds (percent of the target) when a policy sets none.
pub const DEFAULT_WARNING_THRESHOLDS: [u8; 2] = [75, 90];
/// The longest target a policy may set: 366 days of business time, in minutes.
pub const MAX_TARGET_MINUTES: u32 = 366 * 24 * 60;
const MAX_WARNING_THRESHOLDS: usize = 10;

/// Business-time targets, in minutes; `None` means "no target for this clock".
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
pub struct SlaTargets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_response_minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_response_minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_minutes: Option<u32>,
}

impl SlaTargets {
    pub fn minutes(&self, kind: ClockKind) -> Option<u32> {
        match kind {
            ClockKind::FirstResponse => self.first_response_minutes,
            ClockKind::NextResponse => self.next_response_minutes,
            ClockKind::Resolution => self.resolution_minutes,
        }
    }

    /// The target of one clock as business time.
    pub fn get(&self, kind: ClockKind) -> Option<Duration> {
        self.minutes(kind).map(|m| Duration::minutes(i64::from(m)))
    }

    /// Each target taken from `self` when set, else from `fallback`.
    pub fn or(self, fallback: SlaTargets) -> SlaTargets {
        SlaTargets {
            first_response_minutes: self
                .first_response_minutes
                .or(fallback.first_response_minutes),
            next_response_minutes: self
                .next_response_minutes
                .or(fallback.next_response_minutes),
            resolution_minutes: self.resolution_minutes.or(fallback.resolution_minutes),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == SlaTargets::default()
    }
}

/// One row of a policy's target table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlaTargetRule {
    pub priority: Priority,
    /// The customer tier the row applies to; absent = any tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    /// A row for business owners only, overriding the other rows for them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub business_owner: bool,
    pub targets: SlaTargets,
}

/// An SLA policy, stored as data (admin API): a calendar, a target table and the warning
/// thresholds. Deserialising validates like [`SlaPolicy::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "PolicyData")]
pub struct SlaPolicy {
    calendar: BusinessCalendar,
    rules: Vec<SlaTargetRule>,
    /// Percentages of a target at which a warning fires, ascending, each 1–99.
    warning_thresholds: Vec<u8>,
}

#[derive(Deserialize)]
struct PolicyData {
    calendar: BusinessCalendar,
    #[serde(default)]
    rules: Vec<SlaTargetRule>,
    #[serde(default = "default_thresholds")]
    warning_thresholds: Vec<u8>,
}

fn default_thresholds() -> Vec<u8> {
    DEFAULT_WARNING_THRESHOLDS.to_vec()
}

impl TryFrom<PolicyData> for SlaPolicy {
    type Error = DomainError;
    fn try_from(data: PolicyData) -> Result<Self, Self::Error> {
        SlaPolicy::new(data.calendar, data.rules, data.warning_thresholds)
    }
}

impl SlaPolicy {
    /// A validated policy. Errors name the field: `rules` (a duplicate row — same priority,
    /// tier and business-owner flag —, a row with no target, a target outside
    /// 1..=[`MAX_TARGET_MINUTES`]) or `warning_thresholds` (outside 1–99, more than 10).
    /// Thresholds are sorted and de-duplicated.
    pub fn new(
        calendar: BusinessCalendar,
        rules: Vec<SlaTargetRule>,
        warning_thresholds: Vec<u8>,
    ) -> Result<Self, DomainError> {
        let mut seen = BTreeSet::new();
        for (i, rule) in rules.iter().enumerate() {
            let who = format!(
                "rule {i} (priority {}, tier {}{})",
                rule.priority,
                rule.tier.map_or("any", |t| t.as_str()),
                if rule.business_owner {
                    ", business owner"
                } else {
                    ""
                }
            );
            if !seen.insert((rule.priority, rule.tier, rule.business_owner)) {
                return Err(DomainError::Invalid {
                    field: "rules",
                    message: format!("{who} duplicates an earlier rule"),
                });
            }
            if rule.targets.is_empty() {
                return Err(DomainError::Invalid {
                    field: "rules",
                    message: format!("{who} sets no target"),
                });
            }
            for kind in ClockKind::ALL {
                if let Some(m) = rule.targets.minutes(*kind) {
                    if m == 0 || m > MAX_TARGET_MINUTES {
                        return Err(DomainError::Invalid {
                            field: "rules",
                            message: format!(
                                "{who}: {kind}_minutes must be 1 to {MAX_TARGET_MINUTES}"
                            ),
                        });
                    }
                }
            }
        }
        let mut thresholds = warning_thresholds;
        thresholds.sort_unstable();
        thresholds.dedup();
        if thresholds.iter().any(|p| !(1..=99).contains(p)) {
            return Err(DomainError::Invalid {
                field: "warning_thresholds",
                message: "each threshold must be a percentage from 1 to 99".into(),
            });
        }
        if thresholds.len() > MAX_WARNING_THRESHOLDS {
            return Err(DomainError::Invalid {
                field: "warning_thresholds",
                message: format!("at most {MAX_WARNING_THRESHOLDS} thresholds"),
            });
        }
        Ok(Self {
            calendar,
            rules,
            warning_thresholds: thresholds,
        })
    }

    pub fn calendar(&self) -> &BusinessCalendar {
        &self.calendar
    }

    pub fn rules(&self) -> &[SlaTargetRule] {
        &self.rules
    }

    pub fn warning_thresholds(&self) -> &[u8] {
        &self.warning_thresholds
    }

    fn rule(&self, priority: Priority, tier: Option<Tier>, owner: bool) -> Option<SlaTargets> {
        self.rules
            .iter()
            .find(|r| r.priority == priority && r.tier == tier && r.business_owner == owner)
            .map(|r| r.targets)
    }

    /// The targets for a ticket. Each clock's target comes from the first of these rows (all
    /// for the ticket's `priority`) that sets it:
    ///
    /// 1. business-owner row for the customer's tier (business owners only),
    /// 2. business-owner row for any tier (business owners only),
    /// 3. row for the customer's tier,
    /// 4. row for any tier.
    ///
    /// So an override only replaces the targets it sets; a clock no row sets has no target
    /// (and no clock).
    pub fn targets_for(&self, priority: Priority, tier: Tier, business_owner: bool) -> SlaTargets {
        let mut order: Vec<(Option<Tier>, bool)> = Vec::with_capacity(4);
        if business_owner {
            order.extend([(Some(tier), true), (None, true)]);
        }
        order.extend([(Some(tier), false), (None, false)]);
        order
            .into_iter()
            .filter_map(|(t, owner)| self.rule(priority, t, owner))
            .fold(SlaTargets::default(), SlaTargets::or)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(first: u32, next: Option<u32>, resolution: Option<u32>) -> SlaTargets {
        SlaTargets {
            first_response_minutes: Some(first),
            next_response_minutes: next,
            resolution_minutes: resolution,
        }
    }

    fn rule(priority: Priority, tier: Option<Tier>, owner: bool, t: SlaTargets) -> SlaTargetRule {
        SlaTargetRule {
            priority,
            tier,
            business_owner: owner,
            targets: t,
        }
    }

    fn policy() -> SlaPolicy {
        SlaPolicy::new(
            BusinessCalendar::twenty_four_seven(),
            vec![
                rule(
                    Priority::High,
                    None,
                    false,
                    targets(240, Some(480), Some(2880)),
                ),
                rule(
                    Priority::High,
                    Some(Tier::Enterprise),
                    false,
                    targets(60, None, None),
                ),
                rule(Priority::High, None, true, targets(30, None, None)),
                rule(
                    Priority::High,
                    Some(Tier::Enterprise),
                    true,
                    SlaTargets {
                        resolution_minutes: Some(600),
                        ..Default::default()
                    },
                ),
            ],
            vec![90, 75, 90],
        )
        .expect("valid")
    }

    #[test]
    fn precedence_is_owner_tier_then_owner_then_tier_then_any() {
        let p = policy();
        // any tier
        assert_eq!(
            p.targets_for(Priority::High, Tier::Free, false),
            targets(240, Some(480), Some(2880))
        );
        // tier row overrides first response only
        assert_eq!(
            p.targets_for(Priority::High, Tier::Enterprise, false),
            targets(60, Some(480), Some(2880))
        );
        // business owner, no tier-specific owner row
        assert_eq!(
            p.targets_for(Priority::High, Tier::Pro, true),
            targets(30, Some(480), Some(2880))
        );
        // business owner enterprise: owner+tier (resolution) > owner (first response)
        assert_eq!(
            p.targets_for(Priority::High, Tier::Enterprise, true),
            targets(30, Some(480), Some(600))
        );
        // no row for the priority: no targets
        assert!(p.targets_for(Priority::Low, Tier::Free, false).is_empty());
        assert_eq!(p.warning_thresholds(), &[75, 90]);
    }

    #[test]
    fn validation_names_the_field() {
        let cal = BusinessCalendar::twenty_four_seven();
        let dup = SlaPolicy::new(
            cal.clone(),
            vec![
                rule(Priority::Low, None, false, targets(1, None, None)),
                rule(Priority::Low, None, false, targets(2, None, None)),
            ],
            vec![],
        );
        assert!(matches!(
            dup,
            Err(DomainError::Invalid { field: "rules", .. })
        ));
        let zero = SlaPolicy::new(
            cal.clone(),
            vec![rule(Priority::Low, None, false, targets(0, None, None))],
            vec![],
        );
        assert!(matches!(
            zero,
            Err(DomainError::Invalid { field: "rules", .. })
        ));
        let empty = SlaPolicy::new(
            cal.clone(),
            vec![rule(Priority::Low, None, false, SlaTargets::default())],
            vec![],
        );
        assert!(matches!(
            empty,
            Err(DomainError::Invalid { field: "rules", .. })
        ));
        let pct = SlaPolicy::new(cal, vec![], vec![100]);
        assert!(matches!(
            pct,
            Err(DomainError::Invalid {
                field: "warning_thresholds",
                ..
            })
        ));
    }

    #[test]
    fn serde_round_trip_and_validation() {
        let json = serde_json::json!({
            "calendar": {
                "time_zone": "Europe/Berlin",
                "hours": { "monday": [{ "start": "09:00", "end": "17:00" }] },
                "holidays": ["2026-12-25"]
            },
            "rules": [
                { "priority": "urgent", "targets": { "first_response_minutes": 30 } },
                { "priority": "urgent", "tier": "enterprise", "business_owner": true,
                  "targets": { "first_response_minutes": 15, "resolution_minutes": 240 } }
            ]
        });
        let p: SlaPolicy = serde_json::from_value(json).expect("valid policy");
        assert_eq!(p.warning_thresholds(), &DEFAULT_WARNING_THRESHOLDS);
        assert_eq!(
            p.targets_for(Priority::Urgent, Tier::Enterprise, true)
                .get(ClockKind::Resolution),
            Some(Duration::hours(4))
        );
        let back: SlaPolicy =
            serde_json::from_value(serde_json::to_value(&p).expect("ser")).expect("de");
        assert_eq!(back, p);

        let bad = serde_json::json!({
            "calendar": { "time_zone": "Mars/Olympus_Mons",
                          "hours": { "monday": [{ "start": "09:00", "end": "17:00" }] } },
            "rules": []
        });
        let err = serde_json::from_value::<SlaPolicy>(bad).expect_err("bad zone");
        assert!(err.to_string().contains("time_zone"), "{err}");
    }
}
