//! One execution environment's Runtime API (`/2018-06-01/runtime/...`) and Extensions API
//! (`/2020-01-01/extension/...`), on a loopback port only its processes are told about.
//!
//! The runtime asks for an event (`GET invocation/next`), then answers with `POST .../response`
//! (a proxy JSON, or `Lambda-Runtime-Function-Response-Mode: streaming`: the prelude, 8 NUL bytes,
//! the body, and error trailers if it fails part-way) or `POST .../error`. What it answers goes
//! to the waiting HTTP request as it arrives: nothing is buffered.

use super::reply::{self, proxy_response, split_prelude};
use super::{FunctionConfig, InvokeError, Reply, StreamCut};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;

const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";
/// How many body chunks may wait between the function and the client: enough to keep both busy,
/// few enough that a slow client slows the function down (as a real stream does).
const BODY_QUEUE: usize = 8;

/// An event on its way to the runtime, and where its answer goes.
pub struct Invocation {
    pub request_id: String,
    pub event: Bytes,
    pub head: oneshot::Sender<Reply>,
    /// Called once the runtime has finished with it; `true` when the environment can take another.
    pub on_done: Box<dyn FnOnce(bool) + Send>,
}

/// The invocation the runtime is working on.
struct Active {
    request_id: String,
    started: Instant,
    head: Option<oneshot::Sender<Reply>>,
    body: Option<tokio::sync::mpsc::Sender<Result<Bytes, StreamCut>>>,
    on_done: Option<Box<dyn FnOnce(bool) + Send>>,
    /// Cancelled when the invocation ends, however it ends: its timeout watcher stops with it.
    ended: CancellationToken,
}

impl Drop for Active {
    fn drop(&mut self) {
        self.ended.cancel();
    }
}

/// A registered extension and the events it asked for.
struct Extension {
    id: String,
    invoke: bool,
    shutdown: bool,
    events: VecDeque<serde_json::Value>,
}

/// What the environment's API handlers and its process watchers share.
pub struct Shared {
    pub config: Arc<FunctionConfig>,
    pub env_id: u32,
    pub started: Instant,
    queue: Mutex<VecDeque<Invocation>>,
    queued: Notify,
    active: Mutex<Option<Active>>,
    /// The request id of the latest invocation handed to the runtime: output written after its
    /// response (a server's access log line) is still that invocation's.
    last_request: Mutex<Option<String>>,
    /// When the runtime first asked for an event: the end of its init.
    first_next: OnceLock<Instant>,
    init_reported: AtomicBool,
    dead: AtomicBool,
    /// Why the environment was stopped on purpose (a timeout), to tell its invocations.
    stop_reason: Mutex<Option<InvokeError>>,
    stopped: Notify,
    extensions: Mutex<Vec<Extension>>,
    extension_event: Notify,
    /// The largest resident memory of the environment's processes seen so far, in bytes.
    pub max_rss: AtomicU64,
    /// Process groups to kill when the environment stops.
    pub pgids: Mutex<Vec<i32>>,
    /// Cancelled when init is over: the runtime asked for its first event, or the environment
    /// stopped. The init-timeout watcher waits for it instead of sleeping the whole timeout.
    pub init_ended: CancellationToken,
}

