//! One execution environment's API server, on a loopback port only its processes are told about:
//! the Runtime API (`/2018-06-01/runtime/...`) here, the Extensions API in [`super::extensions`],
//! the state both share in [`super::state`].
//!
//! The runtime asks for an event (`GET invocation/next`), then answers with `POST .../response`
//! (a proxy JSON, or `Lambda-Runtime-Function-Response-Mode: streaming`: the prelude, 8 NUL bytes,
//! the body, and error trailers if it fails part-way) or `POST .../error`. What it answers goes
//! to the waiting HTTP request as it arrives: nothing is buffered.

use super::extensions::{extension_exit_error, extension_next, register, subscribe};
use super::reply::{self, ERROR_TYPE_HEADER, api_error, error_text, proxy_response, split_prelude};
use super::state::{Active, function_arn, lock, trace_id};
pub use super::state::{Invocation, Shared};
use super::{FunctionConfig, InvokeError, Reply, StreamCut};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio_util::sync::CancellationToken;

/// How many body chunks may wait between the function and the client: enough to keep both busy,
/// few enough that a slow client slows the function down (as a real stream does).
const BODY_QUEUE: usize = 8;

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
        .route("/2022-07-01/telemetry", put(subscribe))
        .route("/2020-08-15/logs", put(subscribe))
        .route(
            "/2020-01-01/extension/exit/error",
            post(extension_exit_error),
        )
        .with_state(shared)
}

/// The answer to a /next of an environment that stopped. Lambda leaves it unanswered while it
/// shuts the environment down (SIGTERM, then SIGKILL after the grace): an answer then would make
/// a runtime client fail on its way out (lambda_runtime panics on it), so it comes only once the
/// processes are gone (or after 10 s).
async fn gone(sh: &Shared) -> Response {
    if sh.terminating.load(std::sync::atomic::Ordering::Acquire) {
        let until = Instant::now() + std::time::Duration::from_secs(10);
        while sh.has_processes() && Instant::now() < until {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    api_error(StatusCode::GONE, "Shutdown", "the environment stopped")
}

async fn next(State(sh): State<Arc<Shared>>) -> Response {
    sh.first_next.get_or_init(Instant::now);
    sh.check_init();
    // The first event waits for the extensions' init too (cancelled as well if the environment
    // stops).
    sh.init_ended.cancelled().await;
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
            return gone(&sh).await;
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
    sh.logbook.alias(&request_id, &inv.caller_id);
    let init_lines = std::mem::take(&mut *lock(&sh.init_lines));
    for line in init_lines {
        sh.logbook.line(&request_id, &line);
    }
    let start = format!("START RequestId: {request_id} Version: $LATEST");
    eprintln!("{start}");
    sh.logbook.line(&request_id, &start);
    sh.telemetry.publish(
        "platform.start",
        serde_json::json!({"requestId": request_id, "version": "$LATEST"}),
    );
    // The trace is API Gateway's, as X-Ray carries it into the function.
    sh.tell_extensions_invoke(&request_id, &inv.caller_id, deadline_ms as u64);
    // The function's own timeout: stop it, as Lambda does, and tell the caller. The watcher
    // ends with the invocation.
    let watch = sh.clone();
    let id = request_id.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = ended.cancelled() => {}
            _ = tokio::time::sleep(timeout) => {
                if watch.is_active(&id) {
                    // CloudWatch's line for it, before the REPORT.
                    let line = format!(
                        "{} {id} Task timed out after {:.2} seconds",
                        crate::units::rfc3339_utc(SystemTime::now()),
                        timeout.as_secs_f64()
                    );
                    eprintln!("{id}\t{line}");
                    watch.logbook.line(&id, &line);
                    watch.stop(InvokeError::Timeout(timeout.as_secs_f64()));
                }
            }
        }
    });
    let headers = invocation_headers(&sh.config, &request_id, &inv.caller_id, deadline_ms);
    (StatusCode::OK, headers, inv.event).into_response()
}

/// The Runtime API's headers of an invocation handed to the runtime.
fn invocation_headers(
    config: &FunctionConfig,
    request_id: &str,
    caller_id: &str,
    deadline_ms: u128,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    put("lambda-runtime-aws-request-id", request_id.to_string());
    put("lambda-runtime-deadline-ms", deadline_ms.to_string());
    put("lambda-runtime-invoked-function-arn", function_arn(config));
    put("lambda-runtime-trace-id", trace_id(caller_id));
    put("content-type", "application/json".into());
    headers
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
        let reply = match http_body_util::Limited::new(body, sh.config.limits.buffered_max_bytes)
            .collect()
            .await
        {
            Err(_) => Reply::Failed(InvokeError::PayloadTooLarge(
                sh.config.limits.buffered_max_bytes,
            )),
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
    let (prelude, first) = match read_prelude(&mut body, sh.config.limits.prelude_max_bytes).await {
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
async fn read_prelude(
    body: &mut axum::body::Body,
    max: usize,
) -> Result<(reply::Prelude, Bytes), InvokeError> {
    let mut start = BytesMut::new();
    loop {
        match body.frame().await {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    start.extend_from_slice(&data);
                    if let Some(found) = split_prelude(&start, max)? {
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
            None => return Err(reply::ReplyError::NoPrelude(max).into()),
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
