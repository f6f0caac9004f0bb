//! Real Lambda functions under `streamscope serve --function`, behind the emulated API Gateway:
//! our Rust `bootstrap` (lambda_runtime), the Node.js handler under the real `aws-lambda-ric`, and
//! the Flask app under the real Lambda Web Adapter. Each relays an upstream we control (`serve`'s
//! `/download`), and the engine downloads through them as a user would.
//!
//! Needs what `scripts/install-test-deps.sh` installs: src/backend/node/node_modules, and
//! $STREAMSCOPE_TOOLS (default ~/.cache/streamscope) with venv/ and lwa/.

// Tests may unwrap (a panic is the failure) and hold long tables.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;
use common::*;
use std::path::PathBuf;

const MIB: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Backend {
    Rust,
    Node,
    Python,
    /// The Flask app behind the Web Adapter left in its buffered default (no
    /// AWS_LWA_INVOKE_MODE): it answers in the proxy JSON format, not the streaming one.
    PythonBuffered,
}

const ALL: [Backend; 3] = [Backend::Rust, Backend::Node, Backend::Python];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tools() -> PathBuf {
    std::env::var_os("STREAMSCOPE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/streamscope")
        })
}

fn require(path: &std::path::Path) -> String {
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-test-deps.sh",
        path.display()
    );
    path.display().to_string()
}

/// `streamscope serve --function ...` hosting `backend`, relaying `upstream`, with `extra` flags
/// (the gateway emulation). Returns the server and the path a client asks for.
fn host(backend: Backend, upstream: &str, extra: &[&str]) -> (Proc, &'static str) {
    host_logged(backend, upstream, extra, None)
}

fn host_logged(
    backend: Backend,
    upstream: &str,
    extra: &[&str],
    log: Option<&std::path::Path>,
) -> (Proc, &'static str) {
    let mut args: Vec<String> = Vec::new();
    let mut push = |a: &str, b: String| {
        args.push(a.to_string());
        args.push(b);
    };
    let path = match backend {
        Backend::Rust => {
            push("--function", env!("CARGO_BIN_EXE_bootstrap").to_string());
            push(
                "--function-env",
                format!("STREAMSCOPE_UPSTREAM_URL={upstream}"),
            );
            "/relay"
        }
        Backend::Node => {
            let dir = repo().join("src/backend/node");
            require(&dir.join("node_modules/aws-lambda-ric/dist/rapid-client.node"));
            push(
                "--function",
                "./node_modules/.bin/aws-lambda-ric index.handler".into(),
            );
            push("--function-dir", dir.display().to_string());
            push("--function-handler", "index.handler".into());
            push("--function-env", format!("UPSTREAM_URL={upstream}"));
            "/any/path"
        }
        Backend::Python | Backend::PythonBuffered => {
            let dir = repo().join("src/backend/python");
            let python = require(&tools().join("venv/bin/python"));
            let adapter = require(&tools().join("lwa/bin/lambda-adapter"));
            push("--function", "./run.sh".into());
            push("--function-extension", adapter);
            push("--function-dir", dir.display().to_string());
            push("--function-handler", "run.sh".into());
            push("--function-env", format!("PYTHON={python}"));
            if backend == Backend::Python {
                push(
                    "--function-env",
                    "AWS_LWA_INVOKE_MODE=response_stream".into(),
                );
            }
            push(
                "--function-env",
                "AWS_LWA_READINESS_CHECK_PATH=/healthz".into(),
            );
            push("--function-env", "PORT={port}".into());
            push("--function-env", format!("UPSTREAM_URL={upstream}"));
            "/any/path"
        }
    };
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend_from_slice(extra);
    let server = match log {
        Some(l) => serve_logged(&all, l),
        None => serve(&all),
    };
    (server, path)
}

