//! Nothing accepted is lost (reliability issue, part 1): e-mail and replies that arrive while
//! their ticket changes underneath them are appended, not dropped; a 409 goes only to a
//! caller whose own version is stale; our own mail coming back is a loop; and a message whose
//! ingestion was interrupted is found and ingested again by the recovery sweep.
//!
//! On the code before the fix, the concurrent tests lost most messages ("delivered
//! concurrently; recorded once") and refused most versionless replies with a 409.

use async_trait::async_trait;
use helpdesk_adapters::local::blobs::FileBlobStore;
use helpdesk_adapters::local::SqliteTable;
use helpdesk_app::inbound::{BlobError, BlobStore, InboundConfig, IngestOutcome, Outcome};
use helpdesk_app::tickets::{NewMessage, UpdateTicket};
use helpdesk_app::{AppError, Helpdesk, SystemClock, UlidGen};
use helpdesk_domain::{Actor, EmailAddress, MessageKind, Role};
use helpdesk_mail::{Limits, ThreadSigner};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

const DOMAIN: &str = "support.example.com";

struct Env {
    h: Helpdesk,
    blobs: Arc<FileBlobStore>,
    cfg: Arc<InboundConfig>,
    _dir: tempfile::TempDir,
}

fn config() -> InboundConfig {
    InboundConfig {
        signer: ThreadSigner::new(b"0123456789abcdef0123456789abcdef", DOMAIN),
        limits: Limits::default(),
        support_local: "support".into(),
    }
}

fn env() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = SqliteTable::open(dir.path().join("t.db")).expect("open");
    let blobs = Arc::new(FileBlobStore::new(dir.path()));
    let h = Helpdesk::new(
        Arc::new(table),
        Arc::new(SystemClock),
        Arc::new(UlidGen::default()),
    )
    .with_blobs(blobs.clone())
    .with_inbound(config());
    Env {
        h,
        blobs,
        cfg: Arc::new(config()),
        _dir: dir,
    }
}

fn admin() -> Actor {
    Actor::Staff {
        email: EmailAddress::parse("admin@example.com").expect("e"),
        role: Role::Admin,
    }
}

fn mail(from: &str, id: &str, subject: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!("From: {from}\r\nTo: support@{DOMAIN}\r\nMessage-ID: <{id}>\r\nSubject: {subject}\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n{extra_headers}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").into_bytes()
}

async fn ingest(e: &Env, raw: &[u8]) -> IngestOutcome {
    e.h.ingest_email(raw, e.blobs.as_ref(), &e.cfg)
        .await
        .expect("ingest")
}

async fn message_count(e: &Env, number: &str) -> usize {
    e.h.get_ticket(&admin(), number)
        .await
        .expect("view")
        .messages
        .len()
}

