//! The command line: `get` downloads and measures, `serve` runs the backend, nothing opens the app.

use crate::backend::BackendConfig;
use crate::backend::gateway::{GatewayConfig, GatewayMode};
use crate::probe::{self, HttpVersion, ProbeEvent, ProbeRequest, Report, parse_header_line};
use crate::units::{fmt_bytes, fmt_rate};
use clap::{Args, Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
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
    /// Also redact this header's value in reports (repeatable; Authorization, x-api-key and cookies always are)
    #[arg(long, value_name = "NAME")]
    pub redact: Vec<String>,
    /// No progress line and no summary
    #[arg(short, long)]
    pub quiet: bool,
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
    #[arg(long, default_value_t = 900.0, value_name = "SECS")]
    pub stream_max_duration: f64,
    /// STREAM: longest the backend may send nothing, seconds (300 regional/private)
    #[arg(long, default_value_t = 300.0, value_name = "SECS")]
    pub stream_idle_timeout: f64,
    /// STREAM: edge-optimized endpoint: idle timeout 30 s
    #[arg(long, conflicts_with = "stream_idle_timeout")]
    pub edge: bool,
    /// BUFFERED: largest response payload
    #[arg(long, value_parser = size_arg, default_value = "10MiB", value_name = "SIZE")]
    pub buffered_max: u64,
    /// BUFFERED: integration timeout, milliseconds
    #[arg(long, default_value_t = 29_000, value_name = "MS")]
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

impl ServeArgs {
    pub async fn backend_config(&self) -> Result<BackendConfig, UsageError> {
        let positive = |name: &str, v: u64| {
            if v == 0 {
                Err(UsageError(format!("--{name} must be more than zero")))
            } else {
                Ok(v)
            }
        };
        let gateway = GatewayConfig {
            mode: self.gateway,
            stream_unthrottled_bytes: self.stream_unthrottled,
            stream_bytes_per_sec: positive("stream-rate", self.stream_rate)?,
            stream_max_duration: secs("stream-max-duration", self.stream_max_duration)?,
            stream_idle_timeout: if self.edge {
                Duration::from_secs(30)
            } else {
                secs("stream-idle-timeout", self.stream_idle_timeout)?
            },
            buffered_max_bytes: self.buffered_max,
            integration_timeout: Duration::from_millis(positive(
                "integration-timeout-ms",
                self.integration_timeout_ms,
            )?),
            lambda_limits: self.lambda_limits,
            lambda_unthrottled_bytes: self.lambda_unthrottled,
            lambda_bytes_per_sec: positive("lambda-rate", self.lambda_rate)?,
            lambda_max_bytes: self.lambda_max,
        };
        let upstream_url = match self
            .upstream_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        {
            None => None,
            Some(u) => Some(
                crate::backend::relay::parse_upstream_url(u)
                    .map_err(|e| UsageError(format!("--upstream-url {e}")))?,
            ),
        };
        let s3 = match self.s3_bucket.as_deref().filter(|b| !b.trim().is_empty()) {
            None => None,
            Some(bucket) => Some(
                crate::backend::s3::S3Source::from_settings(crate::backend::s3::S3Settings {
                    bucket: bucket.trim().to_string(),
                    prefix: self.s3_prefix.clone(),
                    endpoint: self.s3_endpoint.clone(),
                    region: self.s3_region.clone(),
                })
                .await,
            ),
        };
        Ok(BackendConfig {
            gateway,
            s3,
            upstream_url,
        })
    }
}

/// Bad input: exit code 2 with one line on stderr.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

fn secs(name: &str, v: f64) -> Result<Duration, UsageError> {
    Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            UsageError(format!(
                "--{name} must be a positive number of seconds, got {v}"
            ))
        })
}

fn check_dir_of(flag: &str, path: &Path) -> Result<(), UsageError> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(UsageError(format!(
            "{flag}: directory {} does not exist",
            parent.display()
        )));
    }
    Ok(())
}

impl GetArgs {
    pub fn to_request(&self) -> Result<ProbeRequest, UsageError> {
        let mut req = ProbeRequest::new(self.url.clone(), self.output.clone());
        for h in &self.headers {
            req.headers
                .push(parse_header_line(h).map_err(|e| UsageError(e.to_string()))?);
        }
        req.http_version = if self.http1 {
            HttpVersion::Http1
        } else if self.http2 {
            HttpVersion::Http2
        } else {
            HttpVersion::Auto
        };
        req.idle_timeout = secs("idle-timeout", self.idle_timeout)?;
        req.connect_timeout = secs("connect-timeout", self.connect_timeout)?;
        req.overall_limit = self.max_time.map(|t| secs("max-time", t)).transpose()?;
        req.expect_sha256 = self.expect_sha256.clone();
        req.redact = self.redact.clone();
        if let Some(p) = &self.json {
            check_dir_of("--json", p)?;
        }
        if let Some(p) = &self.csv {
            check_dir_of("--csv", p)?;
        }
        Ok(req)
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Get(args)) => with_runtime(|rt| rt.block_on(get(args))),
        Some(Command::Serve(args)) => with_runtime(|rt| rt.block_on(serve(args))),
        None => open_gui(GuiArgs::default()),
        Some(Command::Gui(args)) => open_gui(args),
    }
}

