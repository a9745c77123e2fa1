//! Escalation beyond creation, on the local runtime (embedded table + queue, no HTTP): SMS pages
//! of "notify supervisors" through the SLA alerts' paging path (claims, rate limit, opt-outs,
//! a retry after the provider failed pages once), escalation rules evaluated again on customer
//! replies and reopens (idempotent), seeded default priority rules, and duplicates across an
//! organisation's customers.

use async_trait::async_trait;
use helpdesk_adapters::local::queue::{QueueSettings, SqliteQueue, ROUTING};
use helpdesk_adapters::local::SqliteTable;
use helpdesk_app::alerts::{PagingOptions, SmsError, SmsOutcome, SmsSender};
use helpdesk_app::queue::RoutingQueue;
use helpdesk_app::routing::{RoutingEvent, RoutingRules};
use helpdesk_app::{Helpdesk, SystemClock, UlidGen};
use helpdesk_domain::{Actor, EmailAddress, PhoneNumber, Role, Ticket, TicketId};
use helpdesk_tests::clock::FixedClock;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An SMS provider that records what it sent; it can be told to be unavailable, and numbers
/// ending in 99 have opted out (as moto's SNS does).
#[derive(Default)]
struct FakeSms {
    sent: Mutex<Vec<(String, String)>>,
    down: Mutex<bool>,
}

impl FakeSms {
    fn sent(&self) -> Vec<(String, String)> {
        self.sent.lock().expect("lock").clone()
    }
    fn set_down(&self, down: bool) {
        *self.down.lock().expect("lock") = down;
    }
}

#[async_trait]
impl SmsSender for FakeSms {
    async fn send(&self, to: &PhoneNumber, text: &str) -> Result<SmsOutcome, SmsError> {
        if *self.down.lock().expect("lock") {
            return Err(SmsError::Unavailable("provider down".into()));
        }
        if to.as_str().ends_with("99") {
            return Ok(SmsOutcome::OptedOut);
        }
        self.sent
            .lock()
            .expect("lock")
            .push((to.as_str().to_string(), text.to_string()));
        Ok(SmsOutcome::Sent)
    }
}

struct Local {
    _dir: tempfile::TempDir,
    table: Arc<SqliteTable>,
    queue: Arc<SqliteQueue>,
    sms: Arc<FakeSms>,
    h: Helpdesk,
}

fn local(max_per_window: u32) -> Local {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("helpdesk.db");
    let table = Arc::new(SqliteTable::open(&db).expect("table"));
    let settings = QueueSettings {
        visibility: Duration::from_secs(60),
        max_receives: 5,
        backoff_base: Duration::ZERO,
        backoff_max: Duration::ZERO,
    };
    let queue = Arc::new(SqliteQueue::open(&db, ROUTING, settings).expect("queue"));
    let sms = Arc::new(FakeSms::default());
    // A clock that stands still in the middle of a 10-minute SMS rate window, so a test never
    // straddles two windows.
    let now = chrono::Utc::now().timestamp();
    let mid_window = now - now.rem_euclid(600) + 300;
    let clock = FixedClock::at(chrono::DateTime::from_timestamp(mid_window, 0).expect("time"));
    let h = Helpdesk::new(table.clone(), Arc::new(clock), Arc::new(UlidGen::default()))
        .with_routing_queue(queue.clone())
        .with_sms_paging(
            sms.clone(),
            PagingOptions {
                max_per_window,
                console_url: Some("https://desk.example.com".into()),
            },
        );
    Local {
        _dir: dir,
        table,
        queue,
        sms,
        h,
    }
}

fn admin() -> Actor {
    Actor::Staff {
        email: EmailAddress::parse("admin@example.com").expect("e"),
        role: Role::Admin,
    }
}

fn customer(email: &str) -> Actor {
    Actor::Customer {
        email: EmailAddress::parse(email).expect("e"),
    }
}

async fn lead(h: &Helpdesk, email: &str, role: &str, phone: &str, on_call: bool) {
    let input = serde_json::from_value(json!({
        "email": email, "name": email, "role": role, "status": "available",
        "phone": phone, "on_call": on_call
    }))
    .expect("agent input");
    h.create_agent(&admin(), input).await.expect("agent");
}

async fn rules(h: &Helpdesk, doc: Value) {
    let rules: RoutingRules = serde_json::from_value(doc).expect("rules");
    h.put_routing_rules(&admin(), rules, None)
        .await
        .expect("rules");
}

