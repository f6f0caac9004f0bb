//! A local Lambda service: runs a real function (any runtime that speaks the Lambda Runtime API:
//! our `bootstrap`, Node's `aws-lambda-ric`, the Lambda Web Adapter...) as processes on this
//! machine, gives each execution environment a Runtime API and an Extensions API on a private
//! loopback port, and turns HTTP requests into API Gateway REST (v1) proxy events. The gateway
//! emulation sits in front of it exactly as it does in front of the in-process Router.
//!
//! - [`FunctionSettings`] → [`FunctionSettings::validate`] → [`FunctionConfig`].
//! - [`LambdaService::invoke`] takes an event to an idle environment (starting one, a cold start,
//!   when none is idle and the concurrency allows) and returns the function's [`Reply`].
//! - [`env`] runs one environment's processes; [`api`] is its Runtime/Extensions API; [`event`]
//!   builds REST events; [`reply`] reads what functions answer; [`front`] is the HTTP side.

pub mod api;
pub mod env;
pub mod event;
mod extensions;
pub mod front;
pub mod logbook;
pub mod reply;
pub mod state;
pub mod telemetry;

use crate::backend::{ConfigError, Setting};
use axum::http::HeaderValue;
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The function as given on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSettings {
    /// The runtime process: `COMMAND ARGS`, split as a POSIX shell would (no shell runs it).
    pub command: String,
    /// External extensions, started before the runtime as Lambda starts `/opt/extensions/*`.
    pub extensions: Vec<String>,
    /// The function's directory (`LAMBDA_TASK_ROOT`, and where the processes start).
    pub dir: Option<PathBuf>,
    /// `K=V` environment variables for the function. `{port}` in a value becomes a loopback port
    /// of the environment's own (each Lambda sandbox has its own network, so a web app behind the
    /// Web Adapter listens on 8080 in every one; here, environments side by side need their own).
    pub env: Vec<String>,
    /// `_HANDLER` (`index.handler`, `run.sh`).
    pub handler: Option<String>,
    pub timeout_s: f64,
    pub init_timeout_s: f64,
    pub memory_mb: u32,
    /// Reserved concurrency: a request over it is refused at once (Lambda throttles the invoke;
    /// API Gateway answers 500). None: environments scale out per concurrent request, as on
    /// Lambda, up to [`LOCAL_SCALE_CAP`] here (more wait: a local limit, not AWS's).
    pub concurrency: Option<u32>,
    pub name: String,
    /// The REST API stage the events name.
    pub stage: String,
    /// Hand the caller's AWS credentials (and its AWS configuration files) to the function.
    /// Off: the function sees none, as on Lambda where it has only its execution role.
    pub pass_aws_credentials: bool,
    /// Lambda's own limits, from the profile.
    pub limits: LambdaLimits,
}

/// Lambda's limits on an invocation and an environment (from the profile).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LambdaLimits {
    /// The largest request payload (the event JSON): over it, Lambda refuses the invoke.
    pub request_max_bytes: usize,
    /// The largest payload a buffered (Invoke API) invocation returns.
    pub buffered_max_bytes: usize,
    /// The prelude's delimiter must come within this many bytes.
    pub prelude_max_bytes: usize,
    /// From SHUTDOWN and SIGTERM to SIGKILL.
    pub shutdown_grace: Duration,
    /// An init past its limit is retried inside the first invocation, up to the function timeout.
    pub init_retry: bool,
}

impl LambdaLimits {
    pub fn from_profile(p: &crate::emulator::profile::Profile) -> LambdaLimits {
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        LambdaLimits {
            request_max_bytes: size(p.lambda_request_max_bytes.value),
            buffered_max_bytes: size(p.lambda_buffered_max_bytes.value),
            prelude_max_bytes: size(p.prelude_max_bytes.value),
            shutdown_grace: Duration::from_millis(p.shutdown_grace_ms.value),
            init_retry: p.init_retry.value,
        }
    }
}

/// Environments started at most at once when no reserved concurrency is set (Lambda's own
/// limit is the account's, 1,000 by default: far more than a laptop runs).
pub const LOCAL_SCALE_CAP: usize = 16;

impl Default for FunctionSettings {
    fn default() -> Self {
        FunctionSettings::from_profile(crate::emulator::profile::Profile::aws())
    }
}

impl FunctionSettings {
    /// No command yet; Lambda's limits from `p`.
    pub fn from_profile(p: &crate::emulator::profile::Profile) -> Self {
        FunctionSettings {
            command: String::new(),
            extensions: Vec::new(),
            dir: None,
            env: Vec::new(),
            handler: None,
            timeout_s: 900.0,
            init_timeout_s: p.init_timeout_s.value as f64,
            memory_mb: 128,
            concurrency: None,
            name: "streamscope-local".into(),
            stage: "local".into(),
            pass_aws_credentials: false,
            limits: LambdaLimits::from_profile(p),
        }
    }
}

