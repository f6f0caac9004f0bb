//! API Gateway REST (v1) proxy events, as a `{proxy+}` resource of a stage delivers them.

use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyRequestContext, ApiGatewayRequestIdentity,
};
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::SystemTime;

/// Who asked, as API Gateway tells the function.
pub struct Caller {
    pub source_ip: Option<SocketAddr>,
    pub request_id: String,
    pub at: SystemTime,
}

/// The event for `parts` + `body`, through stage `stage` (the URL path is the resource path: the
/// emulated API is mounted at the root of `serve`, so `/download` is `/{stage}/download` on AWS).
pub fn rest_event(parts: &Parts, body: &Bytes, stage: &str, caller: &Caller) -> Bytes {
    let path = parts.uri.path().to_string();
    let (resource, path_parameters) = if path == "/" {
        ("/".to_string(), HashMap::new())
    } else {
        (
            "/{proxy+}".to_string(),
            HashMap::from([(
                "proxy".to_string(),
                path.trim_start_matches('/').to_string(),
            )]),
        )
    };
    let query = query_values(parts.uri.query());
    let last_values: HashMap<String, Vec<String>> = query
        .iter()
        .filter_map(|(k, vs)| vs.last().map(|v| (k.clone(), vec![v.clone()])))
        .collect();
    let (body, is_base64_encoded) = if body.is_empty() {
        (None, false)
    } else {
        match std::str::from_utf8(body) {
            Ok(text) => (Some(text.to_string()), false),
            Err(_) => (Some(B64.encode(body)), true),
        }
    };
    let ctx = request_context(parts, stage, caller, &resource, &path);
    let mut event = ApiGatewayProxyRequest::default();
    event.resource = Some(resource);
    event.path = Some(path);
    event.http_method = parts.method.clone();
    let headers = forwarded_headers(parts, caller);
    event.headers = headers.clone();
    event.multi_value_headers = headers;
    event.query_string_parameters = last_values.into();
    event.multi_value_query_string_parameters = query.into();
    event.path_parameters = path_parameters;
    event.request_context = ctx;
    event.body = body;
    event.is_base64_encoded = is_base64_encoded;
    // Serializing a struct of strings and maps cannot fail.
    Bytes::from(serde_json::to_vec(&event).unwrap_or_default())
}

/// The request's headers as API Gateway hands them on: with `X-Forwarded-For` (the caller's
/// address appended), `X-Forwarded-Proto`, `X-Forwarded-Port` (the public endpoint is HTTPS on
/// 443) and `X-Amzn-Trace-Id` added.
fn forwarded_headers(parts: &Parts, caller: &Caller) -> axum::http::HeaderMap {
    use axum::http::HeaderValue;
    let mut h = parts.headers.clone();
    if let Some(ip) = caller.source_ip.map(|a| a.ip().to_string()) {
        let chain = match h.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(before) => format!("{before}, {ip}"),
            None => ip,
        };
        if let Ok(v) = HeaderValue::from_str(&chain) {
            h.insert("x-forwarded-for", v);
        }
    }
    h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
    h.insert("x-forwarded-port", HeaderValue::from_static("443"));
    if let Ok(v) = HeaderValue::from_str(&super::state::trace_id(&caller.request_id)) {
        h.insert("x-amzn-trace-id", v);
    }
    h
}

/// `29/Nov/2026:12:00:00 +0000`, as `requestContext.requestTime` has it.
fn clf_time(t: SystemTime) -> String {
    const FORMAT: &[time::format_description::FormatItem<'_>] = time::macros::format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
    );
    time::OffsetDateTime::from(t)
        .format(FORMAT)
        .unwrap_or_default()
}

/// The query string's values by name, in order (the multi-value parameters).
fn query_values(query: Option<&str>) -> HashMap<String, Vec<String>> {
    let mut values: HashMap<String, Vec<String>> = HashMap::new();
    if let Some(q) = query
        && let Ok(u) = reqwest::Url::parse(&format!("http://local/?{q}"))
    {
        for (k, v) in u.query_pairs() {
            values
                .entry(k.into_owned())
                .or_default()
                .push(v.into_owned());
        }
    }
    values
}

