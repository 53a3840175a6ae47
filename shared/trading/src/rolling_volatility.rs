//! The realized volatility the risk manager targets: the standard deviation of simple
//! per-bar returns over a rolling window of closes.

use std::collections::VecDeque;

use rust_decimal::prelude::ToPrimitive;

use levibot_core::Price;

/// A rolling window of per-bar returns `close_t / close_{t-1} − 1`, giving their sample
/// standard deviation.
///
/// Returns are dimensionless, so they are `f64`. The deviation is recomputed over the window
/// on each query (two passes over at most `window` values): no drift from incremental
/// updates, and still well under a microsecond for a window of a few hundred.
#[derive(Debug, Clone)]
pub struct RollingVolatility {
    window: usize,
    returns: VecDeque<f64>,
    last_close: Option<f64>,
}

impl RollingVolatility {
    /// A window of `window` returns (at least 2; smaller values are raised to 2).
    #[must_use]
    pub fn new(window: usize) -> Self {
        let window = window.max(2);
        Self {
            window,
            returns: VecDeque::with_capacity(window),
            last_close: None,
        }
    }

    /// Adds one close (oldest first).
    pub fn push(&mut self, close: Price) {
        let Some(close) = close.value().to_f64() else {
            return;
        };
        if let Some(prev) = self.last_close.replace(close)
            && prev > 0.0
        {
            if self.returns.len() == self.window {
                self.returns.pop_front();
            }
            self.returns.push_back(close / prev - 1.0);
        }
    }

    /// The number of returns held (at most the window).
    #[must_use]
    pub fn len(&self) -> usize {
        self.returns.len()
    }

    /// Whether no return is held yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.returns.is_empty()
    }

    /// Whether the window is full.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.returns.len() == self.window
    }

    /// The sample standard deviation of the returns, once the window is full; `None` before,
    /// so sizing never rests on a handful of bars.
    #[must_use]
    pub fn stdev(&self) -> Option<f64> {
        if !self.is_full() {
            return None;
        }
        Some(sample_stdev(self.returns.iter().copied()))
    }
}

/// The sample standard deviation (n − 1 denominator) of at least two values; 0 otherwise.
#[must_use]
pub fn sample_stdev(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let (n, sum) = values.clone().fold((0u32, 0.0), |(n, s), v| (n + 1, s + v));
    if n < 2 {
        return 0.0;
    }
    let mean = sum / f64::from(n);
    let ss: f64 = values.map(|v| (v - mean) * (v - mean)).sum();
    (ss / f64::from(n - 1)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn p(d: rust_decimal::Decimal) -> Price {
        Price::new(d).unwrap()
    }

    #[test]
    fn stdev_by_hand() {
        // closes 100, 110, 99, 108.9: returns +0.10, -0.10, +0.10
        // mean 1/30, deviations 0.0667, -0.1333, 0.0667, squares sum 0.02667,
        // / (3 - 1) = 0.013333, sqrt = 0.11547
        let mut v = RollingVolatility::new(3);
        for c in [dec!(100), dec!(110), dec!(99)] {
            v.push(p(c));
            assert_eq!(v.stdev(), None);
        }
        v.push(p(dec!(108.9)));
        assert_eq!(v.len(), 3);
        assert!((v.stdev().unwrap() - 0.115_470).abs() < 1e-6);
    }

    #[test]
    fn window_rolls() {
        let mut v = RollingVolatility::new(2);
        for c in [dec!(100), dec!(200), dec!(100), dec!(101), dec!(102.01)] {
            v.push(p(c));
        }
        // the last two returns are +1% and +1%: no dispersion
        assert!(v.stdev().unwrap() < 1e-12);
        assert!(v.is_full());
    }

    #[test]
    fn small_samples() {
        assert!(sample_stdev([1.0].into_iter()).abs() < f64::EPSILON);
        assert!(sample_stdev(std::iter::empty()).abs() < f64::EPSILON);
    }
}
