//! The Lambda path: a REST API (v1) event fixture through lambda_http's streaming adapter, and the
//! real `bootstrap` binary against a Runtime API emulator on 127.0.0.1 (as `cargo lambda watch`
//! emulates it), checking the bytes the runtime sends: metadata prelude JSON, 8 NUL bytes, body.

// Tests may unwrap (a panic is the failure) and hold long tables.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use futures_util::StreamExt;
use lambda_http::request::LambdaRequest;
use lambda_http::{Context, LambdaEvent, Service, StreamAdapter};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use streamscope::backend::{BackendConfig, lambda, synthetic};
use tokio::sync::mpsc;

const FIXTURE: &str = include_str!("fixtures/rest-v1-download.json");

fn event_with_query(query: &[(&str, &str)]) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
    let single: serde_json::Map<_, _> = query
        .iter()
        .map(|(k, val)| (k.to_string(), serde_json::json!(val)))
        .collect();
    let multi: serde_json::Map<_, _> = query
        .iter()
        .map(|(k, val)| (k.to_string(), serde_json::json!([val])))
        .collect();
    v["queryStringParameters"] = single.into();
    v["multiValueQueryStringParameters"] = multi.into();
    v
}

fn expected_body(seed: u64, len: usize) -> Vec<u8> {
    let mut d = vec![0u8; len];
    synthetic::fill(seed, 0, &mut d);
    d
}

