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

impl TimestampMs {
    /// Milliseconds in one UTC day.
    pub const MS_PER_DAY: i64 = 86_400_000;

    /// The proleptic Gregorian `(year, month, day)` of this instant's UTC day.
    #[must_use]
    pub const fn utc_date(self) -> (i64, u32, u32) {
        civil_from_days(self.0.div_euclid(Self::MS_PER_DAY))
    }

    /// The start (00:00:00.000 UTC) of this instant's UTC day.
    #[must_use]
    pub const fn utc_day_start(self) -> Self {
        Self(self.0.div_euclid(Self::MS_PER_DAY) * Self::MS_PER_DAY)
    }
}

/// The date of a number of days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + if month <= 2 { 1 } else { 0 };
    // day is in 1..=31 and month in 1..=12, so the casts are exact
    (year, month as u32, day as u32)
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
    #[case(0, (1970, 1, 1))]
    #[case(-1, (1969, 12, 31))]
    #[case(951_782_400_000, (2000, 2, 29))]
    #[case(1_641_081_599_999, (2022, 1, 1))]
    #[case(1_641_081_600_000, (2022, 1, 2))]
    fn utc_date(#[case] ms: i64, #[case] expected: (i64, u32, u32)) {
        assert_eq!(TimestampMs::new(ms).utc_date(), expected);
        assert_eq!(TimestampMs::new(ms).utc_day_start().utc_date(), expected);
    }

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
