//! Customer pre-population: who the ticket's customer is on the platform (name, tier, business
//! owner, plan, locale, account). The first step of routing.
//!
//! The [`CustomerDirectory`] port has two implementations: the platform's user API over HTTP
//! (adapters) and the stored customers table ([`StoredCustomers`], fed by the admin API and
//! `helpdesk import-customers`). Without a configured directory the stored table answers.

use crate::keys::{self, from_item};
use crate::ports::{Index, Query, Table};
use crate::{AppError, Helpdesk};
use async_trait::async_trait;
use helpdesk_domain::{Customer, EmailAddress, Ticket, Tier};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What the directory knows of one customer. Absent fields leave the ticket's value alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerProfile {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tier: Option<Tier>,
    #[serde(default)]
    pub business_owner: Option<bool>,
    #[serde(default)]
    pub plan: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub platform_user_id: Option<String>,
}

impl From<&Customer> for CustomerProfile {
    fn from(c: &Customer) -> Self {
        Self {
            name: c.name.clone(),
            tier: Some(c.tier),
            business_owner: Some(c.business_owner),
            plan: c.plan.clone(),
            locale: Some(c.locale.clone()),
            account_id: c.account_id.clone(),
            platform_user_id: c.platform_user_id.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("customer directory unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The directory answered, but not with a profile we can read.
    #[error("customer directory answered something unreadable: {0}")]
    BadAnswer(String),
}

/// Looks customers up: by the platform user id when the ticket carries one (in-app tickets),
/// else by e-mail. `Ok(None)` means "not known there".
#[async_trait]
pub trait CustomerDirectory: Send + Sync {
    async fn lookup(
        &self,
        email: &EmailAddress,
        platform_user_id: Option<&str>,
    ) -> Result<Option<CustomerProfile>, DirectoryError>;
}

/// The stored customers table (`CU#{email}`, and gsi2 `PUID#{id}` for platform user ids).
pub struct StoredCustomers {
    table: Arc<dyn Table>,
}

impl StoredCustomers {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }
}

#[async_trait]
impl CustomerDirectory for StoredCustomers {
    async fn lookup(
        &self,
        email: &EmailAddress,
        platform_user_id: Option<&str>,
    ) -> Result<Option<CustomerProfile>, DirectoryError> {
        let unavailable = |e: crate::ports::TableError| DirectoryError::Unavailable(Box::new(e));
        let unreadable = |e: AppError| DirectoryError::BadAnswer(e.to_string());
        if let Some(puid) = platform_user_id.filter(|p| !p.trim().is_empty()) {
            let page = self
                .table
                .query(
                    &Query::partition(Some(Index::Gsi2), keys::platform_user_partition(puid))
                        .limit(1),
                )
                .await
                .map_err(unavailable)?;
            if let Some(item) = page.items.first() {
                let c: Customer = from_item(item).map_err(unreadable)?;
                return Ok(Some(CustomerProfile::from(&c)));
            }
        }
        match self
            .table
            .get(&keys::customer_key(email))
            .await
            .map_err(unavailable)?
        {
            Some(item) => {
                let c: Customer = from_item(&item).map_err(unreadable)?;
                Ok(Some(CustomerProfile::from(&c)))
            }
            None => Ok(None),
        }
    }
}

/// What enrichment did to a ticket (in memory: the caller stores the ticket).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Enrichment {
    /// Names of the customer fields that changed (`tier`, `plan`, …); empty = nothing new.
    pub changed: Vec<&'static str>,
    /// One line for the routing outcome and the audit.
    pub decision: String,
}

fn set<T: PartialEq>(slot: &mut T, value: T, name: &'static str, changed: &mut Vec<&'static str>) {
    if *slot != value {
        *slot = value;
        changed.push(name);
    }
}

/// Copies the profile's known fields onto the ticket's customer snapshot.
pub fn apply_profile(ticket: &mut Ticket, p: &CustomerProfile) -> Vec<&'static str> {
    let c = &mut ticket.customer;
    let mut changed = Vec::new();
    // The platform's values are shown in the console: format characters (bidi overrides) go.
    let clean = |s: &Option<String>| {
        s.as_deref()
            .map(helpdesk_domain::text::strip_format_chars)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s.len() <= 128 && !s.chars().any(char::is_control))
    };
    if let Some(v) = clean(&p.name) {
        set(&mut c.name, Some(v), "name", &mut changed);
    }
    if let Some(v) = p.tier {
        set(&mut c.tier, v, "tier", &mut changed);
    }
    if let Some(v) = p.business_owner {
        set(&mut c.business_owner, v, "business_owner", &mut changed);
    }
    if let Some(v) = clean(&p.plan) {
        set(&mut c.plan, Some(v), "plan", &mut changed);
    }
    if let Some(v) = p
        .locale
        .as_deref()
        .and_then(|l| helpdesk_domain::people::parse_locale(l).ok())
    {
        set(&mut c.locale, Some(v), "locale", &mut changed);
    }
    if let Some(v) = clean(&p.account_id) {
        set(&mut c.account_id, Some(v), "account_id", &mut changed);
    }
    if c.platform_user_id.is_none() {
        if let Some(v) = clean(&p.platform_user_id) {
            set(
                &mut c.platform_user_id,
                Some(v),
                "platform_user_id",
                &mut changed,
            );
        }
    }
    changed
}

