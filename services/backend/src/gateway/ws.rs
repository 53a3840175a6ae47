//! `GET /ws`: the live event feed, pushed in batches.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;

use super::GatewayState;
use super::error::ApiError;
use crate::events::BackendEvent;

/// Events are collected for this long and sent as one JSON array.
const BATCH_WINDOW: Duration = Duration::from_millis(100);
/// At most this many events per message.
const MAX_BATCH: usize = 500;

/// Upgrades to a WebSocket that receives `[{"type": ...}, ...]` batches; a client too slow
/// to keep up gets `{"type": "lagged", "missed": n}` in the next batch.
/// A plain GET (no upgrade headers) gets a JSON error, as every other bad request does.
pub(super) async fn upgrade(
    State(state): State<GatewayState>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let ws = ws?;
    let events = state.events.subscribe();
    let shutdown = state.shutdown;
    Ok(ws.on_upgrade(move |socket| push(socket, events, shutdown)))
}

async fn push(
    mut socket: WebSocket,
    mut events: tokio::sync::broadcast::Receiver<BackendEvent>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        let mut batch: Vec<serde_json::Value> = Vec::new();
        // Wait for the first event (or the client leaving, or shutdown).
        tokio::select! {
            () = shutdown.cancelled() => break,
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => continue,
            },
            first = events.recv() => match first {
                Ok(event) => batch.push(to_json(&event)),
                Err(RecvError::Lagged(missed)) => batch.push(serde_json::json!({"type": "lagged", "missed": missed})),
                Err(RecvError::Closed) => break,
            },
        }
        let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Ok(event)) => batch.push(to_json(&event)),
                Ok(Err(RecvError::Lagged(missed))) => {
                    batch.push(serde_json::json!({"type": "lagged", "missed": missed}));
                }
                Ok(Err(RecvError::Closed)) | Err(_) => break,
            }
        }
        let text = serde_json::Value::Array(batch).to_string();
        if socket.send(Message::Text(text.into())).await.is_err() {
            break;
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

fn to_json(event: &BackendEvent) -> serde_json::Value {
    serde_json::to_value(event)
        .unwrap_or_else(|e| serde_json::json!({"type": "error", "message": e.to_string()}))
}
