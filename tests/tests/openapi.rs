//! The OpenAPI document says what the server does (the contract `scripts/schemathesis.sh`
//! checks by fuzzing): errors are problem documents and documented as such, the statuses every
//! operation can answer are declared, parameters carry their bounds and patterns, and the
//! server's own answers (too large, URL too long, bad query, bad token) are problem documents.

use helpdesk_tests::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn document(app: &TestApp) -> Value {
    let r = app
        .request(Method::GET, "/api/v1/openapi.json", None, None, &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    r.body
}

fn operation<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is documented");
    op
}

fn param<'a>(op: &'a Value, name: &str) -> &'a Value {
    op["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("parameter {name} in {op}"))
}

fn statuses(op: &Value) -> Vec<String> {
    op["responses"]
        .as_object()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default()
}

/// Every JSON API operation and method: (path, method, operation).
fn api_operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if !(path.starts_with("/api/") || path.starts_with("/help/api/")) {
            continue;
        }
        for (method, op) in item.as_object().expect("path item") {
            out.push((path.clone(), method.clone(), op.clone()));
        }
    }
    out
}

#[tokio::test]
async fn errors_are_documented_as_problem_json() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let mut checked = 0;
    for (path, method, op) in api_operations(&doc) {
        for (status, response) in op["responses"].as_object().expect("responses") {
            if status.as_str() < "400" {
                continue;
            }
            let Some(content) = response["content"].as_object() else {
                continue;
            };
            assert!(
                !content.contains_key("application/json"),
                "{method} {path} {status} is documented as application/json"
            );
            assert_eq!(
                content["application/problem+json"]["schema"]["$ref"],
                "#/components/schemas/Problem",
                "{method} {path} {status}"
            );
            checked += 1;
        }
    }
    assert!(checked > 300, "only {checked} error responses");
}

#[tokio::test]
async fn the_statuses_every_operation_can_answer_are_declared() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let create = operation(&doc, "/api/v1/tickets", "post");
    for status in ["400", "401", "413", "415", "422"] {
        assert!(
            statuses(create).contains(&status.to_string()),
            "POST /api/v1/tickets declares {status}: {:?}",
            statuses(create)
        );
    }
    let list = operation(&doc, "/api/v1/tickets", "get");
    for status in ["400", "401"] {
        assert!(statuses(list).contains(&status.to_string()), "{status}");
    }
    for (path, method, op) in api_operations(&doc) {
        let secured = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        if secured {
            assert!(
                statuses(&op).contains(&"401".to_string()),
                "{method} {path} takes a token but does not declare 401"
            );
        }
        if op["requestBody"]["content"]["application/json"].is_object() {
            for status in ["400", "413", "415", "422"] {
                assert!(
                    statuses(&op).contains(&status.to_string()),
                    "{method} {path} takes JSON but does not declare {status}"
                );
            }
        }
    }
}

#[tokio::test]
async fn parameters_carry_their_bounds_and_patterns() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let limit = &param(operation(&doc, "/api/v1/tickets", "get"), "limit")["schema"];
    assert_eq!(
        (limit["minimum"].as_u64(), limit["maximum"].as_u64()),
        (Some(1), Some(100))
    );
    let limit = &param(operation(&doc, "/api/v1/agents", "get"), "limit")["schema"];
    assert_eq!(
        (limit["minimum"].as_u64(), limit["maximum"].as_u64()),
        (Some(1), Some(200))
    );
    let if_match = &param(
        operation(&doc, "/api/v1/tickets/{ticket}", "patch"),
        "If-Match",
    );
    assert!(if_match["schema"]["pattern"].is_string(), "{if_match}");
    let ticket = &param(operation(&doc, "/api/v1/tickets/{ticket}", "get"), "ticket");
    let pattern = ticket["schema"]["pattern"]
        .as_str()
        .expect("ticket pattern");
    assert!(
        pattern.contains("tkt_") && pattern.contains("[Hh][Dd]"),
        "{pattern}"
    );
    assert!(doc["components"]["schemas"]["TicketId"]["pattern"].is_string());
}

