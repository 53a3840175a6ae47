//! `ExecutorCore`: the last check before an order goes to the exchange.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use levibot_core::{ClientOrderId, OrderRequest, TimestampMs};

use crate::bounded_id_set::BoundedIdSet;
use crate::execution::circuit_breaker::{
    BreakerState, CircuitBreaker, CircuitBreakerConfig, CircuitBreakerConfigError,
};
use crate::execution::retry_policy::{
    NextAction, QueryOutcome, RetryPolicy, RetryPolicyError, SendOutcome,
};
use crate::execution::weight_limiter::{
    WeightLimiter, WeightLimiterConfig, WeightLimiterConfigError,
};
use crate::gates::{ClosedGate, EssState, Gates};
use crate::label_counts::LabelCounts;
use crate::risk::{FlattenOrder, RiskApproved};

/// Settings of [`ExecutorCore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorConfig {
    /// The request-weight limiter.
    pub limiter: WeightLimiterConfig,
    /// The circuit breaker.
    pub breaker: CircuitBreakerConfig,
    /// The retry policy.
    pub retry: RetryPolicy,
    /// The request weight of one order (`POST /api/v3/order`: 1; ≤ the limiter's limit).
    pub order_weight: u32,
    /// A rate-limit wait up to this long is a [`ExecutorDecision::Wait`]; a longer one blocks
    /// the order (a bar's market order is not worth sending minutes late).
    pub max_wait_ms: u64,
    /// How many decided client order ids are remembered (≥ 1).
    pub dedupe_capacity: usize,
}

impl Default for ExecutorConfig {
    /// 6,000 weight per minute, breaker 5 failures / 30 s, default retries, order weight 1,
    /// waits up to 5 s, 100,000 remembered ids.
    fn default() -> Self {
        Self {
            limiter: WeightLimiterConfig::default(),
            breaker: CircuitBreakerConfig::default(),
            retry: RetryPolicy::default(),
            order_weight: 1,
            max_wait_ms: 5_000,
            dedupe_capacity: 100_000,
        }
    }
}

/// Why an [`ExecutorConfig`] is unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExecutorConfigError {
    /// The limiter settings.
    #[error(transparent)]
    Limiter(#[from] WeightLimiterConfigError),
    /// The breaker settings.
    #[error(transparent)]
    Breaker(#[from] CircuitBreakerConfigError),
    /// The retry policy.
    #[error(transparent)]
    Retry(#[from] RetryPolicyError),
    /// An order weight of 0 or above the limit.
    #[error("order weight must be in 1..={limit}, got {weight}")]
    OrderWeight {
        /// The configured weight.
        weight: u32,
        /// The limiter's limit.
        limit: u32,
    },
    /// `dedupe_capacity` was 0.
    #[error("dedupe capacity must be at least 1")]
    DedupeCapacity,
}

/// Why the executor did not send an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockReason {
    /// Trading is disabled.
    TradingDisabled,
    /// The kill switch is engaged.
    KillSwitch,
    /// The ESS is not armed.
    EssNotArmed(EssState),
    /// This client order id was already decided (sent); never twice.
    DuplicateClientOrderId,
    /// The circuit breaker is open (or its one probe is in flight).
    CircuitOpen,
    /// The rate limit needs a wait longer than `max_wait_ms` (or a ban is in force).
    RateLimited,
    /// A resend of an order that was never decided (sent) before.
    NotDecided,
    /// Something other than a SELL on the flatten path (never built by the risk module).
    NotAnExit,
}

impl BlockReason {
    /// The stable snake_case label.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TradingDisabled => "trading_disabled",
            Self::KillSwitch => "kill_switch",
            Self::EssNotArmed(_) => "ess_not_armed",
            Self::DuplicateClientOrderId => "duplicate_client_order_id",
            Self::CircuitOpen => "circuit_open",
            Self::RateLimited => "rate_limited",
            Self::NotDecided => "not_decided",
            Self::NotAnExit => "not_an_exit",
        }
    }
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The executor's decision on one approved order.
#[derive(Debug, PartialEq)]
pub enum ExecutorDecision {
    /// Send it now; its client order id is recorded as decided (persist it before the POST).
    Send(RiskApproved<OrderRequest>),
    /// Do not send it; the order, no longer approved, is handed back for the record.
    Blocked {
        /// Why.
        reason: BlockReason,
        /// The order that was not sent.
        order: OrderRequest,
    },
    /// The rate limiter needs a short wait: call [`ExecutorCore::decide`] again with the
    /// same approval after `retry_in_ms`.
    Wait {
        /// The wait in ms.
        retry_in_ms: u64,
        /// The approval, unchanged.
        approved: RiskApproved<OrderRequest>,
    },
}

