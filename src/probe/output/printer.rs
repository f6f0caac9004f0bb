//! The human summary of a run: one renderer for every view. `streamscope get` prints
//! [`Summary::text`], the app draws the same lines in colour and copies the same text.

use crate::probe::analysis::figures::{Delivery, Figures};
use crate::probe::analysis::findings::{Finding, Severity};
use crate::probe::analysis::timeline::TEN_MIB;
use crate::probe::fetch::outcome::Outcome;
use crate::probe::fetch::phases::Phases;
use crate::probe::fetch::result::RunResult;
use crate::probe::redact::host_of;
use crate::probe::redact::redact_url;
use crate::units::{fmt_bytes, fmt_rate};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Warn,
    Bad,
    Info,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub label: &'static str,
    pub text: String,
    pub tone: Tone,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub headline: String,
    pub tone: Tone,
    pub lines: Vec<Line>,
    /// Why, in AWS's terms, with what to change (most severe first).
    pub findings: Vec<Finding>,
}

impl Tone {
    pub fn of(s: Severity) -> Tone {
        match s {
            Severity::Error => Tone::Bad,
            Severity::Warning => Tone::Warn,
            Severity::Info => Tone::Info,
        }
    }
}

impl Summary {
    /// Plain text: the headline, one `label  text` line each, then the findings.
    pub fn text(&self) -> String {
        let mut s = format!("{}\n", self.headline);
        for l in &self.lines {
            s += &format!("{:<12} {}\n", l.label, l.text);
        }
        if !self.findings.is_empty() {
            s += "\nfindings\n";
        }
        for f in &self.findings {
            s += &format!(
                "  {:<7} {}: {}\n          evidence: {}\n          fix: {}\n          see: {}\n",
                f.severity.label().to_uppercase(),
                f.id,
                f.title,
                f.evidence,
                f.fix,
                f.doc_url
            );
        }
        s
    }

    pub fn line(&self, label: &str) -> Option<&Line> {
        self.lines.iter().find(|l| l.label == label)
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.1} ms"))
}

fn rate(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), fmt_rate)
}

fn headline(r: &RunResult, digest_match: Option<bool>) -> (String, Tone) {
    match &r.outcome {
        Outcome::Complete if r.resumed_from > 0 || r.attempts.len() > 1 => (
            format!(
                "Complete: {} in {} request(s){}",
                fmt_bytes(r.output.bytes_written),
                r.attempts.len(),
                if digest_match == Some(true) {
                    ", verified whole"
                } else {
                    ""
                }
            ),
            Tone::Good,
        ),
        Outcome::Complete => (
            format!(
                "Complete: {} arrived{}",
                fmt_bytes(r.bytes),
                if digest_match == Some(true) {
                    " and verified"
                } else {
                    ""
                }
            ),
            Tone::Good,
        ),
        Outcome::HttpError { status } => (format!("HTTP error {status}"), Tone::Bad),
        Outcome::Truncated(_) => (format!("Truncated after {}", fmt_bytes(r.bytes)), Tone::Bad),
        Outcome::Stalled { idle_s } => (
            format!(
                "Stalled: no byte for {idle_s:.1} s after {}",
                fmt_bytes(r.bytes)
            ),
            Tone::Bad,
        ),
        Outcome::TimedOut { limit_s } => (format!("Timed out after {limit_s:.1} s"), Tone::Bad),
        Outcome::DigestMismatch { .. } => (
            "Digest mismatch: the file is not what the server promised".into(),
            Tone::Bad,
        ),
        Outcome::LambdaStreamError(e) => {
            (format!("Lambda stream error ({})", e.error_type), Tone::Bad)
        }
        Outcome::Cancelled => (
            format!("Cancelled after {}", fmt_bytes(r.bytes)),
            Tone::Warn,
        ),
        Outcome::ConnectError(_) => ("Could not connect".into(), Tone::Bad),
        Outcome::IoError(_) => ("Could not save the file".into(), Tone::Bad),
        Outcome::RangeRefused(_) => (
            "Not continued: the server's answer does not fit".into(),
            Tone::Bad,
        ),
    }
}

