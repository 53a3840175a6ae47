use futures::StreamExt;
use levibot_core::{Bar, Clock, Fill, KeyId, LiveClock, Symbol};
use levibot_proto::{
    convert::{interval_from_wire, role_from_wire},
    v1::{self, trade_store_service_server::TradeStoreService},
};
use levibot_telemetry::metrics::{PrometheusError, Registry};
use tonic::{Request, Response, Status};

use crate::{
    error::ApiError,
    metrics::StoreMetrics,
    store::{EquitySnapshot, KeySha256, NewApiKey, Revocation, TradeStore, api_key_name},
    wire::{
        actor_from_wire, api_key_to_wire, audit_from_wire, audit_to_wire,
        equity_snapshot_from_wire, equity_snapshot_to_wire, ess_transition_from_wire,
        ess_transition_to_wire, order_from_wire, order_to_wire, policy_version_from_wire,
        policy_version_to_wire, signal_from_wire, signal_to_wire, symbol_filter, time_range,
    },
};

pub use crate::wire::{
    MAX_AUDIT_TEXT_CHARS, MAX_DETAIL_JSON_BYTES, MAX_POLICY_DOCUMENT_BYTES, MAX_REASON_TEXT_CHARS,
    MAX_VOTES,
};

/// Most bars one `InsertBars` call may carry.
pub const MAX_INSERT_BARS: usize = 50_000;
/// Most fills one `RecordFills` call may carry.
pub const MAX_RECORD_FILLS: usize = 10_000;
/// Most snapshots one `RecordEquitySnapshots` call may carry.
pub const MAX_RECORD_EQUITY_SNAPSHOTS: usize = 10_000;
/// Most rows `QueryOrders`, `QueryFills`, `QuerySignals` and `QueryEquity` answer with; a range
/// holding more is refused with a request to narrow it, never cut silently.
pub const MAX_QUERY_ROWS: usize = 10_000;
/// Audit entries `QueryAudit` answers with when the request sets no limit.
pub const DEFAULT_AUDIT_LIMIT: usize = 1_000;
/// Most audit entries one `QueryAudit` answers with; a larger limit is capped to it.
pub const MAX_AUDIT_LIMIT: usize = 10_000;
/// Policy versions or ESS transitions `ListPolicyVersions` and `QueryEssTransitions` answer
/// with when the request sets no limit.
pub const DEFAULT_HISTORY_LIMIT: usize = 100;
/// Most policy versions or ESS transitions one answer holds; a larger limit is capped to it.
pub const MAX_HISTORY_LIMIT: usize = 1_000;
/// Largest request message the service decodes: a full [`MAX_INSERT_BARS`] batch fits.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// The `levibot.v1.TradeStoreService` implementation over a [`TradeStore`].
///
/// Every request is converted and validated whole before the store is touched, so a bad
/// request changes nothing. `InsertBars` answers `inserted` = bars written (new or corrected)
/// and `unchanged` = bars already stored with the same values. `AppendPolicyVersion` and
/// `AppendEssTransition` are compare-and-set: a writer that is behind gets `ABORTED`.
#[derive(Debug, Clone)]
pub struct TradeStoreApi {
    store: TradeStore,
    metrics: StoreMetrics,
}

impl TradeStoreApi {
    /// The API over `store`; registers the store metrics in `registry`.
    pub fn new(store: TradeStore, registry: &Registry) -> Result<Self, PrometheusError> {
        Ok(Self::with_metrics(store, StoreMetrics::register(registry)?))
    }

    /// The API over `store`, counting into `metrics` (shared with the bus persistence).
    pub fn with_metrics(store: TradeStore, metrics: StoreMetrics) -> Self {
        Self { store, metrics }
    }

    /// The store it serves.
    pub fn store(&self) -> &TradeStore {
        &self.store
    }

    fn bars_from_wire(&self, bars: &[v1::Bar]) -> Result<Vec<Bar>, ApiError> {
        if bars.len() > MAX_INSERT_BARS {
            self.metrics.rejected("bars", bars.len());
            return Err(ApiError::InvalidArgument(format!(
                "bars: {} bars in one call, the limit is {MAX_INSERT_BARS}; split the batch",
                bars.len()
            )));
        }
        bars.iter()
            .enumerate()
            .map(|(index, wire)| {
                Bar::try_from(wire).map_err(|err| {
                    self.metrics.rejected("bars", bars.len());
                    ApiError::InvalidArgument(format!(
                        "bars[{index}] ({:?} at {}): {err}; nothing was stored",
                        wire.symbol, wire.open_time_ms
                    ))
                })
            })
            .collect()
    }

