//! SQS: the routing queue ([`SqsRoutingQueue`]) and the one helper every SQS-triggered Lambda
//! uses to answer with a partial batch response ([`process_batch`]).
//!
//! Delivery, retries and dead-lettering are SQS's: the event source mapping delivers batches,
//! a record reported in `batchItemFailures` becomes visible again after the visibility timeout,
//! and the redrive policy (`maxReceiveCount`, template.yaml) moves it to the DLQ.

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::Client;
use helpdesk_app::helpcentre::{SignInQueue, SignInRequest};
use helpdesk_app::queue::{
    parse_routing_event, sign_in_message_body, DeadLetter, QueueError, RoutingQueue,
};
use helpdesk_app::routing::RoutingEvent;
use std::fmt::Display;
use std::future::Future;
use tracing::Instrument;

/// An SQS client for a local emulator (moto): fixed region and test credentials.
pub fn connect_local(endpoint_url: &str) -> Client {
    let config = aws_sdk_sqs::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "helpdesk-local",
        ))
        .endpoint_url(endpoint_url)
        .build();
    Client::from_conf(config)
}

/// A client from the standard AWS environment (credentials chain, region, `AWS_ENDPOINT_URL`).
pub fn client_from(config: &aws_config::SdkConfig) -> Client {
    Client::new(config)
}

fn unavailable<E: std::error::Error + Send + Sync + 'static>(
    e: aws_sdk_sqs::error::SdkError<E>,
) -> QueueError {
    QueueError::Unavailable(DisplayErrorContext(e).to_string().into())
}

/// The routing queue on SQS. `dead_letter_url` (the DLQ) serves the admins' dead-letter list.
pub struct SqsRoutingQueue {
    client: Client,
    queue_url: String,
    dead_letter_url: Option<String>,
}

impl SqsRoutingQueue {
    pub fn new(client: Client, queue_url: String, dead_letter_url: Option<String>) -> Self {
        Self {
            client,
            queue_url,
            dead_letter_url,
        }
    }

    fn dlq(&self) -> Result<&str, QueueError> {
        self.dead_letter_url
            .as_deref()
            .ok_or(QueueError::Unsupported("ROUTING_DLQ_URL is not set"))
    }

    /// Receives up to 10 dead letters, hidden for `hide_secs` (0 = a peek that leaves them).
    async fn receive_dead(
        &self,
        max: i32,
        hide_secs: i32,
    ) -> Result<Vec<aws_sdk_sqs::types::Message>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(self.dlq()?)
            .max_number_of_messages(max.clamp(1, 10))
            .visibility_timeout(hide_secs)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp,
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.messages.unwrap_or_default())
    }
}

/// Sign-in requests ride on the routing queue: the `router` function processes them after the
/// API has answered (see `helpdesk_app::helpcentre`).
#[async_trait]
impl SignInQueue for SqsRoutingQueue {
    async fn enqueue_sign_in(&self, request: &SignInRequest) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(sign_in_message_body(request)?)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl RoutingQueue for SqsRoutingQueue {
    async fn enqueue(&self, event: &RoutingEvent) -> Result<(), QueueError> {
        let body =
            serde_json::to_string(event).map_err(|e| QueueError::Unavailable(Box::new(e)))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// A peek at the DLQ: SQS returns at most 10 messages per receive, so this lists up to 10
    /// (visibility 0, so nothing is hidden from the next look). Ids are SQS message ids.
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let messages = self
            .receive_dead(i32::try_from(limit).unwrap_or(10), 0)
            .await?;
        Ok(messages
            .into_iter()
            .map(|m| {
                let body = m.body.clone().unwrap_or_default();
                let attrs = m.attributes.unwrap_or_default();
                let count = |k| {
                    attrs
                        .get(&k)
                        .and_then(|v: &String| v.parse::<u32>().ok())
                        .unwrap_or(0)
                };
                let sent = attrs
                    .get(&aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp)
                    .and_then(|v| v.parse::<i64>().ok())
                    .and_then(chrono::DateTime::from_timestamp_millis);
                DeadLetter {
                    id: m.message_id.unwrap_or_default(),
                    ticket_id: parse_routing_event(&body).ok().map(|e| e.ticket_id),
                    body,
                    attempts: count(
                        aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                    ),
                    last_error: None,
                    enqueued_at: sent,
                    dead_at: None,
                }
            })
            .collect())
    }

    /// Finds the message in the DLQ (receiving it hidden for 30 s), sends its body to the main
    /// queue and deletes it from the DLQ; the other messages received are made visible again.
    async fn requeue_dead_letter(&self, id: &str) -> Result<(), QueueError> {
        // A few receives: SQS samples servers, so one receive may miss a message.
        for _ in 0..5 {
            let batch = self.receive_dead(10, 30).await?;
            if batch.is_empty() {
                break;
            }
            let mut found = false;
            for m in batch {
                let handle = m.receipt_handle.clone().unwrap_or_default();
                if !found && m.message_id.as_deref() == Some(id) {
                    found = true;
                    self.client
                        .send_message()
                        .queue_url(&self.queue_url)
                        .message_body(m.body.clone().unwrap_or_default())
                        .send()
                        .await
                        .map_err(unavailable)?;
                    self.client
                        .delete_message()
                        .queue_url(self.dlq()?)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .map_err(unavailable)?;
                } else {
                    self.client
                        .change_message_visibility()
                        .queue_url(self.dlq()?)
                        .receipt_handle(handle)
                        .visibility_timeout(0)
                        .send()
                        .await
                        .map_err(unavailable)?;
                }
            }
            if found {
                return Ok(());
            }
        }
        Err(QueueError::NotFound)
    }
}

/// Runs `handle` on every record of an SQS batch (one tracing span per message, sequentially)
/// and reports only the failed ones, so SQS retries just those (`ReportBatchItemFailures`).
/// A handler error of any kind, a poison body included, is a failure: after `maxReceiveCount`
/// receives the redrive policy moves the message to the DLQ.
pub async fn process_batch<F, Fut, E>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("sqs_message", message_id = %id);
        let result = handle(record).instrument(span).await;
        if let Err(e) = result {
            tracing::warn!(message_id = %id, error = %e, "message failed; SQS will redeliver it");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}