/// The summary of a finished run, with its findings: one labelled line per fact, in the order
/// a reader asks (where it went, how it ended, how long, how it arrived, whether it is intact).
pub fn summary(r: &RunResult, f: &Figures, findings: &[Finding]) -> Summary {
    let digest_match = r.digest_match();
    let (mut headline, mut tone) = headline(r, digest_match);
    let checked = crate::probe::analysis::thresholds::check(r, f, findings);
    let missed = checked.iter().filter(|c| !c.passed).count();
    if missed > 0 {
        headline += &format!(", but {missed} of {} threshold(s) missed", checked.len());
        if tone == Tone::Good {
            tone = Tone::Warn;
        }
    }
    let mut lines = Vec::new();
    let mut push = |label, text: String, tone| lines.push(Line { label, text, tone });
    request_lines(r, &mut push);
    push("outcome", r.outcome.describe(), tone);
    outcome_lines(r, &mut push);
    function_lines(r, &mut push);
    timing_lines(r, f, &mut push);
    delivery_lines(r, f, &mut push);
    range_lines(r, f, &mut push);
    digest_lines(r, digest_match, &mut push);
    for c in checked {
        push(
            "threshold",
            format!(
                "{} {} (seen: {})",
                if c.passed { "met   " } else { "MISSED" },
                c.expression,
                c.value.as_deref().unwrap_or("not measured in this run")
            ),
            if c.passed { Tone::Good } else { Tone::Bad },
        );
    }
    Summary {
        headline,
        tone,
        lines,
        findings: findings.to_vec(),
    }
}

