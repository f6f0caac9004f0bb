//! The download loop. One task owns the socket and times every arrival; it hands each arrival to a
//! sink thread that owns the `.part` file and the hasher (so hashing overlaps receiving), reports
//! every arrival over a channel, and returns the finished [`Report`].

use super::report::{
    HeaderPair, OutputInfo, Report, RequestInfo, ResponseInfo, redact_headers, redact_url,
    rfc3339_utc,
};
use super::request::{HttpVersion, ValidRequest};
use super::stats::{self, Arrival, SIX_MIB, TEN_MB, TEN_MIB};
use super::{Outcome, ProbeEvent, ResponseMeta};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::header::HeaderMap;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

const BODY_PREVIEW_MAX: usize = 4096;
/// Enough of the body's end to hold the Lambda runtime's error text with a long message.
const TAIL_KEEP: usize = 16 * 1024;
pub const LAMBDA_ERROR_TYPE: &str = "Lambda-Runtime-Function-Error-Type:";
pub const LAMBDA_ERROR_BODY: &str = "Lambda-Runtime-Function-Error-Body:";
/// Writes reach the kernel in blocks this large: few syscalls, bounded memory.
const WRITE_BUF: usize = 256 * 1024;
/// Arrivals waiting for the sink thread. Reads are at most a few hundred KiB, so this bounds the
/// memory in flight to a few MiB while letting receiving and hashing overlap.
const SINK_QUEUE: usize = 4;

/// Starts the kernel writing dirty pages to disk every `WRITEBACK_EVERY` bytes, without waiting for
/// it, so that the fsync at the end has little left to do (on this machine fsync of a 1 GiB file
/// written in one go took ~280 ms after the last byte; started early it overlaps the download).
#[derive(Default)]
struct Writeback {
    written: u64,
    started_up_to: u64,
}

const WRITEBACK_EVERY: u64 = 16 * 1024 * 1024;

impl Writeback {
    fn wrote(
        &mut self,
        n: u64,
        out: &mut std::io::BufWriter<std::fs::File>,
    ) -> std::io::Result<()> {
        self.written += n;
        if self.written - self.started_up_to < WRITEBACK_EVERY {
            return Ok(());
        }
        out.flush()?;
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let (from, len) = (
                self.started_up_to as i64,
                (self.written - self.started_up_to) as i64,
            );
            // SAFETY: the fd is open for as long as `out` lives; sync_file_range only reads it.
            // Best effort: a filesystem that refuses it still gets the fsync at the end.
            unsafe {
                libc::sync_file_range(
                    out.get_ref().as_raw_fd(),
                    from,
                    len,
                    libc::SYNC_FILE_RANGE_WRITE,
                )
            };
        }
        self.started_up_to = self.written;
        Ok(())
    }
}

/// Hashes and writes on a blocking thread of its own, so that SHA-256 and the page-cache copy run
/// beside the socket reads instead of after them (on loopback that is the difference between
/// receiving at hash speed and at socket speed). Returns the hasher once the file is flushed and
/// fsynced; stops at the first write error (the sender then sees a closed channel).
fn spawn_sink(
    file: std::fs::File,
) -> (
    tokio::sync::mpsc::Sender<bytes::Bytes>,
    tokio::task::JoinHandle<std::io::Result<Sha256>>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(SINK_QUEUE);
    let handle = tokio::task::spawn_blocking(move || {
        let mut hasher = Sha256::new();
        let mut out = std::io::BufWriter::with_capacity(WRITE_BUF, file);
        let mut writeback = Writeback::default();
        while let Some(chunk) = rx.blocking_recv() {
            hasher.update(&chunk);
            out.write_all(&chunk)?;
            writeback.wrote(chunk.len() as u64, &mut out)?;
        }
        out.flush()?;
        out.get_ref().sync_all()?;
        Ok(hasher)
    });
    (tx, handle)
}

/// Response headers naming a request, for joining with API Gateway / Lambda / CloudFront logs.
const REQUEST_ID_HEADERS: &[&str] = &[
    "x-amzn-requestid",
    "x-amz-apigw-id",
    "x-amz-cf-id",
    "x-amzn-trace-id",
    "x-amz-request-id",
];

