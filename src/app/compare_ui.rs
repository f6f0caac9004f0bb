//! The comparison panel: the demo comparison or a targets file, and its table.

use super::StreamscopeApp;
use super::ui::*;
use crate::probe::output::printer::Tone;
use crate::probe::{self};
use egui::RichText;

impl StreamscopeApp {
    /// Comparisons: the demo's ready one, a targets file, and the table of the last one.
    pub(super) fn compare_ui(&mut self, ui: &mut egui::Ui) {
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
            .num_columns(probe::output::compare::HEADER.len())
            .show(ui, |ui| {
                for h in probe::output::compare::HEADER {
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
}
