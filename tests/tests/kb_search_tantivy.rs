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
