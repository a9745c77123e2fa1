//! SLA clocks and sweeps: warnings and breaches exactly once, paused clocks never breach,
//! business hours respected, missed minutes caught up, and the policy API.

use chrono::{DateTime, Duration, TimeZone, Utc};
use helpdesk_adapters::local::outbox::OutboxAlertSink;
use helpdesk_adapters::local::SqliteTable;
use helpdesk_app::sla::{AlertSink, DeliveryError, SlaAlert};
use helpdesk_app::tickets::{CustomerRef, NewMessage, NewTicket, UpdateTicket};
use helpdesk_app::{Helpdesk, UlidGen};
use helpdesk_domain::sla::SlaPolicy;
use helpdesk_domain::{Actor, EmailAddress, MessageKind, Role, Status};
use helpdesk_tests::clock::FixedClock;
use helpdesk_tests::TestApp;
use reqwest::StatusCode;
use serde_json::json;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Collect(Mutex<Vec<SlaAlert>>, Mutex<u32>);

#[async_trait::async_trait]
impl AlertSink for Collect {
    async fn deliver(&self, alert: &SlaAlert) -> Result<(), DeliveryError> {
        let mut failures = self.1.lock().expect("lock");
        if *failures > 0 {
            *failures -= 1;
            return Err(DeliveryError("SNS is down".into()));
        }
        self.0.lock().expect("lock").push(alert.clone());
        Ok(())
    }
}

fn admin() -> Actor {
    Actor::Staff {
        email: EmailAddress::parse("admin@example.com").expect("e"),
        role: Role::Admin,
    }
}

fn setup(start: DateTime<Utc>) -> (Helpdesk, Arc<FixedClock>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = SqliteTable::open(dir.path().join("t.db")).expect("open");
    let clock = Arc::new(FixedClock::at(start));
    (
        Helpdesk::new(Arc::new(table), clock.clone(), Arc::new(UlidGen::default())),
        clock,
        dir,
    )
}

fn policy(calendar: serde_json::Value) -> SlaPolicy {
    serde_json::from_value(json!({
        "calendar": calendar,
        "rules": [{ "priority": "medium", "targets": { "first_response_minutes": 60, "resolution_minutes": 480 } }],
        "warning_thresholds": [75, 90]
    }))
    .expect("policy")
}

fn twenty_four_seven() -> serde_json::Value {
    serde_json::to_value(helpdesk_domain::sla::BusinessCalendar::twenty_four_seven())
        .expect("calendar")
}

async fn new_ticket(h: &Helpdesk) -> String {
    let (t, _) = h
        .create_ticket(
            &admin(),
            NewTicket {
                subject: "Cannot log in".into(),
                body: "Help".into(),
                channel: None,
                priority: None,
                category: None,
                customer: Some(CustomerRef {
                    email: EmailAddress::parse("c@example.com").expect("e"),
                    name: None,
                    platform_user_id: None,
                    locale: None,
                }),
                department: None,
                assignee: None,
                tags: vec![],
            },
            None,
        )
        .await
        .expect("create");
    t.id.to_string()
}

fn labels(alerts: &[SlaAlert]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| {
            format!(
                "{}:{}",
                a.clock,
                a.percent
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "breach".into())
            )
        })
        .collect()
}

