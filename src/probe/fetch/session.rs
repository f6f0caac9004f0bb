//! One run's request side, shared by a single stream and by parallel ranges: the state of the run
//! ([`Run`]), sending a request and reading its headers (redirects followed and timed, headers
//! signed or dropped across origins), an error body's preview, the result of a run that ended
//! without a body, and the commit of a finished download under its final name.

use super::auth::{AuthError, Signer};
use super::event::EventSender;
use super::expect::{expected_digest, expected_length};
use super::net;
use super::outcome::{ConnectCause, ConnectFailure, IoFailure, Outcome};
use super::phases::{Marks, Phases};
use super::request::ValidRequest;
use super::result::{Arrival, Attempt, Hop, OutputState, ResponseMeta, RunResult, WireVersion};
use super::resume::{self, Start, Validator};
use super::waits::{Waited, Waits};
use crate::probe::redact::is_secret_header;
use futures_util::StreamExt;
use std::time::{Duration, Instant, SystemTime};
use tokio_util::sync::CancellationToken;

const BODY_PREVIEW_MAX: usize = 4096;

pub(super) struct Run {
    pub(super) req: ValidRequest,
    pub(super) started_at: SystemTime,
    /// The instant the request was sent: every offset in the run counts from here.
    pub(super) t0: Instant,
    pub(super) waits: Waits,
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
    /// Requests sent again on a fresh connection because a reused one was found closed before
    /// any byte of a response (see [`net::closed_before_response`]).
    pub(super) fresh_connection_retries: std::sync::atomic::AtomicU32,
    /// 429 Too Many Requests answers waited out (see [`super::throttle`]).
    pub(super) throttled: u32,
    /// Parallel ranges: the concurrency the run ended with (lowered by 429s).
    pub(super) settled_concurrency: Option<u32>,
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
        let mut retried_hop = false;
        loop {
            let headers = match self.headers_for(&url, start) {
                Ok(h) => h,
                Err(error) => {
                    return Err(Outcome::ConnectError(ConnectFailure {
                        cause: ConnectCause::Credentials,
                        error: error.to_string(),
                    }));
                }
            };
            let sent = Instant::now();
            let request = client.get(url.clone()).headers(headers);
            let resp = match self.waits.wait(request.send(), sent).await {
                Waited::Ready(Ok(resp)) => {
                    retried_hop = false;
                    resp
                }
                Waited::Ready(Err(e)) => {
                    // A pooled connection the server had closed: once more, on a new one (the
                    // pool dropped the dead one). A new connection that fails so is the answer.
                    let reused = self.marks.since(sent).connect_start.is_none();
                    if reused && !retried_hop && net::closed_before_response(&e) {
                        retried_hop = true;
                        self.count_fresh_connection_retry();
                        continue;
                    }
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
    ) -> Result<reqwest::header::HeaderMap, AuthError> {
        let mut h = self.req.headers.clone();
        // A continued download asks for the rest, of the same version of the object.
        if start.asks_range() {
            let range = format!(
                "bytes={}-{}",
                start.prefix.bytes,
                start.until.map_or_else(String::new, |u| u.to_string())
            );
            // Digits and a dash: always a valid header value.
            if let Ok(v) = reqwest::header::HeaderValue::from_str(&range) {
                h.insert(reqwest::header::RANGE, v);
            }
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
            fresh_connection_retries: self.fresh_connection_retries.into_inner(),
            throttled: self.throttled,
            settled_concurrency: self.settled_concurrency,
            function_log: Vec::new(),
        }
    }

    pub(super) fn count_fresh_connection_retry(&self) {
        self.fresh_connection_retries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Records the attempt that started at `started_ns` from byte `from`.
    pub(super) fn attempt_ended(
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
    if req.dest != crate::disk::Dest::File {
        // Written straight into what the user named: nothing to rename, nothing left aside.
        out.partial_left = false;
        out.saved = part_created && outcome.is_complete();
        return (outcome, out);
    }
    if !outcome.is_complete() {
        if part_created {
            resume::leave_part(req, validator);
        }
        return (outcome, out);
    }
    resume::forget_part(req);
    // Looked at again just before: never rename over what is no longer a regular file (or nothing).
    let still_file = crate::disk::Dest::of(&req.output)
        .map_err(|e| std::io::Error::other(e.to_string()))
        .and_then(|d| {
            if d == crate::disk::Dest::File {
                Ok(())
            } else {
                Err(std::io::Error::other("it is no longer a regular file"))
            }
        });
    if let Err(e) = still_file.and_then(|()| std::fs::rename(&req.part, &req.output)) {
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
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        d.sync_all().ok();
    }
}
