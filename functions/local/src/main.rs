//! `helpdesk`: the self-hosted help desk in one binary.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "helpdesk", version, about = "Customer support and ticketing: self-hosted, embedded storage.", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Args, Clone)]
struct DataArg {
    /// Data directory (database, keys).
    #[arg(long, env = "HELPDESK_DATA", default_value = "./helpdesk-data")]
    data: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API on a local address (the default command).
    Serve {
        #[command(flatten)]
        data: DataArg,
        /// Address to listen on.
        #[arg(long, env = "HELPDESK_LISTEN", default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
        /// Also accept e-mail over SMTP on this address (e.g. 127.0.0.1:2525).
        #[arg(long, env = "HELPDESK_SMTP")]
        smtp: Option<SocketAddr>,
        /// The support address's domain: signed Message-IDs and reply addresses use it, and SMTP
        /// accepts only recipients in it.
        #[arg(long, env = "HELPDESK_MAIL_DOMAIN", default_value = helpdesk::DEFAULT_MAIL_DOMAIN)]
        mail_domain: String,
    },
    /// Print a bearer token signed with this data directory's key.
    Token {
        #[command(flatten)]
        data: DataArg,
        /// admin, supervisor, agent, customer or platform.
        #[arg(long)]
        role: String,
        /// The team member's e-mail (admin, supervisor, agent).
        #[arg(long, conflicts_with = "customer")]
        agent: Option<String>,
        /// The customer's e-mail (customer role).
        #[arg(long)]
        customer: Option<String>,
        /// Lifetime in hours.
        #[arg(long, default_value_t = 12)]
        ttl_hours: i64,
    },
    /// Ingest e-mail messages (RFC 5322 files, directories of them, or `-` for stdin). Prints
    /// one JSON line per message: {"file","outcome":"created|appended|ignored|rejected","ticket","reason"}.
    /// Exits non-zero only when an input cannot be read or stored.
    IngestEmail {
        #[command(flatten)]
        data: DataArg,
        /// The domain of the support address (for signed Message-IDs and reply addresses).
        #[arg(
            long,
            env = "HELPDESK_MAIL_DOMAIN",
            default_value = "helpdesk.localhost"
        )]
        mail_domain: String,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Import customers (the default customer directory) from a CSV file with a header row:
    /// email (required), name, tier, business_owner, plan, locale, account_id, platform_user_id.
    /// Idempotent upsert; empty cells keep the stored value. Prints a JSON summary with per-row
    /// errors; exits non-zero when any row was rejected.
    ImportCustomers {
        #[command(flatten)]
        data: DataArg,
        file: PathBuf,
    },
    /// Run one SLA sweep at a given time (deterministic; for tests and catch-up). Prints one
    /// JSON line per alert raised, then a summary line.
    Sweep {
        #[command(flatten)]
        data: DataArg,
        /// The sweep's notion of now, RFC 3339 (default: the current time).
        #[arg(long)]
        now: Option<String>,
    },
    /// Deliver queued outbound e-mail that is due (new, to be retried, or interrupted) into
    /// `DATA/outbox/email/`. Prints a JSON summary. `serve` does this once a minute.
    DeliverMail {
        #[command(flatten)]
        data: DataArg,
        /// The support address's domain (as for `serve`).
        #[arg(long, env = "HELPDESK_MAIL_DOMAIN", default_value = helpdesk::DEFAULT_MAIL_DOMAIN)]
        mail_domain: String,
        /// The sweep's notion of now, RFC 3339 (default: the current time).
        #[arg(long)]
        now: Option<String>,
    },
    /// Benchmark: N open tickets with SLA clocks, then a sweep with all of them due and a
    /// steady-state sweep (time and index queries per sweep). Temporary data directory.
    BenchSweep {
        #[arg(long, default_value_t = 100_000)]
        tickets: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Benchmark: ingest N e-mail messages (the mail crate's fixtures, each with a fresh
    /// Message-ID) beside mail-parser's raw parse rate on the same bytes.
    BenchIngest {
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
        #[arg(long, default_value = "shared/mail/tests/fixtures")]
        fixtures: PathBuf,
    },
    /// Move tickets off offline and overloaded agents (as a supervisor). Prints the plan as JSON;
    /// with --dry-run nothing moves.
    Rebalance {
        #[command(flatten)]
        data: DataArg,
        /// The supervisor (or admin) the moves are recorded as.
        #[arg(long)]
        supervisor: String,
        #[arg(long)]
        dry_run: bool,
    },
    /// Benchmark: route N tickets through the pipeline against M agents on the embedded engine;
    /// prints tickets/s and the load spread (max/min open tickets per agent).
    BenchRoute {
        #[arg(long, default_value_t = 10_000)]
        tickets: usize,
        #[arg(long, default_value_t = 50)]
        agents: usize,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// Benchmark: create tickets through the local HTTP API, then the same number of raw SQLite
    /// inserts, and print both rates. Uses a temporary data directory.
    Bench {
        #[arg(long, default_value_t = 10_000)]
        tickets: usize,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // No subcommand means `serve`, with the same defaults and environment as spelled out.
    let command = match cli.command {
        Some(c) => c,
        None => Cli::parse_from(["helpdesk", "serve"])
            .command
            .ok_or_else(|| anyhow::anyhow!("no command"))?,
    };
    match command {
        Command::Serve {
            data,
            listen,
            smtp,
            mail_domain,
        } => {
            init_tracing();
            let app = helpdesk::Application::build(&helpdesk::Config {
                data_dir: data.data.clone(),
                listen,
                smtp,
                mail_domain: mail_domain.clone(),
                routing_queue: Default::default(),
                routing_worker: true,
            })
            .await?;
            let addr = app.local_addr()?;
            println!(
                "helpdesk is listening on http://{addr}  (data: {})",
                data.data.display()
            );
            println!(
                "  API:     http://{addr}/api/v1   OpenAPI: http://{addr}/api/v1/openapi.json"
            );
            if let Some(smtp) = app.smtp_addr() {
                println!("  SMTP:    {smtp} (recipients @{mail_domain})");
            }
            if app.first_start {
                println!(
                    "  First start: created a new database and signing key in {}.",
                    data.data.display()
                );
            }
            println!(
                "  Admin token: helpdesk token --role admin --agent admin@example.com --data {}",
                data.data.display()
            );
            app.run_until_stopped(helpdesk::shutdown_signal()).await?;
            println!("helpdesk stopped");
        }
        Command::Token {
            data,
            role,
            agent,
            customer,
            ttl_hours,
        } => {
            if !(1..=24 * 365).contains(&ttl_hours) {
                anyhow::bail!("--ttl-hours must be between 1 and 8760");
            }
            const ROLES: [&str; 5] = ["admin", "supervisor", "agent", "customer", "platform"];
            if !ROLES.contains(&role.as_str()) {
                anyhow::bail!("--role must be one of: {}", ROLES.join(", "));
            }
            let email = agent.or(customer);
            let token =
                helpdesk::issue_token(&data.data, &role, email.as_deref(), ttl_hours * 3600)?;
            println!("{token}");
        }
        Command::IngestEmail {
            data,
            mail_domain,
            paths,
        } => {
            if !helpdesk::ingest_paths(&data.data, &mail_domain, &paths).await? {
                std::process::exit(1);
            }
        }
        Command::ImportCustomers { data, file } => {
            let (helpdesk, _, _) = helpdesk::open_helpdesk(&data.data)?;
            let summary = helpdesk::import::import_customers(&helpdesk, &file).await?;
            println!("{}", serde_json::to_string(&summary)?);
            if !summary.errors.is_empty() {
                std::process::exit(1);
            }
        }
        Command::Sweep { data, now } => {
            let now = match now {
                Some(t) => chrono::DateTime::parse_from_rfc3339(&t)
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "--now must be an RFC 3339 time like 2026-01-01T09:00:00Z: {e}"
                        )
                    })?
                    .with_timezone(&chrono::Utc),
                None => chrono::Utc::now(),
            };
            let report = helpdesk::sweep_once(&data.data, now).await?;
            for alert in &report.alerts {
                println!("{}", serde_json::to_string(alert)?);
            }
            let routing = helpdesk::resweep_once(&data.data, now).await?;
            println!(
                "{}",
                serde_json::json!({ "summary": { "now": now, "examined": report.examined, "alerts": report.alerts.len(), "queries": report.queries, "routing_resweep": routing } })
            );
        }
        Command::DeliverMail {
            data,
            mail_domain,
            now,
        } => {
            let now = match now {
                Some(t) => chrono::DateTime::parse_from_rfc3339(&t)
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "--now must be an RFC 3339 time like 2026-01-01T09:00:00Z: {e}"
                        )
                    })?
                    .with_timezone(&chrono::Utc),
                None => chrono::Utc::now(),
            };
            let report = helpdesk::deliver_mail_once(&data.data, &mail_domain, now).await?;
            println!(
                "{}",
                serde_json::json!({ "summary": { "now": now, "examined": report.examined, "sent": report.sent, "retrying": report.retrying, "failed": report.failed, "skipped": report.skipped, "errors": report.errors, "queries": report.queries } })
            );
        }
        Command::BenchSweep {
            tickets,
            concurrency,
        } => {
            helpdesk::bench::sweep(tickets, concurrency.max(1)).await?;
        }
        Command::BenchIngest { messages, fixtures } => {
            helpdesk::bench::ingest(messages.max(1), &fixtures).await?;
        }
        Command::Rebalance {
            data,
            supervisor,
            dry_run,
        } => {
            let plan = helpdesk::rebalance(&data.data, &supervisor, !dry_run).await?;
            println!("{}", serde_json::to_string_pretty(&plan)?);
        }
        Command::BenchRoute {
            tickets,
            agents,
            concurrency,
        } => {
            helpdesk::bench_route::run(tickets.max(1), agents.max(1), concurrency.max(1)).await?;
        }
        Command::Bench {
            tickets,
            concurrency,
        } => {
            helpdesk::bench::run(tickets, concurrency.max(1)).await?;
        }
    }
    Ok(())
}
