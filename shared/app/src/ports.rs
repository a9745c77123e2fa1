//! Ports: the only ways the application touches the world.

use async_trait::async_trait;
use base64::Engine;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// Secondary indexes of the single table. Sparse: an item is in an index only when it carries
/// that index's keys. The same five serve every entity; `keys.rs` says which entity uses which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Index {
    Gsi1,
    Gsi2,
    Gsi3,
    Gsi4,
    Gsi5,
}

impl Index {
    pub const ALL: [Index; 5] = [
        Index::Gsi1,
        Index::Gsi2,
        Index::Gsi3,
        Index::Gsi4,
        Index::Gsi5,
    ];

    /// Name of the index and the prefix of its key attributes (`gsi1pk`, `gsi1sk`).
    pub fn name(&self) -> &'static str {
        match self {
            Index::Gsi1 => "gsi1",
            Index::Gsi2 => "gsi2",
            Index::Gsi3 => "gsi3",
            Index::Gsi4 => "gsi4",
            Index::Gsi5 => "gsi5",
        }
    }

    pub fn position(&self) -> usize {
        *self as usize
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKey {
    pub pk: String,
    pub sk: String,
}

/// One stored item: keys, version, optional expiry, and the entity as a JSON document.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub key: Key,
    pub indexes: BTreeMap<Index, IndexKey>,
    /// Optimistic-concurrency version; conditional writes compare it.
    pub version: u64,
    /// Unix seconds after which the item is gone (DynamoDB TTL; reads hide expired items).
    pub expires_at: Option<i64>,
    pub doc: Value,
    /// The atomic counter attribute (`WriteOp::Add`, `Table::add`); `None` on items that were
    /// never counted. Lets one query read a whole partition of counters (dashboards).
    pub counter: Option<i64>,
}

impl Item {
    pub fn new(key: Key, version: u64, doc: Value) -> Self {
        Self {
            key,
            indexes: BTreeMap::new(),
            version,
            expires_at: None,
            doc,
            counter: None,
        }
    }

    pub fn with_index(
        mut self,
        index: Index,
        pk: impl Into<String>,
        sk: impl Into<String>,
    ) -> Self {
        self.indexes.insert(
            index,
            IndexKey {
                pk: pk.into(),
                sk: sk.into(),
            },
        );
        self
    }

    pub fn expiring_at(mut self, unix_seconds: i64) -> Self {
        self.expires_at = Some(unix_seconds);
        self
    }
}

/// A precondition on the item a write targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    None,
    /// Create only: fails if an item with this key exists.
    NotExists,
    Exists,
    /// Fails unless the stored item exists with exactly this version.
    VersionIs(u64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    Put {
        item: Item,
        condition: Condition,
    },
    Delete {
        key: Key,
        condition: Condition,
    },
    /// Asserts a condition without writing (e.g. "the department still exists").
    Check {
        key: Key,
        condition: Condition,
    },
    /// Atomic add to the counter attribute of `key` (created at 0 when missing).
    Add {
        key: Key,
        by: i64,
    },
}

impl WriteOp {
    pub fn key(&self) -> &Key {
        match self {
            WriteOp::Put { item, .. } => &item.key,
            WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } | WriteOp::Add { key, .. } => {
                key
            }
        }
    }
}

/// Condition on the sort key of a query (the table's or an index's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    Any,
    Eq(String),
    BeginsWith(String),
    /// Inclusive on both ends.
    Between(String, String),
    Gt(String),
    Ge(String),
    Lt(String),
    Le(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub index: Option<Index>,
    pub pk: String,
    pub sk: SortKey,
    /// true = ascending by sort key.
    pub forward: bool,
    pub limit: usize,
    /// Opaque cursor from a previous `Page` of the same query.
    pub cursor: Option<String>,
}

impl Query {
    pub fn partition(index: Option<Index>, pk: impl Into<String>) -> Self {
        Self {
            index,
            pk: pk.into(),
            sk: SortKey::Any,
            forward: true,
            limit: 100,
            cursor: None,
        }
    }

    pub fn sk(mut self, sk: SortKey) -> Self {
        self.sk = sk;
        self
    }

    pub fn forward(mut self, forward: bool) -> Self {
        self.forward = forward;
        self
    }

    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    pub fn cursor(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }
}

