//! `streamscope get` against `streamscope serve`, curl and python's http.server, as a user runs them.

// Tests may unwrap (a panic is the failure) and hold long tables.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;
use base64::Engine;
use common::*;

const MIB: u64 = 1024 * 1024;

#[test]
fn sizes_hash_equal_to_repr_digest_sha256sum_and_curl() {
    let server = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    for size in [0, 1, 10 * MIB - 1, 10 * MIB + 1, 100 * MIB] {
        for length in [1, 0] {
            let url = format!(
                "{}/download?size={size}&length={length}&seed={}",
                server.base,
                size % 97
            );
            let out = dir.path().join(format!("f-{size}-{length}.bin"));
            let json = dir.path().join("r.json");
            let o = get(&[
                &url,
                "-o",
                out.to_str().unwrap(),
                "--json",
                json.to_str().unwrap(),
                "-q",
            ]);
            assert!(
                o.status.success(),
                "size {size} length {length}: {}",
                stderr(&o)
            );
            let r = read_json(&json);
            assert_eq!(r["outcome"], "complete");
            assert_eq!(r["bytes"], size, "size {size}");
            assert_eq!(std::fs::metadata(&out).unwrap().len(), size);
            assert!(
                !part_of(&out).exists(),
                "no .part left after a complete download"
            );
            assert_eq!(r["expected_sha256_source"], "repr-digest");
            assert_eq!(r["digest_match"], true);
            let ours = r["sha256"].as_str().unwrap().to_string();
            assert_eq!(
                ours,
                sha256sum(&out),
                "report digest = sha256sum of the saved file"
            );
            let (curl_sha, curl_headers) = curl_fetch(&url, dir.path());
            assert_eq!(ours, curl_sha, "curl fetched the same bytes");
            let repr = header_of(&curl_headers, "repr-digest").expect("Repr-Digest header");
            let b64 = repr
                .strip_prefix("sha-256=:")
                .and_then(|s| s.strip_suffix(':'))
                .unwrap();
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap();
            assert_eq!(hex::encode(raw), ours, "Repr-Digest is the body's SHA-256");
            if length == 1 {
                assert_eq!(r["expected_bytes"], size);
                assert_eq!(
                    header_of(&curl_headers, "content-length").as_deref(),
                    Some(size.to_string().as_str())
                );
            } else {
                assert!(
                    r["expected_bytes"].is_null(),
                    "chunked: no announced length"
                );
                assert!(header_of(&curl_headers, "content-length").is_none());
            }
            std::fs::remove_file(&out).unwrap();
        }
    }
}

/// Runs one download expected to fail; returns its report after checking what every failure shares.
fn failing(url: &str, extra: &[&str], outcome: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bin");
    let json = dir.path().join("r.json");
    let (o, r) = get_report(url, &out, &json, &[&["-q"], extra].concat());
    assert_eq!(
        o.status.code(),
        Some(1),
        "{url}: exit 1 for a failed download; stderr {}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains(outcome),
        "stderr names the outcome {outcome}: {}",
        stderr(&o)
    );
    assert!(!out.exists(), "{url}: nothing under the final name");
    assert_eq!(r["outcome"], outcome, "{url}");
    assert_eq!(r["output"]["saved"], false);
    let part = part_of(&out);
    if r["output"]["partial_left"] == true {
        let meta = std::fs::metadata(&part).unwrap();
        assert_eq!(
            meta.len(),
            r["bytes"].as_u64().unwrap(),
            "the .part holds what arrived"
        );
        // Room reserved for an announced length that never came is given back.
        let allocated = std::os::unix::fs::MetadataExt::blocks(&meta) * 512;
        assert!(
            allocated < meta.len() + 256 * 1024,
            "{allocated} bytes allocated for a {}-byte .part",
            meta.len()
        );
    } else {
        assert!(!part.exists());
    }
    r
}

