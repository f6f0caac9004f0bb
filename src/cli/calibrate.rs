//! `streamscope calibrate URL -o PROFILE.toml`: the probes of [`crate::calibrate`] against a
//! deployment, the cost said (and asked) first, the profile written only once every probe ran.

use crate::calibrate::{self, CalibrateError, Measured, Options, Ran};
use crate::emulator::profile::Profile;
use crate::probe::{ProbeRequest, parse_header_line};
use clap::Args;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// The deployment's base URL, e.g. https://ID.execute-api.REGION.amazonaws.com/prod (the
    /// Rust backend of src/backend/template.yaml with EnableFaultKnobs=true)
    pub url: String,
    /// Where to write the measured profile
    #[arg(short = 'o', long = "output", value_name = "PROFILE.toml")]
    pub output: PathBuf,
    /// The deployment's API key (sent as x-api-key)
    #[arg(
        long,
        value_name = "KEY",
        env = "STREAMSCOPE_API_KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,
    /// Request header, 'Name: value' (repeatable)
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Sign with AWS SigV4, as `get --aws-sigv4`
    #[arg(long, value_name = "REGION", num_args = 0..=1, default_missing_value = "")]
    pub aws_sigv4: Option<String>,
    /// AWS profile for --aws-sigv4's credentials
    #[arg(long, value_name = "NAME")]
    pub aws_profile: Option<String>,
    /// Also the slow probes: the idle cut (a 330 s pause), Lambda's 200 MB cap and, with
    /// --integration-timeout-ms, what the integration timeout bounds (about 8 minutes more)
    #[arg(long)]
    pub long: bool,
    /// The deployment's TimeoutInMillis when it was deployed with a short one (at most 120000),
    /// to see whether it bounds the whole stream (with --long)
    #[arg(long, value_name = "MS", requires = "long")]
    pub integration_timeout_ms: Option<u64>,
    /// The API's endpoint type, written into each measurement's stamp
    #[arg(long, value_parser = ["regional", "edge", "private"], default_value = "regional")]
    pub endpoint_type: String,
    /// The function's memory, MB, for the cost estimate (the template's default: 1024)
    #[arg(long, default_value_t = 1024, value_name = "MB")]
    pub memory_mb: u32,
    /// The profile to start from (default: the built-in one); what is measured replaces its values
    #[arg(long, value_name = "FILE")]
    pub base: Option<PathBuf>,
    /// The new profile's name (default: measured-DATE-REGION)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Run without asking (the requests are billed to the deployment's account)
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// The region of an execute-api host, or the host itself.
fn region_of(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("unknown");
    host.split('.')
        .skip_while(|p| *p != "execute-api")
        .nth(1)
        .map_or_else(|| host.to_string(), str::to_string)
}

/// Everything checked before any request is made.
struct Prepared {
    base: String,
    template: ProbeRequest,
    options: Options,
    start: Profile,
    region: String,
    endpoint: String,
}

fn prepare(args: &CalibrateArgs) -> Result<Prepared, String> {
    let url = reqwest::Url::parse(args.url.trim())
        .map_err(|e| format!("{:?} is not a URL: {e}", args.url))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{:?}: give an http:// or https:// URL", args.url));
    }
    let dir = args.output.parent().filter(|d| !d.as_os_str().is_empty());
    if dir.is_some_and(|d| !d.is_dir()) || args.output.is_dir() {
        return Err(format!(
            "cannot write {} (-o): its directory does not exist or it is a directory",
            args.output.display()
        ));
    }
    let start = match &args.base {
        None => Profile::aws().clone(),
        Some(p) => Profile::load(p).map_err(|e| format!("{e} (--base)"))?,
    };
    let mut template = ProbeRequest::new(String::new(), PathBuf::new());
    for h in &args.headers {
        template
            .headers
            .push(parse_header_line(h).map_err(|e| format!("{e} (-H)"))?);
    }
    if let Some(k) = &args.api_key {
        template.headers.push(("x-api-key".into(), k.clone()));
    }
    template.aws_sigv4.clone_from(&args.aws_sigv4);
    template.aws_profile.clone_from(&args.aws_profile);
    let local = url
        .host_str()
        .is_some_and(|h| h == "127.0.0.1" || h == "localhost" || h == "[::1]");
    Ok(Prepared {
        base: url.as_str().trim_end_matches('/').to_string(),
        template,
        options: Options {
            long: args.long,
            integration_timeout_ms: args.integration_timeout_ms.filter(|ms| *ms <= 120_000),
            memory_mb: args.memory_mb,
            has_stage: url
                .path()
                .trim_matches('/')
                .split('/')
                .any(|s| !s.is_empty()),
        },
        start,
        region: if local {
            "local".into()
        } else {
            region_of(&url)
        },
        endpoint: if local {
            "local".into()
        } else {
            args.endpoint_type.clone()
        },
    })
}

