//! Outbound e-mail on the local runtime: agent replies and acknowledgements as `.eml` files in
//! the outbox with threading headers that bring the customer's answer back to the ticket;
//! delivery that survives a failing mail service (pending, retried by the sweep, sent once,
//! failed and visible after too many tries); acknowledgements once per sender per hour and
//! never to robots; templates validated at save time and rendered escaped.

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use helpdesk_adapters::local::blobs::FileBlobStore;
use helpdesk_adapters::local::outbox::OutboxMailSender;
use helpdesk_adapters::local::SqliteTable;
use helpdesk_app::inbound::{InboundConfig, IngestOutcome, Outcome};
use helpdesk_app::outbound::{MailSender, MailSettings, SendError, SentId, MAX_ATTEMPTS};
use helpdesk_app::tickets::{NewMessage, TicketView};
use helpdesk_app::{Clock, Helpdesk, UlidGen};
use helpdesk_domain::{Actor, DeliveryState, EmailAddress, Message, MessageKind, Role};
use helpdesk_mail::{InboundEmail, Limits, Mailbox, ThreadSigner};
use helpdesk_tests::clock::FixedClock;
use helpdesk_tests::TestApp;
use reqwest::StatusCode;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const DOMAIN: &str = "support.example.com";

/// The local outbox, with a switch to make it fail: 0 works, 1 fails for now, 2 refuses for good.
struct SwitchableSender {
    outbox: OutboxMailSender,
    mode: AtomicU8,
    sent: AtomicU32,
}

#[async_trait]
impl MailSender for SwitchableSender {
    async fn send(
        &self,
        raw: &[u8],
        from: &str,
        recipients: &[String],
    ) -> Result<SentId, SendError> {
        match self.mode.load(Ordering::SeqCst) {
            0 => {
                let id = self.outbox.send(raw, from, recipients).await?;
                self.sent.fetch_add(1, Ordering::SeqCst);
                Ok(id)
            }
            1 => Err(SendError::Retryable("mail service unavailable".into())),
            _ => Err(SendError::Permanent("recipient address rejected".into())),
        }
    }
}

struct Env {
    h: Helpdesk,
    clock: Arc<FixedClock>,
    sender: Arc<SwitchableSender>,
    blobs: FileBlobStore,
    cfg: InboundConfig,
    dir: tempfile::TempDir,
}

fn start() -> DateTime<Utc> {
    // Near the wall clock, so the storage engines' TTL (which reads the real time) agrees.
    Utc::now()
}

fn env() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = SqliteTable::open(dir.path().join("t.db")).expect("open");
    let clock = Arc::new(FixedClock::at(start()));
    let sender = Arc::new(SwitchableSender {
        outbox: OutboxMailSender::new(dir.path()),
        mode: AtomicU8::new(0),
        sent: AtomicU32::new(0),
    });
    let signer = ThreadSigner::new(SECRET, DOMAIN);
    let h = Helpdesk::new(Arc::new(table), clock.clone(), Arc::new(UlidGen::default())).with_mail(
        MailSettings {
            signer: signer.clone(),
            from: Mailbox::new(format!("support@{DOMAIN}"), Some("Example Support")),
            sender: sender.clone(),
        },
    );
    Env {
        h,
        clock,
        sender,
        blobs: FileBlobStore::new(dir.path()),
        cfg: InboundConfig {
            signer,
            limits: Limits::default(),
            support_local: "support".into(),
        },
        dir,
    }
}

impl Env {
    async fn ingest(&self, raw: &[u8]) -> IngestOutcome {
        self.h
            .ingest_email(raw, &self.blobs, &self.cfg)
            .await
            .expect("ingest")
    }

    async fn view(&self, ticket: &str) -> TicketView {
        self.h.get_ticket(&agent(), ticket).await.expect("view")
    }

    async fn reply(&self, ticket: &str, body: &str) -> Message {
        self.h
            .add_message(
                &agent(),
                ticket,
                NewMessage {
                    kind: Some(MessageKind::PublicReply),
                    body: body.into(),
                    template: None,
                    version: None,
                    attachments: Vec::new(),
                },
            )
            .await
            .expect("reply")
            .0
    }

    fn outbox(&self) -> Vec<PathBuf> {
        outbox_files(self.dir.path())
    }

