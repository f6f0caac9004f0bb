//! The download engine and everything computed from what it returns. No GUI code here.
//!
//! One way through: [`request`] (validated once) → [`engine`] (events while it runs, one
//! [`RunResult`] at the end, its outcome decided by [`classify`]) → [`figures`] → [`report`],
//! [`printer`] → views (the CLI, the app).

pub mod auth;
pub mod classify;
pub mod compare;
pub mod engine;
pub mod event;
pub mod expect;
pub mod figures;
pub mod findings;
pub mod net;
pub mod outcome;
pub mod phases;
pub mod printer;
pub mod redact;
pub mod report;
pub mod request;
pub mod result;
pub mod resume;
pub mod segments;
pub mod sink;
pub mod timeline;

pub use engine::run;
pub use event::{EventSender, ProbeEvent};
pub use figures::Figures;
pub use outcome::{Outcome, OutcomeKind};
pub use request::{HttpVersion, InputError, ProbeRequest, ValidRequest, parse_header_line};
pub use result::{ResponseMeta, RunResult};
pub use timeline::Arrival;

/// Validates, runs, and returns the result: the whole engine for callers that want no events.
pub async fn run_to_end(req: &ProbeRequest) -> Result<RunResult, InputError> {
    let valid = req.validate()?;
    // Nobody listens: with the receiver dropped, events are discarded instead of queued.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    drop(rx);
    Ok(run(valid, tx, tokio_util::sync::CancellationToken::new()).await)
}
