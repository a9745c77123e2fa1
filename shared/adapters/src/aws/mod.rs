//! AWS adapters. SDK types never leave this module.

pub mod cognito;
pub mod dynamodb;
pub mod opensearch;
pub mod s3;
pub mod ses;
pub mod sns;
pub mod sqs;

pub use dynamodb::DynamoTable;
pub use opensearch::OpenSearchKbIndex;
pub use s3::S3BlobStore;
pub use ses::SesMailSender;
pub use sns::{SnsAlertSink, SnsSms};
pub use sqs::SqsRoutingQueue;
