//! "Run a template locally...": a SAM/CloudFormation template's stack started on the app's
//! runtime (as `streamscope local` starts it), its methods offered as the URL, and the function
//! log of the selected run. Dropping the stack (Stop, another template, closing the window) ends
//! its function processes. The repository's own three backends run this way with one click.

use super::files::Dialog;
use super::ui::*;
use super::{HeaderRow, StreamscopeApp};
use crate::emulator::local::{Hosted, host, method_url_to};
use crate::emulator::profile::Profile;
use egui::RichText;
use poll_promise::Promise;
use std::path::{Path, PathBuf};

/// One of the repository's backends, run from its SAM template with one click.
pub struct Backend {
    pub name: &'static str,
    /// The template, from the repository's root.
    pub template: &'static str,
    /// What the method's `{proxy+}` stands for in the URL the form gets.
    pub proxy: &'static str,
    /// The backend relays `UpstreamUrl` (given the demo's own full-speed server); otherwise it
    /// makes its bytes itself.
    pub relays: bool,
}

pub const BACKENDS: [Backend; 3] = [
    Backend {
        name: "Rust backend",
        template: "src/backend/template.yaml",
        proxy: "download?size=50MiB",
        relays: false,
    },
    Backend {
        name: "Node.js backend",
        template: "src/backend/node/template.yaml",
        proxy: "download",
        relays: true,
    },
    Backend {
        name: "Python backend",
        template: "src/backend/python/template.yaml",
        proxy: "download",
        relays: true,
    },
];

/// The streamscope checkout this app runs from (where `src/backend/template.yaml` is): the
/// working directory or one above it, or above the executable (`target/release/streamscope`).
pub fn repository() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok();
    let exe = std::env::current_exe().ok();
    let starts = cwd.iter().chain(exe.iter());
    starts
        .flat_map(|p| p.ancestors().take(4))
        .find(|d| d.join(BACKENDS[0].template).is_file() && d.join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
}

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
    /// The parameter overrides the next stack starts with.
    overrides: Vec<(String, String)>,
    /// What a `{proxy+}` stands for in the form's URL.
    proxy: String,
    /// The parameters a template opened here starts with, `K=V K2=V2` (as
    /// `--parameter-overrides`).
    pub parameters: String,
    /// The checkout the app runs from, looked for once.
    repository: std::sync::OnceLock<Option<PathBuf>>,
}

impl Hosting {
    /// A dialog is open or a stack is starting.
    pub fn busy(&self) -> bool {
        self.dialog.is_some() || self.starting.is_some()
    }
}

impl StreamscopeApp {
    /// Runs `template`, as if the dialog had named it; `start`: download its first method then.
    /// The Parameters field's overrides apply.
    pub fn host_template(&mut self, template: PathBuf, start: bool) {
        if self.take_parameters() {
            self.hosting.dialog = Some(Promise::from_ready(Some(template)));
            self.hosting.start_when_running = start;
        }
    }

    /// The Parameters field as the next stack's overrides; false (and the reason said) when it
    /// is not `K=V ...`.
    fn take_parameters(&mut self) -> bool {
        let text = [self.hosting.parameters.clone()];
        match crate::emulator::template::key_values(&text, "Parameters") {
            Ok(o) => {
                self.hosting.overrides = o;
                self.hosting.proxy = "x".into();
                true
            }
            Err(e) => {
                self.message = Some(e);
                false
            }
        }
    }

    /// Runs backend `i` of [`BACKENDS`] from the repository at `repo`; a relaying backend relays
    /// 50 MiB from the demo's own server (no gateway, full speed).
    pub fn host_backend(&mut self, repo: &Path, i: usize) {
        let Some(b) = BACKENDS.get(i) else { return };
        let mut overrides = Vec::new();
        if b.relays {
            let Some(d) = &self.demo else {
                self.message = Some(format!(
                    "{} relays the local demo's data, which did not start",
                    b.name
                ));
                return;
            };
            overrides.push((
                "UpstreamUrl".to_string(),
                format!("http://{}/download?size=50MiB", d.off),
            ));
        }
        self.hosting.dialog = Some(Promise::from_ready(Some(repo.join(b.template))));
        self.hosting.start_when_running = false;
        self.hosting.overrides = overrides;
        self.hosting.proxy = b.proxy.into();
    }

    pub(super) fn open_template_dialog(&mut self) {
        if !self.take_parameters() {
            return;
        }
        let dialog = self.ask_for_existing_file(
            "Run a SAM or CloudFormation template locally",
            ("template", &["yaml", "yml", "json", "template"]),
        );
        self.hosting.dialog = Some(dialog);
    }

