//! The `Table` port on SQLite: one `items` table with the DynamoDB key layout (pk, sk, five
//! sparse GSIs as partial indexes), WAL mode, one writer connection and a few readers.

use async_trait::async_trait;
use helpdesk_app::ports::{
    decode_cursor, encode_cursor, validate_transaction, Condition, Index, IndexKey, Item, Key,
    Page, Query, SortKey, Table, TableError, WriteOp,
};
use rusqlite::{params_from_iter, Connection, OptionalExtension, TransactionBehavior};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

const READERS: usize = 4;

pub struct SqliteTable {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: std::sync::atomic::AtomicUsize,
    path: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    ver INTEGER NOT NULL DEFAULT 0,
    ttl INTEGER,
    n INTEGER,
    doc TEXT,
    gsi1pk TEXT, gsi1sk TEXT,
    gsi2pk TEXT, gsi2sk TEXT,
    gsi3pk TEXT, gsi3sk TEXT,
    gsi4pk TEXT, gsi4sk TEXT,
    gsi5pk TEXT, gsi5sk TEXT,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS gsi2 ON items (gsi2pk, gsi2sk, pk, sk) WHERE gsi2pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS gsi3 ON items (gsi3pk, gsi3sk, pk, sk) WHERE gsi3pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS gsi4 ON items (gsi4pk, gsi4sk, pk, sk) WHERE gsi4pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS gsi5 ON items (gsi5pk, gsi5sk, pk, sk) WHERE gsi5pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS ttl ON items (ttl) WHERE ttl IS NOT NULL;
";

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> TableError {
    TableError::Unavailable(Box::new(e))
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll back
    // on drop), so a poisoned lock is safe to take over.
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn open(path: &Path) -> Result<Connection, TableError> {
    let conn = Connection::open(path).map_err(unavailable)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(unavailable)?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    )
    .map_err(unavailable)?;
    Ok(conn)
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

impl SqliteTable {
    /// Opens (creating if needed) the database file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, TableError> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(unavailable)?;
        }
        let writer = open(&path)?;
        writer.execute_batch(SCHEMA).map_err(unavailable)?;
        let readers = (0..READERS)
            .map(|_| open(&path).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(readers),
            next_reader: std::sync::atomic::AtomicUsize::new(0),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, TableError> + Send + 'static,
    ) -> Result<T, TableError> {
        let readers = self.readers.clone();
        let i = self
            .next_reader
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % READERS;
        tokio::task::spawn_blocking(move || {
            let conn = lock(&readers[i]);
            f(&conn)
        })
        .await
        .map_err(unavailable)?
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, TableError> + Send + 'static,
    ) -> Result<T, TableError> {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = lock(&writer);
            f(&mut conn)
        })
        .await
        .map_err(unavailable)?
    }

    /// Deletes expired items (DynamoDB's TTL sweeper, locally). Reads hide them anyway.
    pub async fn purge_expired(&self) -> Result<usize, TableError> {
        self.write(|c| {
            c.execute(
                "DELETE FROM items WHERE ttl IS NOT NULL AND ttl <= ?1",
                [now_secs()],
            )
            .map_err(unavailable)
        })
        .await
    }
}

const COLUMNS: &str = "pk, sk, ver, ttl, doc, gsi1pk, gsi1sk, gsi2pk, gsi2sk, gsi3pk, gsi3sk, gsi4pk, gsi4sk, gsi5pk, gsi5sk, n";

fn row_to_item(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Item, TableError>> {
    let pk: String = row.get(0)?;
    let sk: String = row.get(1)?;
    let ver: i64 = row.get(2)?;
    let ttl: Option<i64> = row.get(3)?;
    let doc: Option<String> = row.get(4)?;
    let counter: Option<i64> = row.get(15)?;
    let mut indexes = BTreeMap::new();
    for index in Index::ALL {
        let base = 5 + index.position() * 2;
        let ipk: Option<String> = row.get(base)?;
        let isk: Option<String> = row.get(base + 1)?;
        if let (Some(pk), Some(sk)) = (ipk, isk) {
            indexes.insert(index, IndexKey { pk, sk });
        }
    }
    let doc = match doc {
        None => Ok(serde_json::Value::Null),
        Some(s) => {
            serde_json::from_str(&s).map_err(|e| TableError::Corrupt(format!("{pk}/{sk}: {e}")))
        }
    };
    Ok(doc.map(|doc| Item {
        key: Key { pk, sk },
        indexes,
        version: u64::try_from(ver).unwrap_or(0),
        expires_at: ttl,
        doc,
        counter,
    }))
}

fn get_item(c: &Connection, key: &Key) -> Result<Option<Item>, TableError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM items WHERE pk = ?1 AND sk = ?2 AND (ttl IS NULL OR ttl > ?3)"
    );
    c.query_row(
        &sql,
        rusqlite::params![key.pk, key.sk, now_secs()],
        row_to_item,
    )
    .optional()
    .map_err(unavailable)?
    .transpose()
}

