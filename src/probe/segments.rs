//! Parallel ranges: the object as N concurrent range requests into one preallocated `.part`, each
//! written at its offset. API Gateway streams the first 10 MB of each response at full speed and
//! Lambda the first 6 MB of each, so ranges no larger than that are never throttled.
//!
//! The first request asks for the first segment and learns the object's size (Content-Range),
//! version (ETag) and digest (Repr-Digest describes the whole representation even on a 206);
//! the other segments ask for the same version (If-Range). Every response must be the 206 of
//! exactly the range asked for; anything else (the whole object, another or overlapping range, a
//! 416, a body longer or shorter than the range) is refused. The whole file is hashed in order
//! at the end and checked against the object's digest (`--expect-sha256`, the first response's
//! Repr-Digest, else a HEAD). On failure the `.part` keeps its complete prefix, so `--resume`
//! can continue it.

use super::classify::{BodyEnd, BodyFacts, classify};
use super::engine::{Run, Start, Validator, commit};
use super::event::ProbeEvent;
use super::expect::{ExpectedDigest, expected_digest};
use super::outcome::{Outcome, OutcomeKind};
use super::result::{ResponseMeta, RunResult};
use super::resume;
use super::timeline::Arrival;
use futures_util::StreamExt;
use serde::Serialize;
use sha2::Digest;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Lambda's 6 MB uncapped window (smaller than API Gateway's 10 MB).
pub const DEFAULT_SEGMENT_BYTES: u64 = 6 * 1024 * 1024;
/// Bytes gathered before one positioned write.
const WRITE_BYTES: usize = 1024 * 1024;

/// One range of a parallel download, as it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Segment {
    pub index: usize,
    /// Its bytes, inclusive.
    pub from: u64,
    pub to: u64,
    /// From the run's start: its request, its headers, its end.
    pub started_ns: u64,
    pub headers_ns: Option<u64>,
    pub ended_ns: u64,
    /// Body bytes it received (all its requests).
    pub bytes: u64,
    /// Requests made for it (1 unless retried).
    pub requests: u32,
    pub status: Option<u16>,
    pub outcome: OutcomeKind,
}

/// What every segment shares.
struct Shared<'a> {
    client: &'a reqwest::Client,
    run: &'a Run,
    url: reqwest::Url,
    file: Arc<std::fs::File>,
    total: u64,
    validator: Validator,
    /// Ended by the first segment that fails, so the others stop.
    stop: tokio_util::sync::CancellationToken,
}

/// What a segment's request ended with.
struct SegmentEnd {
    segment: Segment,
    arrivals: Vec<Arrival>,
    /// Why it failed (None: complete).
    failure: Option<(Outcome, Option<ResponseMeta>, Option<String>)>,
}

/// `bytes A-B/T` → (A, B, T).
fn content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    Some((
        a.trim().parse().ok()?,
        b.trim().parse().ok()?,
        total.trim().parse().ok()?,
    ))
}

/// Whether a response is exactly the 206 of `from..=to` of a `total`-byte object (`total` None:
/// not known yet). Returns the total.
pub fn check_range(
    status: u16,
    range_header: Option<&str>,
    from: u64,
    to: u64,
    total: Option<u64>,
) -> Result<u64, String> {
    match status {
        206 => {}
        200 => {
            return Err(
                "the server sent the whole object (200) to a range request: it ignores Range (or the object changed)".into(),
            );
        }
        416 => return Err(format!("the server cannot serve bytes {from}-{to} (416)")),
        s => return Err(format!("the server answered {s} to a range request")),
    }
    let Some((a, b, t)) = range_header.and_then(content_range) else {
        return Err(format!(
            "a 206 without a usable Content-Range ({})",
            range_header.unwrap_or("none")
        ));
    };
    let want_to = total.map_or(to, |t| to.min(t.saturating_sub(1)));
    if a != from || (b != want_to && !(total.is_none() && b == t - 1 && b < to)) {
        return Err(format!(
            "the server sent bytes {a}-{b} when asked for {from}-{want_to}: ranges that do not fit would overlap or leave holes"
        ));
    }
    if total.is_some_and(|known| known != t) {
        return Err(format!(
            "the object's size changed: {t} bytes, was {}",
            total.unwrap_or(0)
        ));
    }
    Ok(t)
}

