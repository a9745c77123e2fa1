//! Inbound e-mail end to end on the local runtime: raw message kept first, explainable
//! threading, loop protection, bounces, quarantine, and redelivery as a no-op. The golden
//! `.eml` files are the mail crate's (shared, not copied).

use helpdesk_adapters::local::blobs::FileBlobStore;
use helpdesk_adapters::local::SqliteTable;
use helpdesk_app::inbound::{InboundConfig, IngestOutcome, Outcome};
use helpdesk_app::tickets::UpdateTicket;
use helpdesk_app::{Helpdesk, SystemClock, UlidGen};
use helpdesk_domain::{Actor, EmailAddress, Role, Status};
use helpdesk_mail::{Limits, ThreadSigner};
use std::sync::Arc;

struct Env {
    h: Helpdesk,
    blobs: FileBlobStore,
    cfg: InboundConfig,
    _dir: tempfile::TempDir,
}

fn env() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = SqliteTable::open(dir.path().join("t.db")).expect("open");
    let h = Helpdesk::new(
        Arc::new(table),
        Arc::new(SystemClock),
        Arc::new(UlidGen::default()),
    );
    let blobs = FileBlobStore::new(dir.path());
    let cfg = InboundConfig {
        signer: ThreadSigner::new(b"0123456789abcdef0123456789abcdef", "support.example.com"),
        limits: Limits::default(),
        support_local: "support".into(),
    };
    Env {
        h,
        blobs,
        cfg,
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
    format!("From: {from}\r\nTo: support@support.example.com\r\nMessage-ID: <{id}>\r\nSubject: {subject}\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n{extra_headers}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").into_bytes()
}

async fn ingest(e: &Env, raw: &[u8]) -> IngestOutcome {
    e.h.ingest_email(raw, &e.blobs, &e.cfg)
        .await
        .expect("ingest never fails on content")
}

