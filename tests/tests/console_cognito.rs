//! Console sign-in on AWS: Cognito hosted UI, authorization code + PKCE. A fake Cognito on
//! 127.0.0.1 (token endpoint + JWKS, RS256 with a test-only key) stands in for the real one;
//! the real `CognitoIdentity` adapter and the real router do everything else.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use helpdesk_adapters::aws::cognito::{CognitoConfig, CognitoIdentity};
use helpdesk_adapters::local::SqliteTable;
use helpdesk_app::{Helpdesk, SystemClock, UlidGen};
use reqwest::{redirect::Policy, StatusCode};
use serde_json::{json, Value};
use sha2::Digest;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const CLIENT_ID: &str = "console-client";
const KEY: &str = include_str!("../fixtures/oidc/test-signing-key.pem");
const JWKS: &str = include_str!("../fixtures/oidc/jwks.json");

#[derive(Clone, Default)]
struct FakeCognito {
    issuer: Arc<Mutex<String>>,
    /// The PKCE challenge the browser was sent with, and who signs in.
    challenge: Arc<Mutex<String>>,
    groups: Arc<Mutex<Vec<String>>>,
}

fn sign(claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("test-key-1".into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(KEY.as_bytes()).expect("test key");
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn token(
    State(fake): State<FakeCognito>,
    Form(form): Form<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let expected = fake.challenge.lock().expect("lock").clone();
    let ok = form.get("grant_type").map(String::as_str) == Some("authorization_code")
        && form.get("code").map(String::as_str) == Some("good-code")
        && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && challenge == expected;
    if !ok {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_grant" })),
        );
    }
    let issuer = fake.issuer.lock().expect("lock").clone();
    let groups = fake.groups.lock().expect("lock").clone();
    let mut claims = json!({ "sub": "u-1", "email": "ana@example.com", "token_use": "id", "aud": CLIENT_ID, "iss": issuer, "exp": now() + 3600, "iat": now() });
    if !groups.is_empty() {
        claims["cognito:groups"] = json!(groups);
    }
    (
        StatusCode::OK,
        Json(
            json!({ "id_token": sign(&claims), "access_token": "unused", "token_type": "Bearer", "expires_in": 3600 }),
        ),
    )
}

struct Setup {
    app: String,
    fake: FakeCognito,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let fake = FakeCognito::default();
    let idp = Router::new()
        .route("/oauth2/token", post(token))
        .route(
            "/.well-known/jwks.json",
            get(|| async { ([("content-type", "application/json")], JWKS) }),
        )
        .with_state(fake.clone());
    let idp_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let idp_url = format!("http://{}", idp_listener.local_addr().expect("addr"));
    *fake.issuer.lock().expect("lock") = idp_url.clone();
    tokio::spawn(async move { axum::serve(idp_listener, idp).await });

    let dir = tempfile::tempdir().expect("tempdir");
    let table = SqliteTable::open(dir.path().join("t.db")).expect("open");
    let helpdesk = Helpdesk::new(
        Arc::new(table),
        Arc::new(SystemClock),
        Arc::new(UlidGen::default()),
    );
    let provider = CognitoIdentity::new(CognitoConfig {
        domain: idp_url.clone(),
        issuer: idp_url.clone(),
        client_id: CLIENT_ID.into(),
    })
    .expect("provider");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let app_url = format!("http://{}", listener.local_addr().expect("addr"));
    let sso = helpdesk_http::auth::ConsoleSso {
        provider: Arc::new(provider),
        redirect_uri: format!("{app_url}/app/auth/callback"),
        session_key: vec![9; 32],
    };
    let router = helpdesk_api::app(helpdesk, Some(sso));
    tokio::spawn(async move { axum::serve(listener, router).await });
    Setup {
        app: app_url,
        fake,
        client: reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .expect("client"),
        _dir: dir,
    }
}

fn cookie_value(resp: &reqwest::Response, name: &str) -> Option<(String, String)> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|full| {
            let value = full[name.len() + 1..]
                .split(';')
                .next()
                .unwrap_or("")
                .to_string();
            (value, full.to_string())
        })
}

/// Starts a sign-in: returns the state from the authorize URL and the state cookie.
async fn start(s: &Setup) -> (String, String) {
    let resp = s
        .client
        .get(format!("{}/app/login?next=/app/tickets", s.app))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_string();
    assert!(
        location.starts_with(&format!(
            "{}/oauth2/authorize?",
            *s.fake.issuer.lock().expect("lock")
        )),
        "{location}"
    );
    let query: HashMap<String, String> =
        serde_urlencoded_parse(location.split_once('?').map(|(_, q)| q).unwrap_or(""));
    assert_eq!(query.get("response_type").map(String::as_str), Some("code"));
    assert_eq!(query.get("client_id").map(String::as_str), Some(CLIENT_ID));
    assert_eq!(
        query.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    assert_eq!(
        query.get("redirect_uri"),
        Some(&format!("{}/app/auth/callback", s.app))
    );
    *s.fake.challenge.lock().expect("lock") =
        query.get("code_challenge").cloned().expect("challenge");
    let (cookie, attrs) = cookie_value(&resp, "hd_oauth").expect("state cookie");
    for a in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/app/auth"] {
        assert!(attrs.contains(a), "{a} in {attrs}");
    }
    (query.get("state").cloned().expect("state"), cookie)
}

