//! Lambda entry point: configuration from the environment, SDK clients built once, then run.

use aws_lambda_events::event::sqs::SqsEvent;
use helpdesk_adapters::aws::DynamoTable;
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
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let table = DynamoTable::new(aws_sdk_dynamodb::Client::new(&config), table_name);
    let mut helpdesk = Helpdesk::new(
        Arc::new(table),
        Arc::new(SystemClock),
        Arc::new(UlidGen::default()),
    );
    // Escalation mail to supervisors goes out through SESv2 when configured.
    let ses = helpdesk_adapters::aws::ses::client_from(&config);
    if let Some(mail) =
        helpdesk_adapters::aws::ses::mail_settings_from(|k| std::env::var(k).ok(), ses)?
    {
        helpdesk = helpdesk.with_mail(mail);
    }
    // Escalations that notify supervisors also page the leads on call by SMS (SNS), with the
    // same limits as the SLA alerts' `sms-alerts` function.
    let paging = helpdesk_app::alerts::PagingOptions::from_env(|k| std::env::var(k).ok())?;
    helpdesk = helpdesk.with_sms_paging(
        Arc::new(helpdesk_adapters::aws::SnsSms::new(
            helpdesk_adapters::aws::sns::client_from(&config),
        )),
        paging,
    );
    // Help-centre sign-in requests ride on this queue: their links need the public URL.
    if let Some(links) =
        helpdesk_app::automations::AutomationConfig::from_env(|k| std::env::var(k).ok())?
    {
        helpdesk = helpdesk.with_automation(links);
    }
    if let Some(directory) =
        helpdesk_adapters::platform::HttpCustomerDirectory::from_env(|k| std::env::var(k).ok())?
    {
        helpdesk = helpdesk.with_customer_directory(Arc::new(directory));
    }
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let helpdesk = helpdesk.clone();
        async move {
            Ok::<_, lambda_runtime::Error>(helpdesk_router::handle(&helpdesk, event.payload).await)
        }
    }))
    .await
}
