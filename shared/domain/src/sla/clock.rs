//! A ticket's SLA clocks, computed from its event history with `now` passed in.
//!
//! Rules:
//!
//! - Clocks count business time only (the policy's calendar), and only while the ticket is open
//!   (`new`, `assigned`, `in_progress`): they pause while it is `resolved` or `closed` and
//!   resume when it is reopened.
//! - **first_response** starts when the ticket is created and is completed by the first public
//!   agent reply (`FirstPublicReply` or `AgentReplied`, whichever comes first).
//! - **next_response** starts at a customer reply that follows an agent reply (customer
//!   replies before the first response are covered by first_response) and is completed by the
//!   next agent reply; the next customer reply after that starts a new cycle. Further customer
//!   replies while a cycle runs do not restart it. The clock reported is the latest cycle.
//! - **resolution** starts when the ticket is created and is completed when the ticket is
//!   resolved or closed; a reopen resumes it, counting the business time before.
//! - The targets are those of the ticket's priority at `now`: a priority change re-targets every
//!   clock that is not completed, from its original start (elapsed time is kept, the target
//!   duration changes). Raising the priority can breach a clock retroactively; lowering it can
//!   give a breached, still running clock a later target again. A completed clock keeps the
//!   target of the priority it was completed under, so a met clock stays met.
//! - A threshold (warning or breach) is crossed at the instant the elapsed business time reaches
//!   it, inclusively: a clock whose target instant has come is breached, and a reply at exactly
//!   the target instant is late. A completed clock is met if it completed before its target.
//! - A paused clock never breaches while paused; a met clock stays met as time passes (only an
//!   event — a reopen for resolution, a new cycle for next_response — can start it again).
//! - Events after `now` are ignored; events are taken in time order (ties keep their order).

use super::{duration_secs, BusinessCalendar, SlaError, SlaPolicy};
use crate::ticket::string_enum;
use crate::{ParseError, Priority, Status, Ticket, Tier};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

string_enum!(
    /// The three SLA clocks of a ticket.
    ClockKind { FirstResponse => "first_response", NextResponse => "next_response", Resolution => "resolution" }
);

string_enum!(
    /// Where a clock stands at `now`. A breached clock stays breached as time passes, whether
    /// it still runs, is paused or was completed late; only lowering the priority of a ticket
    /// whose clock still runs can move its target later again.
    ClockState { Running => "running", Paused => "paused", Met => "met", Breached => "breached" }
);

/// What happened to a ticket, as far as SLAs are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SlaEvent {
    Created {
        at: DateTime<Utc>,
        priority: Priority,
    },
    PriorityChanged {
        at: DateTime<Utc>,
        to: Priority,
    },
    /// The first public agent reply.
    FirstPublicReply {
        at: DateTime<Utc>,
    },
    CustomerReplied {
        at: DateTime<Utc>,
    },
    /// A public agent reply (internal notes are not events).
    AgentReplied {
        at: DateTime<Utc>,
    },
    StatusChanged {
        at: DateTime<Utc>,
        to: Status,
    },
}

impl SlaEvent {
    pub fn at(&self) -> DateTime<Utc> {
        match *self {
            SlaEvent::Created { at, .. }
            | SlaEvent::PriorityChanged { at, .. }
            | SlaEvent::FirstPublicReply { at }
            | SlaEvent::CustomerReplied { at }
            | SlaEvent::AgentReplied { at }
            | SlaEvent::StatusChanged { at, .. } => at,
        }
    }
}

/// One warning threshold of a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WarningStatus {
    /// Percent of the target.
    pub percent: u8,
    /// Whether the elapsed business time has reached it.
    pub crossed: bool,
    /// When it was (or, for a running clock, will be) reached; `None` for a paused or completed
    /// clock that has not reached it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

/// One clock at `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClockStatus {
    pub kind: ClockKind,
    pub state: ClockState,
    /// When this clock (for next_response: this cycle) started. With `kind`, it identifies the
    /// clock for alert de-duplication.
    pub started_at: DateTime<Utc>,
    /// The business time allowed, in seconds.
    #[serde(rename = "target_seconds", with = "duration_secs")]
    #[schema(value_type = i64)]
    pub target: Duration,
    /// The due instant: when the target was reached (breached), will be reached if the clock
    /// keeps running (running), or was due when the clock completed while running (met).
    /// `None` while paused, and when beyond the calendar's search horizon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_at: Option<DateTime<Utc>>,
    /// Business time counted so far, in seconds.
    #[serde(rename = "elapsed_seconds", with = "duration_secs")]
    #[schema(value_type = i64)]
    pub elapsed: Duration,
    /// `target - elapsed`, in seconds: negative once breached.
    #[serde(rename = "remaining_seconds", with = "duration_secs")]
    #[schema(value_type = i64)]
    pub remaining: Duration,
    /// When the clock was completed (met or breached late), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    /// The policy's warning thresholds for this clock, ascending.
    pub warnings: Vec<WarningStatus>,
}

