//! The help centre's knowledge-base pages, request form and anonymous KB API against the real
//! local app (SQLite, the embedded index, the `.eml` outbox), driven like a browser: a visitor
//! cookie, CSRF tokens read from the pages, forms posted.

use helpdesk_tests::browser::between;
use helpdesk_tests::TestApp;
use reqwest::header::HeaderMap;
use reqwest::{redirect::Policy, StatusCode};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// A visitor: keeps the help centre's cookies (they are `Secure`, which a plain-HTTP client
// would not send back on its own).

struct Visitor {
    client: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
    accept_language: Option<String>,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    html: String,
}

impl Page {
    fn location(&self) -> String {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }

    fn csrf(&self) -> String {
        between(&self.html, "name=\"_csrf\" value=\"", "\"")
            .expect("a form with _csrf")
            .to_string()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.html).unwrap_or(Value::Null)
    }
}

impl Visitor {
    fn new(app: &TestApp) -> Self {
        Visitor {
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .expect("client"),
            base: app.base.clone(),
            cookies: Vec::new(),
            accept_language: None,
        }
    }

    fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.retain(|(n, _)| n != name);
        self.cookies.push((name.to_string(), value.to_string()));
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, mut req: reqwest::RequestBuilder) -> Page {
        if !self.cookies.is_empty() {
            req = req.header("cookie", self.cookie_header());
        }
        if let Some(l) = &self.accept_language {
            req = req.header("accept-language", l.as_str());
        }
        let resp = req.send().await.expect("send");
        let status = resp.status();
        let headers = resp.headers().clone();
        for v in headers.get_all("set-cookie") {
            let Ok(v) = v.to_str() else { continue };
            let pair = v.split(';').next().unwrap_or("");
            if let Some((n, val)) = pair.split_once('=') {
                self.set_cookie(n.trim(), val.trim());
            }
        }
        let html = resp.text().await.unwrap_or_default();
        Page {
            status,
            headers,
            html,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self.client.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }

    async fn post_json(&mut self, path: &str, body: Value) -> Page {
        let req = self.client.post(format!("{}{path}", self.base)).json(&body);
        self.send(req).await
    }

    async fn post_multipart(&mut self, path: &str, form: reqwest::multipart::Form) -> Page {
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .multipart(form);
        self.send(req).await
    }

    /// Signs this visitor in as a customer (the cookie the e-mailed link would set).
    async fn sign_in(&mut self, app: &TestApp, email: &str) {
        let sealed = app.customer_cookie(email).await;
        self.set_cookie("hd_customer", &sealed);
    }
}

// ---------------------------------------------------------------------------------------------
// Articles.

async fn publish(app: &TestApp, body: Value) -> String {
    let r = app
        .post(
            "/api/v1/kb/articles",
            &app.agent("writer@example.com"),
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "create: {:?}", r.body);
    let id = r.body["id"].as_str().expect("id").to_string();
    let sup = app.token("supervisor", Some("sup@example.com"));
    let r = app
        .post(
            &format!("/api/v1/kb/articles/{id}/publish"),
            &sup,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "publish: {:?}", r.body);
    id
}

struct Kb {
    public: String,
    related: String,
    internal: String,
    owner: String,
    draft: String,
}

async fn seed(app: &TestApp) -> Kb {
    let related = publish(app, json!({ "title": "Enable two-factor sign-in", "summary": "Protect your account.", "body": "Open **Security** and turn on two-factor sign-in.", "audiences": ["customers"], "topic": ["Account", "Security"] })).await;
    let public = publish(app, json!({
        "title": "Reset your password", "summary": "Get back into your account.",
        "body": "Click **Forgot password** on the sign-in page and follow the e-mailed link.\n\n<script>alert(1)</script>",
        "audiences": ["customers"], "topic": ["Account"], "tags": ["password"],
        "videos": ["https://www.youtube.com/watch?v=dQw4w9WgXcQ"], "related": [related]
    }))
    .await;
    let internal = publish(app, json!({ "title": "Escalation contacts for password resets", "summary": "Team only.", "body": "Call the escalation desk for zebrafinch password cases.", "audiences": ["internal"], "topic": ["Account"] })).await;
    let owner = publish(app, json!({ "title": "Payout schedule for merchants", "summary": "When payouts arrive.", "body": "Payouts for your shop arrive every Tuesday.", "audiences": ["business_owners"], "topic": ["Payouts"] })).await;
    let r = app
        .post(
            "/api/v1/kb/articles",
            &app.agent("writer@example.com"),
            json!({ "title": "Unpublished password draft", "body": "Not yet.", "audiences": ["customers"], "topic": ["Account"] }),
        )
        .await;
    let draft = r.body["id"].as_str().expect("id").to_string();
    Kb {
        public,
        related,
        internal,
        owner,
        draft,
    }
}