impl Shared {
    pub fn new(config: Arc<FunctionConfig>, env_id: u32) -> Shared {
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
            max_rss: AtomicU64::new(0),
            pgids: Mutex::default(),
            init_ended: CancellationToken::new(),
        }
    }

    pub fn is_alive(&self) -> bool {
        !self.dead.load(Ordering::Acquire)
    }

    pub fn has_asked_for_events(&self) -> bool {
        self.first_next.get().is_some()
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

    fn stop_reason(&self) -> InvokeError {
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
    /// extensions that subscribed get SHUTDOWN, every process group gets SIGTERM. The caller sends
    /// SIGKILL ([`Shared::stop`]) once the grace period is over.
    pub fn terminate(&self, reason: InvokeError) {
        lock(&self.stop_reason).get_or_insert(reason);
        self.died();
        self.signal_groups(libc::SIGTERM);
    }

    /// Whether any process of the environment's groups is still there (zombies included).
    pub fn has_processes(&self) -> bool {
        lock(&self.pgids).iter().any(|pgid| {
            // SAFETY: signal 0 only checks that the group exists; no memory preconditions.
            unsafe { libc::kill(-pgid, 0) == 0 }
        })
    }

    fn signal_groups(&self, signal: libc::c_int) {
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
    fn fail_active(&self, err: InvokeError, usable: bool) {
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
    fn finish(&self, request_id: &str) {
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
    fn report(&self, a: &Active) {
        let ms = a.started.elapsed().as_secs_f64() * 1000.0;
        let init = match self.first_next.get() {
            Some(t) if !self.init_reported.swap(true, Ordering::AcqRel) => format!(
                "\tInit Duration: {:.2} ms",
                t.duration_since(self.started).as_secs_f64() * 1000.0
            ),
            _ => String::new(),
        };
        let max_mb = self.max_rss.load(Ordering::Relaxed).div_ceil(1024 * 1024);
        eprintln!("END RequestId: {}", a.request_id);
        eprintln!(
            "REPORT RequestId: {}\tDuration: {ms:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {max_mb} MB{init}",
            a.request_id,
            ms.ceil() as u64,
            self.config.memory_mb,
        );
    }

    /// An INVOKE event for every extension that registered for them.
    fn tell_extensions_invoke(&self, request_id: &str, deadline_ms: u64) {
        let event = serde_json::json!({
            "eventType": "INVOKE",
            "deadlineMs": deadline_ms,
            "requestId": request_id,
            "invokedFunctionArn": function_arn(&self.config),
            "tracing": { "type": "X-Amzn-Trace-Id", "value": trace_id(request_id) },
        });
        let mut exts = lock(&self.extensions);
        for e in exts.iter_mut().filter(|e| e.invoke) {
            e.events.push_back(event.clone());
        }
        self.extension_event.notify_waiters();
    }

    fn take_head(&self, request_id: &str) -> Option<oneshot::Sender<Reply>> {
        lock(&self.active)
            .as_mut()
            .filter(|a| a.request_id == request_id)
            .and_then(|a| a.head.take())
    }

    fn is_active(&self, request_id: &str) -> bool {
        lock(&self.active)
            .as_ref()
            .is_some_and(|a| a.request_id == request_id)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind: keep going with it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn fail_invocation(inv: Invocation, err: InvokeError) {
    inv.head.send(Reply::Failed(err)).ok();
    (inv.on_done)(false);
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(invocation_error),
        )
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .route("/2020-01-01/extension/register", post(register))
        .route("/2020-01-01/extension/event/next", get(extension_next))
        .route("/2020-01-01/extension/init/error", post(init_error))
        .route(
            "/2020-01-01/extension/exit/error",
            post(extension_exit_error),
        )
        .with_state(shared)
}

fn api_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errorType": error_type, "errorMessage": message });
    (status, axum::Json(body)).into_response()
}

async fn next(State(sh): State<Arc<Shared>>) -> Response {
    sh.first_next.get_or_init(Instant::now);
    sh.init_ended.cancel();
    // A runtime that asks again while an invocation is open gave it up without an answer.
    let open = lock(&sh.active).as_ref().map(|a| a.request_id.clone());
    if let Some(id) = open {
        sh.fail_active(
            InvokeError::Function(format!(
                "the runtime asked for the next event without answering {id}"
            )),
            true,
        );
    }
    let inv = loop {
        let notified = sh.queued.notified();
        if let Some(inv) = lock(&sh.queue).pop_front() {
            break inv;
        }
        if !sh.is_alive() {
            return api_error(StatusCode::GONE, "Shutdown", "the environment stopped");
        }
        tokio::select! {
            _ = notified => {}
            _ = sh.stopped.notified() => {}
        }
    };
    let timeout = sh.config.timeout;
    let deadline_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_add(timeout)
        .as_millis();
    let request_id = inv.request_id.clone();
    let ended = CancellationToken::new();
    *lock(&sh.last_request) = Some(request_id.clone());
    *lock(&sh.active) = Some(Active {
        request_id: request_id.clone(),
        started: Instant::now(),
        head: Some(inv.head),
        body: None,
        on_done: Some(inv.on_done),
        ended: ended.clone(),
    });
    eprintln!("START RequestId: {request_id} Version: $LATEST");
    sh.tell_extensions_invoke(&request_id, deadline_ms as u64);
    // The function's own timeout: stop it, as Lambda does, and tell the caller. The watcher
    // ends with the invocation.
    let watch = sh.clone();
    let id = request_id.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = ended.cancelled() => {}
            _ = tokio::time::sleep(timeout) => {
                if watch.is_active(&id) {
                    watch.stop(InvokeError::Timeout(timeout.as_secs_f64()));
                }
            }
        }
    });
    let headers = invocation_headers(&sh.config, &request_id, deadline_ms);
    (StatusCode::OK, headers, inv.event).into_response()
}

/// The Runtime API's headers of an invocation handed to the runtime.
fn invocation_headers(config: &FunctionConfig, request_id: &str, deadline_ms: u128) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    put("lambda-runtime-aws-request-id", request_id.to_string());
    put("lambda-runtime-deadline-ms", deadline_ms.to_string());
    put("lambda-runtime-invoked-function-arn", function_arn(config));
    put("lambda-runtime-trace-id", trace_id(request_id));
    put("content-type", "application/json".into());
    headers
}

