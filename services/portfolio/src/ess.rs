//! When the books must trip the emergency stop system: the limits of the risk policy, the
//! measurements they are judged on, and [`BreachMonitor`], which turns a condition that holds
//! for many bars into one trip per breach episode (retried until policy-store takes it).

use std::collections::BTreeMap;
use std::fmt;

use levibot_policy_store::StoredPolicy;
use rust_decimal::Decimal;

/// What tripped the ESS, as policy-store names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Trigger {
    /// Drawdown from the equity peak reached the policy's maximum.
    Drawdown,
    /// Today's loss reached the policy's daily limit.
    DailyLoss,
    /// Total exposure went over the policy's limit.
    Exposure,
    /// The books disagree with the exchange.
    Reconciliation,
}

impl Trigger {
    /// The `trigger` of `TripEssRequest`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Trigger::Drawdown => "drawdown",
            Trigger::DailyLoss => "daily_loss",
            Trigger::Exposure => "exposure",
            Trigger::Reconciliation => "reconciliation",
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The limits the books are judged by; `None` turns a check off.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RiskLimits {
    /// Trip at or above this drawdown, in percent.
    pub max_drawdown_pct: Option<Decimal>,
    /// Trip when today's PnL is at or below minus this.
    pub daily_loss_limit: Option<Decimal>,
    /// Trip when total exposure is above this.
    pub max_total_exposure: Option<Decimal>,
    /// The policy version they come from (0: the configuration, before any policy arrived).
    pub policy_version: u64,
}

impl RiskLimits {
    /// The limits of the configuration (`risk.*`, and `trading.max_exposure_usd` as the
    /// policy-store derives its first version), in force until the first policy arrives.
    pub fn from_config(config: &levibot_config::Config) -> Self {
        Self {
            max_drawdown_pct: positive(config.risk.ess_max_drawdown_pct),
            daily_loss_limit: positive(config.risk.daily_loss_limit_usd),
            max_total_exposure: positive(config.trading.max_exposure_usd),
            policy_version: 0,
        }
    }

    /// The limits of a validated policy version; a zero limit turns its check off.
    pub fn from_policy(policy: &StoredPolicy) -> Self {
        let document = &policy.document;
        Self {
            max_drawdown_pct: positive(document.ess_max_drawdown_pct),
            daily_loss_limit: positive(document.daily_loss_limit_usd),
            max_total_exposure: positive(document.max_total_exposure_usd),
            policy_version: policy.version,
        }
    }
}

fn positive(value: Decimal) -> Option<Decimal> {
    (value > Decimal::ZERO).then_some(value)
}

/// The figures the limits are judged on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskMeasurement {
    /// Equity now.
    pub equity: Decimal,
    /// Highest equity.
    pub peak_equity: Decimal,
    /// Drawdown from the peak, in percent.
    pub drawdown_pct: Decimal,
    /// PnL since 00:00 UTC.
    pub daily_pnl: Decimal,
    /// Total exposure.
    pub total_exposure: Decimal,
}

/// A limit found broken: what policy-store's `TripEss` gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    /// What broke.
    pub trigger: Trigger,
    /// A sentence with the numbers.
    pub reason: String,
    /// The measurement, as a JSON object.
    pub detail_json: String,
}

