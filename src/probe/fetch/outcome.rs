//! How a run ended, as a typed value. [`super::classify`] decides it from plain facts; reports,
//! the printed summary and the app only render it.

use super::expect::LengthSource;
use serde::Serialize;

/// The outcome's name in reports and exit messages (`"complete"`, `"http_error"`, ...).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Complete,
    HttpError,
    Truncated,
    Stalled,
    TimedOut,
    DigestMismatch,
    LambdaStreamError,
    Cancelled,
    ConnectError,
    IoError,
    RangeRefused,
}

impl OutcomeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Complete => "complete",
            OutcomeKind::HttpError => "http_error",
            OutcomeKind::Truncated => "truncated",
            OutcomeKind::Stalled => "stalled",
            OutcomeKind::TimedOut => "timed_out",
            OutcomeKind::DigestMismatch => "digest_mismatch",
            OutcomeKind::LambdaStreamError => "lambda_stream_error",
            OutcomeKind::Cancelled => "cancelled",
            OutcomeKind::ConnectError => "connect_error",
            OutcomeKind::IoError => "io_error",
            OutcomeKind::RangeRefused => "range_refused",
        }
    }
}

impl std::fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a run ended. Only `Complete` means every byte arrived (and matched its digest, where one
/// was known) and the file is under its final name.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Complete,
    /// The server answered with a non-2xx status.
    HttpError {
        status: u16,
    },
    Truncated(Truncation),
    /// No byte for the idle timeout.
    Stalled {
        idle_s: f64,
    },
    /// The overall time limit ran out while bytes were still coming.
    TimedOut {
        limit_s: f64,
    },
    DigestMismatch {
        expected: [u8; 32],
        actual: [u8; 32],
    },
    /// The body ends with the text the Lambda runtime writes on a mid-stream error.
    LambdaStreamError(LambdaError),
    Cancelled,
    /// No response at all: DNS, refused connection, TLS, connect timeout.
    ConnectError(ConnectFailure),
    /// Local I/O: disk full, unwritable path, failed rename.
    IoError(IoFailure),
    /// The server's answer cannot continue or assemble this download: the whole object (200)
    /// to a range request, another range, a changed ETag, 416. The `.part` is left as it was.
    RangeRefused(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Truncation {
    /// The connection broke (reset, closed early, aborted stream) after `after_bytes`.
    ConnectionBroke { after_bytes: u64, error: String },
    /// The body ended cleanly, but not at the announced length.
    LengthMismatch {
        got: u64,
        announced: u64,
        source: LengthSource,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaError {
    pub error_type: String,
    /// The decoded error message.
    pub error_body: String,
}

/// Why no response arrived, told apart so the user knows what to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectCause {
    /// The name did not resolve.
    Dns,
    /// Nothing listens on that port.
    Refused,
    /// No connection within the connect timeout.
    Timeout,
    /// The server's certificate chain ends at a root that is not trusted.
    CertificateUntrusted,
    /// The certificate is not valid for the host name in the URL.
    CertificateNameMismatch,
    /// The certificate has expired or is not valid yet.
    CertificateExpired,
    /// Another TLS failure (handshake, protocol, other certificate problem).
    Tls,
    /// No AWS credentials (or region) to sign the request with.
    Credentials,
    /// The connection closed before a response (on a reused connection, after one retry on a
    /// fresh one).
    ClosedBeforeResponse,
    /// The response head is larger than the client reads.
    HeadersTooLarge,
    /// The response's Content-Length is not a valid length.
    InvalidContentLength,
    /// The status line is not `HTTP/x.y NNN reason`.
    MalformedStatusLine,
    /// Another violation of HTTP in the response head.
    InvalidResponse,
    Other,
}

impl ConnectCause {
    /// The server answered, but not in valid HTTP.
    pub fn is_protocol(self) -> bool {
        matches!(
            self,
            ConnectCause::HeadersTooLarge
                | ConnectCause::InvalidContentLength
                | ConnectCause::MalformedStatusLine
                | ConnectCause::InvalidResponse
        )
    }

    /// One plain phrase, with what to change where there is something to change.
    pub fn explain(self) -> &'static str {
        match self {
            ConnectCause::Dns => "the host name did not resolve (DNS)",
            ConnectCause::Refused => "connection refused: nothing listens on that port",
            ConnectCause::Timeout => "no connection within the connect timeout",
            ConnectCause::CertificateUntrusted => {
                "certificate not trusted: its issuer is not among the trusted roots (add the CA certificate, or turn verification off)"
            }
            ConnectCause::CertificateNameMismatch => {
                "certificate name mismatch: the certificate is not valid for this host name"
            }
            ConnectCause::CertificateExpired => {
                "certificate expired or not yet valid (check the server's certificate and this machine's clock)"
            }
            ConnectCause::Tls => "the TLS handshake failed",
            ConnectCause::Credentials => {
                "no AWS credentials to sign with (environment, profile, SSO or role; see the error)"
            }
            ConnectCause::ClosedBeforeResponse => {
                "the server closed the connection before answering"
            }
            ConnectCause::HeadersTooLarge => {
                "the response headers are too large (the server sent more header bytes than any client reads)"
            }
            ConnectCause::InvalidContentLength => {
                "the response's Content-Length is not a valid length (not a non-negative number, or two that differ)"
            }
            ConnectCause::MalformedStatusLine => {
                "the response's status line is malformed (not 'HTTP/1.1 200 OK')"
            }
            ConnectCause::InvalidResponse => "the response is not valid HTTP (a malformed header)",
            ConnectCause::Other => "the connection failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConnectFailure {
    pub cause: ConnectCause,
    /// The underlying error chain, for whoever needs the detail.
    pub error: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IoFailure {
    /// What was being done: "creating /x/y.bin.part", "writing ...", "renaming ...".
    pub doing: String,
    pub error: String,
}

impl Outcome {
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::Complete => OutcomeKind::Complete,
            Outcome::HttpError { .. } => OutcomeKind::HttpError,
            Outcome::Truncated(_) => OutcomeKind::Truncated,
            Outcome::Stalled { .. } => OutcomeKind::Stalled,
            Outcome::TimedOut { .. } => OutcomeKind::TimedOut,
            Outcome::DigestMismatch { .. } => OutcomeKind::DigestMismatch,
            Outcome::LambdaStreamError(_) => OutcomeKind::LambdaStreamError,
            Outcome::Cancelled => OutcomeKind::Cancelled,
            Outcome::ConnectError(_) => OutcomeKind::ConnectError,
            Outcome::IoError(_) => OutcomeKind::IoError,
            Outcome::RangeRefused(_) => OutcomeKind::RangeRefused,
        }
    }

    pub fn is_complete(&self) -> bool {
        matches!(self, Outcome::Complete)
    }

    /// Whether the body ended the way the server meant it to (so its digest says something about
    /// the content, not about the transport).
    pub fn body_ended_cleanly(&self) -> bool {
        matches!(self, Outcome::Complete | Outcome::DigestMismatch { .. })
    }

    /// One plain sentence.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Complete => "complete: every byte arrived".to_string(),
            Outcome::HttpError { status } => format!("HTTP error: status {status}"),
            Outcome::Truncated(Truncation::ConnectionBroke { after_bytes, error }) => {
                format!("truncated: the connection broke after {after_bytes} bytes: {error}")
            }
            Outcome::Truncated(Truncation::LengthMismatch {
                got,
                announced,
                source,
            }) => format!(
                "truncated: {got} bytes arrived, {} announced {announced}",
                source.header()
            ),
            Outcome::Stalled { idle_s } => format!("stalled: no byte for {idle_s:.1} s"),
            Outcome::TimedOut { limit_s } => format!("timed out: the {limit_s:.1} s limit ran out"),
            Outcome::DigestMismatch { expected, actual } => format!(
                "digest mismatch: expected sha256 {}, got {}",
                hex::encode(expected),
                hex::encode(actual)
            ),
            Outcome::LambdaStreamError(e) => {
                format!("Lambda stream error {}: {}", e.error_type, e.error_body)
            }
            Outcome::Cancelled => "cancelled".to_string(),
            Outcome::ConnectError(f) if f.cause.is_protocol() => {
                format!("invalid response: {}", f.cause.explain())
            }
            Outcome::ConnectError(f) => format!("connection failed: {}", f.cause.explain()),
            Outcome::IoError(f) => format!("I/O error {}: {}", f.doing, f.error),
            Outcome::RangeRefused(why) => format!("refused to continue: {why}"),
        }
    }
}

/// The error and its sources, each said once.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let s_text = s.to_string();
        if !msg.contains(&s_text) {
            msg.push_str(": ");
            msg.push_str(&s_text);
        }
        src = s.source();
    }
    msg
}
