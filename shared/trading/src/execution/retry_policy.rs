//! What to do after sending an order: done, query first, retry later, or give up.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// How an order request ended, as the exchange adapter classifies the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum SendOutcome {
    /// The exchange accepted the order.
    Accepted,
    /// The exchange refused it definitively (-2010 insufficient balance, a filter failure…):
    /// sending it again would be refused again.
    Rejected,
    /// We do not know whether the order exists: a timeout, a 5xx, or -1007 "Send status
    /// unknown". It may have been placed.
    OutcomeUnknown,
    /// 429: a rate limit was broken before the order was processed (so it was not placed).
    RateLimited {
        /// The `Retry-After` header in ms.
        retry_after_ms: u64,
    },
    /// 418: the IP is banned until `Retry-After` (2 minutes to 3 days).
    Banned {
        /// The `Retry-After` header in ms.
        retry_after_ms: u64,
    },
}

impl SendOutcome {
    /// The stable snake_case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::OutcomeUnknown => "outcome_unknown",
            Self::RateLimited { .. } => "rate_limited",
            Self::Banned { .. } => "banned",
        }
    }
}

/// What a `GET /api/v3/order?origClientOrderId=…` after an unknown outcome found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryOutcome {
    /// The order exists (in any status): track it, never send it again.
    Found,
    /// -2013 "Order does not exist": it was not placed, so sending it again is safe.
    NotFound,
    /// The query itself failed (timeout, 5xx): still unknown.
    Failed,
}

/// The next step for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum NextAction {
    /// Nothing more to do (accepted, or found by the query): track the order.
    Done,
    /// The outcome is unknown: wait `after_ms`, query the order by its client order id, then
    /// decide with [`RetryPolicy::after_query`]. Never POST again blindly: Binance accepts a
    /// reused client order id once the first order is no longer open.
    QueryByClientOrderIdThenDecide {
        /// How long to wait before querying.
        after_ms: u64,
    },
    /// Send the same order (same client order id) again after this many ms.
    RetryAfter {
        /// The wait in ms.
        after_ms: u64,
    },
    /// Stop. After a definitive refusal the order is dead; after attempts ran out on an
    /// unknown outcome it must be reconciled (its state is still unknown).
    GiveUp,
}

/// Why a [`RetryPolicy`] is unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid retry policy: {0}")]
pub struct RetryPolicyError(String);

/// Exponential backoff with an attempts cap: attempt `n` (1-based) waits
/// `min(max_backoff_ms, base_backoff_ms × 2^(n−1))`, and no wait may exceed `max_wait_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts (sends and queries) allowed for one order, the first included (≥ 1).
    pub max_attempts: u32,
    /// The first backoff in ms (≥ 1).
    pub base_backoff_ms: u64,
    /// The largest backoff in ms (≥ `base_backoff_ms`).
    pub max_backoff_ms: u64,
    /// A `Retry-After` longer than this gives up instead of waiting (a 418 ban of hours).
    pub max_wait_ms: u64,
}

impl Default for RetryPolicy {
    /// 5 attempts, 200 ms doubling to 5 s, waits up to 60 s.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_backoff_ms: 200,
            max_backoff_ms: 5_000,
            max_wait_ms: 60_000,
        }
    }
}

impl RetryPolicy {
    /// Checks the fields.
    ///
    /// # Errors
    ///
    /// [`RetryPolicyError`] naming the first bad field.
    pub fn validate(&self) -> Result<(), RetryPolicyError> {
        if self.max_attempts == 0 {
            return Err(RetryPolicyError(
                "max_attempts must be at least 1".to_owned(),
            ));
        }
        if self.base_backoff_ms == 0 || self.max_backoff_ms < self.base_backoff_ms {
            return Err(RetryPolicyError(format!(
                "backoff must satisfy 1 <= base ({}) <= max ({})",
                self.base_backoff_ms, self.max_backoff_ms
            )));
        }
        Ok(())
    }

    /// The backoff before attempt `attempt + 1`, after `attempt` attempts (1-based).
    #[must_use]
    pub fn backoff_ms(&self, attempt: u32) -> u64 {
        let doublings = attempt.saturating_sub(1).min(63);
        self.base_backoff_ms
            .saturating_mul(1u64 << doublings)
            .min(self.max_backoff_ms)
    }

    /// What to do after `attempt` attempts (1-based) ended with `outcome`.
    #[must_use]
    pub fn after_send(&self, outcome: SendOutcome, attempt: u32) -> NextAction {
        match outcome {
            SendOutcome::Accepted => NextAction::Done,
            SendOutcome::Rejected => NextAction::GiveUp,
            // the query is the next attempt; attempts are not checked here because the
            // order's state must be learned either way
            SendOutcome::OutcomeUnknown => NextAction::QueryByClientOrderIdThenDecide {
                after_ms: self.backoff_ms(attempt),
            },
            SendOutcome::RateLimited { retry_after_ms } => {
                self.retry(attempt, retry_after_ms.max(self.backoff_ms(attempt)))
            }
            SendOutcome::Banned { retry_after_ms } => self.retry(attempt, retry_after_ms),
        }
    }

