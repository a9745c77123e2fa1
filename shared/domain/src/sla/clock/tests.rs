use super::*;
use crate::sla::{SlaTargetRule, SlaTargets};
use chrono::TimeZone;
use proptest::prelude::*;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("valid UTC time")
}

fn m(n: i64) -> Duration {
    Duration::minutes(n)
}

fn rule(priority: Priority, first: u32, next: u32, resolution: u32) -> SlaTargetRule {
    SlaTargetRule {
        priority,
        tier: None,
        business_owner: false,
        targets: SlaTargets {
            first_response_minutes: Some(first),
            next_response_minutes: Some(next),
            resolution_minutes: Some(resolution),
        },
    }
}

fn policy_with(calendar: BusinessCalendar) -> SlaPolicy {
    SlaPolicy::new(
        calendar,
        vec![
            rule(Priority::Low, 480, 480, 2400),
            rule(Priority::Medium, 240, 240, 1440),
            rule(Priority::High, 120, 120, 960),
            rule(Priority::Urgent, 60, 60, 480),
        ],
        vec![75, 90],
    )
    .expect("policy")
}

/// Monday to Friday 09:00-17:00 UTC.
fn office() -> SlaPolicy {
    policy_with(BusinessCalendar::weekdays("UTC", "09:00-17:00").expect("calendar"))
}

fn clock(policy: &SlaPolicy, events: &[SlaEvent], now: DateTime<Utc>) -> SlaClock {
    SlaClock::compute(policy, Tier::Free, false, events, now).expect("clock")
}

fn created(at: DateTime<Utc>, priority: Priority) -> SlaEvent {
    SlaEvent::Created { at, priority }
}

fn status(at: DateTime<Utc>, to: Status) -> SlaEvent {
    SlaEvent::StatusChanged { at, to }
}

fn first(c: &SlaClock) -> &ClockStatus {
    c.first_response.as_ref().expect("first response clock")
}

fn resolution(c: &SlaClock) -> &ClockStatus {
    c.resolution.as_ref().expect("resolution clock")
}

// 2026-01-09 is a Friday, 2026-01-12 a Monday.

#[test]
fn first_response_counts_business_time_warns_and_is_met() {
    let p = office();
    let mut events = vec![created(utc(2026, 1, 9, 16, 0), Priority::High)];

    let c = clock(&p, &events, utc(2026, 1, 9, 16, 30));
    let fr = first(&c);
    assert_eq!(fr.state, ClockState::Running);
    assert_eq!(fr.target, m(120));
    assert_eq!(fr.elapsed, m(30));
    assert_eq!(fr.remaining, m(90));
    assert_eq!(fr.target_at, Some(utc(2026, 1, 12, 10, 0)));
    assert_eq!(fr.warnings[0].at, Some(utc(2026, 1, 12, 9, 30)));
    assert_eq!(fr.warnings[1].at, Some(utc(2026, 1, 12, 9, 48)));
    assert_eq!(fr.warnings_crossed().count(), 0);
    assert_eq!(
        c.next_due(utc(2026, 1, 9, 16, 30)),
        Some(utc(2026, 1, 12, 9, 30))
    );
    // Over the weekend nothing moves.
    let sat = clock(&p, &events, utc(2026, 1, 10, 12, 0));
    assert_eq!(first(&sat).elapsed, m(60));

    let c = clock(&p, &events, utc(2026, 1, 12, 9, 40));
    assert_eq!(first(&c).warnings_crossed().collect::<Vec<_>>(), vec![75]);
    assert_eq!(
        c.next_due(utc(2026, 1, 12, 9, 40)),
        Some(utc(2026, 1, 12, 9, 48))
    );

    events.push(SlaEvent::FirstPublicReply {
        at: utc(2026, 1, 12, 9, 50),
    });
    let c = clock(&p, &events, utc(2026, 1, 12, 12, 0));
    let fr = first(&c);
    assert_eq!(fr.state, ClockState::Met);
    assert_eq!(fr.elapsed, m(110));
    assert_eq!(fr.completed_at, Some(utc(2026, 1, 12, 9, 50)));
    assert_eq!(fr.target_at, Some(utc(2026, 1, 12, 10, 0)));
    assert_eq!(fr.warnings_crossed().collect::<Vec<_>>(), vec![75, 90]);
    assert_eq!(fr.next_due(utc(2026, 1, 12, 12, 0)), None);
    // Resolution (16 business hours: 1 on Friday, 8 on Monday, 7 on Tuesday) still runs; its
    // 75 % warning (12 hours) is what comes next.
    assert_eq!(resolution(&c).target_at, Some(utc(2026, 1, 13, 16, 0)));
    assert_eq!(
        c.next_due(utc(2026, 1, 12, 12, 0)),
        Some(utc(2026, 1, 13, 12, 0))
    );
}

