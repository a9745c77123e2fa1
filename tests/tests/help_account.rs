//! The help centre's sign-in link and "my requests" pages, driven like a browser: a cookie jar,
//! forms with their CSRF token, the sign-in link read from the outbox `.eml` files.

use base64::Engine;
use helpdesk_adapters::local::SqliteTable;
use helpdesk_app::ports::{Condition, Key, Table};
use helpdesk_mail::{InboundEmail, Limits};
use helpdesk_tests::TestApp;
use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A browser without JavaScript: cookies (kept by hand: they are `Secure` and this is plain
/// HTTP), no redirects followed.
struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
    /// The server's data directory: [`Browser::ask_link`] waits for its sign-in worker.
    data: PathBuf,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `_csrf` value of the page's first form.
    fn csrf(&self) -> String {
        let marker = "name=\"_csrf\" value=\"";
        let start = self.body.find(marker).expect("a form with _csrf") + marker.len();
        let end = self.body[start..].find('"').expect("end of value") + start;
        self.body[start..end].to_string()
    }
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser {
            base: app.base.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: BTreeMap::new(),
            data: app.data.path().to_path_buf(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let req = if self.cookies.is_empty() {
            req
        } else {
            req.header(COOKIE, self.cookie_header())
        };
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        for v in headers.get_all(SET_COOKIE) {
            let v = v.to_str().expect("ascii cookie");
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        let body = resp.text().await.expect("body");
        Page {
            status,
            headers,
            body,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .form(fields);
        self.send(req).await
    }

    async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, &[u8])],
    ) -> Page {
        let boundary = "----helpdesk-test-boundary-7d1";
        let mut body = Vec::new();
        for (k, v) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        for (name, ct, bytes) in files {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: {ct}\r\n\r\n")
                    .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        self.send(req).await
    }

    /// Asks for a sign-in link for `email` through the form, then waits until the server's
    /// worker has processed the request (the page answers before the lookup and the mail).
    async fn ask_link(&mut self, email: &str) -> Page {
        let form = self.get("/help/signin").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = form.csrf();
        let page = self
            .post("/help/signin", &[("_csrf", &csrf), ("email", email)])
            .await;
        helpdesk_tests::test_app::sign_in_requests_processed(&self.data).await;
        page
    }

    /// Opens a link's page and presses its Sign in button (or returns the page when it says
    /// the link cannot be used).
    async fn use_link(&mut self, link_path: &str) -> Page {
        let page = self.get(link_path).await;
        if page.status != StatusCode::OK {
            return page;
        }
        let csrf = page.csrf();
        self.post(link_path, &[("_csrf", &csrf)]).await
    }

    /// The CSRF token of this browser's visitor (from any page with a form).
    async fn csrf(&mut self) -> String {
        let p = self.get("/help/signin").await;
        if p.status == StatusCode::SEE_OTHER {
            // Signed in: the footer's sign-out form carries it.
            return self.get("/help/tickets").await.csrf();
        }
        p.csrf()
    }
}

fn outbox(app: &TestApp) -> Vec<InboundEmail> {
    let dir = app.data.path().join("outbox").join("email");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "eml"));
    files.sort();
    files
        .iter()
        .map(|f| {
            let raw = std::fs::read(f).expect("read eml");
            helpdesk_mail::parse(&raw, &Limits::default())
                .into_result()
                .expect("our own mail parses")
        })
        .collect()
}

/// Sign-in mails sent to `to`.
fn link_mails(app: &TestApp, to: &str) -> Vec<InboundEmail> {
    outbox(app)
        .into_iter()
        .filter(|m| m.subject.contains("sign-in link") && m.to.iter().any(|t| t.address == to))
        .collect()
}