#[tokio::test]
async fn warnings_and_breaches_fire_once_and_paused_clocks_never_breach() {
    let t0 = Utc
        .with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
        .single()
        .expect("t");
    let (h, clock, _dir) = setup(t0);
    h.put_sla_policy(&admin(), policy(twenty_four_seven()), None)
        .await
        .expect("policy");
    let id = new_ticket(&h).await;
    let sink = Collect::default();

    let r = h
        .sweep_sla(t0 + Duration::minutes(30), &sink)
        .await
        .expect("sweep");
    assert!(r.alerts.is_empty());
    let r = h
        .sweep_sla(t0 + Duration::minutes(46), &sink)
        .await
        .expect("sweep");
    assert_eq!(labels(&r.alerts), vec!["first_response:75"]);
    assert_eq!(r.alerts[0].at, t0 + Duration::minutes(45));
    let r = h
        .sweep_sla(t0 + Duration::minutes(46), &sink)
        .await
        .expect("sweep again");
    assert!(
        r.alerts.is_empty(),
        "the same sweep twice raises nothing new"
    );

    // Two overlapping sweeps: one alert between them.
    let (a, b) = tokio::join!(
        h.sweep_sla(t0 + Duration::minutes(55), &sink),
        h.sweep_sla(t0 + Duration::minutes(55), &sink)
    );
    let mut both = a.expect("a").alerts;
    both.extend(b.expect("b").alerts);
    assert_eq!(labels(&both), vec!["first_response:90"]);

    // Missed minutes: a late sweep catches up on the breach.
    let r = h
        .sweep_sla(t0 + Duration::hours(2), &sink)
        .await
        .expect("sweep");
    assert_eq!(labels(&r.alerts), vec!["first_response:breach"]);
    assert!(
        r.alerts[0].page_supervisors,
        "breaches page the supervisors"
    );

    // The reply comes late; resolving pauses the resolution clock for good.
    clock.set(t0 + Duration::minutes(125));
    h.add_message(
        &admin(),
        &id,
        NewMessage {
            kind: Some(MessageKind::PublicReply),
            body: "Fixed?".into(),
            template: None,
            version: None,
            attachments: Vec::new(),
        },
    )
    .await
    .expect("reply");
    clock.set(t0 + Duration::minutes(130));
    h.update_ticket(
        &admin(),
        &id,
        UpdateTicket {
            status: Some(Status::Resolved),
            ..Default::default()
        },
        None,
    )
    .await
    .expect("resolve");
    let r = h
        .sweep_sla(t0 + Duration::hours(30), &sink)
        .await
        .expect("sweep");
    assert!(
        r.alerts.is_empty(),
        "a paused clock does not warn or breach: {:?}",
        labels(&r.alerts)
    );
    assert_eq!(
        sink.0.lock().expect("lock").len(),
        3,
        "three alerts delivered in all"
    );

    // The API view shows the clocks.
    let view = h.get_ticket(&admin(), &id).await.expect("view");
    let sla = view.sla.expect("sla");
    let fr = sla.first_response.expect("first response");
    assert_eq!(fr.state.as_str(), "breached");
    assert_eq!(
        sla.resolution.expect("resolution").state.as_str(),
        "met",
        "resolved in time; it would run again on reopen"
    );
}

#[tokio::test]
async fn business_hours_move_the_due_time_past_the_weekend() {
    // Friday 16:30 in Berlin (15:30 UTC), one business hour → Monday 09:30 Berlin.
    let friday = Utc
        .with_ymd_and_hms(2026, 1, 9, 15, 30, 0)
        .single()
        .expect("t");
    let (h, _clock, _dir) = setup(friday);
    let day = json!([{ "start": "09:00", "end": "17:00" }]);
    let calendar = json!({ "time_zone": "Europe/Berlin", "hours": { "monday": day, "tuesday": day, "wednesday": day, "thursday": day, "friday": day } });
    h.put_sla_policy(&admin(), policy(calendar), None)
        .await
        .expect("policy");
    new_ticket(&h).await;
    let sink = Collect::default();
    let saturday = Utc
        .with_ymd_and_hms(2026, 1, 10, 12, 0, 0)
        .single()
        .expect("t");
    let r = h.sweep_sla(saturday, &sink).await.expect("sweep");
    // 30 business minutes passed on Friday, so 75 % (45 min) falls on Monday 09:15.
    assert!(r.alerts.is_empty(), "{:?}", labels(&r.alerts));
    let monday = Utc
        .with_ymd_and_hms(2026, 1, 12, 8, 31, 0)
        .single()
        .expect("t"); // 09:31 Berlin
    let r = h.sweep_sla(monday, &sink).await.expect("sweep");
    assert_eq!(
        labels(&r.alerts),
        vec![
            "first_response:75",
            "first_response:90",
            "first_response:breach"
        ]
    );
    assert_eq!(
        r.alerts[2].at,
        Utc.with_ymd_and_hms(2026, 1, 12, 8, 30, 0)
            .single()
            .expect("t")
    );
}

