//! The charts as a PNG file, for a ticket or a pull request: throughput (250 ms windows, the 2 MB/s
//! throttle, the 6 MiB and 10 MiB marks), bytes received (and a parallel download's ranges),
//! arrival sizes (and the arrivals that end a gap), on one time axis: what the app draws, from the
//! same series. More runs overlay their throughput and bytes (the app's overlay, a comparison).
//! Drawn with plotters' bitmap backend and egui's own font, so no system font is needed.

use super::{ChartRun, GAP_NS, MARKS, THROTTLE_MB_PER_S};
use crate::probe::OutcomeKind;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;
use std::path::Path;

pub const WIDTH: u32 = 1400;
pub const HEIGHT: u32 = 1000;

const PALETTE: [RGBColor; 6] = [
    RGBColor(230, 140, 20),
    RGBColor(50, 110, 220),
    RGBColor(40, 160, 90),
    RGBColor(200, 60, 150),
    RGBColor(120, 90, 200),
    RGBColor(90, 90, 90),
];
const THROTTLE: RGBColor = RGBColor(200, 60, 40);
const MARK: RGBColor = RGBColor(120, 120, 120);
const GAP: RGBColor = RGBColor(220, 40, 40);
const RANGE: RGBColor = RGBColor(150, 90, 230);

fn fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        )
        .ok();
    });
}

/// Why a picture was not made.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("nothing to draw")]
    Empty,
    #[error("drawing {}: {why}", path.display())]
    Drawing {
        path: std::path::PathBuf,
        why: String,
    },
    #[error("writing {}: {why}", path.display())]
    Writing {
        path: std::path::PathBuf,
        why: String,
    },
}

/// Draws `runs` (the first in full, the others overlaid) under `title` into a PNG at `path`.
pub fn render_png(path: &Path, title: &str, runs: &[ChartRun]) -> Result<(), ChartError> {
    if runs.is_empty() {
        return Err(ChartError::Empty);
    }
    fonts();
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, title, runs).map_err(|e| ChartError::Drawing {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        root.present().map_err(|e| ChartError::Drawing {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
    }
    let writing = |why: String| ChartError::Writing {
        path: path.to_path_buf(),
        why,
    };
    let mut encoded = Vec::with_capacity(256 * 1024);
    let mut encoder = png::Encoder::new(&mut encoded, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .and_then(|mut w| w.write_image_data(&rgb))
        .map_err(|e| writing(e.to_string()))?;
    // Like every output: a fresh file renamed into place, or straight into a device (see outfile).
    crate::disk::write_whole(path, &encoded).map_err(|e| writing(e.to_string()))
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;
type Failed = Box<dyn std::error::Error>;

fn draw(root: &Area<'_>, title: &str, runs: &[ChartRun]) -> Result<(), Failed> {
    root.fill(&WHITE)?;
    let (head, body) = root.split_vertically(44);
    head.draw(&Text::new(
        title.to_string(),
        (16, 12),
        ("sans-serif", 22).into_font().color(&BLACK),
    ))?;
    let areas = body.split_evenly((3, 1));
    let x_end = runs.iter().map(|r| r.end_s).fold(0.0, f64::max).max(0.1) * 1.02;
    throughput_chart(&areas[0], runs, x_end)?;
    bytes_chart(&areas[1], runs, x_end)?;
    arrivals_chart(&areas[2], &runs[0], x_end)?;
    Ok(())
}

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Throughput, on a log axis: a burst at hundreds of MB/s and a 2 MB/s plateau both readable;
/// the throttle line, the first run's byte marks and retries.
fn throughput_chart(area: &Area<'_>, runs: &[ChartRun], x_end: f64) -> Result<(), Failed> {
    let main = &runs[0];
    let rate_max = runs
        .iter()
        .flat_map(|r| r.series.throughput.iter().map(|p| p.y))
        .fold(4.0, f64::max)
        * 1.5;
    let mut c = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_end, (RATE_FLOOR..rate_max).log_scale())?;
    mesh(&mut c, "MB/s (250 ms windows, log)")?;
    // With more than two runs their legend would cover the plateau: the bytes chart below names
    // them in the same colours, so this one names only the throttle line.
    let name_runs = runs.len() <= 2;
    for (i, r) in runs.iter().enumerate() {
        let line = c.draw_series(LineSeries::new(
            r.series
                .throughput
                .iter()
                .map(|p| (p.x, p.y.max(RATE_FLOOR))),
            color(i).stroke_width(2),
        ))?;
        if name_runs {
            line.label(&r.label).legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 18, y)], color(i).stroke_width(2))
            });
        }
    }
    c.draw_series(DashedLineSeries::new(
        [(0.0, THROTTLE_MB_PER_S), (x_end, THROTTLE_MB_PER_S)],
        6,
        4,
        THROTTLE.stroke_width(1),
    ))?
    .label(format!("{THROTTLE_MB_PER_S} MB/s throttle"))
    .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], THROTTLE.stroke_width(1)));
    if main.one_stream() {
        // Labels one above the other: the two marks are often a fraction of a second apart.
        for ((what, mark), at) in MARKS.into_iter().zip([0.5, 0.25]) {
            if let Some(t) = main.series.crossed_s(mark) {
                c.draw_series(LineSeries::new(
                    [(t, RATE_FLOOR), (t, rate_max)],
                    MARK.stroke_width(1),
                ))?;
                c.draw_series([Text::new(
                    format!("   {what}"),
                    (t, rate_max * at),
                    ("sans-serif", 14).into_font().color(&MARK),
                )])?;
            }
        }
    }
    for a in main.attempts.iter().skip(1) {
        let t = a.started_ns as f64 / 1e9;
        c.draw_series(LineSeries::new(
            [(t, RATE_FLOOR), (t, rate_max)],
            GAP.stroke_width(1),
        ))?;
    }
    // Low rates are rare at the bottom of a log axis: the legend goes there.
    legend(&mut c, SeriesLabelPosition::LowerRight)?;
    Ok(())
}

