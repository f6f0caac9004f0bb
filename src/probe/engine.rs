//! The run, in phases that each return a value: send the request and read the headers; read an
//! error preview or stream the body into the `.part` file; classify; commit. The socket is read on
//! this task; a writer thread hashes and writes ([`super::sink`]).
//!
//! Per-arrival cost is kept to what must be done per read (a clock reading, a timeline entry, a
//! reference to the bytes): reads that are already available are taken without a timer or a
//! channel hop, and arrivals go to the writer and to the event channel in batches, flushed when the
//! next read would wait or a batch is full. One idle timer and one deadline serve the whole run.

use super::auth::Signer;
use super::classify::{BodyEnd, BodyFacts, TAIL_KEEP, classify};
use super::event::{EventSender, ProbeEvent};
use super::expect::{expected_digest, expected_length};
use super::net::{self, error_chain};
use super::outcome::{ConnectCause, ConnectFailure, IoFailure, Outcome};
use super::phases::{Marks, Phases};
use super::redact::is_secret_header;
use super::result::{Attempt, Hop, OutputState, ResponseMeta, RunResult, WireVersion};
use super::resume;
use super::sink::{self, SinkSender};
use super::timeline::Arrival;
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::request::ValidRequest;

const BODY_PREVIEW_MAX: usize = 4096;
/// A batch goes to the writer and the event channel once it holds this many bytes...
pub const BATCH_BYTES: usize = 1024 * 1024;
/// ...or this many arrivals, whichever comes first (or sooner, when the next read would wait).
const BATCH_ARRIVALS: usize = 256;

/// Downloads `req.url` into `req.part`, then (if complete) renames it to `req.output`. Never fails:
/// every way a run can end is an [`Outcome`] in the result. Events go to `events` as they happen; a
/// dropped receiver only stops the events.
///
/// With `req.resume`, an existing `.part` is hashed first and continued with a `Range` request;
/// with `req.retries`, a truncated or stalled attempt is continued the same way. Every attempt
/// appends to the same file and the same hash, so the final digest covers the whole file.
pub async fn run(req: ValidRequest, events: EventSender, cancel: CancellationToken) -> RunResult {
    // Built before the clock starts: setting up TLS roots, finding credentials and hashing what a
    // resumed file already holds are not part of the request.
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
    };
    let client = match client {
        Ok(c) => c,
        Err(e) => return run.without_response(Outcome::ConnectError(e), None),
    };
    match signer {
        Some(Ok(s)) => run.signer = Some(s),
        Some(Err(error)) => {
            return run.without_response(
                Outcome::ConnectError(ConnectFailure {
                    cause: ConnectCause::Credentials,
                    error,
                }),
                None,
            );
        }
        None => {}
    }
    let mut start = match start {
        Ok(s) => s,
        Err(io) => return run.without_response(Outcome::IoError(io), None),
    };
    run.resumed_from = start.prefix.bytes;
    if let Some(n) = run.req.segments {
        return super::segments::download(run, &client, n).await;
    }
    loop {
        let attempt_started = run.elapsed_ns(Instant::now());
        let from = start.prefix.bytes;
        let sent = match run.send(&client, &start).await {
            Ok(sent) => sent,
            Err(outcome) => {
                run.attempt_ended(attempt_started, from, None, &outcome);
                return run.without_response(outcome, Some(&start));
            }
        };
        let meta = run.meta_of(&sent, &start);
        let resp = sent.resp;
        run.events
            .send(ProbeEvent::Headers(Box::new(meta.clone())))
            .ok();
        if let Err(why) = resume::continues(&start, &meta) {
            let outcome = Outcome::RangeRefused(why);
            run.attempt_ended(attempt_started, from, Some(meta.status), &outcome);
            let mut r = run.without_response(outcome, Some(&start));
            r.response = Some(meta);
            return r;
        }
        if !meta.is_success() {
            let preview = run.error_preview(resp, &meta).await;
            let outcome = Outcome::HttpError {
                status: meta.status,
            };
            run.attempt_ended(attempt_started, from, Some(meta.status), &outcome);
            let mut r = run.without_response(outcome, Some(&start));
            r.response = Some(meta);
            r.error_preview = Some(preview);
            return r;
        }
        let validator = start
            .validator
            .clone()
            .unwrap_or_else(|| Validator::of(&meta));
        let received = run.receive(resp, &meta, start).await;
        let outcome = classify(BodyFacts {
            end: received.end,
            bytes: received.bytes,
            length: meta.length,
            digest: meta.digest,
            actual_sha256: received.sha256,
            tail: &received.tail,
        });
        run.attempt_ended(attempt_started, from, Some(meta.status), &outcome);
        let again = matches!(outcome, Outcome::Truncated(_) | Outcome::Stalled { .. })
            && run.attempts.len() <= run.req.retries as usize;
        if let (true, Some(hasher)) = (again, received.hasher) {
            start = Start {
                prefix: sink::Prefix {
                    bytes: received.bytes_written,
                    hasher,
                },
                validator: Some(validator),
                until: None,
            };
            continue;
        }
        let (outcome, output) = commit(
            &run.req,
            outcome,
            received.part_created,
            received.bytes_written,
            Some(&validator),
        );
        return RunResult {
            request: run.req,
            started_at,
            response: Some(meta),
            hops: run.hops,
            error_preview: None,
            bytes: run.timeline.iter().map(|a| a.bytes as u64).sum(),
            timeline: run.timeline,
            sha256: received.sha256,
            outcome,
            output,
            duration_ns: received.ended_ns,
            attempts: run.attempts,
            resumed_from: run.resumed_from,
            segments: Vec::new(),
        };
    }
}