#[tokio::test]
async fn a_failed_delivery_is_retried_by_the_next_sweep() {
    let t0 = Utc
        .with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
        .single()
        .expect("t");
    let (h, _clock, _dir) = setup(t0);
    h.put_sla_policy(&admin(), policy(twenty_four_seven()), None)
        .await
        .expect("policy");
    new_ticket(&h).await;
    let sink = Collect::default();
    *sink.1.lock().expect("lock") = 1;
    let r = h
        .sweep_sla(t0 + Duration::minutes(50), &sink)
        .await
        .expect("sweep");
    assert!(r.alerts.is_empty(), "not delivered, not reported");
    let r = h
        .sweep_sla(t0 + Duration::minutes(50), &sink)
        .await
        .expect("sweep");
    assert_eq!(labels(&r.alerts), vec!["first_response:75"]);
}

#[tokio::test]
async fn policy_api_and_the_sweep_command_outbox() {
    let app = TestApp::spawn().await;
    let body = json!({
        "calendar": twenty_four_seven(),
        "rules": [{ "priority": "medium", "targets": { "first_response_minutes": 60 } }]
    });
    assert_eq!(
        app.get("/api/v1/sla/policy", &app.admin()).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.put(
            "/api/v1/sla/policy",
            &app.agent("a@example.com"),
            body.clone()
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let bad = json!({ "calendar": { "time_zone": "Mars/Olympus", "hours": {} } });
    let r = app.put("/api/v1/sla/policy", &app.admin(), bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body["field"]
            .as_str()
            .is_some_and(|f| f.starts_with("calendar")),
        "{:?}",
        r.body
    );
    let r = app
        .put("/api/v1/sla/policy", &app.admin(), body.clone())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["warning_thresholds"], json!([75, 90]));
    let t = app
        .ticket_for(&app.admin(), "c@example.com", "Where is my refund?")
        .await;
    let view = app
        .get(
            &format!("/api/v1/tickets/{}", t["id"].as_str().expect("id")),
            &app.admin(),
        )
        .await;
    let fr = &view.body["sla"]["first_response"];
    assert_eq!(fr["state"], "running");
    assert_eq!(fr["target_seconds"], 3600);
    assert!(fr["remaining_seconds"].as_i64().is_some_and(|r| r > 3500));
    // Customers see no SLA internals.
    let customer_view = app
        .get(
            &format!("/api/v1/tickets/{}", t["id"].as_str().expect("id")),
            &app.customer("c@example.com"),
        )
        .await;
    assert!(customer_view.body.get("sla").is_none());

    // `helpdesk sweep --now` (the same function) writes alerts to DATA/outbox/alerts.jsonl, once.
    let later = Utc::now() + Duration::hours(3);
    let report = helpdesk::sweep_once(app.data.path(), later)
        .await
        .expect("sweep");
    assert_eq!(
        labels(&report.alerts),
        vec![
            "first_response:75",
            "first_response:90",
            "first_response:breach"
        ]
    );
    assert_eq!(
        helpdesk::sweep_once(app.data.path(), later)
            .await
            .expect("again")
            .alerts
            .len(),
        0
    );
    let outbox =
        std::fs::read_to_string(OutboxAlertSink::new(app.data.path()).path()).expect("outbox");
    assert_eq!(outbox.lines().count(), 3);
    assert!(outbox
        .lines()
        .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
}