/// Judges `m` against `limits`: for each trigger, the breach, or `None` when it holds.
pub fn evaluate(m: &RiskMeasurement, limits: &RiskLimits) -> Vec<(Trigger, Option<Breach>)> {
    let n = |value: Decimal| value.normalize().to_string();
    let detail = |limit_name: &str, limit: Decimal| {
        serde_json::json!({
            "equity": n(m.equity),
            "peak_equity": n(m.peak_equity),
            "drawdown_pct": n(m.drawdown_pct.round_dp(8)),
            "daily_pnl": n(m.daily_pnl),
            "total_exposure_usd": n(m.total_exposure),
            limit_name: n(limit),
            "policy_version": limits.policy_version,
        })
        .to_string()
    };
    let drawdown = limits
        .max_drawdown_pct
        .filter(|max| m.drawdown_pct >= *max)
        .map(|max| Breach {
            trigger: Trigger::Drawdown,
            reason: format!(
                "drawdown {}% from peak equity {} to {} reached the limit of {}%",
                n(m.drawdown_pct.round_dp(4)),
                n(m.peak_equity),
                n(m.equity),
                n(max)
            ),
            detail_json: detail("ess_max_drawdown_pct", max),
        });
    let daily = limits
        .daily_loss_limit
        .filter(|limit| m.daily_pnl <= -*limit)
        .map(|limit| Breach {
            trigger: Trigger::DailyLoss,
            reason: format!(
                "today's PnL {} reached the daily loss limit of {}",
                n(m.daily_pnl),
                n(limit)
            ),
            detail_json: detail("daily_loss_limit_usd", limit),
        });
    let exposure = limits
        .max_total_exposure
        .filter(|limit| m.total_exposure > *limit)
        .map(|limit| Breach {
            trigger: Trigger::Exposure,
            reason: format!(
                "total exposure {} is over the limit of {}",
                n(m.total_exposure),
                n(limit)
            ),
            detail_json: detail("max_total_exposure_usd", limit),
        });
    vec![
        (Trigger::Drawdown, drawdown),
        (Trigger::DailyLoss, daily),
        (Trigger::Exposure, exposure),
    ]
}

/// One trigger's episode: open from the first breach until the condition no longer holds
/// *and* the trip was reported.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Episode {
    breach: Breach,
    reported: bool,
}

/// Turns breach observations into trips: one per episode, re-offered until reported.
///
/// A breach opens an episode; [`due`](Self::due) offers it until [`reported`](Self::reported)
/// is called (the `TripEss` call succeeded). Further breaches of the same trigger while the
/// episode is open trip nothing. The episode closes when the condition no longer holds after
/// its trip was reported; a breach after that is a new episode. A breach whose condition
/// clears before its trip got through is still tripped: it happened.
#[derive(Debug, Clone, Default)]
pub struct BreachMonitor {
    episodes: BTreeMap<Trigger, Episode>,
}

impl BreachMonitor {
    /// Records what `trigger`'s condition is now: `Some` breached, `None` holding.
    pub fn observe(&mut self, trigger: Trigger, breach: Option<Breach>) {
        match (breach, self.episodes.get(&trigger)) {
            (Some(breach), None) => {
                self.episodes.insert(
                    trigger,
                    Episode {
                        breach,
                        reported: false,
                    },
                );
            }
            (Some(_), Some(_)) => {}
            (None, Some(episode)) if episode.reported => {
                self.episodes.remove(&trigger);
            }
            (None, _) => {}
        }
    }

    /// Breaches whose trip has not been reported yet.
    pub fn due(&self) -> Vec<Breach> {
        self.episodes
            .values()
            .filter(|e| !e.reported)
            .map(|e| e.breach.clone())
            .collect()
    }

    /// The trip of `trigger`'s open episode went through.
    pub fn reported(&mut self, trigger: Trigger) {
        if let Some(episode) = self.episodes.get_mut(&trigger) {
            episode.reported = true;
        }
    }