/// A checked function configuration.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    pub(crate) argv: Vec<String>,
    pub(crate) extensions: Vec<Vec<String>>,
    pub(crate) dir: PathBuf,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) handler: Option<String>,
    pub(crate) timeout: Duration,
    pub(crate) init_timeout: Duration,
    pub(crate) memory_mb: u32,
    pub(crate) concurrency: usize,
    /// `concurrency` is the function's reserved concurrency: over it, refuse at once.
    pub(crate) reserved: bool,
    pub(crate) name: String,
    pub(crate) stage: String,
    pub(crate) pass_aws_credentials: bool,
    pub(crate) limits: LambdaLimits,
}

/// The placeholder in `--function-env` values for the environment's own port.
pub const PORT_PLACEHOLDER: &str = "{port}";
/// Ports for `{port}` come from here: below Linux's ephemeral range, so the kernel never hands
/// them out by itself; one already taken makes the environment's init fail, and a new environment
/// with another port is tried.
const PORT_RANGE: std::ops::Range<u16> = 20_000..32_768;
/// Environments started for one request when init keeps failing on a port already taken.
const PORT_ATTEMPTS: usize = 5;

impl FunctionConfig {
    /// Whether the environment variables ask for a port of the environment's own.
    pub fn wants_port(&self) -> bool {
        self.env.iter().any(|(_, v)| v.contains(PORT_PLACEHOLDER))
    }

    /// A port for a new environment (see [`PORT_RANGE`]).
    pub(crate) fn pick_port() -> u16 {
        let span = (PORT_RANGE.end - PORT_RANGE.start) as u128;
        PORT_RANGE.start + (uuid::Uuid::new_v4().as_u128() % span) as u16
    }

    pub fn stage(&self) -> &str {
        &self.stage
    }

    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Whether [`Self::concurrency`] is reserved (refusing) rather than a local cap (waiting).
    pub fn reserved(&self) -> bool {
        self.reserved
    }
}

fn words(setting: Setting, text: &str) -> Result<Vec<String>, ConfigError> {
    let argv = shell_words::split(text)
        .map_err(|e| ConfigError::Invalid(setting, format!("{text:?}: {e}")))?;
    if argv.is_empty() {
        return Err(ConfigError::Invalid(setting, "is empty".into()));
    }
    Ok(argv)
}

impl FunctionSettings {
    pub fn validate(&self) -> Result<FunctionConfig, ConfigError> {
        let argv = words(Setting::FunctionCommand, &self.command)?;
        let extensions = self
            .extensions
            .iter()
            .map(|e| words(Setting::FunctionExtension, e))
            .collect::<Result<_, _>>()?;
        let dir = match &self.dir {
            Some(d) => d.clone(),
            None => std::env::current_dir().map_err(|e| {
                ConfigError::Invalid(Setting::FunctionDir, format!("cannot be found: {e}"))
            })?,
        };
        let dir = std::fs::canonicalize(&dir).map_err(|e| {
            ConfigError::Invalid(Setting::FunctionDir, format!("{}: {e}", dir.display()))
        })?;
        if !dir.is_dir() {
            return Err(ConfigError::Invalid(
                Setting::FunctionDir,
                format!("{} is not a directory", dir.display()),
            ));
        }
        let env = self
            .env
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
                _ => Err(ConfigError::Invalid(
                    Setting::FunctionEnv,
                    format!("{kv:?}: write it as NAME=VALUE"),
                )),
            })
            .collect::<Result<_, _>>()?;
        let seconds = |setting, v: f64| {
            Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or(ConfigError::Seconds(setting, v))
        };
        if !(128..=10_240).contains(&self.memory_mb) {
            return Err(ConfigError::Invalid(
                Setting::FunctionMemory,
                format!(
                    "must be from 128 to 10240 MB (Lambda's range), got {}",
                    self.memory_mb
                ),
            ));
        }
        if self.concurrency == Some(0) {
            return Err(ConfigError::NotPositive(Setting::FunctionConcurrency));
        }
        let stage = self.stage.trim();
        if stage.is_empty()
            || !stage
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ConfigError::Invalid(
                Setting::FunctionStage,
                format!("{stage:?}: letters, digits, '-' and '_' only"),
            ));
        }
        Ok(FunctionConfig {
            argv,
            extensions,
            dir,
            env,
            handler: self.handler.clone().filter(|h| !h.trim().is_empty()),
            timeout: seconds(Setting::FunctionTimeout, self.timeout_s)?,
            init_timeout: seconds(Setting::FunctionInitTimeout, self.init_timeout_s)?,
            memory_mb: self.memory_mb,
            concurrency: self.concurrency.map_or(LOCAL_SCALE_CAP, |c| c as usize),
            reserved: self.concurrency.is_some(),
            name: self.name.clone(),
            stage: stage.to_string(),
            pass_aws_credentials: self.pass_aws_credentials,
            limits: self.limits,
        })
    }
}

