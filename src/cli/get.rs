//! `streamscope get`: one download, a live progress line, the summary, the reports.

use super::UsageError;
use crate::probe::analysis::findings::Limits;
use crate::probe::{self, Figures, HttpVersion, ProbeEvent, ProbeRequest, parse_header_line};
use crate::units::{fmt_bytes, fmt_rate};
use clap::Args;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

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
    /// Sign with AWS SigV4 (API Gateway IAM auth): REGION, REGION:SERVICE or curl's
    /// aws:amz:REGION:SERVICE; bare: the region in the URL or AWS_REGION, service execute-api.
    /// Credentials from the AWS chain (environment, profile, SSO, role)
    #[arg(long, value_name = "REGION", num_args = 0..=1, default_missing_value = "")]
    pub aws_sigv4: Option<String>,
    /// AWS profile for --aws-sigv4's credentials
    #[arg(long, value_name = "NAME")]
    pub aws_profile: Option<String>,
    /// Continue FILE.part where it stopped, with a Range request (its bytes are hashed first;
    /// refused when the server sends the whole object or the object changed)
    #[arg(long)]
    pub resume: bool,
    /// `-C -`: --resume as curl spells it (only `-`: the offset is what FILE.part holds)
    #[arg(
        short = 'C',
        value_name = "-",
        value_parser = ["-"],
        allow_hyphen_values = true
    )]
    pub continue_at: Option<String>,
    /// Continue a truncated or stalled download up to N times, each from where it stopped
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retry: u32,
    /// Download as parallel ranges, N at a time, into one file (each range is its own response:
    /// its own 10 MB / 6 MB unthrottled window); verified whole against the object's digest
    #[arg(long, value_name = "N")]
    pub segments: Option<u32>,
    /// Bytes per range with --segments (units allowed: 6MiB, 10MB)
    #[arg(long, value_name = "SIZE", default_value = "6MiB", value_parser = parse_segment_size, requires = "segments")]
    pub segment_size: u64,
    /// Follow at most N redirects (each is timed and shown; 0 follows none)
    #[arg(
        long,
        value_name = "N",
        default_value_t = probe::fetch::request::DEFAULT_MAX_REDIRECTS,
        allow_negative_numbers = true
    )]
    pub max_redirs: u32,
    /// Do not follow redirects: a 3xx is the answer (same as --max-redirs 0)
    #[arg(long, conflicts_with = "max_redirs")]
    pub no_location: bool,
    /// Draw the charts (throughput, bytes, arrivals) into this PNG file
    #[arg(long, value_name = "FILE.png")]
    pub png: Option<PathBuf>,
    /// A threshold the run must meet, e.g. first_byte_ms<1000, after_10mib>=1.9MB/s,
    /// delivery==streamed, findings.errors==0, duration<60s (repeatable). A complete run that
    /// misses one exits 3
    #[arg(long, value_name = "EXPR")]
    pub require: Vec<String>,
    /// Judge the run by this emulation profile's limits (a profile `calibrate` wrote for your
    /// account, or the scaled one a local run used) instead of AWS's published ones
    #[arg(long, value_name = "PROFILE.toml")]
    pub limits: Option<PathBuf>,
    /// No progress line and no summary
    #[arg(short, long)]
    pub quiet: bool,
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
            png_report: self.png.clone(),
            require: self.require.clone(),
            redact: self.redact.clone(),
            cacert: self.cacert.clone(),
            insecure: self.insecure,
            resume: self.resume || self.continue_at.is_some(),
            retries: self.retry,
            segments: self.segments,
            segment_bytes: self.segment_size,
            aws_sigv4: self.aws_sigv4.clone(),
            aws_profile: self.aws_profile.clone(),
            max_redirects: if self.no_location { 0 } else { self.max_redirs },
            ..ProbeRequest::new(self.url.clone(), self.output.clone())
        })
    }
}

fn parse_segment_size(text: &str) -> Result<u64, String> {
    crate::units::parse_size(text).map_err(|e| e.to_string())
}

pub async fn get(args: GetArgs) -> ExitCode {
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
    let limits = match &args.limits {
        None => Limits::AWS,
        Some(p) => match crate::emulator::profile::Profile::load(p) {
            Ok(p) => Limits::from_profile(&p),
            Err(e) => {
                eprintln!("streamscope: {e}");
                return ExitCode::from(2);
            }
        },
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
    let findings = probe::analysis::findings::findings(&result, &figures, &limits);
    let thresholds = probe::analysis::thresholds::check(&result, &figures, &findings);
    let mut code = if !result.outcome.is_complete() {
        ExitCode::from(1)
    } else if !probe::analysis::thresholds::all_met(&thresholds) {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    };
    if let Err((path, e)) = probe::output::report::write_requested(&result, &figures, &findings) {
        eprintln!("streamscope: cannot write {}: {e}", path.display());
        code = ExitCode::from(1);
    }
    if let Some(png) = &args.png
        && let Err(e) = super::report::png_of_result(&result, &figures, png)
    {
        eprintln!("streamscope: {e}");
        code = ExitCode::from(1);
    }
    if !args.quiet {
        print!(
            "{}",
            probe::output::printer::summary(&result, &figures, &findings).text()
        );
    }
    if !result.outcome.is_complete() {
        eprintln!("streamscope: download failed: {}", result.outcome.kind());
    }
    // Said even with -q: a CI log shows which threshold failed the build.
    for t in thresholds.iter().filter(|t| !t.passed) {
        eprintln!(
            "streamscope: threshold missed: {} (seen: {})",
            t.expression,
            t.value.as_deref().unwrap_or("not measured")
        );
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
