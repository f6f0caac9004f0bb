//! Parallel ranges: a 200 MiB object through the gateway emulation with the real limits, verified
//! whole; segments cut and retried; servers that ignore Range, answer 416 or send ranges that
//! would overlap are refused, with nothing under the final name. (`scripts/bench-segments.sh`
//! times it against a single stream.)

// Tests may unwrap (a panic is the failure) and hold long tables.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;
use common::*;
use std::process::{Command, Stdio};

const MIB: u64 = 1024 * 1024;

fn fetch(
    url: &str,
    dir: &std::path::Path,
    extra: &[&str],
) -> (std::process::Output, serde_json::Value) {
    get_report(url, &dir.join("obj.bin"), &dir.join("r.json"), extra)
}

#[test]
fn two_hundred_mib_in_parallel_ranges_through_the_real_limits_is_whole_and_verified() {
    let s = serve(&["--gateway", "stream", "--lambda-limits"]);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/download?size=200MiB&seed=21&length=0", s.base);
    let (o, r) = fetch(&url, dir.path(), &["--segments", "20"]);
    assert!(
        o.status.success(),
        "{}\n{}",
        stderr(&o),
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(r["outcome"], "complete");
    assert_eq!(r["digest_match"], true);
    assert_eq!(r["expected_sha256_source"], "repr-digest");
    let out = dir.path().join("obj.bin");
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 200 * MIB);
    assert_eq!(r["sha256"], sha256sum(&out));
    let segs = r["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 34, "200 MiB in 6 MiB ranges");
    let mut next = 0u64;
    for s in segs {
        assert_eq!(s["from"], next, "in order, no gap, no overlap");
        let to = s["to"].as_u64().unwrap();
        assert!(to - next < 6 * MIB, "{s}");
        assert_eq!(s["bytes"], to - next + 1);
        assert_eq!(s["outcome"], "complete");
        assert_eq!(s["status"], 206);
        next = to + 1;
    }
    assert_eq!(next, 200 * MIB);
    // Each range stayed inside Lambda's unthrottled 6 MB: no throttle knee to report.
    let ids = finding_ids(&r);
    assert!(!ids.iter().any(|i| i == "lambda-throttle-knee"), "{ids:?}");
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(
        printed.contains("segments     34 ranges of up to 6.3 MB, 20 at a time"),
        "{printed}"
    );
    assert!(!dir.path().join("obj.bin.part").exists());
}

#[test]
fn cut_segments_are_retried_and_without_retries_the_part_keeps_its_whole_prefix() {
    let s = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    // Every response stops after 3 MiB of its own range: a 6 MiB range needs two requests.
    let url = format!("{}/download?size=20MiB&seed=5&fail_after=3MiB", s.base);
    let (o, r) = fetch(&url, dir.path(), &["--segments", "4", "--retry", "1"]);
    assert!(o.status.success(), "{r}");
    assert_eq!(r["digest_match"], true);
    let requests: Vec<u64> = r["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .collect();
    assert_eq!(requests, vec![2, 2, 2, 1], "the last range is 2 MiB");

    let d2 = tempfile::tempdir().unwrap();
    let (o, r) = fetch(&url, d2.path(), &["--segments", "4"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(r["outcome"], "truncated", "{r}");
    assert!(
        !d2.path().join("obj.bin").exists(),
        "nothing under the final name"
    );
    // No range is whole from the start: nothing is kept that a resume could trust.
    let part = d2.path().join("obj.bin.part");
    assert_eq!(std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0), 0);
    // A cut in the third range (the object's byte 10 MiB): the two whole ranges before it are
    // kept, and a resume goes on from them.
    let late = format!("{}/download?size=20MiB&seed=5&fail_at=10MiB", s.base);
    let d3 = tempfile::tempdir().unwrap();
    let (o, r) = fetch(
        &late,
        d3.path(),
        // One at a time, so which ranges finished before the cut does not depend on timing.
        &["--segments", "1", "--segment-size", "4MiB"],
    );
    assert_eq!(o.status.code(), Some(1), "{r}");
    assert_eq!(r["outcome"], "truncated", "{r}");
    let kept = std::fs::metadata(d3.path().join("obj.bin.part"))
        .unwrap()
        .len();
    assert_eq!(kept, 8 * MIB, "the whole ranges before the cut");
    assert_eq!(r["output"]["bytes_written"], kept);
    let good = format!("{}/download?size=20MiB&seed=5", s.base);
    let (o, r) = fetch(&good, d3.path(), &["-C", "-"]);
    assert!(o.status.success(), "{r}");
    assert_eq!(r["resumed_from_bytes"], kept);
    assert_eq!(r["digest_match"], true);
}

/// python's http.server answering Range requests wrongly: `mode` "open" sends from the start
/// asked to the end of the object (a range that would overlap the next), "416" refuses all.
fn bad_range_server(mode: &str) -> Proc {
    const SCRIPT: &str = r#"
import sys, http.server, re
mode = sys.argv[1]
data = bytes(range(256)) * (40 * 1024)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def log_message(self, *a): pass
    def do_GET(self):
        m = re.match(r'bytes=(\d+)-(\d*)', self.headers.get('Range', ''))
        if mode == '416':
            self.send_response(416)
            self.send_header('Content-Range', 'bytes */%d' % len(data))
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        start = int(m.group(1)) if m else 0
        body = data[start:]
        self.send_response(206)
        self.send_header('Content-Range', 'bytes %d-%d/%d' % (start, len(data) - 1, len(data)))
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT, mode])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    Proc {
        child,
        base: format!("http://127.0.0.1:{}", line.trim()),
    }
}

#[test]
fn servers_that_do_not_serve_the_ranges_asked_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("f.bin"), vec![1u8; 20 * MIB as usize]).unwrap();
    let py = python_http_server(&www);
    let open = bad_range_server("open");
    let refuse = bad_range_server("416");
    let cases = [
        (format!("{}/f.bin", py.base), "ignores Range"),
        (format!("{}/x", refuse.base), "(416)"),
        (format!("{}/x", open.base), "would overlap"),
    ];
    for (url, says) in cases {
        let d = tempfile::tempdir().unwrap();
        let (o, r) = fetch(
            &url,
            d.path(),
            &["--segments", "4", "--segment-size", "1MiB"],
        );
        assert_eq!(o.status.code(), Some(1), "{url}");
        assert_eq!(r["outcome"], "range_refused", "{url}: {r}");
        let detail = r["outcome_detail"].as_str().unwrap();
        assert!(detail.contains(says), "{url}: {detail}");
        assert!(
            !d.path().join("obj.bin").exists(),
            "nothing under the final name"
        );
    }
}

