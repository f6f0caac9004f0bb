//! One execution environment: the function's processes (extensions first, then the runtime, each
//! in a process group of its own), its private Runtime API, its log lines tagged with the request
//! id, its memory, and its end (a process that exits makes the environment unusable: the next
//! request starts a new one, a cold start again).

use super::api::{self, Invocation, Shared};
use super::{FunctionConfig, InvokeError, Reply};
use bytes::Bytes;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::OwnedSemaphorePermit;

/// How often the environment's resident memory is sampled for the REPORT line.
const MEMORY_SAMPLE: Duration = Duration::from_millis(50);

pub struct Environment {
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Drop for Environment {
    fn drop(&mut self) {
        self.shared
            .stop(InvokeError::Exited("the environment was shut down".into()));
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The idle environments of a service.
pub type Pool = Arc<Mutex<Vec<Arc<Environment>>>>;

impl Environment {
    /// Starts the API and the processes. Init goes on in the background: the first invocation
    /// waits for the runtime to ask for it.
    pub async fn start(
        config: Arc<FunctionConfig>,
        id: u32,
        logbook: Arc<super::logbook::LogBook>,
    ) -> std::io::Result<Arc<Environment>> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let api_addr = listener.local_addr()?;
        // Built first, so that an early return below drops it: its tasks (the API server and its
        // socket among them) are aborted and whatever processes started are killed.
        let mut env = Environment {
            shared: Arc::new(Shared::new(config.clone(), id, logbook)),
            tasks: Vec::new(),
        };
        let shared = env.shared.clone();
        let app = api::router(shared.clone());
        env.tasks.push(
            tokio::spawn(async move {
                // Ends with the environment (aborted on drop); an accept error ends it early, and
                // the runtime then sees a refused connection and exits.
                axum::serve(listener, app).await.ok();
            })
            .abort_handle(),
        );
        let port = config.wants_port().then(FunctionConfig::pick_port);
        let mut procs = Vec::new();
        for (i, argv) in config.extensions.iter().enumerate() {
            procs.push((format!("extension {}", i + 1), argv.clone()));
        }
        procs.push(("runtime".to_string(), config.argv.clone()));
        for (role, argv) in procs {
            if role == "runtime" {
                // As on Lambda, the runtime's init begins once every extension has registered.
                wait_for_registrations(&shared).await;
            }
            let child = match spawn(&argv, &config, api_addr, id, port) {
                Ok(c) => c,
                Err(e) => {
                    shared.stop(InvokeError::Spawn(format!("{}: {e}", argv[0])));
                    return Err(std::io::Error::new(
                        e.kind(),
                        format!("cannot start {role} {:?}: {e}", argv[0]),
                    ));
                }
            };
            if let Some(pid) = child.id() {
                // The child leads a process group of its own (process_group(0)).
                super::api::Shared::pgids_push(&shared, pid as i32);
                if role == "runtime" {
                    shared.runtime_pgid.store(pid as i32, Ordering::Release);
                }
            }
            env.watch(child, role);
        }
        let sampler = shared.clone();
        env.tasks.push(
            tokio::spawn(async move {
                while sampler.is_alive() {
                    let pgids = sampler.pgids_snapshot();
                    let rss = tree_rss_bytes(&pgids);
                    sampler.max_rss.fetch_max(rss, Ordering::Relaxed);
                    tokio::time::sleep(MEMORY_SAMPLE).await;
                }
            })
            .abort_handle(),
        );
        Ok(Arc::new(env))
    }

    pub fn is_alive(&self) -> bool {
        self.shared.is_alive()
    }

    /// Pumps a process's output into the log and stops the environment when it exits.
    fn watch(&mut self, mut child: tokio::process::Child, role: String) {
        let shared = self.shared.clone();
        let env = self;
        let kind = if role == "runtime" {
            "function"
        } else {
            "extension"
        };
        for out in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            env.tasks
                .push(tokio::spawn(pump_logs(out, shared.clone(), kind)).abort_handle());
        }
        let watch = shared.clone();
        env.tasks.push(
            tokio::spawn(async move {
                let status = child.wait().await;
                let why = match status {
                    Ok(s) => format!("{role} exited ({s})"),
                    Err(e) => format!("{role}: {e}"),
                };
                eprintln!("{}\t{why}", watch.log_tag());
                // During a graceful stop the others keep their grace (SIGKILL comes after).
                if !watch.terminating.load(Ordering::Acquire) {
                    watch.stop(InvokeError::Exited(why));
                }
            })
            .abort_handle(),
        );
    }

    /// The environment stopped before its runtime ever asked for an event.
    pub fn died_during_init(&self) -> bool {
        !self.is_alive() && !self.shared.has_asked_for_events()
    }

    pub fn kill(&self, why: &str) {
        self.shared
            .stop(InvokeError::Exited(format!("stopped: {why}")));
    }

    /// Ends the environment as Lambda does: SHUTDOWN to its extensions and SIGTERM to its
    /// processes, then SIGKILL to whatever is left after `grace`.
    pub async fn shut_down(&self, why: &str, grace: Duration) {
        self.shared
            .terminate(InvokeError::Exited(format!("stopped: {why}")));
        let deadline = tokio::time::Instant::now() + grace;
        while self.shared.has_processes() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.kill(why);
    }

    /// Hands `event` to the runtime and waits for its answer's head. The permit and the place in
    /// the pool come back when the runtime has finished with it (not when the client has).
    pub async fn invoke(
        self: &Arc<Self>,
        event: Bytes,
        caller_id: &str,
        permit: OwnedSemaphorePermit,
        pool: Pool,
    ) -> Reply {
        let (head_tx, head_rx) = tokio::sync::oneshot::channel();
        let me = self.clone();
        let on_done = Box::new(move |usable: bool| {
            if usable && me.is_alive() {
                // Back in the pool before the permit goes: a waiting request finds it idle.
                pool.lock().unwrap_or_else(|e| e.into_inner()).push(me);
            }
            drop(permit);
        });
        let cold = !self.shared.has_asked_for_events();
        self.shared.dispatch(Invocation {
            request_id: uuid::Uuid::new_v4().to_string(),
            caller_id: caller_id.to_string(),
            event,
            head: head_tx,
            on_done,
        });
        if cold {
            // Lambda gives init 10 s by default; a runtime that never asks for events (a web app
            // whose adapter is missing, a wrong handler) fails the request instead of hanging it.
            // The watcher ends with init.
            let watch = self.shared.clone();
            tokio::spawn(async move { watch_init(&watch).await });
        }
        head_rx.await.unwrap_or_else(|_| {
            Reply::Failed(InvokeError::Exited("the environment stopped".into()))
        })
    }
}

/// Ends an environment whose init runs past its limit (10 s by default). As on Lambda, with the
/// profile's `init_retry`, an init past its limit is given the first invocation's time instead:
/// the function timeout counted from the start (Lambda starts the init over; here it goes on).
async fn watch_init(sh: &Shared) {
    let limit = sh.config.init_timeout;
    let started = tokio::time::Instant::now();
    if tokio::time::timeout(limit, sh.init_ended.cancelled())
        .await
        .is_ok()
        || !sh.is_alive()
    {
        return;
    }
    let timeout = sh.config.timeout;
    if !sh.config.limits.init_retry || timeout <= limit {
        sh.stop(InvokeError::InitTimeout(limit.as_secs_f64()));
        return;
    }
    eprintln!(
        "INIT_REPORT Init Duration: {:.2} ms\tPhase: init\tStatus: timeout",
        limit.as_secs_f64() * 1000.0
    );
    eprintln!(
        "INIT\tthe init ran past {:.1} s: Lambda retries it inside the first invocation, bounded by the function timeout ({:.1} s)",
        limit.as_secs_f64(),
        timeout.as_secs_f64()
    );
    if tokio::time::timeout_at(started + timeout, sh.init_ended.cancelled())
        .await
        .is_err()
        && sh.is_alive()
    {
        sh.stop(InvokeError::Timeout(timeout.as_secs_f64()));
    }
}

/// Waits until every extension has registered, the environment has stopped, or the init
/// timeout has passed (then the init-timeout watcher ends it, as Lambda does).
async fn wait_for_registrations(sh: &Shared) {
    let want = sh.config.extensions.len();
    let deadline = tokio::time::Instant::now() + sh.config.init_timeout;
    loop {
        let registered = sh.extension_event.notified();
        if super::state::lock(&sh.extensions).len() >= want || !sh.is_alive() {
            return;
        }
        if tokio::time::timeout_at(deadline, registered).await.is_err() {
            return;
        }
    }
}

impl Shared {
    fn pgids_push(shared: &Arc<Shared>, pgid: i32) {
        shared
            .pgids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(pgid);
    }

