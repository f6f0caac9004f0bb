//! The real App, driven headlessly by egui_kittest: widgets found by their labels, clicked, read.

// Tests may unwrap (a panic is the failure) and hold long tables.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use sha2::Digest;
use std::time::{Duration, Instant};
use streamscope::app::{Dialogs, HeaderRow, RequestTab, Settings, Source, StreamscopeApp};
use streamscope::demo::PRESETS;
use streamscope::probe::Outcome;

fn harness(dir: &std::path::Path) -> Harness<'static, StreamscopeApp> {
    let dir = dir.to_path_buf();
    let mut h = Harness::builder()
        .with_size([1280.0, 820.0])
        .build_eframe(move |_cc| {
            let mut app = StreamscopeApp::with_settings(Settings::default()).unwrap();
            app.form.dest_dir = dir;
            app
        });
    h.step();
    h
}

fn preset(name: &str) -> usize {
    PRESETS.iter().position(|p| p.name == name).unwrap()
}

/// Steps frames in real time until the run ends (the download runs on the app's runtime).
fn step_until_done(h: &mut Harness<'_, StreamscopeApp>, limit: Duration) {
    // A click is handled on the next frame.
    h.step();
    step_while(h, limit, "the run to end", |app| app.is_running());
    h.step();
    h.step();
}

/// Steps frames in real time while `busy` holds (work runs on the app's runtime).
fn step_while(
    h: &mut Harness<'_, StreamscopeApp>,
    limit: Duration,
    what: &str,
    busy: impl Fn(&StreamscopeApp) -> bool,
) {
    let t0 = Instant::now();
    while busy(h.state()) {
        assert!(t0.elapsed() < limit, "waited {limit:?} for {what}");
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Steps frames until no process matches `pattern` (pgrep -f): a function ended with its stack.
fn step_until_gone(h: &mut Harness<'_, StreamscopeApp>, pattern: &str) {
    let t0 = Instant::now();
    while std::process::Command::new("pgrep")
        .args(["-f", pattern])
        .output()
        .unwrap()
        .status
        .success()
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the function outlived Stop"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn demo_download_completes_and_the_file_matches() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    let demo = h.state().demo.expect("the demo is ready at start");
    h.state_mut().apply_preset(preset("100 MiB, no gateway"));
    h.state_mut().form.url = format!("http://{}/download?size=20MiB&length=0&seed=5", demo.off);
    h.step();
    h.get_by_label("Start").click();
    h.step();
    assert!(h.state().is_running());
    step_until_done(&mut h, Duration::from_secs(60));

    let app = h.state();
    let run = app.selected_run().unwrap();
    let report = &run.finished.as_ref().unwrap().result;
    assert_eq!(report.outcome, Outcome::Complete);
    assert_eq!(report.bytes, 20 * 1024 * 1024);
    assert_eq!(
        run.series.total_bytes,
        20 * 1024 * 1024,
        "the live series saw every byte"
    );
    let dest = dir.path().join("download-20MiB.bin");
    assert_eq!(run.dest, dest);
    let data = std::fs::read(&dest).unwrap();
    assert_eq!(data.len(), 20 * 1024 * 1024);
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&data)),
        hex::encode(report.sha256.unwrap())
    );
    assert_eq!(report.digest_match(), Some(true));
    // What the window says.
    h.get_by_label_contains("Complete: 21.0 MB arrived and verified");
    h.get_by_label_contains("matches the server's Repr-Digest");
    h.get_by_label("21.0 MB");
    h.get_by_label_contains("#1 complete");
}

#[test]
fn cancel_mid_run_leaves_nothing_under_the_final_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.state_mut()
        .apply_preset(preset("200 MiB throttled like API Gateway"));
    h.step();
    h.get_by_label("Start").click();
    step_while(&mut h, Duration::from_secs(30), "bytes to flow", |app| {
        app.selected_run()
            .is_none_or(|r| r.series.total_bytes < 12 * 1024 * 1024)
    });
    h.key_press(egui::Key::Escape);
    step_until_done(&mut h, Duration::from_secs(10));
    let run = h.state().selected_run().unwrap();
    let report = &run.finished.as_ref().unwrap().result;
    assert_eq!(report.outcome, Outcome::Cancelled);
    assert!(!run.dest.exists(), "no file under the final name");
    assert!(
        dir.path().join("download-200MiB.bin.part").exists(),
        "the partial stays as .part"
    );
    assert!(
        run.series.crossed_10mib_s.is_some(),
        "the 10 MiB marker was placed"
    );
    h.get_by_label_contains("Cancelled after");
}

