//! The durable queue of the self-hosted binary: a `queue_messages` table in the same SQLite file
//! as the items, with SQS's semantics (receive with a visibility timeout, a receive count, retry
//! with backoff, dead-lettering after `max_receives`). Rows stay until a consumer deletes them,
//! so a restart loses nothing: a message received by a worker that died becomes visible again
//! when its lease runs out.
//!
//! Own table rather than items behind the `Table` port: receiving needs an atomic "claim the
//! oldest visible rows" that the key-value port does not offer, and in AWS this role is SQS's,
//! not DynamoDB's.

use async_trait::async_trait;
use helpdesk_app::helpcentre::{SignInQueue, SignInRequest};
use helpdesk_app::queue::{
    parse_queue_message, parse_routing_event, sign_in_message_body, DeadLetter, QueueError,
    QueueMessage, RoutingQueue,
};
use helpdesk_app::routing::RoutingEvent;
use helpdesk_app::Helpdesk;
use rusqlite::{params, Connection, TransactionBehavior};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    visible_at INTEGER NOT NULL,
    enqueued_at INTEGER NOT NULL,
    last_error TEXT,
    dead_at INTEGER
);
CREATE INDEX IF NOT EXISTS queue_ready ON queue_messages (queue, visible_at, id) WHERE dead_at IS NULL;
CREATE INDEX IF NOT EXISTS queue_dead ON queue_messages (queue, dead_at, id) WHERE dead_at IS NOT NULL;
";

/// The routing queue's name in the table (other consumers can share the table under theirs).
pub const ROUTING: &str = "routing";
/// The help centre's sign-in requests (own queue and worker, so they do not wait behind
/// routing, and run even where the routing worker is off).
pub const SIGN_IN: &str = "signin";

#[derive(Debug, Clone, Copy)]
pub struct QueueSettings {
    /// How long a received message stays invisible to other receivers (SQS visibility timeout).
    pub visibility: Duration,
    /// Receives after which a failing message is dead-lettered (SQS maxReceiveCount).
    pub max_receives: u32,
    /// First retry delay; doubles per attempt up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            visibility: Duration::from_secs(60),
            max_receives: 5,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(300),
        }
    }
}

/// One received message. Deleting or failing it needs the receive it came from (`attempts`),
/// so a worker whose lease ran out cannot delete a later receiver's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub id: i64,
    pub body: String,
    /// Receives so far, this one included.
    pub attempts: u32,
}

pub struct SqliteQueue {
    conn: Arc<Mutex<Connection>>,
    name: String,
    settings: QueueSettings,
    /// Wakes the worker when something is enqueued in this process.
    notify: Arc<tokio::sync::Notify>,
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> QueueError {
    QueueError::Unavailable(Box::new(e))
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // SQLite rolls a half-done transaction back on drop, so a poisoned lock is safe to reuse.
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn to_time(ms: Option<i64>) -> Option<chrono::DateTime<chrono::Utc>> {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl SqliteQueue {
    /// Opens the queue `name` in the database file at `path` (created if needed).
    pub fn open(
        path: impl AsRef<Path>,
        name: &str,
        settings: QueueSettings,
    ) -> Result<Self, QueueError> {
        let conn = Connection::open(path.as_ref()).map_err(unavailable)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(unavailable)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
            .map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            name: name.to_string(),
            settings,
            notify: Arc::new(tokio::sync::Notify::new()),
        })
    }

    pub fn settings(&self) -> QueueSettings {
        self.settings
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, &str, &QueueSettings) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        let conn = self.conn.clone();
        let name = self.name.clone();
        let settings = self.settings;
        tokio::task::spawn_blocking(move || {
            let mut c = lock(&conn);
            f(&mut c, &name, &settings)
        })
        .await
        .map_err(unavailable)?
    }