/// Why an invocation failed before the function sent anything: API Gateway answers 502.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvokeError {
    #[error("the function could not start: {0}")]
    Spawn(String),
    #[error("the function's init failed: {0}")]
    Init(String),
    #[error("the function's runtime did not ask for an event within the {0:.1} s init timeout")]
    InitTimeout(f64),
    #[error("Task timed out after {0:.2} seconds")]
    Timeout(f64),
    #[error("the function process exited: {0}")]
    Exited(String),
    #[error("the function returned an error: {0}")]
    Function(String),
    #[error("{0}")]
    Reply(#[from] reply::ReplyError),
    #[error("Response payload size exceeded maximum allowed payload size ({0} bytes)")]
    PayloadTooLarge(usize),
    /// Lambda refused the invocation: API Gateway answers 500, not 502.
    #[error("Rate Exceeded: over the function's reserved concurrency of {0}")]
    Throttled(usize),
    #[error("the request payload ({0} bytes) is over Lambda's invocation limit of {1} bytes")]
    RequestTooLarge(usize, usize),
}

impl InvokeError {
    /// Lambda refused the invocation itself (API Gateway answers 500): throttled, a request over
    /// 6 MB. Everything else is the function's failure (502).
    pub fn refused(&self) -> bool {
        matches!(
            self,
            InvokeError::Throttled(_) | InvokeError::RequestTooLarge(..)
        )
    }
}

/// Why a stream that had started was cut (the client's connection is then broken).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct StreamCut(pub String);

pub type BodyRx = tokio::sync::mpsc::Receiver<Result<Bytes, StreamCut>>;

/// What a function answered.
pub enum Reply {
    /// A streamed response: its prelude, then the body as the function writes it.
    Stream {
        prelude: reply::Prelude,
        body: BodyRx,
    },
    /// A whole response: a buffered proxy response, or (buffered invocation) a collected stream.
    Whole(axum::http::Response<Bytes>),
    /// Nothing was sent: API Gateway answers 502.
    Failed(InvokeError),
}

/// The execution environments of one function, started on demand up to its concurrency.
pub struct LambdaService {
    config: Arc<FunctionConfig>,
    permits: Arc<Semaphore>,
    idle: env::Pool,
    /// Every environment started, idle or busy, to end them all when the service ends.
    started: std::sync::Mutex<Vec<std::sync::Weak<env::Environment>>>,
    next_env: std::sync::atomic::AtomicU32,
    logbook: Arc<logbook::LogBook>,
}

impl LambdaService {
    pub fn new(config: FunctionConfig) -> Self {
        LambdaService::with_logbook(config, Arc::default())
    }

    /// A service whose log goes to `logbook` (a stack's functions share one).
    pub fn with_logbook(config: FunctionConfig, logbook: Arc<logbook::LogBook>) -> Self {
        LambdaService {
            permits: Arc::new(Semaphore::new(config.concurrency)),
            config: Arc::new(config),
            idle: Arc::default(),
            started: Default::default(),
            next_env: Default::default(),
            logbook,
        }
    }

    pub fn config(&self) -> &FunctionConfig {
        &self.config
    }

    /// The function's log, by request.
    pub fn logbook(&self) -> &logbook::LogBook {
        &self.logbook
    }

    pub fn logbook_shared(&self) -> Arc<logbook::LogBook> {
        self.logbook.clone()
    }

    /// Runs `event` in an idle environment (or a new one: a cold start), waiting for one to be
    /// free when `concurrency` are busy. `buffered`: the Invoke API (the whole payload, at most
    /// 6 MB) rather than InvokeWithResponseStream.
    pub async fn invoke(&self, event: Bytes, buffered: bool, caller_id: &str) -> Reply {
        let max = self.config.limits.request_max_bytes;
        if event.len() > max {
            return Reply::Failed(InvokeError::RequestTooLarge(event.len(), max));
        }
        let permit = if self.config.reserved {
            // Over the reserved concurrency Lambda throttles the invoke at once.
            match self.permits.clone().try_acquire_owned() {
                Ok(p) => Ok(p),
                Err(tokio::sync::TryAcquireError::NoPermits) => {
                    return Reply::Failed(InvokeError::Throttled(self.config.concurrency));
                }
                Err(tokio::sync::TryAcquireError::Closed) => Err(()),
            }
        } else {
            self.permits.clone().acquire_owned().await.map_err(|_| ())
        };
        let Ok(permit) = permit else {
            return Reply::Failed(InvokeError::Spawn("the service is shutting down".into()));
        };
        let next_idle = loop {
            let e = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match e {
                Some(e) if !e.is_alive() => continue,
                other => break other,
            }
        };
        let reply = match next_idle {
            Some(e) => e.invoke(event, caller_id, permit, self.idle.clone()).await,
            None => self.cold_start(event, caller_id, permit).await,
        };
        match (reply, buffered) {
            (Reply::Stream { prelude, body }, true) => {
                collect(prelude, body, self.config.limits.buffered_max_bytes).await
            }
            (r, _) => r,
        }
    }

