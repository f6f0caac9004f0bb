//! The HTTP side of the local Lambda service: every request becomes a REST proxy event for the
//! function, and its reply the HTTP response, behind the same gateway emulation as the Router.

use super::event::{Caller, rest_event};
use super::{InvokeError, LambdaService, Reply, StreamCut};
use crate::emulator::conn::ConnWatch;
use crate::emulator::gateway::{GatewayConfig, GatewayMode};
use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use std::sync::Arc;

#[derive(Clone)]
struct Front {
    service: Arc<LambdaService>,
    /// BUFFERED: the Invoke API (a whole payload); STREAM and off: InvokeWithResponseStream.
    mode: GatewayMode,
    /// API Gateway's limit for a request payload: over it, 413 before any integration runs.
    request_max: usize,
    /// The profile's name, on every response (a client then knows it may ask for the log).
    profile: HeaderValue,
}

/// The service behind the gateway emulation `gateway`.
pub fn router(service: Arc<LambdaService>, gateway: GatewayConfig) -> Router {
    let b = &gateway.settings().behaviour;
    let front = Front {
        service,
        mode: gateway.mode(),
        request_max: usize::try_from(b.gateway_request_max_bytes).unwrap_or(usize::MAX),
        profile: HeaderValue::from_str(&b.profile).unwrap_or(HeaderValue::from_static("custom")),
    };
    let book = front.service.logbook_shared();
    let api = crate::emulator::behind_gateway(
        Router::new().fallback(invoke).with_state(front),
        Arc::new(gateway),
    );
    log_route(book).fallback_service(api)
}

/// The function log's route, beside the API and outside its emulation (no stage, key or
/// signature).
pub fn log_route(book: Arc<super::logbook::LogBook>) -> Router {
    Router::new()
        .route(
            &format!("{}{{id}}", super::logbook::FUNCTION_LOG_PATH),
            axum::routing::get(function_log),
        )
        .with_state(book)
}

#[derive(serde::Deserialize)]
struct LogQuery {
    /// How long to wait for the invocation to end (its REPORT line), milliseconds.
    #[serde(default)]
    wait_ms: u64,
}

