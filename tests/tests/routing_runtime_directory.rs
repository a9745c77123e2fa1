//! Customer pre-population: `helpdesk import-customers` into the stored customers table, the
//! HTTP adapter to the platform's user API (bearer, timeout, TTL cache) against a loopback
//! server, and `Helpdesk::enrich_customer` over both.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use helpdesk_adapters::platform::{DirectorySettings, HttpCustomerDirectory, Secret};
use helpdesk_app::customer_directory::CustomerDirectory;
use helpdesk_app::tickets::{CustomerRef, NewTicket};
use helpdesk_app::Helpdesk;
use helpdesk_domain::{Actor, EmailAddress, Ticket, Tier};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

async fn ticket(h: &Helpdesk, email: &str, puid: Option<&str>) -> Ticket {
    let input = NewTicket {
        subject: "Where is my invoice?".into(),
        body: "I cannot find the invoice for November.".into(),
        channel: None,
        priority: None,
        category: None,
        customer: Some(CustomerRef {
            email: EmailAddress::parse(email).expect("email"),
            name: None,
            platform_user_id: puid.map(str::to_string),
            locale: None,
        }),
        department: None,
        assignee: None,
        tags: Vec::new(),
    };
    let actor = Actor::System { job: "test".into() };
    h.create_ticket(&actor, input, None)
        .await
        .expect("create")
        .0
}

#[tokio::test]
async fn import_customers_good_and_bad_rows_idempotent_then_enrich() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (h, _, _) = helpdesk::open_helpdesk(dir.path()).expect("open");
    let csv = dir.path().join("customers.csv");
    std::fs::write(
        &csv,
        "Email,name,tier,business_owner,plan,locale,account_id,platform_user_id\n\
         ana@example.com,Ana Lima,business,yes,Business Annual,pt_br,acct-7,u-100\n\
         \"bo@example.com\",\"Bo, Jr.\",pro,false,,en,,\n\
         not-an-email,X,free,no,,,,\n\
         cy@example.com,Cy,platinum,no,,,,\n\
         di@example.com,Di,free,maybe,,,,\n\
         ed@example.com,Ed,free,no,,english!,,\n",
    )
    .expect("write");
    let s = helpdesk::import::import_customers(&h, &csv)
        .await
        .expect("import");
    assert_eq!(
        (s.rows, s.created, s.updated, s.unchanged),
        (6, 2, 0, 0),
        "{s:?}"
    );
    let errors: Vec<(u64, &str)> = s
        .errors
        .iter()
        .map(|e| (e.line, e.field.as_str()))
        .collect();
    assert_eq!(
        errors,
        vec![
            (4, "email"),
            (5, "tier"),
            (6, "business_owner"),
            (7, "locale")
        ]
    );
    // Again: nothing to write.
    let s = helpdesk::import::import_customers(&h, &csv)
        .await
        .expect("import");
    assert_eq!((s.created, s.updated, s.unchanged), (0, 0, 2));
    // A changed row updates only what it sets.
    std::fs::write(&csv, "email,plan\nbo@example.com,Pro Monthly\n").expect("write");
    let s = helpdesk::import::import_customers(&h, &csv)
        .await
        .expect("import");
    assert_eq!((s.updated, s.unchanged), (1, 0));
    let admin = Actor::Staff {
        email: EmailAddress::parse("admin@example.com").expect("e"),
        role: helpdesk_domain::Role::Admin,
    };
    let bo = h
        .get_customer(&admin, &EmailAddress::parse("bo@example.com").expect("e"))
        .await
        .expect("bo");
    assert_eq!(bo.name.as_deref(), Some("Bo, Jr."));
    assert_eq!(bo.tier, Tier::Pro);
    assert_eq!(bo.plan.as_deref(), Some("Pro Monthly"));

    // A bad header is refused as a whole.
    std::fs::write(&csv, "email,colour\nx@example.com,red\n").expect("write");
    let err = helpdesk::import::import_customers(&h, &csv)
        .await
        .expect_err("unknown column");
    assert!(err.to_string().contains("colour"), "{err}");

    // Enrichment: an in-app ticket names the platform user id; the stored profile fills the
    // ticket's customer (the ticket was opened under another e-mail, the id wins).
    let mut t = ticket(&h, "ana.alt@example.com", None).await;
    t.customer.platform_user_id = Some("u-100".into());
    assert_eq!(t.customer.tier, Tier::Free);
    let e = h.enrich_customer(&mut t).await.expect("enrich");
    assert_eq!(t.customer.tier, Tier::Business);
    assert!(t.customer.business_owner);
    assert_eq!(t.customer.plan.as_deref(), Some("Business Annual"));
    assert_eq!(t.customer.locale.as_deref(), Some("pt-BR"));
    assert_eq!(t.customer.account_id.as_deref(), Some("acct-7"));
    assert_eq!(t.customer.name.as_deref(), Some("Ana Lima"));
    assert!(
        e.changed.contains(&"tier") && e.changed.contains(&"account_id"),
        "{e:?}"
    );
    // Enriching again changes nothing.
    let again = h.enrich_customer(&mut t).await.expect("enrich");
    assert!(again.changed.is_empty());
    // Unknown customers are left alone.
    let mut u = ticket(&h, "nobody@example.com", None).await;
    let before = u.clone();
    h.enrich_customer(&mut u).await.expect("enrich");
    assert_eq!(u.customer.tier, before.customer.tier);
}

#[derive(Clone, Default)]
struct Platform {
    hits: Arc<AtomicUsize>,
}