    /// Whether `trigger` has an open episode.
    pub fn is_breached(&self, trigger: Trigger) -> bool {
        self.episodes.contains_key(&trigger)
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn measurement(drawdown: Decimal, daily: Decimal, exposure: Decimal) -> RiskMeasurement {
        RiskMeasurement {
            equity: dec!(9000),
            peak_equity: dec!(10000),
            drawdown_pct: drawdown,
            daily_pnl: daily,
            total_exposure: exposure,
        }
    }

    fn limits() -> RiskLimits {
        RiskLimits {
            max_drawdown_pct: Some(dec!(10)),
            daily_loss_limit: Some(dec!(500)),
            max_total_exposure: Some(dec!(5000)),
            policy_version: 3,
        }
    }

    fn breached(m: &RiskMeasurement, l: &RiskLimits) -> Vec<Trigger> {
        evaluate(m, l)
            .into_iter()
            .filter_map(|(t, b)| b.map(|_| t))
            .collect()
    }

    #[test]
    fn limits_are_inclusive_for_losses_and_strict_for_exposure() {
        let l = limits();
        assert!(breached(&measurement(dec!(9.99), dec!(-499.99), dec!(5000)), &l).is_empty());
        assert_eq!(
            breached(&measurement(dec!(10), dec!(-500), dec!(5000.01)), &l),
            vec![Trigger::Drawdown, Trigger::DailyLoss, Trigger::Exposure]
        );
        assert!(
            breached(
                &measurement(dec!(50), dec!(-5000), dec!(1e6)),
                &RiskLimits::default()
            )
            .is_empty()
        );
    }

    #[test]
    fn a_breach_carries_its_numbers() {
        let (_, breach) = evaluate(&measurement(dec!(12.5), dec!(0), dec!(0)), &limits())
            .into_iter()
            .next()
            .unwrap();
        let breach = breach.unwrap();
        assert!(breach.reason.contains("12.5%"), "{}", breach.reason);
        assert!(breach.reason.contains("10%"), "{}", breach.reason);
        let detail: serde_json::Value = serde_json::from_str(&breach.detail_json).unwrap();
        assert_eq!(detail["drawdown_pct"], "12.5");
        assert_eq!(detail["ess_max_drawdown_pct"], "10");
        assert_eq!(detail["policy_version"], 3);
    }

    #[test]
    fn one_trip_per_episode_retried_until_reported() {
        let mut monitor = BreachMonitor::default();
        let breach = |n: u32| Breach {
            trigger: Trigger::Drawdown,
            reason: format!("bar {n}"),
            detail_json: "{}".into(),
        };
        monitor.observe(Trigger::Drawdown, Some(breach(1)));
        monitor.observe(Trigger::Drawdown, Some(breach(2)));
        assert_eq!(monitor.due(), vec![breach(1)]);
        // the call failed: offered again, even after the condition cleared
        monitor.observe(Trigger::Drawdown, None);
        assert_eq!(monitor.due(), vec![breach(1)]);
        monitor.reported(Trigger::Drawdown);
        assert!(monitor.due().is_empty());
        // still breached: nothing new
        monitor.observe(Trigger::Drawdown, Some(breach(3)));
        assert!(monitor.due().is_empty());
        // cleared, then breached again: a new episode
        monitor.observe(Trigger::Drawdown, None);
        assert!(!monitor.is_breached(Trigger::Drawdown));
        monitor.observe(Trigger::Drawdown, Some(breach(4)));
        assert_eq!(monitor.due(), vec![breach(4)]);
    }

    #[test]
    fn a_policy_version_becomes_limits_and_zero_turns_a_check_off() {
        let config = levibot_config::Config::default();
        let mut document = levibot_policy_store::PolicyDocument::from_config(&config);
        document.max_total_exposure_usd = dec!(2500);
        document.daily_loss_limit_usd = dec!(0);
        let stored = StoredPolicy {
            version: 7,
            document,
            created: levibot_core::TimestampMs::new(1),
            author: levibot_policy_store::policy::Author {
                name: "t".into(),
                role: "admin".into(),
            },
            reason: String::new(),
        };
        let l = RiskLimits::from_policy(&stored);
        assert_eq!(l.max_total_exposure, Some(dec!(2500)));
        assert_eq!(l.daily_loss_limit, None);
        assert_eq!(l.max_drawdown_pct, Some(config.risk.ess_max_drawdown_pct));
        assert_eq!(l.policy_version, 7);
        let from_config = RiskLimits::from_config(&config);
        assert_eq!(
            from_config.max_total_exposure,
            Some(config.trading.max_exposure_usd)
        );
        assert_eq!(from_config.policy_version, 0);
    }
}
