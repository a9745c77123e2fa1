//! Lambda entry point: settings from the environment, the function built once, then run.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    helpdesk_compose::logging::init_lambda();
    let settings = helpdesk_compose::Settings::from_env(|k| std::env::var(k).ok())?;
    let function = helpdesk_sla_sweeper::Function::build(&settings).await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| function.handle(event))).await
}
