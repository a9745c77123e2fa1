//! The self-hosted help desk as a library: `Application::build` wires the embedded adapters
//! to the shared router; `main.rs` and the integration tests both start it this way.

use helpdesk_adapters::local::keyfile;
use helpdesk_adapters::local::queue::{QueueSettings, SqliteQueue};
use helpdesk_app::Helpdesk;
use helpdesk_compose::local::Options;
use helpdesk_compose::{Capability, Settings};
use helpdesk_http::AuthConfig;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;

pub mod bench;
pub mod bench_route;
pub mod eval;
pub mod import;
pub mod kb_bench;
pub mod parse_errors;
pub mod server;

pub use helpdesk_adapters::local::smtp::SmtpLimits;
pub use helpdesk_compose::local::{database_path, jwt_key_path, kb_index_path};
pub use helpdesk_compose::settings::DEFAULT_MAIL_DOMAIN;
pub use server::HttpLimits;

/// `serve`'s configuration: the settings of the application (data directory, mail domain,
/// public URL, relay, directory…) and those of the server around it.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub listen: SocketAddr,
    /// Where to accept SMTP; off when `None`.
    pub smtp: Option<SocketAddr>,
    /// The embedded routing queue's visibility timeout, retries and backoff.
    pub routing_queue: QueueSettings,
    /// Run the routing worker (`serve` always does; tests of other features may turn it off so
    /// routing does not change their tickets underneath them).
    pub routing_worker: bool,
    /// The HTTP server's timeouts and connection limit.
    pub http_limits: HttpLimits,
    /// The SMTP listener's timeouts and session limit.
    pub smtp_limits: SmtpLimits,
}

impl Config {
    /// HTTP on `listen`, no SMTP, the default mail domain, nothing from the environment.
    pub fn new(data_dir: PathBuf, listen: SocketAddr) -> Self {
        Self {
            settings: Settings::local(data_dir),
            listen,
            smtp: None,
            routing_queue: QueueSettings::default(),
            routing_worker: true,
            http_limits: HttpLimits::default(),
            smtp_limits: SmtpLimits::default(),
        }
    }
}

/// What every command opens: storage with its files (attachments, raw mail), classifier
/// models, the KB index, the routing queue, SMS pages of escalations and the customer
/// directory (when configured).
pub const BASE: &[Capability] = &[
    Capability::MailBucket,
    Capability::ClassifierModels,
    Capability::KbSearch,
    Capability::RoutingQueue,
    Capability::SmsPaging,
    Capability::CustomerDirectory,
];

/// `BASE` and `more`.
fn base_and(more: &[Capability]) -> Vec<Capability> {
    BASE.iter().chain(more).copied().collect()
}

pub struct Application {
    listener: TcpListener,
    smtp_addr: Option<SocketAddr>,
    router: axum::Router,
    http_limits: HttpLimits,
    pub first_start: bool,
    pub data_dir: PathBuf,
}

/// Opens storage and keys in the data directory (creating them on first start), with the
/// default settings. New tickets' routing events go to the embedded queue table (the `serve`
/// worker processes them).
pub fn open_helpdesk(data_dir: &Path) -> anyhow::Result<(Helpdesk, AuthConfig, bool)> {
    open(&Settings::local(data_dir))
}

/// [`open_helpdesk`] with the command's settings: `BASE`, the local tokens' key, and whether
/// this was the first start.
pub fn open(settings: &Settings) -> anyhow::Result<(Helpdesk, AuthConfig, bool)> {
    let local = helpdesk_compose::local::open(settings, BASE)?;
    Ok((
        local.helpdesk,
        AuthConfig::LocalJwt { key: local.jwt_key },
        local.first_start,
    ))
}

/// One SLA sweep at `now` against the data directory, alerts to its outbox.
pub async fn sweep_once(
    data_dir: &Path,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<helpdesk_app::sla::SweepReport> {
    sweep_once_with(&Settings::local(data_dir), now).await
}

/// [`sweep_once`] with the command's settings (alert e-mails to the team go out as
/// `support@{mail domain}`).
pub async fn sweep_once_with(
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<helpdesk_app::sla::SweepReport> {
    let helpdesk =
        helpdesk_compose::local::open(settings, &base_and(&[Capability::Mail]))?.helpdesk;
    let sink = LocalAlertSink::new(
        helpdesk.clone(),
        helpdesk_compose::local::data_dir(settings)?,
    )
    .with_paging(settings.paging.clone());
    Ok(helpdesk.sweep_sla(now, &sink).await?)
}

/// A clock stopped at one instant: `sweep --now` runs everything (audit times, mail dates) as
/// of the time it was given.
struct FixedClock(chrono::DateTime<chrono::Utc>);

impl helpdesk_app::Clock for FixedClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0
    }
}

