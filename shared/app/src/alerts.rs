//! Paging supervisors on call by SMS when an SLA alert says so.
//!
//! An alert arrives at least once (SNS → Lambda retries, a DLQ redrive, a local replay), so
//! every page is claimed before it is sent, and a recipient's phone is protected by a rate
//! limit. Both live in the recipient's own partition:
//!
//! | item | pk | sk | notes |
//! |---|---|---|---|
//! | page claim | `SMS#{phone}` | `PAGE#{ticket}#{clock}#{at}#{w75\|breach}` | `attribute_not_exists` put; TTL 15 days |
//! | rate counter | `SMS#{phone}` | `RATE#{window start}` | atomic `ADD n`; one per 10-minute window; TTL window end + 1 h |
//!
//! The claim outlives every redelivery: SNS's retries to Lambda last hours, and a message
//! redriven from the DLQ is at most 14 days old (SQS's longest retention), so 15 days is enough
//! and the table does not keep a claim per page forever.

use crate::keys::{self, from_item};
use crate::ports::{Condition, Index, Item, Key, Query, TableError};
use crate::sla::SlaAlert;
use crate::{AppError, Helpdesk};
use async_trait::async_trait;
use helpdesk_domain::{Agent, EmailAddress, PhoneNumber, Timestamp};
use serde::Serialize;
use std::collections::BTreeMap;

/// The rate limit's window, in seconds.
pub const SMS_WINDOW_SECS: i64 = 600;
/// Default: at most this many SMS per recipient per window.
pub const DEFAULT_MAX_SMS_PER_WINDOW: u32 = 5;
/// One SMS segment of GSM-7 text.
pub const MAX_SMS_CHARS: usize = 160;
/// How long a page claim is kept (see the module docs).
pub const PAGE_CLAIM_TTL_SECS: i64 = 15 * 24 * 3600;
/// A counter outlives its window by this much, then DynamoDB's TTL removes it.
const COUNTER_GRACE_SECS: i64 = 3600;

/// What the SMS provider did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsOutcome {
    Sent,
    /// The number opted out of SMS (replied STOP); nothing was sent.
    OptedOut,
}

#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The provider refused this message for good (e.g. a number it cannot reach); retrying
    /// will not help.
    #[error("SMS rejected: {0}")]
    Rejected(String),
    /// The provider could not be reached or throttled us; the page may be retried.
    #[error("SMS provider unavailable: {0}")]
    Unavailable(String),
}

/// Sends one text message. SNS in AWS, the local outbox on a laptop.
#[async_trait]
pub trait SmsSender: Send + Sync {
    async fn send(&self, to: &PhoneNumber, text: &str) -> Result<SmsOutcome, SmsError>;
}

#[derive(Debug, Clone)]
pub struct PagingOptions {
    /// At most this many SMS per recipient per 10-minute window.
    pub max_per_window: u32,
    /// Base URL of the console (`https://desk.example.com`); when set, the text links the ticket.
    pub console_url: Option<String>,
}

impl Default for PagingOptions {
    fn default() -> Self {
        Self {
            max_per_window: DEFAULT_MAX_SMS_PER_WINDOW,
            console_url: None,
        }
    }
}

/// Who was paged and who was not, by agent e-mail (phone numbers stay out of reports and logs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PageReport {
    /// The alert does not page supervisors (a warning on an ordinary ticket).
    pub not_paging: bool,
    pub sent: Vec<EmailAddress>,
    pub opted_out: Vec<EmailAddress>,
    /// Over the per-recipient limit for the current window; not sent, and not retried.
    pub rate_limited: Vec<EmailAddress>,
    /// Paged for this alert before (a redelivery).
    pub already_paged: Vec<EmailAddress>,
    /// Refused by the provider for good.
    pub rejected: Vec<EmailAddress>,
    /// Not sent because the provider was unavailable; their claims were given back, so a retry
    /// of the same alert pages them (and only them).
    pub failed: Vec<EmailAddress>,
}

impl PageReport {
    /// Whether redelivering the alert could still page someone.
    pub fn should_retry(&self) -> bool {
        !self.failed.is_empty()
    }
}

