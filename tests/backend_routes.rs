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

/// CPU seconds (user + system) the process has used, from /proc/PID/stat.
fn cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command (which may hold spaces) start after the last ')'.
    let rest: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: f64 = rest[11].parse::<f64>().unwrap() + rest[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Whether the peer closed `s` (EOF or reset) within `limit`.
fn closed_within(s: &mut std::net::TcpStream, limit: std::time::Duration) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn serve_sheds_slow_and_silent_clients_and_stops_digests_nobody_waits_for() {
    use std::io::Write;
    use std::time::{Duration, Instant};
    // Scaled: one second for the head instead of thirty.
    let server = common::serve(&["--header-timeout", "1"]);
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut silent: Vec<std::net::TcpStream> = (0..100)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    let mut slow: Vec<std::net::TcpStream> = (0..100)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /download?size=10 HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect();
    // Kept alive after one answered request, then idle.
    let mut idle = std::net::TcpStream::connect(&addr).unwrap();
    idle.write_all(b"GET /download?size=10 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // Each is closed by the server (well within 60 s on a loaded machine; 1 s is the setting).
    for s in silent.iter_mut().chain(slow.iter_mut()) {
        assert!(
            closed_within(s, Duration::from_secs(60)),
            "a slow client was shed"
        );
    }
    assert!(
        closed_within(&mut idle, Duration::from_secs(60)),
        "an idle keep-alive connection was closed"
    );
    // Serving goes on.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ok.bin");
    let o = common::get(&[
        &format!("{}/download?size=1000", server.base),
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));

    // Eight clients ask for 16 GiB objects (each needs its digest before the headers: ~10 s of
    // one core each) and leave at once. The server stops hashing for them: its CPU time stops
    // growing long before the 80+ CPU-seconds the whole digests would take.
    let pid = server.child.id();
    let before = cpu_s(pid);
    let clients: Vec<std::net::TcpStream> = (0..8)
        .map(|seed| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            write!(
                s,
                "GET /download?size=16GiB&seed={} HTTP/1.1\r\nHost: x\r\n\r\n",
                1000 + seed
            )
            .unwrap();
            s
        })
        .collect();
    // Hashing has started (a second of CPU), then every client leaves.
    let started = Instant::now() + Duration::from_secs(60);
    while cpu_s(pid) - before < 1.0 {
        assert!(Instant::now() < started, "the digests never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(clients);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = cpu_s(pid);
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = cpu_s(pid);
        if now - last < 0.05 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server kept hashing: {:.1} CPU-s",
            now - before
        );
        last = now;
    }
    let used = cpu_s(pid) - before;
    assert!(
        used < 20.0,
        "{used:.1} CPU-s spent on digests nobody waited for"
    );
    eprintln!("digests for 8 departed clients: {used:.2} CPU-s");
}