#[test]
fn breach_happens_at_the_target_instant() {
    let p = office();
    let events = vec![created(utc(2026, 1, 9, 16, 0), Priority::High)];
    let due = utc(2026, 1, 12, 10, 0);
    let before = clock(&p, &events, due - Duration::seconds(1));
    assert_eq!(first(&before).state, ClockState::Running);
    assert_eq!(before.next_due(due - Duration::seconds(1)), Some(due));
    let at = clock(&p, &events, due);
    assert_eq!(first(&at).state, ClockState::Breached);
    assert_eq!(first(&at).remaining, Duration::zero());
    assert_eq!(first(&at).next_due(due), None);
    let later = clock(&p, &events, utc(2026, 1, 12, 11, 0));
    assert_eq!(first(&later).remaining, m(-60));
    assert_eq!(first(&later).target_at, Some(due));
    // A reply exactly at the target is late; a reply a second before is on time.
    let mut late = events.clone();
    late.push(SlaEvent::AgentReplied { at: due });
    assert_eq!(
        first(&clock(&p, &late, utc(2026, 1, 13, 0, 0))).state,
        ClockState::Breached
    );
    let mut on_time = events;
    on_time.push(SlaEvent::AgentReplied {
        at: due - Duration::seconds(1),
    });
    assert_eq!(
        first(&clock(&p, &on_time, utc(2026, 1, 13, 0, 0))).state,
        ClockState::Met
    );
}

#[test]
fn resolved_pauses_and_reopen_resumes() {
    let p = office();
    let mon = |h, mi| utc(2026, 1, 12, h, mi);
    let mut events = vec![
        created(mon(9, 0), Priority::Urgent),
        status(mon(9, 30), Status::Resolved),
    ];
    let c = clock(&p, &events, utc(2026, 1, 13, 12, 0));
    assert_eq!(first(&c).state, ClockState::Paused);
    assert_eq!(first(&c).elapsed, m(30));
    assert_eq!(first(&c).target_at, None);
    assert_eq!(resolution(&c).state, ClockState::Met);
    assert_eq!(resolution(&c).elapsed, m(30));
    assert_eq!(c.next_due(utc(2026, 1, 13, 12, 0)), None);
    // A paused clock never breaches, however long it waits.
    let much_later = clock(&p, &events, utc(2027, 6, 1, 12, 0));
    assert_eq!(first(&much_later), first(&c));

    // Reopened Wednesday 09:00: the first response breaches at 09:30 (30 + 30 minutes), the
    // resolution clock resumes with its 30 minutes counted.
    events.push(status(utc(2026, 1, 14, 9, 0), Status::InProgress));
    let c = clock(&p, &events, utc(2026, 1, 14, 10, 0));
    assert_eq!(first(&c).state, ClockState::Breached);
    assert_eq!(first(&c).target_at, Some(utc(2026, 1, 14, 9, 30)));
    let r = resolution(&c);
    assert_eq!(r.state, ClockState::Running);
    assert_eq!(r.elapsed, m(90));
    assert_eq!(r.completed_at, None);
    assert_eq!(r.target_at, Some(utc(2026, 1, 14, 16, 30)));

    // Resolved again: met, counting both periods.
    events.push(status(utc(2026, 1, 14, 11, 0), Status::Resolved));
    let c = clock(&p, &events, utc(2026, 1, 20, 0, 0));
    assert_eq!(resolution(&c).state, ClockState::Met);
    assert_eq!(resolution(&c).elapsed, m(150));
}

#[test]
fn priority_change_retargets_from_the_original_start() {
    let p = office();
    let mon = |h, mi| utc(2026, 1, 12, h, mi);
    let mut events = vec![created(mon(9, 0), Priority::Low)];
    assert_eq!(
        first(&clock(&p, &events, mon(10, 0))).target_at,
        Some(mon(17, 0))
    );
    events.push(SlaEvent::PriorityChanged {
        at: mon(10, 0),
        to: Priority::High,
    });
    let c = clock(&p, &events, mon(10, 15));
    assert_eq!(c.priority, Priority::High);
    assert_eq!(first(&c).target_at, Some(mon(11, 0)));
    assert_eq!(
        first(&c).warnings_crossed().collect::<Vec<_>>(),
        Vec::<u8>::new()
    );
    // Urgent (1 hour) after 1.5 hours: breached retroactively, at 10:00.
    events.push(SlaEvent::PriorityChanged {
        at: mon(10, 30),
        to: Priority::Urgent,
    });
    let c = clock(&p, &events, mon(10, 30));
    assert_eq!(first(&c).state, ClockState::Breached);
    assert_eq!(first(&c).target_at, Some(mon(10, 0)));
    assert_eq!(
        first(&c).warnings_crossed().collect::<Vec<_>>(),
        vec![75, 90]
    );
}

