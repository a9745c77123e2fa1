//! Asking for a help-centre sign-in link does the same work for every address: the request
//! only rate-limits and queues, and the lookup, the link and its mail happen in the worker —
//! once, however often the queue delivers the request. (Known addresses used to answer about
//! three times slower than unknown ones: their link was made and mailed while the request ran.)
//!
//! Structural, not timed: the storage operations of the request are recorded and compared.

use async_trait::async_trait;
use helpdesk_adapters::local::queue::{QueueSettings, SqliteQueue};
use helpdesk_adapters::local::SqliteTable;
use helpdesk_app::helpcentre::{SignInOutcome, SignInQueue, SignInRequest};
use helpdesk_app::ports::{Condition, Item, Key, Page, Query, Table, TableError, WriteOp};
use helpdesk_app::queue::{parse_queue_message, sign_in_message_body, QueueError, QueueMessage};
use helpdesk_app::tickets::NewTicket;
use helpdesk_app::{Helpdesk, SystemClock, UlidGen};
use helpdesk_domain::{Actor, EmailAddress, Role};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A table that notes each operation as "op PREFIX" (the key's first `#` part: the rest may
/// name the address, which is not what is compared).
struct Recording {
    inner: SqliteTable,
    ops: Mutex<Vec<String>>,
}

impl Recording {
    fn note(&self, op: &str, key: &Key) {
        let prefix = key.pk.split('#').next().unwrap_or_default();
        self.ops
            .lock()
            .expect("lock")
            .push(format!("{op} {prefix}"));
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.ops.lock().expect("lock"))
    }
}

#[async_trait]
impl Table for Recording {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        self.note("get", key);
        self.inner.get(key).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), TableError> {
        self.note("put", &item.key);
        self.inner.put(item, condition).await
    }
    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), TableError> {
        self.note("delete", key);
        self.inner.delete(key, condition).await
    }
    async fn query(&self, query: &Query) -> Result<Page, TableError> {
        self.ops.lock().expect("lock").push(format!(
            "query {}",
            query.pk.split('#').next().unwrap_or_default()
        ));
        self.inner.query(query).await
    }
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), TableError> {
        for op in &ops {
            match op {
                WriteOp::Put { item, .. } => self.note("transact-put", &item.key),
                WriteOp::Delete { key, .. } => self.note("transact-delete", key),
                WriteOp::Check { key, .. } => self.note("transact-check", key),
                WriteOp::Add { key, .. } => self.note("transact-add", key),
            }
        }
        self.inner.transact(ops).await
    }
    async fn add(&self, key: &Key, by: i64) -> Result<i64, TableError> {
        self.note("add", key);
        self.inner.add(key, by).await
    }
    async fn counter(&self, key: &Key) -> Result<i64, TableError> {
        self.note("counter", key);
        self.inner.counter(key).await
    }
}

/// A queue that keeps what it is given.
#[derive(Default)]
struct Kept(Mutex<Vec<SignInRequest>>);

#[async_trait]
impl SignInQueue for Kept {
    async fn enqueue_sign_in(&self, request: &SignInRequest) -> Result<(), QueueError> {
        self.0.lock().expect("lock").push(request.clone());
        Ok(())
    }
}

fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).expect("email")
}

fn sign_in_mails(data: &Path) -> usize {
    std::fs::read_dir(data.join("outbox").join("email"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    std::fs::read_to_string(e.path()).is_ok_and(|m| m.contains("/help/signin/"))
                })
                .count()
        })
        .unwrap_or(0)
}

async fn helpdesk(data: &Path, table: Arc<dyn Table>) -> Helpdesk {
    let h = Helpdesk::new(table, Arc::new(SystemClock), Arc::new(UlidGen::default()))
        .with_mail(
            helpdesk_compose::local::mail_settings(&helpdesk_compose::Settings::local(data))
                .expect("mail"),
        )
        .with_automation(
            helpdesk::automation_config(data, "https://help.example.com").expect("links"),
        );
    let agent = Actor::Staff {
        email: email("bo@example.com"),
        role: Role::Agent,
    };
    let input: NewTicket = serde_json::from_value(serde_json::json!({
        "subject": "Hello", "body": "Details", "channel": "email",
        "customer": { "email": "ana@example.com" }
    }))
    .expect("input");
    h.create_ticket(&agent, input, None).await.expect("ticket");
    h
}