/// Bytes received, and the first run's parallel ranges at their place in the file.
fn bytes_chart(area: &Area<'_>, runs: &[ChartRun], x_end: f64) -> Result<(), Failed> {
    let main = &runs[0];
    let mb_max = runs
        .iter()
        .map(|r| r.series.total_bytes as f64 / 1e6)
        .fold(0.1, f64::max)
        * 1.05;
    let mut c = chart(area, x_end, mb_max, "MB received")?;
    for (i, r) in runs.iter().enumerate() {
        c.draw_series(LineSeries::new(
            r.series.cumulative.iter().map(|p| (p.x, p.y)),
            color(i).stroke_width(2),
        ))?
        .label(format!(
            "{}: {:.1} MB",
            r.label,
            r.series.total_bytes as f64 / 1e6
        ))
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color(i).stroke_width(2)));
    }
    for s in &main.segments {
        let y = (s.from + s.to + 1) as f64 / 2.0 / 1e6;
        let col = if s.outcome == OutcomeKind::Complete {
            RANGE
        } else {
            GAP
        };
        c.draw_series(LineSeries::new(
            [(s.started_ns as f64 / 1e9, y), (s.ended_ns as f64 / 1e9, y)],
            col.stroke_width(3),
        ))?;
    }
    if !main.segments.is_empty() {
        c.draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
            .label("ranges, at their offset in the file")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], RANGE.stroke_width(3)));
    }
    // The line rises to the upper right: the legend goes below it.
    legend(&mut c, SeriesLabelPosition::LowerRight)?;
    Ok(())
}

/// Arrival sizes of the first run, and the arrivals that end a gap.
fn arrivals_chart(area: &Area<'_>, main: &ChartRun, x_end: f64) -> Result<(), Failed> {
    let kib_max = main
        .series
        .arrival_points
        .iter()
        .map(|p| p.y)
        .fold(1.0, f64::max)
        * 1.1;
    let mut c = chart(area, x_end, kib_max, "arrival size (KiB)")?;
    c.draw_series(
        main.series
            .arrival_points
            .iter()
            .map(|p| Circle::new((p.x, p.y), 2, color(0).filled())),
    )?
    .label(format!("arrivals of {}", main.label))
    .legend(move |(x, y)| Circle::new((x + 9, y), 3, color(0).filled()));
    c.draw_series(
        main.series
            .gap_points
            .iter()
            .map(|p| Circle::new((p.x, p.y), 4, GAP.filled())),
    )?
    .label(format!("after a gap ≥ {} ms", GAP_NS / 1_000_000))
    .legend(|(x, y)| Circle::new((x + 9, y), 4, GAP.filled()));
    legend(&mut c, SeriesLabelPosition::UpperRight)?;
    Ok(())
}

/// The lowest rate the log axis shows (a silent window is drawn there).
const RATE_FLOOR: f64 = 0.05;

type Chart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn chart<'a, 'b>(
    area: &'a Area<'b>,
    x_end: f64,
    y_max: f64,
    y_desc: &str,
) -> Result<Chart<'a, 'b>, Failed> {
    let mut c = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_end, 0.0..y_max)?;
    mesh(&mut c, y_desc)?;
    Ok(c)
}

fn mesh<'a, 'b: 'a, X, Y>(
    c: &mut ChartContext<'a, BitMapBackend<'b>, Cartesian2d<X, Y>>,
    y_desc: &str,
) -> Result<(), Failed>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    c.configure_mesh()
        .x_desc("time since request (s)")
        .y_desc(y_desc)
        .axis_desc_style(("sans-serif", 16))
        .label_style(("sans-serif", 14))
        .light_line_style(RGBColor(240, 240, 240))
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .draw()?;
    Ok(())
}

/// An axis label: whole numbers without ".0", others with no trailing zeros (0.5, 0.25, 0.001).
fn tick(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn legend<'a, 'b: 'a, X, Y>(
    c: &mut ChartContext<'a, BitMapBackend<'b>, Cartesian2d<X, Y>>,
    at: SeriesLabelPosition,
) -> Result<(), Failed>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    c.configure_series_labels()
        .position(at)
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ticks_drop_trailing_zeros() {
        for (v, want) in [
            (0.0, "0"),
            (2.0, "2"),
            (400.0, "400"),
            (0.1, "0.1"),
            (0.25, "0.25"),
            (12.5, "12.5"),
            (0.001, "0.001"),
        ] {
            assert_eq!(super::tick(v), want, "{v}");
        }
    }
}