impl ClockStatus {
    /// The warning thresholds (percent) reached.
    pub fn warnings_crossed(&self) -> impl Iterator<Item = u8> + '_ {
        self.warnings
            .iter()
            .filter(|w| w.crossed)
            .map(|w| w.percent)
    }

    /// The earliest instant after `now` at which this clock crosses a warning threshold or
    /// breaches, if it is running.
    pub fn next_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.state != ClockState::Running {
            return None;
        }
        self.warnings
            .iter()
            .filter(|w| !w.crossed)
            .filter_map(|w| w.at)
            .chain(self.target_at)
            .filter(|t| *t > now)
            .min()
    }
}

/// A ticket's SLA clocks at `now`. A clock is absent when the policy sets no target for it
/// (at the ticket's priority, tier and business-owner flag) or, for next_response, when no
/// cycle has started yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlaClock {
    /// The priority the targets were taken from.
    pub priority: Priority,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_response: Option<ClockStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_response: Option<ClockStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<ClockStatus>,
}

impl SlaClock {
    /// Replays `events` (those at or before `now`, in time order, from the first `Created`)
    /// under `policy`. Errors only when there is no `Created` event.
    pub fn compute(
        policy: &SlaPolicy,
        tier: Tier,
        business_owner: bool,
        events: &[SlaEvent],
        now: DateTime<Utc>,
    ) -> Result<Self, SlaError> {
        let mut history: Vec<&SlaEvent> = events.iter().filter(|e| e.at() <= now).collect();
        history.sort_by_key(|e| e.at());
        let mut history = history
            .into_iter()
            .skip_while(|e| !matches!(e, SlaEvent::Created { .. }));
        let Some(SlaEvent::Created { at, priority }) = history.next().copied() else {
            return Err(SlaError::NotCreated);
        };
        let mut replay = Replay::new(at, priority);
        for event in history {
            replay.apply(*event);
        }
        let ctx = Ctx {
            calendar: policy.calendar(),
            thresholds: policy.warning_thresholds(),
            now,
        };
        let status = |kind: ClockKind, tracker: &Tracker| {
            let priority = tracker.completed_priority.unwrap_or(replay.priority);
            policy
                .targets_for(priority, tier, business_owner)
                .get(kind)
                .map(|target| tracker.status(kind, target, &ctx))
        };
        Ok(SlaClock {
            priority: replay.priority,
            first_response: status(ClockKind::FirstResponse, &replay.first_response),
            next_response: replay
                .next_response
                .as_ref()
                .and_then(|t| status(ClockKind::NextResponse, t)),
            resolution: status(ClockKind::Resolution, &replay.resolution),
        })
    }

    /// [`SlaClock::compute`] with the tier and business-owner flag of the ticket's customer.
    pub fn for_ticket(
        policy: &SlaPolicy,
        ticket: &Ticket,
        events: &[SlaEvent],
        now: DateTime<Utc>,
    ) -> Result<Self, SlaError> {
        Self::compute(
            policy,
            ticket.customer.tier,
            ticket.customer.business_owner,
            events,
            now,
        )
    }

    pub fn get(&self, kind: ClockKind) -> Option<&ClockStatus> {
        match kind {
            ClockKind::FirstResponse => self.first_response.as_ref(),
            ClockKind::NextResponse => self.next_response.as_ref(),
            ClockKind::Resolution => self.resolution.as_ref(),
        }
    }

    pub fn clocks(&self) -> impl Iterator<Item = &ClockStatus> {
        [&self.first_response, &self.next_response, &self.resolution]
            .into_iter()
            .flatten()
    }

    /// The earliest instant after `now` at which a running clock crosses a warning threshold
    /// or breaches: what a sweeper indexes the ticket on. `None` when nothing is pending (all
    /// clocks paused, met or already breached). Valid until the next event; thresholds crossed
    /// at or before `now` are already reported in the clocks' state and warnings.
    pub fn next_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.clocks().filter_map(|c| c.next_due(now)).min()
    }
}

struct Ctx<'a> {
    calendar: &'a BusinessCalendar,
    thresholds: &'a [u8],
    now: DateTime<Utc>,
}

/// The running periods of one clock.
#[derive(Debug, Clone)]
struct Tracker {
    started_at: DateTime<Utc>,
    /// `[start, end)`; the last one is open-ended while the clock runs.
    periods: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
    completed_at: Option<DateTime<Utc>>,
    /// The ticket's priority when the clock was completed: its target stays that one.
    completed_priority: Option<Priority>,
}

impl Tracker {
    fn new(at: DateTime<Utc>) -> Self {
        Self {
            started_at: at,
            periods: Vec::new(),
            completed_at: None,
            completed_priority: None,
        }
    }

    fn running(&self) -> bool {
        matches!(self.periods.last(), Some((_, None)))
    }

