//! E-mail over HTTP on the local runtime: attachments and inline images kept as blobs and
//! downloaded under the thread's visibility rules, files on replies e-mailed out, a wrongly
//! threaded message moved to the right ticket (and its e-mail thread following it), and
//! quarantined mail reprocessed by admins.

use base64::Engine;
use helpdesk_tests::{mail_fixture, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const PDF: &[u8] = b"%PDF-1.4\n% an invoice, for the tests\n%%EOF\n";

async fn ingest(app: &TestApp, name: &str, raw: &[u8]) {
    app.ingest_email(name, raw).await
}

fn mail(id: &str, subject: &str, headers: &str, body: &str) -> Vec<u8> {
    format!("From: Dana Scully <dana@example.com>\r\nTo: support@{}\r\nMessage-ID: <{id}>\r\nSubject: {subject}\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n{headers}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n", helpdesk::DEFAULT_MAIL_DOMAIN).into_bytes()
}

async fn ticket_by_subject(app: &TestApp, subject: &str) -> Value {
    let r = app
        .get("/api/v1/tickets?channel=email&limit=100", &app.admin())
        .await;
    let number = r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| t["subject"] == subject)
        .and_then(|t| t["number"].as_str())
        .unwrap_or_else(|| panic!("no ticket {subject}: {:?}", r.body))
        .to_string();
    app.get(&format!("/api/v1/tickets/{number}"), &app.admin())
        .await
        .body
}

