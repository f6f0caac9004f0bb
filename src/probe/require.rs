//! Thresholds a run must meet (`--require first_byte_ms<1000`): what the user typed, checked once
//! into a [`Requirement`] (a known figure, an operator, a value in the figure's unit). Whether a
//! run meets it is [`Requirement::met_by`] over the figure's value, which
//! [`crate::probe::analysis::thresholds`] reads from the run.

use thiserror::Error;

/// A figure of a run that a threshold can name, with the unit its values are compared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    Outcome,
    Delivery,
    Verified,
    FirstByte,
    Headers,
    Duration,
    Bytes,
    AvgRate,
    PeakRate,
    Before10Mib,
    After10Mib,
    Before6Mib,
    After6Mib,
    LargestGap,
    FindingsErrors,
    FindingsWarnings,
    Segments,
    SegmentsFailed,
    SegmentsThrottled,
    Retries,
}

/// How a figure's values are written and compared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Milliseconds; typed as `250ms`, `1.5s`, `2min`, or a bare number in the figure's unit.
    Duration { bare_ms: f64 },
    /// Bytes per second; typed as `1.9MB/s`, `2MiB/s`, or a bare number of MB/s.
    Rate,
    /// Bytes; typed as `50MiB`, `10MB`, or a bare number of bytes.
    Bytes,
    /// A whole number.
    Count,
    /// A word (`streamed`, `complete`, `true`): only `==` and `!=`.
    Word(&'static [&'static str]),
}

impl Figure {
    /// Every figure, by the name a threshold uses.
    pub const ALL: [(&'static str, Figure); 20] = [
        ("outcome", Figure::Outcome),
        ("delivery", Figure::Delivery),
        ("verified", Figure::Verified),
        ("first_byte_ms", Figure::FirstByte),
        ("headers_ms", Figure::Headers),
        ("duration", Figure::Duration),
        ("bytes", Figure::Bytes),
        ("avg", Figure::AvgRate),
        ("peak", Figure::PeakRate),
        ("before_10mib", Figure::Before10Mib),
        ("after_10mib", Figure::After10Mib),
        ("before_6mib", Figure::Before6Mib),
        ("after_6mib", Figure::After6Mib),
        ("largest_gap_ms", Figure::LargestGap),
        ("findings.errors", Figure::FindingsErrors),
        ("findings.warnings", Figure::FindingsWarnings),
        ("segments", Figure::Segments),
        ("segments.failed", Figure::SegmentsFailed),
        ("segments.throttled", Figure::SegmentsThrottled),
        ("retries", Figure::Retries),
    ];

    pub fn name(self) -> &'static str {
        Figure::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }

