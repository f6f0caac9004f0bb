//! The command line: argument structs, their mapping to the library's requests and settings, and
//! the mapping of the library's errors back to flag names. No figures, no wording of results: the
//! summary comes from [`crate::probe::printer`].

use crate::backend::gateway::{GatewayMode, GatewaySettings};
use crate::backend::{BackendSettings, ConfigError, Setting};
use crate::probe::request::Field;
use crate::probe::{
    self, Figures, HttpVersion, InputError, ProbeEvent, ProbeRequest, parse_header_line,
};
use crate::units::{fmt_bytes, fmt_rate};
use clap::{Args, Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
#[command(
    name = "streamscope",
    version,
    about = "Does a streamed HTTP download really stream? Times every arrival, hashes every byte."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Download URL into FILE, timing every arrival and hashing every byte (exit 0 only if complete).
    Get(GetArgs),
    /// Run the streaming backend on this machine (loopback unless told otherwise).
    Serve(ServeArgs),
    /// Open the desktop app (what running with no command does).
    Gui(GuiArgs),
}

#[derive(Args, Debug, Default)]
pub struct GuiArgs {
    /// Local demo preset to select (e.g. "200 MiB throttled like API Gateway")
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Start the download at once
    #[arg(long)]
    pub start: bool,
}

#[derive(Args, Debug)]
pub struct GetArgs {
    /// http:// or https:// URL to GET
    pub url: String,
    /// Where to save the body (written to FILE.part until complete and verified)
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// Request header, 'Name: value' (repeatable)
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// SHA-256 (hex) the body must have; wins over the server's Repr-Digest
    #[arg(long, value_name = "HEX")]
    pub expect_sha256: Option<String>,
    /// Write the JSON report here
    #[arg(long, value_name = "REPORT.json")]
    pub json: Option<PathBuf>,
    /// Write the arrivals CSV here
    #[arg(long, value_name = "ARRIVALS.csv")]
    pub csv: Option<PathBuf>,
    /// Seconds without a byte before the run counts as stalled
    #[arg(
        long,
        default_value_t = 30.0,
        value_name = "SECS",
        allow_negative_numbers = true
    )]
    pub idle_timeout: f64,
    /// Seconds to establish the connection
    #[arg(
        long,
        default_value_t = 10.0,
        value_name = "SECS",
        allow_negative_numbers = true
    )]
    pub connect_timeout: f64,
    /// Seconds the whole run may take
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    pub max_time: Option<f64>,
    /// Use HTTP/1.1 only
    #[arg(long, conflicts_with = "http2")]
    pub http1: bool,
    /// Use HTTP/2 (prior knowledge on http://)
    #[arg(long)]
    pub http2: bool,
    /// Trust the CA certificates in this PEM file too (besides the system's)
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Do not verify the server's certificate (the report says so)
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// Also redact this header's value in reports (repeatable; Authorization, x-api-key and cookies always are)
    #[arg(long, value_name = "NAME")]
    pub redact: Vec<String>,
    /// No progress line and no summary
    #[arg(short, long)]
    pub quiet: bool,
}

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
}

fn size_arg(s: &str) -> Result<u64, String> {
    crate::units::parse_size(s).map_err(|e| e.to_string())
}

/// Bad input: exit code 2 with one line on stderr.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

impl From<InputError> for UsageError {
    fn from(e: InputError) -> Self {
        let flag = match e.field() {
            Field::Url => None,
            Field::Header => Some("-H"),
            Field::ExpectSha256 => Some("--expect-sha256"),
            Field::Output => Some("-o"),
            Field::JsonReport => Some("--json"),
            Field::CsvReport => Some("--csv"),
            Field::ConnectTimeout => Some("--connect-timeout"),
            Field::IdleTimeout => Some("--idle-timeout"),
            Field::MaxTime => Some("--max-time"),
            Field::CaCert => Some("--cacert"),
        };
        UsageError(match flag {
            Some(f) => format!("{e} ({f})"),
            None => e.to_string(),
        })
    }
}

impl From<ConfigError> for UsageError {
    fn from(e: ConfigError) -> Self {
        let flag = match e.setting() {
            Setting::StreamRate => "--stream-rate",
            Setting::StreamMaxDuration => "--stream-max-duration",
            Setting::StreamIdleTimeout => "--stream-idle-timeout",
            Setting::BufferedMax => "--buffered-max",
            Setting::IntegrationTimeout => "--integration-timeout-ms",
            Setting::LambdaRate => "--lambda-rate",
            Setting::LambdaMax => "--lambda-max",
            Setting::UpstreamUrl => "--upstream-url",
        };
        UsageError(format!("{e} ({flag})"))
    }
}

impl GetArgs {
    /// The request as typed; [`ProbeRequest::validate`] checks it.
    pub fn to_request(&self) -> Result<ProbeRequest, UsageError> {
        let headers = self
            .headers
            .iter()
            .map(|h| parse_header_line(h))
            .collect::<Result<_, _>>()?;
        Ok(ProbeRequest {
            headers,
            http_version: if self.http1 {
                HttpVersion::Http1
            } else if self.http2 {
                HttpVersion::Http2
            } else {
                HttpVersion::Auto
            },
            connect_timeout_s: self.connect_timeout,
            idle_timeout_s: self.idle_timeout,
            max_time_s: self.max_time,
            expect_sha256: self.expect_sha256.clone(),
            json_report: self.json.clone(),
            csv_report: self.csv.clone(),
            redact: self.redact.clone(),
            cacert: self.cacert.clone(),
            insecure: self.insecure,
            ..ProbeRequest::new(self.url.clone(), self.output.clone())
        })
    }
}

