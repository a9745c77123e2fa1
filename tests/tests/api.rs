//! The ticket API end to end over HTTP against the real self-hosted application.

use helpdesk_tests::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;

fn id(t: &Value) -> String {
    t["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn health_and_openapi_are_public() {
    let app = TestApp::spawn().await;
    let r = app.request(Method::GET, "/healthz", None, None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "ok");
    let r = app
        .request(Method::GET, "/api/v1/openapi.json", None, None, &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let paths = r.body["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/tickets",
        "/api/v1/tickets/{ticket}",
        "/api/v1/tickets/bulk",
        "/api/v1/tickets/{ticket}/merge",
        "/api/v1/agents",
        "/api/v1/customers/{email}",
    ] {
        assert!(paths.contains_key(p), "openapi documents {p}");
    }
    assert!(r.body["components"]["schemas"]["Problem"].is_object());
    assert!(r.body["components"]["securitySchemes"]["bearer"].is_object());
    let r = app
        .request(Method::GET, "/api/v1/nope", None, None, &[])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.content_type(), "application/problem+json");
}

#[tokio::test]
async fn authentication_is_required_and_checked() {
    let app = TestApp::spawn().await;
    let r = app
        .request(Method::GET, "/api/v1/tickets", None, None, &[])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.content_type(), "application/problem+json");
    assert_eq!(
        r.body["type"],
        "https://helpdesk.dev/problems/unauthenticated"
    );
    let r = app.get("/api/v1/tickets", "not.a.token").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // A token signed with another data directory's key is refused.
    let other = TestApp::spawn().await;
    let r = app.get("/api/v1/tickets", &other.admin()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app.get("/api/v1/me", &app.agent("ana@example.com")).await;
    assert_eq!(r.body, json!({ "role": "agent", "id": "ana@example.com" }));
}

#[tokio::test]
async fn invalid_input_is_a_problem_naming_the_field() {
    let app = TestApp::spawn().await;
    let agent = app.agent("ana@example.com");
    let r = app
        .post(
            "/api/v1/tickets",
            &agent,
            json!({ "body": "x", "customer": { "email": "c@example.com" } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "subject");
    let r = app
        .post(
            "/api/v1/tickets",
            &agent,
            json!({ "subject": "s", "body": "x", "customer": { "email": "nope" } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "customer.email");
    let r = app.post("/api/v1/tickets", &agent, json!({ "subject": "s", "body": "x", "priority": "asap", "customer": { "email": "c@example.com" } })).await;
    assert_eq!(r.body["field"], "priority");
    let r = app
        .post(
            "/api/v1/tickets",
            &agent,
            json!({ "subject": "  ", "body": "x", "customer": { "email": "c@example.com" } }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("subject"))
    );
    let r = app.post("/api/v1/tickets", &agent, json!({ "subject": "s", "body": "x", "customer": { "email": "c@example.com" }, "surprise": 1 })).await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown fields are refused: {:?}",
        r.body
    );
    let r = app.post("/api/v1/tickets", &agent, json!({ "subject": "s", "body": "x", "customer": { "email": "c@example.com" }, "assignee": "ghost@example.com" })).await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("assignee"))
    );
    let raw = app
        .client
        .post(format!("{}/api/v1/tickets", app.base))
        .bearer_auth(&agent)
        .header("content-type", "application/json")
        .body("{\"subject\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let raw = app
        .client
        .post(format!("{}/api/v1/tickets", app.base))
        .bearer_auth(&agent)
        .body("subject=x")
        .send()
        .await
        .expect("send");
    assert_eq!(raw.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    for q in [
        "status=bogus",
        "limit=0",
        "created_from=yesterday",
        "cursor=garbage",
        "sort=sideways",
    ] {
        let r = app.get(&format!("/api/v1/tickets?{q}"), &agent).await;
        assert!(r.status.is_client_error(), "{q}");
        assert!(
            r.body["field"].is_string(),
            "{q} names its field: {:?}",
            r.body
        );
    }
    // Nothing was created by any of the refused requests.
    assert!(app.list_numbers(&agent, "").await.is_empty());
}

#[tokio::test]
async fn create_then_read_by_id_and_number() {
    let app = TestApp::spawn().await;
    let agent = app.agent("ana@example.com");
    let t1 = app
        .ticket_for(&agent, "Carla@Example.com", "Cannot log in")
        .await;
    let t2 = app
        .ticket_for(&agent, "dan@example.com", "Charged twice")
        .await;
    assert_eq!(t1["number"], "HD-1");
    assert_eq!(t2["number"], "HD-2");
    assert_eq!(t1["status"], "new");
    assert_eq!(t1["priority"], "medium");
    assert_eq!(t1["customer"]["email"], "carla@example.com");
    assert_eq!(t1["version"], 1);
    for r in [id(&t1), "HD-1".to_string(), "hd-1".to_string()] {
        let got = app.get(&format!("/api/v1/tickets/{r}"), &agent).await;
        assert_eq!(got.status, StatusCode::OK, "{r}");
        assert_eq!(got.body["ticket"]["id"], t1["id"]);
        assert_eq!(
            got.headers.get("etag").and_then(|v| v.to_str().ok()),
            Some("\"v1\"")
        );
        assert_eq!(got.body["messages"].as_array().map(Vec::len), Some(1));
        assert_eq!(got.body["messages"][0]["kind"], "customer_message");
        assert_eq!(got.body["audit"][0]["action"], "created");
    }
    assert_eq!(
        app.get("/api/v1/tickets/HD-99", &agent).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/tickets/garbage", &agent).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // The customer profile was created on first contact.
    let c = app.get("/api/v1/customers/carla@example.com", &agent).await;
    assert_eq!(c.status, StatusCode::OK);
    assert_eq!(c.body["tier"], "free");
}

#[tokio::test]
async fn idempotency_key_replays_the_same_ticket() {
    let app = TestApp::spawn().await;
    let platform = app.token("platform", None);
    let body = json!({ "subject": "App crashes", "body": "On launch", "customer": { "email": "p@example.com", "platform_user_id": "u-42" } });
    let a = app
        .request(
            Method::POST,
            "/api/v1/tickets",
            Some(&platform),
            Some(body.clone()),
            &[("Idempotency-Key", "req-1")],
        )
        .await;
    let b = app
        .request(
            Method::POST,
            "/api/v1/tickets",
            Some(&platform),
            Some(body.clone()),
            &[("Idempotency-Key", "req-1")],
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(b.status, StatusCode::OK);
    assert_eq!(a.body["id"], b.body["id"]);
    assert_eq!(a.body["channel"], "in_app");
    assert_eq!(a.body["customer"]["platform_user_id"], "u-42");
    let missing = app
        .post(
            "/api/v1/tickets",
            &platform,
            json!({ "subject": "x", "body": "y", "customer": { "email": "p@example.com" } }),
        )
        .await;
    assert_eq!(missing.body["field"], "customer.platform_user_id");
}

#[tokio::test]
async fn list_filters_sorting_and_pagination() {
    let app = TestApp::spawn().await;
    app.create_department("billing").await;
    app.create_agent("ana@example.com", "agent").await;
    app.create_agent("bob@example.com", "agent").await;
    let ana = app.agent("ana@example.com");
    let admin = app.admin();
    let mk = |subject: &str, customer: &str, extra: Value| {
        let mut body =
            json!({ "subject": subject, "body": "details", "customer": { "email": customer } });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        body
    };
    let t1 = app.create_ticket(&ana, mk("Refund for March invoice", "carla@example.com", json!({ "priority": "low", "department": "billing", "category": "billing", "channel": "email" }))).await;
    let t2 = app
        .create_ticket(
            &ana,
            mk(
                "Outage in EU region",
                "dan@example.com",
                json!({ "priority": "urgent", "assignee": "ana@example.com", "channel": "chat" }),
            ),
        )
        .await;
    let t3 = app
        .create_ticket(
            &ana,
            mk(
                "Password reset loop",
                "carla@example.com",
                json!({ "priority": "high", "assignee": "bob@example.com", "channel": "web" }),
            ),
        )
        .await;
    let t4 = app
        .create_ticket(
            &ana,
            mk(
                "Invoice address change",
                "erin@example.com",
                json!({ "priority": "medium", "department": "billing", "channel": "phone" }),
            ),
        )
        .await;
    let t5 = app
        .create_ticket(
            &ana,
            mk(
                "Feature request: dark mode",
                "erin@example.com",
                json!({ "priority": "low", "channel": "social" }),
            ),
        )
        .await;
    // Resolve t5 so "open" and "done" differ.
    let r = app
        .patch(
            &format!("/api/v1/tickets/{}", id(&t5)),
            &admin,
            json!({ "status": "resolved" }),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // Default: priority (urgent first), then oldest first.
    assert_eq!(
        app.list_numbers(&ana, "").await,
        vec!["HD-2", "HD-3", "HD-4", "HD-1", "HD-5"]
    );
    assert_eq!(
        app.list_numbers(&ana, "status=open").await,
        vec!["HD-2", "HD-3", "HD-4", "HD-1"]
    );
    assert_eq!(
        app.list_numbers(&ana, "status=resolved").await,
        vec!["HD-5"]
    );
    assert_eq!(app.list_numbers(&ana, "status=done").await, vec!["HD-5"]);
    assert_eq!(
        app.list_numbers(&ana, "status=new,assigned").await,
        vec!["HD-2", "HD-3", "HD-4", "HD-1"]
    );
    assert_eq!(
        app.list_numbers(&ana, "status=assigned").await,
        vec!["HD-2", "HD-3"]
    );
    assert_eq!(
        app.list_numbers(&ana, "priority=low").await,
        vec!["HD-1", "HD-5"]
    );
    assert_eq!(
        app.list_numbers(&ana, "priority=urgent,high").await,
        vec!["HD-2", "HD-3"]
    );
    assert_eq!(app.list_numbers(&ana, "assignee=me").await, vec!["HD-2"]);
    assert_eq!(
        app.list_numbers(&ana, "assignee=bob@example.com").await,
        vec!["HD-3"]
    );
    assert_eq!(
        app.list_numbers(&ana, "assignee=unassigned").await,
        vec!["HD-4", "HD-1", "HD-5"]
    );
    assert_eq!(
        app.list_numbers(&ana, "assignee=unassigned&status=open")
            .await,
        vec!["HD-4", "HD-1"]
    );
    assert_eq!(
        app.list_numbers(&ana, "department=billing").await,
        vec!["HD-4", "HD-1"]
    );
    assert_eq!(
        app.list_numbers(&ana, "department=billing&priority=low")
            .await,
        vec!["HD-1"]
    );
    assert_eq!(
        app.list_numbers(&ana, "category=billing").await,
        vec!["HD-1"]
    );
    assert_eq!(app.list_numbers(&ana, "channel=chat").await, vec!["HD-2"]);
    assert_eq!(
        app.list_numbers(&ana, "customer=carla@example.com").await,
        vec!["HD-3", "HD-1"]
    );
    assert_eq!(
        app.list_numbers(&ana, "sort=newest").await,
        vec!["HD-5", "HD-4", "HD-3", "HD-2", "HD-1"]
    );
    assert_eq!(
        app.list_numbers(&ana, "sort=oldest").await,
        vec!["HD-1", "HD-2", "HD-3", "HD-4", "HD-5"]
    );
    assert_eq!(
        app.list_numbers(&ana, "sort=newest&customer=erin@example.com")
            .await,
        vec!["HD-5", "HD-4"]
    );
    // Free text: number, customer e-mail, words of the subject.
    assert_eq!(app.list_numbers(&ana, "q=HD-3").await, vec!["HD-3"]);
    assert_eq!(app.list_numbers(&ana, "q=%23hd-4").await, vec!["HD-4"]);
    assert_eq!(
        app.list_numbers(&ana, "q=dan@example.com").await,
        vec!["HD-2"]
    );
    assert_eq!(
        app.list_numbers(&ana, "q=invoice").await,
        vec!["HD-4", "HD-1"]
    );
    assert_eq!(
        app.list_numbers(&ana, "q=invoice%20refund").await,
        vec!["HD-1"]
    );
    assert!(app
        .list_numbers(&ana, "q=nothing-matches-this")
        .await
        .is_empty());
    // Created range.
    let created2 = t2["created_at"].as_str().expect("created").to_string();
    let created4 = t4["created_at"].as_str().expect("created").to_string();
    let q = format!(
        "sort=oldest&created_from={}&created_to={}",
        urlencode(&created2),
        urlencode(&created4)
    );
    assert_eq!(
        app.list_numbers(&ana, &q).await,
        vec!["HD-2", "HD-3", "HD-4"]
    );
    let q = format!("created_from={}", urlencode(&created4));
    assert_eq!(app.list_numbers(&ana, &q).await, vec!["HD-4", "HD-5"]);

    // Pagination: pages of 2 cover everything once, in order, for each sort.
    for sort in ["priority", "newest", "oldest"] {
        let all = app.list_numbers(&ana, &format!("sort={sort}")).await;
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10 {
            let q = match &cursor {
                Some(c) => format!("sort={sort}&limit=2&cursor={c}"),
                None => format!("sort={sort}&limit=2"),
            };
            let r = app.get(&format!("/api/v1/tickets?{q}"), &ana).await;
            assert_eq!(r.status, StatusCode::OK);
            let items = r.body["items"].as_array().expect("items");
            assert!(items.len() <= 2);
            seen.extend(
                items
                    .iter()
                    .map(|t| t["number"].as_str().unwrap_or("").to_string()),
            );
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(seen, all, "pages of {sort}");
    }
    let _ = (t1, t3);
}

fn urlencode(s: &str) -> String {
    s.replace(':', "%3A").replace('+', "%2B")
}

#[tokio::test]
async fn updates_follow_the_workflow_and_refuse_stale_versions() {
    let app = TestApp::spawn().await;
    app.create_agent("ana@example.com", "agent").await;
    let ana = app.agent("ana@example.com");
    let t = app.ticket_for(&ana, "c@example.com", "Broken export").await;
    let path = format!("/api/v1/tickets/{}", id(&t));

    // Assigning moves new → assigned; the ETag tracks the version.
    let r = app
        .patch(
            &path,
            &ana,
            json!({ "assignee": "ana@example.com" }),
            Some("\"v1\""),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "assigned");
    assert_eq!(r.body["version"], 2);
    assert_eq!(
        r.headers.get("etag").and_then(|v| v.to_str().ok()),
        Some("\"v2\"")
    );

    // A stale If-Match is a 409 with the current version, and nothing changes.
    let r = app
        .patch(&path, &ana, json!({ "priority": "urgent" }), Some("\"v1\""))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.body["type"],
        "https://helpdesk.dev/problems/stale-version"
    );
    assert_eq!(r.body["current_version"], 2);
    let r = app
        .patch(
            &path,
            &ana,
            json!({ "priority": "urgent", "version": 1 }),
            None,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "version in the body works like If-Match"
    );
    let now = app.get(&path, &ana).await;
    assert_eq!(now.body["ticket"]["priority"], "medium");
    let r = app
        .patch(&path, &ana, json!({ "priority": "urgent" }), Some("bogus"))
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("If-Match"))
    );

    // Two concurrent edits from the same version: exactly one wins.
    let (a, b) = tokio::join!(
        app.patch(&path, &ana, json!({ "priority": "high" }), Some("\"v2\"")),
        app.patch(&path, &ana, json!({ "tags": ["vip"] }), Some("\"v2\"")),
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);

    // Illegal transition: resolved → assigned is not in the table (reopening goes to
    // in_progress with an owner, or back to new); closed is final.
    let r = app
        .patch(&path, &ana, json!({ "status": "resolved" }), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["resolved_at"].is_string());
    let r = app
        .patch(&path, &ana, json!({ "status": "assigned" }), None)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.body["type"],
        "https://helpdesk.dev/problems/invalid-transition"
    );
    assert_eq!(r.body["allowed"], json!(["in_progress", "new", "closed"]));
    let r = app
        .patch(&path, &ana, json!({ "status": "closed" }), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .patch(&path, &ana, json!({ "status": "in_progress" }), None)
        .await;
    assert_eq!(
        r.body["type"],
        "https://helpdesk.dev/problems/ticket-closed"
    );

    // in_progress needs an assignee.
    let t2 = app.ticket_for(&ana, "c@example.com", "Another").await;
    let r = app
        .patch(
            &format!("/api/v1/tickets/{}", id(&t2)),
            &ana,
            json!({ "status": "in_progress" }),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("assignee"))
    );

    // History records who changed what, before → after.
    let view = app.get(&path, &ana).await;
    let audit = view.body["audit"].as_array().expect("audit");
    let assign = audit
        .iter()
        .find(|a| {
            a["changes"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["field"] == "assignee"))
        })
        .expect("assign event");
    assert_eq!(
        assign["actor"],
        json!({ "kind": "agent", "id": "ana@example.com" })
    );
    let status_change = assign["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["field"] == "status")
        .expect("status change");
    assert_eq!(
        (
            status_change["before"].as_str(),
            status_change["after"].as_str()
        ),
        (Some("new"), Some("assigned"))
    );
}

#[tokio::test]
async fn replies_notes_and_customer_visibility() {
    let app = TestApp::spawn().await;
    app.create_agent("ana@example.com", "agent").await;
    let ana = app.agent("ana@example.com");
    let carla = app.customer("carla@example.com");
    let t = app
        .create_ticket(
            &carla,
            json!({ "subject": "Where is my order?", "body": "Order 1234 has not arrived." }),
        )
        .await;
    assert_eq!(t["channel"], "web");
    let path = format!("/api/v1/tickets/{}", id(&t));

    let r = app
        .post(
            &format!("{path}/messages"),
            &ana,
            json!({ "kind": "public_reply", "body": "It ships today." }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert!(r.body["ticket"]["first_response_at"].is_string());
    let r = app
        .post(
            &format!("{path}/messages"),
            &ana,
            json!({ "kind": "internal_note", "body": "Warehouse was late, again." }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    // The agent sees all three messages and the audit; the customer sees no note, no audit.
    let staff_view = app.get(&path, &ana).await;
    assert_eq!(
        staff_view.body["messages"].as_array().map(Vec::len),
        Some(3)
    );
    let customer_view = app.get(&path, &carla).await;
    assert_eq!(customer_view.status, StatusCode::OK);
    let kinds: Vec<_> = customer_view.body["messages"]
        .as_array()
        .expect("m")
        .iter()
        .map(|m| m["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds, vec!["customer_message", "public_reply"]);
    assert_eq!(customer_view.body["audit"], json!([]));

    // Customers cannot post notes or replies as staff.
    let r = app
        .post(
            &format!("{path}/messages"),
            &carla,
            json!({ "kind": "internal_note", "body": "hi" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            &format!("{path}/messages"),
            &ana,
            json!({ "kind": "public_reply", "body": "   " }),
        )
        .await;
    assert_eq!(r.body["field"], "body");

    // A customer reply to a resolved ticket reopens it.
    app.patch(&path, &ana, json!({ "assignee": "ana@example.com" }), None)
        .await;
    let r = app
        .patch(&path, &ana, json!({ "status": "resolved" }), None)
        .await;
    assert_eq!(r.body["status"], "resolved");
    let r = app
        .post(
            &format!("{path}/messages"),
            &carla,
            json!({ "body": "Still not here." }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["ticket"]["status"], "in_progress");
    assert_eq!(r.body["ticket"]["reopen_count"], 1);
}

#[tokio::test]
async fn customers_only_ever_see_their_own_tickets() {
    let app = TestApp::spawn().await;
    let ana = app.agent("ana@example.com");
    let carla = app.customer("carla@example.com");
    let dan = app.customer("dan@example.com");
    let mine = app
        .create_ticket(&carla, json!({ "subject": "Mine", "body": "x" }))
        .await;
    let theirs = app.ticket_for(&ana, "dan@example.com", "Dan's").await;

    // By id and by number, another customer's ticket does not exist for you.
    for r in [id(&theirs), "HD-2".to_string()] {
        let got = app.get(&format!("/api/v1/tickets/{r}"), &carla).await;
        assert_eq!(got.status, StatusCode::NOT_FOUND, "{r}");
        let post = app
            .post(
                &format!("/api/v1/tickets/{r}/messages"),
                &carla,
                json!({ "body": "let me in" }),
            )
            .await;
        assert_eq!(post.status, StatusCode::NOT_FOUND);
    }
    // Listing ignores attempts to widen the scope.
    assert_eq!(app.list_numbers(&carla, "").await, vec!["HD-1"]);
    assert_eq!(
        app.list_numbers(&carla, "customer=dan@example.com").await,
        Vec::<String>::new()
    );
    assert_eq!(
        app.list_numbers(&carla, "q=dan@example.com").await,
        Vec::<String>::new()
    );
    assert_eq!(
        app.list_numbers(&carla, "q=HD-2").await,
        Vec::<String>::new()
    );
    assert_eq!(app.list_numbers(&dan, "").await, vec!["HD-2"]);
    // Customers cannot change tickets, not even their own, except by replying.
    let r = app
        .patch(
            &format!("/api/v1/tickets/{}", id(&mine)),
            &carla,
            json!({ "priority": "urgent" }),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            "/api/v1/tickets",
            &carla,
            json!({ "subject": "x", "body": "y", "priority": "urgent" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            "/api/v1/tickets",
            &carla,
            json!({ "subject": "x", "body": "y", "customer": { "email": "dan@example.com" } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Nor read the directory.
    assert_eq!(
        app.get("/api/v1/agents", &carla).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/customers/dan@example.com", &carla)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/customers/carla@example.com", &carla)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn directory_roles_and_versions() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let agent = app.agent("ana@example.com");
    let body = json!({ "email": "bob@example.com", "name": "Bob", "role": "agent", "capacity": 10, "skills": ["billing"], "languages": ["en", "pt_br"] });
    let r = app.post("/api/v1/agents", &agent, body.clone()).await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "an agent cannot manage agents"
    );
    let r = app.post("/api/v1/agents", &admin, body.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["languages"], json!(["en", "pt-BR"]));
    let r = app.post("/api/v1/agents", &admin, body.clone()).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "duplicate");
    let r = app.get("/api/v1/agents", &agent).await;
    assert_eq!(r.status, StatusCode::OK, "agents can read the team");
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
    let r = app.post("/api/v1/agents", &admin, json!({ "email": "x@example.com", "name": "X", "role": "agent", "departments": ["nowhere"] })).await;
    assert_eq!(r.body["field"], "departments");

    // Update with If-Match; stale is 409.
    let mut updated = body.clone();
    updated["capacity"] = json!(15);
    let r = app
        .request(
            Method::PUT,
            "/api/v1/agents/bob@example.com",
            Some(&admin),
            Some(updated.clone()),
            &[("If-Match", "\"v1\"")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["capacity"], 15);
    let r = app
        .request(
            Method::PUT,
            "/api/v1/agents/bob@example.com",
            Some(&admin),
            Some(updated),
            &[("If-Match", "\"v1\"")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // Agents set their own status, not others'.
    let bob = app.agent("bob@example.com");
    let r = app
        .put(
            "/api/v1/agents/bob@example.com/status",
            &bob,
            json!({ "status": "busy" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .put(
            "/api/v1/agents/bob@example.com/status",
            &agent,
            json!({ "status": "offline" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Departments and customers.
    assert_eq!(
        app.post(
            "/api/v1/departments",
            &agent,
            json!({ "id": "billing", "name": "Billing" })
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post(
            "/api/v1/departments",
            &admin,
            json!({ "id": "Bad Id", "name": "B" })
        )
        .await
        .body["field"],
        "id"
    );
    app.create_department("billing").await;
    let r = app
        .post(
            "/api/v1/customers",
            &admin,
            json!({ "email": "vip@example.com", "tier": "enterprise", "business_owner": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app
        .put(
            "/api/v1/customers/vip@example.com",
            &admin,
            json!({ "email": "vip@example.com", "name": "Vera" }),
        )
        .await;
    assert_eq!(
        (r.body["name"].as_str(), r.body["tier"].as_str()),
        (Some("Vera"), Some("enterprise")),
        "partial update keeps fields"
    );
    // A ticket snapshots the customer's tier and business-owner flag.
    let t = app.ticket_for(&agent, "vip@example.com", "Need help").await;
    assert_eq!(t["customer"]["tier"], "enterprise");
    assert_eq!(t["customer"]["business_owner"], true);
    let r = app
        .request(
            Method::DELETE,
            "/api/v1/agents/bob@example.com",
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/agents/bob@example.com", &admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bulk_reports_each_ticket() {
    let app = TestApp::spawn().await;
    app.create_agent("ana@example.com", "agent").await;
    let ana = app.agent("ana@example.com");
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(id(&app
            .ticket_for(&ana, "c@example.com", &format!("Ticket {i}"))
            .await));
    }
    let mut with_bad = ids.clone();
    with_bad.push("tkt_01JDZ6K3Q2W9V8T7S6R5P4N3M2".into());
    with_bad.push("garbage".into());
    let r = app
        .post(
            "/api/v1/tickets/bulk",
            &ana,
            json!({ "ticket_ids": with_bad, "action": "assign", "assignee": "ana@example.com" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["succeeded"], 3);
    assert_eq!(r.body["failed"], 2);
    let results = r.body["results"].as_array().expect("results");
    assert_eq!(results[3]["status"], 404);
    assert_eq!(results[4]["status"], 422);
    assert!(results[..3]
        .iter()
        .all(|o| o["ticket"]["status"] == "assigned"));
    assert_eq!(app.list_numbers(&ana, "assignee=me").await.len(), 3);

    let r = app
        .post(
            "/api/v1/tickets/bulk",
            &ana,
            json!({ "ticket_ids": ids.clone(), "action": "set_priority", "priority": "high" }),
        )
        .await;
    assert_eq!(r.body["succeeded"], 3);
    let r = app
        .post(
            "/api/v1/tickets/bulk",
            &ana,
            json!({ "ticket_ids": [ids[0].clone()], "action": "close" }),
        )
        .await;
    assert_eq!(r.body["succeeded"], 1);
    // Closed is final: a status change on it fails, the others succeed.
    let r = app
        .post(
            "/api/v1/tickets/bulk",
            &ana,
            json!({ "ticket_ids": ids.clone(), "action": "set_status", "status": "in_progress" }),
        )
        .await;
    assert_eq!(
        (r.body["succeeded"].as_u64(), r.body["failed"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(r.body["results"][0]["status"], 422);
    let r = app
        .post(
            "/api/v1/tickets/bulk",
            &ana,
            json!({ "ticket_ids": [], "action": "close" }),
        )
        .await;
    assert_eq!(r.body["field"], "ticket_ids");
    let r = app
        .post(
            "/api/v1/tickets/bulk",
            &app.customer("c@example.com"),
            json!({ "ticket_ids": ids, "action": "close" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn transfer_to_agent_or_department() {
    let app = TestApp::spawn().await;
    app.create_agent("ana@example.com", "agent").await;
    app.create_agent("bob@example.com", "agent").await;
    app.create_agent("sue@example.com", "supervisor").await;
    app.create_department("billing").await;
    let ana = app.agent("ana@example.com");
    let bob = app.agent("bob@example.com");
    let t = app.create_ticket(&ana, json!({ "subject": "Refund", "body": "x", "customer": { "email": "c@example.com" }, "assignee": "ana@example.com" })).await;
    let path = format!("/api/v1/tickets/{}", id(&t));

    // Bob cannot take Ana's ticket away; Ana can hand it over with a note.
    let r = app
        .post(
            &format!("{path}/transfer"),
            &bob,
            json!({ "to_agent": "bob@example.com" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            &format!("{path}/transfer"),
            &ana,
            json!({ "to_agent": "bob@example.com", "note": "Bob knows refunds" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["assignee"], "bob@example.com");
    let view = app.get(&path, &bob).await;
    let note = view.body["messages"]
        .as_array()
        .expect("m")
        .iter()
        .find(|m| m["kind"] == "internal_note")
        .expect("transfer note");
    assert!(note["body_text"]
        .as_str()
        .unwrap_or("")
        .contains("Bob knows refunds"));
    assert!(view.body["audit"]
        .as_array()
        .expect("a")
        .iter()
        .any(|a| a["action"] == "transferred"));

    // A supervisor moves it to the billing queue: unassigned, waiting there.
    let sue = app.token("supervisor", Some("sue@example.com"));
    let r = app
        .post(
            &format!("{path}/transfer"),
            &sue,
            json!({ "to_department": "billing" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["department"], "billing");
    assert!(r.body["assignee"].is_null());
    assert_eq!(r.body["status"], "new");
    assert_eq!(
        app.list_numbers(&ana, "department=billing&assignee=unassigned")
            .await,
        vec!["HD-1"]
    );
    let r = app
        .post(
            &format!("{path}/transfer"),
            &sue,
            json!({ "to_department": "nowhere" }),
        )
        .await;
    assert_eq!(r.body["field"], "department");
    let r = app.post(&format!("{path}/transfer"), &sue, json!({})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn merge_links_thread_and_closes_source_once() {
    let app = TestApp::spawn().await;
    let ana = app.agent("ana@example.com");
    let target = app.ticket_for(&ana, "c@example.com", "Cannot pay").await;
    let source = app
        .ticket_for(&ana, "c@example.com", "Payment fails (again)")
        .await;
    app.post(
        &format!("/api/v1/tickets/{}/messages", id(&source)),
        &ana,
        json!({ "kind": "public_reply", "body": "Looking into it" }),
    )
    .await;

    let r = app
        .post(
            &format!("/api/v1/tickets/{}/merge", id(&source)),
            &ana,
            json!({ "into": "HD-1", "note": "duplicate" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["merged_from"], json!([id(&source)]));
    let src = app
        .get(&format!("/api/v1/tickets/{}", id(&source)), &ana)
        .await;
    assert_eq!(src.body["ticket"]["status"], "closed");
    assert_eq!(src.body["ticket"]["merged_into"], target["id"]);
    let tgt = app
        .get(&format!("/api/v1/tickets/{}", id(&target)), &ana)
        .await;
    let msgs = tgt.body["messages"].as_array().expect("m");
    assert_eq!(msgs.len(), 3, "own first message + the source's two");
    assert_eq!(
        msgs.iter()
            .filter(|m| m["merged_from"] == source["id"])
            .count(),
        2
    );
    let version = tgt.body["ticket"]["version"].clone();

    // Again: nothing changes.
    let r = app
        .post(
            &format!("/api/v1/tickets/{}/merge", id(&source)),
            &ana,
            json!({ "into": id(&target) }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let tgt = app
        .get(&format!("/api/v1/tickets/{}", id(&target)), &ana)
        .await;
    assert_eq!(tgt.body["messages"].as_array().map(Vec::len), Some(3));
    assert_eq!(tgt.body["ticket"]["version"], version);

    let r = app
        .post(
            &format!("/api/v1/tickets/{}/merge", id(&target)),
            &ana,
            json!({ "into": id(&target) }),
        )
        .await;
    assert_eq!(r.body["field"], "into");
    let r = app
        .post(
            &format!("/api/v1/tickets/{}/merge", id(&target)),
            &ana,
            json!({ "into": id(&source) }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("into")),
        "cannot merge into a closed ticket"
    );
    let r = app
        .post(
            &format!("/api/v1/tickets/{}/merge", id(&target)),
            &app.customer("c@example.com"),
            json!({ "into": "HD-2" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn concurrent_creates_get_unique_numbers() {
    let app = TestApp::spawn().await;
    let ana = app.agent("ana@example.com");
    let subjects: Vec<String> = (0..25).map(|i| format!("T{i}")).collect();
    let creates = subjects
        .iter()
        .map(|s| app.ticket_for(&ana, "c@example.com", s));
    let tickets = futures::future::join_all(creates).await;
    let numbers: HashSet<_> = tickets
        .iter()
        .map(|t| t["number"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(numbers.len(), 25);
    let r = app.get("/api/v1/tickets?limit=100", &ana).await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(25));
}

#[tokio::test]
async fn dashboard_counts_follow_ticket_changes() {
    let app = TestApp::spawn().await;
    app.create_agent("ana@example.com", "agent").await;
    let ana = app.agent("ana@example.com");
    let empty = app.get("/api/v1/stats/dashboard", &ana).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.body["open_total"], 0);
    assert!(
        empty.body["first_response_secs"]["current"].is_null(),
        "no data is no number"
    );
    assert!(empty.body["resolution_rate"]["current"].is_null());
    let a = app.create_ticket(&ana, json!({ "subject": "A", "body": "x", "customer": { "email": "c@example.com" }, "priority": "urgent" })).await;
    let b = app.ticket_for(&ana, "c@example.com", "B").await;
    let _c = app.ticket_for(&ana, "c@example.com", "C").await;
    app.post(
        &format!("/api/v1/tickets/{}/messages", id(&a)),
        &ana,
        json!({ "body": "On it" }),
    )
    .await;
    app.post(
        &format!("/api/v1/tickets/{}/messages", id(&a)),
        &ana,
        json!({ "body": "Second reply does not count again" }),
    )
    .await;
    app.patch(
        &format!("/api/v1/tickets/{}", id(&b)),
        &ana,
        json!({ "status": "resolved" }),
        None,
    )
    .await;
    app.patch(
        &format!("/api/v1/tickets/{}", id(&a)),
        &ana,
        json!({ "assignee": "ana@example.com" }),
        None,
    )
    .await;
    let d = app.get("/api/v1/stats/dashboard?days=7", &ana).await.body;
    assert_eq!(d["open_total"], 2);
    assert_eq!(d["open_by_priority"]["urgent"], 1);
    assert_eq!(d["open_by_priority"]["medium"], 1);
    assert_eq!(d["by_status"]["resolved"], 1);
    assert_eq!(d["by_status"]["assigned"], 1);
    assert_eq!(d["by_status"]["new"], 1);
    assert!(d["first_response_secs"]["current"]
        .as_f64()
        .is_some_and(|s| s >= 0.0));
    assert!(d["first_response_secs"]["previous"].is_null());
    let rate = d["resolution_rate"]["current"].as_f64().expect("rate");
    assert!((rate - 1.0 / 3.0).abs() < 1e-9, "{rate}");
    // Merging closes the source: it leaves the open counts.
    let r = app
        .post(
            &format!("/api/v1/tickets/{}/merge", id(&a)),
            &ana,
            json!({ "into": "HD-3" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let d = app.get("/api/v1/stats/dashboard", &ana).await.body;
    assert_eq!(d["open_total"], 1);
    assert_eq!(d["by_status"]["closed"], 1);
    assert_eq!(
        app.get("/api/v1/stats/dashboard", &app.customer("c@example.com"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/stats/dashboard?days=0", &ana).await.body["field"],
        "days"
    );
}

#[tokio::test]
async fn quarantine_is_for_admins() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/v1/quarantine", &app.admin()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["items"], json!([]));
    assert_eq!(
        app.get("/api/v1/quarantine", &app.agent("a@example.com"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/quarantine?limit=0", &app.admin())
            .await
            .body["field"],
        "limit"
    );
}
