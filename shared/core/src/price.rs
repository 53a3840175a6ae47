use rust_decimal::Decimal;

use crate::amount::{AmountError, decimal_newtype_traits};

/// A strictly positive price.
///
/// Serializes as a decimal string (`"65000.10"`); deserialization accepts
/// only strings and re-validates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(Decimal);

impl Price {
    /// Validates and wraps a price.
    ///
    /// # Errors
    ///
    /// Returns [`AmountError::PriceNotPositive`] if `value <= 0`.
    pub fn new(value: Decimal) -> Result<Self, AmountError> {
        if value > Decimal::ZERO {
            Ok(Self(value))
        } else {
            Err(AmountError::PriceNotPositive(value))
        }
    }

    /// The price as a decimal.
    #[must_use]
    pub const fn value(self) -> Decimal {
        self.0
    }
}

impl TryFrom<Decimal> for Price {
    type Error = AmountError;

    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

decimal_newtype_traits!(Price, Price::new, "a positive decimal string");

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;
    use serde::Deserialize;

    #[rstest]
    #[case(dec!(1))]
    #[case(dec!(0.00000001))]
    #[case(dec!(65000.10))]
    #[case(Decimal::MAX)]
    fn accepts_positive(#[case] d: Decimal) {
        assert_eq!(Price::new(d).unwrap().value(), d);
    }

    #[rstest]
    #[case(dec!(0), "price must be positive, got 0")]
    #[case(dec!(-0.00), "price must be positive, got 0.00")]
    #[case(dec!(-1.5), "price must be positive, got -1.5")]
    #[case(
        Decimal::MIN,
        "price must be positive, got -79228162514264337593543950335"
    )]
    fn rejects_non_positive(#[case] d: Decimal, #[case] msg: &str) {
        let err = Price::new(d).unwrap_err();
        assert_eq!(err, AmountError::PriceNotPositive(d));
        assert_eq!(err.to_string(), msg);
    }

    #[rstest]
    #[case("65000.10", Some(dec!(65000.10)))]
    #[case("0.1", Some(dec!(0.1)))]
    #[case("0", None)]
    #[case("-3", None)]
    #[case("NaN", None)]
    #[case("", None)]
    fn from_str(#[case] s: &str, #[case] expected: Option<Decimal>) {
        assert_eq!(s.parse::<Price>().ok().map(Price::value), expected);
    }

    #[test]
    fn display_preserves_scale() {
        assert_eq!(Price::new(dec!(65000.10)).unwrap().to_string(), "65000.10");
    }

    #[derive(Debug, Deserialize)]
    struct Wrapper {
        #[expect(dead_code, reason = "only deserialization is under test")]
        price: Price,
    }

    #[test]
    fn serde_round_trip() {
        let p = Price::new(dec!(65000.10)).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, "\"65000.10\"");
        let back: Price = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.to_string(), "65000.10");
    }

    #[rstest]
    #[case(r#"{"price":"-1"}"#, "price must be positive, got -1")]
    #[case(r#"{"price":"0"}"#, "price must be positive, got 0")]
    #[case(r#"{"price":"abc"}"#, "invalid decimal \"abc\"")]
    #[case(r#"{"price":"NaN"}"#, "invalid decimal \"NaN\"")]
    #[case(r#"{"price":1.5}"#, "invalid type: floating point")]
    #[case(r#"{"price":null}"#, "invalid type: null")]
    fn serde_rejects_invalid(#[case] json: &str, #[case] msg: &str) {
        let err = serde_json::from_str::<Wrapper>(json)
            .unwrap_err()
            .to_string();
        assert!(err.contains(msg), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn sign_decides_validity(m in proptest::num::i64::ANY, scale in 0u32..=18) {
            let d = Decimal::new(m, scale);
            proptest::prop_assert_eq!(Price::new(d).is_ok(), m > 0);
        }

        #[test]
        fn string_round_trip(m in 1i64.., scale in 0u32..=18) {
            let p = Price::new(Decimal::new(m, scale)).unwrap();
            let back: Price = p.to_string().parse().unwrap();
            proptest::prop_assert_eq!(back, p);
            proptest::prop_assert_eq!(back.to_string(), p.to_string());
        }
    }
}
