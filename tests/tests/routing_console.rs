//! The console's routing dead-letter page: admins see each dead-lettered routing event (ticket
//! link, error, attempts, time) and requeue it (CSRF); agents get 403.

use helpdesk_adapters::local::queue::{QueueSettings, SqliteQueue, ROUTING};
use helpdesk_adapters::local::SqliteTable;
use helpdesk_app::ports::{Condition, Item, Table};
use helpdesk_app::queue::RoutingQueue;
use helpdesk_app::routing::RoutingEvent;
use helpdesk_domain::TicketId;
use helpdesk_tests::browser::Browser;
use helpdesk_tests::test_app::TestApp;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn admins_list_and_requeue_routing_dead_letters_agents_may_not() {
    let app = TestApp::spawn().await;
    let db = app.data.path().join("helpdesk.db");
    let settings = QueueSettings {
        visibility: Duration::from_secs(60),
        max_receives: 1,
        backoff_base: Duration::ZERO,
        backoff_max: Duration::ZERO,
    };
    let queue = SqliteQueue::open(&db, ROUTING, settings).expect("queue");
    let (helpdesk, _, _) = helpdesk::open_helpdesk(app.data.path()).expect("open");
    // A ticket whose stored item cannot be read: routing it fails, and with one receive
    // allowed its event is dead-lettered at once. Plus one unreadable message.
    let id = TicketId::from_ulid(ulid::Ulid::new());
    let table = SqliteTable::open(&db).expect("table");
    table
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
    queue
        .enqueue(&RoutingEvent {
            ticket_id: id,
            reason: "created".into(),
        })
        .await
        .expect("enqueue");
    queue.send("{not json".into()).await.expect("send");
    let r = queue.work_once(&helpdesk, 10).await.expect("work");
    assert_eq!((r.received, r.dead_lettered), (2, 2), "{r:?}");

    // Agents: forbidden, and no link on their dashboard.
    let mut agent = Browser::new(&app);
    agent.sign_in(&app.agent("ana@example.com")).await;
    let (status, _, _) = agent.get("/app/routing/dead-letters").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, dash, _) = agent.get("/app").await;
    assert!(!dash.contains("/app/routing/dead-letters"));

    let mut admin = Browser::new(&app);
    admin.sign_in(&app.admin()).await;
    let (_, dash, _) = admin.get("/app").await;
    assert!(
        dash.contains("href=\"/app/routing/dead-letters\""),
        "linked"
    );
    let (status, html, _) = admin.get("/app/routing/dead-letters").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&format!("href=\"/app/tickets/{id}\"")),
        "links the ticket: {html}"
    );
    assert!(html.contains("not a routing event"));
    assert!(html.contains("reading a stored item"), "the error: {html}");
    assert_eq!(html.matches(">Requeue</button>").count(), 2);

    // Requeue the ticket's event: without the CSRF token refused, with it done.
    let dead = queue.dead_letters(10).await.expect("dead");
    let mine = dead
        .iter()
        .find(|d| d.ticket_id == Some(id))
        .expect("the ticket's dead letter");
    let action = format!("/app/routing/dead-letters/{}/requeue", mine.id);
    assert!(html.contains(&format!("action=\"{action}\"")));
    let resp = admin.post(&action, &[("_csrf", "forged")], &[]).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(queue.dead_letters(10).await.expect("dead").len(), 2);
    let csrf = admin.csrf().await;
    let resp = admin.post(&action, &[("_csrf", csrf.as_str())], &[]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.expect("body");
    assert!(html.contains("Requeued"), "{html}");
    assert!(!html.contains(&format!("href=\"/app/tickets/{id}\"")));
    assert_eq!(queue.dead_letters(10).await.expect("dead").len(), 1);
    assert_eq!(
        queue.pending().await.expect("pending"),
        1,
        "back on the queue"
    );
    // Twice: it is gone.
    let resp = admin.post(&action, &[("_csrf", csrf.as_str())], &[]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.expect("body").contains("is gone"));
    // Agents cannot requeue either.
    let other = &queue.dead_letters(10).await.expect("dead")[0];
    let csrf = agent.csrf().await;
    let resp = agent
        .post(
            &format!("/app/routing/dead-letters/{}/requeue", other.id),
            &[("_csrf", csrf.as_str())],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(queue.dead_letters(10).await.expect("dead").len(), 1);
}
