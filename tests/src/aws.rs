//! Shared by the tests against the local AWS emulator (moto, started by `scripts/test.sh`).

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::json;

/// The emulator's URL; `None` (skip) only when `HELPDESK_SKIP_AWS_TESTS=1`. A missing URL is a
/// failure, not a skip: CI must not pass by silently running nothing.
pub fn moto_url() -> Option<String> {
    if std::env::var("HELPDESK_SKIP_AWS_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("skipping: HELPDESK_SKIP_AWS_TESTS=1");
        return None;
    }
    Some(std::env::var("HELPDESK_TEST_DYNAMODB_URL").expect(
        "HELPDESK_TEST_DYNAMODB_URL is not set: run the suite with scripts/test.sh, which starts moto",
    ))
}

/// A fresh suffix for table, bucket and queue names, so tests share one emulator safely.
pub fn unique() -> String {
    ulid::Ulid::new().to_string().to_lowercase()
}

/// Receives like the event source mapping does and shapes the records as the Lambda event.
pub async fn receive_batch(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> (SqsEvent, Vec<(String, String)>) {
    let out = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .expect("receive");
    let mut records = Vec::new();
    let mut handles = Vec::new();
    for m in out.messages.unwrap_or_default() {
        let id = m.message_id.clone().unwrap_or_default();
        let handle = m.receipt_handle.clone().unwrap_or_default();
        records.push(json!({
            "messageId": id,
            "receiptHandle": handle,
            "body": m.body.clone().unwrap_or_default(),
            "attributes": {},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
        }));
        handles.push((id, handle));
    }
    let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).expect("event");
    (event, handles)
}

/// What moto recorded (`GET /moto-api/data.json`: sent e-mail, SMS, topics' notifications).
/// moto serialises its models while other requests change them, so under parallel tests a read
/// can fail (a 500 with a Python `TypeError`); it is retried a few times.
pub async fn moto_data(url: &str) -> serde_json::Value {
    let mut last = String::new();
    for _ in 0..10 {
        match reqwest::get(format!("{url}/moto-api/data.json")).await {
            Ok(r) if r.status().is_success() => match r.json().await {
                Ok(v) => return v,
                Err(e) => last = e.to_string(),
            },
            Ok(r) => last = format!("moto answered {}", r.status()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("moto-api/data.json: {last}")
}
