//! Ticket categorisation: agents' category decisions become training examples, an admin
//! trains, the model is stored and served through the `Classifier` port, and a corrupt stored
//! model is an error, never a panic. Plus a quality floor on a real corpus subset.

use helpdesk_classify::{evaluate, stratified_split, train, Model, TrainConfig};
use helpdesk_domain::Actor;
use helpdesk_tests::TestApp;
use reqwest::StatusCode;
use serde_json::json;

const AGENT: &str = "ana@example.com";

/// Three categories with their own vocabulary, six phrasings each.
const TICKETS: [(&str, &str, &str); 18] = [
    (
        "billing",
        "Charged twice",
        "My card was charged twice for the same invoice, please refund one payment.",
    ),
    (
        "billing",
        "Refund request",
        "I want a refund, the invoice amount is wrong and I paid too much.",
    ),
    (
        "billing",
        "Invoice wrong",
        "The invoice shows a charge I do not recognise; please correct the billing.",
    ),
    (
        "billing",
        "Double payment",
        "Payment went through two times on my credit card, need my money back.",
    ),
    (
        "billing",
        "Overcharged",
        "You overcharged my subscription this month, the price should be lower.",
    ),
    (
        "billing",
        "VAT on invoice",
        "Please add our VAT number to the invoice and refund the tax charged.",
    ),
    (
        "login",
        "Cannot log in",
        "I cannot log in, the password is rejected even after a reset.",
    ),
    (
        "login",
        "Password reset",
        "The password reset email never arrives so I am locked out of my account.",
    ),
    (
        "login",
        "2FA code",
        "Two factor authentication code is always invalid when I sign in.",
    ),
    (
        "login",
        "Locked out",
        "My account got locked after several login attempts, please unlock it.",
    ),
    (
        "login",
        "SSO sign-in",
        "Single sign-on fails and the login page keeps redirecting me.",
    ),
    (
        "login",
        "Username forgotten",
        "I forgot my username and cannot sign in to my account.",
    ),
    (
        "bug",
        "App crashes",
        "The mobile app crashes every time I open the settings screen.",
    ),
    (
        "bug",
        "Error 500",
        "Saving the form shows an error 500 and nothing is saved.",
    ),
    (
        "bug",
        "Blank page",
        "After the update the dashboard page stays blank and shows an error.",
    ),
    (
        "bug",
        "Button broken",
        "The export button does nothing, the feature seems broken since yesterday.",
    ),
    (
        "bug",
        "Slow and freezing",
        "The app freezes and crashes when I upload a large file.",
    ),
    (
        "bug",
        "Wrong chart",
        "The report chart shows an error and broken data after the release.",
    ),
];

async fn categorise(
    app: &TestApp,
    agent: &str,
    subject: &str,
    body: &str,
    category: &str,
) -> String {
    let t = app
        .create_ticket(
            agent,
            json!({ "subject": subject, "body": body, "channel": "email", "customer": { "email": "cu@example.com" } }),
        )
        .await;
    let id = t["id"].as_str().expect("id").to_string();
    let r = app
        .patch(
            &format!("/api/v1/tickets/{id}"),
            agent,
            json!({ "category": category }),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "set category: {:?}", r.body);
    id
}

fn system() -> Actor {
    Actor::System { job: "test".into() }
}

