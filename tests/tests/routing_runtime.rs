//! The local routing runtime: the durable queue table, the `serve` worker, retries and dead
//! letters, the re-enqueue sweep of unrouted tickets, and the admin dead-letter API.

use helpdesk_adapters::local::queue::{QueueSettings, SqliteQueue, ROUTING};
use helpdesk_adapters::local::SqliteTable;
use helpdesk_app::ports::{Condition, Item, Table};
use helpdesk_app::queue::{route_marker_key, RoutingQueue};
use helpdesk_app::routing::RoutingEvent;
use helpdesk_app::tickets::{CustomerRef, NewTicket};
use helpdesk_app::{Helpdesk, SystemClock, UlidGen};
use helpdesk_domain::{Actor, EmailAddress, TicketId};
use helpdesk_tests::test_app::TestApp;
use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn fast(max_receives: u32) -> QueueSettings {
    QueueSettings {
        visibility: Duration::from_secs(60),
        max_receives,
        backoff_base: Duration::ZERO,
        backoff_max: Duration::ZERO,
    }
}

struct Local {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    table: Arc<SqliteTable>,
    queue: Arc<SqliteQueue>,
    helpdesk: Helpdesk,
}

fn local(settings: QueueSettings) -> Local {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("helpdesk.db");
    let table = Arc::new(SqliteTable::open(&db).expect("table"));
    let queue = Arc::new(SqliteQueue::open(&db, ROUTING, settings).expect("queue"));
    let helpdesk = Helpdesk::new(
        table.clone(),
        Arc::new(SystemClock),
        Arc::new(UlidGen::default()),
    )
    .with_routing_queue(queue.clone());
    Local {
        _dir: dir,
        db,
        table,
        queue,
        helpdesk,
    }
}

async fn new_ticket(h: &Helpdesk, subject: &str) -> TicketId {
    let input = NewTicket {
        subject: subject.into(),
        body: "The export button does nothing.".into(),
        channel: None,
        priority: None,
        category: None,
        customer: Some(CustomerRef {
            email: EmailAddress::parse("ana@example.com").expect("email"),
            name: None,
            platform_user_id: None,
            locale: None,
        }),
        department: None,
        assignee: None,
        tags: Vec::new(),
    };
    let actor = Actor::System { job: "test".into() };
    let (t, created) = h.create_ticket(&actor, input, None).await.expect("create");
    assert!(created);
    t.id
}

