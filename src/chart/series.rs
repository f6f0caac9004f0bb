//! Chart data, built incrementally as arrivals come in: each arrival costs O(1) amortized, memory is
//! bounded whatever the run's length, and a frame only borrows ready-made point slices.
//!
//! - throughput: bytes per 250 ms window (one point per window; a 15 min run is 3,600 points);
//! - cumulative bytes and arrivals: time buckets of a width that doubles whenever there would be
//!   more than [`MAX_BUCKETS`], keeping each bucket's largest and smallest arrival (so peaks survive)
//!   and every arrival that ends a gap over the threshold (so gaps survive).

use super::Point;
use crate::probe::Arrival;
use crate::probe::analysis::timeline::{SIX_MIB, TEN_MIB, WINDOW_NS};

pub const MAX_BUCKETS: usize = 2048;
const INITIAL_BUCKET_NS: u64 = 1_000_000;
/// Gap points kept for drawing; the largest gap is tracked apart from these.
const MAX_GAP_POINTS: usize = 4096;
/// Throughput windows kept at most: 250 ms windows cover 4.5 hours; a longer run (or a report
/// that claims one) gets windows twice as long, and again, so memory stays bounded whatever
/// the times say.
pub const MAX_WINDOWS: usize = 1 << 16;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    /// The largest and smallest arrival in the bucket: (t_offset_ns, bytes).
    max: (u64, u32),
    min: (u64, u32),
    /// Cumulative bytes after the bucket's last arrival, and when that was.
    last_t_ns: u64,
    cum_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct LiveSeries {
    window_bytes: Vec<u64>,
    /// [`WINDOW_NS`], doubled each time the windows would exceed [`MAX_WINDOWS`].
    window_ns: u64,
    /// x = window start (s), y = MB/s; completed windows only (plus the last one once finished).
    pub throughput: Vec<Point>,
    bucket_ns: u64,
    buckets: Vec<Bucket>,
    /// Two points per bucket (its min and max arrival), x = s, y = KiB.
    pub arrival_points: Vec<Point>,
    /// One point per bucket at its last arrival, x = s, y = MB (plus the origin).
    pub cumulative: Vec<Point>,
    /// Arrivals that ended a gap of at least `gap_threshold_ns`: x = s, y = KiB.
    pub gap_points: Vec<Point>,
    pub gap_threshold_ns: u64,
    pub total_bytes: u64,
    pub arrivals: u64,
    last_t_ns: Option<u64>,
    /// When the first body byte arrived (ns from the request).
    pub first_arrival_ns: Option<u64>,
    /// The longest silence between two arrivals: (gap ns, t of the arrival ending it).
    pub largest_gap: Option<(u64, u64)>,
    pub largest_arrival: Option<(u64, u32)>,
    /// When cumulative bytes reached 6 MiB and 10 MiB (seconds from the request).
    pub crossed_6mib_s: Option<f64>,
    pub crossed_10mib_s: Option<f64>,
    finished: bool,
}

impl LiveSeries {
    pub fn new(gap_threshold_ns: u64) -> Self {
        LiveSeries {
            window_bytes: Vec::new(),
            window_ns: WINDOW_NS,
            throughput: Vec::new(),
            bucket_ns: INITIAL_BUCKET_NS,
            buckets: Vec::new(),
            arrival_points: Vec::new(),
            cumulative: vec![Point::new(0.0, 0.0)],
            gap_points: Vec::new(),
            gap_threshold_ns,
            total_bytes: 0,
            arrivals: 0,
            last_t_ns: None,
            first_arrival_ns: None,
            largest_gap: None,
            largest_arrival: None,
            crossed_6mib_s: None,
            crossed_10mib_s: None,
            finished: false,
        }
    }

    pub fn from_timeline(timeline: &[Arrival], gap_threshold_ns: u64, end_ns: u64) -> Self {
        let mut s = LiveSeries::new(gap_threshold_ns);
        for a in timeline {
            s.push(*a);
        }
        s.finish(end_ns);
        s
    }