#[test]
fn every_fault_knob_maps_to_its_outcome() {
    let s = serve(&[]);
    let b = &s.base;
    for length in [1, 0] {
        let r = failing(
            &format!("{b}/download?size=4MiB&fail_after=1MiB&length={length}"),
            &[],
            "truncated",
        );
        assert_eq!(
            r["bytes"], MIB,
            "every byte before the drop arrived and was saved"
        );
        assert_eq!(r["output"]["partial_left"], true);
        assert_eq!(r["output"]["bytes_written"], MIB);
        assert!(
            r["digest_match"].is_null(),
            "a cut-off body is not compared with the digest"
        );
        assert!(
            r["expected_sha256"].is_string(),
            "but the announced digest is reported"
        );
    }
    let r = failing(
        &format!("{b}/download?size=4MiB&stall_after=100KiB&stall_ms=5000"),
        &["--idle-timeout", "0.5"],
        "stalled",
    );
    assert_eq!(r["bytes"], 100 * 1024);
    let r = failing(
        &format!("{b}/download?size=2MiB&lambda_error_after=1MiB"),
        &[],
        "lambda_stream_error",
    );
    assert!(
        r["outcome_detail"]
            .as_str()
            .unwrap()
            .contains("Runtime.StreamError")
    );
    let r = failing(&format!("{b}/download?status=404"), &[], "http_error");
    assert!(
        r["sha256"].is_null(),
        "an error body is not the download: no digest"
    );
    assert!(
        r["http_error_body_preview"]
            .as_str()
            .unwrap()
            .contains("synthetic status 404")
    );
    assert_eq!(r["response"]["status"], 404);
    let r = failing(
        &format!("{b}/download?size=1MiB"),
        &["--expect-sha256", &"0".repeat(64)],
        "digest_mismatch",
    );
    assert_eq!(r["expected_sha256_source"], "user");
    assert_eq!(r["digest_match"], false);
    failing(
        &format!("{b}/download?size=10MiB&rate=1MB"),
        &["--max-time", "0.5"],
        "timed_out",
    );
    failing(
        &format!("{b}/download?delay_ms=3000"),
        &["--idle-timeout", "0.5"],
        "stalled",
    );
    // A port nobody listens on (held, so nothing else takes it meanwhile).
    let refused = refused_port();
    let r = failing(
        &format!("http://127.0.0.1:{}/x", refused.port),
        &[],
        "connect_error",
    );
    assert!(
        r["outcome_detail"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{}",
        r["outcome_detail"]
    );
    assert!(r["sha256"].is_null(), "no body was read, so no digest");
}

#[test]
fn server_we_did_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("served");
    std::fs::create_dir(&served).unwrap();
    let mut data = vec![0u8; 5 * MIB as usize + 123];
    streamscope::backend::synthetic::fill(99, 0, &mut data);
    std::fs::write(served.join("blob.bin"), &data).unwrap();
    let py = python_http_server(&served);
    let out = dir.path().join("blob.bin");
    let json = dir.path().join("r.json");
    let url = format!("{}/blob.bin", py.base);
    let o = get(&[
        &url,
        "-o",
        out.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = read_json(&json);
    assert_eq!(r["bytes"], data.len());
    assert_eq!(r["expected_bytes_source"], "content-length");
    assert!(r["expected_sha256"].is_null(), "python sends no digest");
    assert_eq!(
        r["sha256"].as_str().unwrap(),
        sha256sum(&served.join("blob.bin"))
    );
    assert_eq!(std::fs::read(&out).unwrap(), data);
    let summary = String::from_utf8_lossy(&o.stdout);
    assert!(summary.contains("no reference digest"), "{summary}");
    // And a 404 from it.
    failing(&format!("{}/missing.bin", py.base), &[], "http_error");
}

/// A download is judged by how it ended, not by what it contains: a file that happens to end with
/// the Lambda runtime's error text is complete when it arrived whole; the same text as the last
/// bytes of a body that fell short means the function failed.
#[test]
fn the_lambda_error_text_counts_only_when_the_body_fell_short() {
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("served");
    std::fs::create_dir(&served).unwrap();
    let mut data = vec![0u8; 300 * 1024];
    streamscope::backend::synthetic::fill(3, 0, &mut data);
    data.extend_from_slice(
        streamscope::backend::download::lambda_error_tail("an exported log line").as_bytes(),
    );
    std::fs::write(served.join("ends-with-lambda-text.bin"), &data).unwrap();
    // And a text file whose last lines mention the header, as a CloudWatch export or a source
    // file of this repository does.
    let log = "START RequestId: 1\nLambda-Runtime-Function-Error-Type: Runtime.StreamError\n\
               Lambda-Runtime-Function-Error-Body: Ym9vbQ==\nEND RequestId: 1\n";
    std::fs::write(served.join("export.log"), log.repeat(2000)).unwrap();
    let py = python_http_server(&served);
    for name in ["ends-with-lambda-text.bin", "export.log"] {
        let out = dir.path().join(name);
        let json = dir.path().join("r.json");
        let o = get(&[
            &format!("{}/{name}", py.base),
            "-o",
            out.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let r = read_json(&json);
        assert_eq!(r["outcome"], "complete", "{name}");
        assert_eq!(r["expected_bytes_source"], "content-length");
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(served.join(name)).unwrap()
        );
        assert!(!part_of(&out).exists());
    }
    // The same bytes under a Content-Length that announces more: the text is the last thing
    // that came before the connection closed.
    let short = python_short_body_server(&served.join("ends-with-lambda-text.bin"), 1000);
    let r = failing(&format!("{}/x", short.base), &[], "lambda_stream_error");
    assert_eq!(r["bytes"], data.len());
    assert!(
        r["outcome_detail"]
            .as_str()
            .unwrap()
            .contains("an exported log line"),
        "{}",
        r["outcome_detail"]
    );
    // Chunked, with the text as the last bytes: our backend's knob does exactly that.
    let s = serve(&[]);
    let r = failing(
        &format!(
            "{}/download?size=1MiB&lambda_error_after=512KiB&length=0",
            s.base
        ),
        &[],
        "lambda_stream_error",
    );
    assert!(r["expected_bytes"].is_null(), "no announced length");
}

#[test]
fn bad_input_is_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bin");
    let o = out.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["not a url", "-o", o], "not a URL"),
        (vec!["ftp://127.0.0.1/x", "-o", o], "unsupported scheme"),
        (
            vec!["http://127.0.0.1:1/x", "-o", o, "-H", "NoColonHere"],
            "malformed header",
        ),
        (
            vec!["http://127.0.0.1:1/x", "-o", o, "-H", "Bad Name: v"],
            "invalid header",
        ),
        (
            vec![
                "http://127.0.0.1:1/x",
                "-o",
                "/nonexistent-streamscope-dir/x.bin",
            ],
            "does not exist",
        ),
        (
            vec!["http://127.0.0.1:1/x", "-o", o, "--expect-sha256", "xyz"],
            "64 hex digits",
        ),
        (
            vec!["http://127.0.0.1:1/x", "-o", o, "--idle-timeout", "-1"],
            "idle-timeout",
        ),
        (
            vec![
                "http://127.0.0.1:1/x",
                "-o",
                o,
                "--json",
                "/nonexistent-streamscope-dir/r.json",
            ],
            "does not exist",
        ),
        (
            vec!["http://127.0.0.1:1/x", "-o", dir.path().to_str().unwrap()],
            "is a directory",
        ),
    ];
    for (args, needle) in cases {
        let r = get(&args);
        let err = stderr(&r);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: {err:?} should mention {needle:?}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one line: {err:?}");
        assert!(!err.contains("panicked"));
        assert!(!out.exists());
    }
    // clap's own usage errors are exit 2 too.
    assert_eq!(get(&[]).status.code(), Some(2));
}

