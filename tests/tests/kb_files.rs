//! Files of KB articles over HTTP against the real local app: multipart upload to a draft,
//! versions carrying the files, limits, downloads by audience and publication, blob dedup, and
//! "linked from a resolved ticket" counted on resolution.

use helpdesk_tests::browser::multipart_body as multipart;
use helpdesk_tests::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";
const MP4: &[u8] = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isomfake video bytes";

struct Raw {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    bytes: Vec<u8>,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn upload(
    app: &TestApp,
    token: &str,
    id: &str,
    file: (&str, &str, &[u8]),
    if_match: Option<u64>,
) -> Raw {
    let (ct, body) = multipart(Some(file), &[]);
    let mut req = app
        .client
        .post(format!("{}/api/v1/kb/articles/{id}/files", app.base))
        .bearer_auth(token)
        .header("content-type", ct)
        .body(body);
    if let Some(v) = if_match {
        req = req.header("If-Match", format!("\"{v}\""));
    }
    send(req).await
}

async fn send(req: reqwest::RequestBuilder) -> Raw {
    let resp = req.send().await.expect("request");
    Raw {
        status: resp.status(),
        headers: resp.headers().clone(),
        bytes: resp.bytes().await.expect("body").to_vec(),
    }
}

async fn download(app: &TestApp, token: Option<&str>, path: &str) -> Raw {
    let mut req = app.client.get(format!("{}{path}", app.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    send(req).await
}

async fn create(app: &TestApp, token: &str, title: &str, audiences: &[&str]) -> String {
    let r = app
        .post(
            "/api/v1/kb/articles",
            token,
            json!({ "title": title, "body": format!("About {title}."), "audiences": audiences }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["id"].as_str().expect("id").to_string()
}

async fn publish(app: &TestApp, id: &str) {
    let sup = app.token("supervisor", Some("sup@example.com"));
    let r = app
        .post(
            &format!("/api/v1/kb/articles/{id}/publish"),
            &sup,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "publish: {:?}", r.body);
}

fn names(article: &Value) -> Vec<String> {
    article["content"]["attachments"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["name"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn files_upload_to_a_draft_ride_on_versions_and_go_public_only_when_published() {
    let app = TestApp::spawn().await;
    let agent = app.agent("writer@example.com");
    let id = create(&app, &agent, "Set up the router", &["customers"]).await;
    let base = format!("/api/v1/kb/articles/{id}");

    // Each upload is a new draft version carrying the file.
    let r = upload(
        &app,
        &agent,
        &id,
        ("guide.pdf", "application/pdf", PDF),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let a = r.json();
    assert_eq!(names(&a), vec!["guide.pdf"]);
    assert_eq!(
        (a["latest_version"].as_u64(), a["status"].as_str()),
        (Some(2), Some("draft"))
    );
    assert_eq!(a["content"]["attachments"][0]["size"], PDF.len());
    let r = upload(&app, &agent, &id, ("demo.mp4", "video/mp4", MP4), None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let version = r.json()["version"].as_u64().expect("version");

    // The body refers to the video; a save without `attachments` keeps the files.
    let r = app
        .put(
            &base,
            &agent,
            json!({ "title": "Set up the router", "body": "Watch this:\n\n![Router setup](file:demo.mp4)\n\nThe [printable guide](file:guide.pdf).", "audiences": ["customers"], "version": version }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(names(&r.body), vec!["guide.pdf", "demo.mp4"]);
    let latest = r.body["latest_version"].as_u64().expect("latest");
    assert_eq!(latest, 4);
    let view = app.get(&base, &agent).await;
    let html = view.body["body_html"].as_str().unwrap_or("");
    assert!(
        html.contains(&format!(
            "<video controls preload=\"metadata\" src=\"{base}/versions/4/files/1\""
        )),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "<a href=\"{base}/versions/4/files/0\">printable guide</a>"
        )),
        "{html}"
    );

    // A save cannot add a file by reference (upload it instead).
    let r = app
        .put(
            &base,
            &agent,
            json!({ "title": "Set up the router", "body": "x", "audiences": ["customers"], "attachments": [{ "name": "secret.pdf", "blob": "att/aa/aaaa", "content_type": "application/pdf", "size": 4 }] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "attachments");

    // The team downloads any version's files, with the ticket attachments' safe headers.
    let d = download(
        &app,
        Some(&agent),
        &format!("{base}/versions/4/files/guide.pdf"),
    )
    .await;
    assert_eq!(d.status, StatusCode::OK);
    assert_eq!(d.bytes, PDF);
    assert_eq!(d.header("content-type"), "application/octet-stream");
    assert!(d.header("content-disposition").starts_with("attachment;"));
    assert_eq!(d.header("x-content-type-options"), "nosniff");
    assert!(d.header("content-security-policy").contains("sandbox"));
    let d = download(&app, Some(&agent), &format!("{base}/versions/4/files/1")).await;
    assert_eq!(
        (d.status, d.header("content-type")),
        (StatusCode::OK, "video/mp4")
    );
    assert_eq!(d.bytes, MP4);
    // Version 2 had only the guide.
    let d = download(&app, Some(&agent), &format!("{base}/versions/2/files/1")).await;
    assert_eq!(d.status, StatusCode::NOT_FOUND);

    // Not published yet: nobody outside the team gets the files, not even through the
    // public route, and not the team either (that route serves the published version only).
    let customer = app.customer("c@example.com");
    for token in [None, Some(customer.as_str()), Some(agent.as_str())] {
        let d = download(&app, token, &format!("{base}/files/0")).await;
        assert_eq!(d.status, StatusCode::NOT_FOUND, "{token:?}");
    }

    publish(&app, &id).await;
    for token in [None, Some(customer.as_str())] {
        let d = download(&app, token, &format!("{base}/files/guide.pdf")).await;
        assert_eq!(d.status, StatusCode::OK, "{token:?}");
        assert_eq!(d.bytes, PDF);
        assert_eq!(d.header("x-content-type-options"), "nosniff");
    }
    let (s, p) = {
        let r = app
            .request(Method::GET, &format!("{base}/published"), None, None, &[])
            .await;
        (r.status, r.body)
    };
    assert_eq!(s, StatusCode::OK);
    assert_eq!(p["files"][1]["url"], format!("{base}/files/1"));
    assert_eq!(
        (
            p["files"][1]["name"].as_str(),
            p["files"][1]["kind"].as_str()
        ),
        (Some("demo.mp4"), Some("video"))
    );
    let html = p["body_html"].as_str().unwrap_or("");
    assert!(
        html.contains(&format!(
            "<video controls preload=\"metadata\" src=\"{base}/files/1\""
        )),
        "{html}"
    );

    // Removing a file is a new draft; the published version keeps serving it until the next
    // publish.
    let r = app
        .request(
            Method::DELETE,
            &format!("{base}/files/guide.pdf"),
            Some(&agent),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(names(&r.body), vec!["demo.mp4"]);
    let removed_at = r.body["latest_version"].as_u64().expect("latest");
    // Both show in the article's history.
    let audit = app.get(&base, &agent).await.body["audit"].clone();
    let entries: Vec<(String, String)> = audit
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["action"].as_str().unwrap_or("").to_string(),
                        e["note"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(
        entries
            .iter()
            .any(|(a, n)| a == "file_removed" && n == "guide.pdf"),
        "{entries:?}"
    );
    assert!(
        entries
            .iter()
            .any(|(a, n)| a == "file_added" && n.starts_with("demo.mp4 (video/mp4")),
        "{entries:?}"
    );
    let d = download(&app, None, &format!("{base}/files/guide.pdf")).await;
    assert_eq!(d.status, StatusCode::OK);
    // A draft-only file is not public: upload a new one now, while version 4 is live.
    let r = upload(
        &app,
        &agent,
        &id,
        ("draft-only.pdf", "application/pdf", PDF),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let d = download(&app, None, &format!("{base}/files/draft-only.pdf")).await;
    assert_eq!(d.status, StatusCode::NOT_FOUND);
    publish(&app, &id).await;
    let d = download(&app, None, &format!("{base}/files/guide.pdf")).await;
    assert_eq!(d.status, StatusCode::NOT_FOUND);
    let d = download(&app, None, &format!("{base}/files/draft-only.pdf")).await;
    assert_eq!(d.status, StatusCode::OK);

    // The diff shows the change of files, and a restore brings the old files back.
    let r = app
        .get(&format!("{base}/diff?from=4&to={removed_at}"), &agent)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let changed: Vec<&str> = r.body["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(|c| c["field"].as_str()).collect())
        .unwrap_or_default();
    assert!(changed.contains(&"attachments"), "{:?}", r.body);
    let r = app
        .post(&format!("{base}/versions/4/restore"), &agent, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(names(&r.body), vec!["guide.pdf", "demo.mp4"]);

    // A stale upload is a 409.
    let r = upload(
        &app,
        &agent,
        &id,
        ("late.pdf", "application/pdf", PDF),
        Some(1),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.json());
}

#[tokio::test]
async fn uploads_are_limited_by_size_type_count_and_role() {
    let app = TestApp::spawn().await;
    let agent = app.agent("writer@example.com");
    let id = create(&app, &agent, "Limits", &["customers"]).await;

    // Over 4 MiB for an image: 413 naming the file.
    let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
    big.resize(4 * 1024 * 1024 + 1, 0);
    let r = upload(&app, &agent, &id, ("big.png", "image/png", &big), None).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", r.json());
    assert_eq!(r.json()["field"], "file");
    // A video may be larger than that.
    let mut video = MP4.to_vec();
    video.resize(5 * 1024 * 1024, 7);
    let r = upload(&app, &agent, &id, ("long.mp4", "video/mp4", &video), None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());

    // Types outside the list, and content that is not what it claims: 422.
    for (name, ct, bytes, field) in [
        (
            "page.html",
            "text/html",
            &b"<script>alert(1)</script>"[..],
            "content_type",
        ),
        ("logo.svg", "image/svg+xml", &b"<svg/>"[..], "content_type"),
        (
            "fake.png",
            "image/png",
            &b"<html><script>x()</script>"[..],
            "file",
        ),
        ("empty.pdf", "application/pdf", &b""[..], "file"),
    ] {
        let r = upload(&app, &agent, &id, (name, ct, bytes), None).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name}: {:?}",
            r.json()
        );
        assert_eq!(r.json()["field"], field, "{name}");
    }
    // No file part at all.
    let (ct, body) = multipart(None, &[("version", "1")]);
    let r = send(
        app.client
            .post(format!("{}/api/v1/kb/articles/{id}/files", app.base))
            .bearer_auth(&agent)
            .header("content-type", ct)
            .body(body),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["field"], "file");

    // At most 20 files per article; the same name replaces instead of adding.
    for i in 1..20 {
        let r = upload(
            &app,
            &agent,
            &id,
            (&format!("doc{i}.pdf"), "application/pdf", PDF),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{i}: {:?}", r.json());
    }
    let r = upload(
        &app,
        &agent,
        &id,
        ("one-too-many.pdf", "application/pdf", PDF),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.json());
    assert_eq!(r.json()["field"], "file");
    let r = upload(
        &app,
        &agent,
        &id,
        ("doc1.pdf", "application/pdf", b"%PDF-1.7 new"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(names(&r.json()).len(), 20);

    // Customers do not upload; self-hosted there is no presigned upload (upload directly),
    // and an announced video over 100 MiB is refused before any byte moves.
    let customer = app.customer("c@example.com");
    let r = upload(
        &app,
        &customer,
        &id,
        ("x.pdf", "application/pdf", PDF),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let id2 = create(&app, &agent, "Presigned", &["customers"]).await;
    let intent = |size: u64| json!({ "name": "big.mp4", "content_type": "video/mp4", "size": size, "sha256": "ab".repeat(32) });
    let r = app
        .post(
            &format!("/api/v1/kb/articles/{id2}/files/upload-url"),
            &agent,
            intent(50 * 1024 * 1024),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "upload");
    let r = app
        .post(
            &format!("/api/v1/kb/articles/{id2}/files/upload-url"),
            &agent,
            intent(101 * 1024 * 1024),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", r.body);
    assert_eq!(r.body["field"], "size");
    // Recording a file that was never uploaded is refused.
    let r = app
        .post(
            &format!("/api/v1/kb/articles/{id2}/files/uploaded"),
            &agent,
            intent(1024),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "sha256");
}

#[tokio::test]
async fn internal_and_business_owner_files_stay_with_their_audience() {
    let app = TestApp::spawn().await;
    let agent = app.agent("writer@example.com");
    let internal = create(&app, &agent, "Escalation contacts", &["internal"]).await;
    let owners = create(&app, &agent, "Wholesale pricing", &["business_owners"]).await;
    for id in [&internal, &owners] {
        let r = upload(
            &app,
            &agent,
            id,
            ("sheet.pdf", "application/pdf", PDF),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED);
        publish(&app, id).await;
    }
    let customer = app.customer("c@example.com");
    for id in [&internal, &owners] {
        for token in [None, Some(customer.as_str())] {
            for file in ["0", "sheet.pdf"] {
                let d = download(
                    &app,
                    token,
                    &format!("/api/v1/kb/articles/{id}/files/{file}"),
                )
                .await;
                assert_eq!(d.status, StatusCode::NOT_FOUND, "{id} {token:?} {file}");
            }
            // Nor any version's files.
            let d = download(
                &app,
                token,
                &format!("/api/v1/kb/articles/{id}/versions/2/files/0"),
            )
            .await;
            assert!(
                matches!(d.status, StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED),
                "{id} {token:?}: {}",
                d.status
            );
        }
        let d = download(
            &app,
            Some(&agent),
            &format!("/api/v1/kb/articles/{id}/files/0"),
        )
        .await;
        assert_eq!(d.status, StatusCode::OK, "the team reads every audience");
    }
    // A business owner reads the business-owner article's files.
    let admin = app.admin();
    let r = app
        .post(
            "/api/v1/customers",
            &admin,
            json!({ "email": "owner@example.com", "business_owner": true }),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let owner = app.customer("owner@example.com");
    let d = download(
        &app,
        Some(&owner),
        &format!("/api/v1/kb/articles/{owners}/files/0"),
    )
    .await;
    assert_eq!(d.status, StatusCode::OK);
    let d = download(
        &app,
        Some(&owner),
        &format!("/api/v1/kb/articles/{internal}/files/0"),
    )
    .await;
    assert_eq!(d.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_same_bytes_are_stored_once() {
    let app = TestApp::spawn().await;
    let agent = app.agent("writer@example.com");
    let a = create(&app, &agent, "One", &["customers"]).await;
    let b = create(&app, &agent, "Two", &["internal"]).await;
    for (id, name) in [
        (&a, "guide.pdf"),
        (&b, "copy of guide.pdf"),
        (&a, "guide.pdf"),
    ] {
        let r = upload(&app, &agent, id, (name, "application/pdf", PDF), None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    }
    let r = upload(&app, &agent, &a, ("demo.mp4", "video/mp4", MP4), None).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let blobs = r.json()["content"]["attachments"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|x| x["blob"].as_str().unwrap_or("").to_string())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let hash: String = Sha256::digest(PDF)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(blobs[0], format!("att/{}/{hash}", &hash[..2]));
    // Two distinct contents, two files on disk, however many articles carry them.
    let mut files = 0;
    let mut stack = vec![app.data.path().join("blobs").join("att")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("blob dir") {
            let entry = entry.expect("entry");
            if entry.file_type().expect("type").is_dir() {
                stack.push(entry.path());
            } else {
                files += 1;
            }
        }
    }
    assert_eq!(files, 2);
}

async fn rlinks(app: &TestApp, token: &str, id: &str) -> i64 {
    let r = app
        .get(&format!("/api/v1/kb/articles/{id}/feedback"), token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["stats"]["resolved_ticket_links"]
        .as_i64()
        .expect("count")
}

#[tokio::test]
async fn a_resolution_counts_each_linked_article_once() {
    let app = TestApp::spawn().await;
    let agent_email = "a@example.com";
    app.create_agent(agent_email, "agent").await;
    let agent = app.agent(agent_email);
    let first = create(&app, &agent, "Reset the router", &["customers"]).await;
    let second = create(&app, &agent, "Check the cables", &["internal"]).await;
    let third = create(&app, &agent, "Call the ISP", &["internal"]).await;
    let t = app
        .create_ticket(&agent, json!({ "subject": "No internet", "body": "The router blinks red.", "channel": "email", "customer": { "email": "c@example.com" } }))
        .await;
    let number = t["number"].as_str().expect("number").to_string();
    let ticket_id = t["id"].as_str().expect("id").to_string();
    let link = format!("/api/v1/tickets/{number}/articles");
    for id in [&first, &second] {
        let r = app.post(&link, &agent, json!({ "article_id": id })).await;
        assert_eq!(r.body["counted_as_resolved"], false, "{:?}", r.body);
    }
    assert_eq!(rlinks(&app, &agent, &first).await, 0);

    let set_status = |status: &'static str| {
        let (app, agent, number) = (&app, &agent, &number);
        async move {
            let r = app
                .patch(
                    &format!("/api/v1/tickets/{number}"),
                    agent,
                    json!({ "status": status, "assignee": agent_email }),
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{status}: {:?}", r.body);
        }
    };
    // Resolving counts the articles linked before it.
    set_status("resolved").await;
    assert_eq!(rlinks(&app, &agent, &first).await, 1);
    assert_eq!(rlinks(&app, &agent, &second).await, 1);
    assert_eq!(rlinks(&app, &agent, &third).await, 0);

    // Retries of the follow-up (a crash before the marker was cleared, the minute sweep)
    // count nothing twice.
    let (h, _, _) = helpdesk::open_helpdesk(app.data.path()).expect("open");
    let tid = helpdesk_domain::TicketId::parse(&ticket_id).expect("ticket id");
    for _ in 0..2 {
        assert_eq!(h.count_resolution_links(&tid).await.expect("count"), 0);
    }
    assert_eq!(h.sweep_kb_resolutions(100).await.expect("sweep"), 0);
    // Saying "resolved" again is no new resolution.
    set_status("resolved").await;
    assert_eq!(rlinks(&app, &agent, &first).await, 1);

    // Reopen, link one more, resolve again: the new link counts, the others not again.
    set_status("in_progress").await;
    let r = app
        .post(&link, &agent, json!({ "article_id": third }))
        .await;
    assert_eq!(r.body["counted_as_resolved"], false);
    set_status("resolved").await;
    assert_eq!(
        (
            rlinks(&app, &agent, &first).await,
            rlinks(&app, &agent, &second).await,
            rlinks(&app, &agent, &third).await
        ),
        (1, 1, 1)
    );
    // Linking while resolved counts at once, once.
    let fourth = create(&app, &agent, "Replace the router", &["internal"]).await;
    for _ in 0..2 {
        let r = app
            .post(&link, &agent, json!({ "article_id": fourth }))
            .await;
        assert_eq!(r.body["counted_as_resolved"], true, "{:?}", r.body);
    }
    assert_eq!(rlinks(&app, &agent, &fourth).await, 1);
    let r = app.get("/api/v1/kb/stats", &agent).await;
    assert_eq!(r.body["totals"]["resolved_ticket_links"], 4, "{:?}", r.body);
}

#[tokio::test]
async fn the_file_routes_are_in_the_openapi_document() {
    let app = TestApp::spawn().await;
    let r = app
        .request(Method::GET, "/api/v1/openapi.json", None, None, &[])
        .await;
    let paths = &r.body["paths"];
    for (path, method) in [
        ("/api/v1/kb/articles/{id}/files", "post"),
        ("/api/v1/kb/articles/{id}/files/{file}", "get"),
        ("/api/v1/kb/articles/{id}/files/{file}", "delete"),
        (
            "/api/v1/kb/articles/{id}/versions/{number}/files/{file}",
            "get",
        ),
        ("/api/v1/kb/articles/{id}/files/upload-url", "post"),
        ("/api/v1/kb/articles/{id}/files/uploaded", "post"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path}");
    }
    assert!(
        paths["/api/v1/kb/articles/{id}/files"]["post"]["requestBody"]["content"]
            ["multipart/form-data"]
            .is_object()
    );
    assert!(r.body["components"]["schemas"]["UploadUrl"].is_object());
    assert!(r.body["components"]["schemas"]["UploadIntent"].is_object());
}

#[tokio::test]
async fn the_help_centre_serves_public_files_without_a_token_and_never_internal_ones() {
    let app = TestApp::spawn().await;
    let agent = app.agent("writer@example.com");
    let public = create(&app, &agent, "Set up the router", &["customers"]).await;
    let internal = create(&app, &agent, "Escalation contacts", &["internal"]).await;
    for id in [&public, &internal] {
        let r = upload(
            &app,
            &agent,
            id,
            ("guide.pdf", "application/pdf", PDF),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
        publish(&app, id).await;
    }

    // The article page and the anonymous JSON link files under /help (outside the JWT
    // authorizer on AWS), and the link works without a token.
    let page = download(&app, None, &format!("/help/articles/{public}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8_lossy(&page.bytes).to_string();
    let href = format!("/help/api/kb/articles/{public}/files/0");
    assert!(html.contains(&href), "the page lists the file: {html}");
    let json = download(
        &app,
        None,
        &format!("/help/api/kb/articles/{public}/published"),
    )
    .await;
    assert_eq!(json.json()["files"][0]["url"], href.as_str());
    let f = download(&app, None, &href).await;
    assert_eq!(f.status, StatusCode::OK);
    assert_eq!(f.bytes, PDF);
    assert_eq!(f.header("x-content-type-options"), "nosniff");
    let by_name = download(
        &app,
        None,
        &format!("/help/api/kb/articles/{public}/files/guide.pdf"),
    )
    .await;
    assert_eq!(by_name.bytes, PDF);

    // An internal article's file is a 404 there, even with a team member's token.
    for token in [None, Some(agent.as_str())] {
        let r = download(
            &app,
            token,
            &format!("/help/api/kb/articles/{internal}/files/0"),
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    let r = download(
        &app,
        None,
        &format!("/help/api/kb/articles/{public}/files/7"),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
