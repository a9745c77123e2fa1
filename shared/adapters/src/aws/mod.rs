//! AWS adapters. SDK types never leave this module.

pub mod cognito;
pub mod dynamodb;

pub use dynamodb::DynamoTable;