/// The path of the one sign-in link e-mailed to `to` last.
fn link_path(app: &TestApp, to: &str) -> String {
    let mails = link_mails(app, to);
    let mail = mails.last().expect("a sign-in mail");
    let prefix = format!("{}/help/signin/", app.base);
    let start = mail.text.find(&prefix).expect("link in the text");
    let token: String = mail.text[start + prefix.len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_eq!(token.len(), 43, "256-bit token");
    format!("/help/signin/{token}")
}

/// A browser signed in as `email` (who must have a ticket).
async fn signed_in(app: &TestApp, email: &str) -> Browser {
    let mut b = Browser::new(app);
    assert_eq!(b.ask_link(email).await.status, StatusCode::OK);
    let done = b.use_link(&link_path(app, email)).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    b
}

async fn ticket_view(app: &TestApp, number: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/tickets/{number}"), &app.admin())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
}

fn number(t: &Value) -> String {
    t["number"].as_str().expect("number").to_string()
}

#[tokio::test]
async fn a_known_address_gets_a_link_that_signs_in_once() {
    let app = TestApp::spawn().await;
    let t = app
        .ticket_for(&app.admin(), "ana@example.com", "Printer on fire")
        .await;
    let mut b = Browser::new(&app);
    let sent = b.ask_link("Ana@Example.com").await;
    assert_eq!(sent.status, StatusCode::OK);
    assert!(sent.body.contains("Check your e-mail"), "{}", sent.body);
    let mails = link_mails(&app, "ana@example.com");
    assert_eq!(mails.len(), 1, "one e-mail");
    assert!(
        !mails[0].text.contains("<img")
            && mails[0]
                .html
                .as_deref()
                .is_some_and(|h| !h.contains("<img")),
        "no tracking images"
    );
    let link = link_path(&app, "ana@example.com");

    // Opening the link (a mail scanner, a preview) does not use it up.
    for _ in 0..2 {
        let p = Browser::new(&app).get(&link).await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(p.body.contains("Sign in"));
    }
    let done = b.use_link(&link).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.location(), "/help/tickets");
    let cookie = done
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("hd_customer="))
        .expect("session cookie")
        .to_string();
    for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/help"] {
        assert!(cookie.contains(attr), "{cookie} has {attr}");
    }
    let list = b.get("/help/tickets").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains(&number(&t)), "{}", list.body);
    assert!(list.body.contains("Printer on fire"));
    assert!(list.body.contains("Received"), "status in words");

    // The link worked once: a second use, from anywhere, is refused.
    let mut other = Browser::new(&app);
    let again = other.use_link(&link).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.body.contains("already used"));
    assert!(again.body.contains("href=\"/help/signin\""));
    // Pressing the button of a page opened before the link was used: refused as well.
    let csrf = other.csrf().await;
    let again = other.post(&link, &[("_csrf", &csrf)]).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(!other.cookies.contains_key("hd_customer"));
}

