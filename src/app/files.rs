//! Files the user names: native save/open dialogs (or answers given in advance) and the writes
//! that follow them (report, chart, comparison), all off the UI thread.

use super::*;
use crate::probe::{self};
use poll_promise::Promise;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// Where file dialogs come from: the native one (rfd, on the runtime), or answers given in advance,
/// one per dialog opened (tests, and any caller that already knows the path).
pub enum Dialogs {
    Native,
    Answers(VecDeque<Option<PathBuf>>),
}

pub(super) type Dialog = Promise<Option<PathBuf>>;

/// What a save dialog is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SaveWhat {
    Report,
    Chart,
    /// Every run of the comparison, overlaid.
    Comparison,
}

impl StreamscopeApp {
    /// Writes a run's report on the runtime: JSON at `json_path`, the arrivals CSV beside it. The
    /// message says how it went once it has.
    pub(super) fn write_report(&mut self, record: usize, json_path: PathBuf) {
        let Some(f) = self.runs.get(record).and_then(|r| r.finished.as_ref()) else {
            self.message = Some("no finished run selected".into());
            return;
        };
        let (result, figures) = (f.result.clone(), f.figures.clone());
        let findings = f.summary.findings.clone();
        let _guard = self.rt.enter();
        self.report_write = Some(Promise::spawn_blocking(move || {
            let csv_path = json_path.with_extension("csv");
            probe::output::report::write_json(&result, &figures, &findings, &json_path)
                .map_err(|e| format!("cannot write {}: {e}", json_path.display()))?;
            probe::output::report::write_csv(&result, &csv_path)
                .map_err(|e| format!("cannot write {}: {e}", csv_path.display()))?;
            Ok(format!(
                "saved {} and {}",
                json_path.display(),
                csv_path.display()
            ))
        }));
    }

    pub(super) fn ask_for_file(
        &mut self,
        title: &str,
        dir: &Path,
        name: &str,
        filter: Option<(&str, &str)>,
    ) -> Dialog {
        match &mut self.dialogs {
            Dialogs::Answers(answers) => Promise::from_ready(answers.pop_front().flatten()),
            Dialogs::Native => {
                let mut dialog = rfd::AsyncFileDialog::new()
                    .set_title(title)
                    .set_directory(dir)
                    .set_file_name(name);
                if let Some((what, ext)) = filter {
                    dialog = dialog.add_filter(what, &[ext]);
                }
                let _guard = self.rt.enter();
                Promise::spawn_async(async move {
                    dialog.save_file().await.map(|h| h.path().to_path_buf())
                })
            }
        }
    }

    /// The native "open" dialog for an existing file (from the form's folder), or the next
    /// scripted answer.
    pub(super) fn ask_for_existing_file(&mut self, title: &str, filter: (&str, &[&str])) -> Dialog {
        match &mut self.dialogs {
            Dialogs::Answers(answers) => Promise::from_ready(answers.pop_front().flatten()),
            Dialogs::Native => {
                let dialog = rfd::AsyncFileDialog::new()
                    .set_title(title)
                    .set_directory(&self.form.dest_dir)
                    .add_filter(filter.0, filter.1);
                let _guard = self.rt.enter();
                Promise::spawn_async(async move {
                    dialog.pick_file().await.map(|h| h.path().to_path_buf())
                })
            }
        }
    }

    pub(super) fn open_save_to_dialog(&mut self) {
        let dest = self.form.destination();
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = self.form.dest_dir.clone();
        self.save_to_dialog = Some(self.ask_for_file("Save the download to", &dir, &name, None));
    }

    pub(super) fn open_report_dialog(&mut self) {
        self.open_run_dialog(
            SaveWhat::Report,
            "Save the report (JSON, with the arrivals CSV beside it)",
            ("JSON report", "json"),
        );
    }

