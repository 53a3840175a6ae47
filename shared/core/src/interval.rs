use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::serde_str::serde_via_str;

const SECOND_MS: i64 = 1_000;
const MINUTE_MS: i64 = 60 * SECOND_MS;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// A Binance kline interval.
///
/// The monthly interval (`1M`) is deliberately not supported: its length is
/// not fixed. Serializes as the Binance string, e.g. `"15m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Interval {
    /// One second (`1s`).
    S1,
    /// One minute (`1m`).
    M1,
    /// Three minutes (`3m`).
    M3,
    /// Five minutes (`5m`).
    M5,
    /// Fifteen minutes (`15m`).
    M15,
    /// Thirty minutes (`30m`).
    M30,
    /// One hour (`1h`).
    H1,
    /// Two hours (`2h`).
    H2,
    /// Four hours (`4h`).
    H4,
    /// Six hours (`6h`).
    H6,
    /// Eight hours (`8h`).
    H8,
    /// Twelve hours (`12h`).
    H12,
    /// One day (`1d`).
    D1,
    /// Three days (`3d`).
    D3,
    /// One week (`1w`), starting Monday 00:00 UTC.
    W1,
}

impl Interval {
    /// Every supported interval, shortest first.
    pub const ALL: &'static [Self] = &[
        Self::S1,
        Self::M1,
        Self::M3,
        Self::M5,
        Self::M15,
        Self::M30,
        Self::H1,
        Self::H2,
        Self::H4,
        Self::H6,
        Self::H8,
        Self::H12,
        Self::D1,
        Self::D3,
        Self::W1,
    ];

    /// The Binance name of the interval, e.g. `"1m"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::S1 => "1s",
            Self::M1 => "1m",
            Self::M3 => "3m",
            Self::M5 => "5m",
            Self::M15 => "15m",
            Self::M30 => "30m",
            Self::H1 => "1h",
            Self::H2 => "2h",
            Self::H4 => "4h",
            Self::H6 => "6h",
            Self::H8 => "8h",
            Self::H12 => "12h",
            Self::D1 => "1d",
            Self::D3 => "3d",
            Self::W1 => "1w",
        }
    }

    /// The length of the interval in milliseconds.
    #[must_use]
    pub const fn duration_ms(self) -> i64 {
        match self {
            Self::S1 => SECOND_MS,
            Self::M1 => MINUTE_MS,
            Self::M3 => 3 * MINUTE_MS,
            Self::M5 => 5 * MINUTE_MS,
            Self::M15 => 15 * MINUTE_MS,
            Self::M30 => 30 * MINUTE_MS,
            Self::H1 => HOUR_MS,
            Self::H2 => 2 * HOUR_MS,
            Self::H4 => 4 * HOUR_MS,
            Self::H6 => 6 * HOUR_MS,
            Self::H8 => 8 * HOUR_MS,
            Self::H12 => 12 * HOUR_MS,
            Self::D1 => DAY_MS,
            Self::D3 => 3 * DAY_MS,
            Self::W1 => 7 * DAY_MS,
        }
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error returned when a string is not a supported [`Interval`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "unknown interval {value:?}, expected one of 1s, 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, 1d, 3d, 1w"
)]
pub struct IntervalParseError {
    /// The rejected input.
    pub value: String,
}

impl FromStr for Interval {
    type Err = IntervalParseError;

    /// Parses the Binance name. Case-sensitive: `"1M"` is Binance's monthly
    /// interval, not one minute, and is rejected.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|i| i.as_str() == s)
            .ok_or_else(|| IntervalParseError {
                value: s.to_owned(),
            })
    }
}

serde_via_str!(Interval, "a kline interval string such as \"1m\"");

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("1s", Interval::S1, 1_000)]
    #[case("1m", Interval::M1, 60_000)]
    #[case("3m", Interval::M3, 180_000)]
    #[case("5m", Interval::M5, 300_000)]
    #[case("15m", Interval::M15, 900_000)]
    #[case("30m", Interval::M30, 1_800_000)]
    #[case("1h", Interval::H1, 3_600_000)]
    #[case("2h", Interval::H2, 7_200_000)]
    #[case("4h", Interval::H4, 14_400_000)]
    #[case("6h", Interval::H6, 21_600_000)]
    #[case("8h", Interval::H8, 28_800_000)]
    #[case("12h", Interval::H12, 43_200_000)]
    #[case("1d", Interval::D1, 86_400_000)]
    #[case("3d", Interval::D3, 259_200_000)]
    #[case("1w", Interval::W1, 604_800_000)]
    fn parse_and_duration(#[case] s: &str, #[case] expected: Interval, #[case] ms: i64) {
        let parsed: Interval = s.parse().unwrap();
        assert_eq!(parsed, expected);
        assert_eq!(parsed.duration_ms(), ms);
        assert_eq!(parsed.as_str(), s);
        assert_eq!(parsed.to_string(), s);
    }

    #[rstest]
    #[case("1M")]
    #[case("1mo")]
    #[case("")]
    #[case("1 m")]
    #[case("1H")]
    #[case("60s")]
    #[case("m1")]
    fn parse_rejects(#[case] s: &str) {
        let err = s.parse::<Interval>().unwrap_err();
        assert_eq!(err.value, s);
        let msg = err.to_string();
        assert!(msg.starts_with(&format!("unknown interval {s:?}")), "{msg}");
        assert!(msg.ends_with("12h, 1d, 3d, 1w"), "{msg}");
    }

    #[test]
    fn all_is_complete_sorted_and_unique() {
        assert_eq!(Interval::ALL.len(), 15);
        for pair in Interval::ALL.windows(2) {
            assert!(pair[0].duration_ms() < pair[1].duration_ms());
            assert!(pair[0] < pair[1]);
        }
        for i in Interval::ALL {
            assert_eq!(i.as_str().parse::<Interval>().unwrap(), *i);
        }
    }

    #[test]
    fn error_lists_every_interval() {
        let msg = "x".parse::<Interval>().unwrap_err().to_string();
        for i in Interval::ALL {
            assert!(
                msg.contains(&format!(" {i},")) || msg.ends_with(&format!(" {i}")),
                "{i}"
            );
        }
    }

    #[test]
    fn serde_round_trip() {
        for i in Interval::ALL {
            let json = serde_json::to_string(i).unwrap();
            assert_eq!(json, format!("\"{}\"", i.as_str()));
            assert_eq!(serde_json::from_str::<Interval>(&json).unwrap(), *i);
        }
        assert!(serde_json::from_str::<Interval>("\"1M\"").is_err());
        assert!(serde_json::from_str::<Interval>("60000").is_err());
    }
}