/// Downloads `path` from `server`; the report.
fn fetch(server: &Proc, path: &str, extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bin");
    let json = dir.path().join("r.json");
    let mut args = vec![
        format!("{}{path}", server.base),
        "-o".into(),
        out.display().to_string(),
        "--json".into(),
        json.display().to_string(),
        "-q".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = get(&a);
    let r = read_json(&json);
    if r["outcome"] == "complete" {
        assert_eq!(
            r["sha256"].as_str().unwrap(),
            sha256sum(&out),
            "the saved file is what was hashed"
        );
    } else {
        assert!(!out.exists(), "nothing under the final name");
    }
    (o, r)
}

#[test]
fn thirty_mib_through_stream_mode_arrives_whole_and_verified() {
    let up = serve(&[]);
    let upstream = format!("{}/download?size=30MiB&seed=11&length=0", up.base);
    for b in ALL {
        // STREAM with a scaled throttle: 10 MiB at full speed, then 20 MiB/s.
        let (s, path) = host(
            b,
            &upstream,
            &["--gateway", "stream", "--stream-rate", "20MiB"],
        );
        let (o, r) = fetch(&s, path, &[]);
        assert!(o.status.success(), "{b:?}: {}", stderr(&o));
        assert_eq!(r["outcome"], "complete", "{b:?}");
        assert_eq!(r["bytes"], 30 * MIB, "{b:?}");
        assert_eq!(
            r["expected_sha256_source"], "repr-digest",
            "{b:?}: the upstream's digest reached the client"
        );
        assert_eq!(r["digest_match"], true, "{b:?}");
        assert_eq!(r["delivery"], "streamed", "{b:?}");
    }
}

#[test]
fn a_trickling_upstream_streams_through_and_the_host_does_not_buffer() {
    let up = serve(&[]);
    // 1 MiB every 100 ms, 10 MiB in all: about a second at the source.
    let upstream = format!(
        "{}/download?size=10MiB&chunk=1MiB&rate=10MiB&length=0&seed=12",
        up.base
    );
    for b in ALL {
        let (s, path) = host(b, &upstream, &["--gateway", "stream"]);
        // Warm: the cold start is not what this measures.
        fetch(&s, path, &[]);
        let (o, r) = fetch(&s, path, &[]);
        assert!(o.status.success(), "{b:?}: {}", stderr(&o));
        assert_eq!(r["delivery"], "streamed", "{b:?}: {r}");
        let first = r["first_byte_ms"].as_f64().unwrap();
        let total = r["duration_ms"].as_f64().unwrap();
        assert!(
            total > 800.0,
            "{b:?}: the upstream takes about a second, took {total} ms"
        );
        assert!(
            first < total / 2.0,
            "{b:?}: the first byte came at {first} ms of {total} ms: long before the upstream finished"
        );
    }
}

/// AWS's table for a BUFFERED method: a function that streams (all three backends as deployed)
/// gets its status and headers through, but not its body; over Lambda's 6 MB buffered payload
/// it is a 502. A download of it is never called complete.
#[test]
fn buffered_mode_with_a_streaming_function_gives_headers_without_the_body() {
    let up = serve(&[]);
    for b in ALL {
        let big = format!("{}/download?size=12MiB&seed=13", up.base);
        let (s, path) = host(b, &big, &["--gateway", "buffered"]);
        let (o, r) = fetch(&s, path, &[]);
        assert_eq!(o.status.code(), Some(1), "{b:?}");
        assert_eq!(r["outcome"], "http_error", "{b:?}");
        assert_eq!(r["response"]["status"], 502, "{b:?}");
        assert!(
            r["http_error_body_preview"]
                .as_str()
                .unwrap()
                .contains("Internal server error"),
            "{b:?}"
        );
        drop(s);
        let small = format!("{}/download?size=1MiB&seed=14", up.base);
        let (s, path) = host(b, &small, &["--gateway", "buffered"]);
        let (o, r) = fetch(&s, path, &[]);
        assert_eq!(o.status.code(), Some(1), "{b:?}: {}", stderr(&o));
        assert_eq!(r["response"]["status"], 200, "{b:?}");
        assert_eq!(r["bytes"], 0, "{b:?}: no body");
        assert_ne!(r["outcome"], "complete", "{b:?}: {}", r["outcome_detail"]);
        let said = report_header(&r, "x-streamscope-function-error");
        assert!(said.contains("BUFFERED method"), "{b:?}: {said:?}");
    }
}

/// The other two cells of AWS's table, with a function that answers in the buffered format (the
/// Web Adapter in its default mode): behind STREAM, 500 `Internal server error` with the cause;
/// behind BUFFERED, the whole body, held until the function is done.
#[test]
fn a_buffered_format_function_is_a_500_behind_stream_and_whole_behind_buffered() {
    let up = serve(&[]);
    let upstream = format!("{}/download?size=1MiB&seed=16", up.base);
    let (s, path) = host(Backend::PythonBuffered, &upstream, &["--gateway", "stream"]);
    let (o, r) = fetch(&s, path, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(r["response"]["status"], 500);
    assert!(
        r["http_error_body_preview"]
            .as_str()
            .unwrap()
            .contains("Internal server error")
    );
    let header = |name: &str| report_header(&r, name);
    assert_eq!(header("x-amzn-errortype"), "InternalServerErrorException");
    assert!(header("x-streamscope-function-error").contains("STREAM method"));
    let ids = finding_ids(&r);
    assert_eq!(ids, ["integration-refused-500"], "what to change");
    drop(s);
    // 3 MiB that the function takes about a second to produce (4 MiB as the base64 of the proxy
    // JSON, under Lambda's 6 MB): the gateway sends it at once.
    let slow = format!("{}/download?size=3MiB&rate=3MiB&seed=14", up.base);
    let (s, path) = host(Backend::PythonBuffered, &slow, &["--gateway", "buffered"]);
    let (o, r) = fetch(&s, path, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(r["outcome"], "complete");
    assert_eq!(r["bytes"], 3 * MIB);
    assert_eq!(r["delivery"], "burst", "{r}");
}

#[test]
fn an_upstream_404_reaches_the_client_as_an_error_status() {
    let up = serve(&[]);
    let upstream = format!("{}/download?status=404", up.base);
    for b in ALL {
        let (s, path) = host(b, &upstream, &["--gateway", "stream"]);
        let (o, r) = fetch(&s, path, &[]);
        assert_eq!(o.status.code(), Some(1), "{b:?}");
        assert_eq!(r["outcome"], "http_error", "{b:?}");
        assert_eq!(
            r["response"]["status"], 404,
            "{b:?}: the upstream's status, not a 200 with an error text"
        );
        assert!(r["sha256"].is_null());
    }
}

/// An upstream that drops the connection part-way is never a complete download. What the client
/// sees depends on the runtime, and is a finding in itself:
/// - lambda_runtime (our bootstrap) and the Web Adapter (built on it) write the error into the body
///   as text and end the stream cleanly: `lambda_stream_error` (the text is the last bytes and the
///   body is shorter than announced);
/// - the Node runtime client sends the error as HTTP trailers: the service cuts the client's
///   connection (as API Gateway does on a failed stream), so the client sees `truncated`.
#[test]
fn an_upstream_that_drops_mid_body_is_never_complete() {
    let up = serve(&[]);
    let upstream = format!("{}/download?size=8MiB&fail_after=3MiB&seed=15", up.base);
    for (b, want) in [
        (Backend::Rust, "lambda_stream_error"),
        (Backend::Node, "truncated"),
        (Backend::Python, "lambda_stream_error"),
    ] {
        let (s, path) = host(b, &upstream, &["--gateway", "stream"]);
        let (o, r) = fetch(&s, path, &[]);
        assert_eq!(o.status.code(), Some(1), "{b:?}: {}", stderr(&o));
        assert_eq!(r["outcome"], want, "{b:?}: {}", r["outcome_detail"]);
        assert_eq!(r["output"]["saved"], false);
        let bytes = r["bytes"].as_u64().unwrap();
        assert!(
            (3 * MIB..3 * MIB + 4096).contains(&bytes),
            "{b:?}: the 3 MiB before the drop (and at most the error text) arrived: {bytes}"
        );
    }
}

#[test]
fn a_failing_function_is_a_502_and_a_dead_one_is_replaced_by_a_cold_start() {
    // The bootstrap with a broken setting fails its init: 502, not a hang.
    let (s, path) = {
        let extra = [
            "--function-env",
            "STREAMSCOPE_UPSTREAM_URL=file:///etc/passwd",
        ];
        host(Backend::Rust, "http://127.0.0.1:9/unused", &extra)
    };
    let (_, r) = fetch(&s, path, &[]);
    assert_eq!(r["response"]["status"], 502);
    let err = report_header(&r, "x-streamscope-function-error");
    assert!(err.contains("exited") || err.contains("init"), "{err}");
    drop(s);
    // A function that outlives its timeout is stopped: 502 before any byte.
    let up = serve(&[]);
    let slow = format!("{}/download?size=1MiB&delay_ms=3000", up.base);
    let (s, path) = host(Backend::Rust, &slow, &["--function-timeout", "1"]);
    let (_, r) = fetch(&s, path, &[]);
    assert_eq!(r["response"]["status"], 502);
    // And the next request gets a new environment that works.
    let (_, r) = fetch(&s, "/healthz", &[]);
    assert_eq!(r["outcome"], "complete", "{r}");
}

/// Each invocation ends with CloudWatch's REPORT line, Init Duration on a cold start only, and the
/// function's own output is tagged with the request id it belongs to.
#[test]
fn invocations_are_reported_and_function_output_is_tagged() {
    let up = serve(&[]);
    let upstream = format!("{}/download?size=1MiB&seed=16", up.base);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let (s, path) = host_logged(
        Backend::Python,
        &upstream,
        &["--function-memory", "512"],
        Some(&log),
    );
    for _ in 0..2 {
        let (o, _) = fetch(&s, path, &[]);
        assert!(o.status.success());
    }
    drop(s);
    let text = std::fs::read_to_string(&log).unwrap();
    let reports: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("REPORT RequestId: "))
        .collect();
    assert_eq!(reports.len(), 2, "{text}");
    for (i, r) in reports.iter().enumerate() {
        let fields: Vec<&str> = r.split('\t').collect();
        let id = fields[0].trim_start_matches("REPORT RequestId: ");
        assert_eq!(id.len(), 36, "a request id: {r}");
        assert!(
            fields[1].starts_with("Duration: ") && fields[1].ends_with(" ms"),
            "{r}"
        );
        assert!(fields[2].starts_with("Billed Duration: "), "{r}");
        assert_eq!(fields[3], "Memory Size: 512 MB", "{r}");
        let used: u64 = fields[4]
            .trim_start_matches("Max Memory Used: ")
            .trim_end_matches(" MB")
            .parse()
            .unwrap();
        assert!(
            used >= 10,
            "python, gunicorn and the adapter take more than {used} MB"
        );
        assert_eq!(
            r.contains("Init Duration: "),
            i == 0,
            "Init Duration on the cold start only: {r}"
        );
        // gunicorn's access log line for this request, tagged with its id.
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{id}\t")) && l.contains("GET /any/path")),
            "{text}"
        );
    }
}

/// Handlers of tests/fixtures/node-handlers under the real Node runtime client.
fn node_fixture(handler: &str) -> Proc {
    node_fixture_behind(handler, &[])
}

/// [`node_fixture`] with more flags (the gateway emulation).
fn node_fixture_behind(handler: &str, extra: &[&str]) -> Proc {
    let ric = repo().join("src/backend/node/node_modules/.bin/aws-lambda-ric");
    let ric = require(&ric);
    let dir = repo().join("tests/fixtures/node-handlers");
    let command = format!("{ric} index.{handler}");
    let handler = format!("index.{handler}");
    let mut args = vec![
        "--function",
        &command,
        "--function-dir",
        dir.to_str().unwrap(),
        "--function-handler",
        &handler,
        "--function-stage",
        "prod",
    ];
    args.extend_from_slice(extra);
    serve(&args)
}

/// AWS's table for a Node handler without streamifyResponse (a proxy JSON answer) under the
/// real Node runtime client: 500 behind STREAM, the whole response behind BUFFERED.
#[test]
fn a_node_handler_without_streamify_is_a_500_behind_stream_and_whole_behind_buffered() {
    let s = node_fixture_behind("buffered", &["--gateway", "stream"]);
    let (_, r) = fetch(&s, "/x", &[]);
    assert_eq!(r["response"]["status"], 500, "{r}");
    let ids = finding_ids(&r);
    assert!(
        ids.iter().any(|i| i == "integration-refused-500"),
        "{ids:?}"
    );
    let s = node_fixture_behind("buffered", &["--gateway", "buffered"]);
    let dir = tempfile::tempdir().unwrap();
    let (_, headers) = curl_fetch(&format!("{}/some/path", s.base), dir.path());
    assert!(headers.starts_with("HTTP/1.1 201"), "{headers}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("curl.body")).unwrap(),
        "hello /some/path from prod"
    );
}

#[test]
fn a_buffered_proxy_response_becomes_the_http_response() {
    let s = node_fixture("buffered");
    let dir = tempfile::tempdir().unwrap();
    let (_, headers) = curl_fetch(&format!("{}/some/path", s.base), dir.path());
    assert!(headers.starts_with("HTTP/1.1 201"), "{headers}");
    assert_eq!(
        header_of(&headers, "x-echo-path").as_deref(),
        Some("/some/path")
    );
    assert_eq!(
        headers
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("x-many:"))
            .count(),
        2,
        "{headers}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("curl.body")).unwrap(),
        "hello /some/path from prod",
        "the base64 body, decoded; the event named the path and the stage"
    );
}