async fn ticket(h: &Helpdesk, from: &str, subject: &str, body: &str) -> TicketId {
    let input =
        serde_json::from_value(json!({ "subject": subject, "body": body })).expect("new ticket");
    let (t, _) = h
        .create_ticket(&customer(from), input, None)
        .await
        .expect("create");
    t.id
}

async fn reply(h: &Helpdesk, from: &str, id: &TicketId, body: &str) {
    let input = serde_json::from_value(json!({ "body": body })).expect("message");
    h.add_message(&customer(from), &id.to_string(), input)
        .await
        .expect("reply");
}

/// Processes everything queued (as the `serve` worker does), asserting nothing failed.
async fn drain(l: &Local) {
    loop {
        let r = l.queue.work_once(&l.h, 10).await.expect("work");
        assert_eq!(r.retrying + r.dead_lettered, 0, "{r:?}");
        if r.received == 0 {
            return;
        }
    }
}

async fn load(h: &Helpdesk, id: &TicketId) -> (Ticket, Vec<String>) {
    let v = h.get_ticket(&admin(), &id.to_string()).await.expect("view");
    let actions = v.audit.iter().map(|a| a.action.clone()).collect();
    (v.ticket, actions)
}

fn count(actions: &[String], what: &str) -> usize {
    actions.iter().filter(|a| *a == what).count()
}

#[tokio::test]
async fn escalation_pages_leads_on_call_once_even_when_the_provider_failed_first() {
    let l = local(5);
    lead(&l.h, "sup@example.com", "supervisor", "+447700900111", true).await;
    lead(&l.h, "boss@example.com", "admin", "+447700900222", true).await;
    lead(
        &l.h,
        "off@example.com",
        "supervisor",
        "+447700900333",
        false,
    )
    .await;
    lead(
        &l.h,
        "stop@example.com",
        "supervisor",
        "+447700900199",
        true,
    )
    .await;
    lead(&l.h, "agent@example.com", "agent", "+447700900444", false).await;
    rules(
        &l.h,
        json!({
            "priority": { "rules": [ { "id": "outage", "keywords": ["outage"], "action": { "set": "urgent" } } ] },
            "escalation": [ { "id": "urgent", "when": { "priorities": ["urgent"] }, "then": { "notify_supervisors": true } } ]
        }),
    )
    .await;
    // The provider is down when routing escalates: routing commits, the page stays pending
    // and the event fails (it will be retried).
    l.sms.set_down(true);
    let id = ticket(&l.h, "cu@example.com", "Outage", "Total outage since 9am.").await;
    let r = l.queue.work_once(&l.h, 10).await.expect("work");
    assert_eq!((r.received, r.retrying), (1, 1), "{r:?}");
    let (t, actions) = load(&l.h, &id).await;
    assert!(t.routing.escalated);
    assert_eq!(count(&actions, "escalated"), 1);
    assert!(l.sms.sent().is_empty());
    assert!(
        l.h.is_unrouted(&id).await.expect("marker"),
        "still to finish"
    );

    // The retry (and a duplicate delivery) page each lead on call once.
    l.sms.set_down(false);
    l.queue
        .enqueue(&RoutingEvent {
            ticket_id: id,
            reason: "duplicate".into(),
        })
        .await
        .expect("enqueue");
    drain(&l).await;
    let mut phones: Vec<String> = l.sms.sent().into_iter().map(|(p, _)| p).collect();
    phones.sort();
    assert_eq!(
        phones,
        vec!["+447700900111", "+447700900222"],
        "supervisors and admins on call, not the opted-out phone, nor agents or leads off call"
    );
    let text = &l.sms.sent()[0].1;
    assert_eq!(
        text,
        &format!(
            "{} ESCALATED (urgent): urgent. Open: https://desk.example.com/app/tickets/{}",
            t.number, t.number
        )
    );
    assert!(!text.contains("cu@example.com"));
    assert!(!l.h.is_unrouted(&id).await.expect("marker"));
    // Nothing left to page: delivering again sends nothing.
    assert!(l
        .h
        .deliver_escalation_pages(&id)
        .await
        .expect("deliver")
        .is_empty());
    assert_eq!(l.sms.sent().len(), 2);
    let (_, actions) = load(&l.h, &id).await;
    assert_eq!(count(&actions, "escalated"), 1);
}