    /// The dialog's answer starts the stack; the started stack fills the form.
    pub(super) fn poll_hosting(&mut self) {
        if let Some(p) = self.hosting.dialog.take() {
            match p.try_take() {
                Ok(Some(path)) => {
                    // The previous stack, if any, ends first.
                    self.hosting.hosted = None;
                    let overrides = self.hosting.overrides.clone();
                    let _guard = self.rt.enter();
                    self.hosting.starting = Some(Promise::spawn_async(async move {
                        host(&path, &overrides, Profile::aws()).await
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
                    // A backend's download is under its greedy path; otherwise the first method.
                    let first = h
                        .stack
                        .methods
                        .iter()
                        .position(|m| {
                            m.path.contains("{proxy+}")
                                && !matches!(self.hosting.proxy.as_str(), "" | "x")
                        })
                        .unwrap_or(0);
                    self.hosting.hosted = Some(h);
                    self.source = super::Source::Template;
                    self.use_method(first);
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
        let proxy = Some(self.hosting.proxy.as_str()).filter(|p| !p.is_empty());
        self.form.url = method_url_to(h.addr, m, proxy.unwrap_or("x"));
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

    /// The template source: open one (or one of the repository's backends); once it runs, its
    /// methods and Stop.
    pub(super) fn template_row_ui(&mut self, ui: &mut egui::Ui) {
        if ui
            .button("Run a template locally...")
            .on_hover_text("Start a SAM/CloudFormation template's API and functions on this machine, as `streamscope local` does")
            .clicked()
        {
            self.open_template_dialog();
        }
        let Some(h) = &self.hosting.hosted else {
            labelled_field(
                ui,
                "Parameters",
                egui::TextEdit::singleline(&mut self.hosting.parameters)
                    .hint_text("K=V ... (optional)")
                    .desired_width(170.0),
            )
            .on_hover_text("The template's parameter overrides, as `streamscope local --parameter-overrides`: a parameter without a Default needs one");
            ui.separator();
            self.backends_ui(ui);
            if self.hosting.starting.is_some() {
                ui.spinner();
            }
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
        let where_ = format!("{name} on {}", h.addr);
        let l = ui.label("method");
        egui::ComboBox::from_id_salt("template-method")
            .selected_text(labels.get(chosen).cloned().unwrap_or_default())
            .width(360.0)
            .show_ui(ui, |ui| {
                for (i, l) in labels.iter().enumerate() {
                    ui.selectable_value(&mut chosen, i, l);
                }
            })
            .response
            .labelled_by(l.id)
            .on_hover_text("Template method: its URL (and its key, if it needs one) fill the form");
        if chosen != self.hosting.method {
            self.use_method(chosen);
        }
        if ui.button("Stop the template").clicked() {
            self.hosting.hosted = None;
            self.message = Some("the template's stack stopped".into());
        }
        ui.add(egui::Label::new(RichText::new(where_).weak()).truncate());
    }

    /// The hosted stack's methods as `local`'s start-up table; a click on a method chooses it.
    pub(super) fn methods_ui(&mut self, ui: &mut egui::Ui) {
        let Some(h) = &self.hosting.hosted else {
            return;
        };
        let rows = crate::emulator::local::table_rows(&h.stack, Profile::aws(), "required");
        let mut chosen = None;
        egui::Grid::new("template-methods")
            .num_columns(7)
            .spacing([14.0, 4.0])
            .striped(true)
            .show(ui, |ui| {
                for head in crate::emulator::local::TABLE_HEADS {
                    ui.label(RichText::new(head).weak());
                }
                ui.end_row();
                for (i, row) in rows.iter().enumerate() {
                    if ui
                        .selectable_label(self.hosting.method == i, &row[0])
                        .on_hover_text("Download through this method")
                        .clicked()
                    {
                        chosen = Some(i);
                    }
                    for cell in &row[1..] {
                        ui.label(RichText::new(cell).monospace());
                    }
                    ui.end_row();
                }
            });
        if let Some(i) = chosen {
            self.use_method(i);
        }
    }

    /// The repository's three backends, one click each (offered when the app runs from a
    /// checkout: the templates' code is there).
    fn backends_ui(&mut self, ui: &mut egui::Ui) {
        let repo = self.hosting.repository.get_or_init(repository).clone();
        ui.label(RichText::new("or this project's:").weak());
        for (i, b) in BACKENDS.iter().enumerate() {
            let button = ui
                .add_enabled(
                    repo.is_some() && !self.hosting.busy(),
                    egui::Button::new(b.name),
                )
                .on_hover_text(format!("Run {} locally, as deployed", b.template))
                .on_disabled_hover_text(
                    "The repository's templates are not beside this streamscope: run it from a checkout",
                );
            if button.clicked()
                && let Some(r) = &repo
            {
                self.host_backend(r, i);
            }
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
