//! Self-hosted adapters: SQLite storage and the data directory's key material.

pub mod blobs;
pub mod kb_tantivy;
pub mod keyfile;
pub mod outbox;
pub mod smtp;
pub mod sqlite;

pub use kb_tantivy::TantivyKbIndex;
pub use sqlite::SqliteTable;
