//! A local emulation of what API Gateway (REST, Lambda proxy) and Lambda response streaming do to a
//! response, with the limits of the team's fact sheet (aws-streaming-facts.md). Every number is a
//! field with its documented default so tests can scale it down.
//!
//! - `stream`: the first 10 MB pass unthrottled, then 2 MB/s; the stream is cut after 15 min, or
//!   when the backend sends nothing for the idle timeout (5 min regional, 30 s edge).
//! - `buffered`: the whole body is collected first; over 10 MB it fails (502, an assumption: AWS does
//!   not document the status), and a backend slower than the 29 s integration timeout gets 504
//!   `Endpoint request timed out`. The client then receives everything in one burst.
//! - `lambda_limits` (any mode): Lambda's own streaming caps, 6 MB uncapped then 2 MB/s, 200 MB max.
//!
//! "MB" is read as MiB (AWS's "6 MB" Lambda payload limit is 6 MiB); rates default to 2 MiB/s. The
//! fact sheet notes 2,000,000 vs 2,097,152 is unconfirmed: both are flags.

use super::conn::Cutter;
use super::profile::{ContentLength, Knees, MidStreamError, Profile, TimeoutBounds};
use super::shaping::{ChunkStream, Cut, Shape, shape};
use crate::backend::{ConfigError, Setting};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum GatewayMode {
    /// The backend as Lambda runs it, nothing in front.
    #[default]
    Off,
    /// API Gateway with `responseTransferMode: STREAM`.
    Stream,
    /// API Gateway's default `BUFFERED` mode.
    Buffered,
}

impl GatewayMode {
    pub fn label(self) -> &'static str {
        match self {
            GatewayMode::Off => "off",
            GatewayMode::Stream => "stream",
            GatewayMode::Buffered => "buffered",
        }
    }
}

/// The emulation as given (flags, the app's demo, tests): plain numbers, checked by
/// [`GatewaySettings::validate`] into a [`GatewayConfig`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GatewaySettings {
    pub mode: GatewayMode,
    /// STREAM: bytes of each response sent at full speed (10 MB).
    pub stream_unthrottled_bytes: u64,
    /// STREAM: rate after that (2 MB/s).
    pub stream_bytes_per_sec: u64,
    /// STREAM: longest a response may stream, seconds (15 min).
    pub stream_max_duration_s: f64,
    /// STREAM: longest the backend may send nothing, seconds (5 min regional/private, 30 s
    /// edge-optimized).
    pub stream_idle_timeout_s: f64,
    /// STREAM: the integration's TimeoutInMillis, which bounds the whole stream (900000 when set
    /// to the maximum; 29000, API Gateway's default, when a template leaves it unset).
    pub stream_timeout_ms: u64,
    /// BUFFERED: largest response payload (10 MB).
    pub buffered_max_bytes: u64,
    /// BUFFERED: integration timeout for the whole response, milliseconds (29 s).
    pub integration_timeout_ms: u64,
    /// Apply Lambda's own streaming limits too.
    pub lambda_limits: bool,
    /// Lambda: bytes uncapped (6 MB).
    pub lambda_unthrottled_bytes: u64,
    /// Lambda: rate after that (2 MB/s).
    pub lambda_bytes_per_sec: u64,
    /// Lambda: largest streamed payload (200 MB).
    pub lambda_max_bytes: u64,
    /// The API's stage: paths are `/{stage}/...` and anything else gets API Gateway's 403
    /// `Missing Authentication Token`. None: paths start at the root.
    pub stage: Option<String>,
    /// A required `x-api-key` value: without it, 403 `Forbidden`. Never shown.
    #[serde(skip)]
    pub api_key: Option<String>,
    /// A usage plan's quota: requests after this many get 429 `Limit Exceeded`.
    pub usage_quota: Option<u64>,
    /// A usage plan's throttle: requests per second (the bucket's refill) and burst (its size),
    /// per API key; a request that finds the bucket empty gets 429 `Too Many Requests`.
    pub usage_rate: Option<f64>,
    pub usage_burst: Option<u32>,
    /// `AuthorizationType: AWS_IAM`: requests must carry a SigV4 signature by these (test)
    /// credentials for this region. Never shown.
    #[serde(skip)]
    pub iam: Option<super::iam::IamConfig>,
    /// Lambda: the largest buffered (Invoke) response (6291556 bytes).
    pub lambda_buffered_max_bytes: u64,
    /// The profile's behaviour choices.
    pub behaviour: Behaviour,
}