impl Helpdesk {
    /// Uses `directory` for customer pre-population instead of the stored customers table.
    pub fn with_customer_directory(mut self, directory: Arc<dyn CustomerDirectory>) -> Self {
        self.customer_directory = Some(directory);
        self
    }

    /// The directory routing asks: the configured one, else the stored customers table.
    pub fn customer_directory(&self) -> Arc<dyn CustomerDirectory> {
        match &self.customer_directory {
            Some(d) => d.clone(),
            None => Arc::new(StoredCustomers::new(self.table.clone())),
        }
    }

    /// Routing's first step: fills the ticket's customer (name, tier, business owner, plan,
    /// locale, account id) from the directory. Changes the ticket in memory only; the caller
    /// stores it with its other routing changes. An unreachable directory does not stop routing:
    /// the ticket keeps the snapshot taken at creation, and the decision line says so.
    pub async fn enrich_customer(&self, ticket: &mut Ticket) -> Result<Enrichment, AppError> {
        let directory = self.customer_directory();
        let email = ticket.customer.email.clone();
        let puid = ticket.customer.platform_user_id.clone();
        match directory.lookup(&email, puid.as_deref()).await {
            Ok(Some(profile)) => {
                let changed = apply_profile(ticket, &profile);
                let decision = if changed.is_empty() {
                    "customer: directory profile already on the ticket".to_string()
                } else {
                    format!("customer: filled {} from the directory", changed.join(", "))
                };
                Ok(Enrichment { changed, decision })
            }
            Ok(None) => Ok(Enrichment {
                changed: Vec::new(),
                decision: "customer: not in the directory".into(),
            }),
            Err(e) => {
                tracing::warn!(error = %e, ticket = %ticket.id, "customer directory lookup failed; routing with the stored snapshot");
                Ok(Enrichment {
                    changed: Vec::new(),
                    decision: format!(
                        "customer: directory lookup failed ({e}); kept the ticket's snapshot"
                    ),
                })
            }
        }
    }
}

/// What an idempotent customer upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Upsert {
    Created,
    Updated,
    Unchanged,
}

/// True when every field the input sets already has that value (so a re-import writes nothing).
fn same_as(prev: &Customer, input: &crate::directory::CustomerInput) -> bool {
    let text = |v: &Option<String>, p: Option<&str>| match v {
        None => true,
        Some(v) => Some(v.trim()) == p,
    };
    text(&input.name, prev.name.as_deref())
        && input.locale.as_deref().is_none_or(|l| {
            helpdesk_domain::people::parse_locale(l).ok().as_deref() == Some(prev.locale.as_str())
        })
        && input.tier.is_none_or(|t| t == prev.tier)
        && input
            .business_owner
            .is_none_or(|b| b == prev.business_owner)
        && text(&input.plan, prev.plan.as_deref())
        && text(&input.account_id, prev.account_id.as_deref())
        && text(&input.platform_user_id, prev.platform_user_id.as_deref())
}

impl Helpdesk {
    /// Creates the customer, or updates the fields the input sets (others are kept); writes
    /// nothing when the stored profile already matches. For imports (`helpdesk import-customers`).
    pub async fn upsert_customer(
        &self,
        actor: &helpdesk_domain::Actor,
        input: crate::directory::CustomerInput,
    ) -> Result<Upsert, AppError> {
        crate::directory::require(actor.can_manage_directory(), "only admins manage customers")?;
        let email = input.email.clone();
        match self.load_customer(&email).await? {
            Some(prev) if same_as(&prev, &input) => Ok(Upsert::Unchanged),
            Some(_) => {
                self.update_customer(actor, &email, input, None).await?;
                Ok(Upsert::Updated)
            }
            None => match self.create_customer(actor, input.clone()).await {
                Ok(_) => Ok(Upsert::Created),
                // Created concurrently: apply the row as an update.
                Err(AppError::Conflict { .. }) => {
                    self.update_customer(actor, &email, input, None).await?;
                    Ok(Upsert::Updated)
                }
                Err(e) => Err(e),
            },
        }
    }
}
