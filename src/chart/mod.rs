//! One chart model for every picture of a run: the app draws it with egui_plot, [`png`] with
//! plotters. A run's [`series::LiveSeries`] (throughput windows, byte buckets, arrivals and gaps,
//! the 6 MiB and 10 MiB crossings) is built incrementally while it runs and from the result's
//! timeline once it has ended; [`ChartRun`] adds what only the result knows (ranges, retries).

pub mod png;
pub mod series;

use crate::probe::RunResult;
use crate::probe::fetch::result::{Attempt, Segment};
use series::LiveSeries;

/// A point of a chart: seconds from the request, and the value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

impl Point {
    pub fn new(x: f64, y: f64) -> Point {
        Point { x, y }
    }
}

/// The rate API Gateway (and Lambda) throttle a stream to after its first bytes, in MB/s: drawn as
/// a line on the throughput chart.
pub const THROTTLE_MB_PER_S: f64 = 2.0;

/// The byte marks drawn where a single stream crossed them: (label, which crossing).
pub const MARKS: [(&str, Mark); 2] = [
    ("6 MiB (Lambda)", Mark::SixMib),
    ("10 MiB (API Gateway)", Mark::TenMib),
];

/// Which crossing a mark is drawn at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    SixMib,
    TenMib,
}

impl LiveSeries {
    /// When the run crossed `mark` (seconds from the request).
    pub fn crossed_s(&self, mark: Mark) -> Option<f64> {
        match mark {
            Mark::SixMib => self.crossed_6mib_s,
            Mark::TenMib => self.crossed_10mib_s,
        }
    }
}

/// One run to draw.
pub struct ChartRun {
    pub label: String,
    pub series: LiveSeries,
    pub segments: Vec<Segment>,
    pub attempts: Vec<Attempt>,
    /// Seconds from the request to the end of the run.
    pub end_s: f64,
}

impl ChartRun {
    /// A finished run, drawn from its result's timeline.
    pub fn of_result(label: impl Into<String>, r: &RunResult) -> Self {
        ChartRun {
            label: label.into(),
            series: LiveSeries::from_timeline(&r.timeline, GAP_NS, r.duration_ns),
            segments: r.segments.clone(),
            attempts: r.attempts.clone(),
            end_s: r.duration_ns as f64 / 1e9,
        }
    }

    /// A run drawn from its arrivals (`[t_offset_ns, bytes]`), as a report keeps them.
    pub fn from_arrivals(
        label: impl Into<String>,
        arrivals: &[[u64; 2]],
        end_ns: u64,
        segments: Vec<Segment>,
        attempts: Vec<Attempt>,
    ) -> ChartRun {
        let timeline: Vec<crate::probe::Arrival> = arrivals
            .iter()
            .map(|a| crate::probe::Arrival {
                t_offset_ns: a[0],
                bytes: a[1].min(u32::MAX as u64) as u32,
            })
            .collect();
        ChartRun {
            label: label.into(),
            series: LiveSeries::from_timeline(&timeline, GAP_NS, end_ns),
            segments,
            attempts,
            end_s: end_ns as f64 / 1e9,
        }
    }

    /// Byte marks are about one response: not drawn for interleaved ranges.
    pub fn one_stream(&self) -> bool {
        self.segments.is_empty()
    }
}

/// Arrivals after a silence this long are marked (the app's default).
pub const GAP_NS: u64 = 250_000_000;
