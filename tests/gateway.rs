//! The API Gateway emulation, driven by the real engine over loopback.

use std::time::Duration;
use streamscope::backend::gateway::{GatewayConfig, GatewayMode};
use streamscope::backend::{self, BackendConfig};
use streamscope::probe::{self, Outcome, ProbeRequest};

const MIB: u64 = 1024 * 1024;

async fn fetch(gw: GatewayConfig, query: &str) -> (probe::Report, tempfile::TempDir) {
    let addr = backend::spawn_local_with(BackendConfig {
        gateway: gw,
        ..BackendConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let req = ProbeRequest::new(
        format!("http://{addr}/download?{query}"),
        dir.path().join("g.bin"),
    );
    (probe::run_to_end(&req).await.unwrap(), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_mib_fails_buffered_and_passes_streamed() {
    let (r, _d) = fetch(
        GatewayConfig::with_mode(GatewayMode::Buffered),
        "size=12MiB",
    )
    .await;
    assert!(
        matches!(r.outcome_value, Outcome::HttpError { status: 502, .. }),
        "{:?}",
        r.outcome_value
    );
    assert!(
        r.http_error_body_preview
            .unwrap()
            .contains("Internal server error")
    );

    let (r, _d) = fetch(
        GatewayConfig::with_mode(GatewayMode::Buffered),
        "size=9MiB&length=0",
    )
    .await;
    assert_eq!(
        r.outcome_value,
        Outcome::Complete,
        "under the limit a buffered response passes"
    );
    assert_eq!(
        r.expected_bytes,
        Some(9 * MIB),
        "the gateway sends the buffered body with a length"
    );

    // Scaled: 2 MiB free, then 8 MiB/s, so 12 MiB takes ~1.25 s instead of ~1 s + 1 s.
    let gw = GatewayConfig {
        stream_bytes_per_sec: 8 * MIB,
        ..GatewayConfig::with_mode(GatewayMode::Stream)
    };
    let (r, _d) = fetch(gw, "size=12MiB").await;
    assert_eq!(r.outcome_value, Outcome::Complete);
    assert_eq!(r.bytes, 12 * MIB);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_mode_shows_the_knee_and_the_plateau() {
    // Scaled down: 4 MiB unthrottled, then 2 MiB/s, 8 MiB in all (~2 s).
    let rate = 2 * MIB;
    let free = 4 * MIB;
    let gw = GatewayConfig {
        stream_unthrottled_bytes: free,
        stream_bytes_per_sec: rate,
        ..GatewayConfig::with_mode(GatewayMode::Stream)
    };
    let (r, _d) = fetch(gw, "size=8MiB&length=0").await;
    assert_eq!(r.outcome_value, Outcome::Complete);
    let tl = &r.timeline;
    // The knee: the first arrival after which the gaps become throttle-sized.
    let mut cum = 0u64;
    let mut cum_at = Vec::with_capacity(tl.len());
    for a in tl {
        cum += a.bytes as u64;
        cum_at.push(cum);
    }
    let knee = tl
        .windows(2)
        .position(|w| w[1].t_offset_ns - w[0].t_offset_ns > 5_000_000)
        .expect("a throttled stretch follows the free bytes");
    let before_knee = cum_at[knee];
    let arrival = tl[knee + 1].bytes as u64;
    assert!(
        before_knee.abs_diff(free) <= arrival.max(tl[knee].bytes as u64),
        "knee at {before_knee} bytes, within one arrival of {free}"
    );
    // The plateau: bytes after the knee over the time they took.
    let after = cum - before_knee;
    let secs = (tl.last().unwrap().t_offset_ns - tl[knee].t_offset_ns) as f64 / 1e9;
    let plateau = after as f64 / secs;
    assert!(
        (plateau - rate as f64).abs() / (rate as f64) < 0.10,
        "plateau {plateau} B/s vs {rate}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_cut_streams_as_the_gateway_would() {
    // Idle timeout: the backend stalls 2 s, the gateway gives up after 0.3 s.
    let gw = GatewayConfig {
        stream_idle_timeout: Duration::from_millis(300),
        ..GatewayConfig::with_mode(GatewayMode::Stream)
    };
    let (r, _d) = fetch(gw, "size=2MiB&stall_after=1MiB&stall_ms=2000").await;
    assert!(
        matches!(r.outcome_value, Outcome::Truncated { .. }),
        "{:?}",
        r.outcome_value
    );
    assert_eq!(r.bytes, MIB);

    // Max duration: 0.5 s of a stream that needs ~2 s.
    let gw = GatewayConfig {
        stream_unthrottled_bytes: 0,
        stream_bytes_per_sec: MIB,
        stream_max_duration: Duration::from_millis(500),
        ..GatewayConfig::with_mode(GatewayMode::Stream)
    };
    let (r, _d) = fetch(gw, "size=2MiB").await;
    assert!(
        matches!(r.outcome_value, Outcome::Truncated { .. }),
        "{:?}",
        r.outcome_value
    );
    assert!(r.bytes < 2 * MIB && r.bytes > 0);

    // Integration timeout in buffered mode: 504.
    let gw = GatewayConfig {
        integration_timeout: Duration::from_millis(300),
        ..GatewayConfig::with_mode(GatewayMode::Buffered)
    };
    let (r, _d) = fetch(gw, "size=1MiB&delay_ms=1000").await;
    assert!(
        matches!(r.outcome_value, Outcome::HttpError { status: 504, .. }),
        "{:?}",
        r.outcome_value
    );

    // Lambda's payload cap.
    let gw = GatewayConfig {
        lambda_limits: true,
        lambda_max_bytes: 3 * MIB,
        lambda_unthrottled_bytes: 64 * MIB,
        ..GatewayConfig::default()
    };
    let (r, _d) = fetch(gw, "size=5MiB").await;
    assert!(
        matches!(r.outcome_value, Outcome::Truncated { .. }),
        "{:?}",
        r.outcome_value
    );
    assert_eq!(r.bytes, 3 * MIB);
    assert_eq!(
        r.expected_bytes_source,
        Some("x-amzn-remapped-content-length")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_tells_a_buffered_burst_from_a_stream() {
    // The backend needs ~1 s for 2 MiB; buffered, nothing arrives until all of it is there.
    let (r, _d) = fetch(
        GatewayConfig::with_mode(GatewayMode::Buffered),
        "size=2MiB&rate=2MiB",
    )
    .await;
    assert_eq!(r.outcome_value, Outcome::Complete);
    assert_eq!(
        r.delivery.label(),
        "burst",
        "first byte at {:?} ms of {} ms",
        r.first_byte_ms,
        r.duration_ms
    );
    let v = streamscope::probe::verdict::verdict(&r);
    assert!(
        v.lines
            .iter()
            .any(|l| l.label == "streaming" && l.text.contains("one burst"))
    );
    // The same backend without the gateway streams.
    let (r, _d) = fetch(GatewayConfig::default(), "size=2MiB&rate=2MiB").await;
    assert_eq!(
        r.delivery.label(),
        "streamed",
        "first byte at {:?} ms of {} ms",
        r.first_byte_ms,
        r.duration_ms
    );
    let v = streamscope::probe::verdict::verdict(&r);
    assert!(
        v.lines
            .iter()
            .any(|l| l.label == "streaming" && l.text.starts_with("streamed"))
    );
}
