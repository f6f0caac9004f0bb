//! The desktop app: paste a URL, download to a chosen file, watch the stream live, keep the result.
//! It is a view: the engine decides, [`crate::probe::printer`] words the result. Nothing blocks the
//! UI thread: downloads, file dialogs and report writes run on the app's tokio runtime and come
//! back through poll-promise; engine events are drained in [`eframe::App::logic`], which also runs
//! while the window is hidden.

pub mod demo;
pub mod picture;
pub mod series;
mod ui;

use crate::backend::gateway::GatewayMode;
use crate::probe::findings::{self, Limits};
use crate::probe::printer::{self, Summary};
use crate::probe::redact::{is_secret_header, redact_url, strip_url_secrets};
use crate::probe::{self, Figures, HttpVersion, ProbeEvent, ProbeRequest, ResponseMeta, RunResult};
use demo::{DemoServers, PRESETS};
use poll_promise::Promise;
use series::LiveSeries;
use std::collections::VecDeque;
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
            if launch.start
                && let Err(e) = app.start(true)
            {
                app.message = Some(e.to_string());
            }
            Ok(Box::new(app))
        }),
    )?;
    Ok(())
}

/// Why Start did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("a download is already running")]
    Busy,
    #[error(transparent)]
    Input(#[from] probe::InputError),
}

/// One request header row in the editor.
#[derive(Debug, Clone, Default, PartialEq)]
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

fn yes() -> bool {
    true
}

/// What is remembered across restarts: never header values, never URL credentials.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The URL the user typed (without credentials); unused while the demo is chosen.
    pub url: String,
    /// The form shows the local demo (whose port changes with every start).
    #[serde(default = "yes")]
    pub use_demo: bool,
    pub header_names: Vec<String>,
    pub dest_dir: Option<PathBuf>,
    pub http_version: HttpVersion,
    pub idle_timeout_s: Option<f64>,
    pub preset: Option<String>,
    pub cacert: Option<PathBuf>,
    /// Sign with AWS SigV4, for which region and profile (names only: credentials come from the
    /// AWS chain and are never stored).
    pub sigv4: bool,
    pub aws_region: String,
    pub aws_profile: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            url: String::new(),
            use_demo: true,
            header_names: Vec::new(),
            dest_dir: None,
            http_version: HttpVersion::Auto,
            idle_timeout_s: None,
            preset: None,
            cacert: None,
            sigv4: false,
            aws_region: String::new(),
            aws_profile: String::new(),
        }
    }
}