#[test]
fn a_bad_url_shows_an_inline_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.state_mut().form.url.clear();
    h.step();
    let url = h.get_by_label("URL");
    url.focus();
    url.type_text("ftp://example.com/file");
    h.step();
    h.step();
    assert_eq!(h.state().form.url, "ftp://example.com/file");
    h.get_by_label_contains("unsupported scheme \"ftp\"");
    h.get_by_label("Start").click();
    h.step();
    assert!(!h.state().is_running(), "nothing starts");
    h.state_mut().form.url = "definitely not a url".into();
    h.step();
    h.get_by_label_contains("not a URL");
    h.state_mut().form.headers.push(HeaderRow {
        name: "Bad Name".into(),
        value: "v".into(),
        reveal: false,
    });
    h.state_mut().form.url = "http://127.0.0.1:9/x".into();
    h.step();
    h.get_by_label_contains("invalid header");
}

#[test]
fn the_header_editor_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.state_mut().form.headers = vec![
        HeaderRow {
            name: "x-api-key".into(),
            value: "sekrit-key".into(),
            reveal: false,
        },
        HeaderRow {
            name: "X-Trace".into(),
            value: "visible-value".into(),
            reveal: false,
        },
    ];
    h.step();
    h.get_by_label("Headers (2)").click();
    h.step();
    h.step();
    let secret = h.get_by_label("Header 1 value");
    assert_eq!(
        secret.accesskit_node().role(),
        egui::accesskit::Role::PasswordInput
    );
    assert!(
        !secret.value().unwrap_or_default().contains("sekrit"),
        "masked: {:?}",
        secret.value()
    );
    let plain = h.get_by_label("Header 2 value");
    assert_eq!(plain.value().as_deref(), Some("visible-value"));
    h.get_by_label("show").click();
    h.step();
    h.step();
    assert!(h.state().form.headers[0].reveal);
    assert_eq!(
        h.get_by_label("Header 1 value").value().as_deref(),
        Some("sekrit-key")
    );
    // Add and remove rows.
    h.get_by_label("Add header").click();
    h.step();
    assert_eq!(h.state().form.headers.len(), 3);
    h.get_by_label("Remove header 2").click();
    h.step();
    let names: Vec<_> = h
        .state()
        .form
        .headers
        .iter()
        .map(|r| r.name.clone())
        .collect();
    assert_eq!(names, ["x-api-key", ""]);
}

#[test]
fn save_report_writes_the_files_the_dialog_named_and_holds_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    let json_path = dir.path().join("report.json");
    // The dialog's answer, as the user would give it in the native save dialog.
    h.state_mut().dialogs = Dialogs::Answers([Some(json_path.clone())].into());
    let demo = h.state().demo.unwrap();
    h.state_mut().form.url = format!("http://{}/download?size=3MiB", demo.off);
    h.state_mut().form.headers = vec![
        HeaderRow {
            name: "Authorization".into(),
            value: "Bearer sekrit-1".into(),
            reveal: false,
        },
        HeaderRow {
            name: "x-api-key".into(),
            value: "sekrit-2".into(),
            reveal: false,
        },
        HeaderRow {
            name: "Cookie".into(),
            value: "session=sekrit-3".into(),
            reveal: false,
        },
    ];
    h.step();
    h.get_by_label("Start").click();
    step_until_done(&mut h, Duration::from_secs(30));
    h.get_by_label("Save report...").click();
    h.step();
    step_while(
        &mut h,
        Duration::from_secs(10),
        "the report to be written",
        |app| {
            !app.message
                .as_deref()
                .is_some_and(|m| m.starts_with("saved "))
        },
    );
    h.step();
    h.get_by_label_contains("saved ");
    let text = std::fs::read_to_string(&json_path).unwrap();
    let v = common::read_json(&json_path);
    assert_eq!(v["outcome"], "complete");
    assert_eq!(v["bytes"], 3 * 1024 * 1024);
    for s in ["sekrit-1", "sekrit-2", "sekrit-3"] {
        assert!(!text.contains(s), "{s} leaked");
    }
    assert!(
        text.contains("Authorization"),
        "the header name stays, its value is redacted"
    );
    let rows = std::fs::read_to_string(dir.path().join("report.csv")).unwrap();
    assert_eq!(
        rows.lines().count() as u64,
        v["arrivals"].as_u64().unwrap() + 1
    );
}