    pub fn kind(self) -> Kind {
        match self {
            Figure::Outcome => Kind::Word(&[
                "complete",
                "http_error",
                "truncated",
                "stalled",
                "timed_out",
                "digest_mismatch",
                "lambda_stream_error",
                "connect_error",
                "io_error",
                "range_refused",
                "cancelled",
            ]),
            Figure::Delivery => Kind::Word(&["streamed", "burst", "too_small_to_tell"]),
            Figure::Verified => Kind::Word(&["true", "false"]),
            Figure::FirstByte | Figure::Headers | Figure::LargestGap => {
                Kind::Duration { bare_ms: 1.0 }
            }
            Figure::Duration => Kind::Duration { bare_ms: 1000.0 },
            Figure::Bytes => Kind::Bytes,
            Figure::AvgRate
            | Figure::PeakRate
            | Figure::Before10Mib
            | Figure::After10Mib
            | Figure::Before6Mib
            | Figure::After6Mib => Kind::Rate,
            Figure::FindingsErrors
            | Figure::FindingsWarnings
            | Figure::Segments
            | Figure::SegmentsFailed
            | Figure::SegmentsThrottled
            | Figure::Retries => Kind::Count,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    /// Longest first, so `<=` is not read as `<`.
    const SPELLINGS: [(&'static str, Op); 6] = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];

    fn holds(self, seen: f64, want: f64) -> bool {
        match self {
            Op::Lt => seen < want,
            Op::Le => seen <= want,
            Op::Gt => seen > want,
            Op::Ge => seen >= want,
            Op::Eq => seen == want,
            Op::Ne => seen != want,
        }
    }
}

/// What a threshold compares with: a number in the figure's base unit (ms, B/s, B, count) or a
/// word.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Num(f64),
    Word(String),
}

/// One threshold, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Requirement {
    /// As typed (spaces removed): what reports and summaries show.
    pub text: String,
    pub figure: Figure,
    pub op: Op,
    pub want: Value,
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum RequireError {
    #[error(
        "threshold {0:?} is not FIGURE OP VALUE (e.g. first_byte_ms<1000, after_10mib>=1.9MB/s)"
    )]
    Malformed(String),
    #[error("threshold {0:?}: unknown figure {1:?}; known: {known}", known = known_names())]
    UnknownFigure(String, String),
    #[error("threshold {0:?}: {1}")]
    BadValue(String, String),
}

fn known_names() -> String {
    Figure::ALL.map(|(n, _)| n).join(", ")
}

impl Requirement {
    pub fn parse(expr: &str) -> Result<Requirement, RequireError> {
        let text: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
        let malformed = || RequireError::Malformed(expr.trim().to_string());
        let (at, spelling, op) = Op::SPELLINGS
            .iter()
            .filter_map(|(s, op)| text.find(s).map(|i| (i, *s, *op)))
            .min_by_key(|(i, s, _)| (*i, std::cmp::Reverse(s.len())))
            .ok_or_else(malformed)?;
        let (name, value) = (&text[..at], &text[at + spelling.len()..]);
        if name.is_empty() || value.is_empty() {
            return Err(malformed());
        }
        let figure = Figure::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, f)| *f)
            .ok_or_else(|| RequireError::UnknownFigure(text.clone(), name.to_string()))?;
        let bad = |why: String| RequireError::BadValue(text.clone(), why);
        let want = match figure.kind() {
            Kind::Word(words) => {
                if !matches!(op, Op::Eq | Op::Ne) {
                    return Err(bad(format!("{} takes == or != only", figure.name())));
                }
                let w = value.to_ascii_lowercase();
                if !words.contains(&w.as_str()) {
                    return Err(bad(format!(
                        "{} is one of {}",
                        figure.name(),
                        words.join(", ")
                    )));
                }
                Value::Word(w)
            }
            Kind::Duration { bare_ms } => Value::Num(duration_ms(value, bare_ms).map_err(bad)?),
            Kind::Rate => Value::Num(rate(value).map_err(bad)?),
            Kind::Bytes => {
                Value::Num(crate::units::parse_size(value).map_err(|e| bad(e.to_string()))? as f64)
            }
            Kind::Count => Value::Num(
                value
                    .parse::<u64>()
                    .map_err(|_| bad(format!("{value:?} is not a whole number")))?
                    as f64,
            ),
        };
        Ok(Requirement {
            text,
            figure,
            op,
            want,
        })
    }

    /// Whether a run whose figure is `seen` meets this threshold. A figure the run does not have
    /// (no bytes after 10 MiB, no digest to verify) does not meet it.
    pub fn met_by(&self, seen: Option<&Value>) -> bool {
        match (seen, &self.want) {
            (Some(Value::Num(s)), Value::Num(w)) => self.op.holds(*s, *w),
            (Some(Value::Word(s)), Value::Word(w)) => match self.op {
                Op::Eq => s == w,
                Op::Ne => s != w,
                _ => false,
            },
            _ => false,
        }
    }
}

/// `250ms`, `1.5s`, `2min` or a bare number of `bare_ms` milliseconds.
fn duration_ms(value: &str, bare_ms: f64) -> Result<f64, String> {
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (num, unit) = value.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{value:?} is not a duration (e.g. 800ms, 1.5s, 2min)"))?;
    let scale = match unit.to_ascii_lowercase().as_str() {
        "" => bare_ms,
        "ms" => 1.0,
        "s" => 1000.0,
        "min" => 60_000.0,
        other => return Err(format!("unknown time unit {other:?}: use ms, s or min")),
    };
    Ok(n * scale)
}