/// `requestContext`: who called, through which stage and resource, when.
fn request_context(
    parts: &Parts,
    stage: &str,
    caller: &Caller,
    resource: &str,
    path: &str,
) -> ApiGatewayProxyRequestContext {
    let millis = caller
        .at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64;
    let user_agent = parts
        .headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let host = parts
        .headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    // The event types are non-exhaustive: filled in field by field.
    let mut identity = ApiGatewayRequestIdentity::default();
    identity.source_ip = caller.source_ip.map(|a| a.ip().to_string());
    identity.user_agent = user_agent;
    // A method that takes an API key names it (and the key's id) in the identity.
    identity.api_key = parts
        .headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    // An AWS_IAM method names the access key that signed the request.
    identity.access_key = parts
        .extensions
        .get::<crate::emulator::gateway::IamCaller>()
        .map(|c| c.access_key.clone());
    identity.api_key_id = identity
        .api_key
        .as_ref()
        .map(|_| "local-api-key".to_string());
    let mut ctx = ApiGatewayProxyRequestContext::default();
    ctx.account_id = Some("123456789012".into());
    ctx.resource_id = Some("streamscope".into());
    ctx.stage = Some(stage.to_string());
    ctx.domain_prefix = host
        .as_deref()
        .map(|h| h.split(['.', ':']).next().unwrap_or("").to_string());
    ctx.domain_name = host;
    ctx.request_id = Some(caller.request_id.clone());
    ctx.protocol = Some(format!("{:?}", parts.version));
    ctx.identity = identity;
    ctx.resource_path = Some(resource.to_string());
    ctx.path = Some(format!("/{stage}{path}"));
    ctx.http_method = parts.method.clone();
    ctx.request_time = Some(clf_time(caller.at));
    ctx.request_time_epoch = millis;
    ctx.apiid = Some("local".into());
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_request_becomes_a_rest_proxy_event() {
        let (parts, _) = axum::http::Request::builder()
            .uri("/download?size=5MiB&a=1&a=2")
            .header("range", "bytes=0-9")
            .header("x-multi", "one")
            .header("x-multi", "two")
            .header("host", "127.0.0.1:8080")
            .body(())
            .unwrap()
            .into_parts();
        let (keyed, _) = axum::http::Request::builder()
            .uri("/x")
            .header("x-api-key", "k-1")
            .header("x-forwarded-for", "10.0.0.9")
            .body(())
            .unwrap()
            .into_parts();
        let caller = Caller {
            source_ip: Some("127.0.0.1:5555".parse().unwrap()),
            request_id: "rid-1".into(),
            at: SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_764_000_000_123),
        };
        let k: serde_json::Value =
            serde_json::from_slice(&rest_event(&keyed, &Bytes::new(), "prod", &caller)).unwrap();
        assert_eq!(k["requestContext"]["identity"]["apiKey"], "k-1");
        assert_eq!(k["requestContext"]["identity"]["apiKeyId"], "local-api-key");
        assert_eq!(k["headers"]["x-forwarded-for"], "10.0.0.9, 127.0.0.1");
        let e: serde_json::Value =
            serde_json::from_slice(&rest_event(&parts, &Bytes::new(), "prod", &caller)).unwrap();
        assert_eq!(e["resource"], "/{proxy+}");
        assert_eq!(e["path"], "/download");
        assert_eq!(e["httpMethod"], "GET");
        assert_eq!(e["pathParameters"]["proxy"], "download");
        assert_eq!(
            e["queryStringParameters"]["a"], "2",
            "the last value, as REST v1 has it"
        );
        assert_eq!(e["multiValueQueryStringParameters"]["a"][1], "2");
        assert_eq!(e["headers"]["range"], "bytes=0-9");
        assert_eq!(e["multiValueHeaders"]["x-multi"][1], "two");
        assert_eq!(e["requestContext"]["stage"], "prod");
        assert_eq!(e["requestContext"]["path"], "/prod/download");
        assert_eq!(e["requestContext"]["requestId"], "rid-1");
        assert_eq!(e["requestContext"]["identity"]["sourceIp"], "127.0.0.1");
        assert_eq!(
            e["requestContext"]["requestTimeEpoch"],
            1_764_000_000_123i64
        );
        assert_eq!(
            e["requestContext"]["requestTime"],
            "24/Nov/2025:16:00:00 +0000"
        );
        assert!(e["body"].is_null());
        // What API Gateway adds on the way.
        assert_eq!(e["headers"]["x-forwarded-for"], "127.0.0.1");
        assert_eq!(e["headers"]["x-forwarded-proto"], "https");
        assert_eq!(e["headers"]["x-forwarded-port"], "443");
        assert!(
            e["headers"]["x-amzn-trace-id"]
                .as_str()
                .unwrap()
                .starts_with("Root=1-"),
            "{e}"
        );
        assert!(e["requestContext"]["identity"]["apiKey"].is_null());
        // What our own bootstrap's lambda_http reads it as.
        let req: aws_lambda_events::apigw::ApiGatewayProxyRequest =
            serde_json::from_value(e).unwrap();
        assert_eq!(req.path.as_deref(), Some("/download"));
    }
}
