//! The desktop app: paste a URL, download to a chosen file, watch the stream live, keep the result.
//! It is a view: the engine decides, [`crate::probe::output::printer`] words the result. Nothing blocks the
//! UI thread: downloads, file dialogs and report writes run on the app's tokio runtime and come
//! back through poll-promise; engine events are drained in [`eframe::App::logic`], which also runs
//! while the window is hidden.

mod batch;
mod compare_ui;
mod files;
mod form;
mod history_ui;
mod request_ui;
mod run_ui;
mod runs;
mod template_ui;
mod ui;

pub use batch::Batch;
pub use files::Dialogs;
use files::{Dialog, SaveWhat};
pub use form::{
    DemoChoice, HeaderRow, RequestForm, Settings, Source, default_dest_dir, suggest_file_name,
};
pub use request_ui::RequestTab;
use runs::ActiveRun;
pub use runs::{Finished, RunRecord, StartError};

use crate::demo::{self, DemoServers, PRESETS};
use crate::emulator::gateway::GatewayMode;
use crate::probe::redact::strip_url_secrets;
use poll_promise::Promise;
use std::path::PathBuf;
use std::time::Duration;

pub const APP_NAME: &str = "streamscope";
/// While a run is active the UI refreshes this often; otherwise it sleeps until input arrives.
pub const LIVE_REPAINT: Duration = Duration::from_millis(100);