    /// Asks where to save something of the selected run, beside its download by default.
    pub(super) fn open_run_dialog(
        &mut self,
        what: SaveWhat,
        title: &str,
        (kind, ext): (&str, &str),
    ) {
        let Some(index) = self.selected.filter(|i| *i < self.runs.len()) else {
            return;
        };
        let run = &self.runs[index];
        let name = format!("streamscope-run{}.{ext}", run.id);
        let dir = run
            .dest
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.form.dest_dir.clone());
        let dialog = self.ask_for_file(title, &dir, &name, Some((kind, ext)));
        self.report_dialog = Some((index, what, dialog));
    }

    /// The comparison's runs overlaid in a PNG at `png`, their rows and reports in a JSON beside.
    pub(super) fn write_comparison(&mut self, png: PathBuf) {
        let Some(b) = &self.batch else {
            return;
        };
        let done: Vec<(String, Finished)> = b
            .runs
            .iter()
            .filter_map(|(name, i)| Some((name.clone(), self.runs.get(*i)?.finished.clone()?)))
            .collect();
        let title = format!("streamscope compare: {}", b.title);
        let _guard = self.rt.enter();
        self.report_write = Some(Promise::spawn_blocking(move || {
            let runs: Vec<crate::chart::ChartRun> = done
                .iter()
                .map(|(name, f)| {
                    crate::chart::ChartRun::of_result(
                        format!("{name} ({})", f.result.outcome.kind()),
                        &f.result,
                    )
                })
                .collect();
            crate::chart::png::render_png(&png, &title, &runs).map_err(|e| e.to_string())?;
            let items: Vec<probe::output::compare::Compared<'_>> = done
                .iter()
                .map(|(name, f)| probe::output::compare::Compared {
                    name,
                    result: &f.result,
                    figures: &f.figures,
                    findings: &f.summary.findings,
                })
                .collect();
            let json = png.with_extension("json");
            probe::output::compare::write_comparison_json(&json, &items)
                .map_err(|e| format!("cannot write {}: {e}", json.display()))?;
            Ok(format!("saved {} and {}", png.display(), json.display()))
        }));
    }

    /// Draws run `record`'s charts (with the overlaid run, when one is) into `png`.
    pub(super) fn write_chart(&mut self, record: usize, png: PathBuf) {
        let chart_of = |r: &RunRecord| {
            r.finished
                .as_ref()
                .map(|f| crate::chart::ChartRun::of_result(format!("run #{}", r.id), &f.result))
        };
        let Some(main) = self.runs.get(record).and_then(chart_of) else {
            self.message = Some("no finished run selected".into());
            return;
        };
        let mut runs = vec![main];
        runs.extend(
            self.compare
                .filter(|&i| i != record)
                .and_then(|i| self.runs.get(i))
                .and_then(chart_of),
        );
        let title = match self.runs[record].finished.as_ref() {
            Some(f) => format!("{} · {}", self.runs[record].url, f.summary.headline),
            None => self.runs[record].url.clone(),
        };
        let _guard = self.rt.enter();
        self.report_write = Some(Promise::spawn_blocking(move || {
            crate::chart::png::render_png(&png, &title, &runs).map_err(|e| e.to_string())?;
            Ok(format!("saved {}", png.display()))
        }));
    }

    /// Picks up answers from the dialogs (`None` when the user cancelled or no dialog could open:
    /// the headless case) and finished report writes.
    pub(super) fn poll_dialogs(&mut self) {
        if let Some(p) = self.save_to_dialog.take() {
            match p.try_take() {
                Ok(Some(path)) => {
                    if let Some(dir) = path.parent().filter(|d| d.is_dir()) {
                        self.form.dest_dir = dir.to_path_buf();
                    }
                    self.form.dest_path = path.display().to_string();
                    self.confirm_overwrite = false;
                }
                Ok(None) => {}
                Err(p) => self.save_to_dialog = Some(p),
            }
        }
        if let Some((record, what, p)) = self.report_dialog.take() {
            match p.try_take() {
                Ok(Some(path)) => match what {
                    SaveWhat::Report => self.write_report(record, path),
                    SaveWhat::Chart => self.write_chart(record, path),
                    SaveWhat::Comparison => self.write_comparison(path),
                },
                Ok(None) => {}
                Err(p) => self.report_dialog = Some((record, what, p)),
            }
        }
        if let Some(p) = self.targets_dialog.take() {
            match p.try_take() {
                Ok(Some(path)) => self.compare_file(&path),
                Ok(None) => {}
                Err(p) => self.targets_dialog = Some(p),
            }
        }
        if let Some(p) = self.report_write.take() {
            match p.try_take() {
                Ok(Ok(done)) | Ok(Err(done)) => self.message = Some(done),
                Err(p) => self.report_write = Some(p),
            }
        }
        self.poll_hosting();
    }
}
