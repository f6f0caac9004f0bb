//! The verdict in plain words, from a finished report. UI-free: the app shows it, "Copy summary"
//! copies it, and the CLI could print it.

use super::Report;
use super::report::Outcome;
use super::stats::{Arrival, TEN_MIB};
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
pub struct Verdict {
    pub headline: String,
    pub tone: Tone,
    pub lines: Vec<Line>,
}

/// How the body arrived over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Bytes arrived spread over the run, starting early.
    Streamed,
    /// Nothing for most of the run, then everything at once: buffered somewhere.
    Burst,
    TooSmallToTell,
}

impl Delivery {
    pub fn label(self) -> &'static str {
        match self {
            Delivery::Streamed => "streamed",
            Delivery::Burst => "burst",
            Delivery::TooSmallToTell => "too_small_to_tell",
        }
    }
}

/// A burst when the first body byte came after 80 % of the run, or after half of it with the middle
/// 80 % of the bytes then arriving within a tenth of the run; streamed otherwise. Bodies under
/// 256 KiB, under 4 arrivals or runs under 200 ms are too small or fast to tell.
pub fn delivery(timeline: &[Arrival], bytes: u64, duration_ms: f64) -> Delivery {
    let end_ns = duration_ms * 1e6;
    if bytes < 256 * 1024 || timeline.len() < 4 || end_ns < 200e6 {
        return Delivery::TooSmallToTell;
    }
    let first = timeline[0].t_offset_ns as f64;
    let at_fraction = |f: f64| {
        let target = (bytes as f64 * f) as u64;
        let mut cum = 0u64;
        timeline
            .iter()
            .find(|a| {
                cum += a.bytes as u64;
                cum >= target
            })
            .map_or(end_ns, |a| a.t_offset_ns as f64)
    };
    let middle_ns = at_fraction(0.9) - at_fraction(0.1);
    if first > 0.8 * end_ns || (first > 0.5 * end_ns && middle_ns < 0.1 * end_ns) {
        Delivery::Burst
    } else {
        Delivery::Streamed
    }
}