/// A ticket opened by e-mail, and its number.
async fn opened(e: &Env) -> String {
    let o = ingest(
        e,
        &mail(
            "Carla <carla@example.com>",
            "first@mail.example.com",
            "Invoice missing",
            "",
            "Where is my invoice?",
        ),
    )
    .await;
    assert_eq!(o.outcome, Outcome::Created, "{}", o.reason);
    o.ticket.expect("ticket").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replies_arriving_together_are_all_appended() {
    let e = Arc::new(env());
    let number = opened(&e).await;
    const N: usize = 30;
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let e = e.clone();
            let number = number.clone();
            tokio::spawn(async move {
                let raw = mail(
                    "Carla <carla@example.com>",
                    &format!("reply-{i}@mail.example.com"),
                    &format!("Re: Invoice missing [#{number}]"),
                    "In-Reply-To: <first@mail.example.com>\r\n",
                    &format!("Reply number {i}"),
                );
                ingest(&e, &raw).await
            })
        })
        .collect();
    // Meanwhile an agent keeps changing the ticket, as the router and agents do.
    let agent = {
        let e = e.clone();
        let number = number.clone();
        tokio::spawn(async move {
            for i in 0..10 {
                e.h.update_ticket(
                    &admin(),
                    &number,
                    UpdateTicket {
                        tags: Some(vec![format!("pass-{i}")]),
                        ..Default::default()
                    },
                    None,
                )
                .await
                .expect("an unversioned update lands too");
            }
        })
    };
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.expect("task"));
    }
    agent.await.expect("agent");
    for o in &outcomes {
        assert_eq!(o.outcome, Outcome::Appended, "{}", o.reason);
    }
    assert_eq!(
        message_count(&e, &number).await,
        N + 1,
        "every reply stored"
    );
    // Each is recorded: a redelivery of any of them is a no-op.
    let again = ingest(
        &e,
        &mail(
            "Carla <carla@example.com>",
            "reply-7@mail.example.com",
            "Re: Invoice missing (resent)",
            "In-Reply-To: <first@mail.example.com>\r\n",
            "Reply number 7, sent again by a confused client",
        ),
    )
    .await;
    assert_eq!(again.outcome, Outcome::Ignored, "{}", again.reason);
    assert_eq!(message_count(&e, &number).await, N + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_message_delivered_concurrently_is_stored_once() {
    let e = Arc::new(env());
    let number = opened(&e).await;
    let raw = Arc::new(mail(
        "Carla <carla@example.com>",
        "twice@mail.example.com",
        "Re: Invoice missing",
        "In-Reply-To: <first@mail.example.com>\r\n",
        "Sent once, delivered eight times",
    ));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (e, raw) = (e.clone(), raw.clone());
            tokio::spawn(async move { ingest(&e, &raw).await })
        })
        .collect();
    let mut appended = 0;
    for t in tasks {
        let o = t.await.expect("task");
        match o.outcome {
            Outcome::Appended => appended += 1,
            Outcome::Ignored => assert!(o.reason.contains("duplicate"), "{}", o.reason),
            other => panic!("{other:?}: {}", o.reason),
        }
    }
    assert_eq!(appended, 1);
    assert_eq!(message_count(&e, &number).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn versionless_replies_never_get_a_409_and_stale_ones_do() {
    let e = Arc::new(env());
    let number = opened(&e).await;
    let carla = Actor::Customer {
        email: EmailAddress::parse("carla@example.com").expect("e"),
    };
    const N: usize = 60;
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let (e, number, carla) = (e.clone(), number.clone(), carla.clone());
            tokio::spawn(async move {
                e.h.add_message(
                    &carla,
                    &number,
                    NewMessage {
                        kind: Some(MessageKind::CustomerMessage),
                        body: format!("From the app, {i}"),
                        template: None,
                        version: None,
                        attachments: Vec::new(),
                    },
                )
                .await
            })
        })
        .collect();
    let mut conflicts = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(_) => {}
            Err(AppError::Conflict { .. }) => conflicts += 1,
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(conflicts, 0, "no caller without a version gets a 409");
    assert_eq!(message_count(&e, &number).await, N + 1);

    // A caller who names a version it read earlier is told it is stale.
    let stale =
        e.h.add_message(
            &carla,
            &number,
            NewMessage {
                kind: Some(MessageKind::CustomerMessage),
                body: "Based on what I saw".into(),
                template: None,
                version: Some(1),
                attachments: Vec::new(),
            },
        )
        .await;
    assert!(
        matches!(
            stale,
            Err(AppError::Conflict {
                current_version: Some(v),
                ..
            }) if v > 1
        ),
        "{stale:?}"
    );
    let current =
        e.h.get_ticket(&admin(), &number)
            .await
            .expect("view")
            .ticket
            .version;
    let fresh =
        e.h.add_message(
            &carla,
            &number,
            NewMessage {
                kind: Some(MessageKind::CustomerMessage),
                body: "Based on the latest".into(),
                template: None,
                version: Some(current),
                attachments: Vec::new(),
            },
        )
        .await;
    assert!(fresh.is_ok(), "{fresh:?}");
}

#[tokio::test]
async fn mail_from_our_own_support_address_is_a_loop() {
    let e = env();
    let signed = e.cfg.signer.reply_address("support", "HD-1");
    for from in [
        format!("Support <support@{DOMAIN}>"),
        format!("SUPPORT@{}", DOMAIN.to_uppercase()),
        format!("support+escalations@{DOMAIN}"),
        signed,
    ] {
        let o = ingest(
            &e,
            &mail(
                &from,
                &format!("loop-{}@{DOMAIN}", from.len()),
                "Your request was received",
                "",
                "We got your message.",
            ),
        )
        .await;
        assert_eq!(o.outcome, Outcome::Ignored, "{from}: {}", o.reason);
        assert!(o.reason.contains("mail loop"), "{from}: {}", o.reason);
        assert!(o.ticket.is_none());
    }
    let page =
        e.h.list_tickets(&admin(), helpdesk_app::listing::TicketFilter::default())
            .await
            .expect("list");
    assert!(page.items.is_empty(), "no ticket from our own mail");
    // Colleagues elsewhere in the domain are customers like anyone else.
    let o = ingest(
        &e,
        &mail(
            &format!("it@{DOMAIN}"),
            "colleague@x",
            "Printer",
            "",
            "Broken",
        ),
    )
    .await;
    assert_eq!(o.outcome, Outcome::Created, "{}", o.reason);
}

/// A blob store that fails attachment writes while `broken` is set: the ingestion then stops
/// after the raw message is kept, as a crash would.
struct Flaky {
    inner: Arc<FileBlobStore>,
    broken: AtomicBool,
    failures: AtomicUsize,
}

