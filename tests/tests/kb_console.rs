//! The knowledge-base pages of the console over HTTP: list with filters, editor with preview,
//! workflow buttons by role, history with diff, search, and suggestions on the ticket page.

use helpdesk_tests::browser::Browser;
use helpdesk_tests::TestApp;
use reqwest::StatusCode;
use serde_json::json;

async fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn authors_write_supervisors_publish_and_tickets_show_suggestions() {
    let app = TestApp::spawn().await;
    let mut agent = Browser::new(&app);
    agent.sign_in(&app.agent("ana@example.com")).await;
    let csrf = agent.csrf().await;

    // The nav reaches the knowledge base; the list starts empty.
    let (status, html, _) = agent.get("/app/kb").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No articles match"), "{html}");
    let (_, html, _) = agent.get("/app").await;
    assert!(html.contains("href=\"/app/kb\""));

    // The editor: the preview is rendered by the server and sanitised.
    let (status, html, _) = agent.get("/app/kb/new").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("hx-post=\"/app/kb/preview\""));
    let resp = agent
        .post(
            "/app/kb/preview",
            &[
                ("_csrf", &csrf),
                ("body", "# Hello\n\n**bold**\n\n<script>alert(1)</script>"),
            ],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let preview = resp.text().await.expect("html");
    assert!(
        preview.contains("<h1>Hello</h1>") && preview.contains("<strong>bold</strong>"),
        "{preview}"
    );
    assert!(!preview.contains("<script"), "{preview}");
    let resp = agent
        .post(
            "/app/kb/preview",
            &[("_csrf", "forged"), ("body", "x")],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // A missing audience comes back with the form filled in and the reason.
    let form = [
        ("_csrf", csrf.as_str()),
        ("title", "Printer error E42"),
        ("summary", "What E42 means"),
        ("topic", "Hardware / Printers"),
        ("tags", "printer, e42"),
        ("locale", "en"),
        (
            "body",
            "Error E42 means the paper tray is jammed.\nOpen the tray.\n",
        ),
    ];
    let resp = agent.post("/app/kb", &form, &[]).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp.text().await.expect("html").contains("audiences"));
    let mut with_audience = form.to_vec();
    with_audience.push(("audience", "internal"));
    let resp = agent.post("/app/kb", &with_audience, &[]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let article = location(&resp).await;
    assert!(article.starts_with("/app/kb/kb_"), "{article}");

    // An agent sees only "Submit"; the article page shows the rendered body.
    let (status, html, _) = agent.get(&article).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<p>Error E42 means"), "{html}");
    assert!(html.contains("value=\"submit\""));
    assert!(!html.contains("value=\"publish\""));
    let resp = agent
        .post(
            &format!("{article}/step"),
            &[("_csrf", &csrf), ("action", "publish")],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = agent
        .post(
            &format!("{article}/step"),
            &[("_csrf", &csrf), ("action", "submit")],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);

    // Edit: a second version; a stale save is a 409 that keeps the text.
    let mut edit = with_audience.clone();
    edit.retain(|(k, _)| *k != "body");
    edit.push((
        "body",
        "Error E42 means the paper tray is jammed.\nOpen the tray and pull the paper.\n",
    ));
    edit.push(("version", "2"));
    let resp = agent.post(&format!("{article}/edit"), &edit, &[]).await;
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let resp = agent.post(&format!("{article}/edit"), &edit, &[]).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(resp
        .text()
        .await
        .expect("html")
        .contains("Someone else saved this article"));
    let (status, html, _) = agent.get(&format!("{article}/history?from=1&to=2")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<del>− Open the tray.</del>"), "{html}");
    assert!(
        html.contains("<ins>+ Open the tray and pull the paper.</ins>"),
        "{html}"
    );

    // A supervisor sees the approval buttons and publishes.
    let mut sup = Browser::new(&app);
    sup.sign_in(&app.token("supervisor", Some("sam@example.com")))
        .await;
    let sup_csrf = sup.csrf().await;
    let (_, html, _) = sup.get(&article).await;
    assert!(html.contains("value=\"publish\""), "{html}");
    let resp = sup
        .post(
            &format!("{article}/step"),
            &[("_csrf", &sup_csrf), ("action", "publish")],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, html, _) = sup.get("/app/kb?status=published").await;
    assert!(html.contains("Printer error E42"));
    let (_, html, _) = sup.get("/app/kb?status=draft").await;
    assert!(!html.contains("Printer error E42"));

    // The ticket page suggests it, offers the KB search box, and links it in one click.
    let token = app.agent("ana@example.com");
    let t = app.create_ticket(&token, json!({ "subject": "Printer shows E42", "body": "The printer says error E42 and will not print.", "channel": "email", "customer": { "email": "c@example.com" } })).await;
    let number = t["number"].as_str().expect("number");
    let (status, html, _) = agent.get(&format!("/app/tickets/{number}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Suggested articles"), "{html}");
    assert!(html.contains("Printer error E42"), "{html}");
    assert!(html.contains("action=\"/app/kb/search\""));
    let id = article.trim_start_matches("/app/kb/");
    let resp = agent
        .post(
            &format!("/app/tickets/{number}/kb-link"),
            &[("_csrf", &csrf), ("article_id", id)],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let r = app
        .get(&format!("/api/v1/tickets/{number}/articles"), &token)
        .await;
    assert_eq!(r.body[0]["id"], id);
    let (status, html, _) = agent
        .get(&format!("/app/kb/search?q=paper+tray&ticket={number}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<mark>"), "{html}");
    assert!(html.contains(&format!("Link to {number}")));
}
