//! Automations on the local runtime: CSAT surveys, follow-ups, auto-close, agents' follow-ups,
//! status-update e-mails and the SMS outbox. The server runs on the real clock; scheduled work
//! is driven by `helpdesk::automations_once` (what `helpdesk sweep --now` runs) at chosen
//! instants after the ticket's real resolution time, so every step is deterministic.

use chrono::{DateTime, Duration, Utc};
use helpdesk_adapters::local::SqliteTable;
use helpdesk_app::automations::SurveyToken;
use helpdesk_app::ports::{Condition, Item, Key, Table};
use helpdesk_mail::{InboundEmail, Limits};
use helpdesk_tests::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const DOMAIN: &str = helpdesk::DEFAULT_MAIL_DOMAIN;

fn outbox_files(data: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data.join("outbox").join("email"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "eml"));
    files.sort();
    files
}

fn mails(app: &TestApp) -> Vec<InboundEmail> {
    outbox_files(app.data.path())
        .iter()
        .map(|f| {
            let raw = std::fs::read(f).expect("read eml");
            helpdesk_mail::parse(&raw, &Limits::default())
                .into_result()
                .expect("our own mail parses")
        })
        .collect()
}

fn with_subject<'a>(all: &'a [InboundEmail], prefix: &str) -> Vec<&'a InboundEmail> {
    all.iter()
        .filter(|m| m.subject.starts_with(prefix))
        .collect()
}

async fn sweep(app: &TestApp, at: DateTime<Utc>) -> Value {
    let settings = helpdesk_compose::Settings::local(app.data.path())
        .with_mail_domain(DOMAIN)
        .and_then(|s| s.with_public_url(&app.base))
        .expect("settings");
    let report = helpdesk::automations_once(&settings, at)
        .await
        .expect("sweep");
    serde_json::to_value(report).expect("json")
}

