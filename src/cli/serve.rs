//! `streamscope serve`: the backend on this machine, with the gateway emulation in front.

use super::UsageError;
use crate::backend::BackendSettings;
use crate::emulator::LocalSettings;
use crate::emulator::gateway::{GatewayMode, GatewaySettings};
use crate::emulator::lambda_service::FunctionSettings;
use clap::Args;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

/// A flag's default, shared by clap and the settings it maps to.
fn gw_default() -> GatewaySettings {
    GatewaySettings::default()
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to bind; anything but loopback exposes the server to the network
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Port; 0 picks a free one
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Emulate API Gateway in front of the backend: off (as Lambda runs it), stream, buffered
    #[arg(long, value_enum, default_value_t = GatewayMode::Off)]
    pub gateway: GatewayMode,
    /// STREAM: bytes sent unthrottled per response
    #[arg(long, value_parser = size_arg, default_value = "10MiB", value_name = "SIZE")]
    pub stream_unthrottled: u64,
    /// STREAM: bytes per second after that
    #[arg(long, value_parser = size_arg, default_value = "2MiB", value_name = "SIZE")]
    pub stream_rate: u64,
    /// STREAM: longest a response may stream, seconds
    #[arg(long, default_value_t = gw_default().stream_max_duration_s, value_name = "SECS", allow_negative_numbers = true)]
    pub stream_max_duration: f64,
    /// STREAM: longest the backend may send nothing, seconds (300 regional/private)
    #[arg(long, default_value_t = gw_default().stream_idle_timeout_s, value_name = "SECS", allow_negative_numbers = true)]
    pub stream_idle_timeout: f64,
    /// STREAM: the integration's TimeoutInMillis, bounding the whole stream (29000 is what a
    /// template that leaves it unset gets)
    #[arg(long, default_value_t = gw_default().stream_timeout_ms, value_name = "MS")]
    pub stream_timeout_ms: u64,
    /// Serve the API under /STAGE/ as API Gateway does; other paths get 403 Missing Authentication Token
    #[arg(long, value_name = "STAGE")]
    pub stage: Option<String>,
    /// Require this x-api-key value (403 Forbidden without it), as a method with ApiKeyRequired
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Require AWS SigV4 signatures by these test credentials, as a method with AWS_IAM
    /// authorization (403 with API Gateway's message for a missing, wrong or stale signature)
    #[arg(
        long,
        value_name = "ACCESS_KEY_ID:SECRET",
        env = "STREAMSCOPE_IAM",
        hide_env_values = true
    )]
    pub iam: Option<String>,
    /// The region signatures must be scoped to
    #[arg(
        long,
        value_name = "REGION",
        default_value = "us-east-1",
        requires = "iam"
    )]
    pub iam_region: String,
    /// Seconds a client has to send its first byte and its whole request head; also the longest
    /// an HTTP/1 connection may idle between requests (slow or silent clients are disconnected).
    /// HTTP/2 connections are pinged after 30 s of quiet and closed if the answer takes 20 s
    #[arg(
        long,
        default_value_t = 30.0,
        value_name = "SECS",
        allow_negative_numbers = true
    )]
    pub header_timeout: f64,
    /// A usage plan's quota: requests after this many get 429 Limit Exceeded
    #[arg(long, value_name = "N")]
    pub usage_quota: Option<u64>,
    /// A usage plan's throttle rate: requests per second per API key (the token bucket's
    /// refill); over it, 429 Too Many Requests. The repository's templates deploy 2
    #[arg(long, value_name = "PER_SEC", allow_negative_numbers = true)]
    pub usage_rate: Option<f64>,
    /// A usage plan's burst: requests a key may make at once (the bucket's size; templates: 5)
    #[arg(long, value_name = "N")]
    pub usage_burst: Option<u32>,
    /// STREAM: edge-optimized endpoint: idle timeout 30 s
    #[arg(long, conflicts_with = "stream_idle_timeout")]
    pub edge: bool,
    /// BUFFERED: largest response payload
    #[arg(long, value_parser = size_arg, default_value = "10MiB", value_name = "SIZE")]
    pub buffered_max: u64,
    /// BUFFERED: integration timeout, milliseconds
    #[arg(long, default_value_t = gw_default().integration_timeout_ms, value_name = "MS")]
    pub integration_timeout_ms: u64,
    /// Also apply Lambda's streaming limits (uncapped allowance, then a rate cap; a payload cap)
    #[arg(long)]
    pub lambda_limits: bool,
    /// Lambda: bytes uncapped
    #[arg(long, value_parser = size_arg, default_value = "6MiB", value_name = "SIZE")]
    pub lambda_unthrottled: u64,
    /// Lambda: bytes per second after that
    #[arg(long, value_parser = size_arg, default_value = "2MiB", value_name = "SIZE")]
    pub lambda_rate: u64,
    /// Lambda: largest streamed payload
    #[arg(long, value_parser = size_arg, default_value = "200MiB", value_name = "SIZE")]
    pub lambda_max: u64,
    /// S3 bucket that GET /s3/{key} streams from
    #[arg(long, env = "STREAMSCOPE_BUCKET", value_name = "BUCKET")]
    pub s3_bucket: Option<String>,
    /// Only keys under this prefix can be read
    #[arg(
        long,
        env = "STREAMSCOPE_S3_PREFIX",
        default_value = "",
        value_name = "PREFIX"
    )]
    pub s3_prefix: String,
    /// Custom S3 endpoint (moto, MinIO...): path-style addressing
    #[arg(long, env = "STREAMSCOPE_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// S3 region (default: the AWS configuration's)
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,
    /// The one URL that GET /relay streams
    #[arg(long, env = "STREAMSCOPE_UPSTREAM_URL", value_name = "URL")]
    pub upstream_url: Option<String>,
    /// Host a real Lambda function instead of the built-in backend: its runtime process,
    /// 'COMMAND ARGS' (e.g. './bootstrap', './node_modules/.bin/aws-lambda-ric index.handler')
    #[arg(long, value_name = "'COMMAND ARGS'")]
    pub function: Option<String>,
    /// An external extension started before the runtime, as Lambda starts /opt/extensions/*
    /// (e.g. the Lambda Web Adapter); repeatable
    #[arg(long, value_name = "'COMMAND ARGS'", requires = "function")]
    pub function_extension: Vec<String>,
    /// The function's directory (LAMBDA_TASK_ROOT; default: the current directory)
    #[arg(long, value_name = "DIR", requires = "function")]
    pub function_dir: Option<PathBuf>,
    /// An environment variable for the function, NAME=VALUE (repeatable)
    #[arg(long, value_name = "NAME=VALUE", requires = "function")]
    pub function_env: Vec<String>,
    /// The handler (_HANDLER), e.g. index.handler or run.sh
    #[arg(long, value_name = "HANDLER", requires = "function")]
    pub function_handler: Option<String>,
    /// The function's timeout, seconds (Lambda's maximum is 900)
    #[arg(long, default_value_t = fn_default().timeout_s, value_name = "SECS", allow_negative_numbers = true)]
    pub function_timeout: f64,
    /// Seconds the runtime may take to ask for its first event
    #[arg(long, default_value_t = fn_default().init_timeout_s, value_name = "SECS", allow_negative_numbers = true)]
    pub function_init_timeout: f64,
    /// The function's memory setting, MB (reported; not enforced)
    #[arg(long, default_value_t = fn_default().memory_mb, value_name = "MB")]
    pub function_memory: u32,
    /// The function's reserved concurrency: requests over it get 500 at once (Lambda throttles
    /// the invoke). Without it, environments scale out per concurrent request (each a cold
    /// start) up to 16 here; more wait, which is a local limit, not AWS's
    #[arg(long, value_name = "N")]
    pub function_concurrency: Option<u32>,
    /// The REST API stage the events name
    #[arg(long, default_value_t = fn_default().stage, value_name = "STAGE")]
    pub function_stage: String,
    /// The function's name (AWS_LAMBDA_FUNCTION_NAME)
    #[arg(long, default_value_t = fn_default().name, value_name = "NAME")]
    pub function_name: String,
    /// Hand this shell's AWS credentials and AWS configuration to the function. Without it the
    /// function starts from a clean environment with none, as on Lambda (where it has only its
    /// execution role), so a missing permission shows locally too
    #[arg(long)]
    pub function_aws_credentials: bool,
}