async fn stats_for(app: &TestApp, id: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/kb/articles/{id}/feedback"), &app.admin())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["stats"].clone()
}

#[tokio::test]
async fn pages_show_published_public_articles_and_nothing_else() {
    let app = TestApp::spawn().await;
    let kb = seed(&app).await;
    let mut v = Visitor::new(&app);

    let home = v.get("/help").await;
    assert_eq!(home.status, StatusCode::OK);
    for (h, want) in [
        ("content-security-policy", "frame-ancestors 'none'"),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
    ] {
        let got = home
            .headers
            .get(h)
            .and_then(|x| x.to_str().ok())
            .unwrap_or("");
        assert!(got.contains(want), "{h}: {got}");
    }
    assert!(v.cookies.iter().any(|(n, _)| n == "hd_visitor"));
    assert!(home.html.contains("Reset your password"), "{}", home.html);
    assert!(home.html.contains("href=\"/help/topics/Account\""));
    assert!(home
        .html
        .contains("href=\"/help/search?audience=business_owners\""));
    for hidden in [
        "Escalation contacts",
        "Payout schedule",
        "Unpublished password",
    ] {
        assert!(!home.html.contains(hidden), "{hidden} on the home page");
    }

    let res = v.get("/help/search?q=password").await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.html.contains("Reset your password"), "{}", res.html);
    assert!(res.html.contains("<mark>"), "highlighted: {}", res.html);
    assert!(!res.html.contains("Escalation"), "internal in results");
    assert!(!res.html.contains("Unpublished"), "draft in results");
    // Only internal text matches: nothing for the public, and it is counted for the authors.
    let none = v.get("/help/search?q=zebrafinch").await;
    assert_eq!(none.status, StatusCode::OK);
    assert!(none.html.contains("No articles match"), "{}", none.html);
    assert!(!none.html.contains("Escalation"));
    let stats = app.get("/api/v1/kb/stats", &app.admin()).await;
    let zero = stats.body["zero_result_queries"].to_string();
    assert!(zero.contains("zebrafinch"), "{zero}");
    let browse = v.get("/help/search?topic=Account").await;
    assert!(browse.html.contains("Reset your password") && !browse.html.contains("Escalation"));

    let topic = v.get("/help/topics/Account").await;
    assert_eq!(topic.status, StatusCode::OK);
    assert!(topic.html.contains("Reset your password"));
    assert!(topic
        .html
        .contains("href=\"/help/topics/Account/Security\""));
    assert!(!topic.html.contains("Escalation"));
    assert_eq!(
        v.get("/help/topics/Account/Security").await.status,
        StatusCode::OK
    );
    assert_eq!(
        v.get("/help/topics/Payouts").await.status,
        StatusCode::NOT_FOUND
    );

    let art = v.get(&format!("/help/articles/{}", kb.public)).await;
    assert_eq!(art.status, StatusCode::OK);
    assert!(art.html.contains("<html lang=\"en\">"));
    assert!(art.html.contains("<strong>Forgot password</strong>"));
    assert!(!art.html.contains("<script>alert"), "unsanitised body");
    assert!(art
        .html
        .contains("src=\"https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ\""));
    assert!(art
        .html
        .contains("title=\"Video tutorial 1: Reset your password\""));
    assert!(art.html.contains("class=\"video\""));
    assert!(art
        .html
        .contains(&format!("href=\"/help/articles/{}\"", kb.related)));
    assert!(art.html.contains("Was this helpful?"));
    assert_eq!(stats_for(&app, &kb.public).await["views"], 1);

    // Unknown, unpublished and internal articles: the same 404.
    let internal = v.get(&format!("/help/articles/{}", kb.internal)).await;
    let draft = v.get(&format!("/help/articles/{}", kb.draft)).await;
    let unknown = v.get("/help/articles/kb_01HZZZZZZZZZZZZZZZZZZZZZZZ").await;
    let junk = v.get("/help/articles/not-an-id").await;
    for p in [&internal, &draft, &unknown, &junk] {
        assert_eq!(p.status, StatusCode::NOT_FOUND);
        assert_eq!(p.html, unknown.html);
    }
    assert!(!internal.html.contains("Escalation"));
    assert_eq!(stats_for(&app, &kb.internal).await["views"], 0);

    let sug = v.get("/help/suggest?q=forgot%20my%20password").await;
    assert_eq!(sug.status, StatusCode::OK);
    let ids: Vec<String> = sug
        .json()
        .as_array()
        .expect("list")
        .iter()
        .map(|s| s["id"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(ids.contains(&kb.public), "{ids:?}");
    assert!(!ids.contains(&kb.internal));
    let sug = v.get("/help/suggest?q=zebrafinch%20escalation").await;
    assert_eq!(sug.json(), json!([]));
}

#[tokio::test]
async fn business_owner_articles_need_a_signed_in_business_owner() {
    let app = TestApp::spawn().await;
    let kb = seed(&app).await;
    let r = app
        .post(
            "/api/v1/customers",
            &app.admin(),
            json!({ "email": "boss@example.com", "name": "Boss", "business_owner": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let path = format!("/help/articles/{}", kb.owner);

    let mut anon = Visitor::new(&app);
    assert_eq!(anon.get(&path).await.status, StatusCode::NOT_FOUND);
    let list = anon.get("/help/search?audience=business_owners").await;
    assert!(!list.html.contains("Payout schedule"));
    assert!(
        list.html.contains("business-owner account"),
        "{}",
        list.html
    );

    let mut customer = Visitor::new(&app);
    customer.sign_in(&app, "plain@example.com").await;
    assert_eq!(customer.get(&path).await.status, StatusCode::NOT_FOUND);

    let mut boss = Visitor::new(&app);
    boss.sign_in(&app, "boss@example.com").await;
    let page = boss.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("Payout schedule for merchants"));
    let list = boss.get("/help/search?audience=business_owners").await;
    assert!(list.html.contains("Payout schedule"));
    assert!(!list.html.contains("Reset your password"));
    assert_eq!(
        boss.get("/help/topics/Payouts").await.status,
        StatusCode::OK
    );
    // A signed-in business owner still never sees internal articles.
    assert_eq!(
        boss.get(&format!("/help/articles/{}", kb.internal))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn articles_follow_the_visitors_language_and_the_picker() {
    let app = TestApp::spawn().await;
    let en = publish(&app, json!({ "title": "Reset your password", "body": "Click Forgot password.", "audiences": ["customers"], "topic": ["Account"] })).await;
    let de = publish(&app, json!({ "title": "Passwort zurücksetzen", "body": "Klicken Sie auf Passwort vergessen.", "audiences": ["customers"], "topic": ["Konto"], "locale": "de", "translation_of": en })).await;

    let mut v = Visitor::new(&app);
    v.accept_language = Some("de-DE,de;q=0.9,en;q=0.5".into());
    let p = v.get(&format!("/help/articles/{en}")).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains("<html lang=\"de\">"), "{}", p.html);
    assert!(p.html.contains("Passwort zurücksetzen"));
    assert!(p.html.contains("id=\"lang-picker\""));
    assert!(p.html.contains("<option value=\"en\">English</option>"));
    assert!(p
        .html
        .contains("<option value=\"de\" selected>Deutsch</option>"));
    // The home page lists the group once, in German.
    let home = v.get("/help").await;
    assert!(home.html.contains("Passwort zurücksetzen"));
    assert!(!home.html.contains("Reset your password"));

    // The picker wins over Accept-Language, and is remembered.
    let p = v.get(&format!("/help/articles/{de}?lang=en")).await;
    assert!(p.html.contains("<html lang=\"en\">"), "{}", p.html);
    assert!(p.html.contains("Reset your password"));
    assert!(v
        .cookies
        .iter()
        .any(|(n, val)| n == "hd_lang" && val == "en"));
    let p = v.get(&format!("/help/articles/{de}")).await;
    assert!(p.html.contains("Reset your password"), "cookie remembered");

    let mut en_visitor = Visitor::new(&app);
    en_visitor.accept_language = Some("en-US,en;q=0.8".into());
    let p = en_visitor.get(&format!("/help/articles/{de}")).await;
    assert!(p.html.contains("Reset your password"));
    let p = en_visitor
        .get(&format!("/help/articles/{en}?lang=de"))
        .await;
    assert!(p.html.contains("<html lang=\"de\">"));
    assert!(p
        .html
        .contains(&format!("href=\"/help/articles/{en}?lang=en\"")));
}

#[tokio::test]
async fn one_vote_per_visitor_and_forms_need_their_csrf_token() {
    let app = TestApp::spawn().await;
    let kb = seed(&app).await;
    let path = format!("/help/articles/{}", kb.public);
    let action = format!("{path}/feedback");
    let mut v = Visitor::new(&app);
    let csrf = v.get(&path).await.csrf();

    let missing = v.post_form(&action, &[("helpful", "yes")]).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let forged = v
        .post_form(&action, &[("_csrf", "forged"), ("helpful", "yes")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // Another visitor's token does not work for this one.
    let mut other = Visitor::new(&app);
    let theirs = other.get(&path).await.csrf();
    let stolen = v
        .post_form(&action, &[("_csrf", &theirs), ("helpful", "yes")])
        .await;
    assert_eq!(stolen.status, StatusCode::FORBIDDEN);
    assert_eq!(stats_for(&app, &kb.public).await["helpful_yes"], 0);

    let bad = v
        .post_form(
            &action,
            &[
                ("_csrf", &csrf),
                ("helpful", "yes"),
                ("rating", "9"),
                ("comment", "Kept <b>text</b>"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.html.contains("Choose 1 to 5 stars"));
    assert!(
        bad.html.contains("Kept &lt;b&gt;text&lt;/b&gt;"),
        "comment kept"
    );

    let ok = v
        .post_form(
            &action,
            &[
                ("_csrf", &csrf),
                ("helpful", "yes"),
                ("rating", "5"),
                ("comment", "Clear steps"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert!(ok.location().contains("voted=1"));
    let thanks = v.get(&ok.location()).await;
    assert!(thanks.html.contains("Thank you for your feedback"));

    let again = v
        .post_form(&action, &[("_csrf", &csrf), ("helpful", "no")])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.html.contains("already told us"), "{}", again.html);

    let s = stats_for(&app, &kb.public).await;
    assert_eq!(s["helpful_yes"], 1);
    assert_eq!(s["helpful_no"], 0);
    assert_eq!(s["avg_rating"], 5.0);

    // Another visitor has their own vote; internal articles take none.
    let r = other
        .post_form(&action, &[("_csrf", &theirs), ("helpful", "no")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = other
        .post_form(
            &format!("/help/articles/{}/feedback", kb.internal),
            &[("_csrf", &theirs), ("helpful", "yes")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(stats_for(&app, &kb.internal).await["helpful_yes"], 0);
}

// ---------------------------------------------------------------------------------------------
// The request form.

struct RequestForm {
    csrf: String,
    form_id: String,
}

async fn open_form(v: &mut Visitor) -> RequestForm {
    let p = v.get("/help/requests/new").await;
    assert_eq!(p.status, StatusCode::OK);
    RequestForm {
        csrf: p.csrf(),
        form_id: between(&p.html, "name=\"form_id\" value=\"", "\"")
            .expect("form id")
            .to_string(),
    }
}

fn request(f: &RequestForm, fields: &[(&str, &str)]) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new()
        .text("_csrf", f.csrf.clone())
        .text("form_id", f.form_id.clone());
    for (k, val) in fields {
        form = form.text(k.to_string(), val.to_string());
    }
    form
}

fn outbox(app: &TestApp) -> Vec<String> {
    let dir = app.data.path().join("outbox").join("email");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

async fn ticket_count(app: &TestApp) -> usize {
    app.list_numbers(&app.admin(), "limit=100").await.len()
}

#[tokio::test]
async fn a_request_becomes_a_web_ticket_with_an_acknowledgement() {
    let app = TestApp::spawn().await;
    let mut v = Visitor::new(&app);
    let f = open_form(&mut v).await;

    // No CSRF token: refused, nothing created.
    let no_csrf = reqwest::multipart::Form::new()
        .text("name", "Ana")
        .text("email", "ana@example.com")
        .text("subject", "Cannot sign in")
        .text("description", "It says my password is wrong.");
    let r = v.post_multipart("/help/requests/new", no_csrf).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(ticket_count(&app).await, 0);

    let form = request(
        &f,
        &[
            ("name", "Ana Souza"),
            ("email", "ana@example.com"),
            ("subject", "Cannot sign in"),
            ("description", "It says my password is wrong."),
            ("website", ""),
        ],
    )
    .part(
        "attachments",
        reqwest::multipart::Part::bytes(b"screenshot bytes".to_vec())
            .file_name("screen.png")
            .mime_str("image/png")
            .expect("mime"),
    );
    let r = v.post_multipart("/help/requests/new", form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let sent_url = r.location();
    assert!(sent_url.starts_with("/help/requests/sent?t="), "{sent_url}");
    let sent = v.get(&sent_url).await;
    assert_eq!(sent.status, StatusCode::OK);
    let number = between(&sent.html, "<strong>", "</strong>")
        .expect("ticket number")
        .to_string();
    assert!(number.starts_with("HD-"), "{number}");

    let t = app
        .get(&format!("/api/v1/tickets/{number}"), &app.admin())
        .await;
    assert_eq!(t.status, StatusCode::OK, "{:?}", t.body);
    assert_eq!(t.body["ticket"]["channel"], "web", "{:?}", t.body);
    assert_eq!(t.body["ticket"]["customer"]["email"], "ana@example.com");
    assert_eq!(t.body["ticket"]["customer"]["name"], "Ana Souza");
    let first = &t.body["messages"][0];
    assert_eq!(first["body_text"], "It says my password is wrong.");
    assert_eq!(first["attachments"][0]["filename"], "screen.png");
    assert_eq!(first["attachments"][0]["size"], 16);

    let mails = outbox(&app);
    let ack = mails
        .iter()
        .find(|m| m.contains("To: Ana Souza <ana@example.com>") || m.contains("ana@example.com"))
        .expect("an acknowledgement in the outbox");
    assert!(ack.contains("We received your request"), "{ack}");
    assert!(ack.contains(&number), "{ack}");

    // The confirmation belongs to this browser: not to another visitor, not forged.
    let mut stranger = Visitor::new(&app);
    assert_eq!(stranger.get(&sent_url).await.status, StatusCode::NOT_FOUND);
    let forged = sent_url.replace("?t=", "?t=x");
    assert_eq!(v.get(&forged).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        v.get("/help/requests/sent?t=eyJ.abc").await.status,
        StatusCode::NOT_FOUND
    );

    // A filled honeypot looks sent and creates nothing.
    let before = ticket_count(&app).await;
    let mails_before = outbox(&app).len();
    let f2 = open_form(&mut v).await;
    let bot = request(
        &f2,
        &[
            ("name", "Bot"),
            ("email", "bot@example.com"),
            ("subject", "Cheap pills"),
            ("description", "Buy now"),
            ("website", "https://spam.example"),
        ],
    );
    let r = v.post_multipart("/help/requests/new", bot).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = v.get(&r.location()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("Request sent"));
    assert_eq!(ticket_count(&app).await, before);
    assert_eq!(outbox(&app).len(), mails_before);

    // A signed-in customer's request is theirs, whatever address is typed.
    let mut me = Visitor::new(&app);
    me.sign_in(&app, "kim@example.com").await;
    let page = me.get("/help/requests/new").await;
    assert!(page.html.contains("value=\"kim@example.com\" readonly"));
    let f3 = RequestForm {
        csrf: page.csrf(),
        form_id: between(&page.html, "name=\"form_id\" value=\"", "\"")
            .expect("id")
            .to_string(),
    };
    let r = me
        .post_multipart(
            "/help/requests/new",
            request(
                &f3,
                &[
                    ("name", "Kim"),
                    ("email", "someone-else@example.com"),
                    ("subject", "Invoice question"),
                    ("description", "Where is my invoice?"),
                ],
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let sent = me.get(&r.location()).await;
    let n = between(&sent.html, "<strong>", "</strong>").expect("number");
    let t = app.get(&format!("/api/v1/tickets/{n}"), &app.admin()).await;
    assert_eq!(t.body["ticket"]["customer"]["email"], "kim@example.com");
}

#[tokio::test]
async fn bad_input_is_shown_next_to_its_field_and_nothing_is_lost() {
    let app = TestApp::spawn().await;
    let mut v = Visitor::new(&app);
    let f = open_form(&mut v).await;
    let r = v
        .post_multipart(
            "/help/requests/new",
            request(
                &f,
                &[
                    ("name", ""),
                    ("email", "not-an-address"),
                    ("subject", "My <b>subject</b> stays"),
                    ("description", ""),
                ],
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    for id in ["name-error", "email-error", "description-error"] {
        assert!(r.html.contains(&format!("id=\"{id}\"")), "{id}: {}", r.html);
    }
    assert!(r.html.contains("value=\"not-an-address\""));
    assert!(r
        .html
        .contains("value=\"My &lt;b&gt;subject&lt;/b&gt; stays\""));
    assert!(r.html.contains("aria-invalid=\"true\""));
    assert_eq!(ticket_count(&app).await, 0);

    // A file over the per-file limit: refused, with the reason, everything typed kept.
    let big = reqwest::multipart::Part::bytes(vec![7u8; 5 * 1024 * 1024 + 10])
        .file_name("huge.log")
        .mime_str("text/plain")
        .expect("mime");
    let form = request(
        &f,
        &[
            ("name", "Ana"),
            ("email", "ana@example.com"),
            ("subject", "Logs attached"),
            ("description", "See the log."),
        ],
    )
    .part("attachments", big);
    let r = v.post_multipart("/help/requests/new", form).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        r.html.contains("huge.log is larger than 5 MB"),
        "{}",
        r.html
    );
    assert!(r.html.contains("value=\"Logs attached\""));
    assert!(r.html.contains("See the log."));
    assert_eq!(ticket_count(&app).await, 0);
}

#[tokio::test]
async fn requests_are_limited_per_email_and_per_network_address() {
    let app = TestApp::spawn().await;
    let mut v = Visitor::new(&app);
    let mut sent = 0;
    let per_email = helpdesk_app::help_requests::PER_EMAIL_PER_HOUR as usize;
    let per_ip = helpdesk_app::help_requests::PER_IP_PER_HOUR as usize;
    for i in 0..per_email {
        let f = open_form(&mut v).await;
        let r = v
            .post_multipart(
                "/help/requests/new",
                request(
                    &f,
                    &[
                        ("name", "Ana"),
                        ("email", "ana@example.com"),
                        ("subject", &format!("Question {i}")),
                        ("description", "Details."),
                    ],
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "request {i}: {}", r.html);
        sent += 1;
    }
    let f = open_form(&mut v).await;
    let r = v
        .post_multipart(
            "/help/requests/new",
            request(
                &f,
                &[
                    ("name", "Ana"),
                    ("email", "ANA@example.com"),
                    ("subject", "One too many"),
                    ("description", "Kept text."),
                ],
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r
        .html
        .contains("too many requests from this e-mail address"));
    assert!(r.html.contains("value=\"One too many\"") && r.html.contains("Kept text."));
    // A refused attempt still counts against the network address.
    sent += 1;

    // Other addresses from the same network, up to that limit.
    let mut i = 0;
    while sent < per_ip {
        let f = open_form(&mut v).await;
        let email = format!("person{i}@example.com");
        let r = v
            .post_multipart(
                "/help/requests/new",
                request(
                    &f,
                    &[
                        ("name", "Someone"),
                        ("email", &email),
                        ("subject", "A question"),
                        ("description", "Details."),
                    ],
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
        sent += 1;
        i += 1;
    }
    let f = open_form(&mut v).await;
    let r = v
        .post_multipart(
            "/help/requests/new",
            request(
                &f,
                &[
                    ("name", "Late"),
                    ("email", "late@example.com"),
                    ("subject", "Too late"),
                    ("description", "Details."),
                ],
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        r.html.contains("too many requests from your network"),
        "{}",
        r.html
    );
    assert_eq!(ticket_count(&app).await, per_ip - 1);
}

#[tokio::test]
async fn deflections_are_counted_once_per_form_session_and_need_csrf() {
    let app = TestApp::spawn().await;
    let kb = seed(&app).await;
    let mut v = Visitor::new(&app);
    let f = open_form(&mut v).await;
    let session = "0123456789abcdef0123456789abcdef";
    let r = v
        .post_form(
            "/help/requests/deflections",
            &[("session", session), ("article", &kb.public)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    for _ in 0..2 {
        let r = v
            .post_form(
                "/help/requests/deflections",
                &[
                    ("_csrf", &f.csrf),
                    ("session", session),
                    ("article", &kb.public),
                    ("article", &kb.internal),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
    }
    assert_eq!(stats_for(&app, &kb.public).await["deflections"], 1);
    assert_eq!(stats_for(&app, &kb.internal).await["deflections"], 0);
}

// ---------------------------------------------------------------------------------------------
// The anonymous KB API.

#[tokio::test]
async fn the_public_kb_api_serves_anonymous_clients_and_never_internal_articles() {
    let app = TestApp::spawn().await;
    let kb = seed(&app).await;
    let mut v = Visitor::new(&app);

    let r = v.get("/help/api/kb/search?q=password").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.html);
    let hits = r.json()["hits"].to_string();
    assert!(hits.contains(&kb.public), "{hits}");
    assert!(!hits.contains(&kb.internal) && !hits.contains(&kb.draft));
    let r = v.get("/help/api/kb/search?q=zebrafinch").await;
    assert_eq!(r.json()["hits"], json!([]));
    let r = v.get("/help/api/kb/search?q=x&limit=0").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.html.contains("limit"), "{}", r.html);
    assert!(r
        .headers
        .get("content-type")
        .and_then(|c| c.to_str().ok())
        .unwrap_or("")
        .contains("problem+json"));

    let r = v.get("/help/api/kb/suggest?text=forgot%20password").await;
    assert!(r.html.contains(&kb.public));
    let r = v
        .get("/help/api/kb/suggest?text=zebrafinch%20escalation")
        .await;
    assert_eq!(r.json(), json!([]));

    let r = v
        .get(&format!("/help/api/kb/articles/{}/published", kb.public))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["title"], "Reset your password");
    for hidden in [&kb.internal, &kb.draft, &kb.owner] {
        let r = v
            .get(&format!("/help/api/kb/articles/{hidden}/published"))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{hidden}");
        assert!(!r.html.contains("Escalation"));
    }
    // A team token means nothing here: /help serves the public.
    let agent = app.agent("writer@example.com");
    let r = app
        .request(
            reqwest::Method::GET,
            &format!("/help/api/kb/articles/{}/published", kb.internal),
            Some(&agent),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = v
        .post_json(
            &format!("/help/api/kb/articles/{}/views", kb.public),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["views"], 1);
    let r = v
        .post_json(
            &format!("/help/api/kb/articles/{}/views", kb.internal),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let fb = format!("/help/api/kb/articles/{}/feedback", kb.public);
    let r = v
        .post_json(&fb, json!({ "helpful": true, "rating": 9 }))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.html.contains("rating"), "{}", r.html);
    let r = v
        .post_json(&fb, json!({ "helpful": true, "rating": 4 }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.html);
    let r = v.post_json(&fb, json!({ "helpful": false })).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = v
        .post_json(
            &format!("/help/api/kb/articles/{}/feedback", kb.internal),
            json!({ "helpful": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let d = json!({ "article_id": kb.public, "session_id": "form-session-1" });
    let r = v.post_json("/help/api/kb/deflections", d.clone()).await;
    assert_eq!(r.json(), json!({ "counted": true }));
    let r = v.post_json("/help/api/kb/deflections", d).await;
    assert_eq!(r.json(), json!({ "counted": false }));

    let doc = app.get("/api/v1/openapi.json", &app.admin()).await;
    let paths = doc.body["paths"].as_object().expect("paths");
    for p in [
        "/help/api/kb/search",
        "/help/api/kb/suggest",
        "/help/api/kb/articles/{id}/published",
        "/help/api/kb/articles/{id}/feedback",
        "/help/api/kb/articles/{id}/views",
        "/help/api/kb/deflections",
    ] {
        assert!(paths.contains_key(p), "{p} in the OpenAPI document");
    }
}
