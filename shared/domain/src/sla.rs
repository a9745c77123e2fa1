//! SLA clocks: business calendars and business-time arithmetic (pure; time passed in).
//!
//! - [`BusinessCalendar`]: an IANA time zone, weekly business hours (split shifts and overnight
//!   intervals allowed) and holidays; business-time arithmetic over it
//!   ([`BusinessCalendar::add_business_time`], [`BusinessCalendar::business_time_between`],
//!   [`BusinessCalendar::is_open`], [`BusinessCalendar::next_open`]).
//! - [`SlaPolicy`]: targets by priority × tier (with business-owner overrides), a calendar and
//!   warning thresholds, stored as data.
//! - [`SlaClock`]: the first-response, next-response and resolution clocks of one ticket,
//!   computed from its [`SlaEvent`] history and a `now` passed in, and [`SlaClock::next_due`],
//!   the instant a sweeper indexes on.
//!
//! # Time model
//!
//! Business hours are **local wall-clock intervals**: an instant is open when its local time in
//! the calendar's zone falls inside an interval of that local weekday (or inside an overnight
//! interval that started the day before) and its local date is not a holiday. Business time is
//! the real (UTC) time spent open. Consequences at DST changes:
//!
//! - spring forward: wall-clock times that do not exist are never reached, so the skipped hour
//!   is not counted (an interval 01:00–04:00 on that day holds 2 hours);
//! - fall back: the repeated wall-clock hour happens twice, and both passes are counted in real
//!   elapsed time (01:00–04:00 on that day holds 4 hours); an interval that ends inside the
//!   repeated hour is open during both passes up to its end time.
//!
//! A holiday closes its whole local date, 00:00 to 24:00, including the part of an overnight
//! interval that runs into it.

mod calendar;
mod clock;
mod policy;

pub use calendar::{
    BusinessCalendar, BusinessInterval, LocalTime, WeeklyHours, MAX_HOLIDAYS,
    MAX_INTERVALS_PER_DAY, SEARCH_HORIZON_DAYS,
};
pub use clock::{ClockKind, ClockState, ClockStatus, SlaClock, SlaEvent, WarningStatus};
pub use policy::{
    SlaPolicy, SlaTargetRule, SlaTargets, DEFAULT_WARNING_THRESHOLDS, MAX_TARGET_MINUTES,
};

/// Why a business-time computation has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlaError {
    /// The calendar has no business time at all within [`SEARCH_HORIZON_DAYS`] of the start.
    #[error("the calendar has no business time within {SEARCH_HORIZON_DAYS} days")]
    NoBusinessTime,
    /// The answer lies more than [`SEARCH_HORIZON_DAYS`] calendar days after the start.
    #[error("the result lies more than {SEARCH_HORIZON_DAYS} days ahead")]
    BeyondHorizon,
    /// Business time can only be added, not subtracted.
    #[error("business time to add must not be negative")]
    NegativeDuration,
    /// An event history must start with a `created` event.
    #[error("the event history has no `created` event")]
    NotCreated,
}

/// (De)serialises a `chrono::Duration` as whole seconds (sub-second parts are truncated).
mod duration_secs {
    use chrono::Duration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.num_seconds())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = i64::deserialize(d)?;
        Duration::try_seconds(secs).ok_or_else(|| serde::de::Error::custom("duration out of range"))
    }
}
