//! What a run reports while it runs.

use super::result::Arrival;
use super::result::ResponseMeta;

/// Progress of a run, in the order it happens. The channel closes when the run ends; the result
/// is the return value of [`crate::probe::run`].
#[derive(Debug, Clone)]
pub enum ProbeEvent {
    /// The request is going out. `at` is the instant every offset of the run counts from: views
    /// use it rather than their own clock.
    RequestSent {
        at: std::time::Instant,
        wall: std::time::SystemTime,
    },
    Headers(Box<ResponseMeta>),
    /// The next arrivals, in order (batched: one event per batch, not per read).
    Arrivals(Vec<Arrival>),
}

pub type EventSender = tokio::sync::mpsc::UnboundedSender<ProbeEvent>;
