//! Agents' phone numbers and on-call flag over the HTTP API: E.164 parsing with field-named
//! errors, and the rules that make an on-call flag mean something (a phone, a lead's role).

use helpdesk_tests::TestApp;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn phones_are_parsed_and_on_call_needs_a_lead_with_a_phone() {
    let app = TestApp::spawn().await;
    let admin = app.admin();

    let r = app
        .post(
            "/api/v1/agents",
            &admin,
            json!({ "email": "sam@example.com", "name": "Sam", "role": "supervisor",
                    "phone": "+44 7700 900-123", "on_call": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["phone"], "+447700900123", "normalised to E.164");
    assert_eq!(r.body["on_call"], true);

    // Without the new fields: no phone, not on call (and the old body shape still works).
    let r = app
        .post(
            "/api/v1/agents",
            &admin,
            json!({ "email": "bob@example.com", "name": "Bob", "role": "agent" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["on_call"], false);
    assert!(r.body.get("phone").is_none(), "{:?}", r.body);

    for (body, field) in [
        (
            json!({ "email": "x@example.com", "name": "X", "role": "supervisor", "phone": "07700 900123" }),
            "phone",
        ),
        (
            json!({ "email": "x@example.com", "name": "X", "role": "supervisor", "phone": "+0123456789" }),
            "phone",
        ),
        (
            json!({ "email": "x@example.com", "name": "X", "role": "supervisor", "phone": 447700900123u64 }),
            "phone",
        ),
        (
            json!({ "email": "x@example.com", "name": "X", "role": "supervisor", "on_call": true }),
            "phone",
        ),
        (
            json!({ "email": "x@example.com", "name": "X", "role": "agent", "phone": "+447700900124", "on_call": true }),
            "on_call",
        ),
        (
            json!({ "email": "x@example.com", "name": "X", "role": "supervisor", "on_call": "yes" }),
            "on_call",
        ),
    ] {
        let r = app.post("/api/v1/agents", &admin, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {:?}",
            r.body
        );
        assert_eq!(r.body["field"], field, "{body}: {:?}", r.body);
    }

    // Going off call keeps the phone; the directory shows both.
    let r = app
        .put(
            "/api/v1/agents/sam@example.com",
            &admin,
            json!({ "email": "sam@example.com", "name": "Sam", "role": "supervisor",
                    "phone": "+447700900123", "on_call": false, "version": 1 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.get("/api/v1/agents/sam@example.com", &admin).await;
    assert_eq!(
        (r.body["phone"].as_str(), r.body["on_call"].as_bool()),
        (Some("+447700900123"), Some(false))
    );
}
