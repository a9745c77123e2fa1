//! Business calendars and business-time arithmetic.
//!
//! The arithmetic walks UTC days. For each day it splits the day into pieces of constant UTC
//! offset (sampling the zone every 6 hours and bisecting to the second where the offset
//! changes), maps each piece to its local wall-clock range, and intersects that range with the
//! local business intervals of the dates it touches. That yields the day's open UTC intervals
//! in increasing order; every operation is a fold over them. Cost: a few zone look-ups and a
//! few intervals per day, whatever the durations involved.
//!
//! Limitation: two offset changes less than 6 hours apart that return to the same offset would
//! go unseen; no zone in the tz database does that.

use super::SlaError;
use crate::{DomainError, ParseError};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Offset, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeSet;
use std::fmt;
use std::ops::ControlFlow;

/// How far ahead (calendar days) a search for business time goes before giving up: about ten
/// years. Bounds [`BusinessCalendar::add_business_time`] and [`BusinessCalendar::next_open`].
pub const SEARCH_HORIZON_DAYS: i64 = 3_660;
/// At most this many holidays per calendar.
pub const MAX_HOLIDAYS: usize = 5_000;
/// At most this many business intervals per weekday.
pub const MAX_INTERVALS_PER_DAY: usize = 12;

const DAY_SECS: i64 = 86_400;
const MINUTES_PER_DAY: u16 = 1_440;
/// The zone's offset is sampled this often; changes in between are found by bisection.
const SAMPLE_SECS: i64 = 6 * 3_600;
/// `NaiveDate::num_days_from_ce` of 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i64 = 719_163;

/// A local wall-clock time of day at minute precision, `"00:00"` to `"24:00"` (`24:00` is the
/// end of the day and only allowed as the end of an interval).
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
#[schema(value_type = String, example = "09:00")]
pub struct LocalTime(u16);

impl LocalTime {
    pub const MIDNIGHT: LocalTime = LocalTime(0);
    pub const END_OF_DAY: LocalTime = LocalTime(MINUTES_PER_DAY);

    /// `hour` 0–24 (24 only with minute 0), `minute` 0–59.
    pub fn new(hour: u8, minute: u8) -> Option<Self> {
        let (h, m) = (u16::from(hour), u16::from(minute));
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return None;
        }
        Some(Self(h * 60 + m))
    }

    /// Parses `HH:MM`.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        let err = || ParseError::new(format!("time {s:?} must be HH:MM, 00:00 to 24:00"));
        let (h, m) = s.split_once(':').ok_or_else(err)?;
        let two_digits = |p: &str| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit());
        if !two_digits(h) || !two_digits(m) {
            return Err(err());
        }
        let h: u8 = h.parse().map_err(|_| err())?;
        let m: u8 = m.parse().map_err(|_| err())?;
        Self::new(h, m).ok_or_else(err)
    }

    /// Minutes since local midnight (0–1440).
    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl TryFrom<String> for LocalTime {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<LocalTime> for String {
    fn from(value: LocalTime) -> Self {
        value.to_string()
    }
}

/// One interval of business hours on a weekday, in local wall-clock time: `[start, end)`.
/// With `next_day`, the interval is overnight and ends at `end` on the following day
/// (e.g. 22:00 → 06:00); it may then last up to 24 hours (`end <= start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BusinessInterval {
    pub start: LocalTime,
    pub end: LocalTime,
    /// The interval ends on the next day (an overnight shift).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub next_day: bool,
}

impl BusinessInterval {
    /// A validated interval.
    pub fn new(start: LocalTime, end: LocalTime, next_day: bool) -> Result<Self, ParseError> {
        let interval = Self {
            start,
            end,
            next_day,
        };
        interval.check()?;
        Ok(interval)
    }

