//! Lambda entry point: configuration from the environment, SDK clients built once, then run.

use aws_lambda_events::event::sns::SnsEvent;
use helpdesk_adapters::aws::{DynamoTable, SnsSms};
use helpdesk_app::{Helpdesk, SystemClock, UlidGen};
use lambda_runtime::{service_fn, LambdaEvent};
use std::sync::Arc;

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
    let options = helpdesk_sms_alerts::options_from_env(|k| std::env::var(k).ok())?;
    // One config load (no network: credentials come from the Lambda environment) for both clients.
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let table = DynamoTable::new(aws_sdk_dynamodb::Client::new(&config), table_name);
    let sender = Arc::new(SnsSms::new(helpdesk_adapters::aws::sns::client_from(
        &config,
    )));
    let helpdesk = Helpdesk::new(
        Arc::new(table),
        Arc::new(SystemClock),
        Arc::new(UlidGen::default()),
    );
    let options = Arc::new(options);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SnsEvent>| {
        let (helpdesk, sender, options) = (helpdesk.clone(), sender.clone(), options.clone());
        async move {
            helpdesk_sms_alerts::handle(&helpdesk, sender.as_ref(), &options, event).await
        }
    }))
    .await
}
