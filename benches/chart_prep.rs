//! Benchmark (prints figures, asserts nothing): the GUI's chart work for a run of 1,000,000 arrivals.
//! `cargo bench --bench chart_prep`. Goal: one frame's chart preparation at most 2 ms.

// Tests may unwrap (a panic is the failure) and hold long tables.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::time::{Duration, Instant};
use streamscope::app::{RunRecord, Settings, StreamscopeApp, plot_points};
use streamscope::chart::series::LiveSeries;
use streamscope::probe::Arrival;

const N: u64 = 1_000_000;

fn arrivals() -> Vec<Arrival> {
    // ~100 s of arrivals, 16 KiB-ish, with jitter and a stall: like a long throttled run.
    let mut seed = 1u64;
    let mut t = 0u64;
    (0..N)
        .map(|i| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            t += 60_000 + (seed >> 40) % 80_000;
            if i == N / 2 {
                t += 2_000_000_000;
            }
            Arrival {
                t_offset_ns: t,
                bytes: 8192 + ((seed >> 20) % 16384) as u32,
            }
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let tl = arrivals();
    let per_frame = 1000; // arrivals drained per 100 ms frame at ~160 MB/s of 16 KiB reads

    let t0 = Instant::now();
    let mut s = LiveSeries::new(250_000_000);
    for a in &tl[..(N as usize - per_frame * 50)] {
        s.push(*a);
    }
    let ingest = t0.elapsed();
    println!(
        "ingest {} arrivals: {:.1} ms ({:.0} ns per arrival); {} buckets, {} arrival points, {} throughput points",
        N as usize - per_frame * 50,
        ingest.as_secs_f64() * 1e3,
        ingest.as_secs_f64() * 1e9 / (N as f64),
        s.bucket_count(),
        s.arrival_points.len(),
        s.throughput.len()
    );

    // One frame's chart preparation: drain the frame's arrivals, advance windows, build the plot
    // items (the points copied as egui_plot takes them).
    let mut times = Vec::new();
    let mut next = N as usize - per_frame * 50;
    for _ in 0..50 {
        let t = Instant::now();
        for a in &tl[next..next + per_frame] {
            s.push(*a);
        }
        next += per_frame;
        s.advance_to(tl[next - 1].t_offset_ns);
        let items = (
            egui_plot::Line::new("throughput", plot_points(&s.throughput)),
            egui_plot::Line::new("cumulative", plot_points(&s.cumulative)),
            egui_plot::Points::new("arrivals", plot_points(&s.arrival_points)),
            egui_plot::Points::new("gaps", plot_points(&s.gap_points)),
        );
        std::hint::black_box(items);
        times.push(t.elapsed());
    }
    println!(
        "chart preparation per frame ({per_frame} new arrivals, {} total): median {:.3} ms, max {:.3} ms (goal <= 2 ms)",
        N,
        median(times.clone()).as_secs_f64() * 1e3,
        times.iter().max().unwrap().as_secs_f64() * 1e3
    );

    // A whole egui frame of the real app showing that run: layout, the three plots, tessellation
    // (no GPU). This is the CPU a frame costs the UI thread.
    let mut app = StreamscopeApp::with_settings(Settings::default()).expect("runtime");
    let end = tl.last().unwrap().t_offset_ns;
    app.runs.push(RunRecord {
        id: 1,
        url: "http://127.0.0.1/download?size=12GiB".into(),
        dest: std::env::temp_dir().join("bench.bin"),
        gateway: None,
        series: LiveSeries::from_timeline(&tl, 250_000_000, end),
        meta: None,
        finished: None,
        started: Instant::now(),
    });
    app.selected = Some(0);
    let ctx = egui::Context::default();
    let mut frames = Vec::new();
    for i in 0..30 {
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(
                egui::Pos2::ZERO,
                egui::vec2(1280.0, 820.0),
            )),
            time: Some(i as f64 * 0.1),
            ..Default::default()
        };
        let t = Instant::now();
        let out = ctx.run_ui(input, |ui| {
            eframe::App::ui(&mut app, ui, &mut eframe::Frame::_new_kittest());
        });
        let prims = ctx.tessellate(out.shapes, out.pixels_per_point);
        std::hint::black_box(prims);
        if i >= 5 {
            frames.push(t.elapsed());
        }
    }
    println!(
        "whole egui frame with the 1,000,000-arrival run on screen (layout + plots + tessellation): median {:.2} ms, max {:.2} ms",
        median(frames.clone()).as_secs_f64() * 1e3,
        frames.iter().max().unwrap().as_secs_f64() * 1e3
    );
}
