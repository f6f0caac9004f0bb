//! `streamscope report REPORT.json --png FILE`: a saved report's charts drawn again (a CI job can
//! attach the picture), and the PNG of a run that just ended (`get --png`).

use crate::probe::analysis::figures::Figures;
use crate::probe::fetch::outcome::OutcomeKind;
use crate::probe::fetch::result::Segment;
use crate::probe::fetch::result::{Attempt, RunResult};
use crate::probe::redact::redact_url;
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A JSON report written by `streamscope get --json` (or the app's Save report)
    #[arg(value_name = "REPORT.json")]
    pub report: PathBuf,
    /// Draw its charts into this PNG file
    #[arg(long, value_name = "FILE.png")]
    pub png: PathBuf,
}

/// What a report must hold to be drawn.
#[derive(Debug, serde::Deserialize)]
struct Saved {
    schema_version: u32,
    request: SavedRequest,
    outcome: OutcomeKind,
    duration_ms: f64,
    #[serde(default)]
    bytes: u64,
    #[serde(default)]
    timeline: Vec<[u64; 2]>,
    #[serde(default)]
    segments: Vec<Segment>,
    #[serde(default)]
    attempts: Vec<SavedAttempt>,
}

#[derive(Debug, serde::Deserialize)]
struct SavedRequest {
    url: String,
}

#[derive(Debug, serde::Deserialize)]
struct SavedAttempt {
    started_ms: f64,
    ended_ms: f64,
    from_byte: u64,
    bytes: u64,
    status: Option<u16>,
    outcome: OutcomeKind,
}

pub fn report(args: ReportArgs) -> ExitCode {
    match draw_report(&args.report, &args.png) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("streamscope: {e}");
            ExitCode::from(2)
        }
    }
}

fn draw_report(report: &Path, png: &Path) -> Result<(), String> {
    let text = crate::disk::read_input(report, crate::disk::REPORT_CAP)
        .map_err(|e| format!("cannot read {}: {e}", report.display()))?;
    let saved: Saved = serde_json::from_slice(&text).map_err(|e| {
        format!(
            "{} is not a streamscope report: {}",
            report.display(),
            e.to_string().lines().next().unwrap_or_default()
        )
    })?;
    if saved.schema_version != crate::probe::output::report::SCHEMA_VERSION {
        return Err(format!(
            "{}: schema_version {} (this streamscope reads {})",
            report.display(),
            saved.schema_version,
            crate::probe::output::report::SCHEMA_VERSION
        ));
    }
    if saved.timeline.is_empty() && saved.outcome == OutcomeKind::Complete {
        return Err(format!(
            "{} has no arrivals to draw (written by an older streamscope?)",
            report.display()
        ));
    }
    check_saved(&saved).map_err(|e| format!("{}: {e}", report.display()))?;
    check_png_path(png)?;
    let ns = |ms: f64| (ms * 1e6).max(0.0) as u64;
    let attempts = saved
        .attempts
        .iter()
        .map(|a| Attempt {
            started_ns: ns(a.started_ms),
            ended_ns: ns(a.ended_ms),
            from_byte: a.from_byte,
            bytes: a.bytes,
            status: a.status,
            outcome: a.outcome,
        })
        .collect();
    draw(
        png,
        &format!("{} · {}", saved.request.url, saved.outcome),
        &saved.timeline,
        ns(saved.duration_ms),
        saved.segments,
        attempts,
    )
}

