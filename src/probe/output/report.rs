//! The JSON report (schema_version 1) and the arrivals CSV: renderings of a [`RunResult`] and its
//! [`Figures`]. Secrets never reach either (see [`crate::probe::redact`]).

use crate::probe::analysis::figures::{Delivery, Figures, Summary};
use crate::probe::analysis::findings::Finding;
use crate::probe::analysis::timeline::Split;
use crate::probe::fetch::expect::{DigestSource, LengthSource};
use crate::probe::fetch::outcome::OutcomeKind;
use crate::probe::fetch::phases::Phases;
use crate::probe::fetch::result::Arrival;
use crate::probe::fetch::result::{RunResult, WireVersion};
use crate::probe::redact::{HeaderPair, redact_headers, redact_url};
use serde::Serialize;
use std::io::Write;
use std::path::Path;

pub const SCHEMA_VERSION: u32 = 1;

/// `$id` of `schema/report.schema.json` (see [`super::schema`]), and the `$schema` of every report.
pub const REPORT_ID: &str = "urn:streamscope:schema:report:1";

/// Response headers naming a request, for joining with API Gateway / Lambda / CloudFront logs.
const REQUEST_ID_HEADERS: &[&str] = &[
    "x-amzn-requestid",
    "x-amz-apigw-id",
    "x-amz-cf-id",
    "x-amzn-trace-id",
    "x-amz-request-id",
];

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
// Reports are written, not read: this makes the schema refuse unknown (e.g. renamed) fields.
#[serde(deny_unknown_fields)]
pub struct RequestInfo {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<HeaderPair>,
    pub http_version: &'static str,
    pub connect_timeout_s: f64,
    pub idle_timeout_s: f64,
    pub overall_limit_s: Option<f64>,
    pub expect_sha256: Option<String>,
    pub tls: TlsInfo,
    pub max_redirects: u32,
    /// SigV4 signing, when on: region (null: from the URL or the AWS configuration), service,
    /// profile. Never credentials or signatures.
    pub aws_sigv4: Option<crate::probe::fetch::auth::SigV4Spec>,
}