    /// Parses `"09:00-17:00"`, or `"22:00-06:00+1"` for an interval ending the next day.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        let (start, end) = s.split_once('-').ok_or_else(|| {
            ParseError::new(format!(
                "interval {s:?} must look like 09:00-17:00 or 22:00-06:00+1"
            ))
        })?;
        let (end, next_day) = match end.trim().strip_suffix("+1") {
            Some(e) => (e, true),
            None => (end, false),
        };
        Self::new(LocalTime::parse(start)?, LocalTime::parse(end)?, next_day)
    }

    fn check(&self) -> Result<(), ParseError> {
        if self.start == LocalTime::END_OF_DAY {
            return Err(ParseError::new(format!(
                "{self}: an interval cannot start at 24:00"
            )));
        }
        if self.next_day {
            if self.end == LocalTime::END_OF_DAY || self.end > self.start {
                return Err(ParseError::new(format!(
                    "{self}: an overnight interval must end at or before its start time on the \
                     next day (at most 24 hours)"
                )));
            }
        } else if self.end <= self.start {
            return Err(ParseError::new(format!(
                "{self}: end must be after start (set next_day for an overnight interval)"
            )));
        }
        Ok(())
    }

    /// `[start, end)` in minutes from the local midnight that starts the interval's day; `end`
    /// exceeds 1440 for an overnight interval.
    pub fn span_minutes(&self) -> (u16, u16) {
        let end = if self.next_day {
            self.end.0 + MINUTES_PER_DAY
        } else {
            self.end.0
        };
        (self.start.0, end)
    }

    /// Nominal length in wall-clock time (DST changes may make the real length differ).
    pub fn duration(&self) -> Duration {
        let (s, e) = self.span_minutes();
        Duration::minutes(i64::from(e) - i64::from(s))
    }
}

impl fmt::Display for BusinessInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)?;
        if self.next_day {
            f.write_str("+1")?;
        }
        Ok(())
    }
}

/// Business hours per local weekday; a day with no interval is closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WeeklyHours {
    #[serde(default)]
    pub monday: Vec<BusinessInterval>,
    #[serde(default)]
    pub tuesday: Vec<BusinessInterval>,
    #[serde(default)]
    pub wednesday: Vec<BusinessInterval>,
    #[serde(default)]
    pub thursday: Vec<BusinessInterval>,
    #[serde(default)]
    pub friday: Vec<BusinessInterval>,
    #[serde(default)]
    pub saturday: Vec<BusinessInterval>,
    #[serde(default)]
    pub sunday: Vec<BusinessInterval>,
}

const WEEK: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

fn day_field(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "hours.monday",
        Weekday::Tue => "hours.tuesday",
        Weekday::Wed => "hours.wednesday",
        Weekday::Thu => "hours.thursday",
        Weekday::Fri => "hours.friday",
        Weekday::Sat => "hours.saturday",
        Weekday::Sun => "hours.sunday",
    }
}

impl WeeklyHours {
    /// The same intervals Monday to Friday; weekends closed.
    pub fn weekdays(intervals: &[BusinessInterval]) -> Self {
        let mut out = Self::default();
        for day in &WEEK[..5] {
            *out.day_mut(*day) = intervals.to_vec();
        }
        out
    }

    /// The same intervals every day of the week.
    pub fn every_day(intervals: &[BusinessInterval]) -> Self {
        let mut out = Self::default();
        for day in WEEK {
            *out.day_mut(day) = intervals.to_vec();
        }
        out
    }

    /// Replaces one day's intervals.
    pub fn with_day(mut self, day: Weekday, intervals: &[BusinessInterval]) -> Self {
        *self.day_mut(day) = intervals.to_vec();
        self
    }

    pub fn day(&self, day: Weekday) -> &[BusinessInterval] {
        match day {
            Weekday::Mon => &self.monday,
            Weekday::Tue => &self.tuesday,
            Weekday::Wed => &self.wednesday,
            Weekday::Thu => &self.thursday,
            Weekday::Fri => &self.friday,
            Weekday::Sat => &self.saturday,
            Weekday::Sun => &self.sunday,
        }
    }

    pub fn day_mut(&mut self, day: Weekday) -> &mut Vec<BusinessInterval> {
        match day {
            Weekday::Mon => &mut self.monday,
            Weekday::Tue => &mut self.tuesday,
            Weekday::Wed => &mut self.wednesday,
            Weekday::Thu => &mut self.thursday,
            Weekday::Fri => &mut self.friday,
            Weekday::Sat => &mut self.saturday,
            Weekday::Sun => &mut self.sunday,
        }
    }

    /// Nominal business time per week (wall-clock; ignores DST and holidays).
    pub fn weekly_duration(&self) -> Duration {
        WEEK.iter()
            .flat_map(|d| self.day(*d))
            .map(BusinessInterval::duration)
            .fold(Duration::zero(), |a, b| a + b)
    }

