//! Whether a run met the thresholds its request asked for (`--require`): each figure read from
//! the run, its figures and findings, compared, and shown in the unit the summary prints.

use super::figures::Figures;
use super::findings::{Finding, Severity};
use crate::probe::fetch::outcome::OutcomeKind;
use crate::probe::fetch::result::RunResult;
use crate::probe::require::{Figure, Kind, Requirement, Value};
use serde::Serialize;

/// One threshold against one run.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
// Reports are written, not read: this makes the schema refuse unknown (e.g. renamed) fields.
#[serde(deny_unknown_fields)]
pub struct Checked {
    /// The threshold as given (`after_10mib>=1.9MB/s`).
    pub expression: String,
    /// The value the run had, in the summary's units (`1.05 MB/s`); null when the run does not
    /// have that figure (then the threshold is not met).
    pub value: Option<String>,
    pub passed: bool,
}

/// Every threshold of the run's request, in the order given.
pub fn check(r: &RunResult, f: &Figures, findings: &[Finding]) -> Vec<Checked> {
    r.request
        .require
        .iter()
        .map(|req| check_one(req, r, f, findings))
        .collect()
}

pub fn check_one(req: &Requirement, r: &RunResult, f: &Figures, findings: &[Finding]) -> Checked {
    let seen = seen(req.figure, r, f, findings);
    Checked {
        expression: req.text.clone(),
        value: seen.as_ref().map(|v| shown(req.figure, v)),
        passed: req.met_by(seen.as_ref()),
    }
}

/// Whether every threshold was met (true when there are none).
pub fn all_met(checked: &[Checked]) -> bool {
    checked.iter().all(|c| c.passed)
}

/// The run's value of `figure`, in the figure's base unit (ms, B/s, B, count) or as its word.
pub fn seen(figure: Figure, r: &RunResult, f: &Figures, findings: &[Finding]) -> Option<Value> {
    let num = |v: Option<f64>| v.filter(|x| x.is_finite()).map(Value::Num);
    let count = |n: usize| Some(Value::Num(n as f64));
    let word = |w: &str| Some(Value::Word(w.to_string()));
    match figure {
        Figure::Outcome => word(r.outcome.kind().as_str()),
        Figure::Delivery => word(f.delivery.label()),
        Figure::Verified => r
            .digest_match()
            .and_then(|m| word(if m { "true" } else { "false" })),
        Figure::FirstByte => num(f.first_byte_ms),
        Figure::Headers => num(r.response.as_ref().map(|m| m.headers_ns as f64 / 1e6)),
        Figure::Duration => num(Some(r.duration_ns as f64 / 1e6)),
        Figure::Bytes => num(Some(r.bytes as f64)),
        Figure::AvgRate => num(f.avg_bytes_per_sec),
        Figure::PeakRate => num(f.summary.peak_bytes_per_sec),
        Figure::Before10Mib => num(f.split_10mib.before_bytes_per_sec),
        Figure::After10Mib => num(f.split_10mib.after_bytes_per_sec),
        Figure::Before6Mib => num(f.split_6mib.before_bytes_per_sec),
        Figure::After6Mib => num(f.split_6mib.after_bytes_per_sec),
        Figure::LargestGap => num(f.summary.largest_gap_ms),
        Figure::FindingsErrors => count(
            findings
                .iter()
                .filter(|x| x.severity == Severity::Error)
                .count(),
        ),
        Figure::FindingsWarnings => count(
            findings
                .iter()
                .filter(|x| x.severity == Severity::Warning)
                .count(),
        ),
        Figure::Segments => count(r.segments.len()),
        Figure::SegmentsFailed => count(
            r.segments
                .iter()
                .filter(|s| s.outcome != OutcomeKind::Complete)
                .count(),
        ),
        Figure::SegmentsThrottled => count(r.throttled as usize),
        Figure::Retries => count(r.attempts.len().saturating_sub(1)),
    }
}

/// A value as the summary prints it.
fn shown(figure: Figure, v: &Value) -> String {
    match (figure.kind(), v) {
        (_, Value::Word(w)) => w.clone(),
        (Kind::Duration { .. }, Value::Num(ms)) if *ms >= 10_000.0 => format!("{:.2} s", ms / 1e3),
        (Kind::Duration { .. }, Value::Num(ms)) => format!("{ms:.1} ms"),
        (Kind::Rate, Value::Num(b)) => crate::units::fmt_rate(*b),
        (Kind::Bytes, Value::Num(b)) => crate::units::fmt_bytes(*b as u64),
        (_, Value::Num(n)) => format!("{n}"),
    }
}
