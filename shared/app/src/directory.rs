//! Agents, departments and customers: admins manage them, the team reads them.

use crate::keys::{self, from_item};
use crate::ports::{Condition, Item, Query, TableError};
use crate::{AppError, Helpdesk};
use helpdesk_domain::people::{parse_locale, parse_name};
use helpdesk_domain::{
    Actor, Agent, AgentStatus, Customer, Department, DepartmentId, EmailAddress, PhoneNumber, Role,
    Tier,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentInput {
    pub email: EmailAddress,
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub departments: BTreeSet<DepartmentId>,
    #[serde(default)]
    pub skills: BTreeSet<String>,
    #[serde(default)]
    pub languages: BTreeSet<String>,
    #[serde(default = "default_capacity")]
    pub capacity: u32,
    #[serde(default = "default_status")]
    pub status: AgentStatus,
    /// Mobile number in E.164 form (`+447700900123`; spaces and dashes are dropped), for SLA
    /// pages by SMS.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "+447700900123")]
    pub phone: Option<PhoneNumber>,
    /// Supervisors and admins on call (with a phone) are paged by SMS for breaches and for
    /// warnings on urgent or business-owner tickets.
    #[serde(default)]
    pub on_call: bool,
    /// For updates: the version read (or `If-Match`).
    #[serde(default)]
    pub version: Option<u64>,
}

fn default_capacity() -> u32 {
    20
}

fn default_status() -> AgentStatus {
    AgentStatus::Offline
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepartmentInput {
    pub id: DepartmentId,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub version: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    pub email: EmailAddress,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub tier: Option<Tier>,
    #[serde(default)]
    pub business_owner: Option<bool>,
    #[serde(default)]
    pub platform_user_id: Option<String>,
    /// The platform plan's name (finer than `tier`).
    #[serde(default)]
    pub plan: Option<String>,
    /// The platform account (organisation) the customer belongs to.
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub version: Option<u64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DirectoryPage<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Which directory a generic operation works on.
pub(crate) trait Entry: Serialize + DeserializeOwned {
    const WHAT: &'static str;
    const PARTITION: &'static str;
    fn item(&self) -> Result<Item, AppError>;
    fn version(&self) -> u64;
}

impl Entry for Agent {
    const WHAT: &'static str = "agent";
    const PARTITION: &'static str = keys::AGENTS_PARTITION;
    fn item(&self) -> Result<Item, AppError> {
        keys::agent_item(self)
    }
    fn version(&self) -> u64 {
        self.version
    }
}

impl Entry for Department {
    const WHAT: &'static str = "department";
    const PARTITION: &'static str = keys::DEPARTMENTS_PARTITION;
    fn item(&self) -> Result<Item, AppError> {
        keys::department_item(self)
    }
    fn version(&self) -> u64 {
        self.version
    }
}

impl Entry for Customer {
    const WHAT: &'static str = "customer";
    const PARTITION: &'static str = keys::CUSTOMERS_PARTITION;
    fn item(&self) -> Result<Item, AppError> {
        keys::customer_item(self)
    }
    fn version(&self) -> u64 {
        self.version
    }
}

/// An optional short label (plan, account id): 1-128 printable characters; absent keeps `prev`.
fn short_text(
    field: &'static str,
    input: Option<String>,
    prev: Option<String>,
) -> Result<Option<String>, AppError> {
    match input {
        None => Ok(prev),
        Some(v) if v.trim().is_empty() || v.len() > 128 || v.chars().any(char::is_control) => Err(
            AppError::validation(field, "must be 1-128 printable characters"),
        ),
        Some(v) => Ok(Some(v.trim().to_string())),
    }
}

pub(crate) fn require(ok: bool, why: &'static str) -> Result<(), AppError> {
    if ok {
        Ok(())
    } else {
        Err(AppError::Forbidden(why))
    }
}

impl Helpdesk {
    pub(crate) async fn list_entries<T: Entry>(
        &self,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<DirectoryPage<T>, AppError> {
        let page = self
            .table
            .query(
                &Query::partition(Some(crate::ports::Index::Gsi1), T::PARTITION)
                    .limit(limit.clamp(1, 200))
                    .cursor(cursor),
            )
            .await
            .map_err(AppError::storage("listing a directory"))?;
        let items = page
            .items
            .iter()
            .map(from_item)
            .collect::<Result<Vec<T>, _>>()?;
        Ok(DirectoryPage {
            items,
            next_cursor: page.cursor,
        })
    }

    /// Creates (`expected` = None) or replaces (`expected` = the version read) an entry.
    pub(crate) async fn save_entry<T: Entry>(
        &self,
        mut entry: T,
        previous: Option<&T>,
        expected: Option<u64>,
        set_version: impl FnOnce(&mut T, u64),
    ) -> Result<T, AppError> {
        let condition = match previous {
            None => Condition::NotExists,
            Some(prev) => {
                if let Some(v) = expected {
                    if v != prev.version() {
                        return Err(AppError::Conflict {
                            detail: format!(
                                "the {} is at version {}, not {v}",
                                T::WHAT,
                                prev.version()
                            ),
                            current_version: Some(prev.version()),
                        });
                    }
                }
                Condition::VersionIs(prev.version())
            }
        };
        set_version(&mut entry, previous.map(|p| p.version() + 1).unwrap_or(1));
        match self.table.put(entry.item()?, condition).await {
            Ok(()) => Ok(entry),
            Err(TableError::ConditionFailed) => Err(AppError::Conflict {
                detail: match previous {
                    None => format!("that {} already exists", T::WHAT),
                    Some(_) => format!(
                        "the {} changed since it was read; reload and try again",
                        T::WHAT
                    ),
                },
                current_version: None,
            }),
            Err(e) => Err(AppError::storage("saving a directory entry")(e)),
        }
    }

    pub(crate) async fn delete_entry(
        &self,
        key: crate::ports::Key,
        what: &'static str,
        version: u64,
        expected: Option<u64>,
    ) -> Result<(), AppError> {
        if expected.is_some_and(|v| v != version) {
            return Err(AppError::Conflict {
                detail: format!("the {what} changed since it was read"),
                current_version: Some(version),
            });
        }
        self.table
            .delete(&key, Condition::VersionIs(version))
            .await
            .map_err(|e| match e {
                TableError::ConditionFailed => AppError::Conflict {
                    detail: format!("the {what} changed since it was read"),
                    current_version: None,
                },
                other => AppError::storage("deleting a directory entry")(other),
            })
    }

    // ---- agents ----

    pub async fn list_agents(
        &self,
        actor: &Actor,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<DirectoryPage<Agent>, AppError> {
        require(
            actor.can_read_directory(),
            "only the support team reads the directory",
        )?;
        self.list_entries(limit, cursor).await
    }

    pub async fn get_agent(&self, actor: &Actor, email: &EmailAddress) -> Result<Agent, AppError> {
        require(
            actor.can_read_directory(),
            "only the support team reads the directory",
        )?;
        self.load_agent(email)
            .await?
            .ok_or(AppError::NotFound { what: "agent" })
    }

    async fn agent_from_input(
        &self,
        input: AgentInput,
        created_at: helpdesk_domain::Timestamp,
    ) -> Result<Agent, AppError> {
        let name = parse_name("name", &input.name)?;
        for d in &input.departments {
            if self.load_department(d).await?.is_none() {
                return Err(AppError::validation(
                    "departments",
                    format!("no department {d}"),
                ));
            }
        }
        if input.capacity > 1_000 {
            return Err(AppError::validation(
                "capacity",
                "must be at most 1000 open tickets",
            ));
        }
        let languages = input
            .languages
            .iter()
            .map(|l| {
                parse_locale(l).map_err(|_| {
                    AppError::validation("languages", format!("{l:?} is not a language tag"))
                })
            })
            .collect::<Result<_, _>>()?;
        let skills = helpdesk_domain::ticket::parse_tags(input.skills.iter().map(String::as_str))
            .map_err(|e| match e {
            helpdesk_domain::DomainError::Invalid { message, .. } => {
                AppError::validation("skills", message)
            }
            other => other.into(),
        })?;
        if input.on_call && input.phone.is_none() {
            return Err(AppError::validation(
                "phone",
                "an agent on call needs a phone number for SMS pages",
            ));
        }
        if input.on_call && input.role == Role::Agent {
            return Err(AppError::validation(
                "on_call",
                "only supervisors and admins go on call",
            ));
        }
        Ok(Agent {
            email: input.email,
            name,
            role: input.role,
            departments: input.departments,
            skills,
            languages,
            capacity: input.capacity,
            status: input.status,
            phone: input.phone,
            on_call: input.on_call,
            created_at,
            updated_at: self.clock.now(),
            version: 0,
        })
    }

    pub async fn create_agent(&self, actor: &Actor, input: AgentInput) -> Result<Agent, AppError> {
        require(actor.can_manage_directory(), "only admins manage agents")?;
        let agent = self.agent_from_input(input, self.clock.now()).await?;
        self.save_entry(agent, None, None, |a, v| a.version = v)
            .await
    }

    pub async fn update_agent(
        &self,
        actor: &Actor,
        email: &EmailAddress,
        input: AgentInput,
        if_match: Option<u64>,
    ) -> Result<Agent, AppError> {
        require(actor.can_manage_directory(), "only admins manage agents")?;
        if input.email != *email {
            return Err(AppError::validation(
                "email",
                "cannot change an agent's e-mail; create a new agent",
            ));
        }
        let prev = self
            .load_agent(email)
            .await?
            .ok_or(AppError::NotFound { what: "agent" })?;
        let expected = if_match.or(input.version);
        let agent = self.agent_from_input(input, prev.created_at).await?;
        let saved = self
            .save_entry(agent, Some(&prev), expected, |a, v| a.version = v)
            .await?;
        self.on_agent_status(prev.status, &saved).await;
        Ok(saved)
    }

    /// Agents set their own availability; supervisors set anyone's.
    pub async fn set_agent_status(
        &self,
        actor: &Actor,
        email: &EmailAddress,
        status: AgentStatus,
    ) -> Result<Agent, AppError> {
        require(
            actor.staff_email() == Some(email) || actor.is_supervisor(),
            "agents set only their own status",
        )?;
        let prev = self
            .load_agent(email)
            .await?
            .ok_or(AppError::NotFound { what: "agent" })?;
        let mut next = prev.clone();
        next.status = status;
        next.updated_at = self.clock.now();
        let saved = self
            .save_entry(next, Some(&prev), None, |a, v| a.version = v)
            .await?;
        // Becoming available picks up the department queues' waiting tickets.
        self.on_agent_status(prev.status, &saved).await;
        Ok(saved)
    }

    pub async fn delete_agent(
        &self,
        actor: &Actor,
        email: &EmailAddress,
        if_match: Option<u64>,
    ) -> Result<(), AppError> {
        require(actor.can_manage_directory(), "only admins manage agents")?;
        let prev = self
            .load_agent(email)
            .await?
            .ok_or(AppError::NotFound { what: "agent" })?;
        self.delete_entry(keys::agent_key(email), "agent", prev.version, if_match)
            .await
    }

    // ---- departments ----

    pub async fn list_departments(
        &self,
        actor: &Actor,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<DirectoryPage<Department>, AppError> {
        require(
            actor.can_read_directory(),
            "only the support team reads the directory",
        )?;
        self.list_entries(limit, cursor).await
    }

    pub async fn get_department(
        &self,
        actor: &Actor,
        id: &DepartmentId,
    ) -> Result<Department, AppError> {
        require(
            actor.can_read_directory(),
            "only the support team reads the directory",
        )?;
        self.load_department(id)
            .await?
            .ok_or(AppError::NotFound { what: "department" })
    }

    fn department_from_input(
        &self,
        input: DepartmentInput,
        created_at: helpdesk_domain::Timestamp,
    ) -> Result<Department, AppError> {
        let name = parse_name("name", &input.name)?;
        let description = input
            .description
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty());
        if description.as_ref().is_some_and(|d| d.len() > 2_000) {
            return Err(AppError::validation(
                "description",
                "must be at most 2000 bytes",
            ));
        }
        Ok(Department {
            id: input.id,
            name,
            description,
            created_at,
            updated_at: self.clock.now(),
            version: 0,
        })
    }

    pub async fn create_department(
        &self,
        actor: &Actor,
        input: DepartmentInput,
    ) -> Result<Department, AppError> {
        require(
            actor.can_manage_directory(),
            "only admins manage departments",
        )?;
        let d = self.department_from_input(input, self.clock.now())?;
        self.save_entry(d, None, None, |d, v| d.version = v).await
    }

    pub async fn update_department(
        &self,
        actor: &Actor,
        id: &DepartmentId,
        input: DepartmentInput,
        if_match: Option<u64>,
    ) -> Result<Department, AppError> {
        require(
            actor.can_manage_directory(),
            "only admins manage departments",
        )?;
        if input.id != *id {
            return Err(AppError::validation(
                "id",
                "cannot rename a department's id",
            ));
        }
        let prev = self
            .load_department(id)
            .await?
            .ok_or(AppError::NotFound { what: "department" })?;
        let expected = if_match.or(input.version);
        let d = self.department_from_input(input, prev.created_at)?;
        self.save_entry(d, Some(&prev), expected, |d, v| d.version = v)
            .await
    }

    pub async fn delete_department(
        &self,
        actor: &Actor,
        id: &DepartmentId,
        if_match: Option<u64>,
    ) -> Result<(), AppError> {
        require(
            actor.can_manage_directory(),
            "only admins manage departments",
        )?;
        let prev = self
            .load_department(id)
            .await?
            .ok_or(AppError::NotFound { what: "department" })?;
        self.delete_entry(
            keys::department_key(id),
            "department",
            prev.version,
            if_match,
        )
        .await
    }

    // ---- customers ----

    pub async fn list_customers(
        &self,
        actor: &Actor,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<DirectoryPage<Customer>, AppError> {
        require(
            actor.can_read_directory(),
            "only the support team reads the directory",
        )?;
        self.list_entries(limit, cursor).await
    }

    /// Customers may read their own profile.
    pub async fn get_customer(
        &self,
        actor: &Actor,
        email: &EmailAddress,
    ) -> Result<Customer, AppError> {
        let own = matches!(actor, Actor::Customer { email: me } if me == email);
        require(
            own || actor.can_read_directory(),
            "only the support team reads the directory",
        )?;
        self.load_customer(email)
            .await?
            .ok_or(AppError::NotFound { what: "customer" })
    }

    fn customer_from_input(
        &self,
        input: CustomerInput,
        prev: Option<&Customer>,
    ) -> Result<Customer, AppError> {
        let now = self.clock.now();
        let name = match input.name.as_deref() {
            Some(n) => Some(parse_name("name", n)?),
            None => prev.and_then(|p| p.name.clone()),
        };
        let locale = match input.locale.as_deref() {
            Some(l) => parse_locale(l)?,
            None => prev
                .map(|p| p.locale.clone())
                .unwrap_or_else(helpdesk_domain::people::default_locale),
        };
        let platform_user_id = match input.platform_user_id {
            Some(p) if p.trim().is_empty() || p.len() > 128 || p.chars().any(char::is_control) => {
                return Err(AppError::validation(
                    "platform_user_id",
                    "must be 1-128 printable characters",
                ))
            }
            Some(p) => Some(p.trim().to_string()),
            None => prev.and_then(|p| p.platform_user_id.clone()),
        };
        Ok(Customer {
            email: input.email,
            name,
            locale,
            tier: input.tier.or(prev.map(|p| p.tier)).unwrap_or_default(),
            business_owner: input
                .business_owner
                .or(prev.map(|p| p.business_owner))
                .unwrap_or(false),
            platform_user_id,
            plan: short_text("plan", input.plan, prev.and_then(|p| p.plan.clone()))?,
            account_id: short_text(
                "account_id",
                input.account_id,
                prev.and_then(|p| p.account_id.clone()),
            )?,
            created_at: prev.map(|p| p.created_at).unwrap_or(now),
            updated_at: now,
            version: 0,
        })
    }

    pub async fn create_customer(
        &self,
        actor: &Actor,
        input: CustomerInput,
    ) -> Result<Customer, AppError> {
        require(actor.can_manage_directory(), "only admins manage customers")?;
        let c = self.customer_from_input(input, None)?;
        self.save_entry(c, None, None, |c, v| c.version = v).await
    }

    /// Partial update: absent fields keep their value.
    pub async fn update_customer(
        &self,
        actor: &Actor,
        email: &EmailAddress,
        input: CustomerInput,
        if_match: Option<u64>,
    ) -> Result<Customer, AppError> {
        require(actor.can_manage_directory(), "only admins manage customers")?;
        if input.email != *email {
            return Err(AppError::validation(
                "email",
                "cannot change a customer's e-mail",
            ));
        }
        let prev = self
            .load_customer(email)
            .await?
            .ok_or(AppError::NotFound { what: "customer" })?;
        let expected = if_match.or(input.version);
        let c = self.customer_from_input(input, Some(&prev))?;
        self.save_entry(c, Some(&prev), expected, |c, v| c.version = v)
            .await
    }

    pub async fn delete_customer(
        &self,
        actor: &Actor,
        email: &EmailAddress,
        if_match: Option<u64>,
    ) -> Result<(), AppError> {
        require(actor.can_manage_directory(), "only admins manage customers")?;
        let prev = self
            .load_customer(email)
            .await?
            .ok_or(AppError::NotFound { what: "customer" })?;
        self.delete_entry(
            keys::customer_key(email),
            "customer",
            prev.version,
            if_match,
        )
        .await
    }
}