    /// Validates every interval and that no two intervals overlap anywhere in the (cyclic)
    /// week, overnight intervals included; sorts each day's intervals by start.
    fn validate(&mut self) -> Result<(), DomainError> {
        // (start, end) in minutes from Monday 00:00, the interval's day, its text.
        let mut all: Vec<(u32, u32, Weekday, BusinessInterval)> = Vec::new();
        for (index, day) in (0u32..).zip(WEEK.iter()) {
            let intervals = self.day_mut(*day);
            if intervals.len() > MAX_INTERVALS_PER_DAY {
                return Err(DomainError::Invalid {
                    field: day_field(*day),
                    message: format!("at most {MAX_INTERVALS_PER_DAY} intervals per day"),
                });
            }
            intervals.sort_by_key(|i| i.span_minutes());
            for interval in intervals.iter() {
                interval.check().map_err(|e| DomainError::Invalid {
                    field: day_field(*day),
                    message: e.message,
                })?;
                let (s, e) = interval.span_minutes();
                let base = index * u32::from(MINUTES_PER_DAY);
                all.push((base + u32::from(s), base + u32::from(e), *day, *interval));
            }
        }
        if all.is_empty() {
            return Err(DomainError::Invalid {
                field: "hours",
                message: "at least one business interval is required".into(),
            });
        }
        all.sort_by_key(|(s, e, _, _)| (*s, *e));
        let overlap = |a: &(u32, u32, Weekday, BusinessInterval),
                       b: &(u32, u32, Weekday, BusinessInterval)| {
            DomainError::Invalid {
                field: day_field(b.2),
                message: format!(
                    "interval {} overlaps {} {}",
                    b.3,
                    day_field(a.2).trim_start_matches("hours."),
                    a.3
                ),
            }
        };
        for pair in all.windows(2) {
            if pair[1].0 < pair[0].1 {
                return Err(overlap(&pair[0], &pair[1]));
            }
        }
        // An overnight interval on Sunday runs into Monday: compare with the week's first.
        const WEEK_MINUTES: u32 = 7 * MINUTES_PER_DAY as u32;
        if let (Some(first), Some(last)) = (all.first(), all.last()) {
            if all.len() > 1 && last.1 > WEEK_MINUTES && last.1 - WEEK_MINUTES > first.0 {
                return Err(overlap(first, last));
            }
        }
        Ok(())
    }
}

/// When a team is at work: an IANA time zone, weekly business hours in local wall-clock time
/// and whole-day holidays (local dates). See the [module docs](super) for the DST rule.
///
/// Serialised as
/// `{"time_zone": "Europe/Berlin", "hours": {"monday": [{"start": "09:00", "end": "17:00"}], …},
/// "holidays": ["2026-12-25"]}`; deserialising validates like [`BusinessCalendar::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "CalendarData")]
pub struct BusinessCalendar {
    #[serde(serialize_with = "serialize_zone")]
    #[schema(value_type = String, example = "Europe/Berlin")]
    time_zone: Tz,
    hours: WeeklyHours,
    holidays: BTreeSet<NaiveDate>,
}

fn serialize_zone<S: Serializer>(zone: &Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(zone.name())
}

#[derive(Deserialize)]
struct CalendarData {
    time_zone: String,
    #[serde(default)]
    hours: WeeklyHours,
    #[serde(default)]
    holidays: Vec<NaiveDate>,
}

impl TryFrom<CalendarData> for BusinessCalendar {
    type Error = DomainError;
    fn try_from(data: CalendarData) -> Result<Self, Self::Error> {
        BusinessCalendar::new(&data.time_zone, data.hours, data.holidays)
    }
}

