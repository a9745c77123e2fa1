//! Automations: CSAT surveys, "did this solve it?" follow-ups, auto-close, agents' follow-up
//! reminders and status-update e-mails — all scheduled work driven by the sweeper.
//!
//! | item | pk | sk | index |
//! |---|---|---|---|
//! | automation settings | `CFG#automation` | `CFG` | — |
//! | scheduled job | `T#{ticket}` | `JOB#{id}` | gsi1 `JOBS#{shard}` / `{due}#{ticket}#{id}` while pending |
//! | CSAT response (one per resolution) | `T#{ticket}` | `CSAT#{resolved at}` | — |
//! | unsubscribed customer | `CU#{email}` | `#UNSUB` | — |
//! | in-app notification | `AG#{email}` | `NOTIF#{ulid}` | — |
//!
//! A job is scheduled in the transaction of the change that causes it (resolving a ticket, an
//! agent's request), so it exists if and only if the change does, and survives restarts. A sweep
//! reads only due jobs (the sparse due index, see [`crate::due`]) and *claims* each by writing
//! it `done` on the version it read, in the same transaction as the job's effect (the queued
//! mail, the audit event): two overlapping sweeps run a job once, and a sweep that dies leaves it
//! pending for the next. Jobs tied to a resolution (survey, follow-up, auto-close) carry the
//! resolution's time; when they come due on a ticket that was reopened meanwhile (the customer
//! replied) they are cancelled instead of run, so a reply cancels them without touching them.

use crate::keys::{self, from_item, to_doc};
use crate::outbound::OutboundKind;
use crate::ports::{Condition, Index, Item, Key, Query, SortKey, TableError, WriteOp};
use crate::{AppError, Helpdesk};
use base64::Engine;
use helpdesk_domain::template::{escape_html, Template, TemplateValues};
use helpdesk_domain::{
    Actor, ActorRef, EmailAddress, Status, Ticket, TicketId, TicketNumber, TicketPatch, Timestamp,
};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

const JOBS_FAMILY: &str = "JOBS";

pub fn settings_key() -> Key {
    Key::new("CFG#automation", "CFG")
}

fn job_key(ticket: &TicketId, id: &str) -> Key {
    Key::new(keys::ticket_pk(ticket), format!("JOB#{id}"))
}

fn csat_key(ticket: &TicketId, resolution: &Timestamp) -> Key {
    Key::new(
        keys::ticket_pk(ticket),
        format!("CSAT#{}", keys::time_key(resolution)),
    )
}

pub fn unsubscribed_key(email: &EmailAddress) -> Key {
    Key::new(keys::customer_key(email).pk, "#UNSUB")
}

fn notification_key(agent: &EmailAddress, ulid: &str) -> Key {
    Key::new(keys::agent_key(agent).pk, format!("NOTIF#{ulid}"))
}

// ---------------------------------------------------------------------------------------------
// Settings.

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CsatSettings {
    pub enabled: bool,
    /// Minutes after a resolution before the survey goes out (0–43200).
    pub delay_minutes: u32,
    /// How long the survey's links work, in days (1–90).
    pub link_valid_days: u32,
}

impl Default for CsatSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            delay_minutes: 60,
            link_valid_days: 14,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AfterDays {
    pub enabled: bool,
    /// Days after the resolution (1–365).
    pub after_days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StatusUpdateSettings {
    pub enabled: bool,
    /// The statuses a change to which e-mails the customer (default resolved and closed).
    pub statuses: Vec<Status>,
}

impl Default for StatusUpdateSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            statuses: vec![Status::Resolved, Status::Closed],
        }
    }
}

/// What runs on its own. Everything is off until an admin turns it on. Changed settings apply
/// to what is scheduled from then on; a job already scheduled keeps its time but is skipped
/// when its automation has been turned off by the time it is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AutomationSettings {
    pub csat: CsatSettings,
    /// "Did this solve it?" e-mail N days after a resolution without a customer reply.
    pub follow_up: AfterDays,
    /// Close resolved tickets N days after the resolution (the system is the actor).
    pub auto_close: AfterDays,
    pub status_updates: StatusUpdateSettings,
}

impl Default for AutomationSettings {
    fn default() -> Self {
        Self {
            csat: CsatSettings::default(),
            follow_up: AfterDays {
                enabled: false,
                after_days: 3,
            },
            auto_close: AfterDays {
                enabled: false,
                after_days: 7,
            },
            status_updates: StatusUpdateSettings::default(),
        }
    }
}

impl AutomationSettings {
    pub fn validate(&self) -> Result<(), AppError> {
        let range = |field: &str, v: u32, lo: u32, hi: u32| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(AppError::validation(field, format!("must be {lo}-{hi}")))
            }
        };
        range("csat.delay_minutes", self.csat.delay_minutes, 0, 43_200)?;
        range("csat.link_valid_days", self.csat.link_valid_days, 1, 90)?;
        range("follow_up.after_days", self.follow_up.after_days, 1, 365)?;
        range("auto_close.after_days", self.auto_close.after_days, 1, 365)?;
        if self.follow_up.enabled
            && self.auto_close.enabled
            && self.auto_close.after_days <= self.follow_up.after_days
        {
            return Err(AppError::validation(
                "auto_close.after_days",
                "must be later than follow_up.after_days (a closed ticket gets no follow-up)",
            ));
        }
        Ok(())
    }
}

/// How the help desk signs and addresses its public links (surveys, unsubscribe).
#[derive(Clone)]
pub struct AutomationConfig {
    /// A secret of at least 32 bytes; links are signed with a key derived from it.
    pub link_secret: Vec<u8>,
    /// Base URL of the public pages (`https://desk.example.com`), without a trailing slash.
    pub public_url: String,
}

impl std::fmt::Debug for AutomationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutomationConfig")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------------
// Signed links.

use crate::signing::{b64, mac, verify_mac};

/// One survey answer's link: the ticket, the resolution (milliseconds), the rating and when the
/// link stops working, all under one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyToken {
    pub ticket_id: TicketId,
    pub resolution_ms: i64,
    pub rating: u8,
    pub expires: i64,
}

impl SurveyToken {
    fn payload(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.ticket_id, self.resolution_ms, self.rating, self.expires
        )
    }

    pub fn sign(&self, secret: &[u8]) -> String {
        let payload = self.payload();
        format!("{payload}.{}", b64(&mac(secret, "csat-v1", &payload)))
    }

    /// The token if its signature holds (expiry is the caller's check: it needs the time).
    pub fn verify(token: &str, secret: &[u8]) -> Option<SurveyToken> {
        let (payload, sig) = token.trim().rsplit_once('.')?;
        if token.len() > 300 || !verify_mac(secret, "csat-v1", payload, sig) {
            return None;
        }
        let mut parts = payload.split('.');
        let t = SurveyToken {
            ticket_id: TicketId::parse(parts.next()?).ok()?,
            resolution_ms: parts.next()?.parse().ok()?,
            rating: parts.next()?.parse().ok().filter(|r| (1..=5).contains(r))?,
            expires: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(t)
    }

    pub fn resolution(&self) -> Option<Timestamp> {
        chrono::DateTime::from_timestamp_millis(self.resolution_ms)
    }
}

/// The unsubscribe link's token: the address, signed (it never expires).
pub fn unsubscribe_token(email: &EmailAddress, secret: &[u8]) -> String {
    let payload = b64(email.as_str().as_bytes());
    format!("{payload}.{}", b64(&mac(secret, "unsub-v1", &payload)))
}

