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

use super::body::{self, AtOffset, Reading};
use super::classify::{BodyEnd, BodyFacts, classify};
use super::event::ProbeEvent;
use super::expect::{ExpectedDigest, expected_digest};
use super::outcome::{ConnectCause, ConnectFailure, IoFailure, Outcome, OutcomeKind, Truncation};
use super::range::{self, Asked, RangeRefusal};
use super::result::{Arrival, ResponseMeta, RunResult, Segment};
use super::resume::{self, Start, Validator};
use super::session::{Run, commit};
use super::waits::{NEVER, Waited, Waits};
use futures_util::StreamExt;
use sha2::Digest;
use std::sync::Arc;
use std::time::Instant;

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
    /// The concurrency, lowered by 429s.
    throttle: super::throttle::Throttle,
}

/// Why a segment failed, the response that said so, and what its body said.
type SegmentFailure = (Outcome, Option<ResponseMeta>, Option<String>);

/// What a segment's request ended with.
struct SegmentEnd {
    segment: Segment,
    arrivals: Vec<Arrival>,
    /// Why it failed (None: complete).
    failure: Option<SegmentFailure>,
}

/// The ranges of a `total`-byte object in `size`-byte segments: (from, to) inclusive.
pub fn plan(total: u64, size: u64) -> Vec<(u64, u64)> {
    let size = size.max(1);
    (0..total.div_ceil(size))
        .map(|i| (i * size, ((i + 1) * size).min(total) - 1))
        .collect()
}

/// Downloads `run.req.url` as parallel ranges, `concurrency` at a time.
pub(super) async fn download(run: Run, client: &reqwest::Client, concurrency: u32) -> RunResult {
    let seg = run.req.segment_bytes;
    let t_first = run.elapsed_ns(Instant::now());
    let (
        mut run,
        First {
            resp,
            meta,
            url,
            total,
        },
    ) = match first_range(run, client, seg).await {
        Ok(first) => first,
        Err(ended) => return *ended,
    };
    let file = match create_part(&run.req.part, total) {
        Ok(f) => f,
        Err(failure) => return run.without_response(Outcome::IoError(failure), None),
    };
    let validator = Validator::of(&meta);
    let shared = Shared {
        client,
        run: &run,
        url,
        file: Arc::new(file),
        total,
        validator: validator.clone(),
        stop: run.waits_cancel().child_token(),
        throttle: super::throttle::Throttle::new(concurrency),
    };
    let ended = fetch_all(
        &shared,
        plan(total, seg),
        (resp, meta.headers_ns),
        t_first,
        concurrency,
    )
    .await;
    let file = shared.file.clone();
    let (throttled, settled) = (shared.throttle.responses(), shared.throttle.limit());
    drop(shared);
    run.throttled += throttled;
    run.settled_concurrency = Some(settled);
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
    run.timeline = timeline;
    let segments: Vec<Segment> = ends.iter().map(|e| e.segment.clone()).collect();
    let failed = ends
        .iter_mut()
        .find_map(|e| e.failure.take().filter(|(o, ..)| *o != Outcome::Cancelled))
        .or_else(|| ends.iter_mut().find_map(|e| e.failure.take()));
    match failed {
        Some(failure) => failed_run(run, &file, meta, segments, failure, &validator),
        None => {
            file.sync_all().ok();
            whole_run(run, client, meta, segments, total, &validator).await
        }
    }
}

/// The `.part`, created afresh with room for `total` bytes.
fn create_part(part: &std::path::Path, total: u64) -> Result<std::fs::File, IoFailure> {
    use super::sink::Target;
    let file = crate::disk::create_fresh(part).map_err(|e| IoFailure {
        doing: format!("creating {}", part.display()),
        error: e.to_string(),
    })?;
    file.reserve(total);
    Ok(file)
}

/// The first range's response, which says the object's size, or the run's end.
struct First {
    resp: reqwest::Response,
    meta: ResponseMeta,
    url: reqwest::Url,
    total: u64,
}

