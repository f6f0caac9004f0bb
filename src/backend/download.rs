//! `GET /download`: deterministic synthetic data with knobs for rate, framing, status and faults.

use super::{AppState, SyntheticLimits, json_error, synthetic};
use crate::units::{GIB, parse_size};
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

pub const MAX_SIZE: u64 = 16 * GIB;
const MAX_CHUNK: u64 = 16 * 1024 * 1024;
const MAX_WAIT_MS: u64 = 15 * 60 * 1000;

/// The text the Lambda Rust runtime (lambda_runtime 1.x, `to_tailer`) writes into the body, as body
/// bytes rather than HTTP trailers, when the handler's stream yields an error.
pub fn lambda_error_tail(message: &str) -> String {
    format!(
        "Lambda-Runtime-Function-Error-Type: Runtime.StreamError\r\nLambda-Runtime-Function-Error-Body: {}\r\n",
        B64.encode(message)
    )
}

/// Every knob of `/download`, parsed and bounded.
#[derive(Debug, Clone)]
pub struct Knobs {
    pub size: u64,
    pub chunk: usize,
    pub rate_bytes_per_sec: Option<u64>,
    pub delay_ms: u64,
    pub seed: u64,
    pub content_length: bool,
    pub digest: bool,
    pub status: StatusCode,
    pub fail_after: Option<u64>,
    /// Drop the connection before the object's byte at this offset (whatever the range).
    pub fail_at: Option<u64>,
    pub stall_after: Option<u64>,
    pub stall_ms: u64,
    pub lambda_error_after: Option<u64>,
}

pub const KNOWN_KNOBS: &[&str] = &[
    "size",
    "chunk",
    "rate",
    "delay_ms",
    "seed",
    "length",
    "digest",
    "status",
    "fail_after",
    "fail_at",
    "stall_after",
    "stall_ms",
    "lambda_error_after",
];

/// Knobs that keep a (billed) function busy or make it misbehave: a deployment turns them on.
pub const FAULT_KNOBS: &[&str] = &[
    "chunk",
    "rate",
    "delay_ms",
    "status",
    "fail_after",
    "fail_at",
    "stall_after",
    "stall_ms",
    "lambda_error_after",
];

impl Knobs {
    fn parse(q: &HashMap<String, String>, limits: &SyntheticLimits) -> Result<Knobs, String> {
        if let Some(unknown) = q
            .keys()
            .find(|k| !k.starts_with('_') && !KNOWN_KNOBS.contains(&k.as_str()))
        {
            return Err(format!(
                "unknown parameter {unknown:?}; known: {}",
                KNOWN_KNOBS.join(", ")
            ));
        }
        if !limits.fault_knobs
            && let Some(off) = q.keys().find(|k| FAULT_KNOBS.contains(&k.as_str()))
        {
            return Err(format!(
                "{off}: turned off on this deployment (STREAMSCOPE_FAULT_KNOBS=true turns the knobs {} on)",
                FAULT_KNOBS.join(", ")
            ));
        }
        let size_of = |name: &str| -> Result<Option<u64>, String> {
            q.get(name)
                .map(|v| parse_size(v).map_err(|e| format!("{name}: {e}")))
                .transpose()
        };
        let num_of = |name: &str, max: u64| -> Result<Option<u64>, String> {
            q.get(name)
                .map(|v| match v.trim().parse::<u64>() {
                    Ok(n) if n <= max => Ok(n),
                    _ => Err(format!(
                        "{name}: {v:?} is not a whole number from 0 to {max}"
                    )),
                })
                .transpose()
        };
        let flag_of = |name: &str, default: bool| -> Result<bool, String> {
            match q.get(name).map(|v| v.trim()) {
                None => Ok(default),
                Some("1" | "true") => Ok(true),
                Some("0" | "false") => Ok(false),
                Some(v) => Err(format!("{name}: {v:?} must be 0 or 1")),
            }
        };
        let size = size_of("size")?.unwrap_or(1024 * 1024);
        if size > limits.max_bytes {
            return Err(format!(
                "size: {size} bytes is over this server's {} cap",
                crate::units::fmt_size_binary(limits.max_bytes)
            ));
        }
        let chunk = size_of("chunk")?.unwrap_or(64 * 1024);
        if chunk == 0 || chunk > MAX_CHUNK {
            return Err("chunk: must be from 1 B to 16 MiB".to_string());
        }
        let rate = size_of("rate")?;
        if rate == Some(0) {
            return Err("rate: must be above 0 bytes per second".to_string());
        }
        let status_code = num_of("status", 999)?.unwrap_or(200);
        let status = match StatusCode::from_u16(status_code as u16) {
            Ok(s) if status_code >= 200 => s,
            _ => {
                return Err(format!(
                    "status: {status_code} is not a final HTTP status (200-599)"
                ));
            }
        };
        Ok(Knobs {
            size,
            chunk: chunk as usize,
            rate_bytes_per_sec: rate,
            delay_ms: num_of("delay_ms", MAX_WAIT_MS)?.unwrap_or(0),
            seed: num_of("seed", u64::MAX)?.unwrap_or(1),
            content_length: flag_of("length", true)?,
            digest: flag_of("digest", true)?,
            status,
            fail_after: size_of("fail_after")?,
            fail_at: size_of("fail_at")?,
            stall_after: size_of("stall_after")?,
            stall_ms: num_of("stall_ms", MAX_WAIT_MS)?.unwrap_or(60_000),
            lambda_error_after: size_of("lambda_error_after")?,
        })
    }
}