/// One page of a query. A page may hold fewer than `limit` items and still have a cursor
/// (DynamoDB semantics); only `cursor == None` means the end.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    pub items: Vec<Item>,
    pub cursor: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A single write's condition did not hold.
    #[error("condition failed")]
    ConditionFailed,
    /// A transaction was cancelled; `failed` lists the positions of the operations whose
    /// condition did not hold (empty when the engine cannot tell, e.g. a concurrent transaction).
    #[error("transaction cancelled (failed operations: {failed:?})")]
    TransactionCancelled { failed: Vec<usize> },
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("invalid request to storage: {0}")]
    Invalid(String),
    #[error("stored item is corrupt: {0}")]
    Corrupt(String),
    #[error("storage unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The narrow storage port. DynamoDB and SQLite implement it with the same key design, and one
/// conformance suite (`tests/`) holds both to the same behaviour.
#[async_trait]
pub trait Table: Send + Sync {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError>;
    async fn put(&self, item: Item, condition: Condition) -> Result<(), TableError>;
    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), TableError>;
    async fn query(&self, query: &Query) -> Result<Page, TableError>;
    /// All or nothing. At most 100 operations, each on a distinct key.
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), TableError>;
    /// Atomic add; returns the new value.
    async fn add(&self, key: &Key, by: i64) -> Result<i64, TableError>;
    /// Current value of a counter (0 when missing).
    async fn counter(&self, key: &Key) -> Result<i64, TableError>;
}

pub const MAX_TRANSACTION_OPS: usize = 100;

/// Checks the rules every engine enforces the same way before a transaction runs.
pub fn validate_transaction(ops: &[WriteOp]) -> Result<(), TableError> {
    if ops.is_empty() {
        return Err(TableError::Invalid("empty transaction".into()));
    }
    if ops.len() > MAX_TRANSACTION_OPS {
        return Err(TableError::Invalid(format!(
            "a transaction holds at most {MAX_TRANSACTION_OPS} operations"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for op in ops {
        if !seen.insert(op.key()) {
            return Err(TableError::Invalid(format!(
                "two operations on the same key {}/{}",
                op.key().pk,
                op.key().sk
            )));
        }
    }
    Ok(())
}

/// Cursors are the last evaluated key, as a JSON object of string attributes, base64url-coded.
/// Both engines use this one format, so a cursor is opaque to clients but inspectable in logs.
pub fn encode_cursor(attrs: &BTreeMap<String, String>) -> String {
    let map: Map<String, Value> = attrs
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Value::Object(map).to_string())
}

pub fn decode_cursor(cursor: &str) -> Result<BTreeMap<String, String>, TableError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| TableError::InvalidCursor)?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| TableError::InvalidCursor)?;
    let Value::Object(map) = value else {
        return Err(TableError::InvalidCursor);
    };
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            _ => Err(TableError::InvalidCursor),
        })
        .collect()
}

/// Wall-clock time, a port so that tests and `--now` runs can fix it.
pub trait Clock: Send + Sync {
    fn now(&self) -> helpdesk_domain::Timestamp;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> helpdesk_domain::Timestamp {
        chrono::Utc::now()
    }
}

/// Fresh identifiers (ULIDs, so ids sort by creation time).
pub trait IdGen: Send + Sync {
    fn ulid(&self) -> ulid::Ulid;
}

/// Monotonic within a process: two ids made in the same millisecond still sort in order.
pub struct UlidGen(std::sync::Mutex<ulid::Generator>);

impl Default for UlidGen {
    fn default() -> Self {
        Self(std::sync::Mutex::new(ulid::Generator::new()))
    }
}

impl IdGen for UlidGen {
    fn ulid(&self) -> ulid::Ulid {
        let mut generator = match self.0.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        generator.generate().unwrap_or_else(|_| ulid::Ulid::new())
    }
}

