//! Use cases of the help desk, written once over narrow ports.
//!
//! Nothing here knows about DynamoDB, SQLite or HTTP: adapters implement the ports in
//! [`ports`], and the HTTP layer calls the functions of [`Helpdesk`].

pub mod alerts;
pub mod customer_directory;
pub mod directory;
pub mod error;
pub mod inbound;
pub mod keys;
pub mod listing;
pub mod outbound;
pub mod ports;
pub mod queue;
pub mod routing;
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
    /// Customer pre-population; the stored customers table when `None`.
    pub(crate) customer_directory: Option<Arc<dyn customer_directory::CustomerDirectory>>,
    /// Where new tickets' routing events go; off (`None`) until [`Helpdesk::with_routing_queue`].
    pub(crate) routing_queue: Option<Arc<dyn queue::RoutingQueue>>,
    /// AI categorisation for routing; without one every uncategorised ticket needs triage.
    pub(crate) classifier: Option<Arc<dyn ports::Classifier>>,
}

impl Helpdesk {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>, ids: Arc<dyn IdGen>) -> Self {
        Self {
            table,
            clock,
            ids,
            mail: None,
            customer_directory: None,
            routing_queue: None,
            classifier: None,
        }
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
