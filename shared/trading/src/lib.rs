//! The synchronous trading core: bars in, risk-approved orders out.
//!
//! Everything here is plain synchronous code with an injected clock (every time-dependent
//! call takes `now: TimestampMs`), so the live engines (backend) and the backtester run
//! exactly the same decisions. Async adapters live in the services that use this crate.
//!
//! The flow of one closed bar through [`EngineCore::step`]:
//! bar order and staleness checks → rolling volatility → [`Prediction`] (from the AI engine
//! or a [`Strategy`] such as [`EmaCross`]) → [`Signal`] with a deterministic id →
//! [`RiskManager::evaluate`] → [`RiskApproved`] order or [`Rejection`] →
//! [`ExecutorCore::decide`] → send, wait or blocked.

mod bounded_id_set;

/// The verdict on a prediction's inputs.
pub mod data_quality;
/// The EMA-cross reference strategy.
pub mod ema_cross;
/// The per-symbol engine step and the shared desk.
pub mod engine_core;
/// Executor decision components.
pub mod execution;
/// Trading enabled, kill switch, ESS state.
pub mod gates;
/// Counts by stable label.
pub mod label_counts;
/// Predictions.
pub mod prediction;
/// Risk manager v2.
pub mod risk;
/// Rolling realized volatility.
pub mod rolling_volatility;
/// Signals and their deterministic ids.
pub mod signal;
/// The strategy interface.
pub mod strategy;

pub use data_quality::DataQuality;
pub use ema_cross::{EmaCross, EmaCrossConfig};
pub use engine_core::{
    BarIgnored, Desk, EngineConfig, EngineConfigError, EngineCore, EngineCounters, StepOutcome,
};
pub use execution::{
    BlockReason, CircuitBreaker, ExecutorConfig, ExecutorCore, ExecutorDecision, FlattenDecision,
    NextAction, OrderTracker, RetryPolicy, SendOutcome, WeightLimiter, client_order_id_for,
    flatten_client_order_id,
};
pub use gates::{EssState, EssStateSource, Gates};
pub use label_counts::LabelCounts;
pub use prediction::{Prediction, PredictionError};
pub use risk::{
    AccountView, FlattenOrder, MarketSnapshot, RejectReason, Rejection, RiskApproved, RiskLimits,
    RiskManager,
};
pub use rolling_volatility::RollingVolatility;
pub use signal::{Signal, SignalError, derive_signal_id};
pub use strategy::Strategy;
