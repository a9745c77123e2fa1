//! The AWS path of SLA alerts against moto (DynamoDB + SNS), through the two Lambda handlers:
//! scheduler event → `sla-sweeper` → SNS topic (read back from moto) → `sms-alerts` → SMS
//! (read back from moto's record of sent SMS).
//!
//! Without `HELPDESK_TEST_DYNAMODB_URL` (set by `scripts/test.sh`, which starts moto) these
//! tests fail rather than pass silently; `HELPDESK_SKIP_AWS_TESTS=1` skips them knowingly.
//!
//! moto's SNS treats every number ending in `99` as opted out
//! (`CheckIfPhoneNumberIsOptedOut`), which is how the opt-out case is simulated here.

use aws_lambda_events::event::sns::SnsEvent;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use helpdesk_adapters::aws::dynamodb::{connect_local, create_table, DynamoTable};
use helpdesk_adapters::aws::{SnsAlertSink, SnsSms};
use helpdesk_app::alerts::PagingOptions;
use helpdesk_app::directory::AgentInput;
use helpdesk_app::sla::SlaAlert;
use helpdesk_app::tickets::{CustomerRef, NewTicket};
use helpdesk_app::{Helpdesk, UlidGen};
use helpdesk_domain::{Actor, AgentStatus, EmailAddress, PhoneNumber, Priority, Role};
use helpdesk_tests::aws::{moto_url, unique};
use helpdesk_tests::clock::FixedClock;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use std::sync::Arc;

/// A phone number no other test (or earlier run against the same moto) uses; `suffix` is its
/// last two digits (`99` makes moto report it opted out).
fn unique_phone(suffix: &str) -> PhoneNumber {
    let n = ulid::Ulid::new().random() % 10_000_000;
    PhoneNumber::parse(&format!("+4477{n:07}{suffix}")).expect("phone")
}

fn admin() -> Actor {
    Actor::Staff {
        email: EmailAddress::parse("admin@example.com").expect("e"),
        role: Role::Admin,
    }
}