    fn sends(&self) -> u32 {
        self.sender.sent.load(Ordering::SeqCst)
    }

    fn fail(&self, mode: u8) {
        self.sender.mode.store(mode, Ordering::SeqCst);
    }
}

fn outbox_files(data: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data.join("outbox").join("email"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "eml"));
    files.sort();
    files
}

fn agent() -> Actor {
    Actor::Staff {
        email: EmailAddress::parse("bo@example.com").expect("e"),
        role: Role::Agent,
    }
}

fn mail(from: &str, id: &str, subject: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!("From: {from}\r\nTo: support@{DOMAIN}\r\nMessage-ID: <{id}>\r\nSubject: {subject}\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n{extra_headers}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").into_bytes()
}

fn parse_eml(path: &Path) -> InboundEmail {
    let raw = std::fs::read(path).expect("read eml");
    helpdesk_mail::parse(&raw, &Limits::default())
        .into_result()
        .expect("our own mail parses")
}

/// The outbox file carrying `message_id` (bare).
fn find_eml(files: &[PathBuf], message_id: &str) -> InboundEmail {
    files
        .iter()
        .map(|f| parse_eml(f))
        .find(|m| m.message_id == message_id)
        .unwrap_or_else(|| panic!("no outbox mail with Message-ID {message_id}"))
}

