//! Executor decision components: client order ids, the weight limiter, the circuit breaker,
//! the retry policy, the order tracker and the executor core. All synchronous, time passed in.

/// The circuit breaker.
pub mod circuit_breaker;
/// Deterministic client order ids.
pub mod client_order_id;
/// The executor core: gates, idempotency, breaker and limiter on every order.
pub mod executor_core;
/// One order's life and its fills.
pub mod order_tracker;
/// The retry policy after a send or a query.
pub mod retry_policy;
/// The request-weight limiter.
pub mod weight_limiter;

pub use circuit_breaker::{BreakerState, CircuitBreaker, CircuitBreakerConfig};
pub use client_order_id::{
    OrderLeg, client_order_id_for, flatten_client_order_id, flatten_key, parse_client_order_id,
};
pub use executor_core::{
    BlockReason, ExecutorConfig, ExecutorConfigError, ExecutorCore, ExecutorDecision,
    FlattenDecision, ResendDecision,
};
pub use order_tracker::{FillOutcome, OrderStatus, OrderTracker, TrackerAction};
pub use retry_policy::{NextAction, QueryOutcome, RetryPolicy, SendOutcome};
pub use weight_limiter::{WeightLimiter, WeightLimiterConfig};