#[tokio::test]
async fn golden_fixtures_end_as_expected_and_redelivery_is_a_no_op() {
    let e = env();
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/mail/tests/fixtures");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|f| f.ok())
        .map(|f| f.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "the mail crate's golden fixtures");
    for f in &files {
        let raw = std::fs::read(f).expect("read");
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let o = ingest(&e, &raw).await;
        let expected = if name.contains("no_from") {
            Outcome::Rejected
        } else if name.contains("auto_reply")
            || name.contains("bounce")
            || name.contains("list_mail")
        {
            Outcome::Ignored
        } else {
            Outcome::Created
        };
        assert_eq!(o.outcome, expected, "{name}: {}", o.reason);
        // The raw message is kept whatever happened.
        assert_eq!(
            e.blobs_get(&o.raw).await.as_deref(),
            Some(raw.as_slice()),
            "{name} raw kept"
        );
        let again = ingest(&e, &raw).await;
        assert!(
            matches!(again.outcome, Outcome::Ignored | Outcome::Rejected),
            "{name} redelivered: {:?}",
            again
        );
        if expected == Outcome::Created {
            assert_eq!(again.outcome, Outcome::Ignored);
            assert_eq!(again.ticket, o.ticket, "points at the same ticket");
        }
    }
    // Exactly one ticket per created fixture.
    let page =
        e.h.list_tickets(
            &admin(),
            helpdesk_app::listing::TicketFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("list");
    let created = files.len() - 5;
    assert_eq!(page.items.len(), created);
    // The rejected one waits in quarantine for an admin, with its reason.
    let q =
        e.h.list_quarantine(&admin(), 50, None)
            .await
            .expect("quarantine");
    assert_eq!(q.items.len(), 1);
    assert!(
        q.items[0].reason.contains("sender"),
        "{}",
        q.items[0].reason
    );
    let agent = Actor::Staff {
        email: EmailAddress::parse("a@example.com").expect("e"),
        role: Role::Agent,
    };
    assert!(
        e.h.list_quarantine(&agent, 50, None).await.is_err(),
        "admins only"
    );
    // Reprocessing keeps it there while it still cannot be ingested.
    let again =
        e.h.reprocess_quarantined(&admin(), &q.items[0].id, &e.blobs, &e.cfg)
            .await
            .expect("reprocess");
    assert_eq!(again.outcome, Outcome::Rejected);
    assert_eq!(
        e.h.list_quarantine(&admin(), 50, None)
            .await
            .expect("q")
            .items
            .len(),
        1
    );
}

trait BlobsGet {
    async fn blobs_get(&self, key: &str) -> Option<Vec<u8>>;
}

impl BlobsGet for Env {
    async fn blobs_get(&self, key: &str) -> Option<Vec<u8>> {
        use helpdesk_app::inbound::BlobStore;
        self.blobs.get(key).await.expect("get")
    }
}

#[tokio::test]
async fn threading_is_layered_and_explained() {
    let e = env();
    let first = ingest(
        &e,
        &mail(
            "Carla <carla@example.com>",
            "first@mail.example.com",
            "Invoice missing",
            "",
            "Where is my invoice?",
        ),
    )
    .await;
    assert_eq!(first.outcome, Outcome::Created);
    let number = first.ticket.expect("ticket");
    let view =
        e.h.get_ticket(&admin(), &number.to_string())
            .await
            .expect("view");
    let id = view.ticket.id.to_string();
    assert_eq!(view.ticket.channel.as_str(), "email");
    assert_eq!(view.ticket.customer.name.as_deref(), Some("Carla"));
    assert_eq!(
        view.messages[0].email_message_id.as_deref(),
        Some("first@mail.example.com")
    );
    assert!(view.messages[0]
        .thread_reason
        .as_deref()
        .is_some_and(|r| r.contains("no thread reference")));

    // 3. In-Reply-To matching a stored Message-ID.
    let r = ingest(
        &e,
        &mail(
            "carla@example.com",
            "second@mail.example.com",
            "Re: Invoice missing",
            "In-Reply-To: <first@mail.example.com>\r\n",
            "Any news?",
        ),
    )
    .await;
    assert_eq!((r.outcome, r.ticket), (Outcome::Appended, Some(number)));
    assert!(r.reason.contains("In-Reply-To/References"), "{}", r.reason);

    // 1. Our signed Message-ID in References (even from another address: it is our token).
    let ours = e.cfg.signer.message_id_for(&id, "reply1");
    let r = ingest(
        &e,
        &mail(
            "carla.other@example.com",
            "third@mail.example.com",
            "Re: something else",
            &format!("References: {ours}\r\n"),
            "Thanks",
        ),
    )
    .await;
    assert_eq!((r.outcome, r.ticket), (Outcome::Appended, Some(number)));
    assert!(r.reason.contains("signed Message-ID"), "{}", r.reason);

    // 2. The signed plus address.
    let plus = e.cfg.signer.reply_address("support", &id);
    let raw = String::from_utf8(mail(
        "carla@example.com",
        "fourth@mail.example.com",
        "Hello",
        "",
        "Plus address",
    ))
    .expect("utf8")
    .replace("To: support@support.example.com", &format!("To: {plus}"));
    let r = ingest(&e, raw.as_bytes()).await;
    assert_eq!((r.outcome, r.ticket), (Outcome::Appended, Some(number)));
    assert!(r.reason.contains("signed reply address"), "{}", r.reason);
    // A forged plus address (bad MAC) does not thread.
    let forged = raw
        .replace(
            &plus,
            &format!("support+{id}.0000000000000000@support.example.com"),
        )
        .replace("fourth@", "fifth@");
    assert_eq!(
        ingest(&e, forged.as_bytes()).await.outcome,
        Outcome::Created
    );

    // 4. Subject token: only from the ticket's customer.
    let r = ingest(
        &e,
        &mail(
            "carla@example.com",
            "sixth@mail.example.com",
            &format!("Update [#{number}]"),
            "",
            "Token",
        ),
    )
    .await;
    assert_eq!((r.outcome, r.ticket), (Outcome::Appended, Some(number)));
    assert!(r.reason.contains("subject token"), "{}", r.reason);
    let r = ingest(
        &e,
        &mail(
            "mallory@example.com",
            "seventh@mail.example.com",
            &format!("Update [#{number}]"),
            "",
            "Let me in",
        ),
    )
    .await;
    assert_eq!(
        r.outcome,
        Outcome::Created,
        "a stranger's token opens a new ticket"
    );
    assert!(
        r.reason
            .contains("ignored because mallory@example.com is neither that ticket's customer nor copied on it"),
        "{}",
        r.reason
    );

    // An auto-reply to the thread is appended (the agent sees it) but opens nothing new elsewhere.
    let r = ingest(
        &e,
        &mail(
            "carla@example.com",
            "oof@mail.example.com",
            "Automatic reply: Invoice missing",
            "Auto-Submitted: auto-replied\r\nIn-Reply-To: <first@mail.example.com>\r\n",
            "I am away",
        ),
    )
    .await;
    assert_eq!(r.outcome, Outcome::Appended);

    // A reply to a closed ticket opens a linked follow-up.
    e.h.update_ticket(
        &admin(),
        &id,
        UpdateTicket {
            status: Some(Status::Closed),
            ..Default::default()
        },
        None,
    )
    .await
    .expect("close");
    let r = ingest(
        &e,
        &mail(
            "carla@example.com",
            "late@mail.example.com",
            "Re: Invoice missing",
            "In-Reply-To: <first@mail.example.com>\r\n",
            "One more thing",
        ),
    )
    .await;
    assert_eq!(r.outcome, Outcome::Created);
    assert!(
        r.reason.contains(&format!("reply to closed {number}")),
        "{}",
        r.reason
    );
    let follow =
        e.h.get_ticket(&admin(), &r.ticket.expect("t").to_string())
            .await
            .expect("view");
    assert!(follow.ticket.tags.contains("follow-up"));
    let messages = e.h.get_ticket(&admin(), &id).await.expect("view").messages;
    assert_eq!(messages.len(), 6, "first + five appended");
}

#[tokio::test]
async fn bounces_mark_the_address_and_never_open_tickets() {
    let e = env();
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/mail/tests/fixtures");
    let raw = std::fs::read(dir.join("12_bounce_dsn.eml")).expect("fixture");
    let r = ingest(&e, &raw).await;
    assert_eq!(r.outcome, Outcome::Ignored);
    assert!(r.reason.contains("bouncing"), "{}", r.reason);
    let page =
        e.h.list_tickets(
            &admin(),
            helpdesk_app::listing::TicketFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert!(page.items.is_empty());
}

#[tokio::test]
async fn arbitrary_bytes_never_fail_ingest() {
    let e = env();
    for raw in [
        &b""[..],
        b"\x00\x01\x02",
        b"From:\r\n\r\n",
        b"Subject: only\r\n\r\nbody",
        &[0xffu8; 300][..],
    ] {
        let o = ingest(&e, raw).await;
        assert!(
            matches!(
                o.outcome,
                Outcome::Rejected | Outcome::Created | Outcome::Ignored
            ),
            "{o:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_listener_accepts_mail_for_our_domain_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = helpdesk::Config::new(dir.path().to_path_buf(), ([127, 0, 0, 1], 0).into());
    // Routing would change the new ticket while the test replies to it; not under test here.
    config.routing_worker = false;
    config.smtp = Some(([127, 0, 0, 1], 0).into());
    config.settings.mail.domain = Some("support.example.com".parse().expect("domain"));
    let app = helpdesk::Application::build(&config).await.expect("app");
    let smtp = app.smtp_addr().expect("smtp");
    let http = app.local_addr().expect("http");
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let message = "From: Carla <carla@example.com>\nTo: support@support.example.com\nMessage-ID: <smtp-1@example.com>\nSubject: Sent over SMTP\n\nHello from SMTP.";
    let replies = tokio::task::spawn_blocking(move || {
        helpdesk_tests::smtp::send(
            smtp,
            "carla@example.com",
            "support@support.example.com",
            message,
        )
    })
    .await
    .expect("join");
    assert!(
        replies.last().is_some_and(|r| r.starts_with("250")),
        "{replies:?}"
    );
    let refused = tokio::task::spawn_blocking(move || {
        helpdesk_tests::smtp::send(smtp, "carla@example.com", "someone@elsewhere.example", "x")
    })
    .await
    .expect("join");
    assert!(
        refused.last().is_some_and(|r| r.starts_with("550")),
        "not a relay: {refused:?}"
    );
    // The message became a ticket, visible over the API.
    let token =
        helpdesk::issue_token(dir.path(), "admin", Some("admin@example.com"), 600).expect("token");
    let list: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{http}/api/v1/tickets?channel=email"))
        .bearer_auth(token)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(list["items"][0]["subject"], "Sent over SMTP");
}