    fn fills_from_wire(&self, fills: &[v1::Fill]) -> Result<Vec<Fill>, ApiError> {
        if fills.len() > MAX_RECORD_FILLS {
            self.metrics.rejected("fills", fills.len());
            return Err(ApiError::InvalidArgument(format!(
                "fills: {} fills in one call, the limit is {MAX_RECORD_FILLS}; split the batch",
                fills.len()
            )));
        }
        fills
            .iter()
            .enumerate()
            .map(|(index, wire)| {
                Fill::try_from(wire).map_err(|err| {
                    self.metrics.rejected("fills", fills.len());
                    ApiError::InvalidArgument(format!(
                        "fills[{index}] ({:?}): {err}; nothing was stored",
                        wire.fill_id
                    ))
                })
            })
            .collect()
    }

    async fn do_insert_bars(
        &self,
        request: &v1::InsertBarsRequest,
    ) -> Result<v1::InsertBarsResponse, ApiError> {
        let bars = self.bars_from_wire(&request.bars)?;
        let _timer = self.metrics.time("insert_bars");
        let report = self.store.upsert_bars(&bars).await.inspect_err(|err| {
            if !err.is_transient() {
                self.metrics.rejected("bars", bars.len());
            }
        })?;
        self.metrics.bars(&report);
        Ok(v1::InsertBarsResponse {
            inserted: report.written(),
            unchanged: report.unchanged,
        })
    }

    async fn do_record_order(
        &self,
        request: &v1::RecordOrderRequest,
    ) -> Result<v1::RecordOrderResponse, ApiError> {
        let order = request
            .order
            .as_ref()
            .ok_or_else(|| ApiError::InvalidArgument("order: is required".to_owned()))
            .and_then(order_from_wire)
            .inspect_err(|_| self.metrics.rejected("orders", 1))?;
        let _timer = self.metrics.time("record_order");
        let created = self.store.record_order(&order).await?;
        self.metrics.order(created);
        Ok(v1::RecordOrderResponse { created })
    }

    async fn do_record_fills(
        &self,
        request: &v1::RecordFillsRequest,
    ) -> Result<v1::RecordFillsResponse, ApiError> {
        let fills = self.fills_from_wire(&request.fills)?;
        let _timer = self.metrics.time("record_fills");
        let report = self.store.record_fills(&fills).await?;
        self.metrics.fills(&report);
        Ok(v1::RecordFillsResponse {
            inserted: report.inserted,
            duplicates: report.duplicates,
        })
    }

    async fn do_query_orders(
        &self,
        request: &v1::QueryOrdersRequest,
    ) -> Result<v1::QueryOrdersResponse, ApiError> {
        let symbol = symbol_filter(&request.symbol)?;
        let (from, to) = time_range(request.range.as_ref())?;
        let _timer = self.metrics.time("query_orders");
        let orders = self
            .store
            .query_orders(symbol, from, to, MAX_QUERY_ROWS + 1)
            .await?;
        if orders.len() > MAX_QUERY_ROWS {
            return Err(too_many("orders"));
        }
        Ok(v1::QueryOrdersResponse {
            orders: orders.iter().map(order_to_wire).collect(),
        })
    }

    async fn do_query_fills(
        &self,
        request: &v1::QueryFillsRequest,
    ) -> Result<v1::QueryFillsResponse, ApiError> {
        let symbol = symbol_filter(&request.symbol)?;
        let (from, to) = time_range(request.range.as_ref())?;
        let _timer = self.metrics.time("query_fills");
        let fills = self
            .store
            .query_fills(symbol, from, to, MAX_QUERY_ROWS + 1)
            .await?;
        if fills.len() > MAX_QUERY_ROWS {
            return Err(too_many("fills"));
        }
        Ok(v1::QueryFillsResponse {
            fills: fills.iter().map(v1::Fill::from).collect(),
        })
    }

    async fn do_record_signal(
        &self,
        request: &v1::RecordSignalRequest,
    ) -> Result<v1::RecordSignalResponse, ApiError> {
        let signal =
            signal_from_wire(request).inspect_err(|_| self.metrics.rejected("signals", 1))?;
        let _timer = self.metrics.time("record_signal");
        let created = self.store.record_signal(&signal).await?;
        self.metrics.signal(created);
        Ok(v1::RecordSignalResponse { created })
    }

