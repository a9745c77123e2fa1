//! The AWS path of outbound e-mail against moto: `SesMailSender` hands raw MIME to SESv2
//! (`SendEmail`, `Content.Raw`), which moto records (`/moto-api/data.json` →
//! `ses.RawMessage[]`: `id`, `source`, `destinations`, `raw_data`); and the whole reply path on
//! DynamoDB — the queued mail, its sparse queue index, the retry sweep — ends in one SES send.
//!
//! Without `HELPDESK_TEST_DYNAMODB_URL` (set by `scripts/test.sh`, which starts moto) these
//! tests fail rather than pass silently; `HELPDESK_SKIP_AWS_TESTS=1` skips them knowingly.

use async_trait::async_trait;
use chrono::{Duration, SubsecRound, Utc};
use helpdesk_adapters::aws::dynamodb::{connect_local, create_table, DynamoTable};
use helpdesk_adapters::aws::ses::{self, SesMailSender};
use helpdesk_adapters::local::blobs::FileBlobStore;
use helpdesk_app::inbound::{InboundConfig, Outcome};
use helpdesk_app::outbound::{MailSender, MailSettings, SendError, SentId};
use helpdesk_app::tickets::NewMessage;
use helpdesk_app::{Clock, Helpdesk, UlidGen};
use helpdesk_domain::{Actor, DeliveryState, EmailAddress, MessageKind, Role};
use helpdesk_mail::{Limits, Mailbox, ThreadSigner};
use helpdesk_tests::aws::{moto_url, unique};
use helpdesk_tests::clock::FixedClock;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What moto recorded for one SES send: (source, destinations, raw MIME).
async fn recorded(url: &str, id: &str) -> Option<(String, Vec<String>, String)> {
    let data: Value = helpdesk_tests::aws::moto_data(url).await;
    data["ses"]["RawMessage"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .find(|m| m["id"] == id)
        .map(|m| {
            (
                m["source"].as_str().unwrap_or_default().to_string(),
                m["destinations"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|d| d.as_str().map(str::to_string))
                    .collect(),
                m["raw_data"].as_str().unwrap_or_default().to_string(),
            )
        })
}

/// Every raw message moto recorded whose MIME contains `needle`.
async fn recorded_containing(url: &str, needle: &str) -> Vec<String> {
    let data: Value = helpdesk_tests::aws::moto_data(url).await;
    data["ses"]["RawMessage"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m["raw_data"].as_str())
        .filter(|raw| raw.contains(needle))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn ses_sends_raw_mime_and_refuses_unverified_senders_for_good() {
    let Some(url) = moto_url() else { return };
    let client = ses::connect_local(&url);
    let domain = format!("{}.example.com", unique());
    ses::create_email_identity(&client, &domain)
        .await
        .expect("identity");
    let sender = SesMailSender::new(client);
    let from = format!("support@{domain}");
    let raw = format!(
        "From: Support <{from}>\r\nTo: carla@example.com\r\nMessage-ID: <m1.{domain}@{domain}>\r\nSubject: Re: Invoice [#HD-1]\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHere it is.\r\n"
    );
    let SentId(id) = sender
        .send(raw.as_bytes(), &from, &["carla@example.com".into()])
        .await
        .expect("sent");
    assert!(!id.is_empty());
    let (source, destinations, data) = recorded(&url, &id).await.expect("moto recorded it");
    assert_eq!(source, from);
    assert!(
        destinations.iter().any(|d| d.contains("carla@example.com")),
        "{destinations:?}"
    );
    assert_eq!(data, raw, "the MIME exactly as composed");

    // An unverified sender is a permanent refusal (MessageRejected): no retries.
    let err = sender
        .send(
            raw.as_bytes(),
            &format!("support@unverified-{domain}"),
            &["carla@example.com".into()],
        )
        .await
        .expect_err("refused");
    assert!(matches!(err, SendError::Permanent(_)), "{err:?}");
    // No recipients: refused before calling SES.
    assert!(matches!(
        sender.send(raw.as_bytes(), &from, &[]).await,
        Err(SendError::Permanent(_))
    ));
}

/// SES behind a switch, to make the first try fail.
struct Flaky {
    inner: SesMailSender,
    down: AtomicBool,
}

#[async_trait]
impl MailSender for Flaky {
    async fn send(&self, raw: &[u8], from: &str, to: &[String]) -> Result<SentId, SendError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(SendError::Retryable("throttled".into()));
        }
        self.inner.send(raw, from, to).await
    }
}