pub fn verdict(r: &Report) -> Verdict {
    let mut lines = Vec::new();
    let o = &r.outcome_value;
    let (headline, tone) = match o {
        Outcome::Complete => (
            format!(
                "Complete: {} arrived{}",
                fmt_bytes(r.bytes),
                if r.digest_match == Some(true) {
                    " and verified"
                } else {
                    ""
                }
            ),
            Tone::Good,
        ),
        Outcome::HttpError { status, .. } => (format!("HTTP error {status}"), Tone::Bad),
        Outcome::Truncated { .. } => (format!("Truncated after {}", fmt_bytes(r.bytes)), Tone::Bad),
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
        Outcome::LambdaStreamError { error_type, .. } => {
            (format!("Lambda stream error ({error_type})"), Tone::Bad)
        }
        Outcome::Cancelled => (
            format!("Cancelled after {}", fmt_bytes(r.bytes)),
            Tone::Warn,
        ),
        Outcome::ConnectError { .. } => ("Could not connect".into(), Tone::Bad),
        Outcome::IoError { .. } => ("Could not save the file".into(), Tone::Bad),
    };
    lines.push(Line {
        label: "outcome",
        text: o.describe(),
        tone,
    });
    if let Some(preview) = r
        .http_error_body_preview
        .as_deref()
        .filter(|p| !p.trim().is_empty())
    {
        lines.push(Line {
            label: "body",
            text: preview.chars().take(600).collect(),
            tone: Tone::Info,
        });
    }
    if r.output.saved {
        lines.push(Line {
            label: "saved",
            text: r.output.path.clone(),
            tone: Tone::Good,
        });
    } else if r.output.partial_left {
        lines.push(Line {
            label: "partial",
            text: format!(
                "{} bytes left in {} (not complete)",
                r.bytes, r.output.part_path
            ),
            tone: Tone::Warn,
        });
    }
    if r.response.is_some() && !matches!(o, Outcome::HttpError { .. }) {
        let size = r.expected_bytes.unwrap_or(r.bytes);
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
        lines.push(Line {
            label: "size",
            text,
            tone: Tone::Info,
        });
        let first = r
            .first_byte_ms
            .map(|v| format!("{v:.0} ms"))
            .unwrap_or_else(|| "–".into());
        let (text, tone) = match r.delivery {
            Delivery::Streamed => (
                format!(
                    "streamed: first byte after {first} of {:.1} s, {} arrivals spread over the run",
                    r.duration_ms / 1000.0,
                    r.summary.arrivals
                ),
                Tone::Good,
            ),
            Delivery::Burst => (
                format!(
                    "arrived as one burst: first byte only after {first} of {:.1} s — buffered somewhere",
                    r.duration_ms / 1000.0
                ),
                Tone::Warn,
            ),
            Delivery::TooSmallToTell => (
                "too small or too few arrivals to tell streaming from a burst".into(),
                Tone::Info,
            ),
        };
        lines.push(Line {
            label: "streaming",
            text,
            tone,
        });
    }
    let digest = match (r.digest_match, r.expected_sha256_source) {
        (Some(true), Some("repr-digest")) => {
            ("matches the server's Repr-Digest".to_string(), Tone::Good)
        }
        (Some(true), Some("user")) => ("matches your expected SHA-256".to_string(), Tone::Good),
        (Some(true), Some(src)) => (format!("matches {src}"), Tone::Good),
        (Some(false), Some(src)) => (format!("DIFFERS from {src}"), Tone::Bad),
        (None, Some(src)) if r.bytes > 0 => (
            format!("not compared with {src}: the body did not arrive complete"),
            Tone::Warn,
        ),
        _ if r.sha256.is_some() && r.bytes > 0 => (
            "no reference digest to compare with".to_string(),
            Tone::Info,
        ),
        _ => (String::new(), Tone::Info),
    };
    if !digest.0.is_empty() {
        lines.push(Line {
            label: "digest",
            text: digest.0,
            tone: digest.1,
        });
        if let Some(sha) = &r.sha256 {
            lines.push(Line {
                label: "sha256",
                text: sha.clone(),
                tone: Tone::Info,
            });
        }
    }
    let sp = &r.throughput_split_10mib;
    if sp.crossed_at_s.is_some() {
        let f = |v: Option<f64>| v.map(fmt_rate).unwrap_or_else(|| "–".into());
        lines.push(Line {
            label: "10 MB knee",
            text: format!(
                "before 10 MiB {}, after {} (AWS throttles to 2 MB/s past 10 MB)",
                f(sp.before_bytes_per_sec),
                f(sp.after_bytes_per_sec)
            ),
            tone: Tone::Info,
        });
    }
    Verdict {
        headline,
        tone,
        lines,
    }
}

/// Plain text for the clipboard.
pub fn summary_text(r: &Report) -> String {
    let v = verdict(r);
    let mut s = format!("streamscope: {}\n{}\n", v.headline, r.request.url);
    for l in &v.lines {
        s += &format!("{:<10} {}\n", l.label, l.text);
    }
    let ms = |v: Option<f64>| {
        v.map(|v| format!("{v:.1} ms"))
            .unwrap_or_else(|| "–".into())
    };
    s += &format!(
        "timing     headers {}, first byte {}, total {:.2} s, avg {}, peak {}\n",
        ms(r.headers_ms),
        ms(r.first_byte_ms),
        r.duration_ms / 1000.0,
        r.avg_bytes_per_sec
            .map(fmt_rate)
            .unwrap_or_else(|| "–".into()),
        r.summary
            .peak_bytes_per_sec
            .map(fmt_rate)
            .unwrap_or_else(|| "–".into()),
    );
    s
}
