//! Community forums end to end over HTTP: the public pages under `/help/community` (visitor
//! cookie, CSRF, signed-in customers), the staff JSON API under `/api/v1/forums`, and the
//! console's moderation page. Storage is the self-hosted SQLite table.

use helpdesk_tests::browser::{between, set_cookie, Browser};
use helpdesk_tests::TestApp;
use reqwest::{redirect::Policy, StatusCode};
use serde_json::{json, Value};

/// A help-centre visitor: keeps the `hd_visitor` cookie, optionally signed in as a customer.
struct Visitor {
    client: reqwest::Client,
    base: String,
    visitor: String,
    customer: Option<String>,
}

struct Page {
    status: StatusCode,
    location: String,
    html: String,
}

impl Visitor {
    async fn new(app: &TestApp, customer: Option<&str>) -> Visitor {
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .expect("client");
        let resp = client
            .get(format!("{}/help/community", app.base))
            .send()
            .await
            .expect("send");
        let cookie = set_cookie(&resp, "hd_visitor").expect("visitor cookie");
        let visitor = between(&cookie, "hd_visitor=", ";")
            .expect("value")
            .to_string();
        let customer = match customer {
            Some(e) => Some(app.customer_cookie(e).await),
            None => None,
        };
        Visitor {
            client,
            base: app.base.clone(),
            visitor,
            customer,
        }
    }

    fn cookies(&self) -> String {
        match &self.customer {
            Some(c) => format!("hd_visitor={}; hd_customer={c}", self.visitor),
            None => format!("hd_visitor={}", self.visitor),
        }
    }

    async fn page(resp: reqwest::Response) -> Page {
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        Page {
            status,
            location,
            html: resp.text().await.unwrap_or_default(),
        }
    }

    async fn get(&self, path: &str) -> Page {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookies())
            .send()
            .await
            .expect("send");
        Self::page(resp).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookies())
            .form(form)
            .send()
            .await
            .expect("send");
        Self::page(resp).await
    }

    /// The `_csrf` of a form on `path`.
    async fn csrf(&self, path: &str) -> String {
        let p = self.get(path).await;
        between(&p.html, "name=\"_csrf\" value=\"", "\"")
            .unwrap_or_else(|| panic!("no form on {path}: {}", p.html))
            .to_string()
    }
}