/// The alert's identity: ticket, clock, when the threshold was reached, and which threshold.
pub fn alert_ref(alert: &SlaAlert) -> String {
    let what = alert
        .percent
        .map(|p| format!("w{p}"))
        .unwrap_or_else(|| "breach".into());
    format!(
        "{}#{}#{}#{what}",
        alert.ticket_id,
        alert.clock,
        keys::time_key(&alert.at)
    )
}

fn recipient_pk(phone: &PhoneNumber) -> String {
    format!("SMS#{phone}")
}

pub fn page_claim_key(phone: &PhoneNumber, alert: &SlaAlert) -> Key {
    page_claim_key_for(phone, &alert_ref(alert))
}

/// The claim of one page (identified by `reference`) to one phone.
pub fn page_claim_key_for(phone: &PhoneNumber, reference: &str) -> Key {
    Key::new(recipient_pk(phone), format!("PAGE#{reference}"))
}

/// One page to the leads on call: what identifies it (claims), the ticket (logs) and the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Stable across redeliveries of the same page: `{ticket}#{clock}#{at}#{w75|breach}` for an
    /// SLA alert, `{ticket}#escalation#{audit id}` for a routing escalation.
    pub reference: String,
    /// The ticket number, for logs.
    pub number: String,
    pub text: String,
}

/// The start of the 10-minute window holding `now` (windows start at :00, :10, … UTC).
pub fn window_start(now: Timestamp) -> Timestamp {
    let secs = now.timestamp();
    let start = secs - secs.rem_euclid(SMS_WINDOW_SECS);
    chrono::DateTime::from_timestamp(start, 0).unwrap_or(now)
}

pub fn rate_counter_key(phone: &PhoneNumber, now: Timestamp) -> Key {
    Key::new(
        recipient_pk(phone),
        format!("RATE#{}", keys::time_key(&window_start(now))),
    )
}

/// When the counter of the window holding `now` may go (unix seconds).
pub fn rate_counter_expiry(now: Timestamp) -> i64 {
    window_start(now).timestamp() + SMS_WINDOW_SECS + COUNTER_GRACE_SECS
}

/// The page: ticket number, what happened, priority, when, and a link — never customer data
/// (no name, e-mail or subject). ASCII only, so one GSM-7 segment of at most 160 characters;
/// the link is dropped if it would not fit.
pub fn sms_text(alert: &SlaAlert, console_url: Option<&str>) -> String {
    let what = match alert.percent {
        Some(p) => format!("WARNING {p}%"),
        None => "BREACH".to_string(),
    };
    let clock = alert.clock.to_string().replace('_', " ");
    let mut tags = vec![alert.priority.to_string()];
    if alert.business_owner {
        tags.push("business owner".into());
    }
    let head = format!(
        "{} {what} {clock} ({}) at {} UTC.",
        alert.number,
        tags.join(", "),
        alert.at.format("%H:%M")
    );
    let link = console_url
        .map(|base| base.trim().trim_end_matches('/'))
        .filter(|base| !base.is_empty() && base.is_ascii() && !base.contains(char::is_whitespace))
        .map(|base| format!(" Open: {base}/app/tickets/{}", alert.number));
    match link {
        Some(link) if head.len() + link.len() <= MAX_SMS_CHARS => head + &link,
        _ => format!("{head} Open it in the help desk console."),
    }
}

/// The page of a routing escalation: ticket number, priority, the rules that fired and a link —
/// no customer data. ASCII, at most one 160-character segment: rule ids that do not fit are
/// counted ("+2 more"), and the link is dropped if it would not fit.
pub fn escalation_sms_text(
    number: &str,
    priority: helpdesk_domain::Priority,
    business_owner: bool,
    rules: &[String],
    console_url: Option<&str>,
) -> String {
    let mut tags = vec![priority.to_string()];
    if business_owner {
        tags.push("business owner".into());
    }
    let head = format!("{number} ESCALATED ({})", tags.join(", "));
    // Rule ids are validated lower-case ASCII; the budget keeps room for the link's fallback.
    let budget = MAX_SMS_CHARS.saturating_sub(head.len() + 50);
    let mut listed: Vec<&str> = Vec::new();
    let mut used = 0;
    for r in rules {
        let r = r.as_str();
        if !r.is_ascii() || used + r.len() + 2 > budget {
            break;
        }
        used += r.len() + 2;
        listed.push(r);
    }
    let more = rules.len() - listed.len();
    let rules_text = match (listed.is_empty(), more) {
        (true, n) => format!("{n} rules"),
        (false, 0) => listed.join(", "),
        (false, n) => format!("{} +{n} more", listed.join(", ")),
    };
    let head = format!("{head}: {rules_text}.");
    let link = console_url
        .map(|base| base.trim().trim_end_matches('/'))
        .filter(|base| !base.is_empty() && base.is_ascii() && !base.contains(char::is_whitespace))
        .map(|base| format!(" Open: {base}/app/tickets/{number}"));
    match link {
        Some(link) if head.len() + link.len() <= MAX_SMS_CHARS => head + &link,
        _ => format!("{head} Open it in the help desk console."),
    }
}

