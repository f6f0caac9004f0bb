//! Runs: starting one from the form (or resuming one), draining its engine events into the live
//! series each frame, and keeping its result.

use super::*;
use crate::chart::series::LiveSeries;
use crate::demo::PRESETS;
use crate::emulator::gateway::GatewayMode;
use crate::probe::analysis::findings::{self, Limits};
use crate::probe::output::printer::{self, Summary};
use crate::probe::redact::redact_url;
use crate::probe::{self, Figures, ProbeEvent, ResponseMeta, RunResult};
use poll_promise::Promise;
use std::path::PathBuf;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

/// Why Start did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("a download is already running")]
    Busy,
    #[error(transparent)]
    Input(#[from] probe::InputError),
    #[error("that run has not finished")]
    NotFinished,
    #[error("that run left no .part to resume")]
    NoPart,
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

pub(super) struct ActiveRun {
    promise: Promise<RunResult>,
    events: UnboundedReceiver<ProbeEvent>,
    cancel: CancellationToken,
    record: usize,
}

impl StreamscopeApp {
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
        self.source = Source::Demo;
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
    pub fn start(&mut self, replace_existing: bool) -> Result<(), StartError> {
        if self.active.is_some() {
            return Err(StartError::Busy);
        }
        let valid = self.form.to_request().validate()?;
        if valid.output.exists() && !replace_existing {
            self.confirm_overwrite = true;
            return Ok(());
        }
        self.confirm_overwrite = false;
        self.launch(valid);
        Ok(())
    }

    /// Continues run `i`'s `.part` with the same request (`--resume`).
    pub fn resume(&mut self, i: usize) -> Result<(), StartError> {
        if self.active.is_some() {
            return Err(StartError::Busy);
        }
        let f = self
            .runs
            .get(i)
            .and_then(|r| r.finished.as_ref())
            .ok_or(StartError::NotFinished)?;
        if !f.result.output.partial_left || !f.result.request.part.exists() {
            return Err(StartError::NoPart);
        }
        let mut valid = f.result.request.clone();
        valid.resume = true;
        self.launch(valid);
        Ok(())
    }

    pub(super) fn launch(&mut self, valid: probe::ValidRequest) {
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
                // The charts of a finished run come from the engine's result, not from the live
                // series: parallel ranges deliver their batches out of time order, and the result's
                // timeline is the one every other picture of the run (PNG, report) is drawn from.
                rec.series = LiveSeries::from_timeline(
                    &result.timeline,
                    rec.series.gap_threshold_ns,
                    result.duration_ns,
                );
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

    pub fn selected_run(&self) -> Option<&RunRecord> {
        self.selected.and_then(|i| self.runs.get(i))
    }
}
