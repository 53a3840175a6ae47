use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::interval::Interval;
use crate::price::Price;
use crate::quantity::Quantity;
use crate::symbol::Symbol;
use crate::timestamp::TimestampMs;

/// Error returned when kline fields do not form a valid [`Bar`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BarError {
    /// `low > high`.
    #[error("bar low {low} is above high {high}")]
    LowAboveHigh {
        /// The bar's low.
        low: Price,
        /// The bar's high.
        high: Price,
    },
    /// `high < max(open, close)`.
    #[error("bar high {high} is below open {open} or close {close}")]
    HighBelowBody {
        /// The bar's high.
        high: Price,
        /// The bar's open.
        open: Price,
        /// The bar's close.
        close: Price,
    },
    /// `low > min(open, close)`.
    #[error("bar low {low} is above open {open} or close {close}")]
    LowAboveBody {
        /// The bar's low.
        low: Price,
        /// The bar's open.
        open: Price,
        /// The bar's close.
        close: Price,
    },
    /// `open_time` is not a multiple of the interval's duration.
    #[error("bar open time {open_time} is not aligned to interval {interval}")]
    Misaligned {
        /// The bar's open time.
        open_time: TimestampMs,
        /// The bar's interval.
        interval: Interval,
    },
    /// `open_time + duration` does not fit in an `i64`.
    #[error("bar open time {open_time} is too late for interval {interval}")]
    TimeOverflow {
        /// The bar's open time.
        open_time: TimestampMs,
        /// The bar's interval.
        interval: Interval,
    },
}

/// One kline (OHLCV candle) for a symbol and interval.
///
/// Invariants, checked by [`Bar::new`] and on deserialization:
/// `low <= min(open, close)`, `max(open, close) <= high`, and `open_time` is
/// a multiple of the interval's duration (not checked for [`Interval::W1`],
/// whose bars start on Mondays).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "BarFields")]
pub struct Bar {
    symbol: Symbol,
    interval: Interval,
    open_time: TimestampMs,
    open: Price,
    high: Price,
    low: Price,
    close: Price,
    volume: Quantity,
}

/// Unvalidated wire form of [`Bar`]; deserialization goes through
/// [`Bar::new`].
#[derive(Deserialize)]
struct BarFields {
    symbol: Symbol,
    interval: Interval,
    open_time: TimestampMs,
    open: Price,
    high: Price,
    low: Price,
    close: Price,
    volume: Quantity,
}

impl TryFrom<BarFields> for Bar {
    type Error = BarError;

    fn try_from(f: BarFields) -> Result<Self, Self::Error> {
        Self::new(
            f.symbol,
            f.interval,
            f.open_time,
            f.open,
            f.high,
            f.low,
            f.close,
            f.volume,
        )
    }
}

