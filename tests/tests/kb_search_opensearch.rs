//! The OpenSearch KB adapter.
//!
//! No OpenSearch server can run on this machine, so the `recorded_*` tests serve responses taken
//! from the OpenSearch documentation (`tests/fixtures/opensearch/`) from a loopback HTTP server
//! that checks every request the adapter sends. The conformance suite runs against a real
//! endpoint when `OPENSEARCH_URL` is set (e.g. `http://localhost:9200` or
//! `https://user:pass@host:9200`), and is skipped with a message otherwise.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use helpdesk_adapters::aws::OpenSearchKbIndex;
use helpdesk_app::ports::{KbIndex, KbIndexError, KbQuery};
use helpdesk_domain::Audience;
use helpdesk_tests::kb_search::{doc, query};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

fn real() -> Option<Arc<dyn KbIndex>> {
    match std::env::var("OPENSEARCH_URL") {
        Ok(url) if !url.trim().is_empty() => {
            // A fresh index per check: runs never interfere.
            let name = format!(
                "helpdesk-kb-test-{}",
                ulid::Ulid::new().to_string().to_lowercase()
            );
            Some(Arc::new(
                OpenSearchKbIndex::new(&url, &name, None).expect("adapter"),
            ))
        }
        _ => {
            eprintln!("skipped: OPENSEARCH_URL is not set (the OpenSearch adapter is covered by the recorded_* tests)");
            None
        }
    }
}

helpdesk_tests::kb_search_conformance_tests!(real());

#[derive(Debug, Clone)]
struct Recorded {
    method: Method,
    path_and_query: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Recorded {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    fn ndjson(&self) -> Vec<Value> {
        let text = std::str::from_utf8(&self.body).expect("utf-8");
        assert!(text.ends_with('\n'), "bulk bodies end with a newline");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("one JSON per line"))
            .collect()
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// A loopback server replaying `responses` in order and recording each request.
struct Fake {
    url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/opensearch")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn fake(responses: Vec<(u16, &str)>) -> Fake {
    let script: Arc<Mutex<VecDeque<(u16, String)>>> = Arc::new(Mutex::new(
        responses
            .into_iter()
            .map(|(s, f)| (s, fixture(f)))
            .collect(),
    ));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (script2, requests2) = (script.clone(), requests.clone());
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (script, requests) = (script2.clone(), requests2.clone());
            async move {
                requests.lock().expect("lock").push(Recorded {
                    method,
                    path_and_query: uri
                        .path_and_query()
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    headers,
                    body,
                });
                let (status, body) = script
                    .lock()
                    .expect("lock")
                    .pop_front()
                    .unwrap_or((500, "{\"error\":\"unexpected request\"}".into()));
                (
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    [("content-type", "application/json")],
                    body,
                )
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Fake {
        url: format!("http://{addr}"),
        requests,
    }
}

impl Fake {
    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }
}

#[tokio::test]
async fn recorded_creates_the_index_then_bulk_indexes_with_external_versions() {
    let server = fake(vec![(200, "create-index.json"), (200, "bulk-index.json")]).await;
    let index = OpenSearchKbIndex::new(&server.url, "kb", None).expect("adapter");
    let en = helpdesk_app::ports::KbDocument {
        version: 3,
        tags: vec!["billing".into()],
        topic: vec!["Billing".into(), "Refunds".into()],
        ..doc("a1", "Refund policy", "Within 30 days.")
    };
    let de = helpdesk_app::ports::KbDocument {
        locale: "de".into(),
        audiences: vec![Audience::Internal],
        ..doc("a1", "Rückerstattung", "Innerhalb von 30 Tagen.")
    };
    // The second item is refused with 409 (a newer version is indexed): a stale event, not an error.
    index.upsert(vec![en, de]).await.expect("upsert");

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        (reqs[0].method.clone(), reqs[0].path_and_query.as_str()),
        (Method::PUT, "/kb")
    );
    let def = reqs[0].json();
    assert_eq!(
        def["mappings"]["properties"]["title_de"]["analyzer"],
        "german"
    );
    assert_eq!(
        def["mappings"]["properties"]["body_en"]["analyzer"],
        "english"
    );
    assert_eq!(
        def["mappings"]["properties"]["audiences"]["type"],
        "keyword"
    );
    assert_eq!(
        def["settings"]["analysis"]["filter"]["kb_synonyms"]["type"],
        "synonym_graph"
    );

    assert_eq!(reqs[1].method, Method::POST);
    assert_eq!(reqs[1].path_and_query, "/kb/_bulk?refresh=true");
    assert_eq!(reqs[1].header("content-type"), "application/x-ndjson");
    let lines = reqs[1].ndjson();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["index"]["_id"], "a1:en");
    assert_eq!(lines[0]["index"]["version"], 3);
    assert_eq!(lines[0]["index"]["version_type"], "external_gte");
    assert_eq!(lines[1]["title_en"], "Refund policy");
    assert_eq!(
        lines[1]["topic"],
        serde_json::json!(["Billing", "Billing\u{1f}Refunds"])
    );
    assert_eq!(lines[1]["audiences"], serde_json::json!(["customers"]));
    assert_eq!(lines[2]["index"]["_id"], "a1:de");
    assert_eq!(lines[3]["body_de"], "Innerhalb von 30 Tagen.");
    assert_eq!(lines[3]["audiences"], serde_json::json!(["internal"]));
}

