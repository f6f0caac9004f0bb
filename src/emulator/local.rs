//! `streamscope local TEMPLATE`: a template's stack (see [`super::template`]) run on this machine:
//! each function under its real runtime client, each API method behind its own gateway
//! emulation (its transfer mode, timeout, stage, key and usage plan), on one port.

use super::gateway::{GatewayMode, GatewaySettings};
use super::lambda_service::{FunctionSettings, LambdaService};
use super::profile::Profile;
use super::template::{FunctionDef, MethodDef, Stack};
use axum::Router;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where `scripts/install-test-deps.sh` puts the Python venv and the Web Adapter.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("STREAMSCOPE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/streamscope")
        })
}

/// How a function's runtime starts here, or the one line that says what to install.
pub fn runtime_settings(f: &FunctionDef, profile: &Profile) -> Result<FunctionSettings, String> {
    let mut s = FunctionSettings::from_profile(profile);
    s.dir = Some(f.code_dir.clone());
    s.env = f.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    s.handler = Some(f.handler.clone());
    s.timeout_s = f.timeout_s;
    s.memory_mb = f.memory_mb.max(128);
    s.concurrency = f.reserved;
    s.name.clone_from(&f.name);
    let exists = |p: &Path| p.is_file();
    if f.runtime.starts_with("provided") {
        let own = f.code_dir.join("bootstrap");
        // The project's own build, beside this executable (or above it, when cargo runs a test
        // from target/*/deps/), when CodeUri has none yet.
        let built = std::env::current_exe().ok().and_then(|e| {
            let dir = e.parent()?;
            let dir = match dir.file_name() {
                Some(n) if n == "deps" => dir.parent()?,
                _ => dir,
            };
            Some(dir.join("bootstrap")).filter(|b| exists(b))
        });
        let Some(cmd) = Some(own.clone()).filter(|o| exists(o)).or(built) else {
            return Err(format!(
                "{}: no bootstrap in {} (build it: ARCH=x86_64 bash scripts/build-lambda.sh, or cargo build --release --features lambda)",
                f.name,
                f.code_dir.display()
            ));
        };
        if !exists(&own) {
            s.dir = cmd.parent().map(Path::to_path_buf);
        }
        s.command = shell_words::quote(&cmd.display().to_string()).into_owned();
    } else if f.runtime.starts_with("nodejs") {
        let ric = f.code_dir.join("node_modules/.bin/aws-lambda-ric");
        if !exists(&ric) {
            return Err(format!(
                "{}: the Node runtime client is missing: npm install aws-lambda-ric in {} (scripts/install-test-deps.sh does it for this repository)",
                f.name,
                f.code_dir.display()
            ));
        }
        s.command = format!(
            "{} {}",
            shell_words::quote(&ric.display().to_string()),
            f.handler
        );
    } else if f.runtime.starts_with("python") {
        python_runtime(f, &mut s)?;
    } else {
        return Err(format!(
            "{}: the runtime {:?} is not supported here (nodejs*, python*, provided.*)",
            f.name, f.runtime
        ));
    }
    Ok(s)
}

/// Python: the app under the Web Adapter (an extension), or the handler under awslambdaric.
fn python_runtime(f: &FunctionDef, s: &mut FunctionSettings) -> Result<(), String> {
    let exists = |p: &Path| p.is_file();
    let tools = tools_dir();
    let python = tools.join("venv/bin/python");
    if f.web_adapter {
        let adapter = tools.join("lwa/bin/lambda-adapter");
        if !exists(&adapter) {
            return Err(format!(
                "{}: the Lambda Web Adapter is missing: cargo install lambda_web_adapter --root {} (scripts/install-test-deps.sh does it)",
                f.name,
                tools.join("lwa").display()
            ));
        }
        s.command = format!("./{}", f.handler);
        s.extensions = vec![shell_words::quote(&adapter.display().to_string()).into_owned()];
        // Each environment's web app needs a port of its own here.
        s.env
            .push(format!("PORT={}", super::lambda_service::PORT_PLACEHOLDER));
        s.env.push(format!(
            "AWS_LWA_PORT={}",
            super::lambda_service::PORT_PLACEHOLDER
        ));
        if exists(&python) {
            s.env.push(format!("PYTHON={}", python.display()));
        }
    } else {
        let ric = tools.join("venv/lib");
        let has_ric = std::fs::read_dir(&ric).ok().is_some_and(|d| {
            d.flatten()
                .any(|v| v.path().join("site-packages/awslambdaric").is_dir())
        });
        if !(exists(&python) && has_ric) {
            return Err(format!(
                "{}: the Python runtime client is missing: {} -m pip install awslambdaric",
                f.name,
                python.display()
            ));
        }
        s.command = format!("{} -m awslambdaric {}", python.display(), f.handler);
    }
    Ok(())
}

/// The columns of the start-up table (`local`'s, and the app's Methods tab).
pub const TABLE_HEADS: [&str; 7] = [
    "method", "path", "function", "runtime", "mode", "limits", "key",
];