/// The ranges of a `total`-byte object in `size`-byte segments: (from, to) inclusive.
pub fn plan(total: u64, size: u64) -> Vec<(u64, u64)> {
    let size = size.max(1);
    (0..total.div_ceil(size))
        .map(|i| (i * size, ((i + 1) * size).min(total) - 1))
        .collect()
}

/// Downloads `run.req.url` as parallel ranges, `concurrency` at a time.
pub(super) async fn download(
    mut run: Run,
    client: &reqwest::Client,
    concurrency: u32,
) -> RunResult {
    let seg = run.req.segment_bytes;
    let t_first = run.elapsed_ns(Instant::now());
    let first_start = Start {
        until: Some(seg - 1),
        ..Start::fresh()
    };
    let sent = match run.send(client, &first_start).await {
        Ok(s) => s,
        Err(outcome) => return run.without_response(outcome, None),
    };
    let meta = run.meta_of(&sent, &first_start);
    let url = sent.url.clone();
    let resp = sent.resp;
    run.events
        .send(ProbeEvent::Headers(Box::new(meta.clone())))
        .ok();
    if !meta.is_success() && meta.status != 416 {
        let preview = run.error_preview(resp, &meta).await;
        let mut r = run.without_response(
            Outcome::HttpError {
                status: meta.status,
            },
            None,
        );
        r.response = Some(meta);
        r.error_preview = Some(preview);
        return r;
    }
    let total = match check_range(meta.status, meta.header("content-range"), 0, seg - 1, None) {
        Ok(t) => t,
        Err(why) => {
            let mut r = run.without_response(Outcome::RangeRefused(why), None);
            r.response = Some(meta);
            return r;
        }
    };
    let file = match std::fs::File::create(&run.req.part) {
        Ok(f) => f,
        Err(e) => {
            let doing = format!("creating {}", run.req.part.display());
            return run.without_response(
                Outcome::IoError(super::outcome::IoFailure {
                    doing,
                    error: e.to_string(),
                }),
                None,
            );
        }
    };
    use super::sink::Target;
    file.reserve(total);
    let validator = Validator::of(&meta);
    let ranges = plan(total, seg);
    let shared = Shared {
        client,
        run: &run,
        url,
        file: Arc::new(file),
        total,
        validator: validator.clone(),
        stop: tokio_util::sync::CancellationToken::new(),
    };
    let mut first = Some((resp, meta.headers_ns));
    let shared_ref = &shared;
    let jobs = ranges.into_iter().enumerate().map(move |(i, (from, to))| {
        let pre = if i == 0 { first.take() } else { None };
        fetch(shared_ref, i, from, to, pre, t_first)
    });
    let all = futures_util::stream::iter(jobs)
        .buffer_unordered(concurrency.max(1) as usize)
        .collect::<Vec<SegmentEnd>>();
    let limit = run
        .req
        .overall_limit
        .map(|d| run.t0 + d)
        .unwrap_or_else(|| run.t0 + Duration::from_secs(100 * 365 * 86_400));
    let cancel = run.waits_cancel();
    let ended = tokio::select! {
        ends = all => Ok(ends),
        _ = cancel.cancelled() => Err(Outcome::Cancelled),
        _ = tokio::time::sleep_until(limit.into()) => Err(Outcome::TimedOut {
            limit_s: run.req.overall_limit.map_or(0.0, |d| d.as_secs_f64()),
        }),
    };
    let file = shared.file.clone();
    drop(shared);
    let mut ends = match ended {
        Ok(e) => e,
        Err(outcome) => {
            // Nothing says which segments finished: the .part keeps nothing to resume from.
            file.set_len(0).ok();
            let mut r = run.without_response(outcome, None);
            r.response = Some(meta);
            r.output.partial_left = true;
            return r;
        }
    };
    ends.sort_by_key(|e| e.segment.index);
    let mut timeline: Vec<Arrival> = ends
        .iter()
        .flat_map(|e| e.arrivals.iter().copied())
        .collect();
    timeline.sort_by_key(|a| a.t_offset_ns);
    let segments: Vec<Segment> = ends.iter().map(|e| e.segment.clone()).collect();
    let bytes: u64 = segments.iter().map(|s| s.bytes).sum();
    let failed = ends
        .iter_mut()
        .find_map(|e| e.failure.take().filter(|(o, ..)| *o != Outcome::Cancelled))
        .or_else(|| ends.iter_mut().find_map(|e| e.failure.take()));
    run.timeline = timeline;
    if let Some((outcome, fmeta, preview)) = failed {
        // Keep the complete prefix (segments are in order), so --resume can go on from it.
        let prefix: u64 = segments
            .iter()
            .take_while(|s| s.outcome == OutcomeKind::Complete)
            .map(|s| s.to - s.from + 1)
            .sum();
        file.set_len(prefix).ok();
        file.sync_all().ok();
        if prefix > 0 {
            resume::leave_part(&run.req, Some(&validator));
        }
        let mut r = run.without_response(outcome, None);
        r.response = Some(fmeta.unwrap_or(meta));
        r.error_preview = preview;
        r.segments = segments;
        r.output.partial_left = true;
        r.output.bytes_written = prefix;
        return r;
    }
    file.sync_all().ok();
    // The whole file, in order.
    let part = run.req.part.clone();
    let sha256 = tokio::task::spawn_blocking(move || {
        let mut f = std::fs::File::open(part)?;
        super::sink::Prefix::of_file(&mut f).map(|p| {
            let d: [u8; 32] = p.hasher.finalize().into();
            (d, p.bytes)
        })
    })
    .await
    .ok()
    .and_then(Result::ok);
    let digest = match meta.digest {
        Some(d) => Some(d),
        None => head_digest(&mut run, client).await,
    };
    let mut meta = meta;
    meta.digest = digest;
    meta.length = Some(super::expect::ExpectedLength {
        bytes: total,
        source: super::expect::LengthSource::ContentLength,
    });
    let end = if sha256.is_none() {
        BodyEnd::WriteFailed(super::outcome::IoFailure {
            doing: format!("reading {} back to hash it", run.req.part.display()),
            error: "the file could not be read".into(),
        })
    } else {
        BodyEnd::Clean
    };
    let outcome = classify(BodyFacts {
        end,
        bytes: sha256.map_or(0, |s| s.1),
        length: meta.length,
        digest: meta.digest,
        actual_sha256: sha256.map(|s| s.0),
        tail: &[],
    });
    let duration_ns = run.elapsed_ns(Instant::now());
    let (outcome, output) = commit(&run.req, outcome, true, total, Some(&validator));
    let mut r = run.without_response(Outcome::Cancelled, None);
    r.outcome = outcome;
    r.output = output;
    r.response = Some(meta);
    r.sha256 = sha256.map(|s| s.0);
    r.bytes = bytes;
    r.duration_ns = duration_ns;
    r.segments = segments;
    r
}

