//! Portfolio service: the books of the fleet, kept from fills in exact decimals: positions
//! (quantity, average price), realized and unrealized PnL, fees, cash, equity, peak equity and
//! drawdown, today's PnL, exposure per symbol; the equity curve; the ESS triggers that watch
//! them; and reconciliation against the exchange.
//!
//! - [`books::Books`] is the ledger: pure and synchronous, idempotent by fill id, marked to bar
//!   closes. [`portfolio::Portfolio`] wraps it with the decisions taken from it (equity
//!   snapshots to store, ESS trips to send, the reconciliation status).
//! - At start the books are rebuilt from every fill the trade-store holds (`QueryFills`, paged),
//!   and what the fills alone cannot give, the peak equity and today's opening equity, is taken
//!   back from every equity snapshot it holds (`QueryEquity`, paged; the rule is
//!   [`books::Books::restore`]'s), so a restart keeps a drawdown or a daily loss in progress;
//!   then [`runtime::Runtime`] consumes `fill` (group `portfolio-fills`; a fill is acknowledged
//!   once the trade-store confirms holding it, so a restart never loses one) and `md.bar`
//!   (group `portfolio-marks`). Malformed messages are counted, logged and dead-lettered.
//! - Every `portfolio.snapshot_interval_ms` a bar's mark queues an equity snapshot, sent to the
//!   trade-store (`RecordEquitySnapshots`) and retried from a bounded queue while it is down.
//! - The risk policy is followed through policy-store's `WatchPolicy` stream (reconnecting);
//!   after every fill, mark and policy change the limits are judged ([`ess`]): drawdown,
//!   daily loss, total exposure. A breach calls `TripEss` once per breach episode, retried
//!   until it goes through.
//! - [`reconcile`] compares the books with the exchange (backend `GetExchangeAccount`) and the
//!   trade-store's open orders at start, every `portfolio.reconcile_interval_ms` and on the
//!   `Reconcile` RPC, exactly; a confirmed mismatch marks the books unreconciled and trips the
//!   ESS (`reconciliation`); an exchange that cannot be asked is reported, not tripped on.
//! - [`api::PortfolioApi`] serves `levibot.v1.PortfolioService` (amounts as decimal strings);
//!   [`metrics`] lists the Prometheus metrics.

/// The gRPC API.
pub mod api;
/// The ledger.
pub mod books;
/// ESS triggers: limits, breaches, one trip per episode.
pub mod ess;
/// The service's Prometheus metrics.
pub mod metrics;
/// The books with the decisions taken from them.
pub mod portfolio;
/// Reconciliation against the exchange.
pub mod reconcile;
/// The async tasks: rebuild, bus consumers, snapshot sender, policy watcher, ESS tripper,
/// reconciler.
pub mod runtime;

use std::sync::Arc;

use levibot_bus::Bus;
use levibot_config::{Config, ServiceName};
use levibot_core::LiveClock;
use levibot_proto::v1::portfolio_service_server::PortfolioServiceServer;
use levibot_server::{CancellationToken, ServeError, ServiceHost, ServiceListeners};

pub use api::PortfolioApi;
pub use books::Books;
pub use portfolio::Portfolio;
pub use runtime::Runtime;

/// This service's name.
pub const SERVICE: ServiceName = ServiceName::Portfolio;

/// Serves the portfolio service on `listeners` until `shutdown` is cancelled; the books are
/// rebuilt and kept by tasks that stop (and are awaited) before this returns.
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
    let runtime = Runtime::new(&config, host.registry(), Arc::new(LiveClock)).map_err(startup)?;
    let bus = Bus::open(&config.bus, SERVICE.as_str(), host.registry())
        .await
        .map_err(|e| startup(format!("cannot open the bus: {e}")))?;
    // Owned here: stopped and awaited before serve returns, whatever ends the serving.
    let stop = shutdown.child_token();
    let task = tokio::spawn(runtime.clone().run(
        bus.clone(),
        levibot_server::peers::consumer_name(SERVICE),
        stop.clone(),
    ));
    let served = host
        .serve(
            PortfolioServiceServer::new(PortfolioApi::new(runtime)),
            listeners,
            shutdown,
        )
        .await;
    stop.cancel();
    if let Err(err) = task.await {
        tracing::error!(error = %err, "portfolio tasks failed");
    }
    bus.close().await;
    served
}
