use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::profile::LaunchProfile;
use crate::secret::{Secret, redact_url};
use crate::service::{ServiceName, ServicesConfig};

/// The whole fleet's configuration. `Default` gives the embedded defaults.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The launch profile; it presets the `risk` section.
    pub profile: LaunchProfile,
    /// Trading limits.
    pub risk: RiskConfig,
    /// The SQL database.
    pub store: StoreConfig,
    /// The event bus.
    pub bus: BusConfig,
    /// Trained model artifacts.
    pub models: ModelsConfig,
    /// The REST gateway.
    pub gateway: GatewayConfig,
    /// The backend's market-data feeder.
    pub market_data: MarketDataConfig,
    /// The backend's engines, executor and exchange.
    pub trading: TradingConfig,
    /// The portfolio service: books, equity snapshots, reconciliation.
    pub portfolio: PortfolioConfig,
    /// The health-aggregator: polling, freshness limits, alerts.
    pub health: HealthConfig,
    /// Logging and tracing.
    pub telemetry: TelemetryConfig,
    /// Exchange credentials.
    pub exchange: ExchangeConfig,
    /// Listen addresses of the seven services.
    pub services: ServicesConfig,
}

impl Config {
    /// The configuration as YAML, for `levibot config show`.
    ///
    /// Secrets are written as `***` and passwords inside URLs are redacted, so the output
    /// is safe to paste into a ticket; it loads back as the same configuration apart from
    /// those.
    pub fn to_yaml(&self) -> String {
        let shown = self.redacted();
        match serde_norway::to_string(&shown) {
            Ok(yaml) => yaml,
            Err(err) => format!("# cannot render configuration: {err}\n"),
        }
    }

    /// A copy with every URL password replaced by `***` (secrets already serialize as
    /// `***`).
    fn redacted(&self) -> Self {
        let mut shown = self.clone();
        shown.store.database_url = redact_url(&shown.store.database_url);
        redact_option(&mut shown.bus.redis_url);
        redact_option(&mut shown.telemetry.otlp_endpoint);
        for name in ServiceName::ALL {
            redact_option(&mut shown.services.endpoint_mut(name).grpc_url);
        }
        shown
    }

    /// The endpoint of one service (shorthand for `self.services.endpoint(name)`).
    pub fn service(&self, name: ServiceName) -> &crate::service::ServiceEndpoint {
        self.services.endpoint(name)
    }
}

fn redact_option(url: &mut Option<String>) {
    if let Some(url) = url {
        *url = redact_url(url);
    }
}

/// Trading limits, preset by the [`LaunchProfile`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskConfig {
    /// Tradable symbols, e.g. `BTCUSDT`: 1 to 20 characters of `A-Z 0-9 . _ -`.
    pub symbols: Vec<String>,
    /// Maximum number of open positions, at least 1.
    pub max_positions: u32,
    /// Maximum notional of one position in USD, greater than 0.
    #[serde(with = "crate::decimal_serde")]
    pub max_position_usd: Decimal,
    /// Drawdown in percent that trips the emergency stop, in (0, 100].
    #[serde(with = "crate::decimal_serde")]
    pub ess_max_drawdown_pct: Decimal,
    /// Minimum model probability to act on a signal, in [0, 1].
    pub min_confidence: f64,
    /// Realized loss in USD after which trading stops for the day, greater than 0.
    #[serde(with = "crate::decimal_serde")]
    pub daily_loss_limit_usd: Decimal,
}

impl Default for RiskConfig {
    /// The conservative preset.
    fn default() -> Self {
        LaunchProfile::Conservative.risk_preset()
    }
}

/// The SQL database. `Debug` redacts the password in the URL.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `postgres://`, `postgresql://` or `sqlite://` URL.
    pub database_url: String,
    /// PostgreSQL: wait for each commit to reach the disk (`synchronous_commit = on`, the
    /// default). `false` answers a commit before its WAL is flushed: an order is then
    /// recorded in well under a millisecond instead of one disk flush (about 3 ms on a
    /// cloud disk), and a crash of the *database server* can lose the last fraction of a
    /// second of records (never corrupt them; a crash of any LeviBot service loses nothing).
    /// Start-up recovery and reconciliation then find the gap and keep trading stopped.
    pub synchronous_commit: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            database_url: "sqlite://var/levibot.db".to_owned(),
            synchronous_commit: true,
        }
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("database_url", &redact_url(&self.database_url))
            .field("synchronous_commit", &self.synchronous_commit)
            .finish()
    }
}

