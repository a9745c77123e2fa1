//! Shared test support: the `Table` conformance suite and the `TestApp` helper that drives the
//! real router over HTTP. Integration tests live in `tests/tests/`.

pub mod aws;
pub mod browser;
pub mod cfn;
pub mod clock;
pub mod conformance;
pub mod kb_search;
pub mod smtp;
pub mod test_app;

pub use test_app::{mail_fixture, TestApp};
