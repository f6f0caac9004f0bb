//! `streamscope compare targets.toml`: each target downloaded in turn (a failing one does not
//! stop the others), then one table, and on request one JSON and one PNG overlaying their charts.

use crate::probe::analysis::findings::Limits;
use crate::probe::output::compare::{self, Row, Target};
use crate::probe::{self, Figures, RunResult};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The targets: [[target]] tables with name, url, and optionally headers, http, segments,
    /// aws_sigv4, expect_sha256
    #[arg(value_name = "TARGETS.toml")]
    pub targets: PathBuf,
    /// Write the rows and every target's full report here
    #[arg(long, value_name = "FILE.json")]
    pub json: Option<PathBuf>,
    /// Draw the targets' charts, overlaid, into this PNG
    #[arg(long, value_name = "FILE.png")]
    pub png: Option<PathBuf>,
    /// Keep the downloaded files in this directory (by default they are deleted)
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
}

/// A finished target.
struct Done {
    target: Target,
    result: RunResult,
    figures: Figures,
    findings: Vec<probe::analysis::findings::Finding>,
}

pub async fn compare(args: CompareArgs) -> ExitCode {
    let scratch = match &args.keep {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("streamscope-compare-{}", std::process::id())),
    };
    let usage = |e: String| {
        eprintln!("streamscope: {e}");
        ExitCode::from(2)
    };
    for (flag, p) in [("--json", &args.json), ("--png", &args.png)] {
        if let Some(Err(e)) = p.as_deref().map(super::report::check_png_path) {
            return usage(format!("{e} ({flag})"));
        }
    }
    if let Some(d) = &args.keep
        && !d.is_dir()
    {
        return usage(format!("directory {} does not exist (--keep)", d.display()));
    }
    if let Err(e) = std::fs::create_dir_all(&scratch) {
        return usage(format!("cannot create {}: {e}", scratch.display()));
    }
    let targets = match compare::read_targets(&args.targets, &scratch) {
        Ok(t) => t,
        Err(e) => {
            if args.keep.is_none() {
                std::fs::remove_dir_all(&scratch).ok();
            }
            return usage(e.to_string());
        }
    };
    let done = run_all(targets, args.keep.is_some()).await;
    if args.keep.is_none() {
        std::fs::remove_dir_all(&scratch).ok();
    }
    let rows: Vec<Row> = done
        .iter()
        .map(|d| Row::of(&d.target.name, &d.result, &d.figures))
        .collect();
    print!("{}", compare::table(&rows));
    let mut code = if rows
        .iter()
        .all(|r| r.outcome == probe::OutcomeKind::Complete)
    {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    if let Some(p) = &args.json
        && let Err(e) = write_json(p, &done)
    {
        eprintln!("streamscope: cannot write {}: {e}", p.display());
        code = ExitCode::from(1);
    }
    if let Some(p) = &args.png
        && let Err(e) = draw(p, &args.targets, &done)
    {
        eprintln!("streamscope: {e}");
        code = ExitCode::from(1);
    }
    code
}

/// Runs every target in turn into `scratch` (a failing one does not stop the others; Ctrl-C
/// stops after the current one), deleting each download unless `keep`.
async fn run_all(targets: Vec<compare::Checked>, keep: bool) -> Vec<Done> {
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    let n = targets.len();
    let mut done = Vec::with_capacity(n);
    for (i, compare::Checked { target, request }) in targets.into_iter().enumerate() {
        eprintln!("[{}/{n}] {} …", i + 1, target.name);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        drop(rx);
        let result = probe::run(request, tx, cancel.clone()).await;
        let figures = Figures::of(&result);
        let findings = probe::analysis::findings::findings(&result, &figures, &Limits::AWS);
        eprintln!("      {}", result.outcome.describe());
        if !keep {
            std::fs::remove_file(&result.request.output).ok();
            std::fs::remove_file(&result.request.part).ok();
            std::fs::remove_file(probe::fetch::resume::sidecar(&result.request)).ok();
        }
        done.push(Done {
            target,
            result,
            figures,
            findings,
        });
        if cancel.is_cancelled() {
            break;
        }
    }
    done
}

fn write_json(path: &Path, done: &[Done]) -> std::io::Result<()> {
    let items: Vec<compare::Compared<'_>> = done
        .iter()
        .map(|d| compare::Compared {
            name: &d.target.name,
            result: &d.result,
            figures: &d.figures,
            findings: &d.findings,
        })
        .collect();
    compare::write_comparison_json(path, &items)
}

fn draw(png: &Path, targets: &Path, done: &[Done]) -> Result<(), String> {
    use crate::chart::{ChartRun, png::render_png};
    let runs: Vec<ChartRun> = done
        .iter()
        .map(|d| {
            ChartRun::of_result(
                format!("{} ({})", d.target.name, d.result.outcome.kind()),
                &d.result,
            )
        })
        .collect();
    render_png(
        png,
        &format!("streamscope compare {}", targets.display()),
        &runs,
    )
    .map_err(|e| e.to_string())
}