/// Signed public links: the key is `DATA/keys/links.key` (made on first use), the base URL the
/// public address of `serve`.
pub fn automation_config(
    data_dir: &Path,
    public_url: &str,
) -> anyhow::Result<helpdesk_app::automations::AutomationConfig> {
    let settings = Settings::local(data_dir).with_public_url(public_url)?;
    Ok(helpdesk_compose::local::automation_config(&settings)?)
}

/// What `sweep` does besides SLA alerts: due scheduled jobs (surveys, follow-ups, auto-close,
/// reminders), then the mail they queued, all as of `now`.
#[derive(Debug, serde::Serialize)]
pub struct AutomationsReport {
    pub jobs: helpdesk_app::automations::JobSweepReport,
    pub mail: helpdesk_app::outbound::MailSweepReport,
}

/// One sweep of scheduled jobs and queued mail at `now` (a fixed clock), then the mail they
/// queued is delivered (the outbox, or the SMTP relay). Needs the public URL.
pub async fn automations_once(
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<AutomationsReport> {
    let helpdesk = helpdesk_compose::local::open_with(
        settings,
        &[Capability::Mail, Capability::Links],
        Options {
            clock: Arc::new(FixedClock(now)),
            ..Options::default()
        },
    )?
    .helpdesk;
    let jobs = helpdesk.sweep_jobs(now).await?;
    let mail = deliver_with(&helpdesk, now).await?;
    Ok(AutomationsReport { jobs, mail })
}

/// Delivers queued mail through the application's own sender.
async fn deliver_with(
    helpdesk: &Helpdesk,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<helpdesk_app::outbound::MailSweepReport> {
    let sender = helpdesk
        .mail_settings()
        .map(|m| m.sender.clone())
        .ok_or_else(|| anyhow::anyhow!("mail is not configured"))?;
    Ok(helpdesk.deliver_pending_mail(now, sender.as_ref()).await?)
}

/// The self-hosted binary's alert sink: pages the supervisors on call into
/// `DATA/outbox/sms.jsonl` (the same claims, text and rate limit as `functions/sms-alerts` on
/// AWS), then appends the alert to `DATA/outbox/alerts.jsonl`. Paging first: a failed page
/// gives the alert back for the next sweep, and its claims keep a retry from paging twice.
pub struct LocalAlertSink {
    helpdesk: Helpdesk,
    alerts: helpdesk_adapters::local::outbox::OutboxAlertSink,
    sms: helpdesk_adapters::local::outbox::OutboxSmsSender,
    paging: helpdesk_app::alerts::PagingOptions,
}

impl LocalAlertSink {
    pub fn new(helpdesk: Helpdesk, data_dir: &Path) -> Self {
        Self {
            helpdesk,
            alerts: helpdesk_adapters::local::outbox::OutboxAlertSink::new(data_dir),
            sms: helpdesk_adapters::local::outbox::OutboxSmsSender::new(data_dir),
            paging: Default::default(),
        }
    }

    /// Pages with these limits (`SMS_MAX_PER_RECIPIENT_PER_WINDOW`, `HELPDESK_CONSOLE_URL`).
    pub fn with_paging(mut self, paging: helpdesk_app::alerts::PagingOptions) -> Self {
        self.paging = paging;
        self
    }
}

#[async_trait::async_trait]
impl helpdesk_app::sla::AlertSink for LocalAlertSink {
    async fn deliver(
        &self,
        alert: &helpdesk_app::sla::SlaAlert,
    ) -> Result<(), helpdesk_app::sla::DeliveryError> {
        let report = self
            .helpdesk
            .page_on_call_with(alert, &self.sms, &self.paging)
            .await
            .map_err(|e| helpdesk_app::sla::DeliveryError(e.to_string()))?;
        if report.should_retry() {
            return Err(helpdesk_app::sla::DeliveryError(
                "the SMS outbox could not be written".into(),
            ));
        }
        self.alerts.deliver(alert).await
    }
}

/// One re-enqueue sweep of unrouted tickets at `now` (part of `helpdesk sweep`).
pub async fn resweep_once(
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<helpdesk_app::queue::ResweepReport> {
    let (helpdesk, _, _) = open(settings)?;
    Ok(helpdesk.resweep_unrouted(now, RESWEEP_LIMIT).await?)
}

/// One recovery sweep of received mail left pending (part of `helpdesk sweep`): ingested again,
/// acknowledged as under `serve`.
pub async fn recover_inbound_once(
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<helpdesk_app::inbound::RecoveryReport> {
    let helpdesk = helpdesk_compose::local::open(
        settings,
        &base_and(&[Capability::Mail, Capability::Inbound]),
    )?
    .helpdesk;
    Ok(helpdesk.recover_inbound(now, RESWEEP_LIMIT).await?)
}

/// Markers examined per shard and sweep; the next minute continues.
pub const RESWEEP_LIMIT: usize = 200;

/// A worker of `serve` (routing; help-centre sign-in requests): receives from an embedded
/// queue, processes, deletes; failures come back after a backoff and are dead-lettered after
/// `max_receives`. Rows stay in the database until done, so a restart resumes where it stopped.
fn spawn_queue_worker(helpdesk: Helpdesk, queue: Arc<SqliteQueue>, what: &'static str) {
    tokio::spawn(async move {
        loop {
            match queue.work_once(&helpdesk, 10).await {
                Ok(r) if r.received > 0 => {
                    if r.retrying + r.dead_lettered > 0 {
                        tracing::warn!(
                            done = r.done,
                            retrying = r.retrying,
                            dead_lettered = r.dead_lettered,
                            what,
                            "queue batch had failures"
                        );
                    }
                }
                Ok(_) => {
                    // Idle: woken by an enqueue in this process, or poll for retries coming due
                    // (and rows other processes, e.g. `helpdesk ingest-email`, added).
                    tokio::select! {
                        _ = queue.wait_for_work() => {}
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, what, "queue unavailable; retrying in 5 s");
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                }
            }
        }
    });
}

/// One delivery sweep of queued outbound mail at `now`: the outbox, or the SMTP relay.
pub async fn deliver_mail_once(
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<helpdesk_app::outbound::MailSweepReport> {
    let helpdesk =
        helpdesk_compose::local::open(settings, &base_and(&[Capability::Mail]))?.helpdesk;
    deliver_with(&helpdesk, now).await
}

/// The sweeper of the self-hosted server: once a minute, like the EventBridge schedule in AWS,
/// it raises SLA alerts and delivers queued mail (retries, and sends a crash interrupted).
/// A sweep that fails is logged and the next one catches up (the due index and the mail queue
/// keep everything not yet done).
fn spawn_sweeper(
    helpdesk: Helpdesk,
    data_dir: PathBuf,
    paging: helpdesk_app::alerts::PagingOptions,
) {
    tokio::spawn(async move {
        let sink = LocalAlertSink::new(helpdesk.clone(), &data_dir).with_paging(paging);
        // The first sweep a minute after start, not at once: a reply sent in the first
        // moments is delivered by its own request, not raced for by the catch-up sweep.
        let period = std::time::Duration::from_secs(60);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            match helpdesk.sweep_sla(chrono::Utc::now(), &sink).await {
                Ok(r) if !r.alerts.is_empty() => {
                    tracing::info!(alerts = r.alerts.len(), examined = r.examined, "SLA sweep")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "SLA sweep failed; the next one catches up"),
            }
            match helpdesk.sweep_jobs(chrono::Utc::now()).await {
                Ok(r) if r.examined > 0 => tracing::info!(
                    done = r.done,
                    cancelled = r.cancelled,
                    errors = r.errors,
                    "scheduled jobs sweep"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "scheduled jobs sweep failed; the next one catches up")
                }
            }
            match helpdesk
                .resweep_unrouted(chrono::Utc::now(), RESWEEP_LIMIT)
                .await
            {
                Ok(r) if r.enqueued + r.errors > 0 => tracing::info!(
                    enqueued = r.enqueued,
                    errors = r.errors,
                    "re-enqueued unrouted tickets"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "routing resweep failed; the next one catches up")
                }
            }
            // Received mail left pending by a crash or a failure mid-way is ingested again.
            match helpdesk
                .recover_inbound(chrono::Utc::now(), RESWEEP_LIMIT)
                .await
            {
                Ok(r) if r.examined > 0 => tracing::info!(
                    recovered = r.recovered,
                    quarantined = r.quarantined,
                    errors = r.errors,
                    "recovered stranded inbound mail"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "inbound recovery sweep failed; the next one catches up")
                }
            }
            // KB "linked from a resolved ticket" counts whose follow-up did not finish.
            if let Err(e) = helpdesk.sweep_kb_resolutions(RESWEEP_LIMIT).await {
                tracing::error!(error = %e, "KB resolution sweep failed; the next one catches up");
            }
            if let Some(mail) = helpdesk.mail_settings() {
                match helpdesk
                    .deliver_pending_mail(chrono::Utc::now(), mail.sender.as_ref())
                    .await
                {
                    Ok(r) if r.examined > 0 => tracing::info!(
                        sent = r.sent,
                        retrying = r.retrying,
                        failed = r.failed,
                        errors = r.errors,
                        "mail delivery sweep"
                    ),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "mail delivery sweep failed; the next one catches up")
                    }
                }
            }
        }
    });
}

