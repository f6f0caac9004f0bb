//! The Extensions API (`/2020-01-01/extension/...`): registration, the next event (INVOKE,
//! SHUTDOWN), and an extension's own exit error.

use super::reply::{api_error, error_text};
use super::state::{Extension, Shared, lock};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

pub(super) async fn extension_exit_error(req: Request) -> Response {
    let (parts, body) = req.into_parts();
    eprintln!(
        "extension exit error: {}",
        error_text(&parts.headers, body).await
    );
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"status": "OK"})),
    )
        .into_response()
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct RegisterBody {
    events: Vec<String>,
}

pub(super) async fn register(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(name) = headers
        .get("lambda-extension-name")
        .and_then(|v| v.to_str().ok())
    else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "Lambda-Extension-Name header missing",
        );
    };
    let wanted: RegisterBody = serde_json::from_slice(&body).unwrap_or_default();
    let id = uuid::Uuid::new_v4().to_string();
    lock(&sh.extensions).push(Extension {
        id: id.clone(),
        invoke: wanted.events.iter().any(|e| e == "INVOKE"),
        shutdown: wanted.events.iter().any(|e| e == "SHUTDOWN"),
        events: VecDeque::new(),
        asked: false,
    });
    eprintln!("INIT\textension {name} registered for {:?}", wanted.events);
    sh.extension_event.notify_waiters();
    let mut out = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&id) {
        out.insert("lambda-extension-identifier", v);
    }
    let c = &sh.config;
    let body = serde_json::json!({
        "functionName": c.name,
        "functionVersion": "$LATEST",
        "handler": c.handler.clone().unwrap_or_default(),
    });
    (StatusCode::OK, out, axum::Json(body)).into_response()
}

/// The next event for an extension: INVOKE events it asked for, SHUTDOWN when the environment
/// stops (if it asked); otherwise it waits, as on Lambda, for as long as the environment lives.
pub(super) async fn extension_next(State(sh): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let Some(id) = headers
        .get("lambda-extension-identifier")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
    else {
        return api_error(
            StatusCode::FORBIDDEN,
            "Extension.InvalidExtensionIdentifier",
            "Lambda-Extension-Identifier header missing",
        );
    };
    let mut first = true;
    loop {
        let notified = sh.extension_event.notified();
        {
            let mut exts = lock(&sh.extensions);
            let Some(e) = exts.iter_mut().find(|e| e.id == id) else {
                return api_error(
                    StatusCode::FORBIDDEN,
                    "Extension.UnknownExtensionIdentifier",
                    "unknown extension",
                );
            };
            if first && !e.asked {
                e.asked = true;
                drop(exts);
                sh.check_init();
                first = false;
                continue;
            }
            first = false;
            if let Some(ev) = e.events.pop_front() {
                return axum::Json(ev).into_response();
            }
            if !sh.is_alive() && e.shutdown {
                let deadline = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .saturating_add(sh.config.limits.shutdown_grace)
                    .as_millis() as u64;
                return axum::Json(serde_json::json!({
                    "eventType": "SHUTDOWN",
                    "shutdownReason": "spindown",
                    "deadlineMs": deadline,
                }))
                .into_response();
            }
        }
        if !sh.is_alive() {
            // Not subscribed to SHUTDOWN: nothing more will come.
            std::future::pending::<()>().await;
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}

/// `PUT /2022-07-01/telemetry` and `PUT /2020-08-15/logs` (see [`super::telemetry`]).
pub(super) async fn subscribe(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = headers
        .get("lambda-extension-identifier")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !lock(&sh.extensions).iter().any(|e| e.id == id) {
        return api_error(
            StatusCode::FORBIDDEN,
            "Extension.UnknownExtensionIdentifier",
            "subscribe with the Lambda-Extension-Identifier that register returned",
        );
    }
    match sh.telemetry.subscribe(&body) {
        Ok(what) => {
            eprintln!("INIT\tan extension subscribed {what}");
            (StatusCode::OK, "OK").into_response()
        }
        Err(why) => api_error(StatusCode::BAD_REQUEST, "ValidationError", &why),
    }
}
