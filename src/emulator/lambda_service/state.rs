//! What an execution environment's API handlers and its process watchers share: the queue of
//! invocations, the one the runtime is working on, the registered extensions, and how the
//! environment stops.

use super::{FunctionConfig, InvokeError, Reply, StreamCut};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;

/// An event on its way to the runtime, and where its answer goes.
pub struct Invocation {
    pub request_id: String,
    /// The API Gateway request id of the HTTP request it serves (its log is kept under it).
    pub caller_id: String,
    pub event: Bytes,
    pub head: oneshot::Sender<Reply>,
    /// Called once the runtime has finished with it; `true` when the environment can take another.
    pub on_done: Box<dyn FnOnce(bool) + Send>,
}

/// The invocation the runtime is working on.
pub(super) struct Active {
    pub(super) request_id: String,
    pub(super) started: Instant,
    pub(super) head: Option<oneshot::Sender<Reply>>,
    pub(super) body: Option<tokio::sync::mpsc::Sender<Result<Bytes, StreamCut>>>,
    pub(super) on_done: Option<Box<dyn FnOnce(bool) + Send>>,
    /// Cancelled when the invocation ends, however it ends: its timeout watcher stops with it.
    pub(super) ended: CancellationToken,
}

impl Drop for Active {
    fn drop(&mut self) {
        self.ended.cancel();
    }
}

/// A registered extension and the events it asked for.
pub(super) struct Extension {
    pub(super) id: String,
    pub(super) invoke: bool,
    pub(super) shutdown: bool,
    pub(super) events: VecDeque<serde_json::Value>,
    /// It has called `event/next` once: its init is over.
    pub(super) asked: bool,
}

/// What the environment's API handlers and its process watchers share.
pub struct Shared {
    pub config: Arc<FunctionConfig>,
    pub env_id: u32,
    pub started: Instant,
    pub(super) queue: Mutex<VecDeque<Invocation>>,
    pub(super) queued: Notify,
    pub(super) active: Mutex<Option<Active>>,
    /// The request id of the latest invocation handed to the runtime: output written after its
    /// response (a server's access log line) is still that invocation's.
    pub(super) last_request: Mutex<Option<String>>,
    /// When the runtime first asked for an event: the end of its init.
    pub(super) first_next: OnceLock<Instant>,
    pub(super) init_reported: AtomicBool,
    pub(super) dead: AtomicBool,
    /// Why the environment was stopped on purpose (a timeout), to tell its invocations.
    pub(super) stop_reason: Mutex<Option<InvokeError>>,
    pub(super) stopped: Notify,
    pub(super) extensions: Mutex<Vec<Extension>>,
    pub(super) extension_event: Notify,
    /// Telemetry and Logs API subscriptions.
    pub telemetry: super::telemetry::Subscriptions,
    /// The service's log, by request.
    pub logbook: Arc<super::logbook::LogBook>,
    /// What the environment printed before its first invocation (bounded): that invocation's
    /// log begins with it, as a cold start's does in CloudWatch.
    pub(super) init_lines: Mutex<Vec<String>>,
    /// The largest resident memory of the environment's processes seen so far, in bytes.
    pub max_rss: AtomicU64,
    /// Process groups to kill when the environment stops.
    pub pgids: Mutex<Vec<i32>>,
    /// The runtime's process group (0 until it starts): the one SIGTERM goes to.
    pub runtime_pgid: std::sync::atomic::AtomicI32,
    /// A graceful stop is under way: a process that exits now does not cut the others' grace.
    pub terminating: AtomicBool,
    /// Cancelled when init is over: the runtime asked for its first event, or the environment
    /// stopped. The init-timeout watcher waits for it instead of sleeping the whole timeout.
    pub init_ended: CancellationToken,
}

impl Shared {
    pub fn new(
        config: Arc<FunctionConfig>,
        env_id: u32,
        logbook: Arc<super::logbook::LogBook>,
    ) -> Shared {
        Shared {
            config,
            env_id,
            started: Instant::now(),
            queue: Mutex::default(),
            queued: Notify::new(),
            active: Mutex::default(),
            last_request: Mutex::default(),
            first_next: OnceLock::new(),
            init_reported: AtomicBool::new(false),
            dead: AtomicBool::new(false),
            stop_reason: Mutex::default(),
            stopped: Notify::new(),
            extensions: Mutex::default(),
            extension_event: Notify::new(),
            telemetry: Default::default(),
            logbook,
            init_lines: Mutex::default(),
            max_rss: AtomicU64::new(0),
            pgids: Mutex::default(),
            runtime_pgid: Default::default(),
            terminating: AtomicBool::new(false),
            init_ended: CancellationToken::new(),
        }
    }

