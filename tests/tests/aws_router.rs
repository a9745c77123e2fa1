//! The AWS routing path against moto: tickets enqueue to SQS, `functions/router` answers with
//! partial batch failures (only the poison record), the redrive policy moves the poison message
//! to the DLQ after maxReceiveCount receives, admins list and requeue it; routing twice is safe.
//!
//! Without `HELPDESK_TEST_DYNAMODB_URL` (set by `scripts/test.sh`, which starts moto) these
//! tests fail, unless `HELPDESK_SKIP_AWS_TESTS=1`.

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::QueueAttributeName;
use helpdesk_adapters::aws::dynamodb::{connect_local, create_table, DynamoTable};
use helpdesk_adapters::aws::SqsRoutingQueue;
use helpdesk_app::queue::RoutingQueue;
use helpdesk_app::tickets::{CustomerRef, NewTicket};
use helpdesk_app::{Helpdesk, SystemClock, UlidGen};
use helpdesk_domain::{Actor, EmailAddress};
use helpdesk_tests::aws::{moto_url, receive_batch, unique};
use serde_json::{json, Value};
use std::sync::Arc;

#[tokio::test]
async fn poison_record_alone_fails_and_lands_in_the_dlq() {
    let Some(url) = moto_url() else { return };
    let dynamo = connect_local(&url);
    let table_name = format!("aws-router-{}", unique());
    create_table(&dynamo, &table_name)
        .await
        .expect("create table");
    let sqs = helpdesk_adapters::aws::sqs::connect_local(&url);
    let dlq_url = sqs
        .create_queue()
        .queue_name(format!("routing-dlq-{}", unique()))
        .send()
        .await
        .expect("dlq")
        .queue_url
        .expect("dlq url");
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attrs")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("arn");
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("routing-{}", unique()))
        // Failed records come back at once (the template uses 180 s).
        .attributes(QueueAttributeName::VisibilityTimeout, "0")
        .attributes(
            QueueAttributeName::RedrivePolicy,
            json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2" }).to_string(),
        )
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("queue url");

    let queue = Arc::new(SqsRoutingQueue::new(
        sqs.clone(),
        queue_url.clone(),
        Some(dlq_url.clone()),
    ));
    let h = Helpdesk::new(
        Arc::new(DynamoTable::new(dynamo, &table_name)),
        Arc::new(SystemClock),
        Arc::new(UlidGen::default()),
    )
    .with_routing_queue(queue.clone());
    let input = NewTicket {
        subject: "Charged twice".into(),
        body: "Two charges this month.".into(),
        channel: None,
        priority: None,
        category: None,
        customer: Some(CustomerRef {
            email: EmailAddress::parse("bo@example.com").expect("email"),
            name: None,
            platform_user_id: None,
            locale: None,
        }),
        department: None,
        assignee: None,
        tags: Vec::new(),
    };
    let actor = Actor::System { job: "test".into() };
    let (ticket, _) = h.create_ticket(&actor, input, None).await.expect("create");
    assert!(h.is_unrouted(&ticket.id).await.expect("marker"));
    // A poison message beside the ticket's event.
    sqs.send_message()
        .queue_url(&queue_url)
        .message_body("{\"ticket\": 42}")
        .send()
        .await
        .expect("send poison");

    // First batch: both records; only the poison one is reported failed.
    let mut seen = 0;
    let mut poison_id = String::new();
    let mut routed = false;
    for _ in 0..5 {
        let (event, handles) = receive_batch(&sqs, &queue_url).await;
        if handles.is_empty() {
            continue;
        }
        seen += handles.len();
        let response = helpdesk_router::handle(&h, event).await;
        let failed: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert_eq!(failed.len(), 1, "only the poison record fails: {failed:?}");
        poison_id = failed[0].clone();
        // The event source mapping deletes the records that succeeded.
        for (id, handle) in handles.iter().filter(|(id, _)| !failed.contains(id)) {
            routed = true;
            let _ = id;
            sqs.delete_message()
                .queue_url(&queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .expect("delete");
        }
        if routed {
            break;
        }
    }
    assert!(
        routed,
        "the ticket's event was routed (records seen: {seen})"
    );
    assert!(!h.is_unrouted(&ticket.id).await.expect("marker"));

    // Redelivered until maxReceiveCount, then SQS moves it to the DLQ.
    let mut in_dlq = false;
    for _ in 0..10 {
        let (event, handles) = receive_batch(&sqs, &queue_url).await;
        if !handles.is_empty() {
            let response = helpdesk_router::handle(&h, event).await;
            assert_eq!(response.batch_item_failures.len(), handles.len());
        }
        let dead = queue.dead_letters(10).await.expect("dead letters");
        if dead.iter().any(|d| d.id == poison_id) {
            in_dlq = true;
            assert_eq!(dead[0].ticket_id, None);
            break;
        }
    }
    assert!(in_dlq, "the poison message reached the DLQ");

    // An admin requeues it: back on the main queue, gone from the DLQ.
    queue
        .requeue_dead_letter(&poison_id)
        .await
        .expect("requeue");
    assert!(queue.dead_letters(10).await.expect("dead").is_empty());
    let (_, handles) = receive_batch(&sqs, &queue_url).await;
    assert_eq!(handles.len(), 1);
    assert!(queue.requeue_dead_letter("no-such-id").await.is_err());
}