#[tokio::test]
async fn agent_reply_goes_out_threaded_and_the_customer_answer_comes_back() {
    let e = env();
    let first = e
        .ingest(&mail(
            "Carla <carla@example.com>",
            "first@mail.example.com",
            "Invoice missing",
            "",
            "Where is my invoice?\n\n-- \nCarla",
        ))
        .await;
    assert_eq!(first.outcome, Outcome::Created);
    let number = first.ticket.expect("ticket").to_string();
    let view = e.view(&number).await;
    let id = view.ticket.id.to_string();
    // The acknowledgement went out already; the reply is the second mail.
    assert_eq!(e.outbox().len(), 1);

    let reply = e
        .reply(&number, "Here is <your> invoice & the receipt.")
        .await;
    assert_eq!(
        reply.delivery.as_ref().map(|d| d.state),
        Some(DeliveryState::Sent)
    );
    let our_id = reply.email_message_id.clone().expect("Message-ID recorded");
    let files = e.outbox();
    assert_eq!(files.len(), 2);
    let sent = find_eml(&files, &our_id);

    // Message-ID: ours, signed for this ticket.
    assert_eq!(
        e.cfg.signer.verify_message_id(&our_id).as_deref(),
        Some(id.as_str())
    );
    // In-Reply-To and References: the customer's mail.
    assert_eq!(sent.in_reply_to, vec!["first@mail.example.com".to_string()]);
    assert_eq!(sent.references, vec!["first@mail.example.com".to_string()]);
    // Reply-To: the signed plus address of this ticket.
    assert_eq!(sent.reply_to.len(), 1);
    assert!(
        sent.reply_to[0].address.starts_with("support+"),
        "{:?}",
        sent.reply_to
    );
    // (Mail systems may fold an address's case; the signature and ticket ids ignore it.)
    assert_eq!(
        e.cfg
            .signer
            .verify_reply_address(&sent.reply_to[0].address)
            .map(|t| t.to_ascii_lowercase()),
        Some(id.to_ascii_lowercase())
    );
    // Subject with the ticket token; To the customer; From the support address.
    assert_eq!(sent.subject, format!("Re: Invoice missing [#{number}]"));
    assert_eq!(sent.to[0].address, "carla@example.com");
    assert_eq!(sent.from.address, format!("support@{DOMAIN}"));
    assert!(
        !sent.auto.is_automatic(),
        "a person's reply: {:?}",
        sent.auto
    );
    // Text and HTML parts: the reply, then the customer's words quoted (without her
    // signature); the HTML escapes what the agent typed.
    assert!(
        sent.text
            .starts_with("Here is <your> invoice & the receipt."),
        "{}",
        sent.text
    );
    assert!(
        sent.text
            .contains("Carla <carla@example.com> wrote:\n> Where is my invoice?"),
        "{}",
        sent.text
    );
    assert!(
        !sent.text.contains("> Carla"),
        "the quote leaves the signature out: {}",
        sent.text
    );
    let html = sent.html.as_deref().expect("an HTML part");
    assert!(
        html.contains("Here is &lt;your&gt; invoice &amp; the receipt."),
        "{html}"
    );
    assert!(html.contains("<blockquote"), "{html}");

    // The thread view shows the delivery and both mails.
    let view = e.view(&number).await;
    let shown = view
        .messages
        .iter()
        .find(|m| m.id == reply.id)
        .expect("reply");
    assert_eq!(
        shown.delivery.as_ref().map(|d| d.state),
        Some(DeliveryState::Sent)
    );
    assert_eq!(shown.email_message_id.as_deref(), Some(our_id.as_str()));
    assert_eq!(view.outbound_mail.len(), 2);
    assert!(!view.customer_bouncing);

    // Carla answers the outbound mail: layer 1 (our signed Message-ID) puts it on the ticket.
    let answer = e
        .ingest(&mail(
            "carla@example.com",
            "answer@mail.example.com",
            &sent.subject.replace("Re: ", "Re: Re: "),
            &format!(
                "In-Reply-To: <{our_id}>\r\nReferences: <first@mail.example.com> <{our_id}>\r\n"
            ),
            "Thanks, got it.",
        ))
        .await;
    assert_eq!(answer.outcome, Outcome::Appended, "{}", answer.reason);
    assert_eq!(answer.ticket.map(|n| n.to_string()), Some(number.clone()));
    assert!(
        answer.reason.contains("signed Message-ID"),
        "{}",
        answer.reason
    );

    // With the threading key rotated the signature no longer verifies, but the Message-ID
    // pointer written with the reply still threads it (layer 3).
    let rotated = InboundConfig {
        signer: ThreadSigner::new(b"another key, after a rotation.....", DOMAIN),
        limits: Limits::default(),
        support_local: "support".into(),
    };
    let late =
        e.h.ingest_email(
            &mail(
                "carla@example.com",
                "late@mail.example.com",
                "Re: that invoice",
                &format!("In-Reply-To: <{our_id}>\r\n"),
                "One more question.",
            ),
            &e.blobs,
            &rotated,
        )
        .await
        .expect("ingest");
    assert_eq!(late.outcome, Outcome::Appended, "{}", late.reason);
    assert_eq!(late.ticket.map(|n| n.to_string()), Some(number.clone()));
    assert!(
        late.reason.contains("In-Reply-To/References"),
        "{}",
        late.reason
    );

    // The next reply answers Carla's latest mail and keeps the whole chain in References.
    let second = e.reply(&number, "You're welcome.").await;
    let files = e.outbox();
    let sent2 = find_eml(&files, second.email_message_id.as_deref().expect("id"));
    assert_eq!(sent2.in_reply_to, vec!["late@mail.example.com".to_string()]);
    assert_eq!(
        sent2.references,
        vec![
            "first@mail.example.com".to_string(),
            our_id.clone(),
            "answer@mail.example.com".to_string(),
            "late@mail.example.com".to_string(),
        ]
    );
    assert!(
        sent2.text.contains("> One more question."),
        "{}",
        sent2.text
    );
    assert!(
        !sent2.text.contains("Where is my invoice"),
        "only the last customer message: {}",
        sent2.text
    );
}

