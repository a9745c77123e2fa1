//! Lambda entry point: configuration from the environment, SDK clients built once, then serve.

use helpdesk_adapters::aws::DynamoTable;
use helpdesk_app::{Helpdesk, SystemClock, UlidGen};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
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
    let table = DynamoTable::from_env(table_name).await;
    let helpdesk = Helpdesk::new(
        Arc::new(table),
        Arc::new(SystemClock),
        Arc::new(UlidGen::default()),
    );
    lambda_http::run(helpdesk_api::app(helpdesk)).await
}
