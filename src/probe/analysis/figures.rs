//! The figures of a finished run, computed once from its [`RunResult`]: what the report, the
//! printed summary and the app quote. Pure functions of the timeline.

use super::timeline::{self, SIX_MIB, Split, TEN_MB, TEN_MIB, WINDOW_NS};
use crate::probe::fetch::result::Arrival;
use crate::probe::fetch::result::RunResult;
use serde::Serialize;

/// How the body arrived over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Bytes arrived spread out, starting early.
    Streamed,
    /// Nothing for most of the time, then everything at once: buffered somewhere.
    Burst,
    TooSmallToTell,
}

impl Delivery {
    pub fn label(self) -> &'static str {
        match self {
            Delivery::Streamed => "streamed",
            Delivery::Burst => "burst",
            Delivery::TooSmallToTell => "too_small_to_tell",
        }
    }
}

/// Bodies smaller than this, or with fewer arrivals, say nothing about streaming.
const DELIVERY_MIN_BYTES: u64 = 256 * 1024;
const DELIVERY_MIN_ARRIVALS: usize = 4;
/// Arrivals spread over less than this say nothing about streaming either.
const DELIVERY_MIN_SPAN_NS: f64 = 200e6;

/// Judged over the time the bytes took to come, request to last arrival (a silence after the last
/// byte, as in a stall, is not part of how the bytes came). A burst: the first body byte came after
/// 80 % of that time, or the first tenth of the bytes came after half of it with the middle 80 %
/// then arriving within a tenth of it (a few early bytes do not make a buffered body a stream).
/// Streamed otherwise. Too small to tell: under 256 KiB, under 4 arrivals, or all
/// arrivals within 200 ms of the request.
pub fn delivery(timeline: &[Arrival], bytes: u64) -> Delivery {
    let (Some(first), Some(last)) = (timeline.first(), timeline.last()) else {
        return Delivery::TooSmallToTell;
    };
    let end_ns = last.t_offset_ns as f64;
    if bytes < DELIVERY_MIN_BYTES
        || timeline.len() < DELIVERY_MIN_ARRIVALS
        || end_ns < DELIVERY_MIN_SPAN_NS
    {
        return Delivery::TooSmallToTell;
    }
    let first_ns = first.t_offset_ns as f64;
    let at_fraction = |f: f64| {
        let target = (bytes as f64 * f) as u64;
        let mut cum = 0u64;
        timeline
            .iter()
            .find(|a| {
                cum += a.bytes as u64;
                cum >= target
            })
            .map_or(end_ns, |a| a.t_offset_ns as f64)
    };
    let tenth_ns = at_fraction(0.1);
    let middle_ns = at_fraction(0.9) - tenth_ns;
    if first_ns > 0.8 * end_ns || (tenth_ns > 0.5 * end_ns && middle_ns < 0.1 * end_ns) {
        Delivery::Burst
    } else {
        Delivery::Streamed
    }
}

/// Sizes and gaps of the arrivals, and the peak rate.
#[derive(Debug, Clone, PartialEq, Serialize, Default, schemars::JsonSchema)]
// Reports are written, not read: this makes the schema refuse unknown (e.g. renamed) fields.
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub arrivals: u64,
    pub arrival_bytes_min: Option<u32>,
    pub arrival_bytes_median: Option<u32>,
    pub arrival_bytes_max: Option<u32>,
    /// Longest time between two consecutive arrivals, and when the later of them came.
    pub largest_gap_ms: Option<f64>,
    pub largest_gap_end_s: Option<f64>,
    /// The highest rate over a whole window (see [`timeline::peak_bytes_per_sec`]).
    pub peak_bytes_per_sec: Option<f64>,
    pub window_ms: u64,
}

pub fn summarize(arrivals: &[Arrival], end_ns: u64) -> Summary {
    let mut s = Summary {
        arrivals: arrivals.len() as u64,
        window_ms: WINDOW_NS / 1_000_000,
        ..Summary::default()
    };
    if arrivals.is_empty() {
        return s;
    }
    let mut sizes: Vec<u32> = arrivals.iter().map(|a| a.bytes).collect();
    sizes.sort_unstable();
    s.arrival_bytes_min = sizes.first().copied();
    s.arrival_bytes_max = sizes.last().copied();
    s.arrival_bytes_median = Some(sizes[sizes.len() / 2]);
    if let Some((gap, end)) = arrivals
        .windows(2)
        .map(|w| (w[1].t_offset_ns - w[0].t_offset_ns, w[1].t_offset_ns))
        .max_by_key(|(g, _)| *g)
    {
        s.largest_gap_ms = Some(gap as f64 / 1e6);
        s.largest_gap_end_s = Some(end as f64 / 1e9);
    }
    s.peak_bytes_per_sec = timeline::peak_bytes_per_sec(arrivals, WINDOW_NS, end_ns);
    s
}