impl ServeArgs {
    pub fn settings(&self) -> BackendSettings {
        BackendSettings {
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
            },
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
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        // One thread for the whole download (the connection task, the engine, the progress line),
        // beside the engine's writer thread: no hand-off between threads per read. Measured to
        // keep pace with curl over HTTPS and h2, where a multi-thread runtime did not.
        Some(Command::Get(args)) => with_runtime(false, |rt| rt.block_on(get(args))),
        Some(Command::Serve(args)) => with_runtime(true, |rt| rt.block_on(serve(args))),
        None => open_gui(GuiArgs::default()),
        Some(Command::Gui(args)) => open_gui(args),
    }
}

#[cfg(feature = "gui")]
fn open_gui(args: GuiArgs) -> ExitCode {
    let preset = match args.preset.as_deref() {
        None => None,
        Some(name) => match crate::app::demo::preset_named(name) {
            Some(i) => Some(i),
            None => {
                let names: Vec<_> = crate::app::demo::PRESETS
                    .iter()
                    .map(|p| format!("{:?}", p.name))
                    .collect();
                eprintln!(
                    "streamscope: no demo preset {name:?}; choose one of {}",
                    names.join(", ")
                );
                return ExitCode::from(2);
            }
        },
    };
    match crate::app::run(crate::app::Launch {
        preset,
        start: args.start,
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("streamscope: could not open the window: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(not(feature = "gui"))]
fn open_gui(_args: GuiArgs) -> ExitCode {
    eprintln!(
        "streamscope: built without the GUI; use `streamscope get` or `streamscope serve` (see --help)"
    );
    ExitCode::from(2)
}

fn with_runtime(
    multi_thread: bool,
    f: impl FnOnce(&tokio::runtime::Runtime) -> ExitCode,
) -> ExitCode {
    let mut b = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    match b.enable_all().build() {
        Ok(rt) => f(&rt),
        Err(e) => {
            eprintln!("streamscope: cannot start the async runtime: {e}");
            ExitCode::from(1)
        }
    }
}

async fn get(args: GetArgs) -> ExitCode {
    let valid = match args
        .to_request()
        .and_then(|r| r.validate().map_err(UsageError::from))
    {
        Ok(v) => v,
        Err(e) => {
            eprintln!("streamscope: {e}");
            return ExitCode::from(2);
        }
    };
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let live = !args.quiet && std::io::stderr().is_terminal();
    let progress = tokio::spawn(progress_line(rx, live));
    let result = probe::run(valid, tx, cancel).await;
    // The progress task ends when the engine drops its sender; a join error only loses the line.
    progress.await.ok();
    let figures = Figures::of(&result);
    let mut code = if result.outcome.is_complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    if let Err((path, e)) = probe::report::write_requested(&result, &figures) {
        eprintln!("streamscope: cannot write {}: {e}", path.display());
        code = ExitCode::from(1);
    }
    if !args.quiet {
        print!("{}", probe::printer::summary(&result, &figures).text());
    }
    if !result.outcome.is_complete() {
        eprintln!("streamscope: download failed: {}", result.outcome.kind());
    }
    code
}

async fn progress_line(mut rx: tokio::sync::mpsc::UnboundedReceiver<ProbeEvent>, live: bool) {
    let mut t0 = Instant::now();
    let mut bytes = 0u64;
    let mut last_print = Instant::now();
    let mut window_start = (Instant::now(), 0u64);
    let mut rate = 0.0;
    let mut expected = None;
    while let Some(ev) = rx.recv().await {
        match ev {
            ProbeEvent::RequestSent { at, .. } => t0 = at,
            ProbeEvent::Headers(m) => expected = m.length.filter(|_| m.is_success()),
            ProbeEvent::Arrivals(batch) => {
                bytes += batch.iter().map(|a| a.bytes as u64).sum::<u64>()
            }
        }
        if live && last_print.elapsed() >= Duration::from_millis(200) {
            let dt = window_start.0.elapsed().as_secs_f64();
            if dt >= 1.0 {
                rate = (bytes - window_start.1) as f64 / dt;
                window_start = (Instant::now(), bytes);
            }
            let of = expected
                .map(|l| format!(" of {}", fmt_bytes(l.bytes)))
                .unwrap_or_default();
            eprint!(
                "\r\x1b[2K  {}{of}  {}  {:.1} s",
                fmt_bytes(bytes),
                fmt_rate(rate),
                t0.elapsed().as_secs_f64()
            );
            std::io::stderr().flush().ok();
            last_print = Instant::now();
        }
    }
    if live {
        eprint!("\r\x1b[2K");
    }
}

async fn serve(args: ServeArgs) -> ExitCode {
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
    let result = crate::backend::serve(
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
    #[cfg(unix)]
    {
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
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await.ok();
}