impl BusinessCalendar {
    /// A validated calendar. Errors name the offending field: `time_zone` (not an IANA zone
    /// name), `hours.<weekday>` (an interval ending before it starts without `next_day`,
    /// longer than a day, or overlapping another), `hours` (no business hours at all),
    /// `holidays` (too many).
    pub fn new(
        time_zone: &str,
        mut hours: WeeklyHours,
        holidays: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Self, DomainError> {
        let zone: Tz = time_zone.trim().parse().map_err(|_| DomainError::Invalid {
            field: "time_zone",
            message: format!("unknown IANA time zone {:?}", time_zone.trim()),
        })?;
        hours.validate()?;
        let holidays: BTreeSet<NaiveDate> = holidays.into_iter().collect();
        if holidays.len() > MAX_HOLIDAYS {
            return Err(DomainError::Invalid {
                field: "holidays",
                message: format!("at most {MAX_HOLIDAYS} holidays"),
            });
        }
        Ok(Self {
            time_zone: zone,
            hours,
            holidays,
        })
    }

    /// Monday to Friday, one interval a day (e.g. `"09:00-17:00"`), no holidays.
    pub fn weekdays(time_zone: &str, interval: &str) -> Result<Self, DomainError> {
        let interval = BusinessInterval::parse(interval).map_err(|e| DomainError::Invalid {
            field: "hours",
            message: e.message,
        })?;
        Self::new(time_zone, WeeklyHours::weekdays(&[interval]), [])
    }

    /// Always open: business time equals wall-clock time.
    pub fn twenty_four_seven() -> Self {
        Self {
            time_zone: Tz::UTC,
            hours: WeeklyHours::every_day(&[BusinessInterval {
                start: LocalTime::MIDNIGHT,
                end: LocalTime::END_OF_DAY,
                next_day: false,
            }]),
            holidays: BTreeSet::new(),
        }
    }

    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    pub fn hours(&self) -> &WeeklyHours {
        &self.hours
    }

    pub fn holidays(&self) -> &BTreeSet<NaiveDate> {
        &self.holidays
    }

    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.holidays.contains(&date)
    }

