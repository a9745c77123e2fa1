//! Lambda entry point: configuration from the environment, SDK clients built once, then run.

use aws_lambda_events::event::ses::SimpleEmailEvent;
use helpdesk_adapters::aws::{DynamoTable, S3BlobStore};
use helpdesk_app::{Helpdesk, SystemClock, UlidGen};
use helpdesk_inbound_email::Settings;
use lambda_runtime::{service_fn, LambdaEvent};
use std::sync::Arc;

fn env(name: &'static str) -> Result<String, lambda_runtime::Error> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

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
    let table_name = env("TABLE_NAME")?;
    let bucket = env("MAIL_BUCKET")?;
    let prefix = std::env::var("MAIL_PREFIX").ok().filter(|p| !p.is_empty());
    let mut settings = Settings::new(
        prefix.as_deref(),
        &env("HELPDESK_THREAD_KEY")?,
        &env("HELPDESK_MAIL_DOMAIN")?,
    )?;
    settings.inbound.support_local =
        helpdesk_adapters::aws::ses::support_local(&|k| std::env::var(k).ok())?;
    // One config load (no network: credentials come from the Lambda environment) for both clients.
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let table = DynamoTable::new(aws_sdk_dynamodb::Client::new(&config), table_name);
    let blobs = S3BlobStore::new(helpdesk_adapters::aws::s3::client_from(&config), bucket);
    let mut helpdesk = Helpdesk::new(
        Arc::new(table),
        Arc::new(SystemClock),
        Arc::new(UlidGen::default()),
    );
    // A person who writes in is acknowledged through SES, as on the self-hosted server.
    if let Some(mail) = helpdesk_adapters::aws::ses::mail_settings_from(
        |k| std::env::var(k).ok(),
        helpdesk_adapters::aws::ses::client_from(&config),
    )? {
        helpdesk = helpdesk.with_mail(mail);
    }
    // New tickets' routing events go to the SQS routing queue (the router function consumes it).
    if let Some(queue) = helpdesk_adapters::aws::SqsRoutingQueue::from_env(
        helpdesk_adapters::aws::sqs::client_from(&config),
        |k| std::env::var(k).ok(),
    ) {
        helpdesk = helpdesk.with_routing_queue(Arc::new(queue));
    }
    let (blobs, settings) = (Arc::new(blobs), Arc::new(settings));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SimpleEmailEvent>| {
        let (helpdesk, blobs, settings) = (helpdesk.clone(), blobs.clone(), settings.clone());
        async move {
            helpdesk_inbound_email::handle(&helpdesk, blobs.as_ref(), &settings, event).await
        }
    }))
    .await
}
