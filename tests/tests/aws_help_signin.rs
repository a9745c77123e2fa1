//! Help-centre sign-in on the AWS path against moto: the request queued on SQS and answered by
//! `functions/router` (the API does the same work for every address; the router mails the link
//! to customers only, once however often SQS delivers it); the link item, its single use and the
//! session on DynamoDB; the link mail (a mail of no ticket) queued, retried by the sweep and sent
//! through SES once; expiry on the application's clock.
//!
//! Needs `HELPDESK_TEST_DYNAMODB_URL` (set by `scripts/test.sh`, which starts moto);
//! `HELPDESK_SKIP_AWS_TESTS=1` skips knowingly.

use async_trait::async_trait;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use helpdesk_adapters::aws::dynamodb::{connect_local, create_table, DynamoTable};
use helpdesk_adapters::aws::ses::{self, SesMailSender};
use helpdesk_app::automations::AutomationConfig;
use helpdesk_app::helpcentre::SignInError;
use helpdesk_app::outbound::{MailSender, MailSettings, SendError, SentId};
use helpdesk_app::tickets::NewTicket;
use helpdesk_app::{Clock, Helpdesk, UlidGen};
use helpdesk_domain::{Actor, EmailAddress, Role};
use helpdesk_mail::{Mailbox, ThreadSigner};
use helpdesk_tests::aws::{moto_url, receive_batch, unique};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

struct FixedClock(Mutex<DateTime<Utc>>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("lock")
    }
}

struct Flaky {
    inner: SesMailSender,
    down: AtomicBool,
}

#[async_trait]
impl MailSender for Flaky {
    async fn send(&self, raw: &[u8], from: &str, to: &[String]) -> Result<SentId, SendError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(SendError::Retryable("throttled".into()));
        }
        self.inner.send(raw, from, to).await
    }
}

/// Tokens of the sign-in links SES was given for `to` (MIME decoded enough: quoted-printable
/// soft breaks removed).
async fn sent_tokens(url: &str, base: &str, to: &str) -> Vec<String> {
    let data: Value = helpdesk_tests::aws::moto_data(url).await;
    let prefix = format!("{base}/help/signin/");
    let mut out = Vec::new();
    for m in data["ses"]["RawMessage"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let to_them = m["destinations"]
            .as_array()
            .is_some_and(|d| d.iter().any(|x| x.as_str().is_some_and(|s| s.contains(to))));
        let raw = m["raw_data"]
            .as_str()
            .unwrap_or_default()
            .replace("=\r\n", "");
        if let (true, Some(at)) = (to_them, raw.find(&prefix)) {
            let token: String = raw[at + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            if !out.contains(&token) {
                out.push(token);
            }
        }
    }
    out
}

#[tokio::test]
async fn sign_in_requests_go_through_sqs_and_the_router_mails_customers_once() {
    let Some(url) = moto_url() else { return };
    let dynamo = connect_local(&url);
    let table_name = format!("help-signin-q-{}", unique());
    create_table(&dynamo, &table_name)
        .await
        .expect("create table");
    let client = ses::connect_local(&url);
    let domain = format!("{}.example.com", unique());
    ses::create_email_identity(&client, &domain)
        .await
        .expect("identity");
    let sqs = helpdesk_adapters::aws::sqs::connect_local(&url);
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("routing-{}", unique()))
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("queue url");
    let queue = Arc::new(helpdesk_adapters::aws::SqsRoutingQueue::new(
        sqs.clone(),
        queue_url.clone(),
        None,
    ));
    let base = format!("https://help.{domain}");
    // One set of settings for the API and the router function, as the template gives them.
    let h = Helpdesk::new(
        Arc::new(DynamoTable::new(dynamo, &table_name)),
        Arc::new(helpdesk_app::SystemClock),
        Arc::new(UlidGen::default()),
    )
    .with_mail(MailSettings {
        signer: ThreadSigner::new(b"aws signin test key, 32 bytes long", &domain),
        from: Mailbox::new(format!("support@{domain}"), Some("Support")),
        sender: Arc::new(SesMailSender::new(client)),
    })
    .with_automation(AutomationConfig {
        link_secret: b"aws signin link secret, 32 bytes long!".to_vec(),
        public_url: base.clone(),
    });
    let api = h.clone().with_sign_in_queue(queue);
    let ana = format!("ana.{}@example.com", unique());
    let nobody = format!("nobody.{}@example.com", unique());
    let input: NewTicket = serde_json::from_value(serde_json::json!({
        "subject": "Hello", "body": "Details", "channel": "email", "customer": { "email": ana }
    }))
    .expect("input");
    let agent = Actor::Staff {
        email: EmailAddress::parse("bo@example.com").expect("e"),
        role: Role::Agent,
    };
    h.create_ticket(&agent, input, None).await.expect("ticket");
    let ip = Some(std::net::IpAddr::from([192, 0, 2, 9]));

    // The API answers both alike and mails nothing itself.
    for who in [&ana, &nobody] {
        api.request_sign_in(&EmailAddress::parse(who).expect("e"), ip)
            .await
            .expect("asked");
    }
    assert!(sent_tokens(&url, &base, &ana).await.is_empty());

    // The router function: one link, to the customer.
    let mut bodies = Vec::new();
    for _ in 0..5 {
        let (event, handles) = receive_batch(&sqs, &queue_url).await;
        if handles.is_empty() {
            break;
        }
        bodies.extend(event.records.iter().filter_map(|r| r.body.clone()));
        let response = helpdesk_router::handle(&h, event).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
        for (_, handle) in handles {
            sqs.delete_message()
                .queue_url(&queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .expect("delete");
        }
    }
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(
        bodies.iter().all(|b| b.contains("\"sign_in\"")),
        "{bodies:?}"
    );
    assert_eq!(sent_tokens(&url, &base, &ana).await.len(), 1);
    assert!(sent_tokens(&url, &base, &nobody).await.is_empty());

    // SQS delivers at least once: the same requests again change nothing.
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| serde_json::json!({ "messageId": format!("again-{i}"), "body": b }))
        .collect();
    let again: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_value(serde_json::json!({ "Records": records })).expect("event");
    let response = helpdesk_router::handle(&h, again).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(
        sent_tokens(&url, &base, &ana).await.len(),
        1,
        "still one link"
    );
    let token = sent_tokens(&url, &base, &ana).await.remove(0);
    let signed = h.consume_sign_in(&token, 3600).await.expect("signed in");
    assert_eq!(signed.email.as_str(), ana);
}

