//! The one value a run produces. Figures, the report, the printed summary and the app's views are
//! all computed from it; nothing else carries facts about a run.

use super::expect::{ExpectedDigest, ExpectedLength};
use super::outcome::{Outcome, OutcomeKind};
use super::phases::Phases;
use super::request::ValidRequest;
use crate::probe::redact::host_of;
use serde::Serialize;
use std::time::SystemTime;

/// The HTTP version a response came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub enum WireVersion {
    #[serde(rename = "HTTP/0.9")]
    Http09,
    #[serde(rename = "HTTP/1.0")]
    Http10,
    #[serde(rename = "HTTP/1.1")]
    Http11,
    #[serde(rename = "HTTP/2.0")]
    Http2,
    #[serde(rename = "HTTP/3.0")]
    Http3,
}

impl WireVersion {
    pub fn of(v: reqwest::Version) -> WireVersion {
        match v {
            reqwest::Version::HTTP_09 => WireVersion::Http09,
            reqwest::Version::HTTP_10 => WireVersion::Http10,
            reqwest::Version::HTTP_2 => WireVersion::Http2,
            reqwest::Version::HTTP_3 => WireVersion::Http3,
            _ => WireVersion::Http11,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            WireVersion::Http09 => "HTTP/0.9",
            WireVersion::Http10 => "HTTP/1.0",
            WireVersion::Http11 => "HTTP/1.1",
            WireVersion::Http2 => "HTTP/2.0",
            WireVersion::Http3 => "HTTP/3.0",
        }
    }
}

/// One read from the response body: its size and when it was handed to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Arrival {
    /// Nanoseconds from the instant the request was sent to the instant this read returned.
    pub t_offset_ns: u64,
    pub bytes: u32,
}

/// One request of a run (a retry or a resume makes more), as a segment of its timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// From the run's start to this attempt's request, and to its end.
    pub started_ns: u64,
    pub ended_ns: u64,
    /// The byte of the file it asked for first (0: the whole object).
    pub from_byte: u64,
    /// Body bytes it received.
    pub bytes: u64,
    pub status: Option<u16>,
    pub outcome: super::outcome::OutcomeKind,
}

/// A redirect the run met: followed, or the last one when the limit was reached.
#[derive(Debug, Clone)]
pub struct Hop {
    pub url: reqwest::Url,
    pub status: u16,
    /// The `Location` as sent.
    pub location: String,
    /// Where it points, resolved against `url`; None when it is not an http(s) URL.
    pub next: Option<reqwest::Url>,
    /// Nanoseconds from the run's start to sending this request, and to its headers.
    pub sent_ns: u64,
    pub headers_ns: u64,
    pub phases: Phases,
}

/// What the response said, as soon as its headers were in.
#[derive(Debug, Clone)]
pub struct ResponseMeta {
    /// The URL that answered (after redirects).
    pub url: reqwest::Url,
    /// Where the time to these headers went (redirects, DNS, connect, TLS, wait).
    pub phases: Phases,
    pub status: u16,
    pub version: WireVersion,
    /// All response headers, unredacted (views show them with secrets masked; reports redact).
    pub headers: Vec<(String, String)>,
    /// Nanoseconds from sending the request to having all response headers.
    pub headers_ns: u64,
    pub length: Option<ExpectedLength>,
    pub digest: Option<ExpectedDigest>,
}