#[tokio::test]
async fn agents_label_admin_trains_and_the_port_predicts() {
    let app = TestApp::spawn().await;
    app.create_agent(AGENT, "agent").await;
    let agent = app.agent(AGENT);
    let admin = app.admin();

    // No model yet: 404 for the info, `None` from the port.
    let r = app.get("/api/v1/classifier", &admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    let (helpdesk, _, _) = helpdesk::open_helpdesk(app.data.path()).expect("open");
    assert_eq!(
        helpdesk
            .classify("Charged twice", "refund")
            .await
            .expect("classify"),
        None
    );

    // Too few examples: a clear 422 naming the field.
    categorise(&app, &agent, TICKETS[0].1, TICKETS[0].2, TICKETS[0].0).await;
    let r = app
        .post("/api/v1/classifier/train", &admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "examples");

    let mut ids = Vec::new();
    for (label, subject, body) in &TICKETS[1..] {
        ids.push(categorise(&app, &agent, subject, body, label).await);
    }

    // Only admins train; agents and customers do not even see the model.
    let r = app
        .post("/api/v1/classifier/train", &agent, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .get("/api/v1/classifier", &app.customer("cu@example.com"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let r = app
        .post("/api/v1/classifier/train", &admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "train: {:?}", r.body);
    let r = app.get("/api/v1/classifier", &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["examples"], 18);
    assert_eq!(r.body["labels"], json!(["billing", "bug", "login"]));
    assert_eq!(r.body["version"], 1);
    assert!(r.body["holdout_examples"].as_u64().expect("holdout") > 0);
    assert!(r.body["trained_at"].is_string());
    let model_name = r.body["model"].as_str().expect("model").to_string();

    // A new, similar ticket through the port.
    let c = helpdesk
        .classify(
            "Refund please",
            "I was charged twice on my card for one invoice.",
        )
        .await
        .expect("classify")
        .expect("a model");
    assert_eq!(c.category, "billing");
    assert_eq!(c.model, model_name);
    assert!(c.confidence > 0.0 && c.confidence <= 1.0);
    let c = helpdesk
        .classify(
            "Locked out",
            "The password reset does not work, I cannot log in.",
        )
        .await
        .expect("classify")
        .expect("a model");
    assert_eq!(c.category, "login");

    // Retraining on schedule: nothing new, nothing done; a correction → a new version, which
    // the already-loaded classifier picks up.
    assert!(helpdesk
        .retrain_classifier_if_needed()
        .await
        .expect("retrain")
        .is_none());
    let r = app
        .patch(
            &format!("/api/v1/tickets/{}", ids[0]),
            &agent,
            json!({ "category": "refunds" }),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let info = helpdesk
        .retrain_classifier_if_needed()
        .await
        .expect("retrain")
        .expect("new examples → a new model");
    assert_eq!(info.version, 2);
    assert_eq!(info.examples, 18);
    assert!(info.labels.contains(&"refunds".to_string()));
    let c = helpdesk
        .classify("Crash", "The app crashes with an error.")
        .await
        .expect("classify")
        .expect("a model");
    assert_eq!(c.model, info.model);
    assert_eq!(c.category, "bug");
}

#[tokio::test]
async fn a_corrupt_stored_model_is_an_error_not_a_panic() {
    let app = TestApp::spawn().await;
    app.create_agent(AGENT, "agent").await;
    let agent = app.agent(AGENT);
    for (label, subject, body) in &TICKETS {
        categorise(&app, &agent, subject, body, label).await;
    }
    let (helpdesk, _, _) = helpdesk::open_helpdesk(app.data.path()).expect("open");
    let info = helpdesk.train_classifier(&system()).await.expect("train");
    let path = app.data.path().join("blobs").join(&info.blob);
    let good = std::fs::read(&path).expect("model blob");
    assert_eq!(good.len(), info.bytes);

    // One flipped byte: the pointer's checksum catches it.
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x55;
    std::fs::write(&path, &bad).expect("write");
    let (fresh, _, _) = helpdesk::open_helpdesk(app.data.path()).expect("open");
    let err = fresh
        .classify("Charged twice", "refund")
        .await
        .expect_err("corrupt");
    assert!(err.to_string().contains("classifier model"), "{err}");

    // Truncated, or missing: errors too.
    std::fs::write(&path, &good[..10]).expect("write");
    assert!(fresh.classify("a", "b").await.is_err());
    std::fs::remove_file(&path).expect("remove");
    assert!(fresh.classify("a", "b").await.is_err());

    // Restored: it answers again.
    std::fs::write(&path, &good).expect("write");
    assert!(fresh.classify("a", "b").await.expect("classify").is_some());
}

/// Regression guard on real text: 550 BANKING77 queries in 11 intents (fixture with its
/// licence), a stratified 80/20 split, accuracy and macro-F1 above a floor (0.95 when written).
#[test]
fn banking77_subset_accuracy_stays_above_the_floor() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/banking77/subset.csv");
    let rows = helpdesk::eval::read_corpus(&path, None, None).expect("fixture");
    assert_eq!(rows.len(), 550);
    let labels: Vec<&str> = rows.iter().map(|(_, l)| l.as_str()).collect();
    let (tr, te) = stratified_split(&labels, 0.2, 7);
    let train_rows: Vec<(&str, &str)> = tr
        .iter()
        .map(|&i| (rows[i].0.as_str(), rows[i].1.as_str()))
        .collect();
    let model = train(&train_rows, &TrainConfig::default()).expect("train");
    let model = Model::from_bytes(&model.to_bytes()).expect("round trip");
    let truth: Vec<&str> = te.iter().map(|&i| rows[i].1.as_str()).collect();
    let predicted: Vec<&str> = te
        .iter()
        .map(|&i| model.label(model.predict(&rows[i].0).label))
        .collect();
    let report = evaluate(&truth, &predicted, 3);
    assert!(
        report.accuracy >= 0.88,
        "accuracy {:.3}: {:?}",
        report.accuracy,
        report.confused
    );
    assert!(report.macro_f1 >= 0.88, "macro-F1 {:.3}", report.macro_f1);
}
