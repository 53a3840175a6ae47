//! What each engine reports: life state, counters, heartbeat.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

use levibot_core::{Symbol, TimestampMs};
use serde::Serialize;

/// Where an engine is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineState {
    /// Its task is being spawned.
    Starting,
    /// Processing bars.
    Running,
    /// Stopped on request; not restarted.
    Stopped,
    /// Failed more often than the restart policy allows; waits for a manual start.
    Crashed,
    /// Failed; waiting for its backoff before restarting.
    BackingOff,
}

impl EngineState {
    /// Stable lower-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Crashed => "crashed",
            Self::BackingOff => "backing_off",
        }
    }

    /// The wire enum.
    #[must_use]
    pub const fn to_proto(self) -> levibot_proto::v1::EngineState {
        use levibot_proto::v1::EngineState as P;
        match self {
            Self::Starting => P::Starting,
            Self::Running => P::Running,
            Self::Stopped => P::Stopped,
            Self::Crashed => P::Crashed,
            Self::BackingOff => P::BackingOff,
        }
    }
}

/// Live counters of one engine, shared between its task, the supervisor and the gateway.
#[derive(Debug)]
pub struct EngineStats {
    symbol: Symbol,
    state: Mutex<EngineState>,
    last_bar_open_time: AtomicI64,
    heartbeat: AtomicI64,
    bars_processed: AtomicU64,
    signals: AtomicU64,
    orders: AtomicU64,
    errors: AtomicU64,
    restarts: AtomicU32,
    stale: std::sync::atomic::AtomicBool,
    error_spike: std::sync::atomic::AtomicBool,
    last_error: Mutex<String>,
}

/// A point-in-time copy of [`EngineStats`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineStatus {
    /// The symbol it trades.
    pub symbol: Symbol,
    /// Life state.
    pub state: EngineState,
    /// Open time of the last bar it processed (0 before the first).
    pub last_bar_open_time_ms: i64,
    /// Last sign of life (epoch ms).
    pub last_heartbeat_ms: i64,
    /// Bars processed.
    pub bars_processed: u64,
    /// Signals produced.
    pub signals: u64,
    /// Orders sent.
    pub orders: u64,
    /// Errors (failed steps, failed calls).
    pub errors: u64,
    /// Restarts after crashes.
    pub restarts: u32,
    /// Whether its market data is stale right now.
    pub stale_data: bool,
    /// Whether it logged more errors in the last minute than the restart policy's
    /// `error_spike`.
    pub error_spike: bool,
    /// The last error, empty if none.
    pub last_error: String,
}

impl EngineStats {
    /// Fresh counters for `symbol`, in state [`EngineState::Starting`].
    #[must_use]
    pub fn new(symbol: Symbol) -> Self {
        Self {
            symbol,
            state: Mutex::new(EngineState::Starting),
            last_bar_open_time: AtomicI64::new(0),
            heartbeat: AtomicI64::new(0),
            bars_processed: AtomicU64::new(0),
            signals: AtomicU64::new(0),
            orders: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            restarts: AtomicU32::new(0),
            stale: std::sync::atomic::AtomicBool::new(false),
            error_spike: std::sync::atomic::AtomicBool::new(false),
            last_error: Mutex::new(String::new()),
        }
    }

    /// The symbol.
    #[must_use]
    pub const fn symbol(&self) -> Symbol {
        self.symbol
    }

    /// The life state.
    pub fn state(&self) -> EngineState {
        *self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn set_state(&self, state: EngineState) {
        *self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = state;
    }

    /// Records a sign of life at `now`.
    pub fn heartbeat(&self, now: TimestampMs) {
        self.heartbeat.store(now.as_i64(), Ordering::Relaxed);
    }

    /// The last heartbeat (epoch ms).
    pub fn last_heartbeat(&self) -> TimestampMs {
        TimestampMs::new(self.heartbeat.load(Ordering::Relaxed))
    }

    /// Records a processed bar.
    pub fn bar_processed(&self, open_time: TimestampMs) {
        self.last_bar_open_time
            .store(open_time.as_i64(), Ordering::Relaxed);
        self.bars_processed.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a signal.
    pub fn signal(&self) {
        self.signals.fetch_add(1, Ordering::Relaxed);
    }

    /// Records an order sent.
    pub fn order(&self) {
        self.orders.fetch_add(1, Ordering::Relaxed);
    }

    /// Records an error.
    pub fn error(&self, message: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        message.clone_into(
            &mut self
                .last_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
    }

    /// Errors so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Marks the engine's data stale or fresh.
    pub fn set_stale(&self, stale: bool) {
        self.stale.store(stale, Ordering::Relaxed);
    }

    pub(crate) fn set_error_spike(&self, spike: bool) {
        self.error_spike.store(spike, Ordering::Relaxed);
    }

    pub(crate) fn restarted(&self) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> EngineStatus {
        EngineStatus {
            symbol: self.symbol,
            state: self.state(),
            last_bar_open_time_ms: self.last_bar_open_time.load(Ordering::Relaxed),
            last_heartbeat_ms: self.heartbeat.load(Ordering::Relaxed),
            bars_processed: self.bars_processed.load(Ordering::Relaxed),
            signals: self.signals.load(Ordering::Relaxed),
            orders: self.orders.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            restarts: self.restarts.load(Ordering::Relaxed),
            stale_data: self.stale.load(Ordering::Relaxed),
            error_spike: self.error_spike.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }
}

impl EngineStatus {
    /// The wire form.
    #[must_use]
    pub fn to_proto(&self) -> levibot_proto::v1::EngineStatus {
        levibot_proto::v1::EngineStatus {
            symbol: self.symbol.to_string(),
            state: self.state.to_proto().into(),
            last_bar_open_time_ms: self.last_bar_open_time_ms,
            last_heartbeat_ms: self.last_heartbeat_ms,
            bars_processed: self.bars_processed,
            signals: self.signals,
            orders: self.orders,
            errors: self.errors,
            restarts: self.restarts,
            last_error: self.last_error.clone(),
        }
    }
}