impl ExecutorDecision {
    /// `"send"`, `"wait"` or the block reason label.
    #[must_use]
    pub const fn label(&self) -> &'static str {
        match self {
            Self::Send(_) => "send",
            Self::Wait { .. } => "wait",
            Self::Blocked { reason, .. } => reason.as_str(),
        }
    }
}

/// The executor's decision on a flatten-on-trip exit ([`ExecutorCore::decide_flatten`]).
#[derive(Debug, PartialEq)]
pub enum FlattenDecision {
    /// Send it now (a SELL); its client order id is recorded as decided, and as a flatten
    /// (its resends are exempt from the ESS gate too).
    Send(RiskApproved<OrderRequest>),
    /// Do not send it; the order, no longer approved, is handed back for the record.
    Blocked {
        /// Why.
        reason: BlockReason,
        /// The order that was not sent.
        order: OrderRequest,
    },
    /// The rate limiter needs a short wait: call [`ExecutorCore::decide_flatten`] again with
    /// the same approval after `retry_in_ms`.
    Wait {
        /// The wait in ms.
        retry_in_ms: u64,
        /// The approval, unchanged.
        approved: RiskApproved<FlattenOrder>,
    },
}

impl FlattenDecision {
    /// `"send"`, `"wait"` or the block reason label.
    #[must_use]
    pub const fn label(&self) -> &'static str {
        match self {
            Self::Send(_) => "send",
            Self::Wait { .. } => "wait",
            Self::Blocked { reason, .. } => reason.as_str(),
        }
    }
}

/// The executor's decision on re-sending an order already decided (after a 429 or a query
/// that found nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResendDecision {
    /// Send it again, same client order id.
    Go,
    /// Do not.
    Blocked(BlockReason),
    /// Ask again after this many ms.
    Wait(u64),
}

/// Which gates an order is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GateScope {
    /// All of them: every order but a flatten.
    All,
    /// All but the ESS: a flatten-on-trip exit only.
    ExceptEss,
}

/// Why [`ExecutorCore::check`] held an order back.
enum Hold {
    Blocked(BlockReason),
    Wait(u64),
}

/// Checks the gates on every order, keeps client order ids unique, and owns the rate limiter
/// and the circuit breaker. Synchronous: time comes from the `now` arguments; the async
/// wrapper does the I/O and reports back with [`ExecutorCore::on_send_outcome`].
#[derive(Debug)]
pub struct ExecutorCore {
    config: ExecutorConfig,
    limiter: WeightLimiter,
    breaker: CircuitBreaker,
    decided: BoundedIdSet<ClientOrderId>,
    /// The decided ids that are flatten-on-trip exits (their resends skip the ESS gate).
    flattens: BoundedIdSet<ClientOrderId>,
    outcomes: LabelCounts,
    flatten_outcomes: LabelCounts,
}

impl ExecutorCore {
    /// A fresh executor.
    ///
    /// # Errors
    ///
    /// [`ExecutorConfigError`] for an invalid part of `config`.
    pub fn new(config: ExecutorConfig) -> Result<Self, ExecutorConfigError> {
        let limiter = WeightLimiter::new(config.limiter)?;
        let breaker = CircuitBreaker::new(config.breaker)?;
        config.retry.validate()?;
        if config.order_weight == 0 || config.order_weight > config.limiter.limit {
            return Err(ExecutorConfigError::OrderWeight {
                weight: config.order_weight,
                limit: config.limiter.limit,
            });
        }
        if config.dedupe_capacity == 0 {
            return Err(ExecutorConfigError::DedupeCapacity);
        }
        Ok(Self {
            config,
            limiter,
            breaker,
            decided: BoundedIdSet::new(config.dedupe_capacity),
            flattens: BoundedIdSet::new(config.dedupe_capacity),
            outcomes: LabelCounts::default(),
            flatten_outcomes: LabelCounts::default(),
        })
    }

    /// The settings.
    #[must_use]
    pub const fn config(&self) -> &ExecutorConfig {
        &self.config
    }