/// Asks for the first segment (following redirects): its 206 says the object's size, version
/// and digest.
async fn first_range(
    mut run: Run,
    client: &reqwest::Client,
    seg: u64,
) -> Result<(Run, First), Box<RunResult>> {
    let first_start = Start {
        until: Some(seg - 1),
        ..Start::fresh()
    };
    let mut nth = 0;
    let (sent, meta) = loop {
        let sent = match run.send(client, &first_start).await {
            Ok(s) => s,
            Err(outcome) => return Err(Box::new(run.without_response(outcome, None))),
        };
        let meta = run.meta_of(&sent, &first_start);
        if meta.status != 429 || nth >= super::throttle::MAX_THROTTLED {
            break (sent, meta);
        }
        // Too many requests already: wait as told (or back off) and ask again.
        let wait = super::throttle::wait_after(meta.header("retry-after"), nth);
        drop(sent);
        nth += 1;
        run.throttled += 1;
        if !super::throttle::sleep_unless(wait, &run.waits_cancel()).await {
            return Err(Box::new(run.without_response(Outcome::Cancelled, None)));
        }
    };
    let url = sent.url.clone();
    let resp = sent.resp;
    run.events
        .send(ProbeEvent::Headers(Box::new(meta.clone())))
        .ok();
    if !meta.is_success() && meta.status != 416 {
        let preview = run.error_preview(resp, &meta).await;
        let outcome = Outcome::HttpError {
            status: meta.status,
        };
        let mut r = run.without_response(outcome, None);
        r.response = Some(meta);
        r.error_preview = Some(preview);
        return Err(Box::new(r));
    }
    let first = Asked {
        from: 0,
        to: Some(seg - 1),
        total: None,
    };
    let total = range::check(meta.status, meta.header("content-range"), first)
        .and_then(|t| t.ok_or(RangeRefusal::NoSize));
    match total {
        Ok(total) => Ok((
            run,
            First {
                resp,
                meta,
                url,
                total,
            },
        )),
        Err(why) => {
            let mut r = run.without_response(Outcome::RangeRefused(why.to_string()), None);
            r.response = Some(meta);
            Err(Box::new(r))
        }
    }
}

/// Every range, `concurrency` at a time (the first starting from its response already in),
/// unless the user cancels or the time limit passes first.
async fn fetch_all(
    shared: &Shared<'_>,
    ranges: Vec<(u64, u64)>,
    first: (reqwest::Response, u64),
    t_first: u64,
    concurrency: u32,
) -> Result<Vec<SegmentEnd>, Outcome> {
    let run = shared.run;
    let mut first = Some(first);
    let jobs = ranges.into_iter().enumerate().map(move |(i, (from, to))| {
        let pre = if i == 0 { first.take() } else { None };
        fetch(shared, i, from, to, pre, t_first)
    });
    let all = futures_util::stream::iter(jobs)
        .buffer_unordered(concurrency.max(1) as usize)
        .collect::<Vec<SegmentEnd>>();
    let limit = run
        .req
        .overall_limit
        .map(|d| run.t0 + d)
        .unwrap_or(run.t0 + NEVER);
    let cancel = run.waits_cancel();
    tokio::select! {
        ends = all => Ok(ends),
        _ = cancel.cancelled() => Err(Outcome::Cancelled),
        _ = tokio::time::sleep_until(limit.into()) => Err(Outcome::TimedOut {
            limit_s: run.req.overall_limit.map_or(0.0, |d| d.as_secs_f64()),
        }),
    }
}

/// A range failed: the `.part` keeps its complete prefix (segments are in order), so `--resume`
/// can go on from it.
fn failed_run(
    run: Run,
    file: &std::fs::File,
    meta: ResponseMeta,
    segments: Vec<Segment>,
    (outcome, fmeta, preview): SegmentFailure,
    validator: &Validator,
) -> RunResult {
    let prefix: u64 = segments
        .iter()
        .take_while(|s| s.outcome == OutcomeKind::Complete)
        .map(|s| s.to - s.from + 1)
        .sum();
    file.set_len(prefix).ok();
    file.sync_all().ok();
    if prefix > 0 {
        resume::leave_part(&run.req, Some(validator));
    }
    let mut r = run.without_response(outcome, None);
    r.response = Some(fmeta.unwrap_or(meta));
    r.error_preview = preview;
    r.segments = segments;
    r.output.partial_left = true;
    r.output.bytes_written = prefix;
    r
}

