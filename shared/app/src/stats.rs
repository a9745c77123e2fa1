//! Live counts and daily roll-ups for the dashboard, kept as atomic counters written in the
//! same transaction as the ticket change they count — so they cannot drift from the tickets,
//! and reading them never scans tickets.
//!
//! | counter | pk | sk |
//! |---|---|---|
//! | tickets per status | `STATS#now` | `status#{status}` |
//! | open tickets per priority | `STATS#now` | `open#{priority}` |
//! | created / resolved per day | `STATS#{yyyy-mm}` | `{yyyy-mm-dd}#created`, `#resolved` |
//! | first responses per day (count, summed seconds) | `STATS#{yyyy-mm}` | `{day}#frt_n`, `{day}#frt_secs` |
//! | CSAT answers per day (count, summed ratings) | `STATS#{yyyy-mm}` | `{day}#csat_n`, `{day}#csat_sum` |
//! | tickets routed / escalated per day | `STATS#{yyyy-mm}` | `{day}#routed`, `{day}#escalated` |
//! | an agent's open tickets, and their priority weight (routing load) | `LOAD#agents` | `{email}#open`, `{email}#weight` |

use crate::keys;
use crate::ports::{Key, Query, WriteOp};
use crate::{AppError, Helpdesk};
use helpdesk_domain::{Actor, Priority, Status, Ticket, Timestamp};
use serde::Serialize;
use std::collections::BTreeMap;

pub const LIVE_PARTITION: &str = "STATS#now";

fn live(sk: String) -> Key {
    Key::new(LIVE_PARTITION, sk)
}

/// One partition holds every agent's load, so routing reads all loads with one query.
pub const LOAD_PARTITION: &str = "LOAD#agents";

pub fn load_open_key(agent: &helpdesk_domain::EmailAddress) -> Key {
    Key::new(LOAD_PARTITION, format!("{agent}#open"))
}

pub fn load_weight_key(agent: &helpdesk_domain::EmailAddress) -> Key {
    Key::new(LOAD_PARTITION, format!("{agent}#weight"))
}

pub(crate) fn daily(day: &Timestamp, metric: &str) -> Key {
    Key::new(
        format!("STATS#{}", keys::month_key(day)),
        format!("{}#{metric}", keys::day_key(day)),
    )
}

/// The counter changes that take a ticket from `before` (None = new) to `after`.
pub fn ticket_deltas(before: Option<&Ticket>, after: &Ticket) -> Vec<WriteOp> {
    let mut d: BTreeMap<Key, i64> = BTreeMap::new();
    let mut add = |k: Key, by: i64| *d.entry(k).or_insert(0) += by;
    match before {
        None => {
            add(daily(&after.created_at, "created"), 1);
        }
        Some(b) => {
            add(live(format!("status#{}", b.status)), -1);
            if b.status.is_open() {
                add(live(format!("open#{}", b.priority)), -1);
            }
        }
    }
    add(live(format!("status#{}", after.status)), 1);
    if after.status.is_open() {
        add(live(format!("open#{}", after.priority)), 1);
    }
    // Routing load: open tickets held by each agent, weighted by priority.
    for (t, sign) in before.map(|b| (b, -1)).into_iter().chain([(after, 1)]) {
        if let (true, Some(a)) = (t.status.is_open(), &t.assignee) {
            add(load_open_key(a), sign);
            add(
                load_weight_key(a),
                sign * helpdesk_domain::routing::weight(t.priority),
            );
        }
    }
    let was_resolved = before.is_some_and(|b| b.status == Status::Resolved);
    if after.status == Status::Resolved && !was_resolved {
        add(
            daily(&after.resolved_at.unwrap_or(after.updated_at), "resolved"),
            1,
        );
    }
    if let (
        None
        | Some(Ticket {
            first_response_at: None,
            ..
        }),
        Some(at),
    ) = (before, after.first_response_at)
    {
        add(daily(&at, "frt_n"), 1);
        add(
            daily(&at, "frt_secs"),
            (at - after.created_at).num_seconds().max(0),
        );
    }
    d.into_iter()
        .filter(|(_, by)| *by != 0)
        .map(|(key, by)| WriteOp::Add { key, by })
        .collect()
}

