//! The Lambda entry point: the backend Router under lambda_http's streaming runner (REST API v1
//! events, response streaming). Build: `cargo build --release --no-default-features --features
//! lambda --bin bootstrap`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .without_time()
        .with_ansi(false)
        .init();
    let config = streamscope::backend::lambda::config_from_env().await?;
    lambda_http::run_with_streaming_response(streamscope::backend::lambda::app(config)).await
}