    fn pgids_snapshot(&self) -> Vec<i32> {
        self.pgids.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Starts one process of the environment with Lambda's environment variables.
fn spawn(
    argv: &[String],
    config: &FunctionConfig,
    api: SocketAddr,
    env_id: u32,
    port: Option<u16>,
) -> std::io::Result<tokio::process::Child> {
    let program = resolve(&argv[0], &config.dir);
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(&argv[1..])
        .current_dir(&config.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    die_with_parent(&mut cmd);
    clean_environment(&mut cmd, config.pass_aws_credentials);
    let dir = config.dir.display().to_string();
    let date = crate::units::rfc3339_utc(std::time::SystemTime::now());
    let vars: Vec<(&str, String)> = vec![
        ("AWS_LAMBDA_RUNTIME_API", api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", config.name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            config.memory_mb.to_string(),
        ),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", config.name),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            format!("{}/[$LATEST]{env_id:032x}", &date[..10].replace('-', "/")),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_EXECUTION_ENV", "streamscope-local".into()),
        ("LAMBDA_TASK_ROOT", dir.clone()),
        ("LAMBDA_RUNTIME_DIR", dir),
        ("TZ", ":UTC".into()),
    ];
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    cmd.env("AWS_REGION", &region);
    cmd.env("AWS_DEFAULT_REGION", &region);
    if let Some(h) = &config.handler {
        cmd.env("_HANDLER", h);
    }
    for (k, v) in &config.env {
        match port {
            Some(p) => cmd.env(k, v.replace(super::PORT_PLACEHOLDER, &p.to_string())),
            None => cmd.env(k, v),
        };
    }
    cmd.spawn()
}

/// What a function process inherits from us: nothing but what it needs to run here (PATH, HOME,
/// the locale, a temporary directory); the Lambda variables and `--function-env` are added after.
/// The caller's AWS credentials would hide a missing permission of the execution role, so they
/// pass only when asked; otherwise the AWS configuration files are pointed at /dev/null, so an
/// SDK does not find `~/.aws/credentials` through HOME either.
fn clean_environment(cmd: &mut tokio::process::Command, pass_aws_credentials: bool) {
    const KEPT: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"];
    const AWS: &[&str] = &[
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_ENDPOINT_URL",
    ];
    cmd.env_clear();
    for k in KEPT {
        if let Some(v) = std::env::var_os(k) {
            cmd.env(k, v);
        }
    }
    if pass_aws_credentials {
        for k in AWS {
            if let Some(v) = std::env::var_os(k) {
                cmd.env(k, v);
            }
        }
    } else {
        cmd.env("AWS_CONFIG_FILE", "/dev/null");
        cmd.env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
        // No instance metadata to fall back to, as there is none in a Lambda environment.
        cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    }
}

/// The process gets SIGKILL when we die, however we die (SIGKILL included): nothing else would end
/// it then. Linux sends it when the thread that spawned the child ends; environments are started
/// from the runtime's worker threads, which live as long as the runtime, that is as long as the
/// service. The process's own children are ended by [`Shared::stop`]'s kill of the whole process
/// group on every other way out; after a SIGKILL of ours they see their parent die (gunicorn's
/// workers, for one, exit when their arbiter is gone).
fn die_with_parent(cmd: &mut tokio::process::Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe functions
    // (prctl, getppid, raise), touching no memory of the parent's.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // We died between fork and prctl: the signal will never come.
            if libc::getppid() != parent {
                libc::raise(libc::SIGKILL);
            }
            Ok(())
        });
    }
}