/// Says the cost and, unless --yes, asks.
fn confirm(args: &CalibrateArgs, plan: &[calibrate::Probe], memory_mb: u32) -> Result<(), String> {
    let c = calibrate::cost(plan, memory_mb);
    eprintln!(
        "streamscope: calibrate will make {} requests, {:.1} MiB in all, about {:.0} Lambda GB-s at {memory_mb} MB (and {} API Gateway requests):",
        c.requests,
        c.bytes as f64 / (1024.0 * 1024.0),
        c.gb_seconds,
        c.requests
    );
    for p in plan {
        eprintln!("  {:<12} {}", format!("{:?}", p.kind), p.about);
    }
    if args.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err("these requests are billed to the deployment's account: add --yes to run without asking".into());
    }
    eprint!("Go on? [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).ok();
    if answer.trim().eq_ignore_ascii_case("y") || answer.trim().eq_ignore_ascii_case("yes") {
        Ok(())
    } else {
        Err("nothing was done".into())
    }
}

/// Runs the plan; stops at the first probe that says this is not a deployment to calibrate.
async fn measure(p: &Prepared, plan: &[calibrate::Probe]) -> Result<Measured, CalibrateError> {
    let dir = tempfile::tempdir().map_err(|e| CalibrateError::Probe("setup", e.to_string()))?;
    let mut m = Measured::default();
    for (i, probe) in plan.iter().enumerate() {
        eprint!("[{}/{}] {} ... ", i + 1, plan.len(), probe.about);
        std::io::stderr().flush().ok();
        let result = calibrate::run_probe(&p.base, probe, &p.template, dir.path()).await?;
        std::fs::remove_file(dir.path().join("probe.bin")).ok();
        eprintln!("{} bytes in {:.1} s", result.bytes, result.duration_s());
        let ran = Ran {
            probe: probe.clone(),
            result,
        };
        calibrate::read(&ran, &p.base, &mut m)?;
    }
    Ok(m)
}

pub async fn calibrate(args: CalibrateArgs) -> ExitCode {
    let p = match prepare(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("streamscope: {e}");
            return ExitCode::from(2);
        }
    };
    let plan = calibrate::plan(&p.options);
    if let Err(e) = confirm(&args, &plan, p.options.memory_mb) {
        eprintln!("streamscope: {e}");
        return ExitCode::from(2);
    }
    let m = tokio::select! {
        m = measure(&p, &plan) => m,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("\nstreamscope: interrupted: nothing written");
            return ExitCode::from(130);
        }
    };
    let m = match m {
        Ok(m) => m,
        Err(e) => {
            eprintln!("\nstreamscope: {e}");
            return ExitCode::from(1);
        }
    };
    let date = crate::units::rfc3339_utc(std::time::SystemTime::now())[..10].to_string();
    let stamp = format!("{date} {} {}", p.region, p.endpoint);
    let (mut profile, compared) = calibrate::apply(&p.start, &m, &stamp, &p.endpoint);
    profile.name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("measured-{date}-{}", p.region));
    profile.date = date;
    profile.about = format!(
        "measured by streamscope calibrate against {} ({stamp}); what was not measured is {}'s",
        p.base, p.start.name
    );
    print_summary(&m, &compared);
    let text = format!(
        "# Written by `streamscope calibrate` ({stamp}). Run it with `streamscope serve --profile FILE`.\n{}",
        profile.to_toml()
    );
    if let Err(e) = crate::disk::write_whole(&args.output, text.as_bytes()) {
        eprintln!("streamscope: cannot write {}: {e}", args.output.display());
        return ExitCode::from(1);
    }
    println!("wrote {}", args.output.display());
    ExitCode::SUCCESS
}

fn print_summary(m: &Measured, compared: &[calibrate::Compared]) {
    println!(
        "{:<32} {:<28} {:<28} verdict",
        "value", "before", "measured"
    );
    for c in compared {
        let verdict = match (c.confirmed, c.was_unverified) {
            (true, true) => "confirmed (was unverified)",
            (true, false) => "confirmed",
            (false, true) => "CONTRADICTED (was unverified)",
            (false, false) => "CONTRADICTED",
        };
        println!(
            "{:<32} {:<28} {:<28} {verdict}",
            c.key, c.before, c.measured
        );
    }
    if m.knees.is_empty() {
        println!(
            "no knee within {} bytes: the stream kept one rate",
            calibrate::KNEE_PROBE_BYTES
        );
    }
    for k in &m.knees {
        println!(
            "knee at {:.0} bytes, then {:.0} bytes/s",
            k.at, k.rate_after
        );
    }
    if let Some(e) = &m.lambda_error {
        println!("lambda_runtime's in-body error after 1 MiB reached the client as {e}");
    }
    if let Some(s) = &m.wrong_stage {
        println!("a stage that does not exist: {s}");
    }
}
