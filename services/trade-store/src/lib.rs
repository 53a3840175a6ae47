//! Trade-store service: the one owner of the database (bars, orders, fills, signals with their
//! risk decisions, equity snapshots, model registry, API keys, audit log, risk-policy versions
//! and ESS transitions).
//!
//! [`TradeStore`] is one API over PostgreSQL (production) and SQLite (the embedded default),
//! chosen by `store.database_url`; the migrations under `migrations/` are applied at start, and
//! on PostgreSQL `bars` becomes a TimescaleDB hypertable when the extension is available.
//! Money stays `rust_decimal` end to end (NUMERIC, or the canonical decimal string in SQLite).
//! [`serve`] answers `levibot.v1.TradeStoreService` over it, [`import::import_csv`] loads kline
//! CSV files (ours and Binance's), and [`testing`] isolates tests in their own schema. API keys
//! are stored as the SHA-256 of their plaintext only; creating and revoking one is audited in
//! the same transaction. `policy_versions` and `ess_transitions` are append-only histories
//! numbered 1, 2, 3, ... by compare-and-set: a writer names the number it expects next (the
//! latest policy version it saw, the next ESS seq) and one that is behind gets `ABORTED`, so
//! two writers never both succeed. `equity_snapshots` is idempotent by instant (the first
//! snapshot of an instant is kept).

/// The gRPC API.
pub mod api;
/// Errors of the gRPC API and their one mapping to `tonic::Status`.
pub mod error;
/// Kline CSV import.
pub mod import;
/// The service's own Prometheus metrics.
pub mod metrics;
/// Persisting the bus topics.
pub mod persist;
/// The store: one API over PostgreSQL and SQLite.
pub mod store;
/// Per-test PostgreSQL schemas.
pub mod testing;
mod wire;

use std::sync::Arc;

use levibot_bus::Bus;
use levibot_config::{Config, ServiceName, redact_url};
use levibot_proto::v1::trade_store_service_server::TradeStoreServiceServer;
use levibot_server::{CancellationToken, ServeError, ServiceHost, ServiceListeners};
use metrics::StoreMetrics;
use tokio::task::JoinSet;

pub use api::TradeStoreApi;
pub use error::ApiError;
pub use import::{CsvFormat, ImportError, ImportReport, RejectedLine, import_csv};
pub use store::{StoreError, TradeStore};

/// This service's name.
pub const SERVICE: ServiceName = ServiceName::TradeStore;

/// Serves the trade-store service on `listeners` until `shutdown` is cancelled.
///
/// Opens the store of `config.store.database_url` first (applying the migrations); a store
/// that cannot be opened stops the start with [`ServeError::Startup`].
pub async fn serve(
    config: Arc<Config>,
    listeners: ServiceListeners,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let startup = |message: String| ServeError::Startup {
        service: SERVICE.as_str(),
        message,
    };
    let host = ServiceHost::new(SERVICE)?;
    let url = &config.store.database_url;
    let store = TradeStore::connect_with(url, config.store.synchronous_commit)
        .await
        .map_err(|err| {
            startup(format!(
                "cannot open the store at {}: {err}",
                redact_url(url)
            ))
        })?;
    tracing::info!(
        backend = store.backend().as_str(),
        bars_hypertable = store.bars_is_hypertable(),
        "trade store ready"
    );
    let metrics = StoreMetrics::register(host.registry())
        .map_err(|err| startup(format!("cannot register metrics: {err}")))?;
    let api = TradeStoreApi::with_metrics(store.clone(), metrics.clone());
    let bus = Bus::open(&config.bus, SERVICE.as_str(), host.registry())
        .await
        .map_err(|err| startup(format!("cannot open the bus: {err}")))?;
    // Owned here: stopped and awaited before serve returns, whatever ends the serving.
    let stop = shutdown.child_token();
    let mut consumers = JoinSet::new();
    persist::spawn(
        &mut consumers,
        &bus,
        &store,
        &metrics,
        &levibot_server::peers::consumer_name(SERVICE),
        &stop,
    );
    let service =
        TradeStoreServiceServer::new(api).max_decoding_message_size(api::MAX_MESSAGE_BYTES);
    let served = host.serve(service, listeners, shutdown).await;
    stop.cancel();
    while consumers.join_next().await.is_some() {}
    bus.close().await;
    store.close().await;
    served
}