    async fn do_query_signals(
        &self,
        request: &v1::QuerySignalsRequest,
    ) -> Result<v1::QuerySignalsResponse, ApiError> {
        let symbol = symbol_filter(&request.symbol)?;
        let (from, to) = time_range(request.range.as_ref())?;
        let _timer = self.metrics.time("query_signals");
        let signals = self
            .store
            .query_signals(symbol, from, to, MAX_QUERY_ROWS + 1)
            .await?;
        if signals.len() > MAX_QUERY_ROWS {
            return Err(too_many("signals"));
        }
        Ok(v1::QuerySignalsResponse {
            signals: signals
                .iter()
                .map(signal_to_wire)
                .collect::<Result<_, _>>()?,
        })
    }

    async fn do_create_api_key(
        &self,
        request: &v1::CreateApiKeyRequest,
    ) -> Result<v1::ApiKeyInfo, ApiError> {
        let key = NewApiKey {
            key_id: key_id_from_wire(&request.key_id)?,
            name: api_key_name(&request.name)?,
            role: role_from_wire("role", request.role)?,
            key_sha256: KeySha256::parse(&request.key_sha256)?,
        };
        let actor = actor_from_wire(request.actor.as_ref())?;
        let _timer = self.metrics.time("create_api_key");
        let key = self
            .store
            .create_api_key(&key, &actor, LiveClock::new().now())
            .await?;
        tracing::info!(key_id = %key.key_id, role = %key.role, %actor, "api key created");
        Ok(api_key_to_wire(&key))
    }

    async fn do_verify_api_key(
        &self,
        request: &v1::VerifyApiKeyRequest,
    ) -> Result<v1::ApiKeyInfo, ApiError> {
        let hash = KeySha256::parse(&request.key_sha256)?;
        let _timer = self.metrics.time("verify_api_key");
        let Some(key) = self.store.api_key_by_sha256(&hash).await? else {
            return Err(ApiError::NotFound("no api key has this hash".to_owned()));
        };
        if let Some(revoked_at) = key.revoked_at {
            return Err(ApiError::FailedPrecondition(format!(
                "api key {} was revoked at {revoked_at}",
                key.key_id
            )));
        }
        Ok(api_key_to_wire(&key))
    }

    async fn do_revoke_api_key(
        &self,
        request: &v1::RevokeApiKeyRequest,
    ) -> Result<v1::ApiKeyInfo, ApiError> {
        let key_id = key_id_from_wire(&request.key_id)?;
        let actor = actor_from_wire(request.actor.as_ref())?;
        let _timer = self.metrics.time("revoke_api_key");
        match self
            .store
            .revoke_api_key(key_id, &actor, LiveClock::new().now())
            .await?
        {
            Revocation::Revoked(key) => {
                tracing::info!(key_id = %key.key_id, %actor, "api key revoked");
                Ok(api_key_to_wire(&key))
            }
            Revocation::AlreadyRevoked(key) => Ok(api_key_to_wire(&key)),
            Revocation::NotFound => Err(ApiError::NotFound(format!("key_id: no api key {key_id}"))),
        }
    }
}

impl TradeStoreApi {
    async fn do_append_policy_version(
        &self,
        request: &v1::AppendPolicyVersionRequest,
    ) -> Result<v1::PolicyVersionRecord, ApiError> {
        let policy = policy_version_from_wire(request)
            .inspect_err(|_| self.metrics.rejected("policy_versions", 1))?;
        let _timer = self.metrics.time("append_policy_version");
        let stored = self
            .store
            .append_policy_version(request.expected_latest, &policy)
            .await?;
        self.metrics.appended("policy_versions");
        tracing::info!(
            version = stored.version,
            profile = %stored.policy.profile,
            actor = %stored.policy.actor,
            "policy version stored"
        );
        Ok(policy_version_to_wire(&stored))
    }

    async fn do_latest_policy_version(&self) -> Result<v1::PolicyVersionRecord, ApiError> {
        let _timer = self.metrics.time("latest_policy_version");
        match self.store.latest_policy_version().await? {
            Some(version) => Ok(policy_version_to_wire(&version)),
            None => Err(ApiError::NotFound(
                "no policy version is stored yet".to_owned(),
            )),
        }
    }