/// A redirect met on the way (URLs with credential-like parts redacted).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
// Reports are written, not read: this makes the schema refuse unknown (e.g. renamed) fields.
#[serde(deny_unknown_fields)]
pub struct RedirectInfo {
    pub status: u16,
    pub url: String,
    pub location: String,
    /// From the run's start to sending this request, and to its headers.
    pub sent_ms: f64,
    pub headers_ms: f64,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
// Reports are written, not read: this makes the schema refuse unknown (e.g. renamed) fields.
#[serde(deny_unknown_fields)]
pub struct AttemptInfo {
    pub started_ms: f64,
    pub ended_ms: f64,
    pub from_byte: u64,
    pub bytes: u64,
    pub status: Option<u16>,
    pub outcome: OutcomeKind,
}

/// Where the time went, in milliseconds (see [`Phases`]).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
// Reports are written, not read: this makes the schema refuse unknown (e.g. renamed) fields.
#[serde(deny_unknown_fields)]
pub struct PhasesInfo {
    pub redirects_ms: f64,
    /// Sent → the connection asked for: the client's own time (pool, scheduler).
    pub queue_ms: f64,
    /// 0 for an IP literal or a reused connection.
    pub dns_ms: f64,
    /// TCP connect; TCP and TLS together when `tls_ms` is null.
    pub connect_ms: f64,
    /// null when the TLS handshake could not be told apart from the connect.
    pub tls_ms: Option<f64>,
    /// Connection ready → all headers: the request going out and the server answering.
    pub wait_ms: f64,
    /// Headers → first body byte.
    pub first_byte_ms: Option<f64>,
    /// First body byte → last.
    pub body_ms: Option<f64>,
    pub new_connection: bool,
}

impl PhasesInfo {
    pub fn of(p: &Phases) -> PhasesInfo {
        let ms = |ns: u64| ns as f64 / 1e6;
        PhasesInfo {
            redirects_ms: ms(p.redirects_ns),
            queue_ms: ms(p.queue_ns),
            dns_ms: ms(p.dns_ns),
            connect_ms: ms(p.connect_ns),
            tls_ms: p.tls_ns.map(ms),
            wait_ms: ms(p.wait_ns),
            first_byte_ms: p.first_byte_ns.map(ms),
            body_ms: p.body_ns.map(ms),
            new_connection: p.new_connection,
        }
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
// Reports are written, not read: this makes the schema refuse unknown (e.g. renamed) fields.
#[serde(deny_unknown_fields)]
pub struct TlsInfo {
    /// False when the user turned certificate verification off.
    pub verify_certificates: bool,
    /// The PEM file of extra trusted roots, if one was given.
    pub cacert: Option<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
// Reports are written, not read: this makes the schema refuse unknown (e.g. renamed) fields.
#[serde(deny_unknown_fields)]
pub struct ResponseInfo {
    pub status: u16,
    pub http_version: WireVersion,
    pub headers: Vec<HeaderPair>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
// Reports are written, not read: this makes the schema refuse unknown (e.g. renamed) fields.
#[serde(deny_unknown_fields)]
pub struct OutputInfo {
    pub path: String,
    pub part_path: String,
    /// True only when the file is complete and under `path`.
    pub saved: bool,
    /// True when a partial download was left at `part_path`.
    pub partial_left: bool,
    /// Bytes that reached the file.
    pub bytes_written: u64,
    /// Set when `path` is a special file the user named (`-o /dev/null`): written straight into,
    /// with no `.part` and no rename.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written_straight_into: Option<crate::disk::Special>,
}

/// The JSON schema. Build it with [`Report::new`]; nothing reads it back.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
// Reports are written, not read: this makes the schema refuse unknown (e.g. renamed) fields.
#[serde(deny_unknown_fields)]
pub struct Report {
    /// The JSON Schema this report follows: [`REPORT_ID`], the `$id` of
    /// `schema/report.schema.json`.
    #[serde(rename = "$schema")]
    pub schema: &'static str,
    pub schema_version: u32,
    pub tool: String,
    /// UTC, RFC 3339: when the request was sent.
    pub started_at: String,
    pub request: RequestInfo,
    pub response: Option<ResponseInfo>,
    /// Every redirect met before the response, in order.
    pub redirects: Vec<RedirectInfo>,
    /// The URL that answered (after redirects), redacted, and its host: who served the body.
    pub final_url: Option<String>,
    pub served_by: Option<String>,
    /// Redirects, DNS, connect, TLS, wait, first byte, body.
    pub phases: Option<PhasesInfo>,
    /// Every request of the run: one, unless resumed or retried (`started_ms`, `ended_ms`,
    /// `from_byte`, `bytes`, `status`, `outcome`).
    pub attempts: Vec<AttemptInfo>,
    /// Bytes the `.part` already held when the run started (`--resume`); `sha256` covers them.
    pub resumed_from_bytes: u64,
    /// Requests sent again on a fresh connection because a reused one had been closed by the
    /// server before answering.
    pub fresh_connection_retries: u32,
    /// 429 Too Many Requests answers waited out (Retry-After or an exponential back-off).
    pub throttled_responses: u32,
    /// Parallel ranges: the concurrency the run ended with, lowered by 429s from the one asked.
    pub settled_concurrency: Option<u32>,
    /// A parallel download's ranges, in order: `index`, `from`, `to` (inclusive), `started_ns`,
    /// `headers_ns`, `ended_ns` (from the run's start), `bytes`, `requests`, `status`, `outcome`.
    pub segments: Vec<crate::probe::fetch::result::Segment>,
    pub outcome: OutcomeKind,
    pub outcome_detail: String,
    pub http_error_body_preview: Option<String>,
    /// Against `streamscope serve` hosting a real function: the log of the invocation that served
    /// the response, as CloudWatch shows it (START, the function's lines, END, REPORT; API
    /// Gateway's failure and its cause). Empty otherwise.
    pub function_log: Vec<String>,
    pub output: OutputInfo,
    pub bytes: u64,
    pub expected_bytes: Option<u64>,
    pub expected_bytes_source: Option<LengthSource>,
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
    /// SHA-256 of the body bytes received; null when no body was read.
    pub sha256: Option<String>,
    pub expected_sha256: Option<String>,
    pub expected_sha256_source: Option<DigestSource>,
    pub digest_match: Option<bool>,
    /// Request-id headers (x-amzn-requestid, x-amz-apigw-id, ...) for joining with access logs.
    pub request_ids: Vec<HeaderPair>,
    /// `streamed`, `burst` (buffered somewhere) or `too_small_to_tell`.
    pub delivery: Delivery,
    /// Why, in AWS's terms: `{id, severity, title, evidence, fix, doc_url}`, most severe first.
    pub findings: Vec<Finding>,
    /// The thresholds asked for (`--require`), in order: `{expression, value, passed}`.
    pub thresholds: Vec<crate::probe::analysis::thresholds::Checked>,
    /// Every arrival as `[t_offset_ns, bytes]`, so charts can be drawn again from the report
    /// (`streamscope report --png`); neighbours are merged, keeping times and totals, when there
    /// are more than [`MAX_REPORT_ARRIVALS`] (then `timeline_merged` is true). (`arrivals` is
    /// their count.)
    pub timeline: Vec<[u64; 2]>,
    pub timeline_merged: bool,
}

/// Arrivals a report keeps one by one.
pub const MAX_REPORT_ARRIVALS: usize = 200_000;

/// `timeline` as `[t, bytes]` pairs, pairs of neighbours merged (at the later time) until there
/// are at most `max`.
pub fn report_arrivals(timeline: &[Arrival], max: usize) -> (Vec<[u64; 2]>, bool) {
    let mut out: Vec<[u64; 2]> = timeline
        .iter()
        .map(|a| [a.t_offset_ns, a.bytes as u64])
        .collect();
    let merged = out.len() > max;
    while out.len() > max.max(1) {
        out = out
            .chunks(2)
            .map(|c| [c[c.len() - 1][0], c.iter().map(|a| a[1]).sum()])
            .collect();
    }
    (out, merged)
}

impl Report {
    pub fn new(r: &RunResult, f: &Figures, findings: &[Finding]) -> Report {
        let req = &r.request;
        let expected_digest = r.expected_digest();
        let expected_length = r.expected_length();
        Report {
            schema: REPORT_ID,
            schema_version: SCHEMA_VERSION,
            tool: concat!("streamscope ", env!("CARGO_PKG_VERSION")).to_string(),
            started_at: crate::units::rfc3339_utc(r.started_at),
            request: RequestInfo::of(req),
            redirects: r.hops.iter().map(RedirectInfo::of).collect(),
            final_url: r.response.as_ref().map(|m| redact_url(&m.url)),
            served_by: r.response.as_ref().map(|m| m.served_by()),
            phases: r.phases().as_ref().map(PhasesInfo::of),
            attempts: r.attempts.iter().map(AttemptInfo::of).collect(),
            resumed_from_bytes: r.resumed_from,
            fresh_connection_retries: r.fresh_connection_retries,
            throttled_responses: r.throttled,
            settled_concurrency: r.settled_concurrency,
            segments: r.segments.clone(),
            response: r.response.as_ref().map(|m| ResponseInfo {
                status: m.status,
                http_version: m.version,
                headers: redact_headers(
                    m.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
                    &req.redact,
                ),
            }),
            outcome: r.outcome.kind(),
            outcome_detail: r.outcome.describe(),
            http_error_body_preview: r.error_preview.clone(),
            function_log: r.function_log.clone(),
            output: OutputInfo {
                path: req.output.display().to_string(),
                part_path: req.part.display().to_string(),
                saved: r.output.saved,
                partial_left: r.output.partial_left,
                bytes_written: r.output.bytes_written,
                written_straight_into: match req.dest {
                    crate::disk::Dest::Straight(kind) => Some(kind),
                    crate::disk::Dest::File => None,
                },
            },
            bytes: r.bytes,
            expected_bytes: expected_length.map(|l| l.bytes),
            expected_bytes_source: expected_length.map(|l| l.source),
            headers_ms: r.response.as_ref().map(|m| m.headers_ns as f64 / 1e6),
            first_byte_ms: f.first_byte_ms,
            duration_ms: r.duration_ns as f64 / 1e6,
            avg_bytes_per_sec: f.avg_bytes_per_sec,
            summary: f.summary.clone(),
            throughput_split_10mib: f.split_10mib,
            throughput_split_10mb: f.split_10mb,
            throughput_split_6mib: f.split_6mib,
            sha256: r.sha256.map(hex::encode),
            expected_sha256: expected_digest.map(|d| hex::encode(d.sha256)),
            expected_sha256_source: expected_digest.map(|d| d.source),
            digest_match: r.digest_match(),
            request_ids: request_ids(r),
            delivery: f.delivery,
            findings: findings.to_vec(),
            thresholds: crate::probe::analysis::thresholds::check(r, f, findings),
            timeline: report_arrivals(&r.timeline, MAX_REPORT_ARRIVALS).0,
            timeline_merged: r.timeline.len() > MAX_REPORT_ARRIVALS,
        }
    }

    pub fn to_json(&self) -> String {
        // Serializing plain structs of strings and numbers cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Writes the JSON report to `path`, atomically.
pub fn write_json(
    r: &RunResult,
    f: &Figures,
    findings: &[Finding],
    path: &Path,
) -> std::io::Result<()> {
    write_atomically(path, Report::new(r, f, findings).to_json().as_bytes())
}

/// Writes the arrivals CSV to `path`, atomically: `t_offset_s,bytes,cumulative_bytes,gap_ms`; the
/// first row's gap counts from the headers.
pub fn write_csv(r: &RunResult, path: &Path) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(32 * r.timeline.len() + 64);
    write_csv_rows(
        &mut out,
        &r.timeline,
        r.response.as_ref().map(|m| m.headers_ns),
    )?;
    write_atomically(path, &out)
}

/// Writes whichever of the JSON report and the arrivals CSV the request asked for.
pub fn write_requested(
    r: &RunResult,
    f: &Figures,
    findings: &[Finding],
) -> Result<(), (std::path::PathBuf, std::io::Error)> {
    if let Some(p) = &r.request.json_report {
        write_json(r, f, findings, p).map_err(|e| (p.clone(), e))?;
    }
    if let Some(p) = &r.request.csv_report {
        write_csv(r, p).map_err(|e| (p.clone(), e))?;
    }
    Ok(())
}

pub fn write_csv_rows(
    out: &mut impl Write,
    timeline: &[Arrival],
    headers_ns: Option<u64>,
) -> std::io::Result<()> {
    writeln!(out, "t_offset_s,bytes,cumulative_bytes,gap_ms")?;
    let mut cum = 0u64;
    let mut prev_ns = headers_ns;
    for a in timeline {
        cum += a.bytes as u64;
        let t = a.t_offset_ns as f64 / 1e9;
        match prev_ns.map(|p| a.t_offset_ns.saturating_sub(p) as f64 / 1e6) {
            Some(gap) => writeln!(out, "{t:.9},{},{cum},{gap:.3}", a.bytes)?,
            None => writeln!(out, "{t:.9},{},{cum},", a.bytes)?,
        }
        prev_ns = Some(a.t_offset_ns);
    }
    Ok(())
}

/// Writes `<path>.part` then renames it, so a reader never sees half a report.
fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    crate::disk::write_whole(path, data)
}

impl RequestInfo {
    fn of(req: &crate::probe::ValidRequest) -> RequestInfo {
        RequestInfo {
            method: "GET",
            url: redact_url(&req.url),
            headers: redact_headers(
                req.header_list
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str())),
                &req.redact,
            ),
            http_version: req.http_version.label(),
            connect_timeout_s: req.connect_timeout.as_secs_f64(),
            idle_timeout_s: req.idle_timeout.as_secs_f64(),
            overall_limit_s: req.overall_limit.map(|d| d.as_secs_f64()),
            expect_sha256: req.expect_sha256.map(hex::encode),
            tls: TlsInfo {
                verify_certificates: !req.tls.insecure,
                cacert: req.tls.cacert.as_ref().map(|p| p.display().to_string()),
            },
            max_redirects: req.max_redirects,
            aws_sigv4: req.sigv4.clone(),
        }
    }
}

impl RedirectInfo {
    fn of(h: &crate::probe::fetch::result::Hop) -> RedirectInfo {
        RedirectInfo {
            status: h.status,
            url: redact_url(&h.url),
            location: h
                .next
                .as_ref()
                .map_or_else(|| "<not an http(s) URL>".to_string(), redact_url),
            sent_ms: h.sent_ns as f64 / 1e6,
            headers_ms: h.headers_ns as f64 / 1e6,
        }
    }
}

impl AttemptInfo {
    fn of(a: &crate::probe::fetch::result::Attempt) -> AttemptInfo {
        AttemptInfo {
            started_ms: a.started_ns as f64 / 1e6,
            ended_ms: a.ended_ns as f64 / 1e6,
            from_byte: a.from_byte,
            bytes: a.bytes,
            status: a.status,
            outcome: a.outcome,
        }
    }
}

/// The response's request-id headers (API Gateway's, Lambda's, CloudFront's...), to quote to AWS.
fn request_ids(r: &RunResult) -> Vec<HeaderPair> {
    r.response
        .iter()
        .flat_map(|m| &m.headers)
        .filter(|(n, _)| REQUEST_ID_HEADERS.contains(&n.to_ascii_lowercase().as_str()))
        .map(|(n, v)| HeaderPair {
            name: n.clone(),
            value: v.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_arrivals_merge_keeping_totals() {
        let tl: Vec<Arrival> = (0..10)
            .map(|i| Arrival {
                t_offset_ns: i * 10,
                bytes: 5,
            })
            .collect();
        let (all, merged) = report_arrivals(&tl, 10);
        assert_eq!((all.len(), merged), (10, false));
        let (few, merged) = report_arrivals(&tl, 4);
        assert!(merged);
        assert!(few.len() <= 4, "{few:?}");
        assert_eq!(few.iter().map(|a| a[1]).sum::<u64>(), 50);
        assert_eq!(
            few.last().unwrap()[0],
            90,
            "the last arrival's time is kept"
        );
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
        write_csv_rows(&mut out, &tl, Some(1_500_000)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "t_offset_s,bytes,cumulative_bytes,gap_ms\n0.002000000,10,10,0.500\n0.005000000,6,16,3.000\n"
        );
    }
}
