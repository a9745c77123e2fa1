//! The router Lambda: an SQS event source mapping delivers batches of routing events; each
//! record is parsed and its ticket routed. Only the records that failed are reported back
//! (`ReportBatchItemFailures`), so SQS redelivers just those and, after `maxReceiveCount`,
//! moves them to the dead-letter queue. A record that is not a routing event (poison) is a
//! failure like any other: it is never retried into success, so it ends in the DLQ.
//!
//! The same queue carries the help centre's sign-in requests (the API answers at once and this
//! function looks the address up and mails the link; see `helpdesk_app::helpcentre`).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use helpdesk_adapters::aws::sqs::process_batch;
use helpdesk_app::queue::{parse_queue_message, Processed, QueueMessage};
use helpdesk_app::{AppError, Helpdesk};
use helpdesk_compose::{aws::Stack, Capability, ComposeError, Settings};
use lambda_runtime::LambdaEvent;

/// What the function needs besides its table: escalation mail, SMS pages of the leads on call,
/// and the platform's user API when `CUSTOMER_DIRECTORY_URL` is set.
pub const NEEDS: &[Capability] = &[
    Capability::Mail,
    Capability::SmsPaging,
    Capability::CustomerDirectory,
    // Help-centre sign-in requests ride on the routing queue: their links need the public URL.
    Capability::Links,
];

/// The function as `main` runs it (and the tests start it).
pub struct Function {
    helpdesk: Helpdesk,
}

impl Function {
    pub async fn build(settings: &Settings) -> Result<Self, ComposeError> {
        let helpdesk = Stack::connect(settings).await.helpdesk(NEEDS)?;
        Ok(Self { helpdesk })
    }

    pub fn helpdesk(&self) -> &Helpdesk {
        &self.helpdesk
    }

    /// One invocation: the batch's records routed, the failed ones reported.
    pub async fn handle(
        &self,
        event: LambdaEvent<SqsEvent>,
    ) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        Ok(handle(&self.helpdesk, event.payload).await)
    }
}

/// Processes every record of the batch; the response lists the failed ones.
pub async fn handle(helpdesk: &Helpdesk, event: SqsEvent) -> SqsBatchResponse {
    process_batch(event, |record| async move {
        let body = record.body.as_deref().unwrap_or("");
        let message = parse_queue_message(body)?;
        match (&message, helpdesk.process_queue_message(&message).await?) {
            (QueueMessage::Route(event), Processed::Routed(outcome)) => tracing::info!(
                ticket = %event.ticket_id,
                reason = %event.reason,
                already_routed = outcome.already_routed,
                decisions = outcome.decisions.len(),
                "routed"
            ),
            (QueueMessage::SignIn(request), Processed::SignIn(outcome)) => {
                // Never the address: the log must not tell who is a customer either.
                tracing::info!(request = %request.id, ?outcome, "sign-in request")
            }
            _ => {}
        }
        Ok::<(), AppError>(())
    })
    .await
}