#[tokio::test]
async fn reply_on_dynamodb_is_queued_retried_and_sent_through_ses_once() {
    let Some(url) = moto_url() else { return };
    let dynamo = connect_local(&url);
    let table_name = format!("aws-mail-{}", unique());
    create_table(&dynamo, &table_name)
        .await
        .expect("create table");
    let client = ses::connect_local(&url);
    let domain = format!("{}.example.com", unique());
    ses::create_email_identity(&client, &domain)
        .await
        .expect("identity");
    let ses_sender = SesMailSender::new(client);
    let flaky = Arc::new(Flaky {
        inner: ses_sender.clone(),
        down: AtomicBool::new(true),
    });
    // Real time: the acknowledgement claim carries a TTL the adapter compares with the wall
    // clock.
    let t0 = Utc::now().trunc_subsecs(0);
    let clock = Arc::new(FixedClock::at(t0));
    let signer = ThreadSigner::new(b"aws mail test key, 32 bytes long!", &domain);
    let h = Helpdesk::new(
        Arc::new(DynamoTable::new(dynamo, &table_name)),
        clock.clone(),
        Arc::new(UlidGen::default()),
    )
    .with_mail(MailSettings {
        signer: signer.clone(),
        from: Mailbox::new(format!("support@{domain}"), Some("Support")),
        sender: flaky.clone(),
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let blobs = FileBlobStore::new(dir.path());
    let cfg = InboundConfig {
        signer,
        limits: Limits::default(),
        support_local: "support".into(),
    };
    let customer_id = format!("c1.{}@mail.example.com", unique());
    let raw = format!("From: Carla <carla@example.com>\r\nTo: support@{domain}\r\nMessage-ID: <{customer_id}>\r\nSubject: Invoice missing\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWhere is my invoice?\r\n");
    let created = h
        .ingest_email(raw.as_bytes(), &blobs, &cfg)
        .await
        .expect("ingest");
    assert_eq!(created.outcome, Outcome::Created);
    let number = created.ticket.expect("ticket").to_string();
    let agent = Actor::Staff {
        email: EmailAddress::parse("bo@example.com").expect("e"),
        role: Role::Agent,
    };
    let (reply, _) = h
        .add_message(
            &agent,
            &number,
            NewMessage {
                kind: Some(MessageKind::PublicReply),
                body: "Here is your invoice.".into(),
                template: None,
                version: None,
                attachments: Vec::new(),
            },
        )
        .await
        .expect("reply");
    // SES was "down": the reply (and the acknowledgement) wait in the queue.
    let d = reply.delivery.expect("delivery");
    assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 1));
    let our_id = reply.email_message_id.expect("Message-ID");
    assert!(recorded_containing(&url, &our_id).await.is_empty());

    // A minute later SES is back; the sweep (a query per shard of the queue index) sends both.
    flaky.down.store(false, Ordering::SeqCst);
    clock.set(t0 + Duration::seconds(61));
    let report = h
        .deliver_pending_mail(clock.now(), &ses_sender)
        .await
        .expect("sweep");
    assert_eq!((report.sent, report.failed), (2, 0), "{report:?}");
    let sent = recorded_containing(&url, &our_id).await;
    assert_eq!(sent.len(), 1, "sent once");
    let mime = &sent[0];
    assert!(
        mime.contains(&format!("In-Reply-To: <{customer_id}>")),
        "{mime}"
    );
    assert!(
        mime.contains(&format!("Subject: Re: Invoice missing [#{number}]")),
        "{mime}"
    );
    assert!(mime.contains("multipart/alternative"), "{mime}");
    let acks = recorded_containing(&url, &format!("References: <{customer_id}>")).await;
    assert_eq!(
        acks.len(),
        2,
        "the reply and the acknowledgement both answer the customer"
    );
    assert!(acks
        .iter()
        .any(|m| m.contains("Auto-Submitted: auto-replied")));

    // Nothing is sent twice, however often the sweep runs.
    clock.set(t0 + Duration::hours(2));
    let again = h
        .deliver_pending_mail(clock.now(), &ses_sender)
        .await
        .expect("sweep");
    assert_eq!(again.examined, 0);
    assert_eq!(recorded_containing(&url, &our_id).await.len(), 1);
    let view = h.get_ticket(&agent, &number).await.expect("view");
    assert!(view
        .outbound_mail
        .iter()
        .all(|m| m.delivery.state == DeliveryState::Sent));
}
