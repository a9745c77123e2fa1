//! AWS adapters. SDK types never leave this module.

pub mod cognito;
pub mod dynamodb;
pub mod sns;

pub use dynamodb::DynamoTable;
pub use sns::{SnsAlertSink, SnsSms};
