//! The AWS builder: one SDK configuration (loaded once, no network call) for every client,
//! from the settings' region, endpoint and credentials; then the application with the
//! capabilities a function needs, and the other parts functions hand to their handlers.

use crate::settings::{KbSearch, Settings};
use crate::{needed, Capability, ComposeError};
use helpdesk_adapters::aws::{
    Aws, AwsEndpoint, S3BlobStore, SnsAlertSink, SnsSms, StaticCredentials,
};
use helpdesk_app::alerts::PagingOptions;
use helpdesk_app::automations::AutomationConfig;
use helpdesk_app::inbound::InboundConfig;
use helpdesk_app::ports::IdentityProvider;
use helpdesk_app::{Helpdesk, SystemClock, UlidGen};
use std::sync::Arc;

/// The AWS side of one process: its settings and its SDK configuration.
#[derive(Clone)]
pub struct Stack {
    settings: Settings,
    aws: Aws,
}

/// The console's sign-in through Cognito (the API function's `ConsoleSso`).
pub struct ConsoleSignIn {
    pub provider: Arc<dyn IdentityProvider>,
    pub redirect_uri: String,
    pub session_key: Vec<u8>,
}

impl Stack {
    /// Loads the SDK configuration (region, endpoint and credentials from `settings`, the rest
    /// from the SDK's default chain). No network call: credentials resolve on first use.
    pub async fn connect(settings: &Settings) -> Self {
        let a = &settings.aws;
        let credentials = match (&a.access_key_id, &a.secret_access_key) {
            (Some(id), Some(secret)) => Some(StaticCredentials {
                access_key_id: id.clone(),
                secret_access_key: secret.expose().to_string(),
                session_token: a.session_token.as_ref().map(|t| t.expose().to_string()),
            }),
            _ => None,
        };
        let endpoint = AwsEndpoint {
            region: a.region.clone(),
            endpoint_url: a.endpoint_url.clone(),
            credentials,
        };
        Self {
            settings: settings.clone(),
            aws: Aws::connect(&endpoint).await,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The application on the table, with every capability in `needs` wired. Every missing
    /// setting of `needs` (and `TABLE_NAME`) is named in one error.
    pub fn helpdesk(&self, needs: &[Capability]) -> Result<Helpdesk, ComposeError> {
        let s = &self.settings;
        let mut all = vec![Capability::Table];
        all.extend_from_slice(needs);
        s.require(&all)?;
        let table = self
            .aws
            .table(needed(&s.table_name, "TABLE_NAME", Capability::Table)?);
        let mut helpdesk = Helpdesk::new(
            Arc::new(table),
            Arc::new(SystemClock),
            Arc::new(UlidGen::default()),
        );
        for capability in crate::in_wiring_order(needs) {
            helpdesk = match capability {
                Capability::Mail => helpdesk.with_mail(self.mail()?),
                Capability::Inbound => helpdesk.with_inbound(self.inbound()?),
                Capability::MailBucket => helpdesk.with_blobs(Arc::new(self.mail_bucket()?)),
                Capability::ClassifierModels => {
                    let bucket = needed(
                        &s.classifier_bucket,
                        "CLASSIFIER_BUCKET",
                        Capability::ClassifierModels,
                    )?;
                    helpdesk.with_model_store(Arc::new(self.aws.bucket(bucket)))
                }
                Capability::RoutingQueue => {
                    let url = needed(
                        &s.routing.queue_url,
                        "ROUTING_QUEUE_URL",
                        Capability::RoutingQueue,
                    )?;
                    // The help centre's sign-in requests ride on the same queue (the router
                    // function answers them), so the API answers every address alike.
                    let queue = Arc::new(
                        self.aws
                            .routing_queue(url, s.routing.dead_letter_url.as_deref()),
                    );
                    helpdesk
                        .with_routing_queue(queue.clone())
                        .with_sign_in_queue(queue)
                }
                Capability::Links => helpdesk.with_automation(self.links()?),
                Capability::SmsPaging => {
                    helpdesk.with_sms_paging(Arc::new(self.sms()), s.paging.clone())
                }
                Capability::CustomerDirectory => match crate::customer_directory(s)? {
                    Some(directory) => helpdesk.with_customer_directory(directory),
                    None => helpdesk,
                },
                Capability::KbSearch => self.with_kb_index(helpdesk)?,
                // Checked by `require`; handed out by the accessors below.
                Capability::Table
                | Capability::RoutingDeadLetters
                | Capability::SlaAlerts
                | Capability::ConsoleSignIn => helpdesk,
            };
        }
        Ok(helpdesk)
    }

    /// Outbound mail through SES as the support address, signed with the threading key.
    fn mail(&self) -> Result<helpdesk_app::outbound::MailSettings, ComposeError> {
        let m = &self.settings.mail;
        let from = needed(&m.from, "HELPDESK_MAIL_FROM", Capability::Mail)?;
        let domain = needed(&m.domain, "HELPDESK_MAIL_DOMAIN", Capability::Mail)?;
        let key = needed(&m.thread_key, "HELPDESK_THREAD_KEY", Capability::Mail)?;
        Ok(helpdesk_app::outbound::MailSettings {
            signer: key.signer(domain),
            from: helpdesk_mail::Mailbox::new(from.to_string(), Some("Support")),
            sender: Arc::new(self.aws.mail_sender()),
        })
    }

    /// Inbound mail: the threading key and domain, and the support address's local part.
    pub fn inbound(&self) -> Result<InboundConfig, ComposeError> {
        let m = &self.settings.mail;
        let domain = needed(&m.domain, "HELPDESK_MAIL_DOMAIN", Capability::Inbound)?;
        let key = needed(&m.thread_key, "HELPDESK_THREAD_KEY", Capability::Inbound)?;
        Ok(InboundConfig {
            signer: key.signer(domain),
            limits: helpdesk_mail::Limits::default(),
            support_local: self.settings.support_local(),
        })
    }

    /// Signed public links: keys derived from the threading key, under the public URL.
    fn links(&self) -> Result<AutomationConfig, ComposeError> {
        let s = &self.settings;
        let key = needed(&s.mail.thread_key, "HELPDESK_THREAD_KEY", Capability::Links)?;
        let url = needed(&s.public_url, "HELPDESK_PUBLIC_URL", Capability::Links)?;
        Ok(AutomationConfig {
            link_secret: key.bytes().to_vec(),
            public_url: url.as_str().to_string(),
        })
    }

    /// The mail bucket.
    pub fn mail_bucket(&self) -> Result<S3BlobStore, ComposeError> {
        let bucket = needed(
            &self.settings.mail_bucket,
            "MAIL_BUCKET",
            Capability::MailBucket,
        )?;
        Ok(self.aws.bucket(&bucket.name))
    }

    /// Where the SES receipt rule's S3 action writes received mail (`MAIL_PREFIX`).
    pub fn received_mail_prefix(&self) -> Result<&str, ComposeError> {
        Ok(&needed(
            &self.settings.mail_bucket,
            "MAIL_BUCKET",
            Capability::MailBucket,
        )?
        .received_prefix)
    }

    /// SLA alerts to the topic.
    pub fn alert_sink(&self) -> Result<SnsAlertSink, ComposeError> {
        let topic = needed(
            &self.settings.alerts_topic_arn,
            "ALERTS_TOPIC_ARN",
            Capability::SlaAlerts,
        )?;
        Ok(self.aws.alert_sink(topic))
    }

    /// SMS through SNS.
    pub fn sms(&self) -> SnsSms {
        self.aws.sms()
    }

    /// SMS limits and the console link of the texts.
    pub fn paging(&self) -> &PagingOptions {
        &self.settings.paging
    }

    /// The console's sign-in through Cognito's hosted UI.
    pub fn console_sign_in(&self) -> Result<ConsoleSignIn, ComposeError> {
        let c = &self.settings.console;
        let cap = Capability::ConsoleSignIn;
        let provider = helpdesk_adapters::aws::cognito::CognitoIdentity::new(
            helpdesk_adapters::aws::cognito::CognitoConfig {
                domain: needed(&c.cognito_domain, "HELPDESK_COGNITO_DOMAIN", cap)?.clone(),
                issuer: needed(&c.issuer, "HELPDESK_COGNITO_ISSUER", cap)?.clone(),
                client_id: needed(&c.client_id, "HELPDESK_COGNITO_CLIENT_ID", cap)?.clone(),
            },
        )
        .map_err(|e| ComposeError::adapter("HELPDESK_COGNITO_DOMAIN")(e.to_string()))?;
        Ok(ConsoleSignIn {
            provider: Arc::new(provider),
            redirect_uri: needed(&c.callback_url, "HELPDESK_CONSOLE_CALLBACK_URL", cap)?.clone(),
            session_key: needed(&c.session_key, "HELPDESK_SESSION_KEY", cap)?
                .expose()
                .as_bytes()
                .to_vec(),
        })
    }

    /// The knowledge-base index the settings choose.
    fn with_kb_index(&self, helpdesk: Helpdesk) -> Result<Helpdesk, ComposeError> {
        match &self.settings.kb {
            KbSearch::OpenSearch { endpoint, index } => {
                let endpoint = needed(
                    endpoint,
                    "HELPDESK_OPENSEARCH_ENDPOINT",
                    Capability::KbSearch,
                )?;
                let kb = self.aws.opensearch(endpoint, index).map_err(|e| {
                    ComposeError::adapter("HELPDESK_OPENSEARCH_ENDPOINT")(e.to_string())
                })?;
                Ok(helpdesk.with_kb_index(Arc::new(kb)))
            }
            #[cfg(feature = "kb-embedded")]
            KbSearch::Embedded { max_age } => crate::kb::with_rebuilt_index(helpdesk, *max_age),
            #[cfg(not(feature = "kb-embedded"))]
            KbSearch::Embedded { .. } => Err(ComposeError::Adapter {
                what: "HELPDESK_KB_SEARCH",
                message: "this binary was built without the embedded index (feature kb-embedded)"
                    .into(),
            }),
        }
    }
}
