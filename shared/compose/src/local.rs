//! The self-hosted builder: everything lives in the data directory (the SQLite file, the key
//! files, the blob and outbox folders, the search index). Capabilities have the same names as
//! on AWS; their settings come from the data directory, the mail domain and the public URL
//! (flags or environment), and `HELPDESK_SMTP_RELAY` / `CUSTOMER_DIRECTORY_*`.

use crate::settings::{MailDomain, Settings, ThreadKey};
use crate::{needed, Capability, ComposeError};
use helpdesk_adapters::local::queue::{QueueSettings, SqliteQueue};
use helpdesk_adapters::local::{keyfile, SqliteTable};
use helpdesk_app::automations::AutomationConfig;
use helpdesk_app::inbound::InboundConfig;
use helpdesk_app::outbound::{MailSender, MailSettings};
use helpdesk_app::{Clock, Helpdesk, SystemClock, UlidGen};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The application on a data directory, and what `serve` needs besides it.
pub struct Local {
    pub helpdesk: Helpdesk,
    /// The embedded routing queue, when [`Capability::RoutingQueue`] was asked for (the
    /// `serve` worker consumes it).
    pub queue: Option<Arc<SqliteQueue>>,
    /// The signing key of local tokens (`DATA/keys/jwt.key`).
    pub jwt_key: Vec<u8>,
    /// Whether the database was created just now.
    pub first_start: bool,
}

/// What a command may change besides the settings.
#[derive(Clone)]
pub struct Options {
    /// The application's clock (`sweep --now` stops it at one instant).
    pub clock: Arc<dyn Clock>,
    /// The embedded routing queue's visibility timeout, retries and backoff.
    pub queue: QueueSettings,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            queue: QueueSettings::default(),
        }
    }
}

/// Opens the data directory (creating it, the database and the keys on first start) with the
/// capabilities in `needs` wired.
pub fn open(settings: &Settings, needs: &[Capability]) -> Result<Local, ComposeError> {
    open_with(settings, needs, Options::default())
}

/// [`open`] with a clock and queue settings of the caller's.
pub fn open_with(
    settings: &Settings,
    needs: &[Capability],
    options: Options,
) -> Result<Local, ComposeError> {
    let dir = data_dir(settings)?;
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let db = database_path(dir);
    let first_start = !db.exists();
    let table =
        SqliteTable::open(&db).map_err(|e| ComposeError::adapter("the database")(e.to_string()))?;
    let jwt_key = secret_file(&jwt_key_path(dir))?;
    let mut helpdesk = Helpdesk::new(Arc::new(table), options.clock, Arc::new(UlidGen::default()));
    let mut queue = None;
    for capability in crate::in_wiring_order(needs) {
        helpdesk = match capability {
            Capability::Mail => helpdesk.with_mail(mail_settings(settings)?),
            Capability::Inbound => helpdesk.with_inbound(inbound_config(settings)?),
            // Attachments and raw mail, and classifier models, are files in the data directory.
            Capability::MailBucket => helpdesk.with_blobs(Arc::new(
                helpdesk_adapters::local::blobs::FileBlobStore::new(dir),
            )),
            Capability::ClassifierModels => helpdesk.with_model_store(Arc::new(
                helpdesk_adapters::local::blobs::FileBlobStore::new(dir),
            )),
            Capability::RoutingQueue => {
                let q = Arc::new(
                    SqliteQueue::open(&db, helpdesk_adapters::local::queue::ROUTING, options.queue)
                        .map_err(|e| ComposeError::adapter("the routing queue")(e.to_string()))?,
                );
                queue = Some(q.clone());
                helpdesk.with_routing_queue(q)
            }
            Capability::Links => helpdesk.with_automation(automation_config(settings)?),
            // Escalations page the leads on call into `DATA/outbox/sms.jsonl`, as SLA alerts do.
            Capability::SmsPaging => helpdesk.with_sms_paging(
                Arc::new(helpdesk_adapters::local::outbox::OutboxSmsSender::new(dir)),
                settings.paging.clone(),
            ),
            Capability::CustomerDirectory => match crate::customer_directory(settings)? {
                Some(directory) => helpdesk.with_customer_directory(directory),
                None => helpdesk,
            },
            // The index takes its writer lock on the first write only, so CLI commands can
            // open the data directory beside a running server.
            Capability::KbSearch => helpdesk.with_kb_index(Arc::new(
                helpdesk_adapters::local::TantivyKbIndex::open(&kb_index_path(dir))
                    .map_err(|e| ComposeError::adapter("the search index")(e.to_string()))?,
            )),
            // Alerts go to the outbox (the binary's sink); the console signs in with local
            // tokens; the dead-letter list is the queue table's.
            Capability::Table
            | Capability::RoutingDeadLetters
            | Capability::SlaAlerts
            | Capability::ConsoleSignIn => helpdesk,
        };
    }
    Ok(Local {
        helpdesk,
        queue,
        jwt_key,
        first_start,
    })
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> ComposeError {
    move |source| ComposeError::Io { what, source }
}

fn secret_file(path: &Path) -> Result<Vec<u8>, ComposeError> {
    keyfile::load_or_create_secret(path).map_err(io(format!("reading {}", path.display())))
}

/// The data directory (`HELPDESK_DATA`, `--data`).
pub fn data_dir(settings: &Settings) -> Result<&Path, ComposeError> {
    Ok(needed(&settings.data_dir, "HELPDESK_DATA", Capability::Table)?.as_path())
}

/// The support address's domain; `helpdesk.localhost` unless set.
pub fn mail_domain(settings: &Settings) -> MailDomain {
    settings.mail.domain.clone().unwrap_or_default()
}

pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("helpdesk.db")
}

