//! The one body loop: a single stream's body and each parallel range's body are read here, the same
//! way. Per-arrival cost is kept to what must be done per read (a clock reading, a timeline entry, a
//! reference to the bytes): reads that are already available are taken without a timer or a
//! channel hop, and arrivals go to their [`Store`] and to the event channel in batches, flushed
//! when the next read would wait or a batch is full. The caller's [`Waits`] (cancel, time limit,
//! idle timeout) bound every wait.
//!
//! Where the bytes go is the only difference: a single stream hands them to the writer thread,
//! which hashes and appends them ([`super::sink`]); a range writes them at its offset of the shared
//! `.part` ([`AtOffset`]), and the whole file is hashed in order once every range is in.

use super::classify::{BodyEnd, TAIL_KEEP};
use super::event::{EventSender, ProbeEvent};
use super::outcome::{IoFailure, error_chain};
use super::result::Arrival;
use super::sink::{BATCH_BYTES, SinkSender};
use super::waits::{Waited, Waits};
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

/// ...or this many arrivals, whichever comes first (or sooner, when the next read would wait).
const BATCH_ARRIVALS: usize = 256;

/// Where a body's bytes go.
pub trait Store {
    /// Takes the next bytes of the body, in order; false when it can take no more (a write failed).
    fn put(&mut self, chunks: Vec<Bytes>) -> impl Future<Output = bool> + Send;
}

impl Store for SinkSender {
    async fn put(&mut self, chunks: Vec<Bytes>) -> bool {
        self.send(chunks).await.is_ok()
    }
}

/// Writes at an offset of a file others write too (a range of a parallel download).
pub struct AtOffset {
    pub file: Arc<std::fs::File>,
    /// Where the next byte goes.
    pub at: u64,
    /// Why it stopped taking bytes.
    pub failed: Option<IoFailure>,
}

impl Store for AtOffset {
    async fn put(&mut self, chunks: Vec<Bytes>) -> bool {
        let (file, at) = (self.file.clone(), self.at);
        let len: u64 = chunks.iter().map(|c| c.len() as u64).sum();
        let written = tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::FileExt;
            // One positioned write per batch: a copy of at most a batch is cheaper than a system
            // call per arrival (h2 frames are 16 KiB).
            match chunks.as_slice() {
                [one] => file.write_all_at(one, at),
                _ => file.write_all_at(&chunks.concat(), at),
            }
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
        match written {
            Ok(()) => {
                self.at += len;
                true
            }
            Err(e) => {
                self.failed = Some(IoFailure {
                    doing: format!("writing at byte {at}"),
                    error: e.to_string(),
                });
                false
            }
        }
    }
}

/// How reading a body went.
pub struct Body {
    /// How it ended; None when the store stopped taking bytes (it says why).
    pub end: Option<BodyEnd>,
    /// Body bytes read.
    pub bytes: u64,
    /// The last bytes read: at least [`TAIL_KEEP`] when the body is longer.
    pub tail: Vec<u8>,
    /// When reading stopped.
    pub ended: Instant,
}

/// What a body is read with: the run's clock and waits, where its events go, and how many bytes
/// it may have.
pub struct Reading<'a> {
    /// The instant the run's offsets count from.
    pub t0: Instant,
    /// When the response's headers came: the idle timeout counts from there.
    pub headers_at: Instant,
    pub waits: &'a mut Waits,
    pub events: &'a EventSender,
    /// At most this many bytes (a range's length).
    pub room: Option<u64>,
}

/// Reads `resp`'s body into `store`, each arrival timed and appended to `timeline` (whose
/// entries from its current length on are sent as events).
pub async fn read<S: Store>(
    resp: reqwest::Response,
    r: Reading<'_>,
    store: &mut S,
    timeline: &mut Vec<Arrival>,
) -> Body {
    let Reading {
        t0,
        headers_at: mut last,
        waits,
        events,
        room,
    } = r;
    let mut batch = Batch {
        events_sent: timeline.len(),
        ..Batch::default()
    };
    let mut tail_chunks = VecDeque::new();
    let mut bytes = 0u64;
    let mut stream = std::pin::pin!(resp.bytes_stream());
    let end = loop {
        // Take a read that is already there without arming anything; wait only when none is.
        let item = match stream.next().now_or_never() {
            Some(item) => item,
            None => {
                if !batch.flush(store, events, timeline).await {
                    break None;
                }
                match waits.wait(stream.next(), last).await {
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
        if let Some(room) = room
            && bytes + chunk.len() as u64 > room
        {
            break Some(BodyEnd::Broke {
                error: format!("the server sent more than the {room} bytes asked for"),
            });
        }
        let now = Instant::now();
        last = now;
        timeline.push(Arrival {
            t_offset_ns: now.saturating_duration_since(t0).as_nanos() as u64,
            bytes: chunk.len() as u32,
        });
        bytes += chunk.len() as u64;
        batch.push(chunk, &mut tail_chunks);
        if batch.is_full() && !batch.flush(store, events, timeline).await {
            break None;
        }
        // Reads that never wait never reach the timers: check the cancel and the limit here.
        if let Some(end) = waits.expired(now) {
            break Some(end);
        }
    };
    let ended = Instant::now();
    // Whatever happened, what arrived goes to the store before the caller asks how it went.
    let stored = batch.flush(store, events, timeline).await;
    Body {
        end: end.filter(|_| stored),
        bytes,
        tail: tail_chunks.iter().flat_map(|b| b.iter().copied()).collect(),
        ended,
    }
}

/// Arrivals not yet handed to the store and the event channel.
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

    /// Hands the batch over; false when the store has stopped (a write error).
    async fn flush<S: Store>(
        &mut self,
        store: &mut S,
        events: &EventSender,
        timeline: &[Arrival],
    ) -> bool {
        if self.chunks.is_empty() {
            return true;
        }
        self.bytes = 0;
        let ok = store.put(std::mem::take(&mut self.chunks)).await;
        events
            .send(ProbeEvent::Arrivals(timeline[self.events_sent..].to_vec()))
            .ok();
        self.events_sent = timeline.len();
        ok
    }
}
