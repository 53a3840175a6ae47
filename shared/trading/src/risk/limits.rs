//! The risk policy: what the risk manager allows, in numbers.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use levibot_core::Symbol;

/// Exchange lot rules for one symbol (Binance `LOT_SIZE` and `NOTIONAL` filters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LotRules {
    /// Quantities are multiples of this (above 0); sizes are rounded down to it.
    pub step: Decimal,
    /// The smallest order quantity (≥ 0).
    pub min_quantity: Decimal,
    /// The smallest order value, quantity × price, in quote currency (≥ 0).
    pub min_notional: Decimal,
}

/// The signal-flood throttle: at most `max_signals` signals per symbol in any `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleLimits {
    /// Signals allowed per window per symbol (≥ 1).
    pub max_signals: u32,
    /// The sliding window in ms (> 0).
    pub window_ms: i64,
}

/// Everything the risk manager enforces. Amounts are in the quote currency (USD / USDT).
///
/// Build one with [`RiskLimits::new`] (conservative defaults for the given symbols) and adjust
/// the public fields, or deserialize it from the policy; [`crate::risk::RiskManager::new`]
/// validates it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskLimits {
    /// The only symbols that may trade; any other is refused as unknown.
    pub allowed_symbols: BTreeSet<Symbol>,
    /// Symbols with a nonzero position, at most; a BUY opening one more is refused.
    pub max_open_positions: u32,
    /// The largest position value in any one symbol.
    pub max_position_usd: Decimal,
    /// Tighter per-symbol caps on the position value (a symbol absent here has only
    /// `max_position_usd`).
    #[serde(default)]
    pub symbol_caps_usd: BTreeMap<Symbol, Decimal>,
    /// Today's realized + unrealized loss that stops all trading until the next UTC day (or a
    /// reset); a positive amount.
    pub daily_loss_limit_usd: Decimal,
    /// The largest sum of all position values.
    pub max_total_exposure_usd: Decimal,
    /// Predictions less confident than this are refused, in `[0, 1]`.
    pub min_confidence: f64,
    /// The signal-flood throttle.
    pub throttle: ThrottleLimits,
    /// The fraction of full Kelly to bet, in `(0, 1]` (0.5 = half Kelly).
    pub kelly_multiplier: f64,
    /// The per-bar return standard deviation sizing aims at (above 0): positions shrink by
    /// `vol_target / realized_vol` when the market is more volatile than this. Depends on the
    /// bar interval (about 0.001–0.002 for 1m BTC).
    pub vol_target: f64,
    /// Signals whose bar opened longer ago than this are refused as stale data; `None` leaves
    /// staleness to the engine's bar check.
    #[serde(default)]
    pub max_signal_age_ms: Option<i64>,
    /// Lot rules for symbols absent from `symbol_lots`.
    pub default_lot: LotRules,
    /// Per-symbol lot rules.
    #[serde(default)]
    pub symbol_lots: BTreeMap<Symbol, LotRules>,
    /// How many signal ids the duplicate check remembers (≥ 1).
    pub dedupe_capacity: usize,
}

/// Why a [`RiskLimits`] is unusable: every problem found, at once.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid risk limits: {}", .problems.join("; "))]
pub struct RiskLimitsError {
    /// One line per problem.
    pub problems: Vec<String>,
}

impl RiskLimits {
    /// Conservative limits for `symbols`: 3 open positions, 1,000 per position, 3,000 total
    /// exposure, 200 daily loss, confidence ≥ 0.5, 4 signals per symbol per 15 min, half
    /// Kelly, volatility target 0.002 per bar, lots of 0.00001 with a 5.00 minimum notional
    /// (BTCUSDT's filters), 100,000 remembered signal ids.
    #[must_use]
    pub fn new(symbols: impl IntoIterator<Item = Symbol>) -> Self {
        Self {
            allowed_symbols: symbols.into_iter().collect(),
            max_open_positions: 3,
            max_position_usd: Decimal::from(1000),
            symbol_caps_usd: BTreeMap::new(),
            daily_loss_limit_usd: Decimal::from(200),
            max_total_exposure_usd: Decimal::from(3000),
            min_confidence: 0.5,
            throttle: ThrottleLimits {
                max_signals: 4,
                window_ms: 15 * 60_000,
            },
            kelly_multiplier: 0.5,
            vol_target: 0.002,
            max_signal_age_ms: None,
            default_lot: LotRules {
                step: Decimal::new(1, 5),
                min_quantity: Decimal::new(1, 5),
                min_notional: Decimal::from(5),
            },
            symbol_lots: BTreeMap::new(),
            dedupe_capacity: 100_000,
        }
    }