#[tokio::test]
async fn a_failed_send_stays_pending_and_the_sweep_sends_it_exactly_once() {
    let e = env();
    e.fail(1);
    let created = e
        .ingest(&mail(
            "dan@example.com",
            "d1@mail.example.com",
            "Broken export",
            "",
            "It fails.",
        ))
        .await;
    let number = created.ticket.expect("ticket").to_string();
    let reply = e.reply(&number, "Looking into it.").await;
    let d = reply.delivery.clone().expect("delivery");
    assert_eq!(d.state, DeliveryState::Pending);
    assert_eq!(d.attempts, 1);
    assert!(
        d.last_error
            .as_deref()
            .is_some_and(|m| m.contains("unavailable")),
        "{d:?}"
    );
    assert!(e.outbox().is_empty());
    // The view shows it pending, with the error and when it will be tried again.
    let view = e.view(&number).await;
    let shown = view
        .messages
        .iter()
        .find(|m| m.id == reply.id)
        .expect("reply");
    let dv = shown.delivery.clone().expect("delivery");
    assert_eq!((dv.state, dv.attempts), (DeliveryState::Pending, 1));
    assert_eq!(
        dv.next_attempt_at,
        Some(e.clock.now() + Duration::seconds(60))
    );
    assert_eq!(view.outbound_mail.len(), 2, "the acknowledgement waits too");

    // Not due yet: the sweep leaves it alone.
    let sender = e.sender.as_ref();
    let r =
        e.h.deliver_pending_mail(e.clock.now(), sender)
            .await
            .expect("sweep");
    assert_eq!((r.examined, r.sent), (0, 0));
    // The service is back; a minute later the sweep sends both, once each.
    e.fail(0);
    e.clock.advance(Duration::seconds(61));
    let r =
        e.h.deliver_pending_mail(e.clock.now(), sender)
            .await
            .expect("sweep");
    assert_eq!((r.sent, r.retrying, r.failed), (2, 0, 0), "{r:?}");
    assert_eq!(e.sends(), 2);
    assert_eq!(e.outbox().len(), 2);
    let view = e.view(&number).await;
    let shown = view
        .messages
        .iter()
        .find(|m| m.id == reply.id)
        .expect("reply");
    let dv = shown.delivery.clone().expect("delivery");
    assert_eq!((dv.state, dv.attempts), (DeliveryState::Sent, 2));
    assert!(dv.last_error.is_none());
    // Later sweeps find nothing to send: a sent mail is never sent again.
    e.clock.advance(Duration::hours(3));
    let r =
        e.h.deliver_pending_mail(e.clock.now(), sender)
            .await
            .expect("sweep");
    assert_eq!(r.examined, 0);
    assert_eq!(e.sends(), 2);

    // Two sweeps at once over one due mail: one claim wins, one send.
    e.fail(1);
    e.reply(&number, "Another update.").await;
    e.fail(0);
    e.clock.advance(Duration::seconds(61));
    let now = e.clock.now();
    let (a, b) = tokio::join!(
        e.h.deliver_pending_mail(now, sender),
        e.h.deliver_pending_mail(now, sender)
    );
    let (a, b) = (a.expect("a"), b.expect("b"));
    assert_eq!(a.sent + b.sent, 1, "{a:?} {b:?}");
    assert_eq!(e.sends(), 3);
}

#[tokio::test]
async fn a_mail_that_keeps_failing_ends_failed_and_visible() {
    let e = env();
    let created = e
        .ingest(&mail(
            "erin@example.com",
            "e1@mail.example.com",
            "Refund",
            "",
            "Please refund.",
        ))
        .await;
    let number = created.ticket.expect("ticket").to_string();
    let sender = e.sender.as_ref();

    // Retried with backoff until the attempts run out.
    e.fail(1);
    let reply = e.reply(&number, "We will refund you.").await;
    let mut sweeps = 0;
    loop {
        e.clock.advance(Duration::hours(2));
        let r =
            e.h.deliver_pending_mail(e.clock.now(), sender)
                .await
                .expect("sweep");
        sweeps += 1;
        if r.failed == 1 {
            break;
        }
        assert_eq!(r.retrying, 1, "{r:?}");
        assert!(sweeps < 20, "gives up eventually");
    }
    let view = e.view(&number).await;
    let d = view
        .messages
        .iter()
        .find(|m| m.id == reply.id)
        .and_then(|m| m.delivery.clone())
        .expect("delivery");
    assert_eq!((d.state, d.attempts), (DeliveryState::Failed, MAX_ATTEMPTS));
    assert!(
        d.last_error
            .as_deref()
            .is_some_and(|m| m.contains("gave up after")),
        "{d:?}"
    );
    // Failed mail is kept and shown, but never picked up again.
    e.fail(0);
    e.clock.advance(Duration::hours(2));
    let r =
        e.h.deliver_pending_mail(e.clock.now(), sender)
            .await
            .expect("sweep");
    assert_eq!(r.examined, 0);

    // A permanent refusal fails at once.
    e.fail(2);
    let refused = e.reply(&number, "Second try.").await;
    let d = refused.delivery.expect("delivery");
    assert_eq!((d.state, d.attempts), (DeliveryState::Failed, 1));
    assert!(
        d.last_error
            .as_deref()
            .is_some_and(|m| m.contains("rejected")),
        "{d:?}"
    );
}