pub fn verify_unsubscribe_token(token: &str, secret: &[u8]) -> Option<EmailAddress> {
    let (payload, sig) = token.trim().split_once('.')?;
    if token.len() > 600 || !verify_mac(secret, "unsub-v1", payload, sig) {
        return None;
    }
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    EmailAddress::parse(std::str::from_utf8(&raw).ok()?).ok()
}

// ---------------------------------------------------------------------------------------------
// Jobs.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// The CSAT survey of one resolution.
    CsatSurvey,
    /// "Did this solve it?" after a resolution.
    FollowUp,
    /// Close a resolved ticket.
    AutoClose,
    /// An agent's follow-up: remind the assignee (and optionally e-mail the customer).
    Reminder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Pending,
    Done,
    /// Cancelled by an agent, or obsolete when due (the ticket was reopened, the automation
    /// turned off, the customer unsubscribed or bouncing); `outcome` says which.
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScheduledJob {
    pub id: String,
    pub ticket_id: TicketId,
    pub number: TicketNumber,
    pub kind: JobKind,
    pub due_at: chrono::DateTime<chrono::Utc>,
    pub state: JobState,
    /// The resolution a survey, follow-up or auto-close belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Reminders: a response template e-mailed to the customer when it fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_template: Option<String>,
    pub created_by: ActorRef,
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default)]
    pub version: u64,
}

fn job_item(job: &ScheduledJob, version: u64) -> Result<Item, AppError> {
    let mut stored = job.clone();
    stored.version = version;
    let mut item = Item::new(job_key(&job.ticket_id, &job.id), version, to_doc(&stored)?);
    if job.state == JobState::Pending {
        item = item.with_index(
            Index::Gsi1,
            crate::due::partition(JOBS_FAMILY, &job.ticket_id),
            crate::due::sort_key(&job.due_at, &format!("{}#{}", job.ticket_id, job.id)),
        );
    }
    Ok(item)
}

/// An agent's follow-up request.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFollowUp {
    /// When (RFC 3339), in the future and within a year.
    pub at: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    pub note: Option<String>,
    /// A response template to e-mail the customer at that time (rendered in their locale).
    #[serde(default)]
    pub email_template: Option<String>,
}

/// The customer's answer to one resolution's survey.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CsatResponse {
    pub ticket_id: TicketId,
    pub number: TicketNumber,
    pub resolution: chrono::DateTime<chrono::Utc>,
    /// 1 (very dissatisfied) – 5 (very satisfied).
    pub rating: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub answered_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// The day the answer counts in (statistics), `yyyy-mm-dd`.
    pub day: String,
}

/// What a click on a survey link did.
#[derive(Debug, Clone, PartialEq)]
pub enum SurveyOutcome {
    Recorded(CsatResponse),
    /// The same answer again (a replay): nothing written, the stored answer shown.
    Unchanged(CsatResponse),
    /// Another rating from the same survey: the customer changed their mind.
    Changed(CsatResponse),
}

