//! The Telemetry API (`PUT /2022-07-01/telemetry`) and the Logs API before it
//! (`PUT /2020-08-15/logs`): an extension subscribes an HTTP destination and receives the
//! function's log lines, its own processes' lines and the platform's events in batches, as on
//! Lambda, so that an extension that ships logs or metrics initialises and works here too.
//!
//! Destinations are loopback only (`sandbox.localdomain`, Lambda's name for the sandbox, is read
//! as 127.0.0.1). Each subscription holds at most [`QUEUE`] records waiting; more are dropped, as
//! Lambda drops what a slow subscriber's buffer cannot hold.

use serde_json::{Value, json};
use std::sync::Mutex;
use std::time::Duration;

/// Records waiting per subscription.
const QUEUE: usize = 10_000;
/// Subscriptions per environment.
const MAX_SUBSCRIPTIONS: usize = 16;
/// Record families an extension can ask for.
const FAMILIES: [&str; 3] = ["platform", "function", "extension"];

struct Subscription {
    families: Vec<String>,
    tx: tokio::sync::mpsc::Sender<Value>,
}

/// An environment's subscriptions.
#[derive(Default)]
pub struct Subscriptions {
    subs: Mutex<Vec<Subscription>>,
}

impl Subscriptions {
    /// Hands a record to every subscription of its family (`function`, `extension`,
    /// `platform.*`).
    pub fn publish(&self, kind: &str, record: Value) {
        let subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        if subs.is_empty() {
            return;
        }
        let family = kind.split('.').next().unwrap_or(kind);
        let item = json!({
            "time": crate::units::rfc3339_utc(std::time::SystemTime::now()),
            "type": kind,
            "record": record,
        });
        for s in subs
            .iter()
            .filter(|s| s.families.iter().any(|f| f == family))
        {
            // A full queue drops the record rather than hold the function up.
            s.tx.try_send(item.clone()).ok();
        }
    }
}

#[derive(serde::Deserialize)]
struct Destination {
    #[serde(default)]
    protocol: String,
    #[serde(rename = "URI")]
    uri: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Buffering {
    max_items: Option<usize>,
    timeout_ms: Option<u64>,
}

#[derive(serde::Deserialize)]
struct SubscribeBody {
    destination: Destination,
    #[serde(default)]
    types: Vec<String>,
    #[serde(default)]
    buffering: Buffering,
}

impl Subscriptions {
    /// Reads a subscription request's body and starts delivering to its destination. The error
    /// is the one line the extension is answered with (a 400 `ValidationError`).
    pub fn subscribe(&self, body: &[u8]) -> Result<String, String> {
        let wanted: SubscribeBody = serde_json::from_slice(body)
            .map_err(|e| format!("the subscription is not valid: {e}"))?;
        if let Some(t) = wanted
            .types
            .iter()
            .find(|t| !FAMILIES.contains(&t.as_str()))
        {
            return Err(format!(
                "unknown type {t:?}: platform, function or extension"
            ));
        }
        if !wanted.destination.protocol.eq_ignore_ascii_case("HTTP") {
            return Err("only HTTP destinations are delivered to here".into());
        }
        let uri = loopback(&wanted.destination.uri)?;
        let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
        {
            let mut subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
            if subs.len() >= MAX_SUBSCRIPTIONS {
                return Err("too many subscriptions".into());
            }
            subs.push(Subscription {
                families: wanted.types.clone(),
                tx,
            });
        }
        let max_items = wanted.buffering.max_items.unwrap_or(1000).clamp(25, 10_000);
        let timeout = Duration::from_millis(
            wanted
                .buffering
                .timeout_ms
                .unwrap_or(1000)
                .clamp(25, 30_000),
        );
        tokio::spawn(deliver(uri.clone(), max_items, timeout, rx));
        Ok(format!("{uri} for {:?} records", wanted.types))
    }
}

/// The destination with Lambda's sandbox name read as 127.0.0.1; anything not on this machine
/// is refused.
fn loopback(uri: &str) -> Result<String, String> {
    let mut url = reqwest::Url::parse(uri).map_err(|e| format!("{uri:?} is not a URL: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!("{uri:?}: the destination must be http://"));
    }
    match url.host_str() {
        Some("sandbox.localdomain" | "sandbox" | "localhost") => {
            url.set_host(Some("127.0.0.1"))
                .map_err(|e| format!("{uri:?}: {e}"))?;
        }
        Some("127.0.0.1" | "[::1]") => {}
        _ => {
            return Err(format!(
                "{uri:?}: destinations here are on this machine only (sandbox.localdomain, 127.0.0.1)"
            ));
        }
    }
    Ok(url.to_string())
}

/// Posts batches of at most `max_items`, each as soon as it is full or `timeout` after its first
/// record; the rest when the environment is gone.
async fn deliver(
    uri: String,
    max_items: usize,
    timeout: Duration,
    mut rx: tokio::sync::mpsc::Receiver<Value>,
) {
    let client = reqwest::Client::new();
    let mut open = true;
    while open {
        let Some(first) = rx.recv().await else {
            break;
        };
        let mut batch = vec![first];
        let until = tokio::time::Instant::now() + timeout;
        while batch.len() < max_items {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(v)) => batch.push(v),
                Ok(None) => {
                    open = false;
                    break;
                }
                Err(_) => break,
            }
        }
        let body = serde_json::to_vec(&batch).unwrap_or_default();
        // A subscriber that is gone or slow loses the batch, as on Lambda.
        client
            .post(&uri)
            .header("content-type", "application/json")
            .timeout(Duration::from_secs(10))
            .body(body)
            .send()
            .await
            .ok();
    }
}
