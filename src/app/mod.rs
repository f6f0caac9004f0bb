//! The desktop app: paste a URL, download to a chosen file, watch the stream live, keep the result.
//! It reads the engine's events each frame and never blocks: downloads and file dialogs run on the
//! app's tokio runtime, results come back through poll-promise.

pub mod demo;
pub mod series;
mod ui;

use crate::backend::gateway::GatewayMode;
use crate::probe::report::{is_secret_header, redact_url};
use crate::probe::verdict::{self, Verdict};
use crate::probe::{self, HttpVersion, ProbeEvent, ProbeRequest, Report, ResponseMeta};
use demo::{DemoServers, PRESETS};
use poll_promise::Promise;
use series::LiveSeries;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

pub const APP_NAME: &str = "streamscope";
/// While a run is active the UI refreshes this often; otherwise it sleeps until input arrives.
pub const LIVE_REPAINT: Duration = Duration::from_millis(100);

/// How the window opens: a demo preset to select, and whether to start at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct Launch {
    pub preset: Option<usize>,
    pub start: bool,
}

/// Opens the window. Blocks until it is closed.
pub fn run(launch: Launch) -> Result<(), String> {
    let mut viewport = egui::ViewportBuilder::default()
        .with_title(APP_NAME)
        .with_inner_size([1280.0, 820.0])
        .with_min_inner_size([900.0, 600.0]);
    match eframe::icon_data::from_png_bytes(include_bytes!("../../assets/icon.png")) {
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
            if launch.start
                && let Err(e) = app.start(true)
            {
                app.message = Some(e);
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| e.to_string())
}

/// One request header row in the editor.
#[derive(Debug, Clone, Default)]
pub struct HeaderRow {
    pub name: String,
    pub value: String,
    /// Show a secret value in clear.
    pub reveal: bool,
}

impl HeaderRow {
    pub fn is_secret(&self) -> bool {
        is_secret_header(&self.name, &[])
    }
}

/// What is remembered across restarts: never header values.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Default)]
#[serde(default)]
pub struct Settings {
    pub url: String,
    pub header_names: Vec<String>,
    pub dest_dir: Option<PathBuf>,
    pub http_version: HttpVersion,
    pub idle_timeout_s: Option<f64>,
    pub preset: Option<String>,
}

/// The request as typed in the form.
#[derive(Debug, Clone)]
pub struct RequestForm {
    pub url: String,
    pub headers: Vec<HeaderRow>,
    pub expect_sha256: String,
    pub http_version: HttpVersion,
    pub idle_timeout_s: f64,
    pub dest_dir: PathBuf,
    /// A file typed or chosen in the save dialog; when empty, `dest_dir` + a name suggested by
    /// the URL.
    pub dest_path: String,
}

impl RequestForm {
    pub fn destination(&self) -> PathBuf {
        match self.dest_path.trim() {
            "" => self.default_destination(),
            typed => PathBuf::from(typed),
        }
    }

    pub fn default_destination(&self) -> PathBuf {
        self.dest_dir.join(suggest_file_name(&self.url))
    }

    pub fn to_request(&self) -> Result<ProbeRequest, String> {
        let mut req = ProbeRequest::new(self.url.trim(), self.destination());
        for h in &self.headers {
            if h.name.trim().is_empty() && h.value.trim().is_empty() {
                continue;
            }
            if h.name.trim().is_empty() {
                return Err("a header has a value but no name".into());
            }
            req.headers
                .push((h.name.trim().to_string(), h.value.trim().to_string()));
        }
        req.http_version = self.http_version;
        req.idle_timeout = Duration::try_from_secs_f64(self.idle_timeout_s)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or("the idle timeout must be more than zero seconds")?;
        if !self.expect_sha256.trim().is_empty() {
            req.expect_sha256 = Some(self.expect_sha256.trim().to_string());
        }
        Ok(req)
    }

    /// The inline error for the form as it stands, if any.
    pub fn error(&self) -> Option<String> {
        match self.to_request() {
            Err(e) => Some(e),
            Ok(r) => r.validate().err().map(|e| e.to_string()),
        }
    }
}

/// A file name from the URL's last path segment (`download?size=50MiB` → `download-50MiB.bin`).
pub fn suggest_file_name(url: &str) -> String {
    let Ok(u) = reqwest::Url::parse(url.trim()) else {
        return "download.bin".into();
    };
    let last = u
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or("")
        .to_string();
    let clean: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut name = if clean.is_empty() || clean == "." || clean == ".." {
        "download".to_string()
    } else {
        clean
    };
    if let Some(size) = u
        .query_pairs()
        .find(|(k, _)| k == "size")
        .map(|(_, v)| v.into_owned())
        && size.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
    {
        name = format!("{name}-{size}");
    }
    if !name.contains('.') {
        name.push_str(".bin");
    }
    name
}

/// Downloads if it exists, else the home directory, else the temp directory.
pub fn default_dest_dir() -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if let Some(h) = &home {
        let dl = h.join("Downloads");
        if dl.is_dir() {
            return dl;
        }
        if h.is_dir() {
            return h.clone();
        }
    }
    std::env::temp_dir()
}

