//! `GET /s3/{key}`: streams an S3 object as it arrives from GetObject (no buffering), with the
//! object's full-object SHA-256 as `Repr-Digest`, Content-Length, Range passed through.

use super::{AppState, json_error};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::types::{ChecksumMode, ChecksumType};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// Where objects come from: a bucket, and the only prefix keys may name.
#[derive(Clone, Debug)]
pub struct S3Source {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
    /// Prepended to every key; requests cannot escape it.
    pub prefix: String,
}

/// Connection settings as the user gives them (env or flags).
#[derive(Clone, Debug, Default)]
pub struct S3Settings {
    pub bucket: String,
    pub prefix: String,
    /// A custom endpoint (moto, MinIO, LocalStack): path-style addressing is used with it.
    pub endpoint: Option<String>,
    pub region: Option<String>,
}

impl S3Source {
    /// A client from the default AWS configuration chain (env, profile, instance role), pointed at
    /// `settings.endpoint` with path-style addressing when one is given.
    pub async fn from_settings(settings: S3Settings) -> S3Source {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(r) = &settings.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        let shared = loader.load().await;
        let mut conf = aws_sdk_s3::config::Builder::from(&shared);
        if let Some(ep) = &settings.endpoint {
            conf = conf.endpoint_url(ep).force_path_style(true);
        }
        S3Source {
            client: aws_sdk_s3::Client::from_conf(conf.build()),
            bucket: settings.bucket,
            prefix: settings.prefix,
        }
    }
}

/// Checks a requested key: no empty, `.` or `..` segments, no backslashes or control characters,
/// at most 1024 bytes. Returns the full key under the prefix.
fn full_key(prefix: &str, key: &str) -> Result<String, String> {
    if key.is_empty() {
        return Err("empty key".into());
    }
    if key.len() > 1024 {
        return Err("key longer than 1024 bytes".into());
    }
    if key.chars().any(|c| c.is_control() || c == '\\') {
        return Err("key has control characters or backslashes".into());
    }
    if key
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err("key has an empty, '.' or '..' segment".into());
    }
    Ok(format!("{prefix}{key}"))
}

pub async fn object(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(s3) = state.config.s3.as_ref() else {
        return json_error(
            StatusCode::NOT_FOUND,
            "the S3 source is not configured: set STREAMSCOPE_BUCKET (or serve --s3-bucket)",
        );
    };
    let full = match full_key(&s3.prefix, &key) {
        Ok(k) => k,
        Err(why) => return json_error(StatusCode::BAD_REQUEST, &format!("key not allowed: {why}")),
    };
    let mut req = s3
        .client
        .get_object()
        .bucket(&s3.bucket)
        .key(&full)
        .checksum_mode(ChecksumMode::Enabled);
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(r) = &range {
        req = req.range(r);
    }
    let out = match req.send().await {
        Ok(out) => out,
        Err(SdkError::ServiceError(e)) if e.err().is_no_such_key() => {
            return json_error(StatusCode::NOT_FOUND, &format!("no object {key:?}"));
        }
        Err(e) => return get_object_error(&key, &e),
    };
    let resp_headers = response_headers(&out);
    let status = if out.content_range().is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let body = futures_util::stream::unfold(out.body, |mut body| async move {
        // A read error mid-object becomes a body error: hyper aborts the connection and the client
        // sees a truncation, never a clean end.
        body.next()
            .await
            .map(|r| (r.map_err(std::io::Error::other), body))
    });
    let mut resp = (status, Body::from_stream(body)).into_response();
    resp.headers_mut().extend(resp_headers);
    resp
}

/// S3's refusal as the HTTP answer a client of the backend understands.
fn get_object_error(key: &str, e: &SdkError<GetObjectError, HttpResponse>) -> Response {
    let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(502);
    let code = e.code().unwrap_or("").to_string();
    let (status, msg) = match status {
        404 => (StatusCode::NOT_FOUND, format!("no object {key:?}")),
        416 => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range not satisfiable".to_string(),
        ),
        403 => (
            StatusCode::FORBIDDEN,
            "access to the object denied".to_string(),
        ),
        _ => (
            StatusCode::BAD_GATEWAY,
            format!("S3 GetObject failed: {code} {e}"),
        ),
    };
    json_error(status, &msg)
}

/// The object's headers as the backend passes them on: type, length, range, version, and its
/// SHA-256 as `Repr-Digest` when S3 has a full-object checksum.
fn response_headers(out: &GetObjectOutput) -> HeaderMap {
    let mut resp_headers = HeaderMap::new();
    let mut put = |name: header::HeaderName, value: Option<String>| {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            resp_headers.insert(name, v);
        }
    };
    put(
        header::CONTENT_TYPE,
        Some(
            out.content_type()
                .unwrap_or("application/octet-stream")
                .to_string(),
        ),
    );
    put(
        header::CONTENT_LENGTH,
        out.content_length().map(|n| n.to_string()),
    );
    put(
        header::CONTENT_RANGE,
        out.content_range().map(str::to_string),
    );
    put(header::ETAG, out.e_tag().map(str::to_string));
    put(header::ACCEPT_RANGES, Some("bytes".to_string()));
    put(
        header::LAST_MODIFIED,
        out.last_modified()
            .and_then(|t| t.fmt(aws_sdk_s3::primitives::DateTimeFormat::HttpDate).ok()),
    );
    // Only a full-object checksum describes the whole representation; composite (multipart)
    // values look like `<b64>-<parts>` and are not a digest of the bytes.
    let composite = out.checksum_type() == Some(&ChecksumType::Composite);
    if let Some(sum) = out.checksum_sha256().filter(|_| !composite)
        && let Ok(raw) = B64.decode(sum)
        && raw.len() == 32
    {
        put(
            header::HeaderName::from_static("repr-digest"),
            Some(format!("sha-256=:{sum}:")),
        );
        put(
            header::HeaderName::from_static("x-amz-checksum-sha256"),
            Some(sum.to_string()),
        );
    }
    resp_headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_prefix() {
        assert_eq!(full_key("public/", "a/b.bin").unwrap(), "public/a/b.bin");
        for bad in [
            "",
            "../secret",
            "a/../../b",
            "a//b",
            "./a",
            "a/.",
            "a\\b",
            "a\nb",
            "/a",
        ] {
            assert!(full_key("public/", bad).is_err(), "{bad:?} must be refused");
        }
    }
}
