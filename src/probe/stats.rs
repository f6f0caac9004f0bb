//! Figures computed from an arrival timeline. Pure functions: the engine's report and the GUI use
//! the same ones.

use serde::Serialize;

/// One read from the response body: its size and when it was handed to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Arrival {
    /// Nanoseconds from the instant the request was sent to the instant this read returned.
    pub t_offset_ns: u64,
    pub bytes: u32,
}

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

/// Throughput before and after a byte threshold was crossed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
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

/// The figures the report and the verdict quote.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Summary {
    pub arrivals: u64,
    pub arrival_bytes_min: Option<u32>,
    pub arrival_bytes_median: Option<u32>,
    pub arrival_bytes_max: Option<u32>,
    /// Longest time between two consecutive arrivals, and when the later of them came.
    pub largest_gap_ms: Option<f64>,
    pub largest_gap_end_s: Option<f64>,
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
    let windows = window_bytes(arrivals, WINDOW_NS, end_ns);
    s.peak_bytes_per_sec = windows
        .iter()
        .max()
        .map(|&b| b as f64 / (WINDOW_NS as f64 / 1e9));
    s
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
        assert_eq!(s.peak_bytes_per_sec, Some(12.0 / 0.25));
    }
}
