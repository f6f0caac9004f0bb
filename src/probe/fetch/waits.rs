//! The three things any wait of a run also waits for: the user's cancel, the overall time limit and
//! the idle timeout, armed once per run (or per range) rather than once per read.

use super::classify::BodyEnd;
use super::outcome::Outcome;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// What a wait ended with.
pub enum Waited<T> {
    Ready(T),
    Cancelled,
    TimedOut { limit_s: f64 },
    Stalled { idle_s: f64 },
}

impl<T> Waited<T> {
    pub fn body_end(self) -> BodyEnd {
        match self {
            Waited::Ready(_) | Waited::Cancelled => BodyEnd::Cancelled,
            Waited::TimedOut { limit_s } => BodyEnd::TimedOut { limit_s },
            Waited::Stalled { idle_s } => BodyEnd::Stalled { idle_s },
        }
    }

    pub fn outcome(self) -> Outcome {
        match self.body_end() {
            BodyEnd::TimedOut { limit_s } => Outcome::TimedOut { limit_s },
            BodyEnd::Stalled { idle_s } => Outcome::Stalled { idle_s },
            _ => Outcome::Cancelled,
        }
    }
}

/// The three things any wait also waits for, armed once per run: the user's cancel, the overall
/// time limit, and the idle timeout (moved only when it fires early, so a read costs no timer).
pub struct Waits {
    pub(super) cancel: CancellationToken,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    deadline: Option<Instant>,
    limit_s: f64,
    deadline_timer: Pin<Box<tokio::time::Sleep>>,
    idle_timeout: Duration,
    idle_timer: Pin<Box<tokio::time::Sleep>>,
}

/// Far enough never to fire, near enough not to overflow the timer.
pub(super) const NEVER: Duration = Duration::from_secs(100 * 365 * 86_400);

impl Waits {
    pub fn new(
        t0: Instant,
        cancel: CancellationToken,
        idle_timeout: Duration,
        limit: Option<Duration>,
    ) -> Waits {
        let deadline = limit.map(|d| t0 + d);
        Waits {
            cancelled: Box::pin(cancel.clone().cancelled_owned()),
            cancel,
            deadline,
            limit_s: limit.map_or(0.0, |d| d.as_secs_f64()),
            deadline_timer: Box::pin(tokio::time::sleep_until(
                deadline.unwrap_or(t0 + NEVER).into(),
            )),
            idle_timeout,
            idle_timer: Box::pin(tokio::time::sleep_until((t0 + idle_timeout).into())),
        }
    }

    /// Waits for `fut`, unless the cancel, the time limit or `idle_timeout` of silence since
    /// `last_activity` comes first.
    pub async fn wait<F: Future>(&mut self, fut: F, last_activity: Instant) -> Waited<F::Output> {
        let mut fut = std::pin::pin!(fut);
        loop {
            tokio::select! {
                biased;
                _ = &mut self.cancelled => return Waited::Cancelled,
                _ = &mut self.deadline_timer => {
                    return Waited::TimedOut { limit_s: self.limit_s };
                }
                _ = &mut self.idle_timer => {
                    let due = last_activity + self.idle_timeout;
                    if Instant::now() >= due {
                        return Waited::Stalled { idle_s: self.idle_timeout.as_secs_f64() };
                    }
                    self.idle_timer.as_mut().reset(due.into());
                }
                out = &mut fut => return Waited::Ready(out),
            }
        }
    }

    /// The cancel or the time limit, checked without waiting.
    pub fn expired(&self, now: Instant) -> Option<BodyEnd> {
        if self.cancel.is_cancelled() {
            return Some(BodyEnd::Cancelled);
        }
        self.deadline
            .filter(|d| now >= *d)
            .map(|_| BodyEnd::TimedOut {
                limit_s: self.limit_s,
            })
    }
}
