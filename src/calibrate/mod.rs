//! `streamscope calibrate`: settles what AWS leaves undocumented on a real deployment of this
//! repository's Rust backend (its `/download` with the fault knobs on), and writes the answers as
//! a profile (see [`crate::emulator::profile`]) that `serve --profile` then runs.
//!
//! A fixed plan of probes ([`plan`]), each one request, bounded in bytes and time, run one after
//! another by the download engine; what each result says is decided by the pure functions of
//! [`measure`]; [`apply`] turns the measurements into a profile and a summary of what they
//! confirmed or contradicted.

pub mod measure;

use crate::emulator::profile::{Entry, Knees, Profile, TimeoutBounds};
use crate::probe::{self, Outcome, ProbeRequest, RunResult};
use crate::units::MIB;
use measure::Knee;

/// The bytes of the knee probe: past both candidate knees (6 MB, 10 MiB) with seconds to spare.
pub const KNEE_PROBE_BYTES: u64 = 16 * MIB;
/// The idle probe's pause: longer than the longest idle timeout (5 min).
const STALL_MS: u64 = 330_000;
/// The cap probe's size: over Lambda's 200 MB.
const CAP_PROBE_BYTES: u64 = 220 * MIB;

/// What a probe is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// Our backend answers, with its digest; the Content-Length and the added headers.
    Identify,
    /// The fault knobs are on.
    Knobs,
    /// The knees and the rates.
    Knee,
    /// A function failure after 1 MiB: cut or clean end.
    MidStream,
    /// lambda_runtime's in-body error text after 1 MiB: what the client sees.
    LambdaError,
    /// A stage that does not exist.
    WrongStage,
    /// A pause longer than any idle timeout.
    Idle,
    /// A body over Lambda's 200 MB.
    Cap,
    /// A stream longer than the integration timeout the user named.
    Timeout,
}

/// One request of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub kind: ProbeKind,
    /// Appended to the base URL.
    pub path: String,
    /// At most this many bytes come back.
    pub bytes: u64,
    /// Expected seconds (for the cost estimate), with AWS's documented limits.
    pub seconds: f64,
    pub about: &'static str,
}

/// How a calibration runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// `--long`: the idle cut, the 200 MB cap and (with `integration_timeout_ms`) what the
    /// integration timeout bounds.
    pub long: bool,
    /// The deployment's TimeoutInMillis, if the user set it low enough to probe (≤ 120 s).
    pub integration_timeout_ms: Option<u64>,
    /// The function's memory, for the GB-s estimate.
    pub memory_mb: u32,
    /// Whether the base URL has a stage (its first path segment) to get wrong.
    pub has_stage: bool,
}

/// Expected seconds for `bytes` through Lambda's 6 MB window and 2 MB/s after it.
fn seconds_for(bytes: u64) -> f64 {
    0.2 + bytes.saturating_sub(6 * MIB) as f64 / 2e6
}

/// The probes, in order.
pub fn plan(o: &Options) -> Vec<Probe> {
    let mut p = vec![
        Probe {
            kind: ProbeKind::Identify,
            path: "/download?size=64KiB&seed=11".into(),
            bytes: 64 * 1024,
            seconds: 0.2,
            about: "our backend, Content-Length, added headers",
        },
        Probe {
            kind: ProbeKind::Knobs,
            path: "/download?size=1KiB&seed=12&delay_ms=1".into(),
            bytes: 1024,
            seconds: 0.2,
            about: "the fault knobs are on",
        },
        Probe {
            kind: ProbeKind::Knee,
            path: format!("/download?size={KNEE_PROBE_BYTES}&seed=13&length=0"),
            bytes: KNEE_PROBE_BYTES,
            seconds: seconds_for(KNEE_PROBE_BYTES),
            about: "the knees and the rates",
        },
        Probe {
            kind: ProbeKind::MidStream,
            path: format!("/download?size={}&seed=14&fail_at={MIB}&length=0", 2 * MIB),
            bytes: 2 * MIB,
            seconds: 0.5,
            about: "a function failure after 1 MiB",
        },
        Probe {
            kind: ProbeKind::LambdaError,
            path: format!(
                "/download?size={}&seed=15&lambda_error_after={MIB}",
                2 * MIB
            ),
            bytes: 2 * MIB,
            seconds: 0.5,
            about: "lambda_runtime's error text after 1 MiB",
        },
    ];
    if o.has_stage {
        p.push(Probe {
            kind: ProbeKind::WrongStage,
            path: "/../streamscope-no-such-stage/download?size=1KiB".into(),
            bytes: 1024,
            seconds: 0.0,
            about: "a stage that does not exist",
        });
    }
    if o.long {
        p.extend(long_probes(o));
    }
    p
}

