//! The Lambda entry point: the backend Router under lambda_http's streaming runner (REST API v1
//! events, response streaming). Build: `cargo build --release --no-default-features --features
//! lambda --bin bootstrap`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    // Lambda's log settings (AWS_LAMBDA_LOG_LEVEL, AWS_LAMBDA_LOG_FORMAT), as the runtime defines them.
    lambda_http::tracing::init_default_subscriber();
    let settings = streamscope::backend::lambda::settings_from_env()?;
    let config = settings.build().await?;
    lambda_http::run_with_streaming_response(streamscope::backend::lambda::app(config)).await
}