/// Where the expected digest and length come from, in order of precedence.
pub fn expected_digest(
    user: Option<[u8; 32]>,
    headers: &HeaderMap,
    status: u16,
) -> Option<([u8; 32], &'static str)> {
    if let Some(d) = user {
        return Some((d, "user"));
    }
    // A 206 carries part of the representation; Repr-Digest and S3 checksums describe all of it.
    if status == 206 {
        return None;
    }
    if let Some(d) = headers
        .get("repr-digest")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_repr_digest)
    {
        return Some((d, "repr-digest"));
    }
    let composite = headers
        .get("x-amz-checksum-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.eq_ignore_ascii_case("COMPOSITE"));
    if !composite
        && let Some(d) = headers
            .get("x-amz-checksum-sha256")
            .and_then(|v| v.to_str().ok())
            .and_then(decode_b64_sha256)
    {
        return Some((d, "x-amz-checksum-sha256"));
    }
    None
}

/// RFC 9530: `Repr-Digest: sha-256=:<base64>:, sha-512=:...:` (a Structured Field dictionary).
pub fn parse_repr_digest(value: &str) -> Option<[u8; 32]> {
    value.split(',').find_map(|member| {
        let (key, val) = member.trim().split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("sha-256") {
            return None;
        }
        let b64 = val
            .trim()
            .split(';')
            .next()?
            .trim()
            .strip_prefix(':')?
            .strip_suffix(':')?;
        decode_b64_sha256(b64)
    })
}

fn decode_b64_sha256(b64: &str) -> Option<[u8; 32]> {
    // Composite multipart checksums look like `<b64>-<parts>`: not a whole-object digest.
    let bytes = B64.decode(b64.trim()).ok()?;
    bytes.try_into().ok()
}

pub fn expected_length(headers: &HeaderMap) -> Option<(u64, &'static str)> {
    let num = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
    num("content-length")
        .map(|n| (n, "content-length"))
        .or_else(|| {
            num("x-amzn-remapped-content-length").map(|n| (n, "x-amzn-remapped-content-length"))
        })
}

/// Finds the Lambda runtime's stream-error text in the end of a body.
pub fn find_lambda_error(tail: &[u8]) -> Option<(String, String)> {
    let text = String::from_utf8_lossy(tail);
    let at = text.rfind(LAMBDA_ERROR_TYPE)?;
    let rest = &text[at + LAMBDA_ERROR_TYPE.len()..];
    let error_type = rest.split("\r\n").next().unwrap_or("").trim().to_string();
    let error_body = rest
        .find(LAMBDA_ERROR_BODY)
        .map(|b| {
            rest[b + LAMBDA_ERROR_BODY.len()..]
                .split("\r\n")
                .next()
                .unwrap_or("")
                .trim()
        })
        .map(|b64| match B64.decode(b64) {
            Ok(raw) => String::from_utf8_lossy(&raw).into_owned(),
            Err(_) => b64.to_string(),
        })
        .unwrap_or_default();
    Some((error_type, error_body))
}

struct Tail(Vec<u8>);

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        if chunk.len() >= TAIL_KEEP {
            self.0.clear();
            self.0.extend_from_slice(&chunk[chunk.len() - TAIL_KEEP..]);
            return;
        }
        self.0.extend_from_slice(chunk);
        if self.0.len() > 2 * TAIL_KEEP {
            self.0.drain(..self.0.len() - TAIL_KEEP);
        }
    }
}

fn build_client(req: &ValidRequest) -> reqwest::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(req.connect_timeout)
        // A proxy would change what we measure; the user asked about this endpoint.
        .no_proxy()
        .user_agent(concat!("streamscope/", env!("CARGO_PKG_VERSION")));
    b = match req.http_version {
        HttpVersion::Auto => b,
        HttpVersion::Http1 => b.http1_only(),
        HttpVersion::Http2 => b.http2_prior_knowledge(),
    };
    b.build()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let s_text = s.to_string();
        if !msg.contains(&s_text) {
            msg.push_str(": ");
            msg.push_str(&s_text);
        }
        src = s.source();
    }
    msg
}

struct Run {
    t0: Instant,
    started_at: SystemTime,
    response: Option<ResponseInfo>,
    meta: Option<ResponseMeta>,
    headers_ns: Option<u64>,
    timeline: Vec<Arrival>,
    bytes: u64,
    hasher: Sha256,
    tail: Tail,
    http_error_preview: Option<String>,
    partial_left: bool,
    saved: bool,
}

