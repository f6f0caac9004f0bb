//! "Run a template locally...": a SAM/CloudFormation template's stack started on the app's
//! runtime (as `streamscope local` starts it), its methods offered as the URL, and the function
//! log of the selected run. Dropping the stack (Stop, another template, closing the window) ends
//! its function processes.

use super::files::Dialog;
use super::ui::*;
use super::{Dialogs, HeaderRow, StreamscopeApp};
use crate::emulator::local::{Hosted, host, method_url};
use crate::emulator::profile::Profile;
use egui::RichText;
use poll_promise::Promise;

/// The template being hosted, or being asked for, or starting.
#[derive(Default)]
pub struct Hosting {
    dialog: Option<Dialog>,
    starting: Option<Promise<Result<Hosted, String>>>,
    pub hosted: Option<Hosted>,
    /// The method whose URL the form shows.
    pub method: usize,
    /// Start a download of the first method once the stack runs.
    start_when_running: bool,
}

impl Hosting {
    pub(super) fn busy(&self) -> bool {
        self.dialog.is_some() || self.starting.is_some()
    }
}

impl StreamscopeApp {
    /// Runs `template`, as if the dialog had named it; `start`: download its first method then.
    pub fn host_template(&mut self, template: std::path::PathBuf, start: bool) {
        self.hosting.dialog = Some(Promise::from_ready(Some(template)));
        self.hosting.start_when_running = start;
    }

    pub(super) fn open_template_dialog(&mut self) {
        let dialog = match &mut self.dialogs {
            Dialogs::Answers(answers) => Promise::from_ready(answers.pop_front().flatten()),
            Dialogs::Native => {
                let dialog = rfd::AsyncFileDialog::new()
                    .set_title("Run a SAM or CloudFormation template locally")
                    .set_directory(&self.form.dest_dir)
                    .add_filter("template", &["yaml", "yml", "json", "template"]);
                let _guard = self.rt.enter();
                Promise::spawn_async(async move {
                    dialog.pick_file().await.map(|h| h.path().to_path_buf())
                })
            }
        };
        self.hosting.dialog = Some(dialog);
    }

    /// The dialog's answer starts the stack; the started stack fills the form.
    pub(super) fn poll_hosting(&mut self) {
        if let Some(p) = self.hosting.dialog.take() {
            match p.try_take() {
                Ok(Some(path)) => {
                    // The previous stack, if any, ends first.
                    self.hosting.hosted = None;
                    let _guard = self.rt.enter();
                    self.hosting.starting = Some(Promise::spawn_async(async move {
                        host(&path, Profile::aws()).await
                    }));
                    self.message = Some("starting the template's stack...".into());
                }
                Ok(None) => {}
                Err(p) => self.hosting.dialog = Some(p),
            }
        }
        if let Some(p) = self.hosting.starting.take() {
            match p.try_take() {
                Ok(Ok(h)) => {
                    self.message = Some(format!(
                        "{}: {} method(s) on {}",
                        h.template.display(),
                        h.stack.methods.len(),
                        h.addr
                    ));
                    self.hosting.hosted = Some(h);
                    self.use_method(0);
                    if std::mem::take(&mut self.hosting.start_when_running)
                        && let Err(e) = self.start(true)
                    {
                        self.message = Some(e.to_string());
                    }
                }
                Ok(Err(e)) => self.message = Some(format!("the template cannot run: {e}")),
                Err(p) => self.hosting.starting = Some(p),
            }
        }
    }

    /// Fills the URL (and the key header, for a keyed method) with method `i` of the stack.
    pub fn use_method(&mut self, i: usize) {
        let Some(h) = &self.hosting.hosted else {
            return;
        };
        let Some(m) = h.stack.methods.get(i) else {
            return;
        };
        self.hosting.method = i;
        self.form.url = method_url(h.addr, m);
        self.form
            .headers
            .retain(|r| !r.name.eq_ignore_ascii_case("x-api-key"));
        if m.api_key_required {
            self.form.headers.push(HeaderRow {
                name: "x-api-key".into(),
                value: h.key.clone(),
                ..HeaderRow::default()
            });
        }
        self.confirm_overwrite = false;
    }

    /// The template row: open one, and once it runs, its methods and Stop.
    pub(super) fn template_row_ui(&mut self, ui: &mut egui::Ui) {
        if ui
            .button("Run a template locally...")
            .on_hover_text("Start a SAM/CloudFormation template's API and functions on this machine, as `streamscope local` does")
            .clicked()
        {
            self.open_template_dialog();
        }
        let Some(h) = &self.hosting.hosted else {
            if self.hosting.starting.is_some() {
                ui.spinner();
            }
            ui.separator();
            self.demo_note_ui(ui);
            return;
        };
        let labels: Vec<String> = h
            .stack
            .methods
            .iter()
            .map(|m| {
                format!(
                    "{} /{}{} -> {} ({})",
                    m.http_method, m.stage, m.path, m.function, m.mode
                )
            })
            .collect();
        let mut chosen = self.hosting.method.min(labels.len().saturating_sub(1));
        let name = h
            .template
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        ui.label(RichText::new(format!("{name} on {}", h.addr)).weak());
        egui::ComboBox::from_label("Template method")
            .selected_text(labels.get(chosen).cloned().unwrap_or_default())
            .show_ui(ui, |ui| {
                for (i, l) in labels.iter().enumerate() {
                    ui.selectable_value(&mut chosen, i, l);
                }
            });
        if chosen != self.hosting.method {
            self.use_method(chosen);
        }
        if ui.button("Stop the template").clicked() {
            self.hosting.hosted = None;
            self.message = Some("the template's stack stopped".into());
        }
    }
}

/// The function log of a run against a hosted function: the lines of its invocation.
pub(super) fn function_log_ui(ui: &mut egui::Ui, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    egui::CollapsingHeader::new(format!("Function log ({} lines)", lines.len()))
        .default_open(true)
        .show(ui, |ui| {
            egui::ScrollArea::vertical()
                .id_salt("function-log")
                .max_height(180.0)
                .show(ui, |ui| {
                    for l in lines {
                        let tone = if l.contains("Task timed out") || l.starts_with("50") {
                            BAD
                        } else {
                            ui.visuals().text_color()
                        };
                        ui.label(RichText::new(l.replace('\t', "  ")).monospace().color(tone));
                    }
                });
        });
}
