//! The agent console's handlers over HTTP: sign-in, session cookie, CSRF, role checks, pages,
//! stale edits and board moves.

use helpdesk_tests::browser::{set_cookie, Browser};
use helpdesk_tests::TestApp;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn pages_require_a_staff_session() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    let (status, _, headers) = b.get("/app/tickets?status=open").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers.get("location").and_then(|v| v.to_str().ok()),
        Some("/app/login?next=/app/tickets%3Fstatus%3Dopen")
    );

    // A customer's valid token does not open the console.
    let resp = b.sign_in(&app.customer("c@example.com")).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(b.session.is_none());
    // Nor does a forged one.
    let resp = b.sign_in("eyJhbGciOiJIUzI1NiJ9.e30.bogus").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // The login form itself is protected: no matching cookie, no sign-in.
    let resp = b
        .client
        .post(format!("{}/app/login", app.base))
        .form(&[("_login", "x"), ("token", &app.admin())])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let resp = b.sign_in(&app.agent("ana@example.com")).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        resp.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/app/tickets")
    );
    let cookie = set_cookie(&resp, "hd_session").expect("session cookie");
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/app"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    let (status, html, headers) = b.get("/app").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Open tickets"));
    assert!(
        html.contains("—"),
        "no data shows a dash, not a made-up number"
    );
    assert!(headers
        .get("content-security-policy")
        .is_some_and(|v| v.to_str().unwrap_or("").contains("frame-ancestors 'none'")));
    assert_eq!(
        headers.get("x-frame-options").and_then(|v| v.to_str().ok()),
        Some("DENY")
    );
}