#[async_trait]
impl BlobStore for Flaky {
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), BlobError> {
        if self.broken.load(Ordering::SeqCst) && key.starts_with("att/") {
            self.failures.fetch_add(1, Ordering::SeqCst);
            return Err(BlobError("disk full".into()));
        }
        self.inner.put(key, bytes).await
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        self.inner.get(key).await
    }
}

fn with_attachment(id: &str) -> Vec<u8> {
    format!(
        "From: Dora <dora@example.com>\r\nTo: support@{DOMAIN}\r\nMessage-ID: <{id}>\r\nSubject: Screenshot\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=shot.png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn an_interrupted_ingestion_is_recovered_by_the_sweep() {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = SqliteTable::open(dir.path().join("t.db")).expect("open");
    let flaky = Arc::new(Flaky {
        inner: Arc::new(FileBlobStore::new(dir.path())),
        broken: AtomicBool::new(true),
        failures: AtomicUsize::new(0),
    });
    let h = Helpdesk::new(
        Arc::new(table),
        Arc::new(SystemClock),
        Arc::new(UlidGen::default()),
    )
    .with_blobs(flaky.clone())
    .with_inbound(config());
    let cfg = config();
    let raw = with_attachment("stranded@mail.example.com");
    assert!(
        h.ingest_email(&raw, flaky.as_ref(), &cfg).await.is_err(),
        "the failure is reported (SMTP 451, Lambda retry), not swallowed"
    );
    let now = chrono::Utc::now();
    // Too recent to be stranded: an ingestion may still be running.
    let r = h.recover_inbound(now, 100).await.expect("sweep");
    assert_eq!(r.examined, 0);
    // Still broken two minutes on: the attempt is counted and the message stays pending.
    let later = now + chrono::Duration::minutes(3);
    let r = h.recover_inbound(later, 100).await.expect("sweep");
    assert_eq!((r.examined, r.recovered, r.errors), (1, 0, 1), "{r:?}");
    // Fixed: the next sweep ingests it, once.
    flaky.broken.store(false, Ordering::SeqCst);
    let r = h.recover_inbound(later, 100).await.expect("sweep");
    assert_eq!((r.examined, r.recovered), (1, 1), "{r:?}");
    let r = h.recover_inbound(later, 100).await.expect("sweep");
    assert_eq!(r.examined, 0, "nothing left pending");
    let page = h
        .list_tickets(&admin(), helpdesk_app::listing::TicketFilter::default())
        .await
        .expect("list");
    assert_eq!(page.items.len(), 1);
    let view = h
        .get_ticket(&admin(), &page.items[0].number.to_string())
        .await
        .expect("view");
    assert_eq!(view.messages[0].attachments.len(), 1);
    // The sender retrying now is told it was handled.
    let again = h
        .ingest_email(&raw, flaky.as_ref(), &cfg)
        .await
        .expect("ok");
    assert_eq!(again.outcome, Outcome::Ignored, "{}", again.reason);
}

#[tokio::test]
async fn a_message_that_never_ingests_ends_in_quarantine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = SqliteTable::open(dir.path().join("t.db")).expect("open");
    let flaky = Arc::new(Flaky {
        inner: Arc::new(FileBlobStore::new(dir.path())),
        broken: AtomicBool::new(true),
        failures: AtomicUsize::new(0),
    });
    let h = Helpdesk::new(
        Arc::new(table),
        Arc::new(SystemClock),
        Arc::new(UlidGen::default()),
    )
    .with_blobs(flaky.clone())
    .with_inbound(config());
    let raw = with_attachment("poison@mail.example.com");
    assert!(h
        .ingest_email(&raw, flaky.as_ref(), &config())
        .await
        .is_err());
    let later = chrono::Utc::now() + chrono::Duration::minutes(3);
    let mut quarantined = 0;
    for _ in 0..=helpdesk_app::inbound::RECOVERY_ATTEMPTS {
        let r = h.recover_inbound(later, 100).await.expect("sweep");
        assert_eq!(r.examined, 1, "{r:?}");
        quarantined += r.quarantined;
    }
    assert_eq!(quarantined, 1, "given up after the attempts, with a reason");
    let q = h
        .list_quarantine(&admin(), 10, None)
        .await
        .expect("quarantine");
    assert_eq!(q.items.len(), 1);
    assert!(
        q.items[0].reason.contains("recovery attempts"),
        "{}",
        q.items[0].reason
    );
    assert_eq!(
        h.recover_inbound(later, 100).await.expect("sweep").examined,
        0
    );
    // Once fixed, reprocessing from the quarantine ingests it.
    flaky.broken.store(false, Ordering::SeqCst);
    let o = h
        .reprocess(&admin(), &q.items[0].id)
        .await
        .expect("reprocess");
    assert_eq!(o.outcome, Outcome::Created, "{}", o.reason);
}
