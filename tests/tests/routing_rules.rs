//! The routing pipeline over HTTP on the local runtime: rules as data, priority rules fired,
//! least-loaded assignment with audit lines, duplicates, escalation notices, waiting tickets,
//! rebalance, idempotency.
//!
//! The `serve` worker may route a new ticket before the test asks; every test therefore asks
//! through `POST /api/v1/routing/tickets/{id}` (which routes it, or says it already was) and
//! then checks the stored ticket, which is the same either way.

use helpdesk_tests::browser::Browser;
use helpdesk_tests::test_app::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn agent(app: &TestApp, email: &str, role: &str, body: Value) {
    let mut b = json!({ "email": email, "name": email.split('@').next().unwrap_or("a"), "role": role, "status": "available", "capacity": 5 });
    if let (Some(m), Some(extra)) = (b.as_object_mut(), body.as_object()) {
        for (k, v) in extra {
            m.insert(k.clone(), v.clone());
        }
    }
    let r = app.post("/api/v1/agents", &app.admin(), b).await;
    assert_eq!(r.status, StatusCode::CREATED, "agent: {:?}", r.body);
}

async fn put_rules(app: &TestApp, rules: Value) {
    let r = app.put("/api/v1/routing/rules", &app.admin(), rules).await;
    assert_eq!(r.status, StatusCode::OK, "rules: {:?}", r.body);
}

/// Routes (or finds routed) and returns the route outcome and the ticket view.
async fn route(app: &TestApp, id: &str) -> (Value, Value) {
    let sup = app.token("supervisor", Some("sup@example.com"));
    let r = app
        .post(&format!("/api/v1/routing/tickets/{id}"), &sup, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "route: {:?}", r.body);
    let v = app
        .get(&format!("/api/v1/tickets/{id}"), &app.admin())
        .await;
    assert_eq!(v.status, StatusCode::OK);
    (r.body, v.body)
}