#[tokio::test]
async fn escalation_pages_share_the_per_phone_rate_limit() {
    let l = local(1);
    lead(&l.h, "sup@example.com", "supervisor", "+447700900111", true).await;
    rules(
        &l.h,
        json!({ "escalation": [ { "id": "vip", "when": { "keywords": ["refund"] }, "then": { "notify_supervisors": true } } ] }),
    )
    .await;
    let a = ticket(&l.h, "a@example.com", "Refund", "I want a refund now.").await;
    let b = ticket(&l.h, "b@example.com", "Refund?", "Refund my order please.").await;
    drain(&l).await;
    assert!(load(&l.h, &a).await.0.routing.escalated);
    assert!(load(&l.h, &b).await.0.routing.escalated);
    assert_eq!(l.sms.sent().len(), 1, "one SMS per phone per window");
}

#[tokio::test]
async fn customer_replies_reevaluate_escalation_once() {
    let l = local(5);
    lead(&l.h, "sup@example.com", "supervisor", "+447700900111", true).await;
    rules(
        &l.h,
        json!({
            "escalation": [
                { "id": "ignored", "when": { "unanswered_replies_at_least": 3 }, "then": { "raise_to": "urgent", "notify_supervisors": true } },
                { "id": "legal", "when": { "keywords": ["lawyer"] }, "then": { "raise_to": "high" } }
            ]
        }),
    )
    .await;
    let id = ticket(
        &l.h,
        "cu@example.com",
        "Export",
        "The export button does nothing.",
    )
    .await;
    drain(&l).await;
    let (t, _) = load(&l.h, &id).await;
    assert!(!t.routing.escalated);
    assert_eq!(t.priority.to_string(), "medium");

    // Second unanswered message: queued for evaluation, nothing fires.
    reply(&l.h, "cu@example.com", &id, "Any news?").await;
    assert!(l.h.is_unrouted(&id).await.expect("marker"), "reply queued");
    drain(&l).await;
    let (t, actions) = load(&l.h, &id).await;
    assert!(!t.routing.escalated, "two unanswered messages");
    assert_eq!(count(&actions, "escalated"), 0);
    assert!(l.sms.sent().is_empty());

    // Third: the rule fires once, however often the event is delivered.
    reply(&l.h, "cu@example.com", &id, "Hello??").await;
    l.queue
        .enqueue(&RoutingEvent {
            ticket_id: id,
            reason: "customer_replied".into(),
        })
        .await
        .expect("duplicate event");
    drain(&l).await;
    let (t, actions) = load(&l.h, &id).await;
    assert!(t.routing.escalated);
    assert_eq!(t.routing.escalation_rules, vec!["ignored"]);
    assert_eq!(t.priority.to_string(), "urgent");
    assert_eq!(count(&actions, "escalated"), 1);
    assert_eq!(
        count(&actions, "routed"),
        1,
        "one routing, then re-evaluations"
    );
    assert_eq!(l.sms.sent().len(), 1);

    // A fourth reply does not notify again for the same rule; a new condition (a keyword in
    // the reply) fires its own rule.
    reply(&l.h, "cu@example.com", &id, "Still nothing.").await;
    drain(&l).await;
    assert_eq!(count(&load(&l.h, &id).await.1, "escalated"), 1);
    reply(&l.h, "cu@example.com", &id, "My lawyer will call you.").await;
    drain(&l).await;
    let (t, actions) = load(&l.h, &id).await;
    assert_eq!(t.routing.escalation_rules, vec!["ignored", "legal"]);
    assert_eq!(t.priority.to_string(), "urgent", "never lowered");
    assert_eq!(count(&actions, "escalated"), 2);
    assert_eq!(l.sms.sent().len(), 1, "the legal rule does not page");
}

