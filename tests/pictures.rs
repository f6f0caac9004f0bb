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
