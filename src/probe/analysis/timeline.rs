//! The arrival timeline and pure functions over it: bytes per window, the rate either side of a
//! byte threshold, the peak rate.

use crate::probe::fetch::result::Arrival;
use serde::Serialize;

pub const WINDOW_NS: u64 = 250_000_000;
pub const TEN_MIB: u64 = 10 * 1024 * 1024;
pub const TEN_MB: u64 = 10_000_000;
pub const SIX_MIB: u64 = 6 * 1024 * 1024;

/// Bytes that arrived in each `window_ns` window, counted from the request (window 0 starts when the
/// request was sent). `end_ns` fixes the number of windows (the last may be partial).
pub fn window_bytes(arrivals: &[Arrival], window_ns: u64, end_ns: u64) -> Vec<u64> {
    let n = (end_ns / window_ns + 1) as usize;
    let mut out = vec![0u64; n];
    for a in arrivals {
        let i = ((a.t_offset_ns / window_ns) as usize).min(n - 1);
        out[i] += a.bytes as u64;
    }
    out
}

/// The highest rate over any whole `window_ns` of the run, in bytes per second: every complete
/// window from the request on, and the last `window_ns` before `end_ns` (so the end of the run is
/// measured over a whole window too, never a sliver). A run shorter than one window has only one
/// honest rate: all its bytes over its length. None without arrivals or time.
pub fn peak_bytes_per_sec(arrivals: &[Arrival], window_ns: u64, end_ns: u64) -> Option<f64> {
    if arrivals.is_empty() || end_ns == 0 {
        return None;
    }
    let total: u64 = arrivals.iter().map(|a| a.bytes as u64).sum();
    if end_ns < window_ns {
        return Some(total as f64 / (end_ns as f64 / 1e9));
    }
    let whole = (end_ns / window_ns) as usize;
    let mut windows = vec![0u64; whole];
    for a in arrivals {
        if let Some(w) = windows.get_mut((a.t_offset_ns / window_ns) as usize) {
            *w += a.bytes as u64;
        }
    }
    let tail_from = end_ns - window_ns;
    let first_in_tail = arrivals.partition_point(|a| a.t_offset_ns <= tail_from);
    let tail: u64 = arrivals[first_in_tail..]
        .iter()
        .map(|a| a.bytes as u64)
        .sum();
    let best = windows.into_iter().max().unwrap_or(0).max(tail);
    Some(best as f64 / (window_ns as f64 / 1e9))
}

/// Throughput before and after a byte threshold was crossed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, schemars::JsonSchema)]
// Reports are written, not read: this makes the schema refuse unknown (e.g. renamed) fields.
#[serde(deny_unknown_fields)]
pub struct Split {
    pub threshold_bytes: u64,
    /// Seconds from the request to the arrival that carried byte `threshold_bytes`; None if never reached.
    pub crossed_at_s: Option<f64>,
    /// Bytes up to the crossing arrival, over the time from the first body byte to that arrival.
    pub before_bytes_per_sec: Option<f64>,
    /// Bytes after the crossing arrival, over the time from it to the last arrival.
    pub after_bytes_per_sec: Option<f64>,
}

pub fn split_at(arrivals: &[Arrival], threshold: u64) -> Split {
    let mut cum = 0u64;
    let mut split = Split {
        threshold_bytes: threshold,
        crossed_at_s: None,
        before_bytes_per_sec: None,
        after_bytes_per_sec: None,
    };
    let (Some(first), Some(last)) = (arrivals.first(), arrivals.last()) else {
        return split;
    };
    let total: u64 = arrivals.iter().map(|a| a.bytes as u64).sum();
    for a in arrivals {
        cum += a.bytes as u64;
        if cum >= threshold {
            split.crossed_at_s = Some(a.t_offset_ns as f64 / 1e9);
            let before_s = (a.t_offset_ns - first.t_offset_ns) as f64 / 1e9;
            if before_s > 0.0 {
                split.before_bytes_per_sec = Some(cum as f64 / before_s);
            }
            let after_s = (last.t_offset_ns - a.t_offset_ns) as f64 / 1e9;
            if after_s > 0.0 && total > cum {
                split.after_bytes_per_sec = Some((total - cum) as f64 / after_s);
            }
            break;
        }
    }
    split
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
    fn windows_sum_to_total() {
        let a: Vec<_> = (0..1000).map(|i| arr(i * 7, (i % 13 + 1) as u32)).collect();
        let total: u64 = a.iter().map(|x| x.bytes as u64).sum();
        let w = window_bytes(&a, WINDOW_NS, 7_000_000_000);
        assert_eq!(w.iter().sum::<u64>(), total);
        assert_eq!(w.len(), 29);
    }

    #[test]
    fn split_measures_both_sides() {
        // 10 bytes/ms up to byte 100, then 1 byte/ms.
        let mut a: Vec<_> = (1..=10).map(|i| arr(i, 10)).collect();
        a.extend((1..=50).map(|i| arr(10 + i, 1)));
        let s = split_at(&a, 100);
        assert_eq!(s.crossed_at_s, Some(0.010));
        assert!((s.before_bytes_per_sec.unwrap() - 100.0 / 0.009).abs() < 1e-6);
        assert!((s.after_bytes_per_sec.unwrap() - 1000.0).abs() < 1e-6);
        assert_eq!(split_at(&a, 10_000).crossed_at_s, None);
    }

    #[test]
    fn peak_is_never_a_short_run_over_a_whole_window() {
        // 3 MiB in 13 ms: the only honest rate is bytes over 13 ms, not over 250 ms.
        let a: Vec<_> = (1..=12).map(|i| arr(i, 256 * 1024)).collect();
        let peak = peak_bytes_per_sec(&a, WINDOW_NS, 13_000_000).unwrap();
        assert!((peak - 3.0 * 1024.0 * 1024.0 / 0.013).abs() < 1.0, "{peak}");
        // 1 s at 1 byte/ms, then 50 bytes in the last 10 ms: the last whole window holds them.
        let mut a: Vec<_> = (1..=1000).map(|i| arr(i, 1)).collect();
        a.push(arr(1005, 50));
        let peak = peak_bytes_per_sec(&a, WINDOW_NS, 1_010_000_000).unwrap();
        assert_eq!(peak, (240.0 + 50.0) / 0.25);
        assert_eq!(peak_bytes_per_sec(&[], WINDOW_NS, 5), None);
    }
}
