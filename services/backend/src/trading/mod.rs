//! The trading runtime: the async side of the trading core. One [`TradingDesk`] per backend
//! holds the risk manager and executor core (shared by every symbol), the book, the open
//! orders, the exchange and the trade-store client; [`EngineRunner`](crate::engines::EngineRunner)s
//! built by [`runner`] step each symbol's bars through it.

mod book;
mod ess;
mod executor;
mod flatten;
mod lots;
mod metrics;
mod policy;
mod recovery;
pub mod runner;
mod signal_source;
mod wire;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use levibot_bus::Bus;
use levibot_core::{ClientOrderId, Clock, OrderRequest, Symbol};
use levibot_exchange::spot::{PaperExchange, SpotExchange};
use levibot_proto::v1::ai_engine_service_client::AiEngineServiceClient;
use levibot_proto::v1::trade_store_service_client::TradeStoreServiceClient;
use levibot_telemetry::InjectTraceContext;
use levibot_trading::execution::{BreakerState, OrderTracker};
use levibot_trading::{Desk, EssStateSource, Gates};
use tonic::transport::Channel;

pub use book::Book;
pub use ess::EssWatch;
pub use metrics::TradingMetrics;
pub use policy::limits_from_policy;
pub use recovery::{LATE_ARRIVAL_WINDOW_MS, RecoveryReport};

use crate::events::EventHub;
use crate::gates::TradingGates;
use crate::gateway::{RiskReport, RiskReporter};

/// Where predictions come from.
#[derive(Debug, Clone)]
pub enum PredictionSource {
    /// The ai-engine; `fallback` uses the EMA cross while it is unavailable.
    Ai {
        /// The client.
        client: AiEngineServiceClient<InjectTraceContext<Channel>>,
        /// Use the EMA cross when the ai-engine cannot answer.
        fallback: bool,
    },
    /// The EMA-cross reference strategy.
    EmaCross,
}

/// Runtime settings of the desk.
#[derive(Debug, Clone)]
pub struct DeskSettings {
    /// Staleness threshold for bars, ms.
    pub stale_after_ms: i64,
    /// An order still open this long after it was sent is cancelled (rest), ms.
    pub partial_fill_deadline_ms: i64,
}

/// Everything the engines share.
pub struct TradingDesk {
    core: Mutex<Desk>,
    book: Mutex<Book>,
    trackers: Mutex<BTreeMap<ClientOrderId, (OrderRequest, OrderTracker)>>,
    pub(crate) gates: Arc<TradingGates>,
    pub(crate) ess: EssWatch,
    pub(crate) exchange: Arc<dyn SpotExchange>,
    pub(crate) paper: Option<Arc<PaperExchange>>,
    pub(crate) store: TradeStoreServiceClient<InjectTraceContext<Channel>>,
    pub(crate) bus: Bus,
    pub(crate) events: EventHub,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) metrics: TradingMetrics,
    pub(crate) source: PredictionSource,
    pub(crate) settings: DeskSettings,
    /// Version of the risk policy in force (0: the configuration's limits).
    pub(crate) policy_version: AtomicU64,
    /// The policy in force's `ess_flatten_on_trip` (false until a policy says otherwise).
    pub(crate) flatten_on_trip: AtomicBool,
}

impl std::fmt::Debug for TradingDesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TradingDesk")
            .field("exchange", &self.exchange.name())
            .finish_non_exhaustive()
    }
}

/// The parts a desk is built from.
pub struct DeskParts {
    /// Risk manager and executor core.
    pub desk: Desk,
    /// The starting book.
    pub book: Book,
    /// Trading switches.
    pub gates: Arc<TradingGates>,
    /// ESS state.
    pub ess: EssWatch,
    /// Where orders go.
    pub exchange: Arc<dyn SpotExchange>,
    /// The same exchange when it is the paper one (it must see every bar).
    pub paper: Option<Arc<PaperExchange>>,
    /// The trade-store.
    pub store: TradeStoreServiceClient<InjectTraceContext<Channel>>,
    /// The bus.
    pub bus: Bus,
    /// Live events.
    pub events: EventHub,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Metrics.
    pub metrics: TradingMetrics,
    /// Predictions.
    pub source: PredictionSource,
    /// Settings.
    pub settings: DeskSettings,
}

impl TradingDesk {
    /// Assembles a desk.
    #[must_use]
    pub fn new(parts: DeskParts) -> Self {
        Self {
            core: Mutex::new(parts.desk),
            book: Mutex::new(parts.book),
            trackers: Mutex::new(BTreeMap::new()),
            gates: parts.gates,
            ess: parts.ess,
            exchange: parts.exchange,
            paper: parts.paper,
            store: parts.store,
            bus: parts.bus,
            events: parts.events,
            clock: parts.clock,
            metrics: parts.metrics,
            source: parts.source,
            settings: parts.settings,
            policy_version: AtomicU64::new(0),
            flatten_on_trip: AtomicBool::new(false),
        }
    }

    pub(crate) fn core(&self) -> MutexGuard<'_, Desk> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn trackers(&self) -> MutexGuard<'_, BTreeMap<ClientOrderId, (OrderRequest, OrderTracker)>> {
        self.trackers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The switches now (trading enabled, kill switch, ESS).
    pub(crate) fn gates_now(&self) -> Gates {
        let state = self.gates.get();
        Gates::read(
            state.trading_enabled,
            state.kill_switch,
            &self.ess as &dyn EssStateSource,
        )
    }

    fn observe_weight(&self) {
        if let Some(used) = self.exchange.used_weight_1m() {
            let used = u32::try_from(used).unwrap_or(u32::MAX);
            self.core()
                .executor
                .observe_used_weight(used, self.clock.now());
        }
    }

    /// Open orders of `symbol` this run tracks.
    #[must_use]
    pub fn open_orders(&self, symbol: Symbol) -> usize {
        self.trackers()
            .values()
            .filter(|(r, _)| r.symbol() == symbol)
            .count()
    }
}

impl RiskReporter for TradingDesk {
    fn report(&self) -> RiskReport {
        let now = self.clock.now();
        let (rejections, global_stop, breaker, max_positions, daily_loss_limit) = {
            let core = self.core();
            let limits = core.risk.limits();
            let (max_positions, daily_loss_limit) =
                (limits.max_open_positions, limits.daily_loss_limit_usd);
            let rejections = core
                .risk
                .rejection_counts()
                .iter()
                .map(|(label, count)| (label.to_owned(), count))
                .collect();
            (
                rejections,
                core.risk.is_stopped(now),
                core.executor.breaker_state(now),
                max_positions,
                daily_loss_limit,
            )
        };
        self.metrics.breaker_state.set(match breaker {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        });
        let view = self.book().view();
        RiskReport {
            gates: self.gates.get(),
            ess_state: self.ess.describe().to_owned(),
            global_stop,
            open_positions: u32::try_from(view.open_positions()).unwrap_or(u32::MAX),
            max_positions,
            exposure_usd: view.total_exposure().to_string(),
            daily_pnl_usd: view.pnl_today.to_string(),
            daily_loss_limit_usd: daily_loss_limit.to_string(),
            rejections,
            policy_version: self.policy_version.load(Ordering::Relaxed),
        }
    }
}