#[test]
fn a_function_that_dies_after_sending_cuts_the_stream_and_one_that_fails_first_is_a_502() {
    let s = node_fixture("crashAfterBytes");
    let (o, r) = fetch(&s, "/x", &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(r["outcome"], "truncated", "{}", r["outcome_detail"]);
    assert_eq!(r["bytes"], MIB, "what was sent before the crash arrived");
    // The dead environment is replaced: the next request is a cold start that works the same way.
    let (_, r) = fetch(&s, "/x", &[]);
    assert_eq!(r["bytes"], MIB);
    let s = node_fixture("failsFirst");
    let (_, r) = fetch(&s, "/x", &[]);
    assert_eq!(r["response"]["status"], 502);
    assert!(
        r["http_error_body_preview"]
            .as_str()
            .unwrap()
            .contains("Internal server error")
    );
}

#[test]
fn parallel_ranges_through_each_runtime_are_verified_whole() {
    let up = serve(&[]);
    let upstream = format!("{}/download?size=30MiB&seed=12&length=0", up.base);
    for b in ALL {
        // The real limits: each 6 MiB range stays inside Lambda's uncapped window.
        let (s, path) = host(b, &upstream, &["--gateway", "stream", "--lambda-limits"]);
        let (o, r) = fetch(&s, path, &["--segments", "5"]);
        assert!(o.status.success(), "{b:?}: {}\n{r}", stderr(&o));
        assert_eq!(r["outcome"], "complete", "{b:?}");
        assert_eq!(r["segments"].as_array().unwrap().len(), 5, "{b:?}");
        assert_eq!(
            r["expected_sha256_source"], "repr-digest",
            "{b:?}: the object's digest came with the first 206"
        );
        assert_eq!(r["digest_match"], true, "{b:?}");
        // Each range was a 206 of the version the first one named (ETag and If-Range passed on).
        for seg in r["segments"].as_array().unwrap() {
            assert_eq!(seg["status"], 206, "{b:?}: {seg}");
        }
    }
}

/// One process as /proc/PID/stat tells it.
struct ProcStat {
    pid: i32,
    state: String,
    ppid: i32,
    pgrp: i32,
}

/// Every process on the machine, read from /proc (one that ends while being read is skipped).
fn processes() -> Vec<ProcStat> {
    let mut all = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the command name in parentheses: state, ppid, pgrp, ...
        let Some((_, after)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = after.split_whitespace().collect();
        all.push(ProcStat {
            pid,
            state: f[0].to_string(),
            ppid: f[1].parse().unwrap(),
            pgrp: f[2].parse().unwrap(),
        });
    }
    all
}

fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .unwrap_or_default()
}

