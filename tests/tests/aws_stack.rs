//! The deployed AWS stack, end to end, on moto.
//!
//! One test reads `template.yaml`: the functions' `Environment` (intrinsics and the Secrets
//! Manager references resolved), the table's key schema and GSIs, the queues (with their
//! redrive policies), the topic, the bucket. It creates those resources in moto and starts
//! every function exactly as its `main` does — `Settings::from_env` over that environment (plus
//! what Lambda itself provides: region, credentials; and the emulator's endpoint), then the
//! function's own `build` — and runs the story through each function's handler, with events
//! shaped as AWS delivers them and routed as the template wires them (the SES receipt rule's S3
//! and Lambda actions, the router's SQS event source, the SMS function's SNS subscription and
//! its filter policy, the schedule's input):
//!
//! 1. a customer's e-mail (raw MIME in S3, an SES event) reaches `inbound-email`: a ticket is
//!    created and the acknowledgement goes out through SES;
//! 2. the routing message, received from the template's queue, reaches the router: the ticket
//!    is assigned;
//! 3. the agent replies through the api function (an API Gateway v2 event with the
//!    authorizer's claims): the reply goes out through SES;
//! 4. the customer's answer threads back into the ticket;
//! 5. the schedule's event runs the sla-sweeper; its alert reaches the SNS topic, then
//!    sms-alerts, which sends an SMS.
//!
//! So the template and the code cannot drift apart unnoticed: a setting a function needs that
//! the template does not give it stops that function here, as it would on AWS.
//!
//! Not emulated, so given plain ids: the Cognito pool, its domain and clients, the HTTP API
//! (the functions only build URLs from them). OpenSearch is not emulated either: the stack is
//! started with `KbSearch=embedded` (the template's other KB mode).

use aws_lambda_events::event::ses::SimpleEmailEvent;
use aws_lambda_events::event::sns::SnsEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_sqs::types::QueueAttributeName;
use helpdesk_app::inbound::Outcome;
use helpdesk_compose::Settings;
use helpdesk_tests::aws::{moto_data, moto_url, unique};
use helpdesk_tests::cfn::Template;
use lambda_http::request::LambdaRequest;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use serde_yaml::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};
use tower::ServiceExt;

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";

fn repo_file(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn event_json(file: &str) -> Value {
    serde_json::from_str(&repo_file(&format!("events/{file}"))).expect("event JSON")
}

fn y(v: &Yaml, key: &str) -> Yaml {
    v.get(key).cloned().unwrap_or(Yaml::Null)
}

/// Raw messages SES was given for `to`: (source, MIME).
async fn mail_to(url: &str, to: &str) -> Vec<(String, String)> {
    let data = moto_data(url).await;
    data["ses"]["RawMessage"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|m| {
            m["destinations"]
                .as_array()
                .is_some_and(|d| d.iter().any(|x| x.as_str().is_some_and(|s| s.contains(to))))
        })
        .map(|m| {
            (
                m["source"].as_str().unwrap_or_default().to_string(),
                m["raw_data"]
                    .as_str()
                    .unwrap_or_default()
                    .replace("=\r\n", ""),
            )
        })
        .collect()
}

/// A header's value in raw MIME (first occurrence, unfolded enough for addresses and ids).
fn header(raw: &str, name: &str) -> Option<String> {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    raw.lines()
        .take_while(|l| !l.is_empty())
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim().to_string())
}

/// The address inside `<…>`, or the value itself.
fn angle(v: &str) -> String {
    match (v.rfind('<'), v.rfind('>')) {
        (Some(a), Some(b)) if a < b => v[a + 1..b].to_string(),
        _ => v.trim().to_string(),
    }
}

/// The stack on moto: the template resolved against the resources created for this run.
struct Stack {
    url: String,
    template: Template,
    /// Logical id of each function, by its binary (`Metadata.Binary`).
    functions: BTreeMap<String, String>,
    /// The queue URL of each queue ARN.
    queue_urls: BTreeMap<String, String>,
}