/// Counter changes for a survey answer counted on `day` (`yyyy-mm-dd`): `n` more answers,
/// ratings summing `sum` more (a changed answer is `n = 0`, `sum = new - old`).
pub(crate) fn csat_deltas(day: &str, n: i64, sum: i64) -> Vec<WriteOp> {
    let month = day.get(..7).unwrap_or(day);
    let key = |metric: &str| Key::new(format!("STATS#{month}"), format!("{day}#{metric}"));
    [(key("csat_n"), n), (key("csat_sum"), sum)]
        .into_iter()
        .filter(|(_, by)| *by != 0)
        .map(|(key, by)| WriteOp::Add { key, by })
        .collect()
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PeriodComparison {
    /// Value over the last `days` days; absent when there is no data.
    pub current: Option<f64>,
    /// Value over the `days` days before that.
    pub previous: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Dashboard {
    pub open_total: i64,
    pub open_by_priority: BTreeMap<String, i64>,
    pub by_status: BTreeMap<String, i64>,
    pub days: i64,
    /// Average seconds from creation to the first public reply, for tickets first answered in
    /// the period.
    pub first_response_secs: PeriodComparison,
    /// Resolved ÷ created in the period, 0–1.
    pub resolution_rate: PeriodComparison,
    /// Average survey rating 1–5 of the answers given in the last `days` days; absent
    /// without answers.
    pub csat: Option<f64>,
    /// Survey answers given in the last `days` days.
    pub csat_responses: i64,
}

impl Helpdesk {
    /// The numbers behind the dashboard's stat cards: three key queries, no ticket reads.
    pub async fn dashboard(&self, actor: &Actor, days: i64) -> Result<Dashboard, AppError> {
        if !actor.is_staff() {
            return Err(AppError::Forbidden("the dashboard is for the support team"));
        }
        let days = days.clamp(1, 90);
        let now = self.clock.now();
        let mut by_status: BTreeMap<String, i64> =
            Status::ALL.iter().map(|s| (s.to_string(), 0)).collect();
        let mut open_by_priority: BTreeMap<String, i64> =
            Priority::ALL.iter().map(|p| (p.to_string(), 0)).collect();
        for item in self.read_partition(LIVE_PARTITION, None).await? {
            let value = item.counter.unwrap_or(0).max(0);
            if let Some(s) = item.key.sk.strip_prefix("status#") {
                by_status.insert(s.to_string(), value);
            } else if let Some(p) = item.key.sk.strip_prefix("open#") {
                open_by_priority.insert(p.to_string(), value);
            }
        }
        // Daily roll-ups for the two periods: the months they touch, each one query.
        let start = now - chrono::Duration::days(2 * days - 1);
        let mut daily: BTreeMap<String, i64> = BTreeMap::new();
        let mut month = start;
        loop {
            let m = keys::month_key(&month);
            let range = (keys::day_key(&start), format!("{}~", keys::day_key(&now)));
            for item in self
                .read_partition(&format!("STATS#{m}"), Some(range))
                .await?
            {
                daily.insert(item.key.sk.clone(), item.counter.unwrap_or(0));
            }
            if m == keys::month_key(&now) {
                break;
            }
            month = next_month(month);
        }
        let sum = |metric: &str, from: i64, to: i64| -> i64 {
            (from..to)
                .map(|ago| now - chrono::Duration::days(ago))
                .map(|d| {
                    daily
                        .get(&format!("{}#{metric}", keys::day_key(&d)))
                        .copied()
                        .unwrap_or(0)
                })
                .sum()
        };
        let avg = |secs: i64, n: i64| {
            if n > 0 {
                Some(secs as f64 / n as f64)
            } else {
                None
            }
        };
        let rate = |resolved: i64, created: i64| {
            if created > 0 {
                Some(resolved as f64 / created as f64)
            } else {
                None
            }
        };
        Ok(Dashboard {
            open_total: open_by_priority.values().sum(),
            open_by_priority,
            by_status,
            days,
            first_response_secs: PeriodComparison {
                current: avg(sum("frt_secs", 0, days), sum("frt_n", 0, days)),
                previous: avg(
                    sum("frt_secs", days, 2 * days),
                    sum("frt_n", days, 2 * days),
                ),
            },
            resolution_rate: PeriodComparison {
                current: rate(sum("resolved", 0, days), sum("created", 0, days)),
                previous: rate(
                    sum("resolved", days, 2 * days),
                    sum("created", days, 2 * days),
                ),
            },
            csat: avg(sum("csat_sum", 0, days), sum("csat_n", 0, days)),
            csat_responses: sum("csat_n", 0, days),
        })
    }

    async fn read_partition(
        &self,
        pk: &str,
        range: Option<(String, String)>,
    ) -> Result<Vec<crate::ports::Item>, AppError> {
        let mut q = Query::partition(None, pk).limit(500);
        if let Some((a, b)) = range {
            q = q.sk(crate::ports::SortKey::Between(a, b));
        }
        let mut out = Vec::new();
        loop {
            let page = self
                .table
                .query(&q)
                .await
                .map_err(AppError::storage("reading statistics"))?;
            out.extend(page.items);
            match page.cursor {
                Some(c) => q.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }
}

fn next_month(t: Timestamp) -> Timestamp {
    use chrono::Datelike;
    let (y, m) = if t.month() == 12 {
        (t.year() + 1, 1)
    } else {
        (t.year(), t.month() + 1)
    };
    chrono::NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or(t + chrono::Duration::days(31))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_step() {
        use chrono::TimeZone;
        let t = chrono::Utc
            .with_ymd_and_hms(2026, 12, 15, 10, 0, 0)
            .single()
            .expect("t");
        assert_eq!(keys::month_key(&next_month(t)), "2027-01");
    }
}