/// `--long`: the idle cut, the cap, the timeout.
fn long_probes(o: &Options) -> Vec<Probe> {
    let mut p = Vec::new();
    p.push(Probe {
        kind: ProbeKind::Idle,
        path: format!(
            "/download?size={}&seed=16&stall_after={MIB}&stall_ms={STALL_MS}&length=0",
            2 * MIB
        ),
        bytes: 2 * MIB,
        seconds: 300.0,
        about: "the idle cut (a 330 s pause)",
    });
    p.push(Probe {
        kind: ProbeKind::Cap,
        path: format!("/download?size={CAP_PROBE_BYTES}&seed=17&length=0"),
        bytes: CAP_PROBE_BYTES,
        seconds: seconds_for(200 * MIB),
        about: "Lambda's streamed payload cap",
    });
    if let Some(ms) = o.integration_timeout_ms {
        // 64 KiB/s for the timeout and 3 s more.
        let secs = ms.div_ceil(1000) + 3;
        p.push(Probe {
            kind: ProbeKind::Timeout,
            path: format!(
                "/download?size={}&seed=18&rate=64KiB&chunk=16KiB&length=0",
                secs * 64 * 1024
            ),
            bytes: secs * 64 * 1024,
            seconds: secs as f64,
            about: "what the integration timeout bounds",
        });
    }
    p
}

/// What a plan costs: requests, bytes, Lambda GB-seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    pub requests: usize,
    pub bytes: u64,
    pub gb_seconds: f64,
}

pub fn cost(plan: &[Probe], memory_mb: u32) -> Cost {
    let seconds: f64 = plan.iter().map(|p| p.seconds).sum();
    Cost {
        requests: plan.len(),
        bytes: plan.iter().map(|p| p.bytes).sum(),
        gb_seconds: seconds * f64::from(memory_mb) / 1024.0,
    }
}

/// Why a calibration stopped.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CalibrateError {
    #[error(
        "{0} is not streamscope's backend: GET {1} answered {2}; deploy src/backend/template.yaml (see README, \"Settle the unknowns on your account\") and give its URL"
    )]
    NotOurBackend(String, String, String),
    #[error(
        "the backend's fault knobs are off ({0}): deploy it with EnableFaultKnobs=true for the calibration"
    )]
    KnobsOff(String),
    #[error("the {0} probe could not run: {1}")]
    Probe(&'static str, String),
}

/// What the probes measured.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Measured {
    pub knees: Vec<Knee>,
    pub content_length: Option<crate::emulator::profile::ContentLength>,
    pub mid_stream_error: Option<crate::emulator::profile::MidStreamError>,
    pub added_headers: Vec<String>,
    /// What the client saw of lambda_runtime's in-body error (said, not written).
    pub lambda_error: Option<String>,
    /// What a wrong stage got (said, not written).
    pub wrong_stage: Option<String>,
    pub idle_timeout_s: Option<f64>,
    pub max_bytes: Option<u64>,
    pub timeout_bounds: Option<TimeoutBounds>,
}

/// One probe's result, as the engine gave it.
pub struct Ran {
    pub probe: Probe,
    pub result: RunResult,
}

fn headers(r: &RunResult) -> Vec<(String, String)> {
    r.response
        .as_ref()
        .map(|m| m.headers.clone())
        .unwrap_or_default()
}

fn status(r: &RunResult) -> String {
    match &r.response {
        Some(m) => format!("{} ({} bytes)", m.status, r.bytes),
        None => format!("nothing ({})", r.outcome.kind()),
    }
}

fn broke(r: &RunResult) -> bool {
    matches!(
        r.outcome,
        Outcome::Truncated(probe::fetch::outcome::Truncation::ConnectionBroke { .. })
    )
}

