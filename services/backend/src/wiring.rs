//! Builds the trading runtime and the gateway from the configuration.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use levibot_bus::Bus;
use levibot_config::{Config, ExchangeKind, ServiceName, SignalSourceKind};
use levibot_core::{Clock, LiveClock, Symbol};
use levibot_exchange::spot::{
    BinanceSpotClient, BinanceSpotConfig, Credentials, PaperConfig, PaperExchange, SpotExchange,
};
use levibot_exchange::{ExchangeMetrics, SymbolQueues};
use levibot_proto::v1::ai_engine_service_client::AiEngineServiceClient;
use levibot_proto::v1::health_aggregator_service_client::HealthAggregatorServiceClient;
use levibot_proto::v1::policy_store_service_client::PolicyStoreServiceClient;
use levibot_proto::v1::portfolio_service_client::PortfolioServiceClient;
use levibot_proto::v1::trade_store_service_client::TradeStoreServiceClient;
use levibot_telemetry::InjectTraceContext;
use levibot_telemetry::metrics::{IntCounter, Registry};
use levibot_trading::risk::ThrottleLimits;
use levibot_trading::{Desk, ExecutorConfig, ExecutorCore, RiskLimits, RiskManager};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::engines::{EngineManager, ManagerSettings, RestartPolicy};
use crate::events::EventHub;
use crate::gates::TradingGates;
use crate::gateway::{ApiKeyAuth, Audit, GatewayState};
use crate::trading::runner::{Arrival, DeskRunner};
use crate::trading::{
    Book, DeskParts, DeskSettings, EssWatch, PredictionSource, TradingDesk, TradingMetrics,
};

/// An order still open this long after it was sent has its rest cancelled.
const PARTIAL_FILL_DEADLINE_MS: i64 = 5 * 60_000;
/// How often the ESS state is read from policy-store.
pub(crate) const ESS_POLL: Duration = Duration::from_secs(1);

/// The assembled runtime.
pub(crate) struct Trading {
    pub(crate) engines: EngineManager,
    pub(crate) queues: SymbolQueues<Arrival>,
    pub(crate) gateway: GatewayState,
    pub(crate) ess: EssWatch,
    pub(crate) policy: PolicyStoreServiceClient<InjectTraceContext<Channel>>,
    /// The exchange the desk trades on (for `GetExchangeAccount`).
    pub(crate) exchange: Arc<dyn SpotExchange>,
    /// The desk (for start-up recovery).
    pub(crate) desk: Arc<TradingDesk>,
    /// The limits of the configuration: what the policy does not govern comes from them.
    pub(crate) base_limits: RiskLimits,
}

/// The risk limits from `risk.*` and `trading.*`.
pub(crate) fn risk_limits(config: &Config, symbols: &BTreeSet<Symbol>) -> RiskLimits {
    let mut limits = RiskLimits::new(symbols.iter().copied());
    limits.max_open_positions = config.risk.max_positions;
    limits.max_position_usd = config.risk.max_position_usd;
    limits.daily_loss_limit_usd = config.risk.daily_loss_limit_usd;
    limits.min_confidence = config.risk.min_confidence;
    limits.max_total_exposure_usd = config.trading.max_exposure_usd;
    limits.kelly_multiplier = config.trading.kelly_multiplier;
    limits.vol_target = config.trading.volatility_target;
    limits.throttle = ThrottleLimits {
        max_signals: config.trading.throttle_max_signals,
        window_ms: config.trading.throttle_window_ms,
    };
    limits
}

