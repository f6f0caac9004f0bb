//! `streamscope calibrate` round trip: `serve --profile P` for profiles that differ in every
//! calibrated value, then `calibrate` against it must recover P (numbers within a stated
//! tolerance, choices exactly). And its refusals: a server that is not our backend, knobs off,
//! an interrupted run that writes nothing.

// Tests may unwrap (a panic is the failure) and hold long tables.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;
use common::*;
use std::path::Path;
use streamscope::emulator::profile::{DEFAULT_TOML, Profile};

/// The built-in profile with each `(from, to)` replaced, written to `dir/name.toml`.
fn profile_file(dir: &Path, name: &str, edits: &[(&str, &str)]) -> (std::path::PathBuf, Profile) {
    let mut text =
        DEFAULT_TOML.replacen("name = \"aws-2026-11\"", &format!("name = \"{name}\""), 1);
    for (from, to) in edits {
        assert!(text.contains(from), "{from}");
        text = text.replacen(from, to, 1);
    }
    let p = Profile::parse(&text).unwrap();
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    (path, p)
}

fn value(key: &str, v: &str) -> (String, String) {
    // Every entry's value line follows its table header.
    let start = DEFAULT_TOML.find(&format!("[{key}]\nvalue = ")).unwrap();
    let line = DEFAULT_TOML[start..].lines().nth(1).unwrap().to_string();
    (format!("[{key}]\n{line}"), format!("[{key}]\nvalue = {v}"))
}

/// `calibrate` against `serve --profile` with `serve_extra`; the profile it wrote.
fn calibrate_against(profile: &Path, serve_extra: &[&str], calibrate_extra: &[&str]) -> Profile {
    let mut args = vec![
        "--gateway",
        "stream",
        "--lambda-limits",
        "--stage",
        "prod",
        "--profile",
        profile.to_str().unwrap(),
    ];
    args.extend_from_slice(serve_extra);
    let s = serve(&args);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("measured.toml");
    let o = std::process::Command::new(BIN)
        .args(["calibrate", &format!("{}/prod", s.base), "-o"])
        .arg(&out)
        .arg("--yes")
        .args(calibrate_extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = String::from_utf8_lossy(&o.stdout);
    assert!(summary.contains("wrote "), "{summary}");
    eprintln!("{summary}");
    Profile::load(&out).unwrap()
}

fn close(key: &str, want: u64, got: u64, tolerance: f64) {
    let off = (want as f64 - got as f64).abs() / want as f64;
    eprintln!("| {key} | {want} | {got} | {:.2}% |", off * 100.0);
    assert!(
        off <= tolerance,
        "{key}: {got} is not within {tolerance} of {want}"
    );
}

/// Three profiles that differ in every calibrated value; each recovered: knee positions within
/// 2%, rates within 10%, the choices exactly.
#[test]
fn calibrate_recovers_the_profile_serve_runs() {
    let dir = tempfile::tempdir().unwrap();
    let edits = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| value(k, v)).collect()
    };
    // 1. The built-in profile: Lambda's knee at 6 MiB, then 2 MiB/s; remap; cut; three headers.
    // 2. Only the gateway's knee, at 10 MB, then 2 MB/s; Content-Length kept; a clean end; one
    //    header.
    // 3. Both knees at other rates: 6 MB then 4 MB/s, 10 MiB then 1.5 MB/s; Content-Length
    //    dropped; two headers.
    let cases: [(&str, Vec<(String, String)>); 3] = [
        ("p-default", vec![]),
        (
            "p-gateway",
            edits(&[
                ("knees", "\"gateway\""),
                ("stream_unthrottled_bytes", "10000000"),
                ("stream_bytes_per_sec", "2000000"),
                ("content_length", "\"keep\""),
                ("mid_stream_error", "\"clean_end\""),
                ("added_headers", "[\"x-amzn-requestid\"]"),
            ]),
        ),
        (
            "p-two-knees",
            edits(&[
                ("lambda_unthrottled_bytes", "6000000"),
                ("lambda_bytes_per_sec", "4000000"),
                ("stream_unthrottled_bytes", "10485760"),
                ("stream_bytes_per_sec", "1500000"),
                ("content_length", "\"drop\""),
                (
                    "added_headers",
                    "[\"x-amz-apigw-id\", \"x-amzn-requestid\"]",
                ),
            ]),
        ),
    ];
    eprintln!("| value | profile | recovered | off |");
    for (name, e) in cases {
        let pairs: Vec<(&str, &str)> = e.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let (path, want) = profile_file(dir.path(), name, &pairs);
        let got = calibrate_against(&path, &[], &[]);
        eprintln!("{name}:");
        let shows_lambda = want.knees.value != streamscope::emulator::profile::Knees::Gateway;
        let shows_gateway = want.knees.value != streamscope::emulator::profile::Knees::Lambda
            && (!shows_lambda || want.stream_bytes_per_sec.value < want.lambda_bytes_per_sec.value);
        if shows_lambda {
            close(
                "lambda_unthrottled_bytes",
                want.lambda_unthrottled_bytes.value,
                got.lambda_unthrottled_bytes.value,
                0.02,
            );
            close(
                "lambda_bytes_per_sec",
                want.lambda_bytes_per_sec.value,
                got.lambda_bytes_per_sec.value,
                0.10,
            );
            assert!(got.lambda_unthrottled_bytes.measured.is_some());
        }
        if shows_gateway {
            close(
                "stream_unthrottled_bytes",
                want.stream_unthrottled_bytes.value,
                got.stream_unthrottled_bytes.value,
                0.02,
            );
            close(
                "stream_bytes_per_sec",
                want.stream_bytes_per_sec.value,
                got.stream_bytes_per_sec.value,
                0.10,
            );
            assert_eq!(got.knees.value, want.knees.value, "{name}: knees");
            assert!(got.knees.measured.is_some());
        } else {
            assert!(
                got.knees.measured.is_none(),
                "{name}: one knee cannot tell both from lambda"
            );
        }
        assert_eq!(
            got.content_length.value, want.content_length.value,
            "{name}"
        );
        assert_eq!(
            got.mid_stream_error.value, want.mid_stream_error.value,
            "{name}"
        );
        let mut headers = want.added_headers.value.clone();
        headers.sort();
        assert_eq!(got.added_headers.value, headers, "{name}");
        eprintln!(
            "| content_length, mid_stream_error, added_headers | {:?}, {:?}, {:?} | {:?}, {:?}, {:?} | exact |",
            want.content_length.value,
            want.mid_stream_error.value,
            want.added_headers.value,
            got.content_length.value,
            got.mid_stream_error.value,
            got.added_headers.value
        );
        for entry in [&got.content_length.measured, &got.added_headers.measured] {
            assert!(
                entry
                    .as_deref()
                    .is_some_and(|m| m.ends_with(" local local")),
                "{entry:?}"
            );
        }
        assert!(!got.content_length.unverified);
        // What was not measured stays as it was, with its provenance.
        assert_eq!(got.stream_max_duration_s, want.stream_max_duration_s);
    }
}

