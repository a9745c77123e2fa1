//! AWS adapters. SDK types never leave this module.

pub mod cognito;
pub mod dynamodb;
pub mod ses;
pub mod sns;

pub use dynamodb::DynamoTable;
pub use ses::SesMailSender;
pub use sns::{SnsAlertSink, SnsSms};