    /// Starts an environment for `event`. An environment whose web app could not listen on the
    /// port it was given dies during init: another one, with another port, is tried.
    async fn cold_start(
        &self,
        event: Bytes,
        caller_id: &str,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Reply {
        let attempts = if self.config.wants_port() {
            PORT_ATTEMPTS
        } else {
            1
        };
        let mut permit = Some(permit);
        let mut last = None;
        for _ in 0..attempts {
            // A failed attempt gave its permit back when it ended.
            let p = match permit.take() {
                Some(p) => p,
                None => match self.permits.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let id = self
                .next_env
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            let e = match env::Environment::start(self.config.clone(), id, self.logbook.clone())
                .await
            {
                Ok(e) => e,
                Err(e) => return Reply::Failed(InvokeError::Spawn(e.to_string())),
            };
            {
                let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
                started.retain(|w| w.strong_count() > 0);
                started.push(Arc::downgrade(&e));
            }
            match e
                .invoke(event.clone(), caller_id, p, self.idle.clone())
                .await
            {
                Reply::Failed(err @ InvokeError::Exited(_)) if e.died_during_init() => {
                    last = Some(err);
                }
                other => return other,
            }
        }
        Reply::Failed(
            last.unwrap_or_else(|| InvokeError::Spawn("no environment could start".into())),
        )
    }

    /// The environments still running, idle or busy.
    fn live(&self) -> Vec<Arc<env::Environment>> {
        self.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .collect()
    }

    /// Ends every environment gracefully ([`env::Environment::shut_down`]), all at once, and
    /// refuses new invocations. Returns when every process is gone or killed.
    pub async fn shutdown(&self) {
        self.permits.close();
        // Held here until their processes are gone: the pool's were their last owners.
        let live = self.live();
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
        futures_util::future::join_all(
            live.iter()
                .map(|e| e.shut_down("the service stopped", self.config.limits.shutdown_grace)),
        )
        .await;
    }
}

impl Drop for LambdaService {
    /// Whatever did not go through [`LambdaService::shutdown`] is killed here.
    fn drop(&mut self) {
        for e in self.live() {
            e.kill("the service stopped");
        }
    }
}

/// A buffered invocation of a streaming function: Lambda collects the stream (at most 6 MB) and
/// the gateway reads the prelude and the body from it.
async fn collect(prelude: reply::Prelude, mut body: BodyRx, max: usize) -> Reply {
    let mut buf = Vec::new();
    while let Some(chunk) = body.recv().await {
        match chunk {
            Ok(b) => {
                if buf.len() + b.len() > max {
                    return Reply::Failed(InvokeError::PayloadTooLarge(max));
                }
                buf.extend_from_slice(&b);
            }
            Err(cut) => return Reply::Failed(InvokeError::Function(cut.0)),
        }
    }
    let status = match prelude.status() {
        Ok(s) => s,
        Err(e) => return Reply::Failed(e.into()),
    };
    // AWS's table for a BUFFERED method (the Invoke API) whose function answers in the
    // streaming format: the status code and headers, but not the body.
    drop(buf);
    let mut resp = axum::http::Response::new(Bytes::new());
    *resp.status_mut() = status;
    let mut headers = prelude.header_map();
    headers.remove(axum::http::header::CONTENT_LENGTH);
    headers.remove(axum::http::header::TRANSFER_ENCODING);
    headers.insert(
        STREAMED_BEHIND_BUFFERED.0,
        HeaderValue::from_static(STREAMED_BEHIND_BUFFERED.1),
    );
    *resp.headers_mut() = headers;
    Reply::Whole(resp)
}

/// Said on a BUFFERED method's response whose function streamed: what AWS does with it.
pub const STREAMED_BEHIND_BUFFERED: (&str, &str) = (
    "x-streamscope-function-error",
    "the function answered in the streaming format behind a BUFFERED method: API Gateway returns its status and headers without the body (set the method to STREAM, or answer in the proxy JSON format)",
);