/// What the emulation does where AWS's documentation is silent or a choice is to be made: each
/// from the profile ([`super::profile`]), which says which are unverified.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Behaviour {
    /// The profile's name, sent as `x-streamscope-profile` on every emulated response.
    pub profile: String,
    /// Keys of the profile's values nobody has confirmed on AWS.
    pub unverified: Vec<&'static str>,
    pub stream_timeout_bounds: TimeoutBounds,
    pub knees: Knees,
    pub content_length: ContentLength,
    pub mid_stream_error: MidStreamError,
    pub added_headers: Vec<String>,
    pub throttle_status: u16,
    pub buffered_over_limit_status: u16,
    pub gateway_request_max_bytes: u64,
}

impl Behaviour {
    pub fn from_profile(p: &Profile) -> Behaviour {
        let status = |v: u64| u16::try_from(v).unwrap_or(500);
        Behaviour {
            profile: p.name.clone(),
            unverified: p.unverified(),
            stream_timeout_bounds: p.stream_timeout_bounds.value,
            knees: p.knees.value,
            content_length: p.content_length.value,
            mid_stream_error: p.mid_stream_error.value,
            added_headers: p.added_headers.value.clone(),
            throttle_status: status(p.throttle_status.value),
            buffered_over_limit_status: status(p.buffered_over_limit_status.value),
            gateway_request_max_bytes: p.gateway_request_max_bytes.value,
        }
    }
}

impl Default for GatewaySettings {
    /// The built-in profile's values, nothing emulated.
    fn default() -> Self {
        GatewaySettings::from_profile(Profile::aws())
    }
}