#[test]
fn completed_clocks_keep_their_target() {
    let p = office();
    let mon = |h, mi| utc(2026, 1, 12, h, mi);
    let events = vec![
        created(mon(9, 0), Priority::Low),
        SlaEvent::FirstPublicReply { at: mon(11, 0) },
        SlaEvent::PriorityChanged {
            at: mon(12, 0),
            to: Priority::Urgent,
        },
    ];
    let c = clock(&p, &events, mon(12, 0));
    assert_eq!(first(&c).state, ClockState::Met);
    assert_eq!(first(&c).target, m(480));
    // The running resolution clock takes the new target.
    assert_eq!(resolution(&c).target, m(480));
}

#[test]
fn next_response_cycles() {
    let p = office();
    let mon = |h, mi| utc(2026, 1, 12, h, mi);
    let mut events = vec![
        created(mon(9, 0), Priority::Medium),
        // before the first response: covered by first_response, no cycle
        SlaEvent::CustomerReplied { at: mon(9, 10) },
    ];
    assert!(clock(&p, &events, mon(9, 20)).next_response.is_none());
    events.extend([
        SlaEvent::FirstPublicReply { at: mon(9, 30) },
        SlaEvent::CustomerReplied { at: mon(10, 0) },
        SlaEvent::CustomerReplied { at: mon(11, 0) },
    ]);
    let c = clock(&p, &events, mon(11, 0));
    let nr = c.next_response.as_ref().expect("cycle");
    assert_eq!(nr.state, ClockState::Running);
    assert_eq!(nr.started_at, mon(10, 0));
    assert_eq!(nr.target_at, Some(mon(14, 0)));
    assert_eq!(c.next_due(mon(11, 0)), Some(mon(13, 0)));

    events.push(SlaEvent::AgentReplied { at: mon(12, 0) });
    let c = clock(&p, &events, mon(12, 0));
    let nr = c.next_response.as_ref().expect("cycle");
    assert_eq!(nr.state, ClockState::Met);
    assert_eq!(nr.elapsed, m(120));

    // The next customer reply starts a new cycle, which pauses while the ticket is resolved.
    events.extend([
        status(mon(13, 0), Status::Resolved),
        SlaEvent::CustomerReplied { at: mon(14, 0) },
    ]);
    let c = clock(&p, &events, mon(16, 0));
    let nr = c.next_response.as_ref().expect("cycle");
    assert_eq!(nr.started_at, mon(14, 0));
    assert_eq!(nr.state, ClockState::Paused);
    assert_eq!(nr.elapsed, Duration::zero());
    events.push(status(mon(15, 0), Status::InProgress));
    let c = clock(&p, &events, mon(16, 0));
    let nr = c.next_response.as_ref().expect("cycle");
    assert_eq!(nr.state, ClockState::Running);
    assert_eq!(nr.elapsed, m(60));
    assert_eq!(nr.target_at, Some(utc(2026, 1, 13, 11, 0)));
}

#[test]
fn closing_completes_resolution_and_stops_the_rest() {
    let p = office();
    let mon = |h, mi| utc(2026, 1, 12, h, mi);
    let events = vec![
        created(mon(9, 0), Priority::Medium),
        status(mon(9, 20), Status::Closed),
    ];
    let c = clock(&p, &events, mon(12, 0));
    assert_eq!(resolution(&c).state, ClockState::Met);
    assert_eq!(resolution(&c).completed_at, Some(mon(9, 20)));
    assert_eq!(first(&c).state, ClockState::Paused);
    assert_eq!(c.next_due(mon(12, 0)), None);
}