    /// Decides whether `approved` goes out now. Checks, in order: trading enabled, kill
    /// switch, ESS armed, client order id not decided before, circuit breaker, rate limiter.
    /// A `Send` records the client order id and takes the order's weight; nothing else
    /// changes state (a `Wait` takes nothing).
    pub fn decide(
        &mut self,
        approved: RiskApproved<OrderRequest>,
        gates: &Gates,
        now: TimestampMs,
    ) -> ExecutorDecision {
        let id = approved.get().client_order_id();
        let hold = if self.decided.contains(id) {
            // checked first: a duplicate is refused even when every gate is open
            Some(Hold::Blocked(BlockReason::DuplicateClientOrderId))
        } else {
            self.check(gates, GateScope::All, now).err()
        };
        let decision = match hold {
            None => {
                self.decided.insert(id.clone());
                ExecutorDecision::Send(approved)
            }
            Some(Hold::Wait(retry_in_ms)) => ExecutorDecision::Wait {
                retry_in_ms,
                approved,
            },
            Some(Hold::Blocked(reason)) => ExecutorDecision::Blocked {
                reason,
                order: approved.into_inner(),
            },
        };
        self.outcomes.record(decision.label());
        decision
    }

    /// Decides whether a flatten-on-trip exit goes out now: the one narrow exception to "no
    /// order while the ESS is not armed". Every check of [`ExecutorCore::decide`] applies, in
    /// the same order, except the ESS gate: client order id not decided before (a redelivered
    /// trip derives the same id and is refused), trading enabled, kill switch, circuit
    /// breaker, rate limiter.
    ///
    /// The kill switch and trading-disabled still block it: they mean "send nothing", and a
    /// flatten is something. Only a [`FlattenOrder`] (a SELL of at most the held quantity,
    /// built by [`crate::RiskManager::approve_flatten`]) is accepted, so a BUY, or any other
    /// approved order, cannot take this path:
    ///
    /// ```compile_fail,E0308
    /// use levibot_core::{OrderRequest, TimestampMs};
    /// use levibot_trading::{ExecutorCore, Gates, RiskApproved};
    ///
    /// fn sneak(core: &mut ExecutorCore, buy: RiskApproved<OrderRequest>) {
    ///     let _ = core.decide_flatten(buy, &Gates::OPEN, TimestampMs::new(0));
    /// }
    /// ```
    pub fn decide_flatten(
        &mut self,
        approved: RiskApproved<FlattenOrder>,
        gates: &Gates,
        now: TimestampMs,
    ) -> FlattenDecision {
        let id = approved.get().order().client_order_id().clone();
        let hold = if approved.get().order().side() != levibot_core::Side::Sell {
            // unreachable by construction (approve_flatten only builds SELLs); kept so this
            // path can never send a BUY whatever changes upstream
            Some(Hold::Blocked(BlockReason::NotAnExit))
        } else if self.decided.contains(&id) {
            Some(Hold::Blocked(BlockReason::DuplicateClientOrderId))
        } else {
            self.check(gates, GateScope::ExceptEss, now).err()
        };
        let decision = match hold {
            None => {
                self.decided.insert(id.clone());
                self.flattens.insert(id);
                FlattenDecision::Send(approved.into_order())
            }
            Some(Hold::Wait(retry_in_ms)) => FlattenDecision::Wait {
                retry_in_ms,
                approved,
            },
            Some(Hold::Blocked(reason)) => FlattenDecision::Blocked {
                reason,
                order: approved.into_order().into_inner(),
            },
        };
        self.flatten_outcomes.record(decision.label());
        decision
    }

    /// Decides whether an already-decided order may be sent again (a retry after a 429, or
    /// after a query found nothing): the same gates, breaker and limiter, not the duplicate
    /// check; an order that was never decided is refused ([`BlockReason::NotDecided`]). A
    /// flatten decided by [`ExecutorCore::decide_flatten`] skips the ESS gate here too.
    pub fn check_resend(
        &mut self,
        approved: &RiskApproved<OrderRequest>,
        gates: &Gates,
        now: TimestampMs,
    ) -> ResendDecision {
        let id = approved.get().client_order_id();
        if !self.decided.contains(id) {
            return ResendDecision::Blocked(BlockReason::NotDecided);
        }
        let scope = if self.flattens.contains(id) {
            GateScope::ExceptEss
        } else {
            GateScope::All
        };
        match self.check(gates, scope, now) {
            Ok(()) => ResendDecision::Go,
            Err(Hold::Blocked(reason)) => ResendDecision::Blocked(reason),
            Err(Hold::Wait(ms)) => ResendDecision::Wait(ms),
        }
    }

