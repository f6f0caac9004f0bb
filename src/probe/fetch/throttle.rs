//! Coping with 429 Too Many Requests (an API Gateway usage plan's token bucket, a CDN's rate
//! limit): wait as the server says (`Retry-After`) or back off exponentially with jitter, and
//! for parallel ranges lower the concurrency, one slot per 429, down to one range at a time.
//! The file is still verified whole; the report says how many 429s came and where the
//! concurrency settled.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::{Semaphore, SemaphorePermit};

/// 429s a range (or the first request) waits out before it counts as failed.
pub const MAX_THROTTLED: u32 = 12;
/// The first back-off, doubled per 429 of the same request...
const BACKOFF_START: Duration = Duration::from_millis(250);
/// ...up to this.
const BACKOFF_CAP: Duration = Duration::from_secs(8);
/// A `Retry-After` longer than this is not waited for in full.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);

/// The concurrency of a parallel download, lowered by 429s.
pub struct Throttle {
    slots: Semaphore,
    limit: AtomicU32,
    responses: AtomicU32,
}

impl Throttle {
    pub fn new(concurrency: u32) -> Throttle {
        let n = concurrency.max(1);
        Throttle {
            slots: Semaphore::new(n as usize),
            limit: AtomicU32::new(n),
            responses: AtomicU32::new(0),
        }
    }

    /// A slot to run a range's request in (held while its body is read).
    pub async fn slot(&self) -> Option<SemaphorePermit<'_>> {
        self.slots.acquire().await.ok()
    }

    /// A 429 came for the request holding `slot`: counted, and the slot given up for good while
    /// more than one remains (the concurrency drops by one per 429, to one at the least).
    pub fn throttled(&self, slot: Option<SemaphorePermit<'_>>) {
        self.responses.fetch_add(1, Ordering::Relaxed);
        let lowered = self
            .limit
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| {
                (l > 1).then(|| l - 1)
            })
            .is_ok();
        if let Some(p) = slot
            && lowered
        {
            p.forget();
        }
    }

    /// 429s seen.
    pub fn responses(&self) -> u32 {
        self.responses.load(Ordering::Relaxed)
    }

    /// The concurrency now.
    pub fn limit(&self) -> u32 {
        self.limit.load(Ordering::Relaxed)
    }
}

/// How long to wait before asking again, after the `nth` 429 (0-based) of one request: the
/// server's `Retry-After` (seconds or an HTTP date) when it sent one, capped; else an exponential
/// back-off from 250 ms, capped at 8 s, with "equal jitter" (`jitter` in 0..1 picks a point in
/// the upper half), so that parallel ranges do not all come back at once.
pub fn backoff(retry_after: Option<&str>, now: SystemTime, nth: u32, jitter: f64) -> Duration {
    if let Some(d) = retry_after.and_then(|v| parse_retry_after(v, now)) {
        return d.min(RETRY_AFTER_CAP);
    }
    let base = BACKOFF_START
        .saturating_mul(1u32.checked_shl(nth.min(16)).unwrap_or(u32::MAX))
        .min(BACKOFF_CAP);
    base.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// `Retry-After: 3` or `Retry-After: Wed, 21 Oct 2026 07:28:00 GMT` (RFC 9110).
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A random jitter in 0..1.
pub fn jitter() -> f64 {
    fastrand::f64()
}

/// The wait after the `nth` 429 (0-based) of one request, from now: [`backoff`] with a fresh
/// jitter.
pub fn wait_after(retry_after: Option<&str>, nth: u32) -> Duration {
    backoff(retry_after, SystemTime::now(), nth, jitter())
}

/// Sleeps `wait`; false when `cancel` came first.
pub async fn sleep_unless(wait: Duration, cancel: &tokio_util::sync::CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(wait) => true,
        () = cancel.cancelled() => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_retry_after_else_doubles_with_jitter_and_caps() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let date = httpdate::fmt_http_date(now + Duration::from_secs(7));
        let table: Vec<(Option<&str>, u32, f64, Duration)> = vec![
            (Some("3"), 0, 0.5, Duration::from_secs(3)),
            (Some(" 0 "), 5, 0.5, Duration::ZERO),
            (Some(&date), 0, 0.5, Duration::from_secs(7)),
            (Some("86400"), 0, 0.5, RETRY_AFTER_CAP),
            (Some("soon"), 0, 1.0, Duration::from_millis(250)),
            (None, 0, 0.0, Duration::from_millis(125)),
            (None, 0, 1.0, Duration::from_millis(250)),
            (None, 3, 1.0, Duration::from_secs(2)),
            (None, 10, 1.0, BACKOFF_CAP),
            (None, 40, 0.0, BACKOFF_CAP / 2),
        ];
        for (header, nth, j, want) in table {
            assert_eq!(backoff(header, now, nth, j), want, "{header:?} {nth} {j}");
        }
        // A date in the past: ask again at once.
        let past = httpdate::fmt_http_date(now - Duration::from_secs(60));
        assert_eq!(backoff(Some(&past), now, 0, 0.5), Duration::ZERO);
    }

    #[tokio::test]
    async fn each_429_gives_up_a_slot_down_to_one() {
        let t = Throttle::new(3);
        for want in [2, 1, 1] {
            let slot = t.slot().await;
            t.throttled(slot);
            assert_eq!(t.limit(), want);
        }
        assert_eq!(t.responses(), 3);
        // One slot is left to run in.
        let one = t.slot().await;
        assert!(one.is_some());
        assert!(t.slots.try_acquire().is_err());
    }
}