#[tokio::test]
async fn forms_need_the_csrf_token() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    b.sign_in(&app.agent("ana@example.com")).await;
    let form = [
        ("customer_email", "c@example.com"),
        ("subject", "Printer on fire"),
        ("body", "Really."),
        ("priority", "urgent"),
    ];
    let resp = b.post("/app/tickets", &form, &[]).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let mut with_bad = form.to_vec();
    with_bad.push(("_csrf", "0000"));
    assert_eq!(
        b.post("/app/tickets", &with_bad, &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert!(
        app.list_numbers(&app.admin(), "").await.is_empty(),
        "nothing was created"
    );

    let csrf = b.csrf().await;
    let mut ok = form.to_vec();
    ok.push(("_csrf", csrf.as_str()));
    let resp = b.post("/app/tickets", &ok, &[]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        resp.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/app/tickets/HD-1")
    );

    // A token from another session does not work.
    let mut other = Browser::new(&app);
    other.sign_in(&app.agent("bob@example.com")).await;
    assert_eq!(
        other.post("/app/tickets", &ok, &[]).await.status(),
        StatusCode::FORBIDDEN
    );

    // Invalid input re-renders the form with the field marked.
    let resp = b
        .post(
            "/app/tickets",
            &[
                ("customer_email", "nope"),
                ("subject", "x"),
                ("body", "y"),
                ("_csrf", csrf.as_str()),
            ],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp
        .text()
        .await
        .unwrap_or_default()
        .contains("aria-invalid=\"true\""));
}

#[tokio::test]
async fn list_detail_stale_edit_and_board_moves() {
    let app = TestApp::spawn().await;
    app.create_agent("ana@example.com", "agent").await;
    let token = app.agent("ana@example.com");
    let t = app.create_ticket(&token, json!({ "subject": "Export <b>broken</b>", "body": "<script>alert(1)</script>", "customer": { "email": "c@example.com", "name": "Carla Diaz" }, "priority": "high" })).await;
    let mut b = Browser::new(&app);
    b.sign_in(&token).await;
    let csrf = b.csrf().await;

    let (status, html, _) = b.get("/app/tickets?status=open").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("HD-1"));
    assert!(html.contains(">CD<"), "avatar initials");
    assert!(
        html.contains("Export &lt;b&gt;broken&lt;/b&gt;"),
        "text is escaped"
    );
    let (status, html, _) = b.get("/app/tickets?status=closed").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No tickets match"), "empty state");
    let (status, _, _) = b.get("/app/tickets?status=bogus").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, html, _) = b.get("/app/tickets/HD-1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("Service level"), "no policy, no SLA panel");
    let policy = json!({ "calendar": { "time_zone": "UTC", "hours": { "monday": [{ "start": "00:00", "end": "24:00" }], "tuesday": [{ "start": "00:00", "end": "24:00" }], "wednesday": [{ "start": "00:00", "end": "24:00" }], "thursday": [{ "start": "00:00", "end": "24:00" }], "friday": [{ "start": "00:00", "end": "24:00" }], "saturday": [{ "start": "00:00", "end": "24:00" }], "sunday": [{ "start": "00:00", "end": "24:00" }] } }, "rules": [{ "priority": "high", "targets": { "first_response_minutes": 240 } }] });
    assert_eq!(
        app.put("/api/v1/sla/policy", &app.admin(), policy)
            .await
            .status,
        StatusCode::OK
    );
    let (_, html, _) = b.get("/app/tickets/HD-1").await;
    assert!(html.contains("Service level"));
    assert!(
        html.contains("badge sla-running"),
        "the first-response countdown runs"
    );
    assert!(!html.contains("<script>alert(1)"));

    // Two tabs open the same version; the second save is refused with a clear 409.
    let first = b
        .post(
            "/app/tickets/HD-1/update",
            &[
                ("_csrf", &csrf),
                ("version", "1"),
                ("status", "new"),
                ("priority", "urgent"),
                ("assignee", ""),
                ("department", ""),
                ("category", ""),
                ("tags", ""),
            ],
            &[],
        )
        .await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let second = b
        .post(
            "/app/tickets/HD-1/update",
            &[
                ("_csrf", &csrf),
                ("version", "1"),
                ("status", "new"),
                ("priority", "low"),
                ("assignee", ""),
                ("department", ""),
                ("category", ""),
                ("tags", ""),
            ],
            &[],
        )
        .await;
    assert_eq!(second.status(), StatusCode::CONFLICT);
    let body = second.text().await.unwrap_or_default();
    assert!(body.contains("Someone else changed this ticket"));
    assert!(body.contains("Reload the ticket"));

    // Reply and note.
    let r = b
        .post(
            "/app/tickets/HD-1/reply",
            &[("_csrf", &csrf), ("body", "Looking now")],
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = b
        .post(
            "/app/tickets/HD-1/reply",
            &[
                ("_csrf", &csrf),
                ("body", "Customer is VIP"),
                ("internal", "1"),
            ],
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html, _) = b.get("/app/tickets/HD-1").await;
    assert!(html.contains("msg msg-note"));
    assert!(html.contains("Internal note — only the team sees this"));

    // Board: an illegal move (new → assigned without an assignee) is refused with a message.
    let id = t["id"].as_str().expect("id");
    let accept = [
        ("accept", "application/json"),
        ("x-csrf-token", csrf.as_str()),
    ];
    let r = b
        .post(
            &format!("/app/tickets/{id}/move"),
            &[("status", "assigned")],
            &accept,
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res: serde_json::Value = r.json().await.expect("json");
    assert_eq!(res["ok"], false);
    assert!(res["message"]
        .as_str()
        .unwrap_or("")
        .contains("needs an assignee"));
    let r = b
        .post(
            &format!("/app/tickets/{id}/move"),
            &[("status", "resolved")],
            &accept,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = b
        .post(
            &format!("/app/tickets/{id}/move"),
            &[("status", "assigned")],
            &accept,
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "resolved → assigned is not a workflow move"
    );
    let r = b
        .post(
            &format!("/app/tickets/{id}/move"),
            &[("status", "closed")],
            &[("accept", "application/json")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF token, no move");
    let (status, html, _) = b.get("/app/board").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-status=\"resolved\""));
}

#[tokio::test]
async fn bulk_from_the_list_reports_failures() {
    let app = TestApp::spawn().await;
    app.create_agent("ana@example.com", "agent").await;
    let token = app.agent("ana@example.com");
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            app.ticket_for(&token, "c@example.com", &format!("T{i}"))
                .await["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    // Close one first: setting it in progress will fail.
    app.patch(
        &format!("/api/v1/tickets/{}", ids[0]),
        &token,
        json!({ "status": "closed" }),
        None,
    )
    .await;
    let mut b = Browser::new(&app);
    b.sign_in(&token).await;
    let csrf = b.csrf().await;
    let mut form: Vec<(&str, &str)> = vec![
        ("_csrf", &csrf),
        ("back", "status=all"),
        ("action", "assign"),
        ("assignee", "ana@example.com"),
    ];
    for id in &ids {
        form.push(("ids", id));
    }
    let r = b.post("/app/tickets/bulk", &form, &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap_or_default();
    assert!(html.contains("2 updated"), "{html}");
    assert!(html.contains("1 failed"));
    assert!(html.contains("HD-1"), "names the failed ticket");
}

#[tokio::test]
async fn static_assets_and_logout() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    for (path, ct) in [
        ("/app/static/app.css", "text/css"),
        ("/app/static/app.js", "text/javascript"),
        ("/app/static/htmx.min.js", "text/javascript"),
    ] {
        let (status, body, headers) = b.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(ct)));
        assert!(!body.is_empty());
    }
    b.sign_in(&app.agent("ana@example.com")).await;
    let csrf = b.csrf().await;
    let r = b.post("/app/logout", &[("_csrf", &csrf)], &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(&r, "hd_session").is_some_and(|c| c.contains("Max-Age=0")));
}

#[tokio::test]
async fn email_messages_show_files_inline_images_folded_quotes_and_can_be_moved() {
    let app = TestApp::spawn().await;
    app.ingest_email(
        "files",
        &helpdesk_tests::mail_fixture("files_and_inline_image.eml"),
    )
    .await;
    let reply = "From: Dana Scully <dana@example.com>\r\nTo: support@helpdesk.localhost\r\nMessage-ID: <files-2@example.com>\r\nIn-Reply-To: <files-1@example.com>\r\nSubject: Re: Screenshots of the error\r\n\r\nIt also happens on my phone.\r\n\r\nOn Wed, 25 Nov 2026 at 10:00, Dana Scully <dana@example.com> wrote:\r\n> The app crashes when I open the invoice.\r\n";
    app.ingest_email("reply", reply.as_bytes()).await;
    let agent = app.agent("ana@example.com");
    let other = app
        .ticket_for(&agent, "dana@example.com", "Phone app crash")
        .await;
    let view = app.get("/api/v1/tickets/HD-1", &agent).await.body;
    let mid = view["messages"][0]["id"].as_str().expect("id").to_string();
    let reply_id = view["messages"][1]["id"].as_str().expect("id").to_string();

    let mut b = Browser::new(&app);
    b.sign_in(&agent).await;
    let (status, html, _) = b.get("/app/tickets/HD-1").await;
    assert_eq!(status, StatusCode::OK);
    let inline = format!("/app/tickets/HD-1/messages/{mid}/attachments/0");
    // The inline image points at its download, not at a cid: the browser cannot resolve.
    assert!(html.contains(&format!("src=\"{inline}\"")), "{html}");
    assert!(!html.contains("src=\"cid:"));
    // Files are listed (the inline image is not: it is in the formatted mail).
    assert!(html.contains(&format!(
        "/app/tickets/HD-1/messages/{mid}/attachments/1\">invoice.pdf</a>"
    )));
    assert!(html.contains(">page.html</a>"));
    assert!(!html.contains(">shot.png</a>"));
    // The reply's new text shows; its quote is folded away.
    assert!(html.contains("It also happens on my phone."));
    assert!(html.contains("Show quoted text"));
    assert!(html.contains("Threaded here: "));

    let (status, _, headers) = b.get(&inline).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("image/png")
    );

    // Move the reply to the other ticket from its form.
    let csrf = b.csrf().await;
    let other_number = other["number"].as_str().expect("number");
    let resp = b
        .post(
            &format!("/app/tickets/HD-1/messages/{reply_id}/move"),
            &[
                ("_csrf", csrf.as_str()),
                ("to", other_number),
                ("note", "phone issue"),
            ],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        resp.headers().get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/app/tickets/{other_number}").as_str())
    );
    let (_, html, _) = b.get(&format!("/app/tickets/{other_number}")).await;
    assert!(html.contains("It also happens on my phone."));
    assert!(html.contains("moved here from HD-1 by ana@example.com"));

    // The quarantine page is for admins.
    let (status, _, _) = b.get("/app/quarantine").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut admin = Browser::new(&app);
    admin.sign_in(&app.admin()).await;
    let (status, html, _) = admin.get("/app/quarantine").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Nothing in quarantine."));
    let (_, dash, _) = admin.get("/app").await;
    assert!(dash.contains("href=\"/app/quarantine\""));
}

#[tokio::test]
async fn automations_settings_and_follow_ups_on_the_console() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    b.sign_in(&app.admin()).await;
    let csrf = b.csrf().await;
    let (status, html, _) = b.get("/app/automations").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Satisfaction survey (CSAT)"));
    let resp = b
        .post(
            "/app/automations",
            &[
                ("_csrf", csrf.as_str()),
                ("version", "0"),
                ("csat_enabled", "on"),
                ("csat_delay_minutes", "30"),
                ("csat_link_valid_days", "14"),
                ("follow_up_after_days", "3"),
                ("auto_close_after_days", "7"),
                ("status", "resolved"),
            ],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let r = app.get("/api/v1/automation/settings", &app.admin()).await;
    assert_eq!(r.body["csat"]["enabled"], true);
    assert_eq!(r.body["csat"]["delay_minutes"], 30);
    // A stale form is a 409 with the page again, nothing saved.
    let resp = b
        .post(
            "/app/automations",
            &[
                ("_csrf", csrf.as_str()),
                ("version", "0"),
                ("csat_delay_minutes", "5"),
                ("csat_link_valid_days", "14"),
                ("follow_up_after_days", "3"),
                ("auto_close_after_days", "7"),
            ],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);

    let t = app
        .ticket_for(&app.admin(), "zoe@example.com", "Login loop")
        .await;
    let number = t["number"].as_str().expect("number").to_string();
    let at = (chrono::Utc::now() + chrono::Duration::days(10))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let resp = b
        .post(
            &format!("/app/tickets/{number}/follow-ups"),
            &[
                ("_csrf", csrf.as_str()),
                ("at", at.as_str()),
                ("note", "Call <Zoe> back"),
            ],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, html, _) = b.get(&format!("/app/tickets/{number}")).await;
    assert!(html.contains("Follow-ups"));
    assert!(html.contains("Call &lt;Zoe&gt; back"), "escaped note");
    assert!(html.contains("/cancel"));
    // Without the CSRF token nothing is scheduled.
    let resp = b
        .post(
            &format!("/app/tickets/{number}/follow-ups"),
            &[("at", at.as_str())],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let jobs = app
        .get(
            &format!("/api/v1/tickets/{number}/follow-ups"),
            &app.admin(),
        )
        .await;
    assert_eq!(jobs.body.as_array().map(Vec::len), Some(1));
}