/// Where an attempt starts: what the `.part` already holds, and what the object looked like
/// when those bytes came.
pub struct Start {
    pub prefix: sink::Prefix,
    pub validator: Option<Validator>,
    /// Ask only up to this byte (inclusive): a segment of a parallel download.
    pub until: Option<u64>,
}

impl Start {
    pub fn fresh() -> Start {
        Start {
            prefix: sink::Prefix::default(),
            validator: None,
            until: None,
        }
    }

    /// The request asks for a range (the rest of a file, or a segment).
    pub fn asks_range(&self) -> bool {
        self.prefix.bytes > 0 || self.until.is_some()
    }
}

/// What identifies the object's version: its ETag, else its Last-Modified.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Validator {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validator {
    pub fn of(meta: &ResponseMeta) -> Validator {
        Validator {
            etag: meta.header("etag").map(str::to_string),
            last_modified: meta.header("last-modified").map(str::to_string),
        }
    }

    /// The `If-Range` value: a strong ETag, else the date (RFC 9110 13.1.5).
    pub fn if_range(&self) -> Option<&str> {
        self.etag
            .as_deref()
            .filter(|e| !e.starts_with("W/"))
            .or(self.last_modified.as_deref())
    }
}

pub(super) struct Run {
    pub(super) req: ValidRequest,
    pub(super) started_at: SystemTime,
    /// The instant the request was sent: every offset in the run counts from here.
    pub(super) t0: Instant,
    waits: Waits,
    pub(super) events: EventSender,
    /// What the client's hooks saw (lookups, connections, TLS handshakes).
    pub(super) marks: Marks,
    pub(super) hops: Vec<Hop>,
    /// Signs requests to the URL's origin.
    pub(super) signer: Option<Signer>,
    pub(super) attempts: Vec<Attempt>,
    /// Every arrival of every attempt, in order.
    pub(super) timeline: Vec<Arrival>,
    /// Bytes the `.part` held before the run (a resumed download).
    pub(super) resumed_from: u64,
}

impl Run {
    /// The user's cancel.
    pub(super) fn waits_cancel(&self) -> CancellationToken {
        self.waits.cancel.clone()
    }