    async fn do_list_policy_versions(
        &self,
        request: &v1::ListPolicyVersionsRequest,
    ) -> Result<v1::ListPolicyVersionsResponse, ApiError> {
        let _timer = self.metrics.time("list_policy_versions");
        let versions = self
            .store
            .list_policy_versions(history_limit(request.limit))
            .await?;
        Ok(v1::ListPolicyVersionsResponse {
            versions: versions.iter().map(policy_version_to_wire).collect(),
        })
    }

    async fn do_append_ess_transition(
        &self,
        request: &v1::AppendEssTransitionRequest,
    ) -> Result<v1::AppendEssTransitionResponse, ApiError> {
        let transition = ess_transition_from_wire(request.transition.as_ref())
            .inspect_err(|_| self.metrics.rejected("ess_transitions", 1))?;
        let _timer = self.metrics.time("append_ess_transition");
        self.store.append_ess_transition(&transition).await?;
        self.metrics.appended("ess_transitions");
        tracing::info!(
            seq = transition.seq,
            from = %transition.from,
            to = %transition.to,
            trigger = %transition.trigger,
            actor = %transition.actor,
            "ess transition stored"
        );
        Ok(v1::AppendEssTransitionResponse {})
    }

    async fn do_query_ess_transitions(
        &self,
        request: &v1::QueryEssTransitionsRequest,
    ) -> Result<v1::QueryEssTransitionsResponse, ApiError> {
        let _timer = self.metrics.time("query_ess_transitions");
        let transitions = self
            .store
            .query_ess_transitions(history_limit(request.limit))
            .await?;
        Ok(v1::QueryEssTransitionsResponse {
            transitions: transitions.iter().map(ess_transition_to_wire).collect(),
        })
    }

    fn equity_from_wire(
        &self,
        snapshots: &[v1::EquitySnapshot],
    ) -> Result<Vec<EquitySnapshot>, ApiError> {
        if snapshots.len() > MAX_RECORD_EQUITY_SNAPSHOTS {
            self.metrics.rejected("equity_snapshots", snapshots.len());
            return Err(ApiError::InvalidArgument(format!(
                "snapshots: {} snapshots in one call, the limit is \
                 {MAX_RECORD_EQUITY_SNAPSHOTS}; split the batch",
                snapshots.len()
            )));
        }
        snapshots
            .iter()
            .enumerate()
            .map(|(index, wire)| equity_snapshot_from_wire(index, wire))
            .collect::<Result<_, _>>()
            .map_err(|err| {
                self.metrics.rejected("equity_snapshots", snapshots.len());
                match err {
                    ApiError::InvalidArgument(message) => {
                        ApiError::InvalidArgument(format!("{message}; nothing was stored"))
                    }
                    other => other,
                }
            })
    }

    async fn do_record_equity_snapshots(
        &self,
        request: &v1::RecordEquitySnapshotsRequest,
    ) -> Result<v1::RecordEquitySnapshotsResponse, ApiError> {
        let snapshots = self.equity_from_wire(&request.snapshots)?;
        let _timer = self.metrics.time("record_equity_snapshots");
        let report = self.store.record_equity_snapshots(&snapshots).await?;
        self.metrics.equity(&report);
        Ok(v1::RecordEquitySnapshotsResponse {
            inserted: report.inserted,
            duplicates: report.duplicates,
        })
    }

    async fn do_query_equity(
        &self,
        request: &v1::QueryEquityRequest,
    ) -> Result<v1::QueryEquityResponse, ApiError> {
        let (from, to) = time_range(request.range.as_ref())?;
        let _timer = self.metrics.time("query_equity");
        let snapshots = self
            .store
            .query_equity(from, to, MAX_QUERY_ROWS + 1)
            .await?;
        if snapshots.len() > MAX_QUERY_ROWS {
            return Err(ApiError::InvalidArgument(format!(
                "range: more than {MAX_QUERY_ROWS} equity snapshots match; narrow the range"
            )));
        }
        Ok(v1::QueryEquityResponse {
            snapshots: snapshots.iter().map(equity_snapshot_to_wire).collect(),
        })
    }
}

/// The limit of `ListPolicyVersions` and `QueryEssTransitions`: 0 means
/// [`DEFAULT_HISTORY_LIMIT`], more than [`MAX_HISTORY_LIMIT`] is capped to it.
fn history_limit(requested: u32) -> usize {
    match usize::try_from(requested) {
        Ok(0) => DEFAULT_HISTORY_LIMIT,
        Ok(n) => n.min(MAX_HISTORY_LIMIT),
        Err(_) => MAX_HISTORY_LIMIT,
    }
}