/// Reads one probe's result into `m`; an error stops the calibration.
pub fn read(ran: &Ran, base: &str, m: &mut Measured) -> Result<(), CalibrateError> {
    let r = &ran.result;
    let url = format!("{base}{}", ran.probe.path);
    match ran.probe.kind {
        ProbeKind::Identify => {
            let ours = r.response.as_ref().is_some_and(|m| {
                m.status == 200 && m.header("repr-digest").is_some() && r.bytes == 64 * 1024
            });
            if !ours {
                return Err(CalibrateError::NotOurBackend(
                    base.to_string(),
                    url,
                    status(r),
                ));
            }
            let h = headers(r);
            m.content_length = measure::content_length(&h, 64 * 1024);
            m.added_headers = measure::added_headers(&h);
        }
        ProbeKind::Knobs => {
            if r.response.as_ref().map(|m| m.status) != Some(200) {
                return Err(CalibrateError::KnobsOff(status(r)));
            }
        }
        ProbeKind::Knee => {
            let arrivals: Vec<(u64, u32)> = r
                .timeline
                .iter()
                .map(|a| (a.t_offset_ns, a.bytes))
                .collect();
            m.knees = measure::knees(&measure::cumulative(&arrivals));
        }
        ProbeKind::MidStream => {
            m.mid_stream_error = measure::mid_stream_error(broke(r), r.bytes, MIB);
        }
        ProbeKind::LambdaError => {
            m.lambda_error = Some(format!(
                "{} bytes, then {}",
                r.bytes,
                if broke(r) {
                    "a broken connection".to_string()
                } else {
                    format!("a clean end ({})", r.outcome.kind())
                }
            ));
        }
        ProbeKind::WrongStage => {
            m.wrong_stage = Some(match &r.error_preview {
                Some(body) => format!("{} {}", status(r), body.trim()),
                None => status(r),
            });
        }
        ProbeKind::Idle => {
            let last = r
                .timeline
                .last()
                .map_or(0.0, |a| a.t_offset_ns as f64 / 1e9);
            if broke(r) && r.bytes < ran.probe.bytes {
                m.idle_timeout_s = Some((r.duration_s() - last).round());
            }
        }
        ProbeKind::Cap => {
            if r.bytes < ran.probe.bytes && broke(r) {
                m.max_bytes = Some(r.bytes);
            }
        }
        ProbeKind::Timeout => {
            m.timeout_bounds = Some(if broke(r) && r.bytes < ran.probe.bytes {
                TimeoutBounds::WholeStream
            } else {
                TimeoutBounds::UntilHeaders
            });
        }
    }
    Ok(())
}

/// How a measured value compares with the profile it started from.
#[derive(Debug, Clone, PartialEq)]
pub struct Compared {
    pub key: &'static str,
    pub before: String,
    pub measured: String,
    /// Same value as before (within the tolerance for numbers).
    pub confirmed: bool,
    /// The value was unverified before.
    pub was_unverified: bool,
}

/// `value` snapped to the nearest of `candidates` within `within` (relative), else rounded.
fn snap(value: f64, candidates: &[u64], within: f64) -> u64 {
    candidates
        .iter()
        .copied()
        .find(|c| (value - *c as f64).abs() <= *c as f64 * within)
        .unwrap_or_else(|| value.round() as u64)
}

const KNEE_CANDIDATES: [u64; 4] = [6_000_000, 6 * MIB, 10_000_000, 10 * MIB];
const RATE_CANDIDATES: [u64; 2] = [2_000_000, 2 * MIB];

fn is_lambda_knee(k: &Knee) -> bool {
    (5.0e6..7.5e6).contains(&k.at)
}

fn is_gateway_knee(k: &Knee) -> bool {
    (9.0e6..12.0e6).contains(&k.at)
}

/// Writes `value` into `entry` as measured, and says how it compares.
fn set<T: Clone + PartialEq + crate::emulator::profile::Show>(
    entry: &mut Entry<T>,
    key: &'static str,
    value: T,
    stamp: &str,
    same: impl Fn(&T, &T) -> bool,
    out: &mut Vec<Compared>,
) {
    out.push(Compared {
        key,
        before: entry.value.show(),
        measured: value.show(),
        confirmed: same(&entry.value, &value),
        was_unverified: entry.unverified,
    });
    entry.value = value;
    entry.unverified = false;
    entry.measured = Some(stamp.to_string());
}

fn exact<T: PartialEq>(a: &T, b: &T) -> bool {
    a == b
}

/// The same names, in any order.
fn same_set(a: &Vec<String>, b: &Vec<String>) -> bool {
    let sorted = |v: &Vec<String>| {
        let mut v = v.clone();
        v.sort();
        v
    };
    sorted(a) == sorted(b)
}

