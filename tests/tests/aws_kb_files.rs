//! Large KB videos on AWS against moto (S3 + DynamoDB): a presigned S3 upload that carries the
//! file's SHA-256, then the file recorded on a new draft version and served to readers once
//! published. The S3 blob store's `digest` reads a missing key as `None`. And the
//! resolution-time count of linked articles on DynamoDB: once, retries and the sweep count
//! nothing again.
//!
//! Without `HELPDESK_TEST_DYNAMODB_URL` (set by `scripts/test.sh`, which starts moto) these
//! tests fail rather than pass silently; `HELPDESK_SKIP_AWS_TESTS=1` skips them knowingly.

use helpdesk_adapters::aws::dynamodb::{self, create_table, DynamoTable};
use helpdesk_adapters::aws::s3::{self, S3BlobStore};
use helpdesk_app::inbound::BlobStore;
use helpdesk_app::kb::files::{FileDelivery, FileUpload, UploadIntent};
use helpdesk_app::kb::{ArticleInput, StepInput};
use helpdesk_app::tickets::{CustomerRef, NewTicket, UpdateTicket};
use helpdesk_app::{AppError, Helpdesk, SystemClock, UlidGen};
use helpdesk_domain::kb::KbAction;
use helpdesk_domain::{Actor, Audience, EmailAddress, Role, Status};
use helpdesk_tests::aws::{moto_url, unique};
use sha2::{Digest, Sha256};
use std::sync::Arc;

fn staff(role: Role) -> Actor {
    Actor::Staff {
        email: EmailAddress::parse("writer@example.com").expect("e"),
        role,
    }
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn a_large_video_goes_straight_to_s3_and_is_recorded_on_a_draft() {
    let Some(url) = moto_url() else { return };
    let dynamo = dynamodb::connect_local(&url);
    let table = format!("kbfiles-{}", unique());
    create_table(&dynamo, &table).await.expect("table");
    let s3c = s3::connect_local(&url);
    let bucket = format!("helpdesk-files-{}", unique());
    s3::create_bucket(&s3c, &bucket).await.expect("bucket");
    let blobs = Arc::new(S3BlobStore::new(s3c, bucket));
    let helpdesk = Helpdesk::new(
        Arc::new(DynamoTable::new(dynamo, table)),
        Arc::new(SystemClock),
        Arc::new(UlidGen::default()),
    )
    .with_blobs(blobs.clone());
    let agent = staff(Role::Agent);
    let article = helpdesk
        .create_article(
            &agent,
            ArticleInput {
                title: "Install the app".into(),
                summary: String::new(),
                body: "![Walkthrough](file:install.mp4)".into(),
                topic: vec![],
                tags: vec![],
                audiences: vec![Audience::Customers],
                locale: None,
                translation_of: None,
                videos: vec![],
                attachments: None,
                related: vec![],
                version: None,
            },
        )
        .await
        .expect("article");

    // Bigger than what fits through the Lambda payload.
    let mut video = b"\x00\x00\x00\x18ftypmp42".to_vec();
    video.resize(6 * 1024 * 1024, 0x5a);
    let intent = |sha256: String| UploadIntent {
        name: "install.mp4".into(),
        content_type: "video/mp4".into(),
        size: video.len() as u64,
        sha256,
        version: None,
    };
    assert_eq!(blobs.digest("att/00/none").await.expect("digest"), None);
    // Recording before the upload is refused.
    let early = helpdesk
        .add_uploaded_article_file(&agent, &article.id, intent(hex(&video)), None)
        .await;
    assert!(
        matches!(&early, Err(AppError::Validation { field, .. }) if field == "sha256"),
        "{early:?}"
    );

    let url = helpdesk
        .article_file_upload_url(&agent, &article.id, intent(hex(&video)))
        .await
        .expect("upload url");
    assert_eq!(url.upload.method, "PUT");
    assert!(
        url.upload.headers.contains_key("x-amz-checksum-sha256"),
        "{:?}",
        url.upload.headers
    );
    let client = reqwest::Client::new();
    // Other bytes under the signed checksum are refused by S3: the content-addressed key
    // cannot hold anything but the announced file.
    let mut forged = video.clone();
    forged[100] ^= 0xff;
    let mut put = client.put(&url.upload.url).body(forged);
    for (k, v) in &url.upload.headers {
        put = put.header(k, v);
    }
    let resp = put.send().await.expect("put");
    if resp.status().is_success() {
        // The emulator skipped the checksum (real S3 refuses with 400 BadDigest); the app's
        // own check refuses to record it, and the content address stays empty.
        let refused = helpdesk
            .add_uploaded_article_file(&agent, &article.id, intent(hex(&video)), None)
            .await;
        assert!(
            matches!(&refused, Err(AppError::Validation { field, .. }) if field == "sha256"),
            "{refused:?}"
        );
    }
    let address = format!("att/{}/{}", &hex(&video)[..2], hex(&video));
    assert_eq!(blobs.digest(&address).await.expect("digest"), None);
    let mut put = client.put(&url.upload.url).body(video.clone());
    for (k, v) in &url.upload.headers {
        put = put.header(k, v);
    }
    let resp = put.send().await.expect("put");
    assert!(
        resp.status().is_success(),
        "{}: {}",
        resp.status(),
        resp.text().await.unwrap_or_default()
    );

    let draft = helpdesk
        .add_uploaded_article_file(&agent, &article.id, intent(hex(&video)), Some(1))
        .await
        .expect("recorded");
    assert_eq!(draft.latest_version, 2);
    assert_eq!(draft.content.attachments.len(), 1);
    assert_eq!(draft.content.attachments[0].size, video.len() as u64);
    let stored = blobs
        .digest(&address)
        .await
        .expect("digest")
        .expect("stored");
    assert_eq!(
        (stored.size, stored.sha256_hex),
        (video.len() as u64, hex(&video))
    );
    // Not public before it is published; then served from S3.
    assert!(matches!(
        helpdesk
            .published_article_file(None, &article.id, "install.mp4")
            .await,
        Err(AppError::NotFound { .. })
    ));
    helpdesk
        .article_step(
            &staff(Role::Supervisor),
            &article.id,
            KbAction::Publish,
            StepInput::default(),
            None,
        )
        .await
        .expect("publish");
    // Too big for a Lambda response: readers get a presigned S3 link that serves the video.
    let file = helpdesk
        .published_article_file(None, &article.id, "0")
        .await
        .expect("download");
    let FileDelivery::Redirect { url, meta } = file else {
        panic!("a 6 MiB video is not sent through the function: {file:?}")
    };
    assert_eq!(meta.filename, "install.mp4");
    let resp = client.get(&url).send().await.expect("get");
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("video/mp4")
    );
    let body = resp.bytes().await.expect("body");
    assert_eq!(body.len(), video.len());
    assert!(body[..] == video[..]);
    // A small file still comes back as bytes.
    let small = helpdesk
        .add_article_file(
            &agent,
            &article.id,
            FileUpload {
                name: "short.mp4".into(),
                content_type: "video/mp4".into(),
                bytes: video[..1024].to_vec(),
            },
            None,
        )
        .await
        .expect("small");
    let delivered = helpdesk
        .article_version_file(&agent, &article.id, small.latest_version, "short.mp4")
        .await
        .expect("small download");
    assert!(
        matches!(&delivered, FileDelivery::Bytes(d) if d.bytes[..] == video[..1024]),
        "{delivered:?}"
    );
    let page = helpdesk
        .get_published_article(None, &article.id)
        .await
        .expect("published");
    assert!(
        page.body_html.contains("<video controls"),
        "{}",
        page.body_html
    );

    // An announced size over the video limit never gets a URL.
    let mut too_big = intent(hex(&video));
    too_big.size = 101 * 1024 * 1024;
    assert!(matches!(
        helpdesk
            .article_file_upload_url(&agent, &article.id, too_big)
            .await,
        Err(AppError::TooLarge { .. })
    ));
}

