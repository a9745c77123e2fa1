//! The knowledge base over HTTP against the real local app (SQLite + the embedded tantivy
//! index): versions, stale writes, approval by role, audiences, feedback, suggestions, stats and
//! reindex.

use helpdesk_tests::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn article(title: &str, body: &str, audiences: &[&str]) -> Value {
    json!({ "title": title, "summary": format!("About {title}"), "body": body, "audiences": audiences, "topic": ["Account"], "tags": ["howto"] })
}

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app.post("/api/v1/kb/articles", token, body).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "create article: {:?}",
        r.body
    );
    r.body
}

async fn step(
    app: &TestApp,
    token: &str,
    id: &str,
    action: &str,
    body: Value,
) -> (StatusCode, Value) {
    let r = app
        .post(&format!("/api/v1/kb/articles/{id}/{action}"), token, body)
        .await;
    (r.status, r.body)
}

/// Creates and publishes an article (an agent writes, a supervisor publishes).
async fn published(app: &TestApp, title: &str, body: &str, audiences: &[&str]) -> String {
    let a = create(
        app,
        &app.agent("writer@example.com"),
        article(title, body, audiences),
    )
    .await;
    let id = a["id"].as_str().expect("id").to_string();
    let sup = app.token("supervisor", Some("sup@example.com"));
    let (s, b) = step(app, &sup, &id, "publish", json!({})).await;
    assert_eq!(s, StatusCode::OK, "publish: {b:?}");
    id
}

async fn anon(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let r = app.request(method, path, None, body, &[]).await;
    (r.status, r.body)
}

fn hit_ids(body: &Value) -> Vec<String> {
    let hits = body.get("hits").unwrap_or(body);
    hits.as_array()
        .map(|a| {
            a.iter()
                .map(|h| h["article_id"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn every_save_is_a_version_stale_saves_conflict_and_old_versions_restore() {
    let app = TestApp::spawn().await;
    let agent = app.agent("writer@example.com");
    let a = create(
        &app,
        &agent,
        article(
            "Reset your password",
            "Step one.\nStep two.\n",
            &["customers"],
        ),
    )
    .await;
    let id = a["id"].as_str().expect("id");
    assert_eq!(a["status"], "draft");
    assert_eq!(a["latest_version"], 1);
    assert_eq!(a["version"], 1);

    let mut edit = article(
        "Reset your password",
        "Step one.\nStep 2.\nStep three.\n",
        &["customers"],
    );
    edit["version"] = json!(1);
    let r = app
        .put(&format!("/api/v1/kb/articles/{id}"), &agent, edit.clone())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["latest_version"], 2);
    assert_eq!(
        r.headers.get("etag").and_then(|v| v.to_str().ok()),
        Some("\"v2\"")
    );

    // The same stale version again: 409 with the current version.
    let r = app
        .put(&format!("/api/v1/kb/articles/{id}"), &agent, edit)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.body["current_version"], 2);
    // If-Match works the same way.
    let r = app
        .request(
            Method::PUT,
            &format!("/api/v1/kb/articles/{id}"),
            Some(&agent),
            Some(article("Other", "x", &["customers"])),
            &[("If-Match", "\"v1\"")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    let r = app
        .get(&format!("/api/v1/kb/articles/{id}/versions"), &agent)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let numbers: Vec<u64> = r
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|v| v["number"].as_u64())
        .collect();
    assert_eq!(numbers, vec![2, 1]);

    let r = app
        .get(
            &format!("/api/v1/kb/articles/{id}/diff?from=1&to=2"),
            &agent,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["lines_added"], 2);
    assert_eq!(r.body["lines_removed"], 1);
    assert!(r.body["body"]
        .as_array()
        .expect("lines")
        .iter()
        .any(|l| l["change"] == "removed" && l["text"] == "Step two."));

    let r = app
        .post(
            &format!("/api/v1/kb/articles/{id}/versions/1/restore"),
            &agent,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["latest_version"], 3);
    assert_eq!(r.body["content"]["body"], "Step one.\nStep two.\n");
    let r = app
        .get(&format!("/api/v1/kb/articles/{id}/versions/3"), &agent)
        .await;
    assert_eq!(r.body["restored_from"], 1);

    // Bad input names the field; a bad video link too.
    let mut bad = article("", "x", &["customers"]);
    let r = app.post("/api/v1/kb/articles", &agent, bad.clone()).await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("title"))
    );
    bad["title"] = json!("Video");
    bad["videos"] = json!(["https://evil.example/watch?v=dQw4w9WgXcQ"]);
    let r = app.post("/api/v1/kb/articles", &agent, bad.clone()).await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("videos"))
    );
    bad["videos"] = json!(["https://youtu.be/dQw4w9WgXcQ"]);
    let r = app.post("/api/v1/kb/articles", &agent, bad).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        r.body["content"]["videos"][0]["embed_url"],
        "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"
    );

    // History: created, edited, restored.
    let r = app.get(&format!("/api/v1/kb/articles/{id}"), &agent).await;
    let actions: Vec<&str> = r.body["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, vec!["restored", "edited", "created"]);
}