/// Every range is in: the whole file hashed in order, checked against the object's digest (the
/// first response's, else a HEAD's), and committed.
async fn whole_run(
    mut run: Run,
    client: &reqwest::Client,
    mut meta: ResponseMeta,
    segments: Vec<Segment>,
    total: u64,
    validator: &Validator,
) -> RunResult {
    let part = run.req.part.clone();
    let sha256 = tokio::task::spawn_blocking(move || {
        let mut f = crate::disk::open_read(&part)?
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
        super::sink::Prefix::of_file(&mut f).map(|p| {
            let d: [u8; 32] = p.hasher.finalize().into();
            (d, p.bytes)
        })
    })
    .await
    .ok()
    .and_then(Result::ok);
    if meta.digest.is_none() {
        meta.digest = head_digest(&mut run, client).await;
    }
    meta.length = Some(super::expect::ExpectedLength {
        bytes: total,
        source: super::expect::LengthSource::ContentLength,
    });
    let end = if sha256.is_none() {
        BodyEnd::WriteFailed(IoFailure {
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
    let (outcome, output) = commit(&run.req, outcome, true, total, Some(validator));
    let bytes = segments.iter().map(|s| s.bytes).sum();
    let mut r = run.without_response(outcome, None);
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

/// Segment `index` (`from..=to`), starting with `pre` when its response is already in: its
/// requests (a retry continues from the first byte it lacks) and their bodies, read by the one
/// body loop into the file at the segment's offset.
async fn fetch(
    sh: &Shared<'_>,
    index: usize,
    from: u64,
    to: u64,
    pre: Option<(reqwest::Response, u64)>,
    t_first: u64,
) -> SegmentEnd {
    let run = sh.run;
    let started_ns = match pre {
        Some(_) => t_first,
        None => run.elapsed_ns(Instant::now()),
    };
    let mut seg = Segment::new(index, (from, to), started_ns, pre.as_ref());
    // The segment's own idle timer; the first segment to fail stops the others (and the user's
    // cancel stops them all: `stop` is its child).
    let mut waits = Waits::new(run.t0, sh.stop.clone(), run.req.idle_timeout, None);
    let mut arrivals = Vec::new();
    let mut pos = from;
    let mut pre = pre.map(|p| p.0);
    let mut last_failure = None;
    // A slot of the (429-lowered) concurrency, held while this range's requests run.
    let mut slot = tokio::select! {
        s = sh.throttle.slot() => s,
        () = sh.stop.cancelled() => None,
    };
    let (mut attempt, mut throttled) = (0u32, 0u32);
    while attempt <= run.req.retries && !sh.stop.is_cancelled() {
        if attempt > 0 || throttled > 0 {
            seg.requests += 1;
        }
        let resp = match pre.take() {
            Some(r) => r,
            None => match request(sh, &mut waits, pos, to).await {
                Ok(r) => r,
                Err(failure) => {
                    last_failure = Some(failure);
                    attempt += 1;
                    continue;
                }
            },
        };
        let status = resp.status().as_u16();
        seg.status = Some(status);
        if status == 429 && throttled < super::throttle::MAX_THROTTLED {
            slot = wait_out_429(sh, resp, throttled, slot).await;
            throttled += 1;
            continue;
        }
        let headers_at = Instant::now();
        if seg.headers_ns.is_none() {
            seg.headers_ns = Some(run.elapsed_ns(headers_at));
        }
        let (got, outcome) =
            read_range(sh, &mut waits, resp, headers_at, (pos, to), &mut arrivals).await;
        seg.bytes += got;
        pos += got;
        let (failure, retry) = range_ended(outcome, pos, (from, to));
        last_failure = failure;
        if !retry {
            break;
        }
        attempt += 1;
    }
    drop(slot);
    if last_failure.is_none() && pos <= to {
        // Stopped (another range failed, or the user cancelled) before this one was whole.
        last_failure = Some(Outcome::Cancelled);
    }
    seg.ended_ns = run.elapsed_ns(Instant::now());
    if let Some(o) = &last_failure {
        seg.outcome = o.kind();
        if *o != Outcome::Cancelled {
            sh.stop.cancel();
        }
    }
    SegmentEnd {
        segment: seg,
        arrivals,
        failure: last_failure.map(|o| (o, None, None)),
    }
}

impl Segment {
    /// Range `index` (`from..=to`) as it starts, with its first response when that is already in.
    fn new(
        index: usize,
        (from, to): (u64, u64),
        started_ns: u64,
        pre: Option<&(reqwest::Response, u64)>,
    ) -> Segment {
        Segment {
            index,
            from,
            to,
            started_ns,
            headers_ns: pre.map(|p| p.1),
            ended_ns: 0,
            bytes: 0,
            requests: 1,
            status: pre.map(|p| p.0.status().as_u16()),
            outcome: OutcomeKind::Complete,
        }
    }
}

/// A 429 for a range: wait as the server says (or back off), give up this range's slot when the
/// concurrency can still drop, then wait for a slot to ask again in (None once stopped).
async fn wait_out_429<'s>(
    sh: &'s Shared<'_>,
    resp: reqwest::Response,
    nth: u32,
    slot: Option<tokio::sync::SemaphorePermit<'s>>,
) -> Option<tokio::sync::SemaphorePermit<'s>> {
    let wait = super::throttle::wait_after(header(&resp, reqwest::header::RETRY_AFTER), nth);
    drop(resp);
    sh.throttle.throttled(slot);
    if !super::throttle::sleep_unless(wait, &sh.stop).await {
        return None;
    }
    tokio::select! {
        s = sh.throttle.slot() => s,
        () = sh.stop.cancelled() => None,
    }
}

/// How a response of range `from..=to` ended, now that the segment holds up to `pos`: its
/// failure (None: the range is whole), and whether another request may continue it (a short,
/// truncated or stalled body may; a refusal, a write error or a cancel may not).
fn range_ended(outcome: Outcome, pos: u64, (from, to): (u64, u64)) -> (Option<Outcome>, bool) {
    match outcome {
        Outcome::Complete if pos == to + 1 => (None, false),
        Outcome::Complete => (
            Some(Outcome::Truncated(Truncation::LengthMismatch {
                got: pos - from,
                announced: to - from + 1,
                source: super::expect::LengthSource::ContentLength,
            })),
            true,
        ),
        Outcome::Truncated(_) | Outcome::Stalled { .. } => (Some(outcome), true),
        other => (Some(other), false),
    }
}

/// One response of a segment that asked for `from..=to`: checked to be exactly that range of the
/// same object, then read into the file at `from`. Returns the bytes written and how it ended.
async fn read_range(
    sh: &Shared<'_>,
    waits: &mut Waits,
    resp: reqwest::Response,
    headers_at: Instant,
    (from, to): (u64, u64),
    arrivals: &mut Vec<Arrival>,
) -> (u64, Outcome) {
    let run = sh.run;
    let asked = Asked {
        from,
        to: Some(to),
        total: Some(sh.total),
    };
    let status = resp.status().as_u16();
    let fits = range::check(status, header(&resp, reqwest::header::CONTENT_RANGE), asked)
        .and_then(|_| sh.validator.still(&Validator::of_headers(resp.headers())));
    if let Err(why) = fits {
        return (0, Outcome::RangeRefused(why.to_string()));
    }
    let mut store = AtOffset {
        file: sh.file.clone(),
        at: from,
        failed: None,
    };
    let reading = Reading {
        t0: run.t0,
        headers_at,
        waits,
        events: &run.events,
        room: Some(to + 1 - from),
    };
    let got = body::read(resp, reading, &mut store, arrivals).await;
    let end = match store.failed {
        Some(e) => BodyEnd::WriteFailed(e),
        None => got.end.unwrap_or(BodyEnd::Clean),
    };
    let outcome = classify(BodyFacts {
        end,
        bytes: got.bytes,
        length: None,
        digest: None,
        actual_sha256: None,
        tail: &[],
    });
    (got.bytes, outcome)
}

fn header(resp: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<&str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A request for `from..=to` of the object, of the version the first response named.
async fn request(
    sh: &Shared<'_>,
    waits: &mut Waits,
    from: u64,
    to: u64,
) -> Result<reqwest::Response, Outcome> {
    let start = Start {
        prefix: super::sink::Prefix {
            bytes: from,
            hasher: Default::default(),
        },
        validator: Some(sh.validator.clone()),
        until: Some(to),
    };
    let headers = sh.run.headers_for(&sh.url, &start).map_err(|error| {
        Outcome::ConnectError(ConnectFailure {
            cause: ConnectCause::Credentials,
            error: error.to_string(),
        })
    })?;
    let mut retried = false;
    loop {
        let send = sh
            .client
            .get(sh.url.clone())
            .headers(headers.clone())
            .send();
        match waits.wait(send, Instant::now()).await {
            Waited::Ready(Ok(resp)) => return Ok(resp),
            // A pooled connection found closed: once more (ranges share the connection marks,
            // so whether this one was reused is not told apart here).
            Waited::Ready(Err(e)) if !retried && super::net::closed_before_response(&e) => {
                retried = true;
                sh.run.count_fresh_connection_retry();
            }
            Waited::Ready(Err(e)) => {
                return Err(Outcome::ConnectError(super::net::connect_failure(&e)));
            }
            other => return Err(other.outcome()),
        }
    }
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
}
