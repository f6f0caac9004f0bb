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
    /// Write the comparison as JUnit XML: a test case per target and per threshold
    #[arg(long, value_name = "FILE.xml")]
    pub junit: Option<PathBuf>,
    /// A threshold every target must meet (besides each target's own `require`), e.g.
    /// first_byte_ms<1000, after_10mib>=1.9MB/s (repeatable). All complete but one missed: exit 3
    #[arg(long, value_name = "EXPR")]
    pub require: Vec<String>,
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
    let targets = match checked_targets(&args, &scratch) {
        Ok(t) => t,
        Err(e) => {
            if args.keep.is_none() {
                std::fs::remove_dir_all(&scratch).ok();
            }
            eprintln!("streamscope: {e}");
            return ExitCode::from(2);
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
    let missed = missed_thresholds(&done);
    let mut code = if !rows
        .iter()
        .all(|r| r.outcome == probe::OutcomeKind::Complete)
    {
        ExitCode::from(1)
    } else if missed > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    };
    if let Err(e) = write_outputs(&args, &done) {
        eprintln!("streamscope: {e}");
        code = ExitCode::from(1);
    }
    code
}

/// Everything checked before a byte is downloaded: the thresholds, the output paths, the
/// targets (each with the `--require` thresholds added), the scratch directory made.
fn checked_targets(args: &CompareArgs, scratch: &Path) -> Result<Vec<compare::Checked>, String> {
    let required = args
        .require
        .iter()
        .map(|t| crate::probe::require::Requirement::parse(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{e} (--require)"))?;
    for (flag, p) in [
        ("--json", &args.json),
        ("--png", &args.png),
        ("--junit", &args.junit),
    ] {
        if let Some(Err(e)) = p.as_deref().map(super::report::check_png_path) {
            return Err(format!("{e} ({flag})"));
        }
    }
    if let Some(d) = &args.keep
        && !d.is_dir()
    {
        return Err(format!("directory {} does not exist (--keep)", d.display()));
    }
    std::fs::create_dir_all(scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let mut targets = compare::read_targets(&args.targets, scratch).map_err(|e| e.to_string())?;
    for c in &mut targets {
        c.request.require.extend(required.iter().cloned());
    }
    Ok(targets)
}

/// Says every missed threshold on stderr (a CI log shows which one failed the build); how many.
fn missed_thresholds(done: &[Done]) -> usize {
    let mut missed = 0;
    for d in done {
        for t in probe::analysis::thresholds::check(&d.result, &d.figures, &d.findings) {
            if !t.passed {
                missed += 1;
                eprintln!(
                    "streamscope: {}: threshold missed: {} (seen: {})",
                    d.target.name,
                    t.expression,
                    t.value.as_deref().unwrap_or("not measured")
                );
            }
        }
    }
    missed
}

/// The JUnit XML, the JSON and the PNG asked for.
fn write_outputs(args: &CompareArgs, done: &[Done]) -> Result<(), String> {
    let cannot = |p: &Path, e: std::io::Error| format!("cannot write {}: {e}", p.display());
    if let Some(p) = &args.junit {
        write_junit(p, &args.targets, done).map_err(|e| cannot(p, e))?;
    }
    if let Some(p) = &args.json {
        write_json(p, done).map_err(|e| cannot(p, e))?;
    }
    if let Some(p) = &args.png {
        draw(p, &args.targets, done)?;
    }
    Ok(())
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
    compare::write_comparison_json(path, &compared(done))
}

fn compared(done: &[Done]) -> Vec<compare::Compared<'_>> {
    done.iter()
        .map(|d| compare::Compared {
            name: &d.target.name,
            result: &d.result,
            figures: &d.figures,
            findings: &d.findings,
        })
        .collect()
}

fn write_junit(path: &Path, targets: &Path, done: &[Done]) -> std::io::Result<()> {
    let suite = format!("streamscope compare {}", targets.display());
    let xml = probe::output::junit::junit(&suite, &compared(done))?;
    crate::disk::write_whole(path, &xml)
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
