//! Running the Router on AWS Lambda behind an API Gateway REST API (v1 events), streaming.

use super::{BackendConfig, BackendSettings, ConfigError, Setting, SyntheticLimits, router_with};
use axum::http::Uri;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;

/// The Router as the `bootstrap` binary runs it: REST API paths arrive as `/{stage}/path` (lambda_http
/// prefixes the stage unless AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH is set), so the stage is removed
/// before routing.
pub fn app(
    config: BackendConfig,
) -> impl tower::Service<
    lambda_http::Request,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    tower::ServiceBuilder::new()
        .map_request(strip_stage)
        .service(router_with(config))
}

/// `/prod/download?size=1` → `/download?size=1` when the request came through stage `prod`.
pub fn strip_stage(mut req: lambda_http::Request) -> lambda_http::Request {
    let stage = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.stage.clone(),
        _ => None,
    };
    let Some(stage) = stage.filter(|s| !s.is_empty() && s != "$default") else {
        return req;
    };
    let prefix = format!("/{stage}");
    let path = req.uri().path();
    let rest = match path.strip_prefix(&prefix) {
        Some("") => "/",
        Some(r) if r.starts_with('/') => r,
        _ => return req,
    };
    let pq = match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = pq.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// Settings from the function's environment: STREAMSCOPE_BUCKET, STREAMSCOPE_S3_PREFIX,
/// STREAMSCOPE_S3_ENDPOINT, STREAMSCOPE_UPSTREAM_URL, and what `/download` allows on Lambda:
/// STREAMSCOPE_MAX_SIZE (default 1GiB) and STREAMSCOPE_FAULT_KNOBS (`true` turns on the knobs that
/// keep a billed function busy; default off). No gateway emulation: the real one is in front.
pub fn settings_from_env() -> Result<BackendSettings, ConfigError> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let max_bytes = match var("STREAMSCOPE_MAX_SIZE") {
        None => crate::units::GIB,
        Some(v) => crate::units::parse_size(&v)
            .map_err(|e| ConfigError::Invalid(Setting::SyntheticMax, e.to_string()))?,
    };
    let fault_knobs = var("STREAMSCOPE_FAULT_KNOBS").is_some_and(|v| v.trim() == "true");
    Ok(BackendSettings {
        synthetic: SyntheticLimits {
            max_bytes,
            fault_knobs,
        },
        s3: var("STREAMSCOPE_BUCKET").map(|bucket| super::s3::S3Settings {
            bucket,
            prefix: var("STREAMSCOPE_S3_PREFIX").unwrap_or_default(),
            endpoint: var("STREAMSCOPE_S3_ENDPOINT"),
            region: None,
        }),
        upstream_url: var("STREAMSCOPE_UPSTREAM_URL"),
    })
}