#[tokio::test]
async fn asking_for_a_link_does_the_same_work_for_known_and_unknown_addresses() {
    let data = tempfile::tempdir().expect("tempdir");
    let table = Arc::new(Recording {
        inner: SqliteTable::open(helpdesk::database_path(data.path())).expect("db"),
        ops: Mutex::new(Vec::new()),
    });
    let queue = Arc::new(Kept::default());
    let h = helpdesk(data.path(), table.clone())
        .await
        .with_sign_in_queue(queue.clone());
    let ip = Some(std::net::IpAddr::from([192, 0, 2, 7]));
    table.take();

    h.request_sign_in(&email("ana@example.com"), ip)
        .await
        .expect("known");
    let known = table.take();
    h.request_sign_in(&email("zed@example.com"), ip)
        .await
        .expect("unknown");
    let unknown = table.take();
    assert_eq!(known, unknown, "the same storage work for both addresses");
    assert!(
        known.iter().all(|op| op.ends_with(" RATE")),
        "only the rate limits while the request runs: {known:?}"
    );
    assert_eq!(sign_in_mails(data.path()), 0, "nothing mailed yet");
    let requests = queue.0.lock().expect("lock").clone();
    assert_eq!(requests.len(), 2, "both queued alike");

    // The worker: a link for the customer only, and only once however often it is delivered.
    assert_eq!(
        h.process_sign_in_request(&requests[0]).await.expect("ana"),
        SignInOutcome::Mailed
    );
    assert_eq!(
        h.process_sign_in_request(&requests[1]).await.expect("zed"),
        SignInOutcome::NotACustomer
    );
    assert_eq!(
        h.process_sign_in_request(&requests[0])
            .await
            .expect("again"),
        SignInOutcome::AlreadyMailed
    );
    assert_eq!(sign_in_mails(data.path()), 1);
    // A request that waited too long (a dead letter requeued much later) mails nothing.
    let mut late = requests[0].clone();
    late.id = ulid::Ulid::new().to_string();
    late.requested_at -= chrono::Duration::minutes(11);
    assert_eq!(
        h.process_sign_in_request(&late).await.expect("late"),
        SignInOutcome::Stale
    );
    assert_eq!(sign_in_mails(data.path()), 1);
}

#[tokio::test]
async fn the_embedded_queue_delivers_sign_in_requests_to_the_worker_once() {
    let data = tempfile::tempdir().expect("tempdir");
    let db = helpdesk::database_path(data.path());
    let table = Arc::new(SqliteTable::open(&db).expect("db"));
    let settings = QueueSettings {
        visibility: std::time::Duration::from_millis(0),
        ..QueueSettings::default()
    };
    let queue = Arc::new(
        SqliteQueue::open(&db, helpdesk_adapters::local::queue::SIGN_IN, settings).expect("queue"),
    );
    let h = helpdesk(data.path(), table)
        .await
        .with_sign_in_queue(queue.clone());
    h.request_sign_in(&email("ana@example.com"), None)
        .await
        .expect("asked");
    assert_eq!(queue.pending().await.expect("pending"), 1);
    assert_eq!(sign_in_mails(data.path()), 0);

    // A worker that died after its work but before deleting the row: the lease runs out (0 ms
    // here), the row is received again, and the second run sends nothing new.
    let first = queue.receive(10).await.expect("receive");
    assert_eq!(first.len(), 1);
    let message = parse_queue_message(&first[0].body).expect("a sign-in request");
    assert!(matches!(message, QueueMessage::SignIn(_)));
    h.process_queue_message(&message).await.expect("processed");
    assert_eq!(sign_in_mails(data.path()), 1);
    let report = queue.work_once(&h, 10).await.expect("work");
    assert_eq!((report.received, report.done), (1, 1));
    assert_eq!(queue.pending().await.expect("pending"), 0);
    assert_eq!(
        sign_in_mails(data.path()),
        1,
        "one link however often delivered"
    );
}

#[test]
fn sign_in_requests_and_routing_events_share_the_queue_format() {
    let request = SignInRequest {
        id: ulid::Ulid::new().to_string(),
        email: email("ana@example.com"),
        requested_at: chrono::Utc::now(),
    };
    let body = sign_in_message_body(&request).expect("body");
    assert_eq!(
        parse_queue_message(&body).expect("parsed"),
        QueueMessage::SignIn(request)
    );
    let id = helpdesk_domain::TicketId::from_ulid(ulid::Ulid::new());
    let routing = serde_json::to_string(&helpdesk_app::routing::RoutingEvent {
        ticket_id: id,
        reason: "created".into(),
    })
    .expect("json");
    assert!(matches!(
        parse_queue_message(&routing).expect("parsed"),
        QueueMessage::Route(e) if e.ticket_id == id
    ));
    for poison in ["", "{}", "{\"sign_in\":{}}", "[1]", "not json"] {
        assert!(parse_queue_message(poison).is_err(), "{poison}");
    }
}
