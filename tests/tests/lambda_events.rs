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
