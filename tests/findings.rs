//! Every run-time finding, produced by its signature on the local backend and the gateway
//! emulation, and every demo preset and healthy configuration quiet. Where a limit is minutes long
//! (the 29 s default timeout, 15 min, 30 s / 5 min idle, Lambda's 3 s and 200 MB), the emulation is
//! scaled and the rules are given the same scaled limits.

// Tests may unwrap (a panic is the failure) and hold long tables.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;
use common::*;
use streamscope::emulator::gateway::{GatewayMode, GatewaySettings};
use streamscope::emulator::lambda_service::FunctionSettings;
use streamscope::emulator::{self, LocalConfig};
use streamscope::probe::analysis::findings::{self, Finding, Limits, Severity};
use streamscope::probe::{self, Figures, ProbeRequest};

const MIB: u64 = 1024 * 1024;

/// The CLI's report for `url`: its findings (computed with AWS's limits, as a user gets them).
fn cli_findings(url: &str, extra: &[&str]) -> (serde_json::Value, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bin");
    let json = dir.path().join("r.json");
    let (o, r) = get_report(url, &out, &json, extra);
    let printed = String::from_utf8_lossy(&o.stdout).into_owned();
    let fs = r["findings"].as_array().unwrap().clone();
    for f in &fs {
        assert!(
            printed.contains(f["id"].as_str().unwrap()),
            "the summary prints every finding: {printed}"
        );
    }
    (r, fs)
}

/// Exactly one finding at error or warning level, `id`; returns it.
fn the_one<'a>(fs: &'a [serde_json::Value], id: &str) -> &'a serde_json::Value {
    let loud: Vec<&str> = fs
        .iter()
        .filter(|f| f["severity"] != "info")
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    let found = fs
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("{id} not found in {fs:?}"));
    if found["severity"] != "info" {
        assert_eq!(loud, vec![id], "only {id} at error or warning level");
    } else {
        assert!(loud.is_empty(), "no error or warning beside {id}: {loud:?}");
    }
    for key in ["title", "evidence", "fix", "doc_url"] {
        assert!(!found[key].as_str().unwrap().is_empty(), "{key}");
    }
    assert!(found["doc_url"].as_str().unwrap().starts_with("https://"));
    found
}

fn evidence(f: &serde_json::Value) -> &str {
    f["evidence"].as_str().unwrap()
}

/// The seconds a finding's evidence gives right after `label` ("first byte after 1.2 s" with
/// label "first byte after" → 1.2).
fn secs_after(evidence: &str, label: &str) -> f64 {
    let rest = evidence
        .split_once(label)
        .unwrap_or_else(|| panic!("no {label:?} in {evidence:?}"))
        .1;
    let number = rest.trim_start().split(' ').next().unwrap();
    number
        .parse()
        .unwrap_or_else(|_| panic!("no seconds after {label:?} in {evidence:?}"))
}

/// The evidence states `measured_s` (as the run measured it, to its one decimal) after `label`,
/// and the run took at least `at_least_s` there (a bound the server's own delay or limit sets:
/// a loaded machine can only make it later).
fn says_measured(evidence: &str, label: &str, measured_s: f64, at_least_s: f64) {
    let said = secs_after(evidence, label);
    assert!(
        (said - measured_s).abs() <= 0.051,
        "{label} {said} s in the evidence, {measured_s} s measured: {evidence}"
    );
    assert!(
        measured_s >= at_least_s,
        "{label} {measured_s} s, before the {at_least_s} s the server set"
    );
}