fn fn_default() -> FunctionSettings {
    FunctionSettings::default()
}

fn size_arg(s: &str) -> Result<u64, String> {
    crate::units::parse_size(s).map_err(|e| e.to_string())
}

impl ServeArgs {
    pub fn settings(&self) -> LocalSettings {
        LocalSettings {
            gateway: GatewaySettings {
                mode: self.gateway,
                stream_unthrottled_bytes: self.stream_unthrottled,
                stream_bytes_per_sec: self.stream_rate,
                stream_max_duration_s: self.stream_max_duration,
                stream_idle_timeout_s: if self.edge {
                    30.0
                } else {
                    self.stream_idle_timeout
                },
                buffered_max_bytes: self.buffered_max,
                integration_timeout_ms: self.integration_timeout_ms,
                lambda_limits: self.lambda_limits,
                lambda_unthrottled_bytes: self.lambda_unthrottled,
                lambda_bytes_per_sec: self.lambda_rate,
                lambda_max_bytes: self.lambda_max,
                stream_timeout_ms: self.stream_timeout_ms,
                stage: self.stage.clone(),
                api_key: self.api_key.clone(),
                usage_quota: self.usage_quota,
                usage_rate: self.usage_rate,
                usage_burst: self.usage_burst,
                iam: self.iam.as_ref().map(|text| {
                    let (id, secret) = text.split_once(':').unwrap_or((text.as_str(), ""));
                    crate::emulator::iam::IamConfig {
                        access_key_id: id.trim().to_string(),
                        secret_access_key: secret.trim().to_string(),
                        region: self.iam_region.trim().to_string(),
                    }
                }),
            },
            backend: BackendSettings {
                s3: self
                    .s3_bucket
                    .clone()
                    .map(|bucket| crate::backend::s3::S3Settings {
                        bucket: bucket.trim().to_string(),
                        prefix: self.s3_prefix.clone(),
                        endpoint: self.s3_endpoint.clone(),
                        region: self.s3_region.clone(),
                    }),
                upstream_url: self.upstream_url.clone(),
                synthetic: Default::default(),
            },
            function: self.function.clone().map(|command| FunctionSettings {
                command,
                extensions: self.function_extension.clone(),
                dir: self.function_dir.clone(),
                env: self.function_env.clone(),
                handler: self.function_handler.clone(),
                timeout_s: self.function_timeout,
                init_timeout_s: self.function_init_timeout,
                memory_mb: self.function_memory,
                concurrency: self.function_concurrency,
                name: self.function_name.clone(),
                stage: self.function_stage.clone(),
                pass_aws_credentials: self.function_aws_credentials,
            }),
            header_timeout_s: Some(self.header_timeout),
        }
    }
}