    /// Adds a raw message body.
    pub async fn send(&self, body: String) -> Result<(), QueueError> {
        self.run(move |c, name, _| {
            let now = now_ms();
            c.execute(
                "INSERT INTO queue_messages (queue, body, visible_at, enqueued_at) VALUES (?1, ?2, ?3, ?3)",
                params![name, body, now],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await?;
        self.notify.notify_one();
        Ok(())
    }

    /// Resolves when something was enqueued in this process (or at once if that happened since
    /// the last wait); the worker also polls, for messages that become visible again.
    pub async fn wait_for_work(&self) {
        self.notify.notified().await
    }

    /// Claims up to `max` visible messages for the visibility timeout. A message already
    /// received `max_receives` times (its worker died or timed out each time) is dead-lettered
    /// here instead of delivered again.
    pub async fn receive(&self, max: usize) -> Result<Vec<Received>, QueueError> {
        self.run(move |c, name, s| {
            let now = now_ms();
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let rows: Vec<(i64, String, u32)> = {
                let mut stmt = tx
                    .prepare(
                        "SELECT id, body, attempts FROM queue_messages
                         WHERE queue = ?1 AND dead_at IS NULL AND visible_at <= ?2
                         ORDER BY visible_at, id LIMIT ?3",
                    )
                    .map_err(unavailable)?;
                let mapped = stmt
                    .query_map(
                        params![name, now, i64::try_from(max).unwrap_or(i64::MAX)],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .map_err(unavailable)?;
                mapped
                    .collect::<Result<_, _>>()
                    .map_err(unavailable)?
            };
            let mut out = Vec::new();
            for (id, body, attempts) in rows {
                if attempts >= s.max_receives {
                    tx.execute(
                        "UPDATE queue_messages SET dead_at = ?2,
                           last_error = COALESCE(last_error, 'not completed within the visibility timeout')
                         WHERE id = ?1",
                        params![id, now],
                    )
                    .map_err(unavailable)?;
                    continue;
                }
                tx.execute(
                    "UPDATE queue_messages SET attempts = attempts + 1, visible_at = ?2 WHERE id = ?1",
                    params![id, now + millis(s.visibility)],
                )
                .map_err(unavailable)?;
                out.push(Received {
                    id,
                    body,
                    attempts: attempts + 1,
                });
            }
            tx.commit().map_err(unavailable)?;
            Ok(out)
        })
        .await
    }

    /// Done: removes the message (a no-op if the lease was lost to a later receive).
    pub async fn delete(&self, m: &Received) -> Result<(), QueueError> {
        let (id, attempts) = (m.id, m.attempts);
        self.run(move |c, _, _| {
            c.execute(
                "DELETE FROM queue_messages WHERE id = ?1 AND attempts = ?2",
                params![id, attempts],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    /// Failed: visible again after the backoff, or dead-lettered after `max_receives`
    /// (at once when `poison`: a body that can never be processed).
    pub async fn fail(&self, m: &Received, error: &str, poison: bool) -> Result<(), QueueError> {
        let (id, attempts) = (m.id, m.attempts);
        let error: String = error.chars().take(1000).collect();
        self.run(move |c, _, s| {
            let now = now_ms();
            if poison || attempts >= s.max_receives {
                c.execute(
                    "UPDATE queue_messages SET dead_at = ?3, last_error = ?4 WHERE id = ?1 AND attempts = ?2",
                    params![id, attempts, now, error],
                )
            } else {
                let shift = attempts.saturating_sub(1).min(20);
                let backoff = millis(s.backoff_base)
                    .saturating_mul(1i64 << shift)
                    .min(millis(s.backoff_max));
                c.execute(
                    "UPDATE queue_messages SET visible_at = ?3, last_error = ?4 WHERE id = ?1 AND attempts = ?2",
                    params![id, attempts, now.saturating_add(backoff), error],
                )
            }
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    /// Messages waiting (not dead), for diagnostics and tests.
    pub async fn pending(&self) -> Result<u64, QueueError> {
        self.run(|c, name, _| {
            c.query_row(
                "SELECT COUNT(*) FROM queue_messages WHERE queue = ?1 AND dead_at IS NULL",
                params![name],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(unavailable)
        })
        .await
    }

    /// Receives one batch and processes each message (routes a ticket, answers a sign-in
    /// request); returns how many were received. Poison bodies are dead-lettered at once;
    /// failures are retried with backoff.
    pub async fn work_once(
        &self,
        helpdesk: &Helpdesk,
        max: usize,
    ) -> Result<WorkReport, QueueError> {
        let batch = self.receive(max).await?;
        let mut report = WorkReport {
            received: batch.len(),
            ..WorkReport::default()
        };
        for m in batch {
            let message = match parse_queue_message(&m.body) {
                Ok(message) => message,
                Err(e) => {
                    tracing::warn!(id = m.id, queue = %self.name, error = %e, "poison message dead-lettered");
                    self.fail(&m, &e.to_string(), true).await?;
                    report.dead_lettered += 1;
                    continue;
                }
            };
            match helpdesk.process_queue_message(&message).await {
                Ok(_) => {
                    self.delete(&m).await?;
                    report.done += 1;
                }
                Err(e) => {
                    let what = match &message {
                        QueueMessage::Route(event) => format!("ticket {}", event.ticket_id),
                        QueueMessage::SignIn(request) => format!("sign-in request {}", request.id),
                    };
                    tracing::warn!(id = m.id, %what, attempt = m.attempts, error = %e, "processing failed; will retry");
                    self.fail(&m, &e.to_string(), false).await?;
                    if m.attempts >= self.settings.max_receives {
                        report.dead_lettered += 1;
                    } else {
                        report.retrying += 1;
                    }
                }
            }
        }
        Ok(report)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkReport {
    pub received: usize,
    pub done: usize,
    pub retrying: usize,
    pub dead_lettered: usize,
}

#[async_trait]
impl SignInQueue for SqliteQueue {
    async fn enqueue_sign_in(&self, request: &SignInRequest) -> Result<(), QueueError> {
        self.send(sign_in_message_body(request)?).await
    }
}

#[async_trait]
impl RoutingQueue for SqliteQueue {
    async fn enqueue(&self, event: &RoutingEvent) -> Result<(), QueueError> {
        let body = serde_json::to_string(event).map_err(unavailable)?;
        self.send(body).await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        self.run(move |c, name, _| {
            let mut stmt = c
                .prepare(
                    "SELECT id, body, attempts, last_error, enqueued_at, dead_at FROM queue_messages
                     WHERE queue = ?1 AND dead_at IS NOT NULL ORDER BY dead_at, id LIMIT ?2",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(
                    params![name, i64::try_from(limit).unwrap_or(i64::MAX)],
                    |r| {
                        let body: String = r.get(1)?;
                        Ok(DeadLetter {
                            id: r.get::<_, i64>(0)?.to_string(),
                            ticket_id: parse_routing_event(&body).ok().map(|e| e.ticket_id),
                            body,
                            attempts: r.get(2)?,
                            last_error: r.get(3)?,
                            enqueued_at: to_time(r.get(4)?),
                            dead_at: to_time(r.get(5)?),
                        })
                    },
                )
                .map_err(unavailable)?;
            rows.collect::<Result<_, _>>().map_err(unavailable)
        })
        .await
    }

    async fn requeue_dead_letter(&self, id: &str) -> Result<(), QueueError> {
        let Ok(id) = id.trim().parse::<i64>() else {
            return Err(QueueError::NotFound);
        };
        let changed = self
            .run(move |c, name, _| {
                c.execute(
                    "UPDATE queue_messages SET dead_at = NULL, attempts = 0, visible_at = ?3
                     WHERE id = ?1 AND queue = ?2 AND dead_at IS NOT NULL",
                    params![id, name, now_ms()],
                )
                .map_err(unavailable)
            })
            .await?;
        if changed == 0 {
            return Err(QueueError::NotFound);
        }
        self.notify.notify_one();
        Ok(())
    }
}
