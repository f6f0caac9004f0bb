//! The download engine and everything computed from its one result value. No GUI code here.
//!
//! Three rooms, and arrows that run one way (views → [`output`] → [`analysis`] → [`fetch`]):
//! - [`fetch`]: the request (validated once), the engine that runs it (events while it runs, one
//!   [`RunResult`] at the end, its outcome decided by [`fetch::classify`]), resume, ranges, the
//!   network and the writer;
//! - [`analysis`]: pure functions of the result: the timeline's windows, [`Figures`], findings;
//! - [`output`]: the report (JSON), the printed summary, the comparison of several runs.
//!
//! [`redact`] (what counts as a secret, and how URLs and headers are shown without them) is used by
//! all three.

pub mod analysis;
pub mod fetch;
pub mod output;
pub mod redact;
pub mod require;

pub use analysis::figures::Figures;
pub use fetch::engine::run;
pub use fetch::event::{EventSender, ProbeEvent};
pub use fetch::outcome::{Outcome, OutcomeKind};
pub use fetch::request::{HttpVersion, InputError, ProbeRequest, ValidRequest, parse_header_line};
pub use fetch::result::{Arrival, ResponseMeta, RunResult};

/// Validates, runs, and returns the result: the whole engine for callers that want no events.
pub async fn run_to_end(req: &ProbeRequest) -> Result<RunResult, InputError> {
    let valid = req.validate()?;
    // Nobody listens: with the receiver dropped, events are discarded instead of queued.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    drop(rx);
    Ok(run(valid, tx, tokio_util::sync::CancellationToken::new()).await)
}