    pub fn push(&mut self, a: Arrival) {
        let t = a.t_offset_ns;
        let before = self.total_bytes;
        self.total_bytes += a.bytes as u64;
        self.arrivals += 1;
        for (mark, slot) in [
            (SIX_MIB, &mut self.crossed_6mib_s),
            (TEN_MIB, &mut self.crossed_10mib_s),
        ] {
            if before < mark && self.total_bytes >= mark {
                *slot = Some(t as f64 / 1e9);
            }
        }
        if let Some(prev) = self.last_t_ns {
            let gap = t.saturating_sub(prev);
            if self.largest_gap.is_none_or(|(g, _)| gap > g) {
                self.largest_gap = Some((gap, t));
            }
            if gap >= self.gap_threshold_ns && self.gap_points.len() < MAX_GAP_POINTS {
                self.gap_points
                    .push(Point::new(t as f64 / 1e9, a.bytes as f64 / 1024.0));
            }
        }
        self.last_t_ns = Some(t);
        self.first_arrival_ns.get_or_insert(t);
        if self.largest_arrival.is_none_or(|(_, b)| a.bytes > b) {
            self.largest_arrival = Some((t, a.bytes));
        }
        self.push_window(t, a.bytes as u64);
        self.push_bucket(t, a.bytes);
    }

    /// The window `t` falls in, coarsening the windows first if it lies beyond the last allowed.
    fn window_of(&mut self, t: u64) -> usize {
        while t / self.window_ns >= MAX_WINDOWS as u64 {
            self.coarsen_windows();
        }
        (t / self.window_ns) as usize
    }

    /// Windows twice as long: neighbours merged, the published points redrawn from them.
    fn coarsen_windows(&mut self) {
        self.window_ns = self.window_ns.saturating_mul(2);
        self.window_bytes = self
            .window_bytes
            .chunks(2)
            .map(|pair| pair.iter().sum())
            .collect();
        let published = self.throughput.len() / 2;
        self.throughput = (0..published)
            .map(|i| window_point(i, self.window_bytes[i], self.window_ns, self.window_ns))
            .collect();
    }

    fn push_window(&mut self, t: u64, bytes: u64) {
        let i = self.window_of(t);
        if i >= self.window_bytes.len() {
            self.window_bytes.resize(i + 1, 0);
        }
        self.window_bytes[i] += bytes;
        // Windows before the current one are complete: publish them.
        self.publish_windows(i);
    }

    /// Makes points for every window before `upto` (exclusive) that has none yet.
    fn publish_windows(&mut self, upto: usize) {
        if self.window_bytes.len() < upto {
            self.window_bytes.resize(upto, 0);
        }
        while self.throughput.len() < upto {
            let i = self.throughput.len();
            self.throughput.push(window_point(
                i,
                self.window_bytes[i],
                self.window_ns,
                self.window_ns,
            ));
        }
    }

    /// Called each frame with the time since the request: windows that passed with no arrival
    /// become zeros, so a stall shows as a drop to 0 while it happens.
    pub fn advance_to(&mut self, now_ns: u64) {
        if !self.finished {
            let upto = self.window_of(now_ns);
            self.publish_windows(upto);
        }
    }

    /// Publishes the last, partial window scaled by its real length.
    pub fn finish(&mut self, end_ns: u64) {
        if self.finished {
            return;
        }
        self.finished = true;
        let last = self.window_of(end_ns);
        self.publish_windows(last);
        if self.window_bytes.len() > last {
            // At least a tenth of a window, so a few bytes in the last microseconds don't spike.
            let partial_ns = (end_ns - last as u64 * self.window_ns).max(self.window_ns / 10);
            self.throughput.truncate(last);
            self.throughput.push(window_point(
                last,
                self.window_bytes[last],
                partial_ns,
                self.window_ns,
            ));
        }
    }

