//! How the emulated gateway (and Lambda) shape a streamed body: the first bytes at full speed,
//! then a rate, cut at a payload limit, an idle timeout or the maximum stream duration.

use bytes::Bytes;
use futures_util::StreamExt;
use std::time::Duration;
use tokio::time::Instant;

/// Why an emulated limit cut a stream; hyper then aborts the connection, as the gateway would.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Cut(pub String);

pub(super) type ChunkStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, Cut>> + Send>>;

#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    pub(super) free_bytes: u64,
    pub(super) bytes_per_sec: u64,
    pub(super) max_bytes: Option<u64>,
    pub(super) max_duration: Option<Duration>,
    pub(super) idle_timeout: Option<Duration>,
}

pub(super) struct Shaper {
    inner: ChunkStream,
    shape: Shape,
    sent: u64,
    pending: Bytes,
    started: Option<Instant>,
    /// When byte `free_bytes` went out: throttled bytes are paced from here.
    throttle_from: Option<Instant>,
    done: bool,
}

/// Ends the stream with an error (hyper then aborts the connection, as the gateway would).
pub(super) fn cut(mut s: Shaper, why: String) -> Option<(Result<Bytes, Cut>, Shaper)> {
    s.done = true;
    Some((Err(Cut(why)), s))
}

/// What waiting for the backend's next chunk gave.
pub(super) enum Refill {
    Ready,
    End,
    Failed(Cut),
    /// Which limit passed first: the idle timeout or the maximum stream duration.
    TimedOut(&'static str),
}

impl Shaper {
    /// Waits for the backend's next chunk into `pending`, no longer than the idle timeout or the
    /// stream's `deadline`.
    async fn refill(&mut self, deadline: Option<Instant>) -> Refill {
        let idle_at = self.shape.idle_timeout.map(|i| Instant::now() + i);
        let limit = match (idle_at, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let next = match limit {
            None => self.inner.next().await,
            Some(at) => match tokio::time::timeout_at(at, self.inner.next()).await {
                Ok(n) => n,
                Err(_) if deadline == Some(at) => {
                    return Refill::TimedOut("maximum stream duration");
                }
                Err(_) => return Refill::TimedOut("idle timeout"),
            },
        };
        match next {
            None => Refill::End,
            Some(Err(e)) => Refill::Failed(e),
            Some(Ok(b)) => {
                self.pending = b;
                Refill::Ready
            }
        }
    }
}

/// Passes `free_bytes` at once, then paces at `bytes_per_sec` in slices of ~20 ms, and cuts the
/// stream at `max_bytes`, `max_duration`, or after `idle_timeout` of backend silence.
pub(super) fn shape(
    inner: ChunkStream,
    shape: Shape,
) -> impl futures_util::Stream<Item = Result<Bytes, Cut>> + Send {
    let s = Shaper {
        inner,
        shape,
        sent: 0,
        pending: Bytes::new(),
        started: None,
        throttle_from: None,
        done: false,
    };
    futures_util::stream::unfold(s, |mut s| async move {
        if s.done {
            return None;
        }
        let started = *s.started.get_or_insert_with(Instant::now);
        let deadline = s.shape.max_duration.map(|d| started + d);
        if s.pending.is_empty() {
            match s.refill(deadline).await {
                Refill::Ready => {}
                Refill::End => return None,
                Refill::Failed(e) => {
                    s.done = true;
                    return Some((Err(e), s));
                }
                Refill::TimedOut(why) => {
                    return cut(s, format!("emulated gateway: {why} reached"));
                }
            }
            if s.pending.is_empty() {
                return Some((Ok(Bytes::new()), s));
            }
        }
        if let Some(max) = s.shape.max_bytes
            && s.sent >= max
        {
            return cut(
                s,
                format!("emulated Lambda: {max}-byte streamed payload limit"),
            );
        }
        // Cut the next piece at the knee, the payload limit, and into ~20 ms slices when throttled.
        let mut n = s.pending.len() as u64;
        if s.sent < s.shape.free_bytes {
            n = n.min(s.shape.free_bytes - s.sent);
        } else {
            n = n.min((s.shape.bytes_per_sec / 50).max(1));
        }
        if let Some(max) = s.shape.max_bytes {
            n = n.min(max - s.sent);
        }
        let piece = s.pending.split_to(n as usize);
        if s.sent >= s.shape.free_bytes {
            let from = *s.throttle_from.get_or_insert_with(Instant::now);
            let beyond = s.sent + n - s.shape.free_bytes;
            let due = from + Duration::from_secs_f64(beyond as f64 / s.shape.bytes_per_sec as f64);
            if let Some(dl) = deadline
                && due > dl
            {
                tokio::time::sleep_until(dl).await;
                return cut(
                    s,
                    "emulated gateway: maximum stream duration reached".into(),
                );
            }
            tokio::time::sleep_until(due).await;
        }
        s.sent += n;
        if s.sent >= s.shape.free_bytes && s.throttle_from.is_none() {
            s.throttle_from = Some(Instant::now());
        }
        Some((Ok(piece), s))
    })
}