impl GatewaySettings {
    /// The stage, the API key and the IAM credentials.
    fn check_access(&self) -> Result<(), ConfigError> {
        if let Some(stage) = &self.stage
            && (stage.is_empty()
                || !stage
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        {
            return Err(ConfigError::Invalid(
                Setting::Stage,
                format!("{stage:?}: letters, digits, '-' and '_' only"),
            ));
        }
        if self.api_key.as_deref().is_some_and(|k| k.trim().is_empty()) {
            return Err(ConfigError::Invalid(Setting::ApiKey, "is empty".into()));
        }
        if let Some(iam) = &self.iam {
            let word = |w: &str| {
                !w.is_empty()
                    && w.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            };
            if !word(&iam.access_key_id) || iam.secret_access_key.is_empty() {
                return Err(ConfigError::Invalid(
                    Setting::Iam,
                    "write it as ACCESS_KEY_ID:SECRET_ACCESS_KEY".into(),
                ));
            }
            if !word(&iam.region) {
                return Err(ConfigError::Invalid(
                    Setting::IamRegion,
                    format!("{:?} is not an AWS region name", iam.region),
                ));
            }
        }
        Ok(())
    }

    /// `p`'s values, nothing emulated (mode off, no Lambda limits, no stage, key or plan).
    pub fn from_profile(p: &Profile) -> Self {
        GatewaySettings {
            mode: GatewayMode::Off,
            stream_unthrottled_bytes: p.stream_unthrottled_bytes.value,
            stream_bytes_per_sec: p.stream_bytes_per_sec.value,
            stream_max_duration_s: p.stream_max_duration_s.value as f64,
            stream_idle_timeout_s: p.stream_idle_timeout_regional_s.value as f64,
            stream_timeout_ms: p.stream_timeout_max_ms.value,
            buffered_max_bytes: p.buffered_max_bytes.value,
            integration_timeout_ms: p.integration_timeout_default_ms.value,
            lambda_limits: false,
            lambda_unthrottled_bytes: p.lambda_unthrottled_bytes.value,
            lambda_bytes_per_sec: p.lambda_bytes_per_sec.value,
            lambda_max_bytes: p.lambda_max_bytes.value,
            lambda_buffered_max_bytes: p.lambda_buffered_max_bytes.value,
            stage: None,
            api_key: None,
            usage_quota: None,
            usage_rate: None,
            usage_burst: None,
            iam: None,
            behaviour: Behaviour::from_profile(p),
        }
    }

    pub fn with_mode(mode: GatewayMode) -> Self {
        GatewaySettings {
            mode,
            ..GatewaySettings::default()
        }
    }

    pub fn validate(&self) -> Result<GatewayConfig, ConfigError> {
        let positive = |setting, v: u64| {
            if v == 0 {
                Err(ConfigError::NotPositive(setting))
            } else {
                Ok(v)
            }
        };
        let seconds = |setting, v: f64| {
            Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or(ConfigError::Seconds(setting, v))
        };
        positive(Setting::StreamRate, self.stream_bytes_per_sec)?;
        positive(Setting::BufferedMax, self.buffered_max_bytes)?;
        positive(Setting::LambdaRate, self.lambda_bytes_per_sec)?;
        positive(Setting::LambdaMax, self.lambda_max_bytes)?;
        let integration_timeout = Duration::from_millis(positive(
            Setting::IntegrationTimeout,
            self.integration_timeout_ms,
        )?);
        let stream_timeout =
            Duration::from_millis(positive(Setting::StreamTimeout, self.stream_timeout_ms)?);
        self.check_access()?;
        let throttle = match (self.usage_rate, self.usage_burst) {
            (None, None) => None,
            (rate, burst) => {
                let rate = rate.unwrap_or(f64::from(burst.unwrap_or(1)));
                if !(rate.is_finite() && rate > 0.0) {
                    return Err(ConfigError::Invalid(
                        Setting::UsageRate,
                        format!("{rate} is not a positive number of requests per second"),
                    ));
                }
                // API Gateway's bucket holds at least one request.
                let burst = burst.unwrap_or_else(|| rate.ceil() as u32).max(1);
                Some(Arc::new(TokenBuckets::new(rate, burst)))
            }
        };
        let stream_max_duration = seconds(Setting::StreamMaxDuration, self.stream_max_duration_s)?;
        Ok(GatewayConfig {
            settings: self.clone(),
            requests: Arc::default(),
            throttle,
            // The stream ends at whichever comes first: the cap, or the integration's timeout
            // when the profile reads it as bounding the whole stream.
            stream_max_duration: match self.behaviour.stream_timeout_bounds {
                TimeoutBounds::WholeStream => stream_max_duration.min(stream_timeout),
                TimeoutBounds::UntilHeaders => stream_max_duration,
            },
            stream_timeout,
            stream_idle_timeout: seconds(Setting::StreamIdleTimeout, self.stream_idle_timeout_s)?,
            integration_timeout,
        })
    }
}

/// A checked emulation: rates are positive, durations positive and finite.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    settings: GatewaySettings,
    /// Requests counted against the usage quota.
    requests: Arc<std::sync::atomic::AtomicU64>,
    /// The usage plan's token buckets, one per API key.
    throttle: Option<Arc<TokenBuckets>>,
    stream_max_duration: Duration,
    /// STREAM: TimeoutInMillis, which bounds the time to the prelude (and, as the profile reads
    /// it, the whole stream).
    stream_timeout: Duration,
    stream_idle_timeout: Duration,
    integration_timeout: Duration,
}

impl Default for GatewayConfig {
    /// Nothing emulated.
    fn default() -> Self {
        GatewayConfig::off()
    }
}

impl GatewayConfig {
    /// Nothing emulated: the backend as Lambda runs it.
    pub fn off() -> Self {
        let s = GatewaySettings::default();
        GatewayConfig {
            requests: Arc::default(),
            throttle: None,
            stream_max_duration: Duration::from_secs_f64(s.stream_max_duration_s),
            stream_timeout: Duration::from_millis(s.stream_timeout_ms),
            stream_idle_timeout: Duration::from_secs_f64(s.stream_idle_timeout_s),
            integration_timeout: Duration::from_millis(s.integration_timeout_ms),
            settings: s,
        }
    }

    pub fn mode(&self) -> GatewayMode {
        self.settings.mode
    }

    /// Counts this method's requests in `other`'s usage plan (its quota and its token buckets):
    /// a usage plan covers an API stage, not one method.
    pub fn share_usage_plan(&mut self, other: &GatewayConfig) {
        self.requests = other.requests.clone();
        self.throttle.clone_from(&other.throttle);
    }