#[tokio::test]
async fn api_ticket_is_routed_by_the_serve_worker() {
    let app = TestApp::spawn_with_routing().await;
    let agent = app.agent("agent@example.com");
    let t = app
        .ticket_for(&agent, "cu@example.com", "Cannot log in")
        .await;
    let id = TicketId::parse(t["id"].as_str().expect("id")).expect("ticket id");
    let table = SqliteTable::open(app.data.path().join("helpdesk.db")).expect("open db");
    let queue =
        SqliteQueue::open(app.data.path().join("helpdesk.db"), ROUTING, fast(5)).expect("queue");
    // The worker is woken by the enqueue; wait for the marker to go and the queue to drain.
    let mut routed = false;
    for _ in 0..100 {
        let marker = table.get(&route_marker_key(&id)).await.expect("get");
        if marker.is_none() && queue.pending().await.expect("pending") == 0 {
            routed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(routed, "the worker did not route the new ticket");
    // The audit shows the routing outcome, once.
    let view = app
        .get(
            &format!("/api/v1/tickets/{}", t["number"].as_str().expect("number")),
            &agent,
        )
        .await;
    assert_eq!(view.status, StatusCode::OK, "{:?}", view.body);
    let routed_events = view.body["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .filter(|a| a["action"] == "routed")
        .count();
    assert_eq!(routed_events, 1, "{}", view.body["audit"]);
    let dead = app.get("/api/v1/routing/dead-letters", &app.admin()).await;
    assert_eq!(dead.status, StatusCode::OK, "{:?}", dead.body);
    assert_eq!(dead.body["items"], json!([]));
}

#[tokio::test]
async fn creation_marks_unrouted_and_processing_clears_it_idempotently() {
    let l = local(fast(5));
    let id = new_ticket(&l.helpdesk, "Export broken").await;
    assert!(l.helpdesk.is_unrouted(&id).await.expect("marker"));
    assert_eq!(l.queue.pending().await.expect("pending"), 1);
    // The same event delivered twice (at-least-once): both succeed, the marker is cleared.
    l.queue
        .enqueue(&RoutingEvent {
            ticket_id: id,
            reason: "duplicate".into(),
        })
        .await
        .expect("enqueue");
    let r = l.queue.work_once(&l.helpdesk, 10).await.expect("work");
    assert_eq!((r.received, r.done), (2, 2));
    assert!(!l.helpdesk.is_unrouted(&id).await.expect("marker"));
    assert_eq!(l.queue.pending().await.expect("pending"), 0);
    // One routing outcome recorded, not two.
    let staff = Actor::Staff {
        email: EmailAddress::parse("admin@example.com").expect("e"),
        role: helpdesk_domain::Role::Admin,
    };
    let view = l
        .helpdesk
        .get_ticket(&staff, &id.to_string())
        .await
        .expect("view");
    let routed = view.audit.iter().filter(|a| a.action == "routed").count();
    assert_eq!(routed, 1);
}

#[tokio::test]
async fn failing_event_is_retried_then_dead_lettered_and_can_be_requeued() {
    let l = local(fast(3));
    let id = TicketId::from_ulid(ulid::Ulid::new());
    // A stored ticket that cannot be read: routing it fails every time.
    l.table
        .put(
            Item::new(
                helpdesk_app::keys::ticket_key(&id),
                1,
                json!({ "not": "a ticket" }),
            ),
            Condition::None,
        )
        .await
        .expect("put");
    l.queue
        .enqueue(&RoutingEvent {
            ticket_id: id,
            reason: "created".into(),
        })
        .await
        .expect("enqueue");
    for attempt in 1..=2 {
        let r = l.queue.work_once(&l.helpdesk, 10).await.expect("work");
        assert_eq!((r.received, r.retrying), (1, 1), "attempt {attempt}");
    }
    let r = l.queue.work_once(&l.helpdesk, 10).await.expect("work");
    assert_eq!((r.received, r.dead_lettered), (1, 1));
    assert_eq!(
        l.queue
            .work_once(&l.helpdesk, 10)
            .await
            .expect("work")
            .received,
        0
    );
    let dead = l.queue.dead_letters(10).await.expect("dead");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].ticket_id, Some(id));
    assert!(dead[0]
        .last_error
        .as_deref()
        .unwrap_or("")
        .contains("reading a stored item"));

    // Requeued by an admin after the data is fixed (here: the bad item removed → dropped).
    l.table
        .delete(&helpdesk_app::keys::ticket_key(&id), Condition::None)
        .await
        .expect("delete");
    l.queue
        .requeue_dead_letter(&dead[0].id)
        .await
        .expect("requeue");
    assert!(l.queue.dead_letters(10).await.expect("dead").is_empty());
    let r = l.queue.work_once(&l.helpdesk, 10).await.expect("work");
    assert_eq!((r.received, r.done), (1, 1));
    assert!(l.queue.requeue_dead_letter(&dead[0].id).await.is_err());
    assert!(l.queue.requeue_dead_letter("not-a-number").await.is_err());
}

#[tokio::test]
async fn poison_message_is_dead_lettered_at_once() {
    let l = local(fast(5));
    l.queue.send("{not json".into()).await.expect("send");
    l.queue
        .send(json!({ "ticket_id": "nope" }).to_string())
        .await
        .expect("send");
    let r = l.queue.work_once(&l.helpdesk, 10).await.expect("work");
    assert_eq!((r.received, r.dead_lettered), (2, 2));
    let dead = l.queue.dead_letters(10).await.expect("dead");
    assert_eq!(dead.len(), 2);
    assert!(dead
        .iter()
        .all(|d| d.ticket_id.is_none() && d.attempts == 1));
}

#[tokio::test]
async fn unfinished_messages_survive_a_restart_and_expire_into_the_dead_letters() {
    let settings = QueueSettings {
        visibility: Duration::ZERO,
        ..fast(2)
    };
    let l = local(settings);
    let id = new_ticket(&l.helpdesk, "Crash mid-routing").await;
    // A worker receives the message and dies before finishing (twice).
    let first = l.queue.receive(10).await.expect("receive");
    assert_eq!(first.len(), 1);
    let reopened = SqliteQueue::open(&l.db, ROUTING, settings).expect("reopen");
    let again = reopened.receive(10).await.expect("receive");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    // The first worker's stale receipt cannot delete the message a later receive holds.
    l.queue.delete(&first[0]).await.expect("delete is a no-op");
    assert_eq!(reopened.pending().await.expect("pending"), 1);
    // Received max_receives times without completing: dead-lettered, not delivered again.
    assert!(reopened.receive(10).await.expect("receive").is_empty());
    let dead = reopened.dead_letters(10).await.expect("dead");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].ticket_id, Some(id));
    assert!(l.helpdesk.is_unrouted(&id).await.expect("marker"));
}

