//! `streamscope serve`: the backend on this machine, with the gateway emulation in front.

use super::UsageError;
use crate::backend::BackendSettings;
use crate::emulator::LocalSettings;
use crate::emulator::gateway::{GatewayMode, GatewaySettings};
use crate::emulator::lambda_service::FunctionSettings;
use crate::emulator::profile::Profile;
use clap::Args;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// The model of AWS to emulate: a profile file (see `streamscope profile`); default: the
    /// built-in aws-2026-11. The flags below override single values of it
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// STREAM: bytes sent unthrottled per response [profile: 10MiB]
    #[arg(long, value_parser = size_arg, value_name = "SIZE")]
    pub stream_unthrottled: Option<u64>,
    /// STREAM: bytes per second after that [profile: 2MiB]
    #[arg(long, value_parser = size_arg, value_name = "SIZE")]
    pub stream_rate: Option<u64>,
    /// STREAM: longest a response may stream, seconds [profile: 900]
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    pub stream_max_duration: Option<f64>,
    /// STREAM: longest the backend may send nothing, seconds [profile: 300, Regional/private]
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    pub stream_idle_timeout: Option<f64>,
    /// STREAM: the integration's TimeoutInMillis, bounding the wait for the prelude (and, as the
    /// profile reads it, the whole stream) [profile: 900000; a template that leaves it unset
    /// gets 29000]
    #[arg(long, value_name = "MS")]
    pub stream_timeout_ms: Option<u64>,
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
    /// STREAM: edge-optimized endpoint: the profile's edge idle timeout (30 s)
    #[arg(long, conflicts_with = "stream_idle_timeout")]
    pub edge: bool,
    /// BUFFERED: largest response payload [profile: 10MiB]
    #[arg(long, value_parser = size_arg, value_name = "SIZE")]
    pub buffered_max: Option<u64>,
    /// BUFFERED: integration timeout, milliseconds [profile: 29000]
    #[arg(long, value_name = "MS")]
    pub integration_timeout_ms: Option<u64>,
    /// Apply Lambda's streaming limits (uncapped allowance, then a rate cap; a payload cap) to
    /// the built-in backend too. A hosted function (--function) has them unless
    /// --no-lambda-limits
    #[arg(long, conflicts_with = "no_lambda_limits")]
    pub lambda_limits: bool,
    /// Lift Lambda's streaming limits from a hosted function (not as on AWS)
    #[arg(long)]
    pub no_lambda_limits: bool,
    /// Lambda: bytes uncapped [profile: 6MiB]
    #[arg(long, value_parser = size_arg, value_name = "SIZE")]
    pub lambda_unthrottled: Option<u64>,
    /// Lambda: bytes per second after that [profile: 2MiB]
    #[arg(long, value_parser = size_arg, value_name = "SIZE")]
    pub lambda_rate: Option<u64>,
    /// Lambda: largest streamed payload [profile: 200MiB]
    #[arg(long, value_parser = size_arg, value_name = "SIZE")]
    pub lambda_max: Option<u64>,
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
    /// Seconds the runtime (and its extensions) may take to ask for the first event; past it
    /// Lambda retries the init inside the first invocation, up to the function timeout
    /// [profile: 10]
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    pub function_init_timeout: Option<f64>,
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
    /// The profile `--profile` names, or the built-in one.
    pub fn profile(&self) -> Result<Profile, UsageError> {
        match &self.profile {
            None => Ok(Profile::aws().clone()),
            Some(path) => Profile::load(path).map_err(|e| UsageError(format!("{e} (--profile)"))),
        }
    }

    /// The profile's values, with the flags given over them.
    pub fn settings(&self, profile: &Profile) -> LocalSettings {
        let mut gateway = GatewaySettings::from_profile(profile);
        let or = |flag: Option<u64>, v: &mut u64| *v = flag.unwrap_or(*v);
        or(
            self.stream_unthrottled,
            &mut gateway.stream_unthrottled_bytes,
        );
        or(self.stream_rate, &mut gateway.stream_bytes_per_sec);
        or(self.stream_timeout_ms, &mut gateway.stream_timeout_ms);
        or(self.buffered_max, &mut gateway.buffered_max_bytes);
        or(
            self.integration_timeout_ms,
            &mut gateway.integration_timeout_ms,
        );
        or(
            self.lambda_unthrottled,
            &mut gateway.lambda_unthrottled_bytes,
        );
        or(self.lambda_rate, &mut gateway.lambda_bytes_per_sec);
        or(self.lambda_max, &mut gateway.lambda_max_bytes);
        if let Some(s) = self.stream_max_duration {
            gateway.stream_max_duration_s = s;
        }
        gateway.stream_idle_timeout_s = match (self.edge, self.stream_idle_timeout) {
            (true, _) => profile.stream_idle_timeout_edge_s.value as f64,
            (false, Some(s)) => s,
            (false, None) => gateway.stream_idle_timeout_s,
        };
        // A real function is held to Lambda's limits, as on AWS, unless lifted.
        gateway.lambda_limits = self.lambda_limits
            || (self.function.is_some()
                && profile.lambda_limits_when_hosting.value
                && !self.no_lambda_limits);
        gateway.mode = self.gateway;
        gateway.stage.clone_from(&self.stage);
        gateway.api_key.clone_from(&self.api_key);
        gateway.usage_quota = self.usage_quota;
        gateway.usage_rate = self.usage_rate;
        gateway.usage_burst = self.usage_burst;
        gateway.iam = self.iam.as_ref().map(|text| {
            let (id, secret) = text.split_once(':').unwrap_or((text.as_str(), ""));
            crate::emulator::iam::IamConfig {
                access_key_id: id.trim().to_string(),
                secret_access_key: secret.trim().to_string(),
                region: self.iam_region.trim().to_string(),
            }
        });
        LocalSettings {
            gateway,
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
            function: self.function.clone().map(|command| {
                let base = FunctionSettings::from_profile(profile);
                FunctionSettings {
                    command,
                    extensions: self.function_extension.clone(),
                    dir: self.function_dir.clone(),
                    env: self.function_env.clone(),
                    handler: self.function_handler.clone(),
                    timeout_s: self.function_timeout,
                    init_timeout_s: self.function_init_timeout.unwrap_or(base.init_timeout_s),
                    memory_mb: self.function_memory,
                    concurrency: self.function_concurrency,
                    name: self.function_name.clone(),
                    stage: self.function_stage.clone(),
                    pass_aws_credentials: self.function_aws_credentials,
                    ..base
                }
            }),
            header_timeout_s: Some(self.header_timeout),
        }
    }
}

pub async fn serve(args: ServeArgs) -> ExitCode {
    let profile = match args.profile() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("streamscope: {e}");
            return ExitCode::from(2);
        }
    };
    let config = match args.settings(&profile).build().await {
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
    say_profile(&profile);
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

/// Which model of AWS is in force, and which of its values nobody has confirmed.
fn say_profile(p: &Profile) {
    let unverified = p.unverified();
    eprintln!(
        "streamscope: profile {} ({}){}",
        p.name,
        p.date,
        if unverified.is_empty() {
            String::new()
        } else {
            format!(
                "; unverified on AWS: {} (`streamscope profile` shows each; `streamscope calibrate` measures them)",
                p.rows()
                    .iter()
                    .filter(|r| unverified.contains(&r.key))
                    .map(|r| format!("{}={}", r.key, r.value))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
}

pub(super) async fn shutdown_signal() {
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
