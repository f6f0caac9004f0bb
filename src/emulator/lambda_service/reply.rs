//! What a function answers, as API Gateway turns it into an HTTP response: the streaming prelude
//! (metadata JSON, 8 NUL bytes, then the body) or a buffered proxy response (JSON).

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::BodyExt;
use std::collections::HashMap;

/// The header a runtime names its error type with (on `/error`, or as a trailer mid-stream).
pub const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";

/// The delimiter between the metadata prelude and the body of a streamed response.
pub const DELIMITER: [u8; 8] = [0; 8];

/// The metadata prelude of a streamed response (`lambda_runtime`'s `MetadataPrelude`, Node's
/// `HttpResponseStream.from`): status, headers (single values), multi-value headers, cookies.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Prelude {
    pub status_code: Option<u16>,
    pub headers: HashMap<String, HeaderField>,
    pub multi_value_headers: HashMap<String, Vec<String>>,
    pub cookies: Vec<String>,
}

/// `lambda_runtime` writes a header with several values as a JSON array under `headers`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(untagged)]
pub enum HeaderField {
    One(String),
    Many(Vec<String>),
}

/// Why a function's answer could not become an HTTP response.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplyError {
    #[error("the metadata prelude is not valid JSON: {0}")]
    PreludeJson(String),
    #[error("no metadata prelude and delimiter within the first {0} bytes")]
    NoPrelude(usize),
    #[error("malformed Lambda proxy response: {0}")]
    ProxyJson(String),
    #[error("invalid status code {0}")]
    Status(i64),
}

/// Looks for the prelude at the start of what the function streamed so far. `Ok(None)`: not yet
/// complete, read more. `Ok(Some((prelude, rest)))`: the prelude, and the body bytes after it.
pub fn split_prelude(buf: &[u8], max: usize) -> Result<Option<(Prelude, Bytes)>, ReplyError> {
    let Some(at) = buf.windows(DELIMITER.len()).position(|w| w == DELIMITER) else {
        return if buf.len() > max {
            Err(ReplyError::NoPrelude(max))
        } else {
            Ok(None)
        };
    };
    let prelude: Prelude =
        serde_json::from_slice(&buf[..at]).map_err(|e| ReplyError::PreludeJson(e.to_string()))?;
    Ok(Some((
        prelude,
        Bytes::copy_from_slice(&buf[at + DELIMITER.len()..]),
    )))
}

impl Prelude {
    pub fn status(&self) -> Result<StatusCode, ReplyError> {
        let code = self.status_code.unwrap_or(200);
        StatusCode::from_u16(code).map_err(|_| ReplyError::Status(code.into()))
    }

    /// The response headers: single and multi-value headers, and cookies as `Set-Cookie`.
    /// Names or values that HTTP cannot carry are dropped, as a gateway would.
    pub fn header_map(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        let mut add = |name: &str, value: &str| {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                h.append(n, v);
            }
        };
        // `multiValueHeaders` wins over `headers` for the same name (names compared as HTTP
        // compares them), as API Gateway's proxy integration reads them.
        for (name, values) in &self.multi_value_headers {
            values.iter().for_each(|v| add(name, v));
        }
        for (name, field) in &self.headers {
            if self
                .multi_value_headers
                .keys()
                .any(|m| m.eq_ignore_ascii_case(name))
            {
                continue;
            }
            match field {
                HeaderField::One(v) => add(name, v),
                HeaderField::Many(vs) => vs.iter().for_each(|v| add(name, v)),
            }
        }
        for c in &self.cookies {
            add("set-cookie", c);
        }
        h
    }
}