async fn user(
    State(p): State<Platform>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, StatusCode> {
    p.hits.fetch_add(1, Ordering::SeqCst);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer s3cret") {
        return Err(StatusCode::UNAUTHORIZED);
    }
    match id.as_str() {
        "u-1" => Ok(Json(json!({
            "name": "Ida Platform", "tier": "enterprise", "business_owner": true,
            "plan": "Enterprise 2026", "locale": "de", "account_id": "org-9", "extra": "ignored"
        }))),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok(Json(json!({})))
        }
        "broken" => Err(StatusCode::INTERNAL_SERVER_ERROR),
        "garbage" => Ok(Json(json!({ "tier": 42 }))),
        _ => Err(StatusCode::NOT_FOUND),
    }
}

async fn by_email(
    State(p): State<Platform>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, StatusCode> {
    p.hits.fetch_add(1, Ordering::SeqCst);
    match q.get("email").map(String::as_str) {
        Some("jo@example.com") => Ok(Json(json!({ "tier": "pro", "plan": "Pro" }))),
        _ => Err(StatusCode::NOT_FOUND),
    }
}

async fn platform() -> (String, Platform) {
    let p = Platform::default();
    let app = Router::new()
        .route("/users", get(by_email))
        .route("/users/{id}", get(user))
        .with_state(p.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/users"), p)
}

fn directory(url: &str, token: &str, ttl: Duration) -> HttpCustomerDirectory {
    HttpCustomerDirectory::new(DirectorySettings {
        url: url.to_string(),
        token: Some(Secret::new(token)),
        timeout: Duration::from_millis(300),
        cache_ttl: ttl,
    })
    .expect("directory")
}

#[tokio::test]
async fn http_directory_bearer_cache_timeout_and_errors() {
    let (url, p) = platform().await;
    let d = directory(&url, "s3cret", Duration::from_secs(60));
    let email = EmailAddress::parse("ida@example.com").expect("e");
    let profile = d
        .lookup(&email, Some("u-1"))
        .await
        .expect("lookup")
        .expect("known");
    assert_eq!(profile.tier, Some(Tier::Enterprise));
    assert_eq!(profile.account_id.as_deref(), Some("org-9"));
    // Cached: a second lookup does not reach the platform.
    d.lookup(&email, Some("u-1")).await.expect("lookup");
    assert_eq!(p.hits.load(Ordering::SeqCst), 1);
    // By e-mail when there is no platform user id; unknown is None (and cached as such).
    let jo = EmailAddress::parse("jo@example.com").expect("e");
    let found = d.lookup(&jo, None).await.expect("lookup").expect("known");
    assert_eq!(found.plan.as_deref(), Some("Pro"));
    let nobody = EmailAddress::parse("nobody@example.com").expect("e");
    assert!(d.lookup(&nobody, None).await.expect("lookup").is_none());
    assert!(d.lookup(&nobody, None).await.expect("lookup").is_none());
    assert_eq!(p.hits.load(Ordering::SeqCst), 3);
    // Failures are errors and are not cached.
    assert!(d.lookup(&email, Some("broken")).await.is_err());
    assert!(d.lookup(&email, Some("broken")).await.is_err());
    assert_eq!(p.hits.load(Ordering::SeqCst), 5);
    assert!(d.lookup(&email, Some("garbage")).await.is_err());
    assert!(d.lookup(&email, Some("slow")).await.is_err(), "timed out");
    // Wrong credential: the platform refuses, the lookup fails.
    let wrong = directory(&url, "nope", Duration::ZERO);
    assert!(wrong.lookup(&email, Some("u-1")).await.is_err());
    // No cache with a zero TTL.
    let uncached = directory(&url, "s3cret", Duration::ZERO);
    let before = p.hits.load(Ordering::SeqCst);
    uncached.lookup(&email, Some("u-1")).await.expect("lookup");
    uncached.lookup(&email, Some("u-1")).await.expect("lookup");
    assert_eq!(p.hits.load(Ordering::SeqCst), before + 2);
    // Configuration from the environment (one reader: helpdesk_compose::Settings).
    let env = |k: &str| match k {
        "CUSTOMER_DIRECTORY_URL" => Some(url.clone()),
        "CUSTOMER_DIRECTORY_TIMEOUT_MS" => Some("soon".into()),
        _ => None,
    };
    assert!(helpdesk_compose::Settings::from_env(env).is_err());
    assert!(helpdesk_compose::Settings::from_env(|_| None)
        .expect("off")
        .directory
        .is_none());
    assert!(helpdesk_compose::Settings::from_env(
        |k| (k == "CUSTOMER_DIRECTORY_URL").then(|| "ftp://x".to_string())
    )
    .is_err());
}

#[tokio::test]
async fn enrich_through_the_http_directory_and_when_it_is_down() {
    let (url, _) = platform().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (h, _, _) = helpdesk::open_helpdesk(dir.path()).expect("open");
    let h = h.with_customer_directory(Arc::new(directory(&url, "s3cret", Duration::from_secs(60))));
    let mut t = ticket(&h, "ida@example.com", Some("u-1")).await;
    let e = h.enrich_customer(&mut t).await.expect("enrich");
    assert_eq!(t.customer.tier, Tier::Enterprise);
    assert!(t.customer.business_owner);
    assert_eq!(t.customer.locale.as_deref(), Some("de"));
    assert!(e.decision.contains("filled"), "{e:?}");

    let down = h.with_customer_directory(Arc::new(directory(
        "http://127.0.0.1:9/users",
        "s3cret",
        Duration::from_secs(60),
    )));
    let mut u = ticket(&down, "jo@example.com", None).await;
    let before = u.clone();
    let e = down.enrich_customer(&mut u).await.expect("degrades");
    assert_eq!(u, before);
    assert!(e.decision.contains("failed"), "{e:?}");
}
