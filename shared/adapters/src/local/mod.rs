//! Self-hosted adapters: SQLite storage and the data directory's key material.

pub mod blobs;
pub mod keyfile;
pub mod outbox;
pub mod queue;
pub mod smtp;
pub mod sqlite;

pub use sqlite::SqliteTable;