async fn category(app: &TestApp, slug: &str) {
    let r = app
        .post(
            "/api/v1/forums/categories",
            &app.admin(),
            json!({ "slug": slug, "name": "Getting started", "description": "First steps", "order": 1 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

/// Posts a topic through the public form; returns its id.
async fn post_topic(v: &Visitor, slug: &str, title: &str, name: Option<&str>) -> String {
    let csrf = v.csrf(&format!("/help/community/{slug}/new")).await;
    let mut form = vec![
        ("_csrf", csrf.as_str()),
        ("title", title),
        ("body", "The printer says **offline** since the update."),
    ];
    if let Some(n) = name {
        form.push(("display_name", n));
    }
    let p = v.post(&format!("/help/community/{slug}/new"), &form).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    p.location
        .strip_prefix("/help/community/topics/")
        .expect("topic location")
        .to_string()
}

async fn reply(v: &Visitor, topic: &str, body: &str, name: Option<&str>) -> Page {
    let path = format!("/help/community/topics/{topic}");
    let csrf = v.csrf(&path).await;
    let mut form = vec![("_csrf", csrf.as_str()), ("body", body)];
    if let Some(n) = name {
        form.push(("display_name", n));
    }
    v.post(&format!("{path}/reply"), &form).await
}

async fn topic_json(app: &TestApp, token: &str, topic: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/forums/topics/{topic}"), token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
}

#[tokio::test]
async fn anonymous_visitors_read_but_cannot_post() {
    let app = TestApp::spawn().await;
    category(&app, "start").await;
    let ana = Visitor::new(&app, Some("ana@example.com")).await;
    let topic = post_topic(&ana, "start", "Printer offline after update", Some("Ana P")).await;

    let anon = Visitor::new(&app, None).await;
    let home = anon.get("/help/community").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(
        home.html.contains("href=\"/help/community/start\""),
        "{}",
        home.html
    );
    let cat = anon.get("/help/community/start").await;
    assert!(cat.html.contains("Printer offline after update"));
    let page = anon.get(&format!("/help/community/topics/{topic}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.html.contains("<strong>offline</strong>"),
        "rendered Markdown"
    );
    assert!(page.html.contains("Ana P"));
    // The author's address is never on a public page.
    assert!(!page.html.contains("ana@example.com"));
    // No reply form, a sign-in link instead.
    assert!(
        page.html.contains("href=\"/help/signin?next="),
        "{}",
        page.html
    );
    assert!(!page.html.contains("name=\"body\""));
    let form = anon.get("/help/community/start/new").await;
    assert!(form.html.contains("/help/signin"));

    // Posting anyway (with a valid CSRF token) is refused and stores nothing.
    let csrf = anon
        .csrf(&format!("/help/community/topics/{topic}/report"))
        .await;
    let p = anon
        .post(
            "/help/community/start/new",
            &[
                ("_csrf", &csrf),
                ("title", "Sneaky topic"),
                ("body", "x y z"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    let p = anon
        .post(
            &format!("/help/community/topics/{topic}/reply"),
            &[("_csrf", &csrf), ("body", "sneaky reply")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    let t = topic_json(&app, &app.agent("agent@example.com"), &topic).await;
    assert_eq!(t["posts"].as_array().map(Vec::len), Some(0));
    let list = anon.get("/help/community/start").await;
    assert!(!list.html.contains("Sneaky topic"));
}

#[tokio::test]
async fn customers_post_reply_vote_and_accept() {
    let app = TestApp::spawn().await;
    category(&app, "start").await;
    let ana = Visitor::new(&app, Some("ana@example.com")).await;
    let bob = Visitor::new(&app, Some("bob@example.com")).await;

    // First post: the form asks for a public name; without one the form comes back filled in.
    let new = ana.get("/help/community/start/new").await;
    assert!(new.html.contains("name=\"display_name\""), "{}", new.html);
    let csrf = ana.csrf("/help/community/start/new").await;
    let p = ana
        .post(
            "/help/community/start/new",
            &[
                ("_csrf", &csrf),
                ("title", "Printer offline after update"),
                ("body", "Help!"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.html.contains("id=\"display_name-error\""), "{}", p.html);
    assert!(p.html.contains("value=\"Printer offline after update\""));
    // An e-mail address is not a public name.
    let p = ana
        .post(
            "/help/community/start/new",
            &[
                ("_csrf", &csrf),
                ("title", "Printer offline after update"),
                ("body", "Help!"),
                ("display_name", "ana@example.com"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.html.contains("e-mail address"));
    let topic = post_topic(&ana, "start", "Printer offline after update", Some("Ana P")).await;
    // Second time, no name needed.
    assert!(!ana
        .get("/help/community/start/new")
        .await
        .html
        .contains("name=\"display_name\""));

    // Bob answers (choosing his name on the way); an agent answers too, with a staff badge.
    let p = reply(&bob, &topic, "Restart the print spooler.", None).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.html.contains("Restart the print spooler."), "input kept");
    let p = reply(&bob, &topic, "Restart the print spooler.", Some("Bob")).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    let r = app
        .post(
            &format!("/api/v1/forums/topics/{topic}/posts"),
            &app.agent("agent@example.com"),
            json!({ "body": "Also check the driver version." }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let t = topic_json(&app, &app.agent("agent@example.com"), &topic).await;
    let posts = t["posts"].as_array().expect("posts").clone();
    assert_eq!(posts.len(), 2);
    assert_eq!(t["topic"]["reply_count"], 2);
    let bobs = posts[0]["id"].as_str().expect("id").to_string();
    assert_eq!(posts[1]["author"]["staff"], true);
    let page = ana.get(&format!("/help/community/topics/{topic}")).await;
    assert!(page.html.contains("class=\"badge staff\""), "{}", page.html);

    // Votes: one per person, a second press takes it back.
    let path = format!("/help/community/topics/{topic}");
    let csrf = bob.csrf(&path).await;
    let p = bob
        .post(
            &format!("{path}/vote"),
            &[("_csrf", &csrf), ("target", "topic")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let page = bob.get(&path).await;
    assert!(page.html.contains("aria-pressed=\"true\""), "{}", page.html);
    let r = app
        .post(
            &format!("/api/v1/forums/topics/{topic}/votes"),
            &app.customer("carla@example.com"),
            json!({}),
        )
        .await;
    assert_eq!(r.body, json!({ "voted": true, "votes": 2 }));
    let r = app
        .post(
            &format!("/api/v1/forums/topics/{topic}/votes"),
            &app.customer("carla@example.com"),
            json!({}),
        )
        .await;
    assert_eq!(r.body, json!({ "voted": false, "votes": 1 }));
    // Nobody votes for their own words.
    let r = app
        .post(
            &format!("/api/v1/forums/topics/{topic}/votes"),
            &app.customer("ana@example.com"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Only the author (or staff) accepts an answer.
    let csrf_bob = bob.csrf(&path).await;
    let p = bob
        .post(
            &format!("{path}/accept"),
            &[("_csrf", &csrf_bob), ("post", &bobs)],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            &format!("/api/v1/forums/topics/{topic}/accept"),
            &app.customer("bob@example.com"),
            json!({ "post": bobs }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let csrf = ana.csrf(&path).await;
    let p = ana
        .post(
            &format!("{path}/accept"),
            &[("_csrf", &csrf), ("post", &bobs)],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    let t = topic_json(&app, &app.customer("carla@example.com"), &topic).await;
    assert_eq!(t["posts"][0]["id"], bobs.as_str());
    assert_eq!(t["posts"][0]["accepted"], true);
    assert_eq!(t["topic"]["answered"], true);
    // Customers never get authors' addresses from the API either.
    assert!(!t.to_string().contains("@example.com"), "{t}");
    let page = bob.get(&path).await;
    assert!(page.html.contains("Accepted answer"));
    // Staff may change it; a stale version is a 409.
    let r = app
        .post(
            &format!("/api/v1/forums/topics/{topic}/accept"),
            &app.agent("agent@example.com"),
            json!({ "post": null, "version": 1 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    let r = app
        .post(
            &format!("/api/v1/forums/topics/{topic}/accept"),
            &app.agent("agent@example.com"),
            json!({ "post": null }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // The display name can change; it is used from then on.
    let csrf = ana.csrf("/help/community/profile").await;
    let p = ana
        .post(
            "/help/community/profile",
            &[("_csrf", &csrf), ("display_name", "Ana the Printer")],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains("Ana the Printer"));
}

#[tokio::test]
async fn locked_topics_refuse_replies_and_hidden_content_disappears() {
    let app = TestApp::spawn().await;
    category(&app, "start").await;
    let agent = app.agent("agent@example.com");
    let ana = Visitor::new(&app, Some("ana@example.com")).await;
    let bob = Visitor::new(&app, Some("bob@example.com")).await;
    let topic = post_topic(&ana, "start", "Printer offline after update", Some("Ana")).await;
    let p = reply(
        &bob,
        &topic,
        "Buy cheap watches at spam.example",
        Some("Bob"),
    )
    .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let t = topic_json(&app, &agent, &topic).await;
    let spam = t["posts"][0]["id"].as_str().expect("id").to_string();

    // Lock: customers' replies are refused (form and API), staff may still answer.
    let r = app
        .post(
            &format!("/api/v1/forums/topics/{topic}/moderation"),
            &agent,
            json!({ "action": "lock", "note": "resolved" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .post(
            &format!("/api/v1/forums/topics/{topic}/posts"),
            &app.customer("ana@example.com"),
            json!({ "body": "still broken" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "topic");
    let page = ana.get(&format!("/help/community/topics/{topic}")).await;
    assert!(page.html.contains("locked"));
    assert!(!page.html.contains("name=\"body\""), "no reply form");
    let csrf = ana.csrf(&format!("/help/community/topics/{topic}")).await;
    let p = ana
        .post(
            &format!("/help/community/topics/{topic}/reply"),
            &[("_csrf", &csrf), ("body", "still broken")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.html.contains("locked"));
    let r = app
        .post(
            &format!("/api/v1/forums/topics/{topic}/posts"),
            &agent,
            json!({ "body": "Closing: fixed in 2.1." }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    // Hide the spam reply: gone for the public and other customers, its author sees it hidden.
    let r = app
        .post(
            &format!("/api/v1/forums/topics/{topic}/moderation"),
            &agent,
            json!({ "action": "hide", "post": spam }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let anon = Visitor::new(&app, None).await;
    let path = format!("/help/community/topics/{topic}");
    assert!(!anon.get(&path).await.html.contains("spam.example"));
    assert!(!ana.get(&path).await.html.contains("spam.example"));
    let own = bob.get(&path).await.html;
    assert!(
        own.contains("spam.example") && own.contains("Hidden by a moderator"),
        "{own}"
    );
    let r = app
        .get(
            &format!("/api/v1/forums/topics/{topic}"),
            &app.customer("carla@example.com"),
        )
        .await;
    assert!(!r.body.to_string().contains("spam.example"));

    // Hide the topic: 404 for others and out of the category list; its author still sees it.
    let r = app
        .post(
            &format!("/api/v1/forums/topics/{topic}/moderation"),
            &agent,
            json!({ "action": "hide" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(anon.get(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(bob.get(&path).await.status, StatusCode::NOT_FOUND);
    assert!(!anon
        .get("/help/community/start")
        .await
        .html
        .contains("Printer offline"));
    let own = ana.get(&path).await;
    assert_eq!(own.status, StatusCode::OK);
    assert!(own.html.contains("only you can see this topic"));
    // Every moderation action is in the history.
    let t = topic_json(&app, &agent, &topic).await;
    let actions: Vec<&str> = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["lock", "hide", "hide"]);
    let all = app.get("/api/v1/forums/topics", &agent).await;
    assert_eq!(all.body["items"][0]["hidden"], true);
}

#[tokio::test]
async fn reports_reach_the_queue_once_per_reporter() {
    let app = TestApp::spawn().await;
    category(&app, "start").await;
    let agent = app.agent("agent@example.com");
    let ana = Visitor::new(&app, Some("ana@example.com")).await;
    let bob = Visitor::new(&app, Some("bob@example.com")).await;
    let topic = post_topic(&ana, "start", "Printer offline after update", Some("Ana")).await;
    reply(&bob, &topic, "Rude words here", Some("Bob")).await;
    let t = topic_json(&app, &agent, &topic).await;
    let post = t["posts"][0]["id"].as_str().expect("id").to_string();

    // An anonymous visitor reports the reply; a second report by the same visitor adds nothing.
    let anon = Visitor::new(&app, None).await;
    let form_path = format!("/help/community/topics/{topic}/report?post={post}");
    let form = anon.get(&form_path).await;
    assert!(form.html.contains("value=\"off_topic\""));
    let csrf = anon.csrf(&form_path).await;
    let path = format!("/help/community/topics/{topic}/report");
    let p = anon.post(&path, &[("_csrf", &csrf), ("post", &post)]).await;
    assert_eq!(
        p.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "reason required"
    );
    assert!(p.html.contains("id=\"reason-error\""));
    let p = anon
        .post(
            &path,
            &[
                ("_csrf", &csrf),
                ("post", &post),
                ("reason", "abuse"),
                ("details", "insults"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    assert!(p.html.contains("Thank you"));
    let p = anon
        .post(
            &path,
            &[("_csrf", &csrf), ("post", &post), ("reason", "spam")],
        )
        .await;
    assert!(p.html.contains("already reported"), "{}", p.html);
    // A signed-in customer reports too (API).
    let r = app
        .post(
            &format!("/api/v1/forums/topics/{topic}/reports"),
            &app.customer("carla@example.com"),
            json!({ "post": post, "reason": "abuse" }),
        )
        .await;
    assert_eq!(r.body["already_reported"], false, "{:?}", r.body);

    let q = app.get("/api/v1/forums/reports", &agent).await;
    assert_eq!(q.status, StatusCode::OK);
    let items = q.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["case"]["count"], 2);
    assert_eq!(items[0]["case"]["post_id"], post.as_str());
    assert_eq!(items[0]["excerpt"], "Rude words here");

    // Resolving empties the queue and is recorded.
    let r = app
        .post(
            &format!("/api/v1/forums/topics/{topic}/reports/resolve"),
            &agent,
            json!({ "post": post, "note": "hidden" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let q = app.get("/api/v1/forums/reports", &agent).await;
    assert_eq!(q.body["items"].as_array().map(Vec::len), Some(0));
    let t = topic_json(&app, &agent, &topic).await;
    assert_eq!(t["events"][0]["action"], "resolve_reports");
}

#[tokio::test]
async fn customers_cannot_moderate_nor_use_the_staff_api() {
    let app = TestApp::spawn().await;
    category(&app, "start").await;
    let ana = Visitor::new(&app, Some("ana@example.com")).await;
    let topic = post_topic(&ana, "start", "Printer offline after update", Some("Ana")).await;
    let customer = app.customer("ana@example.com");
    for (path, body) in [
        (
            format!("/api/v1/forums/topics/{topic}/moderation"),
            json!({ "action": "hide" }),
        ),
        (format!("/api/v1/forums/topics/{topic}/ticket"), json!({})),
        (
            format!("/api/v1/forums/topics/{topic}/reports/resolve"),
            json!({}),
        ),
        (
            "/api/v1/forums/categories".to_string(),
            json!({ "slug": "mine", "name": "Mine" }),
        ),
    ] {
        let r = app.post(&path, &customer, body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {:?}", r.body);
    }
    for path in ["/api/v1/forums/reports", "/api/v1/forums/topics"] {
        assert_eq!(
            app.get(path, &customer).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    // The platform's service credential does not speak in the community.
    let platform = app.token("platform", None);
    for (path, body) in [
        (
            format!("/api/v1/forums/topics/{topic}/posts"),
            json!({ "body": "hi" }),
        ),
        (format!("/api/v1/forums/topics/{topic}/votes"), json!({})),
        (
            "/api/v1/forums/categories/start/topics".to_string(),
            json!({ "title": "From the platform", "body": "x" }),
        ),
    ] {
        let r = app.post(&path, &platform, body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {:?}", r.body);
    }
    // Agents moderate but do not manage categories.
    let r = app
        .post(
            "/api/v1/forums/categories",
            &app.agent("agent@example.com"),
            json!({ "slug": "mine", "name": "Mine" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The console is for the team only.
    let mut b = Browser::new(&app);
    b.sign_in(&customer).await;
    let (status, _, _) = b.get("/app/community").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let t = topic_json(&app, &app.agent("agent@example.com"), &topic).await;
    assert_eq!(t["topic"]["hidden"], false);
}

#[tokio::test]
async fn a_topic_becomes_one_ticket_for_its_author() {
    let app = TestApp::spawn().await;
    category(&app, "start").await;
    let agent = app.agent("agent@example.com");
    let ana = Visitor::new(&app, Some("ana@example.com")).await;
    let topic = post_topic(&ana, "start", "Refund for a double charge", Some("Ana")).await;

    let r = app
        .post(
            &format!("/api/v1/forums/topics/{topic}/ticket"),
            &agent,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let number = r.body["number"].as_str().expect("number").to_string();
    let again = app
        .post(
            &format!("/api/v1/forums/topics/{topic}/ticket"),
            &agent,
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["number"], number.as_str());
    assert_eq!(app.list_numbers(&agent, "").await, vec![number.as_str()]);

    let t = app.get(&format!("/api/v1/tickets/{number}"), &agent).await;
    assert_eq!(t.body["ticket"]["customer"]["email"], "ana@example.com");
    assert_eq!(t.body["ticket"]["channel"], "community");
    assert_eq!(t.body["ticket"]["subject"], "Refund for a double charge");
    assert!(t.body["messages"][0]["body_text"]
        .as_str()
        .expect("text")
        .contains(&format!("/help/community/topics/{topic}")));
    let audit: Vec<&str> = t.body["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert!(audit.contains(&"from_community_topic"), "{audit:?}");
    // The customer sees it among their own tickets.
    let mine = app.list_numbers(&app.customer("ana@example.com"), "").await;
    assert_eq!(mine, vec![number.as_str()]);

    let view = topic_json(&app, &agent, &topic).await;
    assert_eq!(view["ticket"], number.as_str());
    assert_eq!(view["events"][0]["action"], "ticket");
    let page = Visitor::new(&app, None)
        .await
        .get(&format!("/help/community/topics/{topic}"))
        .await;
    assert!(page.html.contains("continued privately"));
    assert!(
        !page.html.contains(&number),
        "the ticket number stays private"
    );
}

#[tokio::test]
async fn forms_without_csrf_are_refused_and_store_nothing() {
    let app = TestApp::spawn().await;
    category(&app, "start").await;
    let ana = Visitor::new(&app, Some("ana@example.com")).await;
    let other = Visitor::new(&app, Some("bob@example.com")).await;
    let foreign = other.csrf("/help/community/start/new").await;
    for form in [
        vec![
            ("title", "No token here"),
            ("body", "x"),
            ("display_name", "Ana"),
        ],
        vec![
            ("_csrf", foreign.as_str()),
            ("title", "Foreign token"),
            ("body", "x"),
            ("display_name", "Ana"),
        ],
    ] {
        let p = ana.post("/help/community/start/new", &form).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
    }
    let list = app
        .get("/api/v1/forums/categories/start/topics", &app.admin())
        .await;
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(0));
    // Nor was a display name saved on the way.
    assert!(ana
        .get("/help/community/start/new")
        .await
        .html
        .contains("name=\"display_name\""));
    let topic = post_topic(&ana, "start", "A real topic", Some("Ana")).await;
    for path in ["reply", "vote", "accept", "report"] {
        let p = other
            .post(
                &format!("/help/community/topics/{topic}/{path}"),
                &[("body", "x"), ("target", "topic"), ("reason", "spam")],
            )
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{path}");
    }
    let t = topic_json(&app, &app.agent("agent@example.com"), &topic).await;
    assert_eq!(t["topic"]["votes"], 0);
    assert_eq!(t["posts"].as_array().map(Vec::len), Some(0));
    assert!(t.get("reports").is_none(), "{t}");
}

#[tokio::test]
async fn posting_too_fast_is_rate_limited() {
    let app = TestApp::spawn().await;
    category(&app, "start").await;
    let ana = app.customer("ana@example.com");
    for i in 0..5 {
        let r = app
            .post(
                "/api/v1/forums/categories/start/topics",
                &ana,
                json!({ "title": format!("Question number {i}"), "body": "Details", "display_name": "Ana" }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let r = app
        .post(
            "/api/v1/forums/categories/start/topics",
            &ana,
            json!({ "title": "One too many", "body": "Details" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    // The form says so too, and keeps what was typed.
    let v = Visitor::new(&app, Some("ana@example.com")).await;
    let csrf = v.csrf("/help/community/start/new").await;
    let p = v
        .post(
            "/help/community/start/new",
            &[
                ("_csrf", &csrf),
                ("title", "Still one too many"),
                ("body", "Details"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(p.html.contains("value=\"Still one too many\""));
    // Staff are not limited.
    for i in 0..6 {
        let r = app
            .post(
                "/api/v1/forums/categories/start/topics",
                &app.agent("agent@example.com"),
                json!({ "title": format!("Announcement {i}"), "body": "News" }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
}

#[tokio::test]
async fn api_validation_problems_name_the_field() {
    let app = TestApp::spawn().await;
    // The forum API is in the OpenAPI document, with its types.
    let doc = app
        .request(
            reqwest::Method::GET,
            "/api/v1/openapi.json",
            None,
            None,
            &[],
        )
        .await;
    for p in [
        "/api/v1/forums/categories",
        "/api/v1/forums/topics/{id}",
        "/api/v1/forums/topics/{id}/moderation",
        "/api/v1/forums/topics/{id}/ticket",
        "/api/v1/forums/reports",
    ] {
        assert!(doc.body["paths"].get(p).is_some(), "openapi documents {p}");
    }
    for schema in ["TopicView", "Moderation", "ModAction", "ReportQueue"] {
        assert!(
            doc.body["components"]["schemas"][schema].is_object(),
            "{schema}"
        );
    }
    let admin = app.admin();
    let r = app
        .post(
            "/api/v1/forums/categories",
            &admin,
            json!({ "slug": "Not A Slug", "name": "X" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "slug");
    let r = app
        .post("/api/v1/forums/categories", &admin, json!({ "slug": "ok" }))
        .await;
    assert_eq!(r.body["field"], "name", "{:?}", r.body);
    category(&app, "start").await;
    let ana = app.customer("ana@example.com");
    let r = app
        .post(
            "/api/v1/forums/categories/start/topics",
            &ana,
            json!({ "title": "Hi", "body": "x", "display_name": "Ana" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "title");
    assert_eq!(r.content_type(), "application/problem+json");
    let r = app
        .post(
            "/api/v1/forums/categories/start/topics",
            &ana,
            json!({ "title": "A fine title" }),
        )
        .await;
    assert_eq!(r.body["field"], "body");
    let r = app
        .post(
            "/api/v1/forums/categories/start/topics",
            &ana,
            json!({ "title": "A fine title", "body": "Text" }),
        )
        .await;
    assert_eq!(r.body["field"], "display_name");
    // Stale category update: 409 with the current version.
    let r = app
        .request(
            reqwest::Method::PUT,
            "/api/v1/forums/categories/start",
            Some(&admin),
            Some(json!({ "name": "Renamed" })),
            &[("If-Match", "\"v7\"")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["current_version"], 1);
    // A category with topics stays.
    app.post(
        "/api/v1/forums/categories/start/topics",
        &ana,
        json!({ "title": "A fine title", "body": "Text", "display_name": "Ana" }),
    )
    .await;
    let r = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/forums/categories/start",
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_console_moderates_and_turns_topics_into_tickets() {
    let app = TestApp::spawn().await;
    category(&app, "start").await;
    let ana = Visitor::new(&app, Some("ana@example.com")).await;
    let topic = post_topic(&ana, "start", "Printer offline after update", Some("Ana")).await;
    let anon = Visitor::new(&app, None).await;
    let csrf = anon
        .csrf(&format!("/help/community/topics/{topic}/report"))
        .await;
    anon.post(
        &format!("/help/community/topics/{topic}/report"),
        &[("_csrf", &csrf), ("reason", "spam")],
    )
    .await;

    let mut agent = Browser::new(&app);
    agent.sign_in(&app.agent("agent@example.com")).await;
    let csrf = agent.csrf().await;
    let (status, html, _) = agent.get("/app/community").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("href=\"/app/community\" aria-current=\"page\""),
        "nav"
    );
    assert!(html.contains("Reports to review (1)"), "{html}");
    assert!(
        html.contains("ana@example.com"),
        "staff see the author's address"
    );
    let base = format!("/app/community/topics/{topic}");
    let (status, html, _) = agent.get(&base).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Turn into ticket") && html.contains("Resolve topic reports"));

    let resp = agent
        .post(
            &format!("{base}/moderate"),
            &[("_csrf", "forged"), ("action", "pin")],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = agent
        .post(
            &format!("{base}/moderate"),
            &[("_csrf", &csrf), ("action", "pin")],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let resp = agent
        .post(&format!("{base}/resolve"), &[("_csrf", &csrf)], &[])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let resp = agent
        .post(
            &format!("{base}/reply"),
            &[("_csrf", &csrf), ("body", "We are on it.")],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let resp = agent
        .post(&format!("{base}/ticket"), &[("_csrf", &csrf)], &[])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(to, "/app/tickets/HD-1");
    let (_, html, _) = agent.get(&base).await;
    assert!(html.contains("Open ticket HD-1"), "{html}");
    assert!(html.contains("Pinned"));
    let (_, html, _) = agent.get("/app/community").await;
    assert!(html.contains("Reports to review (0)"));
    let page = ana.get(&format!("/help/community/topics/{topic}")).await;
    assert!(page.html.contains("We are on it.") && page.html.contains("Pinned"));
}
