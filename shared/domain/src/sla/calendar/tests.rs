use super::*;
use chrono::{Timelike, Weekday};
use proptest::prelude::*;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("valid UTC time")
}

/// A local wall-clock time that exists exactly once in `zone`.
fn local(zone: &str, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    let tz: Tz = zone.parse().expect("zone");
    tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("unambiguous local time")
        .with_timezone(&Utc)
}

fn iv(s: &str) -> BusinessInterval {
    BusinessInterval::parse(s).expect("interval")
}

fn office(zone: &str) -> BusinessCalendar {
    BusinessCalendar::weekdays(zone, "09:00-17:00").expect("calendar")
}

fn every_day(zone: &str, interval: &str) -> BusinessCalendar {
    BusinessCalendar::new(zone, WeeklyHours::every_day(&[iv(interval)]), []).expect("calendar")
}

fn only(zone: &str, day: Weekday, intervals: &[&str]) -> BusinessCalendar {
    let ivs: Vec<_> = intervals.iter().map(|s| iv(s)).collect();
    BusinessCalendar::new(zone, WeeklyHours::default().with_day(day, &ivs), []).expect("calendar")
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

fn h(n: i64) -> Duration {
    Duration::hours(n)
}

fn m(n: i64) -> Duration {
    Duration::minutes(n)
}

// ---------------------------------------------------------------- concrete cases

#[test]
fn friday_afternoon_plus_one_hour_is_monday_morning() {
    let cal = office("UTC");
    let fri = utc(2026, 1, 9, 16, 30);
    let due = cal.add_business_time(fri, h(1)).expect("due");
    assert_eq!(due, utc(2026, 1, 12, 9, 30));
    assert_eq!(cal.business_time_between(fri, due), h(1));
    assert_eq!(cal.business_time_between(due, fri), -h(1));
    // A target running out exactly at the close is due at the close.
    assert_eq!(
        cal.add_business_time(utc(2026, 1, 9, 16, 0), h(1)),
        Ok(utc(2026, 1, 9, 17, 0))
    );
    // Adding from closed time starts at the next opening.
    assert_eq!(
        cal.add_business_time(utc(2026, 1, 10, 12, 0), m(15)),
        Ok(utc(2026, 1, 12, 9, 15))
    );
    assert_eq!(
        cal.add_business_time(utc(2026, 1, 10, 12, 0), Duration::zero()),
        Ok(utc(2026, 1, 10, 12, 0))
    );
    // A whole week holds 40 hours.
    assert_eq!(
        cal.business_time_between(utc(2026, 1, 5, 0, 0), utc(2026, 1, 12, 0, 0)),
        h(40)
    );
}

#[test]
fn open_and_next_open() {
    let cal = office("UTC");
    assert!(cal.is_open(utc(2026, 1, 9, 9, 0)));
    assert!(cal.is_open(utc(2026, 1, 9, 16, 59)));
    assert!(!cal.is_open(utc(2026, 1, 9, 17, 0)));
    assert!(!cal.is_open(utc(2026, 1, 9, 8, 59)));
    assert!(!cal.is_open(utc(2026, 1, 10, 12, 0)));
    let t = utc(2026, 1, 9, 12, 0) + Duration::milliseconds(1);
    assert_eq!(cal.next_open(t), Some(t));
    assert_eq!(
        cal.next_open(utc(2026, 1, 9, 17, 0)),
        Some(utc(2026, 1, 12, 9, 0))
    );
    assert_eq!(
        cal.next_open(utc(2026, 1, 12, 8, 0)),
        Some(utc(2026, 1, 12, 9, 0))
    );
}

#[test]
fn holidays_are_skipped() {
    let cal = BusinessCalendar::new(
        "UTC",
        WeeklyHours::weekdays(&[iv("09:00-17:00")]),
        [date(2026, 1, 9), date(2026, 1, 12)],
    )
    .expect("calendar");
    // Thursday 16:30 + 1h: Friday and Monday are holidays.
    assert_eq!(
        cal.add_business_time(utc(2026, 1, 8, 16, 30), h(1)),
        Ok(utc(2026, 1, 13, 9, 30))
    );
    assert!(!cal.is_open(utc(2026, 1, 9, 12, 0)));
    assert_eq!(
        cal.business_time_between(utc(2026, 1, 5, 0, 0), utc(2026, 1, 19, 0, 0)),
        h(64)
    );
    assert!(cal.is_holiday(date(2026, 1, 9)));
}

#[test]
fn split_shifts() {
    let cal = BusinessCalendar::new(
        "UTC",
        WeeklyHours::weekdays(&[iv("13:00-17:00"), iv("09:00-12:00")]),
        [],
    )
    .expect("calendar");
    assert_eq!(
        cal.add_business_time(utc(2026, 1, 5, 11, 30), h(1)),
        Ok(utc(2026, 1, 5, 13, 30))
    );
    assert_eq!(
        cal.business_time_between(utc(2026, 1, 5, 0, 0), utc(2026, 1, 6, 0, 0)),
        h(7)
    );
    assert!(!cal.is_open(utc(2026, 1, 5, 12, 30)));
    // sorted on validation
    assert_eq!(cal.hours().monday[0], iv("09:00-12:00"));
}

#[test]
fn overnight_intervals_and_holidays() {
    // Monday night shift 22:00 → Tuesday 06:00.
    let cal = only("UTC", Weekday::Mon, &["22:00-06:00+1"]);
    assert_eq!(
        cal.add_business_time(utc(2026, 1, 5, 23, 0), h(2)),
        Ok(utc(2026, 1, 6, 1, 0))
    );
    assert!(cal.is_open(utc(2026, 1, 6, 5, 59)));
    assert!(!cal.is_open(utc(2026, 1, 6, 6, 0)));
    assert_eq!(
        cal.add_business_time(utc(2026, 1, 6, 5, 0), h(2)),
        Ok(utc(2026, 1, 12, 23, 0))
    );
    // A holiday on Tuesday closes the part of Monday's shift after midnight.
    let hol =
        BusinessCalendar::new("UTC", cal.hours().clone(), [date(2026, 1, 6)]).expect("calendar");
    assert_eq!(
        hol.business_time_between(utc(2026, 1, 5, 0, 0), utc(2026, 1, 7, 0, 0)),
        h(2)
    );
    // A 24-hour overnight interval.
    let day = only("UTC", Weekday::Wed, &["12:00-12:00+1"]);
    assert_eq!(
        day.business_time_between(utc(2026, 1, 5, 0, 0), utc(2026, 1, 12, 0, 0)),
        h(24)
    );
}

#[test]
fn berlin_dst_2026() {
    let z = "Europe/Berlin";
    // Whole days: 23 hours in spring, 25 in autumn.
    let all = every_day(z, "00:00-24:00");
    assert_eq!(
        all.business_time_between(local(z, 2026, 3, 29, 0, 0), local(z, 2026, 3, 30, 0, 0)),
        h(23)
    );
    assert_eq!(
        all.business_time_between(local(z, 2026, 10, 25, 0, 0), local(z, 2026, 10, 26, 0, 0)),
        h(25)
    );
    // Sunday 01:00-04:00: the skipped hour is not counted, the repeated one counts twice.
    let night = only(z, Weekday::Sun, &["01:00-04:00"]);
    assert_eq!(
        night.business_time_between(utc(2026, 3, 28, 0, 0), utc(2026, 3, 30, 0, 0)),
        h(2)
    );
    assert_eq!(
        night.business_time_between(utc(2026, 10, 24, 0, 0), utc(2026, 10, 26, 0, 0)),
        h(4)
    );
    // 01:30 CET + 1h = 03:30 CEST (02:00-03:00 does not exist) = 01:30 UTC.
    assert_eq!(
        night.add_business_time(local(z, 2026, 3, 29, 1, 30), h(1)),
        Ok(utc(2026, 3, 29, 1, 30))
    );
    assert!(!night.is_open(utc(2026, 3, 29, 2, 0)));
    // An interval ending inside the repeated hour: 02:30-04:00 on 2026-10-25 is open
    // 02:30-03:00 CEST (00:30-01:00 UTC), then 02:30-04:00 CET (01:30-03:00 UTC).
    let late = only(z, Weekday::Sun, &["02:30-04:00"]);
    assert_eq!(
        late.business_time_between(utc(2026, 10, 25, 0, 0), utc(2026, 10, 26, 0, 0)),
        h(2)
    );
    assert!(late.is_open(utc(2026, 10, 25, 0, 45)));
    assert!(!late.is_open(utc(2026, 10, 25, 1, 15)));
    assert!(late.is_open(utc(2026, 10, 25, 1, 45)));
    assert_eq!(
        late.add_business_time(utc(2026, 10, 25, 0, 45), m(30)),
        Ok(utc(2026, 10, 25, 1, 45))
    );
    // Office hours across the DST weekends.
    let cal = office(z);
    assert_eq!(
        cal.add_business_time(local(z, 2026, 3, 27, 16, 30), h(1)),
        Ok(local(z, 2026, 3, 30, 9, 30))
    );
    assert_eq!(
        cal.add_business_time(local(z, 2026, 10, 23, 16, 30), h(1)),
        Ok(local(z, 2026, 10, 26, 9, 30))
    );
    assert_eq!(local(z, 2026, 3, 30, 9, 30), utc(2026, 3, 30, 7, 30));
    assert_eq!(local(z, 2026, 10, 26, 9, 30), utc(2026, 10, 26, 8, 30));
}

#[test]
fn new_york_dst_2026() {
    let z = "America/New_York";
    let cal = office(z);
    // Friday 16:30 EST + 1h → Monday 09:30 EDT.
    let due = cal
        .add_business_time(local(z, 2026, 3, 6, 16, 30), h(1))
        .expect("due");
    assert_eq!(due, utc(2026, 3, 9, 13, 30));
    // Friday 16:30 EDT + 1h → Monday 09:30 EST.
    let due = cal
        .add_business_time(local(z, 2026, 10, 30, 16, 30), h(1))
        .expect("due");
    assert_eq!(due, utc(2026, 11, 2, 14, 30));
    // Saturday night shift 22:00 → Sunday 06:00 holds 7 hours in spring, 9 in autumn.
    let night = only(z, Weekday::Sat, &["22:00-06:00+1"]);
    assert_eq!(
        night.business_time_between(utc(2026, 3, 7, 0, 0), utc(2026, 3, 9, 0, 0)),
        h(7)
    );
    assert_eq!(
        night.business_time_between(utc(2026, 10, 31, 0, 0), utc(2026, 11, 2, 0, 0)),
        h(9)
    );
    let all = every_day(z, "00:00-24:00");
    assert_eq!(
        all.business_time_between(local(z, 2026, 3, 8, 0, 0), local(z, 2026, 3, 9, 0, 0)),
        h(23)
    );
    assert_eq!(
        all.business_time_between(local(z, 2026, 11, 1, 0, 0), local(z, 2026, 11, 2, 0, 0)),
        h(25)
    );
}

#[test]
fn auckland() {
    let z = "Pacific/Auckland";
    let cal = office(z);
    // DST starts 2026-09-27: Friday 16:30 NZST + 1h → Monday 09:30 NZDT, a Sunday in UTC.
    let fri = local(z, 2026, 9, 25, 16, 30);
    assert_eq!(fri, utc(2026, 9, 25, 4, 30));
    assert_eq!(
        cal.add_business_time(fri, h(1)),
        Ok(utc(2026, 9, 27, 20, 30))
    );
    assert!(cal.is_open(utc(2026, 9, 27, 21, 0)));
    // DST ends 2026-04-05: that Sunday has 25 hours; 2026-09-27 has 23.
    let all = every_day(z, "00:00-24:00");
    assert_eq!(
        all.business_time_between(local(z, 2026, 4, 5, 0, 0), local(z, 2026, 4, 6, 0, 0)),
        h(25)
    );
    assert_eq!(
        all.business_time_between(local(z, 2026, 9, 27, 0, 0), local(z, 2026, 9, 28, 0, 0)),
        h(23)
    );
}

#[test]
fn twenty_four_seven_is_wall_clock() {
    let cal = BusinessCalendar::twenty_four_seven();
    let a = utc(2026, 3, 7, 12, 0) + Duration::nanoseconds(123);
    let b = utc(2026, 11, 2, 3, 4);
    assert_eq!(cal.business_time_between(a, b), b - a);
    assert_eq!(cal.add_business_time(a, b - a), Ok(b));
    assert!(cal.is_open(a));
    assert_eq!(cal.next_open(a), Some(a));
}

#[test]
fn bounded_search() {
    // Mondays only, and every Monday for 11 years is a holiday.
    let start = date(2026, 1, 5);
    let holidays = (0..600).map(|w| start + Duration::weeks(w));
    let cal = BusinessCalendar::new(
        "UTC",
        WeeklyHours::default().with_day(Weekday::Mon, &[iv("09:00-17:00")]),
        holidays,
    )
    .expect("calendar");
    let t = utc(2026, 1, 1, 0, 0);
    assert_eq!(
        cal.add_business_time(t, h(1)),
        Err(SlaError::NoBusinessTime)
    );
    assert_eq!(cal.next_open(t), None);
    assert!(!cal.is_open(utc(2026, 1, 5, 10, 0)));
    let all = BusinessCalendar::twenty_four_seven();
    assert_eq!(
        all.add_business_time(t, Duration::days(SEARCH_HORIZON_DAYS + 1)),
        Err(SlaError::BeyondHorizon)
    );
    assert_eq!(
        all.add_business_time(t, -h(1)),
        Err(SlaError::NegativeDuration)
    );
    // Far from chrono's limits nothing panics.
    let end = DateTime::<Utc>::MAX_UTC;
    assert!(all.add_business_time(end, h(1)).is_err());
    assert_eq!(all.next_open(end), None);
}

#[test]
fn a_year_of_office_hours_is_quick() {
    let cal = office("Europe/Berlin");
    let t = utc(2026, 1, 1, 0, 0);
    let due = cal.add_business_time(t, h(8 * 5 * 52)).expect("due");
    assert_eq!(cal.business_time_between(t, due), h(8 * 5 * 52));
    assert!(due.year() == 2026 || due.year() == 2027);
}

#[test]
fn validation_names_the_field() {
    let field = |r: Result<BusinessCalendar, DomainError>| match r {
        Err(DomainError::Invalid { field, .. }) => field,
        other => panic!("expected a validation error, got {other:?}"),
    };
    let wk = WeeklyHours::weekdays(&[iv("09:00-17:00")]);
    assert_eq!(
        field(BusinessCalendar::new("Mars/Olympus_Mons", wk.clone(), [])),
        "time_zone"
    );
    assert_eq!(
        field(BusinessCalendar::new("UTC", WeeklyHours::default(), [])),
        "hours"
    );
    let backwards = BusinessInterval {
        start: LocalTime::parse("17:00").expect("t"),
        end: LocalTime::parse("09:00").expect("t"),
        next_day: false,
    };
    assert_eq!(
        field(BusinessCalendar::new(
            "UTC",
            WeeklyHours::default().with_day(Weekday::Tue, &[backwards]),
            []
        )),
        "hours.tuesday"
    );
    assert_eq!(
        field(BusinessCalendar::new(
            "UTC",
            WeeklyHours::default().with_day(Weekday::Wed, &[iv("09:00-12:00"), iv("11:00-13:00")]),
            []
        )),
        "hours.wednesday"
    );
    // Friday's night shift runs into Saturday's morning shift.
    assert_eq!(
        field(BusinessCalendar::new(
            "UTC",
            WeeklyHours::default()
                .with_day(Weekday::Fri, &[iv("22:00-06:00+1")])
                .with_day(Weekday::Sat, &[iv("05:00-08:00")]),
            []
        )),
        "hours.saturday"
    );
    // Sunday's night shift wraps into Monday.
    assert_eq!(
        field(BusinessCalendar::new(
            "UTC",
            WeeklyHours::default()
                .with_day(Weekday::Mon, &[iv("05:00-08:00")])
                .with_day(Weekday::Sun, &[iv("22:00-06:00+1")]),
            []
        )),
        "hours.sunday"
    );
    // Touching intervals are fine.
    assert!(BusinessCalendar::new(
        "UTC",
        WeeklyHours::default()
            .with_day(Weekday::Mon, &[iv("06:00-08:00")])
            .with_day(Weekday::Sun, &[iv("22:00-06:00+1")]),
        []
    )
    .is_ok());
    assert!(BusinessInterval::parse("24:00-01:00+1").is_err());
    assert!(BusinessInterval::parse("09:00-10:00+1").is_err());
    assert!(BusinessInterval::parse("22:00-24:00+1").is_err());
    assert!(BusinessInterval::parse("9:00-17:00").is_err());
    assert!(BusinessInterval::parse("09:00-24:00").is_ok());
    assert!(LocalTime::parse("24:01").is_err());
    assert!(LocalTime::parse("12:60").is_err());
    assert_eq!(iv("22:00-06:00+1").to_string(), "22:00-06:00+1");
    assert_eq!(iv("22:00-06:00+1").duration(), h(8));
}

#[test]
fn serde_round_trip_and_refusals() {
    let json = serde_json::json!({
        "time_zone": "America/New_York",
        "hours": {
            "monday": [{ "start": "13:00", "end": "17:00" }, { "start": "09:00", "end": "12:00" }],
            "friday": [{ "start": "22:00", "end": "06:00", "next_day": true }]
        },
        "holidays": ["2026-12-25", "2026-07-03"]
    });
    let cal: BusinessCalendar = serde_json::from_value(json).expect("calendar");
    assert_eq!(cal.time_zone(), chrono_tz::America::New_York);
    assert_eq!(cal.holidays().len(), 2);
    let out = serde_json::to_value(&cal).expect("ser");
    assert_eq!(out["time_zone"], "America/New_York");
    assert_eq!(out["hours"]["monday"][0]["start"], "09:00");
    assert_eq!(out["hours"]["friday"][0]["next_day"], true);
    assert_eq!(out["holidays"][0], "2026-07-03");
    let back: BusinessCalendar = serde_json::from_value(out).expect("de");
    assert_eq!(back, cal);

    let bad = serde_json::json!({
        "time_zone": "UTC",
        "hours": { "monday": [{ "start": "17:00", "end": "09:00" }] }
    });
    let err = serde_json::from_value::<BusinessCalendar>(bad).expect_err("backwards");
    assert!(err.to_string().contains("hours.monday"), "{err}");
    let bad = serde_json::json!({ "time_zone": "UTC", "hours": { "monday": [{ "start": "9am", "end": "17:00" }] } });
    assert!(serde_json::from_value::<BusinessCalendar>(bad).is_err());
}

#[test]
fn openapi_schema_describes_the_wire_format() {
    let schema = serde_json::to_value(<BusinessCalendar as utoipa::PartialSchema>::schema())
        .expect("schema");
    assert_eq!(
        schema["properties"]["time_zone"]["type"], "string",
        "{schema}"
    );
    assert!(schema["properties"]["hours"].is_object(), "{schema}");
    let interval = serde_json::to_value(<BusinessInterval as utoipa::PartialSchema>::schema())
        .expect("schema");
    assert_eq!(
        interval["properties"]["start"]["$ref"], "#/components/schemas/LocalTime",
        "{interval}"
    );
    let time =
        serde_json::to_value(<LocalTime as utoipa::PartialSchema>::schema()).expect("schema");
    assert_eq!(time["type"], "string", "{time}");
}

// ---------------------------------------------------------------- properties

const ZONES: &[&str] = &[
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Pacific/Auckland",
    "Australia/Lord_Howe", // 30-minute DST shift
    "Asia/Kolkata",        // +05:30, no DST
    "Asia/Kathmandu",      // +05:45
    "Pacific/Chatham",     // +12:45 / +13:45
    "America/St_Johns",    // -03:30 with DST
    "America/Santiago",    // southern DST, changes at local midnight
    "America/Havana",      // changes at local midnight
    "Africa/Casablanca",   // Ramadan changes, a month apart
];

/// 2025-01-01 .. 2028-01-01, covering both DST changes of three years in every zone.
const T0: i64 = 1_735_689_600;
const T1: i64 = 1_830_297_600;

fn arb_zone() -> impl Strategy<Value = &'static str> {
    prop::sample::select(ZONES)
}