/// A single satisfiable byte range, or why not.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeSpec {
    Full,
    Part { start: u64, end_inclusive: u64 },
    Unsatisfiable,
}

/// Parses one `bytes=` range against `size` (RFC 9110 §14.1.2, by `http-range-header`). Several
/// ranges, other units and malformed values are ignored: the whole object answers them, which
/// RFC 9110 §14.2 allows.
pub fn parse_range(value: Option<&HeaderValue>, size: u64) -> RangeSpec {
    use http_range_header::RangeUnsatisfiableError;
    let Some(parsed) = value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| http_range_header::parse_range_header(v.trim()).ok())
        .filter(|p| p.len() == 1)
    else {
        return RangeSpec::Full;
    };
    match parsed.validate(size).as_deref() {
        Ok([r]) => RangeSpec::Part {
            start: *r.start(),
            end_inclusive: *r.end(),
        },
        Ok(_) | Err(RangeUnsatisfiableError::Unsatisfiable) => RangeSpec::Unsatisfiable,
        Err(_) => RangeSpec::Full,
    }
}

/// A non-2xx `status` knob: a small JSON body saying so.
fn synthetic_error(status: StatusCode) -> Response {
    let body = serde_json::json!({
        "message": format!("synthetic status {}", status.as_u16()),
        "status": status.as_u16(),
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The headers of every synthetic object: its type, caching, ranges, version and file name.
fn object_headers(etag: &str, size: u64, seed: u64) -> HeaderMap {
    let mut resp_headers = HeaderMap::new();
    resp_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    resp_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        resp_headers.insert(header::ETAG, v);
    }
    let filename = format!("streamscope-{size}B-seed{seed}.bin");
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        resp_headers.insert(header::CONTENT_DISPOSITION, v);
    }
    resp_headers
}

/// `Repr-Digest` of the whole object: computed off the async threads, [`DIGEST_WORKERS`] at a
/// time, checkpointed per object, and stopped when the request is dropped (its client left).
///
/// [`DIGEST_WORKERS`]: super::synthetic::DIGEST_WORKERS
async fn repr_digest(state: &AppState, seed: u64, size: u64) -> Option<HeaderValue> {
    let cache = state.digests.clone();
    // Held by the computation itself: a stopped one frees its place only once it has stopped.
    let worker = cache.workers.clone().acquire_owned().await.ok()?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let _stop_when_dropped = super::synthetic::StopOnDrop(stop.clone());
    let hashing = cache.clone();
    let digest = tokio::task::spawn_blocking(move || {
        let digest = hashing.sha256(seed, size, &stop);
        drop(worker);
        digest
    })
    .await
    .ok()??;
    HeaderValue::from_str(&format!("sha-256=:{}:", B64.encode(digest))).ok()
}

pub async fn download(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let knobs = match Knobs::parse(&q, &state.config.synthetic) {
        Ok(k) => k,
        Err(msg) => return json_error(StatusCode::BAD_REQUEST, &msg),
    };
    if knobs.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(knobs.delay_ms)).await;
    }
    if !knobs.status.is_success() {
        return synthetic_error(knobs.status);
    }
    let no_body = matches!(knobs.status.as_u16(), 204 | 205);
    let size = if no_body { 0 } else { knobs.size };
    // The bytes are a function of seed and size: that pair is the version of the object.
    let etag = format!("\"s{:x}-{size:x}\"", knobs.seed);
    let mut resp_headers = object_headers(&etag, size, knobs.seed);
    if knobs.digest {
        match repr_digest(&state, knobs.seed, size).await {
            Some(v) => {
                resp_headers.insert("repr-digest", v);
            }
            None => {
                return json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "digest computation failed",
                );
            }
        }
    }

    // If-Range: the range only for this version; another one gets the whole object (RFC 9110).
    let range = headers.get(header::RANGE).filter(|_| {
        headers
            .get(header::IF_RANGE)
            .is_none_or(|v| v.as_bytes() == etag.as_bytes())
    });
    let (status, start, len) = match parse_range(range, size) {
        RangeSpec::Full => (knobs.status, 0, size),
        RangeSpec::Part {
            start,
            end_inclusive,
        } => {
            let v = format!("bytes {start}-{end_inclusive}/{size}");
            if let Ok(v) = HeaderValue::from_str(&v) {
                resp_headers.insert(header::CONTENT_RANGE, v);
            }
            (
                StatusCode::PARTIAL_CONTENT,
                start,
                end_inclusive - start + 1,
            )
        }
        RangeSpec::Unsatisfiable => {
            let mut r = json_error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                &format!("range not satisfiable for {size} bytes"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    // The Lambda runtime's error text makes the body longer than announced, and a Lambda behind a
    // gateway streams without a length anyway.
    if knobs.content_length && knobs.lambda_error_after.is_none() && !no_body {
        resp_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    let mut knobs = knobs;
    if let Some(at) = knobs.fail_at
        && (start..start + len).contains(&at)
    {
        let rel = at - start;
        knobs.fail_after = Some(knobs.fail_after.map_or(rel, |f| f.min(rel)));
    }
    let body = if no_body {
        Body::empty()
    } else {
        Body::from_stream(synthetic_stream(knobs, start, len))
    };
    let mut resp = (status, body).into_response();
    resp.headers_mut().extend(resp_headers);
    resp
}

/// Why a synthetic stream ended with an error: hyper then aborts the connection.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InjectedFault(pub String);

struct Gen {
    knobs: Knobs,
    /// Absolute offset of the next byte in the synthetic stream.
    offset: u64,
    /// Body bytes sent so far (relative to the range start; faults count these).
    sent: u64,
    len: u64,
    started: Option<Instant>,
    stalled: bool,
    done: bool,
}

fn synthetic_stream(
    knobs: Knobs,
    start: u64,
    len: u64,
) -> impl futures_util::Stream<Item = Result<Bytes, InjectedFault>> + Send + 'static {
    let g = Gen {
        knobs,
        offset: start,
        sent: 0,
        len,
        started: None,
        stalled: false,
        done: false,
    };
    futures_util::stream::unfold(g, |mut g| async move {
        if g.done {
            return None;
        }
        let started = *g.started.get_or_insert_with(Instant::now);
        if let Some(at) = g.knobs.stall_after
            && !g.stalled
            && g.sent >= at
        {
            g.stalled = true;
            tokio::time::sleep(Duration::from_millis(g.knobs.stall_ms)).await;
        }
        if let Some(at) = g.knobs.fail_after
            && g.sent >= at
        {
            g.done = true;
            // The Router's outer layer holds this error back until the bytes before it have left.
            return Some((
                Err(InjectedFault(format!(
                    "fail_after: dropped the connection after {} bytes",
                    g.sent
                ))),
                g,
            ));
        }
        if let Some(at) = g.knobs.lambda_error_after
            && g.sent >= at
        {
            g.done = true;
            let tail = lambda_error_tail(&format!("injected stream error after {} bytes", g.sent));
            return Some((Ok(Bytes::from(tail)), g));
        }
        if g.sent >= g.len {
            return None;
        }
        // The next write stops at whichever fault point or the end comes first.
        let mut n = (g.len - g.sent).min(g.knobs.chunk as u64);
        for point in [
            g.knobs.fail_after,
            g.knobs.lambda_error_after,
            g.knobs.stall_after.filter(|_| !g.stalled),
        ]
        .into_iter()
        .flatten()
        {
            if point > g.sent {
                n = n.min(point - g.sent);
            }
        }
        if let Some(rate) = g.knobs.rate_bytes_per_sec {
            // Pace so that `sent + n` bytes are out no earlier than (sent + n) / rate after the start.
            let due = started + Duration::from_secs_f64((g.sent + n) as f64 / rate as f64);
            tokio::time::sleep_until(due).await;
        }
        let mut buf = BytesMut::zeroed(n as usize);
        synthetic::fill(g.knobs.seed, g.offset, &mut buf);
        g.offset += n;
        g.sent += n;
        Some((Ok(buf.freeze()), g))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 100), RangeSpec::Full);
        assert_eq!(
            parse_range(Some(&hv("bytes=0-9")), 100),
            RangeSpec::Part {
                start: 0,
                end_inclusive: 9
            }
        );
        assert_eq!(
            parse_range(Some(&hv("bytes=90-")), 100),
            RangeSpec::Part {
                start: 90,
                end_inclusive: 99
            }
        );
        assert_eq!(
            parse_range(Some(&hv("bytes=-10")), 100),
            RangeSpec::Part {
                start: 90,
                end_inclusive: 99
            }
        );
        assert_eq!(
            parse_range(Some(&hv("bytes=50-500")), 100),
            RangeSpec::Part {
                start: 50,
                end_inclusive: 99
            }
        );
        assert_eq!(
            parse_range(Some(&hv("bytes=100-")), 100),
            RangeSpec::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some(&hv("bytes=0-0")), 0),
            RangeSpec::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some(&hv("bytes=0-1,5-6")), 100),
            RangeSpec::Full
        );
        assert_eq!(parse_range(Some(&hv("items=0-1")), 100), RangeSpec::Full);
    }

    #[test]
    fn knobs_reject_bad_values() {
        let q = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let open = SyntheticLimits::default();
        let parse = |pairs: &[(&str, &str)]| Knobs::parse(&q(pairs), &open);
        assert!(parse(&[("size", "17GiB")]).unwrap_err().contains("16 GiB"));
        assert!(parse(&[("size", "lots")]).is_err());
        assert!(parse(&[("chunk", "0")]).is_err());
        assert!(parse(&[("status", "99")]).is_err());
        assert!(parse(&[("length", "yes")]).is_err());
        assert!(parse(&[("sise", "1")]).unwrap_err().contains("unknown"));
        let k = parse(&[("size", "16GiB"), ("rate", "2MB"), ("_", "123")]).unwrap();
        assert_eq!((k.size, k.rate_bytes_per_sec), (16 * GIB, Some(2_000_000)));
        // As deployed on Lambda by default: 1 GiB at most, no fault knobs.
        let deployed = SyntheticLimits {
            max_bytes: GIB,
            fault_knobs: false,
        };
        let parse = |pairs: &[(&str, &str)]| Knobs::parse(&q(pairs), &deployed);
        assert!(parse(&[("size", "1GiB"), ("length", "0"), ("seed", "3")]).is_ok());
        assert!(
            parse(&[("size", "2GiB")])
                .unwrap_err()
                .contains("1 GiB cap")
        );
        for knob in FAULT_KNOBS {
            let e = parse(&[(knob, "1")]).unwrap_err();
            assert!(e.contains("turned off"), "{knob}: {e}");
        }
    }
}
