//! AWS adapters. SDK types never leave this module.

pub mod cognito;
pub mod dynamodb;
pub mod opensearch;
pub mod s3;
pub mod ses;
pub mod sns;
pub mod sqs;

pub use dynamodb::DynamoTable;
pub use opensearch::OpenSearchKbIndex;
pub use s3::S3BlobStore;
pub use ses::SesMailSender;
pub use sns::{SnsAlertSink, SnsSms};
pub use sqs::SqsRoutingQueue;

/// How to reach AWS. Whatever is `None` comes from the SDK's default chain (on Lambda: the
/// function's region and role credentials, from its environment).
#[derive(Clone, Default)]
pub struct AwsEndpoint {
    /// `AWS_REGION`.
    pub region: Option<String>,
    /// `AWS_ENDPOINT_URL`: one endpoint for every service (an emulator such as moto, or an
    /// S3-compatible store). S3 then uses path-style addressing (`{endpoint}/{bucket}/{key}`),
    /// which every such endpoint serves.
    pub endpoint_url: Option<String>,
    /// Static credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`),
    /// as the SDK's environment provider would read them.
    pub credentials: Option<StaticCredentials>,
}

/// Credentials given as values. Never printed.
#[derive(Clone)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticCredentials(***)")
    }
}

impl std::fmt::Debug for AwsEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsEndpoint")
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field("credentials", &self.credentials.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The SDK configuration of one process, loaded once (no network call: credentials are
/// resolved lazily, on the first request), and the adapters built from it. SDK types stay in
/// this module: callers get ports.
#[derive(Clone)]
pub struct Aws {
    config: aws_config::SdkConfig,
    path_style: bool,
}

impl Aws {
    pub async fn connect(endpoint: &AwsEndpoint) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &endpoint.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(url) = &endpoint.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(c) = &endpoint.credentials {
            loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                c.access_key_id.clone(),
                c.secret_access_key.clone(),
                c.session_token.clone(),
                None,
                "helpdesk-settings",
            ));
        }
        Self {
            config: loader.load().await,
            path_style: endpoint.endpoint_url.is_some(),
        }
    }

    /// The single table.
    pub fn table(&self, name: &str) -> DynamoTable {
        DynamoTable::new(aws_sdk_dynamodb::Client::new(&self.config), name)
    }

    /// A bucket as a blob store.
    pub fn bucket(&self, name: &str) -> S3BlobStore {
        let conf = aws_sdk_s3::config::Builder::from(&self.config)
            .force_path_style(self.path_style)
            .build();
        S3BlobStore::new(aws_sdk_s3::Client::from_conf(conf), name.to_string())
    }

    /// Outbound mail through SESv2.
    pub fn mail_sender(&self) -> SesMailSender {
        SesMailSender::new(ses::client_from(&self.config))
    }

    /// The routing queue (and its DLQ, for the admins' dead-letter list).
    pub fn routing_queue(&self, url: &str, dead_letter_url: Option<&str>) -> SqsRoutingQueue {
        SqsRoutingQueue::new(
            sqs::client_from(&self.config),
            url.to_string(),
            dead_letter_url.map(str::to_string),
        )
    }

    /// SLA alerts to an SNS topic.
    pub fn alert_sink(&self, topic_arn: &str) -> SnsAlertSink {
        SnsAlertSink::new(sns::client_from(&self.config), topic_arn)
    }

    /// SMS through SNS.
    pub fn sms(&self) -> SnsSms {
        SnsSms::new(sns::client_from(&self.config))
    }

    /// The OpenSearch KB index, requests signed with this configuration's credentials.
    pub fn opensearch(
        &self,
        endpoint: &str,
        index: &str,
    ) -> Result<OpenSearchKbIndex, helpdesk_app::ports::KbIndexError> {
        OpenSearchKbIndex::from_sdk_config(endpoint, index, &self.config)
    }
}
