//! The `Table` port conformance suite: one set of behaviours every storage engine must have.
//!
//! Run by `tests/table_sqlite.rs` (always) and `tests/table_dynamodb.rs` (against a moto server
//! whose URL the test script exports as `HELPDESK_TEST_DYNAMODB_URL`). Each check takes a fresh,
//! empty table and a unique prefix so runs never interfere.

use helpdesk_app::ports::{
    Condition, Index, Item, Key, Query, SortKey, Table, TableError, WriteOp,
};
use serde_json::json;
use std::sync::Arc;

fn item(pk: &str, sk: &str, version: u64) -> Item {
    Item::new(
        Key::new(pk, sk),
        version,
        json!({ "pk": pk, "sk": sk, "v": version }),
    )
}

async fn all_pages(table: &dyn Table, mut q: Query) -> (Vec<Item>, usize) {
    let mut out = Vec::new();
    let mut pages = 0;
    loop {
        let page = table.query(&q).await.expect("query");
        pages += 1;
        assert!(
            page.items.len() <= q.limit,
            "a page never exceeds its limit"
        );
        out.extend(page.items);
        match page.cursor {
            Some(c) => q.cursor = Some(c),
            None => return (out, pages),
        }
        assert!(pages < 1000, "pagination must terminate");
    }
}

pub async fn get_put_round_trip(t: Arc<dyn Table>) {
    let k = Key::new("P#rt", "S#1");
    assert!(t.get(&k).await.expect("get").is_none());
    let it = item("P#rt", "S#1", 1)
        .with_index(Index::Gsi1, "G#rt", "a")
        .with_index(Index::Gsi5, "G5#rt", "z");
    t.put(it.clone(), Condition::None).await.expect("put");
    let got = t.get(&k).await.expect("get").expect("present");
    assert_eq!(got, it, "item reads back exactly, index keys included");
    // Replacing drops index keys the new item does not carry (sparse indexes).
    t.put(item("P#rt", "S#1", 2), Condition::None)
        .await
        .expect("replace");
    let got = t.get(&k).await.expect("get").expect("present");
    assert!(got.indexes.is_empty());
    assert_eq!(got.version, 2);
    let (in_index, _) = all_pages(t.as_ref(), Query::partition(Some(Index::Gsi1), "G#rt")).await;
    assert!(in_index.is_empty(), "replaced item left the index");
}

pub async fn conditional_writes(t: Arc<dyn Table>) {
    let k = Key::new("P#cond", "S");
    t.put(item("P#cond", "S", 1), Condition::NotExists)
        .await
        .expect("create");
    assert!(matches!(
        t.put(item("P#cond", "S", 1), Condition::NotExists).await,
        Err(TableError::ConditionFailed)
    ));
    // Stale version: refused, and the stored item is untouched.
    assert!(matches!(
        t.put(item("P#cond", "S", 3), Condition::VersionIs(2)).await,
        Err(TableError::ConditionFailed)
    ));
    assert_eq!(t.get(&k).await.expect("get").expect("present").version, 1);
    t.put(item("P#cond", "S", 2), Condition::VersionIs(1))
        .await
        .expect("fresh version wins");
    assert!(matches!(
        t.put(item("P#none", "S", 1), Condition::Exists).await,
        Err(TableError::ConditionFailed)
    ));
    assert!(matches!(
        t.put(item("P#none", "S", 1), Condition::VersionIs(0)).await,
        Err(TableError::ConditionFailed)
    ));
    assert!(matches!(
        t.delete(&k, Condition::VersionIs(1)).await,
        Err(TableError::ConditionFailed)
    ));
    t.delete(&k, Condition::VersionIs(2)).await.expect("delete");
    assert!(t.get(&k).await.expect("get").is_none());
    assert!(matches!(
        t.delete(&k, Condition::Exists).await,
        Err(TableError::ConditionFailed)
    ));
    t.delete(&k, Condition::None)
        .await
        .expect("deleting nothing is fine without a condition");
}