/// How the window opens: a demo preset to select, a template to run, and whether to start at
/// once (with a template: once it runs).
#[derive(Debug, Clone, Default)]
pub struct Launch {
    pub preset: Option<usize>,
    pub start: bool,
    pub template: Option<PathBuf>,
    /// The template's parameter overrides, `K=V K2=V2`.
    pub parameters: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Window(#[from] eframe::Error),
    #[error("the async runtime could not start: {0}")]
    Runtime(#[from] std::io::Error),
}

/// Opens the window. Blocks until it is closed.
pub fn run(launch: Launch) -> Result<(), AppError> {
    let mut viewport = egui::ViewportBuilder::default()
        .with_title(APP_NAME)
        .with_app_id(APP_NAME)
        .with_inner_size([1280.0, 820.0])
        .with_min_inner_size([900.0, 600.0]);
    match eframe::icon_data::from_png_bytes(include_bytes!(
        "../../packaging/icons/streamscope-128.png"
    )) {
        Ok(icon) => viewport = viewport.with_icon(icon),
        Err(e) => eprintln!("streamscope: icon not loaded: {e}"),
    }
    let options = eframe::NativeOptions {
        viewport,
        persist_window: true,
        ..Default::default()
    };
    eframe::run_native(
        APP_NAME,
        options,
        Box::new(move |cc| {
            let mut app = StreamscopeApp::new(cc)?;
            if let Some(p) = launch.preset {
                app.apply_preset(p);
            }
            if let Some(t) = launch.template {
                app.hosting.parameters = launch.parameters;
                app.host_template(t, launch.start);
            } else if launch.start
                && let Err(e) = app.start(true)
            {
                app.message = Some(e.to_string());
            }
            Ok(Box::new(app))
        }),
    )?;
    Ok(())
}

pub struct StreamscopeApp {
    rt: tokio::runtime::Runtime,
    pub form: RequestForm,
    /// The form as last checked, and what was wrong with it.
    form_checked: Option<(RequestForm, Option<String>)>,
    pub demo: Option<DemoServers>,
    pub demo_error: Option<String>,
    pub demo_choice: Option<DemoChoice>,
    pub preset: usize,
    pub gateway: GatewayMode,
    active: Option<ActiveRun>,
    pub runs: Vec<RunRecord>,
    pub selected: Option<usize>,
    pub compare: Option<usize>,
    pub dialogs: Dialogs,
    save_to_dialog: Option<Dialog>,
    report_dialog: Option<(usize, SaveWhat, Dialog)>,
    /// A comparison: named runs one after another.
    pub batch: Option<Batch>,
    targets_dialog: Option<Dialog>,
    report_write: Option<Promise<Result<String, String>>>,
    /// Start was pressed on an existing file: waiting for "Replace".
    pub confirm_overwrite: bool,
    /// The last thing to tell the user that is not a verdict (saved report, copied summary, errors).
    pub message: Option<String>,
    pub gap_threshold_ms: f64,
    /// Where the endpoint comes from.
    pub source: Source,
    /// The URL last typed while the source was "Your URL" (given back when it is chosen again).
    user_url: String,
    /// The open tab below the URL (Headers, Auth, Options), if any.
    pub tab: Option<RequestTab>,
    /// Scale the throughput chart to the recent rate (a full-speed start would flatten a 2 MB/s
    /// plateau to nothing).
    pub fit_recent_rate: bool,
    /// A template's stack run locally ("Run a template locally...").
    pub hosting: template_ui::Hosting,
    next_id: u32,
}

impl StreamscopeApp {
    pub fn new(cc: &eframe::CreationContext<'_>) -> std::io::Result<Self> {
        let settings: Option<Settings> = cc
            .storage
            .and_then(|s| eframe::get_value(s, eframe::APP_KEY));
        Self::with_settings(settings.unwrap_or_default())
    }

    /// The app with remembered settings (none on first start): the demo servers start, and the form
    /// shows the demo or the remembered URL. Fails only if no async runtime can start.
    pub fn with_settings(settings: Settings) -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("streamscope-io")
            .enable_all()
            .build()?;
        let (demo, demo_error) = match DemoServers::start(&rt) {
            Ok(d) => (Some(d), None),
            Err(e) => (None, Some(format!("the local demo could not start: {e}"))),
        };
        let preset = settings
            .preset
            .as_deref()
            .and_then(demo::preset_named)
            .unwrap_or(0);
        let form = RequestForm {
            url: settings.url.trim().to_string(),
            headers: settings
                .header_names
                .iter()
                .map(|n| HeaderRow {
                    name: n.clone(),
                    ..HeaderRow::default()
                })
                .collect(),
            expect_sha256: String::new(),
            http_version: settings.http_version,
            idle_timeout_s: settings.idle_timeout_s.filter(|v| *v > 0.0).unwrap_or(30.0),
            cacert: settings
                .cacert
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            insecure: false,
            sigv4: settings.sigv4,
            aws_region: settings.aws_region.trim().to_string(),
            aws_profile: settings.aws_profile.trim().to_string(),
            segments: 0,
            thresholds: settings.thresholds.trim().to_string(),
            dest_dir: settings
                .dest_dir
                .filter(|d| d.is_dir())
                .unwrap_or_else(default_dest_dir),
            dest_path: String::new(),
        };
        let mut app = StreamscopeApp {
            rt,
            form,
            form_checked: None,
            demo,
            demo_error,
            demo_choice: None,
            preset,
            gateway: PRESETS[preset].gateway,
            active: None,
            runs: Vec::new(),
            selected: None,
            compare: None,
            dialogs: Dialogs::Native,
            save_to_dialog: None,
            report_dialog: None,
            batch: None,
            targets_dialog: None,
            report_write: None,
            confirm_overwrite: false,
            message: None,
            gap_threshold_ms: 250.0,
            source: Source::Url,
            user_url: String::new(),
            tab: None,
            fit_recent_rate: true,
            hosting: Default::default(),
            next_id: 1,
        };
        app.user_url = app.form.url.clone();
        if settings.use_demo || app.form.url.is_empty() {
            app.refill_demo_url();
            app.source = Source::Demo;
        }
        Ok(app)
    }

    pub fn settings(&self) -> Settings {
        // The demo and a template's method are remembered as choices (their ports change with
        // every start); an edited demo URL is the user's.
        let (use_demo, url) = match self.source {
            Source::Demo if self.form_is_demo() => (true, String::new()),
            Source::Template => (self.user_url.trim().is_empty(), self.user_url.clone()),
            _ => (false, self.form.url.clone()),
        };
        Settings {
            url: strip_url_secrets(&url),
            use_demo,
            header_names: self
                .form
                .headers
                .iter()
                .map(|h| h.name.clone())
                .filter(|n| !n.trim().is_empty())
                .collect(),
            dest_dir: Some(self.form.dest_dir.clone()),
            http_version: self.form.http_version,
            idle_timeout_s: Some(self.form.idle_timeout_s),
            preset: Some(PRESETS[self.preset].name.to_string()),
            cacert: Some(self.form.cacert.trim())
                .filter(|c| !c.is_empty())
                .map(PathBuf::from),
            sigv4: self.form.sigv4,
            aws_region: self.form.aws_region.trim().to_string(),
            aws_profile: self.form.aws_profile.trim().to_string(),
            thresholds: self.form.thresholds.trim().to_string(),
        }
    }

    pub(crate) fn open_chart_dialog(&mut self) {
        self.open_run_dialog(
            SaveWhat::Chart,
            "Save the charts as a picture (PNG)",
            ("PNG image", "png"),
        );
    }

    pub(crate) fn open_targets_dialog(&mut self) {
        let dialog = self.ask_for_existing_file(
            "Compare the targets of a TOML file ([[target]] name, url, ...)",
            ("targets", &["toml"]),
        );
        self.targets_dialog = Some(dialog);
    }

    pub(crate) fn open_comparison_dialog(&mut self) {
        let dir = self.form.dest_dir.clone();
        let dialog = self.ask_for_file(
            "Save the comparison (PNG, with the JSON beside it)",
            &dir,
            "streamscope-comparison.png",
            Some(("PNG image", "png")),
        );
        self.report_dialog = Some((0, SaveWhat::Comparison, dialog));
    }

    /// Something is under way that will change what is shown without any input.
    fn busy(&self) -> bool {
        self.is_running()
            || self.save_to_dialog.is_some()
            || self.report_dialog.is_some()
            || self.targets_dialog.is_some()
            || self.report_write.is_some()
            || self.hosting.busy()
    }
}

impl eframe::App for StreamscopeApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.poll();
        self.poll_dialogs();
        if self.busy() {
            // Live: refresh on a timer. Idle: egui repaints only on input.
            ctx.request_repaint_after(LIVE_REPAINT);
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.draw(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.settings());
    }

