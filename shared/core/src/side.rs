use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use thiserror::Error;

use crate::serde_str::serde_via_str;

/// The side of an order or trade.
///
/// Serializes as `"BUY"` / `"SELL"`; parsing and deserialization accept any
/// case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// Buying the base asset.
    Buy,
    /// Selling the base asset.
    Sell,
}

impl Side {
    /// The other side.
    #[must_use]
    pub const fn opposite(self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }

    /// `+1` for [`Side::Buy`], `-1` for [`Side::Sell`]; multiply a quantity by
    /// this to get a signed position change.
    #[must_use]
    pub const fn sign(self) -> Decimal {
        match self {
            Self::Buy => Decimal::ONE,
            Self::Sell => Decimal::NEGATIVE_ONE,
        }
    }

    /// `"BUY"` or `"SELL"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "BUY",
            Self::Sell => "SELL",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error returned when a string is not a [`Side`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown side {value:?}, expected BUY or SELL")]
pub struct SideParseError {
    /// The rejected input.
    pub value: String,
}

impl FromStr for Side {
    type Err = SideParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("BUY") {
            Ok(Self::Buy)
        } else if s.eq_ignore_ascii_case("SELL") {
            Ok(Self::Sell)
        } else {
            Err(SideParseError {
                value: s.to_owned(),
            })
        }
    }
}

serde_via_str!(Side, "\"BUY\" or \"SELL\"");

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    #[rstest]
    #[case("BUY", Side::Buy)]
    #[case("buy", Side::Buy)]
    #[case("Buy", Side::Buy)]
    #[case("SELL", Side::Sell)]
    #[case("sell", Side::Sell)]
    #[case("sElL", Side::Sell)]
    fn parse_valid(#[case] s: &str, #[case] expected: Side) {
        assert_eq!(s.parse::<Side>().unwrap(), expected);
    }

    #[rstest]
    #[case("")]
    #[case("B")]
    #[case(" BUY")]
    #[case("LONG")]
    #[case("BUYSELL")]
    fn parse_invalid(#[case] s: &str) {
        let err = s.parse::<Side>().unwrap_err();
        assert_eq!(err.value, s);
        assert_eq!(
            err.to_string(),
            format!("unknown side {s:?}, expected BUY or SELL")
        );
    }

    #[test]
    fn opposite_sign_display() {
        assert_eq!(Side::Buy.opposite(), Side::Sell);
        assert_eq!(Side::Sell.opposite(), Side::Buy);
        assert_eq!(Side::Buy.sign(), dec!(1));
        assert_eq!(Side::Sell.sign(), dec!(-1));
        assert_eq!(Side::Buy.to_string(), "BUY");
        assert_eq!(Side::Sell.to_string(), "SELL");
    }

    #[test]
    fn serde_round_trip() {
        assert_eq!(serde_json::to_string(&Side::Buy).unwrap(), "\"BUY\"");
        assert_eq!(serde_json::to_string(&Side::Sell).unwrap(), "\"SELL\"");
        assert_eq!(
            serde_json::from_str::<Side>("\"sell\"").unwrap(),
            Side::Sell
        );
        assert!(serde_json::from_str::<Side>("\"HOLD\"").is_err());
        assert!(serde_json::from_str::<Side>("1").is_err());
    }
}