/// Weekly hours from random candidate intervals (day, start and length in quarter hours),
/// keeping those that do not overlap the ones already kept (cyclically).
fn arb_hours() -> impl Strategy<Value = WeeklyHours> {
    prop::collection::vec((0u32..7, 0u32..96, 4u32..=96), 1..7).prop_map(|candidates| {
        const WEEK_MIN: u32 = 7 * 1440;
        let mut kept: Vec<(u32, u32)> = Vec::new();
        let mut hours = WeeklyHours::default();
        for (day, start_q, len_q) in candidates {
            let s = day * 1440 + start_q * 15;
            let e = s + len_q * 15;
            let overlaps = kept.iter().any(|&(ks, ke)| {
                // compare in the cyclic week: shift by a week either way
                [0i64, i64::from(WEEK_MIN), -i64::from(WEEK_MIN)]
                    .iter()
                    .any(|shift| {
                        let (ks, ke) = (i64::from(ks) + shift, i64::from(ke) + shift);
                        i64::from(s) < ke && ks < i64::from(e)
                    })
            });
            if overlaps {
                continue;
            }
            kept.push((s, e));
            let start = (start_q * 15) as u16;
            let end_min = start_q * 15 + len_q * 15;
            let interval = BusinessInterval {
                start: LocalTime(start),
                end: LocalTime((end_min % 1440) as u16),
                next_day: end_min > 1440,
            };
            let interval = if end_min == 1440 {
                BusinessInterval {
                    end: LocalTime::END_OF_DAY,
                    ..interval
                }
            } else {
                interval
            };
            hours.day_mut(WEEK[day as usize]).push(interval);
        }
        hours
    })
}