    fn set_running(&mut self, run: bool, at: DateTime<Utc>) {
        if run && !self.running() {
            self.periods.push((at, None));
        } else if !run {
            if let Some((_, end @ None)) = self.periods.last_mut() {
                *end = Some(at);
            }
        }
    }

    fn complete(&mut self, at: DateTime<Utc>, priority: Priority) {
        if self.completed_at.is_none() {
            self.completed_at = Some(at);
            self.completed_priority = Some(priority);
        }
    }

    fn reopen(&mut self) {
        self.completed_at = None;
        self.completed_priority = None;
    }

    fn status(&self, kind: ClockKind, target: Duration, ctx: &Ctx<'_>) -> ClockStatus {
        let cal = ctx.calendar;
        let running = self.running();
        let spans: Vec<(DateTime<Utc>, Duration)> = self
            .periods
            .iter()
            .map(|&(s, e)| (s, cal.business_time_between(s, e.unwrap_or(ctx.now).max(s))))
            .collect();
        let elapsed = spans
            .iter()
            .fold(Duration::zero(), |acc, (_, bt)| acc + *bt);
        // The instant the elapsed business time reaches `level`; with `extend_last`, as if the
        // last period had kept running.
        let reached_at = |level: Duration, extend_last: bool| -> Option<DateTime<Utc>> {
            let mut acc = Duration::zero();
            for (i, (start, bt)) in spans.iter().enumerate() {
                let last = i + 1 == spans.len();
                if (last && extend_last) || acc + *bt >= level {
                    return cal.add_business_time(*start, level - acc).ok();
                }
                acc += *bt;
            }
            None
        };
        let breached = elapsed >= target;
        let state = match (breached, self.completed_at.is_some(), running) {
            (true, _, _) => ClockState::Breached,
            (false, true, _) => ClockState::Met,
            (false, false, true) => ClockState::Running,
            (false, false, false) => ClockState::Paused,
        };
        let completed_while_running = self.completed_at.is_some()
            && self.periods.last().and_then(|p| p.1) == self.completed_at;
        let target_at = if breached {
            reached_at(target, false)
        } else if running || completed_while_running {
            reached_at(target, true)
        } else {
            None
        };
        let warnings = ctx
            .thresholds
            .iter()
            .map(|&percent| {
                let level =
                    Duration::milliseconds(target.num_milliseconds() * i64::from(percent) / 100);
                let crossed = elapsed >= level;
                let at = if crossed {
                    reached_at(level, false)
                } else if running {
                    reached_at(level, true)
                } else {
                    None
                };
                WarningStatus {
                    percent,
                    crossed,
                    at,
                }
            })
            .collect();
        ClockStatus {
            kind,
            state,
            started_at: self.started_at,
            target,
            target_at,
            elapsed,
            remaining: target - elapsed,
            completed_at: self.completed_at,
            warnings,
        }
    }
}

/// The replay of a ticket's events.
struct Replay {
    priority: Priority,
    status: Status,
    agent_replied: bool,
    first_response: Tracker,
    next_response: Option<Tracker>,
    resolution: Tracker,
}

impl Replay {
    fn new(created: DateTime<Utc>, priority: Priority) -> Self {
        let mut replay = Self {
            priority,
            status: Status::New,
            agent_replied: false,
            first_response: Tracker::new(created),
            next_response: None,
            resolution: Tracker::new(created),
        };
        replay.update_running(created);
        replay
    }

    fn apply(&mut self, event: SlaEvent) {
        let at = event.at();
        match event {
            // A second `Created` is ignored: the first one started the clocks.
            SlaEvent::Created { .. } => {}
            SlaEvent::PriorityChanged { to, .. } => self.priority = to,
            SlaEvent::FirstPublicReply { .. } | SlaEvent::AgentReplied { .. } => {
                self.agent_replied = true;
                self.first_response.complete(at, self.priority);
                if let Some(next) = &mut self.next_response {
                    next.complete(at, self.priority);
                }
            }
            SlaEvent::CustomerReplied { .. } => {
                let idle = self
                    .next_response
                    .as_ref()
                    .is_none_or(|n| n.completed_at.is_some());
                if self.agent_replied && idle {
                    self.next_response = Some(Tracker::new(at));
                }
            }
            SlaEvent::StatusChanged { to, .. } => {
                self.status = to;
                if to.is_open() {
                    self.resolution.reopen();
                } else {
                    self.resolution.complete(at, self.priority);
                }
            }
        }
        self.update_running(at);
    }

    fn update_running(&mut self, at: DateTime<Utc>) {
        let open = self.status.is_open();
        let runs = |t: &Tracker| open && t.completed_at.is_none();
        let first = runs(&self.first_response);
        self.first_response.set_running(first, at);
        let resolution = runs(&self.resolution);
        self.resolution.set_running(resolution, at);
        if let Some(next) = &mut self.next_response {
            let run = runs(next);
            next.set_running(run, at);
        }
    }
}

#[cfg(test)]
mod tests;