/// `1.9MB/s`, `2MiB/s`, `500KB/s` or a bare number of MB/s (as the summary prints rates).
fn rate(value: &str) -> Result<f64, String> {
    match value
        .strip_suffix("/s")
        .or_else(|| value.strip_suffix("/S"))
    {
        Some(size) => crate::units::parse_size(size)
            .map(|b| b as f64)
            .map_err(|_| format!("{value:?} is not a rate (e.g. 1.9MB/s, 2MiB/s)")),
        None => value
            .parse::<f64>()
            .map(|mb| mb * 1e6)
            .map_err(|_| format!("{value:?} is not a rate (e.g. 1.9MB/s, or 1.9 for MB/s)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_in_the_units_the_cli_prints() {
        let ok: Vec<(&str, Figure, Op, Value)> = vec![
            (
                "first_byte_ms<1000",
                Figure::FirstByte,
                Op::Lt,
                Value::Num(1000.0),
            ),
            (
                "first_byte_ms <= 1.5s",
                Figure::FirstByte,
                Op::Le,
                Value::Num(1500.0),
            ),
            (
                "after_10mib>=1.9MB/s",
                Figure::After10Mib,
                Op::Ge,
                Value::Num(1.9e6),
            ),
            (
                "after_10mib>=2MiB/s",
                Figure::After10Mib,
                Op::Ge,
                Value::Num(2097152.0),
            ),
            ("avg>1.9", Figure::AvgRate, Op::Gt, Value::Num(1.9e6)),
            (
                "delivery==streamed",
                Figure::Delivery,
                Op::Eq,
                Value::Word("streamed".into()),
            ),
            (
                "outcome!=Truncated",
                Figure::Outcome,
                Op::Ne,
                Value::Word("truncated".into()),
            ),
            (
                "findings.errors==0",
                Figure::FindingsErrors,
                Op::Eq,
                Value::Num(0.0),
            ),
            (
                "duration<60s",
                Figure::Duration,
                Op::Lt,
                Value::Num(60_000.0),
            ),
            (
                "duration<60",
                Figure::Duration,
                Op::Lt,
                Value::Num(60_000.0),
            ),
            (
                "duration<2min",
                Figure::Duration,
                Op::Lt,
                Value::Num(120_000.0),
            ),
            (
                "bytes>=50MiB",
                Figure::Bytes,
                Op::Ge,
                Value::Num(52428800.0),
            ),
            (
                "segments.throttled==0",
                Figure::SegmentsThrottled,
                Op::Eq,
                Value::Num(0.0),
            ),
        ];
        for (text, figure, op, want) in ok {
            let r = Requirement::parse(text).unwrap();
            assert_eq!((r.figure, r.op, r.want), (figure, op, want), "{text}");
        }
        let bad: Vec<(&str, &str)> = vec![
            ("first_byte_ms", "is not FIGURE OP VALUE"),
            ("<1000", "is not FIGURE OP VALUE"),
            ("first_byte_ms<", "is not FIGURE OP VALUE"),
            ("first_bite_ms<1000", "unknown figure \"first_bite_ms\""),
            ("delivery<streamed", "takes == or != only"),
            ("delivery==fast", "is one of streamed"),
            ("first_byte_ms<1h", "unknown time unit"),
            ("after_10mib>=fast", "is not a rate"),
            ("findings.errors==0.5", "not a whole number"),
            ("bytes>=lots", "is not a size"),
        ];
        for (text, says) in bad {
            let e = Requirement::parse(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
            assert_eq!(e.lines().count(), 1);
        }
    }

    #[test]
    fn a_missing_figure_never_meets_a_threshold() {
        let r = Requirement::parse("after_10mib>=1.9MB/s").unwrap();
        assert!(r.met_by(Some(&Value::Num(2.0e6))));
        assert!(!r.met_by(Some(&Value::Num(1.0e6))));
        assert!(!r.met_by(None));
        let d = Requirement::parse("delivery!=burst").unwrap();
        assert!(d.met_by(Some(&Value::Word("streamed".into()))));
        assert!(!d.met_by(Some(&Value::Word("burst".into()))));
        assert!(!d.met_by(None));
    }
}