/// The object's digest from a HEAD (Repr-Digest, or a full-object x-amz-checksum-sha256).
async fn head_digest(run: &mut Run, client: &reqwest::Client) -> Option<ExpectedDigest> {
    let headers = run.headers_for(&run.req.url, &Start::fresh()).ok()?;
    let resp = client
        .head(run.req.url.clone())
        .headers(headers)
        .timeout(run.req.idle_timeout)
        .send()
        .await
        .ok()?;
    let status = resp.status().as_u16();
    (status == 200)
        .then(|| expected_digest(None, resp.headers(), 200, false))
        .flatten()
}

/// Segment `index` (`from..=to`), starting with `pre` when its response is already in.
async fn fetch(
    sh: &Shared<'_>,
    index: usize,
    from: u64,
    to: u64,
    pre: Option<(reqwest::Response, u64)>,
    t_first: u64,
) -> SegmentEnd {
    let run = sh.run;
    let mut seg = Segment {
        index,
        from,
        to,
        started_ns: if pre.is_some() {
            t_first
        } else {
            run.elapsed_ns(Instant::now())
        },
        headers_ns: pre.as_ref().map(|p| p.1),
        ended_ns: 0,
        bytes: 0,
        requests: 1,
        status: pre.as_ref().map(|p| p.0.status().as_u16()),
        outcome: OutcomeKind::Complete,
    };
    let mut arrivals = Vec::new();
    let mut pos = from;
    let mut pre = pre.map(|p| p.0);
    let mut last_failure = None;
    for attempt in 0..=run.req.retries {
        if attempt > 0 {
            seg.requests += 1;
        }
        let resp = match pre.take() {
            Some(r) => r,
            None => match request(sh, pos, to).await {
                Ok(r) => r,
                Err(failure) => {
                    last_failure = Some(failure);
                    if sh.stop.is_cancelled() {
                        break;
                    }
                    continue;
                }
            },
        };
        let status = resp.status().as_u16();
        seg.status = Some(status);
        if seg.headers_ns.is_none() {
            seg.headers_ns = Some(run.elapsed_ns(Instant::now()));
        }
        let range = resp
            .headers()
            .get(reqwest::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if let Err(why) = check_range(status, range.as_deref(), pos, to, Some(sh.total)) {
            last_failure = Some((Outcome::RangeRefused(why), None));
            break;
        }
        let etag = resp
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok());
        if let (Some(now), Some(was)) = (etag, &sh.validator.etag)
            && now != was
        {
            last_failure = Some((
                Outcome::RangeRefused(format!("the object changed: ETag {now}, was {was}")),
                None,
            ));
            break;
        }
        let (end, got) = body(sh, resp, pos, to, &mut arrivals).await;
        seg.bytes += got;
        pos += got;
        let outcome = classify(BodyFacts {
            end,
            bytes: got,
            length: None,
            digest: None,
            actual_sha256: None,
            tail: &[],
        });
        match outcome {
            Outcome::Complete if pos == to + 1 => {
                last_failure = None;
                break;
            }
            Outcome::Complete => {
                last_failure = Some((
                    Outcome::Truncated(super::outcome::Truncation::LengthMismatch {
                        got: pos - from,
                        announced: to - from + 1,
                        source: super::expect::LengthSource::ContentLength,
                    }),
                    None,
                ));
            }
            Outcome::Truncated(_) | Outcome::Stalled { .. } => {
                last_failure = Some((outcome, None));
            }
            other => {
                last_failure = Some((other, None));
                break;
            }
        }
        if sh.stop.is_cancelled() {
            break;
        }
    }
    seg.ended_ns = run.elapsed_ns(Instant::now());
    if let Some((o, _)) = &last_failure {
        seg.outcome = o.kind();
        if *o != Outcome::Cancelled {
            sh.stop.cancel();
        }
    }
    SegmentEnd {
        segment: seg,
        arrivals,
        failure: last_failure.map(|(o, m)| (o, m, None)),
    }
}