#[tokio::test]
async fn sweep_re_enqueues_tickets_left_unrouted() {
    let l = local(fast(5));
    let id = new_ticket(&l.helpdesk, "Lost event").await;
    // The enqueue after the commit is lost (the row is consumed without routing).
    let lost = l.queue.receive(10).await.expect("receive");
    l.queue.delete(&lost[0]).await.expect("delete");
    assert_eq!(l.queue.pending().await.expect("pending"), 0);

    let now = chrono::Utc::now();
    // Not yet due: fresh tickets get time for their own event.
    let r = l.helpdesk.resweep_unrouted(now, 100).await.expect("sweep");
    assert_eq!((r.examined, r.enqueued, r.queries), (0, 0, 8));
    let later = now + chrono::Duration::minutes(3);
    let r = l
        .helpdesk
        .resweep_unrouted(later, 100)
        .await
        .expect("sweep");
    assert_eq!((r.examined, r.enqueued), (1, 1));
    // Backoff: the same minute finds nothing more.
    let r = l
        .helpdesk
        .resweep_unrouted(later, 100)
        .await
        .expect("sweep");
    assert_eq!(r.enqueued, 0);
    let w = l.queue.work_once(&l.helpdesk, 10).await.expect("work");
    assert_eq!(w.done, 1);
    assert!(!l.helpdesk.is_unrouted(&id).await.expect("marker"));
    let much_later = now + chrono::Duration::hours(5);
    let r = l
        .helpdesk
        .resweep_unrouted(much_later, 100)
        .await
        .expect("sweep");
    assert_eq!(r.examined, 0);
}

#[tokio::test]
async fn dead_letter_api_is_for_admins_and_requeues() {
    let app = TestApp::spawn_with_routing().await;
    let queue =
        SqliteQueue::open(app.data.path().join("helpdesk.db"), ROUTING, fast(5)).expect("queue");
    queue.send("garbage".into()).await.expect("send");
    let admin = app.admin();
    let mut items = serde_json::Value::Null;
    for _ in 0..100 {
        let r = app.get("/api/v1/routing/dead-letters", &admin).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        if r.body["items"].as_array().is_some_and(|a| !a.is_empty()) {
            items = r.body["items"].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(items[0]["body"], "garbage", "{items}");
    let id = items[0]["id"].as_str().expect("id").to_string();
    let agent = app.agent("agent@example.com");
    let r = app.get("/api/v1/routing/dead-letters", &agent).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            &format!("/api/v1/routing/dead-letters/{id}/requeue"),
            &agent,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .get("/api/v1/routing/dead-letters?limit=0", &admin)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.to_string().contains("limit"));
    let r = app
        .post(
            &format!("/api/v1/routing/dead-letters/{id}/requeue"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let r = app
        .post(
            "/api/v1/routing/dead-letters/999999/requeue",
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