fn event_json(file: &str) -> Value {
    let path = format!("{}/../events/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(&path).expect("event file")).expect("JSON")
}

async fn moto_data(url: &str) -> Value {
    helpdesk_tests::aws::moto_data(url).await
}

/// Messages moto recorded as published to `topic_arn`: (message, message attributes).
async fn published(url: &str, topic_arn: &str) -> Vec<(String, Value)> {
    let data = moto_data(url).await;
    let topics = data["sns"]["Topic"].as_array().cloned().unwrap_or_default();
    let topic = topics
        .iter()
        .find(|t| t["arn"] == topic_arn)
        .expect("the topic is in moto's data");
    topic["sent_notifications"]
        .as_array()
        .expect("sent_notifications")
        .iter()
        .map(|n| {
            // [message id, message, subject, message attributes, group id]
            (n[1].as_str().expect("message").to_string(), n[3].clone())
        })
        .collect()
}

/// Texts moto recorded as sent by SMS to `phone`.
async fn texts_to(url: &str, phone: &PhoneNumber) -> Vec<String> {
    let data = moto_data(url).await;
    data["sns"]["SMS"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|sms| sms["phone_number"] == phone.as_str())
        .map(|sms| sms["message"].as_str().expect("text").to_string())
        .collect()
}

/// The sms-alerts fixture with its record carrying `message` (as the topic would deliver it).
fn sns_event(message: &str, topic_arn: &str) -> LambdaEvent<SnsEvent> {
    let mut raw = event_json("sms-alerts-sns.json");
    raw["Records"][0]["Sns"]["Message"] = json!(message);
    raw["Records"][0]["Sns"]["TopicArn"] = json!(topic_arn);
    raw["Records"][0]["Sns"]["MessageId"] = json!(unique());
    let event: SnsEvent = serde_json::from_value(raw).expect("an SNS event");
    LambdaEvent::new(event, Context::default())
}

async fn agent(h: &Helpdesk, email: &str, role: Role, phone: PhoneNumber, on_call: bool) {
    h.create_agent(
        &admin(),
        AgentInput {
            email: EmailAddress::parse(email).expect("e"),
            name: "On Call".into(),
            role,
            departments: Default::default(),
            skills: Default::default(),
            languages: Default::default(),
            capacity: 10,
            status: AgentStatus::Available,
            phone: Some(phone),
            on_call,
            version: None,
        },
    )
    .await
    .expect("agent");
}

#[tokio::test]
async fn scheduler_to_sns_to_sms_pages_once_within_the_limit() {
    let Some(url) = moto_url() else { return };

    // DynamoDB table and SNS topic of this test alone.
    let dynamo = connect_local(&url);
    let table_name = format!("aws-sla-{}", unique());
    create_table(&dynamo, &table_name)
        .await
        .expect("create table");
    let sns = helpdesk_adapters::aws::sns::connect_local(&url);
    let topic_arn = sns
        .create_topic()
        .name(format!("sla-alerts-{}", unique()))
        .send()
        .await
        .expect("create topic")
        .topic_arn()
        .expect("topic ARN")
        .to_string();

    // Real time (not a fixed date in the past): the rate-limit counters and page claims carry
    // TTLs, which the DynamoDB adapter compares with the wall clock.
    let t0 = Utc::now().trunc_subsecs(0);
    let clock = Arc::new(FixedClock::at(t0));
    let h = Helpdesk::new(
        Arc::new(DynamoTable::new(dynamo, &table_name)),
        clock.clone(),
        Arc::new(UlidGen::default()),
    );

    // A policy with a short target, two supervisors on call (one opted out of SMS) and an admin
    // with a phone who is not on call.
    let policy = serde_json::from_value(json!({
        "calendar": helpdesk_domain::sla::BusinessCalendar::twenty_four_seven(),
        "rules": [{ "priority": "urgent", "targets": { "first_response_minutes": 4 } }],
        "warning_thresholds": [75, 90]
    }))
    .expect("policy");
    h.put_sla_policy(&admin(), policy, None)
        .await
        .expect("policy");
    let on_call = unique_phone("42");
    let opted_out = unique_phone("99");
    let off_duty = unique_phone("17");
    agent(
        &h,
        "sam@example.com",
        Role::Supervisor,
        on_call.clone(),
        true,
    )
    .await;
    agent(
        &h,
        "olive@example.com",
        Role::Supervisor,
        opted_out.clone(),
        true,
    )
    .await;
    agent(&h, "ada@example.com", Role::Admin, off_duty.clone(), false).await;
    let (ticket, _) = h
        .create_ticket(
            &admin(),
            NewTicket {
                subject: "Checkout is down for Ana Lopez".into(),
                body: "Nobody can pay.".into(),
                channel: None,
                priority: Some(Priority::Urgent),
                category: None,
                customer: Some(CustomerRef {
                    email: EmailAddress::parse("ana.lopez@example.com").expect("e"),
                    name: Some("Ana Lopez".into()),
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

    // The scheduler fires at t0 + 6 min (past the 4-minute breach); the function runs a few
    // seconds later.
    let mut scheduled = event_json("sla-sweeper-scheduled.json");
    let sweep_at = t0 + Duration::minutes(6);
    scheduled["time"] = json!(sweep_at.to_rfc3339());
    clock.set(sweep_at + Duration::seconds(5));
    let sink = SnsAlertSink::new(sns.clone(), &topic_arn);
    let summary = helpdesk_sla_sweeper::handle(
        &h,
        &sink,
        LambdaEvent::new(scheduled.clone(), Context::default()),
    )
    .await
    .expect("sweep");
    assert_eq!(summary.now, sweep_at);
    assert_eq!(summary.alerts, 3, "75 %, 90 % and the breach: {summary:?}");

    // Published to the topic: the alerts' JSON, with the attributes subscriptions filter on.
    let messages = published(&url, &topic_arn).await;
    assert_eq!(messages.len(), 3, "{messages:?}");
    let alerts: Vec<SlaAlert> = messages
        .iter()
        .map(|(m, _)| serde_json::from_str(m).expect("an SLA alert"))
        .collect();
    assert!(alerts.iter().all(|a| a.ticket_id == ticket.id));
    for (message, attributes) in &messages {
        assert!(
            !message.contains("Ana") && !message.contains("ana.lopez"),
            "no customer data: {message}"
        );
        assert_eq!(
            attributes["page_supervisors"]["Value"], "true",
            "urgent tickets page"
        );
    }
    let breach_at = messages
        .iter()
        .position(|(_, a)| a["level"]["Value"] == "breach")
        .expect("a breach");
    assert_eq!(alerts[breach_at].at, t0 + Duration::minutes(4));

    // The same scheduled minute again (a scheduler retry): nothing new is published.
    let again =
        helpdesk_sla_sweeper::handle(&h, &sink, LambdaEvent::new(scheduled, Context::default()))
            .await
            .expect("sweep again");
    assert_eq!(again.alerts, 0);
    assert_eq!(published(&url, &topic_arn).await.len(), 3);

    // sms-alerts gets the breach from the topic, twice (at-least-once delivery): one SMS.
    let sender = SnsSms::new(sns.clone());
    let options = PagingOptions {
        max_per_window: 2,
        console_url: Some("https://desk.example.com".into()),
    };
    let breach_message = &messages[breach_at].0;
    let first =
        helpdesk_sms_alerts::handle(&h, &sender, &options, sns_event(breach_message, &topic_arn))
            .await
            .expect("paged");
    let sam = EmailAddress::parse("sam@example.com").expect("e");
    let olive = EmailAddress::parse("olive@example.com").expect("e");
    assert_eq!(first.pages[0].sent, vec![sam.clone()], "{first:?}");
    assert_eq!(first.pages[0].opted_out, vec![olive.clone()], "{first:?}");
    let second =
        helpdesk_sms_alerts::handle(&h, &sender, &options, sns_event(breach_message, &topic_arn))
            .await
            .expect("redelivery");
    assert!(second.pages[0].sent.is_empty(), "{second:?}");
    assert_eq!(second.pages[0].already_paged.len(), 2, "{second:?}");

    let texts = texts_to(&url, &on_call).await;
    assert_eq!(texts.len(), 1, "exactly one SMS: {texts:?}");
    assert_eq!(
        texts[0],
        format!(
            "{} BREACH first response (urgent) at {} UTC. Open: https://desk.example.com/app/tickets/{}",
            ticket.number,
            (t0 + Duration::minutes(4)).format("%H:%M"),
            ticket.number
        )
    );
    assert!(
        texts_to(&url, &opted_out).await.is_empty(),
        "opted out: no SMS"
    );
    assert!(
        texts_to(&url, &off_duty).await.is_empty(),
        "not on call: no SMS"
    );

    // The two warnings page too (urgent ticket), but the limit is 2 per 10 minutes: the first
    // warning is the second SMS of the window, the other is held back.
    let mut outcomes = Vec::new();
    for (i, (message, _)) in messages.iter().enumerate() {
        if i == breach_at {
            continue;
        }
        let s = helpdesk_sms_alerts::handle(&h, &sender, &options, sns_event(message, &topic_arn))
            .await
            .expect("paged");
        outcomes.push((s.pages[0].sent.clone(), s.pages[0].rate_limited.clone()));
    }
    assert_eq!(
        outcomes,
        vec![(vec![sam.clone()], vec![]), (vec![], vec![sam.clone()])],
        "the second SMS goes out, the third is over the limit"
    );
    assert_eq!(texts_to(&url, &on_call).await.len(), 2);
    // The opted-out number did not use up its budget either, and still got nothing.
    assert!(texts_to(&url, &opted_out).await.is_empty());

    // The next window starts a new count.
    clock.set(sweep_at + Duration::minutes(15));
    let later = SlaAlert {
        percent: None,
        level: "breach".into(),
        at: t0 + Duration::minutes(9),
        ..alerts[breach_at].clone()
    };
    let s = helpdesk_sms_alerts::handle(
        &h,
        &sender,
        &options,
        sns_event(&serde_json::to_string(&later).expect("json"), &topic_arn),
    )
    .await
    .expect("paged");
    assert_eq!(s.pages[0].sent, vec![sam], "{s:?}");
    assert_eq!(texts_to(&url, &on_call).await.len(), 3);
}

/// Scheduled jobs on DynamoDB through the sweeper's handler: a resolved ticket is closed by
/// auto-close exactly once, at the scheduler's time, however often the minute is replayed.
#[tokio::test]
async fn the_sweeper_runs_scheduled_jobs_once_on_dynamodb() {
    let Some(url) = moto_url() else { return };
    let dynamo = connect_local(&url);
    let table_name = format!("aws-jobs-{}", unique());
    create_table(&dynamo, &table_name)
        .await
        .expect("create table");
    let sns = helpdesk_adapters::aws::sns::connect_local(&url);
    let topic_arn = sns
        .create_topic()
        .name(format!("sla-alerts-{}", unique()))
        .send()
        .await
        .expect("create topic")
        .topic_arn()
        .expect("topic ARN")
        .to_string();
    let t0 = Utc::now().trunc_subsecs(0);
    let clock = Arc::new(FixedClock::at(t0));
    let h = Helpdesk::new(
        Arc::new(DynamoTable::new(dynamo, &table_name)),
        clock.clone(),
        Arc::new(UlidGen::default()),
    );
    let settings: helpdesk_app::automations::AutomationSettings =
        serde_json::from_value(json!({ "auto_close": { "enabled": true, "after_days": 2 } }))
            .expect("settings");
    h.put_automation_settings(&admin(), settings, Some(0))
        .await
        .expect("settings");
    let (ticket, _) = h
        .create_ticket(
            &admin(),
            NewTicket {
                subject: "Thanks, all good".into(),
                body: "Works now.".into(),
                channel: None,
                priority: None,
                category: None,
                customer: Some(CustomerRef {
                    email: EmailAddress::parse("lee@example.com").expect("e"),
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
    let resolved = h
        .update_ticket(
            &admin(),
            &ticket.id.to_string(),
            helpdesk_app::tickets::UpdateTicket {
                status: Some(helpdesk_domain::Status::Resolved),
                ..Default::default()
            },
            None,
        )
        .await
        .expect("resolve");
    assert_eq!(resolved.status, helpdesk_domain::Status::Resolved);
    let sink = SnsAlertSink::new(sns.clone(), &topic_arn);
    let run = |at: DateTime<Utc>| {
        let mut scheduled = event_json("sla-sweeper-scheduled.json");
        scheduled["time"] = json!(at.to_rfc3339());
        clock.set(at + Duration::seconds(5));
        LambdaEvent::new(scheduled, Context::default())
    };
    let early = helpdesk_sla_sweeper::handle(&h, &sink, run(t0 + Duration::days(1)))
        .await
        .expect("sweep");
    assert_eq!(early.jobs, 0);
    let due = t0 + Duration::days(2) + Duration::minutes(1);
    let first = helpdesk_sla_sweeper::handle(&h, &sink, run(due))
        .await
        .expect("sweep");
    assert_eq!(first.jobs, 1, "{first:?}");
    let again = helpdesk_sla_sweeper::handle(&h, &sink, run(due))
        .await
        .expect("sweep");
    assert_eq!(again.jobs, 0, "a replayed minute runs nothing twice");
    let view = h
        .get_ticket(&admin(), &ticket.id.to_string())
        .await
        .expect("view");
    assert_eq!(view.ticket.status, helpdesk_domain::Status::Closed);
    assert_eq!(
        view.audit
            .iter()
            .filter(|a| a.action == "auto_closed")
            .count(),
        1
    );
}