impl Stack {
    async fn deploy(url: &str) -> Stack {
        let mut t = Template::parse(&repo_file("template.yaml")).expect("template");
        let run = unique();
        // Parameters without a default, and the KB mode moto can serve.
        t.parameters.insert(
            "CognitoDomainPrefix".into(),
            format!("hd-e2e-{}", &run[..8]),
        );
        t.parameters.insert("KbSearch".into(), "embedded".into());

        let dynamo = helpdesk_adapters::aws::dynamodb::connect_local(url);
        let sqs = helpdesk_adapters::aws::sqs::connect_local(url);
        let sns = helpdesk_adapters::aws::sns::connect_local(url);
        let s3 = helpdesk_adapters::aws::s3::connect_local(url);

        // Secrets: generated values, as GenerateSecretString would make them.
        for (id, props) in t.resources_of("AWS::SecretsManager::Secret") {
            let length = y(&y(&props, "GenerateSecretString"), "PasswordLength")
                .as_u64()
                .unwrap_or(32) as usize;
            let mut value = String::new();
            while value.len() < length {
                value.push_str(&unique());
            }
            value.truncate(length);
            let arn = format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{id}-{run}");
            t.secrets.insert(arn.clone(), value);
            t.refs.insert(id, arn);
        }

        // The table, from the template's attribute definitions, key schema and GSIs.
        for (id, props) in t.resources_of("AWS::DynamoDB::Table") {
            let name = format!("helpdesk-e2e-{run}");
            let key_schema = |v: &Yaml| -> Vec<KeySchemaElement> {
                v.as_sequence()
                    .expect("KeySchema")
                    .iter()
                    .map(|k| {
                        KeySchemaElement::builder()
                            .attribute_name(y(k, "AttributeName").as_str().expect("name"))
                            .key_type(KeyType::from(y(k, "KeyType").as_str().expect("type")))
                            .build()
                            .expect("key")
                    })
                    .collect()
            };
            let mut create = dynamo
                .create_table()
                .table_name(&name)
                .billing_mode(BillingMode::from(
                    y(&props, "BillingMode").as_str().expect("billing"),
                ))
                .set_key_schema(Some(key_schema(&y(&props, "KeySchema"))));
            for a in y(&props, "AttributeDefinitions")
                .as_sequence()
                .expect("attrs")
            {
                create = create.attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(y(a, "AttributeName").as_str().expect("name"))
                        .attribute_type(ScalarAttributeType::from(
                            y(a, "AttributeType").as_str().expect("type"),
                        ))
                        .build()
                        .expect("attribute"),
                );
            }
            for g in y(&props, "GlobalSecondaryIndexes")
                .as_sequence()
                .cloned()
                .unwrap_or_default()
            {
                create = create.global_secondary_indexes(
                    GlobalSecondaryIndex::builder()
                        .index_name(y(&g, "IndexName").as_str().expect("index"))
                        .set_key_schema(Some(key_schema(&y(&g, "KeySchema"))))
                        .projection(
                            Projection::builder()
                                .projection_type(ProjectionType::from(
                                    y(&y(&g, "Projection"), "ProjectionType")
                                        .as_str()
                                        .expect("projection"),
                                ))
                                .build(),
                        )
                        .build()
                        .expect("gsi"),
                );
            }
            create.send().await.expect("create the table");
            t.attributes.insert(
                (id.clone(), "Arn".into()),
                format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"),
            );
            t.refs.insert(id, name);
        }