#[test]
fn a_typed_destination_is_used_and_overwrite_asks_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    let demo = h.state().demo.unwrap();
    h.state_mut().form.url = format!("http://{}/download?size=1MiB", demo.off);
    let target = dir.path().join("mine.bin");
    std::fs::write(&target, b"old contents").unwrap();
    h.step();
    let field = h.get_by_label("Destination");
    field.focus();
    field.type_text(target.to_str().unwrap());
    h.step();
    assert_eq!(h.state().form.destination(), target);
    h.get_by_label("Start").click();
    h.step();
    h.step();
    assert!(
        !h.state().is_running(),
        "an existing file is not replaced without asking"
    );
    h.get_by_label_contains("exists.");
    assert_eq!(std::fs::read(&target).unwrap(), b"old contents");
    h.get_by_label("Replace").click();
    step_until_done(&mut h, Duration::from_secs(30));
    assert_eq!(std::fs::metadata(&target).unwrap().len(), 1024 * 1024);
    assert_eq!(
        h.state()
            .selected_run()
            .unwrap()
            .finished
            .as_ref()
            .unwrap()
            .result
            .outcome,
        Outcome::Complete
    );
}

#[test]
fn history_selects_runs_and_overlays_another() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    let demo = h.state().demo.unwrap();
    for (i, q) in ["size=2MiB&seed=1", "size=3MiB&seed=2"].iter().enumerate() {
        h.state_mut().form.url = format!("http://{}/download?{q}", demo.off);
        h.state_mut().form.dest_path = dir.path().join(format!("run{i}.bin")).display().to_string();
        h.step();
        h.get_by_label("Start").click();
        step_until_done(&mut h, Duration::from_secs(30));
    }
    assert_eq!(h.state().runs.len(), 2);
    assert_eq!(h.state().selected, Some(1), "the newest run is shown");
    h.get_by_label_contains("#1 complete 2.1 MB").click();
    h.step();
    assert_eq!(h.state().selected, Some(0));
    // The history is drawn after the figures: they show the new selection from the next frame.
    h.step();
    h.get_by_label_contains("Run #1");
    h.get_by_label("Overlay throughput of").click();
    h.step();
    h.step();
    // The popup's item (the history entry's label also carries the URL).
    h.get_by_label("#2 complete 3.1 MB").click();
    h.step();
    h.step();
    assert_eq!(h.state().compare, Some(1));
    assert_eq!(
        h.get_by_label("Overlay throughput of").value().as_deref(),
        Some("#2 complete 3.1 MB")
    );
}

#[test]
fn a_buffered_502_shows_its_finding_with_fix_and_link_and_copy_summary_has_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.state_mut()
        .apply_preset(preset("50 MiB buffered (over 10 MB)"));
    h.step();
    h.get_by_label("Start").click();
    step_until_done(&mut h, Duration::from_secs(60));
    let run = h.state().selected_run().unwrap();
    let report = &run.finished.as_ref().unwrap().result;
    assert!(
        matches!(report.outcome, Outcome::HttpError { status: 502 }),
        "{:?}",
        report.outcome
    );
    // The verdict panel: the finding, the run's own evidence, the fix, the link.
    h.get_by_label_contains("error · API Gateway answered 502: the integration failed");
    h.get_by_label_contains("Seen: HTTP 502");
    h.get_by_label_contains("Fix: For a response over 10 MB");
    // No body: a plain line where the charts would be, not three empty plots.
    h.get_by_label_contains("No body arrived (status 502): nothing to chart");
    let link = h.get_by_label("integration-failed-502 (docs)");
    assert!(
        link.accesskit_node().role() == egui::accesskit::Role::Link,
        "the docs are a clickable link"
    );
    h.get_by_label("Copy summary").click();
    h.step();
    let copied = h
        .output()
        .platform_output
        .commands
        .iter()
        .find_map(|c| match c {
            egui::OutputCommand::CopyText(t) => Some(t.clone()),
            _ => None,
        })
        .expect("Copy summary puts text on the clipboard");
    assert!(copied.contains("HTTP error 502"), "{copied}");
    assert!(copied.contains("integration-failed-502"), "{copied}");
    assert!(
        copied.contains("responseTransferMode to STREAM"),
        "{copied}"
    );
}

