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

/// The longest timeout `serve` takes (a day): far beyond any useful value, and far from
/// overflowing the deadlines computed from it.
const MAX_TIMEOUT_SECS: u64 = 24 * 3600;

/// `serve`'s limits on slow, idle and too many clients (README, configuration).
#[derive(clap::Args, Clone)]
struct LimitArgs {
    /// Seconds a client has to send a request's head (request line and headers); also how long
    /// an idle keep-alive connection stays open.
    #[arg(long, env = "HELPDESK_HTTP_HEADER_TIMEOUT", value_name = "SECONDS",
          default_value_t = helpdesk::HttpLimits::default().header_read_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    http_header_timeout: u64,
    /// Seconds a client has to send a request body, plus one second per
    /// --http-body-min-rate bytes received; a late body is answered 408.
    #[arg(long, env = "HELPDESK_HTTP_BODY_TIMEOUT", value_name = "SECONDS",
          default_value_t = helpdesk::HttpLimits::default().body_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    http_body_timeout: u64,
    /// The slowest upload rate (bytes per second) that keeps extending a body's deadline.
    #[arg(long, env = "HELPDESK_HTTP_BODY_MIN_RATE", value_name = "BYTES",
          default_value_t = helpdesk::HttpLimits::default().body_min_rate,
          value_parser = clap::value_parser!(u64).range(1..))]
    http_body_min_rate: u64,
    /// HTTP connections served at once; one more is answered 503 and closed.
    #[arg(long, env = "HELPDESK_HTTP_MAX_CONNECTIONS", value_name = "N",
          default_value_t = helpdesk::HttpLimits::default().max_connections as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    http_max_connections: u64,
    /// Seconds the SMTP listener waits for a whole command line (idle or slow), then 421.
    #[arg(long, env = "HELPDESK_SMTP_COMMAND_TIMEOUT", value_name = "SECONDS",
          default_value_t = helpdesk::SmtpLimits::default().command_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    smtp_command_timeout: u64,
    /// Seconds a whole message may take after DATA, then 421.
    #[arg(long, env = "HELPDESK_SMTP_DATA_TIMEOUT", value_name = "SECONDS",
          default_value_t = helpdesk::SmtpLimits::default().data_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    smtp_data_timeout: u64,
    /// SMTP sessions served at once; one more is answered 421.
    #[arg(long, env = "HELPDESK_SMTP_MAX_SESSIONS", value_name = "N",
          default_value_t = helpdesk::SmtpLimits::default().max_sessions as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    smtp_max_sessions: u64,
}

impl LimitArgs {
    fn http(&self) -> helpdesk::HttpLimits {
        helpdesk::HttpLimits {
            header_read_timeout: std::time::Duration::from_secs(self.http_header_timeout),
            body_timeout: std::time::Duration::from_secs(self.http_body_timeout),
            body_min_rate: self.http_body_min_rate,
            max_connections: usize::try_from(self.http_max_connections).unwrap_or(usize::MAX),
        }
    }

