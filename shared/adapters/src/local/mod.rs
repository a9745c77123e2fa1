//! Self-hosted adapters: SQLite storage and the data directory's key material.

//!
//! The embedded search index (`kb_tantivy`) is also used by the API Lambda when
//! `KbSearch=embedded`, so it has a feature of its own (`kb-embedded`, part of `local`).

#[cfg(feature = "local")]
pub mod blobs;
#[cfg(feature = "kb-embedded")]
pub mod kb_tantivy;
#[cfg(feature = "local")]
pub mod keyfile;
#[cfg(feature = "local")]
pub mod outbox;
#[cfg(feature = "local")]
pub mod queue;
#[cfg(feature = "local")]
pub mod smtp;
#[cfg(feature = "local")]
pub mod smtp_relay;
#[cfg(feature = "local")]
pub mod sqlite;

#[cfg(feature = "kb-embedded")]
pub use kb_tantivy::TantivyKbIndex;
#[cfg(feature = "local")]
pub use sqlite::SqliteTable;