#[test]
fn gateway_errors_say_why() {
    // 12 MiB through BUFFERED: 502.
    let s = serve(&["--gateway", "buffered"]);
    let (_, fs) = cli_findings(&format!("{}/download?size=12MiB", s.base), &[]);
    let f = the_one(&fs, "integration-failed-502");
    assert!(evidence(f).contains("HTTP 502"), "{}", evidence(f));
    assert!(
        evidence(f).contains("10485760-byte buffered limit"),
        "{}",
        evidence(f)
    );
    drop(s);
    // A slow integration in BUFFERED: 504 at the integration timeout.
    let s = serve(&["--gateway", "buffered", "--integration-timeout-ms", "400"]);
    let (r, fs) = cli_findings(&format!("{}/download?size=1MiB&delay_ms=2000", s.base), &[]);
    let f = the_one(&fs, "integration-timeout-504");
    let headers_s = r["headers_ms"].as_f64().unwrap() / 1000.0;
    says_measured(evidence(f), "} after", headers_s, 0.4);
    assert!(
        headers_s < 2.0,
        "the gateway answered before the backend: {headers_s}"
    );
    drop(s);
    // A wrong stage, no API key, a spent quota.
    let s = serve(&[
        "--gateway",
        "stream",
        "--stage",
        "prod",
        "--api-key",
        "k1",
        "--usage-quota",
        "1",
    ]);
    let (_, fs) = cli_findings(
        &format!("{}/download?size=1MiB", s.base),
        &["-H", "x-api-key: k1"],
    );
    let f = the_one(&fs, "missing-authentication-token");
    assert!(evidence(f).contains("403"), "{}", evidence(f));
    let (_, fs) = cli_findings(&format!("{}/prod/download?size=1MiB", s.base), &[]);
    let f = the_one(&fs, "api-key-refused");
    assert!(
        evidence(f).contains("no x-api-key header was sent"),
        "{}",
        evidence(f)
    );
    let ok = format!("{}/prod/download?size=1MiB", s.base);
    let (r, fs) = cli_findings(&ok, &["-H", "x-api-key: k1"]);
    assert_eq!(r["outcome"], "complete");
    assert!(fs.iter().all(|f| f["severity"] == "info"), "{fs:?}");
    let (_, fs) = cli_findings(&ok, &["-H", "x-api-key: k1"]);
    let f = the_one(&fs, "throttled-429");
    assert!(evidence(f).contains("Limit Exceeded"), "{}", evidence(f));
}

#[test]
fn body_signatures_say_why() {
    let s = serve(&[]);
    let b = &s.base;
    // The Lambda runtime's error text in the body.
    let (_, fs) = cli_findings(
        &format!("{b}/download?size=2MiB&lambda_error_after=1MiB&length=0"),
        &[],
    );
    let f = the_one(&fs, "lambda-error-in-body");
    assert!(
        evidence(f).contains("no length announced"),
        "{}",
        evidence(f)
    );
    // Nothing to verify against.
    let (_, fs) = cli_findings(&format!("{b}/download?size=2MiB&length=0&digest=0"), &[]);
    let f = the_one(&fs, "unverifiable-download");
    assert!(evidence(f).contains("2.1 MB"), "{}", evidence(f));
    // Small arrivals: 4 KiB writes, paced.
    let (_, fs) = cli_findings(
        &format!("{b}/download?size=800KiB&chunk=4KiB&rate=800KiB"),
        &[],
    );
    let f = the_one(&fs, "small-arrivals");
    assert!(evidence(f).contains("median 4096 B"), "{}", evidence(f));
    // A late first byte, then a steady stream.
    let (r, fs) = cli_findings(
        &format!("{b}/download?size=4MiB&rate=2MiB&delay_ms=1200"),
        &[],
    );
    let f = the_one(&fs, "late-first-byte");
    let first_s = r["first_byte_ms"].as_f64().unwrap() / 1000.0;
    says_measured(evidence(f), "first byte after", first_s, 1.2);
    drop(s);
    // Buffered: the whole body at the end.
    let s = serve(&["--gateway", "buffered"]);
    let (r, fs) = cli_findings(&format!("{}/download?size=2MiB&rate=2MiB", s.base), &[]);
    let f = the_one(&fs, "buffered-burst");
    // The gateway holds the body until the last of 2 MiB at 2 MiB/s (the first 64 KiB at once).
    let first_s = r["first_byte_ms"].as_f64().unwrap() / 1000.0;
    says_measured(evidence(f), "first body byte after", first_s, 0.9);
}

#[test]
fn the_documented_shape_is_explained() {
    // API Gateway's knee at 10 MiB, with the real limits.
    let s = serve(&["--gateway", "stream"]);
    let (r, fs) = cli_findings(&format!("{}/download?size=14MiB&length=0", s.base), &[]);
    let f = the_one(&fs, "apigw-throttle-knee");
    assert!(evidence(f).contains("before 10.5 MB"), "{}", evidence(f));
    // After the knee the throttle (2 MiB/s = 2.10 MB/s) holds the rate down: never above it (a
    // loaded machine can only be slower), and far below the unthrottled first 10 MiB.
    let split = &r["throughput_split_10mib"];
    let after = split["after_bytes_per_sec"].as_f64().unwrap();
    let before = split["before_bytes_per_sec"].as_f64().unwrap();
    assert!(after <= 2.1e6 * 1.05, "{after}");
    assert!(before > 5.0 * after, "before {before} >> after {after}");
    let want = format!("{} after", streamscope::units::fmt_rate(after));
    assert!(evidence(f).contains(&want), "{want}: {}", evidence(f));
    assert!(
        evidence(f).contains("a 200 MB object takes about"),
        "{}",
        evidence(f)
    );
    drop(s);
    // Lambda's own: 6 MiB, then 2 MiB/s, and the length remapped.
    let s = serve(&["--lambda-limits"]);
    let (r, fs) = cli_findings(&format!("{}/download?size=9MiB", s.base), &[]);
    let f = the_one(&fs, "lambda-throttle-knee");
    let split = &r["throughput_split_6mib"];
    let want = format!(
        "{} before 6.3 MB",
        streamscope::units::fmt_rate(split["before_bytes_per_sec"].as_f64().unwrap())
    );
    assert!(evidence(f).contains(&want), "{want}: {}", evidence(f));
    let f = the_one(&fs, "remapped-content-length");
    assert!(evidence(f).contains("9437184"), "{}", evidence(f));
}

