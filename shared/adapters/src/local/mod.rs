//! Self-hosted adapters: SQLite storage and the data directory's key material.

pub mod keyfile;
pub mod outbox;
pub mod sqlite;

pub use sqlite::SqliteTable;