    /// The lot rules of `symbol`.
    #[must_use]
    pub fn lot(&self, symbol: Symbol) -> &LotRules {
        self.symbol_lots.get(&symbol).unwrap_or(&self.default_lot)
    }

    /// Checks every field.
    ///
    /// # Errors
    ///
    /// [`RiskLimitsError`] listing every problem.
    pub fn validate(&self) -> Result<(), RiskLimitsError> {
        let mut problems = Vec::new();
        let mut non_negative = |name: &str, v: Decimal| {
            if v.is_sign_negative() && !v.is_zero() {
                problems.push(format!("{name} must not be negative, got {v}"));
            }
        };
        non_negative("max_position_usd", self.max_position_usd);
        non_negative("daily_loss_limit_usd", self.daily_loss_limit_usd);
        non_negative("max_total_exposure_usd", self.max_total_exposure_usd);
        for (symbol, cap) in &self.symbol_caps_usd {
            non_negative(&format!("symbol_caps_usd.{symbol}"), *cap);
        }
        if !(self.min_confidence.is_finite() && (0.0..=1.0).contains(&self.min_confidence)) {
            problems.push(format!(
                "min_confidence must be in [0, 1], got {}",
                self.min_confidence
            ));
        }
        if !(self.kelly_multiplier.is_finite()
            && self.kelly_multiplier > 0.0
            && self.kelly_multiplier <= 1.0)
        {
            problems.push(format!(
                "kelly_multiplier must be in (0, 1], got {}",
                self.kelly_multiplier
            ));
        }
        if !(self.vol_target.is_finite() && self.vol_target > 0.0) {
            problems.push(format!(
                "vol_target must be above 0, got {}",
                self.vol_target
            ));
        }
        if self.throttle.max_signals == 0 {
            problems.push("throttle.max_signals must be at least 1".to_owned());
        }
        if self.throttle.window_ms <= 0 {
            problems.push(format!(
                "throttle.window_ms must be above 0, got {}",
                self.throttle.window_ms
            ));
        }
        if let Some(age) = self.max_signal_age_ms
            && age <= 0
        {
            problems.push(format!("max_signal_age_ms must be above 0, got {age}"));
        }
        if self.dedupe_capacity == 0 {
            problems.push("dedupe_capacity must be at least 1".to_owned());
        }
        let lots = std::iter::once(("default_lot".to_owned(), &self.default_lot)).chain(
            self.symbol_lots
                .iter()
                .map(|(s, l)| (format!("symbol_lots.{s}"), l)),
        );
        for (name, lot) in lots {
            if lot.step <= Decimal::ZERO {
                problems.push(format!("{name}.step must be above 0, got {}", lot.step));
            }
            if lot.min_quantity.is_sign_negative() && !lot.min_quantity.is_zero() {
                problems.push(format!(
                    "{name}.min_quantity must not be negative, got {}",
                    lot.min_quantity
                ));
            }
            if lot.min_notional.is_sign_negative() && !lot.min_notional.is_zero() {
                problems.push(format!(
                    "{name}.min_notional must not be negative, got {}",
                    lot.min_notional
                ));
            }
        }
        if self.allowed_symbols.is_empty() {
            problems.push("allowed_symbols must name at least one symbol".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(RiskLimitsError { problems })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn btc() -> Symbol {
        Symbol::new("BTCUSDT").unwrap()
    }

    #[test]
    fn defaults_are_valid() {
        RiskLimits::new([btc()]).validate().unwrap();
    }

    #[test]
    fn every_problem_is_listed() {
        let mut l = RiskLimits::new([]);
        l.max_position_usd = dec!(-1);
        l.min_confidence = f64::NAN;
        l.kelly_multiplier = 1.5;
        l.vol_target = 0.0;
        l.throttle = ThrottleLimits {
            max_signals: 0,
            window_ms: 0,
        };
        l.default_lot.step = Decimal::ZERO;
        l.dedupe_capacity = 0;
        l.max_signal_age_ms = Some(0);
        let err = l.validate().unwrap_err();
        assert_eq!(err.problems.len(), 10, "{err}");
    }

    #[test]
    fn serde_round_trip_and_unknown_fields() {
        let mut l = RiskLimits::new([btc()]);
        l.symbol_caps_usd.insert(btc(), dec!(500));
        let json = serde_json::to_string(&l).unwrap();
        assert!(
            json.contains(r#""symbol_caps_usd":{"BTCUSDT":"500"}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<RiskLimits>(&json).unwrap(), l);
        let bad = json.replacen('{', r#"{"surprise":1,"#, 1);
        assert!(serde_json::from_str::<RiskLimits>(&bad).is_err());
    }
}