/// Everything computed from a run's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub summary: Summary,
    /// Body bytes over the whole run (request sent to end).
    pub avg_bytes_per_sec: Option<f64>,
    /// Milliseconds from the request to the first body byte.
    pub first_byte_ms: Option<f64>,
    /// Milliseconds from the first to the last arrival.
    pub body_span_ms: Option<f64>,
    /// Split at 10 MiB (10 * 1024 * 1024 bytes): API Gateway's unthrottled allowance.
    pub split_10mib: Split,
    /// Split at 10 MB (10,000,000 bytes).
    pub split_10mb: Split,
    /// Split at 6 MiB: Lambda's uncapped allowance.
    pub split_6mib: Split,
    pub delivery: Delivery,
}

impl Figures {
    pub fn of(r: &RunResult) -> Figures {
        let tl = &r.timeline;
        let duration_s = r.duration_s();
        Figures {
            summary: summarize(tl, r.duration_ns),
            avg_bytes_per_sec: (duration_s > 0.0 && r.bytes > 0)
                .then(|| r.bytes as f64 / duration_s),
            first_byte_ms: tl.first().map(|a| a.t_offset_ns as f64 / 1e6),
            body_span_ms: tl
                .first()
                .zip(tl.last())
                .map(|(a, b)| (b.t_offset_ns - a.t_offset_ns) as f64 / 1e6),
            split_10mib: timeline::split_at(tl, TEN_MIB),
            split_10mb: timeline::split_at(tl, TEN_MB),
            split_6mib: timeline::split_at(tl, SIX_MIB),
            delivery: delivery(tl, r.bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arr(t_ms: u64, bytes: u32) -> Arrival {
        Arrival {
            t_offset_ns: t_ms * 1_000_000,
            bytes,
        }
    }

    #[test]
    fn summary_finds_gap_and_median() {
        let a = vec![arr(1, 5), arr(2, 1), arr(500, 9), arr(501, 3)];
        let s = summarize(&a, 501_000_000);
        assert_eq!(
            (
                s.arrival_bytes_min,
                s.arrival_bytes_median,
                s.arrival_bytes_max
            ),
            (Some(1), Some(5), Some(9))
        );
        assert_eq!(s.largest_gap_ms, Some(498.0));
        assert_eq!(s.largest_gap_end_s, Some(0.5));
        // Windows: [0, 250) holds 6 bytes; the last 250 ms before 501 ms hold 12.
        assert_eq!(s.peak_bytes_per_sec, Some(12.0 / 0.25));
    }

    /// Delivery as a table of timelines.
    #[test]
    fn delivery_table() {
        let even = |from_ms: u64, to_ms: u64, n: u64, bytes: u32| -> Vec<Arrival> {
            (0..n)
                .map(|i| arr(from_ms + (to_ms - from_ms) * i / (n - 1), bytes))
                .collect()
        };
        let total = |tl: &[Arrival]| tl.iter().map(|a| a.bytes as u64).sum::<u64>();
        let mut stalled = even(10, 500, 50, 64 * 1024);
        // A stall after the last arrival is not in the timeline: what came, came streamed.
        stalled.truncate(50);
        let mut late_then_fast = even(2_900, 3_000, 100, 64 * 1024);
        late_then_fast.insert(0, arr(5, 100));
        let rows: Vec<(&str, Vec<Arrival>, Delivery)> = vec![
            (
                "steady from the start",
                even(5, 5_000, 100, 64 * 1024),
                Delivery::Streamed,
            ),
            (
                "everything at the end",
                even(2_900, 3_000, 100, 64 * 1024),
                Delivery::Burst,
            ),
            (
                "a few bytes early, then everything at once",
                late_then_fast,
                Delivery::Burst,
            ),
            ("streamed, then stalled", stalled, Delivery::Streamed),
            (
                "late first byte, then a steady stream",
                even(1_000, 4_000, 100, 64 * 1024),
                Delivery::Streamed,
            ),
            (
                "too few bytes",
                even(5, 5_000, 100, 100),
                Delivery::TooSmallToTell,
            ),
            (
                "too few arrivals",
                even(5, 5_000, 3, 1 << 20),
                Delivery::TooSmallToTell,
            ),
            (
                "too fast to tell",
                even(1, 13, 12, 256 * 1024),
                Delivery::TooSmallToTell,
            ),
        ];
        for (what, tl, want) in rows {
            assert_eq!(delivery(&tl, total(&tl)), want, "{what}");
        }
    }
}