/// The stored version of a live item, if any.
fn current_version(c: &Connection, key: &Key) -> Result<Option<u64>, TableError> {
    c.query_row(
        "SELECT ver FROM items WHERE pk = ?1 AND sk = ?2 AND (ttl IS NULL OR ttl > ?3)",
        rusqlite::params![key.pk, key.sk, now_secs()],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map(|v| v.map(|v| u64::try_from(v).unwrap_or(0)))
    .map_err(unavailable)
}

fn holds(c: &Connection, key: &Key, condition: Condition) -> Result<bool, TableError> {
    Ok(match condition {
        Condition::None => true,
        Condition::NotExists => current_version(c, key)?.is_none(),
        Condition::Exists => current_version(c, key)?.is_some(),
        Condition::VersionIs(v) => current_version(c, key)? == Some(v),
    })
}

fn put_item(c: &Connection, item: &Item) -> Result<(), TableError> {
    let doc = serde_json::to_string(&item.doc).map_err(|e| TableError::Invalid(e.to_string()))?;
    let mut values: Vec<rusqlite::types::Value> = vec![
        item.key.pk.clone().into(),
        item.key.sk.clone().into(),
        i64::try_from(item.version)
            .map_err(|_| TableError::Invalid("version out of range".into()))?
            .into(),
        item.expires_at
            .map(rusqlite::types::Value::from)
            .unwrap_or(rusqlite::types::Value::Null),
        doc.into(),
    ];
    for index in Index::ALL {
        match item.indexes.get(&index) {
            Some(k) => {
                values.push(k.pk.clone().into());
                values.push(k.sk.clone().into());
            }
            None => {
                values.push(rusqlite::types::Value::Null);
                values.push(rusqlite::types::Value::Null);
            }
        }
    }
    values.push(
        item.counter
            .map(rusqlite::types::Value::from)
            .unwrap_or(rusqlite::types::Value::Null),
    );
    // Whole-item replace, as DynamoDB PutItem (a counter the item does not carry goes too).
    let sql = format!("INSERT OR REPLACE INTO items ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
    c.execute(&sql, params_from_iter(values))
        .map_err(unavailable)?;
    Ok(())
}

fn add_to(c: &Connection, key: &Key, by: i64) -> Result<i64, TableError> {
    // An expired counter counts as absent, as in DynamoDB after the TTL sweeper ran.
    c.execute(
        "DELETE FROM items WHERE pk = ?1 AND sk = ?2 AND ttl IS NOT NULL AND ttl <= ?3",
        rusqlite::params![key.pk, key.sk, now_secs()],
    )
    .map_err(unavailable)?;
    c.query_row(
        "INSERT INTO items (pk, sk, ver, n) VALUES (?1, ?2, 0, ?3)
         ON CONFLICT (pk, sk) DO UPDATE SET n = COALESCE(n, 0) + excluded.n
         RETURNING n",
        rusqlite::params![key.pk, key.sk, by],
        |r| r.get::<_, i64>(0),
    )
    .map_err(unavailable)
}

fn apply(c: &Connection, op: &WriteOp) -> Result<(), TableError> {
    match op {
        WriteOp::Put { item, .. } => put_item(c, item),
        WriteOp::Delete { key, .. } => c
            .execute(
                "DELETE FROM items WHERE pk = ?1 AND sk = ?2",
                rusqlite::params![key.pk, key.sk],
            )
            .map(|_| ())
            .map_err(unavailable),
        WriteOp::Check { .. } => Ok(()),
        WriteOp::Add { key, by } => add_to(c, key, *by).map(|_| ()),
    }
}

fn condition_of(op: &WriteOp) -> Condition {
    match op {
        WriteOp::Put { condition, .. }
        | WriteOp::Delete { condition, .. }
        | WriteOp::Check { condition, .. } => *condition,
        WriteOp::Add { .. } => Condition::None,
    }
}

fn sort_condition(col: &str, sk: &SortKey, args: &mut Vec<String>) -> String {
    let mut arg = |v: &str| {
        args.push(v.to_string());
        format!("?{}", args.len())
    };
    match sk {
        SortKey::Any => String::new(),
        SortKey::Eq(v) => format!(" AND {col} = {}", arg(v)),
        // substr() compares exactly, where LIKE would treat % and _ as wildcards.
        SortKey::BeginsWith(v) => {
            let p = arg(v);
            format!(" AND substr({col}, 1, length({p})) = {p}")
        }
        SortKey::Between(a, b) => {
            let a = arg(a);
            let b = arg(b);
            format!(" AND {col} >= {a} AND {col} <= {b}")
        }
        SortKey::Gt(v) => format!(" AND {col} > {}", arg(v)),
        SortKey::Ge(v) => format!(" AND {col} >= {}", arg(v)),
        SortKey::Lt(v) => format!(" AND {col} < {}", arg(v)),
        SortKey::Le(v) => format!(" AND {col} <= {}", arg(v)),
    }
}

fn run_query(c: &Connection, q: &Query) -> Result<Page, TableError> {
    if q.limit == 0 || q.limit > 1000 {
        return Err(TableError::Invalid("query limit must be 1-1000".into()));
    }
    let (pk_col, sk_col) = match q.index {
        None => ("pk".to_string(), "sk".to_string()),
        Some(i) => (format!("{}pk", i.name()), format!("{}sk", i.name())),
    };
    let mut args: Vec<String> = vec![q.pk.clone()];
    let mut sql = format!("SELECT {COLUMNS} FROM items WHERE {pk_col} = ?1");
    sql.push_str(&sort_condition(&sk_col, &q.sk, &mut args));
    // Items in an index are ordered by (index sk, pk, sk), which makes the cursor exact even
    // when two items share an index sort key.
    let order_cols: Vec<String> = if q.index.is_some() {
        vec![sk_col.clone(), "pk".into(), "sk".into()]
    } else {
        vec!["sk".into()]
    };
    let cmp = if q.forward { ">" } else { "<" };
    if let Some(cursor) = &q.cursor {
        let m = decode_cursor(cursor)?;
        let mut vals = Vec::new();
        for col in &order_cols {
            vals.push(m.get(col).cloned().ok_or(TableError::InvalidCursor)?);
        }
        let placeholders: Vec<String> = vals
            .into_iter()
            .map(|v| {
                args.push(v);
                format!("?{}", args.len())
            })
            .collect();
        sql.push_str(&format!(
            " AND ({}) {cmp} ({})",
            order_cols.join(", "),
            placeholders.join(", ")
        ));
    }
    args.push(now_secs().to_string());
    sql.push_str(&format!(
        " AND (ttl IS NULL OR ttl > CAST(?{} AS INTEGER))",
        args.len()
    ));
    let dir = if q.forward { "ASC" } else { "DESC" };
    let order: Vec<String> = order_cols.iter().map(|c| format!("{c} {dir}")).collect();
    sql.push_str(&format!(
        " ORDER BY {} LIMIT {}",
        order.join(", "),
        q.limit + 1
    ));
    let mut stmt = c.prepare_cached(&sql).map_err(unavailable)?;
    let rows = stmt
        .query_map(params_from_iter(args.iter()), row_to_item)
        .map_err(unavailable)?;
    let mut items = Vec::new();
    for row in rows {
        items.push(row.map_err(unavailable)??);
    }
    let more = items.len() > q.limit;
    items.truncate(q.limit);
    let cursor = match (more, items.last()) {
        (true, Some(last)) => {
            let mut m = BTreeMap::new();
            m.insert("pk".to_string(), last.key.pk.clone());
            m.insert("sk".to_string(), last.key.sk.clone());
            if let Some(i) = q.index {
                if let Some(k) = last.indexes.get(&i) {
                    m.insert(format!("{}pk", i.name()), k.pk.clone());
                    m.insert(format!("{}sk", i.name()), k.sk.clone());
                }
            }
            Some(encode_cursor(&m))
        }
        _ => None,
    };
    Ok(Page { items, cursor })
}

#[async_trait]
impl Table for SqliteTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        let key = key.clone();
        self.read(move |c| get_item(c, &key)).await
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), TableError> {
        self.write(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            if !holds(&tx, &item.key, condition)? {
                return Err(TableError::ConditionFailed);
            }
            put_item(&tx, &item)?;
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), TableError> {
        let key = key.clone();
        self.write(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            if !holds(&tx, &key, condition)? {
                return Err(TableError::ConditionFailed);
            }
            apply(
                &tx,
                &WriteOp::Delete {
                    key: key.clone(),
                    condition,
                },
            )?;
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn query(&self, query: &Query) -> Result<Page, TableError> {
        let query = query.clone();
        self.read(move |c| run_query(c, &query)).await
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), TableError> {
        validate_transaction(&ops)?;
        self.write(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            // Check every condition first, as DynamoDB does, and report all that failed.
            let mut failed = Vec::new();
            for (i, op) in ops.iter().enumerate() {
                if !holds(&tx, op.key(), condition_of(op))? {
                    failed.push(i);
                }
            }
            if !failed.is_empty() {
                return Err(TableError::TransactionCancelled { failed });
            }
            for op in &ops {
                apply(&tx, op)?;
            }
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn add(&self, key: &Key, by: i64) -> Result<i64, TableError> {
        let key = key.clone();
        self.write(move |c| add_to(c, &key, by)).await
    }

    async fn counter(&self, key: &Key) -> Result<i64, TableError> {
        let key = key.clone();
        self.read(move |c| {
            c.query_row(
                "SELECT COALESCE(n, 0) FROM items WHERE pk = ?1 AND sk = ?2 AND (ttl IS NULL OR ttl > ?3)",
                rusqlite::params![key.pk, key.sk, now_secs()],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|v| v.unwrap_or(0))
            .map_err(unavailable)
        })
        .await
    }
}