/// A relative program path with a `/` is the function directory's; a bare name is looked up on
/// PATH.
fn resolve(program: &str, dir: &Path) -> PathBuf {
    let p = Path::new(program);
    if p.is_relative() && program.contains('/') {
        dir.join(p)
    } else {
        p.to_path_buf()
    }
}

/// Copies a process's output to ours, each line tagged with the request id it belongs to.
async fn pump_logs(
    out: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    shared: Arc<Shared>,
    kind: &'static str,
) {
    let mut lines = BufReader::new(out).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let tag = shared.log_tag();
        eprintln!("{tag}\t{line}");
        shared.keep_line(&tag, &line);
        // To the Telemetry API's subscribers: `function` lines, or `extension` lines.
        shared
            .telemetry
            .publish(kind, serde_json::Value::String(line));
    }
}

/// Resident memory of every process in the groups `pgids`, in bytes (Linux `/proc`).
fn tree_rss_bytes(pgids: &[i32]) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    let mut total = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the command name in parentheses: state, ppid, pgrp, ...
        let Some(after) = stat.rsplit_once(')').map(|(_, a)| a) else {
            continue;
        };
        let pgrp: Option<i32> = after.split_whitespace().nth(2).and_then(|v| v.parse().ok());
        if !pgrp.is_some_and(|g| pgids.contains(&g)) {
            continue;
        }
        if let Ok(statm) = std::fs::read_to_string(format!("/proc/{pid}/statm"))
            && let Some(resident) = statm
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        {
            total += resident * page;
        }
    }
    total
}
