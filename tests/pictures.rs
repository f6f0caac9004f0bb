//! Charts as PNG files: `get --png` of a throttled run through the gateway emulation, the same
//! picture drawn again from the saved report by `streamscope report --png`, and bad input.

// Tests may unwrap (a panic is the failure) and hold long tables.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;
use common::*;
use std::process::Command;

const LINE: [u8; 3] = [230, 140, 20];
const THROTTLE: [u8; 3] = [200, 60, 40];
const MARK: [u8; 3] = [120, 120, 120];
/// The title strip: the only part that differs between `get --png` and `report --png`.
const TITLE_PX: u32 = 44;

fn report_png(report: &std::path::Path, png: &std::path::Path) -> std::process::Output {
    Command::new(BIN)
        .args([
            "report",
            report.to_str().unwrap(),
            "--png",
            png.to_str().unwrap(),
        ])
        .output()
        .unwrap()
}

#[test]
fn a_throttled_run_is_drawn_and_its_report_draws_the_same_charts() {
    // The knee at 10 MiB, then a scaled throttle (20 MiB/s) so the run takes about a second.
    let s = serve(&["--gateway", "stream", "--stream-rate", "20MiB"]);
    let dir = tempfile::tempdir().unwrap();
    let (png, json) = (dir.path().join("run.png"), dir.path().join("run.json"));
    let url = format!("{}/download?size=30MiB&length=0", s.base);
    let o = get(&[
        &url,
        "-o",
        dir.path().join("x.bin").to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--png",
        png.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let p = Picture::read(&png);
    assert_eq!((p.width, p.height), (1400, 1000));
    assert!(p.count(LINE) > 3000, "throughput, bytes and arrivals drawn");
    assert!(p.count(THROTTLE) > 200, "the 2 MB/s line");
    assert!(p.count(MARK) > 100, "the 6 and 10 MiB marks");
    let r = read_json(&json);
    assert_eq!(
        r["timeline"].as_array().unwrap().len() as u64,
        r["arrivals"].as_u64().unwrap(),
        "the report keeps every arrival"
    );

    let again = dir.path().join("again.png");
    let o = report_png(&json, &again);
    assert!(o.status.success(), "{}", stderr(&o));
    let q = Picture::read(&again);
    assert_eq!(
        p.below(TITLE_PX),
        q.below(TITLE_PX),
        "the report draws the same charts as the run"
    );
}

#[test]
fn reports_that_cannot_be_drawn_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let not_json = dir.path().join("x.json");
    std::fs::write(&not_json, "{ nope").unwrap();
    let other = dir.path().join("other.json");
    std::fs::write(&other, r#"{"schema_version": 9, "request": {"url": "u"}, "outcome": "complete", "duration_ms": 1}"#).unwrap();
    let png = dir.path().join("p.png");
    for (report, says) in [
        (dir.path().join("missing.json"), "cannot read"),
        (not_json, "is not a streamscope report"),
        (other, "schema_version 9"),
    ] {
        let o = report_png(&report, &png);
        assert_eq!(o.status.code(), Some(2), "{}", report.display());
        let err = stderr(&o);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(says), "{err}");
        assert!(!png.exists());
    }
    let o = get(&[
        "http://127.0.0.1:9/x",
        "-o",
        dir.path().join("x.bin").to_str().unwrap(),
        "--png",
        "/no/such/dir/p.png",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("(--png)"), "{}", stderr(&o));
}

/// Runs `streamscope ARGS` with its address space limited to `kib` KiB (`ulimit -v`): what takes
/// memory without bound fails instead of taking the machine.
fn limited(kib: u64, args: &[&str]) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$@\""))
        .arg("sh")
        .arg(BIN)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn hostile_reports_are_refused_or_drawn_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("h.png");
    let p = png.to_str().unwrap();
    // Not a regular file, or larger than a report may be (a sparse file: no disk used).
    let huge = dir.path().join("huge.json");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(300 << 20)
        .unwrap();
    // Arrivals after the end, out of order, or more bytes than arrived.
    let report = |name: &str, body: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(r#"{{"schema_version": 1, "request": {{"url": "http://x/"}}, "outcome": "complete", {body}}}"#),
        )
        .unwrap();
        path
    };
    let late = report(
        "late.json",
        r#""duration_ms": 3, "bytes": 10, "timeline": [[1000, 5], [18446744073709551615, 5]]"#,
    );
    let unsorted = report(
        "unsorted.json",
        r#""duration_ms": 3, "bytes": 10, "timeline": [[2000, 5], [1000, 5]]"#,
    );
    let too_many = report(
        "bytes.json",
        r#""duration_ms": 3, "bytes": 9, "timeline": [[1000, 5], [2000, 5]]"#,
    );
    for (input, says) in [
        ("/dev/zero", "not a regular file"),
        (huge.to_str().unwrap(), "larger than the 256 MiB"),
        (late.to_str().unwrap(), "after the run ended"),
        (unsorted.to_str().unwrap(), "earlier than the one before"),
        (too_many.to_str().unwrap(), "more than the 9 bytes"),
    ] {
        let o = limited(600_000, &["report", input, "--png", p]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{input}: {err}");
        assert!(err.contains(says), "{input}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(!png.exists());
    }
    // A run that claims to have lasted 584 years, with an arrival at its end: a possible report,
    // drawn with coarser windows in a few tens of MB, not 24 GB.
    let long = report(
        "long.json",
        r#""duration_ms": 18446744073709.6, "bytes": 300, "timeline": [[1000, 100], [18446744073709551000, 200]]"#,
    );
    let o = limited(600_000, &["report", long.to_str().unwrap(), "--png", p]);
    assert!(o.status.success(), "{}", stderr(&o));
    let drawn = Picture::read(&png);
    let line = drawn
        .below(TITLE_PX)
        .iter()
        .filter(|px| **px == [230, 140, 20])
        .count();
    assert!(
        line > 1000,
        "the run's line is drawn across the charts: {line} px"
    );
}