/// One run in the session's history.
pub struct RunRecord {
    pub id: u32,
    /// The URL with credential-like parts redacted.
    pub url: String,
    pub dest: PathBuf,
    pub gateway: Option<GatewayMode>,
    pub series: LiveSeries,
    pub meta: Option<ResponseMeta>,
    pub report: Option<Report>,
    pub verdict: Option<Verdict>,
    pub started: Instant,
}

impl RunRecord {
    pub fn elapsed_s(&self) -> f64 {
        match &self.report {
            Some(r) => r.duration_ms / 1000.0,
            None => self.started.elapsed().as_secs_f64(),
        }
    }

    pub fn title(&self) -> String {
        let outcome = self.report.as_ref().map_or("running", |r| r.outcome);
        format!(
            "#{} {} {}",
            self.id,
            outcome,
            crate::units::fmt_bytes(self.series.total_bytes)
        )
    }
}

struct ActiveRun {
    promise: Promise<Report>,
    events: UnboundedReceiver<ProbeEvent>,
    cancel: CancellationToken,
    record: usize,
}

pub struct StreamscopeApp {
    rt: tokio::runtime::Runtime,
    pub form: RequestForm,
    pub demo: Option<DemoServers>,
    pub demo_error: Option<String>,
    pub preset: usize,
    pub gateway: GatewayMode,
    active: Option<ActiveRun>,
    pub runs: Vec<RunRecord>,
    pub selected: Option<usize>,
    pub compare: Option<usize>,
    save_to_dialog: Option<Promise<Option<PathBuf>>>,
    report_dialog: Option<Promise<Option<PathBuf>>>,
    /// Start was pressed on an existing file: waiting for "Replace".
    pub confirm_overwrite: bool,
    /// The last thing to tell the user that is not a verdict (saved report, copied summary, errors).
    pub message: Option<String>,
    pub gap_threshold_ms: f64,
    /// The header editor is shown.
    pub headers_open: bool,
    /// Scale the throughput chart to the recent rate (a full-speed start would flatten a 2 MB/s
    /// plateau to nothing).
    pub fit_recent_rate: bool,
    next_id: u32,
}

impl StreamscopeApp {
    pub fn new(cc: &eframe::CreationContext<'_>) -> std::io::Result<Self> {
        let settings: Option<Settings> = cc
            .storage
            .and_then(|s| eframe::get_value(s, eframe::APP_KEY));
        Self::with_settings(settings.unwrap_or_default())
    }

