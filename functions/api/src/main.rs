//! Lambda entry point: settings from the environment, the router built once, then serve.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    helpdesk_compose::logging::init_lambda();
    let settings = helpdesk_compose::Settings::from_env(|k| std::env::var(k).ok())?;
    lambda_http::run(helpdesk_api::build(&settings).await?).await
}