/// The processes descended from `pid` (children, grandchildren...): (pid, pgid, command line).
fn descendants(pid: u32) -> Vec<(i32, i32, String)> {
    let all = processes();
    let mut found = vec![pid as i32];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(all.iter().filter(|p| p.ppid == parent).map(|p| p.pid));
        i += 1;
    }
    all.iter()
        .filter(|p| p.pid != pid as i32 && found.contains(&p.pid))
        .map(|p| (p.pid, p.pgrp, cmdline(p.pid)))
        .collect()
}

/// Processes in the process groups `pgids`, zombies excepted (a zombie has stopped running; its
/// parent reaps it).
fn alive_in(pgids: &[i32]) -> Vec<String> {
    processes()
        .iter()
        .filter(|p| p.state != "Z" && pgids.contains(&p.pgrp))
        .map(|p| format!("{} {}", p.pid, cmdline(p.pid)))
        .collect()
}

/// `serve --function` hosting the Python backend (the Web Adapter, gunicorn and its worker), with
/// an environment warmed by one download; then `end` ends serve. No process of the function's
/// groups may remain.
/// Returns what serve wrote on stderr.
fn no_function_process_outlives_serve(end: impl FnOnce(&mut std::process::Child)) -> String {
    let up = serve(&[]);
    let upstream = format!("{}/download?size=1MiB", up.base);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let (mut s, path) = host_logged(Backend::Python, &upstream, &[], Some(&log));
    let (_, r) = fetch(&s, path, &[]);
    assert_eq!(r["outcome"], "complete", "{r}");
    let procs = descendants(s.child.id());
    let mut pgids: Vec<i32> = procs.iter().map(|p| p.1).collect();
    pgids.sort_unstable();
    pgids.dedup();
    assert!(
        procs.len() >= 3 && procs.iter().any(|p| p.2.contains("gunicorn")),
        "the adapter, gunicorn and its worker run: {procs:?}"
    );
    end(&mut s.child);
    s.child.wait().unwrap();
    // The kernel's parent-death signal and gunicorn's own parent check take a moment: poll.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut left = alive_in(&pgids);
    while !left.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        left = alive_in(&pgids);
    }
    assert!(left.is_empty(), "outlived serve: {left:?} (of {procs:?})");
    std::fs::read_to_string(&log).unwrap()
}

