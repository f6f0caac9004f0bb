//! Comparing paths: named targets (a URL with its headers and how to fetch it) run one after
//! another, each reduced to one row of the same figures. The CLI (`streamscope compare`) and the
//! app read targets from the same TOML and print or draw the same rows.

use crate::probe::analysis::figures::{Delivery, Figures};
use crate::probe::fetch::outcome::OutcomeKind;
use crate::probe::fetch::request::{HttpVersion, InputError, ProbeRequest, ValidRequest};
use crate::probe::fetch::result::RunResult;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One target as written in `targets.toml`:
///
/// ```toml
/// [[target]]
/// name = "through API Gateway"
/// url = "https://abc.execute-api.eu-west-1.amazonaws.com/prod/big.bin"
/// headers = ["x-api-key: ..."]   # optional
/// http = "auto"                  # auto | http1 | http2
/// segments = 0                   # 0: one stream; N: N parallel ranges
/// aws_sigv4 = "eu-west-1"        # optional: sign with SigV4
/// expect_sha256 = "..."          # optional
/// require = ["first_byte_ms<1000", "after_10mib>=1.9MB/s"]   # optional thresholds
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub headers: Vec<String>,
    #[serde(default)]
    pub http: HttpVersion,
    #[serde(default)]
    pub segments: u32,
    #[serde(default)]
    pub aws_sigv4: Option<String>,
    #[serde(default)]
    pub expect_sha256: Option<String>,
    /// Thresholds this target must meet (see [`crate::probe::require`]).
    #[serde(default)]
    pub require: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetsFile {
    target: Vec<Target>,
}

/// Why a targets file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TargetsError {
    #[error("cannot read {0}: {1}")]
    Unreadable(String, std::io::Error),
    #[error("{0}: {1}")]
    Syntax(String, String),
    #[error("{0}: no [[target]]")]
    Empty(String),
    #[error("{0}: target {1:?}: {2}")]
    Target(String, String, String),
    #[error("{0}: two targets are called {1:?}")]
    Duplicate(String, String),
}

impl Target {
    /// The request for this target, saving its body to `output`.
    pub fn request(&self, output: &Path) -> Result<ProbeRequest, InputError> {
        let headers = self
            .headers
            .iter()
            .map(|h| crate::probe::parse_header_line(h))
            .collect::<Result<_, _>>()?;
        Ok(ProbeRequest {
            headers,
            http_version: self.http,
            segments: (self.segments > 0).then_some(self.segments),
            aws_sigv4: self.aws_sigv4.clone(),
            expect_sha256: self.expect_sha256.clone(),
            require: self.require.clone(),
            ..ProbeRequest::new(self.url.clone(), output)
        })
    }
}

/// Reads and checks a targets file: every target must make a valid request (checked with a
/// throwaway output path in `scratch`).
pub fn read_targets(path: &Path, dir: &Path) -> Result<Vec<Checked>, TargetsError> {
    let name = path.display().to_string();
    let text = crate::disk::read_input_text(path, crate::disk::SMALL_FILE_CAP)
        .map_err(|e| TargetsError::Unreadable(name.clone(), e))?;
    parse_targets(&name, &text, dir)
}

/// A target and its request, validated once (for every view that runs targets).
#[derive(Debug)]
pub struct Checked {
    pub target: Target,
    pub request: ValidRequest,
}

/// Where target `index` saves its body in `dir`: `N-NAME.bin`, the name made file-name-safe.
pub fn output_in(dir: &Path, index: usize, target: &Target) -> std::path::PathBuf {
    let slug: String = target
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    dir.join(format!("{}-{slug}.bin", index + 1))
}

/// Parses a targets file's text (`name` in messages): every target named once and making a
/// valid request, saving into `dir` ([`output_in`]).
pub fn parse_targets(name: &str, text: &str, dir: &Path) -> Result<Vec<Checked>, TargetsError> {
    let file: TargetsFile = toml::from_str(text).map_err(|e| {
        TargetsError::Syntax(
            name.to_string(),
            e.to_string()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .collect::<Vec<_>>()
                .join(" "),
        )
    })?;
    if file.target.is_empty() {
        return Err(TargetsError::Empty(name.to_string()));
    }
    let mut seen = std::collections::HashSet::new();
    let mut checked = Vec::with_capacity(file.target.len());
    for (i, t) in file.target.into_iter().enumerate() {
        if t.name.trim().is_empty() {
            return Err(TargetsError::Target(
                name.into(),
                t.url.clone(),
                "has no name".into(),
            ));
        }
        if !seen.insert(t.name.clone()) {
            return Err(TargetsError::Duplicate(name.into(), t.name.clone()));
        }
        let request = t
            .request(&output_in(dir, i, &t))
            .and_then(|r| r.validate())
            .map_err(|e| TargetsError::Target(name.into(), t.name.clone(), e.to_string()))?;
        checked.push(Checked { target: t, request });
    }
    Ok(checked)
}