fn key_id_from_wire(value: &str) -> Result<KeyId, ApiError> {
    if value.is_empty() {
        return Err(ApiError::InvalidArgument("key_id: is required".to_owned()));
    }
    value
        .parse()
        .map_err(|err| ApiError::InvalidArgument(format!("key_id: {err}")))
}

/// `QueryAudit`'s limit: 0 means [`DEFAULT_AUDIT_LIMIT`], more than [`MAX_AUDIT_LIMIT`] is
/// capped to it.
fn audit_limit(requested: u32) -> usize {
    match usize::try_from(requested) {
        Ok(0) => DEFAULT_AUDIT_LIMIT,
        Ok(n) => n.min(MAX_AUDIT_LIMIT),
        Err(_) => MAX_AUDIT_LIMIT,
    }
}

fn too_many(what: &str) -> ApiError {
    ApiError::InvalidArgument(format!(
        "range: more than {MAX_QUERY_ROWS} {what} match; narrow the range or filter by symbol"
    ))
}

type BoxStream<T> = std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl TradeStoreService for TradeStoreApi {
    async fn insert_bars(
        &self,
        request: Request<v1::InsertBarsRequest>,
    ) -> Result<Response<v1::InsertBarsResponse>, Status> {
        Ok(Response::new(self.do_insert_bars(request.get_ref()).await?))
    }

    type QueryBarsStream = BoxStream<v1::Bar>;

    async fn query_bars(
        &self,
        request: Request<v1::QueryBarsRequest>,
    ) -> Result<Response<Self::QueryBarsStream>, Status> {
        let request = request.into_inner();
        let symbol: Symbol = if request.symbol.is_empty() {
            return Err(ApiError::InvalidArgument("symbol: is required".to_owned()).into());
        } else {
            request
                .symbol
                .parse()
                .map_err(|err| ApiError::InvalidArgument(format!("symbol: {err}")))?
        };
        let interval = interval_from_wire("interval", request.interval).map_err(ApiError::from)?;
        let (from, to) = time_range(request.range.as_ref())?;
        let timer = self.metrics.time("query_bars");
        let bars = self
            .store
            .query_bars(symbol, interval, from, to)
            .map(move |bar| {
                // the timer lives as long as the stream: it measures the whole answer
                let _timer = &timer;
                bar.map(|bar| v1::Bar::from(&bar))
                    .map_err(|err| Status::from(ApiError::from(err)))
            });
        Ok(Response::new(Box::pin(bars)))
    }

    async fn record_order(
        &self,
        request: Request<v1::RecordOrderRequest>,
    ) -> Result<Response<v1::RecordOrderResponse>, Status> {
        Ok(Response::new(
            self.do_record_order(request.get_ref()).await?,
        ))
    }

    async fn record_fills(
        &self,
        request: Request<v1::RecordFillsRequest>,
    ) -> Result<Response<v1::RecordFillsResponse>, Status> {
        Ok(Response::new(
            self.do_record_fills(request.get_ref()).await?,
        ))
    }

    async fn query_orders(
        &self,
        request: Request<v1::QueryOrdersRequest>,
    ) -> Result<Response<v1::QueryOrdersResponse>, Status> {
        Ok(Response::new(
            self.do_query_orders(request.get_ref()).await?,
        ))
    }

    async fn query_fills(
        &self,
        request: Request<v1::QueryFillsRequest>,
    ) -> Result<Response<v1::QueryFillsResponse>, Status> {
        Ok(Response::new(self.do_query_fills(request.get_ref()).await?))
    }

    async fn record_signal(
        &self,
        request: Request<v1::RecordSignalRequest>,
    ) -> Result<Response<v1::RecordSignalResponse>, Status> {
        Ok(Response::new(
            self.do_record_signal(request.get_ref()).await?,
        ))
    }

    async fn query_signals(
        &self,
        request: Request<v1::QuerySignalsRequest>,
    ) -> Result<Response<v1::QuerySignalsResponse>, Status> {
        Ok(Response::new(
            self.do_query_signals(request.get_ref()).await?,
        ))
    }

    async fn create_api_key(
        &self,
        request: Request<v1::CreateApiKeyRequest>,
    ) -> Result<Response<v1::ApiKeyInfo>, Status> {
        Ok(Response::new(
            self.do_create_api_key(request.get_ref()).await?,
        ))
    }

    async fn verify_api_key(
        &self,
        request: Request<v1::VerifyApiKeyRequest>,
    ) -> Result<Response<v1::ApiKeyInfo>, Status> {
        Ok(Response::new(
            self.do_verify_api_key(request.get_ref()).await?,
        ))
    }

    async fn list_api_keys(
        &self,
        _request: Request<v1::ListApiKeysRequest>,
    ) -> Result<Response<v1::ListApiKeysResponse>, Status> {
        let _timer = self.metrics.time("list_api_keys");
        let keys = self.store.list_api_keys().await.map_err(ApiError::from)?;
        Ok(Response::new(v1::ListApiKeysResponse {
            keys: keys.iter().map(api_key_to_wire).collect(),
        }))
    }

    async fn revoke_api_key(
        &self,
        request: Request<v1::RevokeApiKeyRequest>,
    ) -> Result<Response<v1::ApiKeyInfo>, Status> {
        Ok(Response::new(
            self.do_revoke_api_key(request.get_ref()).await?,
        ))
    }

    async fn append_audit(
        &self,
        request: Request<v1::AppendAuditRequest>,
    ) -> Result<Response<v1::AppendAuditResponse>, Status> {
        let entry = audit_from_wire(request.get_ref().entry.as_ref())?;
        let _timer = self.metrics.time("append_audit");
        self.store
            .append_audit(&entry)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::AppendAuditResponse {}))
    }

    async fn query_audit(
        &self,
        request: Request<v1::QueryAuditRequest>,
    ) -> Result<Response<v1::QueryAuditResponse>, Status> {
        let request = request.get_ref();
        let (from, to) = time_range(request.range.as_ref())?;
        let _timer = self.metrics.time("query_audit");
        let entries = self
            .store
            .query_audit(from, to, audit_limit(request.limit))
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::QueryAuditResponse {
            entries: entries.iter().map(|r| audit_to_wire(&r.entry)).collect(),
        }))
    }

    async fn append_policy_version(
        &self,
        request: Request<v1::AppendPolicyVersionRequest>,
    ) -> Result<Response<v1::PolicyVersionRecord>, Status> {
        Ok(Response::new(
            self.do_append_policy_version(request.get_ref()).await?,
        ))
    }

    async fn latest_policy_version(
        &self,
        _request: Request<v1::LatestPolicyVersionRequest>,
    ) -> Result<Response<v1::PolicyVersionRecord>, Status> {
        Ok(Response::new(self.do_latest_policy_version().await?))
    }

    async fn list_policy_versions(
        &self,
        request: Request<v1::ListPolicyVersionsRequest>,
    ) -> Result<Response<v1::ListPolicyVersionsResponse>, Status> {
        Ok(Response::new(
            self.do_list_policy_versions(request.get_ref()).await?,
        ))
    }

    async fn append_ess_transition(
        &self,
        request: Request<v1::AppendEssTransitionRequest>,
    ) -> Result<Response<v1::AppendEssTransitionResponse>, Status> {
        Ok(Response::new(
            self.do_append_ess_transition(request.get_ref()).await?,
        ))
    }

    async fn query_ess_transitions(
        &self,
        request: Request<v1::QueryEssTransitionsRequest>,
    ) -> Result<Response<v1::QueryEssTransitionsResponse>, Status> {
        Ok(Response::new(
            self.do_query_ess_transitions(request.get_ref()).await?,
        ))
    }

    async fn record_equity_snapshots(
        &self,
        request: Request<v1::RecordEquitySnapshotsRequest>,
    ) -> Result<Response<v1::RecordEquitySnapshotsResponse>, Status> {
        Ok(Response::new(
            self.do_record_equity_snapshots(request.get_ref()).await?,
        ))
    }

    async fn query_equity(
        &self,
        request: Request<v1::QueryEquityRequest>,
    ) -> Result<Response<v1::QueryEquityResponse>, Status> {
        Ok(Response::new(
            self.do_query_equity(request.get_ref()).await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_limits_default_to_100_and_cap_at_1000() {
        assert_eq!(history_limit(0), DEFAULT_HISTORY_LIMIT);
        assert_eq!(history_limit(1), 1);
        assert_eq!(history_limit(1_000), 1_000);
        assert_eq!(history_limit(1_001), MAX_HISTORY_LIMIT);
        assert_eq!(history_limit(u32::MAX), MAX_HISTORY_LIMIT);
    }
}
