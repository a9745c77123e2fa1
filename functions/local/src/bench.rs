//! `helpdesk bench`: ticket creation through the real HTTP stack versus raw SQLite inserts, in
//! one run on one machine, so the overhead of everything above the database is visible.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub async fn run(tickets: usize, concurrency: usize) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("helpdesk-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = crate::Config::new(dir.join("api"), ([127, 0, 0, 1], 0).into());
    let app = crate::Application::build(&config).await?;
    let addr = app.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stop_rx.await;
    }));
    let token = crate::issue_token(&config.data_dir, "agent", Some("bench@example.com"), 3600)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let url = format!("http://{addr}/api/v1/tickets");
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, token, next, failures) = (
                client.clone(),
                url.clone(),
                token.clone(),
                next.clone(),
                failures.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= tickets {
                        break;
                    }
                    let body = serde_json::json!({
                        "subject": format!("Bench ticket {i}: cannot log in"),
                        "body": "I reset my password twice and the app still refuses it.",
                        "channel": "email",
                        "customer": { "email": format!("customer{}@example.com", i % 500) }
                    });
                    let ok = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await
                        .map(|r| r.status() == 201)
                        .unwrap_or(false);
                    if !ok {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await?;
    }
    let api_secs = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    server.await??;

    // Raw inserts: one autocommit INSERT per ticket-sized row, same pragmas as the adapter.
    let raw_path = dir.join("raw.db");
    let raw_secs = tokio::task::spawn_blocking(move || -> anyhow::Result<f64> {
        let conn = rusqlite::Connection::open(&raw_path)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE t (pk TEXT, sk TEXT, doc TEXT, PRIMARY KEY (pk, sk)) WITHOUT ROWID;")?;
        let doc = "x".repeat(900);
        let started = Instant::now();
        let mut stmt = conn.prepare("INSERT INTO t (pk, sk, doc) VALUES (?1, '#TICKET', ?2)")?;
        for i in 0..tickets {
            stmt.execute(rusqlite::params![format!("T#{i:08}"), doc])?;
        }
        Ok(started.elapsed().as_secs_f64())
    })
    .await??;
    let failed = failures.load(Ordering::Relaxed);
    let api_rate = (tickets - failed) as f64 / api_secs;
    let raw_rate = tickets as f64 / raw_secs;
    println!("tickets created via HTTP API: {} in {api_secs:.2}s = {api_rate:.0} tickets/s (concurrency {concurrency}, failures {failed})", tickets - failed);
    println!("raw SQLite inserts:           {tickets} in {raw_secs:.2}s = {raw_rate:.0} inserts/s");
    println!("ratio raw/API: {:.1}x  (each API create = 1 counter add + 1 transaction of 5 items + reads)", raw_rate / api_rate.max(f64::MIN_POSITIVE));
    let _ = std::fs::remove_dir_all(&dir);
    if failed > 0 {
        anyhow::bail!("{failed} creates failed");
    }
    Ok(())
}
