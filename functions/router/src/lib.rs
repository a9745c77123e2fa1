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
