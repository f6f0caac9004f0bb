//! The outcome of a run and its report: JSON (schema_version 1) and an arrivals CSV. Secrets never
//! reach either: see [`redact_headers`] and [`redact_url`].

use super::stats::{Arrival, Split, Summary};
use serde::Serialize;
use std::io::Write;
use std::path::Path;

pub const SCHEMA_VERSION: u32 = 1;

/// How a run ended. Only `Complete` means every byte arrived (and matched its digest, where one
/// was known) and the file is under its final name.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Complete,
    /// The server answered with a non-2xx status; `body_preview` is at most 4 KiB of its body.
    HttpError {
        status: u16,
        body_preview: String,
    },
    /// The connection ended before the announced length, or the length did not match.
    Truncated {
        reason: String,
    },
    /// No byte for the idle timeout.
    Stalled {
        idle_s: f64,
    },
    /// The overall time limit ran out while bytes were still coming.
    TimedOut {
        limit_s: f64,
    },
    DigestMismatch {
        expected: String,
        actual: String,
    },
    /// The body ends with the text the Lambda Rust runtime writes on a mid-stream error.
    LambdaStreamError {
        error_type: String,
        error_body: String,
    },
    Cancelled,
    /// No response at all: DNS, refused connection, TLS, connect timeout.
    ConnectError {
        message: String,
    },
    /// Local I/O: disk full, unwritable path.
    IoError {
        message: String,
    },
}

impl Outcome {
    /// The snake_case name used in reports and exit messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Complete => "complete",
            Outcome::HttpError { .. } => "http_error",
            Outcome::Truncated { .. } => "truncated",
            Outcome::Stalled { .. } => "stalled",
            Outcome::TimedOut { .. } => "timed_out",
            Outcome::DigestMismatch { .. } => "digest_mismatch",
            Outcome::LambdaStreamError { .. } => "lambda_stream_error",
            Outcome::Cancelled => "cancelled",
            Outcome::ConnectError { .. } => "connect_error",
            Outcome::IoError { .. } => "io_error",
        }
    }

    pub fn is_complete(&self) -> bool {
        matches!(self, Outcome::Complete)
    }

    /// One plain sentence.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Complete => "complete: every byte arrived".to_string(),
            Outcome::HttpError { status, .. } => format!("HTTP error: status {status}"),
            Outcome::Truncated { reason } => format!("truncated: {reason}"),
            Outcome::Stalled { idle_s } => format!("stalled: no byte for {idle_s:.1} s"),
            Outcome::TimedOut { limit_s } => format!("timed out: the {limit_s:.1} s limit ran out"),
            Outcome::DigestMismatch { expected, actual } => {
                format!("digest mismatch: expected sha256 {expected}, got {actual}")
            }
            Outcome::LambdaStreamError {
                error_type,
                error_body,
            } => {
                format!("Lambda stream error {error_type}: {error_body}")
            }
            Outcome::Cancelled => "cancelled".to_string(),
            Outcome::ConnectError { message } => format!("connection failed: {message}"),
            Outcome::IoError { message } => format!("I/O error: {message}"),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HeaderPair {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequestInfo {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<HeaderPair>,
    pub http_version: &'static str,
    pub connect_timeout_s: f64,
    pub idle_timeout_s: f64,
    pub overall_limit_s: Option<f64>,
    pub expect_sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResponseInfo {
    pub status: u16,
    pub http_version: String,
    pub headers: Vec<HeaderPair>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutputInfo {
    pub path: String,
    pub part_path: String,
    /// True only when the file is complete and under `path`.
    pub saved: bool,
    /// True when a partial download was left at `part_path`.
    pub partial_left: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: String,
    /// UTC, RFC 3339: when the request was sent.
    pub started_at: String,
    pub request: RequestInfo,
    pub response: Option<ResponseInfo>,
    pub outcome: &'static str,
    pub outcome_detail: String,
    pub http_error_body_preview: Option<String>,
    pub output: OutputInfo,
    pub bytes: u64,
    pub expected_bytes: Option<u64>,
    pub expected_bytes_source: Option<&'static str>,
    /// Milliseconds from sending the request to having the status line and all headers.
    pub headers_ms: Option<f64>,
    /// Milliseconds from sending the request to the first body byte.
    pub first_byte_ms: Option<f64>,
    /// Milliseconds from sending the request to the end of the run (last byte, error or cancel).
    pub duration_ms: f64,
    /// Body bytes over `duration_ms`.
    pub avg_bytes_per_sec: Option<f64>,
    #[serde(flatten)]
    pub summary: Summary,
    /// Throughput split at 10 MiB (10 * 1024 * 1024 bytes).
    pub throughput_split_10mib: Split,
    /// Throughput split at 10 MB (10,000,000 bytes).
    pub throughput_split_10mb: Split,
    /// Throughput split at 6 MiB (Lambda's uncapped allowance).
    pub throughput_split_6mib: Split,
    pub sha256: Option<String>,
    pub expected_sha256: Option<String>,
    /// `user`, `repr-digest` or `x-amz-checksum-sha256`.
    pub expected_sha256_source: Option<&'static str>,
    pub digest_match: Option<bool>,
    /// Request-id headers (x-amzn-requestid, x-amz-apigw-id, ...) for joining with access logs.
    pub request_ids: Vec<HeaderPair>,
    /// `streamed`, `burst` (buffered somewhere) or `too_small_to_tell`: see `verdict::delivery`.
    pub delivery: super::verdict::Delivery,
    #[serde(skip)]
    pub outcome_value: Outcome,
    #[serde(skip)]
    pub timeline: Vec<Arrival>,
}

impl Report {
    pub fn to_json(&self) -> String {
        // Serializing plain structs of strings and numbers cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        write_atomically(path, self.to_json().as_bytes())
    }

    /// `t_offset_s,bytes,cumulative_bytes,gap_ms`; the first row's gap counts from the headers.
    pub fn write_csv(&self, path: &Path) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(32 * self.timeline.len() + 64);
        write_csv_rows(&mut out, &self.timeline, self.headers_ms)?;
        write_atomically(path, &out)
    }
}

pub fn write_csv_rows(
    out: &mut impl Write,
    timeline: &[Arrival],
    headers_ms: Option<f64>,
) -> std::io::Result<()> {
    writeln!(out, "t_offset_s,bytes,cumulative_bytes,gap_ms")?;
    let mut cum = 0u64;
    let mut prev_ns = headers_ms.map(|ms| (ms * 1e6) as u64);
    for a in timeline {
        cum += a.bytes as u64;
        let gap = prev_ns.map(|p| a.t_offset_ns.saturating_sub(p) as f64 / 1e6);
        match gap {
            Some(g) => writeln!(
                out,
                "{:.9},{},{},{:.3}",
                a.t_offset_ns as f64 / 1e9,
                a.bytes,
                cum,
                g
            )?,
            None => writeln!(
                out,
                "{:.9},{},{},",
                a.t_offset_ns as f64 / 1e9,
                a.bytes,
                cum
            )?,
        }
        prev_ns = Some(a.t_offset_ns);
    }
    Ok(())
}

/// Writes `<path>.tmp` then renames it, so a reader never sees half a report.
fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = super::request::part_path(path);
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

/// Header names whose values are secrets wherever they appear.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "cookie",
    "set-cookie",
    "x-amz-security-token",
];
pub const REDACTED: &str = "<redacted>";

pub fn is_secret_header(name: &str, extra: &[String]) -> bool {
    let n = name.trim().to_ascii_lowercase();
    SECRET_HEADERS.contains(&n.as_str()) || extra.iter().any(|e| e.trim().eq_ignore_ascii_case(&n))
}

pub fn redact_headers<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    extra: &[String],
) -> Vec<HeaderPair> {
    pairs
        .into_iter()
        .map(|(n, v)| HeaderPair {
            name: n.to_string(),
            value: if is_secret_header(n, extra) {
                REDACTED.to_string()
            } else {
                v.to_string()
            },
        })
        .collect()
}

