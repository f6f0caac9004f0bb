//! Why a run looks the way it does, in AWS's terms: rules, each a pure function of the run's plain
//! facts, that return a finding with the run's own numbers as evidence and what to change. A rule
//! that is not sure stays quiet: a wrong claim costs the user hours. Info findings explain healthy
//! behaviour (the 10 MB knee); warnings and errors only fire on something wrong.

use super::figures::{Delivery, Figures};
use crate::probe::fetch::outcome::OutcomeKind;
use crate::probe::fetch::result::Arrival;
use crate::probe::fetch::result::RunResult;
use crate::units::MIB;
use serde::Serialize;

mod rules;
use rules::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
// Reports are written, not read: this makes the schema refuse unknown (e.g. renamed) fields.
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    /// What in this run shows it: its own times, sizes and headers.
    pub evidence: String,
    pub fix: &'static str,
    pub doc_url: &'static str,
}

/// The AWS numbers the rules compare a run with. Tests scale them as they scale the emulation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// API Gateway's integration timeout when none is set (BUFFERED, and STREAM without TimeoutInMillis).
    pub default_integration_timeout_s: f64,
    /// The longest API Gateway streams one response.
    pub max_stream_s: f64,
    /// Silence after which API Gateway cuts a stream: edge-optimized, and Regional/private.
    pub idle_edge_s: f64,
    pub idle_regional_s: f64,
    /// Lambda's default function timeout.
    pub default_function_timeout_s: f64,
    /// The most Lambda streams in one response.
    pub lambda_max_stream_bytes: u64,
    /// Bytes streamed unthrottled per response: API Gateway, and Lambda itself.
    pub apigw_free_bytes: u64,
    pub lambda_free_bytes: u64,
    /// The rate both throttle to.
    pub throttle_bytes_per_sec: f64,
}

impl Limits {
    pub const AWS: Limits = Limits {
        default_integration_timeout_s: 29.0,
        max_stream_s: 900.0,
        idle_edge_s: 30.0,
        idle_regional_s: 300.0,
        default_function_timeout_s: 3.0,
        lambda_max_stream_bytes: 200 * MIB,
        apigw_free_bytes: 10 * MIB,
        lambda_free_bytes: 6 * MIB,
        throttle_bytes_per_sec: 2_000_000.0,
    };
}

impl Limits {
    /// The numbers of an emulation profile (the built-in one, one `calibrate` wrote for an
    /// account, or one scaled for a test): a run is judged by the limits it ran under. Lambda's
    /// default function timeout is not a profile value and stays AWS's.
    pub fn from_profile(p: &crate::emulator::profile::Profile) -> Limits {
        let secs = |s: u64| std::time::Duration::from_secs(s).as_secs_f64();
        Limits {
            default_integration_timeout_s: std::time::Duration::from_millis(
                p.integration_timeout_default_ms.value,
            )
            .as_secs_f64(),
            max_stream_s: secs(p.stream_max_duration_s.value),
            idle_edge_s: secs(p.stream_idle_timeout_edge_s.value),
            idle_regional_s: secs(p.stream_idle_timeout_regional_s.value),
            lambda_max_stream_bytes: p.lambda_max_bytes.value,
            apigw_free_bytes: p.stream_unthrottled_bytes.value,
            lambda_free_bytes: p.lambda_unthrottled_bytes.value,
            // Bytes per second: exact in an f64 below 2^53.
            throttle_bytes_per_sec: p.stream_bytes_per_sec.value.min(1 << 53) as f64,
            ..Limits::AWS
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::AWS
    }
}

/// Everything the rules look at, as plain values.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub outcome: OutcomeKind,
    pub status: Option<u16>,
    pub error_body: &'a str,
    pub response_headers: &'a [(String, String)],
    /// Names of the request headers sent (never their values).
    pub request_header_names: Vec<String>,
    /// The request was signed with AWS SigV4.
    pub signed: bool,
    /// The body came as parallel ranges: the timeline interleaves several responses, so rules
    /// about one response's shape (knees, bursts, cuts at a limit) do not apply.
    pub segmented: bool,
    pub bytes: u64,
    pub duration_s: f64,
    pub headers_s: Option<f64>,
    pub first_byte_s: Option<f64>,
    pub last_arrival_s: Option<f64>,
    pub arrivals: u64,
    pub median_arrival_bytes: Option<u32>,
    pub http1: bool,
    pub delivery: Delivery,
    pub length_announced: bool,
    pub remapped_length: bool,
    pub digest_known: bool,
    pub timeline: &'a [Arrival],
    /// 429 answers waited out before the run went on.
    pub throttled: u32,
    /// Parallel ranges: how many at a time were asked for, and where 429s left it.
    pub segments_asked: Option<u32>,
    pub settled_concurrency: Option<u32>,
}