#[test]
fn the_iam_choice_asks_for_region_and_profile_and_remembers_only_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    assert!(
        h.query_by_label("AWS IAM (SigV4)").is_none(),
        "in the Auth tab"
    );
    h.get_by_label("Auth (none)").click();
    h.step();
    assert!(h.query_by_label("Region").is_none(), "hidden until chosen");
    h.get_by_label("AWS IAM (SigV4)").click();
    h.step();
    h.step();
    assert!(h.state().form.sigv4);
    let region = h.get_by_label("Region");
    region.focus();
    region.type_text("eu west");
    h.step();
    h.step();
    h.get_by_label_contains("AWS SigV4: \"eu west\" is not an AWS region name");
    h.state_mut().form.aws_region = "eu-west-1".into();
    h.state_mut().form.aws_profile = "dev".into();
    h.step();
    let req = h.state().form.to_request();
    assert_eq!(req.aws_sigv4.as_deref(), Some("eu-west-1"));
    assert_eq!(req.aws_profile.as_deref(), Some("dev"));
    let valid = req.validate().unwrap();
    assert_eq!(valid.sigv4.unwrap().region.as_deref(), Some("eu-west-1"));
    let saved = serde_json::to_string(&h.state().settings()).unwrap();
    assert!(saved.contains("\"sigv4\":true"), "{saved}");
    assert!(saved.contains("\"aws_region\":\"eu-west-1\""), "{saved}");
    // Back to none: the request is not signed.
    h.get_by_label("none / API key").click();
    h.step();
    assert_eq!(h.state().form.to_request().aws_sigv4, None);
}

#[test]
fn resume_continues_a_cancelled_run_to_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    let demo = h.state().demo.expect("the demo is ready at start");
    h.state_mut().apply_preset(preset("100 MiB, no gateway"));
    h.state_mut().form.url = format!("http://{}/download?size=12MiB&seed=11&rate=8MiB", demo.off);
    h.step();
    h.get_by_label("Start").click();
    step_while(&mut h, Duration::from_secs(30), "bytes to flow", |app| {
        app.selected_run()
            .is_none_or(|r| r.series.total_bytes < 3 * 1024 * 1024)
    });
    h.key_press(egui::Key::Escape);
    step_until_done(&mut h, Duration::from_secs(10));
    let dest = dir.path().join("download-12MiB.bin");
    assert!(!dest.exists());
    h.get_by_label("Resume").click();
    h.step();
    assert!(h.state().is_running(), "the resume started");
    step_until_done(&mut h, Duration::from_secs(60));
    let run = h.state().selected_run().unwrap();
    let r = &run.finished.as_ref().unwrap().result;
    assert_eq!(r.outcome, Outcome::Complete);
    assert!(r.resumed_from >= 3 * 1024 * 1024, "{}", r.resumed_from);
    assert_eq!(r.digest_match(), Some(true));
    let data = std::fs::read(&dest).unwrap();
    assert_eq!(data.len(), 12 * 1024 * 1024);
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&data)),
        hex::encode(r.sha256.unwrap())
    );
    h.get_by_label_contains("in 1 request(s), verified whole");
}

#[test]
fn save_chart_draws_the_selected_run_and_the_overlay_into_a_png() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    let png = dir.path().join("charts.png");
    h.state_mut().dialogs = Dialogs::Answers([Some(png.clone())].into());
    let demo = h.state().demo.unwrap();
    for seed in [1, 2] {
        h.state_mut().form.url = format!(
            "http://{}/download?size=4MiB&seed={seed}&rate=8MiB",
            demo.off
        );
        h.state_mut().form.dest_path = dir
            .path()
            .join(format!("x{seed}.bin"))
            .display()
            .to_string();
        h.step();
        h.get_by_label("Start").click();
        step_until_done(&mut h, Duration::from_secs(30));
    }
    // The second run selected, the first overlaid.
    h.state_mut().compare = Some(0);
    h.step();
    h.get_by_label("Save chart as PNG...").click();
    h.step();
    step_while(&mut h, Duration::from_secs(20), "the picture", |app| {
        !app.message
            .as_deref()
            .is_some_and(|m| m.starts_with("saved "))
    });
    let p = common::Picture::read(&png);
    assert_eq!((p.width, p.height), (1400, 1000));
    let main = p.count([230, 140, 20]);
    let overlay = p.count([50, 110, 220]);
    assert!(main > 1000, "the selected run is drawn: {main} px");
    assert!(overlay > 300, "the overlaid run is drawn: {overlay} px");
}

