//! The forums' access patterns on both storage engines: the same use cases over SQLite and over
//! DynamoDB (moto, `HELPDESK_TEST_DYNAMODB_URL` as in `table_dynamodb.rs`; set
//! `HELPDESK_SKIP_AWS_TESTS=1` to skip that one knowingly). Covers the sparse category index
//! (pinned first, hidden topics out), cursors, the vote transaction with its counter, the
//! reports index and the topic → ticket transaction.

use helpdesk_adapters::aws::dynamodb::{connect_local, create_table, DynamoTable};
use helpdesk_adapters::local::SqliteTable;
use helpdesk_app::forums::{CategoryInput, Moderation, NewPost, NewTopic, ReportInput, Reporter};
use helpdesk_app::ports::Table;
use helpdesk_app::{Clock, Helpdesk, UlidGen};
use helpdesk_domain::forum::{ModAction, ReportReason, Target};
use helpdesk_domain::{Actor, EmailAddress, Role};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// A clock one second further on at every reading: "newest activity" is then never a tie.
struct Ticking(AtomicI64);

impl Clock for Ticking {
    fn now(&self) -> helpdesk_domain::Timestamp {
        let s = self.0.fetch_add(1, Ordering::SeqCst);
        chrono::DateTime::from_timestamp(s, 0).unwrap_or_default()
    }
}

fn staff(role: Role) -> Actor {
    Actor::Staff {
        email: EmailAddress::parse("admin@example.com").expect("email"),
        role,
    }
}

fn customer(e: &str) -> Actor {
    Actor::Customer {
        email: EmailAddress::parse(e).expect("email"),
    }
}

