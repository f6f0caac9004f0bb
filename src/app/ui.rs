//! Drawing: the request panel, the figures and verdict, the history, the charts.

use super::demo::PRESETS;
use super::{HeaderRow, RunRecord, StreamscopeApp};
use crate::backend::gateway::GatewayMode;
use crate::probe::printer::Tone;
use crate::probe::redact::{REDACTED, is_secret_header};
use crate::probe::{self, HttpVersion};
use crate::units::{fmt_bytes, fmt_rate};
use egui::{Color32, RichText};
use egui_plot::{Corner, HLine, Legend, Line, Plot, PlotPoints, Points, VLine};

const GOOD: Color32 = Color32::from_rgb(80, 200, 120);
const WARN: Color32 = Color32::from_rgb(240, 180, 60);
const BAD: Color32 = Color32::from_rgb(235, 90, 80);
const THROUGHPUT: Color32 = Color32::from_rgb(255, 176, 46);
const OVERLAY: Color32 = Color32::from_rgb(120, 160, 255);
const ARRIVAL: Color32 = Color32::from_rgb(64, 196, 180);
const RANGE: Color32 = Color32::from_rgb(190, 140, 255);

fn tone_color(t: Tone, ui: &egui::Ui) -> Color32 {
    match t {
        Tone::Good => GOOD,
        Tone::Warn => WARN,
        Tone::Bad => BAD,
        Tone::Info => ui.visuals().text_color(),
    }
}

/// Summary lines the figures above already show (Copy summary has them all).
const SHOWN_IN_FIGURES: &[&str] = &["url", "status", "timing", "throughput", "arrivals"];

/// A text field with a visible label that screen readers (and egui_kittest) find it by.
fn labelled_field(ui: &mut egui::Ui, label: &str, edit: egui::TextEdit<'_>) -> egui::Response {
    let l = ui.label(label);
    ui.add(edit).labelled_by(l.id)
}