#[tokio::test]
async fn rest_v1_event_through_the_streaming_adapter() {
    let event: LambdaRequest = serde_json::from_str(FIXTURE).unwrap();
    assert!(
        matches!(event, LambdaRequest::ApiGatewayV1(_)),
        "the fixture is a REST API v1 event"
    );
    let mut adapter = StreamAdapter::from(lambda::app(BackendConfig::default()));
    let resp = adapter
        .call(LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();
    let prelude = serde_json::to_value(&resp.metadata_prelude).unwrap();
    assert_eq!(prelude["statusCode"], 200, "{prelude}");
    assert_eq!(
        prelude["headers"]["content-type"],
        "application/octet-stream"
    );
    assert_eq!(prelude["headers"]["content-length"], "100000");
    assert!(
        prelude["headers"]["repr-digest"]
            .as_str()
            .unwrap()
            .starts_with("sha-256=:")
    );
    let mut body = Vec::new();
    let mut stream = resp.stream;
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(
        body,
        expected_body(3, 100_000),
        "the stage prefix /prod was stripped and /download served"
    );
}

#[test]
fn stage_prefix_is_stripped_only_when_it_is_the_stage() {
    let mut v: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
    v["path"] = "/healthz".into();
    let req: lambda_http::Request = serde_json::from_value::<LambdaRequest>(v.clone())
        .unwrap()
        .into();
    assert_eq!(
        req.uri().path(),
        "/prod/healthz",
        "lambda_http prefixes the stage"
    );
    assert_eq!(lambda::strip_stage(req).uri().path(), "/healthz");
    v["path"] = "/production/x".into();
    let req: lambda_http::Request = serde_json::from_value::<LambdaRequest>(v).unwrap().into();
    // lambda_http made it /prod/production/x; only the whole /prod segment comes off again.
    assert_eq!(lambda::strip_stage(req).uri().path(), "/production/x");
}

/// What the emulator saw of one invocation's response.
#[derive(Debug, Default, Clone)]
struct Posted {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

#[derive(Clone)]
struct Emu {
    events: Arc<Mutex<Vec<serde_json::Value>>>,
    posted: mpsc::UnboundedSender<(String, Posted)>,
}

async fn next_invocation(State(emu): State<Emu>) -> (StatusCode, HeaderMap, String) {
    let next = emu.events.lock().unwrap().pop();
    let Some(event) = next else {
        // No more work: hold the runtime here until the test ends.
        std::future::pending::<()>().await;
        unreachable!()
    };
    let id = format!("req-{}", emu.events.lock().unwrap().len());
    let mut h = HeaderMap::new();
    h.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 60_000;
    h.insert(
        "lambda-runtime-deadline-ms",
        deadline.to_string().parse().unwrap(),
    );
    h.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:eu-west-1:123456789012:function:streamscope"
            .parse()
            .unwrap(),
    );
    h.insert("content-type", "application/json".parse().unwrap());
    (StatusCode::OK, h, event.to_string())
}

async fn response(
    State(emu): State<Emu>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> StatusCode {
    let mut data = body.into_data_stream();
    let mut posted = Posted {
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: Vec::new(),
    };
    while let Some(Ok(chunk)) = data.next().await {
        posted.body.extend_from_slice(&chunk);
    }
    emu.posted.send((id, posted)).ok();
    StatusCode::ACCEPTED
}

async fn error(State(emu): State<Emu>, Path(id): Path<String>, body: String) -> StatusCode {
    emu.posted
        .send((
            format!("{id}/error"),
            Posted {
                headers: vec![],
                body: body.into_bytes(),
            },
        ))
        .ok();
    StatusCode::ACCEPTED
}

async fn init_error(State(emu): State<Emu>, body: String) -> StatusCode {
    emu.posted
        .send((
            "init/error".into(),
            Posted {
                headers: vec![],
                body: body.into_bytes(),
            },
        ))
        .ok();
    StatusCode::ACCEPTED
}

/// Splits what a streaming function posted into (prelude JSON, body).
fn split_prelude(posted: &[u8]) -> (serde_json::Value, &[u8]) {
    let at = posted
        .windows(8)
        .position(|w| w == [0u8; 8])
        .expect("8 NUL bytes end the prelude");
    (
        serde_json::from_slice(&posted[..at]).expect("the prelude is JSON"),
        &posted[at + 8..],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_binary_streams_prelude_and_body_to_the_runtime_api() {
    // Served in reverse order (pop): 1) a plain download, 2) one whose stream fails mid-body.
    let events = vec![
        event_with_query(&[
            ("size", "300000"),
            ("seed", "8"),
            ("fail_after", "65536"),
            ("length", "0"),
        ]),
        event_with_query(&[
            ("size", "1000000"),
            ("seed", "3"),
            ("length", "0"),
            ("chunk", "65536"),
        ]),
    ];
    let (tx, mut rx) = mpsc::unbounded_channel();
    let emu = Emu {
        events: Arc::new(Mutex::new(events)),
        posted: tx,
    };
    let app = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(emu);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        // The fault knob this test uses is off on a deployment unless turned on.
        .env("STREAMSCOPE_FAULT_KNOBS", "true")
        .env("AWS_LAMBDA_FUNCTION_NAME", "streamscope")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env_remove("STREAMSCOPE_BUCKET")
        .env_remove("STREAMSCOPE_UPSTREAM_URL")
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let (id, first) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(id, "req-1");
    let header = |p: &Posted, n: &str| {
        p.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        header(&first, "lambda-runtime-function-response-mode").as_deref(),
        Some("streaming")
    );
    assert_eq!(
        header(&first, "content-type").as_deref(),
        Some("application/vnd.awslambda.http-integration-response")
    );
    let (prelude, body) = split_prelude(&first.body);
    assert_eq!(prelude["statusCode"], 200, "{prelude}");
    assert_eq!(
        prelude["headers"]["content-type"],
        "application/octet-stream"
    );
    assert!(
        prelude["headers"]["repr-digest"]
            .as_str()
            .unwrap()
            .starts_with("sha-256=:")
    );
    assert_eq!(body, expected_body(3, 1_000_000).as_slice());

    // A stream error mid-body: the runtime writes its error text into the body (not as trailers),
    // exactly what streamscope's lambda_stream_error outcome looks for.
    let (id, second) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(id, "req-0");
    let (_, body) = split_prelude(&second.body);
    assert_eq!(&body[..65536], &expected_body(8, 65536)[..]);
    let e = streamscope::probe::fetch::classify::parse_lambda_tail(&body[65536..])
        .expect("the runtime's error text, as the very last bytes");
    assert_eq!(e.error_type, "Runtime.StreamError");
    assert!(e.error_body.contains("fail_after"), "{}", e.error_body);
    child.kill().await.ok();
}