    /// The app with remembered settings (none on first start): the demo servers start, and the URL
    /// is the remembered one or the first preset's. Fails only if no async runtime can start.
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
            .and_then(|name| PRESETS.iter().position(|p| p.name == name))
            .unwrap_or(0);
        let gateway = PRESETS[preset].gateway;
        let remembered = settings.url.trim().to_string();
        // A remembered demo URL points at a port of an earlier run: use this run's demo instead.
        let url = match (
            &demo,
            remembered.is_empty() || remembered.starts_with("http://127.0.0.1:"),
        ) {
            (Some(d), true) => d.url(gateway, &PRESETS[preset]),
            _ => remembered,
        };
        let form = RequestForm {
            url,
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
            dest_dir: settings
                .dest_dir
                .filter(|d| d.is_dir())
                .unwrap_or_else(default_dest_dir),
            dest_path: String::new(),
        };
        Ok(StreamscopeApp {
            rt,
            form,
            demo,
            demo_error,
            preset,
            gateway,
            active: None,
            runs: Vec::new(),
            selected: None,
            compare: None,
            save_to_dialog: None,
            report_dialog: None,
            confirm_overwrite: false,
            message: None,
            gap_threshold_ms: 250.0,
            headers_open: false,
            fit_recent_rate: true,
            next_id: 1,
        })
    }

    pub fn settings(&self) -> Settings {
        Settings {
            url: crate::probe::report::strip_url_secrets(&self.form.url),
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
        }
    }

    pub fn is_running(&self) -> bool {
        self.active.is_some()
    }

    /// Chooses a demo preset: fills the URL (and the idle timeout the preset needs).
    pub fn apply_preset(&mut self, index: usize) {
        let Some(p) = PRESETS.get(index) else { return };
        self.preset = index;
        self.gateway = p.gateway;
        if let Some(t) = p.idle_timeout_s {
            self.form.idle_timeout_s = t;
        } else if self.form.idle_timeout_s < 30.0 {
            self.form.idle_timeout_s = 30.0;
        }
        self.refill_demo_url();
    }

    pub fn refill_demo_url(&mut self) {
        if let Some(d) = &self.demo {
            self.form.url = d.url(self.gateway, &PRESETS[self.preset]);
            self.form.dest_path.clear();
            self.confirm_overwrite = false;
        }
    }

    /// Starts a run from the form. With `replace_existing` false, an existing destination file
    /// asks for confirmation first. Returns an inline error instead of panicking.
    pub fn start(&mut self, replace_existing: bool) -> Result<(), String> {
        if self.active.is_some() {
            return Err("a download is already running".into());
        }
        let req = self.form.to_request()?;
        let valid = req.validate().map_err(|e| e.to_string())?;
        if valid.output.exists() && !replace_existing {
            self.confirm_overwrite = true;
            return Ok(());
        }
        self.confirm_overwrite = false;
        self.message = None;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        let record = RunRecord {
            id: self.next_id,
            url: redact_url(&valid.url),
            dest: valid.output.clone(),
            gateway: self.demo.as_ref().and_then(|d| d.mode_of(&self.form.url)),
            series: LiveSeries::new((self.gap_threshold_ms * 1e6) as u64),
            meta: None,
            report: None,
            verdict: None,
            started: Instant::now(),
        };
        self.next_id += 1;
        self.runs.push(record);
        let index = self.runs.len() - 1;
        self.selected = Some(index);
        let _guard = self.rt.enter();
        let promise = Promise::spawn_async(probe::run(valid, tx, cancel.clone()));
        self.active = Some(ActiveRun {
            promise,
            events: rx,
            cancel,
            record: index,
        });
        Ok(())
    }

    pub fn cancel(&mut self) {
        if let Some(a) = &self.active {
            a.cancel.cancel();
        }
    }

    /// Drains every pending engine event and picks up a finished run. Called once per frame.
    pub fn poll(&mut self) {
        let Some(active) = self.active.as_mut() else {
            return;
        };
        // Every event is sent before the run's future resolves: checking readiness before draining
        // means a finished run's last arrivals are always drained before its report is taken.
        let finished = active.promise.ready().is_some();
        let rec = &mut self.runs[active.record];
        while let Ok(ev) = active.events.try_recv() {
            match ev {
                ProbeEvent::RequestSent => rec.started = Instant::now(),
                ProbeEvent::Headers(meta) => rec.meta = Some(*meta),
                ProbeEvent::Arrival(a) => rec.series.push(a),
            }
        }
        rec.series
            .advance_to(rec.started.elapsed().as_nanos() as u64);
        if !finished {
            return;
        }
        let Some(active) = self.active.take() else {
            return;
        };
        match active.promise.try_take() {
            Ok(report) => {
                let rec = &mut self.runs[active.record];
                rec.series.finish((report.duration_ms * 1e6) as u64);
                rec.verdict = Some(verdict::verdict(&report));
                rec.report = Some(report);
            }
            Err(promise) => self.active = Some(ActiveRun { promise, ..active }),
        }
    }

    pub fn selected_run(&self) -> Option<&RunRecord> {
        self.selected.and_then(|i| self.runs.get(i))
    }

    /// Writes the selected run's report: JSON at `json_path`, the arrivals CSV beside it. The
    /// "Save report..." button calls this with the dialog's answer.
    pub fn save_report_to(&mut self, json_path: &Path) -> Result<(PathBuf, PathBuf), String> {
        let report = self
            .selected_run()
            .and_then(|r| r.report.as_ref())
            .ok_or("no finished run selected")?;
        let csv_path = json_path.with_extension("csv");
        report
            .write_json(json_path)
            .map_err(|e| format!("cannot write {}: {e}", json_path.display()))?;
        report
            .write_csv(&csv_path)
            .map_err(|e| format!("cannot write {}: {e}", csv_path.display()))?;
        self.message = Some(format!(
            "saved {} and {}",
            json_path.display(),
            csv_path.display()
        ));
        Ok((json_path.to_path_buf(), csv_path))
    }

    fn open_save_to_dialog(&mut self) {
        let dest = self.form.destination();
        let dialog = rfd::AsyncFileDialog::new()
            .set_title("Save the download to")
            .set_directory(&self.form.dest_dir)
            .set_file_name(
                dest.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
        let _guard = self.rt.enter();
        self.save_to_dialog = Some(Promise::spawn_async(async move {
            dialog.save_file().await.map(|h| h.path().to_path_buf())
        }));
    }

    fn open_report_dialog(&mut self) {
        let Some(run) = self.selected_run() else {
            return;
        };
        let name = format!("streamscope-run{}.json", run.id);
        let dir = run
            .dest
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.form.dest_dir.clone());
        let dialog = rfd::AsyncFileDialog::new()
            .set_title("Save the report (JSON, with the arrivals CSV beside it)")
            .set_directory(dir)
            .set_file_name(name)
            .add_filter("JSON report", &["json"]);
        let _guard = self.rt.enter();
        self.report_dialog = Some(Promise::spawn_async(async move {
            dialog.save_file().await.map(|h| h.path().to_path_buf())
        }));
    }

    /// Picks up answers from the native dialogs (`None` when the user cancelled or no dialog
    /// could open: the headless case).
    fn poll_dialogs(&mut self) {
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
        if let Some(p) = self.report_dialog.take() {
            match p.try_take() {
                Ok(Some(path)) => {
                    if let Err(e) = self.save_report_to(&path) {
                        self.message = Some(e);
                    }
                }
                Ok(None) => {}
                Err(p) => self.report_dialog = Some(p),
            }
        }
    }

    fn dialogs_open(&self) -> bool {
        self.save_to_dialog.is_some() || self.report_dialog.is_some()
    }
}

impl eframe::App for StreamscopeApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.poll();
        self.poll_dialogs();
        self.draw(ui);
        if self.is_running() || self.dialogs_open() {
            // Live: refresh on a timer. Idle: egui repaints only on input.
            ui.ctx().request_repaint_after(LIVE_REPAINT);
        }
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
}