#[test]
fn history_is_sorted_filtered_and_needs_created() {
    let p = office();
    let mon = |h, mi| utc(2026, 1, 12, h, mi);
    assert_eq!(
        SlaClock::compute(&p, Tier::Free, false, &[], mon(9, 0)),
        Err(SlaError::NotCreated)
    );
    // Events after `now` do not count yet; order in the slice does not matter.
    let events = vec![
        SlaEvent::FirstPublicReply { at: mon(10, 0) },
        created(mon(9, 0), Priority::High),
    ];
    let c = clock(&p, &events, mon(9, 30));
    assert_eq!(first(&c).state, ClockState::Running);
    let c = clock(&p, &events, mon(10, 30));
    assert_eq!(first(&c).state, ClockState::Met);
    // A history that starts after `now` has not been created yet.
    assert_eq!(
        SlaClock::compute(&p, Tier::Free, false, &events, mon(8, 0)),
        Err(SlaError::NotCreated)
    );
}

#[test]
fn dst_weekend_in_berlin() {
    let p = policy_with(BusinessCalendar::weekdays("Europe/Berlin", "09:00-17:00").expect("cal"));
    // Friday 2026-03-27 16:00 CET (15:00 UTC), 2 hours: due Monday 10:00 CEST (08:00 UTC).
    let events = vec![created(utc(2026, 3, 27, 15, 0), Priority::High)];
    let c = clock(&p, &events, utc(2026, 3, 28, 0, 0));
    assert_eq!(first(&c).target_at, Some(utc(2026, 3, 30, 8, 0)));
    assert_eq!(first(&c).elapsed, m(60));
}

#[test]
fn serialises_for_the_api() {
    let p = office();
    let events = vec![created(utc(2026, 1, 12, 9, 0), Priority::High)];
    let c = clock(&p, &events, utc(2026, 1, 12, 10, 0));
    let json = serde_json::to_value(&c).expect("json");
    assert_eq!(json["priority"], "high");
    assert_eq!(json["first_response"]["state"], "running");
    assert_eq!(json["first_response"]["kind"], "first_response");
    assert_eq!(json["first_response"]["elapsed_seconds"], 3600);
    assert_eq!(json["first_response"]["remaining_seconds"], 3600);
    assert_eq!(json["first_response"]["target_seconds"], 7200);
    assert_eq!(json["first_response"]["target_at"], "2026-01-12T11:00:00Z");
    let back: SlaClock = serde_json::from_value(json).expect("back");
    assert_eq!(back, c);
    let ev = serde_json::to_value(status(utc(2026, 1, 12, 9, 0), Status::Resolved)).expect("ev");
    assert_eq!(ev["type"], "status_changed");
    assert_eq!(ev["to"], "resolved");
}

// ---------------------------------------------------------------- properties

fn arb_policy() -> impl Strategy<Value = SlaPolicy> {
    prop::sample::select(vec![
        ("UTC", true),
        ("Europe/Berlin", false),
        ("America/New_York", false),
        ("Pacific/Auckland", false),
    ])
    .prop_map(|(zone, all_day)| {
        let cal = if all_day {
            BusinessCalendar::twenty_four_seven()
        } else {
            BusinessCalendar::weekdays(zone, "09:00-17:00").expect("calendar")
        };
        policy_with(cal)
    })
}

fn arb_priority() -> impl Strategy<Value = Priority> {
    prop::sample::select(Priority::ALL.to_vec())
}

/// Event kinds after `Created`, with the gap (minutes) since the previous event.
fn arb_history() -> impl Strategy<Value = Vec<SlaEvent>> {
    let step = (
        0i64..(3 * 1440),
        0u8..6,
        arb_priority(),
        prop::sample::select(Status::ALL.to_vec()),
    );
    (
        (1_767_225_600i64..1_798_761_600), // 2026
        arb_priority(),
        prop::collection::vec(step, 0..14),
    )
        .prop_map(|(start, priority, steps)| {
            let mut at = DateTime::from_timestamp(start, 0).expect("ts");
            let mut events = vec![SlaEvent::Created { at, priority }];
            for (gap, kind, p, s) in steps {
                at += Duration::minutes(gap);
                events.push(match kind {
                    0 => SlaEvent::PriorityChanged { at, to: p },
                    1 => SlaEvent::FirstPublicReply { at },
                    2 => SlaEvent::CustomerReplied { at },
                    3 => SlaEvent::AgentReplied { at },
                    _ => SlaEvent::StatusChanged { at, to: s },
                });
            }
            events
        })
}

fn last_at(events: &[SlaEvent]) -> DateTime<Utc> {
    events.iter().map(SlaEvent::at).max().expect("non-empty")
}