async fn download(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("send")
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn attachments_are_kept_and_downloaded_only_by_those_who_see_the_message() {
    let app = TestApp::spawn().await;
    let raw = mail_fixture("files_and_inline_image.eml");
    ingest(&app, "files", &raw).await;
    let view = ticket_by_subject(&app, "Screenshots of the error").await;
    let number = view["ticket"]["number"]
        .as_str()
        .expect("number")
        .to_string();
    let m = &view["messages"][0];
    let mid = m["id"].as_str().expect("id");
    let files = m["attachments"].as_array().expect("attachments");
    let names: Vec<&str> = files
        .iter()
        .filter_map(|a| a["filename"].as_str())
        .collect();
    assert_eq!(names, ["shot.png", "invoice.pdf", "page.html"], "{files:?}");
    assert_eq!(files[0]["inline"], true);
    assert_eq!(files[0]["content_id"], "shot1@example.com");
    assert_eq!(files[1]["size"], PDF.len());
    assert!(
        m["body_html"]
            .as_str()
            .is_some_and(|h| h.contains("cid:shot1@example.com")),
        "inline image reference kept in the sanitised HTML: {m:?}"
    );

    let base = format!("/api/v1/tickets/{number}/messages/{mid}/attachments");
    let agent = app.agent("agent@example.com");
    let pdf = download(&app, &format!("{base}/1"), &agent).await;
    assert_eq!(pdf.status(), StatusCode::OK);
    // Served as an opaque download, never rendered or sniffed.
    assert_eq!(header(&pdf, "content-type"), "application/octet-stream");
    assert!(header(&pdf, "content-disposition").starts_with("attachment; filename=\"invoice.pdf\""));
    assert_eq!(header(&pdf, "x-content-type-options"), "nosniff");
    assert_eq!(pdf.bytes().await.expect("bytes").as_ref(), PDF);

    let page = download(&app, &format!("{base}/2"), &agent).await;
    assert_eq!(header(&page, "content-type"), "application/octet-stream");
    assert!(header(&page, "content-security-policy").contains("sandbox"));

    let png = download(&app, &format!("{base}/0"), &agent).await;
    assert_eq!(header(&png, "content-type"), "image/png");
    assert!(header(&png, "content-disposition").starts_with("inline;"));

    // The customer who wrote it may fetch it; another customer cannot tell it exists.
    let own = download(
        &app,
        &format!("{base}/1"),
        &app.customer("dana@example.com"),
    )
    .await;
    assert_eq!(own.status(), StatusCode::OK);
    let other = download(&app, &format!("{base}/1"), &app.customer("eve@example.com")).await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        download(&app, &format!("{base}/7"), &agent).await.status(),
        StatusCode::NOT_FOUND
    );
    let bad = download(&app, &format!("{base}/x"), &agent).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Redelivery stores nothing new: blobs are content-addressed and the message is ignored.
    ingest(&app, "files-again", &raw).await;
    let stored = files_under(&app.data.path().join("blobs").join("att"));
    assert_eq!(stored.len(), 3, "{stored:?}");
    let again = ticket_by_subject(&app, "Screenshots of the error").await;
    assert_eq!(again["messages"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn files_on_a_reply_go_out_with_the_email() {
    let app = TestApp::spawn().await;
    let agent = app.agent("agent@example.com");
    let t = app
        .ticket_for(&agent, "dana@example.com", "Need the corrected invoice")
        .await;
    let number = t["number"].as_str().expect("number");
    let b64 = base64::engine::general_purpose::STANDARD.encode(PDF);
    let path = format!("/api/v1/tickets/{number}/messages");

    // Bad files are refused with the field named, and nothing is sent.
    let r = app
        .post(&path, &agent, json!({ "body": "x", "attachments": [{ "filename": "a.pdf", "content_base64": "not base64!" }] }))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "attachments[0].content_base64");
    let r = app
        .post(&path, &agent, json!({ "body": "x", "attachments": [{ "filename": "../a.pdf", "content_base64": b64 }] }))
        .await;
    assert_eq!(r.body["field"], "attachments[0].filename");
    let many: Vec<Value> = (0..11)
        .map(|i| json!({ "filename": format!("f{i}.txt"), "content_base64": "eA==" }))
        .collect();
    let r = app
        .post(&path, &agent, json!({ "body": "x", "attachments": many }))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "attachments");

    let r = app
        .post(&path, &agent, json!({ "body": "Here is the corrected invoice.", "attachments": [{ "filename": "invoice-fixed.pdf", "content_type": "application/pdf", "content_base64": b64 }] }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        r.body["message"]["attachments"][0]["filename"],
        "invoice-fixed.pdf"
    );
    assert_eq!(r.body["message"]["delivery"]["state"], "sent");

    let outbox = files_under(&app.data.path().join("outbox").join("email"));
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    let raw = std::fs::read(&outbox[0]).expect("eml");
    let sent = match helpdesk_mail::parse(&raw, &helpdesk_mail::Limits::default()) {
        helpdesk_mail::ParsedEmail::Parsed(m) => m,
        other => panic!("outbox mail does not parse: {other:?}"),
    };
    assert!(sent.text.contains("Here is the corrected invoice."));
    assert_eq!(sent.attachments.len(), 1, "{:?}", sent.attachments);
    assert_eq!(
        sent.attachments[0].filename.as_deref(),
        Some("invoice-fixed.pdf")
    );
    assert_eq!(sent.attachments[0].content_type, "application/pdf");
    assert_eq!(sent.attachments[0].bytes, PDF);
}

#[tokio::test]
async fn an_agent_moves_a_misthreaded_message_and_its_thread_follows() {
    let app = TestApp::spawn().await;
    ingest(
        &app,
        "a1",
        &mail(
            "a1@example.com",
            "Printer is on fire",
            "",
            "Help, the printer.",
        ),
    )
    .await;
    // Dana answers in the same e-mail thread, but about something else entirely.
    ingest(
        &app,
        "a2",
        &mail(
            "a2@example.com",
            "Re: Printer is on fire",
            "In-Reply-To: <a1@example.com>\r\nReferences: <a1@example.com>\r\n",
            "Also, I cannot log in to the billing portal.",
        ),
    )
    .await;
    let a = ticket_by_subject(&app, "Printer is on fire").await;
    let a_number = a["ticket"]["number"].as_str().expect("n").to_string();
    let msgs = a["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 2);
    let first = msgs[0]["id"].as_str().expect("id").to_string();
    let stray = msgs[1]["id"].as_str().expect("id").to_string();
    let agent = app.agent("agent@example.com");
    let b = app
        .ticket_for(&agent, "dana@example.com", "Billing portal login")
        .await;
    let b_number = b["number"].as_str().expect("n").to_string();

    let move_path = |m: &str| format!("/api/v1/tickets/{a_number}/messages/{m}/move");
    // Customers cannot re-thread; the opening message cannot be moved (merge instead).
    let r = app
        .post(
            &move_path(&stray),
            &app.customer("dana@example.com"),
            json!({ "to": b_number }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(&move_path(&first), &agent, json!({ "to": b_number }))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "message");
    let r = app
        .post(&move_path(&stray), &agent, json!({ "to": "HD-999" }))
        .await;
    assert_eq!(r.body["field"], "to");

    let r = app
        .post(
            &move_path(&stray),
            &agent,
            json!({ "to": b_number, "note": "separate problem" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["ticket"]["number"], b_number.as_str());
    // A retry answers the same, without moving anything twice.
    let again = app
        .post(&move_path(&stray), &agent, json!({ "to": b_number }))
        .await;
    assert_eq!(again.status, StatusCode::OK);

    let a = app
        .get(&format!("/api/v1/tickets/{a_number}"), &agent)
        .await
        .body;
    let b = app
        .get(&format!("/api/v1/tickets/{b_number}"), &agent)
        .await
        .body;
    assert_eq!(a["messages"].as_array().map(Vec::len), Some(1));
    let moved = b["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["id"] == stray.as_str())
        .expect("moved message on B")
        .clone();
    assert!(moved["thread_reason"].as_str().is_some_and(
        |r| r.starts_with(&format!("moved here from {a_number} by agent@example.com"))
    ));
    let actions = |v: &Value| -> Vec<String> {
        v["audit"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["action"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(
        actions(&a).contains(&"message_moved_out".to_string()),
        "{:?}",
        actions(&a)
    );
    assert!(
        actions(&b).contains(&"message_moved_in".to_string()),
        "{:?}",
        actions(&b)
    );

    // The next reply in the moved message's e-mail thread lands on B.
    ingest(
        &app,
        "a3",
        &mail(
            "a3@example.com",
            "Re: Re: Printer is on fire",
            "In-Reply-To: <a2@example.com>\r\nReferences: <a1@example.com> <a2@example.com>\r\n",
            "Still cannot log in.",
        ),
    )
    .await;
    let b = app
        .get(&format!("/api/v1/tickets/{b_number}"), &agent)
        .await
        .body;
    assert!(
        b["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .any(|m| m["body_text"]
                .as_str()
                .is_some_and(|t| t.contains("Still cannot log in"))),
        "{b:?}"
    );
}

#[tokio::test]
async fn admins_reprocess_quarantined_mail() {
    let app = TestApp::spawn().await;
    // No usable sender: kept raw and quarantined.
    ingest(&app, "nofrom", b"To: support@helpdesk.localhost\r\nSubject: who am I\r\nMessage-ID: <q1@example.com>\r\n\r\nHello\r\n").await;
    let admin = app.admin();
    let list = app.get("/api/v1/quarantine", &admin).await;
    assert_eq!(list.status, StatusCode::OK);
    let id = list.body["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();

    let agent = app.agent("agent@example.com");
    let path = format!("/api/v1/quarantine/{id}/reprocess");
    assert_eq!(
        app.post(&path, &agent, json!({})).await.status,
        StatusCode::FORBIDDEN
    );
    let bad = app
        .post("/api/v1/quarantine/nope/reprocess", &admin, json!({}))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = app
        .post(
            &format!("/api/v1/quarantine/{}/reprocess", "0".repeat(64)),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // Still no sender, so it goes back to quarantine, with its reason, and stays listed once.
    let r = app.post(&path, &admin, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["outcome"], "rejected");
    let list = app.get("/api/v1/quarantine", &admin).await;
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(list.body["items"][0]["id"], id.as_str());
}

#[tokio::test]
async fn copied_people_get_replies_and_may_thread_and_reply_to_is_honoured() {
    let app = TestApp::spawn().await;
    let domain = helpdesk::DEFAULT_MAIL_DOMAIN;
    let raw = format!("From: Dana Scully <dana@example.com>\r\nReply-To: Dana at work <dana.work@example.com>\r\nTo: support@{domain}, Walter <walter@example.com>\r\nCc: boss@example.com, support+x@{domain}\r\nMessage-ID: <cc-1@example.com>\r\nSubject: Office printer\r\n\r\nThe printer is jammed.\r\n");
    app.ingest_email("cc1", raw.as_bytes()).await;
    let view = ticket_by_subject(&app, "Office printer").await;
    let number = view["ticket"]["number"].as_str().expect("n").to_string();
    // Other people the customer wrote to are copied; our own addresses are not.
    assert_eq!(
        view["ticket"]["participants"],
        json!(["boss@example.com", "walter@example.com"])
    );
    assert_eq!(view["ticket"]["reply_to"], "dana.work@example.com");

    let agent = app.agent("agent@example.com");
    let r = app
        .post(
            &format!("/api/v1/tickets/{number}/messages"),
            &agent,
            json!({ "body": "We are sending someone." }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // The mail that went out: to the Reply-To, copying the others, headers and envelope alike.
    let outbox = files_under(&app.data.path().join("outbox").join("email"));
    let reply = outbox
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .find(|raw| String::from_utf8_lossy(raw).contains("We are sending someone."))
        .expect("reply in the outbox");
    let sent = match helpdesk_mail::parse(&reply, &helpdesk_mail::Limits::default()) {
        helpdesk_mail::ParsedEmail::Parsed(m) => m,
        other => panic!("{other:?}"),
    };
    let to: Vec<&str> = sent.to.iter().map(|m| m.address.as_str()).collect();
    let cc: Vec<&str> = sent.cc.iter().map(|m| m.address.as_str()).collect();
    assert_eq!(to, ["dana.work@example.com"]);
    assert_eq!(cc, ["boss@example.com", "walter@example.com"]);

    // A copied person may thread by subject token; a stranger may not.
    let token_mail = |from: &str, id: &str| {
        format!("From: {from}\r\nTo: support@{domain}\r\nMessage-ID: <{id}>\r\nSubject: [#{number}] printer\r\n\r\nAny news?\r\n")
    };
    app.ingest_email(
        "boss",
        token_mail("boss@example.com", "cc-2@example.com").as_bytes(),
    )
    .await;
    app.ingest_email(
        "eve",
        token_mail("eve@example.com", "cc-3@example.com").as_bytes(),
    )
    .await;
    let view = app
        .get(&format!("/api/v1/tickets/{number}"), &app.admin())
        .await
        .body;
    let authors: Vec<&str> = view["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["kind"] == "customer_message")
        .filter_map(|m| m["author"]["id"].as_str())
        .collect();
    assert_eq!(authors, ["dana@example.com", "boss@example.com"]);
    let strangers = app.list_numbers(&app.admin(), "channel=email").await.len();
    assert_eq!(strangers, 2, "eve's mail opened its own ticket");
}