#[tokio::test]
async fn an_unknown_address_gets_the_same_page_and_no_mail() {
    let app = TestApp::spawn().await;
    app.ticket_for(&app.admin(), "ana@example.com", "Hello")
        .await;
    let mut b = Browser::new(&app);
    let known = b.ask_link("ana@example.com").await;
    let unknown = b.ask_link("zed@example.com").await;
    assert_eq!(known.status, unknown.status);
    assert_eq!(
        known.body.replace("ana@example.com", "X"),
        unknown.body.replace("zed@example.com", "X"),
        "no difference but the address"
    );
    assert!(link_mails(&app, "zed@example.com").is_empty());
    assert_eq!(
        outbox(&app)
            .iter()
            .filter(|m| m.subject.contains("sign-in"))
            .count(),
        1
    );

    // A malformed address re-renders the form with the message by the field and the input kept.
    let csrf = b.csrf().await;
    let bad = b
        .post(
            "/help/signin",
            &[("_csrf", &csrf), ("email", "not-an-address")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("value=\"not-an-address\""));
    assert!(bad.body.contains("aria-invalid=\"true\""));
}

#[tokio::test]
async fn links_are_rate_limited_per_address() {
    let app = TestApp::spawn().await;
    app.ticket_for(&app.admin(), "ana@example.com", "Hello")
        .await;
    let mut b = Browser::new(&app);
    for _ in 0..5 {
        assert_eq!(b.ask_link("ana@example.com").await.status, StatusCode::OK);
    }
    let limited = b.ask_link("ana@example.com").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(link_mails(&app, "ana@example.com").len(), 5);
    // Unknown addresses are limited alike (the answer must not tell them apart).
    for _ in 0..5 {
        assert_eq!(b.ask_link("zed@example.com").await.status, StatusCode::OK);
    }
    assert_eq!(
        b.ask_link("zed@example.com").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn links_are_rate_limited_per_network_address() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    // Every test request comes from 127.0.0.1; different addresses, one network address.
    for i in 0..30 {
        let r = b.ask_link(&format!("user{i}@example.com")).await;
        assert_eq!(r.status, StatusCode::OK, "request {i}");
    }
    let limited = b.ask_link("user-last@example.com").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.body.contains("Too many"));
}

#[tokio::test]
async fn expired_and_forged_links_are_refused() {
    let app = TestApp::spawn().await;
    app.ticket_for(&app.admin(), "ana@example.com", "Hello")
        .await;
    let mut b = Browser::new(&app);
    b.ask_link("ana@example.com").await;
    let link = link_path(&app, "ana@example.com");
    let token = link.trim_start_matches("/help/signin/");

    // Age the stored link past its 20 minutes (the server runs on the real clock).
    let table = SqliteTable::open(helpdesk::database_path(app.data.path())).expect("db");
    let hash: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let key = Key::new(format!("SIGNIN#{hash}"), "SIGNIN");
    let mut item = table.get(&key).await.expect("get").expect("stored by hash");
    assert!(
        !item.doc.to_string().contains(token),
        "only the hash is stored"
    );
    // The delivered mail's stored copy (`MAIL#{id}`, id from its Message-ID) keeps no link.
    let mail = link_mails(&app, "ana@example.com").pop().expect("mail");
    let id = mail
        .message_id
        .trim_matches(|c| c == '<' || c == '>')
        .strip_prefix("signin.")
        .and_then(|m| m.split('@').next())
        .expect("our Message-ID")
        .to_string();
    let stored = table
        .get(&Key::new(format!("MAIL#{id}"), format!("OUT#{id}")))
        .await
        .expect("get")
        .expect("the sent mail is kept until the link expires");
    assert_eq!(stored.doc["state"], "sent");
    assert!(
        !stored.doc.to_string().contains(token),
        "no link in storage"
    );
    let now = chrono::Utc::now().timestamp();
    item.doc["expires"] = json!(now - 1);
    let v = item.version;
    item.version += 1;
    table
        .put(item, Condition::VersionIs(v))
        .await
        .expect("age the link");
    let expired = b.use_link(&link).await;
    assert_eq!(expired.status, StatusCode::GONE);
    assert!(expired.body.contains("expired"));
    let csrf = b.csrf().await;
    let expired = b.post(&link, &[("_csrf", &csrf)]).await;
    assert_eq!(expired.status, StatusCode::GONE);
    assert!(!b.cookies.contains_key("hd_customer"));

    // A token of the right shape that we never made; one of the wrong shape.
    let forged = format!("/help/signin/{}", "A".repeat(43));
    let r = b.use_link(&forged).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = b.post(&forged, &[("_csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("href=\"/help/signin\""));
    let r = b.get("/help/signin/short").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let csrf = b.csrf().await;
    let r = b.post("/help/signin/short", &[("_csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn tampered_cookies_and_signed_out_sessions_are_signed_out() {
    let app = TestApp::spawn().await;
    app.ticket_for(&app.admin(), "ana@example.com", "Hello")
        .await;
    app.ticket_for(&app.admin(), "bob@example.com", "Bob's")
        .await;
    let mut ana = signed_in(&app, "ana@example.com").await;
    let good = ana.cookies["hd_customer"].clone();
    assert_eq!(ana.get("/help/tickets").await.status, StatusCode::OK);

    // Flipped signature; Bob's address in Ana's sealed payload with Ana's signature.
    let (body, sig) = good.split_once('.').expect("sealed");
    let mut flipped = sig.to_string();
    let last = flipped.pop().expect("char");
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = String::from_utf8(b64.decode(body).expect("b64")).expect("utf8");
    let swapped = b64.encode(payload.replace("ana@example.com", "bob@example.com"));
    for bad in [
        format!("{body}.{flipped}"),
        format!("{swapped}.{sig}"),
        "garbage".into(),
    ] {
        ana.cookies.insert("hd_customer".into(), bad.clone());
        let r = ana.get("/help/tickets").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{bad}");
        assert_eq!(r.location(), "/help/signin");
    }

    // Sign-out ends the session on the server: the old cookie no longer works.
    ana.cookies.insert("hd_customer".into(), good.clone());
    let csrf = ana.csrf().await;
    let out = ana.post("/help/signout", &[("_csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::OK);
    assert!(!ana.cookies.contains_key("hd_customer"), "cookie cleared");
    ana.cookies.insert("hd_customer".into(), good);
    let r = ana.get("/help/tickets").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/help/signin");
}

#[tokio::test]
async fn customer_a_never_sees_customer_b() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let a = app
        .ticket_for(&admin, "ana@example.com", "Ana's request")
        .await;
    let b = app
        .ticket_for(&admin, "bob@example.com", "Bob's secret request")
        .await;
    // Bob's ticket carries a file on a public reply.
    let r = app
        .post(
            &format!("/api/v1/tickets/{}/messages", number(&b)),
            &admin,
            json!({ "kind": "public_reply", "body": "Here is the file",
                    "attachments": [{ "filename": "bob.txt", "content_type": "text/plain",
                                      "content_base64": base64::engine::general_purpose::STANDARD.encode("bob data") }] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let bob_message = r.body["message"]["id"].as_str().expect("id").to_string();

    let mut bob = signed_in(&app, "bob@example.com").await;
    let bob_link = link_path(&app, "bob@example.com");
    let bob_file = format!(
        "/help/tickets/{}/messages/{bob_message}/attachments/0",
        number(&b)
    );
    let bob_dl = bob.get(&bob_file).await;
    assert_eq!(bob_dl.status, StatusCode::OK);
    assert_eq!(bob_dl.body, "bob data");

    let mut ana = signed_in(&app, "ana@example.com").await;
    let list = ana.get("/help/tickets").await;
    assert!(list.body.contains(&number(&a)));
    assert!(!list.body.contains(&number(&b)));
    assert!(!list.body.contains("Bob's secret"));

    // Number guessing: Bob's number, an unknown one and a malformed one look the same.
    let theirs = ana.get(&format!("/help/tickets/{}", number(&b))).await;
    let unknown = ana.get("/help/tickets/HD-99999").await;
    let junk = ana.get("/help/tickets/nope").await;
    for p in [&theirs, &unknown, &junk] {
        assert_eq!(p.status, StatusCode::NOT_FOUND);
        assert_eq!(p.body, unknown.body);
        assert!(!p.body.contains("Bob"));
    }
    // Attachment URLs: Bob's file by his number, or by Ana's number with his message id.
    for path in [
        bob_file.clone(),
        format!(
            "/help/tickets/{}/messages/{bob_message}/attachments/0",
            number(&a)
        ),
    ] {
        let r = ana.get(&path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!r.body.contains("bob data"));
    }
    // Writing to Bob's ticket: refused alike, and nothing changes.
    let before = ticket_view(&app, &number(&b)).await["ticket"]["version"].clone();
    let csrf = ana.csrf().await;
    let r = ana
        .post(
            &format!("/help/tickets/{}/reply", number(&b)),
            &[("_csrf", &csrf), ("body", "let me in")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = ana
        .post(
            &format!("/help/tickets/{}/reopen", number(&b)),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        ticket_view(&app, &number(&b)).await["ticket"]["version"],
        before
    );
    // Bob's used link does not sign Ana in as Bob.
    let r = ana.use_link(&bob_link).await;
    assert_eq!(r.status, StatusCode::GONE);
    let r = ana.get(&format!("/help/tickets/{}", number(&b))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn reply_and_reopen_show_in_the_api() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    app.create_agent("ann@example.com", "agent").await;
    let t = app
        .ticket_for(&admin, "ana@example.com", "Broken login")
        .await;
    let n = number(&t);
    let resolve = |v: Value| {
        let app = &app;
        let n = n.clone();
        async move {
            let r = app
                .patch(
                    &format!("/api/v1/tickets/{n}"),
                    &app.agent("ann@example.com"),
                    v,
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        }
    };
    resolve(json!({ "status": "resolved" })).await;

    let mut ana = signed_in(&app, "ana@example.com").await;
    let page = ana.get(&format!("/help/tickets/{n}")).await;
    assert!(page.body.contains("Reopen"));
    let csrf = page.csrf();
    let r = ana
        .post(&format!("/help/tickets/{n}/reopen"), &[("_csrf", &csrf)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let view = ticket_view(&app, &n).await;
    assert_eq!(
        view["ticket"]["status"], "new",
        "unassigned: back to the queue"
    );
    assert_eq!(view["ticket"]["reopen_count"], 1);

    // A reply with a file (multipart), as the page's form sends it.
    let r = ana
        .post_multipart(
            &format!("/help/tickets/{n}/reply"),
            &[
                ("_csrf", &csrf),
                ("body", "Still broken, screenshot attached"),
            ],
            &[("shot.txt", "text/plain", b"pretend screenshot")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.location().starts_with(&format!("/help/tickets/{n}#m-")));
    let view = ticket_view(&app, &n).await;
    let last = view["messages"]
        .as_array()
        .and_then(|m| m.last())
        .expect("message")
        .clone();
    assert_eq!(last["kind"], "customer_message");
    assert_eq!(last["body_text"], "Still broken, screenshot attached");
    assert_eq!(last["attachments"][0]["filename"], "shot.txt");
    let page = ana.get(&format!("/help/tickets/{n}")).await;
    assert!(page.body.contains("Still broken, screenshot attached"));
    // Both messages are the customer's own (the first logged by an agent, the reply here).
    assert_eq!(page.body.matches("<strong>You</strong>").count(), 2);
    let file = format!(
        "/help/tickets/{n}/messages/{}/attachments/0",
        last["id"].as_str().expect("id")
    );
    assert!(page.body.contains(&file));
    assert_eq!(ana.get(&file).await.body, "pretend screenshot");

    // A reply to a resolved ticket reopens it, like an e-mailed reply.
    resolve(json!({ "status": "resolved" })).await;
    let r = ana
        .post(
            &format!("/help/tickets/{n}/reply"),
            &[("_csrf", &csrf), ("body", "Again!")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(ticket_view(&app, &n).await["ticket"]["status"], "new");

    // An empty reply re-renders the form with the message by the field.
    let r = ana
        .post(
            &format!("/help/tickets/{n}/reply"),
            &[("_csrf", &csrf), ("body", "   ")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("id=\"reply-error\""));

    // Closed: no form, a pointer to a new request; a post is refused with the text kept.
    resolve(json!({ "status": "closed" })).await;
    let page = ana.get(&format!("/help/tickets/{n}")).await;
    assert!(page.body.contains("closed"));
    assert!(page.body.contains("href=\"/help/requests/new\""));
    assert!(!page.body.contains("Send reply"));
    let r = ana
        .post(
            &format!("/help/tickets/{n}/reply"),
            &[("_csrf", &csrf), ("body", "hello?")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn internal_notes_and_agent_details_never_reach_the_page() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    app.create_agent("ann.private@example.com", "agent").await;
    let t = app.ticket_for(&admin, "ana@example.com", "Question").await;
    let n = number(&t);
    let ann = app.agent("ann.private@example.com");
    let r = app
        .patch(
            &format!("/api/v1/tickets/{n}"),
            &admin,
            json!({ "assignee": "ann.private@example.com", "priority": "urgent", "tags": ["vip-watch"] }),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    for (kind, body) in [
        ("internal_note", "SECRET-NOTE-4711 do not tell the customer"),
        ("public_reply", "Thanks, we are on it."),
    ] {
        let r = app
            .post(
                &format!("/api/v1/tickets/{n}/messages"),
                &ann,
                json!({ "kind": kind, "body": body }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let mut ana = signed_in(&app, "ana@example.com").await;
    let page = ana.get(&format!("/help/tickets/{n}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Thanks, we are on it."));
    assert!(page.body.contains(">ann.private<"), "agent by display name");
    for secret in [
        "SECRET-NOTE-4711",
        "ann.private@example.com",
        "urgent",
        "vip-watch",
    ] {
        assert!(!page.body.contains(secret), "{secret} leaked");
    }
}

#[tokio::test]
async fn posts_without_the_csrf_token_change_nothing() {
    let app = TestApp::spawn().await;
    let t = app
        .ticket_for(&app.admin(), "ana@example.com", "Hello")
        .await;
    let n = number(&t);
    let mut b = Browser::new(&app);
    b.get("/help/signin").await;
    // Ask for a link without / with a wrong token: 403, no mail.
    for token in [None, Some("wrong")] {
        let mut fields = vec![("email", "ana@example.com")];
        if let Some(t) = token {
            fields.push(("_csrf", t));
        }
        let r = b.post("/help/signin", &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    assert!(link_mails(&app, "ana@example.com").is_empty());

    // Using the link without the token: 403, and the link still works afterwards.
    b.ask_link("ana@example.com").await;
    let link = link_path(&app, "ana@example.com");
    let r = b.post(&link, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Another visitor's token is not this visitor's.
    let foreign = Browser::new(&app).csrf().await;
    let r = b.post(&link, &[("_csrf", &foreign)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(b.use_link(&link).await.status, StatusCode::SEE_OTHER);

    let version = ticket_view(&app, &n).await["ticket"]["version"].clone();
    let r = b
        .post(&format!("/help/tickets/{n}/reply"), &[("body", "sneaky")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = b
        .post_multipart(
            &format!("/help/tickets/{n}/reply"),
            &[("_csrf", "wrong"), ("body", "sneaky")],
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = b.post(&format!("/help/tickets/{n}/reopen"), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(ticket_view(&app, &n).await["ticket"]["version"], version);
    // Sign-out without the token does not sign out.
    let r = b.post("/help/signout", &[("_csrf", "wrong")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(b.get("/help/tickets").await.status, StatusCode::OK);
}

#[tokio::test]
async fn my_requests_is_paginated_newest_first() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let mut numbers = Vec::new();
    for i in 0..23 {
        numbers.push(number(
            &app.ticket_for(&admin, "ana@example.com", &format!("Request {i}"))
                .await,
        ));
    }
    let mut ana = signed_in(&app, "ana@example.com").await;
    let first = ana.get("/help/tickets").await;
    let newest = numbers.last().expect("n");
    let pos = |body: &str, n: &str| body.find(&format!(">{n}<"));
    assert!(pos(&first.body, newest).is_some());
    assert!(
        pos(&first.body, &numbers[0]).is_none(),
        "oldest is on page 2"
    );
    assert!(pos(&first.body, newest) < pos(&first.body, &numbers[20]));
    let marker = "href=\"/help/tickets?cursor=";
    let start = first.body.find(marker).expect("next page link") + "href=\"".len();
    let end = first.body[start..].find('"').expect("end") + start;
    let next = first.body[start..end].replace("&amp;", "&");
    let second = ana.get(&next).await;
    assert_eq!(second.status, StatusCode::OK);
    assert!(pos(&second.body, &numbers[0]).is_some());
    assert!(pos(&second.body, newest).is_none());
    // Not signed in: to the sign-in page.
    let r = Browser::new(&app).get("/help/tickets").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/help/signin");
}

#[tokio::test]
async fn two_simultaneous_uses_of_a_link_sign_in_once() {
    let app = TestApp::spawn().await;
    app.ticket_for(&app.admin(), "ana@example.com", "Hello")
        .await;
    Browser::new(&app).ask_link("ana@example.com").await;
    let link = link_path(&app, "ana@example.com");
    let (mut one, mut two) = (Browser::new(&app), Browser::new(&app));
    let c1 = one.get(&link).await.csrf();
    let c2 = two.get(&link).await.csrf();
    let (f1, f2) = ([("_csrf", c1.as_str())], [("_csrf", c2.as_str())]);
    let (a, b) = tokio::join!(one.post(&link, &f1), two.post(&link, &f2));
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 410], "exactly one sign-in");
    assert_eq!(
        [&one, &two]
            .iter()
            .filter(|b| b.cookies.contains_key("hd_customer"))
            .count(),
        1
    );
}

#[tokio::test]
async fn the_link_mail_speaks_the_customers_language() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let r = app
        .post(
            "/api/v1/customers",
            &admin,
            json!({ "email": "jonas@example.com", "name": "Jonas Weber", "locale": "de-AT" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = app
        .post(
            "/api/v1/templates",
            &admin,
            json!({ "name": "signin_link", "locale": "de",
                    "subject": "Ihr Anmeldelink",
                    "body": "Hallo {{customer.first_name}}, hier ist Ihr Link:" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // A customer profile without tickets is known too.
    let mut b = Browser::new(&app);
    b.ask_link("jonas@example.com").await;
    let mail = outbox(&app)
        .into_iter()
        .find(|m| m.to.iter().any(|t| t.address == "jonas@example.com"))
        .expect("a mail to Jonas");
    assert_eq!(mail.subject, "Ihr Anmeldelink");
    assert!(
        mail.text.starts_with("Hallo Jonas, hier ist Ihr Link:"),
        "{}",
        mail.text
    );
    assert!(mail.text.contains(&format!("{}/help/signin/", app.base)));
    // English (the built-in text) for everyone else.
    app.ticket_for(&admin, "ana@example.com", "Hello").await;
    b.ask_link("ana@example.com").await;
    let mails = link_mails(&app, "ana@example.com");
    assert_eq!(mails.len(), 1);
    assert!(mails[0].text.starts_with("Hello ana,"), "{}", mails[0].text);
}

#[tokio::test]
async fn people_copied_on_the_mail_show_by_name_not_address() {
    let app = TestApp::spawn().await;
    app.ingest_email(
        "first",
        b"From: Ana <ana@example.com>\r\nTo: support@helpdesk.localhost\r\nCc: Carl Jones <carl.private@example.com>\r\nSubject: Printer jams\r\nMessage-ID: <a1@mail.example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe printer jams on every page.\r\n",
    )
    .await;
    app.ingest_email(
        "second",
        b"From: Carl Jones <carl.private@example.com>\r\nTo: support@helpdesk.localhost\r\nSubject: Re: Printer jams\r\nIn-Reply-To: <a1@mail.example.com>\r\nReferences: <a1@mail.example.com>\r\nMessage-ID: <c1@mail.example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSame here on the second floor.\r\n",
    )
    .await;
    let view = ticket_view(&app, "HD-1").await;
    assert_eq!(
        view["messages"].as_array().map(Vec::len),
        Some(2),
        "threaded"
    );
    let mut ana = signed_in(&app, "ana@example.com").await;
    let page = ana.get("/help/tickets/HD-1").await;
    assert!(page.body.contains("Same here on the second floor."));
    assert!(
        page.body.contains("<strong>Carl Jones</strong>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<strong>You</strong>"));
    assert!(!page.body.contains("carl.private@example.com"));
}
