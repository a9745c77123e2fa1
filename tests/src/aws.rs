//! Shared by the tests against the local AWS emulator (moto, started by `scripts/test.sh`).

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