/// The request as typed in the form.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestForm {
    pub url: String,
    pub headers: Vec<HeaderRow>,
    pub expect_sha256: String,
    pub http_version: HttpVersion,
    pub idle_timeout_s: f64,
    /// A PEM file of CA certificates to trust besides the system's (empty: none).
    pub cacert: String,
    /// Skip certificate verification.
    pub insecure: bool,
    /// Sign with AWS SigV4 (API Gateway IAM authorization).
    pub sigv4: bool,
    /// The region to sign for (empty: the URL's, or the AWS configuration's).
    pub aws_region: String,
    /// The AWS profile for the credentials (empty: the default chain).
    pub aws_profile: String,
    /// Parallel ranges at a time (0: one stream).
    pub segments: u32,
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

    /// The form as a request. Rows with neither a name nor a value are empty lines of the editor,
    /// not headers; everything else is for [`ProbeRequest::validate`] to judge.
    pub fn to_request(&self) -> ProbeRequest {
        ProbeRequest {
            headers: self
                .headers
                .iter()
                .filter(|h| !(h.name.trim().is_empty() && h.value.trim().is_empty()))
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect(),
            http_version: self.http_version,
            idle_timeout_s: self.idle_timeout_s,
            expect_sha256: Some(self.expect_sha256.clone()),
            cacert: Some(self.cacert.trim())
                .filter(|c| !c.is_empty())
                .map(PathBuf::from),
            insecure: self.insecure,
            segments: (self.segments > 0).then_some(self.segments),
            aws_sigv4: self.sigv4.then(|| self.aws_region.trim().to_string()),
            aws_profile: Some(self.aws_profile.trim())
                .filter(|p| self.sigv4 && !p.is_empty())
                .map(str::to_string),
            ..ProbeRequest::new(self.url.trim(), self.destination())
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

/// A finished run as the views show it: the result, its figures, its summary.
#[derive(Clone)]
pub struct Finished {
    pub result: RunResult,
    pub figures: Figures,
    pub summary: Summary,
}

/// One run in the session's history.
pub struct RunRecord {
    pub id: u32,
    /// The URL with credential-like parts redacted.
    pub url: String,
    pub dest: PathBuf,
    /// The demo gateway mode, when the run used the local demo.
    pub gateway: Option<GatewayMode>,
    pub series: LiveSeries,
    pub meta: Option<ResponseMeta>,
    pub finished: Option<Finished>,
    /// The engine's instant for "request sent" (until its event arrives: when Start was pressed).
    pub started: Instant,
}

impl RunRecord {
    pub fn elapsed_s(&self) -> f64 {
        match &self.finished {
            Some(f) => f.result.duration_s(),
            None => self.started.elapsed().as_secs_f64(),
        }
    }

    pub fn title(&self) -> String {
        let outcome = self
            .finished
            .as_ref()
            .map_or("running", |f| f.result.outcome.kind().as_str());
        format!(
            "#{} {} {}",
            self.id,
            outcome,
            crate::units::fmt_bytes(self.series.total_bytes)
        )
    }
}

struct ActiveRun {
    promise: Promise<RunResult>,
    events: UnboundedReceiver<ProbeEvent>,
    cancel: CancellationToken,
    record: usize,
}

/// The local demo URL the form was filled with, so "is this the demo" is a fact, not a guess.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoChoice {
    pub gateway: GatewayMode,
    pub url: String,
}

/// Where file dialogs come from: the native one (rfd, on the runtime), or answers given in advance,
/// one per dialog opened (tests, and any caller that already knows the path).
pub enum Dialogs {
    Native,
    Answers(VecDeque<Option<PathBuf>>),
}

type Dialog = Promise<Option<PathBuf>>;

/// A comparison in progress or done.
#[derive(Debug)]
pub struct Batch {
    pub title: String,
    /// Still to run.
    pub queue: std::collections::VecDeque<(String, probe::ValidRequest)>,
    /// Started, with their history index.
    pub runs: Vec<(String, usize)>,
}

/// What a save dialog is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SaveWhat {
    Report,
    Chart,
    /// Every run of the comparison, overlaid.
    Comparison,
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
            headers_open: false,
            fit_recent_rate: true,
            next_id: 1,
        };
        if settings.use_demo || app.form.url.is_empty() {
            app.refill_demo_url();
        }
        Ok(app)
    }

    pub fn settings(&self) -> Settings {
        let use_demo = self.form_is_demo();
        Settings {
            url: if use_demo {
                String::new()
            } else {
                strip_url_secrets(&self.form.url)
            },
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
        }
    }

    pub fn is_running(&self) -> bool {
        self.active.is_some()
    }

    /// The history index of the run in progress.
    pub fn active_record(&self) -> Option<usize> {
        self.active.as_ref().map(|a| a.record)
    }

    /// The form's URL is the demo URL it was last filled with.
    pub fn form_is_demo(&self) -> bool {
        self.demo_choice
            .as_ref()
            .is_some_and(|c| c.url == self.form.url)
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
            let url = d.url(self.gateway, &PRESETS[self.preset]);
            self.demo_choice = Some(DemoChoice {
                gateway: self.gateway,
                url: url.clone(),
            });
            self.form.url = url;
            self.form.dest_path.clear();
            self.confirm_overwrite = false;
        }
    }

    /// What is wrong with the form, checked again only when the form changed (validation looks at
    /// the disk: the destination directory, the CA file).
    pub fn form_error(&mut self) -> Option<String> {
        if let Some((checked, err)) = &self.form_checked
            && *checked == self.form
        {
            return err.clone();
        }
        let err = self
            .form
            .to_request()
            .validate()
            .err()
            .map(|e| e.to_string());
        self.form_checked = Some((self.form.clone(), err.clone()));
        err
    }

    /// Starts a run from the form. With `replace_existing` false, an existing destination file
    /// asks for confirmation first. Returns an inline error instead of panicking.
    pub fn start(&mut self, replace_existing: bool) -> Result<(), String> {
        if self.active.is_some() {
            return Err("a download is already running".into());
        }
        let valid = self
            .form
            .to_request()
            .validate()
            .map_err(|e| e.to_string())?;
        if valid.output.exists() && !replace_existing {
            self.confirm_overwrite = true;
            return Ok(());
        }
        self.confirm_overwrite = false;
        self.launch(valid);
        Ok(())
    }

    /// Continues run `i`'s `.part` with the same request (`--resume`).
    pub fn resume(&mut self, i: usize) -> Result<(), String> {
        if self.active.is_some() {
            return Err("a download is already running".into());
        }
        let f = self
            .runs
            .get(i)
            .and_then(|r| r.finished.as_ref())
            .ok_or("that run has not finished")?;
        if !f.result.output.partial_left || !f.result.request.part.exists() {
            return Err("that run left no .part to resume".into());
        }
        let mut valid = f.result.request.clone();
        valid.resume = true;
        self.launch(valid);
        Ok(())
    }

    fn launch(&mut self, valid: probe::ValidRequest) {
        self.message = None;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        self.runs.push(RunRecord {
            id: self.next_id,
            url: redact_url(&valid.url),
            dest: valid.output.clone(),
            gateway: self
                .form_is_demo()
                .then(|| self.demo_choice.as_ref().map(|c| c.gateway))
                .flatten(),
            series: LiveSeries::new((self.gap_threshold_ms * 1e6) as u64),
            meta: None,
            finished: None,
            started: Instant::now(),
        });
        self.next_id += 1;
        let record = self.runs.len() - 1;
        self.selected = Some(record);
        let _guard = self.rt.enter();
        let promise = Promise::spawn_async(probe::run(valid, tx, cancel.clone()));
        self.active = Some(ActiveRun {
            promise,
            events: rx,
            cancel,
            record,
        });
    }

    pub fn cancel(&mut self) {
        if let Some(a) = &self.active {
            a.cancel.cancel();
        }
    }

    /// Drains every pending engine event and picks up a finished run.
    pub fn poll(&mut self) {
        let Some(active) = self.active.as_mut() else {
            return;
        };
        // Every event is sent before the run's future resolves: checking readiness before draining
        // means a finished run's last arrivals are always drained before its result is taken.
        let finished = active.promise.ready().is_some();
        let rec = &mut self.runs[active.record];
        while let Ok(ev) = active.events.try_recv() {
            match ev {
                ProbeEvent::RequestSent { at, .. } => rec.started = at,
                ProbeEvent::Headers(meta) => rec.meta = Some(*meta),
                ProbeEvent::Arrivals(batch) => {
                    for a in batch {
                        rec.series.push(a);
                    }
                }
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
            Ok(result) => {
                let rec = &mut self.runs[active.record];
                rec.series.finish(result.duration_ns);
                let figures = Figures::of(&result);
                let findings = findings::findings(&result, &figures, &Limits::AWS);
                let summary = printer::summary(&result, &figures, &findings);
                rec.finished = Some(Finished {
                    result,
                    figures,
                    summary,
                });
                self.next_in_batch(active.record);
            }
            Err(promise) => self.active = Some(ActiveRun { promise, ..active }),
        }
    }

    /// Runs named requests one after another (a comparison): the first now, each next one when
    /// the one before has ended, whatever its outcome.
    pub fn start_batch(&mut self, title: String, targets: Vec<(String, probe::ValidRequest)>) {
        if self.active.is_some() {
            self.message = Some("a download is already running".into());
            return;
        }
        self.batch = Some(Batch {
            title,
            queue: targets.into(),
            runs: Vec::new(),
        });
        self.next_in_batch(usize::MAX);
    }

    /// After run `ended` (or at the start): the comparison's next target, or, when `ended` was its
    /// last, its first run with a body selected, so the charts show the first path compared rather
    /// than whichever ran last (often a short burst or an error).
    fn next_in_batch(&mut self, ended: usize) {
        let Some(batch) = self.batch.as_mut() else {
            return;
        };
        if let Some((name, valid)) = batch.queue.pop_front() {
            batch.runs.push((name, self.runs.len()));
            self.launch(valid);
            return;
        }
        if batch.runs.last().map(|(_, i)| *i) != Some(ended) {
            return;
        }
        let runs = &self.runs;
        let first = batch.runs.iter().map(|(_, i)| *i).find(|&i| {
            runs[i]
                .finished
                .as_ref()
                .is_some_and(|f| f.result.bytes > 0)
        });
        if first.is_some() {
            self.selected = first;
        }
    }

    /// The demo's ready comparison: the same object through API Gateway's STREAM and BUFFERED
    /// emulations and without a gateway.
    pub fn compare_demo(&mut self) {
        let Some(demo) = self.demo else {
            self.message = Some("the local demo is not running".into());
            return;
        };
        let query = "size=24MiB&seed=3";
        let mut targets = Vec::new();
        for (name, mode) in [
            ("STREAM", GatewayMode::Stream),
            ("BUFFERED", GatewayMode::Buffered),
            ("no gateway", GatewayMode::Off),
        ] {
            let url = format!("http://{}/download?{query}", demo.addr(mode));
            let out = self
                .form
                .dest_dir
                .join(format!("compare-{}.bin", name.replace(' ', "-")));
            match ProbeRequest::new(url, out).validate() {
                Ok(v) => targets.push((name.to_string(), v)),
                Err(e) => {
                    self.message = Some(e.to_string());
                    return;
                }
            }
        }
        self.start_batch(
            "demo: STREAM / BUFFERED / no gateway, 24 MiB".into(),
            targets,
        );
    }

    /// Runs the targets of a TOML file (as `streamscope compare` reads them).
    pub fn compare_file(&mut self, path: &Path) {
        let targets = match probe::compare::read_targets(path, &self.form.dest_dir) {
            Ok(t) => t,
            Err(e) => {
                self.message = Some(e.to_string());
                return;
            }
        };
        let mut list = Vec::new();
        for (i, t) in targets.iter().enumerate() {
            let out = self.form.dest_dir.join(format!("compare-{}.bin", i + 1));
            match t
                .request(&out)
                .and_then(|r| r.validate().map_err(|e| e.to_string()))
            {
                Ok(v) => list.push((t.name.clone(), v)),
                Err(e) => {
                    self.message = Some(format!("{}: {e}", t.name));
                    return;
                }
            }
        }
        self.start_batch(path.display().to_string(), list);
    }

    /// The comparison's rows so far, in order.
    pub fn batch_rows(&self) -> Vec<probe::compare::Row> {
        let Some(b) = &self.batch else {
            return Vec::new();
        };
        b.runs
            .iter()
            .filter_map(|(name, i)| {
                let f = self.runs.get(*i)?.finished.as_ref()?;
                Some(probe::compare::Row::of(name, &f.result, &f.figures))
            })
            .collect()
    }

    pub fn selected_run(&self) -> Option<&RunRecord> {
        self.selected.and_then(|i| self.runs.get(i))
    }

    /// Writes a run's report on the runtime: JSON at `json_path`, the arrivals CSV beside it. The
    /// message says how it went once it has.
    fn write_report(&mut self, record: usize, json_path: PathBuf) {
        let Some(f) = self.runs.get(record).and_then(|r| r.finished.as_ref()) else {
            self.message = Some("no finished run selected".into());
            return;
        };
        let (result, figures) = (f.result.clone(), f.figures.clone());
        let findings = f.summary.findings.clone();
        let _guard = self.rt.enter();
        self.report_write = Some(Promise::spawn_blocking(move || {
            let csv_path = json_path.with_extension("csv");
            probe::report::write_json(&result, &figures, &findings, &json_path)
                .map_err(|e| format!("cannot write {}: {e}", json_path.display()))?;
            probe::report::write_csv(&result, &csv_path)
                .map_err(|e| format!("cannot write {}: {e}", csv_path.display()))?;
            Ok(format!(
                "saved {} and {}",
                json_path.display(),
                csv_path.display()
            ))
        }));
    }

    fn ask_for_file(
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

    fn open_save_to_dialog(&mut self) {
        let dest = self.form.destination();
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = self.form.dest_dir.clone();
        self.save_to_dialog = Some(self.ask_for_file("Save the download to", &dir, &name, None));
    }

    fn open_report_dialog(&mut self) {
        self.open_run_dialog(
            SaveWhat::Report,
            "Save the report (JSON, with the arrivals CSV beside it)",
            ("JSON report", "json"),
        );
    }

    pub(crate) fn open_chart_dialog(&mut self) {
        self.open_run_dialog(
            SaveWhat::Chart,
            "Save the charts as a picture (PNG)",
            ("PNG image", "png"),
        );
    }

    /// Asks where to save something of the selected run, beside its download by default.
    fn open_run_dialog(&mut self, what: SaveWhat, title: &str, (kind, ext): (&str, &str)) {
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

    pub(crate) fn open_targets_dialog(&mut self) {
        let dialog = match &mut self.dialogs {
            Dialogs::Answers(answers) => Promise::from_ready(answers.pop_front().flatten()),
            Dialogs::Native => {
                let dialog = rfd::AsyncFileDialog::new()
                    .set_title("Compare the targets of a TOML file ([[target]] name, url, ...)")
                    .set_directory(&self.form.dest_dir)
                    .add_filter("targets", &["toml"]);
                let _guard = self.rt.enter();
                Promise::spawn_async(async move {
                    dialog.pick_file().await.map(|h| h.path().to_path_buf())
                })
            }
        };
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

    /// The comparison's runs overlaid in a PNG at `png`, their rows and reports in a JSON beside.
    fn write_comparison(&mut self, png: PathBuf) {
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
            let runs: Vec<picture::ChartRun> = done
                .iter()
                .map(|(name, f)| {
                    picture::ChartRun::of_result(
                        format!("{name} ({})", f.result.outcome.kind()),
                        &f.result,
                    )
                })
                .collect();
            picture::render_png(&png, &title, &runs)?;
            let items: Vec<probe::compare::Compared<'_>> = done
                .iter()
                .map(|(name, f)| probe::compare::Compared {
                    name,
                    result: &f.result,
                    figures: &f.figures,
                    findings: &f.summary.findings,
                })
                .collect();
            let json = png.with_extension("json");
            probe::compare::write_comparison_json(&json, &items)
                .map_err(|e| format!("cannot write {}: {e}", json.display()))?;
            Ok(format!("saved {} and {}", png.display(), json.display()))
        }));
    }

    /// Draws run `record`'s charts (with the overlaid run, when one is) into `png`.
    fn write_chart(&mut self, record: usize, png: PathBuf) {
        let chart_of = |r: &RunRecord| {
            r.finished
                .as_ref()
                .map(|f| picture::ChartRun::of_result(format!("run #{}", r.id), &f.result))
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
            picture::render_png(&png, &title, &runs)?;
            Ok(format!("saved {}", png.display()))
        }));
    }

    /// Picks up answers from the dialogs (`None` when the user cancelled or no dialog could open:
    /// the headless case) and finished report writes.
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
    }

    /// Something is under way that will change what is shown without any input.
    fn busy(&self) -> bool {
        self.is_running()
            || self.save_to_dialog.is_some()
            || self.report_dialog.is_some()
            || self.targets_dialog.is_some()
            || self.report_write.is_some()
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
        app.form.url.push_str("&size=1");
        assert!(!app.form_is_demo(), "an edited demo URL is the user's");
    }
}
