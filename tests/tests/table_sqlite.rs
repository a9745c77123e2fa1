//! The Table conformance suite on SQLite (always runs).

use helpdesk_adapters::local::SqliteTable;
use helpdesk_app::ports::Table;
use std::sync::Arc;

fn fresh() -> Option<Arc<dyn Table>> {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = SqliteTable::open(dir.path().join("helpdesk.db")).expect("open");
    // Keep the directory for the test's lifetime: the process exits right after.
    std::mem::forget(dir);
    Some(Arc::new(table))
}

helpdesk_tests::table_conformance_tests!(fresh());