/// A report read back must describe a possible run before anything is drawn from it: a finite
/// duration, arrivals in time order inside it, no more bytes in them than the report says arrived,
/// attempts and ranges that end after they start.
fn check_saved(s: &Saved) -> Result<(), String> {
    if !s.duration_ms.is_finite() || s.duration_ms < 0.0 {
        return Err(format!("duration_ms {} is not a duration", s.duration_ms));
    }
    // Milliseconds with decimals: allow the rounding of the last digit.
    let end_ns = s.duration_ms * 1e6 + 1e3;
    let mut before = 0u64;
    let mut sum = 0u64;
    for (i, [t, bytes]) in s.timeline.iter().enumerate() {
        if *t < before {
            return Err(format!("arrival {i} is earlier than the one before it"));
        }
        if *t as f64 > end_ns {
            return Err(format!(
                "arrival {i} at {t} ns is after the run ended ({} ms)",
                s.duration_ms
            ));
        }
        before = *t;
        sum = sum.saturating_add(*bytes);
    }
    if sum > s.bytes {
        return Err(format!(
            "its arrivals add up to {sum} bytes, more than the {} bytes it says arrived",
            s.bytes
        ));
    }
    // An attempt ends once its file is synced, after the last byte: only their order is checked.
    for a in &s.attempts {
        if !(a.started_ms.is_finite() && a.started_ms >= 0.0 && a.started_ms <= a.ended_ms) {
            return Err("an attempt ends before it starts".into());
        }
    }
    for g in &s.segments {
        if g.started_ns > g.ended_ns || g.from > g.to {
            return Err(format!("range {} ends before it starts", g.index));
        }
    }
    Ok(())
}

/// The PNG of a run that just ended.
pub fn png_of_result(r: &RunResult, f: &Figures, png: &Path) -> Result<(), String> {
    let summary = crate::probe::output::printer::summary(r, f, &[]);
    let (arrivals, _) = crate::probe::output::report::report_arrivals(&r.timeline, usize::MAX);
    draw(
        png,
        &format!("{} · {}", redact_url(&r.request.url), summary.headline),
        &arrivals,
        r.duration_ns,
        r.segments.clone(),
        r.attempts.clone(),
    )
}

/// The PNG's directory must exist before anything is downloaded, and its path must be something
/// a picture may be written to (see [`crate::disk::Dest::of`]).
pub fn check_png_path(png: &Path) -> Result<(), String> {
    crate::disk::Dest::of(png).map_err(|e| format!("{e} (the PNG)"))?;
    match png.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) if !dir.is_dir() => Err(format!(
            "directory {} for the PNG does not exist",
            dir.display()
        )),
        _ => Ok(()),
    }
}

fn draw(
    png: &Path,
    title: &str,
    arrivals: &[[u64; 2]],
    end_ns: u64,
    segments: Vec<Segment>,
    attempts: Vec<Attempt>,
) -> Result<(), String> {
    use crate::chart::{ChartRun, png::render_png};
    let run = ChartRun::from_arrivals("this run", arrivals, end_ns, segments, attempts);
    render_png(png, title, &[run]).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(duration_ms: f64, bytes: u64, timeline: Vec<[u64; 2]>) -> Saved {
        Saved {
            schema_version: crate::probe::output::report::SCHEMA_VERSION,
            request: SavedRequest { url: "u".into() },
            outcome: OutcomeKind::Complete,
            duration_ms,
            bytes,
            timeline,
            segments: Vec::new(),
            attempts: Vec::new(),
        }
    }

    #[test]
    fn a_report_must_describe_a_possible_run() {
        let table: Vec<(Saved, Option<&str>)> = vec![
            (saved(10.0, 300, vec![[1_000, 100], [2_000, 200]]), None),
            (saved(10.0, 300, vec![[10_000_000, 300]]), None),
            (
                saved(10.0, 300, vec![[2_000, 100], [1_000, 200]]),
                Some("earlier"),
            ),
            (
                saved(10.0, 300, vec![[u64::MAX, 1]]),
                Some("after the run ended"),
            ),
            (
                saved(10.0, 299, vec![[1_000, 100], [2_000, 200]]),
                Some("add up"),
            ),
            (
                saved(10.0, 300, vec![[1, u64::MAX], [2, u64::MAX]]),
                Some("add up"),
            ),
            (saved(f64::NAN, 0, vec![]), Some("not a duration")),
            (saved(-1.0, 0, vec![]), Some("not a duration")),
        ];
        for (s, want) in table {
            let got = check_saved(&s);
            match want {
                None => assert_eq!(got, Ok(()), "{:?}", s.timeline),
                Some(needle) => {
                    let e = got.unwrap_err();
                    assert!(e.contains(needle), "{:?}: {e}", s.timeline);
                }
            }
        }
    }
}