/// Downloads `req.url` into `req.part`, then (if complete) renames it to `req.output`. Never fails:
/// every way a run can end is an [`Outcome`] in the report. Events go to `events` as they happen; a
/// dropped receiver only stops the events.
pub async fn run(
    req: ValidRequest,
    events: UnboundedSender<ProbeEvent>,
    cancel: CancellationToken,
) -> Report {
    let mut run = Run {
        t0: Instant::now(),
        started_at: SystemTime::now(),
        response: None,
        meta: None,
        headers_ns: None,
        timeline: Vec::new(),
        bytes: 0,
        hasher: Sha256::new(),
        tail: Tail(Vec::with_capacity(2 * TAIL_KEEP)),
        http_error_preview: None,
        partial_left: false,
        saved: false,
    };
    let outcome = download(&req, &events, &cancel, &mut run).await;
    let duration_ns = run.t0.elapsed().as_nanos() as u64;
    finish(req, run, outcome, duration_ns)
}

async fn download(
    req: &ValidRequest,
    events: &UnboundedSender<ProbeEvent>,
    cancel: &CancellationToken,
    run: &mut Run,
) -> Outcome {
    let client = match build_client(req) {
        Ok(c) => c,
        Err(e) => {
            return Outcome::ConnectError {
                message: error_chain(&e),
            };
        }
    };
    let deadline = req
        .overall_limit
        .map(|d| tokio::time::Instant::from_std(run.t0) + d);
    let far = tokio::time::Instant::now() + Duration::from_secs(100 * 365 * 86_400);
    let deadline_at = deadline.unwrap_or(far);
    let limit_s = req.overall_limit.map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let idle_s = req.idle_timeout.as_secs_f64();

    run.t0 = Instant::now();
    run.started_at = SystemTime::now();
    // A failed send means the receiver is gone (the UI closed); the run goes on regardless.
    events.send(ProbeEvent::RequestSent).ok();
    let send = client
        .get(req.url.clone())
        .headers(req.headers.clone())
        .send();
    let mut resp = tokio::select! {
        biased;
        _ = cancel.cancelled() => return Outcome::Cancelled,
        _ = tokio::time::sleep_until(deadline_at) => return Outcome::TimedOut { limit_s },
        r = tokio::time::timeout(req.idle_timeout, send) => match r {
            Err(_) => return Outcome::Stalled { idle_s },
            Ok(Err(e)) => return Outcome::ConnectError { message: error_chain(&e) },
            Ok(Ok(resp)) => resp,
        },
    };
    let headers_ns = run.t0.elapsed().as_nanos() as u64;
    run.headers_ns = Some(headers_ns);
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let header_pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.to_str().unwrap_or("<non-ascii>")))
        .collect();
    run.response = Some(ResponseInfo {
        status,
        http_version: format!("{:?}", resp.version()),
        headers: redact_headers(header_pairs.iter().copied(), &req.redact),
    });
    let digest = expected_digest(req.expect_sha256, &headers, status);
    let length = expected_length(&headers);
    let meta = ResponseMeta {
        status,
        http_version: format!("{:?}", resp.version()),
        headers: header_pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        headers_ns,
        expected_bytes: length.map(|l| l.0),
        expected_bytes_source: length.map(|l| l.1),
        expected_sha256: digest.map(|d| hex::encode(d.0)),
        expected_sha256_source: digest.map(|d| d.1),
    };
    run.meta = Some(meta.clone());
    events.send(ProbeEvent::Headers(Box::new(meta))).ok();

    if !resp.status().is_success() {
        let mut preview = Vec::new();
        while preview.len() < BODY_PREVIEW_MAX {
            let next = tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep_until(deadline_at) => break,
                r = tokio::time::timeout(req.idle_timeout, resp.chunk()) => r,
            };
            match next {
                Ok(Ok(Some(chunk))) => preview
                    .extend_from_slice(&chunk[..chunk.len().min(BODY_PREVIEW_MAX - preview.len())]),
                _ => break,
            }
        }
        let body_preview = String::from_utf8_lossy(&preview).into_owned();
        run.http_error_preview = Some(body_preview.clone());
        return Outcome::HttpError {
            status,
            body_preview,
        };
    }

    let file = match std::fs::File::create(&req.part) {
        Ok(f) => f,
        Err(e) => {
            return Outcome::IoError {
                message: format!("cannot create {}: {e}", req.part.display()),
            };
        }
    };
    run.partial_left = true;
    let (sink_tx, sink) = spawn_sink(file);

    let ended = loop {
        let next = tokio::select! {
            biased;
            _ = cancel.cancelled() => break Some(Outcome::Cancelled),
            _ = tokio::time::sleep_until(deadline_at) => break Some(Outcome::TimedOut { limit_s }),
            r = tokio::time::timeout(req.idle_timeout, resp.chunk()) => r,
        };
        let chunk = match next {
            Err(_) => break Some(Outcome::Stalled { idle_s }),
            Ok(Err(e)) => {
                break Some(Outcome::Truncated {
                    reason: format!(
                        "the connection ended after {} bytes: {}",
                        run.bytes,
                        error_chain(&e)
                    ),
                });
            }
            Ok(Ok(None)) => break None,
            Ok(Ok(Some(chunk))) => chunk,
        };
        if chunk.is_empty() {
            continue;
        }
        let t_offset_ns = run.t0.elapsed().as_nanos() as u64;
        run.tail.push(&chunk);
        let len = chunk.len();
        if sink_tx.send(chunk).await.is_err() {
            // The sink stopped on a write error; its result says which.
            break None;
        }
        run.bytes += len as u64;
        let arrival = Arrival {
            t_offset_ns,
            bytes: len as u32,
        };
        run.timeline.push(arrival);
        events.send(ProbeEvent::Arrival(arrival)).ok();
    };

    // Whatever happened, what arrived is on disk under the .part name once the sink has drained.
    drop(sink_tx);
    let sunk = match sink.await {
        Ok(r) => r,
        Err(e) => Err(std::io::Error::other(format!(
            "the writer thread failed: {e}"
        ))),
    };
    let hasher = match sunk {
        Ok(h) => h,
        Err(e) => {
            return Outcome::IoError {
                message: format!("writing {}: {e}", req.part.display()),
            };
        }
    };
    run.hasher = hasher;
    if let Some(outcome) = ended {
        return outcome;
    }
    let actual: [u8; 32] = run.hasher.clone().finalize().into();
    let digest_ok = digest.map(|(d, _)| d == actual);
    let length_ok = length.is_none_or(|(n, _)| n == run.bytes);
    let outcome = if digest_ok == Some(true) && length_ok {
        Outcome::Complete
    } else if let Some((error_type, error_body)) = find_lambda_error(&run.tail.0) {
        Outcome::LambdaStreamError {
            error_type,
            error_body,
        }
    } else if let Some((n, src)) = length.filter(|_| !length_ok) {
        Outcome::Truncated {
            reason: format!("{} bytes arrived, {src} announced {n}", run.bytes),
        }
    } else if let (Some(false), Some((d, _))) = (digest_ok, digest) {
        Outcome::DigestMismatch {
            expected: hex::encode(d),
            actual: hex::encode(actual),
        }
    } else {
        Outcome::Complete
    };
    if outcome.is_complete() {
        if let Err(e) = std::fs::rename(&req.part, &req.output) {
            return Outcome::IoError {
                message: format!(
                    "renaming {} to {}: {e}",
                    req.part.display(),
                    req.output.display()
                ),
            };
        }
        sync_parent_dir(&req.output);
        run.partial_left = false;
        run.saved = true;
    }
    outcome
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