/// Builds everything; nothing runs until the caller spawns the router and resumes engines.
pub(crate) fn build(
    config: &Config,
    registry: &Registry,
    bus: Bus,
    exchange_metrics: ExchangeMetrics,
    shutdown: &CancellationToken,
) -> Result<Trading, String> {
    let clock: Arc<dyn Clock> = Arc::new(LiveClock);
    let symbols = config
        .risk
        .symbols
        .iter()
        .map(|s| Symbol::new(s).map_err(|e| format!("risk.symbols: {e}")))
        .collect::<Result<BTreeSet<_>, _>>()?;
    let t = &config.trading;
    let base_limits = risk_limits(config, &symbols);
    let risk = RiskManager::new(base_limits.clone()).map_err(|e| e.to_string())?;
    let executor = ExecutorCore::new(ExecutorConfig::default()).map_err(|e| e.to_string())?;
    let (exchange, paper): (Arc<dyn SpotExchange>, Option<Arc<PaperExchange>>) = match t.exchange {
        ExchangeKind::Paper => {
            let mut paper_config = PaperConfig {
                fee_bps: t.paper_fee_bps,
                slippage_bps: t.paper_slippage_bps,
                max_volume_share: Some(t.paper_max_volume_share),
                ..PaperConfig::default()
            };
            paper_config
                .initial_balances
                .insert("USDT".to_owned(), t.paper_cash_usd);
            let paper = Arc::new(
                PaperExchange::new(paper_config, Arc::clone(&clock)).map_err(|e| e.to_string())?,
            );
            (Arc::clone(&paper) as Arc<dyn SpotExchange>, Some(paper))
        }
        ExchangeKind::Binance => {
            let (Some(key), Some(secret)) = (&config.exchange.api_key, &config.exchange.api_secret)
            else {
                return Err(
                    "trading.exchange binance needs exchange.api_key and exchange.api_secret"
                        .to_owned(),
                );
            };
            let credentials = Credentials::new(key.expose(), secret.expose());
            let spot = BinanceSpotConfig {
                base_url: t.binance_rest_url.clone(),
                ..BinanceSpotConfig::default()
            };
            let client = BinanceSpotClient::new(&spot, &credentials).map_err(|e| e.to_string())?;
            (Arc::new(client) as Arc<dyn SpotExchange>, None)
        }
    };
    let store = TradeStoreServiceClient::new(levibot_server::peers::channel(
        config,
        ServiceName::TradeStore,
    )?);
    let source = match t.signal_source {
        SignalSourceKind::EmaCross => PredictionSource::EmaCross,
        SignalSourceKind::Ai => PredictionSource::Ai {
            client: AiEngineServiceClient::new(levibot_server::peers::channel(
                config,
                ServiceName::AiEngine,
            )?),
            fallback: t.fallback_to_ema_cross,
        },
    };
    let gates = Arc::new(TradingGates::new(t.enabled_at_start));
    let ess = EssWatch::new();
    let events = EventHub::new(4096);
    let metrics = TradingMetrics::new(registry).map_err(|e| e.to_string())?;
    let desk = Arc::new(TradingDesk::new(DeskParts {
        desk: Desk { risk, executor },
        book: Book::new(t.paper_cash_usd),
        gates: Arc::clone(&gates),
        ess: ess.clone(),
        exchange: Arc::clone(&exchange),
        paper,
        store: store.clone(),
        bus,
        events: events.clone(),
        clock: Arc::clone(&clock),
        metrics,
        source,
        settings: DeskSettings {
            stale_after_ms: t.stale_after_ms,
            partial_fill_deadline_ms: PARTIAL_FILL_DEADLINE_MS,
        },
    }));
    let queues = SymbolQueues::new(config.market_data.queue_capacity, exchange_metrics);
    let policy = RestartPolicy {
        initial_backoff: Duration::from_millis(t.restart_initial_backoff_ms),
        max_backoff: Duration::from_millis(t.restart_max_backoff_ms),
        max_restarts: t.max_restarts_per_hour,
        window: Duration::from_secs(3600),
        heartbeat_timeout: Duration::from_millis(t.heartbeat_timeout_ms),
        ..RestartPolicy::default()
    };
    let engines = EngineManager::new(
        ManagerSettings {
            policy,
            symbols,
            registry: Some(t.state_dir.join("engines.json")),
            journal_dir: t.state_dir.join("logs"),
        },
        Arc::new(DeskRunner::new(Arc::clone(&desk), queues.clone())),
        Arc::clone(&clock),
        registry,
        shutdown.clone(),
    )
    .map_err(|e| e.to_string())?;
    let audit_failures = IntCounter::new(
        "gateway_audit_failures_total",
        "Audit entries that could not be written",
    )
    .map_err(|e| e.to_string())?;
    registry
        .register(Box::new(audit_failures.clone()))
        .map_err(|e| e.to_string())?;
    let policy = PolicyStoreServiceClient::new(levibot_server::peers::channel(
        config,
        ServiceName::PolicyStore,
    )?);
    let gateway = GatewayState {
        engines: engines.clone(),
        gates,
        risk: Arc::clone(&desk) as Arc<dyn crate::gateway::RiskReporter>,
        store: store.clone(),
        events,
        clock: Arc::clone(&clock),
        audit: Audit::new(store.clone(), Arc::clone(&clock), audit_failures),
        auth: ApiKeyAuth::new(store),
        shutdown: shutdown.clone(),
        portfolio: PortfolioServiceClient::new(levibot_server::peers::channel(
            config,
            ServiceName::Portfolio,
        )?),
        policy: policy.clone(),
        health: HealthAggregatorServiceClient::new(levibot_server::peers::channel(
            config,
            ServiceName::HealthAggregator,
        )?),
    };
    Ok(Trading {
        engines,
        queues,
        gateway,
        ess,
        policy,
        exchange,
        desk,
        base_limits,
    })
}