#[tokio::test]
async fn reopens_count_towards_escalation() {
    let l = local(5);
    rules(
        &l.h,
        json!({ "escalation": [ { "id": "reopened", "when": { "reopened_more_than": 1 }, "then": { "raise_to": "high" } } ] }),
    )
    .await;
    // An agent owns the ticket (routing assigns it), so a customer's reply reopens it to them.
    let agent = serde_json::from_value(json!({
        "email": "ana@example.com", "name": "Ana", "role": "agent", "status": "available"
    }))
    .expect("agent");
    l.h.create_agent(&admin(), agent).await.expect("agent");
    let id = ticket(&l.h, "cu@example.com", "Sync", "Sync stopped working.").await;
    drain(&l).await;
    assert_eq!(
        load(&l.h, &id).await.0.assignee.map(|a| a.to_string()),
        Some("ana@example.com".into())
    );
    for round in 1..=2 {
        let resolve = serde_json::from_value(json!({ "status": "resolved" })).expect("patch");
        l.h.update_ticket(&admin(), &id.to_string(), resolve, None)
            .await
            .expect("resolve");
        reply(&l.h, "cu@example.com", &id, "It broke again.").await;
        drain(&l).await;
        let (t, actions) = load(&l.h, &id).await;
        assert_eq!(t.status.to_string(), "in_progress");
        assert_eq!(t.reopen_count, round);
        assert_eq!(t.routing.escalated, round == 2, "round {round}");
        assert_eq!(count(&actions, "escalated"), usize::from(round == 2));
    }
    assert_eq!(load(&l.h, &id).await.0.priority.to_string(), "high");
}

#[tokio::test]
async fn default_priority_rules_are_seeded_once_and_admin_rules_win() {
    let l = local(5);
    let (seeded, version) = l.h.get_routing_rules(&admin()).await.expect("rules");
    assert_eq!(version, 1, "seeded as the first version");
    let ids: Vec<&str> = seeded
        .priority
        .rules
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(
        ids,
        vec![
            "default-outage",
            "default-locked-out",
            "default-charged-twice"
        ]
    );
    let id = ticket(
        &l.h,
        "a@example.com",
        "Help",
        "I am locked out of my account.",
    )
    .await;
    drain(&l).await;
    let (t, _) = load(&l.h, &id).await;
    assert_eq!(t.priority.to_string(), "high");
    assert_eq!(t.routing.priority_rules, vec!["rule:default-locked-out"]);

    // Deleted for good: reading again does not seed it back.
    l.h.delete_routing_rule(
        &admin(),
        helpdesk_app::routing::rules::RuleKind::Priority,
        "default-locked-out",
        None,
    )
    .await
    .expect("delete");
    let (rules, version) = l.h.get_routing_rules(&admin()).await.expect("rules");
    assert_eq!(version, 2);
    assert!(rules
        .priority
        .rules
        .iter()
        .all(|r| r.id != "default-locked-out"));
    let id = ticket(
        &l.h,
        "b@example.com",
        "Help",
        "I am locked out of my account.",
    )
    .await;
    drain(&l).await;
    assert_eq!(load(&l.h, &id).await.0.priority.to_string(), "medium");

    // An admin's rule, added after the seeded ones, wins over them.
    let rule = serde_json::from_value(
        json!({ "id": "maintenance", "keywords": ["planned outage"], "action": { "set": "low" } }),
    )
    .expect("rule");
    l.h.upsert_priority_rule(&admin(), rule, None)
        .await
        .expect("upsert");
    let id = ticket(
        &l.h,
        "c@example.com",
        "Planned outage?",
        "Is the planned outage tonight?",
    )
    .await;
    let other = ticket(&l.h, "d@example.com", "Outage", "There is an outage.").await;
    drain(&l).await;
    let (t, _) = load(&l.h, &id).await;
    assert_eq!(t.priority.to_string(), "low");
    assert_eq!(t.routing.priority_rules, vec!["rule:maintenance"]);
    assert_eq!(load(&l.h, &other).await.0.priority.to_string(), "urgent");
}

async fn org_customer(h: &Helpdesk, email: &str, account: &str) {
    let input =
        serde_json::from_value(json!({ "email": email, "account_id": account })).expect("customer");
    h.create_customer(&admin(), input).await.expect("customer");
}

#[tokio::test]
async fn near_duplicates_are_found_across_an_organisation() {
    let l = local(5);
    org_customer(&l.h, "ann@acme.example", "acme").await;
    org_customer(&l.h, "ben@acme.example", "acme").await;
    org_customer(&l.h, "cat@other.example", "other").await;
    let body = "Our invoice for March shows the annual plan twice and the card was charged for both, please refund one of them.";
    let first = ticket(&l.h, "ann@acme.example", "Invoice wrong", body).await;
    drain(&l).await;
    // A colleague at the same organisation reports the same problem.
    let colleague = ticket(
        &l.h,
        "ben@acme.example",
        "Invoice wrong",
        "Hi, our invoice for March shows the annual plan twice and the card was charged for both. Please refund one of them!",
    )
    .await;
    // Another organisation's identical text is not a duplicate of it.
    let stranger = ticket(&l.h, "cat@other.example", "Invoice wrong", body).await;
    drain(&l).await;
    let (t, _) = load(&l.h, &colleague).await;
    let dup = t.routing.possible_duplicate.expect("flagged");
    assert_eq!(dup.ticket_id, first);
    assert!(dup.score >= 0.5, "score {}", dup.score);
    assert_eq!(t.status.to_string(), "new", "flagged, not merged");
    let (t, _) = load(&l.h, &stranger).await;
    assert!(t.routing.possible_duplicate.is_none(), "{:?}", t.routing);
}