        // Queues: created first, then given their attributes (a redrive policy names another
        // queue's ARN).
        let mut queue_urls = BTreeMap::new();
        let queues = t.resources_of("AWS::SQS::Queue");
        for (id, _) in &queues {
            let name = format!("{id}-{run}");
            let queue_url = sqs
                .create_queue()
                .queue_name(&name)
                .send()
                .await
                .expect("create a queue")
                .queue_url
                .expect("queue url");
            let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}");
            t.attributes.insert((id.clone(), "Arn".into()), arn.clone());
            t.attributes
                .insert((id.clone(), "QueueName".into()), name.clone());
            t.refs.insert(id.clone(), queue_url.clone());
            queue_urls.insert(arn, queue_url);
        }
        for (id, props) in &queues {
            let props = t
                .resolve(props)
                .expect("queue properties")
                .unwrap_or(Yaml::Null);
            let mut set = sqs.set_queue_attributes().queue_url(&t.refs[id]);
            for (key, attr) in [
                ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
                (
                    "MessageRetentionPeriod",
                    QueueAttributeName::MessageRetentionPeriod,
                ),
            ] {
                if let Some(v) = props.get(key) {
                    set = set.attributes(attr, serde_yaml::to_string(v).expect("v").trim());
                }
            }
            if let Some(redrive) = props.get("RedrivePolicy") {
                let redrive: Value = serde_json::to_value(redrive).expect("redrive policy as JSON");
                set = set.attributes(QueueAttributeName::RedrivePolicy, redrive.to_string());
            }
            set.send().await.expect("queue attributes");
        }

        // The SNS topics.
        for (id, _) in t.resources_of("AWS::SNS::Topic") {
            let name = format!("{id}-{run}");
            let arn = sns
                .create_topic()
                .name(&name)
                .send()
                .await
                .expect("create a topic")
                .topic_arn
                .expect("topic arn");
            t.attributes.insert((id.clone(), "TopicName".into()), name);
            t.refs.insert(id, arn);
        }

        // The buckets.
        for (id, _) in t.resources_of("AWS::S3::Bucket") {
            let name = format!("hd-e2e-{}-{run}", id.to_ascii_lowercase());
            helpdesk_adapters::aws::s3::create_bucket(&s3, &name)
                .await
                .expect("create a bucket");
            t.attributes
                .insert((id.clone(), "Arn".into()), format!("arn:aws:s3:::{name}"));
            t.refs.insert(id, name);
        }

        // Not emulated here: plain ids.
        for (id, _) in t.resources_of("AWS::Cognito::UserPool") {
            t.refs.insert(id, format!("{REGION}_E2e{}", &run[..6]));
        }
        for (id, _) in t.resources_of("AWS::Cognito::UserPoolClient") {
            t.refs.insert(id, format!("client{}", &run[..12]));
        }
        for (id, _) in t.resources_of("AWS::Serverless::HttpApi") {
            t.refs.insert(id, format!("api{}", &run[..7]));
        }
        for (id, props) in t.resources_of("AWS::Cognito::UserPoolDomain") {
            let domain = t.resolve_string(&y(&props, "Domain")).expect("pool domain");
            t.refs.insert(id, domain);
        }

        // The functions, by binary; their ARNs for the receipt rule's Lambda action.
        let mut functions = BTreeMap::new();
        for (id, _) in t.resources_of("AWS::Serverless::Function") {
            let binary = y(&y(t.resource(&id).expect("fn"), "Metadata"), "Binary")
                .as_str()
                .expect("Metadata.Binary")
                .to_string();
            t.attributes.insert(
                (id.clone(), "Arn".into()),
                format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{id}"),
            );
            t.refs.insert(id.clone(), id.clone());
            functions.insert(binary, id);
        }

        // The operator's one-time step (README, deploy): verify the support domain in SES.
        let support = t.parameters["SupportAddress"].clone();
        let domain = support.split_once('@').expect("address").1;
        helpdesk_adapters::aws::ses::create_email_identity(
            &helpdesk_adapters::aws::ses::connect_local(url),
            domain,
        )
        .await
        .expect("SES identity");

        Stack {
            url: url.to_string(),
            template: t,
            functions,
            queue_urls,
        }
    }

    fn function(&self, binary: &str) -> &str {
        self.functions
            .get(binary)
            .unwrap_or_else(|| panic!("no function runs the {binary} binary"))
    }

    fn properties(&self, binary: &str) -> Yaml {
        y(
            self.template.resource(self.function(binary)).expect("fn"),
            "Properties",
        )
    }

    /// A function's environment as Lambda gives it: the template's variables, the region and
    /// the role's credentials; plus the emulator's endpoint.
    fn environment(&self, binary: &str) -> BTreeMap<String, String> {
        let mut env = self
            .template
            .function_environment(self.function(binary))
            .expect("environment");
        for (k, v) in [
            ("AWS_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_ENDPOINT_URL", self.url.as_str()),
        ] {
            env.insert(k.into(), v.into());
        }
        env
    }

    /// `Settings::from_env` over that environment: what the function's `main` reads.
    fn settings(&self, binary: &str) -> Settings {
        let env = self.environment(binary);
        Settings::from_env(|k| env.get(k).cloned())
            .unwrap_or_else(|e| panic!("{binary}: the template's settings are refused: {e}"))
    }
}