#[test]
fn reports_redact_secrets_and_csv_adds_up() {
    let s = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bin");
    let json = dir.path().join("r.json");
    let csv = dir.path().join("a.csv");
    let url = format!("{}/download?size=3MiB&chunk=16KiB&token=hunter2", s.base);
    let o = get(&[
        &url,
        "-o",
        out.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
        "-H",
        "Authorization: Bearer sekrit-1",
        "-H",
        "x-api-key: sekrit-2",
        "-H",
        "Cookie: s=sekrit-3",
        "-H",
        "X-Custom: sekrit-4",
        "--redact",
        "x-custom",
        "-H",
        "X-Visible: fine",
    ]);
    // `token` is an unknown knob: the backend answers 400 and the run is an http_error.
    assert_eq!(o.status.code(), Some(1));
    let text = std::fs::read_to_string(&json).unwrap();
    for secret in ["sekrit-1", "sekrit-2", "sekrit-3", "sekrit-4", "hunter2"] {
        assert!(!text.contains(secret), "{secret} leaked into the report");
    }
    assert!(text.contains("X-Visible") && text.contains("fine"));
    assert!(
        text.contains("unknown parameter"),
        "400 body preview is kept"
    );

    let url = format!("{}/download?size=3MiB&chunk=16KiB", s.base);
    let o = get(&[
        &url,
        "-o",
        out.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let r = read_json(&json);
    let rows: Vec<String> = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(rows[0], "t_offset_s,bytes,cumulative_bytes,gap_ms");
    assert_eq!(rows.len() as u64 - 1, r["arrivals"].as_u64().unwrap());
    let last: Vec<&str> = rows.last().unwrap().split(',').collect();
    assert_eq!(last[2].parse::<u64>().unwrap(), 3 * MIB);
    let sum: u64 = rows[1..]
        .iter()
        .map(|l| l.split(',').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(sum, 3 * MIB);
    for key in [
        "schema_version",
        "headers_ms",
        "first_byte_ms",
        "duration_ms",
        "arrival_bytes_median",
        "largest_gap_ms",
        "peak_bytes_per_sec",
        "throughput_split_10mib",
        "throughput_split_10mb",
    ] {
        assert!(!r[key].is_null(), "report has {key}");
    }
    assert!(r["first_byte_ms"].as_f64().unwrap() >= r["headers_ms"].as_f64().unwrap());
}

#[test]
fn http2_and_ranges() {
    let s = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bin");
    let json = dir.path().join("r.json");
    let url = format!("{}/download?size=5MiB", s.base);
    let o = get(&[
        &url,
        "-o",
        out.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--http2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = read_json(&json);
    assert_eq!(r["response"]["http_version"], "HTTP/2.0");
    assert_eq!(r["digest_match"], true);

    let o = get(&[
        &url,
        "-o",
        out.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "-H",
        "Range: bytes=100-199",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = read_json(&json);
    assert_eq!(r["response"]["status"], 206);
    assert_eq!(r["bytes"], 100);
    assert!(
        r["expected_sha256"].is_null(),
        "Repr-Digest covers the whole representation, not the range"
    );
    let mut want = vec![0u8; 100];
    streamscope::backend::synthetic::fill(1, 100, &mut want);
    assert_eq!(std::fs::read(&out).unwrap(), want);
    failing(&url, &["-H", "Range: bytes=99999999-"], "http_error");
}

#[test]
fn ctrl_c_cancels_keeps_the_part_and_writes_the_report() {
    let s = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.bin");
    let json = dir.path().join("r.json");
    let url = format!("{}/download?size=50MB&rate=2MB", s.base);
    let mut child = std::process::Command::new(BIN)
        .args([
            "get",
            &url,
            "-o",
            out.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
            "-q",
        ])
        .spawn()
        .unwrap();
    let part = part_of(&out);
    let t0 = std::time::Instant::now();
    while std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0) < 1_000_000 {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(20),
            "bytes should reach the .part"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(1),
        "a cancelled download is a failed one"
    );
    let r = read_json(&json);
    assert_eq!(r["outcome"], "cancelled");
    assert!(!out.exists(), "nothing under the final name");
    assert_eq!(
        std::fs::metadata(&part).unwrap().len(),
        r["bytes"].as_u64().unwrap()
    );
    assert!(r["bytes"].as_u64().unwrap() < 50_000_000);
}

/// python's http.server answering `/hop/N` with a redirect to `/hop/N-1` and `/hop/0` with 64 KiB,
/// closing the connection after every response without saying `Connection: close`: the next
/// request may go out on a connection the server has already closed.
const CLOSING_REDIRECTS: &str = r#"
import http.server
body = bytes(range(256)) * 256
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        n = int(self.path.rsplit('/', 1)[1])
        if n > 0:
            self.send_response(302)
            self.send_header('Location', '/hop/%d' % (n - 1))
            self.send_header('Content-Length', '0')
            self.end_headers()
        else:
            self.send_response(200)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

#[test]
fn a_pooled_connection_the_server_closed_is_retried_once_on_a_fresh_one() {
    use std::io::BufRead;
    let mut child = std::process::Command::new("python3")
        .args(["-c", CLOSING_REDIRECTS])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let server = Proc {
        child,
        base: format!("http://127.0.0.1:{}", line.trim()),
    };
    let dir = tempfile::tempdir().unwrap();
    let mut retried = 0;
    for run in 0..20 {
        let out = dir.path().join(format!("r{run}.bin"));
        let json = dir.path().join(format!("r{run}.json"));
        let (o, r) = get_report(
            &format!("{}/hop/20", server.base),
            &out,
            &json,
            &["--max-redirs", "20", "-q"],
        );
        assert!(
            o.status.success(),
            "run {run}: {} {}",
            stderr(&o),
            r["outcome_detail"]
        );
        assert_eq!(r["bytes"], 65536);
        assert_eq!(r["redirects"].as_array().unwrap().len(), 20);
        retried += r["fresh_connection_retries"].as_u64().unwrap();
    }
    eprintln!(
        "20 of 20 runs of a 20-hop chain complete; {retried} requests sent again on a fresh connection"
    );
}

/// A server that answers every connection with `head` (then closes): responses no HTTP client
/// should accept.
fn raw_server(head: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let t = std::thread::spawn(move || {
        use std::io::{Read, Write};
        // One connection per case (the client does not retry a response it could not read).
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _request = s.read(&mut buf);
            s.write_all(&head).ok();
        }
    });
    (base, t)
}

#[test]
fn protocol_errors_say_what_was_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..100_000 {
        huge.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "y".repeat(40)).as_bytes());
    }
    huge.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (huge, "headers are too large"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n".to_vec(),
            "Content-Length is not a valid length",
        ),
        (
            b"HTTP/1.1 abc OK\r\n\r\n".to_vec(),
            "status line is malformed",
        ),
        (
            b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n".to_vec(),
            "not valid HTTP",
        ),
    ];
    for (head, says) in cases {
        let (base, t) = raw_server(head);
        let out = dir.path().join("p.bin");
        let json = dir.path().join("p.json");
        let (o, r) = get_report(&format!("{base}/x"), &out, &json, &["-q"]);
        t.join().unwrap();
        assert_eq!(o.status.code(), Some(1));
        let detail = r["outcome_detail"].as_str().unwrap();
        assert!(detail.starts_with("invalid response: "), "{detail}");
        assert!(detail.contains(says), "{says:?} in {detail:?}");
        assert!(!out.exists());
    }
}

#[test]
fn a_missed_threshold_is_exit_3_with_the_value_seen() {
    // 12 MiB at 3 MB/s after the first 10 MiB: complete, but slower than 5 MB/s after 10 MiB.
    let server = serve(&["--gateway", "stream", "--stream-rate", "3MB"]);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/download?size=12MiB", server.base);
    let out = dir.path().join("t.bin");
    let json = dir.path().join("t.json");
    let (o, r) = get_report(
        &url,
        &out,
        &json,
        &[
            "--require",
            "after_10mib>=5MB/s",
            "--require",
            "delivery==streamed",
            "-q",
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert_eq!(r["outcome"], "complete");
    assert!(out.exists(), "the file is saved: only the threshold failed");
    let line = err
        .lines()
        .find(|l| l.contains("threshold missed: after_10mib>=5MB/s"))
        .unwrap_or_else(|| panic!("{err}"));
    let seen: f64 = line
        .split("(seen: ")
        .nth(1)
        .and_then(|s| s.strip_suffix(" MB/s)"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(seen > 2.0 && seen < 4.0, "{line}");
    assert_eq!(r["thresholds"][0]["passed"], false);
    assert_eq!(r["thresholds"][1]["passed"], true);
    // The summary lists both, and the headline says one was missed.
    let o = get(&[
        &url,
        "-o",
        out.to_str().unwrap(),
        "--require",
        "after_10mib>=5MB/s",
        "--require",
        "delivery==streamed",
    ]);
    let summary = String::from_utf8_lossy(&o.stdout);
    assert!(
        summary
            .lines()
            .next()
            .unwrap()
            .contains("1 of 2 threshold(s) missed"),
        "{summary}"
    );
    assert!(summary.contains("MISSED after_10mib>=5MB/s"), "{summary}");
    assert!(
        summary.contains("met    delivery==streamed (seen: streamed)"),
        "{summary}"
    );
    // The same run with a threshold it meets: exit 0.
    let o = get(&[
        &url,
        "-o",
        out.to_str().unwrap(),
        "--require",
        "after_10mib>=1.9MB/s",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // A failed download stays exit 1, whatever the thresholds.
    let o = get(&[
        &format!("{}/download?size=1000&status=500", server.base),
        "-o",
        out.to_str().unwrap(),
        "--require",
        "bytes>=1",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(1));
}

/// python's http.server answering the first GET with 429 and `Retry-After: 1`, the next ones with
/// 64 KiB; it prints when each request came (seconds, monotonic) to stderr.
const RETRY_AFTER_SERVER: &str = r#"
import http.server, sys, time
body = bytes(range(256)) * 256
seen = []
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        seen.append(time.monotonic())
        print("request at %.3f" % seen[-1], file=sys.stderr, flush=True)
        if len(seen) == 1:
            self.send_response(429)
            self.send_header('Retry-After', '1')
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

#[test]
fn retry_waits_as_retry_after_says_on_a_429() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut child = std::process::Command::new("python3")
        .args(["-c", RETRY_AFTER_SERVER])
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let server = Proc {
        child,
        base: format!("http://127.0.0.1:{}", line.trim()),
    };
    let out = dir.path().join("r.bin");
    let json = dir.path().join("r.json");
    let (o, r) = get_report(
        &format!("{}/x", server.base),
        &out,
        &json,
        &["--retry", "2", "-q"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(r["bytes"], 65536);
    assert_eq!(r["throttled_responses"], 1);
    let attempts = r["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["status"], 429);
    let times: Vec<f64> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("request at ")?.parse().ok())
        .collect();
    assert_eq!(times.len(), 2, "one 429, then the download");
    assert!(
        times[1] - times[0] >= 1.0,
        "waited the Retry-After second: {times:?}"
    );
    // Only the first request was throttled: the next run needs no wait.
    let (o, r) = get_report(&format!("{}/x", server.base), &out, &json, &["-q"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "the server now answers 200: {}",
        stderr(&o)
    );
    assert_eq!(r["throttled_responses"], 0);
}