#[tokio::test]
async fn same_event_twice_and_fixture_batch() {
    let Some(url) = moto_url() else { return };
    let dynamo = connect_local(&url);
    let table_name = format!("aws-router-{}", unique());
    create_table(&dynamo, &table_name)
        .await
        .expect("create table");
    let h = Helpdesk::new(
        Arc::new(DynamoTable::new(dynamo, &table_name)),
        Arc::new(SystemClock),
        Arc::new(UlidGen::default()),
    );
    let input = NewTicket {
        subject: "Cannot log in".into(),
        body: "Password reset mail never arrives.".into(),
        channel: None,
        priority: None,
        category: None,
        customer: Some(CustomerRef {
            email: EmailAddress::parse("cy@example.com").expect("email"),
            name: None,
            platform_user_id: None,
            locale: None,
        }),
        department: None,
        assignee: None,
        tags: Vec::new(),
    };
    let actor = Actor::System { job: "test".into() };
    let (ticket, _) = h.create_ticket(&actor, input, None).await.expect("create");
    let body = json!({ "ticket_id": ticket.id.to_string(), "reason": "created" }).to_string();
    let event: SqsEvent = serde_json::from_value(json!({ "Records": [
        { "messageId": "a", "body": body, "attributes": {}, "messageAttributes": {} },
        { "messageId": "b", "body": body, "attributes": {}, "messageAttributes": {} },
    ]}))
    .expect("event");
    let response = helpdesk_router::handle(&h, event).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(!h.is_unrouted(&ticket.id).await.expect("marker"));

    // The sample event: a ticket id that does not exist (dropped, not failed) and a poison body.
    let path = format!("{}/../events/router-sqs.json", env!("CARGO_MANIFEST_DIR"));
    let fixture: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("fixture")).expect("JSON");
    let event: SqsEvent = serde_json::from_value(fixture).expect("SQS event");
    let response = helpdesk_router::handle(&h, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, vec!["2e1424d4-f796-459a-8184-9c92662be6da"]);
}

/// Texts moto recorded as sent by SMS to `phone`.
async fn texts_to(url: &str, phone: &str) -> Vec<String> {
    let data: Value = helpdesk_tests::aws::moto_data(url).await;
    data["sns"]["SMS"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|sms| sms["phone_number"] == phone)
        .map(|sms| sms["message"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn escalation_pages_the_lead_on_call_by_sns_sms_once() {
    let Some(url) = moto_url() else { return };
    let dynamo = connect_local(&url);
    let table_name = format!("aws-router-sms-{}", unique());
    create_table(&dynamo, &table_name)
        .await
        .expect("create table");
    let sns = helpdesk_adapters::aws::sns::connect_local(&url);
    let h = Helpdesk::new(
        Arc::new(DynamoTable::new(dynamo, &table_name)),
        Arc::new(SystemClock),
        Arc::new(UlidGen::default()),
    )
    .with_sms_paging(
        Arc::new(helpdesk_adapters::aws::SnsSms::new(sns)),
        helpdesk_app::alerts::PagingOptions::default(),
    );
    let admin = Actor::Staff {
        email: EmailAddress::parse("admin@example.com").expect("e"),
        role: helpdesk_domain::Role::Admin,
    };
    // A phone no other test (or earlier run against the same moto) uses.
    let n = ulid::Ulid::new().random() % 10_000_000;
    let phone = format!("+4477{n:07}12");
    let lead = serde_json::from_value(json!({
        "email": "lead@example.com", "name": "Lead", "role": "supervisor",
        "phone": phone, "on_call": true
    }))
    .expect("agent");
    h.create_agent(&admin, lead).await.expect("lead");
    let rules = serde_json::from_value(json!({
        "escalation": [ { "id": "lawyer", "when": { "keywords": ["lawyer"] }, "then": { "notify_supervisors": true } } ]
    }))
    .expect("rules");
    h.put_routing_rules(&admin, rules, None)
        .await
        .expect("rules");
    let input = serde_json::from_value(json!({
        "subject": "Complaint", "body": "My lawyer will contact you.",
        "customer": { "email": "dee@example.com" }
    }))
    .expect("ticket");
    let (ticket, _) = h.create_ticket(&admin, input, None).await.expect("create");
    let body = json!({ "ticket_id": ticket.id.to_string(), "reason": "created" }).to_string();
    let batch = || -> SqsEvent {
        serde_json::from_value(json!({ "Records": [
            { "messageId": "a", "body": body, "attributes": {}, "messageAttributes": {} },
        ]}))
        .expect("event")
    };
    let response = helpdesk_router::handle(&h, batch()).await;
    assert!(response.batch_item_failures.is_empty());
    // Redelivered: routed already, page already sent.
    let response = helpdesk_router::handle(&h, batch()).await;
    assert!(response.batch_item_failures.is_empty());
    let texts = texts_to(&url, &phone).await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].starts_with(&format!("{} ESCALATED (medium): lawyer.", ticket.number)),
        "{texts:?}"
    );
}