/// An API Gateway HTTP API (payload v2) event behind the JWT authorizer, for `email` in `group`.
fn api_event(method: &str, path: &str, body: Option<&Value>, email: &str, group: &str) -> Value {
    let mut e = event_json("api-list-tickets-agent.json");
    let (path_only, query) = path.split_once('?').unwrap_or((path, ""));
    e["rawPath"] = json!(path_only);
    e["rawQueryString"] = json!(query);
    e["queryStringParameters"] = Value::Null;
    e["pathParameters"] = json!({ "proxy": path_only.trim_start_matches("/api/v1/") });
    e["requestContext"]["http"]["method"] = json!(method);
    e["requestContext"]["http"]["path"] = json!(path_only);
    e["requestContext"]["authorizer"]["jwt"]["claims"]["email"] = json!(email);
    e["requestContext"]["authorizer"]["jwt"]["claims"]["cognito:groups"] =
        json!(format!("[{group}]"));
    if let Some(b) = body {
        e["headers"]["content-type"] = json!("application/json");
        e["headers"]["content-length"] = json!(b.to_string().len().to_string());
        e["body"] = json!(b.to_string());
    }
    e
}

async fn call_api(
    api: &axum::Router,
    method: &str,
    path: &str,
    body: Option<Value>,
    who: (&str, &str),
) -> (u16, Value) {
    let event = api_event(method, path, body.as_ref(), who.0, who.1);
    let request: LambdaRequest = serde_json::from_value(event).expect("an API Gateway v2 event");
    let request: lambda_http::Request = request.into();
    let response = api.clone().oneshot(request).await.expect("infallible");
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The SES receipt event for a message stored under `message_id`, as the receipt rule's Lambda
/// action delivers it.
fn ses_event(message_id: &str, from: &str, to: &str, function_arn: &str) -> SimpleEmailEvent {
    let mut e = event_json("inbound-email-ses.json");
    let mail = &mut e["Records"][0]["ses"]["mail"];
    mail["messageId"] = json!(message_id);
    mail["source"] = json!(from);
    mail["destination"] = json!([to]);
    e["Records"][0]["ses"]["receipt"]["recipients"] = json!([to]);
    e["Records"][0]["ses"]["receipt"]["action"]["functionArn"] = json!(function_arn);
    serde_json::from_value(e).expect("an SES event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployed_stack_runs_the_story_end_to_end() {
    let Some(url) = moto_url() else { return };
    let stack = Stack::deploy(&url).await;
    let run = unique();

    // Every function of the template is one of ours, and is started below.
    let binaries: BTreeSet<&str> = stack.functions.keys().map(String::as_str).collect();
    assert_eq!(
        binaries,
        BTreeSet::from([
            "api",
            "inbound-email",
            "router",
            "sla-sweeper",
            "sms-alerts"
        ]),
        "a function was added or renamed: start it here"
    );
    // Every variable the template sets is one the code reads (a typo would be a setting lost).
    for binary in &binaries {
        for name in stack
            .template
            .function_environment(stack.function(binary))
            .expect("env")
            .keys()
        {
            assert!(
                name == "RUST_LOG"
                    || helpdesk_compose::settings::VARIABLES.contains(&name.as_str()),
                "{binary}: {name} is set by the template but read by nobody"
            );
        }
    }

    // A deployment that lacks a setting a function needs does not start (the review finding:
    // inbound-email without mail settings silently sent no acknowledgement).
    let mut bare = stack.environment("inbound-email");
    bare.remove("HELPDESK_MAIL_FROM");
    let settings = Settings::from_env(|k| bare.get(k).cloned()).expect("settings");
    let err = helpdesk_inbound_email::Function::build(&settings)
        .await
        .err()
        .expect("no mail settings, no start");
    assert!(err.to_string().contains("HELPDESK_MAIL_FROM"), "{err}");

    // Every function, started as its main starts it.
    let api = helpdesk_api::build(&stack.settings("api"))
        .await
        .expect("api starts");
    let inbound = helpdesk_inbound_email::Function::build(&stack.settings("inbound-email"))
        .await
        .expect("inbound-email starts");
    let router = helpdesk_router::Function::build(&stack.settings("router"))
        .await
        .expect("router starts");
    let sweeper = helpdesk_sla_sweeper::Function::build(&stack.settings("sla-sweeper"))
        .await
        .expect("sla-sweeper starts");
    let sms = helpdesk_sms_alerts::Function::build(&stack.settings("sms-alerts"))
        .await
        .expect("sms-alerts starts");

    // The team, through the api: an admin sets an SLA (tickets resolved within a minute, with
    // a warning every 6 s), an agent takes tickets, a supervisor is on call with a phone, and the
    // customer is a business owner (their alerts page the supervisors).
    let admin = ("admin@example.com", "admin");
    let agent_email = format!("agent-{run}@example.com");
    let agent = (agent_email.as_str(), "agent");
    let lead_email = format!("lead-{run}@example.com");
    let phone = format!("+4477{:07}42", ulid::Ulid::new().random() % 10_000_000);
    let week: serde_json::Map<String, Value> = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
    .iter()
    .map(|d| (d.to_string(), json!([{ "start": "00:00", "end": "24:00" }])))
    .collect();
    // Whatever priority routing gives the ticket.
    let rules: Vec<Value> = ["low", "medium", "high", "urgent"]
        .iter()
        .map(|p| json!({ "priority": p, "targets": { "resolution_minutes": 1 } }))
        .collect();
    let policy = json!({
        "calendar": { "time_zone": "UTC", "hours": week },
        "rules": rules,
        "warning_thresholds": [10, 20, 30, 40, 50, 60, 70, 80, 90]
    });
    let (status, body) = call_api(&api, "PUT", "/api/v1/sla/policy", Some(policy), admin).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call_api(
        &api,
        "POST",
        "/api/v1/agents",
        Some(json!({ "email": agent_email, "name": "Agent", "role": "agent", "status": "available", "capacity": 10 })),
        admin,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = call_api(
        &api,
        "POST",
        "/api/v1/agents",
        Some(json!({ "email": lead_email, "name": "Lead", "role": "supervisor", "status": "offline", "phone": phone, "on_call": true })),
        admin,
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let customer = format!("carla-{run}@example.com");
    let (status, body) = call_api(
        &api,
        "POST",
        "/api/v1/customers",
        Some(json!({ "email": customer, "name": "Carla", "business_owner": true })),
        admin,
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // 1. The customer writes in. The receipt rule stores the message with its S3 action, then
    //    invokes the function of its Lambda action.
    let rule = stack
        .template
        .resolve(&y(
            &y(
                stack
                    .template
                    .resource("MailReceiptRule")
                    .expect("receipt rule"),
                "Properties",
            ),
            "Rule",
        ))
        .expect("rule")
        .expect("rule");
    let actions = y(&rule, "Actions");
    let actions = actions.as_sequence().expect("actions");
    let s3_action = actions
        .iter()
        .find_map(|a| a.get("S3Action"))
        .expect("an S3 action");
    let lambda_action = actions
        .iter()
        .find_map(|a| a.get("LambdaAction"))
        .expect("a Lambda action");
    let bucket = y(s3_action, "BucketName")
        .as_str()
        .expect("bucket")
        .to_string();
    let prefix = y(s3_action, "ObjectKeyPrefix")
        .as_str()
        .unwrap_or("")
        .to_string();
    let function_arn = y(lambda_action, "FunctionArn")
        .as_str()
        .expect("arn")
        .to_string();
    assert!(
        function_arn.ends_with(&format!(":{}", stack.function("inbound-email"))),
        "the receipt rule invokes {function_arn}"
    );
    let support = y(&rule, "Recipients")[0]
        .as_str()
        .expect("recipient")
        .to_string();
    let s3 = helpdesk_adapters::aws::s3::connect_local(&url);
    let put = |key: String, raw: String| {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        async move {
            s3.put_object()
                .bucket(bucket)
                .key(key)
                .body(raw.into_bytes().into())
                .send()
                .await
                .expect("stored by the S3 action");
        }
    };
    let first_id = format!("{run}first");
    put(
        format!("{prefix}{first_id}"),
        format!(
            "From: Carla <{customer}>\r\nTo: {support}\r\nSubject: Invoice missing {run}\r\nMessage-ID: <first-{run}@mail.example.com>\r\nDate: Mon, 5 Jan 2026 09:12:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nWhere is my invoice for December?\r\n"
        ),
    )
    .await;
    let done = inbound
        .handle(LambdaEvent::new(
            ses_event(&first_id, &customer, &support, &function_arn),
            Context::default(),
        ))
        .await
        .expect("ingested");
    assert_eq!(
        done.processed[0].ingest.outcome,
        Outcome::Created,
        "{done:?}"
    );
    let number = done.processed[0]
        .ingest
        .ticket
        .expect("a ticket")
        .to_string();
    // ... and the acknowledgement went out through SES, from the support address.
    let sent = mail_to(&url, &customer).await;
    assert_eq!(sent.len(), 1, "one acknowledgement: {sent:?}");
    assert!(
        sent[0]
            .0
            .ends_with(support.split_once('@').expect("domain").1),
        "{sent:?}"
    );
    assert!(sent[0].1.contains(&number), "{}", sent[0].1);

    // 2. The router's event source is the template's routing queue.
    let routing = y(
        &y(&y(&stack.properties("router"), "Events"), "Routing"),
        "Properties",
    );
    let queue_arn = stack
        .template
        .resolve_string(&y(&routing, "Queue"))
        .expect("the router's queue");
    let queue_url = stack
        .queue_urls
        .get(&queue_arn)
        .expect("a queue of the stack")
        .clone();
    let sqs = helpdesk_adapters::aws::sqs::connect_local(&url);
    let received = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 1, "the new ticket's routing event");
    let records: Vec<Value> = received
        .iter()
        .map(|m| {
            json!({
                "messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
                "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn, "awsRegion": REGION,
            })
        })
        .collect();
    let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).expect("SQS");
    let response = router
        .handle(LambdaEvent::new(event, Context::default()))
        .await
        .expect("routed");
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    for m in &received {
        // What the event source mapping does with the records that succeeded.
        sqs.delete_message()
            .queue_url(&queue_url)
            .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
            .send()
            .await
            .expect("delete");
    }
    let path = format!("/api/v1/tickets/{number}");
    let (status, view) = call_api(&api, "GET", &path, None, agent).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["ticket"]["assignee"], agent_email.as_str(), "{view}");

    // 3. The agent replies through the api function; the reply goes out through SES.
    let (status, created) = call_api(
        &api,
        "POST",
        &format!("{path}/messages"),
        Some(json!({ "body": format!("Here it is, {run}.") })),
        agent,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["message"]["delivery"]["state"], "sent", "{created}");
    let reply_id = created["message"]["email_message_id"]
        .as_str()
        .expect("its Message-ID")
        .to_string();
    let sent = mail_to(&url, &customer).await;
    let reply = sent
        .iter()
        .find(|(_, raw)| raw.contains(&format!("Here it is, {run}.")))
        .unwrap_or_else(|| panic!("the reply went out through SES: {sent:?}"));
    assert_eq!(
        header(&reply.1, "Message-ID").map(|v| angle(&v)).as_deref(),
        Some(reply_id.as_str())
    );
    let reply_to = angle(&header(&reply.1, "Reply-To").expect("a Reply-To"));
    let subject = header(&reply.1, "Subject").expect("a Subject");

    // 4. The customer answers; the answer threads back into the ticket.
    let answer_id = format!("{run}answer");
    put(
        format!("{prefix}{answer_id}"),
        format!(
            "From: Carla <{customer}>\r\nTo: {reply_to}\r\nSubject: Re: {subject}\r\nMessage-ID: <answer-{run}@mail.example.com>\r\nIn-Reply-To: <{reply_id}>\r\nReferences: <first-{run}@mail.example.com> <{reply_id}>\r\nDate: Mon, 5 Jan 2026 10:12:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nGot it, thanks!\r\n"
        ),
    )
    .await;
    let done = inbound
        .handle(LambdaEvent::new(
            ses_event(&answer_id, &customer, &reply_to, &function_arn),
            Context::default(),
        ))
        .await
        .expect("ingested");
    assert_eq!(
        done.processed[0].ingest.outcome,
        Outcome::Appended,
        "{done:?}"
    );
    assert_eq!(
        done.processed[0]
            .ingest
            .ticket
            .map(|t| t.to_string())
            .as_deref(),
        Some(number.as_str())
    );
    let (_, view) = call_api(&api, "GET", &path, None, agent).await;
    let messages = view["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 3, "{view}");
    assert!(
        messages[2]["thread_reason"]
            .as_str()
            .is_some_and(|r| r.contains("signed Message-ID")),
        "{view}"
    );
    assert!(
        messages[2]["body_text"]
            .as_str()
            .is_some_and(|b| b.contains("Got it")),
        "{view}"
    );

    // 5. The scheduler's event (the template's input, its time the scheduled instant) runs the
    //    sweeper, whose alert reaches the topic.
    // The sweep runs once the ticket's next threshold has passed. (Thresholds crossed before
    // the ticket's last change are not indexed for the sweep any more, so the wait is for one
    // after it; the schedule's time is whole seconds.)
    let clock = &view["sla"]["resolution"];
    let next = clock["warnings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|w| w["crossed"] == false)
        .filter_map(|w| w["at"].as_str().map(str::to_string))
        .chain(clock["target_at"].as_str().map(str::to_string))
        .filter_map(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok())
        .min()
        .unwrap_or_else(|| panic!("a threshold ahead: {}", view["sla"]));
    let due = next + chrono::Duration::milliseconds(1100);
    if let Ok(wait) = (due - chrono::Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
    let schedule = stack
        .template
        .resolve(&y(
            &y(
                &y(
                    stack
                        .template
                        .resource("SlaSweepSchedule")
                        .expect("schedule"),
                    "Properties",
                ),
                "Target",
            ),
            "Input",
        ))
        .expect("input")
        .expect("input");
    let input = schedule
        .as_str()
        .expect("an input string")
        .replace(
            "<aws.scheduler.scheduled-time>",
            &chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
        .replace("<aws.scheduler.execution-id>", &run)
        .replace(
            "<aws.scheduler.schedule-arn>",
            "arn:aws:scheduler:us-east-1:123456789012:schedule/default/sla",
        )
        .replace("<aws.scheduler.attempt-number>", "1");
    let input: Value = serde_json::from_str(&input).expect("the schedule's input is JSON");
    let outcome = sweeper
        .handle(LambdaEvent::new(input, Context::default()))
        .await
        .expect("swept");
    let helpdesk_sla_sweeper::Outcome::Sweep(report) = outcome else {
        panic!("a sweep, not {outcome:?}")
    };
    assert!(report.from_event, "{report:?}");
    assert!(report.alerts >= 1, "{report:?}");
    // The SMS function is subscribed to the sweeper's topic, filtered by message attributes.
    let alerts_topic = &stack.environment("sla-sweeper")["ALERTS_TOPIC_ARN"];
    let subscription = y(
        &y(&y(&stack.properties("sms-alerts"), "Events"), "SlaAlerts"),
        "Properties",
    );
    assert_eq!(
        &stack
            .template
            .resolve_string(&y(&subscription, "Topic"))
            .expect("topic"),
        alerts_topic
    );
    let filter: Value = serde_json::to_value(y(&subscription, "FilterPolicy")).expect("filter");
    let data = moto_data(&url).await;
    let topic = data["sns"]["Topic"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .find(|t| t["arn"] == alerts_topic.as_str())
        .expect("the topic in moto's data");
    let published: Vec<(String, Value)> = topic["sent_notifications"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|n| (n[1].as_str().unwrap_or_default().to_string(), n[3].clone()))
        .filter(|(m, _)| m.contains(&format!("\"number\":\"{number}\"")))
        .collect();
    assert!(!published.is_empty(), "the alert was published");
    let (message, attributes) = published
        .iter()
        .find(|(_, attributes)| {
            filter.as_object().is_some_and(|f| {
                f.iter().all(|(k, allowed)| {
                    allowed
                        .as_array()
                        .is_some_and(|a| a.contains(&attributes[k]["Value"]))
                })
            })
        })
        .expect("an alert passes the subscription's filter policy")
        .clone();
    let mut e = event_json("sms-alerts-sns.json");
    e["Records"][0]["Sns"]["Message"] = json!(message);
    e["Records"][0]["Sns"]["MessageAttributes"] = attributes;
    e["Records"][0]["Sns"]["TopicArn"] = json!(alerts_topic);
    e["Records"][0]["Sns"]["MessageId"] = json!(run);
    let event: SnsEvent = serde_json::from_value(e).expect("an SNS event");
    let summary = sms
        .handle(LambdaEvent::new(event, Context::default()))
        .await
        .expect("paged");
    assert_eq!(summary.sent(), 1, "{summary:?}");
    let data = moto_data(&url).await;
    let texts: Vec<String> = data["sns"]["SMS"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|s| s["phone_number"] == phone.as_str())
        .map(|s| s["message"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains(&number), "{}", texts[0]);
}
