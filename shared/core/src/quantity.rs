use rust_decimal::Decimal;

use crate::amount::{AmountError, decimal_newtype_traits};

/// A non-negative quantity of an asset (order size, traded volume).
///
/// Zero is allowed (an empty bar has zero volume); use
/// [`Quantity::positive`] where zero makes no sense, such as order sizes.
/// Serializes as a decimal string; deserialization accepts only strings and
/// re-validates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(Decimal);

impl Quantity {
    /// A zero quantity.
    pub const ZERO: Self = Self(Decimal::ZERO);

    /// Validates and wraps a non-negative quantity.
    ///
    /// # Errors
    ///
    /// Returns [`AmountError::QuantityNegative`] if `value < 0`.
    pub fn new(value: Decimal) -> Result<Self, AmountError> {
        if value.is_sign_negative() && !value.is_zero() {
            Err(AmountError::QuantityNegative(value))
        } else {
            // normalise -0 to 0 so it displays without a sign
            Ok(Self(if value.is_zero() {
                Decimal::new(0, value.scale())
            } else {
                value
            }))
        }
    }

    /// Validates and wraps a strictly positive quantity, e.g. an order size.
    ///
    /// # Errors
    ///
    /// Returns [`AmountError::QuantityNotPositive`] if `value <= 0`.
    pub fn positive(value: Decimal) -> Result<Self, AmountError> {
        if value > Decimal::ZERO {
            Ok(Self(value))
        } else {
            Err(AmountError::QuantityNotPositive(value))
        }
    }

    /// The quantity as a decimal.
    #[must_use]
    pub const fn value(self) -> Decimal {
        self.0
    }

    /// Whether the quantity is zero.
    #[must_use]
    pub const fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl TryFrom<Decimal> for Quantity {
    type Error = AmountError;

    /// Same as [`Quantity::new`].
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

decimal_newtype_traits!(Quantity, Quantity::new, "a non-negative decimal string");

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;
    use serde::Deserialize;

    #[rstest]
    #[case(dec!(0), "0")]
    #[case(dec!(0.000), "0.000")]
    #[case(dec!(-0.0), "0.0")]
    #[case(dec!(0.001), "0.001")]
    #[case(dec!(12345.6789), "12345.6789")]
    fn new_accepts_non_negative(#[case] d: Decimal, #[case] shown: &str) {
        let q = Quantity::new(d).unwrap();
        assert_eq!(q.value(), d);
        assert_eq!(q.to_string(), shown);
    }

    #[rstest]
    #[case(dec!(-0.001), "quantity must not be negative, got -0.001")]
    #[case(dec!(-5), "quantity must not be negative, got -5")]
    fn new_rejects_negative(#[case] d: Decimal, #[case] msg: &str) {
        let err = Quantity::new(d).unwrap_err();
        assert_eq!(err, AmountError::QuantityNegative(d));
        assert_eq!(err.to_string(), msg);
    }

    #[rstest]
    #[case(dec!(0.001), Ok(dec!(0.001)))]
    #[case(dec!(2), Ok(dec!(2)))]
    #[case(dec!(0), Err(AmountError::QuantityNotPositive(dec!(0))))]
    #[case(dec!(-1), Err(AmountError::QuantityNotPositive(dec!(-1))))]
    fn positive(#[case] d: Decimal, #[case] expected: Result<Decimal, AmountError>) {
        assert_eq!(Quantity::positive(d).map(Quantity::value), expected);
    }

    #[test]
    fn positive_error_message() {
        assert_eq!(
            Quantity::positive(dec!(0)).unwrap_err().to_string(),
            "quantity must be positive, got 0"
        );
    }

    #[test]
    fn zero() {
        assert!(Quantity::ZERO.is_zero());
        assert!(!Quantity::new(dec!(1)).unwrap().is_zero());
        assert_eq!(Quantity::ZERO, Quantity::new(dec!(0.00)).unwrap());
    }

    #[rstest]
    #[case("0", Some(dec!(0)))]
    #[case("1.25", Some(dec!(1.25)))]
    #[case("-1", None)]
    #[case("1e3", None)]
    #[case("inf", None)]
    fn from_str(#[case] s: &str, #[case] expected: Option<Decimal>) {
        assert_eq!(s.parse::<Quantity>().ok().map(Quantity::value), expected);
    }

    #[derive(Debug, Deserialize)]
    struct Wrapper {
        qty: Quantity,
    }

    #[test]
    fn serde_round_trip() {
        let q = Quantity::new(dec!(0.00100000)).unwrap();
        let json = serde_json::to_string(&q).unwrap();
        assert_eq!(json, "\"0.00100000\"");
        assert_eq!(serde_json::from_str::<Quantity>(&json).unwrap(), q);
        let w: Wrapper = serde_json::from_str(r#"{"qty":"0"}"#).unwrap();
        assert!(w.qty.is_zero());
    }

    #[rstest]
    #[case(r#"{"qty":"-1"}"#)]
    #[case(r#"{"qty":"x"}"#)]
    #[case(r#"{"qty":1}"#)]
    fn serde_rejects_invalid(#[case] json: &str) {
        assert!(
            serde_json::from_str::<Wrapper>(json).is_err(),
            "accepted {json}"
        );
    }

    proptest::proptest! {
        #[test]
        fn sign_decides_validity(m in proptest::num::i64::ANY, scale in 0u32..=18) {
            let d = Decimal::new(m, scale);
            proptest::prop_assert_eq!(Quantity::new(d).is_ok(), m >= 0);
            proptest::prop_assert_eq!(Quantity::positive(d).is_ok(), m > 0);
        }
    }
}
