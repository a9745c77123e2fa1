//! The KB search conformance suite on the embedded (tantivy) index: in RAM, and once on disk.

use helpdesk_adapters::local::TantivyKbIndex;
use helpdesk_app::ports::KbIndex;
use std::sync::Arc;

fn fresh() -> Option<Arc<dyn KbIndex>> {
    Some(Arc::new(TantivyKbIndex::in_memory().expect("index")))
}

helpdesk_tests::kb_search_conformance_tests!(fresh());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_disk_index_survives_reopening() {
    use helpdesk_tests::kb_search::{doc, query};
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let index = TantivyKbIndex::open(dir.path()).expect("open");
        index
            .upsert(vec![doc("d1", "Durable search index", "Kept on disk.")])
            .await
            .expect("upsert");
    }
    let index = TantivyKbIndex::open(dir.path()).expect("reopen");
    let q = query("durable", &[helpdesk_domain::Audience::Customers]);
    let hits = index.search(&q).await.expect("search");
    assert_eq!(hits.len(), 1);
    // A second handle on the same directory (a CLI beside the server) can search; the writer
    // lock is only taken on the first write.
    let other = TantivyKbIndex::open(dir.path()).expect("second handle");
    assert_eq!(other.search(&q).await.expect("search").len(), 1);
}

/// The API Lambda's choice of engine, and its embedded mode: the index is rebuilt from storage
/// on the first search, then kept (and updated in place) until it is older than the maximum age.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_embedded_mode_rebuilds_from_storage_then_serves_updates() {
    use helpdesk_tests::kb_search::{doc, query};
    let dir = tempfile::tempdir().expect("tempdir");
    let helpdesk = || {
        let table =
            helpdesk_adapters::local::SqliteTable::open(dir.path().join("h.db")).expect("db");
        helpdesk_app::Helpdesk::new(
            Arc::new(table),
            Arc::new(helpdesk_app::SystemClock),
            Arc::new(helpdesk_app::UlidGen::default()),
        )
    };
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    use helpdesk_compose::settings::KbSearch;
    use helpdesk_compose::{Capability, Settings};
    let err =
        Settings::from_env(env(&[("HELPDESK_KB_SEARCH", "elastic")])).expect_err("unknown engine");
    assert!(err.to_string().contains("opensearch or embedded"), "{err}");
    let err = Settings::from_env(env(&[]))
        .expect("settings")
        .require(&[Capability::KbSearch])
        .expect_err("opensearch is the default and needs an endpoint");
    assert!(
        err.to_string().contains("HELPDESK_OPENSEARCH_ENDPOINT"),
        "{err}"
    );

    let settings = Settings::from_env(env(&[("HELPDESK_KB_SEARCH", "embedded")])).expect("s");
    let KbSearch::Embedded { max_age } = settings.kb else {
        panic!("embedded: {:?}", settings.kb)
    };
    let h = helpdesk_compose::kb::with_rebuilt_index(helpdesk(), max_age).expect("embedded");
    let index = h.kb_index().expect("an index").clone();
    let q = query("lighthouse", &[helpdesk_domain::Audience::Customers]);
    // First search: rebuilt from the (empty) store.
    assert!(index.search(&q).await.expect("search").is_empty());
    // A publish on this instance shows at once and survives until the maximum age.
    index
        .upsert(vec![doc("a1", "Lighthouse opening hours", "Daily.")])
        .await
        .expect("upsert");
    assert_eq!(index.search(&q).await.expect("search").len(), 1);
}
