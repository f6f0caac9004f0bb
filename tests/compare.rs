//! `streamscope compare`: three local paths (STREAM, BUFFERED over 10 MB, no gateway) and one
//! that refuses connections, in one table, one JSON and one PNG; the failing target does not
//! stop the others.

// Tests may unwrap (a panic is the failure) and hold long tables.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;
use common::*;
use std::process::Command;

fn compare(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("compare")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn three_paths_and_a_dead_one_make_one_table_one_json_one_picture() {
    let stream = serve(&["--gateway", "stream", "--stream-rate", "16MiB"]);
    let buffered = serve(&["--gateway", "buffered"]);
    let plain = serve(&[]);
    let dead = refused_port();
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("targets.toml");
    // The dead target first: the others still run.
    std::fs::write(
        &targets,
        format!(
            r#"
[[target]]
name = "nobody home"
url = "http://127.0.0.1:{}/download"

[[target]]
name = "stream"
url = "{}/download?size=24MiB&length=0"

[[target]]
name = "buffered"
url = "{}/download?size=24MiB"

[[target]]
name = "no gateway"
url = "{}/download?size=24MiB"
segments = 4
"#,
            dead.port, stream.base, buffered.base, plain.base
        ),
    )
    .unwrap();
    let (json, png) = (dir.path().join("c.json"), dir.path().join("c.png"));
    let o = compare(&[
        targets.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--png",
        png.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "not every target completed");
    let table = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    assert!(lines[0].starts_with("target"), "{table}");
    let row = |name: &str| *lines.iter().find(|l| l.starts_with(name)).unwrap();
    assert!(row("nobody home").contains("connect_error"), "{table}");
    assert!(
        row("stream ").contains("complete") && row("stream ").contains("verified"),
        "{table}"
    );
    assert!(row("buffered").contains("http_error 502"), "{table}");
    assert!(
        row("no gateway").contains("complete") && row("no gateway").contains("verified"),
        "{table}"
    );

    let v = read_json(&json);
    let t = v["targets"].as_array().unwrap();
    assert_eq!(t.len(), 4);
    assert_eq!(t[1]["row"]["name"], "stream");
    assert_eq!(t[1]["report"]["outcome"], "complete");
    assert_eq!(t[1]["row"]["delivery"], "streamed");
    assert!(t[1]["row"]["after_10mib_bytes_per_sec"].as_f64().unwrap() < 2e7);
    assert_eq!(t[3]["report"]["segments"].as_array().unwrap().len(), 4);
    assert!(
        t[1]["report"]["timeline"].as_array().unwrap().len() > 10,
        "each target's full report"
    );

    let p = Picture::read(&png);
    assert_eq!((p.width, p.height), (1400, 1000));
    // The palette's colours in target order: nobody home, stream, buffered, no gateway.
    assert!(p.count([50, 110, 220]) > 1000, "stream drawn");
    assert!(p.count([200, 60, 150]) > 500, "no gateway drawn");
    // Nothing downloaded is left behind.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 3, "{left:?}");
}

#[test]
fn bad_targets_files_are_one_line_errors_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.toml");
    for (text, says) in [
        ("[[target]]\nname = \"a\"\n", "missing field `url`"),
        (
            "[[target]]\nname = \"a\"\nurl = \"gopher://x\"\n",
            "unsupported scheme",
        ),
        ("nonsense ===", "t.toml"),
    ] {
        std::fs::write(&f, text).unwrap();
        let o = compare(&[f.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{text}");
        let err = stderr(&o);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(says), "{text}: {err}");
        assert!(o.stdout.is_empty());
    }
}

/// Reads a JUnit file with junitparser (what several CI report tools are built on) and returns
/// `(suite tests, suite failures, [(case name, failure message or "")])`.
fn junit_cases(path: &std::path::Path) -> (u64, u64, Vec<(String, String)>) {
    const SCRIPT: &str = r#"
import json, sys
from junitparser import JUnitXml, Failure
xml = JUnitXml.fromfile(sys.argv[1])
suites = list(xml)
assert len(suites) == 1, suites
s = suites[0]
cases = []
for c in s:
    failed = [r for r in c.result if isinstance(r, Failure)]
    cases.append([c.name, failed[0].message if failed else ""])
print(json.dumps({"tests": s.tests, "failures": s.failures, "cases": cases}))
"#;
    let o = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let cases = v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c[0].as_str().unwrap().to_string(),
                c[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (
        v["tests"].as_u64().unwrap(),
        v["failures"].as_u64().unwrap(),
        cases,
    )
}

#[test]
fn thresholds_fail_the_build_with_exit_3_and_junit_says_which() {
    let server = serve(&[
        "--gateway",
        "stream",
        "--stream-unthrottled",
        "1MiB",
        "--stream-rate",
        "4MiB",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("t.toml");
    let write = |after: &str| {
        std::fs::write(
            &targets,
            format!(
                r#"
[[target]]
name = "stage"
url = "{}/download?size=3MiB&length=0"
require = ["delivery==streamed", "after_6mib{after}"]
"#,
                server.base
            ),
        )
        .unwrap();
    };
    let junit = dir.path().join("junit.xml");
    let json = dir.path().join("c.json");
    let run = |extra: &[&str]| {
        let mut args = vec![
            targets.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        compare(&args)
    };
    // 3 MiB at 4 MiB/s after the first MiB: the run completes; no 6 MiB crossing, so a threshold
    // on the rate after 6 MiB cannot be shown: missed (exit 3), and so is a first byte under 1 µs.
    write(">=1MB/s");
    let o = run(&[
        "--require",
        "first_byte_ms<0.001",
        "--require",
        "findings.errors==0",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("stage: threshold missed: after_6mib>=1MB/s (seen: not measured)"),
        "{err}"
    );
    assert!(
        err.contains("threshold missed: first_byte_ms<0.001 (seen: "),
        "{err}"
    );
    let (tests, failures, cases) = junit_cases(&junit);
    assert_eq!((tests, failures), (5, 2), "{cases:?}");
    assert_eq!(
        cases[0],
        ("stage".to_string(), String::new()),
        "the download passed"
    );
    let missed: Vec<&str> = cases
        .iter()
        .filter(|(_, m)| !m.is_empty())
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        missed,
        ["stage: after_6mib>=1MB/s", "stage: first_byte_ms<0.001"]
    );
    let report = &read_json(&json)["targets"][0]["report"];
    let thresholds = report["thresholds"].as_array().unwrap();
    assert_eq!(thresholds.len(), 4);
    assert_eq!(thresholds[0]["expression"], "delivery==streamed");
    assert_eq!(thresholds[0]["value"], "streamed");
    assert_eq!(thresholds[0]["passed"], true);
    assert_eq!(thresholds[1]["value"], serde_json::Value::Null);

    // The same run with thresholds it meets: exit 0, no failure in the JUnit file.
    write(">=0MB/s");
    let o = run(&["--require", "duration<60s", "--require", "bytes==3MiB"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "after_6mib is still not measured: {}",
        stderr(&o)
    );
    std::fs::write(
        &targets,
        format!(
            "[[target]]\nname = \"stage\"\nurl = \"{}/download?size=3MiB\"\nrequire = [\"delivery==streamed\"]\n",
            server.base
        ),
    )
    .unwrap();
    let o = run(&[
        "--require",
        "duration<60s",
        "--require",
        "bytes==3MiB",
        "--require",
        "verified==true",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (tests, failures, _) = junit_cases(&junit);
    assert_eq!((tests, failures), (5, 0));

    // A malformed threshold or an unknown figure: exit 2, one line, nothing run.
    for (bad, says) in [
        ("first_bite<3", "unknown figure"),
        ("delivery<fast", "takes == or != only"),
    ] {
        std::fs::remove_file(&junit).ok();
        let o = run(&["--require", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
        assert_eq!(stderr(&o).trim_end().lines().count(), 1);
        assert!(!junit.exists());
    }
}

#[test]
fn the_ci_example_passes_a_streaming_stage_and_fails_a_buffered_one() {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ci/check-stage.sh");
    let bin_dir = std::path::Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |url: &str, key: &str, out: &std::path::Path| {
        Command::new("bash")
            .arg(&script)
            .env("PATH", &path)
            .env("STAGE_URL", url)
            .env("STREAMSCOPE_API_KEY", key)
            .env("OUT", out)
            .env_remove("STREAMSCOPE_REQUIRE")
            .output()
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    // A stage that streams (scaled: 4 MiB/s after the first 10 MiB), behind an API key.
    let stage = serve(&[
        "--gateway",
        "stream",
        "--stream-rate",
        "4MiB",
        "--stage",
        "prod",
        "--api-key",
        "k-123456",
    ]);
    let url = format!("{}/prod/download?size=12MiB", stage.base);
    let out = dir.path().join("good");
    let o = run(&url, "k-123456", &out);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for f in ["streamscope.json", "streamscope.png", "junit.xml"] {
        assert!(out.join(f).exists(), "{f}");
    }
    let json = std::fs::read_to_string(out.join("streamscope.json")).unwrap();
    assert!(!json.contains("k-123456"), "the key is redacted");
    assert_eq!(
        read_json(&out.join("streamscope.json"))["targets"][0]["report"]["thresholds"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    // A wrong key: the download fails (403), exit 1.
    let o = run(&url, "wrong", &dir.path().join("bad-key"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // The same object through BUFFERED, from an origin that takes 3 s to produce it: complete,
    // but nothing comes until the gateway has it all, then everything at once: exit 3.
    let buffered = serve(&["--gateway", "buffered", "--buffered-max", "20MiB"]);
    let o = run(
        &format!("{}/download?size=12MiB&rate=4MiB", buffered.base),
        "",
        &dir.path().join("buffered"),
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("threshold missed: delivery==streamed"),
        "{}",
        stderr(&o)
    );
}