fn actions(view: &Value, action: &str) -> Vec<Value> {
    view["audit"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["action"] == action)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

async fn customer_ticket(app: &TestApp, customer: &str, subject: &str, body: &str) -> String {
    let t = app
        .create_ticket(
            &app.customer(customer),
            json!({ "subject": subject, "body": body }),
        )
        .await;
    t["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn routed_to_the_least_loaded_qualified_agent_with_the_rule_that_fired() {
    let app = TestApp::spawn_with_routing().await;
    app.create_department("billing").await;
    app.create_department("sales").await;
    agent(
        &app,
        "ana@example.com",
        "agent",
        json!({ "departments": ["billing"] }),
    )
    .await;
    agent(
        &app,
        "bo@example.com",
        "agent",
        json!({ "departments": ["billing"] }),
    )
    .await;
    agent(
        &app,
        "cy@example.com",
        "agent",
        json!({ "departments": ["sales"] }),
    )
    .await;
    agent(
        &app,
        "di@example.com",
        "agent",
        json!({ "departments": ["billing"], "status": "offline" }),
    )
    .await;
    // Ana already holds a ticket.
    app.create_ticket(&app.admin(), json!({ "subject": "Old", "body": "x", "customer": { "email": "old@example.com" }, "assignee": "ana@example.com", "department": "billing" })).await;
    put_rules(
        &app,
        json!({
            "priority": { "rules": [ { "id": "outage", "keywords": ["outage", "site is down"], "action": { "set": "urgent" } } ] },
            "settings": { "default_department": "billing" }
        }),
    )
    .await;

    let id = customer_ticket(&app, "carla@example.com", "Total OUTAGE", "Our site is down since this morning and nobody in the office can work. We have tried again from several computers and the page still does not load at all.").await;
    let (_, view) = route(&app, &id).await;
    let t = &view["ticket"];
    assert_eq!(t["assignee"], "bo@example.com", "{t}");
    assert_eq!(t["status"], "assigned");
    assert_eq!(t["priority"], "urgent");
    assert_eq!(t["department"], "billing");
    assert_eq!(t["routing"]["priority_rules"], json!(["rule:outage"]));
    assert_eq!(
        t["routing"]["needs_triage"], true,
        "no classifier configured"
    );
    assert_eq!(t["routing"]["language"], "en");
    let routed = actions(&view, "routed");
    assert_eq!(routed.len(), 1, "{routed:?}");
    assert_eq!(routed[0]["actor"]["id"], "routing");
    let note = routed[0]["note"].as_str().unwrap_or("");
    assert!(note.contains("priority: urgent (rule:outage)"), "{note}");
    assert!(note.contains("assigned: bo@example.com"), "{note}");

    // Routing again changes nothing.
    let (again, view2) = route(&app, &id).await;
    assert_eq!(again["already_routed"], true);
    assert_eq!(view2["ticket"]["version"], view["ticket"]["version"]);
    assert_eq!(actions(&view2, "routed").len(), 1);

    // Ties (ana and bo now hold one ticket each, but bo's is urgent): ana, the least loaded.
    let id2 = customer_ticket(&app, "dan@example.com", "Question", "How do invoices work?").await;
    let (_, v2) = route(&app, &id2).await;
    assert_eq!(v2["ticket"]["assignee"], "ana@example.com");
    assert_eq!(v2["ticket"]["priority"], "medium");
}

#[tokio::test]
async fn near_duplicates_are_flagged_and_exact_resends_merged() {
    let app = TestApp::spawn_with_routing().await;
    let body = "I was charged twice for my subscription this month, please refund the second payment as soon as possible.";
    let first = customer_ticket(&app, "eve@example.com", "Charged twice", body).await;
    route(&app, &first).await;
    let near = customer_ticket(&app, "eve@example.com", "Charged twice again", "Hello, I was charged twice for my subscription this month. Please refund the second payment!").await;
    let (_, v) = route(&app, &near).await;
    let dup = &v["ticket"]["routing"]["possible_duplicate"];
    assert_eq!(dup["ticket_id"], first.as_str(), "{v}");
    let score = dup["score"].as_f64().unwrap_or(0.0);
    assert!((0.5..=1.0).contains(&score), "score {score}");
    assert_eq!(v["ticket"]["status"], "new", "flagged, not merged");
    // Agents see the flag in the console and merge from it.
    let near_number = v["ticket"]["number"].as_str().expect("number").to_string();
    let first_number = dup["number"].as_str().expect("number").to_string();
    let mut b = Browser::new(&app);
    b.sign_in(&app.agent("ana@example.com")).await;
    let (status, html, _) = b.get(&format!("/app/tickets/{near_number}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&format!(
            "Possible duplicate of <a href=\"/app/tickets/{first_number}\">{first_number}</a>"
        )),
        "{html}"
    );
    assert!(html.contains(&format!("Merge into {first_number}")));
    let csrf = b.csrf().await;
    let resp = b
        .post(
            &format!("/app/tickets/{near_number}/merge"),
            &[("_csrf", csrf.as_str()), ("into", first_number.as_str())],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let merged = app
        .get(&format!("/api/v1/tickets/{near_number}"), &app.admin())
        .await;
    assert_eq!(merged.body["ticket"]["merged_into"], first.as_str());
    // Another customer's similar ticket is not a duplicate.
    let other = customer_ticket(&app, "fay@example.com", "Charged twice", body).await;
    let (_, v) = route(&app, &other).await;
    assert!(v["ticket"]["routing"]["possible_duplicate"].is_null());
    // The same body again from eve: merged into the first.
    let resend = customer_ticket(&app, "eve@example.com", "Fwd: charged twice", body).await;
    let (_, v) = route(&app, &resend).await;
    assert_eq!(v["ticket"]["status"], "closed", "{v}");
    assert_eq!(v["ticket"]["merged_into"], first.as_str());
    let (again, _) = route(&app, &resend).await;
    assert_eq!(again["already_routed"], true);
}

fn escalation_mails(app: &TestApp) -> Vec<String> {
    let dir = app.data.path().join("outbox").join("email");
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            if text.contains("[Escalated]") {
                out.push(text);
            }
        }
    }
    out
}

