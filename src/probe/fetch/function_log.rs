//! The function log of a run against `streamscope serve` hosting a real function: the lines of
//! the invocation that served it (START, the function's own lines, END, REPORT, and API
//! Gateway's failure if it failed), asked of the emulation once the run is over. Only on this
//! machine, and only when the response says it came from the emulation.

use super::result::ResponseMeta;
use std::time::Duration;

/// The emulation's route for the log (see `emulator::lambda_service::logbook`).
const FUNCTION_LOG_PATH: &str = crate::emulator::lambda_service::logbook::FUNCTION_LOG_PATH;
/// Lines kept in a report.
const MAX_LINES: usize = 2_000;

#[derive(serde::Deserialize)]
struct Log {
    lines: Vec<String>,
}

/// The log of the invocation behind `meta`, or nothing (not the emulation, not on this machine,
/// not found within a few seconds).
pub async fn fetch(meta: &ResponseMeta) -> Vec<String> {
    let (Some(_), Some(id)) = (
        meta.header("x-streamscope-profile"),
        meta.header("x-amzn-requestid"),
    ) else {
        return Vec::new();
    };
    let url = &meta.url;
    let loopback = match url.host_str() {
        Some("localhost" | "[::1]") => true,
        Some(h) => h
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    if !loopback
        || url.scheme() != "http"
        || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Vec::new();
    }
    let mut log_url = url.clone();
    log_url.set_path(&format!("{FUNCTION_LOG_PATH}{id}"));
    log_url.set_query(Some("wait_ms=3000"));
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(6))
        .no_proxy()
        .build()
    else {
        return Vec::new();
    };
    let Ok(resp) = client.get(log_url).send().await else {
        return Vec::new();
    };
    if !resp.status().is_success() {
        return Vec::new();
    }
    // The log is bounded on the server; read at most 16 MiB of it here all the same.
    let Ok(body) = resp.bytes().await else {
        return Vec::new();
    };
    if body.len() > 16 << 20 {
        return Vec::new();
    }
    serde_json::from_slice::<Log>(&body)
        .map(|l| l.lines.into_iter().take(MAX_LINES).collect())
        .unwrap_or_default()
}
