//! Every route of the Router through tower's `oneshot` (no socket), and the relay against real
//! upstream servers on 127.0.0.1.

// Tests may unwrap (a panic is the failure) and hold long tables.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use streamscope::backend::{self, BackendConfig, BackendSettings, router, router_with};
use streamscope::emulator::{self, LocalSettings};
use tower::ServiceExt;

async fn get(
    app: axum::Router,
    uri: &str,
    range: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::get(uri);
    if let Some(r) = range {
        req = req.header(header::RANGE, r);
    }
    let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes().to_vec())
        .unwrap_or_default();
    (parts.status, parts.headers, bytes)
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).expect("a JSON body")
}

#[tokio::test]
async fn index_healthz_and_fallback() {
    let (s, h, b) = get(router(), "/", None).await;
    assert_eq!(s, 200);
    assert_eq!(h[header::CONTENT_TYPE], "application/json");
    let v = json(&b);
    // The deployed Router knows nothing of an emulation; `serve` names its mode.
    assert!(v.get("gateway_emulation").is_none(), "{v}");
    let local = emulator::router(LocalSettings::default().build().await.unwrap());
    let (_, _, local) = get(local, "/", None).await;
    assert_eq!(json(&local)["gateway_emulation"], "off");
    for route in [
        "GET /download",
        "GET /s3/{key}",
        "GET /relay",
        "GET /healthz",
    ] {
        assert!(v["routes"][route].is_string(), "{route} described");
    }
    let (s, _, b) = get(router(), "/healthz", None).await;
    assert_eq!((s, b.as_slice()), (StatusCode::OK, b"ok\n".as_slice()));
    let (s, _, b) = get(router(), "/nope", None).await;
    assert_eq!(s, 404);
    assert!(json(&b)["error"].is_string());
}

#[tokio::test]
async fn download_serves_bytes_digest_ranges_and_errors() {
    let (s, h, b) = get(router(), "/download?size=100000&seed=9", None).await;
    assert_eq!(s, 200);
    assert_eq!(h[header::CONTENT_LENGTH], "100000");
    let mut want = vec![0u8; 100_000];
    backend::synthetic::fill(9, 0, &mut want);
    assert_eq!(b, want);
    use base64::Engine;
    use sha2::Digest;
    let digest = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&want));
    assert_eq!(h["repr-digest"], format!("sha-256=:{digest}:").as_str());
    let (s, h, b) = get(
        router(),
        "/download?size=100000&seed=9",
        Some("bytes=99990-"),
    )
    .await;
    assert_eq!(
        (s, h[header::CONTENT_RANGE].to_str().unwrap()),
        (StatusCode::PARTIAL_CONTENT, "bytes 99990-99999/100000")
    );
    assert_eq!(b, want[99_990..]);
    let (s, _, _) = get(router(), "/download?size=10", Some("bytes=10-")).await;
    assert_eq!(s, 416);
    let (s, h, _) = get(router(), "/download?size=10&length=0&digest=0", None).await;
    assert_eq!(s, 200);
    assert!(h.get(header::CONTENT_LENGTH).is_none() && h.get("repr-digest").is_none());
    for bad in [
        "size=1TB",
        "chunk=0",
        "rate=0",
        "status=42",
        "seed=-1",
        "length=2",
        "bogus=1",
    ] {
        let (s, _, b) = get(router(), &format!("/download?{bad}"), None).await;
        assert_eq!(s, 400, "{bad}");
        assert!(json(&b)["error"].is_string(), "{bad}");
    }
    let (s, _, b) = get(router(), "/download?status=503", None).await;
    assert_eq!(s, 503);
    assert_eq!(json(&b)["status"], 503);
}

#[tokio::test]
async fn unconfigured_sources_say_how_to_configure_them() {
    let (s, _, b) = get(router(), "/s3/some/key.bin", None).await;
    assert_eq!(s, 404);
    assert!(
        json(&b)["error"]
            .as_str()
            .unwrap()
            .contains("STREAMSCOPE_BUCKET")
    );
    let (s, _, b) = get(router(), "/relay", None).await;
    assert_eq!(s, 404);
    assert!(
        json(&b)["error"]
            .as_str()
            .unwrap()
            .contains("STREAMSCOPE_UPSTREAM_URL")
    );
}

async fn relay_to(url: &str) -> BackendConfig {
    BackendSettings {
        upstream_url: Some(url.to_string()),
        ..BackendSettings::default()
    }
    .build()
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_streams_the_configured_upstream_only() {
    let upstream = emulator::spawn_local().await.unwrap();
    let url = format!("http://{upstream}/download?size=3MiB&seed=4&length=0");
    let config = relay_to(&url).await;
    let (s, h, b) = get(router_with(config.clone()), "/relay", None).await;
    assert_eq!(s, 200);
    let mut want = vec![0u8; 3 * 1024 * 1024];
    backend::synthetic::fill(4, 0, &mut want);
    assert_eq!(b.len(), want.len());
    assert!(b == want, "relayed bytes are the upstream's");
    assert!(
        h.get("repr-digest").is_some(),
        "the upstream's digest is passed through"
    );
    // Range goes through.
    let (s, h, b) = get(router_with(config.clone()), "/relay", Some("bytes=0-9")).await;
    assert_eq!(
        (s, b.as_slice()),
        (StatusCode::PARTIAL_CONTENT, &want[..10])
    );
    assert!(
        h[header::CONTENT_RANGE]
            .to_str()
            .unwrap()
            .starts_with("bytes 0-9/")
    );
    // The request cannot choose another target: query strings are ignored.
    let (_, _, b2) = get(router_with(config), "/relay?url=http://127.0.0.1:1/", None).await;
    assert_eq!(b2.len(), want.len());

    // An upstream we did not write.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"hello from python").unwrap();
    let py = common::python_http_server(dir.path());
    let config = relay_to(&format!("{}/f.txt", py.base)).await;
    let (s, h, b) = get(router_with(config.clone()), "/relay", None).await;
    assert_eq!(
        (s, b.as_slice()),
        (StatusCode::OK, b"hello from python".as_slice())
    );
    assert_eq!(h[header::CONTENT_LENGTH], "17");
    // An upstream that is down: 502 with a JSON body.
    let down = common::refused_port();
    let config = relay_to(&format!("http://127.0.0.1:{}/", down.port)).await;
    let (s, _, b) = get(router_with(config), "/relay", None).await;
    assert_eq!(s, 502);
    assert!(json(&b)["error"].as_str().unwrap().contains("upstream"));
}

#[tokio::test]
async fn gateway_emulation_is_reported_on_the_index() {
    use streamscope::emulator::gateway::{GatewayMode, GatewaySettings};
    let config = LocalSettings {
        gateway: GatewaySettings::with_mode(GatewayMode::Buffered),
        ..LocalSettings::default()
    }
    .build()
    .await
    .unwrap();
    let (_, _, b) = get(emulator::router(config), "/", None).await;
    assert_eq!(json(&b)["gateway_emulation"], "buffered");
}