/// `--long`: the idle cut, Lambda's cap and what the integration timeout bounds, on a profile
/// scaled to seconds (idle 3 s, cap 12 MiB, TimeoutInMillis 2000 bounding the prelude only).
#[test]
fn the_long_plan_measures_the_idle_cut_the_cap_and_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let edits: Vec<(String, String)> = [
        ("stream_idle_timeout_regional_s", "3"),
        ("lambda_max_bytes", "12582912"),
        ("stream_timeout_bounds", "\"until_headers\""),
    ]
    .iter()
    .map(|(k, v)| value(k, v))
    .collect();
    let pairs: Vec<(&str, &str)> = edits
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let (path, _) = profile_file(dir.path(), "p-long", &pairs);
    let got = calibrate_against(
        &path,
        &["--stream-timeout-ms", "2000"],
        &["--long", "--integration-timeout-ms", "2000"],
    );
    assert_eq!(got.stream_idle_timeout_regional_s.value, 3);
    close(
        "lambda_max_bytes",
        12_582_912,
        got.lambda_max_bytes.value,
        0.02,
    );
    assert_eq!(
        got.stream_timeout_bounds.value,
        streamscope::emulator::profile::TimeoutBounds::UntilHeaders
    );
}

/// The cost is said before anything runs; without --yes and no terminal, nothing runs.
#[test]
fn the_cost_is_said_first_and_refusals_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.toml");
    let run = |args: &[&str]| {
        std::process::Command::new(BIN)
            .arg("calibrate")
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    for (long, requests) in [(false, "6 requests"), (true, "9 requests")] {
        let mut args = vec![
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
            "-o",
            out.to_str().unwrap(),
        ];
        if long {
            args.extend(["--long", "--integration-timeout-ms", "60000"]);
        }
        let o = run(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(requests), "{err}");
        assert!(err.contains("Lambda GB-s"), "{err}");
        assert!(err.contains("add --yes"), "{err}");
        eprintln!("{err}");
    }
    assert!(!out.exists(), "nothing written");

    // Not our backend: python's http.server answers 404; stopped at once, nothing written.
    let www = tempfile::tempdir().unwrap();
    let py = python_http_server(www.path());
    let o = run(&[&py.base, "-o", out.to_str().unwrap(), "--yes"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("is not streamscope's backend"), "{err}");
    assert!(err.contains("answered 404"), "{err}");
    assert!(err.contains("[1/"), "{err}");
    assert!(!err.contains("[2/"), "it stopped at once: {err}");
    assert!(!out.exists());

    // Our backend with its fault knobs off (the bootstrap as deployed by default).
    let s = serve(&[
        "--function",
        env!("CARGO_BIN_EXE_bootstrap"),
        "--gateway",
        "stream",
    ]);
    let o = run(&[&s.base, "-o", out.to_str().unwrap(), "--yes"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("EnableFaultKnobs=true"), "{err}");
    assert!(!out.exists());
    // Bad input: one line, exit 2.
    for (args, says) in [
        (
            vec!["not a url", "-o", out.to_str().unwrap()],
            "is not a URL",
        ),
        (
            vec!["http://127.0.0.1:9/", "-o", "/nonexistent-dir/p.toml"],
            "its directory does not exist",
        ),
    ] {
        let o = run(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(says), "{err}");
    }
}

/// Interrupted during the knee probe: exit 130 and nothing written, not even a temporary file.
#[test]
fn an_interrupted_calibration_writes_nothing() {
    let s = serve(&["--gateway", "stream", "--lambda-limits"]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.toml");
    let mut child = std::process::Command::new(BIN)
        .args(["calibrate", &s.base, "-o", out.to_str().unwrap(), "--yes"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    // The knee probe takes seconds (10 MiB at 2 MiB/s): interrupt once it has begun.
    while !seen.contains("[3/") {
        let mut buf = [0u8; 256];
        let n = std::io::Read::read(&mut err, &mut buf).unwrap();
        assert!(n > 0, "calibrate ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    // SAFETY: kill has no memory preconditions.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert_eq!(status.code(), Some(130), "{seen}{rest}");
    assert!(rest.contains("nothing written"), "{rest}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}