/// How often `serve` retrains the classifier; it trains only when agents categorised tickets
/// since the current model (the first check runs at start).
pub const RETRAIN_EVERY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Scheduled retraining of the classifier, beside the sweeper. A failure is logged; the next
/// run tries again (the examples stay stored).
fn spawn_retrainer(helpdesk: Helpdesk) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RETRAIN_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            match helpdesk.retrain_classifier_if_needed().await {
                Ok(Some(info)) => tracing::info!(
                    model = %info.model,
                    examples = info.examples,
                    holdout_accuracy = info.holdout_accuracy,
                    "classifier retrained"
                ),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "classifier retraining failed; the next run tries again")
                }
            }
        }
    });
}

/// `helpdesk train-classifier`: trains from the labelled tickets in the data directory.
pub async fn train_classifier(
    settings: &Settings,
) -> anyhow::Result<helpdesk_app::classify::ModelInfo> {
    let (helpdesk, _, _) = open(settings)?;
    let actor = helpdesk_domain::Actor::System {
        job: "train-classifier".into(),
    };
    Ok(helpdesk.train_classifier(&actor).await?)
}

impl Application {
    /// The application as `serve` runs it (and the tests start it): `BASE`, mail, inbound mail
    /// and signed links (under `http://{listen}` unless a public URL is set), the sweeper, the
    /// retrainer, the routing worker and the SMTP listener.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen).await?;
        let mut settings = config.settings.clone();
        if settings.public_url.is_none() {
            settings = settings.with_public_url(&format!("http://{}", listener.local_addr()?))?;
        }
        let local = helpdesk_compose::local::open_with(
            &settings,
            &base_and(&[Capability::Mail, Capability::Inbound, Capability::Links]),
            Options {
                queue: config.routing_queue,
                ..Options::default()
            },
        )?;
        let data_dir = helpdesk_compose::local::data_dir(&settings)?.to_path_buf();
        let helpdesk = local.helpdesk;
        // Help-centre sign-in requests: answered at once, looked up and mailed by this worker.
        let sign_in = Arc::new(SqliteQueue::open(
            helpdesk_compose::local::database_path(&data_dir),
            helpdesk_adapters::local::queue::SIGN_IN,
            QueueSettings::default(),
        )?);
        let helpdesk = helpdesk.with_sign_in_queue(sign_in.clone());
        spawn_queue_worker(helpdesk.clone(), sign_in, "sign-in");
        spawn_sweeper(helpdesk.clone(), data_dir.clone(), settings.paging.clone());
        spawn_retrainer(helpdesk.clone());
        if let (true, Some(queue)) = (config.routing_worker, local.queue) {
            spawn_queue_worker(helpdesk.clone(), queue, "routing");
        }
        let smtp_addr = match config.smtp {
            Some(addr) => {
                let smtp = std::net::TcpListener::bind(addr)?;
                let bound = smtp.local_addr()?;
                helpdesk_adapters::local::smtp::spawn(
                    smtp,
                    helpdesk.clone(),
                    &data_dir,
                    helpdesk_compose::local::inbound_config(&settings)?,
                    config.smtp_limits,
                )?;
                Some(bound)
            }
            None => None,
        };
        Ok(Self {
            listener,
            smtp_addr,
            router: helpdesk_http::router(helpdesk, AuthConfig::LocalJwt { key: local.jwt_key }),
            http_limits: config.http_limits,
            first_start: local.first_start,
            data_dir,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The SMTP listener's address, when one was asked for.
    pub fn smtp_addr(&self) -> Option<SocketAddr> {
        self.smtp_addr
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish. Slow and idle
    /// clients are cut off and connections limited as `Config::http_limits` says.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = self
            .router
            .layer(axum::middleware::map_request(peer_address));
        server::serve(self.listener, router, self.http_limits, shutdown).await
    }
}

/// The TCP peer as the router's neutral [`helpdesk_http::ClientIp`] (abuse limits). Behind a
/// reverse proxy every caller is the proxy; limits are then per proxy, never bypassable by a
/// forged header.
async fn peer_address(mut req: axum::extract::Request) -> axum::extract::Request {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    req.extensions_mut().remove::<helpdesk_http::ClientIp>();
    if let Some(ip) = peer {
        req.extensions_mut().insert(helpdesk_http::ClientIp(ip));
    }
    req
}

/// `helpdesk ingest-email`: files, directories (their files, sorted) and `-` (stdin). Prints
/// one JSON line per message; returns false if any input could not be read or stored. New
/// tickets are acknowledged as they are under `serve`.
pub async fn ingest_paths(settings: &Settings, paths: &[PathBuf]) -> anyhow::Result<bool> {
    let helpdesk =
        helpdesk_compose::local::open(settings, &base_and(&[Capability::Mail]))?.helpdesk;
    let cfg = helpdesk_compose::local::inbound_config(settings)?;
    let data_dir = helpdesk_compose::local::data_dir(settings)?;
    let blobs = helpdesk_adapters::local::blobs::FileBlobStore::new(data_dir);
    let mut inputs: Vec<PathBuf> = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            inputs.extend(entries);
        } else {
            inputs.push(p.clone());
        }
    }
    let mut all_ok = true;
    for input in inputs {
        let name = input.display().to_string();
        let bytes = if name == "-" {
            use std::io::Read;
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).map(|_| buf)
        } else {
            std::fs::read(&input)
        };
        let line = match bytes {
            Err(e) => {
                all_ok = false;
                serde_json::json!({ "file": name, "outcome": "error", "reason": format!("cannot read: {e}") })
            }
            Ok(bytes) => match helpdesk.ingest_email(&bytes, &blobs, &cfg).await {
                Ok(o) => {
                    serde_json::json!({ "file": name, "outcome": o.outcome, "ticket": o.ticket, "reason": o.reason, "raw": o.raw })
                }
                Err(e) => {
                    all_ok = false;
                    serde_json::json!({ "file": name, "outcome": "error", "reason": e.to_string() })
                }
            },
        };
        println!("{line}");
    }
    Ok(all_ok)
}

