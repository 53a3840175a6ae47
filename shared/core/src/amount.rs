use std::str::FromStr;

use rust_decimal::Decimal;
use thiserror::Error;

/// Error returned when a decimal is not a valid [`Price`](crate::Price),
/// [`Quantity`](crate::Quantity) or [`Money`](crate::Money) amount.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AmountError {
    /// A price was zero or negative.
    #[error("price must be positive, got {0}")]
    PriceNotPositive(Decimal),
    /// A quantity was negative.
    #[error("quantity must not be negative, got {0}")]
    QuantityNegative(Decimal),
    /// A quantity that must be positive (an order size) was zero or negative.
    #[error("quantity must be positive, got {0}")]
    QuantityNotPositive(Decimal),
    /// A string was not a plain decimal number.
    #[error("invalid decimal {input:?}: {reason}")]
    Parse {
        /// The rejected input.
        input: String,
        /// Why it was rejected.
        reason: String,
    },
}

/// Parses a plain decimal string: an optional sign, digits, and optionally a
/// point followed by more digits (`-12.50`).
///
/// Stricter than [`Decimal::from_str`]: rejects `NaN`, `inf`, exponents,
/// underscores, whitespace and empty input.
pub(crate) fn parse_decimal(input: &str) -> Result<Decimal, AmountError> {
    let err = |reason: &str| AmountError::Parse {
        input: input.to_owned(),
        reason: reason.to_owned(),
    };
    let unsigned = input
        .strip_prefix('-')
        .or_else(|| input.strip_prefix('+'))
        .unwrap_or(input);
    let (int_part, frac_part) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part) || frac_part.is_some_and(|f| !all_digits(f)) {
        return Err(err(
            "expected digits with an optional sign and decimal point",
        ));
    }
    Decimal::from_str(input).map_err(|e| err(&e.to_string().to_lowercase()))
}

/// Implements the traits shared by the decimal newtypes: `Display`, `FromStr`
/// (via `parse_decimal` and the given validating constructor), conversion back
/// to `Decimal`, and string serde that re-validates on deserialize.
macro_rules! decimal_newtype_traits {
    ($ty:ident, $validate:expr, $expecting:literal) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::amount::AmountError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                ($validate)($crate::amount::parse_decimal(s)?)
            }
        }

        impl From<$ty> for ::rust_decimal::Decimal {
            fn from(v: $ty) -> Self {
                v.0
            }
        }

        $crate::serde_str::serde_via_str!($ty, $expecting);
    };
}

pub(crate) use decimal_newtype_traits;

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    #[rstest]
    #[case("0", dec!(0))]
    #[case("1", dec!(1))]
    #[case("-1.5", dec!(-1.5))]
    #[case("+2.25", dec!(2.25))]
    #[case("0.00100000", dec!(0.00100000))]
    #[case("65000.12345678", dec!(65000.12345678))]
    fn parses_plain_decimals(#[case] s: &str, #[case] expected: Decimal) {
        let d = parse_decimal(s).unwrap();
        assert_eq!(d, expected);
        assert_eq!(
            d.to_string(),
            expected.to_string(),
            "scale must be preserved"
        );
    }

    #[rstest]
    #[case("")]
    #[case("-")]
    #[case(".")]
    #[case(".5")]
    #[case("5.")]
    #[case("NaN")]
    #[case("nan")]
    #[case("inf")]
    #[case("-Infinity")]
    #[case("1e5")]
    #[case("1_000")]
    #[case(" 1")]
    #[case("1 ")]
    #[case("1.2.3")]
    #[case("--1")]
    #[case("0x10")]
    #[case("abc")]
    fn rejects_garbage(#[case] s: &str) {
        match parse_decimal(s) {
            Err(AmountError::Parse { input, .. }) => assert_eq!(input, s),
            other => panic!("expected parse error for {s:?}, got {other:?}"),
        }
    }

    #[test]
    fn rejects_overflow() {
        let huge = "9".repeat(40);
        assert!(matches!(
            parse_decimal(&huge),
            Err(AmountError::Parse { .. })
        ));
    }

    #[test]
    fn messages() {
        assert_eq!(
            AmountError::PriceNotPositive(dec!(-1.5)).to_string(),
            "price must be positive, got -1.5"
        );
        assert_eq!(
            parse_decimal("NaN").unwrap_err().to_string(),
            "invalid decimal \"NaN\": expected digits with an optional sign and decimal point"
        );
    }
}