    fn smtp(&self) -> helpdesk::SmtpLimits {
        helpdesk::SmtpLimits {
            command_timeout: std::time::Duration::from_secs(self.smtp_command_timeout),
            data_timeout: std::time::Duration::from_secs(self.smtp_data_timeout),
            max_sessions: usize::try_from(self.smtp_max_sessions).unwrap_or(usize::MAX),
        }
    }
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
        /// Base URL of the public pages linked from e-mail (CSAT survey, unsubscribe);
        /// default `http://{listen}`.
        #[arg(long, env = "HELPDESK_PUBLIC_URL")]
        public_url: Option<String>,
        #[command(flatten)]
        limits: LimitArgs,
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
    /// Run one sweep at a given time (deterministic; for tests and catch-up): SLA alerts, then
    /// due scheduled jobs (CSAT surveys, follow-ups, auto-close, reminders) and the mail they
    /// queue. Prints one JSON line per alert raised, then a summary line.
    Sweep {
        #[command(flatten)]
        data: DataArg,
        /// The support address's domain (as for `serve`).
        #[arg(long, env = "HELPDESK_MAIL_DOMAIN", default_value = helpdesk::DEFAULT_MAIL_DOMAIN)]
        mail_domain: String,
        /// Base URL of the public survey pages in e-mail (as `serve --public-url`).
        #[arg(
            long,
            env = "HELPDESK_PUBLIC_URL",
            default_value = "http://127.0.0.1:3000"
        )]
        public_url: String,
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
    /// Train the ticket classifier from every ticket whose category an agent set or corrected,
    /// and make it the current model (`serve` also retrains daily when there are new ones).
    /// Prints the model's description (JSON) with its held-out accuracy.
    TrainClassifier {
        #[command(flatten)]
        data: DataArg,
    },
    /// Train the in-process classifier on a CSV corpus and report accuracy, macro-F1, the most
    /// confused categories, training time and predictions/s. Without `--test`, a deterministic
    /// stratified split of `--train` is held out.
    EvalClassifier {
        #[arg(long)]
        train: PathBuf,
        #[arg(long)]
        test: Option<PathBuf>,
        /// The text column (default: text, Document, body, … whichever exists).
        #[arg(long)]
        text_col: Option<String>,
        /// The label column (default: category, Topic_group, label, … whichever exists).
        #[arg(long)]
        label_col: Option<String>,
        /// Fraction of `--train` held out for testing when `--test` is not given.
        #[arg(long, default_value_t = 0.2)]
        split: f64,
        /// Seed of the split and of training.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        #[arg(long)]
        epochs: Option<u32>,
        #[arg(long)]
        hash_bits: Option<u8>,
        #[arg(long)]
        learning_rate: Option<f32>,
        #[arg(long)]
        l2: Option<f32>,
        /// Turn character n-grams off (words only).
        #[arg(long)]
        no_char_ngrams: bool,
        /// Size of the confusion summary.
        #[arg(long, default_value_t = 10)]
        top: usize,
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
    /// Rebuild the knowledge-base search index from storage: every published version, then
    /// clear the articles' "needs reindex" flags. Prints a JSON summary. Run it with the server
    /// stopped (the embedded index has one writer), or call `POST /api/v1/kb/reindex` instead.
    Reindex {
        #[command(flatten)]
        data: DataArg,
    },
    /// Knowledge-base search quality: index a directory of Markdown FAQ articles (title = first
    /// heading) and run a JSON-lines query file ({"query","expected_article"}); prints
    /// recall@1, recall@5, MRR@10 and latency p50/p99. RAM index; the data directory is not used.
    EvalKb {
        #[arg(long, default_value = "../shared/corpora/kb/stackfaq/articles")]
        articles: PathBuf,
        #[arg(long, default_value = "../shared/corpora/kb/stackfaq/queries.jsonl")]
        queries: PathBuf,
    },
    /// Benchmark: N generated articles into an on-disk embedded index (build time), then M
    /// generated queries (search p50/p99). Temporary directory.
    BenchKb {
        #[arg(long, default_value_t = 10_000)]
        articles: usize,
        #[arg(long, default_value_t = 1_000)]
        queries: usize,
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

/// The command's settings, read once: the self-hosted variables of the environment
/// (`HELPDESK_SMTP_RELAY`, `CUSTOMER_DIRECTORY_*`, …), then the flags (which clap already
/// merged with their variables).
fn settings(data: &DataArg) -> anyhow::Result<helpdesk_compose::Settings> {
    let mut settings = helpdesk_compose::Settings::from_env(|k| {
        helpdesk_compose::settings::SELF_HOSTED_VARIABLES
            .contains(&k)
            .then(|| std::env::var(k).ok())
            .flatten()
    })?;
    settings.data_dir = Some(data.data.clone());
    if settings.mail.domain.is_none() {
        settings = settings.with_mail_domain(helpdesk::DEFAULT_MAIL_DOMAIN)?;
    }
    Ok(settings)
}

/// `--now`, or the current time.
fn parse_now(now: Option<String>) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    Ok(match now {
        Some(t) => chrono::DateTime::parse_from_rfc3339(&t)
            .map_err(|e| {
                anyhow::anyhow!("--now must be an RFC 3339 time like 2026-01-01T09:00:00Z: {e}")
            })?
            .with_timezone(&chrono::Utc),
        None => chrono::Utc::now(),
    })
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
            public_url,
            limits,
        } => {
            helpdesk_compose::logging::init_local();
            let mut settings = settings(&data)?.with_mail_domain(&mail_domain)?;
            if let Some(url) = &public_url {
                settings = settings.with_public_url(url)?;
            }
            let app = helpdesk::Application::build(&helpdesk::Config {
                settings,
                listen,
                smtp,
                routing_queue: Default::default(),
                routing_worker: true,
                http_limits: limits.http(),
                smtp_limits: limits.smtp(),
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
            let settings = settings(&data)?.with_mail_domain(&mail_domain)?;
            if !helpdesk::ingest_paths(&settings, &paths).await? {
                std::process::exit(1);
            }
        }
        Command::ImportCustomers { data, file } => {
            let (helpdesk, _, _) = helpdesk::open(&settings(&data)?)?;
            let summary = helpdesk::import::import_customers(&helpdesk, &file).await?;
            println!("{}", serde_json::to_string(&summary)?);
            if !summary.errors.is_empty() {
                std::process::exit(1);
            }
        }
        Command::Sweep {
            data,
            mail_domain,
            public_url,
            now,
        } => {
            let now = parse_now(now)?;
            let settings = settings(&data)?
                .with_mail_domain(&mail_domain)?
                .with_public_url(&public_url)?;
            let report = helpdesk::sweep_once_with(&settings, now).await?;
            for alert in &report.alerts {
                println!("{}", serde_json::to_string(alert)?);
            }
            let routing = helpdesk::resweep_once(&settings, now).await?;
            let inbound = helpdesk::recover_inbound_once(&settings, now).await?;
            println!(
                "{}",
                serde_json::json!({ "summary": { "now": now, "examined": report.examined, "alerts": report.alerts.len(), "queries": report.queries, "routing_resweep": routing, "inbound_recovery": inbound } })
            );
            let automations = helpdesk::automations_once(&settings, now).await?;
            println!("{}", serde_json::json!({ "automations": automations }));
        }
        Command::DeliverMail {
            data,
            mail_domain,
            now,
        } => {
            let now = parse_now(now)?;
            let settings = settings(&data)?.with_mail_domain(&mail_domain)?;
            let report = helpdesk::deliver_mail_once(&settings, now).await?;
            println!(
                "{}",
                serde_json::json!({ "summary": { "now": now, "examined": report.examined, "sent": report.sent, "retrying": report.retrying, "failed": report.failed, "skipped": report.skipped, "errors": report.errors, "queries": report.queries } })
            );
        }
        Command::TrainClassifier { data } => {
            let info = helpdesk::train_classifier(&settings(&data)?).await?;
            println!("{}", serde_json::to_string_pretty(&info)?);
        }
        Command::EvalClassifier {
            train,
            test,
            text_col,
            label_col,
            split,
            seed,
            epochs,
            hash_bits,
            learning_rate,
            l2,
            no_char_ngrams,
            top,
        } => {
            let mut config = helpdesk_classify::TrainConfig {
                seed,
                ..Default::default()
            };
            if let Some(e) = epochs {
                config.epochs = e;
            }
            if let Some(b) = hash_bits {
                config.features.hash_bits = b;
            }
            if let Some(r) = learning_rate {
                config.learning_rate = r;
            }
            if let Some(l) = l2 {
                config.l2 = l;
            }
            if no_char_ngrams {
                config.features.char_min = 0;
                config.features.char_max = 0;
            }
            helpdesk::eval::run(&helpdesk::eval::EvalArgs {
                train,
                test,
                text_col,
                label_col,
                split,
                seed,
                config,
                top_confused: top,
            })?;
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
        Command::Reindex { data } => {
            let (helpdesk, _, _) = helpdesk::open(&settings(&data)?)?;
            let report = helpdesk.reindex_kb().await?;
            println!("{}", serde_json::json!({ "reindexed": report }));
        }
        Command::EvalKb { articles, queries } => {
            helpdesk::kb_bench::eval(&articles, &queries).await?;
        }
        Command::BenchKb { articles, queries } => {
            helpdesk::kb_bench::bench(articles.max(1), queries.max(1)).await?;
        }
        Command::Rebalance {
            data,
            supervisor,
            dry_run,
        } => {
            let plan = helpdesk::rebalance(&settings(&data)?, &supervisor, !dry_run).await?;
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