    pub fn settings(&self) -> &GatewaySettings {
        &self.settings
    }

    pub fn lambda_limits(&self) -> bool {
        self.settings.lambda_limits
    }

    /// True when nothing would change a request or a response.
    pub fn is_passthrough(&self) -> bool {
        let s = &self.settings;
        s.mode == GatewayMode::Off
            && !s.lambda_limits
            && s.stage.is_none()
            && s.api_key.is_none()
            && s.usage_quota.is_none()
            && self.throttle.is_none()
            && s.iam.is_none()
    }

    /// What API Gateway answers before the integration runs: a path outside the stage, a missing
    /// API key, a spent quota. Otherwise the request with the stage taken off its path.
    async fn admit(&self, mut req: Request) -> Result<Request, Box<Response>> {
        let s = &self.settings;
        let original_uri = req.uri().clone();
        if let Some(stage) = &s.stage {
            let path = req.uri().path();
            let rest = match path.strip_prefix(&format!("/{stage}")) {
                Some("") => Some("/".to_string()),
                Some(r) if r.starts_with('/') => Some(r.to_string()),
                _ => None,
            };
            let Some(rest) = rest else {
                return Err(Box::new(refusal(
                    StatusCode::FORBIDDEN,
                    "Missing Authentication Token",
                    "MissingAuthenticationTokenException",
                )));
            };
            let pq = match req.uri().query() {
                Some(q) => format!("{rest}?{q}"),
                None => rest,
            };
            let mut parts = req.uri().clone().into_parts();
            parts.path_and_query = pq.parse().ok();
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
        if let Some(iam) = &s.iam {
            req = self.check_signature(iam, &original_uri, req).await?;
        }
        self.usage_plan(&req)?;
        Ok(req)
    }

    /// `AWS_IAM`: the request's signature, made for its own method, path (`uri`, stage
    /// included), headers and body (read here, up to API Gateway's request limit, unless the
    /// client sent its hash). The access key that signed it goes with the request
    /// ([`IamCaller`]) into the event.
    async fn check_signature(
        &self,
        iam: &super::iam::IamConfig,
        uri: &axum::http::Uri,
        req: Request,
    ) -> Result<Request, Box<Response>> {
        let (mut parts, body) = req.into_parts();
        let hashed = parts.headers.contains_key("x-amz-content-sha256");
        let max = usize::try_from(self.settings.behaviour.gateway_request_max_bytes)
            .unwrap_or(usize::MAX);
        let (bytes, body) = if hashed {
            (None, body)
        } else {
            match http_body_util::BodyExt::collect(http_body_util::Limited::new(body, max)).await {
                Ok(b) => {
                    let b = b.to_bytes();
                    (Some(b.clone()), Body::from(b))
                }
                Err(_) => {
                    return Err(Box::new(refusal(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "Request Too Long",
                        "RequestTooLongException",
                    )));
                }
            }
        };
        let received = super::iam::Received {
            method: parts.method.as_str(),
            uri,
            headers: &parts.headers,
            body: bytes.as_deref().unwrap_or_default(),
        };
        match super::iam::check(iam, received, std::time::SystemTime::now()) {
            Err(no) => Err(Box::new(refusal(
                StatusCode::FORBIDDEN,
                &no.message,
                no.error_type,
            ))),
            Ok(access_key) => {
                parts.extensions.insert(IamCaller { access_key });
                Ok(Request::from_parts(parts, body))
            }
        }
    }

    /// The API key, the usage plan's throttle and its quota.
    fn usage_plan(&self, req: &Request) -> Result<(), Box<Response>> {
        let s = &self.settings;
        let throttle_status = StatusCode::from_u16(s.behaviour.throttle_status)
            .unwrap_or(StatusCode::TOO_MANY_REQUESTS);
        if let Some(key) = &s.api_key {
            let sent = req.headers().get("x-api-key").map(|v| v.as_bytes());
            if sent != Some(key.as_bytes()) {
                return Err(Box::new(refusal(
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    "ForbiddenException",
                )));
            }
        }
        if let Some(buckets) = &self.throttle {
            let key = req
                .headers()
                .get("x-api-key")
                .map(|v| v.as_bytes().to_vec())
                .unwrap_or_default();
            if !buckets.take(&key, std::time::Instant::now()) {
                return Err(Box::new(refusal(
                    throttle_status,
                    "Too Many Requests",
                    "TooManyRequestsException",
                )));
            }
        }
        if let Some(quota) = s.usage_quota {
            let n = self
                .requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if n >= quota {
                return Err(Box::new(refusal(
                    throttle_status,
                    "Limit Exceeded",
                    "LimitExceededException",
                )));
            }
        }
        Ok(())
    }
}

/// The access key whose signature an `AWS_IAM` method accepted (the event's
/// `requestContext.identity.accessKey`).
#[derive(Debug, Clone, PartialEq)]
pub struct IamCaller {
    pub access_key: String,
}

/// A usage plan's throttle: a token bucket per API key, refilled at `rate` per second up to
/// `burst` (API Gateway's model for usage plans, stage and account limits).
#[derive(Debug)]
pub struct TokenBuckets {
    rate: f64,
    burst: f64,
    /// Per key: tokens left and when they were counted. At most a few keys in practice; capped
    /// so a client inventing keys cannot grow it without bound.
    by_key: std::sync::Mutex<std::collections::HashMap<Vec<u8>, (f64, std::time::Instant)>>,
}

const MAX_BUCKETS: usize = 10_000;

impl TokenBuckets {
    pub fn new(rate: f64, burst: u32) -> TokenBuckets {
        TokenBuckets {
            rate,
            burst: f64::from(burst),
            by_key: std::sync::Mutex::default(),
        }
    }