    pub fn is_alive(&self) -> bool {
        !self.dead.load(Ordering::Acquire)
    }

    pub fn has_asked_for_events(&self) -> bool {
        self.first_next.get().is_some()
    }

    /// Ends init once the runtime and every registered extension have asked for an event, as
    /// Lambda's Invoke phase begins only then.
    pub(super) fn check_init(&self) {
        if self.has_asked_for_events() && lock(&self.extensions).iter().all(|e| e.asked) {
            self.init_ended.cancel();
        }
    }

    /// The request id the function's output belongs to (for its log lines): the invocation it is
    /// working on or last worked on (a web server logs a request after answering it), "INIT"
    /// before the first.
    pub fn log_tag(&self) -> String {
        if let Some(a) = lock(&self.active).as_ref() {
            return a.request_id.clone();
        }
        match lock(&self.last_request).as_ref() {
            Some(id) => id.clone(),
            None if self.has_asked_for_events() => "-".into(),
            None => "INIT".into(),
        }
    }

    /// Keeps a line the environment printed under `tag` (a request id, or INIT before the first).
    pub fn keep_line(&self, tag: &str, line: &str) {
        match tag {
            "INIT" => {
                let mut init = lock(&self.init_lines);
                if init.len() < 200 {
                    init.push(line.to_string());
                }
            }
            "-" => {}
            id => self.logbook.line(id, line),
        }
    }

    /// Queues `inv` for the runtime's next `GET invocation/next`.
    pub fn dispatch(&self, inv: Invocation) {
        if !self.is_alive() {
            let reason = self.stop_reason();
            fail_invocation(inv, reason);
            return;
        }
        lock(&self.queue).push_back(inv);
        self.queued.notify_one();
    }

    pub(super) fn stop_reason(&self) -> InvokeError {
        lock(&self.stop_reason)
            .clone()
            .unwrap_or_else(|| InvokeError::Exited("the environment stopped".into()))
    }

    /// Stops the environment for `reason`: its processes are killed and its invocations told.
    pub fn stop(&self, reason: InvokeError) {
        lock(&self.stop_reason).get_or_insert(reason);
        self.signal_groups(libc::SIGKILL);
        self.died();
    }

    /// Begins a graceful stop, as Lambda ends an environment: its invocations are told, the
    /// extensions that subscribed get SHUTDOWN, the runtime gets SIGTERM. The caller sends
    /// SIGKILL ([`Shared::stop`]) once the grace period is over.
    pub fn terminate(&self, reason: InvokeError) {
        lock(&self.stop_reason).get_or_insert(reason);
        self.terminating.store(true, Ordering::Release);
        self.died();
        // SIGTERM goes to the runtime; the extensions get SHUTDOWN (died() woke them), and
        // whatever is left gets SIGKILL.
        let runtime = self.runtime_pgid.load(Ordering::Acquire);
        if runtime > 0 {
            // SAFETY: kill has no memory preconditions; a group that is gone gives ESRCH.
            unsafe { libc::kill(-runtime, libc::SIGTERM) };
        }
    }

    /// Whether any process of the environment's groups is still there (zombies included).
    pub fn has_processes(&self) -> bool {
        lock(&self.pgids).iter().any(|pgid| {
            // SAFETY: signal 0 only checks that the group exists; no memory preconditions.
            unsafe { libc::kill(-pgid, 0) == 0 }
        })
    }

    pub(super) fn signal_groups(&self, signal: libc::c_int) {
        for pgid in lock(&self.pgids).iter() {
            // SAFETY: kill has no memory preconditions; a group that is gone gives ESRCH.
            unsafe { libc::kill(-pgid, signal) };
        }
    }

    /// A process of the environment exited (or it was stopped): the environment is unusable.
    pub fn died(&self) {
        if self.dead.swap(true, Ordering::AcqRel) {
            return;
        }
        self.init_ended.cancel();
        let reason = self.stop_reason();
        self.fail_active(reason.clone(), false);
        let queued: Vec<Invocation> = lock(&self.queue).drain(..).collect();
        for inv in queued {
            fail_invocation(inv, reason.clone());
        }
        self.stopped.notify_waiters();
        self.extension_event.notify_waiters();
    }