/// One target's figures, as the table shows them.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
// Reports are written, not read: this makes the schema refuse unknown (e.g. renamed) fields.
#[serde(deny_unknown_fields)]
pub struct Row {
    pub name: String,
    pub outcome: OutcomeKind,
    pub status: Option<u16>,
    pub first_byte_ms: Option<f64>,
    /// Throughput before and after the first 10 MiB.
    pub before_10mib_bytes_per_sec: Option<f64>,
    pub after_10mib_bytes_per_sec: Option<f64>,
    pub avg_bytes_per_sec: Option<f64>,
    pub bytes: u64,
    pub total_s: f64,
    pub delivery: Delivery,
    /// Whether the body matched its digest (None: none known, or it did not end cleanly).
    pub digest_match: Option<bool>,
}

impl Row {
    pub fn of(name: &str, r: &RunResult, f: &Figures) -> Row {
        Row {
            name: name.to_string(),
            outcome: r.outcome.kind(),
            status: r.response.as_ref().map(|m| m.status),
            first_byte_ms: f.first_byte_ms,
            before_10mib_bytes_per_sec: f.split_10mib.before_bytes_per_sec,
            after_10mib_bytes_per_sec: f.split_10mib.after_bytes_per_sec,
            avg_bytes_per_sec: f.avg_bytes_per_sec,
            bytes: r.bytes,
            total_s: r.duration_s(),
            delivery: f.delivery,
            digest_match: r.digest_match(),
        }
    }

    /// A row that could not run at all (its request was refused before sending).
    pub fn failed(name: &str, outcome: OutcomeKind) -> Row {
        Row {
            name: name.to_string(),
            outcome,
            status: None,
            first_byte_ms: None,
            before_10mib_bytes_per_sec: None,
            after_10mib_bytes_per_sec: None,
            avg_bytes_per_sec: None,
            bytes: 0,
            total_s: 0.0,
            delivery: Delivery::TooSmallToTell,
            digest_match: None,
        }
    }

    /// The table's cells, in [`HEADER`] order.
    pub fn cells(&self) -> [String; 8] {
        let rate = |v: Option<f64>| v.map_or_else(|| "–".into(), crate::units::fmt_rate);
        [
            self.name.clone(),
            match self.status {
                Some(s) if self.outcome == OutcomeKind::HttpError => {
                    format!("{} {s}", self.outcome)
                }
                _ => self.outcome.to_string(),
            },
            self.first_byte_ms
                .map_or_else(|| "–".into(), |v| format!("{v:.0} ms")),
            rate(self.before_10mib_bytes_per_sec),
            rate(self.after_10mib_bytes_per_sec),
            format!("{:.2} s", self.total_s),
            self.delivery.label().to_string(),
            match self.digest_match {
                Some(true) => "verified".into(),
                Some(false) => "MISMATCH".into(),
                None => "–".into(),
            },
        ]
    }
}

pub const HEADER: [&str; 8] = [
    "target",
    "outcome",
    "first byte",
    "before 10 MiB",
    "after 10 MiB",
    "total",
    "delivery",
    "digest",
];

/// One finished target, for the comparison's JSON.
pub struct Compared<'a> {
    pub name: &'a str,
    pub result: &'a RunResult,
    pub figures: &'a Figures,
    pub findings: &'a [crate::probe::analysis::findings::Finding],
}

/// `$id` of `schema/comparison.schema.json` (see [`super::schema`]), and the `$schema` of
/// `compare --json`.
pub const COMPARISON_ID: &str = "urn:streamscope:schema:comparison:1";

