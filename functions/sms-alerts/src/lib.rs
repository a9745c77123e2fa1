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
use helpdesk_adapters::aws::SnsSms;
use helpdesk_app::alerts::{PageReport, PagingOptions, SmsSender};
use helpdesk_app::sla::SlaAlert;
use helpdesk_app::Helpdesk;
use helpdesk_compose::{aws::Stack, Capability, ComposeError, Settings};
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

/// What the function needs besides its table: SMS through SNS, with the limits and console
/// link of `SMS_MAX_PER_RECIPIENT_PER_WINDOW` and `HELPDESK_CONSOLE_URL`.
pub const NEEDS: &[Capability] = &[Capability::SmsPaging];

/// The function as `main` runs it (and the tests start it).
pub struct Function {
    helpdesk: Helpdesk,
    sender: SnsSms,
    options: PagingOptions,
}

impl Function {
    pub async fn build(settings: &Settings) -> Result<Self, ComposeError> {
        let stack = Stack::connect(settings).await;
        Ok(Self {
            helpdesk: stack.helpdesk(NEEDS)?,
            sender: stack.sms(),
            options: stack.paging().clone(),
        })
    }

    pub fn helpdesk(&self) -> &Helpdesk {
        &self.helpdesk
    }

    pub async fn handle(
        &self,
        event: LambdaEvent<SnsEvent>,
    ) -> Result<SmsAlertsSummary, lambda_runtime::Error> {
        handle(&self.helpdesk, &self.sender, &self.options, event).await
    }
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