    /// Ends the active invocation with `err`: a 502 if nothing was sent, a cut stream otherwise.
    pub(super) fn fail_active(&self, err: InvokeError, usable: bool) {
        let Some(mut a) = lock(&self.active).take() else {
            return;
        };
        if let Some(head) = a.head.take() {
            head.send(Reply::Failed(err)).ok();
        } else if let Some(body) = a.body.take() {
            // A full queue means the client is behind; the cut still goes out after what it has.
            tokio::spawn(async move {
                body.send(Err(StreamCut(err.to_string()))).await.ok();
            });
        }
        self.report(&a);
        if let Some(done) = a.on_done.take() {
            done(usable);
        }
    }

    /// The active invocation is over, answered as the runtime answered it.
    pub(super) fn finish(&self, request_id: &str) {
        let mut guard = lock(&self.active);
        if guard.as_ref().is_none_or(|a| a.request_id != request_id) {
            return;
        }
        let Some(mut a) = guard.take() else { return };
        drop(guard);
        self.report(&a);
        if let Some(done) = a.on_done.take() {
            done(self.is_alive());
        }
    }

    /// CloudWatch's lines for an invocation: END and REPORT (with Init Duration after a cold start).
    pub(super) fn report(&self, a: &Active) {
        let ms = a.started.elapsed().as_secs_f64() * 1000.0;
        let init = match self.first_next.get() {
            Some(t) if !self.init_reported.swap(true, Ordering::AcqRel) => format!(
                "\tInit Duration: {:.2} ms",
                t.duration_since(self.started).as_secs_f64() * 1000.0
            ),
            _ => String::new(),
        };
        let max_mb = self.max_rss.load(Ordering::Relaxed).div_ceil(1024 * 1024);
        self.telemetry.publish(
            "platform.report",
            serde_json::json!({
                "requestId": a.request_id,
                "status": "success",
                "metrics": {
                    "durationMs": ms,
                    "billedDurationMs": ms.ceil() as u64,
                    "memorySizeMB": self.config.memory_mb,
                    "maxMemoryUsedMB": max_mb,
                },
            }),
        );
        let report = format!(
            "REPORT RequestId: {}\tDuration: {ms:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {max_mb} MB{init}",
            a.request_id,
            ms.ceil() as u64,
            self.config.memory_mb,
        );
        for line in [format!("END RequestId: {}", a.request_id), report] {
            eprintln!("{line}");
            self.logbook.line(&a.request_id, &line);
        }
        self.logbook.done(&a.request_id);
    }

    /// An INVOKE event for every extension that registered for them.
    pub(super) fn tell_extensions_invoke(
        &self,
        request_id: &str,
        caller_id: &str,
        deadline_ms: u64,
    ) {
        let event = serde_json::json!({
            "eventType": "INVOKE",
            "deadlineMs": deadline_ms,
            "requestId": request_id,
            "invokedFunctionArn": function_arn(&self.config),
            "tracing": { "type": "X-Amzn-Trace-Id", "value": trace_id(caller_id) },
        });
        let mut exts = lock(&self.extensions);
        for e in exts.iter_mut().filter(|e| e.invoke) {
            e.events.push_back(event.clone());
        }
        self.extension_event.notify_waiters();
    }

    pub(super) fn take_head(&self, request_id: &str) -> Option<oneshot::Sender<Reply>> {
        lock(&self.active)
            .as_mut()
            .filter(|a| a.request_id == request_id)
            .and_then(|a| a.head.take())
    }

    pub(super) fn is_active(&self, request_id: &str) -> bool {
        lock(&self.active)
            .as_ref()
            .is_some_and(|a| a.request_id == request_id)
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind: keep going with it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn fail_invocation(inv: Invocation, err: InvokeError) {
    inv.head.send(Reply::Failed(err)).ok();
    (inv.on_done)(false);
}

pub(super) fn function_arn(c: &FunctionConfig) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:function:{}", c.name)
}

/// The trace header the function sees: API Gateway's root, no parent segment, not sampled.
pub(super) fn trace_id(request_id: &str) -> String {
    format!(
        "{};Parent=0000000000000000;Sampled=0",
        crate::emulator::gateway::trace_root(request_id)
    )
}