pub async fn serve(args: ServeArgs) -> ExitCode {
    let config = match args.settings().build().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("streamscope: {}", UsageError::from(e));
            return ExitCode::from(2);
        }
    };
    let addr = SocketAddr::new(args.bind, args.port);
    if !args.bind.is_loopback() {
        eprintln!(
            "streamscope: warning: serving on {} is reachable from the network",
            args.bind
        );
    }
    if let Some(f) = &config.function {
        eprintln!(
            "streamscope: hosting the function {:?}, stage {:?}: {}",
            args.function.as_deref().unwrap_or_default(),
            f.stage(),
            if f.reserved() {
                format!(
                    "reserved concurrency {} (a request over it gets 500, as Lambda throttles it)",
                    f.concurrency()
                )
            } else {
                format!(
                    "a new execution environment per concurrent request, up to {} here (more wait: a local limit, not AWS's)",
                    f.concurrency()
                )
            }
        );
    }
    if !config.gateway.is_passthrough() {
        eprintln!(
            "streamscope: emulating API Gateway {} mode{}",
            config.gateway.mode().label(),
            if config.gateway.lambda_limits() {
                " with Lambda's streaming limits"
            } else {
                ""
            }
        );
    }
    let result = crate::emulator::serve(
        config,
        addr,
        |bound| {
            println!("listening on http://{bound}");
            std::io::stdout().flush().ok();
        },
        shutdown_signal(),
    )
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("streamscope: cannot serve on {addr}: {e}");
            ExitCode::from(1)
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
        }
        Err(_) => {
            tokio::signal::ctrl_c().await.ok();
        }
    }
}
