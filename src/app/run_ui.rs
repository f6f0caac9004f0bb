//! The selected run: its figures, verdict and findings on the left, its three charts (throughput,
//! bytes, arrivals; one time axis) in the middle.

use super::ui::*;
use super::{RunRecord, StreamscopeApp, plot_points};
use crate::chart::{MARKS, THROTTLE_MB_PER_S};
use crate::probe::output::printer::Tone;
use crate::probe::redact::{REDACTED, is_secret_header};
use crate::units::{fmt_bytes, fmt_rate};
use egui::{Color32, RichText};
use egui_plot::{Corner, HLine, Legend, Line, Plot, PlotPoints, Points, VLine};

/// Summary lines the figures above already show (Copy summary has them all).
pub(super) const SHOWN_IN_FIGURES: &[&str] = &["url", "status", "timing", "throughput", "arrivals"];

/// A chart on the shared time axis. All three get the same extent, 0 to `x_end`: egui_plot's
/// `link_axis` copies bounds between plots, but each plot in auto-bounds mode fits its own data, so
/// without the common extent a stall would show 0–3.5 s in one chart and 0–0.5 s in the next. Once
/// the user zooms or pans one, the link carries its bounds to the others.
pub(super) fn time_plot(
    id: &'static str,
    y_label: &'static str,
    height: f32,
    x_end: f64,
) -> Plot<'static> {
    Plot::new(id)
        .include_x(0.0)
        .include_x(x_end)
        .height(height)
        .link_axis(egui::Id::unique("streamscope-time-axis"), [true, false])
        .x_axis_label("time since request (s)")
        .y_axis_label(y_label)
        .include_y(0.0)
}

/// Each finding: what it is (coloured by severity), the run's evidence, the fix, and the document
/// it rests on.
pub(super) fn findings_ui(
    ui: &mut egui::Ui,
    findings: &[crate::probe::analysis::findings::Finding],
) {
    if findings.is_empty() {
        return;
    }
    ui.add_space(4.0);
    ui.label(RichText::new("Findings").strong());
    for f in findings {
        let tone = Tone::of(f.severity);
        ui.add(
            egui::Label::new(
                RichText::new(format!("{} · {}", f.severity.label(), f.title))
                    .color(tone_color(tone, ui))
                    .strong(),
            )
            .wrap(),
        );
        ui.add(egui::Label::new(format!("Seen: {}", f.evidence)).wrap());
        ui.add(egui::Label::new(RichText::new(format!("Fix: {}", f.fix)).weak()).wrap());
        ui.hyperlink_to(format!("{} (docs)", f.id), f.doc_url);
        ui.add_space(4.0);
    }
}

pub(super) fn run_figures_ui(ui: &mut egui::Ui, run: &RunRecord, running: bool) {
    let s = &run.series;
    let elapsed = run.elapsed_s();
    // An error response's length is not the download's.
    let expected = run
        .meta
        .as_ref()
        .filter(|m| m.is_success())
        .and_then(|m| m.length)
        .map(|l| l.bytes);
    let avg = if elapsed > 0.0 {
        s.total_bytes as f64 / elapsed
    } else {
        0.0
    };
    let current = if running {
        s.current_bytes_per_sec().unwrap_or(0.0)
    } else {
        avg
    };
    ui.label(RichText::new(format!("Run #{}", run.id)).strong());
    ui.label(RichText::new(&run.url).small().weak());
    egui::Grid::new("figures")
        .num_columns(2)
        .spacing([12.0, 3.0])
        .show(ui, |ui| {
            let row = |ui: &mut egui::Ui, k: &str, v: String| {
                ui.label(k);
                ui.label(RichText::new(v).monospace());
                ui.end_row();
            };
            let of = expected
                .map(|n| format!(" of {}", fmt_bytes(n)))
                .unwrap_or_default();
            row(ui, "received", format!("{}{of}", fmt_bytes(s.total_bytes)));
            if running {
                row(ui, "current", fmt_rate(current));
            }
            row(ui, "average", fmt_rate(avg));
            row(ui, "elapsed", format!("{elapsed:.1} s"));
            let ms =
                |ns: Option<u64>| ns.map_or("–".into(), |n| format!("{:.1} ms", n as f64 / 1e6));
            row(
                ui,
                "headers after",
                ms(run.meta.as_ref().map(|m| m.headers_ns)),
            );
            row(ui, "first byte after", ms(s.first_arrival_ns));
            row(ui, "arrivals", format!("{}", s.arrivals));
            row(
                ui,
                "largest gap",
                s.largest_gap.map_or("–".into(), |(g, t)| {
                    format!("{:.1} ms at {:.1} s", g as f64 / 1e6, t as f64 / 1e9)
                }),
            );
            if let Some(m) = &run.meta {
                row(ui, "status", format!("{} {}", m.status, m.version.label()));
            }
            if let Some(g) = run.gateway {
                row(ui, "demo gateway", g.label().to_string());
            }
        });
    if running {
        ui.add(progress_bar(s, expected, current, avg, elapsed));
    }
}

