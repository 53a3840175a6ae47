//! `EngineCore`: one symbol's step from a closed bar to an executor decision.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use levibot_core::{Bar, Symbol, TimestampMs};

use crate::execution::{ExecutorCore, ExecutorDecision};
use crate::gates::Gates;
use crate::prediction::Prediction;
use crate::risk::{AccountView, MarketSnapshot, Rejection, RiskManager};
use crate::rolling_volatility::RollingVolatility;
use crate::signal::{Signal, SignalError};
use crate::strategy::Strategy;

/// The account-wide parts every symbol's engine shares: one risk manager (exposure, daily
/// stop, throttle, duplicate ids) and one executor (rate limit, breaker, client order ids).
/// The async backend holds one behind a lock and lends it to each engine step.
#[derive(Debug)]
pub struct Desk {
    /// The risk manager.
    pub risk: RiskManager,
    /// The executor core.
    pub executor: ExecutorCore,
}

/// Settings of one [`EngineCore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// The symbol this engine trades.
    pub symbol: Symbol,
    /// A bar is stale when `close_time + stale_after_ms < now`: it updates the state but is
    /// not traded on (≥ 0).
    pub stale_after_ms: i64,
    /// Returns in the realized-volatility window (≥ 2).
    pub vol_window: usize,
}

impl EngineConfig {
    /// `symbol` with a 5 s staleness threshold and a 60-return volatility window.
    #[must_use]
    pub const fn new(symbol: Symbol) -> Self {
        Self {
            symbol,
            stale_after_ms: 5_000,
            vol_window: 60,
        }
    }
}

/// Why an [`EngineConfig`] is unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EngineConfigError {
    /// `stale_after_ms` was negative.
    #[error("stale_after_ms must not be negative, got {0}")]
    StaleAfter(i64),
    /// `vol_window` was below 2.
    #[error("vol_window must be at least 2, got {0}")]
    VolWindow(usize),
}

/// Why a bar was not processed at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum BarIgnored {
    /// The bar is for another symbol.
    WrongSymbol {
        /// This engine's symbol.
        expected: Symbol,
        /// The bar's.
        got: Symbol,
    },
    /// A bar with this open time was already processed.
    Duplicate {
        /// The bar's open time.
        open_time: TimestampMs,
    },
    /// The bar is older than the last processed one.
    OutOfOrder {
        /// The bar's open time.
        open_time: TimestampMs,
        /// The last processed open time.
        last: TimestampMs,
    },
}

impl BarIgnored {
    /// The stable snake_case label.
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::WrongSymbol { .. } => "wrong_symbol",
            Self::Duplicate { .. } => "duplicate",
            Self::OutOfOrder { .. } => "out_of_order",
        }
    }
}

/// What one step did, for the async wrapper to record and count.
#[derive(Debug, PartialEq)]
pub enum StepOutcome {
    /// The bar was not processed.
    Ignored(BarIgnored),
    /// The bar was processed (window updated) but is too old to trade on.
    Stale {
        /// `now − (close_time + 1)`: how long ago the bar closed, in ms.
        lag_ms: i64,
    },
    /// No prediction, or a neutral one (probability exactly 0.5).
    NoSignal,
    /// The signal could not be built (a bar time outside the ULID range).
    InvalidSignal(SignalError),
    /// The risk manager refused the signal.
    Rejected {
        /// The signal.
        signal: Box<Signal>,
        /// Why.
        rejection: Rejection,
    },
    /// The risk manager approved an order and the executor decided on it.
    Decided {
        /// The signal.
        signal: Box<Signal>,
        /// Send (with the approved order), Wait or Blocked.
        decision: ExecutorDecision,
    },
}