fn serde_urlencoded_parse(q: &str) -> HashMap<String, String> {
    reqwest::Url::parse(&format!("http://x/?{q}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

async fn callback(s: &Setup, code: &str, state: &str, cookie: &str) -> reqwest::Response {
    s.client
        .get(format!(
            "{}/app/auth/callback?code={code}&state={state}",
            s.app
        ))
        .header("cookie", format!("hd_oauth={cookie}"))
        .send()
        .await
        .expect("send")
}

#[tokio::test]
async fn agents_sign_in_through_the_hosted_ui() {
    let s = setup().await;
    *s.fake.groups.lock().expect("lock") = vec!["agent".into()];
    let resp = s
        .client
        .get(format!("{}/app/tickets", s.app))
        .send()
        .await
        .expect("send");
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "no session: to the sign-in page"
    );

    let (state, cookie) = start(&s).await;
    let resp = callback(&s, "good-code", &state, &cookie).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let (session, attrs) = cookie_value(&resp, "hd_session").expect("session cookie");
    assert!(
        attrs.contains("SameSite=Strict") && attrs.contains("HttpOnly") && attrs.contains("Secure")
    );
    assert!(resp
        .text()
        .await
        .unwrap_or_default()
        .contains("0;url=/app/tickets"));

    let page = s
        .client
        .get(format!("{}/app/tickets", s.app))
        .header("cookie", format!("hd_session={session}"))
        .send()
        .await
        .expect("send");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page
        .text()
        .await
        .unwrap_or_default()
        .contains("ana@example.com"));
    // The console session is not an API credential: /api/v1 still needs the authorizer's claims.
    let api = s
        .client
        .get(format!("{}/api/v1/tickets", s.app))
        .header("cookie", format!("hd_session={session}"))
        .send()
        .await
        .expect("send");
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn forged_or_replayed_sign_ins_are_refused() {
    let s = setup().await;
    *s.fake.groups.lock().expect("lock") = vec!["agent".into()];
    let (state, cookie) = start(&s).await;
    // State from another attempt.
    assert_eq!(
        callback(&s, "good-code", "not-the-state", &cookie)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    // No state cookie (a callback opened in another browser).
    let resp = s
        .client
        .get(format!(
            "{}/app/auth/callback?code=good-code&state={state}",
            s.app
        ))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // A tampered verifier: the provider refuses the exchange.
    let mut parts: Vec<&str> = cookie.splitn(3, '.').collect();
    parts[1] = "tampered-verifier";
    assert_eq!(
        callback(&s, "good-code", &state, &parts.join("."))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // A wrong code.
    assert_eq!(
        callback(&s, "bad-code", &state, &cookie).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The provider's own error.
    let resp = s
        .client
        .get(format!("{}/app/auth/callback?error=access_denied", s.app))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // Session cookies that are not the provider's valid ID token open nothing.
    let issuer = s.fake.issuer.lock().expect("lock").clone();
    let expired = sign(
        &json!({ "sub": "u", "email": "ana@example.com", "token_use": "id", "aud": CLIENT_ID, "iss": issuer, "exp": now() - 600, "cognito:groups": ["admin"] }),
    );
    let wrong_aud = sign(
        &json!({ "sub": "u", "email": "ana@example.com", "token_use": "id", "aud": "other", "iss": issuer, "exp": now() + 600, "cognito:groups": ["admin"] }),
    );
    let access = sign(
        &json!({ "sub": "u", "email": "ana@example.com", "token_use": "access", "aud": CLIENT_ID, "iss": issuer, "exp": now() + 600, "cognito:groups": ["admin"] }),
    );
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({ "sub": "u", "email": "a@example.com", "exp": now() + 600 }),
        &jsonwebtoken::EncodingKey::from_secret(b"x"),
    )
    .expect("hs");
    for bad in [expired, wrong_aud, access, hs, "garbage".to_string()] {
        let resp = s
            .client
            .get(format!("{}/app", s.app))
            .header("cookie", format!("hd_session={bad}"))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "refused: {bad:.20}");
    }
}

#[tokio::test]
async fn customers_cannot_open_the_console() {
    let s = setup().await;
    // No staff group: a customer.
    let (state, cookie) = start(&s).await;
    let resp = callback(&s, "good-code", &state, &cookie).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(cookie_value(&resp, "hd_session").is_none());
}
