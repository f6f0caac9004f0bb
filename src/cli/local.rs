//! `streamscope local TEMPLATE`: a SAM/CloudFormation template's API and functions, run here as
//! deployed (see [`crate::emulator::local`]).

use crate::emulator::local;
use crate::emulator::profile::Profile;
use crate::emulator::template::{self, Stack};
use clap::Args;
use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct LocalArgs {
    /// The SAM or CloudFormation template (YAML or JSON)
    pub template: PathBuf,
    /// Parameter values, KEY=VALUE (repeatable, or several in one argument as SAM takes them)
    #[arg(long, value_name = "KEY=VALUE", num_args = 1..)]
    pub parameter_overrides: Vec<String>,
    /// Environment variables per function, a JSON file as SAM's: {"FunctionName": {"VAR": "value"}}
    #[arg(long, value_name = "FILE")]
    pub env_vars: Option<PathBuf>,
    /// Address to bind; anything but loopback exposes the functions to the network
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Port; 0 picks a free one
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    /// The model of AWS to emulate (default: the built-in profile)
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// The API key a method with ApiKeyRequired takes (default: one made up at start, printed)
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
}

/// `--env-vars`: each function's variables over the template's.
fn env_vars(path: &std::path::Path, stack: &mut Stack) -> Result<(), String> {
    let text = crate::disk::read_input_text(path, crate::disk::SMALL_FILE_CAP)
        .map_err(|e| format!("cannot read {} (--env-vars): {e}", path.display()))?;
    let all: HashMap<String, HashMap<String, serde_json::Value>> =
        serde_json::from_str(&text).map_err(|e| format!("{} (--env-vars): {e}", path.display()))?;
    for f in &mut stack.functions {
        for (k, v) in all.get(&f.name).into_iter().flatten() {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            f.env.retain(|(name, _)| name != k);
            f.env.push((k.clone(), v));
        }
    }
    Ok(())
}

/// The start-up table: one line per method.
fn table(stack: &Stack, profile: &Profile, key: &str) -> String {
    let line = |c: &[String; 7]| {
        format!(
            "{:<7} {:<28} {:<18} {:<16} {:<9} {:<24} {}\n",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6]
        )
    };
    let mut out = line(&local::TABLE_HEADS.map(str::to_string));
    for row in local::table_rows(stack, profile, key) {
        out += &line(&row);
    }
    out
}

fn prepare(args: &LocalArgs) -> Result<(Stack, Profile), String> {
    let overrides = template::key_values(&args.parameter_overrides, "--parameter-overrides")?;
    let profile = match &args.profile {
        None => Profile::aws().clone(),
        Some(p) => Profile::load(p).map_err(|e| format!("{e} (--profile)"))?,
    };
    let mut stack = template::read(&args.template, &overrides).map_err(|e| e.to_string())?;
    if let Some(p) = &args.env_vars {
        env_vars(p, &mut stack)?;
    }
    Ok((stack, profile))
}

/// The table, what is not emulated, and lint's findings for the template.
fn say_start(stack: &Stack, profile: &Profile, key: &str, template: &std::path::Path) {
    eprint!("{}", table(stack, profile, key));
    for i in &stack.ignored {
        eprintln!("not emulated: {i}");
    }
    match crate::lint::lint_paths(&[template.to_path_buf()]) {
        Ok(found) => {
            // The resolved stack's view, where the files' lint did not see it.
            if !found.iter().any(|f| f.rule == "web-adapter-mode-mismatch") {
                for w in local::stack_warnings(stack) {
                    eprintln!("lint: (the stack) warning {w}");
                }
            }
            for f in found {
                eprintln!(
                    "lint: {}:{}: {} {}: {}",
                    f.file,
                    f.line,
                    f.severity.label(),
                    f.rule,
                    f.message
                );
            }
        }
        Err(e) => eprintln!("lint: {e}"),
    }
    eprintln!("streamscope: profile {} ({})", profile.name, profile.date);
}

pub async fn local(args: LocalArgs) -> ExitCode {
    let (stack, profile) = match prepare(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("streamscope: {e}");
            return ExitCode::from(2);
        }
    };
    let key = args
        .api_key
        .clone()
        .unwrap_or_else(|| format!("local-{}", &uuid::Uuid::new_v4().simple().to_string()[..20]));
    let prepared = match local::Prepared::new(stack, &profile, key.clone()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("streamscope: {e}");
            return ExitCode::from(2);
        }
    };
    say_start(&prepared.stack, &profile, &key, &args.template);
    let addr = SocketAddr::new(args.bind, args.port);
    if !args.bind.is_loopback() {
        eprintln!(
            "streamscope: warning: serving on {} exposes the template's functions to the network",
            args.bind
        );
    }
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("streamscope: cannot serve on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    if let Ok(bound) = listener.local_addr() {
        println!("listening on http://{bound}");
        std::io::stdout().flush().ok();
    }
    let result = prepared
        .serve(listener, super::serve::shutdown_signal())
        .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("streamscope: {e}");
            ExitCode::from(1)
        }
    }
}
