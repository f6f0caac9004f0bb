//! `GET /relay`: streams one upstream URL fixed by configuration (never one taken from the request:
//! that would be an open proxy), as the article's Node.js and Python examples relay a public S3 URL.

use super::{AppState, json_error};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Response headers passed through from the upstream.
const PASS: &[&str] = &[
    "content-type",
    "content-length",
    "content-range",
    "content-disposition",
    "accept-ranges",
    "etag",
    "last-modified",
    "repr-digest",
    "x-amz-checksum-sha256",
    "x-amz-checksum-type",
];

pub async fn relay(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(url) = state.config.upstream_url.clone() else {
        return json_error(
            StatusCode::NOT_FOUND,
            "the relay is not configured: set STREAMSCOPE_UPSTREAM_URL (or serve --upstream-url)",
        );
    };
    let mut req = state.http.get(url);
    // A range, of one version of the object (If-Range), is the upstream's to answer.
    for name in [header::RANGE, header::IF_RANGE] {
        if let Some(v) = headers.get(&name) {
            req = req.header(name, v.clone());
        }
    }
    let up = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            return json_error(
                StatusCode::BAD_GATEWAY,
                &format!("upstream request failed: {e}"),
            );
        }
    };
    let status = StatusCode::from_u16(up.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out = HeaderMap::new();
    for name in PASS {
        if let Some(v) = up.headers().get(*name)
            && let Ok(v) = HeaderValue::from_bytes(v.as_bytes())
        {
            out.insert(HeaderName::from_static(name), v);
        }
    }
    // An upstream error mid-body becomes a body error, so the client sees a truncation.
    let mut resp = (status, Body::from_stream(up.bytes_stream())).into_response();
    resp.headers_mut().extend(out);
    resp
}