#[test]
fn the_demo_comparison_runs_three_paths_and_saves_one_picture() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    let png = dir.path().join("cmp.png");
    h.state_mut().dialogs = Dialogs::Answers([Some(png.clone())].into());
    h.get_by_label("Demo: STREAM / BUFFERED / no gateway")
        .click();
    h.step();
    step_while(&mut h, Duration::from_secs(90), "the comparison", |app| {
        app.batch
            .as_ref()
            .is_none_or(|b| !b.queue.is_empty() || app.is_running())
    });
    h.step();
    let rows = h.state().batch_rows();
    let got: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.name.as_str(), r.outcome.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("STREAM", "complete"),
            ("BUFFERED", "http_error"),
            ("no gateway", "complete")
        ]
    );
    assert_eq!(rows[0].digest_match, Some(true));
    // The charts show the first path compared, not the last (BUFFERED would show nothing).
    assert_eq!(
        h.state().selected,
        Some(h.state().batch.as_ref().unwrap().runs[0].1)
    );
    h.get_by_label("http_error 502");
    h.get_by_label("Save comparison (PNG + JSON)...").click();
    h.step();
    step_while(&mut h, Duration::from_secs(20), "the picture", |app| {
        !app.message
            .as_deref()
            .is_some_and(|m| m.starts_with("saved "))
    });
    let p = common::Picture::read(&png);
    assert!(p.count([230, 140, 20]) > 1000, "STREAM drawn");
    assert!(p.count([40, 160, 90]) > 300, "no gateway drawn");
    let v = common::read_json(&png.with_extension("json"));
    assert_eq!(v["targets"].as_array().unwrap().len(), 3);
}

/// Parallel ranges deliver their arrivals out of time order; the finished run's charts are
/// rebuilt from the result's timeline: every byte once, in time order.
#[test]
fn parallel_ranges_are_charted_from_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    let demo = h.state().demo.expect("the demo is ready at start");
    let size = 48 * 1024 * 1024;
    h.state_mut().form.url = format!("http://{}/download?size=48MiB&seed=9", demo.off);
    h.state_mut().form.segments = 8;
    h.step();
    h.get_by_label("Start").click();
    step_until_done(&mut h, Duration::from_secs(60));
    let run = h.state().selected_run().unwrap();
    let result = &run.finished.as_ref().unwrap().result;
    assert_eq!(result.outcome, Outcome::Complete);
    assert_eq!(result.segments.len(), 8, "48 MiB in 6 MiB ranges");
    assert_eq!(std::fs::metadata(&run.dest).unwrap().len(), size);
    let s = &run.series;
    assert_eq!(s.total_bytes, size, "the chart counts every byte once");
    let last = s.cumulative.last().unwrap();
    assert_eq!(
        (last.y * 1e6).round() as u64,
        size,
        "the bytes line ends at the file size"
    );
    assert!(
        s.cumulative
            .windows(2)
            .all(|w| w[0].x <= w[1].x && w[0].y <= w[1].y),
        "the bytes line runs forward in time and never down"
    );
    // The window draws what "Save chart as PNG" draws.
    let png = streamscope::chart::ChartRun::of_result("run", result);
    assert_eq!(s.cumulative, png.series.cumulative);
    assert_eq!(s.throughput, png.series.throughput);
    assert_eq!(s.arrival_points, png.series.arrival_points);
}

