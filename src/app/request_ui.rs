//! The request area, laid out as the API clients users know: where the endpoint comes from (the
//! local demo, a local template's method, or a URL), the URL with Start, then Headers, Auth and
//! Options as tabs that fold away, and where the file goes.

use super::ui::*;
use super::{HeaderRow, Source, StreamscopeApp};
use crate::demo::PRESETS;
use crate::emulator::gateway::GatewayMode;
use crate::probe::HttpVersion;
use egui::RichText;

/// The tabs below the URL; the open one shows its fields, a second click folds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestTab {
    Headers,
    Auth,
    Options,
    /// A hosted template's methods, as `local`'s start-up table.
    Methods,
}

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
        ui.horizontal(|ui| self.source_row_ui(ui));
        ui.horizontal(|ui| self.url_row_ui(ui));
        ui.horizontal(|ui| self.tabs_row_ui(ui));
        match self.tab {
            Some(RequestTab::Headers) => self.headers_ui(ui),
            Some(RequestTab::Auth) => {
                ui.horizontal(|ui| self.auth_ui(ui));
            }
            Some(RequestTab::Options) => self.options_ui(ui),
            Some(RequestTab::Methods) => self.methods_ui(ui),
            None => {}
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

    /// Where the endpoint comes from, and that source's own controls.
    fn source_row_ui(&mut self, ui: &mut egui::Ui) {
        let mut source = self.source;
        for s in Source::ALL {
            ui.selectable_value(&mut source, s, s.label())
                .on_hover_text(match s {
                    Source::Demo => "A demo endpoint on this machine: streamscope's backend behind an emulated API Gateway (STREAM or BUFFERED) or none",
                    Source::Template => "A SAM/CloudFormation template's API and functions run on this machine, as `streamscope local` runs them",
                    Source::Url => "Your own endpoint: paste its URL",
                });
        }
        if source != self.source {
            self.choose_source(source);
        }
        ui.separator();
        match self.source {
            Source::Demo => self.demo_controls_ui(ui),
            Source::Template => self.template_row_ui(ui),
            Source::Url => {
                ui.label(
                    RichText::new(
                        "an API key goes in Headers (x-api-key); IAM signing is under Auth",
                    )
                    .weak(),
                );
            }
        }
    }

    /// Switches the source: the demo's URL, the template's method, or the URL last typed.
    pub fn choose_source(&mut self, source: Source) {
        if self.source == Source::Url {
            self.user_url = self.form.url.clone();
        }
        self.source = source;
        match source {
            Source::Demo => self.refill_demo_url(),
            Source::Template => self.use_method(self.hosting.method),
            Source::Url => {
                // Starting from what was shown is handy (edit the demo's size); a URL typed
                // before comes back.
                if !self.user_url.trim().is_empty() {
                    self.form.url = self.user_url.clone();
                }
            }
        }
        self.confirm_overwrite = false;
    }

    /// The demo's preset and gateway mode, and where it serves.
    fn demo_controls_ui(&mut self, ui: &mut egui::Ui) {
        ui.add_enabled_ui(self.demo.is_some(), |ui| {
            let mut preset = self.preset;
            let l = ui.label("preset");
            egui::ComboBox::from_id_salt("preset")
                .selected_text(PRESETS[preset].name)
                .width(230.0)
                .show_ui(ui, |ui| {
                    for (i, p) in PRESETS.iter().enumerate() {
                        ui.selectable_value(&mut preset, i, p.name)
                            .on_hover_text(p.note);
                    }
                })
                .response
                .labelled_by(l.id);
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
        self.demo_note_ui(ui);
    }

    /// The URL and Start, on one line.
    fn url_row_ui(&mut self, ui: &mut egui::Ui) {
        let running = self.is_running();
        let url = labelled_field(
            ui,
            "URL",
            egui::TextEdit::singleline(&mut self.form.url)
                .hint_text("https://abc123.execute-api.eu-west-1.amazonaws.com/prod/download")
                .desired_width(ui.available_width() - 150.0),
        );
        if url.changed() {
            self.confirm_overwrite = false;
        }
        if url.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) && !running {
            self.start_from_ui(false);
        }
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
    }

    /// Headers, Auth and Options (each says what it holds), then where the file goes.
    fn tabs_row_ui(&mut self, ui: &mut egui::Ui) {
        let n = self
            .form
            .headers
            .iter()
            .filter(|h| !h.name.trim().is_empty())
            .count();
        let auth = if self.form.sigv4 {
            "IAM"
        } else if self
            .form
            .headers
            .iter()
            .any(|h| h.name.trim().eq_ignore_ascii_case("x-api-key"))
        {
            "API key"
        } else {
            "none"
        };
        let mut tabs = vec![
            (RequestTab::Headers, format!("Headers ({n})")),
            (RequestTab::Auth, format!("Auth ({auth})")),
            (
                RequestTab::Options,
                format!("Options ({})", self.options_summary()),
            ),
        ];
        match &self.hosting.hosted {
            Some(h) if self.source == Source::Template => {
                tabs.push((
                    RequestTab::Methods,
                    format!("Methods ({})", h.stack.methods.len()),
                ));
            }
            _ if self.tab == Some(RequestTab::Methods) => self.tab = None,
            _ => {}
        }
        for (tab, label) in tabs {
            if ui.selectable_label(self.tab == Some(tab), label).clicked() {
                self.tab = (self.tab != Some(tab)).then_some(tab);
            }
        }
        ui.separator();
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

    /// The options that differ from a plain download, in a few words ("defaults" when none).
    fn options_summary(&self) -> String {
        let f = &self.form;
        let mut parts = Vec::new();
        if f.http_version != HttpVersion::Auto {
            parts.push(f.http_version.label().to_string());
        }
        if f.segments > 0 {
            parts.push(format!("{} ranges", f.segments));
        }
        if !f.expect_sha256.trim().is_empty() {
            parts.push("SHA-256".into());
        }
        if !f.cacert.trim().is_empty() {
            parts.push("CA file".into());
        }
        if f.insecure {
            parts.push("TLS unchecked".into());
        }
        if !f.thresholds.trim().is_empty() {
            parts.push("thresholds".into());
        }
        if parts.is_empty() {
            "defaults".into()
        } else {
            parts.join(", ")
        }
    }

    /// How requests are authorised: open or an API key (a header), or AWS IAM (SigV4).
    fn auth_ui(&mut self, ui: &mut egui::Ui) {
        ui.selectable_value(&mut self.form.sigv4, false, "none / API key")
            .on_hover_text("Open, or an API key sent as an x-api-key header (Headers)");
        ui.selectable_value(&mut self.form.sigv4, true, "AWS IAM (SigV4)")
            .on_hover_text(
                "Sign each request with AWS SigV4 for execute-api, credentials from the AWS chain (environment, profile, SSO, role)",
            );
        ui.separator();
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
            ui.label(
                RichText::new("credentials come from the AWS chain and are never stored").weak(),
            );
        } else if self
            .form
            .headers
            .iter()
            .any(|h| h.name.trim().eq_ignore_ascii_case("x-api-key"))
        {
            ui.label(RichText::new("the API key is the x-api-key header (Headers)").weak());
        } else if ui
            .button("Add an API key header")
            .on_hover_text("An x-api-key header, for a method with ApiKeyRequired")
            .clicked()
        {
            self.form.headers.push(HeaderRow {
                name: "x-api-key".into(),
                ..HeaderRow::default()
            });
            self.tab = Some(RequestTab::Headers);
        }
    }

    /// HTTP version, idle timeout, parallel ranges, TLS trust, the expected digest, thresholds.
    fn options_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let l = ui.label("HTTP");
            egui::ComboBox::from_id_salt("http-version")
                .selected_text(self.form.http_version.label())
                .show_ui(ui, |ui| {
                    for v in [HttpVersion::Auto, HttpVersion::Http1, HttpVersion::Http2] {
                        ui.selectable_value(&mut self.form.http_version, v, v.label());
                    }
                })
                .response
                .labelled_by(l.id);
            let l = ui.label("idle timeout");
            ui.add(
                egui::DragValue::new(&mut self.form.idle_timeout_s)
                    .range(0.1..=3600.0)
                    .speed(0.5)
                    .suffix(" s"),
            )
            .labelled_by(l.id)
            .on_hover_text("Give up after this long without a byte");
            ui.separator();
            let l = ui.label("Parallel ranges");
            ui.add(egui::DragValue::new(&mut self.form.segments).range(0..=64))
                .labelled_by(l.id)
                .on_hover_text(
                    "0: one stream. N: the object as 6 MiB ranges, N at a time (each range its own response, with its own unthrottled 10 MB / 6 MB); the whole file is verified",
                );
            ui.separator();
            labelled_field(
                ui,
                "CA certificate",
                egui::TextEdit::singleline(&mut self.form.cacert)
                    .hint_text("optional: PEM file to trust")
                    .desired_width(220.0),
            )
            .on_hover_text("Trust the CA certificates in this PEM file, besides the system's");
            ui.checkbox(&mut self.form.insecure, "Skip TLS verification")
                .on_hover_text("Do not check the server's certificate (the summary says so)");
        });
        ui.horizontal(|ui| {
            labelled_field(
                ui,
                "Expected SHA-256",
                egui::TextEdit::singleline(&mut self.form.expect_sha256)
                    .hint_text("optional: 64 hex digits")
                    .desired_width(480.0)
                    .font(egui::TextStyle::Monospace),
            );
            labelled_field(
                ui,
                "Thresholds",
                egui::TextEdit::singleline(&mut self.form.thresholds)
                    .hint_text("optional: first_byte_ms<1000, after_10mib>=1.9MB/s")
                    .desired_width(ui.available_width()),
            )
            .on_hover_text(
                "What the run must meet, comma-separated: the verdict says which were missed \
                 (as get --require; figures: first_byte_ms, after_10mib, delivery, findings.errors, \
                 duration, bytes, verified, ...)",
            );
        });
    }

    /// What the demo's preset does (where it serves is in the URL).
    pub(super) fn demo_note_ui(&self, ui: &mut egui::Ui) {
        if self.demo.is_some() {
            let note = PRESETS[self.preset].note;
            // Ends in "…" (the whole text on hover) rather than running off a narrow window.
            ui.add(egui::Label::new(RichText::new(note).weak()).truncate());
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