    pub(super) fn elapsed_ns(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.t0).as_nanos() as u64
    }

    /// Phase 1: the request goes out, the status line and headers come back; redirects are
    /// followed here, each one timed and kept, up to the request's limit.
    pub(super) async fn send(
        &mut self,
        client: &reqwest::Client,
        start: &Start,
    ) -> Result<Sent, Outcome> {
        let mut url = self.req.url.clone();
        loop {
            let headers = match self.headers_for(&url, start) {
                Ok(h) => h,
                Err(error) => {
                    return Err(Outcome::ConnectError(ConnectFailure {
                        cause: ConnectCause::Credentials,
                        error,
                    }));
                }
            };
            let sent = Instant::now();
            let request = client.get(url.clone()).headers(headers);
            let resp = match self.waits.wait(request.send(), sent).await {
                Waited::Ready(Ok(resp)) => resp,
                Waited::Ready(Err(e)) => {
                    return Err(Outcome::ConnectError(net::connect_failure(&e)));
                }
                other => return Err(other.outcome()),
            };
            let headers_at = Instant::now();
            let phases = Phases::of(
                self.marks.since(sent),
                url.scheme() == "https",
                headers_at.duration_since(sent).as_nanos() as u64,
            );
            let status = resp.status().as_u16();
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .filter(|_| matches!(status, 301 | 302 | 303 | 307 | 308));
            let Some(location) = location else {
                return Ok(Sent {
                    resp,
                    phases,
                    sent,
                    headers_at,
                    url,
                });
            };
            let next = url
                .join(location)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"));
            let follow = next.is_some() && self.hops.len() < self.req.max_redirects as usize;
            if !follow {
                // The 3xx is the answer: shown as such, with where it pointed.
                return Ok(Sent {
                    resp,
                    phases,
                    sent,
                    headers_at,
                    url,
                });
            }
            self.hops.push(Hop {
                url: url.clone(),
                status,
                location: location.to_string(),
                next: next.clone(),
                sent_ns: self.elapsed_ns(sent),
                headers_ns: self.elapsed_ns(headers_at),
                phases,
            });
            url = next.unwrap_or(url);
        }
    }

    /// The headers for a request to `url`: the user's, signed when SigV4 is on; without the
    /// secret ones and unsigned once a redirect leaves the origin they were meant for (as curl
    /// and browsers do).
    pub(super) fn headers_for(
        &self,
        url: &reqwest::Url,
        start: &Start,
    ) -> Result<reqwest::header::HeaderMap, String> {
        let mut h = self.req.headers.clone();
        // A continued download asks for the rest, of the same version of the object.
        if start.asks_range() {
            let range = format!(
                "bytes={}-{}",
                start.prefix.bytes,
                start.until.map_or_else(String::new, |u| u.to_string())
            );
            h.insert(
                reqwest::header::RANGE,
                reqwest::header::HeaderValue::from_str(&range).map_err(|e| e.to_string())?,
            );
            if let Some(v) = start
                .validator
                .as_ref()
                .and_then(Validator::if_range)
                .and_then(|v| reqwest::header::HeaderValue::from_str(v).ok())
            {
                h.insert(reqwest::header::IF_RANGE, v);
            }
        }
        let same_origin = url.origin() == self.req.url.origin();
        if same_origin && let Some(signer) = &self.signer {
            signer.sign(url, &mut h, SystemTime::now())?;
        }
        if !same_origin {
            let secret: Vec<_> = h
                .keys()
                .filter(|n| is_secret_header(n.as_str(), &self.req.redact))
                .cloned()
                .collect();
            for n in secret {
                h.remove(n);
            }
        }
        Ok(h)
    }

    pub(super) fn meta_of(&self, sent: &Sent, start: &Start) -> ResponseMeta {
        let resp = &sent.resp;
        let headers_ns = self.elapsed_ns(sent.headers_at);
        let status = resp.status().as_u16();
        let h = resp.headers();
        let mut phases = sent.phases;
        if !self.hops.is_empty() {
            phases.redirects_ns = self.elapsed_ns(sent.sent);
        }
        ResponseMeta {
            url: sent.url.clone(),
            phases,
            status,
            version: WireVersion::of(resp.version()),
            headers: h
                .iter()
                .map(|(n, v)| {
                    let v = v.to_str().unwrap_or("<non-ascii>");
                    (n.as_str().to_string(), v.to_string())
                })
                .collect(),
            headers_ns,
            length: expected_length(h),
            // A 206 that continues our own bytes is checked against the whole object's digest.
            digest: expected_digest(self.req.expect_sha256, h, status, start.asks_range()),
        }
    }

    /// Phase 2, for an error status: at most 4 KiB of the body, to show what the server said.
    pub(super) async fn error_preview(
        &mut self,
        resp: reqwest::Response,
        meta: &ResponseMeta,
    ) -> String {
        let mut last = self.t0 + Duration::from_nanos(meta.headers_ns);
        let mut stream = std::pin::pin!(resp.bytes_stream());
        let mut preview = Vec::new();
        while preview.len() < BODY_PREVIEW_MAX {
            match self.waits.wait(stream.next(), last).await {
                Waited::Ready(Some(Ok(chunk))) => {
                    last = Instant::now();
                    let room = BODY_PREVIEW_MAX - preview.len();
                    preview.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                _ => break,
            }
        }
        String::from_utf8_lossy(&preview).into_owned()
    }

    /// Phase 2, for a success status: the body into the `.part` file, every arrival timed.
    async fn receive(
        &mut self,
        resp: reqwest::Response,
        meta: &ResponseMeta,
        start: Start,
    ) -> Received {
        let mut rx = Received {
            end: BodyEnd::Clean,
            bytes: 0,
            timeline: Vec::new(),
            tail_chunks: VecDeque::new(),
            tail: Vec::new(),
            sha256: None,
            hasher: None,
            part_created: false,
            bytes_written: start.prefix.bytes,
            ended_ns: 0,
        };
        let prefix = start.prefix;
        // A continuation appends after the bytes it was given (cut to exactly those); a fresh
        // attempt starts the file over.
        let opened = if prefix.bytes > 0 {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&self.req.part)
                .and_then(|mut f| {
                    use std::io::Seek;
                    f.set_len(prefix.bytes)?;
                    f.seek(std::io::SeekFrom::Start(prefix.bytes))?;
                    Ok(f)
                })
        } else {
            std::fs::File::create(&self.req.part)
        };
        let file = match opened {
            Ok(f) => f,
            Err(e) => {
                rx.end = BodyEnd::WriteFailed(IoFailure {
                    doing: format!(
                        "{} {}",
                        if prefix.bytes > 0 {
                            "opening"
                        } else {
                            "creating"
                        },
                        self.req.part.display()
                    ),
                    error: e.to_string(),
                });
                rx.ended_ns = self.elapsed_ns(Instant::now());
                return rx;
            }
        };
        rx.part_created = true;
        let total = meta.length.map(|l| prefix.bytes + l.bytes);
        let (sink_tx, sink) = sink::spawn_after(file, prefix, total);
        let mut batch = Batch::default();
        let mut last = self.t0 + Duration::from_nanos(meta.headers_ns);
        let mut stream = std::pin::pin!(resp.bytes_stream());
        let end = loop {
            // Take a read that is already there without arming anything; wait only when none is.
            let item = match stream.next().now_or_never() {
                Some(item) => item,
                None => {
                    if !batch.flush(&sink_tx, &self.events, &rx.timeline).await {
                        break None;
                    }
                    match self.waits.wait(stream.next(), last).await {
                        Waited::Ready(item) => item,
                        other => break Some(other.body_end()),
                    }
                }
            };
            let chunk = match item {
                None => break Some(BodyEnd::Clean),
                Some(Err(e)) => {
                    break Some(BodyEnd::Broke {
                        error: error_chain(&e),
                    });
                }
                Some(Ok(chunk)) => chunk,
            };
            if chunk.is_empty() {
                continue;
            }
            let now = Instant::now();
            last = now;
            let arrival = Arrival {
                t_offset_ns: self.elapsed_ns(now),
                bytes: chunk.len() as u32,
            };
            rx.bytes += chunk.len() as u64;
            rx.timeline.push(arrival);
            batch.push(chunk, &mut rx.tail_chunks);
            if batch.is_full() && !batch.flush(&sink_tx, &self.events, &rx.timeline).await {
                break None;
            }
            // Reads that never wait never reach the timers: check the cancel and the limit here.
            if let Some(end) = self.waits.expired(now) {
                break Some(end);
            }
        };
        rx.ended_ns = self.elapsed_ns(Instant::now());
        // Whatever happened, what arrived goes to the file before the writer is asked how it went.
        batch.flush(&sink_tx, &self.events, &rx.timeline).await;
        drop(sink_tx);
        let sunk = sink.await.unwrap_or_else(|e| sink::Sunk {
            sha256: None,
            hasher: None,
            bytes_written: 0,
            error: Some(std::io::Error::other(format!(
                "the writer thread failed: {e}"
            ))),
        });
        rx.sha256 = sunk.sha256;
        rx.hasher = sunk.hasher;
        rx.bytes_written = sunk.bytes_written;
        rx.end = match sunk.error {
            // A write error wins: the file is not what arrived, whatever the socket did.
            Some(e) => BodyEnd::WriteFailed(IoFailure {
                doing: format!("writing {}", self.req.part.display()),
                error: e.to_string(),
            }),
            // `None` here means the writer stopped, and it always says why.
            None => end.unwrap_or(BodyEnd::Clean),
        };
        rx.tail = rx
            .tail_chunks
            .iter()
            .flat_map(|b| b.iter().copied())
            .collect();
        self.timeline.append(&mut rx.timeline);
        rx
    }

    /// The result of a run that ends without (more) body: `start` says what the `.part` holds,
    /// which stays as it was.
    pub(super) fn without_response(self, outcome: Outcome, start: Option<&Start>) -> RunResult {
        let duration_ns = self.elapsed_ns(Instant::now());
        let kept = start.map_or(0, |s| s.prefix.bytes);
        if kept > 0 {
            resume::leave_part(&self.req, start.and_then(|s| s.validator.as_ref()));
        }
        RunResult {
            request: self.req,
            started_at: self.started_at,
            response: None,
            hops: self.hops,
            error_preview: None,
            bytes: self.timeline.iter().map(|a| a.bytes as u64).sum(),
            timeline: self.timeline,
            sha256: None,
            outcome,
            output: OutputState {
                saved: false,
                partial_left: kept > 0,
                bytes_written: kept,
            },
            duration_ns,
            attempts: self.attempts,
            resumed_from: self.resumed_from,
            segments: Vec::new(),
        }
    }

    /// Records the attempt that started at `started_ns` from byte `from`.
    fn attempt_ended(
        &mut self,
        started_ns: u64,
        from: u64,
        status: Option<u16>,
        outcome: &Outcome,
    ) {
        let bytes = self
            .timeline
            .iter()
            .filter(|a| a.t_offset_ns >= started_ns)
            .map(|a| a.bytes as u64)
            .sum();
        self.attempts.push(Attempt {
            started_ns,
            ended_ns: self.elapsed_ns(Instant::now()),
            from_byte: from,
            bytes,
            status,
            outcome: outcome.kind(),
        });
    }
}