/// A request for `from..=to` of the object, of the version the first response named.
async fn request(
    sh: &Shared<'_>,
    from: u64,
    to: u64,
) -> Result<reqwest::Response, (Outcome, Option<ResponseMeta>)> {
    let start = Start {
        prefix: super::sink::Prefix {
            bytes: from,
            hasher: Default::default(),
        },
        validator: Some(sh.validator.clone()),
        until: Some(to),
    };
    let headers = sh.run.headers_for(&sh.url, &start).map_err(|e| {
        (
            Outcome::ConnectError(super::outcome::ConnectFailure {
                cause: super::outcome::ConnectCause::Credentials,
                error: e,
            }),
            None,
        )
    })?;
    let send = sh.client.get(sh.url.clone()).headers(headers).send();
    tokio::select! {
        _ = sh.stop.cancelled() => Err((Outcome::Cancelled, None)),
        r = tokio::time::timeout(sh.run.req.idle_timeout, send) => match r {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err((Outcome::ConnectError(super::net::connect_failure(&e)), None)),
            Err(_) => Err((Outcome::Stalled { idle_s: sh.run.req.idle_timeout.as_secs_f64() }, None)),
        },
    }
}

/// Reads a segment's body into the file at `from`, never past `to`; returns how it ended and
/// how many bytes it wrote.
async fn body(
    sh: &Shared<'_>,
    resp: reqwest::Response,
    from: u64,
    to: u64,
    arrivals: &mut Vec<Arrival>,
) -> (BodyEnd, u64) {
    let run = sh.run;
    let mut stream = std::pin::pin!(resp.bytes_stream());
    let mut buf: Vec<u8> = Vec::with_capacity(WRITE_BYTES);
    let mut at = from;
    let mut got = 0u64;
    let mut sent_events = arrivals.len();
    let room = to + 1 - from;
    let end = loop {
        let next = tokio::select! {
            _ = sh.stop.cancelled() => break BodyEnd::Cancelled,
            n = tokio::time::timeout(run.req.idle_timeout, stream.next()) => n,
        };
        let chunk = match next {
            Err(_) => {
                break BodyEnd::Stalled {
                    idle_s: run.req.idle_timeout.as_secs_f64(),
                };
            }
            Ok(None) => break BodyEnd::Clean,
            Ok(Some(Err(e))) => {
                break BodyEnd::Broke {
                    error: super::net::error_chain(&e),
                };
            }
            Ok(Some(Ok(c))) => c,
        };
        if chunk.is_empty() {
            continue;
        }
        if got + chunk.len() as u64 > room {
            break BodyEnd::Broke {
                error: format!("the server sent more than the {room} bytes of range {from}-{to}"),
            };
        }
        arrivals.push(Arrival {
            t_offset_ns: run.elapsed_ns(Instant::now()),
            bytes: chunk.len() as u32,
        });
        got += chunk.len() as u64;
        buf.extend_from_slice(&chunk);
        if buf.len() >= WRITE_BYTES {
            if let Err(e) = write_at(&sh.file, std::mem::take(&mut buf), at).await {
                return (BodyEnd::WriteFailed(e), got);
            }
            at = from + got;
            run.events
                .send(ProbeEvent::Arrivals(arrivals[sent_events..].to_vec()))
                .ok();
            sent_events = arrivals.len();
        }
    };
    if !buf.is_empty()
        && let Err(e) = write_at(&sh.file, buf, at).await
    {
        return (BodyEnd::WriteFailed(e), got);
    }
    run.events
        .send(ProbeEvent::Arrivals(arrivals[sent_events..].to_vec()))
        .ok();
    (end, got)
}

