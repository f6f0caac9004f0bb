//! Resume and retry against real servers: our backend (which cuts or stalls each response on
//! request, sends an ETag and honours If-Range) and python's http.server (which ignores Range).

// Tests may unwrap (a panic is the failure) and hold long tables.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;
use common::*;

const MIB: u64 = 1024 * 1024;

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn out(&self) -> std::path::PathBuf {
        self.dir.path().join("object.bin")
    }
    fn part(&self) -> std::path::PathBuf {
        part_of(&self.out())
    }
    fn get(&self, url: &str, extra: &[&str]) -> (std::process::Output, serde_json::Value) {
        get_report(url, &self.out(), &self.dir.path().join("r.json"), extra)
    }
}

#[test]
fn a_cut_download_resumes_to_the_whole_verified_file_and_a_changed_object_is_refused() {
    let s = serve(&[]);
    let d = Dir::new();
    let cut = format!("{}/download?size=20MiB&seed=1&fail_after=5MiB", s.base);
    let (o, r) = d.get(&cut, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(r["outcome"], "truncated");
    assert_eq!(std::fs::metadata(d.part()).unwrap().len(), 5 * MIB);

    // Another version of the object (another seed: another ETag): refused, the .part untouched.
    let before = sha256sum(&d.part());
    let other = format!("{}/download?size=20MiB&seed=2", s.base);
    let (o, r) = d.get(&other, &["-C", "-"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(r["outcome"], "range_refused", "{r}");
    assert!(
        r["outcome_detail"]
            .as_str()
            .unwrap()
            .contains("the whole object (200)"),
        "{r}"
    );
    assert_eq!(sha256sum(&d.part()), before, "the .part is left as it was");
    assert!(!d.out().exists());

    // The same object: the rest arrives, and the whole file is checked against Repr-Digest.
    let same = format!("{}/download?size=20MiB&seed=1", s.base);
    let (o, r) = d.get(&same, &["--resume"]);
    assert!(o.status.success(), "{}\n{r}", stderr(&o));
    assert_eq!(r["outcome"], "complete");
    assert_eq!(r["resumed_from_bytes"], 5 * MIB);
    assert_eq!(r["bytes"], 15 * MIB, "only the rest was fetched");
    assert_eq!(r["response"]["status"], 206);
    assert_eq!(r["digest_match"], true);
    assert_eq!(r["expected_sha256_source"], "repr-digest");
    assert_eq!(
        r["sha256"],
        sha256sum(&d.out()),
        "the digest covers the whole file"
    );
    let (whole, _) = curl_fetch(&same, d.dir.path());
    assert_eq!(r["sha256"], whole, "and the file is the object curl gets");
    assert!(!d.part().exists());
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(
        printed.starts_with("Complete: 21.0 MB in 1 request(s), verified whole"),
        "{printed}"
    );
}

#[test]
fn retry_continues_each_cut_until_the_object_is_whole() {
    let s = serve(&[]);
    let d = Dir::new();
    // Every response is cut after 5 MiB of its own range.
    let url = format!("{}/download?size=20MiB&seed=7&fail_after=5MiB", s.base);
    let (o, r) = d.get(&url, &["--retry", "3"]);
    assert!(o.status.success(), "{}\n{r}", stderr(&o));
    assert_eq!(r["outcome"], "complete");
    let attempts = r["attempts"].as_array().unwrap();
    let from: Vec<u64> = attempts
        .iter()
        .map(|a| a["from_byte"].as_u64().unwrap())
        .collect();
    assert_eq!(from, vec![0, 5 * MIB, 10 * MIB, 15 * MIB]);
    let outcomes: Vec<&str> = attempts
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["truncated", "truncated", "truncated", "complete"]
    );
    for a in attempts {
        assert_eq!(a["bytes"], 5 * MIB);
        assert!(a["ended_ms"].as_f64() >= a["started_ms"].as_f64());
    }
    assert_eq!(r["bytes"], 20 * MIB);
    assert_eq!(r["digest_match"], true);
    assert_eq!(r["sha256"], sha256sum(&d.out()));
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(
        printed.contains("attempts     200 from byte 0 at "),
        "{printed}"
    );

    // Too few retries: truncated after 3 requests, 15 MiB kept; then a resume finishes it.
    let d2 = Dir::new();
    let (o, r) = d2.get(&url, &["--retry", "2"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(r["outcome"], "truncated");
    assert_eq!(r["attempts"].as_array().unwrap().len(), 3);
    assert_eq!(std::fs::metadata(d2.part()).unwrap().len(), 15 * MIB);
    assert!(!d2.out().exists());
    let (o, r) = d2.get(&url, &["-C", "-"]);
    assert!(o.status.success(), "{r}");
    assert_eq!(r["sha256"], sha256sum(&d.out()), "the same object");
}

#[test]
fn a_stalled_attempt_is_retried() {
    let s = serve(&[]);
    let d = Dir::new();
    // Each response pauses a minute after 5 MiB; the second one has only 3 MiB to send.
    let url = format!(
        "{}/download?size=8MiB&seed=3&stall_after=5MiB&stall_ms=60000",
        s.base
    );
    let (o, r) = d.get(&url, &["--retry", "1", "--idle-timeout", "1"]);
    assert!(o.status.success(), "{r}");
    let outcomes: Vec<&str> = r["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["stalled", "complete"]);
    assert_eq!(r["digest_match"], true);
}

#[test]
fn servers_that_ignore_range_are_refused_and_missing_parts_start_over() {
    let d = Dir::new();
    let www = d.dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("f.bin"), vec![9u8; 3 * MIB as usize]).unwrap();
    let py = python_http_server(&www);
    let url = format!("{}/f.bin", py.base);
    // No .part: --resume downloads from the start, as curl -C - does.
    let (o, r) = d.get(&url, &["-C", "-"]);
    assert!(o.status.success(), "{r}");
    assert_eq!(r["resumed_from_bytes"], 0);
    std::fs::remove_file(d.out()).unwrap();
    // A .part from elsewhere (no .resume beside it), and a server that answers 200 to Range.
    std::fs::write(d.part(), vec![9u8; MIB as usize]).unwrap();
    let (o, r) = d.get(&url, &["-C", "-"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(r["outcome"], "range_refused");
    assert_eq!(std::fs::metadata(d.part()).unwrap().len(), MIB);
    assert!(!d.out().exists());
}

#[test]
fn a_part_without_its_validator_still_resumes_and_bad_flags_are_refused() {
    let s = serve(&[]);
    let d = Dir::new();
    let url = format!("{}/download?size=6MiB&seed=5", s.base);
    // The first 2 MiB as curl would have left them.
    let (_, _) = d.get(&format!("{url}&fail_after=2MiB"), &[]);
    std::fs::remove_file(d.dir.path().join("object.bin.part.resume")).unwrap();
    let (o, r) = d.get(&url, &["-C", "-"]);
    assert!(o.status.success(), "{r}");
    assert_eq!(r["digest_match"], true);

    for bad in [
        &["-C", "-", "-H", "Range: bytes=0-9"][..],
        &["--retry", "101"][..],
        &["-C", "5"][..],
    ] {
        let o = get(&[&url, "-o", "/tmp/never-written.bin"]
            .iter()
            .chain(bad)
            .copied()
            .collect::<Vec<_>>());
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
    }
}

/// `--resume` is a flag wherever it stands (it once took the next argument as its value, so
/// `--resume -q` failed and `--resume --json R` swallowed `--json`); `-C -` is curl's spelling.
#[test]
fn resume_is_a_flag_anywhere_and_dash_c_dash_is_curls() {
    let s = serve(&[]);
    let url = format!("{}/download?size=1MiB", s.base);
    let d = Dir::new();
    let out = d.out().display().to_string();
    let json = d.dir.path().join("r.json").display().to_string();
    let orders: [Vec<&str>; 4] = [
        vec![&url, "-o", &out, "--resume", "-q", "--json", &json],
        vec![&url, "--resume", "--json", &json, "-o", &out, "-q"],
        vec!["--resume", &url, "-o", &out, "--json", &json, "-q"],
        vec![&url, "-C", "-", "-o", &out, "--json", &json, "-q"],
    ];
    for args in orders {
        std::fs::remove_file(&out).ok();
        std::fs::remove_file(&json).ok();
        let o = get(&args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let r = read_json(std::path::Path::new(&json));
        assert_eq!(r["outcome"], "complete", "{args:?}");
        assert_eq!(r["bytes"], 1024 * 1024, "{args:?}");
    }
    // `-C` takes only `-`, as curl's byte offset is what the .part already says.
    let o = get(&[&url, "-C", "5", "-o", &out]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