pub async fn transactions_are_all_or_nothing(t: Arc<dyn Table>) {
    t.put(item("P#tx", "existing", 5), Condition::None)
        .await
        .expect("seed");
    let ops = vec![
        WriteOp::Put {
            item: item("P#tx", "a", 1),
            condition: Condition::NotExists,
        },
        WriteOp::Add {
            key: Key::new("P#tx", "ctr"),
            by: 3,
        },
        WriteOp::Put {
            item: item("P#tx", "existing", 6),
            condition: Condition::VersionIs(4),
        },
        WriteOp::Check {
            key: Key::new("P#tx", "missing"),
            condition: Condition::Exists,
        },
    ];
    match t.transact(ops).await {
        Err(TableError::TransactionCancelled { failed }) => {
            assert_eq!(failed, vec![2, 3], "names the failed operations")
        }
        other => panic!("expected a cancelled transaction, got {other:?}"),
    }
    assert!(
        t.get(&Key::new("P#tx", "a")).await.expect("get").is_none(),
        "nothing written"
    );
    assert_eq!(
        t.counter(&Key::new("P#tx", "ctr")).await.expect("counter"),
        0,
        "counter untouched"
    );
    assert_eq!(
        t.get(&Key::new("P#tx", "existing"))
            .await
            .expect("get")
            .expect("present")
            .version,
        5
    );

    let ops = vec![
        WriteOp::Put {
            item: item("P#tx", "a", 1),
            condition: Condition::NotExists,
        },
        WriteOp::Add {
            key: Key::new("P#tx", "ctr"),
            by: 3,
        },
        WriteOp::Put {
            item: item("P#tx", "existing", 6),
            condition: Condition::VersionIs(5),
        },
        WriteOp::Check {
            key: Key::new("P#tx", "a2"),
            condition: Condition::NotExists,
        },
        WriteOp::Delete {
            key: Key::new("P#tx", "gone"),
            condition: Condition::None,
        },
    ];
    t.transact(ops).await.expect("commit");
    assert!(t.get(&Key::new("P#tx", "a")).await.expect("get").is_some());
    assert_eq!(
        t.counter(&Key::new("P#tx", "ctr")).await.expect("counter"),
        3
    );
    assert_eq!(
        t.get(&Key::new("P#tx", "existing"))
            .await
            .expect("get")
            .expect("present")
            .version,
        6
    );

    // Two operations on one key are refused before anything runs.
    let dup = vec![
        WriteOp::Put {
            item: item("P#tx", "d", 1),
            condition: Condition::None,
        },
        WriteOp::Delete {
            key: Key::new("P#tx", "d"),
            condition: Condition::None,
        },
    ];
    assert!(matches!(t.transact(dup).await, Err(TableError::Invalid(_))));
}

pub async fn counters(t: Arc<dyn Table>) {
    let k = Key::new("CTR#conf", "CTR");
    assert_eq!(t.counter(&k).await.expect("counter"), 0);
    assert_eq!(t.add(&k, 1).await.expect("add"), 1);
    assert_eq!(t.add(&k, 41).await.expect("add"), 42);
    assert_eq!(t.add(&k, -2).await.expect("add"), 40);
    assert_eq!(t.counter(&k).await.expect("counter"), 40);
    // Concurrent adds never lose an increment.
    let adds = (0..20).map(|_| {
        let t = t.clone();
        let k = k.clone();
        async move { t.add(&k, 1).await.expect("add") }
    });
    let mut seen = futures::future::join_all(adds).await;
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 20, "every add returned a distinct value");
    assert_eq!(t.counter(&k).await.expect("counter"), 60);

    // A partition of counters reads back in one query, values included.
    t.transact(vec![
        WriteOp::Add {
            key: Key::new("STATS#conf", "2026-01-01#created"),
            by: 3,
        },
        WriteOp::Add {
            key: Key::new("STATS#conf", "2026-01-02#created"),
            by: 5,
        },
    ])
    .await
    .expect("adds");
    t.add(&Key::new("STATS#conf", "2026-01-02#created"), -1)
        .await
        .expect("add");
    let (items, _) = all_pages(t.as_ref(), Query::partition(None, "STATS#conf")).await;
    let values: Vec<_> = items
        .iter()
        .map(|i| (i.key.sk.as_str(), i.counter))
        .collect();
    assert_eq!(
        values,
        vec![
            ("2026-01-01#created", Some(3)),
            ("2026-01-02#created", Some(4))
        ]
    );
    // Ordinary items carry no counter, and a put keeps the one it is given.
    t.put(item("STATS#conf", "plain", 1), Condition::None)
        .await
        .expect("put");
    assert_eq!(
        t.get(&Key::new("STATS#conf", "plain"))
            .await
            .expect("get")
            .expect("item")
            .counter,
        None
    );
}

