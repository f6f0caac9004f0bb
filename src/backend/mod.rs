//! The streaming backend: one axum Router, run locally by `streamscope serve` (and, for AWS, by the
//! `bootstrap` binary through lambda_http's streaming runner).

pub mod config;
pub mod conn;
pub mod download;
pub mod gateway;
pub mod iam;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod lambda_service;
pub mod relay;
pub mod s3;
pub mod synthetic;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;
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

/// What `config` serves: its hosted function (the local Lambda service, `service`) or the
/// Router, behind the gateway emulation either way.
fn app_for(config: BackendConfig, service: Option<Arc<lambda_service::LambdaService>>) -> Router {
    match service {
        Some(s) => lambda_service::front::router(s, config.gateway),
        None => router_with(config),
    }
}

/// The Router with `config`: its gateway emulation wraps every route.
pub fn router_with(config: BackendConfig) -> Router {
    let gw = Arc::new(config.gateway.clone());
    let state = AppState {
        digests: Arc::default(),
        config: Arc::new(config),
        http: reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap_or_default(),
    };
    let routes = Router::new()
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
        .with_state(state);
    behind_gateway(routes, gw)
}

/// `inner` behind the gateway emulation. The emulation sees each request before it is routed
/// (a layer on `inner` itself would run after routing, too late to take a stage off the path).
pub fn behind_gateway(inner: Router, gateway: Arc<gateway::GatewayConfig>) -> Router {
    Router::new()
        .fallback_service(inner)
        .layer(axum::middleware::from_fn_with_state(
            gateway,
            gateway::emulate,
        ))
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
    let gw = &state.config.gateway;
    let body = serde_json::json!({
        "service": "streamscope backend",
        "version": env!("CARGO_PKG_VERSION"),
        "gateway_emulation": gw.mode().label(),
        "lambda_limits": gw.lambda_limits(),
        "gateway_config": gw.settings(),
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
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string_pretty(&body).unwrap_or_default(),
    )
        .into_response()
}

/// Binds `addr` and serves (the Router or the hosted function) until `shutdown` resolves. Calls `on_bound` with the bound
/// address before serving (port 0 picks a free port).
pub async fn serve(
    config: BackendConfig,
    addr: SocketAddr,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    on_bound(listener.local_addr()?);
    serve_on(listener, config, shutdown).await
}

/// Serves the Router on `listener` until `shutdown` resolves, every connection watched (see
/// [`conn`]).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    config: BackendConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = config
        .function
        .clone()
        .map(|f| Arc::new(lambda_service::LambdaService::new(f)));
    let app =
        app_for(config, service.clone()).into_make_service_with_connect_info::<conn::ConnWatch>();
    let stopping = async move {
        shutdown.await;
        // The function's processes end first (SIGTERM, then SIGKILL): the streams they were
        // serving are cut, their connections close, and serving can end.
        if let Some(s) = service {
            s.shutdown().await;
        }
    };
    axum::serve(conn::WatchedListener(listener), app)
        .with_graceful_shutdown(stopping)
        .await
}

/// Starts the Router on 127.0.0.1 with a free port on the current tokio runtime; returns its address.
/// Used by the GUI's local demo and by tests.
pub async fn spawn_local() -> std::io::Result<SocketAddr> {
    spawn_local_with(BackendConfig::default()).await
}

/// [`spawn_local`] with a configuration (the GUI's demo runs one per gateway mode).
pub async fn spawn_local_with(config: BackendConfig) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        // The server runs until the runtime shuts down; an accept error ends it, which the
        // client then sees as a refused connection.
        serve_on(listener, config, std::future::pending())
            .await
            .ok();
    });
    Ok(addr)
}