impl StreamscopeApp {
    pub(super) fn draw(&mut self, ui: &mut egui::Ui) {
        if ui.input(|i| i.key_pressed(egui::Key::Escape)) {
            self.cancel();
        }
        egui::Panel::top("request").show(ui, |ui| self.request_ui(ui));
        egui::Panel::left("figures")
            .resizable(true)
            .default_size(400.0)
            .min_size(320.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.figures_ui(ui));
            });
        egui::CentralPanel::default().show(ui, |ui| self.charts_ui(ui));
    }

    fn request_ui(&mut self, ui: &mut egui::Ui) {
        ui.add_space(4.0);
        let running = self.is_running();
        ui.horizontal(|ui| {
            let url = labelled_field(
                ui,
                "URL",
                egui::TextEdit::singleline(&mut self.form.url)
                    .hint_text("https://abc123.execute-api.eu-west-1.amazonaws.com/prod/download")
                    .desired_width(ui.available_width() - 470.0),
            );
            if url.changed() {
                self.confirm_overwrite = false;
            }
            if url.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) && !running {
                self.start_from_ui(false);
            }
            if ui
                .button("Save to...")
                .on_hover_text("Choose where the download is saved")
                .clicked()
            {
                self.open_save_to_dialog();
            }
            // Typed paths work where no native dialog can open (no portal, no zenity).
            let hint = self.form.default_destination().display().to_string();
            let dest = labelled_field(
                ui,
                "Destination",
                egui::TextEdit::singleline(&mut self.form.dest_path)
                    .hint_text(hint)
                    .desired_width(ui.available_width()),
            );
            if dest.changed() {
                self.confirm_overwrite = false;
            }
        });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!running, egui::Button::new("Start"))
                .on_hover_text("Start the download (Enter)")
                .clicked()
            {
                self.start_from_ui(false);
            }
            if ui
                .add_enabled(running, egui::Button::new("Cancel"))
                .on_hover_text("Cancel (Esc)")
                .clicked()
            {
                self.cancel();
            }
            ui.separator();
            ui.add_enabled_ui(self.demo.is_some(), |ui| {
                let mut preset = self.preset;
                egui::ComboBox::from_label("Local demo")
                    .selected_text(PRESETS[preset].name)
                    .width(250.0)
                    .show_ui(ui, |ui| {
                        for (i, p) in PRESETS.iter().enumerate() {
                            ui.selectable_value(&mut preset, i, p.name)
                                .on_hover_text(p.note);
                        }
                    });
                if preset != self.preset {
                    self.apply_preset(preset);
                }
                ui.label("gateway");
                let before = self.gateway;
                for mode in [GatewayMode::Off, GatewayMode::Stream, GatewayMode::Buffered] {
                    ui.selectable_value(&mut self.gateway, mode, mode.label());
                }
                if self.gateway != before {
                    self.refill_demo_url();
                }
            });
            ui.separator();
            egui::ComboBox::from_label("HTTP")
                .selected_text(self.form.http_version.label())
                .show_ui(ui, |ui| {
                    for v in [HttpVersion::Auto, HttpVersion::Http1, HttpVersion::Http2] {
                        ui.selectable_value(&mut self.form.http_version, v, v.label());
                    }
                });
            let l = ui.label("idle timeout");
            ui.add(
                egui::DragValue::new(&mut self.form.idle_timeout_s)
                    .range(0.1..=3600.0)
                    .speed(0.5)
                    .suffix(" s"),
            )
            .labelled_by(l.id);
        });
        ui.horizontal(|ui| {
            let n = self
                .form
                .headers
                .iter()
                .filter(|h| !h.name.trim().is_empty())
                .count();
            if ui
                .selectable_label(self.headers_open, format!("Headers ({n})"))
                .clicked()
            {
                self.headers_open = !self.headers_open;
            }
            labelled_field(
                ui,
                "Expected SHA-256",
                egui::TextEdit::singleline(&mut self.form.expect_sha256)
                    .hint_text("optional: 64 hex digits")
                    .desired_width(300.0)
                    .font(egui::TextStyle::Monospace),
            );
            labelled_field(
                ui,
                "CA certificate",
                egui::TextEdit::singleline(&mut self.form.cacert)
                    .hint_text("optional: PEM file to trust")
                    .desired_width(200.0),
            )
            .on_hover_text("Trust the CA certificates in this PEM file, besides the system's");
            ui.checkbox(&mut self.form.insecure, "Skip TLS verification")
                .on_hover_text("Do not check the server's certificate (the summary says so)");
            if let Some(d) = &self.demo {
                let note = PRESETS[self.preset].note;
                ui.label(
                    RichText::new(format!(
                        "demo on 127.0.0.1:{} · {note}",
                        d.addr(self.gateway).port()
                    ))
                    .weak(),
                );
            }
        });
        ui.horizontal(|ui| {
            let l = ui.label("Parallel ranges");
            ui.add(egui::DragValue::new(&mut self.form.segments).range(0..=64))
                .labelled_by(l.id)
                .on_hover_text(
                    "0: one stream. N: the object as 6 MiB ranges, N at a time (each range its own response, with its own unthrottled 10 MB / 6 MB); the whole file is verified",
                );
            ui.separator();
            ui.label("Auth");
            ui.selectable_value(&mut self.form.sigv4, false, "none / API key")
                .on_hover_text("Open, or an API key sent as an x-api-key header (Headers)");
            ui.selectable_value(&mut self.form.sigv4, true, "AWS IAM (SigV4)")
                .on_hover_text(
                    "Sign each request with AWS SigV4 for execute-api, credentials from the AWS chain (environment, profile, SSO, role)",
                );
            if self.form.sigv4 {
                labelled_field(
                    ui,
                    "Region",
                    egui::TextEdit::singleline(&mut self.form.aws_region)
                        .hint_text("from the URL or AWS_REGION")
                        .desired_width(160.0),
                );
                labelled_field(
                    ui,
                    "Profile",
                    egui::TextEdit::singleline(&mut self.form.aws_profile)
                        .hint_text("default chain")
                        .desired_width(120.0),
                );
            }
        });
        if self.headers_open {
            self.headers_ui(ui);
        }
        if let Some(e) = self.demo_error.clone() {
            ui.colored_label(WARN, e);
        }
        if let Some(err) = self.form_error() {
            ui.colored_label(BAD, err);
        } else if self.confirm_overwrite {
            ui.horizontal(|ui| {
                ui.colored_label(
                    WARN,
                    format!("{} exists.", self.form.destination().display()),
                );
                if ui.button("Replace").clicked() {
                    self.start_from_ui(true);
                }
                if ui.button("Keep it").clicked() {
                    self.confirm_overwrite = false;
                }
            });
        }
        ui.add_space(2.0);
    }

    fn start_from_ui(&mut self, replace: bool) {
        if let Err(e) = self.start(replace) {
            self.message = Some(e.to_string());
        }
    }

    pub fn headers_ui(&mut self, ui: &mut egui::Ui) {
        let mut remove = None;
        egui::Grid::new("headers")
            .num_columns(4)
            .spacing([8.0, 4.0])
            .show(ui, |ui| {
                for (i, h) in self.form.headers.iter_mut().enumerate() {
                    header_row_ui(ui, i, h, &mut remove);
                    ui.end_row();
                }
            });
        if let Some(i) = remove {
            self.form.headers.remove(i);
        }
        if ui.button("Add header").clicked() {
            self.form.headers.push(HeaderRow::default());
        }
    }

    fn figures_ui(&mut self, ui: &mut egui::Ui) {
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
                            let mut text =
                                RichText::new(&line.text).color(tone_color(line.tone, ui));
                            if line.label == "sha256" {
                                text = text.monospace().small();
                            }
                            ui.add(egui::Label::new(text).wrap());
                            ui.end_row();
                        }
                    });
                findings_ui(ui, &v.findings);
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
                        self.message = Some(e);
                    }
                    if ui.button("Copy summary").clicked()
                        && let Some(f) = self.selected_run().and_then(|r| r.finished.as_ref())
                    {
                        ui.ctx().copy_text(f.summary.text());
                        self.message = Some("summary copied to the clipboard".into());
                    }
                });
            }
            if let Some(meta) = &self.runs[i].meta {
                egui::CollapsingHeader::new(format!("Response headers ({})", meta.headers.len()))
                    .show(ui, |ui| {
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
                                    ui.add(
                                        egui::Label::new(RichText::new(shown).monospace()).wrap(),
                                    );
                                    ui.end_row();
                                }
                            });
                    });
            }
        } else {
            ui.label("Press Start (or Enter in the URL field) to download.");
            ui.label(
                RichText::new("The local demo is ready: pick a preset to see each verdict.").weak(),
            );
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

    /// Comparisons: the demo's ready one, a targets file, and the table of the last one.
    fn compare_ui(&mut self, ui: &mut egui::Ui) {
        ui.label(RichText::new("Compare").strong());
        ui.horizontal_wrapped(|ui| {
            let idle = self.active.is_none();
            if ui
                .add_enabled(
                    idle && self.demo.is_some(),
                    egui::Button::new("Demo: STREAM / BUFFERED / no gateway"),
                )
                .on_hover_text("The same 24 MiB object through each local path, one after another")
                .clicked()
            {
                self.compare_demo();
            }
            if ui
                .add_enabled(idle, egui::Button::new("Targets file..."))
                .on_hover_text("A TOML file of [[target]] tables (name, url, headers, http, segments, aws_sigv4), as streamscope compare reads it")
                .clicked()
            {
                self.open_targets_dialog();
            }
        });
        let rows = self.batch_rows();
        let Some(b) = &self.batch else {
            return;
        };
        let total = b.runs.len() + b.queue.len();
        ui.label(RichText::new(format!("{} ({} of {total} done)", b.title, rows.len())).weak());
        egui::Grid::new("comparison")
            .striped(true)
            .num_columns(probe::compare::HEADER.len())
            .show(ui, |ui| {
                for h in probe::compare::HEADER {
                    ui.label(RichText::new(h).strong());
                }
                ui.end_row();
                for r in &rows {
                    let tone = if r.outcome == probe::OutcomeKind::Complete {
                        Tone::Good
                    } else {
                        Tone::Bad
                    };
                    for (i, c) in r.cells().iter().enumerate() {
                        if i == 1 {
                            ui.colored_label(tone_color(tone, ui), c);
                        } else {
                            ui.label(c);
                        }
                    }
                    ui.end_row();
                }
            });
        if rows.len() == total
            && ui
                .add_enabled(
                    self.active.is_none(),
                    egui::Button::new("Save comparison (PNG + JSON)..."),
                )
                .clicked()
        {
            self.open_comparison_dialog();
        }
    }

    fn history_ui(&mut self, ui: &mut egui::Ui) {
        ui.label(RichText::new("History").strong());
        let mut select = None;
        for (i, run) in self.runs.iter().enumerate().rev() {
            let tone = run.finished.as_ref().map_or(Tone::Info, |f| f.summary.tone);
            let text =
                RichText::new(format!("{} · {}", run.title(), run.url)).color(tone_color(tone, ui));
            if ui
                .selectable_label(self.selected == Some(i), text)
                .clicked()
            {
                select = Some(i);
            }
        }
        if let Some(i) = select {
            self.selected = Some(i);
            if self.compare == Some(i) {
                self.compare = None;
            }
        }
        if self.runs.len() >= 2 {
            let label = |i: Option<usize>, runs: &[RunRecord]| {
                i.and_then(|i| runs.get(i))
                    .map_or("none".into(), |r| r.title())
            };
            egui::ComboBox::from_label("Overlay throughput of")
                .selected_text(label(self.compare, &self.runs))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.compare, None, "none");
                    for (i, r) in self.runs.iter().enumerate() {
                        if Some(i) != self.selected {
                            ui.selectable_value(&mut self.compare, Some(i), r.title());
                        }
                    }
                });
        }
        ui.checkbox(
            &mut self.fit_recent_rate,
            "Fit throughput axis to the last 10 s",
        )
        .on_hover_text("Off: fit the whole run, including a full-speed start");
        let l = ui.label("Highlight gaps over");
        ui.add(
            egui::DragValue::new(&mut self.gap_threshold_ms)
                .range(10.0..=60_000.0)
                .suffix(" ms"),
        )
        .labelled_by(l.id)
        .on_hover_text("Applies to the next run");
    }

    fn charts_ui(&self, ui: &mut egui::Ui) {
        let Some(run) = self.selected_run() else {
            ui.centered_and_justified(|ui| {
                ui.label(RichText::new("Charts appear here as bytes arrive.").weak())
            });
            return;
        };
        let overlay = self.compare.and_then(|i| self.runs.get(i));
        let finished = run.finished.as_ref().map(|f| &f.result);
        let h = (ui.available_height() - 24.0) / 3.0;
        let s = &run.series;
        // The last 40 windows (10 s) set the scale: O(1) per frame whatever the run's length.
        let recent = |pts: &[egui_plot::PlotPoint]| {
            pts.iter().rev().take(40).map(|p| p.y).fold(0.0, f64::max)
        };
        let recent_max =
            recent(&s.throughput).max(overlay.map_or(0.0, |o| recent(&o.series.throughput)));
        let fit = self.fit_recent_rate;
        // From the request to now, or to the end of the longer run.
        let x_end = run.elapsed_s().max(overlay.map_or(0.0, |o| o.elapsed_s()));
        // Legends low on the right: a plateau runs across the top two thirds of the throughput
        // chart (its axis fits the last 10 s), and the bytes line ends at the top right.
        time_plot("throughput", "MB/s (250 ms windows)", h, x_end)
            .legend(Legend::default().position(Corner::RightBottom))
            .include_y(2.5)
            .show(ui, |p| {
                if fit {
                    p.set_auto_bounds([true, false]);
                    p.set_plot_bounds_y(0.0..=(recent_max * 1.5).max(3.0));
                }
                p.line(
                    Line::new("throughput", PlotPoints::Borrowed(&s.throughput))
                        .color(THROUGHPUT)
                        .width(1.5),
                );
                if let Some(o) = overlay {
                    p.line(
                        Line::new(
                            format!("run #{}", o.id),
                            PlotPoints::Borrowed(&o.series.throughput),
                        )
                        .color(OVERLAY)
                        .width(1.2),
                    );
                }
                p.hline(HLine::new("2 MB/s throttle", 2.0).color(WARN.gamma_multiply(0.7)));
                // Byte marks are about one response: not drawn for interleaved ranges.
                let one_stream = finished.is_none_or(|r| r.segments.is_empty());
                if let Some(t) = s.crossed_6mib_s.filter(|_| one_stream) {
                    p.vline(VLine::new("6 MiB (Lambda)", t).color(Color32::GRAY));
                }
                if let Some(t) = s.crossed_10mib_s.filter(|_| one_stream) {
                    p.vline(VLine::new("10 MiB (API Gateway)", t).color(Color32::LIGHT_GRAY));
                }
                // Each retry or resume request, where it started.
                for a in finished.iter().flat_map(|r| r.attempts.iter().skip(1)) {
                    p.vline(
                        VLine::new("retry (new request)", a.started_ns as f64 / 1e9).color(WARN),
                    );
                }
            });
        time_plot("cumulative", "MB received", h, x_end)
            .legend(Legend::default().position(Corner::RightBottom))
            .show(ui, |p| {
                p.line(
                    Line::new("cumulative bytes", PlotPoints::Borrowed(&s.cumulative))
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
        time_plot("arrivals", "arrival size (KiB)", h, x_end)
            .legend(Legend::default())
            .show(ui, |p| {
                p.points(
                    Points::new("arrivals", PlotPoints::Borrowed(&s.arrival_points))
                        .color(ARRIVAL)
                        .radius(1.5),
                );
                p.points(
                    Points::new(
                        format!("after a gap ≥ {:.0} ms", s.gap_threshold_ns as f64 / 1e6),
                        PlotPoints::Borrowed(&s.gap_points),
                    )
                    .color(BAD)
                    .radius(4.0),
                );
            });
    }
}

/// A chart on the shared time axis. All three get the same extent, 0 to `x_end`: egui_plot's
/// `link_axis` copies bounds between plots, but each plot in auto-bounds mode fits its own data, so
/// without the common extent a stall would show 0–3.5 s in one chart and 0–0.5 s in the next. Once
/// the user zooms or pans one, the link carries its bounds to the others.
fn time_plot(id: &'static str, y_label: &'static str, height: f32, x_end: f64) -> Plot<'static> {
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
fn findings_ui(ui: &mut egui::Ui, findings: &[crate::probe::findings::Finding]) {
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

fn header_row_ui(ui: &mut egui::Ui, i: usize, h: &mut HeaderRow, remove: &mut Option<usize>) {
    let l = ui.label(format!("Header {} name", i + 1));
    ui.add(
        egui::TextEdit::singleline(&mut h.name)
            .hint_text("x-api-key")
            .desired_width(180.0),
    )
    .labelled_by(l.id);
    let secret = h.is_secret();
    let l = ui.label(format!("Header {} value", i + 1));
    ui.add(
        egui::TextEdit::singleline(&mut h.value)
            .password(secret && !h.reveal)
            .desired_width(360.0),
    )
    .labelled_by(l.id);
    if secret {
        ui.checkbox(&mut h.reveal, "show");
    } else {
        ui.label("");
    }
    if ui.button(format!("Remove header {}", i + 1)).clicked() {
        *remove = Some(i);
    }
}

fn run_figures_ui(ui: &mut egui::Ui, run: &RunRecord, running: bool) {
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
        let bar = match expected.filter(|n| *n > 0) {
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
        };
        ui.add(bar);
    }
}