/// The SMS the local runtime sent (`DATA/outbox/sms.jsonl`).
fn sms_texts(app: &TestApp) -> Vec<Value> {
    std::fs::read_to_string(app.data.path().join("outbox").join("sms.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test]
async fn escalation_rules_notify_supervisors_once_and_count() {
    let app = TestApp::spawn_with_routing().await;
    agent(
        &app,
        "sup@example.com",
        "supervisor",
        json!({ "phone": "+447700900123", "on_call": true }),
    )
    .await;
    let r = app
        .post(
            "/api/v1/customers",
            &app.admin(),
            json!({ "email": "boss@example.com", "tier": "enterprise", "business_owner": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    put_rules(
        &app,
        json!({
            "priority": { "rules": [ { "id": "cannot-log-in", "keywords": ["cannot log in"], "action": { "set": "high" } } ] },
            "escalation": [
                { "id": "urgent-owner", "when": { "priorities": ["urgent"], "business_owner": true }, "then": { "notify_supervisors": true } }
            ]
        }),
    )
    .await;
    let id = customer_ticket(
        &app,
        "boss@example.com",
        "I cannot log in",
        "Since today I cannot log in to the admin area.",
    )
    .await;
    let (_, v) = route(&app, &id).await;
    let t = &v["ticket"];
    // high by rule, +1 for a business owner → urgent → escalated.
    assert_eq!(t["priority"], "urgent", "{t}");
    assert_eq!(t["routing"]["escalated"], true);
    assert_eq!(t["routing"]["escalation_rules"], json!(["urgent-owner"]));
    assert_eq!(actions(&v, "escalated").len(), 1);
    let mails = escalation_mails(&app);
    assert_eq!(mails.len(), 1, "one notice");
    assert!(mails[0].contains("sup@example.com"));
    // The supervisor on call is paged by SMS too (the SLA alerts' outbox), once. The page goes
    // out right after the escalation commits, possibly from the routing worker that got the
    // ticket first: wait for it (bounded), then check nothing more came.
    for _ in 0..100 {
        if !sms_texts(&app).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let texts = sms_texts(&app);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0]["to"], "+447700900123");
    let number = t["number"].as_str().expect("number");
    assert!(
        texts[0]["text"]
            .as_str()
            .unwrap_or("")
            .starts_with(&format!(
                "{number} ESCALATED (urgent, business owner): urgent-owner."
            )),
        "{texts:?}"
    );
    route(&app, &id).await;
    assert_eq!(
        escalation_mails(&app).len(),
        1,
        "routing again notifies nobody"
    );
    assert_eq!(sms_texts(&app).len(), 1, "nor pages anybody");
}

#[tokio::test]
async fn waiting_tickets_go_to_an_agent_who_becomes_available() {
    let app = TestApp::spawn_with_routing().await;
    app.create_department("support").await;
    agent(
        &app,
        "gil@example.com",
        "agent",
        json!({ "departments": ["support"], "status": "offline" }),
    )
    .await;
    put_rules(
        &app,
        json!({ "settings": { "default_department": "support" } }),
    )
    .await;
    let id = customer_ticket(
        &app,
        "hal@example.com",
        "Help",
        "Something is wrong with my account.",
    )
    .await;
    let (_, v) = route(&app, &id).await;
    assert!(v["ticket"]["assignee"].is_null(), "nobody available: waits");
    assert_eq!(v["ticket"]["department"], "support");
    let r = app
        .put(
            "/api/v1/agents/gil@example.com/status",
            &app.agent("gil@example.com"),
            json!({ "status": "available" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let v = app
        .get(&format!("/api/v1/tickets/{id}"), &app.admin())
        .await;
    assert_eq!(v.body["ticket"]["assignee"], "gil@example.com");
    assert_eq!(actions(&v.body, "assigned").len(), 1);
}

#[tokio::test]
async fn rebalance_previews_then_moves_work_off_offline_agents() {
    let app = TestApp::spawn_with_routing().await;
    agent(&app, "ivy@example.com", "agent", json!({})).await;
    agent(&app, "jo@example.com", "agent", json!({})).await;
    let t = app.create_ticket(&app.admin(), json!({ "subject": "Held", "body": "x", "customer": { "email": "k@example.com" }, "assignee": "ivy@example.com" })).await;
    let id = t["id"].as_str().expect("id").to_string();
    let r = app
        .put(
            "/api/v1/agents/ivy@example.com/status",
            &app.admin(),
            json!({ "status": "offline" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let sup = app.token("supervisor", Some("sup@example.com"));
    let agent_token = app.agent("jo@example.com");
    let r = app
        .post(
            "/api/v1/routing/rebalance?dry_run=true",
            &agent_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post("/api/v1/routing/rebalance?dry_run=maybe", &sup, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let plan = app
        .post("/api/v1/routing/rebalance?dry_run=true", &sup, json!({}))
        .await;
    assert_eq!(plan.status, StatusCode::OK, "{:?}", plan.body);
    assert_eq!(plan.body["moves"][0]["ticket_id"], id.as_str());
    assert_eq!(plan.body["moves"][0]["to"], "jo@example.com");
    assert_eq!(plan.body["applied"], 0);
    let still = app
        .get(&format!("/api/v1/tickets/{id}"), &app.admin())
        .await;
    assert_eq!(
        still.body["ticket"]["assignee"], "ivy@example.com",
        "dry run moves nothing"
    );
    let done = app.post("/api/v1/routing/rebalance", &sup, json!({})).await;
    assert_eq!(done.body["applied"], 1, "{:?}", done.body);
    let moved = app
        .get(&format!("/api/v1/tickets/{id}"), &app.admin())
        .await;
    assert_eq!(moved.body["ticket"]["assignee"], "jo@example.com");
    assert_eq!(actions(&moved.body, "transferred").len(), 1);
    let again = app
        .post("/api/v1/routing/rebalance?dry_run=true", &sup, json!({}))
        .await;
    assert_eq!(again.body["moves"], json!([]));
}

#[tokio::test]
async fn rules_are_validated_versioned_and_admin_only() {
    let app = TestApp::spawn_with_routing().await;
    let r = app
        .get("/api/v1/routing/rules", &app.agent("a@example.com"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // A fresh install reads the seeded defaults as version 1.
    assert_eq!(
        r.headers.get("etag").and_then(|v| v.to_str().ok()),
        Some("\"v1\"")
    );
    assert_eq!(r.body["priority"]["rules"][0]["id"], "default-outage");
    assert_eq!(r.body["priority"]["rules"][0]["seeded"], true);
    let r = app
        .put(
            "/api/v1/routing/rules",
            &app.agent("a@example.com"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let bad = json!({ "priority": { "rules": [ { "id": "x", "keywords": ["!!!"], "action": { "set": "high" } } ] } });
    let r = app.put("/api/v1/routing/rules", &app.admin(), bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.body["field"], "priority.rules[0].keywords[0]",
        "{:?}",
        r.body
    );
    let r = app
        .put(
            "/api/v1/routing/rules",
            &app.admin(),
            json!({ "settings": { "default_department": "nowhere" } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    put_rules(&app, json!({})).await;
    // A single rule, then a stale write.
    let rule =
        json!({ "id": "charged-twice", "keywords": ["charged twice"], "action": { "raise": 1 } });
    let r = app
        .request(
            reqwest::Method::PUT,
            "/api/v1/routing/rules/priority/charged-twice",
            Some(&app.admin()),
            Some(rule.clone()),
            &[("If-Match", "\"v2\"")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["priority"]["rules"][0]["id"], "charged-twice");
    let r = app
        .request(
            reqwest::Method::PUT,
            "/api/v1/routing/rules/priority/charged-twice",
            Some(&app.admin()),
            Some(rule),
            &[("If-Match", "\"v2\"")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/routing/rules/priority/charged-twice",
            Some(&app.admin()),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["priority"]["rules"], json!([]));
    let r = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/routing/rules/priority/charged-twice",
            Some(&app.admin()),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
