//! Unicode format characters (bidi overrides, zero-width spaces) never reach what people see:
//! U+202E makes `é\u{202E}gpj.exe` show as `éexe.jpg`. They are removed from subjects, names and
//! file names on the way in (mail, API, help centre) and from file names on the way out
//! (downloads' `Content-Disposition`, pages), including names stored before that.

use base64::Engine;
use helpdesk_adapters::local::SqliteTable;
use helpdesk_app::ports::{Condition, Query, SortKey, Table};
use helpdesk_tests::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

const RLO: char = '\u{202E}';

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// A mail from "Dana <RLO>Scully" with the subject "Invoice <RLO>fdp.exe" and a file named
/// "é<RLO>gpj.exe" (shown as "éexe.jpg" where the override works).
fn spoofing_mail() -> Vec<u8> {
    format!(
        "From: =?UTF-8?B?{from}?= <dana@example.com>\r\n\
         To: support@{domain}\r\n\
         Message-ID: <rlo-1@example.com>\r\n\
         Subject: =?UTF-8?B?{subject}?=\r\n\
         Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
         \r\n\
         --b1\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         The invoice is attached.\r\n\
         --b1\r\n\
         Content-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=\"=?UTF-8?B?{file}?=\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAA=\r\n\
         --b1--\r\n",
        from = b64(&format!("Dana {RLO}Scully")),
        subject = b64(&format!("Invoice {RLO}fdp.exe")),
        file = b64(&format!("é{RLO}gpj.exe")),
        domain = helpdesk::DEFAULT_MAIL_DOMAIN,
    )
    .into_bytes()
}

fn no_format_chars(what: &str, text: &str) {
    assert!(
        !text.chars().any(helpdesk_domain::text::is_format_char),
        "{what} keeps a format character: {text:?}"
    );
}

async fn download(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.base))
        .bearer_auth(app.admin())
        .send()
        .await
        .expect("send")
}

fn disposition(r: &reqwest::Response) -> String {
    r.headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

async fn view(app: &TestApp, number: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/tickets/{number}"), &app.admin())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
}

#[tokio::test]
async fn inbound_mail_is_stored_and_shown_without_format_characters() {
    let app = TestApp::spawn().await;
    app.ingest_email("rlo", &spoofing_mail()).await;
    let v = view(&app, "HD-1").await;
    assert_eq!(v["ticket"]["subject"], "Invoice fdp.exe");
    assert_eq!(v["ticket"]["customer"]["name"], "Dana Scully");
    let m = &v["messages"][0];
    assert_eq!(m["author_name"], "Dana Scully");
    assert_eq!(m["attachments"][0]["filename"], "égpj.exe");
    no_format_chars("the ticket's JSON", &v.to_string());

    // Served: the download's name, and the customer's page in the help centre.
    let mid = m["id"].as_str().expect("message id");
    let r = download(
        &app,
        &format!("/api/v1/tickets/HD-1/messages/{mid}/attachments/0"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        disposition(&r),
        "attachment; filename=\"_gpj.exe\"; filename*=UTF-8''%C3%A9gpj.exe"
    );
    let cookie = app.customer_cookie("dana@example.com").await;
    let page = app
        .client
        .get(format!("{}/help/tickets/HD-1", app.base))
        .header("cookie", format!("hd_customer={cookie}"))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains("Invoice fdp.exe") && html.contains("égpj.exe"));
    no_format_chars("the help-centre page", &html);
}

#[tokio::test]
async fn api_tickets_and_uploads_lose_format_characters() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let t = app
        .create_ticket(
            &admin,
            json!({
                "subject": format!("Refund for {RLO}fdp.exe\u{200B}"),
                "body": "Details",
                "channel": "email",
                "customer": { "email": "ana@example.com", "name": format!("Ana\u{2066} Silva") },
            }),
        )
        .await;
    assert_eq!(t["subject"], "Refund for fdp.exe");
    assert_eq!(t["customer"]["name"], "Ana Silva");
    let number = t["number"].as_str().expect("number").to_string();
    // Only format characters is no subject at all.
    let r = app
        .post(
            "/api/v1/tickets",
            &admin,
            json!({ "subject": format!("{RLO}\u{200B}"), "body": "x", "channel": "email",
                    "customer": { "email": "ana@example.com" } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "subject");

    let r = app
        .post(
            &format!("/api/v1/tickets/{number}/messages"),
            &admin,
            json!({ "body": "The form.", "attachments": [{
                "filename": format!("é{RLO}gpj.exe"),
                "content_type": "application/octet-stream",
                "content_base64": "TVqQAA==",
            }] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let v = view(&app, &number).await;
    let names: Vec<&str> = v["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .flat_map(|m| m["attachments"].as_array().into_iter().flatten())
        .filter_map(|a| a["filename"].as_str())
        .collect();
    assert_eq!(names, ["égpj.exe"]);
    no_format_chars("the ticket's JSON", &v.to_string());
}

#[tokio::test]
async fn names_stored_before_are_served_without_format_characters() {
    let app = TestApp::spawn().await;
    app.ingest_email("rlo", &spoofing_mail()).await;
    let v = view(&app, "HD-1").await;
    let ticket_id = v["ticket"]["id"].as_str().expect("id").to_string();
    let mid = v["messages"][0]["id"].as_str().expect("mid").to_string();

    // As a version without the input check stored it.
    let table = SqliteTable::open(helpdesk::database_path(app.data.path())).expect("db");
    let page = table
        .query(
            &Query::partition(None, format!("T#{ticket_id}")).sk(SortKey::BeginsWith("M#".into())),
        )
        .await
        .expect("messages");
    let mut item = page.items.into_iter().next().expect("the message");
    item.doc["attachments"][0]["filename"] = json!(format!("é{RLO}gpj.exe"));
    let version = item.version;
    item.version += 1;
    table
        .put(item, Condition::VersionIs(version))
        .await
        .expect("legacy name");
    let raw = view(&app, "HD-1").await;
    assert_eq!(
        raw["messages"][0]["attachments"][0]["filename"],
        format!("é{RLO}gpj.exe"),
        "stored as it was"
    );

    let r = download(
        &app,
        &format!("/api/v1/tickets/HD-1/messages/{mid}/attachments/0"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let d = disposition(&r);
    assert_eq!(
        d,
        "attachment; filename=\"_gpj.exe\"; filename*=UTF-8''%C3%A9gpj.exe"
    );
    assert!(!d.contains("%E2%80%AE"), "{d}");
}
