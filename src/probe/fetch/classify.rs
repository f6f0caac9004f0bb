//! How a run ended, decided from plain facts about its body. No I/O: the engine gathers the facts,
//! [`classify`] decides, the table test below covers every outcome and every precedence question.

use super::expect::{ExpectedDigest, ExpectedLength};
use super::outcome::{IoFailure, LambdaError, Outcome, Truncation};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

pub const LAMBDA_ERROR_TYPE: &str = "Lambda-Runtime-Function-Error-Type: ";
pub const LAMBDA_ERROR_BODY: &str = "Lambda-Runtime-Function-Error-Body: ";
/// Enough of the body's end to hold the Lambda runtime's error text with a long message.
pub const TAIL_KEEP: usize = 16 * 1024;
/// Error types are short identifiers (`Runtime.StreamError`, `TypeError`).
const MAX_ERROR_TYPE: usize = 256;

/// How reading the body stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyEnd {
    /// The server ended the body (end of a chunked body, of the Content-Length, END_STREAM).
    Clean,
    /// The connection broke mid-body (reset, closed before the announced end, stream aborted).
    Broke {
        error: String,
    },
    /// No byte for the idle timeout.
    Stalled {
        idle_s: f64,
    },
    /// The overall time limit ran out.
    TimedOut {
        limit_s: f64,
    },
    Cancelled,
    /// What arrived could not be written to the file.
    WriteFailed(IoFailure),
}

/// Everything [`classify`] looks at.
#[derive(Debug, Clone)]
pub struct BodyFacts<'a> {
    pub end: BodyEnd,
    /// Body bytes received.
    pub bytes: u64,
    pub length: Option<ExpectedLength>,
    pub digest: Option<ExpectedDigest>,
    /// SHA-256 of the bytes received (None when they could not all be hashed).
    pub actual_sha256: Option<[u8; 32]>,
    /// The last bytes of the body (at least [`TAIL_KEEP`] when the body is longer).
    pub tail: &'a [u8],
}

/// Decides how a run whose response had a success status ended.
///
/// Precedence: the user's cancel; a failed write (the file is not what arrived); the time limit;
/// the idle timeout; a broken connection (the Lambda runtime's error text, when it is the very
/// last bytes, names the cause); then, for a body that ended cleanly: a length that did not match
/// is a truncation (or the Lambda error, when its text is the last bytes); a matching digest means
/// complete whatever the content; with no announced length the Lambda error text at the very end
/// means the function failed; a digest that differs is a mismatch; anything else is complete.
pub fn classify(f: BodyFacts<'_>) -> Outcome {
    let lambda = || parse_lambda_tail(f.tail).map(Outcome::LambdaStreamError);
    match f.end {
        BodyEnd::Cancelled => Outcome::Cancelled,
        BodyEnd::WriteFailed(io) => Outcome::IoError(io),
        BodyEnd::TimedOut { limit_s } => Outcome::TimedOut { limit_s },
        BodyEnd::Stalled { idle_s } => Outcome::Stalled { idle_s },
        BodyEnd::Broke { error } => {
            lambda().unwrap_or(Outcome::Truncated(Truncation::ConnectionBroke {
                after_bytes: f.bytes,
                error,
            }))
        }
        BodyEnd::Clean => {
            if let Some(l) = f.length.filter(|l| l.bytes != f.bytes) {
                return lambda().unwrap_or(Outcome::Truncated(Truncation::LengthMismatch {
                    got: f.bytes,
                    announced: l.bytes,
                    source: l.source,
                }));
            }
            let digest = f.digest.zip(f.actual_sha256);
            if digest.is_some_and(|(want, got)| want.sha256 == got) {
                return Outcome::Complete;
            }
            if f.length.is_none()
                && let Some(o) = lambda()
            {
                return o;
            }
            match digest {
                Some((want, got)) => Outcome::DigestMismatch {
                    expected: want.sha256,
                    actual: got,
                },
                None => Outcome::Complete,
            }
        }
    }
}

