//! SNS: the SLA alert topic ([`SnsAlertSink`]) and SMS to phone numbers ([`SnsSms`]).
//!
//! The sweeper publishes each alert's JSON to the topic, with message attributes that
//! subscriptions can filter on (`page_supervisors`, `level`, `priority`): the `sms-alerts`
//! function subscribes with a filter policy on `page_supervisors = "true"`, so warnings on
//! ordinary tickets never invoke it.

use async_trait::async_trait;
use aws_sdk_sns::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sns::operation::publish::PublishError;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;
use helpdesk_app::alerts::{SmsError, SmsOutcome, SmsSender};
use helpdesk_app::sla::{AlertSink, DeliveryError, SlaAlert};
use helpdesk_domain::PhoneNumber;

/// An SNS client for a local emulator (moto): fixed region and test credentials.
pub fn connect_local(endpoint_url: &str) -> Client {
    let config = aws_sdk_sns::config::Builder::new()
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

fn string_attribute(value: &str) -> Result<MessageAttributeValue, String> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| e.to_string())
}

/// The alert's subject line (for e-mail subscriptions): ticket number, level and clock only.
fn subject(alert: &SlaAlert) -> String {
    let level = match alert.percent {
        Some(p) => format!("warning {p}%"),
        None => "breach".into(),
    };
    format!("{} SLA {level}: {}", alert.number, alert.clock)
}

/// [`AlertSink`] on an SNS topic: one Publish per alert, the alert's JSON as the message.
#[derive(Debug, Clone)]
pub struct SnsAlertSink {
    client: Client,
    topic_arn: String,
}

impl SnsAlertSink {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }

    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }
}

#[async_trait]
impl AlertSink for SnsAlertSink {
    async fn deliver(&self, alert: &SlaAlert) -> Result<(), DeliveryError> {
        let message = serde_json::to_string(alert).map_err(|e| DeliveryError(e.to_string()))?;
        let attribute = |v: &str| string_attribute(v).map_err(DeliveryError);
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject(alert))
            .message(message)
            .message_attributes("level", attribute(&alert.level)?)
            .message_attributes("priority", attribute(&alert.priority.to_string())?)
            .message_attributes(
                "page_supervisors",
                attribute(if alert.page_supervisors {
                    "true"
                } else {
                    "false"
                })?,
            )
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(error = %DisplayErrorContext(&e), ticket = %alert.number, "SNS Publish to the alert topic failed");
                DeliveryError(format!("SNS Publish: {}", DisplayErrorContext(&e)))
            })?;
        Ok(())
    }
}

/// [`SmsSender`] on SNS SMS: checks the opt-out list, then publishes to the phone number as a
/// Transactional SMS (delivered even to numbers on do-not-disturb lists where the law allows,
/// and priced as such).
#[derive(Debug, Clone)]
pub struct SnsSms {
    client: Client,
}

impl SnsSms {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn publish_error(err: &SdkError<PublishError>) -> SmsError {
    let text = DisplayErrorContext(err).to_string();
    match err.as_service_error() {
        // A number SNS cannot deliver to, or a text it refuses: retrying will not help.
        Some(PublishError::InvalidParameterException(_))
        | Some(PublishError::InvalidParameterValueException(_))
        | Some(PublishError::EndpointDisabledException(_)) => SmsError::Rejected(text),
        // Throttling, internal errors, permissions (fixed by a deploy, then a DLQ redrive).
        _ => SmsError::Unavailable(text),
    }
}

#[async_trait]
impl SmsSender for SnsSms {
    async fn send(&self, to: &PhoneNumber, text: &str) -> Result<SmsOutcome, SmsError> {
        let opted_out = self
            .client
            .check_if_phone_number_is_opted_out()
            .phone_number(to.as_str())
            .send()
            .await
            .map_err(|e| {
                let rejected = e
                    .as_service_error()
                    .is_some_and(|s| s.is_invalid_parameter_exception());
                let why = format!("CheckIfPhoneNumberIsOptedOut: {}", DisplayErrorContext(&e));
                if rejected {
                    SmsError::Rejected(why)
                } else {
                    SmsError::Unavailable(why)
                }
            })?
            .is_opted_out();
        if opted_out {
            return Ok(SmsOutcome::OptedOut);
        }
        let attribute = |v: &str| string_attribute(v).map_err(SmsError::Rejected);
        let sent = self
            .client
            .publish()
            .phone_number(to.as_str())
            .message(text)
            .message_attributes("AWS.SNS.SMS.SMSType", attribute("Transactional")?)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(SmsOutcome::Sent),
            Err(e) => {
                tracing::warn!(code = e.code().unwrap_or("-"), to = %to.masked(), "SNS SMS Publish failed");
                Err(publish_error(&e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use helpdesk_domain::sla::ClockKind;
    use helpdesk_domain::{Priority, TicketId, TicketNumber};

    #[test]
    fn subjects_name_the_ticket_and_threshold_only() {
        let mut alert = SlaAlert {
            ticket_id: TicketId::parse("tkt_01JDZ6K3Q2W9V8T7S6R5P4N3M2").expect("id"),
            number: TicketNumber::new(7).expect("n"),
            clock: ClockKind::Resolution,
            level: "breach".into(),
            percent: None,
            at: chrono::Utc
                .with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
                .single()
                .expect("t"),
            priority: Priority::High,
            business_owner: false,
            assignee: None,
            page_supervisors: true,
        };
        assert_eq!(subject(&alert), "HD-7 SLA breach: resolution");
        alert.percent = Some(75);
        assert_eq!(subject(&alert), "HD-7 SLA warning 75%: resolution");
    }
}
