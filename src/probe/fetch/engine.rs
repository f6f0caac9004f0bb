//! The run, in phases that each return a value: send the request and read the headers
//! ([`super::session`]); read an error preview or stream the body into the `.part` file (the one
//! body loop, [`super::body`], into the writer thread that hashes and writes, [`super::sink`]);
//! classify; retry or commit. Parallel ranges ([`super::ranges`]) share every phase but the
//! planning.

use super::auth::Signer;
use super::body::{self, Body, Reading};
use super::classify::{BodyEnd, BodyFacts, classify};
use super::event::{EventSender, ProbeEvent};
use super::net;
use super::outcome::{ConnectCause, ConnectFailure, IoFailure, Outcome};
use super::phases::Marks;
use super::request::ValidRequest;
use super::result::{OutputState, ResponseMeta, RunResult};
use super::resume::{self, Start, Validator};
use super::session::{Run, commit};
use super::sink::{self, Out};
use super::waits::Waits;
use crate::disk::{self, Dest};
use std::time::{Duration, Instant, SystemTime};
use tokio_util::sync::CancellationToken;

/// Downloads `req.url` into `req.part`, then (if complete) renames it to `req.output`. Never fails:
/// every way a run can end is an [`Outcome`] in the result. Events go to `events` as they happen; a
/// dropped receiver only stops the events.
///
/// With `req.resume`, an existing `.part` is hashed first and continued with a `Range` request;
/// with `req.retries`, a truncated or stalled attempt is continued the same way. Every attempt
/// appends to the same file and the same hash, so the final digest covers the whole file.
pub async fn run(req: ValidRequest, events: EventSender, cancel: CancellationToken) -> RunResult {
    let mut r = run_requests(req, events, cancel).await;
    if let Some(meta) = r
        .response
        .as_ref()
        .filter(|_| r.outcome != Outcome::Cancelled)
    {
        r.function_log = super::function_log::fetch(meta).await;
    }
    r
}

/// The run's requests, one stream or ranges, to the result.
async fn run_requests(
    req: ValidRequest,
    events: EventSender,
    cancel: CancellationToken,
) -> RunResult {
    let (mut run, client, start) = match prepare(req, events, cancel).await {
        Ok(ready) => ready,
        Err(ended) => return *ended,
    };
    if let Some(n) = run.req.segments {
        return super::ranges::download(run, &client, n).await;
    }
    let mut start = start;
    loop {
        match attempt(&mut run, &client, start).await {
            Step::Again(next) => start = next,
            Step::NoBody(ended) => {
                let NoBody {
                    outcome,
                    start,
                    meta,
                    preview,
                } = *ended;
                let mut r = run.without_response(outcome, Some(&start));
                r.response = meta;
                r.error_preview = preview;
                return r;
            }
            Step::Body(body) => {
                let BodyEnded {
                    outcome,
                    meta,
                    sha256,
                    output,
                    duration_ns,
                } = *body;
                let mut r = run.without_response(outcome, None);
                r.response = Some(meta);
                r.sha256 = sha256;
                r.output = output;
                r.duration_ns = duration_ns;
                return r;
            }
        }
    }
}

/// Everything set up before the clock starts (setting up TLS roots, finding credentials and
/// hashing what a resumed file already holds are not part of the request), then the clock: the
/// run, its client and where it starts, or the result of a run that could not start.
async fn prepare(
    req: ValidRequest,
    events: EventSender,
    cancel: CancellationToken,
) -> Result<(Run, reqwest::Client, Start), Box<RunResult>> {
    let marks = Marks::default();
    let client = net::build_client(&req, &marks);
    let signer = match &req.sigv4 {
        Some(spec) => Some(Signer::load(spec, &req.url).await),
        None => None,
    };
    let start = if req.resume {
        resume::start_from_part(&req).await
    } else {
        Ok(Start::fresh())
    };
    let t0 = Instant::now();
    let started_at = SystemTime::now();
    // A failed send means the receiver is gone (the UI closed); the run goes on regardless.
    events
        .send(ProbeEvent::RequestSent {
            at: t0,
            wall: started_at,
        })
        .ok();
    let mut run = Run {
        started_at,
        t0,
        waits: Waits::new(t0, cancel, req.idle_timeout, req.overall_limit),
        req,
        events,
        marks,
        hops: Vec::new(),
        signer: None,
        attempts: Vec::new(),
        timeline: Vec::new(),
        resumed_from: 0,
        fresh_connection_retries: Default::default(),
        throttled: 0,
        settled_concurrency: None,
    };
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            return Err(Box::new(
                run.without_response(Outcome::ConnectError(e), None),
            ));
        }
    };
    match signer {
        Some(Ok(s)) => run.signer = Some(s),
        Some(Err(error)) => {
            let failure = ConnectFailure {
                cause: ConnectCause::Credentials,
                error: error.to_string(),
            };
            return Err(Box::new(
                run.without_response(Outcome::ConnectError(failure), None),
            ));
        }
        None => {}
    }
    let start = match start {
        Ok(s) => s,
        Err(io) => return Err(Box::new(run.without_response(Outcome::IoError(io), None))),
    };
    run.resumed_from = start.prefix.bytes;
    Ok((run, client, start))
}