fn arb_calendar() -> impl Strategy<Value = BusinessCalendar> {
    (
        arb_zone(),
        arb_hours(),
        prop::collection::vec(0i64..(3 * 366), 0..12),
    )
        .prop_map(|(zone, hours, holiday_days)| {
            let base = date(2025, 1, 1);
            let holidays = holiday_days.into_iter().map(|d| base + Duration::days(d));
            BusinessCalendar::new(zone, hours, holidays).expect("generated calendar is valid")
        })
}

/// An instant in 2025–2027 with millisecond precision.
fn arb_instant() -> impl Strategy<Value = DateTime<Utc>> {
    (T0..T1, 0i64..1000).prop_map(|(s, ms)| {
        DateTime::from_timestamp(s, 0).expect("ts") + Duration::milliseconds(ms)
    })
}

/// Up to 60 hours of business time, millisecond precision.
fn arb_duration() -> impl Strategy<Value = Duration> {
    (0i64..=60 * 3_600_000).prop_map(Duration::milliseconds)
}

/// Independent oracle: the local wall-clock time from chrono-tz, checked against the hours.
fn oracle_open(cal: &BusinessCalendar, t: DateTime<Utc>) -> bool {
    let local = t.with_timezone(&cal.time_zone()).naive_local();
    let date = local.date();
    if cal.is_holiday(date) {
        return false;
    }
    let secs = i64::from(local.time().num_seconds_from_midnight());
    let inside = |ivs: &[BusinessInterval], secs: i64| {
        ivs.iter().any(|i| {
            let (s, e) = i.span_minutes();
            i64::from(s) * 60 <= secs && secs < i64::from(e) * 60
        })
    };
    let yesterday = date.pred_opt().expect("date");
    inside(cal.hours().day(date.weekday()), secs)
        || inside(cal.hours().day(yesterday.weekday()), secs + DAY_SECS)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn between_inverts_add(cal in arb_calendar(), a in arb_instant(), d in arb_duration()) {
        let due = cal.add_business_time(a, d).expect("within horizon");
        prop_assert!(due >= a);
        prop_assert_eq!(cal.business_time_between(a, due), d);
        // The due instant is the earliest: just before it, less time has elapsed.
        if !d.is_zero() {
            let just_before = due - Duration::nanoseconds(1);
            prop_assert!(cal.business_time_between(a, just_before) < d);
        }
    }

    #[test]
    fn add_is_monotonic(
        cal in arb_calendar(), a in arb_instant(), d1 in arb_duration(), d2 in arb_duration()
    ) {
        let (d1, d2) = if d1 <= d2 { (d1, d2) } else { (d2, d1) };
        let due1 = cal.add_business_time(a, d1).expect("due1");
        let due2 = cal.add_business_time(a, d2).expect("due2");
        prop_assert!(due1 <= due2);
    }

    #[test]
    fn add_is_additive(
        cal in arb_calendar(), a in arb_instant(), d1 in arb_duration(), d2 in arb_duration(),
        snap in any::<bool>(),
    ) {
        // From an open instant (snapped to the next opening) and from any instant.
        let a = if snap { cal.next_open(a).expect("opens") } else { a };
        let stepwise = cal
            .add_business_time(cal.add_business_time(a, d1).expect("d1"), d2)
            .expect("d2");
        prop_assert_eq!(stepwise, cal.add_business_time(a, d1 + d2).expect("d1+d2"));
    }

    #[test]
    fn between_is_additive(
        cal in arb_calendar(), a in arb_instant(),
        x in 0i64..(20 * 86_400_000), y in 0i64..(20 * 86_400_000),
    ) {
        let b = a + Duration::milliseconds(x);
        let c = b + Duration::milliseconds(y);
        let ab = cal.business_time_between(a, b);
        let bc = cal.business_time_between(b, c);
        prop_assert!(ab >= Duration::zero() && bc >= Duration::zero());
        prop_assert!(ab <= b - a);
        prop_assert_eq!(ab + bc, cal.business_time_between(a, c));
        prop_assert_eq!(cal.business_time_between(c, a), -(ab + bc));
    }

    #[test]
    fn twenty_four_seven_is_wall_clock_in_any_zone(
        zone in arb_zone(), a in arb_instant(), d in arb_duration(),
    ) {
        for cal in [every_day(zone, "00:00-24:00"), BusinessCalendar::twenty_four_seven()] {
            prop_assert_eq!(cal.add_business_time(a, d).expect("due"), a + d);
            prop_assert_eq!(cal.business_time_between(a, a + d), d);
            prop_assert!(cal.is_open(a));
        }
    }

    #[test]
    fn is_open_matches_local_wall_clock(cal in arb_calendar(), t in arb_instant()) {
        prop_assert_eq!(cal.is_open(t), oracle_open(&cal, t));
        let next = cal.next_open(t).expect("opens");
        prop_assert!(next >= t);
        prop_assert!(oracle_open(&cal, next));
        prop_assert_eq!(cal.business_time_between(t, next), Duration::zero());
        if next > t {
            prop_assert!(!oracle_open(&cal, next - Duration::nanoseconds(1)));
        }
    }

    /// Minute by minute (the oracle) agrees with the interval walk, DST days included.
    #[test]
    fn between_matches_minute_oracle(
        cal in arb_calendar(), start_min in (T0 / 60)..(T1 / 60), minutes in 0i64..(2 * 1440),
    ) {
        let a = DateTime::from_timestamp(start_min * 60, 0).expect("ts");
        let open = (0..minutes)
            .filter(|i| oracle_open(&cal, a + Duration::minutes(*i)))
            .count();
        let expected = Duration::minutes(i64::try_from(open).expect("count"));
        prop_assert_eq!(cal.business_time_between(a, a + Duration::minutes(minutes)), expected);
    }

    /// The same properties right around the 2026 DST changes, where they are most fragile.
    #[test]
    fn around_dst_changes(
        cal in arb_calendar(),
        change in prop::sample::select(vec![
            (2026, 3, 29), (2026, 10, 25), (2026, 3, 8), (2026, 11, 1),
            (2026, 4, 5), (2026, 9, 27), (2026, 4, 4), (2026, 9, 6),
        ]),
        offset_min in -(36 * 60)..(36 * 60i64),
        d in arb_duration(),
    ) {
        let (y, mo, dd) = change;
        let a = utc(y, mo, dd, 0, 0) + Duration::minutes(offset_min);
        let due = cal.add_business_time(a, d).expect("due");
        prop_assert_eq!(cal.business_time_between(a, due), d);
        prop_assert_eq!(cal.is_open(a), oracle_open(&cal, a));
        let b = a + Duration::hours(30);
        let open = (0..30 * 60)
            .filter(|i| oracle_open(&cal, a + Duration::minutes(*i)))
            .count();
        let expected = Duration::minutes(i64::try_from(open).expect("count"));
        prop_assert_eq!(cal.business_time_between(a, b), expected);
    }

    #[test]
    fn serde_round_trips(cal in arb_calendar()) {
        let json = serde_json::to_string(&cal).expect("ser");
        let back: BusinessCalendar = serde_json::from_str(&json).expect("de");
        prop_assert_eq!(back, cal);
    }
}