    /// Gates, breaker, limiter; takes weight and a breaker probe only when all pass.
    fn check(&mut self, gates: &Gates, scope: GateScope, now: TimestampMs) -> Result<(), Hold> {
        let closed = match scope {
            GateScope::All => gates.first_closed(),
            GateScope::ExceptEss => gates.first_closed_except_ess(),
        };
        if let Some(closed) = closed {
            return Err(Hold::Blocked(match closed {
                ClosedGate::TradingDisabled => BlockReason::TradingDisabled,
                ClosedGate::KillSwitch => BlockReason::KillSwitch,
                ClosedGate::Ess(state) => BlockReason::EssNotArmed(state),
            }));
        }
        if !self.breaker.permits(now) {
            return Err(Hold::Blocked(BlockReason::CircuitOpen));
        }
        if let Err(wait_ms) = self.limiter.try_acquire(self.config.order_weight, now) {
            return Err(if wait_ms <= self.config.max_wait_ms {
                Hold::Wait(wait_ms)
            } else {
                Hold::Blocked(BlockReason::RateLimited)
            });
        }
        self.breaker.on_send(now);
        Ok(())
    }

    /// Reports how a send ended (`attempt` is 1-based, counting sends and queries) and
    /// returns what to do next. Updates the breaker (an answer, even a refusal, is a
    /// success; an unknown outcome, 429 or 418 a failure) and pauses the limiter on 429/418.
    pub fn on_send_outcome(
        &mut self,
        outcome: SendOutcome,
        attempt: u32,
        now: TimestampMs,
    ) -> NextAction {
        match outcome {
            SendOutcome::Accepted | SendOutcome::Rejected => self.breaker.record_success(),
            SendOutcome::OutcomeUnknown => self.breaker.record_failure(now),
            SendOutcome::RateLimited { retry_after_ms }
            | SendOutcome::Banned { retry_after_ms } => {
                let ms = i64::try_from(retry_after_ms).unwrap_or(i64::MAX);
                self.limiter
                    .pause_until(now.checked_add_ms(ms).unwrap_or(TimestampMs::new(i64::MAX)));
                self.breaker.record_failure(now);
            }
        }
        self.config.retry.after_send(outcome, attempt)
    }

    /// Reports how the query after an unknown outcome ended; returns what to do next.
    pub fn on_query_outcome(
        &mut self,
        outcome: QueryOutcome,
        attempt: u32,
        now: TimestampMs,
    ) -> NextAction {
        match outcome {
            QueryOutcome::Found | QueryOutcome::NotFound => self.breaker.record_success(),
            QueryOutcome::Failed => self.breaker.record_failure(now),
        }
        self.config.retry.after_query(outcome, attempt)
    }

    /// Syncs the limiter with a response's `X-MBX-USED-WEIGHT-1M`.
    pub fn observe_used_weight(&mut self, used: u32, now: TimestampMs) {
        self.limiter.observe_used_weight(used, now);
    }

    /// Whether `id` was decided (sent) before.
    #[must_use]
    pub fn was_decided(&self, id: &ClientOrderId) -> bool {
        self.decided.contains(id)
    }

    /// Marks ids as decided, e.g. those recorded in the database before a restart.
    pub fn remember_decided(&mut self, ids: impl IntoIterator<Item = ClientOrderId>) {
        for id in ids {
            self.decided.insert(id);
        }
    }

    /// The breaker state a request at `now` would see (for a gauge).
    #[must_use]
    pub fn breaker_state(&self, now: TimestampMs) -> BreakerState {
        self.breaker.state_at(now)
    }

    /// The circuit breaker.
    #[must_use]
    pub const fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The weight limiter.
    #[must_use]
    pub const fn limiter(&self) -> &WeightLimiter {
        &self.limiter
    }

    /// Decisions so far by label: `send`, `wait`, or a [`BlockReason::as_str`].
    #[must_use]
    pub const fn decision_counts(&self) -> &LabelCounts {
        &self.outcomes
    }

    /// Flatten decisions so far ([`ExecutorCore::decide_flatten`]), by the same labels.
    #[must_use]
    pub const fn flatten_decision_counts(&self) -> &LabelCounts {
        &self.flatten_outcomes
    }
}

#[cfg(test)]
#[path = "executor_core_tests.rs"]
mod tests;