fn near(tolerance: f64) -> impl Fn(&u64, &u64) -> bool {
    move |a, b| (*a as f64 - *b as f64).abs() <= (*a as f64) * tolerance
}

/// The profile `base` with what `m` measured written in (each such value marked `measured =
/// stamp` instead of unverified), and how each compares with `base`.
pub fn apply(
    base: &Profile,
    m: &Measured,
    stamp: &str,
    endpoint: &str,
) -> (Profile, Vec<Compared>) {
    let mut p = base.clone();
    let mut out = Vec::new();
    apply_knees(&mut p, m, stamp, &mut out);
    if let Some(c) = m.content_length {
        set(
            &mut p.content_length,
            "content_length",
            c,
            stamp,
            exact,
            &mut out,
        );
    }
    if let Some(e) = m.mid_stream_error {
        set(
            &mut p.mid_stream_error,
            "mid_stream_error",
            e,
            stamp,
            exact,
            &mut out,
        );
    }
    set(
        &mut p.added_headers,
        "added_headers",
        m.added_headers.clone(),
        stamp,
        same_set,
        &mut out,
    );
    if let Some(s) = m.idle_timeout_s {
        let s = s.max(1.0) as u64;
        let entry = if endpoint == "edge" {
            (
                &mut p.stream_idle_timeout_edge_s,
                "stream_idle_timeout_edge_s",
            )
        } else {
            (
                &mut p.stream_idle_timeout_regional_s,
                "stream_idle_timeout_regional_s",
            )
        };
        set(entry.0, entry.1, s, stamp, near(0.1), &mut out);
    }
    if let Some(b) = m.max_bytes {
        set(
            &mut p.lambda_max_bytes,
            "lambda_max_bytes",
            b,
            stamp,
            near(0.02),
            &mut out,
        );
    }
    if let Some(t) = m.timeout_bounds {
        set(
            &mut p.stream_timeout_bounds,
            "stream_timeout_bounds",
            t,
            stamp,
            exact,
            &mut out,
        );
    }
    (p, out)
}

/// The knees seen, into the knee positions, the rates and the `knees` choice.
fn apply_knees(p: &mut Profile, m: &Measured, stamp: &str, out: &mut Vec<Compared>) {
    let lambda = m.knees.iter().find(|k| is_lambda_knee(k));
    let gateway = m.knees.iter().find(|k| is_gateway_knee(k));
    let targets = [
        (
            lambda,
            &mut p.lambda_unthrottled_bytes,
            "lambda_unthrottled_bytes",
            &mut p.lambda_bytes_per_sec,
            "lambda_bytes_per_sec",
        ),
        (
            gateway,
            &mut p.stream_unthrottled_bytes,
            "stream_unthrottled_bytes",
            &mut p.stream_bytes_per_sec,
            "stream_bytes_per_sec",
        ),
    ];
    for (knee, at_entry, at_key, rate_entry, rate_key) in targets {
        if let Some(k) = knee {
            let at = snap(k.at, &KNEE_CANDIDATES, 0.01);
            let rate = snap(k.rate_after, &RATE_CANDIDATES, 0.02);
            set(at_entry, at_key, at, stamp, near(0.02), out);
            set(rate_entry, rate_key, rate, stamp, near(0.1), out);
        }
    }
    // Both knees seen: both shape the stream. The gateway's alone: only it does. Lambda's
    // alone cannot tell "both" from "lambda" (the gateway's knee, at the same rate, shows
    // nothing), so the choice stays as it was.
    let knees = match (lambda, gateway) {
        (Some(_), Some(_)) => Some(Knees::Both),
        (None, Some(_)) => Some(Knees::Gateway),
        _ => None,
    };
    if let Some(k) = knees {
        set(&mut p.knees, "knees", k, stamp, exact, out);
    }
}

/// Runs one probe with the engine; the body goes to a file in `dir`, which the caller removes.
pub async fn run_probe(
    base: &str,
    probe: &Probe,
    template: &ProbeRequest,
    dir: &std::path::Path,
) -> Result<RunResult, CalibrateError> {
    let mut req = template.clone();
    req.url = format!("{base}{}", probe.path);
    req.output = dir.join("probe.bin");
    req.idle_timeout_s = if probe.kind == ProbeKind::Idle {
        STALL_MS as f64 / 1000.0 + 60.0
    } else {
        60.0
    };
    probe::run_to_end(&req)
        .await
        .map_err(|e| CalibrateError::Probe(probe.about, e.to_string()))
}
