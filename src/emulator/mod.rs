//! The local stand-in for AWS: API Gateway's STREAM and BUFFERED modes with their limits, stages,
//! API keys and usage plans, and IAM ([`gateway`], [`iam`]), in front of either the backend's Router
//! in this process or a real Lambda function run as processes on this machine
//! ([`lambda_service`]: Runtime and Extensions APIs, REST events, the function's processes). Every
//! connection is watched ([`conn`]) so that the emulation can cut one as AWS would.
//!
//! It imports nothing from the probe: what is emulated here is what the probe is tested against.

pub mod conn;
pub mod gateway;
pub mod iam;
pub mod lambda_service;
pub mod local;
pub mod profile;
pub mod shaping;
pub mod template;

use crate::backend::{self, BackendConfig, BackendSettings, ConfigError, Setting};
use axum::Router;
use gateway::{GatewayConfig, GatewaySettings};
use lambda_service::{FunctionConfig, FunctionSettings, LambdaService};
use std::net::SocketAddr;
use std::sync::Arc;

/// A local stack as given: checked by [`LocalSettings::build`].
#[derive(Debug, Clone, Default)]
pub struct LocalSettings {
    pub gateway: GatewaySettings,
    /// The Router's own settings (what `/s3` and `/relay` stream, what `/download` allows).
    pub backend: BackendSettings,
    /// A real function to host behind the gateway emulation instead of the Router.
    pub function: Option<FunctionSettings>,
    /// Seconds a client has for its first byte and its request head (and an HTTP/1 connection
    /// may idle between requests); None: [`conn::HEADER_TIMEOUT`].
    pub header_timeout_s: Option<f64>,
}

/// A local stack: every value checked.
#[derive(Debug, Clone, Default)]
pub struct LocalConfig {
    pub gateway: GatewayConfig,
    pub backend: BackendConfig,
    pub function: Option<FunctionConfig>,
    pub header_timeout: HeaderTimeout,
}

/// How long a client may take to send its request head (see [`conn::serve_connections`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeaderTimeout(pub std::time::Duration);

impl Default for HeaderTimeout {
    fn default() -> Self {
        HeaderTimeout(conn::HEADER_TIMEOUT)
    }
}

impl LocalSettings {
    /// Checks every setting, then sets up the Router's clients (the S3 client reads the AWS
    /// configuration chain).
    pub async fn build(&self) -> Result<LocalConfig, ConfigError> {
        let gateway = self.gateway.validate()?;
        let mut function = self.function.as_ref().map(|f| f.validate()).transpose()?;
        // The stage the function's events name is the API's (`--stage`), as on AWS.
        if let (Some(stage), Some(f)) = (&self.gateway.stage, function.as_mut()) {
            f.stage.clone_from(stage);
        }
        let header_timeout = match self.header_timeout_s {
            None => HeaderTimeout::default(),
            Some(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => {
                HeaderTimeout(std::time::Duration::from_secs_f64(s))
            }
            Some(s) => return Err(ConfigError::Seconds(Setting::HeaderTimeout, s)),
        };
        Ok(LocalConfig {
            gateway,
            backend: self.backend.build().await?,
            function,
            header_timeout,
        })
    }
}

/// The Router, behind the gateway emulation `config.gateway`; its index says which.
pub fn router(config: LocalConfig) -> Router {
    let gw = Arc::new(config.gateway);
    let mut backend = config.backend;
    let about = [
        ("gateway_emulation", serde_json::json!(gw.mode().label())),
        ("lambda_limits", serde_json::json!(gw.lambda_limits())),
        ("gateway_config", serde_json::json!(gw.settings())),
    ];
    for (k, v) in about {
        backend.host_info.insert(k.to_string(), v);
    }
    behind_gateway(backend::router_with(backend), gw)
}

/// What `config` serves: its hosted function (`service`) or the Router, behind the gateway
/// emulation either way.
fn app_for(config: LocalConfig, service: Option<Arc<LambdaService>>) -> Router {
    match service {
        Some(s) => lambda_service::front::router(s, config.gateway),
        None => router(config),
    }
}

/// `inner` behind the gateway emulation. The emulation sees each request before it is routed
/// (a layer on `inner` itself would run after routing, too late to take a stage off the path).
pub fn behind_gateway(inner: Router, gateway: Arc<GatewayConfig>) -> Router {
    Router::new()
        .fallback_service(inner)
        .layer(axum::middleware::from_fn_with_state(
            gateway,
            gateway::emulate,
        ))
}

/// Binds `addr` and serves (the Router or the hosted function) until `shutdown` resolves. Calls
/// `on_bound` with the bound address before serving (port 0 picks a free port).
pub async fn serve(
    config: LocalConfig,
    addr: SocketAddr,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    on_bound(listener.local_addr()?);
    serve_on(listener, config, shutdown).await
}

/// Serves `config` on `listener` until `shutdown` resolves, every connection watched (see
/// [`conn`]).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    config: LocalConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = config
        .function
        .clone()
        .map(|f| Arc::new(LambdaService::new(f)));
    let header_timeout = config.header_timeout.0;
    let app = app_for(config, service.clone());
    let stopping = async move {
        shutdown.await;
        // The function's processes end first (SIGTERM, then SIGKILL): the streams they were
        // serving are cut, their connections close, and serving can end.
        if let Some(s) = service {
            s.shutdown().await;
        }
    };
    conn::serve_connections(listener, app, header_timeout, stopping).await
}

/// Serves a template's stack (`app`, from [`local::router`]) on `listener` until `shutdown`
/// resolves; then ends every function's environments as Lambda does.
pub async fn serve_stack(
    listener: tokio::net::TcpListener,
    app: Router,
    services: Vec<Arc<LambdaService>>,
    header_timeout: HeaderTimeout,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stopping = async move {
        shutdown.await;
        futures_util::future::join_all(services.iter().map(|s| s.shutdown())).await;
    };
    conn::serve_connections(listener, app, header_timeout.0, stopping).await
}

/// Starts the Router on 127.0.0.1 with a free port on the current tokio runtime; returns its address.
/// Used by the GUI's local demo and by tests.
pub async fn spawn_local() -> std::io::Result<SocketAddr> {
    spawn_local_with(LocalConfig::default()).await
}

/// [`spawn_local`] with a configuration (the GUI's demo runs one per gateway mode).
pub async fn spawn_local_with(config: LocalConfig) -> std::io::Result<SocketAddr> {
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
