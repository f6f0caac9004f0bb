//! The API Gateway emulation, driven by the real engine over loopback, in front of the backend
//! Router twice over: in-process, and hosted as a real Lambda function (the `bootstrap` binary
//! under the local Lambda service) — the same limits must show the same way.

// Tests may unwrap (a panic is the failure) and hold long tables.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use streamscope::emulator::gateway::{GatewayMode, GatewaySettings};
use streamscope::emulator::lambda_service::FunctionSettings;
use streamscope::emulator::{self, LocalConfig};
use streamscope::probe::analysis::timeline::split_at;
use streamscope::probe::fetch::expect::LengthSource;
use streamscope::probe::fetch::outcome::OutcomeKind;
use streamscope::probe::{self, Figures, Outcome, ProbeRequest, RunResult};

const MIB: u64 = 1024 * 1024;

fn stream() -> GatewaySettings {
    GatewaySettings::with_mode(GatewayMode::Stream)
}

fn buffered() -> GatewaySettings {
    GatewaySettings::with_mode(GatewayMode::Buffered)
}

#[derive(Debug, Clone, Copy)]
enum Host {
    /// The Router in this process.
    InProcess,
    /// The Router in the real `bootstrap`, under `LambdaService`.
    Function,
}

const HOSTS: [Host; 2] = [Host::InProcess, Host::Function];