impl StepOutcome {
    /// A stable label: `ignored_<reason>`, `stale`, `no_signal`, `invalid_signal`,
    /// `rejected`, `send`, `wait` or `blocked`.
    #[must_use]
    pub const fn label(&self) -> &'static str {
        match self {
            Self::Ignored(BarIgnored::WrongSymbol { .. }) => "ignored_wrong_symbol",
            Self::Ignored(BarIgnored::Duplicate { .. }) => "ignored_duplicate",
            Self::Ignored(BarIgnored::OutOfOrder { .. }) => "ignored_out_of_order",
            Self::Stale { .. } => "stale",
            Self::NoSignal => "no_signal",
            Self::InvalidSignal(_) => "invalid_signal",
            Self::Rejected { .. } => "rejected",
            Self::Decided { decision, .. } => match decision {
                ExecutorDecision::Send(_) => "send",
                ExecutorDecision::Wait { .. } => "wait",
                ExecutorDecision::Blocked { .. } => "blocked",
            },
        }
    }
}

/// What an engine has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineCounters {
    /// Bars accepted (in order, for this symbol), stale ones included.
    pub bars_processed: u64,
    /// Bars ignored (wrong symbol, duplicate, out of order).
    pub bars_ignored: u64,
    /// Accepted bars too old to trade on.
    pub stale_bars: u64,
    /// Signals built.
    pub signals: u64,
    /// Signals the risk manager approved.
    pub approvals: u64,
    /// Signals the risk manager refused.
    pub rejections: u64,
    /// Approved orders the executor decided to send.
    pub sent: u64,
    /// Approved orders the executor blocked.
    pub blocked: u64,
    /// Approved orders the executor asked to wait.
    pub waits: u64,
}

/// Whether an accepted bar may be traded on.
enum Freshness {
    Fresh,
    Stale(i64),
}

/// One symbol's engine: orders its bars, detects stale data, keeps the rolling volatility
/// window, turns a prediction into a signal, and runs it through the desk's risk manager and
/// executor. Synchronous; `now` comes from the caller's clock.
#[derive(Debug, Clone)]
pub struct EngineCore {
    config: EngineConfig,
    last_open_time: Option<TimestampMs>,
    vol: RollingVolatility,
    counters: EngineCounters,
    stale: bool,
}

impl EngineCore {
    /// An engine that has seen no bar.
    ///
    /// # Errors
    ///
    /// [`EngineConfigError`] for a negative threshold or a window below 2.
    pub fn new(config: EngineConfig) -> Result<Self, EngineConfigError> {
        if config.stale_after_ms < 0 {
            return Err(EngineConfigError::StaleAfter(config.stale_after_ms));
        }
        if config.vol_window < 2 {
            return Err(EngineConfigError::VolWindow(config.vol_window));
        }
        Ok(Self {
            vol: RollingVolatility::new(config.vol_window),
            config,
            last_open_time: None,
            counters: EngineCounters::default(),
            stale: false,
        })
    }

    /// The settings.
    #[must_use]
    pub const fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The counters.
    #[must_use]
    pub const fn counters(&self) -> &EngineCounters {
        &self.counters
    }

    /// Whether the last accepted bar was stale (for a health gauge).
    #[must_use]
    pub const fn is_stale(&self) -> bool {
        self.stale
    }

    /// The open time of the last accepted bar.
    #[must_use]
    pub const fn last_open_time(&self) -> Option<TimestampMs> {
        self.last_open_time
    }

    /// The realized volatility the next BUY would be sized with.
    #[must_use]
    pub fn realized_vol(&self) -> Option<f64> {
        self.vol.stdev()
    }

    /// One step with a prediction made elsewhere (the AI engine): checks the bar, then turns
    /// `prediction` into a signal, evaluates it and decides on the order.
    pub fn step(
        &mut self,
        bar: &Bar,
        prediction: Option<Prediction>,
        account: &AccountView,
        gates: &Gates,
        desk: &mut Desk,
        now: TimestampMs,
    ) -> StepOutcome {
        match self.admit(bar, now) {
            Err(ignored) => StepOutcome::Ignored(ignored),
            Ok(Freshness::Stale(lag_ms)) => StepOutcome::Stale { lag_ms },
            Ok(Freshness::Fresh) => self.trade(bar, prediction, account, gates, desk, now),
        }
    }