/// SMS paging of routing escalations: the sender and limits [`Helpdesk::with_sms_paging`] set.
#[derive(Clone)]
pub struct SmsPaging {
    pub sender: std::sync::Arc<dyn SmsSender>,
    pub options: PagingOptions,
}

impl Helpdesk {
    /// Pages the supervisors and admins on call (with a phone) for an alert that asks for it,
    /// with the default limits.
    pub async fn page_on_call(
        &self,
        alert: &SlaAlert,
        sender: &dyn SmsSender,
    ) -> Result<PageReport, AppError> {
        self.page_on_call_with(alert, sender, &PagingOptions::default())
            .await
    }

    /// Pages every on-call lead once per alert (a claim per alert and phone), at most
    /// `max_per_window` SMS per phone per 10 minutes (an atomic counter per phone and window).
    /// Storage errors abort with an error (the alert is redelivered; claims already taken keep
    /// their pages from repeating); an unavailable SMS provider is reported in
    /// [`PageReport::failed`] with the claim given back.
    pub async fn page_on_call_with(
        &self,
        alert: &SlaAlert,
        sender: &dyn SmsSender,
        options: &PagingOptions,
    ) -> Result<PageReport, AppError> {
        if !alert.page_supervisors {
            return Ok(PageReport {
                not_paging: true,
                ..Default::default()
            });
        }
        let page = Page {
            reference: alert_ref(alert),
            number: alert.number.to_string(),
            text: sms_text(alert, options.console_url.as_deref()),
        };
        self.page_leads(&page, sender, options).await
    }

    /// Sends one page to every supervisor and admin on call with a phone: the path SLA alerts
    /// and routing escalations share. Each phone is claimed for `page.reference` before the
    /// send (a redelivery pages nobody twice), counted against its rate limit, and its opt-out
    /// is honoured by the sender.
    pub async fn page_leads(
        &self,
        page: &Page,
        sender: &dyn SmsSender,
        options: &PagingOptions,
    ) -> Result<PageReport, AppError> {
        let mut report = PageReport::default();
        let text = &page.text;
        for (phone, email) in self.on_call_phones().await? {
            let claim = page_claim_key_for(&phone, &page.reference);
            let now = self.clock.now();
            let doc = serde_json::json!({
                "alert": page.reference,
                "agent": email,
                "claimed_at": keys::time_key(&now),
            });
            let item =
                Item::new(claim.clone(), 1, doc).expiring_at(now.timestamp() + PAGE_CLAIM_TTL_SECS);
            match self.table.put(item, Condition::NotExists).await {
                Ok(()) => {}
                Err(TableError::ConditionFailed) => {
                    report.already_paged.push(email);
                    continue;
                }
                Err(e) => return Err(AppError::storage("claiming an SMS page")(e)),
            }
            let counter = rate_counter_key(&phone, now);
            let count = self.count_page(&counter, rate_counter_expiry(now)).await?;
            if count > i64::from(options.max_per_window) {
                // The claim stays: this page was decided (not sent), and a redelivery in the
                // same storm would be limited too.
                tracing::warn!(ticket = %page.number, to = %phone.masked(), count, "SMS rate limit reached; page not sent");
                report.rate_limited.push(email);
                continue;
            }
            match sender.send(&phone, text).await {
                Ok(SmsOutcome::Sent) => {
                    tracing::info!(ticket = %page.number, to = %phone.masked(), "paged by SMS");
                    report.sent.push(email);
                }
                Ok(SmsOutcome::OptedOut) => {
                    tracing::warn!(ticket = %page.number, agent = %email, "on-call phone opted out of SMS; not paged");
                    self.uncount_page(&counter).await;
                    report.opted_out.push(email);
                }
                Err(SmsError::Rejected(why)) => {
                    tracing::warn!(ticket = %page.number, agent = %email, error = %why, "SMS rejected");
                    self.uncount_page(&counter).await;
                    report.rejected.push(email);
                }
                Err(SmsError::Unavailable(why)) => {
                    tracing::warn!(ticket = %page.number, agent = %email, error = %why, "SMS not sent; the claim is given back for a retry");
                    self.uncount_page(&counter).await;
                    if let Err(e) = self.table.delete(&claim, Condition::Exists).await {
                        tracing::warn!(error = %e, "could not give back an SMS page claim");
                    }
                    report.failed.push(email);
                }
            }
        }
        Ok(report)
    }