#[test]
fn a_sigkilled_serve_leaves_no_function_process() {
    no_function_process_outlives_serve(|c| c.kill().unwrap());
}

/// SIGTERM: SHUTDOWN and SIGTERM, as Lambda ends an environment. The Web Adapter (a
/// lambda_runtime client) is not answered on its way out, so it does not fail (it panicked on
/// an answer without a request id).
#[test]
fn a_terminated_serve_ends_its_functions_gracefully() {
    let log = no_function_process_outlives_serve(|c| {
        // SAFETY: kill has no memory preconditions.
        assert_eq!(unsafe { libc::kill(c.id() as i32, libc::SIGTERM) }, 0);
    });
    assert!(!log.contains("panicked"), "{log}");
    assert!(!log.contains("exit status: 101"), "{log}");
}

/// A function that cannot start answers 502 every time, and each failed start gives back what it
/// took: its Runtime API socket and task (counted as serve's open descriptors).
#[test]
fn a_failed_start_releases_its_socket() {
    let s = serve(&["--function", "/nonexistent/bootstrap"]);
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", s.child.id()))
            .unwrap()
            .count()
    };
    let (_, r) = fetch(&s, "/", &[]);
    assert_eq!(r["response"]["status"], 502, "{r}");
    let after_one = fds();
    for _ in 0..20 {
        let (_, r) = fetch(&s, "/", &[]);
        assert_eq!(r["response"]["status"], 502, "{r}");
    }
    let after_many = fds();
    assert!(
        after_many <= after_one + 2,
        "20 failed starts left descriptors open: {after_one} -> {after_many}"
    );
}