/// What one attempt of a single stream left to do.
enum Step {
    /// Continue from here (a truncated or stalled attempt, with retries left).
    Again(Start),
    /// The run ended without (more) body; the `.part` holds what `start` says.
    NoBody(Box<NoBody>),
    /// The run ended after a body: the file is committed, or left as `.part`.
    Body(Box<BodyEnded>),
}

struct NoBody {
    outcome: Outcome,
    start: Start,
    meta: Option<ResponseMeta>,
    preview: Option<String>,
}

struct BodyEnded {
    outcome: Outcome,
    meta: ResponseMeta,
    sha256: Option<[u8; 32]>,
    output: OutputState,
    duration_ns: u64,
}

/// One request of a single stream, from `start`: headers, then the body or an error preview,
/// classified; then retry, or commit.
async fn attempt(run: &mut Run, client: &reqwest::Client, start: Start) -> Step {
    let attempt_started = run.elapsed_ns(Instant::now());
    let from = start.prefix.bytes;
    let ended = |run: &mut Run, status, outcome: Outcome, start, meta, preview| {
        run.attempt_ended(attempt_started, from, status, &outcome);
        Step::NoBody(Box::new(NoBody {
            outcome,
            start,
            meta,
            preview,
        }))
    };
    let sent = match run.send(client, &start).await {
        Ok(sent) => sent,
        Err(outcome) => return ended(run, None, outcome, start, None, None),
    };
    let meta = run.meta_of(&sent, &start);
    let resp = sent.resp;
    run.events
        .send(ProbeEvent::Headers(Box::new(meta.clone())))
        .ok();
    if let Err(why) = resume::continues(&start, &meta) {
        let status = Some(meta.status);
        return ended(
            run,
            status,
            Outcome::RangeRefused(why.to_string()),
            start,
            Some(meta),
            None,
        );
    }
    if matches!(meta.status, 429 | 503) && run.attempts.len() < run.req.retries as usize {
        return wait_and_again(run, resp, meta, start, (attempt_started, from)).await;
    }
    if !meta.is_success() {
        let preview = run.error_preview(resp, &meta).await;
        let outcome = Outcome::HttpError {
            status: meta.status,
        };
        let status = Some(meta.status);
        return ended(run, status, outcome, start, Some(meta), Some(preview));
    }
    let validator = start
        .validator
        .clone()
        .unwrap_or_else(|| Validator::of(&meta));
    let received = receive(run, resp, &meta, start).await;
    let outcome = classify(BodyFacts {
        end: received.end.clone(),
        bytes: received.bytes,
        length: meta.length,
        digest: meta.digest,
        actual_sha256: received.sha256,
        tail: &received.tail,
    });
    run.attempt_ended(attempt_started, from, Some(meta.status), &outcome);
    retry_or_commit(run, outcome, received, meta, validator)
}

/// Too many requests, or unavailable for now, with retries left: wait as the server says
/// (Retry-After) or back off, and ask again from the same byte.
async fn wait_and_again(
    run: &mut Run,
    resp: reqwest::Response,
    meta: ResponseMeta,
    start: Start,
    (attempt_started, from): (u64, u64),
) -> Step {
    let outcome = Outcome::HttpError {
        status: meta.status,
    };
    run.attempt_ended(attempt_started, from, Some(meta.status), &outcome);
    run.throttled += u32::from(meta.status == 429);
    let wait = super::throttle::wait_after(
        meta.header("retry-after"),
        run.attempts.len().saturating_sub(1) as u32,
    );
    drop(resp);
    if super::throttle::sleep_unless(wait, &run.waits_cancel()).await {
        Step::Again(start)
    } else {
        Step::NoBody(Box::new(NoBody {
            outcome: Outcome::Cancelled,
            start,
            meta: Some(meta),
            preview: None,
        }))
    }
}