/// One row per method: its HTTP method, stage and path, function, runtime, transfer mode, limits
/// (the integration timeout, "unset" when the profile's default applies, and the endpoint type),
/// and `key` for a keyed method ("-" otherwise).
pub fn table_rows(stack: &Stack, profile: &Profile, key: &str) -> Vec<[String; 7]> {
    stack
        .methods
        .iter()
        .map(|m| {
            let runtime = stack
                .functions
                .iter()
                .find(|f| f.name == m.function)
                .map_or("?", |f| f.runtime.as_str());
            let timeout = m.timeout_ms.map_or_else(
                || {
                    format!(
                        "{} ms (unset)",
                        profile.integration_timeout_default_ms.value
                    )
                },
                |t| format!("{t} ms"),
            );
            [
                m.http_method.clone(),
                format!("/{}{}", m.stage, m.path),
                m.function.clone(),
                runtime.to_string(),
                m.mode.clone(),
                format!("{timeout}, {}", m.endpoint.to_ascii_lowercase()),
                if m.api_key_required { key } else { "-" }.to_string(),
            ]
        })
        .collect()
}

/// What the resolved stack shows that a file-by-file lint may not (a method in a nested template,
/// its function in the parent): a Web Adapter whose invoke mode is not its method's. One line per
/// function and mode, worded as lint's `web-adapter-mode-mismatch`.
pub fn stack_warnings(stack: &Stack) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for m in &stack.methods {
        let Some(f) = stack
            .functions
            .iter()
            .find(|f| f.name == m.function && f.web_adapter)
        else {
            continue;
        };
        let invoke = f
            .env
            .iter()
            .find(|(k, _)| k == "AWS_LWA_INVOKE_MODE")
            .map_or("buffered".to_string(), |(_, v)| v.to_ascii_lowercase());
        let effect = match (m.mode.as_str(), invoke.as_str()) {
            ("STREAM", i) if i != "response_stream" => {
                "API Gateway answers 500 (the output is not in the streaming format): set AWS_LWA_INVOKE_MODE=response_stream"
            }
            ("BUFFERED", "response_stream") => {
                "API Gateway returns the status and headers but not the body: set the method's responseTransferMode to STREAM, or AWS_LWA_INVOKE_MODE=buffered"
            }
            _ => continue,
        };
        if seen.insert((f.name.as_str(), m.mode.as_str())) {
            out.push(format!(
                "web-adapter-mode-mismatch: {}'s Web Adapter runs in {invoke} mode (AWS_LWA_INVOKE_MODE) behind the {} method {} /{}{}: {effect}",
                f.name, m.mode, m.http_method, m.stage, m.path
            ));
        }
    }
    out
}

/// The gateway emulation of one method, from the profile.
pub fn method_gateway(m: &MethodDef, profile: &Profile, key: &str) -> GatewaySettings {
    let mut g = GatewaySettings::from_profile(profile);
    g.mode = if m.mode == "STREAM" {
        GatewayMode::Stream
    } else {
        GatewayMode::Buffered
    };
    // Unset, the integration timeout is API Gateway's default (29 s), in either mode.
    let timeout = m
        .timeout_ms
        .unwrap_or(profile.integration_timeout_default_ms.value);
    g.stream_timeout_ms = timeout;
    g.integration_timeout_ms = timeout;
    if m.endpoint == "EDGE" {
        g.stream_idle_timeout_s = profile.stream_idle_timeout_edge_s.value as f64;
    }
    g.lambda_limits = profile.lambda_limits_when_hosting.value;
    g.stage = Some(m.stage.clone());
    if m.api_key_required {
        g.api_key = Some(key.to_string());
    }
    if let Some((rate, burst, quota)) = m.usage.filter(|_| m.api_key_required) {
        g.usage_rate = Some(rate);
        g.usage_burst = Some(burst);
        g.usage_quota = quota;
    }
    g
}