#[tokio::test]
async fn bouncing_customers_are_still_mailed_and_flagged() {
    let e = env();
    let created = e
        .ingest(&mail(
            "no.such.user@example.org",
            "n1@mail.example.org",
            "Hello",
            "",
            "Can you help?",
        ))
        .await;
    let number = created.ticket.expect("ticket").to_string();
    assert!(!e.view(&number).await.customer_bouncing);
    let dsn = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/mail/tests/fixtures/12_bounce_dsn.eml"),
    )
    .expect("fixture");
    assert_eq!(e.ingest(&dsn).await.outcome, Outcome::Ignored);
    let view = e.view(&number).await;
    assert!(view.customer_bouncing);
    let reply = e.reply(&number, "Trying anyway.").await;
    assert_eq!(reply.delivery.map(|d| d.state), Some(DeliveryState::Sent));
    // Customers do not see delivery details.
    let customer = Actor::Customer {
        email: EmailAddress::parse("no.such.user@example.org").expect("e"),
    };
    let theirs = e.h.get_ticket(&customer, &number).await.expect("view");
    assert!(!theirs.customer_bouncing);
    assert!(theirs.outbound_mail.is_empty());
    assert!(theirs.messages.iter().all(|m| m.delivery.is_none()));
}

#[tokio::test]
async fn acknowledgements_once_per_sender_per_hour_never_to_robots() {
    let e = env();
    let first = e
        .ingest(&mail(
            "Dan Doe <dan@example.com>",
            "a1@mail.example.com",
            "Printer on fire",
            "",
            "Help!",
        ))
        .await;
    assert_eq!(first.outcome, Outcome::Created);
    let number = first.ticket.expect("ticket").to_string();
    let files = e.outbox();
    assert_eq!(files.len(), 1, "one acknowledgement");
    let ack = parse_eml(&files[0]);
    assert_eq!(ack.to[0].address, "dan@example.com");
    assert_eq!(ack.in_reply_to, vec!["a1@mail.example.com".to_string()]);
    assert_eq!(ack.references, vec!["a1@mail.example.com".to_string()]);
    assert!(
        ack.subject.contains(&format!("[#{number}]")),
        "{}",
        ack.subject
    );
    assert!(ack.subject.contains("Printer on fire"), "{}", ack.subject);
    // Marked as automatic, so other robots do not answer it.
    assert!(ack.auto.is_automatic(), "{:?}", ack.auto);
    assert!(ack.text.contains("Hello Dan,"), "{}", ack.text);
    assert!(ack.text.contains(&number), "{}", ack.text);
    assert!(
        e.cfg.signer.verify_message_id(&ack.message_id).is_some(),
        "signed: {}",
        ack.message_id
    );
    let view = e.view(&number).await;
    assert_eq!(view.outbound_mail.len(), 1);
    assert_eq!(view.messages.len(), 1, "the acknowledgement is not a reply");
    assert!(
        view.ticket.first_response_at.is_none(),
        "and does not stop the first-response clock"
    );

    // A second new ticket from Dan ten minutes later: no second acknowledgement.
    e.clock.advance(Duration::minutes(10));
    let second = e
        .ingest(&mail(
            "dan@example.com",
            "a2@mail.example.com",
            "Also the scanner",
            "",
            "Help again",
        ))
        .await;
    assert_eq!(second.outcome, Outcome::Created);
    assert_eq!(e.outbox().len(), 1);
    // Concurrent first mails from one sender: one acknowledgement.
    let (m1, m2) = (
        mail("fay@example.com", "f1@mail.example.com", "One", "", "a"),
        mail("fay@example.com", "f2@mail.example.com", "Two", "", "b"),
    );
    let (x, y) = tokio::join!(e.ingest(&m1), e.ingest(&m2));
    assert_eq!((x.outcome, y.outcome), (Outcome::Created, Outcome::Created));
    assert_eq!(e.outbox().len(), 2);

    // Automatic mail never gets one (and opens no ticket).
    let oof = e
        .ingest(&mail(
            "gus@example.com",
            "g1@mail.example.com",
            "Out of office",
            "Auto-Submitted: auto-replied\r\n",
            "I am away.",
        ))
        .await;
    assert_eq!(oof.outcome, Outcome::Ignored);
    let list = e
        .ingest(&mail(
            "news@example.com",
            "n1@mail.example.com",
            "Our newsletter",
            "Precedence: bulk\r\nList-Id: <news.example.com>\r\n",
            "News.",
        ))
        .await;
    assert_eq!(list.outcome, Outcome::Ignored);
    assert_eq!(e.outbox().len(), 2);

    // An hour after the first, Dan is acknowledged again.
    e.clock.advance(Duration::minutes(51));
    let third = e
        .ingest(&mail(
            "dan@example.com",
            "a3@mail.example.com",
            "Now the fax",
            "",
            "Help!!",
        ))
        .await;
    assert_eq!(third.outcome, Outcome::Created);
    assert_eq!(e.outbox().len(), 3);

    // Customers reply to acknowledgements too: the reply threads to the ticket.
    let back = e
        .ingest(&mail(
            "dan@example.com",
            "a4@mail.example.com",
            &format!("Re: {}", ack.subject),
            &format!("In-Reply-To: <{}>\r\n", ack.message_id),
            "It is out now.",
        ))
        .await;
    assert_eq!(back.outcome, Outcome::Appended, "{}", back.reason);
    assert_eq!(back.ticket.map(|n| n.to_string()), Some(number));
}