    /// Whether `t` is inside business hours.
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        let ts = t.timestamp();
        self.scan(ts, ts.saturating_add(1), |s, e| {
            if ts < s {
                ControlFlow::Break(false)
            } else if ts < e {
                ControlFlow::Break(true)
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap_or(false)
    }

    /// `t` itself when open, else the start of the next business interval; `None` when there
    /// is none within [`SEARCH_HORIZON_DAYS`].
    pub fn next_open(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let from = t.timestamp();
        let until = from.saturating_add(SEARCH_HORIZON_DAYS * DAY_SECS);
        self.scan(from, until, |s, e| {
            let (Some(s), Some(e)) = (instant(s), instant(e)) else {
                return ControlFlow::Break(None);
            };
            if e <= t {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(Some(s.max(t)))
            }
        })
        .flatten()
    }

    /// The instant at which `d` of business time has elapsed since `start`: the due time of a
    /// target `d`. It is the earliest such instant, so a target that runs out exactly at the
    /// close of business is due at the close (Friday 17:00), not at the next opening. Adding
    /// zero returns `start`, open or not.
    ///
    /// Errors: `d` negative; no business time, or not enough, within
    /// [`SEARCH_HORIZON_DAYS`] of `start`.
    pub fn add_business_time(
        &self,
        start: DateTime<Utc>,
        d: Duration,
    ) -> Result<DateTime<Utc>, SlaError> {
        if d < Duration::zero() {
            return Err(SlaError::NegativeDuration);
        }
        if d.is_zero() {
            return Ok(start);
        }
        let mut remaining = d;
        let from = start.timestamp();
        let until = from.saturating_add(SEARCH_HORIZON_DAYS * DAY_SECS);
        let found = self.scan(from, until, |s, e| {
            let (Some(s), Some(e)) = (instant(s), instant(e)) else {
                return ControlFlow::Break(None);
            };
            if e <= start {
                return ControlFlow::Continue(());
            }
            let lo = s.max(start);
            let available = e - lo;
            if remaining <= available {
                ControlFlow::Break(lo.checked_add_signed(remaining))
            } else {
                remaining -= available;
                ControlFlow::Continue(())
            }
        });
        match found {
            Some(Some(due)) => Ok(due),
            _ if remaining == d => Err(SlaError::NoBusinessTime),
            _ => Err(SlaError::BeyondHorizon),
        }
    }

    /// Business time in `[a, b)`. Antisymmetric: negative when `b < a`, so
    /// `between(a, b) + between(b, c) == between(a, c)` for any three instants. Walks every
    /// day in between (no horizon).
    pub fn business_time_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        if b < a {
            return -self.business_time_between(b, a);
        }
        let mut total = Duration::zero();
        self.scan(a.timestamp(), b.timestamp().saturating_add(1), |s, e| {
            let (Some(s), Some(e)) = (instant(s), instant(e)) else {
                return ControlFlow::Break(());
            };
            if s >= b {
                return ControlFlow::Break(());
            }
            let (lo, hi) = (s.max(a), e.min(b));
            if hi > lo {
                total += hi - lo;
            }
            ControlFlow::Continue(())
        });
        total
    }

    /// Calls `f` with the open UTC intervals `[start, end)` (Unix seconds) of each UTC day from
    /// the one containing `from_ts` to the one containing `until_ts - 1`, in increasing order,
    /// until `f` breaks. `None` when `f` never breaks (or time runs out of chrono's range).
    fn scan<T>(
        &self,
        from_ts: i64,
        until_ts: i64,
        mut f: impl FnMut(i64, i64) -> ControlFlow<T>,
    ) -> Option<T> {
        let mut day = from_ts.div_euclid(DAY_SECS) * DAY_SECS;
        let mut open = Vec::new();
        while day < until_ts {
            open.clear();
            self.open_in_utc_day(day, &mut open)?;
            for &(s, e) in &open {
                if let ControlFlow::Break(t) = f(s, e) {
                    return Some(t);
                }
            }
            day = day.checked_add(DAY_SECS)?;
        }
        None
    }

    /// UTC offset (seconds) at Unix second `ts`.
    fn offset_at(&self, ts: i64) -> Option<i64> {
        let t = DateTime::from_timestamp(ts, 0)?;
        let offset = self.time_zone.offset_from_utc_datetime(&t.naive_utc());
        Some(i64::from(offset.fix().local_minus_utc()))
    }

    /// Appends the open intervals of the UTC day starting at `day_start` (Unix seconds).
    fn open_in_utc_day(&self, day_start: i64, out: &mut Vec<(i64, i64)>) -> Option<()> {
        let day_end = day_start + DAY_SECS;
        let mut piece_start = day_start;
        let mut piece_offset = self.offset_at(day_start)?;
        let mut lo = day_start;
        let mut sample = day_start;
        while sample < day_end {
            sample += SAMPLE_SECS;
            let sample_offset = self.offset_at(sample)?;
            // Invariant: offset_at(lo) == piece_offset.
            while sample_offset != piece_offset {
                let mut hi = sample;
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if self.offset_at(mid)? == piece_offset {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                self.open_in_piece(piece_start, hi, piece_offset, out);
                piece_start = hi;
                piece_offset = self.offset_at(hi)?;
                lo = hi;
            }
            lo = sample;
        }
        self.open_in_piece(piece_start, day_end, piece_offset, out);
        Some(())
    }

    /// Appends the open intervals within `[p0, p1)` (Unix seconds), during which the zone's
    /// offset is constantly `offset`.
    fn open_in_piece(&self, p0: i64, p1: i64, offset: i64, out: &mut Vec<(i64, i64)>) {
        if p1 <= p0 {
            return;
        }
        // The piece in local wall-clock seconds ("naive" Unix seconds).
        let (n0, n1) = (p0 + offset, p1 + offset);
        let first_day = n0.div_euclid(DAY_SECS) - 1; // overnight intervals of the day before
        let last_day = (n1 - 1).div_euclid(DAY_SECS);
        let before = out.len();
        for day in first_day..=last_day {
            let Some(date) = date_from_unix_day(day) else {
                continue;
            };
            let intervals = self.hours.day(date.weekday());
            if intervals.is_empty() {
                continue;
            }
            let midnight = day * DAY_SECS;
            let next_midnight = midnight + DAY_SECS;
            let closed_today = self.holidays.contains(&date);
            let closed_tomorrow = date.succ_opt().is_some_and(|d| self.holidays.contains(&d));
            for interval in intervals {
                let (s, e) = interval.span_minutes();
                let mut ls = midnight + i64::from(s) * 60;
                let mut le = midnight + i64::from(e) * 60;
                if closed_today {
                    ls = ls.max(next_midnight);
                }
                if closed_tomorrow {
                    le = le.min(next_midnight);
                }
                let (x, y) = (ls.max(n0), le.min(n1));
                if x < y {
                    out.push((x - offset, y - offset));
                }
            }
        }
        out[before..].sort_unstable();
    }
}

fn date_from_unix_day(day: i64) -> Option<NaiveDate> {
    let ce = i32::try_from(day.checked_add(UNIX_EPOCH_DAYS_FROM_CE)?).ok()?;
    NaiveDate::from_num_days_from_ce_opt(ce)
}

fn instant(ts: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(ts, 0)
}

#[cfg(test)]
mod tests;
