//! One logging init for every binary. The filter is `RUST_LOG` (default `info`).

fn filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
}

/// The Lambda functions: one JSON object per line, without a time (CloudWatch stamps every
/// line) or the target.
pub fn init_lambda() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter())
        .with_target(false)
        .without_time()
        .init();
}

/// The self-hosted binary: human-readable lines with their time.
pub fn init_local() {
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_target(false)
        .init();
}