/// (kind, started_at, state, crossed warnings) of every clock: what alerts are keyed on.
fn crossings(c: &SlaClock) -> Vec<(ClockKind, DateTime<Utc>, ClockState, Vec<u8>)> {
    c.clocks()
        .map(|s| {
            (
                s.kind,
                s.started_at,
                s.state,
                s.warnings_crossed().collect(),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    /// Without new events: paused and met clocks are frozen, breached clocks stay breached,
    /// elapsed never decreases.
    #[test]
    fn clocks_without_events_only_move_forward(
        p in arb_policy(), events in arb_history(),
        x in 0i64..(10 * 1440), y in 0i64..(30 * 1440),
    ) {
        let now1 = last_at(&events) + Duration::minutes(x);
        let now2 = now1 + Duration::minutes(y);
        let c1 = clock(&p, &events, now1);
        let c2 = clock(&p, &events, now2);
        for kind in ClockKind::ALL {
            let (Some(a), Some(b)) = (c1.get(*kind), c2.get(*kind)) else {
                prop_assert_eq!(c1.get(*kind).is_some(), c2.get(*kind).is_some());
                continue;
            };
            prop_assert!(b.elapsed >= a.elapsed);
            match a.state {
                ClockState::Paused | ClockState::Met => prop_assert_eq!(a, b),
                ClockState::Breached => prop_assert_eq!(b.state, ClockState::Breached),
                ClockState::Running => prop_assert!(b.state == ClockState::Running
                    || b.state == ClockState::Breached),
            }
        }
    }

    /// The numbers agree with each other and with the calendar.
    #[test]
    fn clock_fields_are_consistent(
        p in arb_policy(), events in arb_history(), x in 0i64..(10 * 1440),
    ) {
        let now = last_at(&events) + Duration::minutes(x);
        let c = clock(&p, &events, now);
        let cal = p.calendar();
        let since_created = cal.business_time_between(events[0].at(), now);
        for s in c.clocks() {
            prop_assert_eq!(s.elapsed + s.remaining, s.target);
            prop_assert!(s.elapsed >= Duration::zero());
            prop_assert!(s.elapsed <= since_created);
            prop_assert_eq!(s.state == ClockState::Breached, s.elapsed >= s.target);
            match s.state {
                ClockState::Running => {
                    let due = s.target_at.expect("running clocks have a target");
                    prop_assert!(due > now);
                    prop_assert_eq!(cal.business_time_between(now, due), s.remaining);
                }
                ClockState::Breached => prop_assert!(s.target_at.is_some_and(|t| t <= now)),
                ClockState::Met => prop_assert!(s.completed_at.is_some()),
                ClockState::Paused => prop_assert!(s.target_at.is_none()),
            }
            for w in &s.warnings {
                if w.crossed {
                    prop_assert!(w.at.is_some_and(|t| t <= now));
                } else if s.state == ClockState::Running {
                    prop_assert!(w.at.is_some_and(|t| t > now));
                }
            }
        }
    }

    /// `next_due` is exactly the next instant at which something crosses.
    #[test]
    fn next_due_is_the_next_crossing(
        p in arb_policy(), events in arb_history(), x in 0i64..(5 * 1440),
    ) {
        let now = last_at(&events) + Duration::minutes(x);
        let c = clock(&p, &events, now);
        let before = crossings(&c);
        match c.next_due(now) {
            Some(due) => {
                prop_assert!(due > now);
                let just_before = due - Duration::nanoseconds(1);
                if just_before > now {
                    prop_assert_eq!(&crossings(&clock(&p, &events, just_before)), &before);
                }
                prop_assert_ne!(&crossings(&clock(&p, &events, due)), &before);
            }
            None => {
                let later = now + Duration::days(60);
                prop_assert_eq!(crossings(&clock(&p, &events, later)), before);
            }
        }
    }

    /// More events never undo a met first response, nor a met next-response cycle.
    #[test]
    fn met_clocks_stay_met(p in arb_policy(), events in arb_history(), cut in 1usize..15) {
        let cut = cut.min(events.len());
        let now = last_at(&events) + Duration::minutes(1);
        let prefix = clock(&p, &events[..cut], now);
        let full = clock(&p, &events, now);
        if let Some(fr) = prefix.first_response.as_ref().filter(|s| s.state == ClockState::Met) {
            prop_assert_eq!(Some(fr), full.first_response.as_ref());
        }
        if let Some(nr) = prefix.next_response.as_ref().filter(|s| s.state == ClockState::Met) {
            let later = full.next_response.as_ref().expect("cycle");
            if later.started_at == nr.started_at {
                prop_assert_eq!(nr, later);
            }
        }
    }
}