/// A running download's progress: a fill with its ETA when the length is known, a moving band
/// when it is not.
fn progress_bar(
    s: &crate::chart::series::LiveSeries,
    expected: Option<u64>,
    current: f64,
    avg: f64,
    elapsed: f64,
) -> egui::ProgressBar {
    match expected.filter(|n| *n > 0) {
        Some(n) => {
            let frac = (s.total_bytes as f64 / n as f64).min(1.0) as f32;
            let rate = if current > 0.0 { current } else { avg };
            let eta = if rate > 0.0 {
                format!(
                    "ETA {:.0} s",
                    (n.saturating_sub(s.total_bytes)) as f64 / rate
                )
            } else {
                "ETA –".into()
            };
            egui::ProgressBar::new(frac).text(format!("{:.0} % · {eta}", frac * 100.0))
        }
        // Length unknown: a band that moves with the frame timer instead of a fill.
        None => egui::ProgressBar::new((elapsed * 0.5).fract() as f32)
            .text(format!("{} · length unknown", fmt_bytes(s.total_bytes))),
    }
}

impl StreamscopeApp {
    pub(super) fn figures_ui(&mut self, ui: &mut egui::Ui) {
        // A comparison's table comes first: it is what was asked for, and a run's verdict with its
        // findings can be long enough to push it out of view.
        let comparing = self.batch.is_some();
        if comparing {
            self.compare_ui(ui);
            ui.separator();
        }
        if let Some(i) = self.selected.filter(|i| *i < self.runs.len()) {
            let running = self.active_record() == Some(i);
            let run = &self.runs[i];
            run_figures_ui(ui, run, running);
            ui.add_space(6.0);
            if let Some(v) = run.finished.as_ref().map(|f| &f.summary) {
                verdict_ui(ui, v);
                findings_ui(ui, &v.findings);
                if let Some(f) = &run.finished {
                    super::template_ui::function_log_ui(ui, &f.result.function_log);
                }
                self.run_buttons_ui(ui, i);
            }
            if let Some(meta) = &self.runs[i].meta {
                response_headers_ui(ui, meta);
            }
        } else {
            ui.label("Press Start (or Enter in the URL field) to download.");
            let hint = match self.source {
                super::Source::Demo => {
                    "The local demo is ready: pick a preset to see each verdict."
                }
                super::Source::Template if self.hosting.hosted.is_some() => {
                    "The template runs: pick a method, Start; its function's log shows below the verdict."
                }
                super::Source::Template => {
                    "Open a SAM/CloudFormation template, or run one of this project's backends."
                }
                super::Source::Url => {
                    "Paste your endpoint's URL; its key in Headers, IAM under Auth."
                }
            };
            ui.label(RichText::new(hint).weak());
        }
        if let Some(m) = &self.message {
            ui.add_space(4.0);
            ui.label(RichText::new(m).italics());
        }
        ui.separator();
        if !comparing {
            self.compare_ui(ui);
            ui.separator();
        }
        self.history_ui(ui);
    }

    /// What can be done with finished run `i`: save its report or chart, resume it, copy its
    /// summary.
    fn run_buttons_ui(&mut self, ui: &mut egui::Ui, i: usize) {
        ui.horizontal(|ui| {
            if ui.button("Save report...").clicked() {
                self.open_report_dialog();
            }
            if ui
                .button("Save chart as PNG...")
                .on_hover_text("The three charts of this run (and the overlaid run, when one is)")
                .clicked()
            {
                self.open_chart_dialog();
            }
            let resumable = self.runs[i]
                .finished
                .as_ref()
                .is_some_and(|f| f.result.output.partial_left);
            if resumable
                && ui
                    .add_enabled(self.active.is_none(), egui::Button::new("Resume"))
                    .on_hover_text("Continue the .part where it stopped (a Range request; the whole file is verified)")
                    .clicked()
                && let Err(e) = self.resume(i)
            {
                self.message = Some(e.to_string());
            }
            if ui.button("Copy summary").clicked()
                && let Some(f) = self.selected_run().and_then(|r| r.finished.as_ref())
            {
                ui.ctx().copy_text(f.summary.text());
                self.message = Some("summary copied to the clipboard".into());
            }
        });
    }

