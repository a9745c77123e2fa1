//! Lambda entry point: configuration from the environment, SDK clients built once, then run.

use helpdesk_adapters::aws::{DynamoTable, SnsAlertSink};
use helpdesk_app::{Helpdesk, SystemClock, UlidGen};
use lambda_runtime::{service_fn, LambdaEvent};
use std::sync::Arc;

/// Unrouted-ticket markers examined per shard and minute; the next minute continues.
const RESWEEP_LIMIT: usize = 200;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .without_time() // CloudWatch stamps every line
        .init();
    let table_name = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let topic_arn = std::env::var("ALERTS_TOPIC_ARN").map_err(|_| "ALERTS_TOPIC_ARN is not set")?;
    // One config load (no network: credentials come from the Lambda environment) for both clients.
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let table = DynamoTable::new(aws_sdk_dynamodb::Client::new(&config), table_name);
    let sink = SnsAlertSink::new(helpdesk_adapters::aws::sns::client_from(&config), topic_arn);
    let mut helpdesk = Helpdesk::new(
        Arc::new(table),
        Arc::new(SystemClock),
        Arc::new(UlidGen::default()),
    );
    // Files on queued replies are read from the mail bucket when the sweeper retries them.
    if let Some(bucket) = std::env::var("MAIL_BUCKET").ok().filter(|b| !b.is_empty()) {
        let s3 = helpdesk_adapters::aws::s3::client_from(&config);
        helpdesk = helpdesk.with_blobs(Arc::new(helpdesk_adapters::aws::S3BlobStore::new(
            s3, bucket,
        )));
    }
    let ses = helpdesk_adapters::aws::ses::client_from(&config);
    if let Some(mail) =
        helpdesk_adapters::aws::ses::mail_settings_from(|k| std::env::var(k).ok(), ses)?
    {
        helpdesk = helpdesk.with_mail(mail);
    }
    // Received mail whose ingestion was interrupted is ingested again by the minute sweep.
    if let Some(inbound) =
        helpdesk_adapters::aws::ses::inbound_settings_from(|k| std::env::var(k).ok())?
    {
        helpdesk = helpdesk.with_inbound(inbound);
    }
    if let Some(links) =
        helpdesk_app::automations::AutomationConfig::from_env(|k| std::env::var(k).ok())?
    {
        helpdesk = helpdesk.with_automation(links);
    }
    // New tickets' routing events go to the SQS routing queue (the router function consumes it).
    if let Some(queue) = helpdesk_adapters::aws::SqsRoutingQueue::from_env(
        helpdesk_adapters::aws::sqs::client_from(&config),
        |k| std::env::var(k).ok(),
    ) {
        helpdesk = helpdesk.with_routing_queue(Arc::new(queue));
    }
    // Classifier models (the daily retraining task) live in S3 like the API function's.
    if let Some(bucket) = std::env::var("CLASSIFIER_BUCKET")
        .ok()
        .filter(|b| !b.is_empty())
    {
        helpdesk = helpdesk.with_model_store(Arc::new(helpdesk_adapters::aws::S3BlobStore::new(
            helpdesk_adapters::aws::s3::client_from(&config),
            bucket,
        )));
    }
    let sink = Arc::new(sink);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let (helpdesk, sink) = (helpdesk.clone(), sink.clone());
        async move {
            // The daily schedule's payload asks for retraining instead of a sweep.
            let report = match helpdesk_sla_sweeper::run(&helpdesk, sink.as_ref(), event).await? {
                retrain @ helpdesk_sla_sweeper::Outcome::Retrain(_) => return Ok(retrain),
                helpdesk_sla_sweeper::Outcome::Sweep(report) => report,
            };
            // The same minute also delivers queued mail (retries, and sends a crash interrupted),
            // as the self-hosted server's timer does. A failure here is logged; the next minute
            // catches up.
            if let Some(mail) = helpdesk.mail_settings() {
                if let Err(e) = helpdesk
                    .deliver_pending_mail(chrono::Utc::now(), mail.sender.as_ref())
                    .await
                {
                    tracing::error!(error = %e, "mail delivery sweep failed");
                }
            }
            // And re-enqueues tickets left unrouted (their enqueue failed or was lost).
            match helpdesk
                .resweep_unrouted(chrono::Utc::now(), RESWEEP_LIMIT)
                .await
            {
                Ok(r) if r.enqueued + r.errors > 0 => tracing::info!(
                    enqueued = r.enqueued,
                    errors = r.errors,
                    "re-enqueued unrouted tickets"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "routing resweep failed"),
            }
            // And ingests again received mail left pending (a crash or failure mid-way).
            match helpdesk
                .recover_inbound(chrono::Utc::now(), RESWEEP_LIMIT)
                .await
            {
                Ok(r) if r.examined > 0 => tracing::info!(
                    recovered = r.recovered,
                    quarantined = r.quarantined,
                    errors = r.errors,
                    "recovered stranded inbound mail"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "inbound recovery sweep failed"),
            }
            // And counts KB links of resolutions whose follow-up did not finish.
            if let Err(e) = helpdesk.sweep_kb_resolutions(RESWEEP_LIMIT).await {
                tracing::error!(error = %e, "KB resolution sweep failed");
            }
            Ok::<_, lambda_runtime::Error>(helpdesk_sla_sweeper::Outcome::Sweep(report))
        }
    }))
    .await
}