impl ResponseMeta {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The host (and port, when not the scheme's) that sent this response.
    pub fn served_by(&self) -> String {
        host_of(&self.url)
    }

    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Where the body ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutputState {
    /// The file is complete and under its final name.
    pub saved: bool,
    /// A partial download was left at the `.part` path.
    pub partial_left: bool,
    /// Bytes that reached the file (fewer than received when writing failed).
    pub bytes_written: u64,
}

/// A finished run: what was asked, what came back, how it ended.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub request: ValidRequest,
    /// Wall-clock time the request was sent.
    pub started_at: SystemTime,
    pub response: Option<ResponseMeta>,
    /// The redirects met before `response`, in order.
    pub hops: Vec<Hop>,
    /// The first 4 KiB of an error response's body.
    pub error_preview: Option<String>,
    /// Every read of the body, in order.
    pub timeline: Vec<Arrival>,
    /// Body bytes received, over every attempt.
    pub bytes: u64,
    /// SHA-256 of the file (a resumed one's earlier bytes included); None when no body was read
    /// (an error status, no response) or when they could not all be hashed.
    pub sha256: Option<[u8; 32]>,
    pub outcome: Outcome,
    pub output: OutputState,
    /// Nanoseconds from sending the request to the end of the run (last byte, error or cancel).
    pub duration_ns: u64,
    /// Every request made, in order (one unless resumed or retried).
    pub attempts: Vec<Attempt>,
    /// Bytes the `.part` held before the run (a resumed download), not in `bytes`.
    pub resumed_from: u64,
    /// Requests sent again on a fresh connection after a reused one was found closed.
    pub fresh_connection_retries: u32,
    /// 429 Too Many Requests answers waited out before asking again.
    pub throttled: u32,
    /// Parallel ranges: the concurrency the run ended with (lowered by 429s from `segments`).
    pub settled_concurrency: Option<u32>,
    /// The ranges of a parallel download, in order (empty for one stream).
    pub segments: Vec<Segment>,
    /// Against `streamscope serve` hosting a function: the log of the invocation that served the
    /// response (START, the function's lines, END, REPORT; API Gateway's failure).
    pub function_log: Vec<String>,
}

impl RunResult {
    /// The digest the body was (or would have been) checked against.
    pub fn expected_digest(&self) -> Option<ExpectedDigest> {
        match &self.response {
            Some(r) => r.digest,
            None => self.request.expect_sha256.map(|sha256| ExpectedDigest {
                sha256,
                source: super::expect::DigestSource::User,
            }),
        }
    }

    /// Whether the body matched its digest: None when there was none, or when the body did not end
    /// cleanly (a cut-off body's hash always differs; saying so would blame the content for what
    /// the transport did).
    pub fn digest_match(&self) -> Option<bool> {
        if !self.outcome.body_ended_cleanly() {
            return None;
        }
        let want = self.expected_digest()?;
        Some(self.sha256? == want.sha256)
    }

    /// The length the response announced for a successful body (an error response's length is
    /// not the download's).
    pub fn expected_length(&self) -> Option<ExpectedLength> {
        self.response
            .as_ref()
            .filter(|r| r.is_success())
            .and_then(|r| r.length)
    }

    /// Where the time went, from the request to the last byte; None without a response.
    pub fn phases(&self) -> Option<Phases> {
        let r = self.response.as_ref()?;
        Some(r.phases.with_body(
            r.headers_ns,
            self.timeline.first().map(|a| a.t_offset_ns),
            self.timeline.last().map(|a| a.t_offset_ns),
        ))
    }

    /// A redirect was not followed because the limit was reached (the response is that 3xx).
    pub fn redirect_not_followed(&self) -> bool {
        self.response
            .as_ref()
            .is_some_and(|r| (300..400).contains(&r.status) && r.header("location").is_some())
    }

    pub fn duration_s(&self) -> f64 {
        self.duration_ns as f64 / 1e9
    }
}

/// One range of a parallel download, as it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
// Reports are written, not read: this makes the schema refuse unknown (e.g. renamed) fields.
#[serde(deny_unknown_fields)]
pub struct Segment {
    pub index: usize,
    /// Its bytes, inclusive.
    pub from: u64,
    pub to: u64,
    /// From the run's start: its request, its headers, its end.
    pub started_ns: u64,
    pub headers_ns: Option<u64>,
    pub ended_ns: u64,
    /// Body bytes it received (all its requests).
    pub bytes: u64,
    /// Requests made for it (1 unless retried).
    pub requests: u32,
    pub status: Option<u16>,
    pub outcome: OutcomeKind,
}
