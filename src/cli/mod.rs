//! The command line: argument structs, their mapping to the library's requests and settings, and
//! the mapping of the library's errors back to flag names. No figures, no wording of results: the
//! summary comes from [`crate::probe::output::printer`].

mod calibrate;
mod compare;
mod get;
mod lint;
mod local;
mod man;
mod report;
mod serve;

pub use get::GetArgs;
pub use serve::ServeArgs;

use crate::backend::{ConfigError, Setting};
use crate::probe::InputError;
use crate::probe::fetch::request::Field;
use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;

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
    Get(Box<GetArgs>),
    /// Run the streaming backend on this machine (loopback unless told otherwise).
    Serve(Box<ServeArgs>),
    /// Run a SAM/CloudFormation template's API and functions here, as deployed: each method
    /// behind its own API Gateway emulation, each function under its real runtime client.
    Local(Box<local::LocalArgs>),
    /// Check CloudFormation/SAM, OpenAPI and Terraform files for response-streaming mistakes
    /// (exit 0 clean, 1 with errors, 2 when a path cannot be read or is not a template).
    Lint(lint::LintArgs),
    /// Download each target of a TOML file in turn and compare them in one table (and one JSON,
    /// one PNG).
    Compare(compare::CompareArgs),
    /// Draw a saved JSON report's charts into a PNG file.
    Report(report::ReportArgs),
    /// Print the JSON Schema of the report or of the comparison (as in schema/).
    Schema(SchemaArgs),
    /// Measure what AWS leaves undocumented on a deployment of the Rust backend (fault knobs on)
    /// and write it as a profile for `serve --profile` (the cost is said, and asked, first).
    Calibrate(Box<calibrate::CalibrateArgs>),
    /// Print the emulation's model of AWS (the built-in profile, or FILE) as a table: every
    /// number and behaviour `serve` assumes, its source, and which are unverified.
    Profile(ProfileArgs),
    /// Open the desktop app (what running with no command does).
    Gui(GuiArgs),
    /// Write the man pages (for packaging).
    #[command(hide = true)]
    Man(man::ManArgs),
}

#[derive(Args, Debug)]
pub struct ProfileArgs {
    /// A profile file (default: the built-in one)
    #[arg(value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,
    /// Print the file itself (TOML) instead of the table
    #[arg(long)]
    pub toml: bool,
}

#[derive(Args, Debug)]
pub struct SchemaArgs {
    /// Which schema
    #[arg(value_enum)]
    pub which: SchemaKind,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum SchemaKind {
    /// `get --json`, the app's Save report
    Report,
    /// `compare --json`
    Comparison,
}

#[derive(Args, Debug, Default)]
pub struct GuiArgs {
    /// Local demo preset to select (e.g. "200 MiB throttled like API Gateway")
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Start the download at once
    #[arg(long)]
    pub start: bool,
    /// A SAM/CloudFormation template to run locally at start (as "Run a template locally...");
    /// with --start, its first method is downloaded once it runs
    #[arg(long, value_name = "TEMPLATE")]
    pub template: Option<std::path::PathBuf>,
    /// The template's parameters, KEY=VALUE (several to an argument, as SAM's); the window's
    /// Parameters field shows them
    #[arg(long, value_name = "K=V", num_args = 1.., requires = "template")]
    pub parameter_overrides: Vec<String>,
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
            Field::PngReport => Some("--png"),
            Field::ConnectTimeout => Some("--connect-timeout"),
            Field::IdleTimeout => Some("--idle-timeout"),
            Field::MaxTime => Some("--max-time"),
            Field::CaCert => Some("--cacert"),
            Field::Auth => Some("--aws-sigv4"),
            Field::Ranges => None,
            Field::Require => Some("--require"),
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
            Setting::FunctionCommand => "--function",
            Setting::FunctionExtension => "--function-extension",
            Setting::FunctionDir => "--function-dir",
            Setting::FunctionEnv => "--function-env",
            Setting::FunctionMemory => "--function-memory",
            Setting::FunctionConcurrency => "--function-concurrency",
            Setting::FunctionStage => "--function-stage",
            Setting::FunctionTimeout => "--function-timeout",
            Setting::FunctionInitTimeout => "--function-init-timeout",
            Setting::SyntheticMax => "STREAMSCOPE_MAX_SIZE",
            Setting::StreamTimeout => "--stream-timeout-ms",
            Setting::Stage => "--stage",
            Setting::ApiKey => "--api-key",
            Setting::Iam => "--iam",
            Setting::IamRegion => "--iam-region",
            Setting::HeaderTimeout => "--header-timeout",
            Setting::UsageRate => "--usage-rate",
        };
        UsageError(format!("{e} ({flag})"))
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        // One thread for the whole download (the connection task, the engine, the progress line),
        // beside the engine's writer thread: no hand-off between threads per read. Measured to
        // keep pace with curl over HTTPS and h2, where a multi-thread runtime did not.
        Some(Command::Get(args)) => with_runtime(false, |rt| rt.block_on(get::get(*args))),
        Some(Command::Serve(args)) => with_runtime(true, |rt| rt.block_on(serve::serve(*args))),
        Some(Command::Local(args)) => with_runtime(true, |rt| rt.block_on(local::local(*args))),
        Some(Command::Calibrate(args)) => {
            with_runtime(false, |rt| rt.block_on(calibrate::calibrate(*args)))
        }
        Some(Command::Lint(args)) => lint::lint(args),
        Some(Command::Report(args)) => report::report(args),
        Some(Command::Man(args)) => man::man(args),
        Some(Command::Profile(args)) => print_profile(&args),
        Some(Command::Schema(args)) => {
            use crate::probe::output::schema;
            let value = match args.which {
                SchemaKind::Report => schema::report(),
                SchemaKind::Comparison => schema::comparison(),
            };
            print!("{}", schema::text(&value));
            ExitCode::SUCCESS
        }
        Some(Command::Compare(args)) => {
            with_runtime(false, |rt| rt.block_on(compare::compare(args)))
        }
        None => open_gui(GuiArgs::default()),
        Some(Command::Gui(args)) => open_gui(args),
    }
}

#[cfg(feature = "gui")]
fn open_gui(args: GuiArgs) -> ExitCode {
    let preset = match args.preset.as_deref() {
        None => None,
        Some(name) => match crate::demo::preset_named(name) {
            Some(i) => Some(i),
            None => {
                let names: Vec<_> = crate::demo::PRESETS
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
    if let Err(e) =
        crate::emulator::template::key_values(&args.parameter_overrides, "--parameter-overrides")
    {
        eprintln!("streamscope: {e}");
        return ExitCode::from(2);
    }
    match crate::app::run(crate::app::Launch {
        preset,
        start: args.start,
        template: args.template,
        parameters: args.parameter_overrides.join(" "),
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

/// `streamscope profile`: the table README shows, or the file.
fn print_profile(args: &ProfileArgs) -> ExitCode {
    use crate::emulator::profile::Profile;
    let profile = match &args.file {
        None => Profile::aws().clone(),
        Some(path) => match Profile::load(path) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("streamscope: {e}");
                return ExitCode::from(2);
            }
        },
    };
    if args.toml {
        print!("{}", profile.to_toml());
    } else {
        print!("{}", profile.markdown());
    }
    ExitCode::SUCCESS
}