/// `compare --json`: every target's row and its full report (secrets redacted, as in any report).
#[derive(Debug, Serialize, schemars::JsonSchema)]
// Reports are written, not read: this makes the schema refuse unknown (e.g. renamed) fields.
#[serde(deny_unknown_fields)]
pub struct Comparison {
    /// [`COMPARISON_ID`], the `$id` of `schema/comparison.schema.json`.
    #[serde(rename = "$schema")]
    pub schema: &'static str,
    pub schema_version: u32,
    pub tool: &'static str,
    pub targets: Vec<ComparedTarget>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
// Reports are written, not read: this makes the schema refuse unknown (e.g. renamed) fields.
#[serde(deny_unknown_fields)]
pub struct ComparedTarget {
    pub row: Row,
    pub report: super::report::Report,
}

impl Comparison {
    pub fn of(items: &[Compared<'_>]) -> Comparison {
        Comparison {
            schema: COMPARISON_ID,
            schema_version: super::report::SCHEMA_VERSION,
            tool: concat!("streamscope ", env!("CARGO_PKG_VERSION")),
            targets: items
                .iter()
                .map(|c| ComparedTarget {
                    row: Row::of(c.name, c.result, c.figures),
                    report: super::report::Report::new(c.result, c.figures, c.findings),
                })
                .collect(),
        }
    }
}

/// Writes the [`Comparison`] of `items` to `path`.
pub fn write_comparison_json(
    path: &std::path::Path,
    items: &[Compared<'_>],
) -> std::io::Result<()> {
    // Serializing plain structs of strings and numbers cannot fail.
    let json = serde_json::to_vec_pretty(&Comparison::of(items)).unwrap_or_default();
    crate::disk::write_whole(path, &json)
}

/// The rows as a text table with aligned columns.
pub fn table(rows: &[Row]) -> String {
    let cells: Vec<[String; 8]> = rows.iter().map(Row::cells).collect();
    let width = |i: usize| {
        cells
            .iter()
            .map(|c| c[i].chars().count())
            .chain([HEADER[i].len()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..8).map(width).collect();
    let line = |cols: Vec<String>| {
        cols.iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(HEADER.iter().map(|h| h.to_string()).collect());
    out.push('\n');
    for c in cells {
        out += &line(c.to_vec());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let ok = parse_targets(
            "t.toml",
            r#"
[[target]]
name = "stream"
url = "http://127.0.0.1:8080/download?size=50MiB"

[[target]]
name = "h2 ranges"
url = "http://127.0.0.1:8080/download?size=50MiB"
http = "http2"
segments = 8
headers = ["x-api-key: k"]
"#,
            dir.path(),
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].target.http, HttpVersion::Http2);
        assert_eq!(ok[1].target.segments, 8);
        assert_eq!(ok[1].request.segments, Some(8));
        assert_eq!(ok[1].request.output, dir.path().join("2-h2-ranges.bin"));
        let bad = |text: &str| {
            parse_targets("t.toml", text, dir.path())
                .unwrap_err()
                .to_string()
        };
        assert!(bad("").contains("missing field"), "{}", bad(""));
        assert!(bad("target = []").contains("no [[target]]"));
        assert!(
            bad("[[target]]\nname = \"a\"\nurl = \"ftp://x\"")
                .contains("target \"a\": unsupported scheme")
        );
        assert!(
            bad("[[target]]\nname = \"a\"\nurl = \"http://x\"\nmode = 1").contains("unknown field")
        );
        assert!(
            bad("[[target]]\nname = \"a\"\nurl = \"http://x\"\n[[target]]\nname = \"a\"\nurl = \"http://y\"")
                .contains("two targets are called \"a\"")
        );
        assert!(
            bad("[[target]]\nname = \"a\"\nurl = \"http://x\"\nheaders = [\"nocolon\"]")
                .contains("malformed header")
        );
    }

    #[test]
    fn the_table_aligns_its_columns() {
        let mut a = Row::failed("stream", OutcomeKind::Complete);
        a.first_byte_ms = Some(12.3);
        a.digest_match = Some(true);
        let mut b = Row::failed("buffered (over 10 MB)", OutcomeKind::HttpError);
        b.status = Some(502);
        let t = table(&[a, b]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        let col = |l: &str| {
            l.find("outcome")
                .or_else(|| l.find("complete"))
                .or_else(|| l.find("http_error"))
        };
        assert_eq!(col(lines[0]), col(lines[1]));
        assert_eq!(col(lines[1]), col(lines[2]));
        assert!(lines[1].contains("12 ms") && lines[1].contains("verified"));
        assert!(lines[2].contains("http_error 502"));
    }
}
