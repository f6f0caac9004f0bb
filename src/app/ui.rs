//! Drawing: the window's layout (request panel on top, the selected run's figures on the left, its
//! charts in the middle) and the widgets and colours every panel shares.

use super::StreamscopeApp;
use crate::probe::output::printer::Tone;
use egui::Color32;

pub(super) const GOOD: Color32 = Color32::from_rgb(80, 200, 120);
pub(super) const WARN: Color32 = Color32::from_rgb(240, 180, 60);
pub(super) const BAD: Color32 = Color32::from_rgb(235, 90, 80);
pub(super) const THROUGHPUT: Color32 = Color32::from_rgb(255, 176, 46);
pub(super) const OVERLAY: Color32 = Color32::from_rgb(120, 160, 255);
pub(super) const ARRIVAL: Color32 = Color32::from_rgb(64, 196, 180);
pub(super) const RANGE: Color32 = Color32::from_rgb(190, 140, 255);

pub(super) fn tone_color(t: Tone, ui: &egui::Ui) -> Color32 {
    match t {
        Tone::Good => GOOD,
        Tone::Warn => WARN,
        Tone::Bad => BAD,
        Tone::Info => ui.visuals().text_color(),
    }
}

/// A text field with a visible label that screen readers (and egui_kittest) find it by.
pub(super) fn labelled_field(
    ui: &mut egui::Ui,
    label: &str,
    edit: egui::TextEdit<'_>,
) -> egui::Response {
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
}
