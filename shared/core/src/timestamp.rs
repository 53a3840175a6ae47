use std::fmt;

use serde::{Deserialize, Serialize};

/// A UTC instant as milliseconds since the Unix epoch.
///
/// Serializes as a plain integer.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct TimestampMs(i64);

impl TimestampMs {
    /// The Unix epoch, `1970-01-01T00:00:00Z`.
    pub const EPOCH: Self = Self(0);

    /// Wraps a number of milliseconds since the Unix epoch.
    #[must_use]
    pub const fn new(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the Unix epoch.
    #[must_use]
    pub const fn as_i64(self) -> i64 {
        self.0
    }

    /// Adds `ms` milliseconds, returning `None` on overflow.
    #[must_use]
    pub const fn checked_add_ms(self, ms: i64) -> Option<Self> {
        match self.0.checked_add(ms) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// Subtracts `ms` milliseconds, returning `None` on overflow.
    #[must_use]
    pub const fn checked_sub_ms(self, ms: i64) -> Option<Self> {
        match self.0.checked_sub(ms) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }
}

impl From<i64> for TimestampMs {
    fn from(ms: i64) -> Self {
        Self(ms)
    }
}

impl From<TimestampMs> for i64 {
    fn from(ts: TimestampMs) -> Self {
        ts.0
    }
}

impl fmt::Display for TimestampMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(0, 1, Some(1))]
    #[case(1_700_000_000_000, 60_000, Some(1_700_000_060_000))]
    #[case(10, -20, Some(-10))]
    #[case(i64::MAX, 1, None)]
    #[case(i64::MIN, -1, None)]
    fn checked_add_ms(#[case] start: i64, #[case] delta: i64, #[case] expected: Option<i64>) {
        assert_eq!(
            TimestampMs::new(start)
                .checked_add_ms(delta)
                .map(TimestampMs::as_i64),
            expected
        );
    }

    #[rstest]
    #[case(100, 40, Some(60))]
    #[case(i64::MIN, 1, None)]
    fn checked_sub_ms(#[case] start: i64, #[case] delta: i64, #[case] expected: Option<i64>) {
        assert_eq!(
            TimestampMs::new(start)
                .checked_sub_ms(delta)
                .map(TimestampMs::as_i64),
            expected
        );
    }

    #[test]
    fn display_is_the_integer() {
        assert_eq!(
            TimestampMs::new(1_700_000_000_123).to_string(),
            "1700000000123"
        );
        assert_eq!(TimestampMs::new(-5).to_string(), "-5");
    }

    #[test]
    fn serde_is_transparent_integer() {
        let ts = TimestampMs::new(1_700_000_000_123);
        let json = serde_json::to_string(&ts).unwrap();
        assert_eq!(json, "1700000000123");
        assert_eq!(serde_json::from_str::<TimestampMs>(&json).unwrap(), ts);
        assert!(serde_json::from_str::<TimestampMs>("\"1700000000123\"").is_err());
    }

    #[test]
    fn ordering_follows_time() {
        assert!(TimestampMs::new(1) < TimestampMs::new(2));
        assert!(TimestampMs::new(-1) < TimestampMs::EPOCH);
    }
}