#[test]
fn thresholds_typed_in_the_form_colour_the_verdict_and_list_what_was_missed() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    let demo = h.state().demo.unwrap();
    h.state_mut().form.url = format!("http://{}/download?size=2MiB", demo.off);
    // Typed as a user would: in the Thresholds field, under Options.
    h.get_by_label("Options (defaults)").click();
    h.step();
    h.get_by_label("Thresholds").click();
    h.step();
    h.get_by_label("Thresholds")
        .type_text("bytes>=1MiB, first_byte_ms<0.001");
    h.step();
    assert_eq!(
        h.state().form.thresholds,
        "bytes>=1MiB, first_byte_ms<0.001"
    );
    h.get_by_label("Start").click();
    step_until_done(&mut h, Duration::from_secs(30));
    h.get_by_label_contains("but 1 of 2 threshold(s) missed");
    h.get_by_label_contains("MISSED first_byte_ms<0.001");
    h.get_by_label_contains("met    bytes>=1MiB (seen: 2.1 MB)");
    // Remembered (thresholds hold no secret).
    assert_eq!(
        h.state().settings().thresholds,
        "bytes>=1MiB, first_byte_ms<0.001"
    );
    // A malformed one is an inline error, nothing starts.
    h.state_mut().form.thresholds = "first_bite<3".into();
    h.get_by_label("Start").click();
    h.step();
    assert!(!h.state().is_running());
    assert!(
        h.state()
            .message
            .as_deref()
            .is_some_and(|m| m.contains("unknown figure")),
        "{:?}",
        h.state().message
    );
}

/// "Run a template locally...": the template chosen in the dialog starts (a shell function
/// behind a SAM Api event), its method fills the URL, the download completes, and the function
/// log of the run is shown. Stopping the template ends its function's process.
#[test]
fn a_template_runs_locally_from_the_app_and_its_function_log_is_shown() {
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("fn");
    std::fs::create_dir(&code).unwrap();
    let bootstrap = common::shell_runtime(
        &code,
        r#"echo "serving the app's request" >&2
printf '{"statusCode":200,"body":"hello from the template"}'"#,
    );
    let template = dir.path().join("template.yaml");
    std::fs::write(
        &template,
        "Transform: AWS::Serverless-2016-10-31\nGlobals:\n  Api:\n    EndpointConfiguration: REGIONAL\nResources:\n  Hello:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: provided.al2023\n      Handler: bootstrap\n      CodeUri: fn/\n      Events:\n        Get:\n          Type: Api\n          Properties: {Path: /hello, Method: get}\n",
    )
    .unwrap();
    let mut h = harness(dir.path());
    h.state_mut().dialogs = Dialogs::Answers([Some(template.clone())].into());
    assert!(h.query_by_label("Run a template locally...").is_none());
    h.get_by_label("Local template").click();
    h.step();
    // Parameters that are not K=V: said, and no dialog opens.
    h.get_by_label("Parameters").focus();
    h.get_by_label("Parameters").type_text("oops");
    h.step();
    h.get_by_label("Run a template locally...").click();
    h.step();
    assert!(h.state().hosting.hosted.is_none() && !h.state().hosting.busy());
    h.get_by_label_contains("\"oops\": write Parameters as KEY=VALUE");
    h.state_mut().hosting.parameters.clear();
    h.step();
    h.get_by_label("Run a template locally...").click();
    h.step();
    step_while(
        &mut h,
        Duration::from_secs(30),
        "the template to start",
        |app| app.hosting.hosted.is_none(),
    );
    h.step();
    assert!(
        h.state().form.url.ends_with("/Prod/hello"),
        "{}",
        h.state().form.url
    );
    h.get_by_label("Start").click();
    h.step();
    step_until_done(&mut h, Duration::from_secs(60));
    let run = h.state().selected_run().unwrap();
    let result = &run.finished.as_ref().unwrap().result;
    assert_eq!(result.outcome, Outcome::Complete);
    assert!(
        result
            .function_log
            .iter()
            .any(|l| l.starts_with("REPORT RequestId: ")),
        "{:?}",
        result.function_log
    );
    h.step();
    h.get_by_label_contains("Function log (");
    h.get_by_label_contains("serving the app's request");
    // Stop: the function's process ends with the stack.
    h.get_by_label("Stop the template").click();
    h.step();
    assert!(h.state().hosting.hosted.is_none());
    step_until_gone(&mut h, bootstrap.to_str().unwrap());
}