    /// Takes a token for `key` at `now`; false when its bucket is empty.
    pub fn take(&self, key: &[u8], now: std::time::Instant) -> bool {
        let mut map = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_BUCKETS && !map.contains_key(key) {
            map.clear();
        }
        let (tokens, at) = map.entry(key.to_vec()).or_insert((self.burst, now));
        let refilled = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * self.rate)
            .min(self.burst);
        *at = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            true
        } else {
            *tokens = refilled;
            false
        }
    }
}

/// API Gateway's own refusal: `{"message": ...}` and its error type.
fn refusal(status: StatusCode, message: &str, kind: &'static str) -> Response {
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "message": message }).to_string(),
    )
        .into_response();
    r.headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(kind));
    r
}

fn gateway_error(status: StatusCode, message: &str, why: &str) -> Response {
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{\"message\":\"{message}\"}}"),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(why) {
        r.headers_mut().insert("x-streamscope-gateway-error", v);
    }
    r.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_static("InternalServerErrorException"),
    );
    r
}

/// axum middleware around every route: applies the emulation, and holds back any cut of a response
/// body until what was sent before it has left (see [`super::conn`]).
pub async fn emulate(State(cfg): State<Arc<GatewayConfig>>, req: Request, next: Next) -> Response {
    let cutter = Cutter::for_request(&req);
    let mut resp = emulated(&cfg, req, next).await;
    if !cfg.is_passthrough() {
        add_headers(&cfg.settings.behaviour, resp.headers_mut());
    }
    resp.map(|body| cutter.guard(body))
}

/// The X-Ray trace root API Gateway gives request `request_id`: the same in the function's event
/// (`X-Amzn-Trace-Id`), its runtime's `Lambda-Runtime-Trace-Id` and the response's
/// `x-amzn-trace-id`, so that one id follows the request through. (A real root's second field
/// is the epoch time in hex; here it is zero, which keeps it a function of the request id.)
pub fn trace_root(request_id: &str) -> String {
    let hex: String = request_id.chars().filter(|c| *c != '-').take(24).collect();
    format!("Root=1-00000000-{hex}")
}

/// The headers the profile says API Gateway adds (unless the response has them), and
/// `x-streamscope-profile` naming the profile, so that a report can say what it ran against.
fn add_headers(b: &Behaviour, h: &mut axum::http::HeaderMap) {
    let id = uuid::Uuid::new_v4();
    // A hosted function's response already names its invocation's request id: the trace follows it.
    let request_id = h
        .get("x-amzn-requestid")
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| id.to_string(), str::to_string);
    for name in &b.added_headers {
        let Ok(name) = axum::http::HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        if h.contains_key(&name) {
            continue;
        }
        let value = match name.as_str() {
            "x-amzn-requestid" => request_id.clone(),
            "x-amzn-trace-id" => trace_root(&request_id),
            // API Gateway's extended request id: 16 characters ending in '='.
            _ => format!("{}=", &id.simple().to_string()[..15]),
        };
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&b.profile) {
        h.insert("x-streamscope-profile", v);
    }
}

