//! The function's log, kept per request as CloudWatch shows it (START, the function's lines,
//! END, REPORT), so that a client can attach the lines of the invocation that served it to its
//! report: `GET /.streamscope/function-log/{request id}` on the emulation's port, keyed by the
//! API Gateway request id the client got in `x-amzn-requestid`.
//!
//! Bounded: the latest [`KEEP`] requests, [`MAX_LINES`] lines each, [`MAX_LINE`] bytes a line.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

/// The path (before the request id) the log is served at.
pub const FUNCTION_LOG_PATH: &str = "/.streamscope/function-log/";
/// Requests whose lines are kept.
const KEEP: usize = 256;
/// Lines kept per request.
const MAX_LINES: usize = 2_000;
/// Bytes kept of a line.
const MAX_LINE: usize = 4_096;

#[derive(Default)]
struct Entry {
    lines: Vec<String>,
    done: bool,
}

#[derive(Default)]
struct Book {
    /// Request ids, oldest first.
    order: VecDeque<String>,
    entries: HashMap<String, Entry>,
    /// Lambda's request id -> the API Gateway request id its lines are kept under.
    alias: HashMap<String, String>,
}

/// Every environment's lines, by request.
#[derive(Default)]
pub struct LogBook {
    book: Mutex<Book>,
    changed: tokio::sync::Notify,
}

impl LogBook {
    fn with<T>(&self, f: impl FnOnce(&mut Book) -> T) -> T {
        f(&mut self.book.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Lines logged under Lambda's `lambda_id` are kept under `gateway_id`.
    pub fn alias(&self, lambda_id: &str, gateway_id: &str) {
        self.with(|b| {
            if b.alias.len() >= KEEP * 2 {
                b.alias.clear();
            }
            b.alias
                .insert(lambda_id.to_string(), gateway_id.to_string());
        });
    }

    /// Keeps `line` for the request `id` (Lambda's or API Gateway's).
    pub fn line(&self, id: &str, line: &str) {
        let mut line = line.to_string();
        if line.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push('…');
        }
        self.with(|b| {
            let key = b.alias.get(id).cloned().unwrap_or_else(|| id.to_string());
            if !b.entries.contains_key(&key) {
                if b.order.len() >= KEEP
                    && let Some(old) = b.order.pop_front()
                {
                    b.entries.remove(&old);
                }
                b.order.push_back(key.clone());
            }
            let e = b.entries.entry(key).or_default();
            if e.lines.len() < MAX_LINES {
                e.lines.push(line);
            }
        });
        self.changed.notify_waiters();
    }

    /// The invocation of `id` is over (its REPORT line is in).
    pub fn done(&self, id: &str) {
        self.with(|b| {
            let key = b.alias.get(id).cloned().unwrap_or_else(|| id.to_string());
            b.entries.entry(key).or_default().done = true;
        });
        self.changed.notify_waiters();
    }

    /// The lines of `id`, once its invocation is over or `wait` has passed; None if unknown.
    pub async fn lines(&self, id: &str, wait: Duration) -> Option<Vec<String>> {
        let until = tokio::time::Instant::now() + wait;
        loop {
            let changed = self.changed.notified();
            let (lines, done) = self.with(|b| {
                b.entries
                    .get(id)
                    .map_or((None, false), |e| (Some(e.lines.clone()), e.done))
            });
            if done || tokio::time::timeout_at(until, changed).await.is_err() {
                return lines;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_kept_by_request_and_bounded() {
        let b = LogBook::default();
        b.line("gw-1", "500: the function failed");
        b.alias("lambda-1", "gw-1");
        b.line("lambda-1", "START RequestId: lambda-1");
        b.line("lambda-1", &"x".repeat(10_000));
        b.done("lambda-1");
        let got = b.lines("gw-1", Duration::from_secs(5)).await.unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1], "START RequestId: lambda-1");
        assert!(got[2].len() <= MAX_LINE + '…'.len_utf8());
        assert_eq!(b.lines("unknown", Duration::from_millis(1)).await, None);
        for i in 0..KEEP + 10 {
            b.line(&format!("r{i}"), "a line");
        }
        assert_eq!(
            b.lines("gw-1", Duration::from_millis(1)).await,
            None,
            "the oldest go"
        );
        assert!(
            b.lines(&format!("r{}", KEEP + 9), Duration::from_millis(1))
                .await
                .is_some()
        );
    }
}