/// Without a queue (a `Helpdesk` built by hand) the request is processed while it runs.
#[tokio::test]
async fn sign_in_links_work_once_on_dynamodb_and_ses() {
    let Some(url) = moto_url() else { return };
    let dynamo = connect_local(&url);
    let table_name = format!("help-signin-{}", unique());
    create_table(&dynamo, &table_name)
        .await
        .expect("create table");
    let client = ses::connect_local(&url);
    let domain = format!("{}.example.com", unique());
    ses::create_email_identity(&client, &domain)
        .await
        .expect("identity");
    let ses_sender = SesMailSender::new(client);
    let flaky = Arc::new(Flaky {
        inner: ses_sender.clone(),
        down: AtomicBool::new(true),
    });
    // Near real time: the adapter hides expired items by the wall clock.
    let t0 = Utc::now().trunc_subsecs(0);
    let clock = Arc::new(FixedClock(Mutex::new(t0)));
    let base = format!("https://help.{domain}");
    let h = Helpdesk::new(
        Arc::new(DynamoTable::new(dynamo, &table_name)),
        clock.clone(),
        Arc::new(UlidGen::default()),
    )
    .with_mail(MailSettings {
        signer: ThreadSigner::new(b"aws signin test key, 32 bytes long", &domain),
        from: Mailbox::new(format!("support@{domain}"), Some("Support")),
        sender: flaky.clone(),
    })
    .with_automation(AutomationConfig {
        link_secret: b"aws signin link secret, 32 bytes long!".to_vec(),
        public_url: base.clone(),
    });
    let ana = format!("ana.{}@example.com", unique());
    let ana_email = EmailAddress::parse(&ana).expect("e");
    let agent = Actor::Staff {
        email: EmailAddress::parse("bo@example.com").expect("e"),
        role: Role::Agent,
    };
    let input: NewTicket = serde_json::from_value(serde_json::json!({
        "subject": "Hello", "body": "Details", "channel": "email", "customer": { "email": ana }
    }))
    .expect("input");
    h.create_ticket(&agent, input, None).await.expect("ticket");
    let ip = Some(std::net::IpAddr::from([192, 0, 2, 7]));

    // SES is down: the link mail waits in the queue (a mail of no ticket, in its own partition).
    h.request_sign_in(&ana_email, ip).await.expect("asked");
    assert!(sent_tokens(&url, &base, &ana).await.is_empty());
    // Unknown addresses: the same answer, nothing queued.
    h.request_sign_in(&EmailAddress::parse("nobody@example.com").expect("e"), ip)
        .await
        .expect("asked");
    flaky.down.store(false, Ordering::SeqCst);
    *clock.0.lock().expect("lock") = t0 + Duration::seconds(61);
    let report = h
        .deliver_pending_mail(clock.now(), &ses_sender)
        .await
        .expect("sweep");
    assert_eq!(report.sent, 1, "{report:?}");
    let tokens = sent_tokens(&url, &base, &ana).await;
    assert_eq!(tokens.len(), 1);
    assert!(sent_tokens(&url, &base, "nobody@example.com")
        .await
        .is_empty());

    // Once.
    let signed = h
        .consume_sign_in(&tokens[0], 3600)
        .await
        .expect("signed in");
    assert_eq!(signed.email, ana_email);
    assert!(h
        .help_session_active(&signed.session_id, &ana_email)
        .await
        .expect("check"));
    assert!(matches!(
        h.consume_sign_in(&tokens[0], 3600).await,
        Err(SignInError::Used)
    ));
    // The session is bound to its address; sign-out ends it.
    let other = EmailAddress::parse("bob@example.com").expect("e");
    assert!(!h
        .help_session_active(&signed.session_id, &other)
        .await
        .expect("check"));
    h.end_help_session(&signed.session_id).await.expect("end");
    assert!(!h
        .help_session_active(&signed.session_id, &ana_email)
        .await
        .expect("check"));

    // Expiry: 20 minutes on the application's clock.
    h.request_sign_in(&ana_email, ip).await.expect("asked");
    let tokens = sent_tokens(&url, &base, &ana).await;
    assert_eq!(tokens.len(), 2, "sent at once this time");
    *clock.0.lock().expect("lock") = t0 + Duration::seconds(61 + 20 * 60 + 1);
    assert!(matches!(
        h.consume_sign_in(&tokens[1], 3600).await,
        Err(SignInError::Expired)
    ));
    assert!(matches!(
        h.consume_sign_in(&"x".repeat(43), 3600).await,
        Err(SignInError::Invalid)
    ));
}