#[tokio::test]
async fn acknowledgements_use_the_auto_ack_template_in_the_customer_locale() {
    let e = env();
    let admin = Actor::Staff {
        email: EmailAddress::parse("admin@example.com").expect("e"),
        role: Role::Admin,
    };
    for (locale, body) in [
        (
            "en",
            "Hi {{customer.first_name}}, we got {{ticket.number}}.",
        ),
        (
            "pt",
            "Olá {{customer.first_name}}, recebemos {{ticket.number}}: {{ticket.subject}}.",
        ),
    ] {
        e.h.create_template(
            &admin,
            serde_json::from_value(json!({ "name": "auto_ack", "locale": locale, "subject": "[{{ticket.number}}] {{ticket.subject}}", "body": body }))
                .expect("input"),
        )
        .await
        .expect("template");
    }
    e.h.create_customer(
        &admin,
        serde_json::from_value(
            json!({ "email": "joao@example.com", "name": "João <Silva>", "locale": "pt-BR" }),
        )
        .expect("input"),
    )
    .await
    .expect("customer");
    let r = e
        .ingest(&mail(
            "joao@example.com",
            "j1@mail.example.com",
            "Fatura",
            "",
            "Onde está?",
        ))
        .await;
    let number = r.ticket.expect("ticket").to_string();
    let r2 = e
        .ingest(&mail(
            "kim@example.com",
            "k1@mail.example.com",
            "Invoice",
            "",
            "Where?",
        ))
        .await;
    let number2 = r2.ticket.expect("ticket").to_string();
    let mails: Vec<InboundEmail> = e.outbox().iter().map(|f| parse_eml(f)).collect();
    let pt = mails
        .iter()
        .find(|m| m.to[0].address == "joao@example.com")
        .expect("pt ack");
    assert_eq!(
        pt.text.trim(),
        format!("Olá João, recebemos {number}: Fatura.")
    );
    // The template's subject already names the ticket (`[HD-n]` is a token too): not doubled.
    assert_eq!(pt.subject, format!("[{number}] Fatura"));
    let html = pt.html.as_deref().expect("html");
    assert!(html.contains("Olá João"), "{html}");
    let en = mails
        .iter()
        .find(|m| m.to[0].address == "kim@example.com")
        .expect("en ack");
    assert_eq!(en.text.trim(), format!("Hi kim, we got {number2}."));
}