    /// What to do after the query following an unknown outcome; `attempt` counts every send
    /// and query so far.
    #[must_use]
    pub fn after_query(&self, outcome: QueryOutcome, attempt: u32) -> NextAction {
        match outcome {
            QueryOutcome::Found => NextAction::Done,
            QueryOutcome::NotFound => self.retry(attempt, self.backoff_ms(attempt)),
            QueryOutcome::Failed if attempt < self.max_attempts => {
                NextAction::QueryByClientOrderIdThenDecide {
                    after_ms: self.backoff_ms(attempt),
                }
            }
            QueryOutcome::Failed => NextAction::GiveUp,
        }
    }

    fn retry(&self, attempt: u32, wait_ms: u64) -> NextAction {
        if attempt >= self.max_attempts || wait_ms > self.max_wait_ms {
            NextAction::GiveUp
        } else {
            NextAction::RetryAfter { after_ms: wait_ms }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_backoff_ms: 100,
            max_backoff_ms: 1_000,
            max_wait_ms: 10_000,
        }
    }

    #[rstest]
    #[case(1, 100)]
    #[case(2, 200)]
    #[case(3, 400)]
    #[case(4, 800)]
    #[case(5, 1_000)]
    #[case(500, 1_000)]
    fn backoff_doubles_to_the_cap(#[case] attempt: u32, #[case] ms: u64) {
        assert_eq!(policy().backoff_ms(attempt), ms);
    }

    #[rstest]
    #[case::accepted(SendOutcome::Accepted, 1, NextAction::Done)]
    #[case::rejected(SendOutcome::Rejected, 1, NextAction::GiveUp)]
    #[case::unknown_queries(SendOutcome::OutcomeUnknown, 1, NextAction::QueryByClientOrderIdThenDecide { after_ms: 100 })]
    #[case::unknown_queries_even_at_cap(SendOutcome::OutcomeUnknown, 4, NextAction::QueryByClientOrderIdThenDecide { after_ms: 800 })]
    #[case::rate_limited_honours_retry_after(SendOutcome::RateLimited { retry_after_ms: 3_000 }, 1, NextAction::RetryAfter { after_ms: 3_000 })]
    #[case::rate_limited_at_least_backoff(SendOutcome::RateLimited { retry_after_ms: 0 }, 3, NextAction::RetryAfter { after_ms: 400 })]
    #[case::rate_limited_out_of_attempts(SendOutcome::RateLimited { retry_after_ms: 1 }, 4, NextAction::GiveUp)]
    #[case::banned_short(SendOutcome::Banned { retry_after_ms: 5_000 }, 1, NextAction::RetryAfter { after_ms: 5_000 })]
    #[case::banned_long(SendOutcome::Banned { retry_after_ms: 120_000 }, 1, NextAction::GiveUp)]
    fn after_send(#[case] outcome: SendOutcome, #[case] attempt: u32, #[case] next: NextAction) {
        assert_eq!(policy().after_send(outcome, attempt), next);
    }

    #[rstest]
    #[case::found(QueryOutcome::Found, 2, NextAction::Done)]
    #[case::not_found_resends(QueryOutcome::NotFound, 2, NextAction::RetryAfter { after_ms: 200 })]
    #[case::not_found_out_of_attempts(QueryOutcome::NotFound, 4, NextAction::GiveUp)]
    #[case::failed_queries_again(QueryOutcome::Failed, 2, NextAction::QueryByClientOrderIdThenDecide { after_ms: 200 })]
    #[case::failed_out_of_attempts(QueryOutcome::Failed, 4, NextAction::GiveUp)]
    fn after_query(#[case] outcome: QueryOutcome, #[case] attempt: u32, #[case] next: NextAction) {
        assert_eq!(policy().after_query(outcome, attempt), next);
    }

    #[test]
    fn validation() {
        RetryPolicy::default().validate().unwrap();
        let mut p = policy();
        p.max_attempts = 0;
        assert!(p.validate().is_err());
        let mut p = policy();
        p.max_backoff_ms = 10;
        assert!(p.validate().is_err());
    }

    #[test]
    fn serde_shapes() {
        assert_eq!(
            serde_json::to_string(&NextAction::RetryAfter { after_ms: 5 }).unwrap(),
            r#"{"action":"retry_after","after_ms":5}"#
        );
        assert_eq!(
            serde_json::to_string(&SendOutcome::Banned { retry_after_ms: 1 }).unwrap(),
            r#"{"outcome":"banned","retry_after_ms":1}"#
        );
    }
}