fn function_arn(c: &FunctionConfig) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:function:{}", c.name)
}

fn trace_id(request_id: &str) -> String {
    let hex: String = request_id.chars().filter(|c| *c != '-').take(24).collect();
    format!("Root=1-00000000-{hex};Parent=0000000000000000;Sampled=0")
}

async fn response(State(sh): State<Arc<Shared>>, Path(id): Path<String>, req: Request) -> Response {
    if !sh.is_active(&id) {
        return api_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "no such invocation in progress",
        );
    }
    let streaming = req
        .headers()
        .get("lambda-runtime-function-response-mode")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"streaming"));
    let body = req.into_body();
    if streaming {
        stream_response(&sh, &id, body).await;
    } else {
        let reply = match http_body_util::Limited::new(body, super::BUFFERED_PAYLOAD_MAX)
            .collect()
            .await
        {
            Err(_) => Reply::Failed(InvokeError::PayloadTooLarge),
            Ok(all) => match proxy_response(&all.to_bytes()) {
                Ok((status, headers, body)) => {
                    let mut r = axum::http::Response::new(body);
                    *r.status_mut() = status;
                    *r.headers_mut() = headers;
                    Reply::Whole(r)
                }
                Err(e) => Reply::Failed(e.into()),
            },
        };
        if let Some(head) = sh.take_head(&id) {
            head.send(reply).ok();
        }
    }
    sh.finish(&id);
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"status": "OK"})),
    )
        .into_response()
}

/// Reads a streamed answer: the prelude first (the caller gets it the moment it is complete),
/// then every body chunk as it comes. Error trailers or an aborted request cut the client's stream.
async fn stream_response(sh: &Arc<Shared>, id: &str, mut body: axum::body::Body) {
    let (prelude, first) = match read_prelude(&mut body).await {
        Ok(found) => found,
        Err(err) => {
            if let Some(head) = sh.take_head(id) {
                head.send(Reply::Failed(err)).ok();
            }
            return;
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel(BODY_QUEUE);
    {
        let mut active = lock(&sh.active);
        if let Some(a) = active.as_mut().filter(|a| a.request_id == id) {
            a.body = Some(tx.clone());
        }
    }
    match sh.take_head(id) {
        Some(head) => {
            if head.send(Reply::Stream { prelude, body: rx }).is_err() {
                return;
            }
        }
        None => return,
    }
    // A client that went away stops receiving; the function still runs to its end (as on AWS,
    // where a disconnect does not stop a streaming function), its bytes dropped.
    let mut client = Some(tx);
    let mut deliver = async |item: Result<Bytes, StreamCut>| {
        if let Some(c) = &client
            && c.send(item).await.is_err()
        {
            client = None;
        }
    };
    if !first.is_empty() {
        deliver(Ok(first)).await;
    }
    loop {
        match body.frame().await {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => deliver(Ok(data)).await,
                Err(frame) => {
                    if let Some(why) = frame.trailers_ref().and_then(trailer_error) {
                        deliver(Err(StreamCut(format!(
                            "the function failed mid-stream: {why}"
                        ))))
                        .await;
                    }
                }
            },
            Some(Err(e)) => {
                deliver(Err(StreamCut(format!(
                    "the function's response stream was aborted: {e}"
                ))))
                .await;
                break;
            }
            None => break,
        }
    }
}

/// Reads a streamed response up to the end of its prelude: the prelude, and the body bytes that
/// came with it. A stream that ends, fails or sends trailers first is the invocation's error.
async fn read_prelude(body: &mut axum::body::Body) -> Result<(reply::Prelude, Bytes), InvokeError> {
    let mut start = BytesMut::new();
    loop {
        match body.frame().await {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    start.extend_from_slice(&data);
                    if let Some(found) = split_prelude(&start)? {
                        return Ok(found);
                    }
                }
                Err(frame) => {
                    let why = frame
                        .trailers_ref()
                        .and_then(trailer_error)
                        .unwrap_or_else(|| "trailers before the prelude".into());
                    return Err(InvokeError::Function(why));
                }
            },
            Some(Err(e)) => {
                return Err(InvokeError::Function(format!(
                    "the response stream was aborted before its prelude: {e}"
                )));
            }
            None => return Err(reply::ReplyError::NoPrelude.into()),
        }
    }
}