/// The response phase 1 ended with.
pub(super) struct Sent {
    pub(super) resp: reqwest::Response,
    pub(super) phases: Phases,
    /// When its request was sent, and its headers were in.
    pub(super) sent: Instant,
    pub(super) headers_at: Instant,
    pub(super) url: reqwest::Url,
}

/// What phase 2 found.
struct Received {
    end: BodyEnd,
    bytes: u64,
    timeline: Vec<Arrival>,
    /// The last chunks, at least [`TAIL_KEEP`] bytes when the body is longer (no copies while
    /// receiving), and the same bytes made contiguous at the end.
    tail_chunks: VecDeque<Bytes>,
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

/// Arrivals not yet handed to the writer and the event channel.
#[derive(Default)]
struct Batch {
    chunks: Vec<Bytes>,
    bytes: usize,
    /// Timeline entries up to here were already sent as events.
    events_sent: usize,
}

impl Batch {
    fn push(&mut self, chunk: Bytes, tail: &mut VecDeque<Bytes>) {
        self.bytes += chunk.len();
        tail.push_back(chunk.clone());
        let mut kept: usize = tail.iter().map(Bytes::len).sum();
        while tail.len() > 1 && kept - tail[0].len() >= TAIL_KEEP {
            kept -= tail[0].len();
            tail.pop_front();
        }
        self.chunks.push(chunk);
    }

