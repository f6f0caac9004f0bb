//! The request panel: URL and Start, the demo's presets and gateway mode, headers, auth, TLS and
//! the destination.

use super::ui::*;
use super::{HeaderRow, StreamscopeApp};
use crate::demo::PRESETS;
use crate::emulator::gateway::GatewayMode;
use crate::probe::HttpVersion;
use egui::RichText;

pub(super) fn header_row_ui(
    ui: &mut egui::Ui,
    i: usize,
    h: &mut HeaderRow,
    remove: &mut Option<usize>,
) {
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

impl StreamscopeApp {
    pub(super) fn request_ui(&mut self, ui: &mut egui::Ui) {
        ui.add_space(4.0);
        ui.horizontal(|ui| self.url_row_ui(ui));
        ui.horizontal(|ui| self.controls_row_ui(ui));
        ui.horizontal(|ui| self.checks_row_ui(ui));
        ui.horizontal(|ui| self.ranges_auth_row_ui(ui));
        ui.horizontal(|ui| self.template_row_ui(ui));
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

    /// URL, where the file goes.
    fn url_row_ui(&mut self, ui: &mut egui::Ui) {
        let running = self.is_running();
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
    }

    /// Start and Cancel, the local demo, the HTTP version, the idle timeout.
    fn controls_row_ui(&mut self, ui: &mut egui::Ui) {
        let running = self.is_running();
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
    }

    /// Headers, the expected digest, TLS trust, and what the demo serves.
    fn checks_row_ui(&mut self, ui: &mut egui::Ui) {
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
    }

    /// Thresholds, parallel ranges and how requests are authorised.
    fn ranges_auth_row_ui(&mut self, ui: &mut egui::Ui) {
        labelled_field(
            ui,
            "Thresholds",
            egui::TextEdit::singleline(&mut self.form.thresholds)
                .hint_text("optional: first_byte_ms<1000, after_10mib>=1.9MB/s")
                .desired_width(220.0),
        )
        .on_hover_text(
            "What the run must meet, comma-separated: the verdict says which were missed \
             (as get --require; figures: first_byte_ms, after_10mib, delivery, findings.errors, \
             duration, bytes, verified, ...)",
        );
        ui.separator();
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
    }

    /// Where the local demo serves and what its preset does (on the source row, where it has the
    /// width to be read whole at 1280 px).
    pub(super) fn demo_note_ui(&self, ui: &mut egui::Ui) {
        if let Some(d) = &self.demo {
            let note = PRESETS[self.preset].note;
            // Ends in "…" (the whole text on hover) rather than running off a narrow window.
            ui.add(
                egui::Label::new(
                    RichText::new(format!(
                        "demo on 127.0.0.1:{} · {note}",
                        d.addr(self.gateway).port()
                    ))
                    .weak(),
                )
                .truncate(),
            );
        }
    }

    pub(super) fn start_from_ui(&mut self, replace: bool) {
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
}
