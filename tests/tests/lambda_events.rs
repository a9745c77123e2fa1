//! Every sample event in `events/` goes through the API Lambda's handler (the router with the
//! claims bridge) and gets the status code `events/README.md` promises.

use helpdesk_adapters::local::SqliteTable;
use helpdesk_app::{Helpdesk, SystemClock, UlidGen};
use lambda_http::request::LambdaRequest;
use std::sync::Arc;
use tower::ServiceExt;

const EVENTS: &[(&str, u16)] = &[
    ("api-healthz.json", 200),
    ("api-openapi.json", 200),
    ("api-list-tickets-agent.json", 200),
    ("api-create-ticket-customer.json", 201),
    ("api-list-agents-forbidden.json", 403),
    ("api-no-auth.json", 401),
];

fn app() -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = SqliteTable::open(dir.path().join("t.db")).expect("open");
    let helpdesk = Helpdesk::new(
        Arc::new(table),
        Arc::new(SystemClock),
        Arc::new(UlidGen::default()),
    );
    (helpdesk_api::app(helpdesk, None), dir)
}

async fn invoke(router: axum::Router, file: &str) -> (u16, serde_json::Value) {
    let path = format!("{}/../events/{file}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read(&path).expect("event file");
    let event: LambdaRequest = serde_json::from_slice(&raw).expect("a valid API Gateway v2 event");
    let request: lambda_http::Request = event.into();
    let response = router.oneshot(request).await.expect("infallible");
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn every_event_gets_its_documented_status() {
    let readme = std::fs::read_to_string(format!(
        "{}/../events/README.md",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("README");
    let files: Vec<_> = std::fs::read_dir(format!("{}/../events", env!("CARGO_MANIFEST_DIR")))
        .expect("events dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("api-") && n.ends_with(".json"))
        .collect();
    assert_eq!(
        files.len(),
        EVENTS.len(),
        "every api event is checked: {files:?}"
    );
    for (file, expected) in EVENTS {
        assert!(readme.contains(file), "{file} is documented");
        let (router, _dir) = app();
        let (status, body) = invoke(router, file).await;
        assert_eq!(status, *expected, "{file}: {body}");
    }
}

#[tokio::test]
async fn gateway_claims_become_the_caller() {
    let (router, _dir) = app();
    let (status, body) = invoke(router.clone(), "api-create-ticket-customer.json").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["customer"]["email"], "customer@example.com");
    assert_eq!(body["channel"], "web");
    // The agent's list (claims from the authorizer) sees the customer's ticket.
    let (status, body) = invoke(router, "api-list-tickets-agent.json").await;
    assert_eq!(status, 200);
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_bearer_token_alone_is_not_trusted_in_gateway_mode() {
    // api-no-auth.json carries an Authorization header but no authorizer context.
    let (router, _dir) = app();
    let (status, body) = invoke(router, "api-no-auth.json").await;
    assert_eq!(status, 401);
    assert_eq!(
        body["type"],
        "https://helpdesk.dev/problems/unauthenticated"
    );
}

// ---- sla-sweeper and sms-alerts (events/sla-sweeper-scheduled.json, events/sms-alerts-sns.json)

mod sla_functions {
    use chrono::{DateTime, TimeZone, Utc};
    use helpdesk_adapters::local::SqliteTable;
    use helpdesk_app::alerts::{PagingOptions, SmsError, SmsOutcome, SmsSender};
    use helpdesk_app::directory::AgentInput;
    use helpdesk_app::sla::{AlertSink, DeliveryError, SlaAlert};
    use helpdesk_app::tickets::{CustomerRef, NewTicket};
    use helpdesk_app::{Helpdesk, UlidGen};
    use helpdesk_domain::{Actor, AgentStatus, EmailAddress, PhoneNumber, Priority, Role};
    use lambda_runtime::{Context, LambdaEvent};
    use serde_json::json;
    use std::sync::{Arc, Mutex};

    use helpdesk_tests::clock::FixedClock;

    #[derive(Default)]
    struct Collect(Mutex<Vec<SlaAlert>>);

    #[async_trait::async_trait]
    impl AlertSink for Collect {
        async fn deliver(&self, alert: &SlaAlert) -> Result<(), DeliveryError> {
            self.0.lock().expect("lock").push(alert.clone());
            Ok(())
        }
    }

    #[derive(Default)]
    struct Phone(Mutex<Vec<(String, String)>>);

    #[async_trait::async_trait]
    impl SmsSender for Phone {
        async fn send(&self, to: &PhoneNumber, text: &str) -> Result<SmsOutcome, SmsError> {
            self.0
                .lock()
                .expect("lock")
                .push((to.to_string(), text.to_string()));
            Ok(SmsOutcome::Sent)
        }
    }

    fn event_json(file: &str) -> serde_json::Value {
        let path = format!("{}/../events/{file}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_slice(&std::fs::read(&path).expect("event file")).expect("JSON")
    }

    fn admin() -> Actor {
        Actor::Staff {
            email: EmailAddress::parse("admin@example.com").expect("e"),
            role: Role::Admin,
        }
    }

    fn helpdesk(at: DateTime<Utc>) -> (Helpdesk, Arc<FixedClock>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let table = SqliteTable::open(dir.path().join("t.db")).expect("open");
        let clock = Arc::new(FixedClock::at(at));
        let h = Helpdesk::new(Arc::new(table), clock.clone(), Arc::new(UlidGen::default()));
        (h, clock, dir)
    }

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, h, m, 0)
            .single()
            .expect("t")
    }

    #[test]
    fn both_events_are_documented() {
        let readme = std::fs::read_to_string(format!(
            "{}/../events/README.md",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("README");
        for file in ["sla-sweeper-scheduled.json", "sms-alerts-sns.json"] {
            assert!(readme.contains(file), "{file} is documented");
        }
    }

    #[tokio::test]
    async fn the_scheduler_event_sweeps_at_its_scheduled_time() {
        // An urgent ticket opened at 09:00 with a 30-minute first response target; the
        // fixture's time is 10:30, so its warnings (75 %, 90 %) and breach are all due.
        let (h, clock, _dir) = helpdesk(t(9, 0));
        let policy = serde_json::from_value(json!({
            "calendar": helpdesk_domain::sla::BusinessCalendar::twenty_four_seven(),
            "rules": [{ "priority": "urgent", "targets": { "first_response_minutes": 30 } }],
            "warning_thresholds": [75, 90]
        }))
        .expect("policy");
        h.put_sla_policy(&admin(), policy, None)
            .await
            .expect("policy");
        h.create_ticket(
            &admin(),
            NewTicket {
                subject: "Checkout is down".into(),
                body: "Nobody can pay.".into(),
                channel: None,
                priority: Some(Priority::Urgent),
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
        .expect("ticket");
        // The invocation runs a minute after the time it was scheduled for.
        clock.set(t(10, 31));
        let sink = Collect::default();
        let event = LambdaEvent::new(event_json("sla-sweeper-scheduled.json"), Context::default());
        let summary = helpdesk_sla_sweeper::handle(&h, &sink, event.clone())
            .await
            .expect("sweep");
        assert_eq!(summary.now, t(10, 30), "{summary:?}");
        assert!(summary.from_event);
        assert_eq!(summary.alerts, 3, "{summary:?}");
        let alerts = sink.0.lock().expect("lock").clone();
        let breach = alerts
            .iter()
            .find(|a| a.level == "breach")
            .expect("a breach");
        assert_eq!(breach.at, t(9, 30));
        assert!(alerts.iter().all(|a| a.page_supervisors), "urgent pages");
        // The same event again (a retry): nothing new.
        let again = helpdesk_sla_sweeper::handle(&h, &sink, event)
            .await
            .expect("sweep again");
        assert_eq!(again.alerts, 0);
        assert_eq!(sink.0.lock().expect("lock").len(), 3);
    }

    async fn on_call_supervisor(h: &Helpdesk, email: &str, phone: &str) {
        h.create_agent(
            &admin(),
            AgentInput {
                email: EmailAddress::parse(email).expect("e"),
                name: "Sam Supervisor".into(),
                role: Role::Supervisor,
                departments: Default::default(),
                skills: Default::default(),
                languages: Default::default(),
                capacity: 10,
                status: AgentStatus::Available,
                phone: Some(PhoneNumber::parse(phone).expect("phone")),
                on_call: true,
                version: None,
            },
        )
        .await
        .expect("agent");
    }

    #[tokio::test]
    async fn the_sns_event_pages_the_supervisor_on_call_once() {
        let (h, _clock, _dir) = helpdesk(Utc::now());
        on_call_supervisor(&h, "sam@example.com", "+447700900123").await;
        let phone = Phone::default();
        let options = PagingOptions {
            max_per_window: 5,
            console_url: Some("https://desk.example.com".into()),
        };
        let raw = event_json("sms-alerts-sns.json");
        let event: aws_lambda_events::event::sns::SnsEvent =
            serde_json::from_value(raw.clone()).expect("an SNS event");
        let first = helpdesk_sms_alerts::handle(
            &h,
            &phone,
            &options,
            LambdaEvent::new(event.clone(), Context::default()),
        )
        .await
        .expect("paged");
        assert_eq!(first.records, 1);
        assert_eq!(first.sent(), 1, "{first:?}");
        // SNS delivers at least once: the same record again sends nothing.
        let second = helpdesk_sms_alerts::handle(
            &h,
            &phone,
            &options,
            LambdaEvent::new(event, Context::default()),
        )
        .await
        .expect("redelivery");
        assert_eq!(second.sent(), 0);
        assert_eq!(
            second.pages[0].already_paged,
            vec![EmailAddress::parse("sam@example.com").expect("e")]
        );
        let sent = phone.0.lock().expect("lock").clone();
        assert_eq!(
            sent,
            vec![(
                "+447700900123".to_string(),
                "HD-1 BREACH first response (urgent) at 09:30 UTC. Open: https://desk.example.com/app/tickets/HD-1".to_string()
            )]
        );
    }

    /// Fails the first `n` sends as if SNS were throttling.
    struct Flaky(Mutex<u32>, Phone);

    #[async_trait::async_trait]
    impl SmsSender for Flaky {
        async fn send(&self, to: &PhoneNumber, text: &str) -> Result<SmsOutcome, SmsError> {
            {
                let mut failures = self.0.lock().expect("lock");
                if *failures > 0 {
                    *failures -= 1;
                    return Err(SmsError::Unavailable("Throttling".into()));
                }
            }
            self.1.send(to, text).await
        }
    }

    #[tokio::test]
    async fn an_unavailable_provider_fails_the_invocation_and_the_retry_pages_once() {
        let (h, _clock, _dir) = helpdesk(Utc::now());
        on_call_supervisor(&h, "sam@example.com", "+447700900123").await;
        on_call_supervisor(&h, "kim@example.com", "+447700900456").await;
        let event: aws_lambda_events::event::sns::SnsEvent =
            serde_json::from_value(event_json("sms-alerts-sns.json")).expect("an SNS event");
        // The first send (to the lower number, +44…123) fails; the second goes out.
        let flaky = Flaky(Mutex::new(1), Phone::default());
        let options = PagingOptions::default();
        let failed = helpdesk_sms_alerts::handle(
            &h,
            &flaky,
            &options,
            LambdaEvent::new(event.clone(), Context::default()),
        )
        .await;
        assert!(failed.is_err(), "Lambda retries the event");
        assert_eq!(flaky.1 .0.lock().expect("lock").len(), 1);
        // The retry pages only the one who was missed.
        let retried = helpdesk_sms_alerts::handle(
            &h,
            &flaky,
            &options,
            LambdaEvent::new(event, Context::default()),
        )
        .await
        .expect("retry");
        assert_eq!(
            retried.pages[0].sent,
            vec![EmailAddress::parse("sam@example.com").expect("e")]
        );
        let mut to: Vec<String> = flaky
            .1
             .0
            .lock()
            .expect("lock")
            .iter()
            .map(|(p, _)| p.clone())
            .collect();
        to.sort();
        assert_eq!(to, vec!["+447700900123", "+447700900456"]);
    }

    #[tokio::test]
    async fn a_malformed_record_is_skipped_not_retried() {
        let (h, _clock, _dir) = helpdesk(Utc::now());
        on_call_supervisor(&h, "sam@example.com", "+447700900123").await;
        let mut raw = event_json("sms-alerts-sns.json");
        let good = raw["Records"][0].clone();
        let mut bad = good.clone();
        bad["Sns"]["Message"] = json!("{\"not\": \"an alert\"}");
        raw["Records"] = json!([bad, good]);
        let event: aws_lambda_events::event::sns::SnsEvent =
            serde_json::from_value(raw).expect("an SNS event");
        let phone = Phone::default();
        let summary = helpdesk_sms_alerts::handle(
            &h,
            &phone,
            &PagingOptions::default(),
            LambdaEvent::new(event, Context::default()),
        )
        .await
        .expect("the invocation succeeds: retrying cannot fix a malformed record");
        assert_eq!((summary.records, summary.malformed), (2, 1));
        assert_eq!(summary.sent(), 1, "the good record is still paged");
    }
}
