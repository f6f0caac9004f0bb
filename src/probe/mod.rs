//! The download engine: a reqwest stream into a `.part` file, SHA-256 as it writes, every arrival
//! timed. No GUI code here: the CLI and the app are two views of these events and this report.

pub mod engine;
pub mod report;
pub mod request;
pub mod stats;
pub mod verdict;

pub use engine::run;
pub use report::{Outcome, Report};
pub use request::{HttpVersion, InputError, ProbeRequest, ValidRequest, parse_header_line};
pub use stats::Arrival;

/// What the response announced, as soon as its headers are in.
#[derive(Debug, Clone)]
pub struct ResponseMeta {
    pub status: u16,
    pub http_version: String,
    /// All response headers, unredacted (for display; reports redact).
    pub headers: Vec<(String, String)>,
    /// Nanoseconds from sending the request to having all response headers.
    pub headers_ns: u64,
    pub expected_bytes: Option<u64>,
    pub expected_bytes_source: Option<&'static str>,
    pub expected_sha256: Option<String>,
    pub expected_sha256_source: Option<&'static str>,
}

/// Progress of a run, in the order it happens. The channel closes when the run ends; the final
/// [`Report`] is the return value of [`run`].
#[derive(Debug, Clone)]
pub enum ProbeEvent {
    RequestSent,
    Headers(Box<ResponseMeta>),
    Arrival(Arrival),
}

/// Validates, runs, and returns the report: the whole engine for callers that want no events.
pub async fn run_to_end(req: &ProbeRequest) -> Result<Report, InputError> {
    let valid = req.validate()?;
    // Nobody listens: with the receiver dropped, events are discarded instead of queued.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    drop(rx);
    Ok(run(valid, tx, tokio_util::sync::CancellationToken::new()).await)
}
