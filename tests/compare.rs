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