/// The axum route of a method's path under its stage: `{proxy+}` becomes a catch-all.
pub fn route_path(m: &MethodDef) -> String {
    let path = m
        .path
        .split('/')
        .map(
            |seg| match seg.strip_suffix("+}").and_then(|s| s.strip_prefix('{')) {
                Some(name) => format!("{{*{name}}}"),
                None => seg.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/");
    format!("/{}{}", m.stage, if path == "/" { "/" } else { &path })
}

/// One router for the whole stack: each method's path (and its stage's root) to its function
/// behind its gateway; anything else is API Gateway's 403 Missing Authentication Token.
pub fn router(
    stack: &Stack,
    services: &std::collections::HashMap<String, Arc<LambdaService>>,
    profile: &Profile,
    key: &str,
) -> Result<Router, super::ConfigError> {
    use axum::routing::{MethodFilter, MethodRouter};
    let mut by_path: std::collections::BTreeMap<String, (MethodRouter, bool)> = Default::default();
    // A usage plan covers a stage: its methods share one quota and one set of buckets.
    let mut plans: std::collections::HashMap<&str, super::gateway::GatewayConfig> =
        Default::default();
    for m in &stack.methods {
        let Some(service) = services.get(&m.function) else {
            continue;
        };
        let mut gateway = method_gateway(m, profile, key).validate()?;
        if m.usage.is_some() && m.api_key_required {
            match plans.get(m.stage.as_str()) {
                Some(first) => gateway.share_usage_plan(first),
                None => {
                    plans.insert(&m.stage, gateway.clone());
                }
            }
        }
        let svc = super::lambda_service::front::router(service.clone(), gateway);
        let mut paths = vec![route_path(m)];
        if m.path == "/" {
            paths.push(format!("/{}", m.stage));
        }
        for p in paths {
            let (entry, any) = by_path.remove(&p).unwrap_or_default();
            let entry = match MethodFilter::try_from(
                axum::http::Method::from_bytes(m.http_method.as_bytes())
                    .unwrap_or(axum::http::Method::GET),
            ) {
                Ok(filter) if m.http_method != "ANY" => {
                    (entry.on_service(filter, svc.clone()), any)
                }
                _ => (entry.fallback_service(svc.clone()), true),
            };
            by_path.insert(p, entry);
        }
    }
    let book = services
        .values()
        .next()
        .map(|s| s.logbook_shared())
        .unwrap_or_default();
    let mut app = super::lambda_service::front::log_route(book);
    for (p, (r, any)) in by_path {
        // A method the path does not have is API Gateway's 403 too, not a 405.
        app = app.route(&p, if any { r } else { r.fallback(no_such_method) });
    }
    Ok(app.fallback(no_such_method))
}

/// API Gateway's answer for a path or method the API does not have.
async fn no_such_method() -> axum::response::Response {
    let mut r = axum::response::IntoResponse::into_response((
        axum::http::StatusCode::FORBIDDEN,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        r#"{"message":"Missing Authentication Token"}"#,
    ));
    r.headers_mut().insert(
        "x-amzn-errortype",
        axum::http::HeaderValue::from_static("MissingAuthenticationTokenException"),
    );
    r
}

/// A stack ready to serve: its functions' services (sharing one log) and its router.
pub struct Prepared {
    pub stack: Stack,
    /// The API key keyed methods take.
    pub key: String,
    app: Router,
    services: Vec<Arc<LambdaService>>,
}

impl Prepared {
    /// Every function a method invokes, checked, and the router over them. The error is the
    /// one line to show.
    pub fn new(stack: Stack, profile: &Profile, key: String) -> Result<Prepared, String> {
        let book = Arc::new(super::lambda_service::logbook::LogBook::default());
        let mut services = std::collections::HashMap::new();
        for f in &stack.functions {
            if !stack.methods.iter().any(|m| m.function == f.name) {
                continue;
            }
            let config = runtime_settings(f, profile)?
                .validate()
                .map_err(|e| format!("{}: {e}", f.name))?;
            services.insert(
                f.name.clone(),
                Arc::new(LambdaService::with_logbook(config, book.clone())),
            );
        }
        let app = router(&stack, &services, profile, &key).map_err(|e| e.to_string())?;
        Ok(Prepared {
            stack,
            key,
            app,
            services: services.into_values().collect(),
        })
    }

    /// Serves until `shutdown` resolves, then ends every function's environments.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        super::serve_stack(
            listener,
            self.app,
            self.services,
            super::HeaderTimeout::default(),
            shutdown,
        )
        .await
    }
}

/// A stack served in the background (the app's): dropped, it stops, and its functions' processes
/// end with it.
pub struct Hosted {
    pub addr: std::net::SocketAddr,
    pub stack: Stack,
    pub key: String,
    pub template: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Hosted {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
    }
}

/// Reads `template` (with parameter `overrides`, as `--parameter-overrides`), starts its stack on
/// 127.0.0.1 (a free port) on the current runtime.
pub async fn host(
    template: &Path,
    overrides: &[(String, String)],
    profile: &Profile,
) -> Result<Hosted, String> {
    let stack = super::template::read(template, overrides).map_err(|e| e.to_string())?;
    let key = format!("local-{}", &uuid::Uuid::new_v4().simple().to_string()[..20]);
    let prepared = Prepared::new(stack, profile, key)?;
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stack = prepared.stack.clone();
    let key = prepared.key.clone();
    tokio::spawn(async move {
        prepared
            .serve(listener, async move {
                stopped.await.ok();
            })
            .await
            .ok();
    });
    Ok(Hosted {
        addr,
        stack,
        key,
        template: template.to_path_buf(),
        stop: Some(stop),
    })
}

/// A URL for `m` on `addr`: its stage and path, a `{proxy+}` filled with `x`.
pub fn method_url(addr: std::net::SocketAddr, m: &MethodDef) -> String {
    method_url_to(addr, m, "x")
}

/// [`method_url`] with a greedy `{proxy+}` segment standing for `proxy` (a path with its query,
/// `download?size=50MiB`); other `{name}` segments stand for `x`.
pub fn method_url_to(addr: std::net::SocketAddr, m: &MethodDef, proxy: &str) -> String {
    let path: Vec<&str> = m
        .path
        .split('/')
        .map(|s| match s {
            "{proxy+}" => proxy,
            s if s.starts_with('{') && s.ends_with('}') => "x",
            s => s,
        })
        .collect();
    format!("http://{addr}/{}{}", m.stage, path.join("/"))
}