/// After a body: a truncated or stalled attempt with retries left continues from what the file
/// holds; anything else is committed (or left as `.part`).
fn retry_or_commit(
    run: &mut Run,
    outcome: Outcome,
    received: Received,
    meta: ResponseMeta,
    validator: Validator,
) -> Step {
    let again = matches!(outcome, Outcome::Truncated(_) | Outcome::Stalled { .. })
        && run.attempts.len() <= run.req.retries as usize;
    if let (true, Some(hasher)) = (again, received.hasher) {
        return Step::Again(Start {
            prefix: sink::Prefix {
                bytes: received.bytes_written,
                hasher,
            },
            validator: Some(validator),
            until: None,
        });
    }
    let (outcome, output) = commit(
        &run.req,
        outcome,
        received.part_created,
        received.bytes_written,
        Some(&validator),
    );
    Step::Body(Box::new(BodyEnded {
        outcome,
        meta,
        sha256: received.sha256,
        output,
        duration_ns: received.ended_ns,
    }))
}

/// What phase 2 found.
struct Received {
    end: BodyEnd,
    bytes: u64,
    tail: Vec<u8>,
    /// SHA-256 of the whole file, and the state to go on from.
    sha256: Option<[u8; 32]>,
    hasher: Option<sha2::Sha256>,
    part_created: bool,
    /// Bytes the file holds.
    bytes_written: u64,
    /// When reading stopped, from the request.
    ended_ns: u64,
}

/// Phase 2, for a success status: the body into the `.part` file, every arrival timed.
async fn receive(
    run: &mut Run,
    resp: reqwest::Response,
    meta: &ResponseMeta,
    start: Start,
) -> Received {
    let prefix = start.prefix;
    let file = match open_part(&run.req, prefix.bytes) {
        Ok(f) => f,
        Err(failure) => {
            return Received {
                end: BodyEnd::WriteFailed(failure),
                bytes: 0,
                tail: Vec::new(),
                sha256: None,
                hasher: None,
                part_created: false,
                bytes_written: prefix.bytes,
                ended_ns: run.elapsed_ns(Instant::now()),
            };
        }
    };
    let total = meta.length.map(|l| prefix.bytes + l.bytes);
    let (mut sink_tx, sink) = sink::spawn_after(file, prefix, total);
    let headers_at = run.t0 + Duration::from_nanos(meta.headers_ns);
    let mut timeline = Vec::new();
    let Body {
        end,
        bytes,
        tail,
        ended,
    } = body::read(
        resp,
        Reading {
            t0: run.t0,
            headers_at,
            waits: &mut run.waits,
            events: &run.events,
            room: None,
        },
        &mut sink_tx,
        &mut timeline,
    )
    .await;
    run.timeline.append(&mut timeline);
    drop(sink_tx);
    let sunk = sink.await.unwrap_or_else(|e| sink::Sunk {
        sha256: None,
        hasher: None,
        bytes_written: 0,
        error: Some(std::io::Error::other(format!(
            "the writer thread failed: {e}"
        ))),
    });
    let end = match sunk.error {
        // A write error wins: the file is not what arrived, whatever the socket did.
        Some(e) => BodyEnd::WriteFailed(IoFailure {
            doing: format!("writing {}", run.req.part.display()),
            error: e.to_string(),
        }),
        // `None` here means the writer stopped, and it always says why.
        None => end.unwrap_or(BodyEnd::Clean),
    };
    Received {
        end,
        bytes,
        tail,
        sha256: sunk.sha256,
        hasher: sunk.hasher,
        part_created: true,
        bytes_written: sunk.bytes_written,
        ended_ns: run.elapsed_ns(ended),
    }
}

/// The `.part` to write: a continuation appends after the `keep` bytes it was given (cut to
/// exactly those); a fresh attempt starts the file over. Never through a link (see
/// [`crate::disk`]). A special file the user named is written straight into, in order.
fn open_part(req: &ValidRequest, keep: u64) -> Result<Out, IoFailure> {
    let part = req.part.as_path();
    let opened = match req.dest {
        Dest::Straight(_) => disk::open_straight(part).map(|f| Out::Straight(f, keep)),
        Dest::File if keep > 0 => disk::open_existing(part).and_then(|mut f| {
            use std::io::Seek;
            f.set_len(keep)?;
            f.seek(std::io::SeekFrom::Start(keep))?;
            Ok(Out::File(f))
        }),
        Dest::File => disk::create_fresh(part).map(Out::File),
    };
    opened.map_err(|e| IoFailure {
        doing: format!(
            "{} {}",
            if keep > 0 || req.dest != Dest::File {
                "opening"
            } else {
                "creating"
            },
            part.display()
        ),
        error: e.to_string(),
    })
}