async fn fetch_on(host: Host, gw: GatewaySettings, query: &str) -> (RunResult, tempfile::TempDir) {
    let function = match host {
        Host::InProcess => None,
        Host::Function => Some(
            FunctionSettings {
                command: env!("CARGO_BIN_EXE_bootstrap").into(),
                // On Lambda the knobs are off by default; these tests use them.
                env: vec![
                    "STREAMSCOPE_FAULT_KNOBS=true".into(),
                    "STREAMSCOPE_MAX_SIZE=16GiB".into(),
                ],
                ..FunctionSettings::default()
            }
            .validate()
            .unwrap(),
        ),
    };
    let addr = emulator::spawn_local_with(LocalConfig {
        gateway: gw.validate().unwrap(),
        function,
        ..LocalConfig::default()
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
    for host in HOSTS {
        eprintln!("host: {host:?}");
        twelve_mib_fails_buffered_and_passes_streamed_on(host).await;
    }
}

async fn twelve_mib_fails_buffered_and_passes_streamed_on(host: Host) {
    let (r, _d) = fetch_on(host, buffered(), "size=12MiB").await;
    assert_eq!(r.outcome, Outcome::HttpError { status: 502 });
    assert!(r.error_preview.unwrap().contains("Internal server error"));

    // Under the gateway's 10 MB a buffered response passes; a Lambda function's buffered
    // payload stops at 6 MB first.
    let (r, _d) = fetch_on(host, buffered(), "size=9MiB&length=0").await;
    match host {
        Host::InProcess => assert_eq!(r.outcome, Outcome::Complete),
        Host::Function => assert_eq!(r.outcome, Outcome::HttpError { status: 502 }),
    }
    let (r, _d) = fetch_on(host, buffered(), "size=5MiB&length=0").await;
    match host {
        Host::InProcess => {
            assert_eq!(
                r.outcome,
                Outcome::Complete,
                "under the limits a buffered response passes"
            );
            assert_eq!(
                r.expected_length().map(|l| l.bytes),
                Some(5 * MIB),
                "the gateway sends the buffered body with a length"
            );
        }
        // The bootstrap answers in the streaming format: behind a BUFFERED method AWS passes its
        // status and headers, not its body (AWS's table). Never a complete download.
        Host::Function => {
            assert_eq!(r.response.as_ref().map(|m| m.status), Some(200));
            assert_eq!(r.bytes, 0);
            assert_ne!(r.outcome, Outcome::Complete, "{:?}", r.outcome);
        }
    }

    // Scaled: 2 MiB free, then 8 MiB/s, so 12 MiB takes ~1.25 s instead of ~1 s + 1 s.
    let gw = GatewaySettings {
        stream_bytes_per_sec: 8 * MIB,
        ..stream()
    };
    let (r, _d) = fetch_on(host, gw, "size=12MiB").await;
    assert_eq!(r.outcome, Outcome::Complete);
    assert_eq!(r.bytes, 12 * MIB);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_mode_shows_the_knee_and_the_plateau() {
    for host in HOSTS {
        eprintln!("host: {host:?}");
        stream_mode_shows_the_knee_and_the_plateau_on(host).await;
    }
}

async fn stream_mode_shows_the_knee_and_the_plateau_on(host: Host) {
    // Scaled down: 4 MiB unthrottled, then 2 MiB/s, 8 MiB in all (~2 s).
    let rate = (2 * MIB) as f64;
    let free = 4 * MIB;
    let gw = GatewaySettings {
        stream_unthrottled_bytes: free,
        stream_bytes_per_sec: 2 * MIB,
        ..stream()
    };
    let (r, _d) = fetch_on(host, gw, "size=8MiB&length=0").await;
    assert_eq!(r.outcome, Outcome::Complete);
    let tl = &r.timeline;
    // The knee is at `free`: everything up to it came at full speed (far above the throttle, even
    // on a loaded machine), and everything after it at the throttled rate.
    let fast = |at: u64| {
        let b = split_at(tl, at).before_bytes_per_sec.unwrap();
        assert!(b > 5.0 * rate, "before {at} bytes: {b} B/s, full speed");
    };
    let throttled = |at: u64| {
        let a = split_at(tl, at).after_bytes_per_sec.unwrap();
        assert!(
            (a - rate).abs() / rate < 0.10,
            "after {at} bytes: {a} B/s vs {rate}"
        );
    };
    fast(free - MIB);
    fast(free);
    throttled(free);
    throttled(free + MIB);
    // And the report's own split at 6 MiB sits on the plateau.
    let f = Figures::of(&r);
    let after = f.split_6mib.after_bytes_per_sec.unwrap();
    assert!((after - rate).abs() / rate < 0.10, "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_cut_streams_as_the_gateway_would() {
    for host in HOSTS {
        eprintln!("host: {host:?}");
        limits_cut_streams_as_the_gateway_would_on(host).await;
    }
}

async fn limits_cut_streams_as_the_gateway_would_on(host: Host) {
    // Idle timeout: the backend stalls 2 s, the gateway gives up after 0.3 s.
    let gw = GatewaySettings {
        stream_idle_timeout_s: 0.3,
        ..stream()
    };
    let (r, _d) = fetch_on(host, gw, "size=2MiB&stall_after=1MiB&stall_ms=2000").await;
    assert_eq!(r.outcome.kind(), OutcomeKind::Truncated, "{:?}", r.outcome);
    assert_eq!(r.bytes, MIB);

    // Max duration: 0.5 s of a stream that needs ~2 s.
    let gw = GatewaySettings {
        stream_unthrottled_bytes: 0,
        stream_bytes_per_sec: MIB,
        stream_max_duration_s: 0.5,
        ..stream()
    };
    let (r, _d) = fetch_on(host, gw, "size=2MiB").await;
    assert_eq!(r.outcome.kind(), OutcomeKind::Truncated, "{:?}", r.outcome);
    assert!(r.bytes < 2 * MIB && r.bytes > 0);

    // Integration timeout in buffered mode: 504.
    let gw = GatewaySettings {
        integration_timeout_ms: 300,
        ..buffered()
    };
    let (r, _d) = fetch_on(host, gw, "size=1MiB&delay_ms=1000").await;
    assert_eq!(r.outcome, Outcome::HttpError { status: 504 });

    // Lambda's payload cap.
    let gw = GatewaySettings {
        lambda_limits: true,
        lambda_max_bytes: 3 * MIB,
        lambda_unthrottled_bytes: 64 * MIB,
        ..GatewaySettings::default()
    };
    let (r, _d) = fetch_on(host, gw, "size=5MiB").await;
    assert_eq!(r.outcome.kind(), OutcomeKind::Truncated, "{:?}", r.outcome);
    assert_eq!(r.bytes, 3 * MIB);
    assert_eq!(
        r.expected_length().map(|l| l.source),
        Some(LengthSource::RemappedContentLength)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_tells_a_buffered_burst_from_a_stream() {
    for host in HOSTS {
        eprintln!("host: {host:?}");
        delivery_tells_a_buffered_burst_from_a_stream_on(host).await;
    }
}

async fn delivery_tells_a_buffered_burst_from_a_stream_on(host: Host) {
    // The backend needs ~1 s for 2 MiB; buffered, nothing arrives until all of it is there.
    let (r, _d) = fetch_on(host, buffered(), "size=2MiB&rate=2MiB").await;
    if let Host::Function = host {
        // The bootstrap streams: behind a BUFFERED method only its status and headers pass
        // (AWS's table), and the digest it announced says the body is missing.
        assert_eq!(r.bytes, 0);
        assert_eq!(
            r.outcome.kind(),
            OutcomeKind::DigestMismatch,
            "{:?}",
            r.outcome
        );
    } else {
        assert_eq!(r.outcome, Outcome::Complete);
        let f = Figures::of(&r);
        assert_eq!(f.delivery.label(), "burst", "{:?}", r.timeline.first());
        let v = probe::output::printer::summary(&r, &f, &[]);
        let line = v.line("delivery").unwrap();
        assert!(line.text.contains("one burst"), "{}", line.text);
    }
    // The same backend without the gateway streams.
    let (r, _d) = fetch_on(host, GatewaySettings::default(), "size=2MiB&rate=2MiB").await;
    let f = Figures::of(&r);
    assert_eq!(f.delivery.label(), "streamed", "{:?}", r.timeline.first());
    let v = probe::output::printer::summary(&r, &f, &[]);
    assert!(v.line("delivery").unwrap().text.starts_with("streamed"));
}

/// The built-in profile with `from` replaced by `to` (each must be in it).
fn profile_with(edits: &[(&str, &str)]) -> streamscope::emulator::profile::Profile {
    use streamscope::emulator::profile::{DEFAULT_TOML, Profile};
    let mut text = DEFAULT_TOML.to_string();
    for (from, to) in edits {
        assert!(text.contains(from), "{from}");
        text = text.replacen(from, to, 1);
    }
    Profile::parse(&text).unwrap()
}

/// A plain GET on the emulation `gw`; the response's headers and body, or the error that cut it.
async fn get_raw(
    gw: GatewaySettings,
    query: &str,
) -> (reqwest::header::HeaderMap, Result<bytes::Bytes, String>) {
    let (_, h, body) = get_status(gw, query).await;
    (h, body)
}

/// [`get_raw`] with the status.
async fn get_status(
    gw: GatewaySettings,
    query: &str,
) -> (
    u16,
    reqwest::header::HeaderMap,
    Result<bytes::Bytes, String>,
) {
    let addr = emulator::spawn_local_with(LocalConfig {
        gateway: gw.validate().unwrap(),
        ..LocalConfig::default()
    })
    .await
    .unwrap();
    let resp = reqwest::get(format!("http://{addr}/download?{query}"))
        .await
        .unwrap();
    let headers = resp.headers().clone();
    let status = resp.status().as_u16();
    (
        status,
        headers,
        resp.bytes().await.map_err(|e| format!("{e:?}")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profile_decides_what_aws_leaves_open() {
    use streamscope::emulator::profile::Profile;
    let in_stream = |p: &Profile| GatewaySettings {
        mode: GatewayMode::Stream,
        ..GatewaySettings::from_profile(p)
    };
    // The built-in profile: Content-Length remapped, API Gateway's headers added, the profile
    // named, a function that fails mid-stream cuts the connection.
    let p = Profile::aws();
    let (h, body) = get_raw(in_stream(p), "size=100KiB").await;
    assert_eq!(body.unwrap().len(), 100 * 1024);
    assert_eq!(h["x-streamscope-profile"], "aws-2026-11");
    assert_eq!(h["x-amzn-remapped-content-length"], "102400");
    assert!(h.get("content-length").is_none(), "{h:?}");
    for name in ["x-amzn-requestid", "x-amz-apigw-id", "x-amzn-trace-id"] {
        assert!(h.contains_key(name), "{name} in {h:?}");
    }
    assert!(
        h["x-amzn-trace-id"]
            .to_str()
            .unwrap()
            .starts_with("Root=1-")
    );
    let (_, body) = get_raw(in_stream(p), "size=1MiB&fail_at=300KiB").await;
    assert!(body.is_err(), "the default cuts: {body:?}");

    // Another profile: Content-Length kept, one added header, a clean end after a failure.
    let other = profile_with(&[
        ("name = \"aws-2026-11\"", "name = \"keep-clean\""),
        (
            "[content_length]\nvalue = \"remap\"",
            "[content_length]\nvalue = \"keep\"",
        ),
        (
            "[mid_stream_error]\nvalue = \"cut\"",
            "[mid_stream_error]\nvalue = \"clean_end\"",
        ),
        (
            "value = [\"x-amzn-requestid\", \"x-amz-apigw-id\", \"x-amzn-trace-id\"]",
            "value = [\"x-amzn-requestid\"]",
        ),
    ]);
    let (h, body) = get_raw(in_stream(&other), "size=100KiB").await;
    assert_eq!(body.unwrap().len(), 100 * 1024);
    assert_eq!(h["x-streamscope-profile"], "keep-clean");
    assert_eq!(h["content-length"], "102400");
    assert!(h.contains_key("x-amzn-requestid"));
    assert!(!h.contains_key("x-amz-apigw-id") && !h.contains_key("x-amzn-trace-id"));
    let (_, body) = get_raw(in_stream(&other), "size=1MiB&fail_at=300KiB&length=0").await;
    let got = body.expect("clean_end: the body just ends");
    assert!(got.len() < MIB as usize, "{} bytes", got.len());

    // Nothing emulated: nothing added.
    let (h, _) = get_raw(GatewaySettings::default(), "size=1KiB").await;
    assert!(!h.contains_key("x-streamscope-profile"));
}

#[test]
fn readme_shows_the_built_in_profile_and_a_bad_profile_is_refused_in_one_line() {
    let bin = env!("CARGO_BIN_EXE_streamscope");
    let table = std::process::Command::new(bin)
        .arg("profile")
        .output()
        .unwrap();
    assert!(table.status.success());
    let table = String::from_utf8(table.stdout).unwrap();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains(&format!(
            "<!-- profile table: the output of `streamscope profile` -->\n{table}<!-- end of profile table -->"
        )),
        "README's profile table is not `streamscope profile`'s output: paste it again"
    );
    // A profile that cannot be used: one line, exit 2, before anything is served.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("p.toml");
    std::fs::write(
        &bad,
        streamscope::emulator::profile::DEFAULT_TOML.replacen(
            "[knees]\nvalue = \"both\"\nunverified = true",
            "[knees]\nvalue = \"both\"",
            1,
        ),
    )
    .unwrap();
    for args in [
        vec!["serve", "--port", "0", "--profile", bad.to_str().unwrap()],
        vec!["profile", bad.to_str().unwrap()],
    ] {
        let o = std::process::Command::new(bin)
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("knees has no source"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    // A good one round-trips through the CLI.
    let o = std::process::Command::new(bin)
        .args(["profile", "--toml"])
        .output()
        .unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, &o.stdout).unwrap();
    let again = std::process::Command::new(bin)
        .args(["profile", good.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(again.stdout).unwrap(), table);
}

/// STREAM's TimeoutInMillis bounds the wait for the prelude (504 before any header), and the
/// profile decides whether it bounds the whole stream too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_timeout_bounds_the_prelude_and_as_the_profile_says_the_stream() {
    use streamscope::emulator::profile::Profile;
    let with = |p: &Profile| GatewaySettings {
        mode: GatewayMode::Stream,
        stream_timeout_ms: 1000,
        ..GatewaySettings::from_profile(p)
    };
    let (status, h, body) = get_status(with(Profile::aws()), "size=1KiB&delay_ms=3000").await;
    assert_eq!(status, 504, "{h:?}");
    assert!(
        String::from_utf8_lossy(&body.unwrap()).contains("Endpoint request timed out"),
        "API Gateway's message"
    );
    // Headers in time, then 3 s of body: cut under whole_stream, whole under until_headers.
    let slow = "size=3MiB&rate=1MiB&length=0";
    let (status, _, body) = get_status(with(Profile::aws()), slow).await;
    assert_eq!(status, 200);
    assert!(body.is_err(), "whole_stream cuts the stream at 1 s");
    let until_headers = profile_with(&[(
        "[stream_timeout_bounds]\nvalue = \"whole_stream\"",
        "[stream_timeout_bounds]\nvalue = \"until_headers\"",
    )]);
    let (status, _, body) = get_status(with(&until_headers), slow).await;
    assert_eq!(status, 200);
    assert_eq!(
        body.unwrap().len() as u64,
        3 * MIB,
        "until_headers lets it finish"
    );
}