    pub(super) fn charts_ui(&self, ui: &mut egui::Ui) {
        let Some(run) = self.selected_run() else {
            ui.centered_and_justified(|ui| {
                ui.label(RichText::new("Charts appear here as bytes arrive.").weak())
            });
            return;
        };
        let overlay = self.compare.and_then(|i| self.runs.get(i));
        let finished = run.finished.as_ref().map(|f| &f.result);
        // A run that ended without a body (a 502, a 404, no connection) has nothing to chart:
        // say so plainly instead of drawing three empty plots.
        if let Some(r) = finished.filter(|r| r.bytes == 0 && overlay.is_none()) {
            let what = match &r.response {
                Some(m) => format!("status {}", m.status),
                None => r.outcome.kind().to_string(),
            };
            ui.centered_and_justified(|ui| {
                ui.label(
                    RichText::new(format!(
                        "No body arrived ({what}): nothing to chart. The verdict on the left says why."
                    ))
                    .weak(),
                )
            });
            return;
        }
        let h = (ui.available_height() - 24.0) / 3.0;
        let s = &run.series;
        // The last 40 windows (10 s) set the scale: O(1) per frame whatever the run's length.
        let recent = |pts: &[crate::chart::Point]| {
            pts.iter().rev().take(40).map(|p| p.y).fold(0.0, f64::max)
        };
        let recent_max =
            recent(&s.throughput).max(overlay.map_or(0.0, |o| recent(&o.series.throughput)));
        // Fit the rate axis to the last 10 s, or let the plot follow the user's zoom.
        let fit = self.fit_recent_rate.then_some(recent_max);
        // From the request to now, or to the end of the longer run.
        let x_end = run.elapsed_s().max(overlay.map_or(0.0, |o| o.elapsed_s()));
        let view = ChartView {
            series: s,
            overlay,
            finished,
            height: h,
            x_end,
        };
        throughput_chart(ui, &view, fit);
        bytes_chart(ui, &view);
        arrivals_chart(ui, &view);
    }
}

/// The verdict: the headline in its tone, then the summary's lines the figures do not show.
fn verdict_ui(ui: &mut egui::Ui, v: &crate::probe::output::printer::Summary) {
    ui.label(
        RichText::new(&v.headline)
            .heading()
            .color(tone_color(v.tone, ui)),
    );
    egui::Grid::new("verdict")
        .num_columns(2)
        .spacing([10.0, 4.0])
        .show(ui, |ui| {
            for line in v
                .lines
                .iter()
                .filter(|l| !SHOWN_IN_FIGURES.contains(&l.label))
            {
                ui.label(RichText::new(line.label).strong());
                let mut text = RichText::new(&line.text).color(tone_color(line.tone, ui));
                if line.label == "sha256" {
                    text = text.monospace().small();
                }
                ui.add(egui::Label::new(text).wrap());
                ui.end_row();
            }
        });
}

/// Every response header, secret ones masked.
fn response_headers_ui(ui: &mut egui::Ui, meta: &crate::probe::ResponseMeta) {
    egui::CollapsingHeader::new(format!("Response headers ({})", meta.headers.len())).show(
        ui,
        |ui| {
            egui::Grid::new("resp-headers")
                .striped(true)
                .num_columns(2)
                .show(ui, |ui| {
                    for (n, v) in &meta.headers {
                        ui.label(RichText::new(n).monospace());
                        let shown = if is_secret_header(n, &[]) {
                            REDACTED
                        } else {
                            v
                        };
                        ui.add(egui::Label::new(RichText::new(shown).monospace()).wrap());
                        ui.end_row();
                    }
                });
        },
    );
}