    fn is_full(&self) -> bool {
        self.bytes >= BATCH_BYTES || self.chunks.len() >= BATCH_ARRIVALS
    }

    /// Hands the batch over; false when the writer has stopped (a write error).
    async fn flush(
        &mut self,
        sink: &SinkSender,
        events: &EventSender,
        timeline: &[Arrival],
    ) -> bool {
        if self.chunks.is_empty() {
            return true;
        }
        self.bytes = 0;
        let ok = sink.send(std::mem::take(&mut self.chunks)).await.is_ok();
        events
            .send(ProbeEvent::Arrivals(timeline[self.events_sent..].to_vec()))
            .ok();
        self.events_sent = timeline.len();
        ok
    }
}

/// Phase 4: a complete download is renamed to its final name and made durable; anything else
/// stays `.part`.
pub(super) fn commit(
    req: &ValidRequest,
    outcome: Outcome,
    part_created: bool,
    bytes_written: u64,
    validator: Option<&Validator>,
) -> (Outcome, OutputState) {
    let mut out = OutputState {
        saved: false,
        partial_left: part_created,
        bytes_written,
    };
    if !outcome.is_complete() {
        if part_created {
            resume::leave_part(req, validator);
        }
        return (outcome, out);
    }
    resume::forget_part(req);
    if let Err(e) = std::fs::rename(&req.part, &req.output) {
        return (
            Outcome::IoError(IoFailure {
                doing: format!(
                    "renaming {} to {}",
                    req.part.display(),
                    req.output.display()
                ),
                error: e.to_string(),
            }),
            out,
        );
    }
    sync_parent_dir(&req.output);
    out.saved = true;
    out.partial_left = false;
    (outcome, out)
}

/// Makes the rename durable. Best effort: some filesystems refuse to fsync a directory.
fn sync_parent_dir(path: &std::path::Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        d.sync_all().ok();
    }
}