/// `Lambda-Runtime-Function-Error-Type` (and the decoded body) from trailers, if set.
fn trailer_error(trailers: &HeaderMap) -> Option<String> {
    let t = trailers.get(ERROR_TYPE_HEADER)?.to_str().ok()?.to_string();
    let body = trailers
        .get("lambda-runtime-function-error-body")
        .and_then(|v| v.to_str().ok())
        .and_then(|b| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(b).ok()
        })
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    Some(match body {
        Some(b) => format!("{t}: {b}"),
        None => t,
    })
}

async fn error_text(headers: &HeaderMap, body: axum::body::Body) -> String {
    let kind = headers
        .get(ERROR_TYPE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Unhandled")
        .to_string();
    let bytes = http_body_util::Limited::new(body, 1024 * 1024)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["errorMessage"].as_str().map(String::from))
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
    format!("{kind}: {message}")
}

async fn invocation_error(
    State(sh): State<Arc<Shared>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    if !sh.is_active(&id) {
        return api_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "no such invocation in progress",
        );
    }
    let (parts, body) = req.into_parts();
    let why = error_text(&parts.headers, body).await;
    eprintln!("{id}\tinvocation error: {why}");
    if lock(&sh.active)
        .as_ref()
        .is_some_and(|a| a.request_id == id)
    {
        sh.fail_active(InvokeError::Function(why), true);
    }
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"status": "OK"})),
    )
        .into_response()
}

async fn init_error(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let why = error_text(&parts.headers, body).await;
    eprintln!("INIT\tinit error: {why}");
    let watch = sh.clone();
    // The caller gets its 202 first; then the environment stops, as Lambda ends a failed init.
    tokio::spawn(async move { watch.stop(InvokeError::Init(why)) });
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"status": "OK"})),
    )
        .into_response()
}

async fn extension_exit_error(req: Request) -> Response {
    let (parts, body) = req.into_parts();
    eprintln!(
        "extension exit error: {}",
        error_text(&parts.headers, body).await
    );
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"status": "OK"})),
    )
        .into_response()
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct RegisterBody {
    events: Vec<String>,
}

async fn register(State(sh): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(name) = headers
        .get("lambda-extension-name")
        .and_then(|v| v.to_str().ok())
    else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "Lambda-Extension-Name header missing",
        );
    };
    let wanted: RegisterBody = serde_json::from_slice(&body).unwrap_or_default();
    let id = uuid::Uuid::new_v4().to_string();
    lock(&sh.extensions).push(Extension {
        id: id.clone(),
        invoke: wanted.events.iter().any(|e| e == "INVOKE"),
        shutdown: wanted.events.iter().any(|e| e == "SHUTDOWN"),
        events: VecDeque::new(),
    });
    eprintln!("INIT\textension {name} registered for {:?}", wanted.events);
    let mut out = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&id) {
        out.insert("lambda-extension-identifier", v);
    }
    let c = &sh.config;
    let body = serde_json::json!({
        "functionName": c.name,
        "functionVersion": "$LATEST",
        "handler": c.handler.clone().unwrap_or_default(),
    });
    (StatusCode::OK, out, axum::Json(body)).into_response()
}

/// The next event for an extension: INVOKE events it asked for, SHUTDOWN when the environment
/// stops (if it asked); otherwise it waits, as on Lambda, for as long as the environment lives.
async fn extension_next(State(sh): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let Some(id) = headers
        .get("lambda-extension-identifier")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
    else {
        return api_error(
            StatusCode::FORBIDDEN,
            "Extension.InvalidExtensionIdentifier",
            "Lambda-Extension-Identifier header missing",
        );
    };
    loop {
        let notified = sh.extension_event.notified();
        {
            let mut exts = lock(&sh.extensions);
            let Some(e) = exts.iter_mut().find(|e| e.id == id) else {
                return api_error(
                    StatusCode::FORBIDDEN,
                    "Extension.UnknownExtensionIdentifier",
                    "unknown extension",
                );
            };
            if let Some(ev) = e.events.pop_front() {
                return axum::Json(ev).into_response();
            }
            if !sh.is_alive() && e.shutdown {
                return axum::Json(serde_json::json!({
                    "eventType": "SHUTDOWN",
                    "shutdownReason": "spindown",
                    "deadlineMs": 0,
                }))
                .into_response();
            }
        }
        if !sh.is_alive() {
            // Not subscribed to SHUTDOWN: nothing more will come.
            std::future::pending::<()>().await;
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}