fn finish(req: ValidRequest, run: Run, outcome: Outcome, duration_ns: u64) -> Report {
    let summary = stats::summarize(&run.timeline, duration_ns);
    let sha256 = run
        .meta
        .as_ref()
        .map(|_| hex::encode(run.hasher.clone().finalize()));
    let (expected_sha256, expected_sha256_source) = run
        .meta
        .as_ref()
        .map(|m| (m.expected_sha256.clone(), m.expected_sha256_source))
        .unwrap_or((
            req.expect_sha256.map(hex::encode),
            req.expect_sha256.map(|_| "user"),
        ));
    // A digest says something only about a body that ended cleanly: a cut-off body's hash always
    // differs, and saying so would blame the content for what the transport did.
    let body_complete = matches!(outcome, Outcome::Complete | Outcome::DigestMismatch { .. });
    let digest_match = match (&expected_sha256, &sha256) {
        (Some(e), Some(a)) if body_complete => Some(e == a),
        _ => None,
    };
    let request_ids = run
        .meta
        .as_ref()
        .map(|m| {
            m.headers
                .iter()
                .filter(|(n, _)| REQUEST_ID_HEADERS.contains(&n.as_str()))
                .map(|(n, v)| HeaderPair {
                    name: n.clone(),
                    value: v.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let duration_s = duration_ns as f64 / 1e9;
    Report {
        schema_version: super::report::SCHEMA_VERSION,
        tool: concat!("streamscope ", env!("CARGO_PKG_VERSION")).to_string(),
        started_at: rfc3339_utc(run.started_at),
        request: RequestInfo {
            method: "GET",
            url: redact_url(&req.url),
            headers: redact_headers(
                req.header_list
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str())),
                &req.redact,
            ),
            http_version: req.http_version.label(),
            connect_timeout_s: req.connect_timeout.as_secs_f64(),
            idle_timeout_s: req.idle_timeout.as_secs_f64(),
            overall_limit_s: req.overall_limit.map(|d| d.as_secs_f64()),
            expect_sha256: req.expect_sha256.map(hex::encode),
        },
        response: run.response,
        outcome: outcome.kind(),
        outcome_detail: outcome.describe(),
        http_error_body_preview: run.http_error_preview,
        output: OutputInfo {
            path: req.output.display().to_string(),
            part_path: req.part.display().to_string(),
            saved: run.saved,
            partial_left: run.partial_left,
        },
        bytes: run.bytes,
        expected_bytes: run.meta.as_ref().and_then(|m| m.expected_bytes),
        expected_bytes_source: run.meta.as_ref().and_then(|m| m.expected_bytes_source),
        headers_ms: run.headers_ns.map(|n| n as f64 / 1e6),
        first_byte_ms: run.timeline.first().map(|a| a.t_offset_ns as f64 / 1e6),
        duration_ms: duration_ns as f64 / 1e6,
        avg_bytes_per_sec: (duration_s > 0.0 && run.bytes > 0)
            .then(|| run.bytes as f64 / duration_s),
        summary,
        throughput_split_10mib: stats::split_at(&run.timeline, TEN_MIB),
        throughput_split_10mb: stats::split_at(&run.timeline, TEN_MB),
        throughput_split_6mib: stats::split_at(&run.timeline, SIX_MIB),
        sha256,
        expected_sha256,
        expected_sha256_source,
        digest_match,
        request_ids,
        delivery: super::verdict::delivery(&run.timeline, run.bytes, duration_ns as f64 / 1e6),
        outcome_value: outcome,
        timeline: run.timeline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_digest_parses() {
        let d = [7u8; 32];
        let v = format!("sha-512=:AAAA:, sha-256=:{}:", B64.encode(d));
        assert_eq!(parse_repr_digest(&v), Some(d));
        assert_eq!(parse_repr_digest("sha-256=:bm90MzJieXRlcw==:"), None);
        assert_eq!(parse_repr_digest("md5=:abc:"), None);
    }

    #[test]
    fn digest_precedence() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-amz-checksum-sha256",
            B64.encode([2u8; 32]).parse().unwrap(),
        );
        assert_eq!(
            expected_digest(None, &h, 200),
            Some(([2u8; 32], "x-amz-checksum-sha256"))
        );
        h.insert(
            "repr-digest",
            format!("sha-256=:{}:", B64.encode([3u8; 32]))
                .parse()
                .unwrap(),
        );
        assert_eq!(
            expected_digest(None, &h, 200),
            Some(([3u8; 32], "repr-digest"))
        );
        assert_eq!(
            expected_digest(Some([1u8; 32]), &h, 200),
            Some(([1u8; 32], "user"))
        );
        assert_eq!(expected_digest(None, &h, 206), None);
        let mut c = HeaderMap::new();
        c.insert(
            "x-amz-checksum-sha256",
            B64.encode([2u8; 32]).parse().unwrap(),
        );
        c.insert("x-amz-checksum-type", "COMPOSITE".parse().unwrap());
        assert_eq!(expected_digest(None, &c, 200), None);
    }

    #[test]
    fn lambda_error_text_is_found() {
        let mut body = b"....data....".to_vec();
        body.extend_from_slice(
            crate::backend::download::lambda_error_tail("boom: upstream closed").as_bytes(),
        );
        let (t, b) = find_lambda_error(&body).unwrap();
        assert_eq!(
            (t.as_str(), b.as_str()),
            ("Runtime.StreamError", "boom: upstream closed")
        );
        assert_eq!(find_lambda_error(b"plain data"), None);
    }

    #[test]
    fn tail_keeps_the_end() {
        let mut t = Tail(Vec::new());
        for i in 0..100u8 {
            t.push(&[i; 1000]);
        }
        assert!(t.0.len() >= TAIL_KEEP && t.0.len() <= 2 * TAIL_KEEP);
        assert_eq!(*t.0.last().unwrap(), 99);
    }
}
