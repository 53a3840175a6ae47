//! The rule-based reference strategy: a fast/slow exponential moving average cross.

use rust_decimal::prelude::ToPrimitive;
use thiserror::Error;

use levibot_core::Bar;

use crate::data_quality::DataQuality;
use crate::prediction::Prediction;
use crate::strategy::Strategy;

/// Settings of [`EmaCross`].
///
/// How a cross becomes numbers: with the relative spread `s = (fast − slow) / slow` on the
/// crossing bar and `x = tanh(|s| / spread_scale)` in `[0, 1)`,
///
/// - the edge is `base_edge + (max_edge − base_edge) · x`,
/// - `probability_up = 0.5 + edge` on a golden cross (BUY), `0.5 − edge` on a death cross
///   (SELL),
/// - `confidence = 0.5 + 0.5 · x`.
///
/// A cross that barely happened is a weak signal (edge near `base_edge`, confidence near 0.5);
/// a cross through a wide gap (a sharp move) saturates at `max_edge` and confidence 1.
#[derive(Debug, Clone, PartialEq)]
pub struct EmaCrossConfig {
    /// Fast EMA length in bars (≥ 1).
    pub fast: usize,
    /// Slow EMA length in bars (> `fast`).
    pub slow: usize,
    /// The edge over 0.5 of the weakest cross, in `[0, max_edge]`.
    pub base_edge: f64,
    /// The edge over 0.5 of the strongest cross, below 0.5.
    pub max_edge: f64,
    /// The relative spread at which `x` reaches tanh(1) ≈ 0.76; above 0.
    pub spread_scale: f64,
}

impl Default for EmaCrossConfig {
    /// 9/21 bars, edge 0.02 to 0.10, spread scale 5 bps.
    fn default() -> Self {
        Self {
            fast: 9,
            slow: 21,
            base_edge: 0.02,
            max_edge: 0.10,
            spread_scale: 0.0005,
        }
    }
}

/// Why an [`EmaCrossConfig`] is unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid ema cross config: {0}")]
pub struct EmaCrossConfigError(String);

/// Emits a BUY prediction when the fast EMA of closes crosses above the slow one (golden
/// cross) and a SELL prediction when it crosses below (death cross); nothing otherwise.
///
/// Both EMAs start at the first close and use `alpha = 2 / (n + 1)`. Nothing is emitted
/// before `slow` bars have been seen. EMAs are `f64`: this is a model, its outputs are a
/// probability and a confidence, never money.
#[derive(Debug, Clone)]
pub struct EmaCross {
    config: EmaCrossConfig,
    name: String,
    alpha_fast: f64,
    alpha_slow: f64,
    ema_fast: f64,
    ema_slow: f64,
    bars_seen: usize,
    /// The sign of `fast − slow` after warm-up: `1`, `-1`, or `0` before the first nonzero.
    last_sign: i8,
}

impl EmaCross {
    /// Builds the strategy; its name is `ema_cross_<fast>_<slow>`.
    ///
    /// # Errors
    ///
    /// [`EmaCrossConfigError`] naming every bad field.
    pub fn new(config: EmaCrossConfig) -> Result<Self, EmaCrossConfigError> {
        let mut problems = Vec::new();
        if config.fast == 0 {
            problems.push("fast must be at least 1".to_owned());
        }
        if config.slow <= config.fast {
            problems.push(format!(
                "slow ({}) must be above fast ({})",
                config.slow, config.fast
            ));
        }
        if !(config.max_edge.is_finite() && (0.0..0.5).contains(&config.max_edge)) {
            problems.push(format!(
                "max_edge must be in [0, 0.5), got {}",
                config.max_edge
            ));
        }
        if !(config.base_edge.is_finite()
            && config.base_edge >= 0.0
            && config.base_edge <= config.max_edge)
        {
            problems.push(format!(
                "base_edge must be in [0, max_edge], got {}",
                config.base_edge
            ));
        }
        if !(config.spread_scale.is_finite() && config.spread_scale > 0.0) {
            problems.push(format!(
                "spread_scale must be above 0, got {}",
                config.spread_scale
            ));
        }
        if !problems.is_empty() {
            return Err(EmaCrossConfigError(problems.join("; ")));
        }
        #[expect(
            clippy::cast_precision_loss,
            reason = "EMA lengths are small bar counts, exact in f64"
        )]
        let alpha = |n: usize| 2.0 / (n as f64 + 1.0);
        Ok(Self {
            name: format!("ema_cross_{}_{}", config.fast, config.slow),
            alpha_fast: alpha(config.fast),
            alpha_slow: alpha(config.slow),
            config,
            ema_fast: 0.0,
            ema_slow: 0.0,
            bars_seen: 0,
            last_sign: 0,
        })
    }

    /// The settings.
    #[must_use]
    pub const fn config(&self) -> &EmaCrossConfig {
        &self.config
    }

    /// The current fast and slow EMAs, once at least one bar was seen.
    #[must_use]
    pub const fn emas(&self) -> Option<(f64, f64)> {
        if self.bars_seen == 0 {
            None
        } else {
            Some((self.ema_fast, self.ema_slow))
        }
    }

    fn prediction(&self, golden: bool) -> Option<Prediction> {
        let spread = (self.ema_fast - self.ema_slow) / self.ema_slow;
        let x = (spread.abs() / self.config.spread_scale).tanh();
        let edge = (self.config.max_edge - self.config.base_edge).mul_add(x, self.config.base_edge);
        let probability_up = if golden { 0.5 + edge } else { 0.5 - edge };
        let confidence = 0.5f64.mul_add(x, 0.5);
        // out-of-range numbers (a non-finite close) make `new` fail: no prediction then
        Prediction::new(
            probability_up,
            confidence,
            self.name.clone(),
            DataQuality::Ok,
        )
        .ok()
    }
}

