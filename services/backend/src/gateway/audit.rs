//! Every mutating call, written to the trade-store's audit log.

use levibot_core::Clock;
use levibot_proto::v1::trade_store_service_client::TradeStoreServiceClient;
use levibot_proto::v1::{AppendAuditRequest, AuditEntry};
use levibot_telemetry::InjectTraceContext;
use levibot_telemetry::metrics::IntCounter;
use serde_json::{Value, json};
use std::sync::Arc;
use tonic::transport::Channel;

use super::auth::Principal;
use super::error::ApiError;

/// Longest `action` written (the store accepts 256 characters).
const MAX_ACTION_CHARS: usize = 200;

/// The audit `action` of a call: `"POST /engines/start/BTCUSDT"`, from the method and the raw
/// (still percent-encoded) path, cut to [`MAX_ACTION_CHARS`] with control characters replaced,
/// so whatever a client sends, the store accepts the entry.
pub(super) fn action(method: &axum::http::Method, path: &str) -> String {
    clip(&format!("{method} {path}"), MAX_ACTION_CHARS)
}

/// `text` cut to `max` characters (ending in `...` when cut), control characters replaced by
/// `?`: client-supplied text made fit for the audit log.
pub(super) fn clip(text: &str, max: usize) -> String {
    let mut clipped: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().count() > max {
        clipped = clipped.chars().take(max.saturating_sub(3)).collect();
        clipped.push_str("...");
    }
    clipped
}

/// Whether a call with `method` changes something (and so is audited).
pub(super) fn is_mutating(method: &axum::http::Method) -> bool {
    !matches!(
        *method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    )
}

/// Writes audit entries; a failure is logged and counted (`gateway_audit_failures_total`),
/// never hidden.
#[derive(Clone)]
pub struct Audit {
    store: TradeStoreServiceClient<InjectTraceContext<Channel>>,
    clock: Arc<dyn Clock>,
    failures: IntCounter,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit").finish_non_exhaustive()
    }
}

impl Audit {
    /// Audits through `store`.
    #[must_use]
    pub fn new(
        store: TradeStoreServiceClient<InjectTraceContext<Channel>>,
        clock: Arc<dyn Clock>,
        failures: IntCounter,
    ) -> Self {
        Self {
            store,
            clock,
            failures,
        }
    }

    /// Records that `principal` called `action` with `params`, and how it ended.
    pub async fn record(
        &self,
        principal: &Principal,
        action: &str,
        params: Value,
        outcome: Result<Value, &ApiError>,
    ) {
        let detail = match outcome {
            Ok(result) => json!({ "params": params, "ok": true, "result": result }),
            Err(err) => json!({
                "params": params,
                "ok": false,
                "status": err.status.as_u16(),
                "error": err.code,
                "message": err.message,
            }),
        };
        let entry = AuditEntry {
            at_ms: self.clock.now().as_i64(),
            actor: principal.describe(),
            action: action.to_owned(),
            detail_json: detail.to_string(),
        };
        let mut store = self.store.clone();
        if let Err(status) = store
            .append_audit(AppendAuditRequest { entry: Some(entry) })
            .await
        {
            self.failures.inc();
            tracing::error!(action, actor = %principal.describe(), code = %status.code(), message = status.message(), "cannot write the audit log");
        }
    }
}
