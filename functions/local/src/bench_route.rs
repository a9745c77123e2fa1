//! `helpdesk bench-route`: N tickets routed through the real pipeline (rules, duplicate check,
//! escalation, assignment with its race guard) on the embedded engine against M agents, and the
//! resulting load spread. Temporary data directory; nothing else runs meanwhile.

use helpdesk_app::tickets::{CustomerRef, NewTicket};
use helpdesk_app::Helpdesk;
use helpdesk_domain::{Actor, DepartmentId, EmailAddress, Role};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

const DEPARTMENTS: [&str; 5] = ["billing", "accounts", "technical", "shipping", "sales"];
const SUBJECTS: [(&str, &str); 5] = [
    ("billing", "I was charged twice for my order"),
    ("accounts", "I cannot log in to my account"),
    ("technical", "The app crashes when I upload a photo"),
    ("shipping", "Where is my parcel, tracking shows nothing"),
    ("sales", "Do you offer a discount for teams"),
];

async fn run_parallel<F, Fut>(n: usize, concurrency: usize, f: F) -> anyhow::Result<usize>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, failures, f) = (next.clone(), failures.clone(), f.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    if let Err(e) = f(i).await {
                        if failures.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("item {i}: {e}");
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await?;
    }
    Ok(failures.load(Ordering::Relaxed))
}

pub async fn run(tickets: usize, agents: usize, concurrency: usize) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("helpdesk-bench-route-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let table = helpdesk_adapters::local::SqliteTable::open(crate::database_path(&dir))?;
    let helpdesk = Helpdesk::new(
        Arc::new(table),
        Arc::new(helpdesk_app::SystemClock),
        Arc::new(helpdesk_app::UlidGen::default()),
    );
    let admin = Actor::Staff {
        email: EmailAddress::parse("admin@example.com")?,
        role: Role::Admin,
    };
    for d in DEPARTMENTS {
        helpdesk
            .create_department(
                &admin,
                helpdesk_app::directory::DepartmentInput {
                    id: DepartmentId::parse(d)?,
                    name: d.into(),
                    description: None,
                    version: None,
                },
            )
            .await?;
    }
    // Agents spread over the departments, a third of them in two; room for every ticket.
    let capacity = u32::try_from((tickets / agents.max(1)) * 3 + 10)
        .unwrap_or(1000)
        .min(1000);
    for i in 0..agents {
        let mut departments = std::collections::BTreeSet::new();
        departments.insert(DepartmentId::parse(DEPARTMENTS[i % 5])?);
        if i % 3 == 0 {
            departments.insert(DepartmentId::parse(DEPARTMENTS[(i + 1) % 5])?);
        }
        helpdesk
            .create_agent(
                &admin,
                serde_json::from_value(serde_json::json!({
                    "email": format!("agent{i:03}@example.com"),
                    "name": format!("Agent {i}"),
                    "role": "agent",
                    "departments": departments,
                    "capacity": capacity,
                    "status": "available",
                }))?,
            )
            .await?;
    }
    let rules = serde_json::from_value(serde_json::json!({
        "priority": {
            "rules": [
                { "id": "outage", "keywords": ["outage", "site is down"], "action": { "set": "urgent" } },
                { "id": "cannot-log-in", "keywords": ["cannot log in"], "action": { "set": "high" } },
                { "id": "charged-twice", "keywords": ["charged twice"], "action": { "raise": 1 } }
            ],
            "tier_defaults": { "enterprise": "high" }
        },
        "escalation": [
            { "id": "urgent", "when": { "priorities": ["urgent"] }, "then": { "notify_supervisors": true } }
        ],
        "settings": {
            "category_departments": {
                "billing": "billing", "accounts": "accounts", "technical": "technical",
                "shipping": "shipping", "sales": "sales"
            }
        }
    }))?;
    helpdesk.put_routing_rules(&admin, rules, None).await?;

    // Tickets from 2,000 customers (so duplicate checks find earlier tickets), categorised by
    // the agent who logged them (no classifier in the benchmark).
    let started = Instant::now();
    let ids = Arc::new(std::sync::Mutex::new(Vec::with_capacity(tickets)));
    let (h, a, sink) = (helpdesk.clone(), admin.clone(), ids.clone());
    let failed = run_parallel(tickets, 8, move |i| {
        let (h, a, sink) = (h.clone(), a.clone(), sink.clone());
        async move {
            let (category, subject) = SUBJECTS[i % 5];
            let input = NewTicket {
                subject: format!("{subject} (#{i})"),
                body: format!(
                    "Hello, {subject}. Order {i}. Please help, this is the {} time I write.",
                    i % 7
                ),
                channel: None,
                priority: None,
                category: Some(category.into()),
                customer: Some(CustomerRef {
                    email: EmailAddress::parse(&format!("customer{}@example.com", i % 2000))?,
                    name: None,
                    platform_user_id: None,
                    locale: None,
                }),
                department: None,
                assignee: None,
                tags: Vec::new(),
            };
            let (t, _) = h.create_ticket(&a, input, None).await?;
            if let Ok(mut v) = sink.lock() {
                v.push(t.id);
            }
            Ok(())
        }
    })
    .await?;
    println!(
        "created {} tickets in {:.2}s ({failed} failed)",
        tickets - failed,
        started.elapsed().as_secs_f64()
    );
    let ids: Vec<_> = ids.lock().map(|v| v.clone()).unwrap_or_default();

    let started = Instant::now();
    let h = helpdesk.clone();
    let list = Arc::new(ids);
    let l = list.clone();
    let failed = run_parallel(list.len(), concurrency, move |i| {
        let (h, l) = (h.clone(), l.clone());
        async move {
            h.route_ticket(&l[i]).await?;
            Ok(())
        }
    })
    .await?;
    let secs = started.elapsed().as_secs_f64();
    let routed = list.len() - failed;
    println!(
        "routed {routed} tickets in {secs:.2}s = {:.0} tickets/s (concurrency {concurrency}, {failed} failed)",
        routed as f64 / secs
    );
    let loads = helpdesk.agent_loads().await?;
    let opens: Vec<i64> = (0..agents)
        .map(|i| {
            loads
                .get(&format!("agent{i:03}@example.com"))
                .map(|l| l.open)
                .unwrap_or(0)
        })
        .collect();
    let weights: Vec<i64> = (0..agents)
        .map(|i| {
            loads
                .get(&format!("agent{i:03}@example.com"))
                .map(|l| l.weighted)
                .unwrap_or(0)
        })
        .collect();
    let (max, min) = (
        opens.iter().max().copied().unwrap_or(0),
        opens.iter().min().copied().unwrap_or(0),
    );
    let (wmax, wmin) = (
        weights.iter().max().copied().unwrap_or(0),
        weights.iter().min().copied().unwrap_or(0),
    );
    println!(
        "load spread over {agents} agents: open tickets max {max} / min {min} (total {}), priority-weighted max {wmax} / min {wmin}",
        opens.iter().sum::<i64>()
    );
    let _ = std::fs::remove_dir_all(&dir);
    if failed > 0 {
        anyhow::bail!("{failed} routings failed");
    }
    Ok(())
}