/// The event bus. `Debug` redacts the password in the URL.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// `redis://` or `rediss://` URL; unset means the in-process bus.
    pub redis_url: Option<String>,
    /// Directory where events are buffered while Redis is unreachable.
    pub buffer_dir: PathBuf,
    /// Prefix of every Redis key (streams, dedup sets, the dead-letter stream).
    pub key_prefix: String,
    /// Size bound of each of the two disk buffers (trading events, market data), in MiB.
    pub buffer_max_mb: u64,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            buffer_dir: PathBuf::from("var/bus-buffer"),
            key_prefix: "levibot:".to_owned(),
            buffer_max_mb: 256,
        }
    }
}

impl fmt::Debug for BusConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusConfig")
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("buffer_dir", &self.buffer_dir)
            .field("key_prefix", &self.key_prefix)
            .field("buffer_max_mb", &self.buffer_max_mb)
            .finish()
    }
}

/// Trained model artifacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// Directory holding the model files.
    pub dir: PathBuf,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("var/models"),
        }
    }
}

/// The REST gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8000),
        }
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, for terminals.
    #[default]
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

impl LogFormat {
    /// The lowercase name used in configuration.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pretty => "pretty",
            Self::Json => "json",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Logging and tracing.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Log output format.
    pub log_format: LogFormat,
    /// `tracing_subscriber::EnvFilter` directives, e.g. `info,levibot_backend=debug`.
    pub log_filter: String,
    /// OTLP collector (`http://` or `https://`); unset disables trace export.
    pub otlp_endpoint: Option<String>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Pretty,
            log_filter: "info".to_owned(),
            otlp_endpoint: None,
        }
    }
}

impl fmt::Debug for TelemetryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryConfig")
            .field("log_format", &self.log_format)
            .field("log_filter", &self.log_filter)
            .field(
                "otlp_endpoint",
                &self.otlp_endpoint.as_deref().map(redact_url),
            )
            .finish()
    }
}

/// Exchange credentials; both unset means paper trading only.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExchangeConfig {
    /// API key.
    pub api_key: Option<Secret>,
    /// API secret.
    pub api_secret: Option<Secret>,
}

impl ExchangeConfig {
    /// Whether both credentials are set.
    pub fn has_credentials(&self) -> bool {
        self.api_key.is_some() && self.api_secret.is_some()
    }
}

/// The backend's market-data feeder: closed klines of the risk symbols from the exchange's
/// WebSocket streams, gaps backfilled over REST, published as `md.bar`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketDataConfig {
    /// Run the feeder (off by default: nothing reaches out to an exchange unless asked).
    pub enabled: bool,
    /// WebSocket base: Binance live, the testnet, or a local `levibot exchange-sim`.
    pub ws_url: String,
    /// REST base for gap backfill.
    pub rest_url: String,
    /// Kline interval: 1s, 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, 1d, 3d or 1w.
    pub interval: String,
    /// Bars queued per symbol between the source and the publisher; a slow symbol drops its
    /// own oldest bars, counted.
    pub queue_capacity: usize,
}

impl Default for MarketDataConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            ws_url: "wss://stream.binance.com:9443".to_owned(),
            rest_url: "https://api.binance.com".to_owned(),
            interval: "1m".to_owned(),
            queue_capacity: 1024,
        }
    }
}

/// Where the backend sends orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExchangeKind {
    /// The in-process paper exchange: fills against the next bar, with fees, slippage and a
    /// volume cap.
    #[default]
    Paper,
    /// Binance spot over signed REST (`trading.binance_rest_url`; keys in `exchange.*`).
    Binance,
}

/// Where engines get their predictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalSourceKind {
    /// The ai-engine's `Predict` RPC; when it is unavailable the engine skips the bar.
    #[default]
    Ai,
    /// The rule-based EMA-cross reference strategy.
    EmaCross,
}

