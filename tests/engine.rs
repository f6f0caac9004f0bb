//! The engine in-process against the backend Router on 127.0.0.1: events, cancel, timeline.

// Tests may unwrap (a panic is the failure) and hold long tables.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use streamscope::emulator;
use streamscope::probe::analysis::timeline::split_at;
use streamscope::probe::{self, Figures, Outcome, ProbeEvent, ProbeRequest};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_in_order_and_add_up() {
    let addr = emulator::spawn_local().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.bin");
    let req = ProbeRequest::new(
        format!("http://{addr}/download?size=2MiB&chunk=32KiB&length=0"),
        &out,
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let report = probe::run(req.validate().unwrap(), tx, CancellationToken::new()).await;
    assert_eq!(report.outcome, Outcome::Complete);
    let mut seen = Vec::new();
    while let Some(ev) = rx.recv().await {
        seen.push(ev);
    }
    let ProbeEvent::RequestSent { at, .. } = seen[0] else {
        panic!("the run starts with RequestSent, got {:?}", seen[0]);
    };
    assert!(at.elapsed().as_secs_f64() >= report.duration_s());
    assert!(matches!(&seen[1], ProbeEvent::Headers(m) if m.status == 200 && m.length.is_none()));
    let arrivals: Vec<_> = seen[2..]
        .iter()
        .flat_map(|e| match e {
            ProbeEvent::Arrivals(batch) => batch.clone(),
            other => panic!("only arrivals after the headers, got {other:?}"),
        })
        .collect();
    assert_eq!(arrivals, report.timeline);
    assert_eq!(
        arrivals.iter().map(|a| a.bytes as u64).sum::<u64>(),
        2 * 1024 * 1024
    );
    assert!(
        arrivals
            .windows(2)
            .all(|w| w[0].t_offset_ns <= w[1].t_offset_ns)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_leaves_nothing_under_the_final_name() {
    let addr = emulator::spawn_local().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.bin");
    // 1 MB/s for 20 MB: long enough to cancel mid-body.
    let req = ProbeRequest::new(
        format!("http://{addr}/download?size=20MB&rate=1MB&chunk=16KiB"),
        &out,
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(probe::run(req.validate().unwrap(), tx, cancel.clone()));
    let mut got = 0u64;
    while let Some(ev) = rx.recv().await {
        if let ProbeEvent::Arrivals(batch) = ev {
            got += batch.iter().map(|a| a.bytes as u64).sum::<u64>();
            if got >= 200_000 {
                cancel.cancel();
                break;
            }
        }
    }
    let report = task.await.unwrap();
    assert_eq!(report.outcome, Outcome::Cancelled);
    assert!(!out.exists());
    assert!(report.output.partial_left);
    assert_eq!(report.output.bytes_written, report.bytes);
    let part_len = std::fs::metadata(dir.path().join("c.bin.part"))
        .unwrap()
        .len();
    assert_eq!(part_len, report.bytes);
    assert!(report.bytes >= 200_000 && report.bytes < 20_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_knob_paces_and_the_split_sees_it() {
    let addr = emulator::spawn_local().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // 6 MB at 4 MB/s: about 1.5 s, paced from the first byte on.
    let req = ProbeRequest::new(
        format!("http://{addr}/download?size=6MB&rate=4MB&chunk=16KiB"),
        dir.path().join("r.bin"),
    );
    let report = probe::run_to_end(&req).await.unwrap();
    assert_eq!(report.outcome, Outcome::Complete);
    let secs = report.duration_s();
    assert!(secs > 1.2, "6 MB at 4 MB/s takes about 1.5 s, took {secs}");
    let near = |what: &str, v: Option<f64>| {
        let v = v.unwrap_or_else(|| panic!("{what} measured"));
        assert!(
            (v - 4e6).abs() / 4e6 < 0.2,
            "{what}: {v} B/s near the 4 MB/s cap"
        );
    };
    near("average", Figures::of(&report).avg_bytes_per_sec);
    // A constant rate: both sides of a split in the middle see it.
    let split = split_at(&report.timeline, 3_000_000);
    let crossed = split.crossed_at_s.expect("3 MB crossed");
    assert!((0.6..1.0).contains(&crossed), "3 MB crossed at {crossed} s");
    near("before 3 MB", split.before_bytes_per_sec);
    near("after 3 MB", split.after_bytes_per_sec);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_routes_answer_as_documented() {
    let addr = emulator::spawn_local().await.unwrap();
    let c = reqwest::Client::new();
    let index: serde_json::Value = serde_json::from_slice(
        &c.get(format!("http://{addr}/"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(index["routes"]["GET /download"].is_string());
    assert_eq!(
        c.get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = c
        .get(format!("http://{addr}/download?size=17GiB"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert!(body["error"].as_str().unwrap().contains("16 GiB"));
    let r = c
        .get(format!("http://{addr}/download?size=10"))
        .header("range", "bytes=10-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(r.headers()["content-range"], "bytes */10");
    let r = c
        .get(format!("http://{addr}/download?size=10"))
        .header("range", "bytes=-3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 7-9/10");
    assert_eq!(r.bytes().await.unwrap().len(), 3);
    let r = c.get(format!("http://{addr}/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .get(format!("http://{addr}/download?size=5&status=204"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let disp = c
        .get(format!("http://{addr}/download?size=5"))
        .send()
        .await
        .unwrap();
    assert!(
        disp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("filename=")
    );
}