/// Lambda's refusals are API Gateway's 500s: a request over the function's reserved concurrency
/// (refused at once, not queued), a request payload over 6 MB; API Gateway's own 10 MB request
/// limit is a 413 before any invocation.
#[test]
fn over_reserved_concurrency_or_6_mb_of_request_lambda_refuses_with_500() {
    let up = serve(&[]);
    // 4 MiB at 2 MiB/s: the one environment stays busy for about two seconds.
    let slow = format!("{}/download?size=4MiB&rate=2MiB&seed=17&length=0", up.base);
    let (s, path) = host(
        Backend::Rust,
        &slow,
        &["--gateway", "stream", "--function-concurrency", "1"],
    );
    let dir = tempfile::tempdir().unwrap();
    let first_out = dir.path().join("first.bin");
    let url = format!("{}{path}", s.base);
    let mut first = std::process::Command::new("curl")
        .args(["-s", "-o"])
        .arg(&first_out)
        .arg(&url)
        .spawn()
        .unwrap();
    // The first request is being served once its bytes arrive.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::metadata(&first_out).map_or(0, |m| m.len()) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first request never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = std::process::Command::new("curl")
        .args(["-s", "-D", "-", &url])
        .output()
        .unwrap();
    let second = String::from_utf8_lossy(&o.stdout).to_ascii_lowercase();
    assert!(second.starts_with("http/1.1 500"), "{second}");
    assert!(second.contains("internal server error"), "{second}");
    assert!(second.contains("reserved concurrency of 1"), "{second}");
    assert!(first.wait().unwrap().success());
    assert_eq!(
        std::fs::metadata(&first_out).unwrap().len(),
        4 * MIB,
        "the first was served whole"
    );
    // Free again: served.
    let (o, r) = fetch(&s, path, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(r["bytes"], 4 * MIB);

    // Request payloads: 7 MB reaches API Gateway but not Lambda (500); 11 MB not even API Gateway (413).
    for (size, want) in [(7_000_000usize, "500"), (11_000_000, "413")] {
        let body = dir.path().join("body.bin");
        std::fs::write(&body, vec![b'x'; size]).unwrap();
        let o = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--data-binary",
            ])
            .arg(format!("@{}", body.display()))
            .arg(&url)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout), want, "{size} bytes");
    }
}

/// A runtime in shell (curl against the Runtime API) that answers each event with the names of the
/// `AWS_*` variables it was started with, and whether HOME and PATH were there.
const ENV_ANSWER: &str = r#"names=$(env | grep '^AWS_' | cut -d= -f1 | sort | tr '\n' ' ')
printf '{"statusCode":200,"body":"%s home=%s path=%s"}' "$names" "${HOME:+yes}" "${PATH:+yes}""#;

#[test]
fn a_function_sees_no_aws_credentials_of_the_caller_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = shell_runtime(dir.path(), ENV_ANSWER);
    let names = |extra: &[&str]| {
        let mut args = vec![
            "serve",
            "--port",
            "0",
            "--function",
            runtime.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let server = Proc::listening(
            std::process::Command::new(BIN)
                .args(&args)
                .env("AWS_ACCESS_KEY_ID", "AKIACALLERSOWNKEY")
                .env("AWS_SECRET_ACCESS_KEY", "caller-secret")
                .env("AWS_PROFILE", "callers-profile")
                .env("SOME_OTHER_SECRET", "x")
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let o = std::process::Command::new("curl")
            .args(["-s", &format!("{}/x", server.base)])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let clean = names(&[]);
    assert!(clean.contains("AWS_LAMBDA_RUNTIME_API"), "{clean}");
    assert!(clean.contains("AWS_REGION"), "{clean}");
    assert!(clean.contains("home=yes path=yes"), "{clean}");
    for leaked in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"] {
        assert!(
            !clean.contains(leaked),
            "{leaked} reached the function: {clean}"
        );
    }
    assert!(
        clean.contains("AWS_SHARED_CREDENTIALS_FILE"),
        "~/.aws is out of reach: {clean}"
    );
    let asked = names(&["--function-aws-credentials"]);
    for passed in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"] {
        assert!(asked.contains(passed), "{passed} asked for: {asked}");
    }
}

