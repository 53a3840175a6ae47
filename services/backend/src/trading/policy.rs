//! The risk policy in force. policy-store streams every new version (`WatchPolicy`); the desk
//! turns each into risk limits and hands them to the risk manager at once, without a restart.
//! A version the risk manager refuses is logged and the previous one stays in force.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use levibot_core::Symbol;
use levibot_policy_store::{PolicyDocument, PolicyWatch, StoredPolicy};
use levibot_trading::RiskLimits;
use levibot_trading::risk::ThrottleLimits;
use tokio_util::sync::CancellationToken;

use super::TradingDesk;

/// `base` (what the policy does not govern: sizing, lots, dedupe) with the policy's limits.
///
/// # Errors
///
/// A symbol of the policy that is not a symbol (policy-store validates them, so this means a
/// newer policy format than this backend knows).
pub fn limits_from_policy(
    base: &RiskLimits,
    policy: &PolicyDocument,
) -> Result<RiskLimits, String> {
    let symbol = |text: &str| Symbol::from_str(text).map_err(|e| format!("symbol {text}: {e}"));
    let mut limits = base.clone();
    limits.allowed_symbols = policy
        .symbols
        .iter()
        .map(|s| symbol(s))
        .collect::<Result<_, _>>()?;
    limits.max_open_positions = policy.max_positions;
    limits.max_position_usd = policy.max_position_usd;
    limits.symbol_caps_usd = policy
        .symbol_caps
        .iter()
        .map(|cap| Ok((symbol(&cap.symbol)?, cap.max_position_usd)))
        .collect::<Result<_, String>>()?;
    limits.daily_loss_limit_usd = policy.daily_loss_limit_usd;
    limits.max_total_exposure_usd = policy.max_total_exposure_usd;
    limits.min_confidence = policy.min_confidence;
    limits.throttle = ThrottleLimits {
        max_signals: policy.throttle_max_signals,
        window_ms: policy.throttle_window_ms,
    };
    Ok(limits)
}

impl TradingDesk {
    /// Applies every policy version `watch` receives until `shutdown`; `base` supplies what
    /// the policy does not govern.
    pub async fn follow_policy(
        self: Arc<Self>,
        watch: PolicyWatch,
        base: RiskLimits,
        shutdown: CancellationToken,
    ) {
        let mut changes = watch.subscribe();
        loop {
            let current = changes.borrow_and_update().clone();
            if let Some(policy) = current {
                self.apply_policy(&policy, &base);
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = changes.changed() => if changed.is_err() { return },
            }
        }
    }

    /// Puts `policy` in force, unless the risk manager refuses it.
    pub fn apply_policy(&self, policy: &StoredPolicy, base: &RiskLimits) {
        let running = self.policy_version.load(Ordering::Relaxed);
        if policy.version == running {
            return;
        }
        let applied = limits_from_policy(base, &policy.document).and_then(|limits| {
            self.core()
                .risk
                .set_limits(limits)
                .map_err(|e| e.to_string())
        });
        match applied {
            Ok(()) => {
                self.flatten_on_trip
                    .store(policy.document.ess_flatten_on_trip, Ordering::Release);
                self.policy_version.store(policy.version, Ordering::Release);
                self.metrics
                    .policy_version
                    .set(i64::try_from(policy.version).unwrap_or(i64::MAX));
                tracing::info!(version = policy.version, previous = running, reason = %policy.reason, flatten_on_trip = policy.document.ess_flatten_on_trip, "risk policy in force");
            }
            Err(err) => {
                tracing::error!(version = policy.version, running, error = %err, "risk policy refused; the running version stays in force");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use levibot_config::{LaunchProfile, TradingConfig};

    use super::*;

    #[test]
    fn every_limit_the_policy_governs_comes_from_it_and_the_rest_from_the_base() {
        let mut document =
            PolicyDocument::from_profile(LaunchProfile::Expansion, &TradingConfig::default());
        document.max_positions = 7;
        document.min_confidence = 0.61;
        document.throttle_max_signals = 9;
        let mut base = RiskLimits::new([]);
        base.kelly_multiplier = 0.25;
        let limits = limits_from_policy(&base, &document).unwrap();
        assert_eq!(limits.max_open_positions, 7);
        assert!((limits.min_confidence - 0.61).abs() < f64::EPSILON);
        assert_eq!(limits.throttle.max_signals, 9);
        assert_eq!(limits.max_position_usd, document.max_position_usd);
        assert_eq!(limits.daily_loss_limit_usd, document.daily_loss_limit_usd);
        assert_eq!(
            limits.max_total_exposure_usd,
            document.max_total_exposure_usd
        );
        assert_eq!(limits.allowed_symbols.len(), document.symbols.len());
        assert!((limits.kelly_multiplier - 0.25).abs() < f64::EPSILON);
        assert!(limits.validate().is_ok());
    }
}
