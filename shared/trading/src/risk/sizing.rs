//! The sizing arithmetic: Kelly fraction, volatility factor, lot rounding.

use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

/// The Kelly fraction of equity to bet on a win probability `p_win` with payoff ratio `b`
/// (average win / average loss): `p − (1 − p) / b`. Zero or below means no edge.
#[must_use]
pub fn kelly_fraction(p_win: f64, b: f64) -> f64 {
    p_win - (1.0 - p_win) / b
}

/// `min(1, target / realized)`: shrink when the market is more volatile than the target,
/// never grow. A realized volatility of 0 (or below, or not finite) gives 1.
#[must_use]
pub fn vol_factor(target: f64, realized: f64) -> f64 {
    if realized.is_finite() && realized > 0.0 {
        (target / realized).min(1.0)
    } else {
        1.0
    }
}

/// Converts a dimensionless factor in `[0, 1]` to a decimal, once, before it multiplies money:
/// rounded to 12 places, trailing zeros dropped; `None` if it is not finite.
#[must_use]
pub fn factor_to_decimal(x: f64) -> Option<Decimal> {
    Decimal::from_f64(x).map(|d| d.round_dp(12).normalize())
}

/// `quantity` rounded down to a multiple of `step` (`step` > 0); trailing zeros beyond the
/// step's scale are dropped.
#[must_use]
pub fn round_down_to_step(quantity: Decimal, step: Decimal) -> Decimal {
    if step <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    let steps = (quantity / step).floor();
    let rounded = steps * step;
    rounded.round_dp(step.scale())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    #[rstest]
    // p = 0.6, b = 1: 0.6 - 0.4 / 1 = 0.2
    #[case(0.6, 1.0, 0.2)]
    // p = 0.5, b = 1: 0.5 - 0.5 = 0, no edge
    #[case(0.5, 1.0, 0.0)]
    // p = 0.4, b = 2: 0.4 - 0.6 / 2 = 0.1
    #[case(0.4, 2.0, 0.1)]
    // p = 0.45, b = 1: 0.45 - 0.55 = -0.1
    #[case(0.45, 1.0, -0.1)]
    // p = 1, b = 1: all in
    #[case(1.0, 1.0, 1.0)]
    fn kelly_by_hand(#[case] p: f64, #[case] b: f64, #[case] expected: f64) {
        assert!((kelly_fraction(p, b) - expected).abs() < 1e-12);
    }

    #[rstest]
    #[case(0.002, 0.004, 0.5)]
    #[case(0.002, 0.001, 1.0)]
    #[case(0.002, 0.0, 1.0)]
    #[case(0.002, f64::NAN, 1.0)]
    fn vol_factor_cases(#[case] target: f64, #[case] realized: f64, #[case] expected: f64) {
        assert!((vol_factor(target, realized) - expected).abs() < 1e-12);
    }

    #[rstest]
    #[case(dec!(0.0021739), dec!(0.00001), dec!(0.00217))]
    #[case(dec!(0.00001), dec!(0.00001), dec!(0.00001))]
    #[case(dec!(0.000009), dec!(0.00001), dec!(0))]
    #[case(dec!(7.9), dec!(0.5), dec!(7.5))]
    #[case(dec!(12), dec!(5), dec!(10))]
    fn rounding_down(#[case] q: Decimal, #[case] step: Decimal, #[case] expected: Decimal) {
        let r = round_down_to_step(q, step);
        assert_eq!(r, expected);
        assert!((r % step).is_zero());
        assert!(r <= q);
    }

    #[test]
    fn factor_conversion() {
        assert_eq!(factor_to_decimal(0.25), Some(dec!(0.25)));
        assert_eq!(factor_to_decimal(f64::NAN), None);
    }
}