/// What a wait ended with.
enum Waited<T> {
    Ready(T),
    Cancelled,
    TimedOut { limit_s: f64 },
    Stalled { idle_s: f64 },
}

impl<T> Waited<T> {
    fn body_end(self) -> BodyEnd {
        match self {
            Waited::Ready(_) | Waited::Cancelled => BodyEnd::Cancelled,
            Waited::TimedOut { limit_s } => BodyEnd::TimedOut { limit_s },
            Waited::Stalled { idle_s } => BodyEnd::Stalled { idle_s },
        }
    }

    fn outcome(self) -> Outcome {
        match self.body_end() {
            BodyEnd::TimedOut { limit_s } => Outcome::TimedOut { limit_s },
            BodyEnd::Stalled { idle_s } => Outcome::Stalled { idle_s },
            _ => Outcome::Cancelled,
        }
    }
}

/// The three things any wait also waits for, armed once per run: the user's cancel, the overall
/// time limit, and the idle timeout (moved only when it fires early, so a read costs no timer).
struct Waits {
    cancel: CancellationToken,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    deadline: Option<Instant>,
    limit_s: f64,
    deadline_timer: Pin<Box<tokio::time::Sleep>>,
    idle_timeout: Duration,
    idle_timer: Pin<Box<tokio::time::Sleep>>,
}

/// Far enough never to fire, near enough not to overflow the timer.
const NEVER: Duration = Duration::from_secs(100 * 365 * 86_400);

impl Waits {
    fn new(
        t0: Instant,
        cancel: CancellationToken,
        idle_timeout: Duration,
        limit: Option<Duration>,
    ) -> Waits {
        let deadline = limit.map(|d| t0 + d);
        Waits {
            cancelled: Box::pin(cancel.clone().cancelled_owned()),
            cancel,
            deadline,
            limit_s: limit.map_or(0.0, |d| d.as_secs_f64()),
            deadline_timer: Box::pin(tokio::time::sleep_until(
                deadline.unwrap_or(t0 + NEVER).into(),
            )),
            idle_timeout,
            idle_timer: Box::pin(tokio::time::sleep_until((t0 + idle_timeout).into())),
        }
    }

    /// Waits for `fut`, unless the cancel, the time limit or `idle_timeout` of silence since
    /// `last_activity` comes first.
    async fn wait<F: Future>(&mut self, fut: F, last_activity: Instant) -> Waited<F::Output> {
        let mut fut = std::pin::pin!(fut);
        loop {
            tokio::select! {
                biased;
                _ = &mut self.cancelled => return Waited::Cancelled,
                _ = &mut self.deadline_timer => {
                    return Waited::TimedOut { limit_s: self.limit_s };
                }
                _ = &mut self.idle_timer => {
                    let due = last_activity + self.idle_timeout;
                    if Instant::now() >= due {
                        return Waited::Stalled { idle_s: self.idle_timeout.as_secs_f64() };
                    }
                    self.idle_timer.as_mut().reset(due.into());
                }
                out = &mut fut => return Waited::Ready(out),
            }
        }
    }

    /// The cancel or the time limit, checked without waiting.
    fn expired(&self, now: Instant) -> Option<BodyEnd> {
        if self.cancel.is_cancelled() {
            return Some(BodyEnd::Cancelled);
        }
        self.deadline
            .filter(|d| now >= *d)
            .map(|_| BodyEnd::TimedOut {
                limit_s: self.limit_s,
            })
    }
}
