//! A comparison in the app: several targets run one after another through the normal run
//! machinery, and the table of their rows.

use super::*;
use crate::emulator::gateway::GatewayMode;
use crate::probe::{self, ProbeRequest};
use std::path::Path;

/// A comparison in progress or done.
#[derive(Debug)]
pub struct Batch {
    pub title: String,
    /// Still to run.
    pub queue: std::collections::VecDeque<(String, probe::ValidRequest)>,
    /// Started, with their history index.
    pub runs: Vec<(String, usize)>,
}

impl StreamscopeApp {
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
    pub(super) fn next_in_batch(&mut self, ended: usize) {
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
        let targets = match probe::output::compare::read_targets(path, &self.form.dest_dir) {
            Ok(t) => t,
            Err(e) => {
                self.message = Some(e.to_string());
                return;
            }
        };
        let list = targets
            .into_iter()
            .map(|c| (c.target.name, c.request))
            .collect();
        self.start_batch(path.display().to_string(), list);
    }

    /// The comparison's rows so far, in order.
    pub fn batch_rows(&self) -> Vec<probe::output::compare::Row> {
        let Some(b) = &self.batch else {
            return Vec::new();
        };
        b.runs
            .iter()
            .filter_map(|(name, i)| {
                let f = self.runs.get(*i)?.finished.as_ref()?;
                Some(probe::output::compare::Row::of(name, &f.result, &f.figures))
            })
            .collect()
    }
}