/// A buffered proxy response (`{statusCode, headers, multiValueHeaders, body, isBase64Encoded}`),
/// as API Gateway's Lambda proxy integration reads it.
pub fn proxy_response(payload: &[u8]) -> Result<(StatusCode, HeaderMap, Bytes), ReplyError> {
    let r: ApiGatewayProxyResponse =
        serde_json::from_slice(payload).map_err(|e| ReplyError::ProxyJson(e.to_string()))?;
    let status = u16::try_from(r.status_code)
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or(ReplyError::Status(r.status_code))?;
    // `multiValueHeaders` wins over `headers` for the same name.
    let mut headers = r.multi_value_headers.clone();
    for (name, value) in &r.headers {
        if !headers.contains_key(name) {
            headers.insert(name.clone(), value.clone());
        }
    }
    let body = match r.body {
        None => Bytes::new(),
        Some(b) if r.is_base64_encoded => {
            let text = match b {
                aws_lambda_events::encodings::Body::Text(t) => t,
                other => String::from_utf8_lossy(&other).into_owned(),
            };
            Bytes::from(
                B64.decode(text.trim())
                    .map_err(|e| ReplyError::ProxyJson(format!("body is not base64: {e}")))?,
            )
        }
        Some(b) => Bytes::copy_from_slice(&b),
    };
    Ok((status, headers, body))
}

/// The Runtime and Extensions APIs' error answer.
pub fn api_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errorType": error_type, "errorMessage": message });
    (status, axum::Json(body)).into_response()
}

pub async fn error_text(headers: &HeaderMap, body: axum::body::Body) -> String {
    let kind = headers
        .get(ERROR_TYPE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Unhandled")
        .to_string();
    let bytes = http_body_util::Limited::new(body, 1024 * 1024)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["errorMessage"].as_str().map(String::from))
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
    format!("{kind}: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The profile's `prelude_max_bytes`.
    const PRELUDE_MAX: usize = 16 * 1024;

    #[test]
    fn the_prelude_is_found_after_any_number_of_reads() {
        let mut streamed = br#"{"statusCode":206,"headers":{"content-type":"text/plain","x-two":["a","b"]},"multiValueHeaders":{"x-m":["1","2"]},"cookies":["a=1","b=2"]}"#.to_vec();
        assert_eq!(
            split_prelude(&streamed, PRELUDE_MAX),
            Ok(None),
            "no delimiter yet"
        );
        streamed.extend_from_slice(&DELIMITER);
        streamed.extend_from_slice(b"body bytes");
        let (p, rest) = split_prelude(&streamed, PRELUDE_MAX).unwrap().unwrap();
        assert_eq!(p.status().unwrap(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(&rest[..], b"body bytes");
        let h = p.header_map();
        assert_eq!(h["content-type"], "text/plain");
        assert_eq!(h.get_all("x-two").iter().count(), 2);
        assert_eq!(h.get_all("x-m").iter().count(), 2);
        assert_eq!(h.get_all("set-cookie").iter().count(), 2);
    }

    #[test]
    fn a_stream_without_a_prelude_is_refused() {
        assert_eq!(
            split_prelude(&vec![b'x'; PRELUDE_MAX + 1], PRELUDE_MAX),
            Err(ReplyError::NoPrelude(PRELUDE_MAX))
        );
        let mut bad = b"not json".to_vec();
        bad.extend_from_slice(&DELIMITER);
        assert!(matches!(
            split_prelude(&bad, PRELUDE_MAX),
            Err(ReplyError::PreludeJson(_))
        ));
    }

    #[test]
    fn proxy_responses_are_read_as_api_gateway_reads_them() {
        let (s, h, b) = proxy_response(
            br#"{"statusCode":404,"headers":{"content-type":"application/json"},"body":"{\"error\":1}"}"#,
        )
        .unwrap();
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(&b[..], br#"{"error":1}"#);
        let (_, _, b) =
            proxy_response(br#"{"statusCode":200,"body":"aGVsbG8=","isBase64Encoded":true}"#)
                .unwrap();
        assert_eq!(&b[..], b"hello");
        assert!(proxy_response(b"just text").is_err());
        assert!(proxy_response(br#"{"statusCode":99}"#).is_err());
        // The same name in both: multiValueHeaders wins.
        let (_, h, _) = proxy_response(
            br#"{"statusCode":200,"headers":{"x-a":"single","x-b":"only"},"multiValueHeaders":{"X-A":["m1","m2"]}}"#,
        )
        .unwrap();
        let a: Vec<_> = h.get_all("x-a").iter().collect();
        assert_eq!(a, ["m1", "m2"]);
        assert_eq!(h["x-b"], "only");
    }
}
