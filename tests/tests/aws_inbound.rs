//! The AWS path of inbound e-mail against moto (S3 + DynamoDB), through the `inbound-email`
//! Lambda handler: the receipt rule's S3 action is simulated by putting the raw MIME at
//! `inbound/{messageId}`, then the SES receipt event (`events/inbound-email-ses.json`, with that
//! messageId) is fed to the handler.
//!
//! Without `HELPDESK_TEST_DYNAMODB_URL` (set by `scripts/test.sh`, which starts moto) these
//! tests fail rather than pass silently; `HELPDESK_SKIP_AWS_TESTS=1` skips them knowingly.

use aws_lambda_events::event::ses::SimpleEmailEvent;
use helpdesk_adapters::aws::dynamodb::{self, create_table, DynamoTable};
use helpdesk_adapters::aws::s3::{self, S3BlobStore};
use helpdesk_app::inbound::{BlobStore, Outcome};
use helpdesk_app::{Helpdesk, SystemClock, UlidGen};
use helpdesk_domain::{Actor, EmailAddress, Role};
use helpdesk_inbound_email::{handle, InboundSettings, InboundSummary};
use helpdesk_tests::aws::{moto_url, unique};
use lambda_runtime::{Context, LambdaEvent};
use std::sync::Arc;

const THREAD_KEY: &str = "aws-inbound-test-key-0123456789abcdef";

fn admin() -> Actor {
    Actor::Staff {
        email: EmailAddress::parse("admin@example.com").expect("e"),
        role: Role::Admin,
    }
}