impl Strategy for EmaCross {
    fn name(&self) -> &str {
        &self.name
    }

    fn on_bar(&mut self, bar: &Bar) -> Option<Prediction> {
        let close = bar.close().value().to_f64()?;
        if self.bars_seen == 0 {
            self.ema_fast = close;
            self.ema_slow = close;
        } else {
            self.ema_fast += self.alpha_fast * (close - self.ema_fast);
            self.ema_slow += self.alpha_slow * (close - self.ema_slow);
        }
        self.bars_seen = self.bars_seen.saturating_add(1);
        if self.bars_seen < self.config.slow {
            return None;
        }
        let diff = self.ema_fast - self.ema_slow;
        let sign: i8 = if diff > 0.0 {
            1
        } else if diff < 0.0 {
            -1
        } else {
            // equal EMAs: no new side yet, the previous one stands
            return None;
        };
        let previous = std::mem::replace(&mut self.last_sign, sign);
        match (previous, sign) {
            (-1, 1) => self.prediction(true),
            (1, -1) => self.prediction(false),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use levibot_core::{Interval, Price, Quantity, Side, Symbol, TimestampMs};
    use rust_decimal::Decimal;

    fn bar(i: i64, close: i64) -> Bar {
        let c = Price::new(Decimal::from(close)).unwrap();
        Bar::new(
            Symbol::new("BTCUSDT").unwrap(),
            Interval::M1,
            TimestampMs::new(i * 60_000),
            c,
            c,
            c,
            c,
            Quantity::new(Decimal::ONE).unwrap(),
        )
        .unwrap()
    }

    fn small() -> EmaCross {
        EmaCross::new(EmaCrossConfig {
            fast: 2,
            slow: 4,
            ..EmaCrossConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn golden_then_death_cross() {
        let mut s = small();
        assert_eq!(s.name(), "ema_cross_2_4");
        // falling, then a jump up, then a crash
        let closes = [100, 99, 98, 97, 96, 110, 111, 90, 89];
        let out: Vec<Option<Prediction>> = closes
            .iter()
            .zip(0..)
            .map(|(c, i)| s.on_bar(&bar(i, *c)))
            .collect();
        // warm-up (4 bars) and the falling bar: no cross yet
        assert!(out[..5].iter().all(Option::is_none), "{out:?}");
        let golden = out[5].as_ref().unwrap();
        assert_eq!(golden.side(), Some(Side::Buy));
        assert!(golden.probability_up() > 0.5 && golden.probability_up() <= 0.6);
        assert!(golden.confidence() >= 0.5);
        assert_eq!(golden.source(), "ema_cross_2_4");
        assert!(out[6].is_none());
        let death = out[7].as_ref().unwrap();
        assert_eq!(death.side(), Some(Side::Sell));
        assert!(death.probability_up() < 0.5 && death.probability_up() >= 0.4);
        assert!(out[8].is_none());
    }

    #[test]
    fn mapping_by_hand() {
        // a strategy whose EMAs we set directly: spread 5 bps = spread_scale → x = tanh(1)
        let mut s = small();
        s.ema_fast = 100.05;
        s.ema_slow = 100.0;
        let p = s.prediction(true).unwrap();
        let x = 1f64.tanh(); // 0.761594
        assert!((p.probability_up() - (0.5 + 0.02 + 0.08 * x)).abs() < 1e-3);
        assert!((p.confidence() - (0.5 + 0.5 * x)).abs() < 1e-3);
        // 0.5 + 0.02 + 0.0609 = 0.5809; confidence 0.8808
        assert!((p.probability_up() - 0.5809).abs() < 1e-4);
        assert!((p.confidence() - 0.8808).abs() < 1e-4);
    }

    #[test]
    fn flat_prices_never_cross() {
        let mut s = small();
        assert!((0..50).all(|i| s.on_bar(&bar(i, 100)).is_none()));
        assert_eq!(s.emas().map(|(f, _)| f.round()), Some(100.0));
    }

    #[test]
    fn bad_configs_are_named() {
        let err = EmaCross::new(EmaCrossConfig {
            fast: 0,
            slow: 0,
            base_edge: -0.1,
            max_edge: 0.6,
            spread_scale: 0.0,
        })
        .unwrap_err()
        .to_string();
        for what in ["fast", "slow", "max_edge", "base_edge", "spread_scale"] {
            assert!(err.contains(what), "{err}");
        }
    }
}