/// The embedded knowledge-base search index (derived data: `helpdesk reindex` rebuilds it).
pub fn kb_index_path(data_dir: &Path) -> PathBuf {
    data_dir.join("kb-index")
}

pub fn jwt_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("jwt.key")
}

/// The threading key: `DATA/keys/thread.key` (made on first use).
pub fn thread_key(data_dir: &Path) -> Result<ThreadKey, ComposeError> {
    Ok(ThreadKey::from_key_file(secret_file(
        &data_dir.join("keys").join("thread.key"),
    )?))
}

/// Inbound mail: the threading key of the data directory, the mail domain; outbound mail goes
/// out as `support@{domain}`, so mail from `support` is a loop.
pub fn inbound_config(settings: &Settings) -> Result<InboundConfig, ComposeError> {
    let key = thread_key(data_dir(settings)?)?;
    Ok(InboundConfig {
        signer: key.signer(&mail_domain(settings)),
        limits: helpdesk_mail::Limits::default(),
        support_local: "support".into(),
    })
}

/// Outbound mail: `Support <support@{domain}>`, signed with the same threading key inbound
/// mail verifies, sent through the SMTP relay when one is configured, else written to
/// `DATA/outbox/email/`.
pub fn mail_settings(settings: &Settings) -> Result<MailSettings, ComposeError> {
    let dir = data_dir(settings)?;
    let domain = mail_domain(settings);
    let key = thread_key(dir)?;
    let sender: Arc<dyn MailSender> = match &settings.mail.smtp_relay {
        Some(url) => Arc::new(
            helpdesk_adapters::local::smtp_relay::SmtpRelaySender::from_url(
                url.expose(),
                domain.as_str(),
            )
            .map_err(ComposeError::adapter("HELPDESK_SMTP_RELAY"))?,
        ),
        None => Arc::new(helpdesk_adapters::local::outbox::OutboxMailSender::new(dir)),
    };
    Ok(MailSettings {
        signer: key.signer(&domain),
        from: helpdesk_mail::Mailbox::new(format!("support@{domain}"), Some("Support")),
        sender,
    })
}

/// Signed public links: the key is `DATA/keys/links.key` (made on first use), the base URL the
/// public URL (`--public-url`).
pub fn automation_config(settings: &Settings) -> Result<AutomationConfig, ComposeError> {
    let dir = data_dir(settings)?;
    let url = needed(
        &settings.public_url,
        "HELPDESK_PUBLIC_URL",
        Capability::Links,
    )?;
    Ok(AutomationConfig {
        link_secret: secret_file(&dir.join("keys").join("links.key"))?,
        public_url: url.as_str().to_string(),
    })
}
