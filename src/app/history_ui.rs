//! The session's runs: select one, overlay another, resume or save one.

use super::ui::*;
use super::{RunRecord, StreamscopeApp};
use crate::probe::output::printer::Tone;
use egui::RichText;

impl StreamscopeApp {
    pub(super) fn history_ui(&mut self, ui: &mut egui::Ui) {
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
}
