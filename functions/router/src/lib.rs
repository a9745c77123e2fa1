//! The router Lambda: an SQS event source mapping delivers batches of routing events; each
//! record is parsed and its ticket routed. Only the records that failed are reported back
//! (`ReportBatchItemFailures`), so SQS redelivers just those and, after `maxReceiveCount`,
//! moves them to the dead-letter queue. A record that is not a routing event (poison) is a
//! failure like any other: it is never retried into success, so it ends in the DLQ.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use helpdesk_adapters::aws::sqs::process_batch;
use helpdesk_app::queue::{parse_routing_event, Processed};
use helpdesk_app::{AppError, Helpdesk};
use helpdesk_compose::{aws::Stack, Capability, ComposeError, Settings};
use lambda_runtime::LambdaEvent;

/// What the function needs besides its table: escalation mail, SMS pages of the leads on call,
/// and the platform's user API when `CUSTOMER_DIRECTORY_URL` is set.
pub const NEEDS: &[Capability] = &[
    Capability::Mail,
    Capability::SmsPaging,
    Capability::CustomerDirectory,
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

/// Routes every record of the batch; the response lists the failed ones.
pub async fn handle(helpdesk: &Helpdesk, event: SqsEvent) -> SqsBatchResponse {
    process_batch(event, |record| async move {
        let body = record.body.as_deref().unwrap_or("");
        let event = parse_routing_event(body)?;
        match helpdesk.process_routing_event(&event).await? {
            Processed::Routed(outcome) => tracing::info!(
                ticket = %event.ticket_id,
                reason = %event.reason,
                already_routed = outcome.already_routed,
                decisions = outcome.decisions.len(),
                "routed"
            ),
            Processed::UnknownTicket => {}
        }
        Ok::<(), AppError>(())
    })
    .await
}
