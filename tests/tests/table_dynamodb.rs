//! The Table conformance suite on DynamoDB, through the moto server that `scripts/test.sh`
//! installs and starts. Without `HELPDESK_TEST_DYNAMODB_URL` these tests fail rather than pass
//! silently; set `HELPDESK_SKIP_AWS_TESTS=1` to skip them knowingly.

use helpdesk_adapters::aws::dynamodb::{connect_local, create_table, DynamoTable};
use helpdesk_app::ports::Table;
use std::sync::Arc;

async fn fresh() -> Option<Arc<dyn Table>> {
    if std::env::var("HELPDESK_SKIP_AWS_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("skipping: HELPDESK_SKIP_AWS_TESTS=1");
        return None;
    }
    let url = std::env::var("HELPDESK_TEST_DYNAMODB_URL")
        .expect("HELPDESK_TEST_DYNAMODB_URL is not set: run the suite with scripts/test.sh, which starts moto");
    let client = connect_local(&url);
    let name = format!(
        "conformance-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    create_table(&client, &name).await.expect("create table");
    Some(Arc::new(DynamoTable::new(client, name)))
}

helpdesk_tests::table_conformance_tests!(fresh().await);
