//! The SMS alerts Lambda: subscribed to the SLA alert topic (filtered to alerts that page
//! supervisors), it pages every supervisor or admin on call by SMS.
//!
//! SNS invokes Lambda asynchronously and at least once: a failed invocation is retried twice,
//! then goes to the function's DLQ. So:
//! - a record whose message is not an SLA alert is logged and skipped — retrying cannot fix it,
//!   and failing would only push the good records of the event through the retries too;
//! - pages are claimed per alert and phone before sending, so a retry or a redrive of the same
//!   alert sends each SMS once;
//! - a storage error or an unavailable SMS provider fails the invocation (after every record was
//!   tried), and the retry pages only whom the first attempt missed.

use aws_lambda_events::event::sns::SnsEvent;
use helpdesk_app::alerts::{PageReport, PagingOptions, SmsSender};
use helpdesk_app::sla::SlaAlert;
use helpdesk_app::Helpdesk;
use lambda_runtime::LambdaEvent;
use serde::Serialize;

/// What one invocation did (the function's result).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SmsAlertsSummary {
    pub records: usize,
    /// Records skipped because their message is not an SLA alert.
    pub malformed: usize,
    /// One report per alert, in record order.
    pub pages: Vec<PageReport>,
}

impl SmsAlertsSummary {
    pub fn sent(&self) -> usize {
        self.pages.iter().map(|p| p.sent.len()).sum()
    }
}

/// Settings from the environment (set by template.yaml):
/// - `SMS_MAX_PER_RECIPIENT_PER_WINDOW`: SMS per phone per 10 minutes (default 5, 1–100);
/// - `HELPDESK_CONSOLE_URL`: the console's base URL, to link the ticket in the text (optional).
pub fn options_from_env(get: impl Fn(&str) -> Option<String>) -> Result<PagingOptions, String> {
    // One definition for every function that pages (this one and the router's escalations).
    PagingOptions::from_env(get)
}

/// One invocation: every record's alert paged; malformed records skipped.
pub async fn handle(
    helpdesk: &Helpdesk,
    sender: &dyn SmsSender,
    options: &PagingOptions,
    event: LambdaEvent<SnsEvent>,
) -> Result<SmsAlertsSummary, lambda_runtime::Error> {
    let mut summary = SmsAlertsSummary {
        records: event.payload.records.len(),
        ..Default::default()
    };
    let mut retry = Vec::new();
    for record in &event.payload.records {
        let message_id = &record.sns.message_id;
        let alert: SlaAlert = match serde_json::from_str(&record.sns.message) {
            Ok(alert) => alert,
            Err(e) => {
                // The message text may be anything; log its size, not its content.
                tracing::error!(%message_id, error = %e, bytes = record.sns.message.len(), "not an SLA alert; record skipped");
                summary.malformed += 1;
                continue;
            }
        };
        match helpdesk.page_on_call_with(&alert, sender, options).await {
            Ok(report) => {
                tracing::info!(
                    %message_id,
                    ticket = %alert.number,
                    sent = report.sent.len(),
                    opted_out = report.opted_out.len(),
                    rate_limited = report.rate_limited.len(),
                    already_paged = report.already_paged.len(),
                    rejected = report.rejected.len(),
                    failed = report.failed.len(),
                    "SLA alert paged"
                );
                if report.should_retry() {
                    retry.push(format!("{}: SMS provider unavailable", alert.number));
                }
                summary.pages.push(report);
            }
            Err(e) => {
                tracing::error!(%message_id, ticket = %alert.number, error = %e, "paging failed; the alert will be retried");
                retry.push(format!("{}: {e}", alert.number));
            }
        }
    }
    if retry.is_empty() {
        Ok(summary)
    } else {
        Err(format!("some pages must be retried: {}", retry.join("; ")).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use helpdesk_app::alerts::DEFAULT_MAX_SMS_PER_WINDOW;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn options_default_and_validate() {
        let o = options_from_env(env(&[])).expect("defaults");
        assert_eq!(o.max_per_window, DEFAULT_MAX_SMS_PER_WINDOW);
        assert_eq!(o.console_url, None);
        let o = options_from_env(env(&[
            ("SMS_MAX_PER_RECIPIENT_PER_WINDOW", "2"),
            ("HELPDESK_CONSOLE_URL", "https://desk.example.com"),
        ]))
        .expect("set");
        assert_eq!(o.max_per_window, 2);
        assert_eq!(o.console_url.as_deref(), Some("https://desk.example.com"));
        for bad in ["0", "101", "five", "-1"] {
            assert!(
                options_from_env(env(&[("SMS_MAX_PER_RECIPIENT_PER_WINDOW", bad)])).is_err(),
                "{bad}"
            );
        }
        assert!(options_from_env(env(&[("HELPDESK_CONSOLE_URL", "desk.example.com")])).is_err());
    }
}