async fn emulated(cfg: &GatewayConfig, req: Request, next: Next) -> Response {
    if cfg.is_passthrough() {
        return next.run(req).await;
    }
    let req = match cfg.admit(req).await {
        Ok(r) => r,
        Err(refused) => return *refused,
    };
    let set = cfg.settings();
    if set.mode == GatewayMode::Buffered {
        return buffered(cfg, next.run(req)).await;
    }
    let resp = if set.mode == GatewayMode::Stream {
        // TimeoutInMillis bounds the wait for the prelude: no headers in time, 504.
        match tokio::time::timeout(cfg.stream_timeout, next.run(req)).await {
            Ok(r) => r,
            Err(_) => {
                return gateway_error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "Endpoint request timed out",
                    "the integration's TimeoutInMillis passed before the function sent its prelude (emulated)",
                );
            }
        }
    } else {
        next.run(req).await
    };
    let (mut parts, body) = resp.into_parts();
    let stream_mode = set.mode == GatewayMode::Stream;
    let clean_end = stream_mode && set.behaviour.mid_stream_error == MidStreamError::CleanEnd;
    let mut stream: ChunkStream = Box::pin(
        body.into_data_stream()
            .map(|r| r.map_err(|e| Cut(e.to_string())))
            // The profile may say that API Gateway ends the body cleanly when the function
            // fails mid-stream (the default is the cut).
            .take_while(move |r| {
                let go_on = !(clean_end && r.is_err());
                if !go_on {
                    eprintln!("the function failed mid-stream: the body ends cleanly (profile's mid_stream_error = clean_end)");
                }
                std::future::ready(go_on)
            }),
    );
    stream = shaped(cfg, stream);
    if stream_mode {
        // Not on API Gateway's own answers (a 500 it made), which have their length.
        if !parts.headers.contains_key("x-amzn-errortype") {
            content_length(set.behaviour.content_length, &mut parts.headers);
        }
    } else if set.lambda_limits && !parts.headers.contains_key("x-amzn-errortype") {
        // A streamed Lambda response has no length of its own (Function URLs remap it).
        content_length(ContentLength::Remap, &mut parts.headers);
    }
    Response::from_parts(parts, Body::from_stream(stream))
}

/// Lambda's knee and payload cap (when on), then the gateway's knee and its time limits (STREAM):
/// as the profile says which knee applies.
fn shaped(cfg: &GatewayConfig, mut stream: ChunkStream) -> ChunkStream {
    let set = cfg.settings();
    let stream_mode = set.mode == GatewayMode::Stream;
    let knees = set.behaviour.knees;
    if set.lambda_limits {
        // Behind STREAM, the profile says whose knee shapes the stream; the payload cap stays.
        let lambda_knee = !stream_mode || knees != Knees::Gateway;
        stream = Box::pin(shape(
            stream,
            Shape {
                free_bytes: if lambda_knee {
                    set.lambda_unthrottled_bytes
                } else {
                    u64::MAX
                },
                bytes_per_sec: set.lambda_bytes_per_sec,
                max_bytes: Some(set.lambda_max_bytes),
                max_duration: None,
                idle_timeout: None,
            },
        ));
    }
    if stream_mode {
        // API Gateway STREAM mode does not support content encoding; it passes other headers through.
        let gateway_knee = !(set.lambda_limits && knees == Knees::Lambda);
        stream = Box::pin(shape(
            stream,
            Shape {
                free_bytes: if gateway_knee {
                    set.stream_unthrottled_bytes
                } else {
                    u64::MAX
                },
                bytes_per_sec: set.stream_bytes_per_sec,
                max_bytes: None,
                max_duration: Some(cfg.stream_max_duration),
                idle_timeout: Some(cfg.stream_idle_timeout),
            },
        ));
    }
    stream
}