async fn forum_access_patterns(table: Arc<dyn Table>) {
    let hd = Helpdesk::new(
        table,
        Arc::new(Ticking(AtomicI64::new(1_764_000_000))),
        Arc::new(UlidGen::default()),
    );
    let admin = staff(Role::Admin);
    hd.create_forum_category(
        &admin,
        CategoryInput {
            slug: Some("start".into()),
            name: "Start".into(),
            description: None,
            order: Some(2),
            version: None,
        },
    )
    .await
    .expect("category");
    hd.create_forum_category(
        &admin,
        CategoryInput {
            slug: Some("billing".into()),
            name: "Billing".into(),
            description: None,
            order: Some(1),
            version: None,
        },
    )
    .await
    .expect("category");
    let cats: Vec<String> = hd
        .forum_categories()
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.slug)
        .collect();
    assert_eq!(cats, ["billing", "start"], "ordered by `order`");

    let ana = customer("ana@example.com");
    let mut ids = Vec::new();
    for i in 0..4 {
        let t = hd
            .create_topic(
                &ana,
                "start",
                NewTopic {
                    title: format!("Question number {i}"),
                    body: "Details".into(),
                    display_name: Some("Ana".into()),
                },
            )
            .await
            .expect("topic");
        ids.push(t.id);
    }
    // Pin the oldest, hide the second; reply to the third so it has the newest activity.
    let moderate = |id, action| {
        hd.moderate(
            &admin,
            id,
            Moderation {
                action,
                post: None,
                note: None,
                version: None,
            },
        )
    };
    moderate(&ids[0], ModAction::Pin).await.expect("pin");
    moderate(&ids[1], ModAction::Hide).await.expect("hide");
    let bob = customer("bob@example.com");
    let post = hd
        .reply_to_topic(
            &bob,
            &ids[2],
            NewPost {
                body: "Try this".into(),
                display_name: Some("Bob".into()),
            },
        )
        .await
        .expect("reply");

    // Two pages of two through the sparse index: pinned, newest activity, then the rest.
    let first = hd
        .list_topics(None, "start", None, Some(2))
        .await
        .expect("page 1");
    let mut order: Vec<_> = first.items.iter().map(|t| t.id).collect();
    let mut cursor = first.next_cursor;
    while let Some(c) = cursor {
        let page = hd
            .list_topics(None, "start", Some(c), Some(2))
            .await
            .expect("next page");
        order.extend(page.items.iter().map(|t| t.id));
        cursor = page.next_cursor;
    }
    assert_eq!(order, [ids[0], ids[2], ids[3]]);
    let all = hd
        .list_all_topics(&admin, None, Some(10))
        .await
        .expect("all");
    assert_eq!(all.items.len(), 4, "moderators see hidden topics");

    // One vote per person: the conditional put and the counter move together.
    let carla = customer("carla@example.com");
    let v = hd
        .toggle_vote(&carla, &ids[2], Target::Post(post.id))
        .await
        .expect("vote");
    assert!(v.voted && v.votes == 1);
    let v = hd
        .toggle_vote(&carla, &ids[2], Target::Post(post.id))
        .await
        .expect("unvote");
    assert!(!v.voted && v.votes == 0);
    hd.toggle_vote(&ana, &ids[2], Target::Post(post.id))
        .await
        .expect("vote");
    let view = hd
        .topic_view(Some(&ana), &ids[2], None)
        .await
        .expect("view");
    assert_eq!(view.posts[0].votes, 1);
    assert!(view.posts[0].voted);

    // Reports: one per reporter, listed through the sparse reports index until resolved.
    for who in [
        Reporter::Visitor("v1".into()),
        Reporter::Visitor("v1".into()),
        Reporter::User(ana.clone()),
    ] {
        hd.report(
            &who,
            &ids[2],
            ReportInput {
                post: Some(post.id),
                reason: ReportReason::Spam,
                details: None,
            },
        )
        .await
        .expect("report");
    }
    let q = hd.list_reports(&admin, None, None).await.expect("queue");
    assert_eq!(q.items.len(), 1);
    assert_eq!(q.items[0].case.count, 2);
    hd.resolve_reports(&admin, &ids[2], Target::Post(post.id), None)
        .await
        .expect("resolve");
    assert!(hd
        .list_reports(&admin, None, None)
        .await
        .expect("queue")
        .items
        .is_empty());

    // Replies come 100 a page, oldest first; an accepted answer from a later page leads the
    // first page and is not repeated.
    let mut last = None;
    for i in 0..101 {
        let p = hd
            .reply_to_topic(
                &admin,
                &ids[0],
                NewPost {
                    body: format!("Update {i}"),
                    display_name: None,
                },
            )
            .await
            .expect("staff reply");
        last = Some(p.id);
    }
    hd.accept_answer(
        &admin,
        &ids[0],
        helpdesk_app::forums::AcceptInput {
            post: last,
            version: None,
        },
    )
    .await
    .expect("accept");
    let page1 = hd.topic_view(None, &ids[0], None).await.expect("page 1");
    assert_eq!(page1.topic.reply_count, 101);
    assert_eq!(
        page1.posts.len(),
        101,
        "100 of the page and the accepted one"
    );
    assert_eq!(page1.posts[0].id, last.expect("last"));
    assert!(page1.posts[0].accepted);
    assert_eq!(page1.posts[1].body, "Update 0");
    let page2 = hd
        .topic_view(None, &ids[0], page1.next_cursor)
        .await
        .expect("page 2");
    assert!(page2.posts.is_empty(), "{:?}", page2.posts.len());

    // Topic → ticket in one transaction; the second call finds the same ticket.
    let a = hd
        .topic_to_ticket(&admin, &ids[3], "/help/community/topics/x")
        .await
        .expect("ticket");
    let b = hd
        .topic_to_ticket(&admin, &ids[3], "/help/community/topics/x")
        .await
        .expect("again");
    assert!(a.created && !b.created);
    assert_eq!(a.ticket_id, b.ticket_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forum_access_patterns_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = SqliteTable::open(dir.path().join("helpdesk.db")).expect("open");
    forum_access_patterns(Arc::new(table)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forum_access_patterns_on_dynamodb() {
    if std::env::var("HELPDESK_SKIP_AWS_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("skipping: HELPDESK_SKIP_AWS_TESTS=1");
        return;
    }
    let url = std::env::var("HELPDESK_TEST_DYNAMODB_URL").expect(
        "HELPDESK_TEST_DYNAMODB_URL is not set: run the suite with scripts/test.sh, which starts moto",
    );
    let client = connect_local(&url);
    let name = format!("forums-{}", ulid::Ulid::new().to_string().to_lowercase());
    create_table(&client, &name).await.expect("create table");
    forum_access_patterns(Arc::new(DynamoTable::new(client, name))).await;
}