#[tokio::test]
async fn a_process_that_cannot_page_hands_the_page_to_the_routing_queue() {
    let l = local(5);
    lead(&l.h, "sup@example.com", "supervisor", "+447700900111", true).await;
    rules(
        &l.h,
        json!({ "escalation": [ { "id": "vip", "when": { "keywords": ["refund"] }, "then": { "notify_supervisors": true } } ] }),
    )
    .await;
    let id = ticket(&l.h, "a@example.com", "Refund", "I want a refund now.").await;
    // The API function routes it on demand: it has the queue but no SMS.
    let api = Helpdesk::new(
        l.table.clone(),
        Arc::new(SystemClock),
        Arc::new(UlidGen::default()),
    )
    .with_routing_queue(l.queue.clone());
    let outcome = api.route_ticket(&id).await.expect("route");
    assert!(
        outcome
            .decisions
            .iter()
            .any(|d| d == "paged by SMS: handed to the routing queue"),
        "{:?}",
        outcome.decisions
    );
    assert!(l.sms.sent().is_empty());
    assert!(
        l.h.is_unrouted(&id).await.expect("marker"),
        "marked for the worker"
    );
    // The worker (which pages) sends it, once, from either queued event.
    drain(&l).await;
    assert_eq!(l.sms.sent().len(), 1);
    assert!(!l.h.is_unrouted(&id).await.expect("marker"));
    assert_eq!(count(&load(&l.h, &id).await.1, "escalated"), 1);
}

fn mail(id: &str, subject: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!("From: carla@example.com\r\nTo: support@support.example.com\r\nMessage-ID: <{id}>\r\nSubject: {subject}\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n{extra_headers}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").into_bytes()
}

#[tokio::test]
async fn inbound_email_replies_reevaluate_escalation() {
    let l = local(5);
    lead(&l.h, "sup@example.com", "supervisor", "+447700900111", true).await;
    rules(
        &l.h,
        json!({ "escalation": [ { "id": "ignored", "when": { "unanswered_replies_at_least": 2 }, "then": { "notify_supervisors": true } } ] }),
    )
    .await;
    let blobs = helpdesk_adapters::local::blobs::FileBlobStore::new(l._dir.path());
    let cfg = helpdesk_app::inbound::InboundConfig {
        signer: helpdesk_mail::ThreadSigner::new(
            b"0123456789abcdef0123456789abcdef",
            "support.example.com",
        ),
        limits: helpdesk_mail::Limits::default(),
        support_local: "support".into(),
    };
    let first =
        l.h.ingest_email(
            &mail(
                "first@mail.example.com",
                "Invoice missing",
                "",
                "Where is my invoice?",
            ),
            &blobs,
            &cfg,
        )
        .await
        .expect("ingest");
    let number = first.ticket.expect("a ticket").to_string();
    drain(&l).await;
    let (t, _) = load(
        &l.h,
        &TicketId::parse(&first_id(&l.h, &number).await).expect("id"),
    )
    .await;
    assert!(!t.routing.escalated);
    let reply =
        l.h.ingest_email(
            &mail(
                "second@mail.example.com",
                "Re: Invoice missing",
                "In-Reply-To: <first@mail.example.com>\r\n",
                "Any news?",
            ),
            &blobs,
            &cfg,
        )
        .await
        .expect("ingest");
    assert_eq!(reply.ticket.map(|n| n.to_string()), Some(number.clone()));
    drain(&l).await;
    let (t, actions) = load(&l.h, &t.id).await;
    assert!(t.routing.escalated, "the e-mail reply was evaluated");
    assert_eq!(count(&actions, "escalated"), 1);
    assert_eq!(l.sms.sent().len(), 1);
}

async fn first_id(h: &Helpdesk, number: &str) -> String {
    h.get_ticket(&admin(), number)
        .await
        .expect("view")
        .ticket
        .id
        .to_string()
}