    fn on_exit(&mut self) {
        // A run still going when the window closes is cancelled: its .part stays, nothing is
        // left under the final name.
        self.cancel();
    }
}

/// A chart's points as egui_plot takes them (a copy per frame: a few thousand points at most,
/// whatever the run's length).
pub fn plot_points(pts: &[crate::chart::Point]) -> egui_plot::PlotPoints<'static> {
    egui_plot::PlotPoints::Owned(
        pts.iter()
            .map(|p| egui_plot::PlotPoint::new(p.x, p.y))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_come_from_the_url() {
        assert_eq!(
            suggest_file_name("http://h/download?size=50MiB"),
            "download-50MiB.bin"
        );
        assert_eq!(
            suggest_file_name("https://h/prod/files/report.pdf?x=1"),
            "report.pdf"
        );
        assert_eq!(suggest_file_name("https://h/"), "download.bin");
        assert_eq!(suggest_file_name("not a url"), "download.bin");
        assert_eq!(suggest_file_name("http://h/a%2F..%2Fb"), "a_2F.._2Fb");
    }

    #[test]
    fn settings_never_hold_header_values() {
        let mut app = StreamscopeApp::with_settings(Settings::default()).unwrap();
        app.form.headers.push(HeaderRow {
            name: "x-api-key".into(),
            value: "sekrit".into(),
            reveal: false,
        });
        app.form.url = "https://h.example/prod/f.bin?X-Amz-Signature=sekrit-sig&part=2".into();
        let json = serde_json::to_string(&app.settings()).unwrap();
        assert!(
            json.contains("x-api-key") && !json.contains("sekrit"),
            "{json}"
        );
        assert!(
            json.contains("https://h.example/prod/f.bin?part=2"),
            "{json}"
        );
    }

    #[test]
    fn the_demo_is_remembered_as_a_choice_not_a_port() {
        let app = StreamscopeApp::with_settings(Settings::default()).unwrap();
        assert!(app.form_is_demo(), "a fresh start shows the demo");
        let s = app.settings();
        assert!(s.use_demo && s.url.is_empty(), "{s:?}");
        // A URL the user typed on 127.0.0.1 is theirs, and is remembered as typed.
        let mut app = StreamscopeApp::with_settings(Settings {
            url: "http://127.0.0.1:9999/mine".into(),
            use_demo: false,
            ..Settings::default()
        })
        .unwrap();
        assert_eq!(app.form.url, "http://127.0.0.1:9999/mine");
        assert!(!app.form_is_demo());
        app.apply_preset(1);
        assert!(app.form_is_demo());
        assert_eq!(app.source, Source::Demo);
        app.form.url.push_str("&size=1");
        assert!(!app.form_is_demo(), "an edited demo URL is the user's");
    }
}