impl SurveyOutcome {
    pub fn response(&self) -> &CsatResponse {
        match self {
            SurveyOutcome::Recorded(r)
            | SurveyOutcome::Unchanged(r)
            | SurveyOutcome::Changed(r) => r,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SurveyError {
    #[error("this survey link is not valid")]
    Invalid,
    #[error("this survey link has expired")]
    Expired,
    #[error("surveys are not available right now")]
    Unavailable,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct JobSweepReport {
    pub examined: usize,
    pub done: usize,
    pub cancelled: usize,
    /// Claimed by another sweep, or to be retried (a conflict, a storage error).
    pub skipped: usize,
    pub errors: usize,
    pub queries: usize,
    /// `{ticket number} {kind} {done|cancelled}` per job handled, for logs and `sweep` output.
    pub handled: Vec<String>,
}

/// An in-app notification for an agent (follow-up reminders, SLA warnings and breaches).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Notification {
    pub id: String,
    pub ticket_id: TicketId,
    pub number: TicketNumber,
    pub kind: String,
    pub text: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

pub const DEFAULT_SURVEY_SUBJECT: &str = "How did we do? {{ticket.subject}}";
pub const DEFAULT_SURVEY_BODY: &str = "Hello {{customer.first_name}},\n\nyour request {{ticket.number}} was resolved. How satisfied are you with the help you got? One click is enough:";
pub const DEFAULT_FOLLOW_UP_SUBJECT: &str = "Did this solve it? {{ticket.subject}}";
pub const DEFAULT_FOLLOW_UP_BODY: &str = "Hello {{customer.first_name}},\n\nwe resolved your request {{ticket.number}} a few days ago. Did that solve it? If not, simply reply to this e-mail and we will pick it up again.\n\n{{agent.name}}";
pub const DEFAULT_STATUS_SUBJECT: &str = "Update on your request: {{ticket.subject}}";

/// The template names the automations use (overridable per locale like any template).
pub const SURVEY_TEMPLATE: &str = "csat_survey";
pub const FOLLOW_UP_TEMPLATE: &str = "follow_up";

/// `status_resolved`, `status_closed`, …
pub fn status_template(status: Status) -> String {
    format!("status_{status}")
}

fn default_status_body(status: Status) -> String {
    let what = match status {
        Status::Resolved => "has been resolved. If anything is still not right, simply reply to this e-mail and we will reopen it",
        Status::Closed => "is now closed. Thank you for contacting us",
        Status::InProgress => "is being worked on",
        Status::Assigned => "has been assigned to a member of our team",
        Status::New => "is waiting for our team",
    };
    format!("Hello {{{{customer.first_name}}}},\n\nyour request {{{{ticket.number}}}} {what}.\n\n{{{{agent.name}}}}")
}

fn system(job: &str) -> Actor {
    Actor::System { job: job.into() }
}

/// What the ticket transaction must add for the automations a change starts.
#[derive(Default)]
pub(crate) struct AutomationWrites {
    pub ops: Vec<WriteOp>,
    /// Outbound mail queued by these writes, to deliver once they commit.
    pub mail: Vec<String>,
}

impl Helpdesk {
    /// Turns on signed public links (surveys, unsubscribe).
    pub fn with_automation(mut self, config: AutomationConfig) -> Self {
        self.automation = Some(std::sync::Arc::new(config));
        self
    }

    pub fn automation_config(&self) -> Option<&AutomationConfig> {
        self.automation.as_deref()
    }

    pub(crate) async fn automation_settings(&self) -> Result<AutomationSettings, AppError> {
        Ok(self
            .load_entity::<AutomationSettings>(&settings_key(), "reading automation settings")
            .await?
            .unwrap_or_default())
    }

    pub async fn get_automation_settings(
        &self,
        actor: &Actor,
    ) -> Result<(AutomationSettings, u64), AppError> {
        if !actor.is_staff() {
            return Err(AppError::Forbidden("automations are for the support team"));
        }
        let item = self
            .table
            .get(&settings_key())
            .await
            .map_err(AppError::storage("reading automation settings"))?;
        match item {
            Some(i) => Ok((from_item(&i)?, i.version)),
            None => Ok((AutomationSettings::default(), 0)),
        }
    }

    /// Replaces the settings; `if_match` (the version read, 0 before the first save) makes a
    /// stale write a conflict.
    pub async fn put_automation_settings(
        &self,
        actor: &Actor,
        settings: AutomationSettings,
        if_match: Option<u64>,
    ) -> Result<(AutomationSettings, u64), AppError> {
        if !actor.can_manage_directory() {
            return Err(AppError::Forbidden("only admins change automations"));
        }
        settings.validate()?;
        let current = self
            .table
            .get(&settings_key())
            .await
            .map_err(AppError::storage("reading automation settings"))?
            .map(|i| i.version)
            .unwrap_or(0);
        if let Some(expected) = if_match {
            if expected != current {
                return Err(AppError::Conflict {
                    detail: format!("the settings are at version {current}, not {expected}"),
                    current_version: Some(current),
                });
            }
        }
        let condition = if current == 0 {
            Condition::NotExists
        } else {
            Condition::VersionIs(current)
        };
        let version = current + 1;
        match self
            .table
            .put(
                Item::new(settings_key(), version, to_doc(&settings)?),
                condition,
            )
            .await
        {
            Ok(()) => Ok((settings, version)),
            Err(TableError::ConditionFailed) => Err(AppError::Conflict {
                detail: "the settings changed since they were read".into(),
                current_version: None,
            }),
            Err(e) => Err(AppError::storage("saving automation settings")(e)),
        }
    }

    pub(crate) async fn is_unsubscribed(&self, email: &EmailAddress) -> Result<bool, AppError> {
        Ok(self
            .table
            .get(&unsubscribed_key(email))
            .await
            .map_err(AppError::storage("reading an unsubscribe flag"))?
            .is_some())
    }

    /// Records that the customer wants no more automated e-mail (surveys, follow-ups, status
    /// updates). Idempotent.
    pub async fn unsubscribe(&self, token: &str) -> Result<EmailAddress, SurveyError> {
        let config = self.automation.as_deref().ok_or(SurveyError::Unavailable)?;
        let email =
            verify_unsubscribe_token(token, &config.link_secret).ok_or(SurveyError::Invalid)?;
        let doc = serde_json::json!({ "email": email, "at": self.clock.now() });
        match self
            .table
            .put(
                Item::new(unsubscribed_key(&email), 1, doc),
                Condition::NotExists,
            )
            .await
        {
            Ok(()) | Err(TableError::ConditionFailed) => Ok(email),
            Err(e) => {
                tracing::error!(error = %e, "could not record an unsubscribe");
                Err(SurveyError::Unavailable)
            }
        }
    }

    pub fn unsubscribe_url(&self, email: &EmailAddress) -> Option<String> {
        let c = self.automation.as_deref()?;
        Some(format!(
            "{}/unsubscribe/{}",
            c.public_url,
            unsubscribe_token(email, &c.link_secret)
        ))
    }

    /// The writes a ticket change adds for automations: jobs for a new resolution, a
    /// status-update e-mail. Called inside every ticket commit.
    pub(crate) async fn automation_writes(
        &self,
        before: &Ticket,
        after: &Ticket,
        actor_name: &str,
        now: Timestamp,
    ) -> Result<AutomationWrites, AppError> {
        let mut out = AutomationWrites::default();
        if before.status == after.status {
            return Ok(out);
        }
        let settings = self.automation_settings().await?;
        if after.status == Status::Resolved {
            let resolution = after.resolved_at.unwrap_or(now);
            let ms = resolution.timestamp_millis();
            let mut schedule =
                |kind: JobKind, prefix: &str, due: Timestamp| -> Result<(), AppError> {
                    let job = ScheduledJob {
                        id: format!("{prefix}-{ms}"),
                        ticket_id: after.id,
                        number: after.number,
                        kind,
                        due_at: due,
                        state: JobState::Pending,
                        resolution: Some(resolution),
                        note: None,
                        email_template: None,
                        created_by: system("automations").reference(),
                        created_at: now,
                        finished_at: None,
                        outcome: None,
                        version: 1,
                    };
                    out.ops.push(WriteOp::Put {
                        item: job_item(&job, 1)?,
                        condition: Condition::None,
                    });
                    Ok(())
                };
            if settings.csat.enabled {
                let due =
                    resolution + chrono::Duration::minutes(settings.csat.delay_minutes.into());
                schedule(JobKind::CsatSurvey, "csat", due)?;
            }
            if settings.follow_up.enabled {
                let due = resolution + chrono::Duration::days(settings.follow_up.after_days.into());
                schedule(JobKind::FollowUp, "followup", due)?;
            }
            if settings.auto_close.enabled {
                let due =
                    resolution + chrono::Duration::days(settings.auto_close.after_days.into());
                schedule(JobKind::AutoClose, "autoclose", due)?;
            }
        }
        if settings.status_updates.enabled
            && settings.status_updates.statuses.contains(&after.status)
            && !self.is_unsubscribed(&after.customer.email).await?
        {
            if let Some(mail) = self.mail.clone() {
                let name = status_template(after.status);
                let body = default_status_body(after.status);
                let (subject, text, html) = self
                    .render_automatic(after, &name, DEFAULT_STATUS_SUBJECT, &body, actor_name)
                    .await?;
                let (id, ops) = self.queue_automated_mail(
                    &mail,
                    after,
                    OutboundKind::StatusUpdate,
                    subject,
                    text,
                    html,
                    now,
                )?;
                out.ops.extend(ops);
                out.mail.push(id);
            }
        }
        Ok(out)
    }

    /// Subject, text and HTML of an automatic mail from the template `name` in the customer's
    /// locale (falling back to its language, then `en`), or from the default text.
    async fn render_automatic(
        &self,
        ticket: &Ticket,
        name: &str,
        default_subject: &str,
        default_body: &str,
        agent_name: &str,
    ) -> Result<(String, String, String), AppError> {
        let locale = self
            .load_customer(&ticket.customer.email)
            .await?
            .map(|c| c.locale)
            .unwrap_or_else(helpdesk_domain::people::default_locale);
        let template = self.find_template(name, &locale).await?;
        let (subject_src, body_src) = match &template {
            Some(t) => (
                t.subject.clone().unwrap_or_else(|| default_subject.into()),
                t.body.clone(),
            ),
            None => (default_subject.to_string(), default_body.to_string()),
        };
        let team = self
            .mail
            .as_ref()
            .and_then(|m| m.from.name.clone())
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "The support team".into());
        let agent = if agent_name.trim().is_empty() {
            team.as_str()
        } else {
            agent_name
        };
        let values = TemplateValues::new(
            ticket.customer.name.as_deref(),
            ticket.customer.email.as_str(),
            &ticket.number.to_string(),
            &ticket.subject,
            agent,
        );
        let parse = |src: &str| {
            Template::parse(src).map_err(|e| AppError::internal("parsing a stored template", e))
        };
        let (s, b) = (parse(&subject_src)?, parse(&body_src)?);
        let subject: String = s
            .render_text(&values)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        Ok((subject, b.render_text(&values), b.render_html(&values)))
    }

    /// Lists a ticket's scheduled jobs (staff), oldest due first.
    pub async fn list_follow_ups(
        &self,
        actor: &Actor,
        reference: &str,
    ) -> Result<Vec<ScheduledJob>, AppError> {
        if !actor.can_work_tickets() {
            return Err(AppError::Forbidden("follow-ups are for the support team"));
        }
        let ticket = self
            .resolve_ticket_ref(reference)
            .await?
            .filter(|t| actor.can_read_ticket(t))
            .ok_or(AppError::NotFound { what: "ticket" })?;
        self.ticket_jobs(&ticket.id).await
    }

    pub(crate) async fn ticket_jobs(
        &self,
        ticket: &TicketId,
    ) -> Result<Vec<ScheduledJob>, AppError> {
        let mut out = Vec::new();
        let mut q = Query::partition(None, keys::ticket_pk(ticket))
            .sk(SortKey::BeginsWith("JOB#".into()))
            .limit(200);
        loop {
            let page = self
                .table
                .query(&q)
                .await
                .map_err(AppError::storage("listing scheduled jobs"))?;
            for item in &page.items {
                out.push(from_item::<ScheduledJob>(item)?);
            }
            match page.cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        out.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
        Ok(out)
    }

    /// Schedules an agent's follow-up on a ticket.
    pub async fn schedule_follow_up(
        &self,
        actor: &Actor,
        reference: &str,
        input: NewFollowUp,
    ) -> Result<ScheduledJob, AppError> {
        if !actor.can_work_tickets() {
            return Err(AppError::Forbidden("follow-ups are for the support team"));
        }
        let ticket = self
            .resolve_ticket_ref(reference)
            .await?
            .filter(|t| actor.can_read_ticket(t))
            .ok_or(AppError::NotFound { what: "ticket" })?;
        let now = self.clock.now();
        if input.at <= now {
            return Err(AppError::validation("at", "must be in the future"));
        }
        if input.at > now + chrono::Duration::days(366) {
            return Err(AppError::validation("at", "must be within a year"));
        }
        let note = match input.note.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(n) if n.chars().count() > 2000 => {
                return Err(AppError::validation("note", "at most 2000 characters"))
            }
            Some(n) => Some(n.to_string()),
        };
        let email_template = match input.email_template.as_deref() {
            None => None,
            Some(name) => {
                let name = helpdesk_domain::template::parse_template_name(name).map_err(|_| {
                    AppError::validation("email_template", "is not a template name")
                })?;
                if self.find_template(&name, "en").await?.is_none()
                    && self
                        .find_template(
                            &name,
                            &self
                                .load_customer(&ticket.customer.email)
                                .await?
                                .map(|c| c.locale)
                                .unwrap_or_else(helpdesk_domain::people::default_locale),
                        )
                        .await?
                        .is_none()
                {
                    return Err(AppError::validation(
                        "email_template",
                        format!("no template {name:?}"),
                    ));
                }
                Some(name)
            }
        };
        let job = ScheduledJob {
            id: format!("remind-{}", self.ids.ulid()),
            ticket_id: ticket.id,
            number: ticket.number,
            kind: JobKind::Reminder,
            due_at: input.at,
            state: JobState::Pending,
            resolution: None,
            note,
            email_template,
            created_by: actor.reference(),
            created_at: now,
            finished_at: None,
            outcome: None,
            version: 1,
        };
        let event = self.audit(
            ticket.id,
            actor,
            "follow_up_scheduled",
            Vec::new(),
            Some(format!("{} for {}", job.id, keys::time_key(&job.due_at))),
            now,
        );
        self.table
            .transact(vec![
                WriteOp::Put {
                    item: job_item(&job, 1)?,
                    condition: Condition::NotExists,
                },
                WriteOp::Put {
                    item: keys::audit_item(&event)?,
                    condition: Condition::NotExists,
                },
            ])
            .await
            .map_err(AppError::storage("scheduling a follow-up"))?;
        Ok(job)
    }

    /// Cancels a pending job (staff). Cancelling one already cancelled is a no-op; one that
    /// already ran is a conflict.
    pub async fn cancel_follow_up(
        &self,
        actor: &Actor,
        reference: &str,
        id: &str,
    ) -> Result<ScheduledJob, AppError> {
        if !actor.can_work_tickets() {
            return Err(AppError::Forbidden("follow-ups are for the support team"));
        }
        let ticket = self
            .resolve_ticket_ref(reference)
            .await?
            .filter(|t| actor.can_read_ticket(t))
            .ok_or(AppError::NotFound { what: "ticket" })?;
        if id.is_empty()
            || id.len() > 80
            || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(AppError::NotFound { what: "follow-up" });
        }
        let item = self
            .table
            .get(&job_key(&ticket.id, id))
            .await
            .map_err(AppError::storage("reading a follow-up"))?
            .ok_or(AppError::NotFound { what: "follow-up" })?;
        let mut job: ScheduledJob = from_item(&item)?;
        match job.state {
            JobState::Cancelled => return Ok(job),
            JobState::Done => {
                return Err(AppError::Conflict {
                    detail: "the follow-up already ran".into(),
                    current_version: Some(item.version),
                })
            }
            JobState::Pending => {}
        }
        let now = self.clock.now();
        job.state = JobState::Cancelled;
        job.finished_at = Some(now);
        job.outcome = Some(format!("cancelled by {}", actor.reference().id));
        let event = self.audit(
            ticket.id,
            actor,
            "follow_up_cancelled",
            Vec::new(),
            Some(job.id.clone()),
            now,
        );
        match self
            .table
            .transact(vec![
                WriteOp::Put {
                    item: job_item(&job, item.version + 1)?,
                    condition: Condition::VersionIs(item.version),
                },
                WriteOp::Put {
                    item: keys::audit_item(&event)?,
                    condition: Condition::NotExists,
                },
            ])
            .await
        {
            Ok(()) => {
                job.version = item.version + 1;
                Ok(job)
            }
            Err(TableError::TransactionCancelled { .. }) => Err(AppError::Conflict {
                detail: "the follow-up changed (it may have just run); reload".into(),
                current_version: None,
            }),
            Err(e) => Err(AppError::storage("cancelling a follow-up")(e)),
        }
    }

    /// An agent's own in-app notifications, newest first.
    pub async fn list_notifications(
        &self,
        actor: &Actor,
        limit: usize,
    ) -> Result<Vec<Notification>, AppError> {
        let Some(email) = actor.staff_email() else {
            return Err(AppError::Forbidden(
                "notifications are for the support team",
            ));
        };
        let page = self
            .table
            .query(
                &Query::partition(None, keys::agent_key(email).pk)
                    .sk(SortKey::BeginsWith("NOTIF#".into()))
                    .forward(false)
                    .limit(limit.clamp(1, 200)),
            )
            .await
            .map_err(AppError::storage("listing notifications"))?;
        page.items.iter().map(from_item).collect()
    }

    /// One sweep of scheduled jobs at `now`: runs every pending job due by then, once.
    pub async fn sweep_jobs(&self, now: Timestamp) -> Result<JobSweepReport, AppError> {
        let mut report = JobSweepReport::default();
        let settings = self.automation_settings().await?;
        let mut scan = crate::due::DueScan::new(JOBS_FAMILY, now, 100);
        while let Some(items) = scan
            .next_page(self.table.as_ref(), "reading due jobs")
            .await?
        {
            for item in &items {
                report.examined += 1;
                match self.run_job(item, &settings, now).await {
                    Ok(Some((state, label))) => {
                        match state {
                            JobState::Done => report.done += 1,
                            _ => report.cancelled += 1,
                        }
                        report.handled.push(label);
                    }
                    Ok(None) => report.skipped += 1,
                    Err(e) => {
                        // One bad job must not hold up the rest; it stays due for the next sweep.
                        tracing::error!(error = %e, item = %item.key.sk, "scheduled job not run this sweep");
                        report.errors += 1;
                    }
                }
            }
        }
        report.queries = scan.queries;
        Ok(report)
    }

    /// Runs one due job; `None` when it was not ours to run (claimed elsewhere, not due, or a
    /// conflict to retry).
    async fn run_job(
        &self,
        item: &Item,
        settings: &AutomationSettings,
        now: Timestamp,
    ) -> Result<Option<(JobState, String)>, AppError> {
        let job: ScheduledJob = from_item(item)?;
        if job.state != JobState::Pending || job.due_at > now {
            return Ok(None);
        }
        let ticket = self.load_ticket(&job.ticket_id).await?;
        let Some(ticket) = ticket else {
            return self
                .finish(
                    item,
                    job,
                    JobState::Cancelled,
                    "the ticket is gone",
                    Vec::new(),
                    None,
                    now,
                )
                .await;
        };
        let same_resolution = job.resolution.is_some() && ticket.resolved_at == job.resolution;
        match job.kind {
            JobKind::CsatSurvey => {
                let open = !matches!(ticket.status, Status::Resolved | Status::Closed);
                let why = if !settings.csat.enabled {
                    Some("CSAT surveys are turned off")
                } else if open || !same_resolution {
                    Some("the ticket was reopened")
                } else if self.mail.is_none()
                    || self
                        .automation
                        .as_ref()
                        .is_none_or(|c| c.public_url.is_empty())
                {
                    Some("outbound mail or public links are not configured")
                } else {
                    self.mail_block_reason(&ticket.customer.email).await?
                };
                if let Some(why) = why {
                    return self
                        .finish(item, job, JobState::Cancelled, why, Vec::new(), None, now)
                        .await;
                }
                let (subject, text, html) = self.survey_mail(&ticket, settings, now).await?;
                let mail = self.mail.clone().ok_or(AppError::NotFound {
                    what: "mail settings",
                })?;
                let (id, mut ops) = self.queue_automated_mail(
                    &mail,
                    &ticket,
                    OutboundKind::Survey,
                    subject,
                    text,
                    html,
                    now,
                )?;
                let event = self.audit(
                    ticket.id,
                    &system("csat"),
                    "csat_survey_sent",
                    Vec::new(),
                    None,
                    now,
                );
                ops.push(WriteOp::Put {
                    item: keys::audit_item(&event)?,
                    condition: Condition::NotExists,
                });
                self.finish(item, job, JobState::Done, "survey sent", ops, Some(id), now)
                    .await
            }
            JobKind::FollowUp => {
                let why = if !settings.follow_up.enabled {
                    Some("follow-ups are turned off")
                } else if ticket.status != Status::Resolved || !same_resolution {
                    Some("the ticket was reopened or closed")
                } else if self.mail.is_none() {
                    Some("outbound mail is not configured")
                } else {
                    self.mail_block_reason(&ticket.customer.email).await?
                };
                if let Some(why) = why {
                    return self
                        .finish(item, job, JobState::Cancelled, why, Vec::new(), None, now)
                        .await;
                }
                let (subject, text, html) = self
                    .render_automatic(
                        &ticket,
                        FOLLOW_UP_TEMPLATE,
                        DEFAULT_FOLLOW_UP_SUBJECT,
                        DEFAULT_FOLLOW_UP_BODY,
                        "",
                    )
                    .await?;
                let (text, html) = self.with_unsubscribe(&ticket.customer.email, text, html);
                let mail = self.mail.clone().ok_or(AppError::NotFound {
                    what: "mail settings",
                })?;
                let (id, mut ops) = self.queue_automated_mail(
                    &mail,
                    &ticket,
                    OutboundKind::FollowUp,
                    subject,
                    text,
                    html,
                    now,
                )?;
                let event = self.audit(
                    ticket.id,
                    &system("follow-up"),
                    "follow_up_sent",
                    Vec::new(),
                    None,
                    now,
                );
                ops.push(WriteOp::Put {
                    item: keys::audit_item(&event)?,
                    condition: Condition::NotExists,
                });
                self.finish(
                    item,
                    job,
                    JobState::Done,
                    "follow-up sent",
                    ops,
                    Some(id),
                    now,
                )
                .await
            }
            JobKind::AutoClose => {
                let why = if !settings.auto_close.enabled {
                    Some("auto-close is turned off")
                } else if ticket.status != Status::Resolved || !same_resolution {
                    Some("the ticket was reopened or closed")
                } else {
                    None
                };
                if let Some(why) = why {
                    return self
                        .finish(item, job, JobState::Cancelled, why, Vec::new(), None, now)
                        .await;
                }
                let mut done = job.clone();
                done.state = JobState::Done;
                done.finished_at = Some(now);
                done.outcome = Some("closed".into());
                let claim = WriteOp::Put {
                    item: job_item(&done, item.version + 1)?,
                    condition: Condition::VersionIs(item.version),
                };
                let mut t = ticket.clone();
                let patch = TicketPatch {
                    status: Some(Status::Closed),
                    ..Default::default()
                };
                match self
                    .apply_patch(
                        &system("auto-close"),
                        &mut t,
                        patch,
                        "auto_closed",
                        Some(format!(
                            "no reply {} days after the resolution",
                            settings.auto_close.after_days
                        )),
                        vec![claim],
                    )
                    .await
                {
                    Ok(_) => Ok(Some((
                        JobState::Done,
                        format!("{} auto_close done", job.number),
                    ))),
                    // The ticket or the job changed meanwhile: the next sweep looks again.
                    Err(AppError::Conflict { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            }
            JobKind::Reminder => {
                let mut ops = Vec::new();
                let text = match &job.note {
                    Some(n) => format!("Follow-up due on {}: {n}", ticket.number),
                    None => format!("Follow-up due on {}", ticket.number),
                };
                let event = self.audit(
                    ticket.id,
                    &system("follow-up"),
                    "follow_up_due",
                    Vec::new(),
                    job.note.clone(),
                    now,
                );
                ops.push(WriteOp::Put {
                    item: keys::audit_item(&event)?,
                    condition: Condition::NotExists,
                });
                // The assignee is reminded; an unassigned ticket reminds whoever scheduled it.
                let who = ticket.assignee.clone().or_else(|| {
                    (job.created_by.kind != "customer" && job.created_by.kind != "system")
                        .then(|| EmailAddress::parse(&job.created_by.id).ok())
                        .flatten()
                });
                if let Some(agent) = who {
                    let id = self.ids.ulid().to_string();
                    let n = Notification {
                        id: id.clone(),
                        ticket_id: ticket.id,
                        number: ticket.number,
                        kind: "follow_up".into(),
                        text,
                        at: now,
                    };
                    ops.push(WriteOp::Put {
                        item: Item::new(notification_key(&agent, &id), 1, to_doc(&n)?)
                            .expiring_at(now.timestamp() + 90 * 24 * 3600),
                        condition: Condition::NotExists,
                    });
                }
                let mut mail_id = None;
                if let (Some(name), Some(mail)) = (&job.email_template, self.mail.clone()) {
                    if ticket.status != Status::Closed
                        && !self.is_unsubscribed(&ticket.customer.email).await?
                    {
                        let (subject, text, html) = self
                            .render_automatic(&ticket, name, DEFAULT_STATUS_SUBJECT, "", "")
                            .await?;
                        if !text.trim().is_empty() {
                            let (id, o) = self.queue_automated_mail(
                                &mail,
                                &ticket,
                                OutboundKind::FollowUp,
                                subject,
                                text,
                                html,
                                now,
                            )?;
                            ops.extend(o);
                            mail_id = Some(id);
                        }
                    }
                }
                self.finish(
                    item,
                    job,
                    JobState::Done,
                    "assignee reminded",
                    ops,
                    mail_id,
                    now,
                )
                .await
            }
        }
    }

    /// Why automated mail must not go to this address, if it must not.
    async fn mail_block_reason(
        &self,
        email: &EmailAddress,
    ) -> Result<Option<&'static str>, AppError> {
        if self.is_unsubscribed(email).await? {
            return Ok(Some("the customer unsubscribed"));
        }
        if self.is_bouncing(email).await? {
            return Ok(Some("the customer's address is bouncing"));
        }
        Ok(None)
    }

    /// Claims the job (its version as read) together with its effects; delivers the mail after.
    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        item: &Item,
        mut job: ScheduledJob,
        state: JobState,
        outcome: &str,
        mut ops: Vec<WriteOp>,
        mail: Option<String>,
        now: Timestamp,
    ) -> Result<Option<(JobState, String)>, AppError> {
        job.state = state;
        job.finished_at = Some(now);
        job.outcome = Some(outcome.to_string());
        ops.insert(
            0,
            WriteOp::Put {
                item: job_item(&job, item.version + 1)?,
                condition: Condition::VersionIs(item.version),
            },
        );
        let result = if ops.len() == 1 {
            match ops.pop() {
                Some(WriteOp::Put { item, condition }) => self.table.put(item, condition).await,
                _ => Ok(()),
            }
        } else {
            self.table.transact(ops).await
        };
        match result {
            Ok(()) => {}
            // Another sweep claimed it first: it ran there.
            Err(TableError::ConditionFailed | TableError::TransactionCancelled { .. }) => {
                return Ok(None)
            }
            Err(e) => return Err(AppError::storage("running a scheduled job")(e)),
        }
        if let Some(id) = mail {
            self.deliver_after_commit(&job.ticket_id, &id).await;
        }
        let label = match state {
            JobState::Done => "done",
            _ => "cancelled",
        };
        tracing::info!(ticket = %job.number, kind = ?job.kind, outcome, "scheduled job {label}");
        Ok(Some((
            state,
            format!("{} {} {label}", job.number, kind_name(job.kind)),
        )))
    }

    fn with_unsubscribe(
        &self,
        email: &EmailAddress,
        mut text: String,
        mut html: String,
    ) -> (String, String) {
        if let Some(url) = self.unsubscribe_url(email) {
            text.push_str(&format!("\n\n--\nNo more of these e-mails: {url}\n"));
            html.push_str(&format!(
                "<p style=\"color:#666;font-size:small\">No more of these e-mails? <a href=\"{0}\">Unsubscribe</a></p>\n",
                escape_html(&url)
            ));
        }
        (text, html)
    }

    /// The survey: the template's text, then one signed link per rating, then unsubscribe.
    async fn survey_mail(
        &self,
        ticket: &Ticket,
        settings: &AutomationSettings,
        now: Timestamp,
    ) -> Result<(String, String, String), AppError> {
        let config = self.automation.clone().ok_or(AppError::NotFound {
            what: "public links",
        })?;
        let (subject, mut text, mut html) = self
            .render_automatic(
                ticket,
                SURVEY_TEMPLATE,
                DEFAULT_SURVEY_SUBJECT,
                DEFAULT_SURVEY_BODY,
                "",
            )
            .await?;
        let resolution = ticket.resolved_at.unwrap_or(now);
        let expires =
            (now + chrono::Duration::days(settings.csat.link_valid_days.into())).timestamp();
        text.push_str("\n\n");
        html.push_str("<table role=\"presentation\" style=\"margin:1em 0\"><tr>\n");
        for rating in 1..=5u8 {
            let token = SurveyToken {
                ticket_id: ticket.id,
                resolution_ms: resolution.timestamp_millis(),
                rating,
                expires,
            }
            .sign(&config.link_secret);
            let url = format!("{}/survey/{token}", config.public_url);
            text.push_str(&format!("{rating} - {}: {url}\n", rating_label(rating)));
            html.push_str(&format!(
                "<td style=\"padding:4px\"><a href=\"{}\" style=\"display:inline-block;padding:10px 14px;border:1px solid #888;border-radius:6px;text-decoration:none\">{rating}<br><small>{}</small></a></td>\n",
                escape_html(&url),
                escape_html(rating_label(rating))
            ));
        }
        html.push_str("</tr></table>\n");
        let (text, html) = self.with_unsubscribe(&ticket.customer.email, text, html);
        Ok((subject, text, html))
    }

    /// Records a click on a survey link (public: the signed token is the authority).
    pub async fn answer_survey(&self, token: &str) -> Result<SurveyOutcome, SurveyError> {
        let (t, ticket) = self.check_survey_token(token).await?;
        let resolution = t.resolution().ok_or(SurveyError::Invalid)?;
        let now = self.clock.now();
        let key = csat_key(&ticket.id, &resolution);
        let current = self.table.get(&key).await.map_err(unavailable)?;
        let customer = Actor::Customer {
            email: ticket.customer.email.clone(),
        };
        match current {
            Some(item) => {
                let mut r: CsatResponse = from_item(&item).map_err(|_| SurveyError::Unavailable)?;
                if r.rating == t.rating {
                    return Ok(SurveyOutcome::Unchanged(r));
                }
                let delta = i64::from(t.rating) - i64::from(r.rating);
                let before = r.rating;
                r.rating = t.rating;
                r.updated_at = now;
                let event = self.audit(
                    ticket.id,
                    &customer,
                    "csat_changed",
                    vec![helpdesk_domain::FieldChange {
                        field: "csat".into(),
                        before: serde_json::json!(before),
                        after: serde_json::json!(r.rating),
                    }],
                    None,
                    now,
                );
                let mut ops = vec![
                    WriteOp::Put {
                        item: Item::new(
                            key,
                            item.version + 1,
                            to_doc(&r).map_err(|_| SurveyError::Unavailable)?,
                        ),
                        condition: Condition::VersionIs(item.version),
                    },
                    WriteOp::Put {
                        item: keys::audit_item(&event).map_err(|_| SurveyError::Unavailable)?,
                        condition: Condition::NotExists,
                    },
                ];
                ops.extend(crate::stats::csat_deltas(&r.day, 0, delta));
                match self.table.transact(ops).await {
                    Ok(()) => Ok(SurveyOutcome::Changed(r)),
                    // Two clicks at once: show what is stored now.
                    Err(TableError::TransactionCancelled { .. }) => self
                        .stored_answer(&ticket.id, &resolution)
                        .await
                        .map(SurveyOutcome::Unchanged),
                    Err(e) => Err(unavailable(e)),
                }
            }
            None => {
                let r = CsatResponse {
                    ticket_id: ticket.id,
                    number: ticket.number,
                    resolution,
                    rating: t.rating,
                    comment: None,
                    answered_at: now,
                    updated_at: now,
                    day: keys::day_key(&now),
                };
                let event = self.audit(
                    ticket.id,
                    &customer,
                    "csat_rated",
                    vec![helpdesk_domain::FieldChange {
                        field: "csat".into(),
                        before: serde_json::Value::Null,
                        after: serde_json::json!(r.rating),
                    }],
                    None,
                    now,
                );
                let mut ops = vec![
                    WriteOp::Put {
                        item: Item::new(key, 1, to_doc(&r).map_err(|_| SurveyError::Unavailable)?),
                        condition: Condition::NotExists,
                    },
                    WriteOp::Put {
                        item: keys::audit_item(&event).map_err(|_| SurveyError::Unavailable)?,
                        condition: Condition::NotExists,
                    },
                ];
                ops.extend(crate::stats::csat_deltas(&r.day, 1, i64::from(r.rating)));
                match self.table.transact(ops).await {
                    Ok(()) => Ok(SurveyOutcome::Recorded(r)),
                    Err(TableError::TransactionCancelled { .. }) => self
                        .stored_answer(&ticket.id, &resolution)
                        .await
                        .map(SurveyOutcome::Unchanged),
                    Err(e) => Err(unavailable(e)),
                }
            }
        }
    }

    /// Adds (or replaces) the comment of an answered survey; the same signed token authorises.
    pub async fn comment_survey(
        &self,
        token: &str,
        comment: &str,
    ) -> Result<CsatResponse, SurveyError> {
        let (t, ticket) = self.check_survey_token(token).await?;
        let resolution = t.resolution().ok_or(SurveyError::Invalid)?;
        let key = csat_key(&ticket.id, &resolution);
        let item = self
            .table
            .get(&key)
            .await
            .map_err(unavailable)?
            .ok_or(SurveyError::Invalid)?;
        let mut r: CsatResponse = from_item(&item).map_err(|_| SurveyError::Unavailable)?;
        let comment: String = comment
            .trim()
            .chars()
            .filter(|c| !c.is_control() || *c == '\n')
            .take(2000)
            .collect();
        if comment.is_empty() {
            return Ok(r);
        }
        let now = self.clock.now();
        r.comment = Some(comment.clone());
        r.updated_at = now;
        let customer = Actor::Customer {
            email: ticket.customer.email.clone(),
        };
        let event = self.audit(
            ticket.id,
            &customer,
            "csat_commented",
            Vec::new(),
            Some(comment),
            now,
        );
        let ops = vec![
            WriteOp::Put {
                item: Item::new(
                    key,
                    item.version + 1,
                    to_doc(&r).map_err(|_| SurveyError::Unavailable)?,
                ),
                condition: Condition::VersionIs(item.version),
            },
            WriteOp::Put {
                item: keys::audit_item(&event).map_err(|_| SurveyError::Unavailable)?,
                condition: Condition::NotExists,
            },
        ];
        match self.table.transact(ops).await {
            Ok(()) => Ok(r),
            Err(TableError::TransactionCancelled { .. }) => Err(SurveyError::Unavailable),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn check_survey_token(&self, token: &str) -> Result<(SurveyToken, Ticket), SurveyError> {
        let config = self.automation.as_deref().ok_or(SurveyError::Unavailable)?;
        let t = SurveyToken::verify(token, &config.link_secret).ok_or(SurveyError::Invalid)?;
        if t.expires < self.clock.now().timestamp() {
            return Err(SurveyError::Expired);
        }
        let ticket = self
            .load_ticket(&t.ticket_id)
            .await
            .map_err(|_| SurveyError::Unavailable)?
            .ok_or(SurveyError::Invalid)?;
        Ok((t, ticket))
    }

    async fn stored_answer(
        &self,
        ticket: &TicketId,
        resolution: &Timestamp,
    ) -> Result<CsatResponse, SurveyError> {
        let item = self
            .table
            .get(&csat_key(ticket, resolution))
            .await
            .map_err(unavailable)?
            .ok_or(SurveyError::Unavailable)?;
        from_item(&item).map_err(|_| SurveyError::Unavailable)
    }
}

pub const DEFAULT_SLA_WARNING_SUBJECT: &str =
    "SLA warning on {{ticket.number}}: {{ticket.subject}}";
pub const DEFAULT_SLA_BREACH_SUBJECT: &str =
    "SLA breached on {{ticket.number}}: {{ticket.subject}}";
pub const DEFAULT_SLA_BODY: &str =
    "Hello {{agent.first_name}},\n\nticket {{ticket.number}} ({{ticket.subject}}) needs attention.";
/// Escalation templates (overridable per locale like any template; rendered in `en` unless the
/// recipient's first language has a translation).
pub const SLA_WARNING_TEMPLATE: &str = "sla_warning";
pub const SLA_BREACH_TEMPLATE: &str = "sla_breach";

/// "75% of the first response target reached" / "the resolution target was missed".
fn alert_what(alert: &crate::sla::SlaAlert) -> String {
    let clock = alert.clock.to_string().replace('_', " ");
    match alert.percent {
        Some(p) => format!("{p}% of the {clock} target reached"),
        None => format!("the {clock} target was missed"),
    }
}

impl Helpdesk {
    /// E-mails an SLA warning or breach to the assignee and, when the alert pages, to every
    /// supervisor and admin, from the `sla_warning` / `sla_breach` templates. One mail per
    /// alert: its id comes from the alert, so a retried alert queues nothing twice. Best effort:
    /// a failure is logged (the alert itself went out through the sink).
    pub(crate) async fn queue_alert_mail(&self, alert: &crate::sla::SlaAlert) {
        if let Err(e) = self.try_notify_alert(alert).await {
            tracing::warn!(error = %e, ticket = %alert.number, "SLA alert notification not stored");
        }
        if let Err(e) = self.try_queue_alert_mail(alert).await {
            tracing::warn!(error = %e, ticket = %alert.number, "SLA alert e-mail not queued");
        }
    }

    /// The in-app side of an SLA alert: a notification for the same people the e-mail goes to.
    /// Its id comes from the alert, so a retried alert notifies nobody twice.
    async fn try_notify_alert(&self, alert: &crate::sla::SlaAlert) -> Result<(), AppError> {
        let people = self.alert_recipients(alert).await?;
        let what = alert_what(alert);
        // A ULID made from the alert (its time, and a hash of its reference, the one the SLA claims use):
        // notifications still sort by time, and a retried alert writes the same key.
        let digest =
            <sha2::Sha256 as sha2::Digest>::digest(crate::alerts::alert_ref(alert).as_bytes());
        let mut random = [0u8; 16];
        random.copy_from_slice(&digest[..16]);
        let id = ulid::Ulid::from_parts(
            u64::try_from(alert.at.timestamp_millis()).unwrap_or(0),
            u128::from_be_bytes(random),
        )
        .to_string();
        let now = self.clock.now();
        for agent in people {
            let n = Notification {
                id: id.clone(),
                ticket_id: alert.ticket_id,
                number: alert.number,
                kind: format!("sla_{}", alert.level),
                text: format!("{}: {what}", alert.number),
                at: now,
            };
            let item = Item::new(notification_key(&agent.email, &id), 1, to_doc(&n)?)
                .expiring_at(now.timestamp() + 90 * 24 * 3600);
            match self.table.put(item, Condition::NotExists).await {
                Ok(()) | Err(crate::ports::TableError::ConditionFailed) => {}
                Err(e) => return Err(AppError::storage("storing a notification")(e)),
            }
        }
        Ok(())
    }

    /// Who hears of an SLA alert: the assignee, and every supervisor and admin when it pages.
    async fn alert_recipients(
        &self,
        alert: &crate::sla::SlaAlert,
    ) -> Result<Vec<helpdesk_domain::Agent>, AppError> {
        let mut people: Vec<helpdesk_domain::Agent> = Vec::new();
        let mut q = Query::partition(Some(Index::Gsi1), keys::AGENTS_PARTITION).limit(200);
        loop {
            let page = self
                .table
                .query(&q)
                .await
                .map_err(AppError::storage("listing agents for an SLA e-mail"))?;
            for item in &page.items {
                let a: helpdesk_domain::Agent = from_item(item)?;
                let lead = matches!(
                    a.role,
                    helpdesk_domain::Role::Supervisor | helpdesk_domain::Role::Admin
                );
                if alert.assignee.as_ref() == Some(&a.email) || (alert.page_supervisors && lead) {
                    people.push(a);
                }
            }
            match page.cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        Ok(people)
    }

    async fn try_queue_alert_mail(&self, alert: &crate::sla::SlaAlert) -> Result<(), AppError> {
        let Some(mail) = self.mail.clone() else {
            return Ok(());
        };
        let Some(ticket) = self.load_ticket(&alert.ticket_id).await? else {
            return Ok(());
        };
        let people = self.alert_recipients(alert).await?;
        let breach = alert.percent.is_none();
        let (name, default_subject) = if breach {
            (SLA_BREACH_TEMPLATE, DEFAULT_SLA_BREACH_SUBJECT)
        } else {
            (SLA_WARNING_TEMPLATE, DEFAULT_SLA_WARNING_SUBJECT)
        };
        let what = alert_what(alert);
        let facts = format!(
            "{}: {what} at {} UTC (priority {}{}).",
            alert.number,
            alert.at.format("%Y-%m-%d %H:%M"),
            alert.priority,
            if alert.business_owner {
                ", business owner"
            } else {
                ""
            }
        );
        let link = self
            .automation
            .as_ref()
            .filter(|c| !c.public_url.is_empty())
            .map(|c| format!("{}/app/tickets/{}", c.public_url, alert.number));
        let now = self.clock.now();
        for (i, agent) in people.iter().enumerate() {
            let template = self
                .find_template(
                    name,
                    agent
                        .languages
                        .iter()
                        .next()
                        .map(String::as_str)
                        .unwrap_or("en"),
                )
                .await?;
            let (subject_src, body_src) = match &template {
                Some(t) => (
                    t.subject.clone().unwrap_or_else(|| default_subject.into()),
                    t.body.clone(),
                ),
                None => (default_subject.to_string(), DEFAULT_SLA_BODY.to_string()),
            };
            let values = TemplateValues::new(
                ticket.customer.name.as_deref(),
                ticket.customer.email.as_str(),
                &ticket.number.to_string(),
                &ticket.subject,
                &agent.name,
            );
            let parse = |src: &str| {
                Template::parse(src).map_err(|e| AppError::internal("parsing a stored template", e))
            };
            let (s, b) = (parse(&subject_src)?, parse(&body_src)?);
            let subject: String = s
                .render_text(&values)
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let mut text = b.render_text(&values);
            let mut html = b.render_html(&values);
            text.push_str(&format!("\n\n{facts}\n"));
            html.push_str(&format!(
                "<p><strong>{}</strong></p>\n",
                escape_html(&facts)
            ));
            if let Some(l) = &link {
                text.push_str(&format!("{l}\n"));
                html.push_str(&format!("<p><a href=\"{0}\">{0}</a></p>\n", escape_html(l)));
            }
            // The alert's identity (and the recipient) name the mail: re-queueing is a no-op.
            let digest = sha2::Digest::finalize(sha2::Digest::chain_update(
                <Sha256 as sha2::Digest>::new(),
                format!("{}|{i}|{}", crate::alerts::alert_ref(alert), agent.email).as_bytes(),
            ));
            let id = format!(
                "sla-{}",
                digest
                    .iter()
                    .take(12)
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            );
            let to = vec![helpdesk_mail::Mailbox::new(
                agent.email.to_string(),
                Some(agent.name.as_str()),
            )];
            let (id, ops) = self.queue_mail_to(
                &mail,
                &ticket,
                OutboundKind::SlaAlert,
                id,
                to,
                subject,
                text,
                html,
                now,
            )?;
            match self.table.transact(ops).await {
                Ok(()) => {
                    self.deliver_after_commit(&ticket.id, &id).await;
                }
                Err(TableError::TransactionCancelled { .. }) => {} // queued before
                Err(e) => return Err(AppError::storage("queueing an SLA e-mail")(e)),
            }
        }
        Ok(())
    }
}

fn unavailable(e: TableError) -> SurveyError {
    tracing::error!(error = %e, "storage error on a public survey page");
    SurveyError::Unavailable
}

pub fn rating_label(rating: u8) -> &'static str {
    match rating {
        1 => "Very dissatisfied",
        2 => "Dissatisfied",
        3 => "Neutral",
        4 => "Satisfied",
        _ => "Very satisfied",
    }
}

fn kind_name(kind: JobKind) -> &'static str {
    match kind {
        JobKind::CsatSurvey => "csat_survey",
        JobKind::FollowUp => "follow_up",
        JobKind::AutoClose => "auto_close",
        JobKind::Reminder => "reminder",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn token() -> SurveyToken {
        SurveyToken {
            ticket_id: TicketId::parse("tkt_01JDZ6K3Q2W9V8T7S6R5P4N3M2").expect("id"),
            resolution_ms: 1_767_600_000_123,
            rating: 4,
            expires: 1_768_000_000,
        }
    }

    #[test]
    fn survey_tokens_round_trip_and_resist_tampering() {
        let signed = token().sign(SECRET);
        assert_eq!(SurveyToken::verify(&signed, SECRET), Some(token()));
        // Another rating, ticket, resolution or expiry under the same signature fails.
        let sig = signed.rsplit_once('.').map(|(_, s)| s).unwrap_or_default();
        for forged in [
            format!("tkt_01JDZ6K3Q2W9V8T7S6R5P4N3M2.1767600000123.5.1768000000.{sig}"),
            format!("tkt_01JDZ6K3Q2W9V8T7S6R5P4N3M3.1767600000123.4.1768000000.{sig}"),
            format!("tkt_01JDZ6K3Q2W9V8T7S6R5P4N3M2.1767600000124.4.1768000000.{sig}"),
            format!("tkt_01JDZ6K3Q2W9V8T7S6R5P4N3M2.1767600000123.4.1868000000.{sig}"),
        ] {
            assert_eq!(SurveyToken::verify(&forged, SECRET), None, "{forged}");
        }
        assert_eq!(
            SurveyToken::verify(&signed, b"another secret of thirty-two b!!"),
            None
        );
        for junk in ["", ".", "a.b.c.d.e", "x".repeat(1000).as_str(), "....."] {
            assert_eq!(SurveyToken::verify(junk, SECRET), None);
        }
        let mut bad = token();
        bad.rating = 9;
        assert_eq!(SurveyToken::verify(&bad.sign(SECRET), SECRET), None);
    }

    #[test]
    fn unsubscribe_tokens_name_one_address() {
        let a = EmailAddress::parse("ana@example.com").expect("e");
        let t = unsubscribe_token(&a, SECRET);
        assert_eq!(verify_unsubscribe_token(&t, SECRET), Some(a));
        let other = unsubscribe_token(&EmailAddress::parse("bo@example.com").expect("e"), SECRET);
        let forged = format!(
            "{}.{}",
            other.split_once('.').map(|(p, _)| p).unwrap_or_default(),
            t.split_once('.').map(|(_, s)| s).unwrap_or_default()
        );
        assert_eq!(verify_unsubscribe_token(&forged, SECRET), None);
    }

    #[test]
    fn settings_are_checked() {
        assert!(AutomationSettings::default().validate().is_ok());
        let mut s = AutomationSettings::default();
        s.csat.link_valid_days = 0;
        assert!(
            matches!(s.validate(), Err(AppError::Validation { field, .. }) if field == "csat.link_valid_days")
        );
        let mut s = AutomationSettings::default();
        s.follow_up.enabled = true;
        s.auto_close.enabled = true;
        s.auto_close.after_days = 2;
        assert!(s.validate().is_err());
    }
}