impl Bar {
    /// Validates and builds a bar.
    ///
    /// # Errors
    ///
    /// Returns [`BarError`] if the prices are inconsistent (see the type docs),
    /// if `open_time` is not aligned to `interval`, or if the close time would
    /// overflow.
    #[expect(
        clippy::too_many_arguments,
        reason = "a kline has exactly these eight fields, in Binance order"
    )]
    pub fn new(
        symbol: Symbol,
        interval: Interval,
        open_time: TimestampMs,
        open: Price,
        high: Price,
        low: Price,
        close: Price,
        volume: Quantity,
    ) -> Result<Self, BarError> {
        if low > high {
            return Err(BarError::LowAboveHigh { low, high });
        }
        if high < open.max(close) {
            return Err(BarError::HighBelowBody { high, open, close });
        }
        if low > open.min(close) {
            return Err(BarError::LowAboveBody { low, open, close });
        }
        let duration = interval.duration_ms();
        if interval != Interval::W1 && open_time.as_i64().rem_euclid(duration) != 0 {
            return Err(BarError::Misaligned {
                open_time,
                interval,
            });
        }
        if open_time.checked_add_ms(duration).is_none() {
            return Err(BarError::TimeOverflow {
                open_time,
                interval,
            });
        }
        Ok(Self {
            symbol,
            interval,
            open_time,
            open,
            high,
            low,
            close,
            volume,
        })
    }

    /// The symbol.
    #[must_use]
    pub const fn symbol(&self) -> Symbol {
        self.symbol
    }

    /// The interval.
    #[must_use]
    pub const fn interval(&self) -> Interval {
        self.interval
    }

    /// When the bar opens (inclusive).
    #[must_use]
    pub const fn open_time(&self) -> TimestampMs {
        self.open_time
    }

    /// When the bar closes: `open_time + duration - 1`, the last millisecond
    /// inside the bar (Binance convention).
    #[must_use]
    pub const fn close_time(&self) -> TimestampMs {
        // the constructor checked that open_time + duration does not overflow
        TimestampMs::new(
            self.open_time
                .as_i64()
                .saturating_add(self.interval.duration_ms() - 1),
        )
    }

    /// The opening price.
    #[must_use]
    pub const fn open(&self) -> Price {
        self.open
    }

    /// The highest price.
    #[must_use]
    pub const fn high(&self) -> Price {
        self.high
    }

    /// The lowest price.
    #[must_use]
    pub const fn low(&self) -> Price {
        self.low
    }

    /// The closing price.
    #[must_use]
    pub const fn close(&self) -> Price {
        self.close
    }

    /// The traded base-asset volume.
    #[must_use]
    pub const fn volume(&self) -> Quantity {
        self.volume
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    /// 2023-11-14T22:13:00Z, aligned to every interval up to 1m.
    const T_MINUTE: i64 = 1_700_000_000_000 - 1_700_000_000_000 % 60_000;
    /// 2024-01-01T00:00:00Z, a Monday; aligned to 1d but not to 3d.
    const T_DAY: i64 = 1_704_067_200_000;

    fn p(d: Decimal) -> Price {
        Price::new(d).unwrap()
    }

    fn sym() -> Symbol {
        Symbol::new("BTCUSDT").unwrap()
    }

    fn bar(
        interval: Interval,
        t: i64,
        o: Decimal,
        h: Decimal,
        l: Decimal,
        c: Decimal,
    ) -> Result<Bar, BarError> {
        Bar::new(
            sym(),
            interval,
            TimestampMs::new(t),
            p(o),
            p(h),
            p(l),
            p(c),
            Quantity::new(dec!(1.5)).unwrap(),
        )
    }

    #[rstest]
    #[case(dec!(100), dec!(110), dec!(90), dec!(105))]
    #[case(dec!(105), dec!(110), dec!(90), dec!(100))]
    #[case(dec!(100), dec!(100), dec!(100), dec!(100))]
    #[case(dec!(100), dec!(100), dec!(90), dec!(90))]
    #[case(dec!(90), dec!(100), dec!(90), dec!(100))]
    fn valid_ohlc(#[case] o: Decimal, #[case] h: Decimal, #[case] l: Decimal, #[case] c: Decimal) {
        let b = bar(Interval::M1, T_MINUTE, o, h, l, c).unwrap();
        assert_eq!(b.open().value(), o);
        assert_eq!(b.high().value(), h);
        assert_eq!(b.low().value(), l);
        assert_eq!(b.close().value(), c);
        assert_eq!(b.volume().value(), dec!(1.5));
        assert_eq!(b.symbol(), sym());
        assert_eq!(b.interval(), Interval::M1);
        assert_eq!(b.open_time().as_i64(), T_MINUTE);
    }

    #[rstest]
    #[case::low_above_high(dec!(100), dec!(90), dec!(110), dec!(100), "LowAboveHigh")]
    #[case::high_below_open(dec!(120), dec!(110), dec!(90), dec!(100), "HighBelowBody")]
    #[case::high_below_close(dec!(100), dec!(110), dec!(90), dec!(111), "HighBelowBody")]
    #[case::low_above_open(dec!(89), dec!(110), dec!(90), dec!(100), "LowAboveBody")]
    #[case::low_above_close(dec!(100), dec!(110), dec!(90), dec!(89.99), "LowAboveBody")]
    fn invalid_ohlc(
        #[case] o: Decimal,
        #[case] h: Decimal,
        #[case] l: Decimal,
        #[case] c: Decimal,
        #[case] kind: &str,
    ) {
        let err = bar(Interval::M1, T_MINUTE, o, h, l, c).unwrap_err();
        let actual = match err {
            BarError::LowAboveHigh { .. } => "LowAboveHigh",
            BarError::HighBelowBody { .. } => "HighBelowBody",
            BarError::LowAboveBody { .. } => "LowAboveBody",
            BarError::Misaligned { .. } => "Misaligned",
            BarError::TimeOverflow { .. } => "TimeOverflow",
        };
        assert_eq!(actual, kind, "{err}");
    }

    #[test]
    fn error_messages() {
        let err = bar(
            Interval::M1,
            T_MINUTE,
            dec!(120),
            dec!(110),
            dec!(90),
            dec!(100),
        );
        assert_eq!(
            err.unwrap_err().to_string(),
            "bar high 110 is below open 120 or close 100"
        );
        let err = bar(
            Interval::M1,
            T_MINUTE + 1,
            dec!(1),
            dec!(1),
            dec!(1),
            dec!(1),
        );
        assert_eq!(
            err.unwrap_err().to_string(),
            format!(
                "bar open time {} is not aligned to interval 1m",
                T_MINUTE + 1
            )
        );
    }

    #[rstest]
    #[case(Interval::S1, T_MINUTE + 1_000, true)]
    #[case(Interval::S1, T_MINUTE + 1, false)]
    #[case(Interval::M1, T_MINUTE, true)]
    #[case(Interval::M1, T_MINUTE + 1_000, false)]
    #[case(Interval::M5, T_MINUTE, false)]
    #[case(Interval::H1, T_DAY + 3_600_000, true)]
    #[case(Interval::H4, T_DAY + 3_600_000, false)]
    #[case(Interval::D1, T_DAY, true)]
    #[case(Interval::D1, T_DAY + 3_600_000, false)]
    #[case(Interval::D3, T_DAY, false)]
    #[case(Interval::D3, T_DAY - 86_400_000, true)]
    #[case(Interval::W1, T_DAY, true)]
    #[case(Interval::W1, T_DAY + 1, true)]
    #[case(Interval::M1, -60_000, true)]
    #[case(Interval::M1, -1, false)]
    fn alignment(#[case] interval: Interval, #[case] t: i64, #[case] ok: bool) {
        let res = bar(interval, t, dec!(1), dec!(1), dec!(1), dec!(1));
        match (res, ok) {
            (Ok(b), true) => assert_eq!(b.open_time().as_i64(), t),
            (
                Err(BarError::Misaligned {
                    open_time,
                    interval: i,
                }),
                false,
            ) => {
                assert_eq!(open_time.as_i64(), t);
                assert_eq!(i, interval);
            }
            (other, _) => panic!("unexpected {other:?} for {interval} at {t}"),
        }
    }

    #[test]
    fn time_overflow_is_rejected() {
        let t = i64::MAX - i64::MAX.rem_euclid(60_000);
        let err = bar(Interval::M1, t, dec!(1), dec!(1), dec!(1), dec!(1)).unwrap_err();
        assert!(matches!(err, BarError::TimeOverflow { .. }), "{err}");
        let err = bar(Interval::W1, i64::MAX, dec!(1), dec!(1), dec!(1), dec!(1)).unwrap_err();
        assert!(matches!(err, BarError::TimeOverflow { .. }), "{err}");
    }

    #[rstest]
    #[case(Interval::M1, T_MINUTE, T_MINUTE + 59_999)]
    #[case(Interval::S1, T_MINUTE, T_MINUTE + 999)]
    #[case(Interval::D1, T_DAY, T_DAY + 86_399_999)]
    #[case(Interval::W1, T_DAY, T_DAY + 604_799_999)]
    fn close_time(#[case] interval: Interval, #[case] t: i64, #[case] expected: i64) {
        let b = bar(interval, t, dec!(1), dec!(1), dec!(1), dec!(1)).unwrap();
        assert_eq!(b.close_time().as_i64(), expected);
    }

    #[test]
    fn serde_round_trip() {
        let b = bar(
            Interval::M1,
            T_MINUTE,
            dec!(100.5),
            dec!(110),
            dec!(90),
            dec!(105),
        )
        .unwrap();
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"symbol":"BTCUSDT","interval":"1m","open_time":{T_MINUTE},"open":"100.5","high":"110","low":"90","close":"105","volume":"1.5"}}"#
            )
        );
        assert_eq!(serde_json::from_str::<Bar>(&json).unwrap(), b);
    }

    #[rstest]
    #[case::high_below_open(
        r#""open":"120","high":"110","low":"90","close":"100""#,
        "bar high 110"
    )]
    #[case::low_above_high(r#""open":"100","high":"90","low":"110","close":"100""#, "bar low 110")]
    #[case::negative_price(
        r#""open":"-1","high":"110","low":"90","close":"100""#,
        "price must be positive"
    )]
    #[case::zero_low(
        r#""open":"1","high":"1","low":"0","close":"1""#,
        "price must be positive"
    )]
    fn serde_rejects_invalid_prices(#[case] prices: &str, #[case] msg: &str) {
        let json = format!(
            r#"{{"symbol":"BTCUSDT","interval":"1m","open_time":{T_MINUTE},{prices},"volume":"1"}}"#
        );
        let err = serde_json::from_str::<Bar>(&json).unwrap_err().to_string();
        assert!(err.contains(msg), "{err}");
    }

    #[rstest]
    #[case::misaligned(
        r#""symbol":"BTCUSDT","interval":"1m","open_time":1,"volume":"1""#,
        "not aligned"
    )]
    #[case::negative_volume(
        r#""symbol":"BTCUSDT","interval":"1m","open_time":0,"volume":"-1""#,
        "quantity must not be negative"
    )]
    #[case::bad_symbol(
        r#""symbol":"BTC/USDT","interval":"1m","open_time":0,"volume":"1""#,
        "invalid character"
    )]
    #[case::bad_interval(
        r#""symbol":"BTCUSDT","interval":"1M","open_time":0,"volume":"1""#,
        "unknown interval"
    )]
    fn serde_rejects_invalid_fields(#[case] fields: &str, #[case] msg: &str) {
        let json = format!(r#"{{{fields},"open":"1","high":"1","low":"1","close":"1"}}"#);
        let err = serde_json::from_str::<Bar>(&json).unwrap_err().to_string();
        assert!(err.contains(msg), "{err}");
    }

    fn any_decimal() -> impl Strategy<Value = Decimal> {
        (-1_000_000i64..1_000_000, 0u32..4).prop_map(|(m, s)| Decimal::new(m, s))
    }

    fn positive_decimal() -> impl Strategy<Value = Decimal> {
        (1i64..1_000_000, 0u32..4).prop_map(|(m, s)| Decimal::new(m, s))
    }

    proptest! {
        #[test]
        fn arbitrary_ohlc_is_rejected_or_consistent(
            o in any_decimal(), h in any_decimal(), l in any_decimal(), c in any_decimal(),
        ) {
            let prices = (Price::new(o), Price::new(h), Price::new(l), Price::new(c));
            let (Ok(o), Ok(h), Ok(l), Ok(c)) = prices else {
                return Ok(());
            };
            let consistent = l <= o && l <= c && o <= h && c <= h;
            let res = Bar::new(
                sym(), Interval::M1, TimestampMs::new(T_MINUTE), o, h, l, c, Quantity::ZERO,
            );
            match res {
                Ok(b) => {
                    prop_assert!(b.low() <= b.open() && b.low() <= b.close());
                    prop_assert!(b.open() <= b.high() && b.close() <= b.high());
                    prop_assert!(consistent);
                }
                Err(e) => prop_assert!(!consistent, "rejected consistent bar: {}", e),
            }
        }

        #[test]
        fn consistent_ohlc_is_accepted(
            low in positive_decimal(),
            spread in (0i64..1_000_000, 0u32..4).prop_map(|(m, s)| Decimal::new(m, s)),
            open_frac in 0u32..=100,
            close_frac in 0u32..=100,
            minute in -1_000_000i64..1_000_000,
        ) {
            let high = low + spread;
            let at = |frac: u32| low + spread * Decimal::from(frac) / Decimal::from(100);
            let b = Bar::new(
                sym(),
                Interval::M1,
                TimestampMs::new(minute * 60_000),
                p(at(open_frac)),
                p(high),
                p(low),
                p(at(close_frac)),
                Quantity::ZERO,
            );
            prop_assert!(b.is_ok(), "{:?}", b);
        }
    }
}