    fn push_bucket(&mut self, t: u64, bytes: u32) {
        while (t / self.bucket_ns) as usize >= MAX_BUCKETS {
            self.coarsen();
        }
        let i = (t / self.bucket_ns) as usize;
        let cum = self.total_bytes;
        match self.buckets.last_mut() {
            Some(b) if (b.last_t_ns / self.bucket_ns) as usize == i => {
                if bytes > b.max.1 {
                    b.max = (t, bytes);
                }
                if bytes < b.min.1 {
                    b.min = (t, bytes);
                }
                b.last_t_ns = t;
                b.cum_bytes = cum;
                let b = *b;
                let n = self.arrival_points.len();
                self.arrival_points[n - 2] = arrival_point(b.min);
                self.arrival_points[n - 1] = arrival_point(b.max);
                let m = self.cumulative.len();
                self.cumulative[m - 1] = cum_point(b.last_t_ns, b.cum_bytes);
            }
            _ => {
                let b = Bucket {
                    max: (t, bytes),
                    min: (t, bytes),
                    last_t_ns: t,
                    cum_bytes: cum,
                };
                self.buckets.push(b);
                self.arrival_points.push(arrival_point(b.min));
                self.arrival_points.push(arrival_point(b.max));
                self.cumulative.push(cum_point(t, cum));
            }
        }
    }

    /// Doubles the bucket width and merges neighbours: O(MAX_BUCKETS), at most ~40 times in a run.
    fn coarsen(&mut self) {
        self.bucket_ns *= 2;
        let mut merged: Vec<Bucket> = Vec::with_capacity(self.buckets.len() / 2 + 1);
        for b in self.buckets.drain(..) {
            match merged.last_mut() {
                Some(m) if m.last_t_ns / self.bucket_ns == b.last_t_ns / self.bucket_ns => {
                    if b.max.1 > m.max.1 {
                        m.max = b.max;
                    }
                    if b.min.1 < m.min.1 {
                        m.min = b.min;
                    }
                    m.last_t_ns = b.last_t_ns;
                    m.cum_bytes = b.cum_bytes;
                }
                _ => merged.push(b),
            }
        }
        self.buckets = merged;
        self.arrival_points.clear();
        self.cumulative.truncate(1);
        for b in &self.buckets {
            self.arrival_points.push(arrival_point(b.min));
            self.arrival_points.push(arrival_point(b.max));
            self.cumulative.push(cum_point(b.last_t_ns, b.cum_bytes));
        }
    }

    /// Bytes per second over the last complete window.
    pub fn current_bytes_per_sec(&self) -> Option<f64> {
        self.throughput.last().map(|p| p.y * 1e6)
    }

    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }
}

/// Window `i` (windows of `window_ns`) holding `bytes` over `len_ns`: x = its start (s), y = MB/s.
fn window_point(i: usize, bytes: u64, len_ns: u64, window_ns: u64) -> Point {
    Point::new(
        i as f64 * window_ns as f64 / 1e9,
        bytes as f64 / (len_ns as f64 / 1e9) / 1e6,
    )
}

fn arrival_point((t, bytes): (u64, u32)) -> Point {
    Point::new(t as f64 / 1e9, bytes as f64 / 1024.0)
}