#[test]
fn bad_segment_flags_are_usage_errors() {
    for bad in [
        &["--segments", "0"][..],
        &["--segments", "65"][..],
        &["--segments", "4", "--segment-size", "0"][..],
        &["--segments", "4", "--segment-size", "lots"][..],
        &["--segments", "4", "-C", "-"][..],
        &["--segments", "4", "-H", "Range: bytes=0-1"][..],
        &["--segment-size", "1MiB"][..],
    ] {
        let mut args = vec!["http://127.0.0.1:9/x", "-o", "/tmp/never-written.bin"];
        args.extend_from_slice(bad);
        let o = get(&args);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
    }
}

#[test]
fn a_usage_plan_throttles_the_sixth_request_and_ranges_back_off_to_fit_it() {
    // Burst 5 (the templates' default) at a rate so low that no token comes back during the test:
    // five immediate requests pass, the sixth is API Gateway's 429.
    let plan = serve(&[
        "--gateway",
        "stream",
        "--api-key",
        "k-1",
        "--usage-burst",
        "5",
        "--usage-rate",
        "0.01",
    ]);
    let url = format!("{}/download?size=10", plan.base);
    let o = Command::new("curl")
        .args(["-s", "-H", "x-api-key: k-1", "-w", "%{http_code} "])
        .args((0..6).flat_map(|_| [url.as_str(), "-o", "/dev/null"]))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "200 200 200 200 200 429"
    );
    let o = Command::new("curl")
        .args(["-s", "-D", "-", "-H", "x-api-key: k-1", &url])
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&o.stdout).to_ascii_lowercase();
    assert!(
        head.contains("x-amzn-errortype: toomanyrequestsexception"),
        "{head}"
    );
    assert!(
        head.contains(r#"{"message":"too many requests"}"#),
        "{head}"
    );

    // Scaled: burst 5, 40 requests/s. 30 ranges asked 10 at a time: 429s, waited out, the
    // concurrency lowered, and still every byte verified.
    let plan = serve(&[
        "--gateway",
        "stream",
        "--api-key",
        "k-2",
        "--usage-burst",
        "5",
        "--usage-rate",
        "40",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/download?size=30MiB&seed=3", plan.base);
    let (o, r) = fetch(
        &url,
        dir.path(),
        &[
            "--segments",
            "10",
            "--segment-size",
            "1MiB",
            "-H",
            "x-api-key: k-2",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(r["outcome"], "complete");
    assert_eq!(r["digest_match"], true);
    assert_eq!(r["segments"].as_array().unwrap().len(), 30);
    let throttled = r["throttled_responses"].as_u64().unwrap();
    let settled = r["settled_concurrency"].as_u64().unwrap();
    assert!(throttled > 0, "the plan answered 429s");
    assert!(settled < 10, "the concurrency was lowered: {settled}");
    let ids = finding_ids(&r);
    assert!(ids.iter().any(|i| i == "usage-plan-too-tight"), "{ids:?}");
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(
        printed.contains("429 Too Many Requests, waited out"),
        "{printed}"
    );
    eprintln!(
        "30 ranges, 10 at a time, through burst 5 / 40 per s: {throttled} 429s, settled at {settled}"
    );
}