/// The whole loop on the real server: mail in over SMTP, an agent's reply over HTTP out to
/// `DATA/outbox/email/`, and the customer's answer to that file back in over SMTP, threaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_smtp_in_outbox_out_and_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = helpdesk::Config::new(dir.path().to_path_buf(), ([127, 0, 0, 1], 0).into());
    // Routing would change the new ticket while the test replies to it; not under test here.
    config.routing_worker = false;
    config.smtp = Some(([127, 0, 0, 1], 0).into());
    config.settings.mail.domain = Some(DOMAIN.parse().expect("domain"));
    let app = helpdesk::Application::build(&config).await.expect("app");
    let smtp = app.smtp_addr().expect("smtp");
    let http = app.local_addr().expect("http");
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let send = |data: String, rcpt: String| async move {
        let replies = tokio::task::spawn_blocking(move || {
            helpdesk_tests::smtp::send(smtp, "hana@example.com", &rcpt, &data)
        })
        .await
        .expect("join");
        assert!(
            replies.last().is_some_and(|r| r.starts_with("250")),
            "{replies:?}"
        );
    };
    send(
        format!("From: Hana <hana@example.com>\nTo: support@{DOMAIN}\nMessage-ID: <hana-1@example.com>\nSubject: Cannot upload\n\nUploads fail since Monday."),
        format!("support@{DOMAIN}"),
    )
    .await;
    let token =
        helpdesk::issue_token(dir.path(), "agent", Some("bo@example.com"), 600).expect("token");
    let client = reqwest::Client::new();
    let list: serde_json::Value = client
        .get(format!("http://{http}/api/v1/tickets?channel=email"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let number = list["items"][0]["number"]
        .as_str()
        .expect("number")
        .to_string();
    let r = client
        .post(format!("http://{http}/api/v1/tickets/{number}/messages"))
        .bearer_auth(&token)
        .json(&json!({ "body": "Please try again now." }))
        .send()
        .await
        .expect("reply");
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: serde_json::Value = r.json().await.expect("json");
    assert_eq!(created["message"]["delivery"]["state"], "sent", "{created}");
    let our_id = created["message"]["email_message_id"]
        .as_str()
        .expect("id")
        .to_string();
    // Acknowledgement and reply in the outbox.
    let files = outbox_files(dir.path());
    assert_eq!(files.len(), 2, "{files:?}");
    let out = find_eml(&files, &our_id);
    // The customer's client answers: To the Reply-To, In-Reply-To our Message-ID.
    send(
        format!(
            "From: hana@example.com\nTo: {}\nMessage-ID: <hana-2@example.com>\nIn-Reply-To: <{our_id}>\nReferences: <hana-1@example.com> <{our_id}>\nSubject: Re: {}\n\nWorks now, thanks!\n\nOn Monday, Support wrote:\n> Please try again now.",
            out.reply_to[0].address, out.subject
        ),
        out.reply_to[0].address.clone(),
    )
    .await;
    let view: serde_json::Value = client
        .get(format!("http://{http}/api/v1/tickets/{number}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("view")
        .json()
        .await
        .expect("json");
    let messages = view["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 3, "{view}");
    assert!(
        messages[2]["thread_reason"]
            .as_str()
            .is_some_and(|r| r.contains("signed Message-ID")),
        "{}",
        messages[2]
    );
    assert_eq!(view["outbound_mail"].as_array().map(Vec::len), Some(2));
    // `helpdesk deliver-mail`: nothing left to deliver.
    let report = helpdesk::deliver_mail_once(
        &config.settings,
        Utc.timestamp_opt(4_102_444_800, 0).single().expect("t"),
    )
    .await
    .expect("deliver");
    assert_eq!(report.examined, 0);
}

#[tokio::test]
async fn templates_are_checked_at_save_and_rendered_escaped() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let agent = app.agent("bo@example.com");
    app.create_agent("bo@example.com", "agent").await;

    // Unknown tokens and unbalanced braces: 422 naming the field.
    let r = app
        .post(
            "/api/v1/templates",
            &admin,
            json!({ "name": "greeting", "locale": "en", "body": "Hi {{customer.email}}" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "body");
    assert!(
        r.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("unknown token `{{customer.email}}`")),
        "{:?}",
        r.body
    );
    let r = app
        .post("/api/v1/templates", &admin, json!({ "name": "greeting", "locale": "en", "subject": "About {{ticket.number", "body": "Hi" }))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "subject");
    let r = app
        .post(
            "/api/v1/templates",
            &admin,
            json!({ "name": "Greeting!", "locale": "en", "body": "Hi" }),
        )
        .await;
    assert_eq!(r.body["field"], "name");
    let r = app
        .post(
            "/api/v1/templates",
            &admin,
            json!({ "name": "greeting", "locale": "english", "body": "Hi" }),
        )
        .await;
    assert_eq!(r.body["field"], "locale");
    // Only admins write.
    let r = app
        .post(
            "/api/v1/templates",
            &agent,
            json!({ "name": "greeting", "locale": "en", "body": "Hi" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let body = "Hello {{customer.first_name}},\n\nabout {{ticket.number}} ({{ticket.subject}}): done.\n\n{{agent.first_name}}";
    let r = app
        .post(
            "/api/v1/templates",
            &admin,
            json!({ "name": "greeting", "locale": "en", "category": "general", "body": body }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["version"], 1);
    let r = app
        .post(
            "/api/v1/templates",
            &admin,
            json!({ "name": "greeting", "locale": "en", "body": "again" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = app
        .post("/api/v1/templates", &admin, json!({ "name": "greeting", "locale": "de", "body": "Hallo {{customer.first_name}}, {{ticket.number}} ist erledigt." }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app.get("/api/v1/templates?name=greeting", &agent).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(2));
    let r = app.get("/api/v1/templates/greeting/de", &agent).await;
    assert_eq!(r.status, StatusCode::OK);
    // Updates check the version; a bad token is refused here too.
    let r = app
        .put(
            "/api/v1/templates/greeting/de",
            &admin,
            json!({ "body": "Hallo {{kunde.name}}" }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("body"))
    );
    let r = app
        .put("/api/v1/templates/greeting/de", &admin, json!({ "body": "Hallo {{customer.first_name}}, {{ticket.number}} ist erledigt.", "version": 7 }))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // A customer whose name is markup.
    let ticket = app
        .create_ticket(&agent, json!({ "subject": "Export <broken>", "body": "It fails.", "channel": "email", "customer": { "email": "bob@example.com", "name": "<b>Bob</b> Jones" } }))
        .await;
    let number = ticket["number"].as_str().expect("number").to_string();
    let r = app
        .post(
            &format!("/api/v1/tickets/{number}/render"),
            &agent,
            json!({ "template": "greeting" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["locale"], "en");
    let text = r.body["text"].as_str().expect("text");
    assert!(text.starts_with("Hello <b>Bob</b>,"), "{text}");
    assert!(
        text.contains(&format!("about {number} (Export <broken>): done.")),
        "{text}"
    );
    assert!(text.ends_with("bo"), "the agent's first name: {text}");
    let html = r.body["html"].as_str().expect("html");
    assert!(html.contains("Hello &lt;b&gt;Bob&lt;/b&gt;,"), "{html}");
    assert!(html.contains("Export &lt;broken&gt;"), "{html}");
    assert!(!html.contains("<b>"), "{html}");
    // An explicit locale with a language fallback: de-AT → de.
    let r = app
        .post(
            &format!("/api/v1/tickets/{number}/render"),
            &agent,
            json!({ "template": "greeting", "locale": "de-AT" }),
        )
        .await;
    assert_eq!(r.body["locale"], "de");
    let r = app
        .post(
            &format!("/api/v1/tickets/{number}/render"),
            &agent,
            json!({ "template": "nope" }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("template"))
    );

    // Replying with the template: the rendered text is the message and goes out by e-mail
    // with an escaped HTML part.
    let r = app
        .post(
            &format!("/api/v1/tickets/{number}/messages"),
            &agent,
            json!({ "template": "greeting", "body": "and text" }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("template"))
    );
    let r = app
        .post(
            &format!("/api/v1/tickets/{number}/messages"),
            &agent,
            json!({ "template": "greeting" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["message"]["body_text"].as_str(), Some(text));
    assert_eq!(r.body["message"]["delivery"]["state"], "sent");
    let id = r.body["message"]["email_message_id"].as_str().expect("id");
    let sent = find_eml(&outbox_files(app.data.path()), id);
    assert_eq!(sent.to[0].address, "bob@example.com");
    let html = sent.html.as_deref().expect("html");
    assert!(html.contains("&lt;b&gt;Bob&lt;/b&gt;"), "{html}");
    assert!(!html.contains("<b>Bob"), "{html}");
    // Customers cannot use templates.
    let r = app
        .post(
            &format!("/api/v1/tickets/{number}/messages"),
            &app.customer("bob@example.com"),
            json!({ "template": "greeting" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Delete with the version.
    let r = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/templates/greeting/de",
            Some(&admin),
            None,
            &[("If-Match", "\"v1\"")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let r = app.get("/api/v1/templates/greeting/de", &agent).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