/// Issues a local token signed with the data directory's key.
pub fn issue_token(
    data_dir: &Path,
    role: &str,
    email: Option<&str>,
    ttl_seconds: i64,
) -> anyhow::Result<String> {
    let key = keyfile::load_or_create_secret(&jwt_key_path(data_dir))?;
    let auth = AuthConfig::LocalJwt { key };
    let claims =
        helpdesk_http::auth::local_claims(role, email, chrono::Utc::now().timestamp(), ttl_seconds)
            .map_err(anyhow::Error::msg)?;
    Ok(auth.issue(&claims)?)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// `helpdesk rebalance`: the plan (and with `apply`, the moves) as a supervisor.
pub async fn rebalance(
    settings: &Settings,
    supervisor: &str,
    apply: bool,
) -> anyhow::Result<helpdesk_app::routing::RebalancePlan> {
    let (helpdesk, _, _) = open(settings)?;
    let email = helpdesk_domain::EmailAddress::parse(supervisor)
        .map_err(|e| anyhow::anyhow!("--supervisor: {e}"))?;
    let role = match helpdesk.agent_record(&email).await? {
        Some(a) if a.role != helpdesk_domain::Role::Agent => a.role,
        _ => anyhow::bail!("--supervisor must be a supervisor or admin in the directory"),
    };
    let actor = helpdesk_domain::Actor::Staff { email, role };
    Ok(helpdesk.rebalance(&actor, !apply).await?)
}