/// Where the request went: the URL, each redirect, who answered.
fn request_lines(r: &RunResult, push: &mut impl FnMut(&'static str, String, Tone)) {
    push("url", redact_url(&r.request.url), Tone::Info);
    for h in &r.hops {
        push(
            "redirect",
            format!(
                "{} → {} ({})",
                h.status,
                h.next
                    .as_ref()
                    .map_or_else(|| h.location.clone(), redact_url),
                span(h.headers_ns - h.sent_ns)
            ),
            Tone::Info,
        );
    }
    if let Some(m) = &r.response {
        if r.redirect_not_followed() {
            let to = m
                .url
                .join(m.header("location").unwrap_or_default())
                .map_or_else(|_| "an unusable Location".to_string(), |u| redact_url(&u));
            push(
                "redirect",
                format!(
                    "{} → {to}: not followed ({})",
                    m.status,
                    if r.request.max_redirects == 0 {
                        "following redirects is off".to_string()
                    } else {
                        format!(
                            "the limit of {} redirects was reached",
                            r.request.max_redirects
                        )
                    }
                ),
                Tone::Warn,
            );
        }
        if !r.hops.is_empty() {
            push(
                "served by",
                format!("{} (not {})", m.served_by(), host_of(&r.request.url)),
                Tone::Warn,
            );
        }
    }
}

/// A hosted function's log: its REPORT line, and when the run failed, its last lines (its own
/// error, API Gateway's cause).
fn function_lines(r: &RunResult, push: &mut impl FnMut(&'static str, String, Tone)) {
    if let Some(report) = r.function_log.iter().find(|l| l.starts_with("REPORT ")) {
        push("function", report.replace('\t', "  "), Tone::Info);
    }
    if r.outcome == crate::probe::Outcome::Complete {
        return;
    }
    let own: Vec<&String> = r
        .function_log
        .iter()
        .filter(|l| {
            !["START ", "END ", "REPORT "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    for line in own.iter().skip(own.len().saturating_sub(12)) {
        push("function", line.replace('\t', "  "), Tone::Warn);
    }
}

/// How the run ended beyond its outcome: resume, attempts, errors, the file, the status.
fn outcome_lines(r: &RunResult, push: &mut impl FnMut(&'static str, String, Tone)) {
    if r.resumed_from > 0 {
        push(
            "resumed",
            format!(
                "from byte {} of the .part (hashed before the request; the digest covers the whole file)",
                r.resumed_from
            ),
            Tone::Info,
        );
    }
    if r.throttled > 0 {
        let ranges = match (r.request.segments, r.settled_concurrency) {
            (Some(asked), Some(settled)) if settled < asked => {
                format!("; parallel ranges lowered from {asked} to {settled} at a time")
            }
            _ => String::new(),
        };
        push(
            "throttled",
            format!(
                "{} response(s) 429 Too Many Requests, waited out and asked again{ranges}",
                r.throttled
            ),
            Tone::Warn,
        );
    }
    if r.fresh_connection_retries > 0 {
        push(
            "reconnected",
            format!(
                "{} request(s) sent again on a fresh connection: a reused one had been closed by the server (it closes connections without saying 'Connection: close')",
                r.fresh_connection_retries
            ),
            Tone::Info,
        );
    }
    if r.attempts.len() > 1 {
        let list: Vec<String> = r
            .attempts
            .iter()
            .map(|a| {
                format!(
                    "{} from byte {} at {:.2} s: {} B, {}",
                    a.status
                        .map_or_else(|| "no response".to_string(), |s| s.to_string()),
                    a.from_byte,
                    a.started_ns as f64 / 1e9,
                    a.bytes,
                    a.outcome
                )
            })
            .collect();
        push("attempts", list.join("; "), Tone::Info);
    }
    if let Outcome::ConnectError(c) = &r.outcome {
        push("error", c.error.clone(), Tone::Info);
    }
    if let Some(p) = r.error_preview.as_deref().filter(|p| !p.trim().is_empty()) {
        push(
            "body",
            p.chars().take(600).collect::<String>().replace('\n', " "),
            Tone::Info,
        );
    }
    output_line(r, push);
    if let Some(m) = &r.response {
        push(
            "status",
            format!("{} {}", m.status, m.version.label()),
            Tone::Info,
        );
    }
    if r.request.tls.insecure && r.request.url.scheme() == "https" {
        push(
            "tls",
            "certificate verification was OFF: the server's identity was not checked".into(),
            Tone::Warn,
        );
    }
}

/// Where the body went: saved, written straight into a special file, or left as `.part`.
fn output_line(r: &RunResult, push: &mut impl FnMut(&'static str, String, Tone)) {
    if let crate::disk::Dest::Straight(kind) = r.request.dest {
        push(
            "written",
            format!(
                "{} bytes straight into {} (a {}: no .part, nothing renamed)",
                r.output.bytes_written,
                r.request.output.display(),
                kind.label()
            ),
            Tone::Info,
        );
    } else if r.output.saved {
        push(
            "saved",
            format!(
                "{} ({})",
                r.request.output.display(),
                fmt_bytes(r.output.bytes_written)
            ),
            Tone::Good,
        );
    } else if r.output.partial_left {
        push(
            "partial",
            format!(
                "{} bytes left in {} (not complete)",
                r.output.bytes_written,
                r.request.part.display()
            ),
            Tone::Warn,
        );
    }
}

/// How long each part took, and how the bytes came.
fn timing_lines(r: &RunResult, f: &Figures, push: &mut impl FnMut(&'static str, String, Tone)) {
    push(
        "timing",
        format!(
            "headers {}   first byte {}   total {:.2} s",
            ms(r.response.as_ref().map(|m| m.headers_ns as f64 / 1e6)),
            ms(f.first_byte_ms),
            r.duration_s()
        ),
        Tone::Info,
    );
    if let Some(p) = r.phases() {
        push("phases", phases_bar(&p), Tone::Info);
    }
    if r.bytes > 0 {
        let s = &f.summary;
        push(
            "throughput",
            format!(
                "avg {}   peak {} ({} ms windows)",
                rate(f.avg_bytes_per_sec),
                rate(s.peak_bytes_per_sec),
                s.window_ms
            ),
            Tone::Info,
        );
        push(
            "arrivals",
            format!(
                "{} (min {} B, median {} B, max {} B), largest gap {}",
                s.arrivals,
                s.arrival_bytes_min.unwrap_or(0),
                s.arrival_bytes_median.unwrap_or(0),
                s.arrival_bytes_max.unwrap_or(0),
                ms(s.largest_gap_ms)
            ),
            Tone::Info,
        );
    }
}

/// For a body: its size against the 10 MB buffered limit, and whether it streamed.
fn delivery_lines(r: &RunResult, f: &Figures, push: &mut impl FnMut(&'static str, String, Tone)) {
    if r.response.as_ref().is_some_and(|m| m.is_success()) {
        let size = r.expected_length().map_or(r.bytes, |l| l.bytes);
        let text = if size > TEN_MIB {
            format!(
                "{}: over API Gateway's 10 MB buffered limit — only a streaming integration can deliver it",
                fmt_bytes(size)
            )
        } else {
            format!(
                "{}: within API Gateway's 10 MB buffered limit",
                fmt_bytes(size)
            )
        };
        push("size", text, Tone::Info);
        let first = f.first_byte_ms.map_or("–".into(), |v| format!("{v:.0} ms"));
        let span_s = f.body_span_ms.unwrap_or(0.0) / 1000.0;
        let complete = r.outcome.is_complete();
        let (text, tone) = match f.delivery {
            Delivery::Streamed => (
                format!(
                    "streamed: first byte after {first}, {} arrivals over {span_s:.1} s{}",
                    f.summary.arrivals,
                    if complete {
                        String::new()
                    } else {
                        format!(", then the run ended ({})", r.outcome.kind())
                    }
                ),
                if complete { Tone::Good } else { Tone::Info },
            ),
            Delivery::Burst => (
                format!(
                    "arrived as one burst: first byte only after {first}, the rest within {span_s:.1} s — buffered somewhere"
                ),
                Tone::Warn,
            ),
            Delivery::TooSmallToTell => (
                "too small, too few or too fast arrivals to tell streaming from a burst".into(),
                Tone::Info,
            ),
        };
        push("delivery", text, tone);
    }
}

/// Parallel ranges, or the 10 MB knee of a single stream.
fn range_lines(r: &RunResult, f: &Figures, push: &mut impl FnMut(&'static str, String, Tone)) {
    if !r.segments.is_empty() {
        let n = r.segments.len();
        let size = r.segments[0].to - r.segments[0].from + 1;
        let slowest = r
            .segments
            .iter()
            .map(|s| s.ended_ns.saturating_sub(s.started_ns))
            .max()
            .unwrap_or(0);
        let retried: u32 = r.segments.iter().map(|s| s.requests - 1).sum();
        push(
            "segments",
            format!(
                "{n} ranges of up to {}, {} at a time; slowest {:.2} s{}",
                fmt_bytes(size),
                r.request.segments.unwrap_or(1),
                slowest as f64 / 1e9,
                if retried > 0 {
                    format!(", {retried} retried")
                } else {
                    String::new()
                }
            ),
            Tone::Info,
        );
    }
    let sp = &f.split_10mib;
    if sp.crossed_at_s.is_some() && r.segments.is_empty() {
        push(
            "10 MB knee",
            format!(
                "before 10 MiB {}, after {} (AWS throttles to 2 MB/s past 10 MB)",
                rate(sp.before_bytes_per_sec),
                rate(sp.after_bytes_per_sec)
            ),
            Tone::Info,
        );
    }
}

/// Whether the file is intact: the digest compared, and the file's own.
fn digest_lines(
    r: &RunResult,
    digest_match: Option<bool>,
    push: &mut impl FnMut(&'static str, String, Tone),
) {
    let expected = r.expected_digest();
    let digest = match (digest_match, expected.map(|d| d.source)) {
        (Some(true), Some(src)) => Some((format!("matches {}", src_name(src)), Tone::Good)),
        (Some(false), Some(src)) => Some((
            format!(
                "DIFFERS from {} {}",
                src_name(src),
                expected.map(|d| hex::encode(d.sha256)).unwrap_or_default()
            ),
            Tone::Bad,
        )),
        (None, Some(src)) if r.sha256.is_some() && r.bytes > 0 => Some((
            format!(
                "not compared with {}: the body did not arrive complete",
                src_name(src)
            ),
            Tone::Warn,
        )),
        _ if r.sha256.is_some() && r.bytes > 0 => Some((
            "no reference digest to compare with".to_string(),
            Tone::Info,
        )),
        _ => None,
    };
    if let Some((text, tone)) = digest {
        push("digest", text, tone);
    }
    if let Some(sha) = r.sha256 {
        push("sha256", hex::encode(sha), Tone::Info);
    }
}

/// httpstat's breakdown on one line: `[DNS 0.4 ms | TCP 0.1 ms | TLS 2.0 ms | server 30.1 ms |
/// first byte 0.2 ms | body 15.70 s]`.
pub fn phases_bar(p: &Phases) -> String {
    let mut parts = Vec::new();
    if p.redirects_ns > 0 {
        parts.push(format!("redirects {}", span(p.redirects_ns)));
    }
    if p.queue_ns >= 1_000_000 {
        parts.push(format!("client {}", span(p.queue_ns)));
    }
    if p.new_connection {
        parts.push(format!("DNS {}", span(p.dns_ns)));
        match p.tls_ns {
            Some(0) => parts.push(format!("TCP {}", span(p.connect_ns))),
            Some(tls) => {
                parts.push(format!("TCP {}", span(p.connect_ns)));
                parts.push(format!("TLS {}", span(tls)));
            }
            None => parts.push(format!("TCP+TLS {} (not told apart)", span(p.connect_ns))),
        }
    } else {
        parts.push("reused connection".to_string());
    }
    parts.push(format!("server {}", span(p.wait_ns)));
    if let Some(fb) = p.first_byte_ns {
        parts.push(format!("first byte {}", span(fb)));
    }
    if let Some(b) = p.body_ns {
        parts.push(format!("body {}", span(b)));
    }
    format!("[{}]", parts.join(" | "))
}

/// Milliseconds with one decimal below a second, seconds with two above.
fn span(ns: u64) -> String {
    if ns >= 1_000_000_000 {
        format!("{:.2} s", ns as f64 / 1e9)
    } else {
        format!("{:.1} ms", ns as f64 / 1e6)
    }
}

fn src_name(src: crate::probe::fetch::expect::DigestSource) -> &'static str {
    use crate::probe::fetch::expect::DigestSource;
    match src {
        DigestSource::User => "your expected SHA-256",
        DigestSource::ReprDigest => "the server's Repr-Digest",
        DigestSource::AmzChecksumSha256 => "the object's x-amz-checksum-sha256",
    }
}
