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
    let token = crate::issue_token(&dir.join("api"), "agent", Some("bench@example.com"), 3600)?;
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

/// An SLA sink that only counts: the benchmark measures the sweep, not file I/O.
struct CountingSink(AtomicUsize);

#[async_trait::async_trait]
impl helpdesk_app::sla::AlertSink for CountingSink {
    async fn deliver(
        &self,
        _: &helpdesk_app::sla::SlaAlert,
    ) -> Result<(), helpdesk_app::sla::DeliveryError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn admin() -> anyhow::Result<helpdesk_domain::Actor> {
    Ok(helpdesk_domain::Actor::Staff {
        email: helpdesk_domain::EmailAddress::parse("bench@example.com")?,
        role: helpdesk_domain::Role::Admin,
    })
}

/// `helpdesk bench-sweep`: N open tickets with running clocks in the local engine; one sweep
/// when all of them are due (every warning and breach raised), then a steady-state sweep.
pub async fn sweep(tickets: usize, concurrency: usize) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("helpdesk-bench-sweep-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (helpdesk, _, _) = crate::open_helpdesk(&dir)?;
    let policy: helpdesk_domain::sla::SlaPolicy = serde_json::from_value(serde_json::json!({
        "calendar": helpdesk_domain::sla::BusinessCalendar::twenty_four_seven(),
        "rules": [{ "priority": "medium", "targets": { "first_response_minutes": 60, "resolution_minutes": 480 } }]
    }))?;
    let actor = admin()?;
    helpdesk.put_sla_policy(&actor, policy, None).await?;
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (h, next, actor) = (helpdesk.clone(), next.clone(), actor.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= tickets {
                        return Ok::<(), anyhow::Error>(());
                    }
                    let input: helpdesk_app::tickets::NewTicket =
                        serde_json::from_value(serde_json::json!({
                            "subject": format!("Sweep bench {i}"), "body": "x", "channel": "email",
                            "customer": { "email": format!("c{}@example.com", i % 1000) }
                        }))?;
                    h.create_ticket(&actor, input, None).await?;
                }
            })
        })
        .collect();
    for w in workers {
        w.await??;
    }
    let created_secs = started.elapsed().as_secs_f64();
    println!(
        "created {tickets} open tickets with SLA clocks in {created_secs:.1}s ({:.0}/s)",
        tickets as f64 / created_secs
    );
    let sink = CountingSink(AtomicUsize::new(0));
    let due = chrono::Utc::now() + chrono::Duration::hours(9);
    for (label, at) in [
        ("all due (every warning and breach raised)", due),
        (
            "steady state (nothing new due)",
            due + chrono::Duration::minutes(1),
        ),
    ] {
        let t = Instant::now();
        let report = helpdesk.sweep_sla(at, &sink).await?;
        println!(
            "sweep, {label}: {:.2}s, {} tickets examined, {} alerts, {} index queries, {} conditional writes",
            t.elapsed().as_secs_f64(),
            report.examined,
            report.alerts.len(),
            report.queries,
            report.alerts.len() + report.examined
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `helpdesk bench-ingest`: N messages cycled from the mail crate's fixtures (each given a
/// fresh Message-ID) through the whole ingest path, beside mail-parser's raw parse rate on the
/// same bytes.
pub async fn ingest(messages: usize, fixtures: &std::path::Path) -> anyhow::Result<()> {
    let mut samples = Vec::new();
    let mut dirs = vec![fixtures.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "eml") {
                samples.push(std::fs::read(&p)?);
            }
        }
    }
    anyhow::ensure!(
        !samples.is_empty(),
        "no .eml files under {}",
        fixtures.display()
    );
    let inputs: Vec<Vec<u8>> = (0..messages)
        .map(|i| with_message_id(&samples[i % samples.len()], i))
        .collect();
    let bytes: usize = inputs.iter().map(Vec::len).sum();

    let t = Instant::now();
    let mut parsed = 0usize;
    for raw in &inputs {
        if mail_parser::MessageParser::default().parse(raw).is_some() {
            parsed += 1;
        }
    }
    let parse_secs = t.elapsed().as_secs_f64();

    let dir = std::env::temp_dir().join(format!("helpdesk-bench-ingest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (helpdesk, _, _) = crate::open_helpdesk(&dir)?;
    let cfg = helpdesk_compose::local::inbound_config(&helpdesk_compose::Settings::local(&dir))?;
    let blobs = helpdesk_adapters::local::blobs::FileBlobStore::new(&dir);
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    let t = Instant::now();
    for raw in &inputs {
        let o = helpdesk.ingest_email(raw, &blobs, &cfg).await?;
        *outcomes
            .entry(format!("{:?}", o.outcome).to_lowercase())
            .or_default() += 1;
    }
    let ingest_secs = t.elapsed().as_secs_f64();
    println!(
        "{messages} messages ({:.1} MB) from {} fixtures",
        bytes as f64 / 1e6,
        samples.len()
    );
    println!(
        "mail-parser raw parse: {:.0} messages/s ({parsed} parsed)",
        messages as f64 / parse_secs
    );
    println!("full ingest (store raw, parse, thread, write ticket or message): {:.0} messages/s, outcomes {outcomes:?}", messages as f64 / ingest_secs);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Gives a sample a unique Message-ID (replacing the header, or adding one).
fn with_message_id(raw: &[u8], i: usize) -> Vec<u8> {
    let id = format!("Message-ID: <bench-{i}@bench.example>\r\n");
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(raw.len() + 64);
    let mut replaced = false;
    let mut in_headers = true;
    for line in text.split_inclusive('\n') {
        if in_headers && (line == "\r\n" || line == "\n") {
            in_headers = false;
        }
        if in_headers && !replaced && line.to_ascii_lowercase().starts_with("message-id:") {
            out.push_str(&id);
            replaced = true;
        } else {
            out.push_str(line);
        }
    }
    if replaced {
        out.into_bytes()
    } else {
        let mut v = id.into_bytes();
        v.extend_from_slice(raw);
        v
    }
}