fn cum_point(t: u64, cum: u64) -> Point {
    Point::new(t as f64 / 1e9, cum as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed >> 33
    }

    /// 1,000,000 arrivals over ~100 s with one 3 s stall and one 1 MiB arrival.
    fn long_run() -> Vec<Arrival> {
        let mut seed = 7;
        let mut t = 0u64;
        (0..1_000_000u64)
            .map(|i| {
                t += 50_000 + lcg(&mut seed) % 100_000;
                if i == 600_000 {
                    t += 3_000_000_000;
                }
                let bytes = if i == 777_777 {
                    1024 * 1024
                } else {
                    1 + (lcg(&mut seed) % 65_536) as u32
                };
                Arrival {
                    t_offset_ns: t,
                    bytes,
                }
            })
            .collect()
    }

    #[test]
    fn windows_sum_to_the_total() {
        let tl = long_run();
        let end = tl.last().unwrap().t_offset_ns + 1;
        let s = LiveSeries::from_timeline(&tl, 500_000_000, end);
        let total: u64 = tl.iter().map(|a| a.bytes as u64).sum();
        assert_eq!(s.total_bytes, total);
        assert_eq!(s.window_bytes.iter().sum::<u64>(), total);
        // The drawn throughput integrates back to the total (the last window scaled by its length).
        let last = s.throughput.len() - 1;
        let drawn: f64 = s.throughput[..last]
            .iter()
            .map(|p| p.y * 1e6 * 0.25)
            .sum::<f64>()
            + s.window_bytes[last] as f64;
        assert!(
            (drawn - total as f64).abs() / (total as f64) < 1e-9,
            "{drawn} vs {total}"
        );
        assert_eq!(s.window_bytes.len(), (end / WINDOW_NS + 1) as usize);
    }

    #[test]
    fn any_time_keeps_the_windows_bounded_and_the_bytes_counted() {
        let tl = vec![
            Arrival {
                t_offset_ns: 1_000,
                bytes: 100,
            },
            Arrival {
                t_offset_ns: 3_600_000_000_000 * 24,
                bytes: 200,
            },
            Arrival {
                t_offset_ns: u64::MAX - 1,
                bytes: 300,
            },
        ];
        let s = LiveSeries::from_timeline(&tl, 500_000_000, u64::MAX);
        assert!(
            s.window_bytes.len() <= MAX_WINDOWS,
            "{}",
            s.window_bytes.len()
        );
        assert!(s.throughput.len() <= MAX_WINDOWS);
        assert_eq!(s.window_bytes.iter().sum::<u64>(), 600);
        assert!(s.bucket_count() <= MAX_BUCKETS);
        // Coarsening in the middle of a run keeps what was counted before.
        let mut live = LiveSeries::new(500_000_000);
        live.push(tl[0]);
        live.advance_to(WINDOW_NS * MAX_WINDOWS as u64 * 3);
        live.push(tl[1]);
        live.finish(3_600_000_000_000 * 25);
        assert_eq!(live.window_bytes.iter().sum::<u64>(), 300);
        assert!(live.throughput.len() <= MAX_WINDOWS);
    }

    #[test]
    fn decimation_keeps_the_maximum_and_the_largest_gap() {
        let tl = long_run();
        let s = LiveSeries::from_timeline(&tl, 500_000_000, tl.last().unwrap().t_offset_ns);
        assert!(s.bucket_count() <= MAX_BUCKETS);
        assert!(s.arrival_points.len() <= 2 * MAX_BUCKETS);
        // The largest arrival is drawn.
        let max_kib = 1024.0;
        let t_max = tl[777_777].t_offset_ns as f64 / 1e9;
        assert!(
            s.arrival_points
                .iter()
                .any(|p| p.y == max_kib && p.x == t_max)
        );
        // The largest gap is found, and its arrival is among the highlighted gap points.
        let (gap, end) = s.largest_gap.unwrap();
        let want = tl[600_000].t_offset_ns - tl[599_999].t_offset_ns;
        assert_eq!((gap, end), (want, tl[600_000].t_offset_ns));
        assert!(s.gap_points.iter().any(|p| p.x == end as f64 / 1e9));
        // The cumulative line ends at the total.
        let total: u64 = tl.iter().map(|a| a.bytes as u64).sum();
        assert_eq!(s.cumulative.last().unwrap().y, total as f64 / 1e6);
    }

    #[test]
    fn knees_and_stalls_show() {
        let mut s = LiveSeries::new(200_000_000);
        for i in 0..100u64 {
            s.push(Arrival {
                t_offset_ns: i * 1_000_000,
                bytes: 128 * 1024,
            });
        }
        assert_eq!(s.crossed_6mib_s, Some(0.047));
        assert_eq!(s.crossed_10mib_s, Some(0.079));
        // A stall: 2 s with nothing. Windows advance to zero while it lasts.
        s.advance_to(2_100_000_000);
        assert_eq!(s.throughput.len(), 8);
        assert!(s.throughput[1..].iter().all(|p| p.y == 0.0));
        s.push(Arrival {
            t_offset_ns: 2_200_000_000,
            bytes: 10,
        });
        assert_eq!(s.gap_points.len(), 1);
    }
}