/// The engine against an in-process server with `gw` (or a hosted bootstrap), findings computed
/// with `limits`.
async fn library_findings(
    gw: GatewaySettings,
    function: Option<FunctionSettings>,
    query: &str,
    limits: &Limits,
) -> (probe::RunResult, Vec<Finding>) {
    let addr = emulator::spawn_local_with(LocalConfig {
        gateway: gw.validate().unwrap(),
        function: function.map(|f| f.validate().unwrap()),
        ..LocalConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let req = ProbeRequest::new(
        format!("http://{addr}/download?{query}"),
        dir.path().join("x.bin"),
    );
    let r = probe::run_to_end(&req).await.unwrap();
    let f = Figures::of(&r);
    let fs = findings::findings(&r, &f, limits);
    (r, fs)
}

fn only(fs: &[Finding], id: &str) -> Finding {
    let loud: Vec<&str> = fs
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .map(|f| f.id)
        .collect();
    assert_eq!(loud, vec![id], "{fs:#?}");
    fs.iter().find(|f| f.id == id).unwrap().clone()
}

fn stream() -> GatewaySettings {
    GatewaySettings::with_mode(GatewayMode::Stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaled_limits_show_the_timeouts_and_caps() {
    // TimeoutInMillis left unset, scaled: 29 s → 1.5 s.
    let limits = Limits {
        default_integration_timeout_s: 1.5,
        ..Limits::AWS
    };
    let gw = GatewaySettings {
        stream_timeout_ms: 1500,
        ..stream()
    };
    let (r, fs) = library_findings(gw, None, "size=20MiB&rate=4MiB&length=0", &limits).await;
    let f = only(&fs, "stream-cut-at-default-timeout");
    says_measured(&f.evidence, "ended after", r.duration_s(), 1.5);
    assert!(f.evidence.contains(&streamscope::units::fmt_bytes(r.bytes)));

    // The maximum stream duration, scaled: 15 min → 1.2 s.
    let limits = Limits {
        max_stream_s: 1.2,
        ..Limits::AWS
    };
    let gw = GatewaySettings {
        stream_max_duration_s: 1.2,
        ..stream()
    };
    let (r, fs) = library_findings(gw, None, "size=20MiB&rate=4MiB&length=0", &limits).await;
    let f = only(&fs, "stream-cut-at-max-duration");
    says_measured(&f.evidence, "cut after", r.duration_s(), 1.2);

    // Idle timeout, scaled: 30 s → 0.8 s of silence, then the cut.
    let limits = Limits {
        idle_edge_s: 0.8,
        ..Limits::AWS
    };
    let gw = GatewaySettings {
        stream_idle_timeout_s: 0.8,
        ..stream()
    };
    let (r, fs) = library_findings(
        gw,
        None,
        "size=4MiB&stall_after=1MiB&stall_ms=3000",
        &limits,
    )
    .await;
    let f = only(&fs, "stream-cut-after-silence");
    let last_s = r.timeline.last().unwrap().t_offset_ns as f64 / 1e9;
    // The gateway's idle clock starts when it sends the last bytes; the client sees them a moment
    // later, so the silence it measures can fall a hair short of the limit.
    says_measured(&f.evidence, "no byte for", r.duration_s() - last_s, 0.7);
    assert!(f.evidence.contains("edge-optimized"), "{}", f.evidence);

    // Lambda's 200 MB, scaled to 3 MiB.
    let limits = Limits {
        lambda_max_stream_bytes: 3 * MIB,
        ..Limits::AWS
    };
    let gw = GatewaySettings {
        lambda_limits: true,
        lambda_max_bytes: 3 * MIB,
        lambda_unthrottled_bytes: 64 * MIB,
        ..GatewaySettings::default()
    };
    let (_, fs) = library_findings(gw, None, "size=5MiB", &limits).await;
    let f = only(&fs, "lambda-stream-size-cap");
    assert!(f.evidence.contains("3145728 bytes"), "{}", f.evidence);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_cut_at_its_timeout_points_at_lambdas_default() {
    // The real bootstrap with a 1 s timeout (Lambda's default is 3 s), a body that needs 4 s.
    let limits = Limits {
        default_function_timeout_s: 1.0,
        ..Limits::AWS
    };
    let function = FunctionSettings {
        command: env!("CARGO_BIN_EXE_bootstrap").into(),
        env: vec!["STREAMSCOPE_FAULT_KNOBS=true".into()],
        timeout_s: 1.0,
        ..FunctionSettings::default()
    };
    let (r, fs) = library_findings(
        GatewaySettings::default(),
        Some(function),
        "size=4MiB&rate=1MiB&length=0",
        &limits,
    )
    .await;
    let f = only(&fs, "function-default-timeout");
    assert!(f.evidence.contains("cut after"), "{}", f.evidence);
    assert!(r.bytes > 0 && r.bytes < 4 * MIB);
}

/// Every demo preset as the app offers it, and healthy configurations of every kind: healthy runs
/// have no error or warning finding; the presets made to fail name their cause.
#[test]
fn healthy_runs_are_quiet_and_the_failing_presets_say_why() {
    use streamscope::demo::PRESETS;
    let rt = tokio::runtime::Runtime::new().unwrap();
    // The throttle scaled from 2 MiB/s to 20 MiB/s: the 200 MiB preset keeps its shape (10 MiB
    // at full speed, then a plateau) in about 10 s instead of 95.
    let demo = streamscope::demo::DemoServers::start_with(&rt, |mode| GatewaySettings {
        stream_bytes_per_sec: 20 * MIB,
        ..GatewaySettings::with_mode(mode)
    })
    .unwrap();
    let expected = |name: &str| -> Option<&'static str> {
        match name {
            "50 MiB buffered (over 10 MB)" => Some("integration-failed-502"),
            "5 MiB buffered (one burst)" => Some("buffered-burst"),
            "Lambda stream error" => Some("lambda-error-in-body"),
            // A cut and a stall with no AWS limit behind them, and an origin's 404: nothing
            // to attribute, so nothing is claimed.
            "truncated at 20 MiB" | "stalls for 5 s" | "404" => None,
            _ => None,
        }
    };
    // The presets run side by side.
    let runs: Vec<_> = PRESETS
        .iter()
        .map(|p| {
            let url = demo.url(p.gateway, p);
            let idle = p.idle_timeout_s.unwrap_or(30.0).to_string();
            std::thread::spawn(move || {
                let (r, fs) = cli_findings(&url, &["--idle-timeout", &idle]);
                (r["outcome"].clone(), fs)
            })
        })
        .collect();
    for (p, run) in PRESETS.iter().zip(runs) {
        let (outcome, fs) = run.join().unwrap();
        let loud: Vec<&str> = fs
            .iter()
            .filter(|f| f["severity"] != "info")
            .map(|f| f["id"].as_str().unwrap())
            .collect();
        match expected(p.name) {
            Some(id) => assert_eq!(loud, vec![id], "{}: {fs:?}", p.name),
            None => assert!(loud.is_empty(), "{} ({outcome}): {loud:?}", p.name),
        }
    }
    // Healthy configurations beyond the presets: a server we did not write (a length, no
    // digest), HTTP/2, a 206 range, the knee with a digest, the gateway off.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.bin"), vec![7u8; 3 * MIB as usize]).unwrap();
    let py = python_http_server(dir.path());
    let s = serve(&[]);
    let g = serve(&["--gateway", "stream", "--stream-rate", "8MiB"]);
    for (url, extra) in [
        (format!("{}/f.bin", py.base), vec![]),
        (format!("{}/download?size=30MiB", s.base), vec!["--http2"]),
        (
            format!("{}/download?size=30MiB", s.base),
            vec!["-H", "Range: bytes=0-999999"],
        ),
        (format!("{}/download?size=20MiB&length=0", g.base), vec![]),
        (
            format!("{}/download?size=5MiB&chunk=256KiB&rate=4MiB", s.base),
            vec![],
        ),
    ] {
        let (r, fs) = cli_findings(&url, &extra);
        assert_eq!(r["outcome"], "complete", "{url}");
        let loud: Vec<_> = fs.iter().filter(|f| f["severity"] != "info").collect();
        assert!(loud.is_empty(), "{url} {extra:?}: {loud:?}");
    }
}
