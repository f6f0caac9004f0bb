//! The streaming backend: one axum Router, run locally by `streamscope serve` (and, for AWS, by the
//! `bootstrap` binary through lambda_http's streaming runner).

pub mod download;
pub mod synthetic;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;

/// Shared by every request of one Router.
#[derive(Clone, Default)]
pub struct AppState {
    pub digests: Arc<synthetic::DigestCache>,
}

/// The Router every deployment of the backend runs.
pub fn router() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/download", get(download::download))
        .fallback(|| async {
            json_error(
                StatusCode::NOT_FOUND,
                "no such route; GET / lists the routes",
            )
        })
        .with_state(AppState::default())
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

async fn index() -> Response {
    let body = serde_json::json!({
        "service": "streamscope backend",
        "version": env!("CARGO_PKG_VERSION"),
        "routes": {
            "GET /": "this description",
            "GET /healthz": "liveness: 200 ok",
            "GET /download": "deterministic pseudo-random bytes, streamed; Range supported (206/416)",
        },
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
            "stall_after": "pause once after this many body bytes, for stall_ms (default 60000)",
            "lambda_error_after": "after this many bytes, end the body with the Lambda Rust runtime's stream-error text",
        },
        "example": "/download?size=50MiB&rate=2MB&length=0",
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string_pretty(&body).unwrap_or_default(),
    )
        .into_response()
}

/// Binds `addr` and serves the Router until `shutdown` resolves. Calls `on_bound` with the bound
/// address before serving (port 0 picks a free port).
pub async fn serve(
    addr: SocketAddr,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    on_bound(listener.local_addr()?);
    axum::serve(listener, router())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Starts the Router on 127.0.0.1 with a free port on the current tokio runtime; returns its address.
/// Used by the GUI's local demo and by tests.
pub async fn spawn_local() -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        // The server runs until the runtime shuts down; an accept error ends it, which the
        // client then sees as a refused connection.
        axum::serve(listener, router()).await.ok();
    });
    Ok(addr)
}