/// What the three charts of a run share: its series, the run overlaid, the run's result once it
/// has one, each chart's height and the common time axis's end.
struct ChartView<'a> {
    series: &'a crate::chart::series::LiveSeries,
    overlay: Option<&'a RunRecord>,
    finished: Option<&'a crate::probe::RunResult>,
    height: f32,
    x_end: f64,
}

/// Throughput per window, with the throttle line, the byte marks and each retry. Legends low on
/// the right: a plateau runs across the top two thirds of the chart (its axis fits the last
/// 10 s).
fn throughput_chart(ui: &mut egui::Ui, v: &ChartView<'_>, fit: Option<f64>) {
    let (s, h, x_end) = (v.series, v.height, v.x_end);
    let (overlay, finished) = (v.overlay, v.finished);
    time_plot("throughput", "MB/s (250 ms windows)", h, x_end)
        .legend(Legend::default().position(Corner::RightBottom))
        .include_y(2.5)
        .show(ui, |p| {
            if let Some(recent_max) = fit {
                p.set_auto_bounds([true, false]);
                p.set_plot_bounds_y(0.0..=(recent_max * 1.5).max(3.0));
            }
            p.line(
                Line::new("throughput", plot_points(&s.throughput))
                    .color(THROUGHPUT)
                    .width(1.5),
            );
            if let Some(o) = overlay {
                p.line(
                    Line::new(format!("run #{}", o.id), plot_points(&o.series.throughput))
                        .color(OVERLAY)
                        .width(1.2),
                );
            }
            p.hline(
                HLine::new(
                    format!("{THROTTLE_MB_PER_S} MB/s throttle"),
                    THROTTLE_MB_PER_S,
                )
                .color(WARN.gamma_multiply(0.7)),
            );
            // Byte marks are about one response: not drawn for interleaved ranges.
            let one_stream = finished.is_none_or(|r| r.segments.is_empty());
            for ((label, mark), color) in
                MARKS.into_iter().zip([Color32::GRAY, Color32::LIGHT_GRAY])
            {
                if let Some(t) = s.crossed_s(mark).filter(|_| one_stream) {
                    p.vline(VLine::new(label, t).color(color));
                }
            }
            // Each retry or resume request, where it started.
            for a in finished.iter().flat_map(|r| r.attempts.iter().skip(1)) {
                p.vline(VLine::new("retry (new request)", a.started_ns as f64 / 1e9).color(WARN));
            }
        });
}

/// Bytes received over time, and each parallel range at its place in the file.
fn bytes_chart(ui: &mut egui::Ui, v: &ChartView<'_>) {
    let (s, h, x_end) = (v.series, v.height, v.x_end);
    let finished = v.finished;
    time_plot("cumulative", "MB received", h, x_end)
        .legend(Legend::default().position(Corner::RightBottom))
        .show(ui, |p| {
            p.line(
                Line::new("cumulative bytes", plot_points(&s.cumulative))
                    .color(GOOD)
                    .width(1.5),
            );
            // A parallel download: each range as a bar at its place in the file, from its
            // request to its last byte.
            for seg in finished.iter().flat_map(|r| r.segments.iter()) {
                let y = (seg.from + seg.to + 1) as f64 / 2.0 / 1e6;
                let color = if seg.outcome == crate::probe::OutcomeKind::Complete {
                    RANGE
                } else {
                    BAD
                };
                p.line(
                    Line::new(
                        "ranges (by file offset)",
                        PlotPoints::from(vec![
                            [seg.started_ns as f64 / 1e9, y],
                            [seg.ended_ns as f64 / 1e9, y],
                        ]),
                    )
                    .color(color)
                    .width(3.0),
                );
            }
        });
}

/// Each arrival's size, and the arrivals that end a gap.
fn arrivals_chart(ui: &mut egui::Ui, v: &ChartView<'_>) {
    let (s, h, x_end) = (v.series, v.height, v.x_end);
    time_plot("arrivals", "arrival size (KiB)", h, x_end)
        .legend(Legend::default())
        .show(ui, |p| {
            p.points(
                Points::new("arrivals", plot_points(&s.arrival_points))
                    .color(ARRIVAL)
                    .radius(1.5),
            );
            p.points(
                Points::new(
                    format!("after a gap ≥ {:.0} ms", s.gap_threshold_ns as f64 / 1e6),
                    plot_points(&s.gap_points),
                )
                .color(BAD)
                .radius(4.0),
            );
        });
}
