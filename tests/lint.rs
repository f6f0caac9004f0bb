//! `streamscope lint` on real files: one broken fixture per rule, each triggering exactly that rule
//! at the line marked `lint-expect: RULE` in the fixture (a JSON fixture, which cannot carry
//! comments, says its line here); the project's own templates and a clean Terraform module and
//! OpenAPI file clean; the JSON format, the text format and the exit codes.

// Tests may unwrap (a panic is the failure) and hold long tables.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::path::{Path, PathBuf};
use std::process::Output;
use streamscope::lint::{RULES, Severity};

const BIN: &str = env!("CARGO_BIN_EXE_streamscope");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lint")
        .join(name)
}

fn project(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn lint(args: &[&Path], format: &str) -> Output {
    let mut cmd = std::process::Command::new(BIN);
    cmd.arg("lint").arg("--format").arg(format);
    cmd.args(args);
    cmd.output().expect("run streamscope lint")
}

/// The findings of `--format json`, as (file name, rule, line).
fn json_findings(o: &Output) -> (serde_json::Value, Vec<(String, String, u64)>) {
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "lint --format json prints JSON ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    });
    let found = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let file = Path::new(f["file"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (
                file,
                f["rule"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect();
    (v, found)
}

/// The (file name, rule, line) a fixture's `lint-expect:` comments promise, file by file.
fn marked(path: &Path) -> Vec<(String, String, u64)> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut f: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        f.sort();
        f
    } else {
        vec![path.to_path_buf()]
    };
    let mut out = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for (i, line) in std::fs::read_to_string(&f).unwrap().lines().enumerate() {
            // A marker ends a line of the file's content (a comment of its own is prose).
            if line.trim_start().starts_with('#') {
                continue;
            }
            if let Some((_, rule)) = line.split_once("# lint-expect: ") {
                out.push((name.clone(), rule.trim().to_string(), i as u64 + 1));
            }
        }
    }
    out
}

fn severity_of(rule: &str) -> Severity {
    RULES
        .iter()
        .find(|r| r.id == rule)
        .unwrap_or_else(|| panic!("{rule} is a rule"))
        .severity
}

/// The broken fixtures; a JSON one names its expected (rule, line).
const BROKEN: &[(&str, Option<(&str, u64)>)] = &[
    ("uri-mode-mismatch.yaml", None),
    ("uri-mode-mismatch.tf", None),
    ("stream-timeout-missing.yaml", None),
    (
        "stream-timeout-over-max.json",
        Some(("stream-timeout-over-max", 24)),
    ),
    ("timeout-below-function", None),
    ("sam-stream-value.yaml", None),
    ("stream-with-caching.yaml", None),
    ("stream-with-compression.openapi.yaml", None),
    ("http-api-cannot-stream.yaml", None),
    ("http-api-cannot-stream.sam.yaml", None),
    ("edge-endpoint-idle.yaml", None),
    ("edge-endpoint-idle.tf", None),
    ("edge-endpoint-idle.sam.yaml", None),
    ("stream-with-caching.sam.yaml", None),
    ("web-adapter-mode-mismatch.yaml", None),
    ("web-adapter-mode-mismatch.buffered.yaml", None),
    ("stream-non-proxy.yaml", None),
    ("stream-missing-permission.yaml", None),
    ("buffered-timeout-over-29s.yaml", None),
    ("terraform-data-streaming-arn.tf", None),
];

#[test]
fn each_broken_fixture_triggers_exactly_its_rule_at_its_line() {
    let mut covered = std::collections::BTreeSet::new();
    for (name, json_expect) in BROKEN {
        let path = fixture(name);
        let want = match json_expect {
            Some((rule, line)) => vec![(name.to_string(), rule.to_string(), *line)],
            None => marked(&path),
        };
        assert_eq!(want.len(), 1, "{name} marks one line");
        let rule = want[0].1.clone();
        assert!(
            name.starts_with(&rule),
            "{name} is named after the rule it breaks ({rule})"
        );
        let o = lint(&[&path], "json");
        let (v, got) = json_findings(&o);
        assert_eq!(got, want, "{name}: {}", String::from_utf8_lossy(&o.stderr));
        let f = &v["findings"][0];
        for key in ["message", "fix", "doc_url"] {
            assert!(
                !f[key].as_str().unwrap_or("").is_empty(),
                "{name}: {key} is said"
            );
        }
        assert!(f["doc_url"].as_str().unwrap().starts_with("https://"));
        let severity = severity_of(&rule);
        assert_eq!(f["severity"], severity.label(), "{name}");
        let expected_code = if severity == Severity::Error { 1 } else { 0 };
        assert_eq!(
            o.status.code(),
            Some(expected_code),
            "{name}: exit 1 with an error, 0 with only warnings"
        );
        assert_eq!(v["errors"], u64::from(severity == Severity::Error));
        assert_eq!(v["warnings"], u64::from(severity == Severity::Warning));
        covered.insert(rule);
    }
    let all: std::collections::BTreeSet<String> = RULES.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(covered, all, "every lint rule has a broken fixture");
}

#[test]
fn the_projects_templates_and_the_clean_fixtures_lint_clean() {
    let paths = [
        project("src/backend/template.yaml"),
        project("src/backend/stream-api.yaml"),
        project("src/backend/node/template.yaml"),
        project("src/backend/python/template.yaml"),
        fixture("clean-terraform"),
        fixture("clean.openapi.json"),
    ];
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let o = lint(&refs, "json");
    let (v, got) = json_findings(&o);
    assert_eq!(got, vec![], "no finding, not even a warning");
    assert_eq!(v["errors"], 0);
    assert_eq!(o.status.code(), Some(0));
    let text = lint(&refs, "text");
    assert_eq!(text.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&text.stdout).trim(),
        "6 path(s): 0 error(s), 0 warning(s)"
    );
}

#[test]
fn text_format_points_at_file_and_line_with_the_fix() {
    let path = fixture("uri-mode-mismatch.tf");
    let o = lint(&[&path], "text");
    let out = String::from_utf8_lossy(&o.stdout);
    let line = marked(&path)[0].2;
    let head = format!("{}:{line}: error uri-mode-mismatch: ", path.display());
    assert!(out.starts_with(&head), "{out}");
    assert!(out.contains("    fix: "), "{out}");
    assert!(out.contains("response_streaming_invoke_arn"), "{out}");
    assert!(out.contains("    see: https://"), "{out}");
    assert!(
        out.trim_end()
            .ends_with("1 path(s): 1 error(s), 0 warning(s)"),
        "{out}"
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn several_paths_report_every_finding_in_path_order() {
    let a = fixture("sam-stream-value.yaml");
    let b = fixture("edge-endpoint-idle.tf");
    let o = lint(&[&a, &b], "json");
    let (v, got) = json_findings(&o);
    let mut want = marked(&a);
    want.extend(marked(&b));
    assert_eq!(got, want);
    assert_eq!(
        (v["errors"].as_u64(), v["warnings"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(o.status.code(), Some(1), "an error among them: exit 1");
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let cases: [(PathBuf, &str); 4] = [
        (
            fixture("not-a-template.yaml"),
            "not a CloudFormation/SAM template",
        ),
        (fixture("broken.yaml"), "broken.yaml"),
        (dir.path().join("missing.yaml"), "cannot read"),
        (empty.clone(), "not a CloudFormation/SAM template"),
    ];
    for (path, says) in cases {
        let o = lint(&[&path], "text");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{}: {err}", path.display());
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("streamscope: "), "{err}");
        assert!(err.contains(says), "{}: {err}", path.display());
        assert!(
            o.stdout.is_empty(),
            "nothing on stdout: {}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
    // A good file beside a bad one: still exit 2, the bad input is not skipped over.
    let o = lint(
        &[&fixture("clean.openapi.json"), &fixture("broken.yaml")],
        "json",
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn the_readme_tables_list_every_rule() {
    let readme = std::fs::read_to_string(project("README.md")).unwrap();
    let ids = RULES.iter().map(|r| r.id).chain(
        streamscope::probe::analysis::findings::RULES
            .iter()
            .map(|(id, _)| *id),
    );
    for id in ids {
        assert!(
            readme.contains(&format!("| `{id}` |")),
            "README's table has a row for {id}"
        );
    }
}

#[test]
fn hostile_inputs_are_one_line_errors_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.yaml");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(17 << 20)
        .unwrap();
    // Nine levels of ten aliases: a billion nodes if expanded, in 700 bytes.
    let bomb = dir.path().join("bomb.yaml");
    let mut text = String::from("Resources:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = format!("*a{}", i - 1);
        text.push_str(&format!("  a{i}: &a{i} [{}]\n", vec![p; 10].join(", ")));
    }
    std::fs::write(&bomb, text).unwrap();
    let deep = dir.path().join("deep.json");
    std::fs::write(&deep, "[".repeat(1 << 20)).unwrap();
    for (input, says) in [
        (Path::new("/dev/zero"), "not a regular file"),
        (huge.as_path(), "larger than the 16 MiB"),
        (bomb.as_path(), "alias"),
        (deep.as_path(), ""),
    ] {
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg("ulimit -v 600000 && exec \"$@\"")
            .arg("sh")
            .arg(BIN)
            .arg("lint")
            .arg(input)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{}: {err}", input.display());
        assert!(err.contains(says), "{}: {err}", input.display());
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}