async fn write_at(
    file: &Arc<std::fs::File>,
    buf: Vec<u8>,
    at: u64,
) -> Result<(), super::outcome::IoFailure> {
    let f = file.clone();
    let r = tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::FileExt;
        f.write_all_at(&buf, at)
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    r.map_err(|e| super::outcome::IoFailure {
        doing: format!("writing at byte {at}"),
        error: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_the_object_once() {
        assert_eq!(plan(10, 4), vec![(0, 3), (4, 7), (8, 9)]);
        assert_eq!(plan(8, 4), vec![(0, 3), (4, 7)]);
        assert_eq!(plan(3, 4), vec![(0, 2)]);
        assert_eq!(plan(0, 4), Vec::<(u64, u64)>::new());
    }

    #[test]
    fn ranges_table() {
        // (what, status, Content-Range, from, to, known total, the total or a refusal)
        type Row = (
            &'static str,
            u16,
            Option<&'static str>,
            u64,
            u64,
            Option<u64>,
            Result<u64, ()>,
        );
        let rows: Vec<Row> = vec![
            (
                "exactly the range",
                206,
                Some("bytes 4-7/10"),
                4,
                7,
                Some(10),
                Ok(10),
            ),
            (
                "the last, short",
                206,
                Some("bytes 8-9/10"),
                8,
                11,
                Some(10),
                Ok(10),
            ),
            (
                "the first tells the size",
                206,
                Some("bytes 0-3/10"),
                0,
                3,
                None,
                Ok(10),
            ),
            (
                "a small object whole",
                206,
                Some("bytes 0-2/3"),
                0,
                3,
                None,
                Ok(3),
            ),
            ("the whole object", 200, None, 0, 3, None, Err(())),
            ("416", 416, Some("bytes */10"), 0, 3, None, Err(())),
            (
                "to the end instead",
                206,
                Some("bytes 4-9/10"),
                4,
                7,
                Some(10),
                Err(()),
            ),
            (
                "another start",
                206,
                Some("bytes 0-3/10"),
                4,
                7,
                Some(10),
                Err(()),
            ),
            (
                "another size",
                206,
                Some("bytes 4-7/12"),
                4,
                7,
                Some(10),
                Err(()),
            ),
            ("no Content-Range", 206, None, 4, 7, Some(10), Err(())),
            ("an error", 503, None, 4, 7, Some(10), Err(())),
        ];
        for (what, status, cr, from, to, total, want) in rows {
            let got = check_range(status, cr, from, to, total).map_err(|_| ());
            assert_eq!(got, want, "{what}");
        }
    }
}