/// The request area as API clients lay it out: one source choice (demo, template, URL) with its
/// own controls, Headers / Auth / Options as tabs that say what they hold and fold away.
#[test]
fn the_source_choice_and_the_tabs_keep_each_source_its_own_url() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    assert_eq!(h.state().source, Source::Demo);
    let demo_url = h.state().form.url.clone();
    assert!(demo_url.starts_with("http://127.0.0.1:"), "{demo_url}");
    // Your URL: starts from what was shown; a typed URL comes back after a visit to the demo.
    h.get_by_label("Your URL").click();
    h.step();
    assert_eq!(h.state().form.url, demo_url);
    assert!(h.query_by_label("gateway").is_none(), "demo controls gone");
    h.state_mut().form.url = "https://api.example.test/prod/f.bin".into();
    h.step();
    h.get_by_label("Local demo").click();
    h.step();
    assert_eq!(h.state().form.url, demo_url);
    h.get_by_label("Your URL").click();
    h.step();
    assert_eq!(h.state().form.url, "https://api.example.test/prod/f.bin");
    let s = h.state().settings();
    assert!(!s.use_demo && s.url == "https://api.example.test/prod/f.bin");
    // Tabs: closed at first; a click opens one, a second folds it; each label says its content.
    assert!(h.query_by_label("HTTP").is_none());
    h.get_by_label("Options (defaults)").click();
    h.step();
    h.get_by_label("HTTP");
    h.state_mut().form.segments = 3;
    h.state_mut().form.insecure = true;
    h.step();
    h.step();
    h.get_by_label("Options (3 ranges, TLS unchecked)").click();
    h.step();
    assert!(h.query_by_label("HTTP").is_none(), "folded");
    h.get_by_label("Auth (none)").click();
    h.step();
    h.get_by_label("Add an API key header").click();
    h.step();
    h.step();
    assert_eq!(h.state().tab, Some(RequestTab::Headers), "to type the key");
    h.get_by_label("Auth (API key)");
    h.get_by_label("Header 1 value");
}

/// One click runs the repository's Rust backend from its SAM template (the bootstrap cargo built
/// beside the tests): the method's URL and its key fill the form, a download through it streams
/// past Lambda's 6 MiB and is verified, with the function's REPORT line; Stop ends the function.
#[test]
fn the_rust_backend_runs_from_its_template_with_one_click() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.get_by_label("Local template").click();
    h.step();
    h.get_by_label("Rust backend").click();
    h.step();
    step_while(
        &mut h,
        Duration::from_secs(60),
        "the Rust backend's stack to start",
        |app| app.hosting.busy(),
    );
    h.step();
    assert!(
        h.state().hosting.hosted.is_some(),
        "{:?}",
        h.state().message
    );
    let url = h.state().form.url.clone();
    assert!(url.ends_with("/prod/download?size=50MiB"), "{url}");
    let key = h
        .state()
        .form
        .headers
        .iter()
        .find(|r| r.name == "x-api-key")
        .map(|r| r.value.clone())
        .expect("the template's method needs a key: it is filled");
    assert!(key.starts_with("local-"), "{key}");
    // 12 MiB rather than 50: past Lambda's 6 MiB, then 3 s at its 2 MiB/s.
    h.state_mut().form.url = url.replace("50MiB", "12MiB");
    h.get_by_label("Start").click();
    step_until_done(&mut h, Duration::from_secs(90));
    let run = h.state().selected_run().unwrap();
    let result = &run.finished.as_ref().unwrap().result;
    assert_eq!(
        result.outcome,
        Outcome::Complete,
        "{:?}",
        result.error_preview
    );
    assert_eq!(result.bytes, 12 * 1024 * 1024);
    assert_eq!(result.digest_match(), Some(true), "verified");
    assert!(
        result
            .function_log
            .iter()
            .any(|l| l.starts_with("REPORT RequestId: ")),
        "{:?}",
        result.function_log
    );
    // The Methods tab: local's start-up table; a click on a method's row chooses it.
    h.get_by_label("Methods (2)").click();
    h.step();
    h.get_by_label("/prod/{proxy+}");
    assert_eq!(h.get_all_by_label("900000 ms, regional").count(), 2);
    h.get_all_by_label("GET").next().unwrap().click();
    h.step();
    h.step();
    assert!(
        h.state().form.url.ends_with("/prod/"),
        "{}",
        h.state().form.url
    );
    h.get_by_label("Stop the template").click();
    h.step();
    step_until_gone(&mut h, "target/release/bootstrap");
}