#[tokio::test]
async fn only_supervisors_approve_and_the_live_version_stays_while_a_draft_is_reviewed() {
    let app = TestApp::spawn().await;
    let agent = app.agent("writer@example.com");
    let sup = app.token("supervisor", Some("sup@example.com"));
    let customer = app.customer("c@example.com");
    let a = create(
        &app,
        &agent,
        article(
            "Export invoices",
            "Open Billing and press Export.",
            &["customers"],
        ),
    )
    .await;
    let id = a["id"].as_str().expect("id");

    // Customers cannot write; agents cannot approve or publish.
    let r = app
        .post(
            "/api/v1/kb/articles",
            &customer,
            article("x", "y", &["customers"]),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        step(&app, &agent, id, "publish", json!({})).await.0,
        StatusCode::FORBIDDEN
    );
    let (s, b) = step(&app, &agent, id, "submit", json!({})).await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("in_review"))
    );
    assert_eq!(
        step(&app, &agent, id, "approve", json!({})).await.0,
        StatusCode::FORBIDDEN
    );
    // Requesting changes needs a comment, which the author then sees.
    let (s, b) = step(&app, &sup, id, "request-changes", json!({})).await;
    assert_eq!(
        (s, b["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("comment"))
    );
    let (s, b) = step(
        &app,
        &sup,
        id,
        "request-changes",
        json!({ "comment": "Add a screenshot" }),
    )
    .await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("draft")));
    let view = app.get(&format!("/api/v1/kb/articles/{id}"), &agent).await;
    assert_eq!(view.body["comments"][0]["body"], "Add a screenshot");
    assert_eq!(view.body["comments"][0]["action"], "request_changes");
    // An agent sees only the steps an agent may take.
    assert_eq!(view.body["allowed_actions"], json!(["submit"]));
    // A step on a stale version conflicts; a step the state does not allow is a 422.
    let (s, _) = step(&app, &agent, id, "submit", json!({ "version": 1 })).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        step(&app, &sup, id, "approve", json!({})).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        step(&app, &agent, id, "submit", json!({})).await.0,
        StatusCode::OK
    );
    let (s, b) = step(&app, &sup, id, "approve", json!({})).await;
    assert_eq!(
        (s, b["status"].as_str(), b["published_version"].as_u64()),
        (StatusCode::OK, Some("published"), Some(1))
    );

    // A new draft over the published article: readers still get version 1.
    let r = app
        .put(
            &format!("/api/v1/kb/articles/{id}"),
            &agent,
            article(
                "Export invoices as PDF",
                "Open Billing, choose PDF.",
                &["customers"],
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        (
            r.body["status"].as_str(),
            r.body["published_version"].as_u64()
        ),
        (Some("draft"), Some(1))
    );
    let r = app
        .get(&format!("/api/v1/kb/articles/{id}/published"), &customer)
        .await;
    assert_eq!(
        (
            r.status,
            r.body["title"].as_str(),
            r.body["version"].as_u64()
        ),
        (StatusCode::OK, Some("Export invoices"), Some(1))
    );
    let (_, found) = anon(
        &app,
        Method::GET,
        "/api/v1/kb/search?q=export%20invoices",
        None,
    )
    .await;
    assert_eq!(found["hits"][0]["title"], "Export invoices");
    // Publishing replaces it, in reads and in search.
    assert_eq!(
        step(&app, &sup, id, "publish", json!({})).await.0,
        StatusCode::OK
    );
    let r = app
        .get(&format!("/api/v1/kb/articles/{id}/published"), &customer)
        .await;
    assert_eq!(
        (r.body["title"].as_str(), r.body["version"].as_u64()),
        (Some("Export invoices as PDF"), Some(2))
    );
    let (_, found) = anon(&app, Method::GET, "/api/v1/kb/search?q=pdf", None).await;
    assert_eq!(hit_ids(&found), vec![id.to_string()]);
    // Archiving takes it out of reads and search.
    assert_eq!(
        step(&app, &agent, id, "archive", json!({})).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        step(&app, &sup, id, "archive", json!({})).await.0,
        StatusCode::OK
    );
    let (s, _) = anon(
        &app,
        Method::GET,
        &format!("/api/v1/kb/articles/{id}/published"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, found) = anon(&app, Method::GET, "/api/v1/kb/search?q=pdf", None).await;
    assert!(hit_ids(&found).is_empty(), "{found:?}");
    // A published article is archived, never deleted; a fresh draft can be deleted.
    let r = app
        .request(
            Method::DELETE,
            &format!("/api/v1/kb/articles/{id}"),
            Some(&sup),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let d = create(&app, &agent, article("Scratch", "x", &["internal"])).await;
    let did = d["id"].as_str().expect("id");
    let r = app
        .request(
            Method::DELETE,
            &format!("/api/v1/kb/articles/{did}"),
            Some(&agent),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/api/v1/kb/articles/{did}"), &agent)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn internal_articles_never_reach_customers_or_anonymous_visitors() {
    let app = TestApp::spawn().await;
    let internal = published(
        &app,
        "Escalation contacts for refunds",
        "Call the refunds desk on extension 4411.",
        &["internal"],
    )
    .await;
    let public = published(
        &app,
        "How refunds work",
        "Refunds reach your card within five days.",
        &["customers"],
    )
    .await;
    let owners = published(
        &app,
        "Refunds for business accounts",
        "Business refunds go to the company account.",
        &["business_owners"],
    )
    .await;
    let draft = create(
        &app,
        &app.agent("writer@example.com"),
        article("Refunds draft", "refunds unpublished", &["customers"]),
    )
    .await;
    let draft = draft["id"].as_str().expect("id").to_string();
    let agent = app.agent("a@example.com");
    let customer = app.customer("c@example.com");

    let (s, b) = anon(&app, Method::GET, "/api/v1/kb/search?q=refunds", None).await;
    assert_eq!(s, StatusCode::OK, "{b:?}");
    assert_eq!(hit_ids(&b), vec![public.clone()]);
    let r = app.get("/api/v1/kb/search?q=refunds", &customer).await;
    assert_eq!(hit_ids(&r.body), vec![public.clone()]);
    let r = app.get("/api/v1/kb/search?q=refunds", &agent).await;
    let mut ids = hit_ids(&r.body);
    ids.sort();
    let mut want = vec![internal.clone(), public.clone(), owners.clone()];
    want.sort();
    assert_eq!(ids, want, "agents see internal and public, never drafts");
    assert!(
        r.body["hits"][0]["snippet"]
            .as_str()
            .unwrap_or("")
            .contains("<mark>"),
        "{:?}",
        r.body
    );
    // Suggest-while-typing is the public audience even for the team.
    let r = app
        .get("/api/v1/kb/suggest?text=refunds%20desk", &agent)
        .await;
    assert!(!hit_ids(&r.body).contains(&internal), "{:?}", r.body);

    // A customer flagged as business owner also gets the business-owner articles.
    let r = app
        .post(
            "/api/v1/customers",
            &app.admin(),
            json!({ "email": "boss@example.com", "business_owner": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let boss = app.customer("boss@example.com");
    let r = app.get("/api/v1/kb/search?q=refunds", &boss).await;
    let mut ids = hit_ids(&r.body);
    ids.sort();
    let mut want = vec![public.clone(), owners.clone()];
    want.sort();
    assert_eq!(ids, want);

    for id in [&internal, &owners, &draft] {
        let (s, _) = anon(
            &app,
            Method::GET,
            &format!("/api/v1/kb/articles/{id}/published"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "anonymous read of {id}");
        let r = app
            .get(&format!("/api/v1/kb/articles/{id}/published"), &customer)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "customer read of {id}");
        // The team's view is not reachable for them either.
        let r = app
            .get(&format!("/api/v1/kb/articles/{id}"), &customer)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let (s, _) = anon(
            &app,
            Method::POST,
            &format!("/api/v1/kb/articles/{id}/views"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    let (s, b) = anon(
        &app,
        Method::GET,
        &format!("/api/v1/kb/articles/{public}/published"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        b["body_html"]
            .as_str()
            .unwrap_or("")
            .contains("<p>Refunds reach"),
        "{b:?}"
    );
    assert_eq!(
        app.get(&format!("/api/v1/kb/articles/{internal}/published"), &agent)
            .await
            .status,
        StatusCode::OK
    );
    // Listing and staff reads are for the team.
    let (s, _) = anon(&app, Method::GET, "/api/v1/kb/articles", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/api/v1/kb/articles", &customer).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .get("/api/v1/kb/articles?audience=internal", &agent)
        .await;
    assert_eq!(
        hit_ids(&json!(r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| json!({"article_id": i["id"]}))
            .collect::<Vec<_>>())),
        vec![internal.clone()]
    );
    let r = app.get("/api/v1/kb/articles?status=draft", &agent).await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
    // A broken token is a 401, never "anonymous".
    let r = app
        .request(
            Method::GET,
            "/api/v1/kb/search?q=refunds",
            Some("nope"),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn feedback_is_one_vote_per_viewer_and_feeds_the_numbers() {
    let app = TestApp::spawn().await;
    let id = published(
        &app,
        "Change your e-mail address",
        "Go to Settings, then Profile.",
        &["customers"],
    )
    .await;
    let customer = app.customer("c@example.com");
    let path = format!("/api/v1/kb/articles/{id}/feedback");

    let r = app
        .post(
            &path,
            &customer,
            json!({ "helpful": true, "rating": 5, "comment": "Clear, thanks" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = app
        .post(&path, &customer, json!({ "helpful": false }))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "second vote: {:?}", r.body);
    let (s, b) = anon(&app, Method::POST, &path, Some(json!({ "helpful": false }))).await;
    assert_eq!(
        (s, b["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("visitor_id"))
    );
    let (s, _) = anon(
        &app,
        Method::POST,
        &path,
        Some(json!({ "helpful": false, "rating": 2, "visitor_id": "visitor-0001" })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = anon(
        &app,
        Method::POST,
        &path,
        Some(json!({ "helpful": true, "visitor_id": "visitor-0001" })),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, b) = anon(
        &app,
        Method::POST,
        &path,
        Some(json!({ "helpful": true, "rating": 9, "visitor_id": "visitor-0002" })),
    )
    .await;
    assert_eq!(
        (s, b["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("rating"))
    );
    for _ in 0..3 {
        let (s, _) = anon(
            &app,
            Method::POST,
            &format!("/api/v1/kb/articles/{id}/views"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }

    let agent = app.agent("a@example.com");
    let r = app.get(&path, &agent).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["stats"]["helpful_yes"], 1);
    assert_eq!(r.body["stats"]["helpful_no"], 1);
    assert_eq!(r.body["stats"]["helpful_pct"], 50.0);
    assert_eq!(r.body["stats"]["avg_rating"], 3.5);
    assert_eq!(r.body["stats"]["views"], 3);
    assert_eq!(r.body["comments"][0]["comment"], "Clear, thanks");
    assert_eq!(
        app.get(&path, &customer).await.status,
        StatusCode::FORBIDDEN
    );

    // Zero-result searches are counted by normalised query.
    for q in ["Quantum%20teleport", "quantum  TELEPORT?"] {
        let (s, b) = anon(&app, Method::GET, &format!("/api/v1/kb/search?q={q}"), None).await;
        assert_eq!((s, hit_ids(&b).len()), (StatusCode::OK, 0));
    }
    let r = app.get("/api/v1/kb/stats", &agent).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body["zero_result_queries"][0],
        json!({ "query": "quantum teleport", "count": 2 })
    );
    assert_eq!(r.body["totals"]["views"], 3);
    assert_eq!(r.body["articles"][0]["title"], "Change your e-mail address");
    assert_eq!(
        app.get("/api/v1/kb/stats", &customer).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn tickets_get_suggested_articles_links_and_deflections_count_once() {
    let app = TestApp::spawn().await;
    let guide = published(
        &app,
        "Printer shows error E42",
        "Error E42 means the paper tray is jammed. Open the tray and remove the paper.",
        &["internal"],
    )
    .await;
    let faq = published(
        &app,
        "Paper jams",
        "If paper is jammed, open the printer tray.",
        &["customers"],
    )
    .await;
    published(
        &app,
        "Change your plan",
        "Billing plans can be changed in Settings.",
        &["customers"],
    )
    .await;
    let agent_email = "a@example.com";
    app.create_agent(agent_email, "agent").await;
    let agent = app.agent(agent_email);
    let t = app.create_ticket(&agent, json!({ "subject": "Printer error E42", "body": "My printer shows E42 and the paper tray is jammed.", "channel": "email", "customer": { "email": "c@example.com" } })).await;
    let number = t["number"].as_str().expect("number");

    let r = app
        .get(
            &format!("/api/v1/tickets/{number}/suggested-articles"),
            &agent,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let ids = hit_ids(&r.body);
    assert_eq!(ids.first(), Some(&guide), "{:?}", r.body);
    assert!(ids.contains(&faq));
    assert!(r.body[0]["score"].as_f64().unwrap_or(0.0) > 0.0);
    assert_eq!(
        app.get(
            &format!("/api/v1/tickets/{number}/suggested-articles"),
            &app.customer("c@example.com")
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );

    // Linking on an open ticket records the link; on a resolved one it counts, once.
    let link = format!("/api/v1/tickets/{number}/articles");
    let r = app
        .post(&link, &agent, json!({ "article_id": guide }))
        .await;
    assert_eq!(
        (r.status, r.body["counted_as_resolved"].as_bool()),
        (StatusCode::OK, Some(false)),
        "{:?}",
        r.body
    );
    let r = app
        .patch(
            &format!("/api/v1/tickets/{number}"),
            &agent,
            json!({ "status": "resolved", "assignee": agent_email }),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    for _ in 0..2 {
        let r = app
            .post(&link, &agent, json!({ "article_id": guide }))
            .await;
        assert_eq!(r.body["counted_as_resolved"], true);
    }
    let r = app.get(&link, &agent).await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(1));

    // Suggest while typing, then a deflection recorded once per form session.
    let (s, b) = anon(
        &app,
        Method::GET,
        "/api/v1/kb/suggest?text=paper%20jam%20in%20printer",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(hit_ids(&b), vec![faq.clone()], "{b:?}");
    for counted in [true, false] {
        let (s, b) = anon(
            &app,
            Method::POST,
            "/api/v1/kb/deflections",
            Some(json!({ "article_id": faq, "session_id": "form-session-1" })),
        )
        .await;
        assert_eq!(
            (s, b["counted"].as_bool()),
            (StatusCode::OK, Some(counted)),
            "{b:?}"
        );
    }
    let (s, _) = anon(
        &app,
        Method::POST,
        "/api/v1/kb/deflections",
        Some(json!({ "article_id": guide, "session_id": "form-session-1" })),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "internal articles do not deflect customers"
    );

    let r = app.get("/api/v1/kb/stats", &agent).await;
    assert_eq!(r.body["totals"]["resolved_ticket_links"], 1);
    assert_eq!(r.body["totals"]["deflections"], 1);
}

#[tokio::test]
async fn reindex_rebuilds_the_index_from_storage() {
    let app = TestApp::spawn().await;
    let a = published(
        &app,
        "Two-factor authentication",
        "Turn on two-factor authentication in Security.",
        &["customers"],
    )
    .await;
    let b = published(
        &app,
        "Recovery codes",
        "Keep your recovery codes for two-factor login.",
        &["customers"],
    )
    .await;
    let draft = create(
        &app,
        &app.agent("writer@example.com"),
        article("Two-factor draft", "two-factor unpublished", &["customers"]),
    )
    .await;
    assert!(draft["id"].is_string());
    let agent = app.agent("a@example.com");
    assert_eq!(
        app.post("/api/v1/kb/reindex", &agent, json!({}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .post("/api/v1/kb/reindex", &app.admin(), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        (r.body["articles"].as_u64(), r.body["documents"].as_u64()),
        (Some(2), Some(2))
    );
    // Twice is the same as once.
    let r = app
        .post("/api/v1/kb/reindex", &app.admin(), json!({}))
        .await;
    assert_eq!(r.body["documents"], 2);
    let (_, found) = anon(&app, Method::GET, "/api/v1/kb/search?q=two%20factor", None).await;
    let mut ids = hit_ids(&found);
    ids.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(ids, want);
}