#[tokio::test]
async fn on_dynamodb_a_resolution_counts_each_linked_article_once() {
    let Some(url) = moto_url() else { return };
    let dynamo = dynamodb::connect_local(&url);
    let table = format!("kbres-{}", unique());
    create_table(&dynamo, &table).await.expect("table");
    let h = Helpdesk::new(
        Arc::new(DynamoTable::new(dynamo, table)),
        Arc::new(SystemClock),
        Arc::new(UlidGen::default()),
    );
    let admin = Actor::Staff {
        email: EmailAddress::parse("admin@example.com").expect("e"),
        role: Role::Admin,
    };
    let mut articles = Vec::new();
    for title in ["Reset the router", "Check the cables"] {
        let a = h
            .create_article(
                &admin,
                ArticleInput {
                    title: title.into(),
                    summary: String::new(),
                    body: format!("About {title}."),
                    topic: vec![],
                    tags: vec![],
                    audiences: vec![Audience::Internal],
                    locale: None,
                    translation_of: None,
                    videos: vec![],
                    attachments: None,
                    related: vec![],
                    version: None,
                },
            )
            .await
            .expect("article");
        articles.push(a.id);
    }
    let (ticket, _) = h
        .create_ticket(
            &admin,
            NewTicket {
                subject: "No internet".into(),
                body: "The router blinks red.".into(),
                channel: None,
                priority: None,
                category: None,
                customer: Some(CustomerRef {
                    email: EmailAddress::parse("lee@example.com").expect("e"),
                    name: None,
                    platform_user_id: None,
                    locale: None,
                }),
                department: None,
                assignee: None,
                tags: vec![],
            },
            None,
        )
        .await
        .expect("ticket");
    let reference = ticket.id.to_string();
    for a in &articles {
        let link = h
            .link_article_to_ticket(&admin, &reference, a)
            .await
            .expect("link");
        assert!(!link.counted_as_resolved);
    }
    let resolve = |status: Status| UpdateTicket {
        status: Some(status),
        ..Default::default()
    };
    h.update_ticket(&admin, &reference, resolve(Status::Resolved), None)
        .await
        .expect("resolve");
    // The follow-up ran after the commit; running it again (a retry) and the sweep count
    // nothing twice.
    assert_eq!(
        h.count_resolution_links(&ticket.id).await.expect("again"),
        0
    );
    assert_eq!(h.sweep_kb_resolutions(100).await.expect("sweep"), 0);
    // Saying "resolved" again is no new resolution (reopening is covered in kb_files.rs).
    h.update_ticket(&admin, &reference, resolve(Status::Resolved), None)
        .await
        .expect("resolved again");
    let stats = h.kb_stats(&admin).await.expect("stats");
    assert_eq!(stats.totals.resolved_ticket_links, 2);
    for a in &articles {
        let s = h
            .article_feedback_summary(&admin, a)
            .await
            .expect("summary");
        assert_eq!(s.stats.resolved_ticket_links, 1);
    }
}