/// The Lambda runtime's stream-error text, only when it is exactly the last bytes of the body:
/// `Lambda-Runtime-Function-Error-Type: <type>\r\nLambda-Runtime-Function-Error-Body: <base64>\r\n`
/// (what lambda_runtime 1.x, and so the Lambda Web Adapter, write into the body).
pub fn parse_lambda_tail(tail: &[u8]) -> Option<LambdaError> {
    let at = find_last(tail, LAMBDA_ERROR_TYPE.as_bytes())?;
    let rest = tail[at + LAMBDA_ERROR_TYPE.len()..].strip_suffix(b"\r\n")?;
    let (error_type, body_line) = split_once(rest, b"\r\n")?;
    let b64 = body_line.strip_prefix(LAMBDA_ERROR_BODY.as_bytes())?;
    let type_ok = !error_type.is_empty()
        && error_type.len() <= MAX_ERROR_TYPE
        && error_type.iter().all(|b| b.is_ascii_graphic());
    if !type_ok {
        return None;
    }
    let body = B64.decode(b64).ok()?;
    Some(LambdaError {
        error_type: String::from_utf8_lossy(error_type).into_owned(),
        error_body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

fn split_once<'a>(s: &'a [u8], sep: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let i = s.windows(sep.len()).position(|w| w == sep)?;
    Some((&s[..i], &s[i + sep.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::fetch::expect::{DigestSource, LengthSource};
    use crate::probe::fetch::outcome::OutcomeKind;

    fn lambda_text(msg: &str) -> Vec<u8> {
        format!(
            "{LAMBDA_ERROR_TYPE}Runtime.StreamError\r\n{LAMBDA_ERROR_BODY}{}\r\n",
            B64.encode(msg)
        )
        .into_bytes()
    }

    #[test]
    fn the_lambda_text_counts_only_as_the_very_last_bytes() {
        let mut body = b"data".to_vec();
        body.extend(lambda_text("boom: upstream closed"));
        let e = parse_lambda_tail(&body).unwrap();
        assert_eq!(
            (e.error_type.as_str(), e.error_body.as_str()),
            ("Runtime.StreamError", "boom: upstream closed")
        );
        let mut after = body.clone();
        after.extend(b"more data after the text");
        assert_eq!(parse_lambda_tail(&after), None, "text followed by data");
        assert_eq!(parse_lambda_tail(&body[..body.len() - 2]), None, "no CRLF");
        // A log line that merely mentions the header, as CloudWatch exports and source files do.
        let log = b"grep for Lambda-Runtime-Function-Error-Type: in the logs\n";
        assert_eq!(parse_lambda_tail(log), None);
        let mut bad_b64 = b"x".to_vec();
        bad_b64.extend(format!("{LAMBDA_ERROR_TYPE}T\r\n{LAMBDA_ERROR_BODY}!!!\r\n").as_bytes());
        assert_eq!(parse_lambda_tail(&bad_b64), None);
        let spaced = format!("{LAMBDA_ERROR_TYPE}two words\r\n{LAMBDA_ERROR_BODY}\r\n");
        assert_eq!(parse_lambda_tail(spaced.as_bytes()), None);
    }

    /// Every outcome, and every precedence question, as rows of plain facts.
    #[test]
    fn classify_table() {
        let content = b"abcdefgh".to_vec();
        let mut with_text = content.clone();
        with_text.extend(lambda_text("boom"));
        let sha = |b: &[u8]| -> [u8; 32] { <sha2::Sha256 as sha2::Digest>::digest(b).into() };
        let len = |n: usize| {
            Some(ExpectedLength {
                bytes: n as u64,
                source: LengthSource::ContentLength,
            })
        };
        let dig = |b: &[u8]| {
            Some(ExpectedDigest {
                sha256: sha(b),
                source: DigestSource::ReprDigest,
            })
        };
        let io = IoFailure {
            doing: "writing x.part".into(),
            error: "No space left on device".into(),
        };
        let broke = BodyEnd::Broke {
            error: "reset".into(),
        };
        use BodyEnd::*;
        use OutcomeKind as K;
        // (what the row shows, end, body, announced length, announced digest, expected kind)
        type Row<'a> = (
            &'a str,
            BodyEnd,
            &'a [u8],
            Option<ExpectedLength>,
            Option<ExpectedDigest>,
            K,
        );
        let rows: Vec<Row> = vec![
            ("plain clean end", Clean, &content, None, None, K::Complete),
            ("length matched", Clean, &content, len(8), None, K::Complete),
            (
                "length and digest matched",
                Clean,
                &content,
                len(8),
                dig(&content),
                K::Complete,
            ),
            (
                "a file that ends with the Lambda text, length matched: complete whatever its content",
                Clean,
                &with_text,
                len(with_text.len()),
                None,
                K::Complete,
            ),
            (
                "the Lambda text, length and digest matched",
                Clean,
                &with_text,
                len(with_text.len()),
                dig(&with_text),
                K::Complete,
            ),
            (
                "the Lambda text, no length, digest matched: the server meant these bytes",
                Clean,
                &with_text,
                None,
                dig(&with_text),
                K::Complete,
            ),
            (
                "the Lambda text, no length (chunked): the function failed",
                Clean,
                &with_text,
                None,
                None,
                K::LambdaStreamError,
            ),
            (
                "the Lambda text, no length, digest of the intended body differs",
                Clean,
                &with_text,
                None,
                dig(&content),
                K::LambdaStreamError,
            ),
            (
                "the Lambda text, length did not match",
                Clean,
                &with_text,
                len(100),
                None,
                K::LambdaStreamError,
            ),
            (
                "the Lambda text, then the connection broke",
                broke.clone(),
                &with_text,
                len(100),
                None,
                K::LambdaStreamError,
            ),
            (
                "length matched, digest differs: not the Lambda text's business",
                Clean,
                &with_text,
                len(with_text.len()),
                dig(&content),
                K::DigestMismatch,
            ),
            (
                "short body, clean end",
                Clean,
                &content,
                len(9),
                dig(&content),
                K::Truncated,
            ),
            (
                "long body (remapped length)",
                Clean,
                &content,
                len(7),
                None,
                K::Truncated,
            ),
            (
                "no length, digest differs",
                Clean,
                &content,
                None,
                dig(b"other"),
                K::DigestMismatch,
            ),
            (
                "connection broke",
                broke.clone(),
                &content,
                len(9),
                dig(&content),
                K::Truncated,
            ),
            (
                "connection broke, no length",
                broke,
                &content,
                None,
                None,
                K::Truncated,
            ),
            (
                "stalled, even with every byte in",
                Stalled { idle_s: 3.0 },
                &content,
                len(8),
                dig(&content),
                K::Stalled,
            ),
            (
                "timed out wins over stalled facts",
                TimedOut { limit_s: 1.0 },
                &with_text,
                None,
                None,
                K::TimedOut,
            ),
            (
                "a write failure wins over a clean-looking body",
                WriteFailed(io.clone()),
                &content,
                len(8),
                dig(&content),
                K::IoError,
            ),
            (
                "cancel wins over everything",
                Cancelled,
                &with_text,
                None,
                None,
                K::Cancelled,
            ),
        ];
        for (what, end, body, length, digest, want) in rows {
            let got = classify(BodyFacts {
                end,
                bytes: body.len() as u64,
                length,
                digest,
                actual_sha256: Some(sha(body)),
                tail: body,
            });
            assert_eq!(got.kind(), want, "{what}: {got:?}");
        }
        // The payloads carry the facts.
        let o = classify(BodyFacts {
            end: Clean,
            bytes: 8,
            length: len(9),
            digest: None,
            actual_sha256: Some(sha(&content)),
            tail: &content,
        });
        assert_eq!(
            o,
            Outcome::Truncated(Truncation::LengthMismatch {
                got: 8,
                announced: 9,
                source: LengthSource::ContentLength
            })
        );
        assert_eq!(
            o.describe(),
            "truncated: 8 bytes arrived, content-length announced 9"
        );
        let o = classify(BodyFacts {
            end: Clean,
            bytes: 8,
            length: None,
            digest: dig(b"x"),
            actual_sha256: Some(sha(&content)),
            tail: &content,
        });
        assert_eq!(
            o,
            Outcome::DigestMismatch {
                expected: sha(b"x"),
                actual: sha(&content)
            }
        );
    }
}
