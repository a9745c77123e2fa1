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

#[tokio::test]
async fn the_editor_uploads_lists_plays_and_removes_files_without_script() {
    let app = TestApp::spawn().await;
    let token = app.agent("ana@example.com");
    let mut agent = Browser::new(&app);
    agent.sign_in(&token).await;
    let csrf = agent.csrf().await;
    let r = app
        .post(
            "/api/v1/kb/articles",
            &token,
            json!({ "title": "Pair the remote", "body": "Hold both buttons.\n\n![How to pair](file:pair.webm)", "audiences": ["customers"] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().expect("id").to_string();
    let edit = format!("/app/kb/{id}/edit");

    // The edit page has a plain multipart form (CSRF token inside) and no files yet.
    let (status, html, _) = agent.get(&edit).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&format!(
            "action=\"/app/kb/{id}/files\" enctype=\"multipart/form-data\""
        )),
        "{html}"
    );
    assert!(html.contains("type=\"file\" name=\"file\""), "{html}");
    assert!(html.contains("No files yet."));

    // A forged token uploads nothing.
    let webm: &[u8] = b"\x1a\x45\xdf\xa3webm video bytes";
    let resp = agent
        .post_multipart(
            &format!("/app/kb/{id}/files"),
            Some(("pair.webm", "video/webm", webm)),
            &[("_csrf", "forged"), ("version", "1")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = agent
        .post_multipart(
            &format!("/app/kb/{id}/files"),
            Some(("pair.webm", "video/webm", webm)),
            &[("_csrf", &csrf), ("version", "1")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp).await, format!("{edit}#files-h"));

    // Listed with a download link and a remove button; the download is the file.
    let (_, html, _) = agent.get(&edit).await;
    let download = format!("/app/kb/{id}/versions/2/files/0");
    assert!(html.contains(&format!("href=\"{download}\"")), "{html}");
    assert!(html.contains(&format!("action=\"/app/kb/{id}/files/0/remove\"")));
    let (status, bytes, headers) = agent.get(&download).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes.as_bytes(), webm);
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("video/webm")
    );
    // The article page plays it where the body refers to it.
    let (_, html, _) = agent.get(&format!("/app/kb/{id}")).await;
    assert!(
        html.contains(&format!(
            "<video controls preload=\"metadata\" src=\"{download}\""
        )),
        "{html}"
    );

    // The editor's preview knows the article, so the video shows as it will.
    assert!(html_has_article_field(&agent, &edit, &id).await);
    let resp = agent
        .post(
            "/app/kb/preview",
            &[
                ("_csrf", &csrf),
                ("body", "![Pairing](file:pair.webm)"),
                ("article", &id),
            ],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let preview = resp.text().await.expect("html");
    assert!(
        preview.contains(&format!(
            "<video controls preload=\"metadata\" src=\"{download}\""
        )),
        "{preview}"
    );

    // Saving the text keeps the files.
    let resp = agent
        .post(
            &edit,
            &[
                ("_csrf", &csrf),
                ("title", "Pair the remote"),
                (
                    "body",
                    "Hold both buttons for 5 s.\n\n![How to pair](file:pair.webm)",
                ),
                ("audience", "customers"),
                ("locale", "en"),
                ("version", "2"),
            ],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let r = app.get(&format!("/api/v1/kb/articles/{id}"), &token).await;
    assert_eq!(
        r.body["article"]["content"]["attachments"][0]["name"],
        "pair.webm"
    );

    // Refused files come back to the editor with the reason; a stale form is a conflict.
    let resp = agent
        .post_multipart(
            &format!("/app/kb/{id}/files"),
            Some(("page.html", "text/html", b"<script>x()</script>")),
            &[("_csrf", &csrf), ("version", "3")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp
        .text()
        .await
        .expect("html")
        .contains("text/html is not accepted"));
    let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
    big.resize(4 * 1024 * 1024 + 10, 0);
    let resp = agent
        .post_multipart(
            &format!("/app/kb/{id}/files"),
            Some(("big.png", "image/png", &big)),
            &[("_csrf", &csrf), ("version", "3")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(resp.text().await.expect("html").contains("at most 4 MiB"));
    let resp = agent
        .post(
            &format!("/app/kb/{id}/files/0/remove"),
            &[("_csrf", &csrf), ("version", "1")],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);

    // Remove: the next version has no files.
    let resp = agent
        .post(
            &format!("/app/kb/{id}/files/0/remove"),
            &[("_csrf", &csrf), ("version", "3")],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, html, _) = agent.get(&edit).await;
    assert!(html.contains("No files yet."), "{html}");
}

async fn html_has_article_field(agent: &Browser, edit: &str, id: &str) -> bool {
    let (_, html, _) = agent.get(edit).await;
    html.contains(&format!("name=\"article\" value=\"{id}\""))
}