pub async fn query_order_and_pagination(t: Arc<dyn Table>) {
    for i in 0..7 {
        t.put(item("P#page", &format!("M#{i:03}"), 1), Condition::None)
            .await
            .expect("put");
    }
    t.put(item("P#page", "#META", 1), Condition::None)
        .await
        .expect("put");
    t.put(item("P#other", "M#000", 1), Condition::None)
        .await
        .expect("put");

    let q = Query::partition(None, "P#page")
        .sk(SortKey::BeginsWith("M#".into()))
        .limit(2);
    let (items, pages) = all_pages(t.as_ref(), q.clone()).await;
    let sks: Vec<_> = items.iter().map(|i| i.key.sk.clone()).collect();
    assert_eq!(
        sks,
        (0..7).map(|i| format!("M#{i:03}")).collect::<Vec<_>>(),
        "ascending, no gaps, no repeats"
    );
    assert!(pages >= 4, "7 items at 2 a page take at least 4 pages");

    let (items, _) = all_pages(t.as_ref(), q.clone().forward(false)).await;
    let sks: Vec<_> = items.iter().map(|i| i.key.sk.clone()).collect();
    assert_eq!(
        sks,
        (0..7)
            .rev()
            .map(|i| format!("M#{i:03}"))
            .collect::<Vec<_>>(),
        "descending"
    );

    let between =
        Query::partition(None, "P#page").sk(SortKey::Between("M#002".into(), "M#004".into()));
    let (items, _) = all_pages(t.as_ref(), between).await;
    assert_eq!(items.len(), 3, "between is inclusive");
    let gt = Query::partition(None, "P#page").sk(SortKey::Gt("M#005".into()));
    assert_eq!(all_pages(t.as_ref(), gt).await.0.len(), 1);
    let ge = Query::partition(None, "P#page").sk(SortKey::Ge("M#005".into()));
    assert_eq!(all_pages(t.as_ref(), ge).await.0.len(), 2);
    let lt = Query::partition(None, "P#page").sk(SortKey::Lt("M#001".into()));
    assert_eq!(
        all_pages(t.as_ref(), lt).await.0.len(),
        2,
        "#META and M#000"
    );
    let le = Query::partition(None, "P#page").sk(SortKey::Le("M#001".into()));
    assert_eq!(all_pages(t.as_ref(), le).await.0.len(), 3);
    let eq = Query::partition(None, "P#page").sk(SortKey::Eq("M#003".into()));
    assert_eq!(all_pages(t.as_ref(), eq).await.0.len(), 1);
    let (everything, _) = all_pages(t.as_ref(), Query::partition(None, "P#page")).await;
    assert_eq!(everything.len(), 8, "only its own partition");
    // begins_with is literal: '%' and '_' are not wildcards.
    t.put(item("P#page", "M_%", 1), Condition::None)
        .await
        .expect("put");
    let literal = Query::partition(None, "P#page").sk(SortKey::BeginsWith("M_".into()));
    assert_eq!(all_pages(t.as_ref(), literal).await.0.len(), 1);

    assert!(matches!(
        t.query(&Query::partition(None, "P#page").cursor(Some("not a cursor".into())))
            .await,
        Err(TableError::InvalidCursor)
    ));
}