impl<'a> Facts<'a> {
    pub fn of(r: &'a RunResult, f: &Figures) -> Facts<'a> {
        let meta = r.response.as_ref();
        Facts {
            outcome: r.outcome.kind(),
            status: meta.map(|m| m.status),
            error_body: r.error_preview.as_deref().unwrap_or(""),
            response_headers: meta.map_or(&[], |m| m.headers.as_slice()),
            request_header_names: r
                .request
                .header_list
                .iter()
                .map(|(n, _)| n.to_ascii_lowercase())
                .collect(),
            signed: r.request.sigv4.is_some(),
            segmented: !r.segments.is_empty(),
            bytes: r.bytes,
            duration_s: r.duration_s(),
            headers_s: meta.map(|m| m.headers_ns as f64 / 1e9),
            first_byte_s: f.first_byte_ms.map(|ms| ms / 1000.0),
            last_arrival_s: r.timeline.last().map(|a| a.t_offset_ns as f64 / 1e9),
            arrivals: f.summary.arrivals,
            median_arrival_bytes: f.summary.arrival_bytes_median,
            http1: meta
                .is_some_and(|m| m.version != crate::probe::fetch::result::WireVersion::Http2),
            delivery: f.delivery,
            length_announced: r.expected_length().is_some(),
            remapped_length: meta
                .is_some_and(|m| m.header("x-amzn-remapped-content-length").is_some()),
            digest_known: r.expected_digest().is_some(),
            timeline: &r.timeline,
            throttled: r.throttled,
            segments_asked: r.request.segments,
            settled_concurrency: r.settled_concurrency,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.response_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The stream ended without the server meaning it to.
    fn cut(&self) -> bool {
        matches!(
            self.outcome,
            OutcomeKind::Truncated | OutcomeKind::LambdaStreamError
        )
    }

    /// Seconds of silence before the run ended: since the last byte, or the headers.
    fn silence_at_end_s(&self) -> Option<f64> {
        self.last_arrival_s
            .or(self.headers_s)
            .map(|t| self.duration_s - t)
    }

    /// What this run's diagnostic headers said (the emulation, or a proxy that explains itself).
    fn cause(&self) -> String {
        [
            "x-streamscope-function-error",
            "x-streamscope-gateway-error",
            "x-amzn-errortype",
        ]
        .iter()
        .filter_map(|h| self.header(h).map(|v| format!("; {h}: {v}")))
        .collect()
    }
}

/// Every rule, in the order findings are listed.
pub const RULES: &[(&str, Rule)] = &[
    ("integration-failed-502", integration_failed_502),
    ("integration-refused-500", integration_refused_500),
    ("integration-timeout-504", integration_timeout_504),
    (
        "stream-cut-at-default-timeout",
        stream_cut_at_default_timeout,
    ),
    ("stream-cut-at-max-duration", stream_cut_at_max_duration),
    ("stream-cut-after-silence", stream_cut_after_silence),
    ("function-default-timeout", function_default_timeout),
    ("lambda-stream-size-cap", lambda_stream_size_cap),
    ("lambda-error-in-body", lambda_error_in_body),
    ("buffered-burst", buffered_burst),
    ("missing-authentication-token", missing_authentication_token),
    ("api-key-refused", api_key_refused),
    ("iam-signature-refused", iam_signature_refused),
    ("throttled-429", throttled_429),
    ("usage-plan-too-tight", usage_plan_too_tight),
    ("apigw-throttle-knee", apigw_throttle_knee),
    ("lambda-throttle-knee", lambda_throttle_knee),
    ("remapped-content-length", remapped_content_length),
    ("unverifiable-download", unverifiable_download),
    ("small-arrivals", small_arrivals),
    ("late-first-byte", late_first_byte),
];

/// The findings of a finished run, most severe first.
pub fn findings(r: &RunResult, f: &Figures, limits: &Limits) -> Vec<Finding> {
    evaluate(&Facts::of(r, f), limits)
}

/// Rules about the shape of one response's timeline, which a parallel download's interleaved
/// timeline does not have.
const ONE_RESPONSE_SHAPE: &[&str] = &[
    "stream-cut-at-default-timeout",
    "stream-cut-at-max-duration",
    "stream-cut-after-silence",
    "function-default-timeout",
    "lambda-stream-size-cap",
    "buffered-burst",
    "apigw-throttle-knee",
    "lambda-throttle-knee",
    "late-first-byte",
];

/// Every rule over `facts`.
pub fn evaluate(facts: &Facts<'_>, limits: &Limits) -> Vec<Finding> {
    let mut out: Vec<Finding> = RULES
        .iter()
        .filter(|(id, _)| !(facts.segmented && ONE_RESPONSE_SHAPE.contains(id)))
        .filter_map(|(_, rule)| rule(facts, limits))
        .collect();
    out.sort_by_key(|f| f.severity);
    out
}

#[cfg(test)]
mod tests;