    /// One step with a local strategy (the fallback, the backtester): the strategy sees every
    /// accepted bar, stale ones included so its state stays continuous, but only a fresh
    /// bar's prediction is traded.
    pub fn step_with(
        &mut self,
        bar: &Bar,
        strategy: &mut dyn Strategy,
        account: &AccountView,
        gates: &Gates,
        desk: &mut Desk,
        now: TimestampMs,
    ) -> StepOutcome {
        match self.admit(bar, now) {
            Err(ignored) => StepOutcome::Ignored(ignored),
            Ok(Freshness::Stale(lag_ms)) => {
                let _ = strategy.on_bar(bar);
                StepOutcome::Stale { lag_ms }
            }
            Ok(Freshness::Fresh) => {
                let prediction = strategy.on_bar(bar);
                self.trade(bar, prediction, account, gates, desk, now)
            }
        }
    }

    /// Symbol and order checks; updates the window and the staleness flag.
    fn admit(&mut self, bar: &Bar, now: TimestampMs) -> Result<Freshness, BarIgnored> {
        let ignored = if bar.symbol() != self.config.symbol {
            Some(BarIgnored::WrongSymbol {
                expected: self.config.symbol,
                got: bar.symbol(),
            })
        } else {
            match self.last_open_time {
                Some(last) if bar.open_time() == last => Some(BarIgnored::Duplicate {
                    open_time: bar.open_time(),
                }),
                Some(last) if bar.open_time() < last => Some(BarIgnored::OutOfOrder {
                    open_time: bar.open_time(),
                    last,
                }),
                _ => None,
            }
        };
        if let Some(ignored) = ignored {
            self.counters.bars_ignored += 1;
            return Err(ignored);
        }
        self.last_open_time = Some(bar.open_time());
        self.vol.push(bar.close());
        self.counters.bars_processed += 1;
        // close_time is the bar's last millisecond: it ended at close_time + 1
        let ended = bar.close_time().as_i64().saturating_add(1);
        self.stale = ended.saturating_add(self.config.stale_after_ms) < now.as_i64();
        if self.stale {
            self.counters.stale_bars += 1;
            return Ok(Freshness::Stale(now.as_i64().saturating_sub(ended)));
        }
        Ok(Freshness::Fresh)
    }

    fn trade(
        &mut self,
        bar: &Bar,
        prediction: Option<Prediction>,
        account: &AccountView,
        gates: &Gates,
        desk: &mut Desk,
        now: TimestampMs,
    ) -> StepOutcome {
        let Some(prediction) = prediction else {
            return StepOutcome::NoSignal;
        };
        let Some(side) = prediction.side() else {
            return StepOutcome::NoSignal;
        };
        let signal = match Signal::new(self.config.symbol, bar.open_time(), side, prediction, now) {
            Ok(signal) => signal,
            Err(e) => return StepOutcome::InvalidSignal(e),
        };
        self.counters.signals += 1;
        let market = MarketSnapshot {
            price: bar.close(),
            realized_vol: self.vol.stdev(),
        };
        match desk.risk.evaluate(&signal, market, account, *gates, now) {
            Err(rejection) => {
                self.counters.rejections += 1;
                StepOutcome::Rejected {
                    signal: Box::new(signal),
                    rejection,
                }
            }
            Ok(approved) => {
                self.counters.approvals += 1;
                let decision = desk.executor.decide(approved, gates, now);
                match &decision {
                    ExecutorDecision::Send(_) => self.counters.sent += 1,
                    ExecutorDecision::Blocked { .. } => self.counters.blocked += 1,
                    ExecutorDecision::Wait { .. } => self.counters.waits += 1,
                }
                StepOutcome::Decided {
                    signal: Box::new(signal),
                    decision,
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "engine_core_tests.rs"]
mod tests;