#[cfg(feature = "gui")]
fn open_gui(args: GuiArgs) -> ExitCode {
    let preset = match args.preset.as_deref() {
        None => None,
        Some(name) => match crate::app::demo::PRESETS
            .iter()
            .position(|p| p.name.eq_ignore_ascii_case(name))
        {
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

fn with_runtime(f: impl FnOnce(&tokio::runtime::Runtime) -> ExitCode) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
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
        .map_err(|e| e.to_string())
        .and_then(|r| r.validate().map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(msg) => {
            eprintln!("streamscope: {msg}");
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
    let report = probe::run(valid, tx, cancel).await;
    // The progress task ends when the engine drops its sender; a join error only loses the line.
    progress.await.ok();
    let mut code = if report.outcome_value.is_complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    for (path, write) in [
        (
            &args.json,
            Report::write_json as fn(&Report, &Path) -> std::io::Result<()>,
        ),
        (&args.csv, Report::write_csv),
    ] {
        if let Some(p) = path
            && let Err(e) = write(&report, p)
        {
            eprintln!("streamscope: cannot write {}: {e}", p.display());
            code = ExitCode::from(1);
        }
    }
    if !args.quiet {
        print!("{}", human_summary(&report));
    }
    if !report.outcome_value.is_complete() {
        eprintln!("streamscope: download failed: {}", report.outcome);
    }
    code
}

async fn progress_line(mut rx: tokio::sync::mpsc::UnboundedReceiver<ProbeEvent>, live: bool) {
    let t0 = Instant::now();
    let mut bytes = 0u64;
    let mut last_print = Instant::now();
    let mut window_start = (Instant::now(), 0u64);
    let mut rate = 0.0;
    let mut expected = None;
    while let Some(ev) = rx.recv().await {
        match ev {
            ProbeEvent::Headers(m) => expected = m.expected_bytes,
            ProbeEvent::Arrival(a) => bytes += a.bytes as u64,
            ProbeEvent::RequestSent => {}
        }
        if live && last_print.elapsed() >= Duration::from_millis(200) {
            let dt = window_start.0.elapsed().as_secs_f64();
            if dt >= 1.0 {
                rate = (bytes - window_start.1) as f64 / dt;
                window_start = (Instant::now(), bytes);
            }
            let of = expected
                .map(|n| format!(" of {}", fmt_bytes(n)))
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

pub fn human_summary(r: &Report) -> String {
    let mut s = String::new();
    let ms = |v: Option<f64>| {
        v.map(|v| format!("{v:.1} ms"))
            .unwrap_or_else(|| "–".into())
    };
    s += &format!("outcome      {}\n", r.outcome_detail);
    if let Some(preview) = r
        .http_error_body_preview
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        s += &format!(
            "body         {}\n",
            preview
                .chars()
                .take(200)
                .collect::<String>()
                .replace('\n', " ")
        );
    }
    if r.output.saved {
        s += &format!("saved        {} ({})\n", r.output.path, fmt_bytes(r.bytes));
    } else if r.output.partial_left {
        s += &format!(
            "partial      {} ({}; not complete)\n",
            r.output.part_path,
            fmt_bytes(r.bytes)
        );
    }
    if let Some(resp) = &r.response {
        s += &format!("status       {} {}\n", resp.status, resp.http_version);
    }
    s += &format!(
        "timing       headers {}   first byte {}   total {:.2} s\n",
        ms(r.headers_ms),
        ms(r.first_byte_ms),
        r.duration_ms / 1000.0
    );
    if r.bytes > 0 {
        s += &format!(
            "throughput   avg {}   peak {} ({} ms windows)\n",
            fmt_rate(r.avg_bytes_per_sec.unwrap_or(0.0)),
            fmt_rate(r.summary.peak_bytes_per_sec.unwrap_or(0.0)),
            r.summary.window_ms
        );
        s += &format!(
            "arrivals     {} (min {} B, median {} B, max {} B), largest gap {}\n",
            r.summary.arrivals,
            r.summary.arrival_bytes_min.unwrap_or(0),
            r.summary.arrival_bytes_median.unwrap_or(0),
            r.summary.arrival_bytes_max.unwrap_or(0),
            ms(r.summary.largest_gap_ms)
        );
        let sp = &r.throughput_split_10mib;
        if sp.crossed_at_s.is_some() {
            let f = |v: Option<f64>| v.map(fmt_rate).unwrap_or_else(|| "–".into());
            s += &format!(
                "10 MiB       before {}   after {}\n",
                f(sp.before_bytes_per_sec),
                f(sp.after_bytes_per_sec)
            );
        }
    }
    if r.bytes > 0 {
        s += &format!("delivery     {}\n", r.delivery.label().replace('_', " "));
    }
    if let Some(sha) = &r.sha256 {
        let against = match (r.digest_match, r.expected_sha256_source) {
            (Some(true), Some(src)) => format!(" (matches {src})"),
            (Some(false), Some(src)) => format!(
                " (DIFFERS from {src} {})",
                r.expected_sha256.as_deref().unwrap_or("")
            ),
            _ => " (no reference digest)".to_string(),
        };
        s += &format!("sha256       {sha}{against}\n");
    }
    s
}

async fn serve(args: ServeArgs) -> ExitCode {
    let config = match args.backend_config().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("streamscope: {e}");
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
    if config.gateway.mode != GatewayMode::Off || config.gateway.lambda_limits {
        eprintln!(
            "streamscope: emulating API Gateway {} mode{}",
            config.gateway.mode.label(),
            if config.gateway.lambda_limits {
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
        async {
            shutdown_signal().await;
        },
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
