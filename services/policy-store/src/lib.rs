//! Policy-store service: the versioned risk policy every service trades under, and the
//! emergency stop system (ESS).
//!
//! - The policy ([`policy::PolicyDocument`]) is validated (every invalid field named in one
//!   INVALID_ARGUMENT), versioned and kept by the trade-store (`AppendPolicyVersion`, a
//!   compare-and-set on the latest version). At start the newest version is loaded; when there
//!   is none, the configured launch profile (`profile`, `risk.*`, `trading.*`) is stored as
//!   version 1. `PutPolicy` (admin, with a reason, audited) stores a new version, from a
//!   document or a launch profile's preset (`load_profile`); a refused one leaves the old
//!   version in force. Every new version goes to each `WatchPolicy` stream (which starts with
//!   the version in force and ends at shutdown) and onto the `policy.updated` topic;
//!   `levibot_policy_version` reports the version in force. [`watch::PolicyWatch`] is the
//!   client side other services hold the policy with.
//! - The ESS ([`ess::Ess`]) is a pure state machine ARMED → TRIPPED → RESETTING → ARMED. Trips
//!   come from traders, admins and the portfolio (role `system`); a reset needs an admin, a
//!   reason, the end of the cooldown and a portfolio reading (`GetRiskMetrics`) showing the
//!   tripping conditions gone. Each transition is stored first (`AppendEssTransition`, seq
//!   compare-and-set), then takes effect, is published on `risk.ess` and audited. The state
//!   survives restarts; a reset cut short by one resumes as TRIPPED.
//!
//! Until the start-up load has succeeded (the trade-store must answer), `GetEss` and the
//! mutations answer UNAVAILABLE, which the backend treats as "tripped".

/// The gRPC API.
pub mod api;
/// What a reset asks whether the tripping condition is gone (the portfolio).
pub mod conditions;
/// Errors and their one mapping to gRPC status codes.
pub mod error;
/// The ESS state machine.
pub mod ess;
/// The service's Prometheus metrics.
pub mod metrics;
/// The policy document: validation, presets, JSON and wire forms.
pub mod policy;
/// The async service around the document and the state machine.
pub mod service;
/// Where versions, transitions and audit entries are kept.
pub mod storage;
/// The client side of `WatchPolicy`.
pub mod watch;

use std::sync::Arc;

use levibot_bus::Bus;
use levibot_config::{Config, ServiceName};
use levibot_core::LiveClock;
use levibot_proto::v1::{
    policy_store_service_server::PolicyStoreServiceServer,
    portfolio_service_client::PortfolioServiceClient,
    trade_store_service_client::TradeStoreServiceClient,
};
use levibot_server::{CancellationToken, ServeError, ServiceHost, ServiceListeners};
use tokio::task::JoinSet;

pub use api::PolicyStoreApi;
pub use error::ApiError;
pub use ess::{Ess, EssState, TripTrigger};
pub use policy::{InvalidPolicy, PolicyDocument, StoredPolicy};
pub use service::{PolicyStore, PolicyStoreParts};
pub use watch::{PolicyStoreClient, PolicyWatch, PolicyWatcher, policy_store_client};

/// This service's name.
pub const SERVICE: ServiceName = ServiceName::PolicyStore;

/// Serves the policy-store on `listeners` until `shutdown` is cancelled.
///
/// The policy and the ESS state are loaded from the trade-store in the background (retried
/// with backoff), so the service starts even while the trade-store does not answer yet.
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
    let metrics = metrics::PolicyStoreMetrics::register(host.registry())
        .map_err(|e| startup(format!("cannot register metrics: {e}")))?;
    let bus = Bus::open(&config.bus, SERVICE.as_str(), host.registry())
        .await
        .map_err(|e| startup(format!("cannot open the bus: {e}")))?;
    let trade_store = TradeStoreServiceClient::new(
        levibot_server::peers::channel(&config, ServiceName::TradeStore).map_err(startup)?,
    );
    let portfolio = PortfolioServiceClient::new(
        levibot_server::peers::channel(&config, ServiceName::Portfolio).map_err(startup)?,
    );
    // Owned here: stopped and awaited before serve returns, whatever ends the serving.
    let stop = shutdown.child_token();
    let (store, publisher) = PolicyStore::new(PolicyStoreParts {
        storage: Arc::new(storage::TradeStoreStorage::new(trade_store)),
        conditions: Arc::new(conditions::PortfolioConditions::new(portfolio)),
        clock: Arc::new(LiveClock::new()),
        bus: Some(bus.clone()),
        metrics,
        initial: PolicyDocument::from_config(&config),
        trading: config.trading.clone(),
        shutdown: stop.clone(),
    });
    let mut tasks = JoinSet::new();
    tasks.spawn(publisher.run());
    tasks.spawn(store.clone().load_until_done());
    let served = host
        .serve(
            PolicyStoreServiceServer::new(PolicyStoreApi::new(store)),
            listeners,
            shutdown,
        )
        .await;
    stop.cancel();
    while tasks.join_next().await.is_some() {}
    bus.close().await;
    served
}