/// A runtime's answer that logs a line for each event and answers "ok".
const LOGGING_ANSWER: &str = r#"echo "hello from the function" >&2
printf '{"statusCode":200,"body":"ok"}'"#;

/// An external extension as log shippers are written: it registers for INVOKE and SHUTDOWN,
/// subscribes an HTTP listener of its own to the Telemetry API, and writes every record and
/// event it gets to the file named by its argument; it exits on SHUTDOWN.
const TELEMETRY_EXTENSION: &str = r#"
import json, os, sys, threading, urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
api, out = os.environ["AWS_LAMBDA_RUNTIME_API"], sys.argv[1]
lock = threading.Lock()
def note(x):
    with lock, open(out, "a") as f:
        f.write(json.dumps(x) + "\n")
def call(method, path, body=None, headers={}):
    req = urllib.request.Request("http://" + api + path, data=body, method=method, headers=headers)
    with urllib.request.urlopen(req) as r:
        return r.headers, r.read()
h, _ = call("POST", "/2020-01-01/extension/register", json.dumps({"events": ["INVOKE", "SHUTDOWN"]}).encode(), {"Lambda-Extension-Name": "shipper"})
me = {"Lambda-Extension-Identifier": h["Lambda-Extension-Identifier"]}
class Listener(BaseHTTPRequestHandler):
    def do_POST(self):
        for record in json.loads(self.rfile.read(int(self.headers["Content-Length"]))):
            note(record)
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass
server = HTTPServer(("127.0.0.1", 0), Listener)
threading.Thread(target=server.serve_forever, daemon=True).start()
_, answer = call("PUT", "/2022-07-01/telemetry", json.dumps({
    "schemaVersion": "2022-12-13",
    "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:%d/" % server.server_address[1]},
    "types": ["platform", "function"],
    "buffering": {"timeoutMs": 25}}).encode(), me)
note({"subscribed": answer.decode()})
while True:
    _, body = call("GET", "/2020-01-01/extension/event/next", None, me)
    event = json.loads(body)
    note({"event": event["eventType"], "deadlineMs": event.get("deadlineMs")})
    if event["eventType"] == "SHUTDOWN":
        break
"#;