/// `GET /.streamscope/function-log/{request id}`: the lines of the invocation that served the
/// request API Gateway gave that id, as JSON (`{"request_id", "lines"}`), or 404.
async fn function_log(
    State(book): State<Arc<super::logbook::LogBook>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::extract::Query(q): axum::extract::Query<LogQuery>,
) -> Response {
    let wait = std::time::Duration::from_millis(q.wait_ms.min(10_000));
    match book.lines(&id, wait).await {
        Some(lines) => {
            axum::Json(serde_json::json!({ "request_id": id, "lines": lines })).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such request").into_response(),
    }
}

/// A STREAM method whose function answered in the buffered (proxy JSON) format: AWS answers 500
/// `Internal server error` (its table for InvokeWithResponseStream).
fn not_streamed(request_id: &str) -> Response {
    gateway_failure(
        request_id,
        StatusCode::INTERNAL_SERVER_ERROR,
        "the function answered in the buffered (proxy JSON) format behind a STREAM method: API Gateway answers 500 (stream it: awslambda.streamifyResponse, AWS_LWA_INVOKE_MODE=response_stream, lambda_runtime's streaming response)",
    )
}

/// Lambda refused the invocation (throttled, a request over 6 MB): API Gateway answers 500.
fn refused(request_id: &str, why: &InvokeError) -> Response {
    gateway_failure(
        request_id,
        StatusCode::INTERNAL_SERVER_ERROR,
        &why.to_string(),
    )
}

/// API Gateway's answer when the integration failed.
fn internal_error(request_id: &str, why: &InvokeError) -> Response {
    gateway_failure(request_id, StatusCode::BAD_GATEWAY, &why.to_string())
}

/// API Gateway's `{"message":"Internal server error"}` with `status` (500: Lambda refused or the
/// function did not stream; 502: the integration failed). `why`, which AWS would show only in
/// its logs, goes to our log and to `x-streamscope-function-error` for whoever diagnoses the run.
fn gateway_failure(request_id: &str, status: StatusCode, why: &str) -> Response {
    eprintln!("{request_id}\t{}: {why}", status.as_u16());
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"message":"Internal server error"}"#,
    )
        .into_response();
    let h = r.headers_mut();
    h.insert(
        "x-amzn-errortype",
        HeaderValue::from_static("InternalServerErrorException"),
    );
    let why: String = why.chars().filter(|c| !c.is_control()).collect();
    if let Ok(v) = HeaderValue::from_str(&why) {
        h.insert("x-streamscope-function-error", v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    r
}

async fn invoke(State(front): State<Front>, req: Request) -> Response {
    let source_ip = req
        .extensions()
        .get::<ConnectInfo<ConnWatch>>()
        .and_then(|c| c.0.peer());
    let (parts, body) = req.into_parts();
    let Ok(body) = http_body_util::Limited::new(body, front.request_max)
        .collect()
        .await
    else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"message":"Request Too Long"}"#,
        )
            .into_response();
    };
    let caller = Caller {
        source_ip,
        request_id: uuid::Uuid::new_v4().to_string(),
        at: std::time::SystemTime::now(),
    };
    let event = rest_event(
        &parts,
        &body.to_bytes(),
        front.service.config().stage(),
        &caller,
    );
    let mut resp = answer(&front, event, &caller.request_id).await;
    resp.headers_mut()
        .entry("x-streamscope-profile")
        .or_insert(front.profile.clone());
    // API Gateway's own failure goes into the request's log beside the function's lines.
    if let Some(why) = resp.headers().get("x-streamscope-function-error") {
        let book = front.service.logbook();
        book.line(
            &caller.request_id,
            &format!(
                "{}\t{}",
                resp.status().as_u16(),
                String::from_utf8_lossy(why.as_bytes())
            ),
        );
        book.done(&caller.request_id);
    }
    resp
}

/// The function's answer to `event`, as API Gateway passes it on.
async fn answer(front: &Front, event: bytes::Bytes, request_id: &str) -> Response {
    let buffered = front.mode == GatewayMode::Buffered;
    let mut resp = match front.service.invoke(event, buffered, request_id).await {
        Reply::Failed(why) if why.refused() => return refused(request_id, &why),
        Reply::Failed(why) => return internal_error(request_id, &why),
        // AWS's table: a STREAM method whose function does not answer in the streaming format.
        Reply::Whole(_) if front.mode == GatewayMode::Stream => {
            return not_streamed(request_id);
        }
        Reply::Whole(r) => {
            if r.headers().contains_key(super::STREAMED_BEHIND_BUFFERED.0) {
                eprintln!("{}\t{}", request_id, super::STREAMED_BEHIND_BUFFERED.1);
            }
            r.map(Body::from)
        }
        Reply::Stream { prelude, body } => {
            let status = match prelude.status() {
                Ok(s) => s,
                Err(e) => return internal_error(request_id, &e.into()),
            };
            let mut headers = prelude.header_map();
            // Without a gateway (a Function URL) a streamed response has no length of its own:
            // Lambda moves the function's Content-Length aside. Behind STREAM the gateway does
            // what the profile says.
            if front.mode == GatewayMode::Off
                && let Some(len) = headers.remove(header::CONTENT_LENGTH)
            {
                headers.insert("x-amzn-remapped-content-length", len);
            }
            headers.remove(header::TRANSFER_ENCODING);
            let stream = futures_util::stream::unfold(body, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            });
            let mut r = Response::new(Body::from_stream(stream));
            *r.status_mut() = status;
            *r.headers_mut() = headers;
            r
        }
    };
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}

impl From<super::reply::ReplyError> for StreamCut {
    fn from(e: super::reply::ReplyError) -> Self {
        StreamCut(e.to_string())
    }
}