/// What the gateway does with a streamed response's `Content-Length`.
fn content_length(choice: ContentLength, h: &mut axum::http::HeaderMap) {
    match choice {
        ContentLength::Keep => {}
        ContentLength::Drop => {
            h.remove(header::CONTENT_LENGTH);
        }
        ContentLength::Remap => {
            if let Some(len) = h.remove(header::CONTENT_LENGTH) {
                h.insert("x-amzn-remapped-content-length", len);
            }
        }
    }
}

async fn buffered(
    cfg: &GatewayConfig,
    run: impl std::future::Future<Output = Response>,
) -> Response {
    let set = cfg.settings();
    let mut max = set.buffered_max_bytes;
    if set.lambda_limits {
        // A buffered Lambda invocation returns at most 6291556 bytes.
        max = max.min(set.lambda_buffered_max_bytes);
    }
    let over_limit = StatusCode::from_u16(set.behaviour.buffered_over_limit_status)
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let collect = async {
        let resp = run.await;
        let (mut parts, body) = resp.into_parts();
        let mut data = body.into_data_stream();
        let mut buf = BytesMut::new();
        while let Some(chunk) = data.next().await {
            let chunk = chunk.map_err(|e| {
                (
                    StatusCode::BAD_GATEWAY,
                    format!("the integration failed mid-response: {e}"),
                )
            })?;
            if buf.len() as u64 + chunk.len() as u64 > max {
                return Err((
                    over_limit,
                    format!("response payload over the {max}-byte buffered limit"),
                ));
            }
            buf.extend_from_slice(&chunk);
        }
        parts.headers.remove(header::TRANSFER_ENCODING);
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(buf.len()));
        Ok(Response::from_parts(parts, Body::from(buf.freeze())))
    };
    match tokio::time::timeout(cfg.integration_timeout, collect).await {
        Err(_) => gateway_error(
            StatusCode::GATEWAY_TIMEOUT,
            "Endpoint request timed out",
            "integration timeout (emulated)",
        ),
        Ok(Err((status, why))) => gateway_error(status, "Internal server error", &why),
        Ok(Ok(resp)) => resp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Setting;

    #[test]
    fn the_usage_plan_bucket_allows_a_burst_then_its_rate_per_key() {
        let b = TokenBuckets::new(2.0, 5);
        let t0 = std::time::Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let taken: Vec<bool> = (0..6).map(|_| b.take(b"k", t0)).collect();
        assert_eq!(
            taken,
            [true, true, true, true, true, false],
            "burst 5: the 6th is refused"
        );
        assert!(b.take(b"other", t0), "each key has its own bucket");
        assert!(!b.take(b"k", at(400)), "0.8 of a token after 400 ms at 2/s");
        assert!(b.take(b"k", at(500)), "a whole one after 500 ms");
        assert!(!b.take(b"k", at(500)));
        // Refills stop at the burst.
        let taken: Vec<bool> = (0..6).map(|_| b.take(b"k", at(60_000))).collect();
        assert_eq!(taken, [true, true, true, true, true, false]);
    }

    #[test]
    fn gateway_settings_are_checked_once() {
        let ok = GatewaySettings::with_mode(GatewayMode::Stream);
        assert!(ok.validate().is_ok());
        let cases = [
            (
                GatewaySettings {
                    stream_bytes_per_sec: 0,
                    ..ok.clone()
                },
                Setting::StreamRate,
            ),
            (
                GatewaySettings {
                    lambda_bytes_per_sec: 0,
                    ..ok.clone()
                },
                Setting::LambdaRate,
            ),
            (
                GatewaySettings {
                    stream_idle_timeout_s: f64::NAN,
                    ..ok.clone()
                },
                Setting::StreamIdleTimeout,
            ),
            (
                GatewaySettings {
                    stream_max_duration_s: -1.0,
                    ..ok.clone()
                },
                Setting::StreamMaxDuration,
            ),
            (
                GatewaySettings {
                    integration_timeout_ms: 0,
                    ..ok.clone()
                },
                Setting::IntegrationTimeout,
            ),
            (
                GatewaySettings {
                    buffered_max_bytes: 0,
                    ..ok.clone()
                },
                Setting::BufferedMax,
            ),
        ];
        for (s, setting) in cases {
            let e = s.validate().unwrap_err();
            assert_eq!(e.setting(), setting, "{e}");
            assert!(!e.to_string().contains("--"), "no CLI flag in {e}");
        }
    }
}