#[tokio::test]
async fn audit_before_and_after_are_any_json_value() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let change = &doc["components"]["schemas"]["FieldChange"]["properties"];
    for side in ["before", "after"] {
        assert!(
            change[side].get("type").is_none(),
            "FieldChange.{side} is any value, not {}",
            change[side]
        );
    }
    // What the server really records: strings and null.
    let admin = app.admin();
    let t = app
        .post(
            "/api/v1/tickets",
            &admin,
            json!({ "subject": "s", "body": "b", "customer": { "email": "c@example.com" } }),
        )
        .await
        .body;
    let id = t["id"].as_str().expect("id");
    let r = app
        .patch(
            &format!("/api/v1/tickets/{id}"),
            &admin,
            json!({ "priority": "high", "category": "billing" }),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let view = app.get(&format!("/api/v1/tickets/{id}"), &admin).await.body;
    let changes: Vec<Value> = view["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .flat_map(|e| e["changes"].as_array().cloned().unwrap_or_default())
        .collect();
    assert!(
        changes.iter().any(|c| c["before"].is_string()),
        "{changes:?}"
    );
    assert!(changes.iter().any(|c| c["before"].is_null()), "{changes:?}");
}

#[tokio::test]
async fn an_oversized_body_is_413_too_large() {
    let app = TestApp::spawn().await;
    let body = json!({
        "subject": "s",
        "body": "x".repeat(3 * 1024 * 1024),
        "customer": { "email": "c@example.com" },
    });
    let r = app.post("/api/v1/tickets", &app.admin(), body).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", r.body);
    assert_eq!(r.content_type(), "application/problem+json");
    assert_eq!(r.body["type"], "https://helpdesk.dev/problems/too-large");
    assert_eq!(r.body["field"], "body");
}

#[tokio::test]
async fn a_url_too_long_to_read_is_414_problem_json() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    // Sent by hand: HTTP clients refuse to build a URL this long.
    let addr = app.base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET /api/v1/tickets?q={} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    conn.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").expect("head and body");
    assert!(head.starts_with("HTTP/1.1 414 "), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{head}"
    );
    let problem: Value = serde_json::from_str(body).expect("a problem document");
    assert_eq!(
        problem["type"],
        "https://helpdesk.dev/problems/uri-too-long"
    );
    assert_eq!(problem["status"], 414);
    assert_eq!(problem["field"], "url");
    // The server still answers afterwards.
    let r = app.get("/api/v1/me", &app.admin()).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn query_parameter_problems_are_400_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    for path in [
        "/api/v1/tickets?limit=0",
        "/api/v1/tickets?limit=101",
        "/api/v1/tickets?sort=sideways",
        "/api/v1/agents?limit=201",
        "/api/v1/quarantine?limit=abc",
        "/api/v1/routing/dead-letters?limit=0",
        "/api/v1/kb/articles?limit=0",
        "/api/v1/templates?limit=x",
    ] {
        let r = app.get(path, &admin).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {:?}", r.body);
        assert_eq!(r.content_type(), "application/problem+json", "{path}");
        assert_eq!(r.body["type"], "https://helpdesk.dev/problems/bad-request");
        let want = if path.contains("sort=") {
            "sort"
        } else {
            "limit"
        };
        assert_eq!(r.body["field"], want, "{path}");
    }
    let r = app
        .post("/api/v1/routing/rebalance?dry_run=", &admin, json!({}))
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("dry_run"))
    );
    let r = app.get("/api/v1/tickets?cursor=garbage", &admin).await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("cursor"))
    );
}

#[tokio::test]
async fn a_json_number_with_no_fraction_is_an_integer() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let t = app
        .post(
            "/api/v1/tickets",
            &admin,
            json!({ "subject": "s", "body": "b", "customer": { "email": "c@example.com" } }),
        )
        .await
        .body;
    let id = t["id"].as_str().expect("id");
    let r = app
        .patch(
            &format!("/api/v1/tickets/{id}"),
            &admin,
            json!({ "priority": "high", "version": 1.0 }),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

#[tokio::test]
async fn a_token_not_yet_valid_is_401() {
    let app = TestApp::spawn().await;
    let key = helpdesk_adapters::local::keyfile::load_or_create_secret(&helpdesk::jwt_key_path(
        app.data.path(),
    ))
    .expect("key");
    let now = chrono::Utc::now().timestamp();
    let token = |nbf: i64| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &json!({
                "sub": "admin@example.com", "role": "admin", "email": "admin@example.com",
                "iss": "helpdesk-local", "iat": now, "exp": now + 7200, "nbf": nbf,
            }),
            &jsonwebtoken::EncodingKey::from_secret(&key),
        )
        .expect("sign")
    };
    let r = app.get("/api/v1/me", &token(now + 3600)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    assert_eq!(r.content_type(), "application/problem+json");
    let r = app.get("/api/v1/me", &token(now - 10)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}