impl fmt::Debug for dyn Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Table")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_garbage() {
        let mut m = BTreeMap::new();
        m.insert("pk".to_string(), "T#1".to_string());
        m.insert("sk".to_string(), "M#2".to_string());
        let c = encode_cursor(&m);
        assert_eq!(decode_cursor(&c).expect("ok"), m);
        for bad in ["", "!!!", "bnVsbA", "WzFd"] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn transactions_refuse_duplicate_keys() {
        let k = Key::new("a", "b");
        let ops = vec![
            WriteOp::Add {
                key: k.clone(),
                by: 1,
            },
            WriteOp::Check {
                key: k,
                condition: Condition::Exists,
            },
        ];
        assert!(validate_transaction(&ops).is_err());
        assert!(validate_transaction(&[]).is_err());
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The token or code is not acceptable (bad signature, wrong audience, expired, reused).
    #[error("rejected: {0}")]
    Rejected(String),
    #[error("identity provider unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// An OpenID Connect provider for the console's sign-in (Cognito's hosted UI in AWS).
#[async_trait]
pub trait IdentityProvider: Send + Sync {
    /// Where to send the browser to sign in (authorization code flow with PKCE).
    fn authorize_url(&self, state: &str, code_challenge: &str, redirect_uri: &str) -> String;
    /// Exchanges an authorization code (with its PKCE verifier) for an ID token.
    async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<String, IdentityError>;
    /// Verifies an ID token (signature, issuer, audience, expiry) and returns its claims.
    async fn verify_id_token(&self, token: &str) -> Result<Map<String, Value>, IdentityError>;
}

// ---------------------------------------------------------------------------------------------
// Knowledge-base search.

/// One published article version as the search index sees it. Only published versions are
/// ever indexed; `audiences` decides who may find it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KbDocument {
    pub article_id: String,
    /// BCP 47-ish language tag of this translation (`en`, `de`, `pt-BR`); one document per
    /// article and locale.
    pub locale: String,
    /// The article version this document was built from (indexing is idempotent by it).
    pub version: u64,
    pub title: String,
    pub summary: String,
    /// Plain text of the rendered Markdown body (no markup).
    pub body: String,
    pub tags: Vec<String>,
    /// Topic path, most general first (`["Billing", "Refunds"]`).
    pub topic: Vec<String>,
    pub audiences: Vec<helpdesk_domain::Audience>,
    pub updated_at: helpdesk_domain::Timestamp,
}

/// A search: free text, restricted to what the caller may read.
#[derive(Debug, Clone, PartialEq)]
pub struct KbQuery {
    pub text: String,
    /// The caller's audiences; a document matches only if it shares one. Never empty in
    /// practice: an empty list matches nothing.
    pub audiences: Vec<helpdesk_domain::Audience>,
    /// Restrict to one locale; `None` searches every locale.
    pub locale: Option<String>,
    /// Restrict to a topic and its sub-topics (prefix of `KbDocument::topic`).
    pub topic: Option<Vec<String>>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KbHit {
    pub article_id: String,
    pub locale: String,
    pub version: u64,
    pub title: String,
    /// Relevance; comparable within one result list only.
    pub score: f32,
    /// A short extract around the matches, HTML-escaped, matches wrapped in `<mark>`.
    pub snippet: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KbIndexError {
    #[error("search index unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("bad search query: {0}")]
    BadQuery(String),
}

/// The knowledge-base search index: an embedded index (tantivy) in the self-hosted binary,
/// OpenSearch in AWS. Every method is idempotent so at-least-once indexing events are safe.
#[async_trait]
pub trait KbIndex: Send + Sync {
    /// Adds or replaces documents (by article id and locale). A document whose `version` is
    /// older than the indexed one is ignored.
    async fn upsert(&self, docs: Vec<KbDocument>) -> Result<(), KbIndexError>;
    /// Removes one translation of an article (unpublished or archived). Absent is not an error.
    async fn remove(&self, article_id: &str, locale: &str) -> Result<(), KbIndexError>;
    /// Ranked hits, best first, at most `query.limit`.
    async fn search(&self, query: &KbQuery) -> Result<Vec<KbHit>, KbIndexError>;
    /// Empties the index (before a rebuild from storage).
    async fn clear(&self) -> Result<(), KbIndexError>;
}

// ---------------------------------------------------------------------------------------------
// Ticket categorisation.

/// The classifier's best guess for a ticket's category.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Classification {
    pub category: String,
    /// Calibrated-ish probability of `category` in 0..=1; the routing pipeline compares it with
    /// its threshold and flags the ticket "needs triage" below it.
    pub confidence: f32,
    /// Which model answered (e.g. `linear-v3` with its training timestamp), for the audit.
    pub model: String,
}

/// AI categorisation: an in-process trainable model by default, a hosted model optionally.
#[async_trait]
pub trait Classifier: Send + Sync {
    /// `None` when no model is trained yet (every ticket then needs triage).
    async fn classify(
        &self,
        subject: &str,
        body: &str,
    ) -> Result<Option<Classification>, crate::AppError>;
}