/// Query parameter names that look like credentials (presigned S3 URLs carry X-Amz-Signature,
/// X-Amz-Credential, X-Amz-Security-Token; APIs take api_key, token, sig...).
pub fn is_secret_query_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "signature",
        "token",
        "credential",
        "key",
        "secret",
        "password",
        "auth",
        "sig",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// Replaces a password in the URL and the values of credential-like query parameters with
/// `<redacted>`: for reports, which must show that they were there.
pub fn redact_url(url: &reqwest::Url) -> String {
    scrub_url(url, true)
}

/// Removes a password and credential-like query parameters altogether: for what is remembered
/// across restarts, which should neither hold secrets nor a placeholder that breaks the URL.
pub fn strip_url_secrets(url: &str) -> String {
    match reqwest::Url::parse(url.trim()) {
        Ok(u) => scrub_url(&u, false),
        Err(_) => url.to_string(),
    }
}

fn scrub_url(url: &reqwest::Url, keep_placeholders: bool) -> String {
    let mut u = url.clone();
    if u.password().is_some() {
        // Only fails for URLs that cannot have credentials, which this one has.
        u.set_password(keep_placeholders.then_some(REDACTED)).ok();
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| keep_placeholders || !is_secret_query_param(k))
            .map(|(k, v)| {
                let v = if is_secret_query_param(&k) {
                    REDACTED.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        if pairs.is_empty() {
            u.set_query(None);
        } else {
            u.query_pairs_mut().clear().extend_pairs(pairs);
        }
    }
    u.to_string()
}

/// UTC RFC 3339 with milliseconds, without a date crate.
pub fn rfc3339_utc(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        let h = redact_headers(
            [
                ("Authorization", "Bearer x"),
                ("X-API-Key", "k"),
                ("Cookie", "a=b"),
                ("X-Tenant", "t"),
                ("Accept", "*/*"),
            ],
            &["x-tenant".to_string()],
        );
        assert!(
            h.iter()
                .filter(|p| p.name != "Accept")
                .all(|p| p.value == REDACTED)
        );
        assert_eq!(h[4].value, "*/*");
        let u =
            reqwest::Url::parse("https://u:pw@h/x?X-Amz-Signature=abc&size=5&api_key=zz").unwrap();
        let r = redact_url(&u);
        assert!(
            !r.contains("pw") && !r.contains("abc") && !r.contains("zz"),
            "{r}"
        );
        assert!(r.contains("size=5"));
        let kept = strip_url_secrets("https://u:pw@h/x?X-Amz-Signature=abc&size=5&api_key=zz");
        assert_eq!(kept, "https://u@h/x?size=5");
        assert_eq!(strip_url_secrets("https://h/x?token=1"), "https://h/x");
    }

    #[test]
    fn dates_format() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_764_000_000_123);
        assert_eq!(rfc3339_utc(t), "2025-11-24T16:00:00.123Z");
    }

    #[test]
    fn csv_rows() {
        let tl = [
            Arrival {
                t_offset_ns: 2_000_000,
                bytes: 10,
            },
            Arrival {
                t_offset_ns: 5_000_000,
                bytes: 6,
            },
        ];
        let mut out = Vec::new();
        write_csv_rows(&mut out, &tl, Some(1.5)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "t_offset_s,bytes,cumulative_bytes,gap_ms\n0.002000000,10,10,0.500\n0.005000000,6,16,3.000\n"
        );
    }
}