/// An extension that subscribes to the Telemetry API initialises (the first event waits for its
/// first /next), receives the function's log lines and the platform's events, and gets SHUTDOWN
/// (not SIGTERM) when serve stops.
#[test]
fn a_telemetry_extension_gets_the_logs_and_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = shell_runtime(dir.path(), LOGGING_ANSWER);
    let ext = dir.path().join("shipper.py");
    std::fs::write(&ext, TELEMETRY_EXTENSION).unwrap();
    let out = dir.path().join("received.jsonl");
    let ext_cmd = format!("python3 {} {}", ext.display(), out.display());
    let mut s = serve(&[
        "--function",
        runtime.to_str().unwrap(),
        "--function-extension",
        &ext_cmd,
        "--gateway",
        "stream",
    ]);
    let (o, r) = fetch(&s, "/x", &[]);
    // A proxy JSON behind STREAM is AWS's 500; the function ran all the same.
    assert_eq!(r["response"]["status"], 500, "{}", stderr(&o));
    let received = || std::fs::read_to_string(&out).unwrap_or_default();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !(received().contains("hello from the function")
        && received().contains("platform.report"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no telemetry within 30 s: {}",
            received()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let got = received();
    assert!(got.contains(r#"{"subscribed": "OK"}"#), "{got}");
    assert!(got.contains(r#""event": "INVOKE""#), "{got}");
    assert!(got.contains(r#""type": "platform.start""#), "{got}");
    assert!(got.contains(r#""type": "function""#), "{got}");
    // SAFETY: kill has no memory preconditions.
    assert_eq!(unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) }, 0);
    assert!(s.child.wait().unwrap().success());
    let got = received();
    let shutdown = got
        .lines()
        .find(|l| l.contains(r#""event": "SHUTDOWN""#))
        .unwrap_or_else(|| panic!("no SHUTDOWN: {got}"));
    let v: serde_json::Value = serde_json::from_str(shutdown).unwrap();
    assert!(v["deadlineMs"].as_u64().unwrap() > 1_700_000_000_000, "{v}");
}

/// A Python runtime that answers each event with the event itself as the body.
const ECHO_RUNTIME: &str = r#"
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as r:
        rid, event = r.headers["Lambda-Runtime-Aws-Request-Id"], r.read()
    body = json.dumps({"statusCode": 200, "body": event.decode()}).encode()
    urllib.request.urlopen(urllib.request.Request(api + rid + "/response", data=body, method="POST")).read()
"#;

/// An AWS_IAM method checks a signature made for the request's own method and body (curl signs
/// a POST), and the event names the access key that signed it.
#[test]
fn an_iam_signed_post_reaches_the_function_with_its_access_key() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("echo.py");
    std::fs::write(&runtime, ECHO_RUNTIME).unwrap();
    let cmd = format!("python3 {}", runtime.display());
    let s = serve(&[
        "--function",
        &cmd,
        "--gateway",
        "buffered",
        "--stage",
        "prod",
        "--iam",
        "AKIDECHOTEST:echo-secret",
    ]);
    let post = |secret: &str, body: &str| {
        let o = std::process::Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", "--aws-sigv4"])
            .arg("aws:amz:us-east-1:execute-api")
            .arg("--user")
            .arg(format!("AKIDECHOTEST:{secret}"))
            .args(["-H", "content-type: text/plain", "--data-binary", body])
            .arg(format!("{}/prod/items", s.base))
            .output()
            .unwrap();
        let out = String::from_utf8(o.stdout).unwrap();
        let (body, status) = out.rsplit_once('\n').unwrap();
        (status.to_string(), body.to_string())
    };
    let (status, body) = post("echo-secret", "hello, function");
    assert_eq!(status, "200", "{body}");
    let event: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["httpMethod"], "POST");
    assert_eq!(event["body"], "hello, function");
    assert_eq!(
        event["requestContext"]["identity"]["accessKey"],
        "AKIDECHOTEST"
    );
    assert_eq!(event["requestContext"]["stage"], "prod");
    let (status, body) = post("not-the-secret", "hello, function");
    assert_eq!(status, "403", "{body}");
    assert!(body.contains("does not match"), "{body}");
}

/// An init past its limit is retried within the first invocation, bounded by the function
/// timeout (as Lambda does): a runtime that takes 2 s to start behind a 1 s init limit still
/// serves the first request when the function may run 20 s, and times it out when it may run
/// 1.5 s.
#[test]
fn a_slow_init_is_retried_within_the_function_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = shell_runtime_after(dir.path(), "sleep 2", LOGGING_ANSWER);
    for (timeout, status) in [("20", 200), ("1.5", 502)] {
        let log = dir.path().join(format!("serve-{timeout}.log"));
        let s = serve_logged(
            &[
                "--function",
                runtime.to_str().unwrap(),
                "--function-init-timeout",
                "1",
                "--function-timeout",
                timeout,
            ],
            &log,
        );
        let (o, r) = fetch(&s, "/x", &[]);
        drop(s);
        let log = std::fs::read_to_string(&log).unwrap();
        assert_eq!(r["response"]["status"], status, "{}\n{log}", stderr(&o));
        assert!(
            log.contains("INIT_REPORT Init Duration: 1000.00 ms\tPhase: init\tStatus: timeout"),
            "{log}"
        );
        if status == 502 {
            assert!(log.contains("Task timed out after 1.50 seconds"), "{log}");
        }
    }
}

/// Each run's report carries the log of the invocation that served it, as CloudWatch shows it:
/// START, the function's lines, END, REPORT; a failed run shows the function's own error (and
/// API Gateway's 502) in the report and in the printed summary.
#[test]
fn the_report_carries_the_function_log_of_its_invocation() {
    let up = serve(&[]);
    let upstream = format!("{}/download?size=1MiB&seed=21", up.base);
    let (s, path) = host(Backend::Rust, &upstream, &["--gateway", "stream"]);
    let (o, r) = fetch(&s, path, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let log: Vec<&str> = r["function_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let first = |prefix: &str| log.iter().position(|l| l.starts_with(prefix));
    let (start, end, report) = (first("START RequestId: "), first("END "), first("REPORT "));
    assert!(
        start.is_some() && start < end && end < report,
        "START, END, REPORT in order: {log:?}"
    );
    assert!(
        log[report.unwrap()].contains("Init Duration"),
        "a cold start: {log:?}"
    );
    // The second run is another invocation: its own log, warm.
    let (_, again) = fetch(&s, path, &[]);
    let again: Vec<&str> = again["function_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_ne!(again.first(), log.first(), "another request id");
    assert!(
        !again.iter().any(|l| l.contains("Init Duration")),
        "{again:?}"
    );

    let s = node_fixture("failsFirst");
    let (o, r) = fetch(&s, "/x", &[]);
    assert_eq!(r["response"]["status"], 502);
    let log = r["function_log"].to_string();
    assert!(
        log.contains("nothing to answer with"),
        "the function's own error: {log}"
    );
    assert!(
        log.contains("502\\t"),
        "API Gateway's answer and its cause: {log}"
    );
    assert_eq!(o.status.code(), Some(1));
    // The printed summary shows it too.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bin");
    let o = get(&[&format!("{}/x", s.base), "-o", out.to_str().unwrap()]);
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(
        printed
            .lines()
            .any(|l| l.starts_with("function") && l.contains("nothing to answer with")),
        "{printed}"
    );
}
