//! Ticket lists: every filter combination is served by key queries on one of the ticket
//! indexes (see `keys.rs`), merged in sort-key order, then narrowed in memory. Never a scan.

use crate::keys::{self, from_item};
use crate::ports::{Index, Item, Query, SortKey};
use crate::{AppError, Helpdesk};
use helpdesk_domain::{
    Actor, Channel, DepartmentId, EmailAddress, Priority, Status, Ticket, TicketNumber, Timestamp,
};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Most urgent first, then oldest first: the order a queue is worked in.
    #[default]
    Priority,
    Newest,
    Oldest,
}

impl SortOrder {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        match raw {
            "priority" => Ok(SortOrder::Priority),
            "newest" | "-created" => Ok(SortOrder::Newest),
            "oldest" | "created" => Ok(SortOrder::Oldest),
            _ => Err(AppError::validation(
                "sort",
                "must be priority, newest or oldest",
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeFilter {
    Me,
    Unassigned,
    Agent(EmailAddress),
}

#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    /// Empty = every status.
    pub statuses: Vec<Status>,
    pub priorities: Vec<Priority>,
    pub assignee: Option<AssigneeFilter>,
    pub department: Option<DepartmentId>,
    pub category: Option<String>,
    pub channel: Option<Channel>,
    pub customer: Option<EmailAddress>,
    pub created_from: Option<Timestamp>,
    pub created_to: Option<Timestamp>,
    /// Ticket number, customer e-mail, or words of the subject / customer name.
    pub text: Option<String>,
    pub sort: SortOrder,
    pub limit: usize,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketPage {
    pub items: Vec<Ticket>,
    /// Pass as `cursor` for the next page; absent at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Storage queries this page took (for the N+1 budget; shown in debug tooling).
    pub storage_queries: usize,
}

pub const LIST_LIMIT_MAX: usize = 100;
/// Upper bound of items examined per request when filters narrow in memory; past it the page
/// returns what it found and a cursor.
const EXAMINE_BUDGET: usize = 1_000;

/// One key query whose results are in the list's order, after stripping `prefix` from the
/// sort key (so `o#2#…` and `d#2#…` compare as `2#…`).
#[derive(Debug, Clone)]
struct Source {
    index: Index,
    pk: String,
    prefix: String,
    /// Inclusive bounds on the stripped sort key.
    from: Option<String>,
    to: Option<String>,
}

impl Helpdesk {
    pub async fn list_tickets(
        &self,
        actor: &Actor,
        mut filter: TicketFilter,
    ) -> Result<TicketPage, AppError> {
        filter.limit = filter.limit.clamp(1, LIST_LIMIT_MAX);
        // The platform lists for one customer: the one it acts for, else the one it filters on
        // (which then counts as the one it acts for, e.g. for a ticket number in `q`).
        let platform_actor;
        let actor = match actor {
            Actor::Platform {
                client_id,
                on_behalf_of,
            } => {
                let named = on_behalf_of.clone().or_else(|| filter.customer.clone());
                if let (Some(n), Some(c)) = (&named, &filter.customer) {
                    if n != c {
                        return Ok(TicketPage {
                            items: Vec::new(),
                            next_cursor: None,
                            storage_queries: 0,
                        });
                    }
                }
                filter.customer = named.clone();
                platform_actor = Actor::Platform {
                    client_id: client_id.clone(),
                    on_behalf_of: named,
                };
                &platform_actor
            }
            other => other,
        };
        match actor {
            Actor::Customer { email } => {
                // Customers list only their own tickets, whatever they ask for.
                if filter.customer.as_ref().is_some_and(|c| c != email) {
                    return Ok(TicketPage {
                        items: Vec::new(),
                        next_cursor: None,
                        storage_queries: 0,
                    });
                }
                filter.customer = Some(email.clone());
                filter.assignee = None;
            }
            Actor::Platform { .. } if filter.customer.is_none() => {
                return Err(AppError::validation(
                    "customer",
                    "the platform lists one customer's tickets at a time",
                ));
            }
            _ => {}
        }
        if let Some(AssigneeFilter::Me) = &filter.assignee {
            let me = actor
                .staff_email()
                .ok_or_else(|| AppError::validation("assignee", "'me' is for team members"))?;
            filter.assignee = Some(AssigneeFilter::Agent(me.clone()));
        }
        if let (Some(from), Some(to)) = (filter.created_from, filter.created_to) {
            if from > to {
                return Err(AppError::validation(
                    "created_from",
                    "must not be after created_to",
                ));
            }
        }
        if let Some(text) = filter.text.take() {
            let text = text.trim().to_string();
            if let Ok(number) = TicketNumber::parse(&text) {
                return self.list_by_number(actor, &filter, number).await;
            }
            if let Ok(email) = EmailAddress::parse(&text) {
                if filter.customer.as_ref().is_some_and(|c| *c != email) {
                    return Ok(TicketPage {
                        items: Vec::new(),
                        next_cursor: None,
                        storage_queries: 0,
                    });
                }
                filter.customer = Some(email);
            } else if !text.is_empty() {
                filter.text = Some(text.to_lowercase());
            }
        }
        let (sources, forward) = self.plan(&filter).await?;
        self.run(&filter, sources, forward).await
    }

    async fn list_by_number(
        &self,
        actor: &Actor,
        filter: &TicketFilter,
        number: TicketNumber,
    ) -> Result<TicketPage, AppError> {
        let found = self.resolve_ticket_ref(&number.to_string()).await?;
        let items = found
            .into_iter()
            .filter(|t| actor.can_read_ticket(t) && matches(filter, t))
            .collect();
        Ok(TicketPage {
            items,
            next_cursor: None,
            storage_queries: 2,
        })
    }

    /// Picks the index whose partitions cover the filter most narrowly.
    async fn plan(&self, f: &TicketFilter) -> Result<(Vec<Source>, bool), AppError> {
        let open_only = !f.statuses.is_empty() && f.statuses.iter().all(|s| s.is_open());
        let done_only = !f.statuses.is_empty() && f.statuses.iter().all(|s| !s.is_open());
        let state_prefixes: Vec<&str> = match (open_only, done_only) {
            (true, _) => vec!["o#"],
            (_, true) => vec!["d#"],
            _ => vec!["o#", "d#"],
        };
        let time_from = f.created_from.map(|t| keys::time_key(&t));
        let time_to = f.created_to.map(|t| format!("{}~", keys::time_key(&t)));
        match f.sort {
            SortOrder::Priority => {
                let (index, pk) = if let Some(assignee) = &f.assignee {
                    let who = match assignee {
                        AssigneeFilter::Agent(a) => Some(a),
                        _ => None,
                    };
                    (Index::Gsi2, keys::assignee_partition(who))
                } else if let Some(d) = &f.department {
                    (Index::Gsi4, keys::department_partition(Some(d)))
                } else {
                    let statuses = if f.statuses.is_empty() {
                        Status::ALL.to_vec()
                    } else {
                        f.statuses.clone()
                    };
                    let sources = statuses
                        .iter()
                        .map(|s| Source {
                            index: Index::Gsi1,
                            pk: keys::status_partition(*s),
                            prefix: String::new(),
                            from: None,
                            to: None,
                        })
                        .collect();
                    return Ok((sources, true));
                };
                let sources = state_prefixes
                    .iter()
                    .map(|p| Source {
                        index,
                        pk: pk.clone(),
                        prefix: (*p).to_string(),
                        from: None,
                        to: None,
                    })
                    .collect();
                Ok((sources, true))
            }
            SortOrder::Newest | SortOrder::Oldest => {
                let forward = f.sort == SortOrder::Oldest;
                if let Some(customer) = &f.customer {
                    return Ok((
                        vec![Source {
                            index: Index::Gsi3,
                            pk: keys::customer_partition(customer),
                            prefix: String::new(),
                            from: time_from,
                            to: time_to,
                        }],
                        forward,
                    ));
                }
                // Month partitions, newest month first for `newest`. The range starts at the
                // first month that has a ticket (a counter written at creation).
                let now = self.clock.now();
                let last = f.created_to.unwrap_or(now);
                let first = match f.created_from {
                    Some(t) => t,
                    None => self.first_ticket_time().await?.unwrap_or(now),
                };
                let mut months = months_between(&first, &last);
                if !forward {
                    months.reverse();
                }
                let sources = months
                    .into_iter()
                    .map(|m| Source {
                        index: Index::Gsi5,
                        pk: keys::month_partition(&m),
                        prefix: String::new(),
                        from: time_from.clone(),
                        to: time_to.clone(),
                    })
                    .collect();
                Ok((sources, forward))
            }
        }
    }

    async fn first_ticket_time(&self) -> Result<Option<Timestamp>, AppError> {
        // The oldest ticket number's ticket: number 1 may have been merged, but never deleted.
        let first =
            TicketNumber::new(1).map_err(|e| AppError::internal("finding the first ticket", e))?;
        let Some(item) = self
            .table
            .get(&keys::number_key(&first))
            .await
            .map_err(AppError::storage("finding the first ticket"))?
        else {
            return Ok(None);
        };
        Ok(keys::pointer_target(&item)
            .map(|id| chrono::DateTime::<chrono::Utc>::from(id.ulid().datetime())))
    }

    /// Runs the sources, merging in order, narrowing by the remaining filters, until the page
    /// is full, the sources are exhausted, or the examine budget is spent.
    async fn run(
        &self,
        f: &TicketFilter,
        sources: Vec<Source>,
        forward: bool,
    ) -> Result<TicketPage, AppError> {
        let mut after = match &f.cursor {
            Some(c) => Some(decode_list_cursor(c)?),
            None => None,
        };
        let mut items = Vec::new();
        let mut examined = 0usize;
        let mut queries = 0usize;
        let fetch = f
            .limit
            .max(if f.text.is_some() || has_post_filters(f) {
                100
            } else {
                0
            })
            .min(200);
        let month_walk = sources.iter().all(|s| s.index == Index::Gsi5) && sources.len() > 1;
        let mut exhausted = vec![false; sources.len()];
        loop {
            // Month partitions are disjoint and ordered: read them one at a time.
            let active: Vec<usize> = if month_walk {
                exhausted.iter().position(|e| !e).into_iter().collect()
            } else {
                (0..sources.len()).filter(|i| !exhausted[*i]).collect()
            };
            if active.is_empty() {
                return Ok(TicketPage {
                    items,
                    next_cursor: None,
                    storage_queries: queries,
                });
            }
            let mut candidates: Vec<(String, Item)> = Vec::new();
            let mut horizon: Option<String> = None;
            for &i in &active {
                let s = &sources[i];
                let page = self
                    .table
                    .query(&source_query(s, after.as_deref(), forward, fetch))
                    .await
                    .map_err(AppError::storage("listing tickets"))?;
                queries += 1;
                let more = page.cursor.is_some() && page.items.len() >= fetch;
                let mut last = None;
                for item in page.items {
                    let sk = item
                        .indexes
                        .get(&s.index)
                        .map(|k| k.sk.clone())
                        .unwrap_or_default();
                    let stripped = sk.strip_prefix(&s.prefix).unwrap_or(&sk).to_string();
                    last = Some(stripped.clone());
                    candidates.push((stripped, item));
                }
                if more {
                    // Items beyond this source's last key were not read: do not emit past it.
                    if let Some(l) = last {
                        horizon = Some(match horizon {
                            None => l,
                            Some(h) => {
                                if (l < h) == forward {
                                    l
                                } else {
                                    h
                                }
                            }
                        });
                    }
                } else {
                    exhausted[i] = true;
                }
            }
            candidates.sort_by(|a, b| {
                if forward {
                    a.0.cmp(&b.0)
                } else {
                    b.0.cmp(&a.0)
                }
            });
            let total = candidates.len();
            for (position, (sort_key, item)) in candidates.into_iter().enumerate() {
                if let Some(h) = &horizon {
                    if (forward && sort_key > *h) || (!forward && sort_key < *h) {
                        break;
                    }
                }
                examined += 1;
                let ticket: Ticket = from_item(&item)?;
                after = Some(sort_key);
                if matches(f, &ticket) {
                    items.push(ticket);
                    if items.len() == f.limit {
                        let more = position + 1 < total || exhausted.iter().any(|e| !*e);
                        let next = if more {
                            after.as_deref().map(encode_list_cursor)
                        } else {
                            None
                        };
                        return Ok(TicketPage {
                            items,
                            next_cursor: next,
                            storage_queries: queries,
                        });
                    }
                }
            }
            if month_walk {
                // The current month is consumed; the next starts from its beginning.
                if exhausted.iter().all(|e| *e) {
                    return Ok(TicketPage {
                        items,
                        next_cursor: None,
                        storage_queries: queries,
                    });
                }
            }
            if examined >= EXAMINE_BUDGET {
                return Ok(TicketPage {
                    items,
                    next_cursor: after.as_deref().map(encode_list_cursor),
                    storage_queries: queries,
                });
            }
        }
    }
}

fn has_post_filters(f: &TicketFilter) -> bool {
    !f.priorities.is_empty()
        || f.category.is_some()
        || f.channel.is_some()
        || f.customer.is_some()
        || f.created_from.is_some()
        || f.created_to.is_some()
        || f.department.is_some()
        || !f.statuses.is_empty()
}

fn source_query(s: &Source, after: Option<&str>, forward: bool, limit: usize) -> Query {
    let lo = s.from.clone();
    let hi = s.to.clone();
    let p = &s.prefix;
    // Upper sentinel `~` sorts after every character used in keys.
    let (mut lo, mut hi) = (
        format!("{p}{}", lo.unwrap_or_default()),
        format!("{p}{}", hi.unwrap_or_else(|| "~".into())),
    );
    let mut exclusive_lo = false;
    let mut exclusive_hi = false;
    if let Some(a) = after {
        let a = format!("{p}{a}");
        if forward && a >= lo {
            lo = a;
            exclusive_lo = true;
        } else if !forward && a <= hi {
            hi = a;
            exclusive_hi = true;
        }
    }
    // Between is inclusive: exclusive bounds move by the smallest step of the key alphabet.
    // (Gt/Lt alone would run past the prefix into the neighbouring `o#`/`d#` range.)
    if exclusive_lo {
        lo.push('\u{1}');
    }
    if exclusive_hi {
        hi = predecessor(&hi);
    }
    let sk = SortKey::Between(lo, hi);
    Query::partition(Some(s.index), s.pk.clone())
        .sk(sk)
        .forward(forward)
        .limit(limit)
}

/// The greatest string below `s` for our key alphabet (printable ASCII): drop the last char and
/// pad with `~`, which is enough because keys carry a unique id at the end.
fn predecessor(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(s.chars().count().saturating_sub(1))
        .collect();
    if let Some(last) = s.chars().last() {
        if let Some(prev) = char::from_u32(last as u32 - 1).filter(|_| last as u32 > 0x20) {
            out.push(prev);
            out.push_str("~~~~~~~~");
        }
    }
    out
}

fn matches(f: &TicketFilter, t: &Ticket) -> bool {
    if !f.statuses.is_empty() && !f.statuses.contains(&t.status) {
        return false;
    }
    if !f.priorities.is_empty() && !f.priorities.contains(&t.priority) {
        return false;
    }
    match &f.assignee {
        Some(AssigneeFilter::Agent(a)) if t.assignee.as_ref() != Some(a) => return false,
        Some(AssigneeFilter::Unassigned) if t.assignee.is_some() => return false,
        _ => {}
    }
    if f.department.is_some() && f.department != t.department {
        return false;
    }
    if let Some(c) = &f.category {
        if t.category.as_deref().map(str::to_lowercase) != Some(c.to_lowercase()) {
            return false;
        }
    }
    if f.channel.is_some_and(|c| c != t.channel) {
        return false;
    }
    if f.customer.as_ref().is_some_and(|c| *c != t.customer.email) {
        return false;
    }
    if f.created_from.is_some_and(|from| t.created_at < from)
        || f.created_to.is_some_and(|to| t.created_at > to)
    {
        return false;
    }
    if let Some(text) = &f.text {
        let hay = format!(
            "{} {} {}",
            t.subject.to_lowercase(),
            t.customer.email.as_str(),
            t.customer.name.as_deref().unwrap_or("").to_lowercase()
        );
        if !text.split_whitespace().all(|w| hay.contains(w)) {
            return false;
        }
    }
    true
}

fn months_between(first: &Timestamp, last: &Timestamp) -> Vec<String> {
    use chrono::Datelike;
    let (mut y, mut m) = (first.year(), first.month());
    let (ly, lm) = (last.year(), last.month());
    let mut out = Vec::new();
    while (y, m) <= (ly, lm) && out.len() < 1200 {
        out.push(format!("{y:04}-{m:02}"));
        if m == 12 {
            y += 1;
            m = 1;
        } else {
            m += 1;
        }
    }
    out
}

fn encode_list_cursor(after: &str) -> String {
    let mut m = std::collections::BTreeMap::new();
    m.insert("after".to_string(), after.to_string());
    crate::ports::encode_cursor(&m)
}

fn decode_list_cursor(c: &str) -> Result<String, AppError> {
    let m = crate::ports::decode_cursor(c)
        .map_err(|_| AppError::validation("cursor", "is not a cursor from this list"))?;
    let after = m
        .get("after")
        .cloned()
        .ok_or_else(|| AppError::validation("cursor", "is not a cursor from this list"))?;
    // Sort keys are printable ASCII; anything else did not come from us.
    if after.is_empty() || after.len() > 200 || !after.chars().all(|c| c.is_ascii_graphic()) {
        return Err(AppError::validation(
            "cursor",
            "is not a cursor from this list",
        ));
    }
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months() {
        use chrono::TimeZone;
        let a = chrono::Utc
            .with_ymd_and_hms(2025, 11, 3, 0, 0, 0)
            .single()
            .expect("t");
        let b = chrono::Utc
            .with_ymd_and_hms(2026, 2, 1, 0, 0, 0)
            .single()
            .expect("t");
        assert_eq!(
            months_between(&a, &b),
            vec!["2025-11", "2025-12", "2026-01", "2026-02"]
        );
        assert!(months_between(&b, &a).is_empty());
    }

    #[test]
    fn predecessor_sorts_just_below() {
        let s = "2#2026-01-01T00:00:00.000Z#tkt_01ABC";
        let p = predecessor(s);
        assert!(p.as_str() < s);
        assert!(p.as_str() > "2#2026-01-01T00:00:00.000Z#tkt_01ABB");
    }

    #[test]
    fn cursors_refuse_garbage() {
        assert!(decode_list_cursor("zzz").is_err());
        let c = encode_list_cursor("2#x");
        assert_eq!(decode_list_cursor(&c).expect("ok"), "2#x");
    }
}
