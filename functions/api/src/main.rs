//! Lambda entry point: configuration from the environment, SDK clients built once, then serve.

use helpdesk_adapters::aws::cognito::{CognitoConfig, CognitoIdentity};
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
    // One config load (no network: credentials come from the Lambda environment) for all clients.
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let table = DynamoTable::new(aws_sdk_dynamodb::Client::new(&config), table_name);
    let mut helpdesk = Helpdesk::new(
        Arc::new(table),
        Arc::new(SystemClock),
        Arc::new(UlidGen::default()),
    );
    // Replies and acknowledgements go out through SES right after their commit; the
    // sla-sweeper retries what failed.
    let ses = helpdesk_adapters::aws::ses::client_from(&config);
    if let Some(mail) =
        helpdesk_adapters::aws::ses::mail_settings_from(|k| std::env::var(k).ok(), ses)?
    {
        helpdesk = helpdesk.with_mail(mail);
    }
    // New tickets' routing events go to the SQS routing queue (the router function consumes it),
    // and so do help-centre sign-in requests (answered at once; the router mails the link).
    if let Some(queue) = helpdesk_adapters::aws::SqsRoutingQueue::from_env(
        helpdesk_adapters::aws::sqs::client_from(&config),
        |k| std::env::var(k).ok(),
    ) {
        let queue = Arc::new(queue);
        helpdesk = helpdesk
            .with_routing_queue(queue.clone())
            .with_sign_in_queue(queue);
    }
    // Attachments (downloads, files on replies) and raw mail live in the mail bucket.
    if let Some(bucket) = std::env::var("MAIL_BUCKET").ok().filter(|b| !b.is_empty()) {
        let s3 = helpdesk_adapters::aws::s3::client_from(&config);
        helpdesk = helpdesk.with_blobs(Arc::new(helpdesk_adapters::aws::S3BlobStore::new(
            s3, bucket,
        )));
    }
    if let Some(inbound) =
        helpdesk_adapters::aws::ses::inbound_settings_from(|k| std::env::var(k).ok())?
    {
        helpdesk = helpdesk.with_inbound(inbound);
    }
    // Classifier models live in S3 (`classifier/models/` in CLASSIFIER_BUCKET), the pointer to
    // the current one in the table; without the bucket categorisation stays off.
    if let Some(bucket) = std::env::var("CLASSIFIER_BUCKET")
        .ok()
        .filter(|b| !b.is_empty())
    {
        let blobs = helpdesk_adapters::aws::S3BlobStore::new(
            helpdesk_adapters::aws::s3::client_from(&config),
            bucket,
        );
        helpdesk = helpdesk.with_model_store(Arc::new(blobs));
    }
    // Public survey and unsubscribe pages verify their signed links with this.
    if let Some(links) =
        helpdesk_app::automations::AutomationConfig::from_env(|k| std::env::var(k).ok())?
    {
        helpdesk = helpdesk.with_automation(links);
    }
    // Knowledge-base search: the OpenSearch domain, or the embedded index (KbSearch parameter).
    let helpdesk = helpdesk_api::kb::with_kb_index(helpdesk, |k| std::env::var(k).ok(), &config)?;
    lambda_http::run(helpdesk_api::app(helpdesk, console_sso()?)).await
}

/// Console sign-in settings from the environment (set by template.yaml); all or nothing.
fn console_sso() -> Result<Option<helpdesk_http::auth::ConsoleSso>, lambda_http::Error> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (Some(domain), Some(issuer), Some(client_id), Some(redirect_uri), Some(key)) = (
        get("HELPDESK_COGNITO_DOMAIN"),
        get("HELPDESK_COGNITO_ISSUER"),
        get("HELPDESK_COGNITO_CLIENT_ID"),
        get("HELPDESK_CONSOLE_CALLBACK_URL"),
        get("HELPDESK_SESSION_KEY"),
    ) else {
        tracing::warn!("console sign-in is not configured; /app will say so");
        return Ok(None);
    };
    if key.len() < 32 {
        return Err("HELPDESK_SESSION_KEY must be at least 32 characters".into());
    }
    let provider = CognitoIdentity::new(CognitoConfig {
        domain,
        issuer,
        client_id,
    })?;
    Ok(Some(helpdesk_http::auth::ConsoleSso {
        provider: Arc::new(provider),
        redirect_uri,
        session_key: key.into_bytes(),
    }))
}