/// The backend's engines, executor and exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TradingConfig {
    /// Run one engine per `risk.symbols` entry (a restarted backend resumes the engines its
    /// registry lists instead).
    pub engines_enabled: bool,
    /// Whether trading is enabled when the backend starts (`POST /trading/enable|disable`
    /// flips it at run time).
    pub enabled_at_start: bool,
    /// Paper or Binance.
    pub exchange: ExchangeKind,
    /// Binance REST base: live `https://api.binance.com`, testnet
    /// `https://testnet.binance.vision`, or a local `levibot exchange-sim`.
    pub binance_rest_url: String,
    /// Where predictions come from.
    pub signal_source: SignalSourceKind,
    /// Use the EMA-cross strategy when the ai-engine is unavailable (explicit: off by default,
    /// the engine then skips the bar).
    pub fallback_to_ema_cross: bool,
    /// Paper exchange: starting cash in the quote asset (USDT).
    #[serde(with = "crate::decimal_serde")]
    pub paper_cash_usd: Decimal,
    /// Paper exchange: fee in basis points of notional.
    #[serde(with = "crate::decimal_serde")]
    pub paper_fee_bps: Decimal,
    /// Paper exchange: slippage against us in basis points.
    #[serde(with = "crate::decimal_serde")]
    pub paper_slippage_bps: Decimal,
    /// Paper exchange: largest share of a bar's volume one order may fill, in (0, 1].
    #[serde(with = "crate::decimal_serde")]
    pub paper_max_volume_share: Decimal,
    /// Total exposure limit across symbols in USD.
    #[serde(with = "crate::decimal_serde")]
    pub max_exposure_usd: Decimal,
    /// Share of the Kelly fraction used, in (0, 1] (0.5 = half Kelly).
    pub kelly_multiplier: f64,
    /// Target per-bar return standard deviation; positions shrink when realized volatility
    /// is above it.
    pub volatility_target: f64,
    /// At most this many signals per symbol per `throttle_window_ms`.
    pub throttle_max_signals: u32,
    /// The throttle window in milliseconds.
    pub throttle_window_ms: i64,
    /// A bar older than this (from its close to now) is stale: nothing is traded on it.
    pub stale_after_ms: i64,
    /// Where the engine registry and the per-symbol JSONL logs are kept.
    pub state_dir: PathBuf,
    /// Wait before the first automatic restart of a crashed engine.
    pub restart_initial_backoff_ms: u64,
    /// Longest wait between automatic restarts (the wait doubles up to this).
    pub restart_max_backoff_ms: u64,
    /// Automatic restarts allowed per engine per hour; then it stays crashed.
    pub max_restarts_per_hour: u32,
    /// A running engine silent for longer than this is treated as hung and restarted.
    pub heartbeat_timeout_ms: u64,
}

impl Default for TradingConfig {
    fn default() -> Self {
        Self {
            engines_enabled: false,
            enabled_at_start: true,
            exchange: ExchangeKind::Paper,
            binance_rest_url: "https://testnet.binance.vision".to_owned(),
            signal_source: SignalSourceKind::Ai,
            fallback_to_ema_cross: false,
            paper_cash_usd: Decimal::from(10_000),
            paper_fee_bps: Decimal::from(10),
            paper_slippage_bps: Decimal::from(2),
            paper_max_volume_share: Decimal::new(1, 1),
            max_exposure_usd: Decimal::from(5_000),
            kelly_multiplier: 0.5,
            volatility_target: 0.002,
            throttle_max_signals: 6,
            throttle_window_ms: 3_600_000,
            stale_after_ms: 120_000,
            state_dir: PathBuf::from("var/backend"),
            restart_initial_backoff_ms: 60_000,
            restart_max_backoff_ms: 240_000,
            max_restarts_per_hour: 5,
            heartbeat_timeout_ms: 30_000,
        }
    }
}

/// The portfolio service: books, equity snapshots, reconciliation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortfolioConfig {
    /// The asset cash is kept in (prices are quoted in it).
    pub quote_asset: String,
    /// Cash the books start from when no fill has been recorded yet (the paper exchange's
    /// `trading.paper_cash_usd` should match it).
    #[serde(with = "crate::decimal_serde")]
    pub starting_cash_usd: Decimal,
    /// Reconcile the books against the exchange's balances and open orders this often
    /// (and once at start-up).
    pub reconcile_interval_ms: u64,
    /// Store an equity snapshot at most this often (a new bar's mark triggers it).
    pub snapshot_interval_ms: u64,
}

impl Default for PortfolioConfig {
    fn default() -> Self {
        Self {
            quote_asset: "USDT".to_owned(),
            starting_cash_usd: Decimal::from(10_000),
            reconcile_interval_ms: 60_000,
            snapshot_interval_ms: 60_000,
        }
    }
}

/// The health-aggregator: polling, freshness limits, alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Check the fleet this often.
    pub poll_interval_ms: u64,
    /// Each check's timeout.
    pub check_timeout_ms: u64,
    /// A symbol whose newest bar closed longer ago than this has stale market data.
    pub market_data_stale_after_ms: i64,
    /// A champion model older than this is reported (DEGRADED).
    pub model_max_age_hours: u64,
    /// Alerts go to this webhook as Slack/Telegram-compatible JSON; unset = no alerts.
    /// It usually carries a token, so it is a secret.
    pub webhook_url: Option<Secret>,
    /// The same alert (same status and reasons) is not sent again within this window.
    pub alert_dedup_ms: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            poll_interval_ms: 10_000,
            check_timeout_ms: 3_000,
            market_data_stale_after_ms: 180_000,
            model_max_age_hours: 48,
            webhook_url: None,
            alert_dedup_ms: 900_000,
        }
    }
}
