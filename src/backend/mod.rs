//! What a user deploys: one axum Router (synthetic data, an S3 object, an upstream URL, each
//! streamed), run on AWS Lambda by the `bootstrap` binary through lambda_http's streaming runner
//! ([`lambda`]); the article's Node.js and Python backends (`node/`, `python/`) and the SAM
//! templates beside it. Locally, `streamscope serve` runs the same Router behind the emulated
//! gateway ([`crate::emulator`]). Nothing here knows about the emulation.

pub mod config;
pub mod download;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod relay;
pub mod s3;
pub mod synthetic;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

pub use config::{BackendConfig, BackendSettings, ConfigError, Setting, SyntheticLimits};

/// Shared by every request of one Router.
#[derive(Clone, Default)]
pub struct AppState {
    pub digests: Arc<synthetic::DigestCache>,
    pub config: Arc<BackendConfig>,
    /// For `/relay`: one connection pool per Router.
    pub http: reqwest::Client,
}

/// The Router every deployment of the backend runs, with nothing emulated in front.
pub fn router() -> Router {
    router_with(BackendConfig::default())
}

/// The Router with `config`.
pub fn router_with(config: BackendConfig) -> Router {
    let state = AppState {
        digests: Arc::default(),
        config: Arc::new(config),
        http: reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap_or_default(),
    };
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/download", get(download::download))
        .route("/s3/{*key}", get(s3::object))
        .route("/relay", get(relay::relay))
        .fallback(|| async {
            json_error(
                StatusCode::NOT_FOUND,
                "no such route; GET / lists the routes",
            )
        })
        .with_state(state)
}

pub fn json_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message, "status": status.as_u16() });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn index(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let mut body = serde_json::json!({
        "service": "streamscope backend",
        "version": env!("CARGO_PKG_VERSION"),
        "routes": {
            "GET /": "this description",
            "GET /healthz": "liveness: 200 ok",
            "GET /download": "deterministic pseudo-random bytes, streamed; Range supported (206/416)",
            "GET /s3/{key}": "an S3 object under the configured prefix, streamed; Range passed through",
            "GET /relay": "the configured upstream URL, streamed; Range passed through",
        },
        "s3": state.config.s3.as_ref().map(|s| serde_json::json!({"bucket": s.bucket, "prefix": s.prefix})),
        "relay_configured": state.config.upstream_url.is_some(),
        "download_knobs": {
            "size": "body size: bytes or with B, KiB, MiB, GiB, KB, MB, GB (default 1MiB, at most 16GiB)",
            "chunk": "bytes per write (default 64KiB)",
            "rate": "cap in bytes per second, units allowed (e.g. 2MB)",
            "delay_ms": "wait before sending headers",
            "seed": "same seed, same bytes (default 1)",
            "length": "1: send Content-Length (default); 0: chunked",
            "digest": "1: send Repr-Digest: sha-256=:<base64>: before the body (default); 0: none",
            "status": "response status; non-2xx answers with a small JSON body",
            "fail_after": "drop the connection after this many body bytes",
            "fail_at": "drop the connection before the object's byte at this offset (whatever the range)",
            "stall_after": "pause once after this many body bytes, for stall_ms (default 60000)",
            "lambda_error_after": "after this many bytes, end the body with the Lambda Rust runtime's stream-error text",
        },
        "example": "/download?size=50MiB&rate=2MB&length=0",
    });
    if let Some(b) = body.as_object_mut() {
        b.extend(state.config.host_info.clone());
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string_pretty(&body).unwrap_or_default(),
    )
        .into_response()
}