    /// Counts one page in the window's counter, creating it with its expiry first.
    async fn count_page(&self, counter: &Key, expires_at: i64) -> Result<i64, AppError> {
        let mut fresh =
            Item::new(counter.clone(), 0, serde_json::json!({})).expiring_at(expires_at);
        fresh.counter = Some(0);
        match self.table.put(fresh, Condition::NotExists).await {
            Ok(()) | Err(TableError::ConditionFailed) => {}
            Err(e) => return Err(AppError::storage("starting an SMS rate window")(e)),
        }
        self.table
            .add(counter, 1)
            .await
            .map_err(AppError::storage("counting an SMS page"))
    }

    /// Gives a page back to the window (nothing was sent). Best effort: a lost decrement only
    /// makes the limit stricter for the rest of the window.
    async fn uncount_page(&self, counter: &Key) {
        if let Err(e) = self.table.add(counter, -1).await {
            tracing::warn!(error = %e, "could not give back an SMS rate-limit count");
        }
    }

    /// The phones to page, each once (two leads sharing a phone get one SMS), from the agents
    /// directory (gsi1 `AGENTS`, paged; no Scan).
    async fn on_call_phones(&self) -> Result<BTreeMap<PhoneNumber, EmailAddress>, AppError> {
        let mut out = BTreeMap::new();
        let mut q = Query::partition(Some(Index::Gsi1), keys::AGENTS_PARTITION).limit(200);
        loop {
            let page = self
                .table
                .query(&q)
                .await
                .map_err(AppError::storage("listing agents on call"))?;
            for item in &page.items {
                let agent: Agent = from_item(item)?;
                if let Some(phone) = agent.paged_phone() {
                    out.entry(phone.clone()).or_insert(agent.email.clone());
                }
            }
            match page.cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use helpdesk_domain::sla::ClockKind;
    use helpdesk_domain::{Priority, TicketId, TicketNumber};

    fn alert(percent: Option<u8>, priority: Priority, business_owner: bool) -> SlaAlert {
        SlaAlert {
            ticket_id: TicketId::parse("tkt_01JDZ6K3Q2W9V8T7S6R5P4N3M2").expect("id"),
            number: TicketNumber::new(12).expect("number"),
            clock: ClockKind::FirstResponse,
            level: if percent.is_some() {
                "warning"
            } else {
                "breach"
            }
            .into(),
            percent,
            at: chrono::Utc
                .with_ymd_and_hms(2026, 1, 5, 9, 30, 0)
                .single()
                .expect("t"),
            priority,
            business_owner,
            assignee: Some(EmailAddress::parse("private.agent@example.com").expect("e")),
            page_supervisors: true,
        }
    }

    #[test]
    fn the_text_names_the_ticket_and_links_it() {
        let text = sms_text(
            &alert(None, Priority::Urgent, false),
            Some("https://desk.example.com/"),
        );
        assert_eq!(
            text,
            "HD-12 BREACH first response (urgent) at 09:30 UTC. Open: https://desk.example.com/app/tickets/HD-12"
        );
        let text = sms_text(&alert(Some(90), Priority::High, true), None);
        assert_eq!(
            text,
            "HD-12 WARNING 90% first response (high, business owner) at 09:30 UTC. Open it in the help desk console."
        );
    }

    #[test]
    fn the_text_fits_one_segment_and_carries_no_personal_data() {
        let long = format!("https://{}.example.com", "x".repeat(200));
        for url in [
            None,
            Some("https://desk.example.com"),
            Some(long.as_str()),
            Some("  "),
            Some("https://bad url"),
        ] {
            for a in [
                alert(None, Priority::Urgent, true),
                alert(Some(75), Priority::Low, false),
            ] {
                let text = sms_text(&a, url);
                assert!(text.len() <= MAX_SMS_CHARS, "{} chars: {text}", text.len());
                assert!(text.is_ascii(), "{text}");
                assert!(!text.contains('@'), "no e-mail addresses: {text}");
                assert!(text.starts_with("HD-12 "), "{text}");
            }
        }
        // A link that does not fit is dropped, not cut.
        let text = sms_text(&alert(None, Priority::Urgent, true), Some(long.as_str()));
        assert!(!text.contains("https://"), "{text}");
    }

    #[test]
    fn escalation_text_names_ticket_priority_and_rules_only() {
        let rules = vec!["urgent-owner".to_string(), "ignored".to_string()];
        assert_eq!(
            escalation_sms_text("HD-7", Priority::Urgent, true, &rules, Some("https://desk.example.com/")),
            "HD-7 ESCALATED (urgent, business owner): urgent-owner, ignored. Open: https://desk.example.com/app/tickets/HD-7"
        );
        let many: Vec<String> = (0..30).map(|i| format!("rule-number-{i:02}")).collect();
        let text = escalation_sms_text(
            "HD-7",
            Priority::High,
            false,
            &many,
            Some("https://desk.example.com"),
        );
        assert!(text.len() <= MAX_SMS_CHARS, "{} chars: {text}", text.len());
        assert!(text.is_ascii());
        assert!(text.contains("more"), "{text}");
        let long = format!("https://{}.example.com", "x".repeat(200));
        let text = escalation_sms_text("HD-7", Priority::High, false, &rules, Some(&long));
        assert!(
            text.len() <= MAX_SMS_CHARS && !text.contains("https://"),
            "{text}"
        );
    }

    #[test]
    fn rate_windows_are_ten_minutes_and_keys_name_them() {
        let at = |h, m, s| {
            chrono::Utc
                .with_ymd_and_hms(2026, 1, 5, h, m, s)
                .single()
                .expect("t")
        };
        let phone = PhoneNumber::parse("+447700900123").expect("phone");
        assert_eq!(window_start(at(9, 0, 0)), at(9, 0, 0));
        assert_eq!(window_start(at(9, 9, 59)), at(9, 0, 0));
        assert_eq!(window_start(at(9, 10, 0)), at(9, 10, 0));
        assert_eq!(window_start(at(23, 59, 59)), at(23, 50, 0));
        assert_eq!(
            rate_counter_key(&phone, at(9, 17, 3)),
            Key::new("SMS#+447700900123", "RATE#2026-01-05T09:10:00.000Z")
        );
        assert_eq!(
            rate_counter_key(&phone, at(9, 10, 0)),
            rate_counter_key(&phone, at(9, 19, 59))
        );
        assert_ne!(
            rate_counter_key(&phone, at(9, 19, 59)),
            rate_counter_key(&phone, at(9, 20, 0))
        );
        // The counter outlives its window (TTL deletion is late, never early).
        assert_eq!(
            rate_counter_expiry(at(9, 17, 3)),
            at(9, 20, 0).timestamp() + 3600
        );
    }

    #[test]
    fn claims_are_per_alert_and_phone() {
        let phone = PhoneNumber::parse("+447700900123").expect("phone");
        let other = PhoneNumber::parse("+15550100123").expect("phone");
        let breach = alert(None, Priority::Urgent, false);
        let warning = alert(Some(90), Priority::Urgent, false);
        assert_eq!(
            page_claim_key(&phone, &breach),
            Key::new(
                "SMS#+447700900123",
                "PAGE#tkt_01JDZ6K3Q2W9V8T7S6R5P4N3M2#first_response#2026-01-05T09:30:00.000Z#breach"
            )
        );
        assert_ne!(
            page_claim_key(&phone, &breach),
            page_claim_key(&phone, &warning)
        );
        assert_ne!(
            page_claim_key(&phone, &breach),
            page_claim_key(&other, &breach)
        );
    }
}
