//! Adapters: the ports of `helpdesk-app` implemented on real infrastructure.
//!
//! - `local`: SQLite (one file, WAL), key files and the outbox (alerts, e-mail) in the data
//!   directory, for the self-hosted binary.
//! - `aws`: DynamoDB, SNS and SESv2 (and later SQS, S3, OpenSearch) for the Lambda functions.
//!
//! Both storage engines implement the same `Table` port with the same key design; the
//! conformance suite in `tests/` holds them to the same behaviour.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(any(feature = "local", feature = "kb-embedded"))]
pub mod local;
#[cfg(feature = "platform")]
pub mod platform;
