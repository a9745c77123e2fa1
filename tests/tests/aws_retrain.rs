//! Scheduled classifier retraining on AWS against moto (DynamoDB + S3): the daily schedule's
//! payload (`{"task":"retrain-classifier"}`) sent to the `sla-sweeper` function trains a model
//! into S3 when agents categorised tickets since the current one, and does nothing when run
//! again (idempotent).
//!
//! Without `HELPDESK_TEST_DYNAMODB_URL` (set by `scripts/test.sh`, which starts moto) this test
//! fails rather than passes silently; `HELPDESK_SKIP_AWS_TESTS=1` skips it knowingly.

use helpdesk_adapters::aws::dynamodb::{connect_local, create_table, DynamoTable};
use helpdesk_adapters::aws::{S3BlobStore, SnsAlertSink};
use helpdesk_app::inbound::BlobStore;
use helpdesk_app::{Helpdesk, SystemClock, UlidGen};
use helpdesk_domain::{Actor, EmailAddress, Role};
use helpdesk_sla_sweeper::{Outcome, RetrainSummary};
use helpdesk_tests::aws::{moto_url, unique};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;
use std::sync::Arc;

fn admin() -> Actor {
    Actor::Staff {
        email: EmailAddress::parse("admin@example.com").expect("e"),
        role: Role::Admin,
    }
}

/// A ticket an agent categorised (a training example).
async fn categorised(h: &Helpdesk, subject: &str, body: &str, category: &str) {
    let input = serde_json::from_value(json!({
        "subject": subject, "body": body, "customer": { "email": "cu@example.com" }
    }))
    .expect("new ticket");
    let (t, _) = h
        .create_ticket(&admin(), input, None)
        .await
        .expect("ticket");
    let patch = serde_json::from_value(json!({ "category": category })).expect("patch");
    h.update_ticket(&admin(), &t.id.to_string(), patch, None)
        .await
        .expect("categorise");
}

#[tokio::test]
async fn the_daily_schedule_retrains_into_s3_once_per_new_examples() {
    let Some(url) = moto_url() else { return };
    let dynamo = connect_local(&url);
    let table_name = format!("aws-retrain-{}", unique());
    create_table(&dynamo, &table_name)
        .await
        .expect("create table");
    let s3 = helpdesk_adapters::aws::s3::connect_local(&url);
    let bucket = format!("mail-{}", unique());
    helpdesk_adapters::aws::s3::create_bucket(&s3, &bucket)
        .await
        .expect("bucket");
    let models = S3BlobStore::new(s3.clone(), &bucket);
    let h = Helpdesk::new(
        Arc::new(DynamoTable::new(dynamo, &table_name)),
        Arc::new(SystemClock),
        Arc::new(UlidGen::default()),
    )
    .with_model_store(Arc::new(S3BlobStore::new(s3, &bucket)));
    // The sink is never used by the retraining task.
    let sns = helpdesk_adapters::aws::sns::connect_local(&url);
    let sink = SnsAlertSink::new(sns, "arn:aws:sns:us-east-1:123456789012:unused");
    let retrain = || async {
        // The payload template.yaml's ClassifierRetrainSchedule sends.
        let event = LambdaEvent::new(
            json!({ "task": "retrain-classifier", "time": "2026-01-05T03:00:00Z" }),
            Context::default(),
        );
        match helpdesk_sla_sweeper::run(&h, &sink, event)
            .await
            .expect("invocation")
        {
            Outcome::Retrain(summary) => summary,
            other => panic!("not a retraining: {other:?}"),
        }
    };

    // Nothing categorised yet: nothing to train, and no failure.
    let first: RetrainSummary = retrain().await;
    assert!(!first.retrained, "{first:?}");

    for i in 0..6 {
        categorised(
            &h,
            &format!("Invoice question {i}"),
            "I was charged for the invoice and need a refund of the payment.",
            "Billing",
        )
        .await;
        categorised(
            &h,
            &format!("Login problem {i}"),
            "I cannot log in, the password reset link does not work for my account.",
            "Access",
        )
        .await;
    }
    let trained = retrain().await;
    assert!(trained.retrained, "{trained:?}");
    assert_eq!(trained.examples, Some(12));
    let info = h
        .classifier_info(&admin())
        .await
        .expect("info")
        .expect("a current model");
    assert_eq!(Some(info.model.clone()), trained.model);
    assert!(info.blob.starts_with("classifier/models/"), "{}", info.blob);
    let bytes = models.get(&info.blob).await.expect("get").expect("in S3");
    assert_eq!(bytes.len(), info.bytes);

    // The schedule firing again (or a retry) finds nothing new: the model stays.
    let again = retrain().await;
    assert!(!again.retrained, "{again:?}");
    let still = h
        .classifier_info(&admin())
        .await
        .expect("info")
        .expect("model");
    assert_eq!(still.version, info.version);

    // A new categorised ticket: the next run trains version 2.
    categorised(
        &h,
        "Refund",
        "Please refund the duplicate payment.",
        "Billing",
    )
    .await;
    let next = retrain().await;
    assert!(next.retrained, "{next:?}");
    let newer = h
        .classifier_info(&admin())
        .await
        .expect("info")
        .expect("model");
    assert_eq!(newer.version, info.version + 1);
    assert_eq!(newer.examples, 13);
}