async fn settings(app: &TestApp, body: Value) {
    let current = app.get("/api/v1/automation/settings", &app.admin()).await;
    assert_eq!(current.status, StatusCode::OK);
    let etag = current
        .headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("etag")
        .to_string();
    let r = app
        .request(
            reqwest::Method::PUT,
            "/api/v1/automation/settings",
            Some(&app.admin()),
            Some(body),
            &[("If-Match", &etag)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

struct Setup {
    app: TestApp,
    agent: String,
}

async fn setup(body: Value) -> Setup {
    let app = TestApp::spawn().await;
    app.create_agent("ann@example.com", "agent").await;
    let agent = app.agent("ann@example.com");
    settings(&app, body).await;
    Setup { app, agent }
}

/// A ticket for `customer`, assigned to Ann, then resolved; returns (number, resolved_at).
async fn resolved_ticket(s: &Setup, customer: &str) -> (String, DateTime<Utc>) {
    let t = s
        .app
        .create_ticket(
            &s.agent,
            json!({ "subject": "Printer offline", "body": "It does not print.", "channel": "email",
                "customer": { "email": customer }, "assignee": "ann@example.com" }),
        )
        .await;
    let number = t["number"].as_str().expect("number").to_string();
    resolve(s, &number).await
}

async fn resolve(s: &Setup, number: &str) -> (String, DateTime<Utc>) {
    let r = s
        .app
        .patch(
            &format!("/api/v1/tickets/{number}"),
            &s.agent,
            json!({ "status": "resolved" }),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let at: DateTime<Utc> =
        serde_json::from_value(r.body["resolved_at"].clone()).expect("resolved_at");
    (number.to_string(), at)
}

/// The rating links of a survey mail, by rating.
fn survey_links(m: &InboundEmail) -> Vec<String> {
    (1..=5)
        .map(|r| {
            m.text
                .lines()
                .find(|l| l.starts_with(&format!("{r} - ")))
                .and_then(|l| l.split_whitespace().last())
                .unwrap_or_else(|| panic!("no link for {r} in {}", m.text))
                .to_string()
        })
        .collect()
}

async fn get_page(app: &TestApp, url: &str) -> (StatusCode, String) {
    let r = app.client.get(url).send().await.expect("get");
    let status = r.status();
    (status, r.text().await.expect("body"))
}

fn csat_on() -> Value {
    json!({ "csat": { "enabled": true, "delay_minutes": 60 } })
}

#[tokio::test]
async fn a_resolution_sends_one_survey_after_the_delay_and_a_click_records_the_rating() {
    let s = setup(csat_on()).await;
    let (number, resolved) = resolved_ticket(&s, "carla@example.com").await;
    // Before the delay nothing is sent.
    let early = sweep(&s.app, resolved + Duration::minutes(30)).await;
    assert_eq!(early["jobs"]["done"], 0, "{early}");
    assert!(with_subject(&mails(&s.app), "How did we do?").is_empty());
    // After it, exactly one survey — however often the sweep runs.
    let due = resolved + Duration::minutes(61);
    // Two overlapping sweeps: the conditional claim lets one of them run the job.
    let (a, b) = tokio::join!(sweep(&s.app, due), sweep(&s.app, due));
    assert_eq!(
        a["jobs"]["done"].as_u64().unwrap_or(9) + b["jobs"]["done"].as_u64().unwrap_or(9),
        1,
        "{a} {b}"
    );
    sweep(&s.app, due).await;
    sweep(&s.app, due + Duration::minutes(5)).await;
    let all = mails(&s.app);
    let surveys = with_subject(&all, "How did we do?");
    assert_eq!(surveys.len(), 1, "one survey");
    let survey = surveys[0];
    assert_eq!(survey.to[0].address, "carla@example.com");
    assert!(survey.subject.contains(&format!("[#{number}]")));
    assert!(survey.text.contains("/unsubscribe/"), "{}", survey.text);
    let links = survey_links(survey);
    assert!(links.iter().all(|l| l.starts_with(&s.app.base)));

    // One click records the rating; the ticket and the dashboard show it.
    let (status, page) = get_page(&s.app, &links[3]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Thank you") && page.contains("We have recorded your rating"));
    let view = s
        .app
        .get(&format!("/api/v1/tickets/{number}"), &s.agent)
        .await;
    assert_eq!(view.body["csat"][0]["rating"], 4, "{:?}", view.body);
    assert!(view.body["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .any(|a| a["action"] == "csat_rated"));
    let dash = s.app.get("/api/v1/stats/dashboard", &s.agent).await;
    assert_eq!(dash.body["csat"], 4.0);
    assert_eq!(dash.body["csat_responses"], 1);

    // Replay: the stored answer is shown and nothing is counted twice.
    let (status, page) = get_page(&s.app, &links[3]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("already gave this rating"), "{page}");
    // Changing one's mind within the same survey updates the one answer.
    let (_, page) = get_page(&s.app, &links[1]).await;
    assert!(page.contains("updated your rating"), "{page}");
    let dash = s.app.get("/api/v1/stats/dashboard", &s.agent).await;
    assert_eq!(dash.body["csat"], 2.0);
    assert_eq!(dash.body["csat_responses"], 1);

    // The comment form posts back to the same token.
    let token_path = links[1].trim_start_matches(&s.app.base).to_string();
    let r = s
        .app
        .client
        .post(format!("{}{token_path}", s.app.base))
        .form(&[("comment", "Quick and <b>kind</b> help")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.expect("body");
    assert!(page.contains("Your comment was saved"));
    assert!(page.contains("&lt;b&gt;kind&lt;/b&gt;"), "escaped: {page}");
    let view = s
        .app
        .get(&format!("/api/v1/tickets/{number}"), &s.agent)
        .await;
    assert_eq!(
        view.body["csat"][0]["comment"],
        "Quick and <b>kind</b> help"
    );
    // Customers do not see the survey data on their own ticket view.
    let mine = s
        .app
        .get(
            &format!("/api/v1/tickets/{number}"),
            &s.app.customer("carla@example.com"),
        )
        .await;
    assert!(mine.body.get("csat").is_none(), "{:?}", mine.body);
}

#[tokio::test]
async fn tampered_and_expired_survey_links_are_rejected() {
    let s = setup(csat_on()).await;
    let (_, resolved) = resolved_ticket(&s, "dora@example.com").await;
    let (other, _) = resolved_ticket(&s, "eve@example.com").await;
    sweep(&s.app, resolved + Duration::minutes(61)).await;
    let all = mails(&s.app);
    let surveys = with_subject(&all, "How did we do?");
    assert_eq!(surveys.len(), 2);
    let dora = surveys
        .iter()
        .find(|m| m.to[0].address == "dora@example.com")
        .expect("dora's survey");
    let link = survey_links(dora)[4].clone();
    let token = link.rsplit('/').next().expect("token").to_string();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 5, "{token}");
    let other_id = s
        .app
        .get(&format!("/api/v1/tickets/{other}"), &s.agent)
        .await
        .body["ticket"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let forged = [
        // Another rating under the same signature.
        format!("{}.{}.1.{}.{}", parts[0], parts[1], parts[3], parts[4]),
        // Another ticket.
        format!(
            "{other_id}.{}.{}.{}.{}",
            parts[1], parts[2], parts[3], parts[4]
        ),
        // A later expiry.
        format!(
            "{}.{}.{}.{}.{}",
            parts[0], parts[1], parts[2], 4_000_000_000i64, parts[4]
        ),
        "garbage".to_string(),
    ];
    for f in &forged {
        let (status, page) = get_page(&s.app, &format!("{}/survey/{f}", s.app.base)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{f}: {page}");
        assert!(page.contains("This link is not valid"));
    }
    // A correctly signed link past its expiry is "gone", with a clear page.
    let secret =
        std::fs::read_to_string(s.app.data.path().join("keys").join("links.key")).expect("key");
    let secret: Vec<u8> = (0..secret.trim().len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&secret.trim()[i..i + 2], 16).expect("hex"))
        .collect();
    let expired = SurveyToken {
        ticket_id: helpdesk_domain::TicketId::parse(parts[0]).expect("id"),
        resolution_ms: parts[1].parse().expect("ms"),
        rating: 5,
        expires: (Utc::now() - Duration::minutes(1)).timestamp(),
    }
    .sign(&secret);
    let (status, page) = get_page(&s.app, &format!("{}/survey/{expired}", s.app.base)).await;
    assert_eq!(status, StatusCode::GONE, "{page}");
    assert!(page.contains("expired"));
    // Nothing was recorded by any of these.
    let dash = s.app.get("/api/v1/stats/dashboard", &s.agent).await;
    assert_eq!(dash.body["csat_responses"], 0);
}

#[tokio::test]
async fn unsubscribed_and_bouncing_customers_get_no_survey() {
    let s = setup(csat_on()).await;
    let (_, resolved) = resolved_ticket(&s, "first@example.com").await;
    sweep(&s.app, resolved + Duration::minutes(61)).await;
    let all = mails(&s.app);
    let first = with_subject(&all, "How did we do?");
    assert_eq!(first.len(), 1);
    // Unsubscribe through the link in that mail (GET asks, POST does).
    let url = first[0]
        .text
        .lines()
        .find_map(|l| l.split_whitespace().find(|w| w.contains("/unsubscribe/")))
        .expect("unsubscribe link")
        .to_string();
    let (status, page) = get_page(&s.app, &url).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<form"));
    let r = s.app.client.post(&url).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::OK);

    // The bounce flag inbound mail sets (a DSN for the address), set here directly.
    let table = SqliteTable::open(helpdesk::database_path(s.app.data.path())).expect("db");
    table
        .put(
            Item::new(
                Key::new("CU#bounce@example.com", "#BOUNCE"),
                1,
                json!({ "at": Utc::now() }),
            ),
            Condition::None,
        )
        .await
        .expect("bounce");

    let (n1, r1) = resolved_ticket(&s, "first@example.com").await;
    let (n2, _) = resolved_ticket(&s, "bounce@example.com").await;
    let report = sweep(&s.app, r1 + Duration::minutes(61)).await;
    assert_eq!(report["jobs"]["cancelled"], 2, "{report}");
    assert_eq!(with_subject(&mails(&s.app), "How did we do?").len(), 1);
    for (n, why) in [
        (n1, "the customer unsubscribed"),
        (n2, "the customer's address is bouncing"),
    ] {
        let jobs = s
            .app
            .get(&format!("/api/v1/tickets/{n}/follow-ups"), &s.agent)
            .await;
        assert_eq!(jobs.body[0]["kind"], "csat_survey");
        assert_eq!(jobs.body[0]["state"], "cancelled");
        assert_eq!(jobs.body[0]["outcome"], why);
    }
}

#[tokio::test]
async fn follow_up_and_auto_close_run_once_unless_the_customer_replies() {
    let s = setup(json!({
        "follow_up": { "enabled": true, "after_days": 3 },
        "auto_close": { "enabled": true, "after_days": 7 }
    }))
    .await;
    let (quiet, resolved) = resolved_ticket(&s, "quiet@example.com").await;
    let (talker, _) = resolved_ticket(&s, "talker@example.com").await;
    // The second customer answers: the ticket reopens, which cancels both jobs.
    let r = s
        .app
        .post(
            &format!("/api/v1/tickets/{talker}/messages"),
            &s.app.customer("talker@example.com"),
            json!({ "body": "Still broken, sorry." }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);

    sweep(&s.app, resolved + Duration::days(2)).await;
    assert!(with_subject(&mails(&s.app), "Did this solve it?").is_empty());
    let day3 = resolved + Duration::days(3) + Duration::minutes(1);
    sweep(&s.app, day3).await;
    sweep(&s.app, day3).await;
    let all = mails(&s.app);
    let follow_ups = with_subject(&all, "Did this solve it?");
    assert_eq!(follow_ups.len(), 1, "one follow-up, to the quiet customer");
    assert_eq!(follow_ups[0].to[0].address, "quiet@example.com");

    let day7 = resolved + Duration::days(7) + Duration::minutes(1);
    let report = sweep(&s.app, day7).await;
    assert_eq!(report["jobs"]["done"], 1, "{report}");
    sweep(&s.app, day7 + Duration::minutes(1)).await;
    let t = s
        .app
        .get(&format!("/api/v1/tickets/{quiet}"), &s.agent)
        .await;
    assert_eq!(t.body["ticket"]["status"], "closed");
    let closes: Vec<&Value> = t.body["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .filter(|a| a["action"] == "auto_closed")
        .collect();
    assert_eq!(closes.len(), 1);
    assert_eq!(closes[0]["actor"]["kind"], "system");
    let other = s
        .app
        .get(&format!("/api/v1/tickets/{talker}"), &s.agent)
        .await;
    assert_eq!(other.body["ticket"]["status"], "in_progress");
    let jobs = s
        .app
        .get(&format!("/api/v1/tickets/{talker}/follow-ups"), &s.agent)
        .await;
    let states: Vec<&str> = jobs
        .body
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| j["state"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(states, vec!["cancelled", "cancelled"], "{:?}", jobs.body);

    // Resolving again is a new resolution with its own jobs.
    resolve(&s, &talker).await;
    let jobs = s
        .app
        .get(&format!("/api/v1/tickets/{talker}/follow-ups"), &s.agent)
        .await;
    assert_eq!(jobs.body.as_array().expect("jobs").len(), 4);
}

#[tokio::test]
async fn an_agents_follow_up_reminds_the_assignee_once_and_can_be_cancelled() {
    let s = setup(json!({})).await;
    let t = s
        .app
        .create_ticket(
            &s.agent,
            json!({ "subject": "Refund", "body": "Please refund.", "channel": "email",
                "customer": { "email": "fay@example.com" }, "assignee": "ann@example.com" }),
        )
        .await;
    let number = t["number"].as_str().expect("number");
    let path = format!("/api/v1/tickets/{number}/follow-ups");
    let at = Utc::now() + Duration::days(2);
    let r = s
        .app
        .post(
            &path,
            &s.agent,
            json!({ "at": at, "note": "Check the refund landed" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let second = s
        .app
        .post(&path, &s.agent, json!({ "at": at + Duration::hours(1) }))
        .await;
    let second_id = second.body["id"].as_str().expect("id").to_string();
    // Bad input names the field.
    let bad = s
        .app
        .post(
            &path,
            &s.agent,
            json!({ "at": Utc::now() - Duration::hours(1) }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["field"], "at");
    // Customers cannot schedule or list.
    let c = s.app.customer("fay@example.com");
    assert_eq!(s.app.get(&path, &c).await.status, StatusCode::FORBIDDEN);

    let cancel = s
        .app
        .request(
            reqwest::Method::DELETE,
            &format!("{path}/{second_id}"),
            Some(&s.agent),
            None,
            &[],
        )
        .await;
    assert_eq!(cancel.status, StatusCode::OK);
    assert_eq!(cancel.body["state"], "cancelled");

    sweep(&s.app, at - Duration::minutes(1)).await;
    assert!(s
        .app
        .get("/api/v1/notifications", &s.agent)
        .await
        .body
        .as_array()
        .expect("list")
        .is_empty());
    let report = sweep(&s.app, at + Duration::days(1)).await;
    assert_eq!(report["jobs"]["done"], 1, "{report}");
    sweep(&s.app, at + Duration::days(1)).await;
    let notes = s.app.get("/api/v1/notifications", &s.agent).await;
    let notes = notes.body.as_array().expect("list").clone();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0]["text"]
        .as_str()
        .expect("text")
        .contains("Check the refund landed"));
    let view = s
        .app
        .get(&format!("/api/v1/tickets/{number}"), &s.agent)
        .await;
    let due: Vec<&Value> = view.body["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .filter(|a| a["action"] == "follow_up_due")
        .collect();
    assert_eq!(due.len(), 1);
}

#[tokio::test]
async fn status_updates_are_mailed_only_when_enabled() {
    let s = setup(json!({})).await;
    resolved_ticket(&s, "gil@example.com").await;
    assert!(with_subject(&mails(&s.app), "Update on your request").is_empty());
    settings(
        &s.app,
        json!({ "status_updates": { "enabled": true, "statuses": ["resolved"] } }),
    )
    .await;
    // A German translation is used for a German-speaking customer.
    let r = s
        .app
        .post(
            "/api/v1/templates",
            &s.app.admin(),
            json!({ "name": "status_resolved", "locale": "de", "subject": "Ihre Anfrage {{ticket.number}} ist gelöst",
                "body": "Hallo {{customer.first_name}}, Ihre Anfrage ist gelöst." }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    resolved_ticket(&s, "hal@example.com").await;
    let t = s
        .app
        .create_ticket(
            &s.agent,
            json!({ "subject": "Rechnung", "body": "Fehlt.", "channel": "email",
                "customer": { "email": "ida@example.com", "locale": "de" }, "assignee": "ann@example.com" }),
        )
        .await;
    resolve(&s, t["number"].as_str().expect("number")).await;
    let all = mails(&s.app);
    let english = with_subject(&all, "Update on your request");
    assert_eq!(english.len(), 1);
    assert_eq!(english[0].to[0].address, "hal@example.com");
    let german: Vec<&InboundEmail> = all
        .iter()
        .filter(|m| m.subject.starts_with("Ihre Anfrage"))
        .collect();
    assert_eq!(german.len(), 1);
    assert_eq!(german[0].to[0].address, "ida@example.com");
    assert!(german[0].text.contains("Hallo"));
}

#[tokio::test]
async fn settings_are_admin_only_validated_and_guarded_against_stale_writes() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/v1/automation/settings", &app.admin()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["csat"]["enabled"], false);
    app.create_agent("ann@example.com", "agent").await;
    let r = app
        .put(
            "/api/v1/automation/settings",
            &app.agent("ann@example.com"),
            csat_on(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .put(
            "/api/v1/automation/settings",
            &app.admin(),
            json!({ "csat": { "enabled": true, "link_valid_days": 0 } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "csat.link_valid_days");
    let r = app
        .put(
            "/api/v1/automation/settings",
            &app.admin(),
            json!({ "nonsense": 1 }),
        )
        .await;
    assert!(r.status.is_client_error());
    let ok = app
        .request(
            reqwest::Method::PUT,
            "/api/v1/automation/settings",
            Some(&app.admin()),
            Some(csat_on()),
            &[("If-Match", "\"v0\"")],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    let stale = app
        .request(
            reqwest::Method::PUT,
            "/api/v1/automation/settings",
            Some(&app.admin()),
            Some(json!({})),
            &[("If-Match", "\"v0\"")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn sla_pages_go_to_the_sms_outbox_once() {
    let app = TestApp::spawn().await;
    // A supervisor on call with a phone.
    let r = app
        .post(
            "/api/v1/agents",
            &app.admin(),
            json!({ "email": "sue@example.com", "name": "Sue", "role": "supervisor", "status": "available", "phone": "+447700900123", "on_call": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = app
        .put(
            "/api/v1/sla/policy",
            &app.admin(),
            json!({
                "calendar": serde_json::to_value(helpdesk_domain::sla::BusinessCalendar::twenty_four_seven()).expect("cal"),
                "rules": [{ "priority": "medium", "targets": { "first_response_minutes": 60 } }],
                "warning_thresholds": [75]
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.ticket_for(&app.admin(), "kim@example.com", "Down")
        .await;
    let later = Utc::now() + Duration::hours(2);
    helpdesk::sweep_once(app.data.path(), later)
        .await
        .expect("sweep");
    helpdesk::sweep_once(app.data.path(), later)
        .await
        .expect("sweep");
    let lines = std::fs::read_to_string(app.data.path().join("outbox").join("sms.jsonl"))
        .expect("sms outbox");
    let lines: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    // The breach pages the supervisor once (the 75 % warning of a medium ticket does not page).
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["to"], "+447700900123");
    let text = lines[0]["text"].as_str().expect("text");
    assert!(text.starts_with("HD-1 BREACH first response"), "{text}");
    assert!(text.len() <= 160);
    // The team is also e-mailed, from the escalation templates, once per alert and person:
    // the supervisor (the alert pages leads) for the breach; the warning pages nobody.
    let all = mails(&app);
    let breach = with_subject(&all, "SLA breached on HD-1");
    assert_eq!(
        breach.len(),
        1,
        "{:?}",
        all.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    assert_eq!(breach[0].to[0].address, "sue@example.com");
    assert!(
        breach[0]
            .text
            .contains("the first response target was missed"),
        "{}",
        breach[0].text
    );
    assert!(with_subject(&all, "SLA warning").is_empty());
    // And told in the console: one in-app notification for the breach, even though the sweep
    // ran twice.
    let notes = app
        .get("/api/v1/notifications", &app.agent("sue@example.com"))
        .await;
    assert_eq!(notes.status, StatusCode::OK, "{:?}", notes.body);
    let items = notes.body.as_array().cloned().unwrap_or_default();
    let sla: Vec<&Value> = items.iter().filter(|n| n["kind"] == "sla_breach").collect();
    assert_eq!(sla.len(), 1, "{items:?}");
    assert_eq!(sla[0]["number"], "HD-1");
    assert!(sla[0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("first response target was missed")));
}