#[tokio::test]
async fn recorded_existing_index_is_fine_and_failed_items_are_errors() {
    let server = fake(vec![
        (400, "create-index-exists.json"),
        (200, "bulk-mapping-error.json"),
    ])
    .await;
    let index = OpenSearchKbIndex::new(&server.url, "kb", None).expect("adapter");
    let err = index
        .upsert(vec![doc("a1", "T", "B")])
        .await
        .expect_err("a failed item fails the call");
    assert!(matches!(err, KbIndexError::Unavailable(_)));
    let chain = format!("{:?}", err);
    assert!(chain.contains("mapper_parsing_exception"), "{chain}");
    assert_eq!(
        server.requests().len(),
        2,
        "an existing index is not an error"
    );
}

#[tokio::test]
async fn recorded_search_sends_boosts_filters_and_highlighting() {
    let server = fake(vec![(200, "create-index.json"), (200, "search.json")]).await;
    let index = OpenSearchKbIndex::new(&server.url, "kb", None).expect("adapter");
    let q = KbQuery {
        locale: Some("en".into()),
        topic: Some(vec!["Billing".into(), "Refunds".into()]),
        limit: 5,
        ..query("refund card", &[Audience::Customers])
    };
    let hits = index.search(&q).await.expect("search");

    let reqs = server.requests();
    assert_eq!(
        (reqs[1].method.clone(), reqs[1].path_and_query.as_str()),
        (Method::POST, "/kb/_search")
    );
    let body = reqs[1].json();
    assert_eq!(body["size"], 5);
    let should = &body["query"]["bool"]["must"][0]["bool"]["should"];
    assert_eq!(should[0]["multi_match"]["query"], "refund card");
    assert_eq!(should[0]["multi_match"]["fields"][0], "title_en^3");
    assert_eq!(should[1]["multi_match"]["fuzziness"], "AUTO");
    let filter = body["query"]["bool"]["filter"].to_string();
    assert!(
        filter.contains(r#"{"terms":{"audiences":["customers"]}}"#),
        "{filter}"
    );
    assert!(
        filter.contains(r#"{"term":{"locale_key":"en"}}"#),
        "{filter}"
    );
    assert!(
        filter.contains(r#"{"term":{"topic":"Billing\u001fRefunds"}}"#),
        "{filter}"
    );
    assert_eq!(body["highlight"]["pre_tags"][0], "<mark>");
    assert_eq!(body["highlight"]["encoder"], "html");

    assert_eq!(hits.len(), 2);
    assert_eq!(
        (
            hits[0].article_id.as_str(),
            hits[0].locale.as_str(),
            hits[0].version
        ),
        ("01JREFUND", "en", 4)
    );
    assert_eq!(hits[0].title, "Refunds for card payments");
    assert!(hits[0].score > hits[1].score);
    assert_eq!(
        hits[0].snippet,
        "Ask for a <mark>refund</mark> within 30 days &amp; keep the receipt &lt;PDF&gt;."
    );
    assert!(
        hits[1].snippet.contains("<mark>refund</mark>"),
        "summary highlight when the body has none"
    );

    // Nothing to search: no request at all.
    assert!(index
        .search(&query("refund", &[]))
        .await
        .expect("search")
        .is_empty());
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn recorded_remove_and_clear() {
    let server = fake(vec![
        (200, "create-index.json"),
        (200, "bulk-delete-not-found.json"),
        (200, "delete-by-query.json"),
    ])
    .await;
    let index = OpenSearchKbIndex::new(&server.url, "kb", None).expect("adapter");
    index.remove("a1", "en").await.expect("absent is fine");
    index.clear().await.expect("clear");
    let reqs = server.requests();
    assert_eq!(reqs[1].path_and_query, "/kb/_bulk?refresh=true");
    assert_eq!(
        reqs[1].ndjson(),
        vec![serde_json::json!({ "delete": { "_id": "a1:en" } })]
    );
    assert_eq!(reqs[2].method, Method::POST);
    assert!(reqs[2]
        .path_and_query
        .starts_with("/kb/_delete_by_query?refresh=true"));
    assert_eq!(
        reqs[2].json(),
        serde_json::json!({ "query": { "match_all": {} } })
    );
}

#[tokio::test]
async fn recorded_requests_are_signed_with_sigv4() {
    use aws_sdk_dynamodb::config::{Credentials, Region, SharedCredentialsProvider};
    let server = fake(vec![(200, "create-index.json"), (200, "search.json")]).await;
    let config = aws_config::SdkConfig::builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token".into()),
            None,
            "test",
        )))
        .region(Region::new("eu-west-1"))
        .build();
    let index = OpenSearchKbIndex::from_sdk_config(&server.url, "kb", &config).expect("adapter");
    index
        .search(&query("refund", &[Audience::Customers]))
        .await
        .expect("search");
    let reqs = server.requests();
    for r in &reqs {
        let auth = r.header("authorization");
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{auth}"
        );
        assert!(auth.contains("/eu-west-1/es/aws4_request"), "{auth}");
        assert!(
            auth.contains("SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date"),
            "{auth}"
        );
        assert!(!r.header("x-amz-date").is_empty());
        assert_eq!(r.header("x-amz-security-token"), "session-token");
        use sha2::Digest;
        let digest: String = sha2::Sha256::digest(&r.body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            r.header("x-amz-content-sha256"),
            digest,
            "the payload hash is of the body sent"
        );
    }
}
