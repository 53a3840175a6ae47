use rust_decimal::Decimal;

use crate::amount::{AmountError, decimal_newtype_traits};

/// A signed amount of money: PnL, cash balances, fees (negative for rebates).
///
/// Any decimal is valid, so [`Money::new`] cannot fail; parsing still rejects
/// garbage. Serializes as a decimal string; deserialization accepts only
/// strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(Decimal);

impl Money {
    /// Zero.
    pub const ZERO: Self = Self(Decimal::ZERO);

    /// Wraps a signed amount.
    #[must_use]
    pub const fn new(value: Decimal) -> Self {
        Self(value)
    }

    /// The amount as a decimal.
    #[must_use]
    pub const fn value(self) -> Decimal {
        self.0
    }

    /// Whether the amount is below zero.
    #[must_use]
    pub const fn is_negative(self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }

    /// Adds two amounts, returning `None` on overflow.
    #[must_use]
    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }

    /// Subtracts `other`, returning `None` on overflow.
    #[must_use]
    pub fn checked_sub(self, other: Self) -> Option<Self> {
        self.0.checked_sub(other.0).map(Self)
    }
}

impl From<Decimal> for Money {
    fn from(value: Decimal) -> Self {
        Self(value)
    }
}

decimal_newtype_traits!(
    Money,
    |d| Ok::<_, AmountError>(Money::new(d)),
    "a decimal string"
);

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;
    use serde::Deserialize;

    #[rstest]
    #[case("0", dec!(0))]
    #[case("-12.5", dec!(-12.5))]
    #[case("1000000.01", dec!(1000000.01))]
    fn from_str_valid(#[case] s: &str, #[case] expected: Decimal) {
        let m: Money = s.parse().unwrap();
        assert_eq!(m.value(), expected);
        assert_eq!(m.to_string(), s);
    }

    #[rstest]
    #[case("")]
    #[case("NaN")]
    #[case("-inf")]
    #[case("1,5")]
    #[case("$5")]
    fn from_str_invalid(#[case] s: &str) {
        assert!(matches!(s.parse::<Money>(), Err(AmountError::Parse { .. })));
    }

    #[rstest]
    #[case(dec!(1.5), dec!(2.25), Some(dec!(3.75)), Some(dec!(-0.75)))]
    #[case(dec!(-10), dec!(4), Some(dec!(-6)), Some(dec!(-14)))]
    #[case(Decimal::MAX, dec!(1), None, Some(Decimal::MAX - dec!(1)))]
    #[case(Decimal::MIN, dec!(1), Some(Decimal::MIN + dec!(1)), None)]
    fn checked_arithmetic(
        #[case] a: Decimal,
        #[case] b: Decimal,
        #[case] sum: Option<Decimal>,
        #[case] diff: Option<Decimal>,
    ) {
        let (a, b) = (Money::new(a), Money::new(b));
        assert_eq!(a.checked_add(b).map(Money::value), sum);
        assert_eq!(a.checked_sub(b).map(Money::value), diff);
    }

    #[rstest]
    #[case(dec!(-0.01), true)]
    #[case(dec!(0), false)]
    #[case(dec!(-0), false)]
    #[case(dec!(3), false)]
    fn is_negative(#[case] d: Decimal, #[case] expected: bool) {
        assert_eq!(Money::new(d).is_negative(), expected);
    }

    #[derive(Debug, Deserialize)]
    struct Wrapper {
        pnl: Money,
    }

    #[test]
    fn serde_round_trip_and_rejection() {
        let m = Money::new(dec!(-42.10));
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, "\"-42.10\"");
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
        let w: Wrapper = serde_json::from_str(r#"{"pnl":"-3"}"#).unwrap();
        assert_eq!(w.pnl.value(), dec!(-3));
        assert!(serde_json::from_str::<Wrapper>(r#"{"pnl":"1e3"}"#).is_err());
        assert!(serde_json::from_str::<Wrapper>(r#"{"pnl":-3}"#).is_err());
    }
}
