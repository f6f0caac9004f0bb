//! Why a run looks the way it does, in AWS's terms: rules, each a pure function of the run's plain
//! facts, that return a finding with the run's own numbers as evidence and what to change. A rule
//! that is not sure stays quiet: a wrong claim costs the user hours. Info findings explain healthy
//! behaviour (the 10 MB knee); warnings and errors only fire on something wrong.

use super::figures::{Delivery, Figures};
use super::timeline::{Split, split_at};
use crate::probe::fetch::outcome::OutcomeKind;
use crate::probe::fetch::result::Arrival;
use crate::probe::fetch::result::RunResult;
use crate::units::{MIB, fmt_bytes, fmt_rate};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize)]
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

/// `got` is within `tol` (a fraction) of `want`, give or take the 0.1 s a client's clock sees
/// beyond the server's (connection, flush, scheduling).
fn near(got: f64, want: f64, tol: f64) -> bool {
    want > 0.0 && (got - want).abs() <= want * tol + MEASURE_SLACK_S
}

const MEASURE_SLACK_S: f64 = 0.1;

fn secs(s: f64) -> String {
    format!("{s:.1} s")
}

type Rule = fn(&Facts<'_>, &Limits) -> Option<Finding>;

const RUNTIME_DOC: &str =
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/response-transfer-mode.html";
const LAMBDA_STREAM_DOC: &str =
    "https://docs.aws.amazon.com/lambda/latest/dg/configuration-response-streaming.html";
const TROUBLESHOOT_DOC: &str = "https://docs.aws.amazon.com/apigateway/latest/developerguide/response-streaming-troubleshoot.html";
const LIMITS_DOC: &str = "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html";

/// Every rule, in the order findings are listed.
pub const RULES: &[(&str, Rule)] = &[
    ("integration-failed-502", integration_failed_502),
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

fn integration_failed_502(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    (f.status == Some(502) && f.error_body.contains("Internal server error")).then(|| Finding {
        id: "integration-failed-502",
        severity: Severity::Error,
        title: "API Gateway answered 502: the integration failed",
        evidence: format!(
            "HTTP 502 {} after {} ms{}",
            f.error_body.trim(),
            f.headers_s.map_or(0.0, |s| s * 1000.0).round(),
            f.cause()
        ),
        fix: "For a response over 10 MB: the method is BUFFERED — set the integration's responseTransferMode to STREAM with the 2021-11-15/functions/…/response-streaming-invocations URI; a Lambda function answering the buffered Invoke API also stops at 6 MB. Otherwise the function failed (an error, a crash, its timeout, no metadata prelude): read its logs for this request.",
        doc_url: RUNTIME_DOC,
    })
}

fn integration_timeout_504(f: &Facts<'_>, l: &Limits) -> Option<Finding> {
    (f.status == Some(504) && f.error_body.contains("Endpoint request timed out")).then(|| {
        let at = f.headers_s.unwrap_or(f.duration_s);
        Finding {
            id: "integration-timeout-504",
            severity: Severity::Error,
            title: "API Gateway gave up waiting for the integration (504)",
            evidence: format!(
                "HTTP 504 {} after {}{}",
                f.error_body.trim(),
                secs(at),
                if near(at, l.default_integration_timeout_s, 0.05) {
                    format!(
                        ": the {} s default integration timeout",
                        l.default_integration_timeout_s
                    )
                } else {
                    String::new()
                }
            ),
            fix: "A BUFFERED integration must answer within its timeout (29 s by default; Regional and private APIs can ask for up to 300 s). Stream the response instead: responseTransferMode STREAM with TimeoutInMillis up to 900000.",
            doc_url: LIMITS_DOC,
        }
    })
}

fn stream_cut_at_default_timeout(f: &Facts<'_>, l: &Limits) -> Option<Finding> {
    (f.cut() && near(f.duration_s, l.default_integration_timeout_s, 0.05)).then(|| Finding {
        id: "stream-cut-at-default-timeout",
        severity: Severity::Error,
        title: "The stream was cut at the default integration timeout",
        evidence: format!(
            "the connection ended after {} and {}: API Gateway's integration timeout is {} s when TimeoutInMillis is not set",
            secs(f.duration_s),
            fmt_bytes(f.bytes),
            l.default_integration_timeout_s
        ),
        fix: "Set the integration's TimeoutInMillis explicitly (up to 900000 in STREAM mode) and at least the function's timeout. SAM's `ResponseTransferMode: RESPONSE_STREAM` on an Api event does not set it.",
        doc_url: TROUBLESHOOT_DOC,
    })
}

fn stream_cut_at_max_duration(f: &Facts<'_>, l: &Limits) -> Option<Finding> {
    (f.cut() && near(f.duration_s, l.max_stream_s, 0.02)).then(|| Finding {
        id: "stream-cut-at-max-duration",
        severity: Severity::Error,
        title: "The stream hit API Gateway's maximum stream duration",
        evidence: format!(
            "cut after {} and {}: API Gateway streams one response for at most {} s",
            secs(f.duration_s),
            fmt_bytes(f.bytes),
            l.max_stream_s
        ),
        fix: "Past 10 MB a stream runs at 2 MB/s, so 15 minutes carry about 1.8 GB. Serve larger objects in ranges (each response gets its own 10 MB and 15 minutes) or through a presigned S3 URL.",
        doc_url: RUNTIME_DOC,
    })
}

fn stream_cut_after_silence(f: &Facts<'_>, l: &Limits) -> Option<Finding> {
    if !f.cut() {
        return None;
    }
    let silence = f.silence_at_end_s()?;
    let (which, limit) = if near(silence, l.idle_edge_s, 0.1) {
        ("an edge-optimized endpoint", l.idle_edge_s)
    } else if near(silence, l.idle_regional_s, 0.05) {
        ("a Regional or private endpoint", l.idle_regional_s)
    } else {
        return None;
    };
    Some(Finding {
        id: "stream-cut-after-silence",
        severity: Severity::Error,
        title: "The stream was cut after a silence: the idle timeout",
        evidence: format!(
            "no byte for {} before the connection ended (after {}): {which} cuts a stream after {limit} s without data",
            secs(silence),
            fmt_bytes(f.bytes)
        ),
        fix: "Send bytes more often than the idle timeout (30 s edge-optimized, 5 min Regional/private); use a Regional endpoint (behind your own CloudFront, raise its origin response timeout).",
        doc_url: RUNTIME_DOC,
    })
}

fn function_default_timeout(f: &Facts<'_>, l: &Limits) -> Option<Finding> {
    let failed = f.cut() || f.status == Some(502);
    (failed && near(f.duration_s, l.default_function_timeout_s, 0.1)).then(|| Finding {
        id: "function-default-timeout",
        severity: Severity::Error,
        title: "The function seems to hit Lambda's default timeout",
        evidence: format!(
            "the run failed after {} ({}): {} s is Lambda's default function timeout",
            secs(f.duration_s),
            if f.cut() {
                format!("cut after {}", fmt_bytes(f.bytes))
            } else {
                "502 before any byte".into()
            },
            l.default_function_timeout_s
        ),
        fix: "Raise the function's Timeout (up to 900 s) to cover the whole stream, and keep the integration's TimeoutInMillis at least as long.",
        doc_url: LAMBDA_STREAM_DOC,
    })
}

fn lambda_stream_size_cap(f: &Facts<'_>, l: &Limits) -> Option<Finding> {
    let cap = l.lambda_max_stream_bytes as f64;
    (f.cut() && (f.bytes as f64 - cap).abs() <= cap * 0.01).then(|| Finding {
        id: "lambda-stream-size-cap",
        severity: Severity::Error,
        title: "The stream stopped at Lambda's streamed-payload limit",
        evidence: format!(
            "cut after {} bytes ({}): Lambda streams at most {} per response",
            f.bytes,
            fmt_bytes(f.bytes),
            fmt_bytes(l.lambda_max_stream_bytes)
        ),
        fix: "Serve objects larger than 200 MB in ranges (several responses) or redirect to a presigned S3 URL.",
        doc_url: LAMBDA_STREAM_DOC,
    })
}

fn lambda_error_in_body(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    (f.outcome == OutcomeKind::LambdaStreamError).then(|| Finding {
        id: "lambda-error-in-body",
        severity: Severity::Error,
        title: "The function failed mid-stream and its runtime wrote the error into the body",
        evidence: format!(
            "status {} and {} of body ending with the Lambda-Runtime-Function-Error-Type text{}",
            f.status.unwrap_or(0),
            fmt_bytes(f.bytes),
            if f.length_announced {
                ", shorter or longer than announced"
            } else {
                ", with no length announced"
            }
        ),
        fix: "Find the error in the function's logs for this request (the Rust runtime and the Lambda Web Adapter end the stream cleanly after writing it, so a client that does not check length and digest keeps a corrupt file). Send Content-Length and a digest (Repr-Digest, S3 checksums) so clients can tell.",
        doc_url: "https://docs.aws.amazon.com/lambda/latest/dg/runtimes-custom.html#runtimes-custom-response-streaming",
    })
}

fn buffered_burst(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    (f.delivery == Delivery::Burst).then(|| {
        let first = f.first_byte_s.unwrap_or(0.0);
        let last = f.last_arrival_s.unwrap_or(first);
        Finding {
            id: "buffered-burst",
            severity: Severity::Warning,
            title: "The body came in one burst at the end: something buffered it",
            evidence: format!(
                "first body byte after {}, all {} within the next {}",
                secs(first),
                fmt_bytes(f.bytes),
                secs(last - first)
            ),
            fix: "Check the integration's responseTransferMode (BUFFERED holds the whole response), that a STREAM method uses the 2021-11-15/…/response-streaming-invocations URI (the 2015-03-31/…/invocations one is buffered), and whether a CDN or proxy in front buffers.",
            doc_url: "https://docs.aws.amazon.com/apigateway/latest/developerguide/response-transfer-mode-lambda.html",
        }
    })
}

fn missing_authentication_token(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    (f.status == Some(403) && f.error_body.contains("Missing Authentication Token")).then(|| Finding {
        id: "missing-authentication-token",
        severity: Severity::Error,
        title: "No such resource or method in the deployed API, or an unsigned request to an IAM one",
        evidence: format!(
            "HTTP 403 {}{}",
            f.error_body.trim(),
            if f.signed {
                " to a signed request"
            } else {
                " to an unsigned request"
            }
        ),
        fix: "API Gateway answers this for a path or method it does not have: check the stage in the URL (…/prod/…), the resource path and method, and that the API was deployed after its last change. A method with AWS_IAM authorization answers it too when the request is not signed: sign it (--aws-sigv4).",
        doc_url: "https://repost.aws/knowledge-center/api-gateway-authentication-token-errors",
    })
}

fn api_key_refused(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    let forbidden = f.status == Some(403) && f.error_body.contains("\"Forbidden\"");
    forbidden.then(|| {
        let sent = f.request_header_names.iter().any(|n| n == "x-api-key");
        Finding {
            id: "api-key-refused",
            severity: Severity::Error,
            title: "The method requires an API key",
            evidence: format!(
                "HTTP 403 {} {}",
                f.error_body.trim(),
                if sent {
                    "with an x-api-key header sent"
                } else {
                    "and no x-api-key header was sent"
                }
            ),
            fix: "Send the key as an x-api-key header (aws apigateway get-api-key --include-value). A key that is sent but refused is disabled, or not in a usage plan for this API stage.",
            doc_url: "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-usage-plans.html",
        }
    })
}

fn iam_signature_refused(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    const KINDS: &[&str] = &[
        "InvalidSignatureException",
        "UnrecognizedClientException",
        "IncompleteSignatureException",
    ];
    let kind = f.header("x-amzn-errortype").unwrap_or_default();
    let refused = f.status == Some(403)
        && (KINDS.iter().any(|k| kind.starts_with(k))
            || f.error_body.contains("The request signature we calculated")
            || f.error_body.contains("Signature expired")
            || f.error_body
                .contains("security token included in the request is invalid")
            || f.error_body.contains("Credential should be scoped"));
    refused.then(|| Finding {
        id: "iam-signature-refused",
        severity: Severity::Error,
        title: "API Gateway refused the request's SigV4 signature",
        evidence: format!("HTTP 403 {}{}", f.error_body.trim(), f.cause()),
        fix: "\"does not match\": the secret key is wrong, or something between signing and sending changed the request (a proxy, the query's order); \"security token … invalid\": the access key is unknown or a temporary one was sent without its session token; \"scoped to a valid region\": sign for the API's region (--aws-sigv4 REGION); \"Signature expired\": this machine's clock is off by more than 5 minutes.",
        doc_url: "https://docs.aws.amazon.com/apigateway/latest/developerguide/permissions.html",
    })
}

fn throttled_429(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    (f.status == Some(429)).then(|| Finding {
        id: "throttled-429",
        severity: Severity::Error,
        title: "Throttled: a usage plan's rate or quota, or the account's limit",
        evidence: format!("HTTP 429 {}", f.error_body.trim()),
        fix: "\"Limit Exceeded\" is the usage plan's quota for the period; \"Too Many Requests\" its rate/burst or the account's throttle. Raise them, or retry later with backoff.",
        doc_url: "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html",
    })
}

/// The rate after `at` bytes is the throttle's, and before it well above.
fn knee(timeline: &[Arrival], at: u64, l: &Limits) -> Option<(f64, f64, f64)> {
    knee_of(&split_at(timeline, at), l)
}

fn knee_of(s: &Split, l: &Limits) -> Option<(f64, f64, f64)> {
    let at = s.crossed_at_s?;
    let before = s.before_bytes_per_sec?;
    let after = s.after_bytes_per_sec?;
    let throttled = (after - l.throttle_bytes_per_sec).abs() <= l.throttle_bytes_per_sec * 0.15;
    (throttled && before > 3.0 * after).then_some((at, before, after))
}

fn apigw_throttle_knee(f: &Facts<'_>, l: &Limits) -> Option<Finding> {
    let (at, before, after) = knee(f.timeline, l.apigw_free_bytes, l)?;
    // A knee already at 6 MB is Lambda's (the next rule).
    if lambda_knee(f.timeline, l).is_some() {
        return None;
    }
    // What a 200 MB object costs at these two rates.
    let free = l.apigw_free_bytes as f64;
    let per_200mb = free / before + (200e6 - free) / after;
    Some(Finding {
        id: "apigw-throttle-knee",
        severity: Severity::Info,
        title: "Full speed for the first 10 MB, then about 2 MB/s: API Gateway's streaming bandwidth",
        evidence: format!(
            "{} before {} (crossed at {}), {} after: a 200 MB object takes about {per_200mb:.0} s at these rates",
            fmt_rate(before),
            fmt_bytes(l.apigw_free_bytes),
            secs(at),
            fmt_rate(after)
        ),
        fix: "Expected with STREAM: each response gets its first 10 MB unthrottled, then 2 MB/s. For large objects ask for ranges in parallel: each range is its own response with its own 10 MB.",
        doc_url: RUNTIME_DOC,
    })
}

/// Bytes per second between the arrivals that took the total past `lo` and past `hi`.
fn band_rate(timeline: &[Arrival], lo: u64, hi: u64) -> Option<f64> {
    let mut cum = 0u64;
    let mut start: Option<(u64, u64)> = None;
    for a in timeline {
        cum += a.bytes as u64;
        match start {
            None if cum >= lo => start = Some((cum, a.t_offset_ns)),
            Some((c0, t0)) if cum >= hi => {
                let dt = a.t_offset_ns.saturating_sub(t0) as f64 / 1e9;
                return (dt > 0.0).then(|| (cum - c0) as f64 / dt);
            }
            _ => {}
        }
    }
    None
}

/// The knee at 6 MB. Still at full speed between 6 and 10 MB means the knee is API Gateway's at
/// 10 MB, and a long throttled tail only pulled the average after 6 MB down to 2 MB/s.
fn lambda_knee(timeline: &[Arrival], l: &Limits) -> Option<(f64, f64, f64)> {
    let found = knee(timeline, l.lambda_free_bytes, l)?;
    let fast_band = band_rate(timeline, l.lambda_free_bytes, l.apigw_free_bytes)
        .is_some_and(|r| r > 3.0 * l.throttle_bytes_per_sec);
    (!fast_band).then_some(found)
}

fn lambda_throttle_knee(f: &Facts<'_>, l: &Limits) -> Option<Finding> {
    let (at, before, after) = lambda_knee(f.timeline, l)?;
    Some(Finding {
        id: "lambda-throttle-knee",
        severity: Severity::Info,
        title: "Full speed for the first 6 MB, then about 2 MB/s: Lambda's own streaming bandwidth",
        evidence: format!(
            "{} before {} (crossed at {}), {} after",
            fmt_rate(before),
            fmt_bytes(l.lambda_free_bytes),
            secs(at),
            fmt_rate(after)
        ),
        fix: "Lambda streams the first 6 MB of a response uncapped, then at most 2 MB/s; a knee at 6 MB rather than 10 MB points at a Lambda function URL (or Lambda's own cap before API Gateway's). Ranges in parallel get 6 MB each.",
        doc_url: LAMBDA_STREAM_DOC,
    })
}

fn remapped_content_length(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    f.remapped_length.then(|| Finding {
        id: "remapped-content-length",
        severity: Severity::Info,
        title: "The function's Content-Length was moved to x-amzn-remapped-content-length",
        evidence: format!(
            "x-amzn-remapped-content-length: {} and no Content-Length",
            f.header("x-amzn-remapped-content-length").unwrap_or("")
        ),
        fix: "Lambda's streaming (function URLs) rewrites Content-Length this way; a client that reads only Content-Length sees an unknown length. streamscope checks the remapped value.",
        doc_url: "https://github.com/cargo-lambda/cargo-lambda/issues/862",
    })
}

fn unverifiable_download(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    let body = f.status.is_some_and(|s| (200..300).contains(&s)) && f.bytes > 0;
    (body && !f.length_announced && !f.digest_known).then(|| Finding {
        id: "unverifiable-download",
        severity: Severity::Warning,
        title: "Nothing to verify the file against: a cut stream would look complete",
        evidence: format!(
            "{} arrived with no Content-Length, no remapped length and no digest",
            fmt_bytes(f.bytes)
        ),
        fix: "Send a digest the client can check: upload to S3 with a SHA-256 checksum and read it with GetObject ChecksumMode ENABLED (x-amz-checksum-sha256), or send Repr-Digest; forward Content-Length from the origin.",
        doc_url: "https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html",
    })
}

fn small_arrivals(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    let median = f.median_arrival_bytes?;
    (f.http1 && f.arrivals >= 100 && median < 16 * 1024).then(|| Finding {
        id: "small-arrivals",
        severity: Severity::Info,
        title: "The body arrives in small pieces",
        evidence: format!("{} arrivals, median {median} B", f.arrivals),
        fix: "The function writes small chunks, or something in between splits them. Larger writes cost less per byte (Node's runtime coalesces writes up to 64 KiB; a function URL holds back chunks under ~100 KB).",
        doc_url: "https://github.com/aws/aws-lambda-nodejs-runtime-interface-client/issues/94",
    })
}

fn late_first_byte(f: &Facts<'_>, _: &Limits) -> Option<Finding> {
    let first = f.first_byte_s?;
    let last = f.last_arrival_s?;
    let steady = f.delivery == Delivery::Streamed && last - first > first;
    (first >= 1.0 && steady).then(|| Finding {
        id: "late-first-byte",
        severity: Severity::Info,
        title: "The first byte came late, then the body streamed steadily",
        evidence: format!(
            "first byte after {} (headers after {}), then {} over {}",
            secs(first),
            secs(f.headers_s.unwrap_or(first)),
            fmt_bytes(f.bytes),
            secs(last - first)
        ),
        fix: "A cold start (see the function's Init Duration) or work done before the first write. Write the response's first bytes early; provisioned concurrency or SnapStart shorten cold starts.",
        doc_url: "https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` arrivals of `bytes`, `gap_ms` apart, from `from_ms`.
    fn steady(from_ms: u64, n: u64, bytes: u32, gap_ms: u64) -> Vec<Arrival> {
        (0..n)
            .map(|i| Arrival {
                t_offset_ns: (from_ms + i * gap_ms) * 1_000_000,
                bytes,
            })
            .collect()
    }

    fn facts(tl: &[Arrival]) -> Facts<'_> {
        let bytes = tl.iter().map(|a| a.bytes as u64).sum();
        let last = tl.last().map(|a| a.t_offset_ns as f64 / 1e9);
        Facts {
            outcome: OutcomeKind::Complete,
            status: Some(200),
            error_body: "",
            response_headers: &[],
            request_header_names: vec![],
            signed: false,
            segmented: false,
            bytes,
            duration_s: last.unwrap_or(0.1) + 0.01,
            headers_s: Some(0.01),
            first_byte_s: tl.first().map(|a| a.t_offset_ns as f64 / 1e9),
            last_arrival_s: last,
            arrivals: tl.len() as u64,
            median_arrival_bytes: tl.first().map(|a| a.bytes),
            http1: true,
            delivery: crate::probe::analysis::figures::delivery(tl, bytes),
            length_announced: true,
            remapped_length: false,
            digest_known: true,
            timeline: tl,
        }
    }

    fn ids(f: &Facts<'_>) -> Vec<&'static str> {
        evaluate(f, &Limits::AWS).iter().map(|x| x.id).collect()
    }

    #[test]
    fn every_rule_is_listed_under_its_own_id() {
        let mut seen = std::collections::HashSet::new();
        for (id, _) in RULES {
            assert!(seen.insert(id), "{id} twice");
        }
    }

    /// Each signature, as plain facts, fires its rule and no other error or warning.
    #[test]
    fn signatures_table() {
        let mib = MIB as u32;
        // 20 MiB in 64 KiB arrivals: 10 MiB at 320 MB/s, then 2 MB/s.
        let mut knee10 = steady(10, 160, 64 * 1024, 1);
        knee10.extend(steady(200, 160, 64 * 1024, 33));
        // 150 MiB after the knee: the average after 6 MiB is then ~2 MB/s too.
        let mut knee10_long = steady(10, 160, 64 * 1024, 1);
        knee10_long.extend(steady(200, 2400, 64 * 1024, 33));
        let mut knee6 = steady(10, 96, 64 * 1024, 1);
        knee6.extend(steady(140, 100, 64 * 1024, 33));
        let slow = steady(10, 300, 64 * 1024, 100); // 19.7 MB over 30 s
        type Edit = Box<dyn Fn(&mut Facts<'_>)>;
        let rows: Vec<(&str, Vec<Arrival>, Edit, Vec<&str>)> = vec![
            (
                "a healthy download",
                steady(10, 50, mib / 4, 20),
                Box::new(|_| {}),
                vec![],
            ),
            (
                "502 from the gateway",
                vec![],
                Box::new(|f| {
                    f.outcome = OutcomeKind::HttpError;
                    f.status = Some(502);
                    f.error_body = r#"{"message":"Internal server error"}"#;
                }),
                vec!["integration-failed-502"],
            ),
            (
                "a 502 from the origin that is not API Gateway's",
                vec![],
                Box::new(|f| {
                    f.outcome = OutcomeKind::HttpError;
                    f.status = Some(502);
                    f.error_body = "<html>Bad Gateway</html>";
                }),
                vec![],
            ),
            (
                "504 at 29 s",
                vec![],
                Box::new(|f| {
                    f.outcome = OutcomeKind::HttpError;
                    f.status = Some(504);
                    f.error_body = r#"{"message": "Endpoint request timed out"}"#;
                    f.headers_s = Some(29.05);
                    f.duration_s = 29.06;
                }),
                vec!["integration-timeout-504"],
            ),
            (
                "a stream cut at 29 s",
                slow.clone(),
                Box::new(|f| {
                    f.outcome = OutcomeKind::Truncated;
                    f.duration_s = 29.1;
                }),
                vec!["stream-cut-at-default-timeout"],
            ),
            (
                "parallel ranges whose interleaved timeline ends near 29 s are no cut",
                slow.clone(),
                Box::new(|f| {
                    f.outcome = OutcomeKind::Truncated;
                    f.duration_s = 29.1;
                    f.segmented = true;
                }),
                vec![],
            ),
            (
                "a stream cut at 15 min",
                slow.clone(),
                Box::new(|f| {
                    f.outcome = OutcomeKind::Truncated;
                    f.duration_s = 900.2;
                    f.last_arrival_s = Some(900.1);
                }),
                vec!["stream-cut-at-max-duration"],
            ),
            (
                "a stream cut after 30 s of silence",
                steady(10, 50, mib / 4, 20),
                Box::new(|f| {
                    f.outcome = OutcomeKind::Truncated;
                    f.duration_s = f.last_arrival_s.unwrap() + 30.1;
                }),
                vec!["stream-cut-after-silence"],
            ),
            (
                "a stream cut after 5 min of silence",
                steady(10, 50, mib / 4, 20),
                Box::new(|f| {
                    f.outcome = OutcomeKind::Truncated;
                    f.duration_s = f.last_arrival_s.unwrap() + 301.0;
                }),
                vec!["stream-cut-after-silence"],
            ),
            (
                "a stall the client gave up on is not a gateway cut",
                steady(10, 50, mib / 4, 20),
                Box::new(|f| {
                    f.outcome = OutcomeKind::Stalled;
                    f.duration_s = f.last_arrival_s.unwrap() + 30.0;
                }),
                vec![],
            ),
            (
                "a cut at the function's default 3 s",
                steady(10, 20, 64 * 1024, 140),
                Box::new(|f| {
                    f.outcome = OutcomeKind::Truncated;
                    f.duration_s = 3.05;
                }),
                vec!["function-default-timeout"],
            ),
            (
                "a cut at Lambda's 200 MB",
                steady(10, 200, mib, 10),
                Box::new(|f| f.outcome = OutcomeKind::Truncated),
                vec!["lambda-stream-size-cap"],
            ),
            (
                "the Lambda error text",
                steady(10, 50, mib / 4, 20),
                Box::new(|f| f.outcome = OutcomeKind::LambdaStreamError),
                vec!["lambda-error-in-body"],
            ),
            (
                "everything at the end",
                steady(2900, 100, 64 * 1024, 1),
                Box::new(|_| {}),
                vec!["buffered-burst"],
            ),
            (
                "a wrong stage",
                vec![],
                Box::new(|f| {
                    f.outcome = OutcomeKind::HttpError;
                    f.status = Some(403);
                    f.error_body = r#"{"message":"Missing Authentication Token"}"#;
                }),
                vec!["missing-authentication-token"],
            ),
            (
                "no API key",
                vec![],
                Box::new(|f| {
                    f.outcome = OutcomeKind::HttpError;
                    f.status = Some(403);
                    f.error_body = r#"{"message":"Forbidden"}"#;
                }),
                vec!["api-key-refused"],
            ),
            (
                "a signature made with the wrong secret",
                vec![],
                Box::new(|f| {
                    f.outcome = OutcomeKind::HttpError;
                    f.status = Some(403);
                    f.signed = true;
                    f.error_body = r#"{"message":"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}"#;
                }),
                vec!["iam-signature-refused"],
            ),
            (
                "a stale signature",
                vec![],
                Box::new(|f| {
                    f.outcome = OutcomeKind::HttpError;
                    f.status = Some(403);
                    f.signed = true;
                    f.error_body = r#"{"message":"Signature expired: 20261129T120000Z is now earlier than 20261129T120100Z (20261129T120600Z - 5 min.)"}"#;
                }),
                vec!["iam-signature-refused"],
            ),
            (
                "a quota spent",
                vec![],
                Box::new(|f| {
                    f.outcome = OutcomeKind::HttpError;
                    f.status = Some(429);
                    f.error_body = r#"{"message":"Limit Exceeded"}"#;
                }),
                vec!["throttled-429"],
            ),
            (
                "the 10 MB knee",
                knee10,
                Box::new(|_| {}),
                vec!["apigw-throttle-knee"],
            ),
            (
                "the 10 MB knee before a long throttled tail",
                knee10_long,
                Box::new(|_| {}),
                vec!["apigw-throttle-knee"],
            ),
            (
                "a 6 MB knee",
                knee6,
                Box::new(|_| {}),
                vec!["lambda-throttle-knee"],
            ),
            (
                "a remapped length",
                steady(10, 50, mib / 4, 20),
                Box::new(|f| f.remapped_length = true),
                vec!["remapped-content-length"],
            ),
            (
                "no length, no digest",
                steady(10, 50, mib / 4, 20),
                Box::new(|f| {
                    f.length_announced = false;
                    f.digest_known = false;
                }),
                vec!["unverifiable-download"],
            ),
            (
                "a digest but no length is verifiable",
                steady(10, 50, mib / 4, 20),
                Box::new(|f| f.length_announced = false),
                vec![],
            ),
            (
                "small HTTP/1.1 arrivals",
                steady(10, 400, 4096, 5),
                Box::new(|_| {}),
                vec!["small-arrivals"],
            ),
            (
                "small HTTP/2 frames are how h2 comes",
                steady(10, 400, 8192, 5),
                Box::new(|f| f.http1 = false),
                vec![],
            ),
            (
                "a late first byte, then a steady stream",
                steady(1500, 100, 64 * 1024, 30),
                Box::new(|_| {}),
                vec!["late-first-byte"],
            ),
        ];
        for (what, tl, edit, want) in rows {
            let mut f = facts(&tl);
            edit(&mut f);
            let got = ids(&f);
            let mut got_sorted = got.clone();
            got_sorted.sort_unstable();
            let mut want_sorted = want.clone();
            want_sorted.sort_unstable();
            assert_eq!(got_sorted, want_sorted, "{what}");
        }
    }

    #[test]
    fn evidence_quotes_the_run() {
        let tl = steady(10, 300, 64 * 1024, 100);
        let mut f = facts(&tl);
        f.outcome = OutcomeKind::Truncated;
        f.duration_s = 29.1;
        let found = evaluate(&f, &Limits::AWS);
        assert_eq!(found.len(), 1);
        assert!(
            found[0].evidence.contains("29.1 s"),
            "{}",
            found[0].evidence
        );
        assert!(
            found[0].evidence.contains("19.7 MB"),
            "{}",
            found[0].evidence
        );
        // The same facts against scaled limits (as the emulation tests use) are quiet.
        let scaled = Limits {
            default_integration_timeout_s: 2.9,
            ..Limits::AWS
        };
        assert!(evaluate(&f, &scaled).is_empty());
    }
}
