//! Use cases of the help desk, written once over narrow ports.
//!
//! Nothing here knows about DynamoDB, SQLite or HTTP: adapters implement the ports in
//! [`ports`], and the HTTP layer calls the functions of [`Helpdesk`].

pub mod alerts;
pub mod attachments;
pub mod automations;
pub mod classify;
pub mod customer_directory;
pub mod directory;
pub mod due;
pub mod error;
pub mod forums;
pub mod help_requests;
pub mod helpcentre;
pub mod inbound;
pub mod kb;
pub mod keys;
pub mod listing;
pub mod outbound;
pub mod ports;
pub mod queue;
pub mod ratelimit;
pub mod rethread;
pub mod retry;
pub mod routing;
pub mod signing;
pub mod sla;
pub mod stats;
pub mod templates;
pub mod tickets;

pub use error::AppError;
pub use ports::{Clock, IdGen, SystemClock, Table, UlidGen};

use std::sync::Arc;

/// The application: every use case is a method on this, and it owns nothing but ports.
#[derive(Clone)]
pub struct Helpdesk {
    pub(crate) table: Arc<dyn Table>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: Arc<dyn IdGen>,
    /// Outbound e-mail; off (`None`) until [`Helpdesk::with_mail`].
    pub(crate) mail: Option<Arc<outbound::MailSettings>>,
    /// Where attachments and raw messages live; off (`None`) until [`Helpdesk::with_blobs`].
    pub(crate) blobs: Option<Arc<dyn inbound::BlobStore>>,
    /// Inbound mail settings, for reprocessing quarantined mail from the API.
    pub(crate) inbound: Option<Arc<inbound::InboundConfig>>,
    /// Ticket categorisation; off (`None`) until [`Helpdesk::with_classifier`] or
    /// [`Helpdesk::with_model_store`].
    pub(crate) classifier: Option<Arc<dyn ports::Classifier>>,
    /// Where trained models are stored; training is off without it.
    pub(crate) model_store: Option<Arc<dyn inbound::BlobStore>>,
    /// Signed public links (surveys, unsubscribe); off until [`Helpdesk::with_automation`].
    pub(crate) automation: Option<Arc<automations::AutomationConfig>>,
    /// Knowledge-base search index; off (`None`) until [`Helpdesk::with_kb_index`]. Without it
    /// the KB still stores and publishes articles, and search answers "unavailable".
    pub(crate) kb_index: Option<Arc<dyn ports::KbIndex>>,
    /// Customer pre-population; the stored customers table when `None`.
    pub(crate) customer_directory: Option<Arc<dyn customer_directory::CustomerDirectory>>,
    /// Where new tickets' routing events go; off (`None`) until [`Helpdesk::with_routing_queue`].
    pub(crate) routing_queue: Option<Arc<dyn queue::RoutingQueue>>,
    /// SMS paging of routing escalations; off (`None`) until [`Helpdesk::with_sms_paging`].
    pub(crate) sms: Option<Arc<alerts::SmsPaging>>,
    /// Where help-centre sign-in requests wait for the worker; without one (`None`, until
    /// [`Helpdesk::with_sign_in_queue`]) they are processed while the request runs.
    pub(crate) sign_in_queue: Option<Arc<dyn helpcentre::SignInQueue>>,
}

impl Helpdesk {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>, ids: Arc<dyn IdGen>) -> Self {
        Self {
            table,
            clock,
            ids,
            mail: None,
            blobs: None,
            inbound: None,
            classifier: None,
            model_store: None,
            automation: None,
            kb_index: None,
            customer_directory: None,
            routing_queue: None,
            sms: None,
            sign_in_queue: None,
        }
    }

    /// Turns on attachments (downloads, outbound files) with this blob store.
    pub fn with_blobs(mut self, blobs: Arc<dyn inbound::BlobStore>) -> Self {
        self.blobs = Some(blobs);
        self
    }

    /// Inbound mail settings, so admins can reprocess quarantined mail over the API.
    pub fn with_inbound(mut self, cfg: inbound::InboundConfig) -> Self {
        self.inbound = Some(Arc::new(cfg));
        self
    }

    /// Pages the supervisors and admins on call by SMS when routing escalates a ticket with
    /// "notify supervisors" (SNS in AWS, `DATA/outbox/sms.jsonl` locally): the same claims,
    /// rate limit and opt-outs as SLA alerts.
    pub fn with_sms_paging(
        mut self,
        sender: Arc<dyn alerts::SmsSender>,
        options: alerts::PagingOptions,
    ) -> Self {
        self.sms = Some(Arc::new(alerts::SmsPaging { sender, options }));
        self
    }

    /// Plugs in the knowledge-base search index (tantivy locally, OpenSearch in AWS).
    pub fn with_kb_index(mut self, index: Arc<dyn ports::KbIndex>) -> Self {
        self.kb_index = Some(index);
        self
    }

    /// The knowledge-base search index, when one is configured.
    pub fn kb_index(&self) -> Option<&Arc<dyn ports::KbIndex>> {
        self.kb_index.as_ref()
    }

    /// The application's clock (fixed in tests and `--now` runs).
    pub fn now(&self) -> helpdesk_domain::Timestamp {
        self.clock.now()
    }

    /// The storage port, for adapters' health checks and tools (benchmarks, imports).
    pub fn table(&self) -> &Arc<dyn Table> {
        &self.table
    }
}