pub async fn secondary_indexes(t: Arc<dyn Table>) {
    // Three items share one index sort key: the cursor must still be exact.
    let rows = [
        ("T#1", "o#1#a"),
        ("T#2", "o#1#b"),
        ("T#3", "d#0#c"),
        ("T#4", "o#0#d"),
        ("T#5", "o#1#b"),
        ("T#6", "o#1#b"),
    ];
    for (pk, isk) in rows {
        let it = item(pk, "#TICKET", 1)
            .with_index(Index::Gsi2, "TA#ana", isk)
            .with_index(Index::Gsi4, "TD#x", isk);
        t.put(it, Condition::None).await.expect("put");
    }
    t.put(
        item("T#7", "#TICKET", 1).with_index(Index::Gsi2, "TA#bob", "o#0#z"),
        Condition::None,
    )
    .await
    .expect("put");
    t.put(item("T#8", "#TICKET", 1), Condition::None)
        .await
        .expect("not in any index");

    let q = Query::partition(Some(Index::Gsi2), "TA#ana")
        .sk(SortKey::BeginsWith("o#".into()))
        .limit(2);
    let (items, _) = all_pages(t.as_ref(), q.clone()).await;
    let pks: Vec<_> = items.iter().map(|i| i.key.pk.as_str()).collect();
    assert_eq!(pks.len(), 5, "every open item once: {pks:?}");
    assert_eq!(pks[0], "T#4");
    assert_eq!(pks[1], "T#1");
    let mut tied: Vec<_> = pks[2..].to_vec();
    tied.sort_unstable();
    assert_eq!(tied, vec!["T#2", "T#5", "T#6"], "ties all returned once");
    for it in &items {
        assert!(
            it.indexes.contains_key(&Index::Gsi2),
            "index keys are returned with items"
        );
    }
    let (rev, _) = all_pages(t.as_ref(), q.forward(false)).await;
    assert_eq!(
        rev.first().map(|i| i.key.pk.as_str()),
        Some(pks[4]),
        "descending reverses"
    );
    assert_eq!(rev.len(), 5);

    let between =
        Query::partition(Some(Index::Gsi4), "TD#x").sk(SortKey::Between("d#".into(), "d#~".into()));
    assert_eq!(all_pages(t.as_ref(), between).await.0.len(), 1);
    let (bob, _) = all_pages(t.as_ref(), Query::partition(Some(Index::Gsi2), "TA#bob")).await;
    assert_eq!(bob.len(), 1);
    let (none, _) = all_pages(t.as_ref(), Query::partition(Some(Index::Gsi3), "TA#ana")).await;
    assert!(none.is_empty(), "indexes are separate");

    // Moving an item between index partitions (e.g. reassigning a ticket).
    let moved = item("T#1", "#TICKET", 2).with_index(Index::Gsi2, "TA#bob", "o#1#a");
    t.put(moved, Condition::VersionIs(1)).await.expect("move");
    assert_eq!(
        all_pages(t.as_ref(), Query::partition(Some(Index::Gsi2), "TA#bob"))
            .await
            .0
            .len(),
        2
    );
    assert_eq!(
        all_pages(t.as_ref(), Query::partition(Some(Index::Gsi2), "TA#ana"))
            .await
            .0
            .len(),
        5
    );
}

pub async fn expired_items_are_invisible(t: Arc<dyn Table>) {
    let past = chrono_now() - 60;
    let future = chrono_now() + 3600;
    t.put(item("P#ttl", "old", 1).expiring_at(past), Condition::None)
        .await
        .expect("put");
    t.put(item("P#ttl", "new", 1).expiring_at(future), Condition::None)
        .await
        .expect("put");
    assert!(t
        .get(&Key::new("P#ttl", "old"))
        .await
        .expect("get")
        .is_none());
    let got = t
        .get(&Key::new("P#ttl", "new"))
        .await
        .expect("get")
        .expect("live");
    assert_eq!(got.expires_at, Some(future));
    let (items, _) = all_pages(t.as_ref(), Query::partition(None, "P#ttl")).await;
    assert_eq!(items.len(), 1);
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Declares one test per check. `$make` is an expression (it may `.await`) giving
/// `Option<Arc<dyn Table>>`: a fresh table, or `None` when the engine is knowingly skipped.
#[macro_export]
macro_rules! table_conformance_tests {
    ($make:expr) => {
        $crate::table_conformance_tests!(@each $make;
            get_put_round_trip,
            conditional_writes,
            transactions_are_all_or_nothing,
            counters,
            query_order_and_pagination,
            secondary_indexes,
            expired_items_are_invisible);
    };
    (@each $make:expr; $($name:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            if let Some(table) = $make {
                $crate::conformance::$name(table).await
            }
        }
    )*};
}
