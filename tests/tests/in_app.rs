//! The in-app channel: the platform's backend, with its service credential, creates tickets for
//! its users and reads and answers them on their behalf — one named customer at a time.

use helpdesk_tests::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn as_platform(
    app: &TestApp,
    method: Method,
    path: &str,
    on_behalf_of: Option<&str>,
    body: Option<Value>,
) -> helpdesk_tests::test_app::Reply {
    let token = app.token("platform", None);
    let headers: Vec<(&str, &str)> = on_behalf_of
        .map(|c| vec![("On-Behalf-Of", c)])
        .unwrap_or_default();
    app.request(method, path, Some(&token), body, &headers)
        .await
}

async fn create(app: &TestApp, email: &str, user: &str, subject: &str) -> String {
    let r = as_platform(
        app,
        Method::POST,
        "/api/v1/tickets",
        Some(email),
        Some(json!({ "subject": subject, "body": "From the app",
                     "customer": { "email": email, "platform_user_id": user } })),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["channel"], "in_app");
    r.body["number"].as_str().expect("number").to_string()
}

fn numbers(r: &helpdesk_tests::test_app::Reply) -> Vec<String> {
    r.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|t| t["number"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_platform_reads_one_named_customers_tickets() {
    let app = TestApp::spawn().await;
    let ana = create(&app, "ana@example.com", "u-1", "Ana in the app").await;
    let bob = create(&app, "bob@example.com", "u-2", "Bob in the app").await;
    // An agent's internal note and public reply on Ana's ticket.
    let admin = app.admin();
    for (kind, body) in [
        ("internal_note", "INTERNAL-ONLY"),
        ("public_reply", "We are on it"),
    ] {
        let r = app
            .post(
                &format!("/api/v1/tickets/{ana}/messages"),
                &admin,
                json!({ "kind": kind, "body": body }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }

    // Lists: one customer at a time, named by On-Behalf-Of or `customer=`.
    let r = as_platform(
        &app,
        Method::GET,
        "/api/v1/tickets",
        Some("ana@example.com"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(numbers(&r), vec![ana.clone()]);
    let r = as_platform(
        &app,
        Method::GET,
        "/api/v1/tickets?customer=bob@example.com",
        None,
        None,
    )
    .await;
    assert_eq!(numbers(&r), vec![bob.clone()]);
    let r = as_platform(&app, Method::GET, "/api/v1/tickets", None, None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = as_platform(
        &app,
        Method::GET,
        "/api/v1/tickets?customer=bob@example.com",
        Some("ana@example.com"),
        None,
    )
    .await;
    assert!(
        numbers(&r).is_empty(),
        "acting for Ana, Bob's list is empty"
    );
    let r = as_platform(
        &app,
        Method::GET,
        &format!("/api/v1/tickets?q={bob}"),
        Some("ana@example.com"),
        None,
    )
    .await;
    assert!(numbers(&r).is_empty(), "nor by number");

    // Reads: the named customer's own ticket, public thread only.
    let path = format!("/api/v1/tickets/{ana}");
    let r = as_platform(&app, Method::GET, &path, Some("ana@example.com"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let text = r.body.to_string();
    assert!(text.contains("We are on it"));
    assert!(!text.contains("INTERNAL-ONLY"));
    assert_eq!(r.body["audit"], json!([]));
    // Another customer's ticket, or no customer named: not found.
    for who in [Some("bob@example.com"), None] {
        let r = as_platform(&app, Method::GET, &path, who, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{who:?}");
    }
    // Naming Bob reads Bob's.
    let r = as_platform(
        &app,
        Method::GET,
        &format!("/api/v1/tickets/{bob}"),
        Some("bob@example.com"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    // A malformed name is a clear error.
    let r = as_platform(&app, Method::GET, &path, Some("not an address"), None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "on-behalf-of");

    // Replies: the customer's words, on their own ticket only.
    let reply = json!({ "body": "Any news?" });
    let r = as_platform(
        &app,
        Method::POST,
        &format!("{path}/messages"),
        Some("ana@example.com"),
        Some(reply.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["message"]["kind"], "customer_message");
    let r = as_platform(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{bob}/messages"),
        Some("ana@example.com"),
        Some(reply),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Creating for someone else than the named customer is refused.
    let r = as_platform(
        &app,
        Method::POST,
        "/api/v1/tickets",
        Some("ana@example.com"),
        Some(json!({ "subject": "x", "body": "y",
                     "customer": { "email": "bob@example.com", "platform_user_id": "u-2" } })),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "customer.email");
}