/// The fixture event, parsed as the function's runtime parses it.
fn fixture() -> SimpleEmailEvent {
    let path = format!(
        "{}/../events/inbound-email-ses.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(&path).expect("event file"))
        .expect("a valid SES receipt event")
}

fn ses_message_id(event: &SimpleEmailEvent) -> String {
    event.records[0]
        .ses
        .mail
        .message_id
        .clone()
        .expect("messageId")
}

/// The message the fixture's headers describe, as SES's S3 action stores it.
fn raw_message() -> Vec<u8> {
    b"Return-Path: <carla@example.com>\r\n\
From: Carla <carla@example.com>\r\n\
To: support@help.example.com\r\n\
Subject: Invoice missing\r\n\
Message-ID: <CAF1x9v0-invoice-missing@mail.example.com>\r\n\
Date: Mon, 5 Jan 2026 09:12:00 +0000\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=UTF-8\r\n\
\r\n\
Where is my invoice for December?\r\n"
        .to_vec()
}

struct Env {
    helpdesk: Helpdesk,
    blobs: S3BlobStore,
    settings: InboundSettings,
}

/// A fresh table and bucket on moto.
async fn env(url: &str) -> Env {
    let dynamo = dynamodb::connect_local(url);
    let table_name = format!("inbound-{}", unique());
    create_table(&dynamo, &table_name).await.expect("table");
    let s3 = s3::connect_local(url);
    let bucket = format!("helpdesk-mail-{}", unique());
    s3::create_bucket(&s3, &bucket).await.expect("bucket");
    let helpdesk = Helpdesk::new(
        Arc::new(DynamoTable::new(dynamo, table_name)),
        Arc::new(SystemClock),
        Arc::new(UlidGen::default()),
    );
    Env {
        helpdesk,
        blobs: S3BlobStore::new(s3, bucket),
        settings: InboundSettings::new(None, THREAD_KEY, "help.example.com").expect("settings"),
    }
}

async fn invoke(e: &Env, event: SimpleEmailEvent) -> Result<InboundSummary, String> {
    handle(
        &e.helpdesk,
        &e.blobs,
        &e.settings,
        LambdaEvent::new(event, Context::default()),
    )
    .await
    .map_err(|err| err.to_string())
}

#[tokio::test]
async fn s3_blob_store_round_trips_and_reads_a_missing_key_as_none() {
    let Some(url) = moto_url() else { return };
    let e = env(&url).await;
    assert_eq!(e.blobs.get("raw/ab/nothing.eml").await.expect("get"), None);
    e.blobs
        .put("raw/ab/abc.eml", b"bytes\r\n")
        .await
        .expect("put");
    assert_eq!(
        e.blobs.get("raw/ab/abc.eml").await.expect("get"),
        Some(b"bytes\r\n".to_vec())
    );
    // A bucket that does not exist is an error, never "missing".
    let gone = S3BlobStore::new(s3::connect_local(&url), format!("no-such-{}", unique()));
    assert!(gone.get("raw/ab/abc.eml").await.is_err());
}

#[tokio::test]
async fn the_receipt_event_opens_one_ticket_and_a_redelivery_is_ignored() {
    let Some(url) = moto_url() else { return };
    let e = env(&url).await;
    let event = fixture();
    let id = ses_message_id(&event);
    let raw = raw_message();
    // What the receipt rule's S3 action does before invoking the function.
    e.blobs
        .put(&format!("inbound/{id}"), &raw)
        .await
        .expect("stored by SES");

    let first = invoke(&e, event.clone()).await.expect("handled");
    assert_eq!(first.processed.len(), 1);
    let p = &first.processed[0];
    assert_eq!(p.ses_message_id, id);
    assert_eq!(p.object_key, format!("inbound/{id}"));
    assert_eq!(p.ingest.outcome, Outcome::Created, "{p:?}");
    let number = p.ingest.ticket.expect("ticket");
    // The ingest kept its own raw copy in the same bucket, under raw/.
    assert!(p.ingest.raw.starts_with("raw/"), "{}", p.ingest.raw);
    assert_eq!(
        e.blobs.get(&p.ingest.raw).await.expect("get"),
        Some(raw.clone())
    );
    let view = e
        .helpdesk
        .get_ticket(&admin(), &number.to_string())
        .await
        .expect("the ticket exists");
    assert_eq!(view.ticket.subject, "Invoice missing");
    assert_eq!(view.ticket.channel.as_str(), "email");
    assert_eq!(view.ticket.customer.email.to_string(), "carla@example.com");
    assert_eq!(
        view.messages[0].email_message_id.as_deref(),
        Some("CAF1x9v0-invoice-missing@mail.example.com")
    );
    assert!(
        view.messages[0]
            .thread_reason
            .as_deref()
            .is_some_and(|r| r.contains("no thread reference")),
        "{:?}",
        view.messages[0].thread_reason
    );

    // The same notification again (a Lambda retry, or SES delivering twice): no second ticket.
    let again = invoke(&e, event).await.expect("handled again");
    assert_eq!(again.processed.len(), 1);
    assert_eq!(
        again.processed[0].ingest.outcome,
        Outcome::Ignored,
        "{again:?}"
    );
    assert_eq!(again.processed[0].ingest.ticket, Some(number));
    let next = number.to_string().replace("HD-1", "HD-2");
    assert_eq!(number.to_string(), "HD-1", "a fresh table numbers from 1");
    assert!(
        e.helpdesk.get_ticket(&admin(), &next).await.is_err(),
        "no second ticket"
    );
    let view = e
        .helpdesk
        .get_ticket(&admin(), &number.to_string())
        .await
        .expect("view");
    assert_eq!(view.messages.len(), 1, "the message is recorded once");
}

#[tokio::test]
async fn a_missing_stored_message_fails_the_invocation() {
    let Some(url) = moto_url() else { return };
    let e = env(&url).await;
    let event = fixture();
    let id = ses_message_id(&event);
    // Nothing at inbound/{id}: the handler must fail (Lambda retries, then the DLQ), not
    // report success with nothing ingested.
    let err = invoke(&e, event.clone())
        .await
        .expect_err("a missing object is an error");
    assert!(err.contains(&format!("inbound/{id}")), "{err}");

    // A record without a usable messageId is an error too, never some other key.
    let mut bad = event;
    bad.records[0].ses.mail.message_id = Some("../raw/x".into());
    assert!(invoke(&e, bad).await.is_err());
}

#[tokio::test]
async fn attachments_land_in_the_mail_bucket_and_download_through_the_app() {
    let Some(url) = moto_url() else { return };
    let e = env(&url).await;
    let event = fixture();
    let id = ses_message_id(&event);
    // Whatever SES stored is what gets ingested: here, a message with files.
    let raw = helpdesk_tests::mail_fixture("files_and_inline_image.eml");
    e.blobs
        .put(&format!("inbound/{id}"), &raw)
        .await
        .expect("stored by SES");
    let done = invoke(&e, event).await.expect("handled");
    let number = done.processed[0].ingest.ticket.expect("ticket").to_string();
    // The API function reads files from the same bucket.
    let api = e.helpdesk.clone().with_blobs(Arc::new(S3BlobStore::new(
        s3::connect_local(&url),
        e.blobs.bucket().to_string(),
    )));
    let view = api.get_ticket(&admin(), &number).await.expect("view");
    let m = &view.messages[0];
    let pdf = &m.attachments[1];
    assert_eq!(pdf.filename, "invoice.pdf");
    let key = pdf.blob_key.clone().expect("kept");
    assert!(key.starts_with("att/"), "{key}");
    let file = api
        .attachment(&admin(), &number, &m.id.to_string(), 1)
        .await
        .expect("download");
    assert_eq!(
        file.bytes,
        b"%PDF-1.4\n% an invoice, for the tests\n%%EOF\n".to_vec()
    );
}
