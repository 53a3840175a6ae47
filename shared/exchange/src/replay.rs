use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use futures::StreamExt;
use levibot_core::{Bar, Interval, Price, Quantity, Symbol, TimestampMs};
use thiserror::Error;
use tokio::time::Instant;

use crate::market_data_source::MarketDataSource;
use crate::metrics::ExchangeMetrics;

/// The header line of our kline CSVs.
pub const KLINE_CSV_HEADER: &str = "open_time_ms,open,high,low,close,volume";

/// How fast a replay releases bars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReplaySpeed {
    /// As fast as the consumer takes them.
    Max,
    /// `N`× real time: consecutive bars are `Δopen_time / N` apart (1.0 = real time).
    Factor(f64),
}

/// Error parsing a [`ReplaySpeed`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid replay speed {0:?}: expected \"max\" or a positive number such as 60")]
pub struct ReplaySpeedError(String);

impl FromStr for ReplaySpeed {
    type Err = ReplaySpeedError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Self::Max);
        }
        let factor: f64 = s
            .trim_end_matches(['x', 'X'])
            .parse()
            .map_err(|_| ReplaySpeedError(s.to_owned()))?;
        if factor.is_finite() && factor > 0.0 {
            Ok(Self::Factor(factor))
        } else {
            Err(ReplaySpeedError(s.to_owned()))
        }
    }
}

impl fmt::Display for ReplaySpeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Max => f.write_str("max"),
            Self::Factor(n) => write!(f, "{n}"),
        }
    }
}

/// Error reading a kline CSV.
#[derive(Debug, Error)]
pub enum ReplayError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The first line is not our header.
    #[error("{path}: expected the header {KLINE_CSV_HEADER:?}, found {found:?}")]
    Header {
        /// The file.
        path: String,
        /// The first line.
        found: String,
    },
}

/// Bars read from a kline CSV in our format (`open_time_ms,open,high,low,close,volume`, a header
/// line, UTC epoch ms of the bar's open), for one symbol and interval. Rows that do not make a
/// valid bar are counted and skipped; rows are sorted by open time and duplicates dropped.
#[derive(Debug, Clone)]
pub struct CsvReplay {
    bars: Vec<Bar>,
    rejected_rows: u64,
}

impl CsvReplay {
    /// Reads `path` (blocking file I/O on a blocking thread).
    ///
    /// # Errors
    ///
    /// Fails if the file cannot be read or lacks the header.
    pub async fn load(
        path: &Path,
        symbol: Symbol,
        interval: Interval,
        metrics: &ExchangeMetrics,
    ) -> Result<Self, ReplayError> {
        let text = tokio::fs::read_to_string(path)
            .await
            .map_err(|source| ReplayError::Io {
                path: path.display().to_string(),
                source,
            })?;
        Self::parse(&text, symbol, interval, metrics).map_err(|found| ReplayError::Header {
            path: path.display().to_string(),
            found,
        })
    }

    /// Parses CSV text; `Err` carries the first line when it is not the header.
    ///
    /// # Errors
    ///
    /// Returns the first line if it is not [`KLINE_CSV_HEADER`].
    pub fn parse(
        text: &str,
        symbol: Symbol,
        interval: Interval,
        metrics: &ExchangeMetrics,
    ) -> Result<Self, String> {
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        if header.trim() != KLINE_CSV_HEADER {
            return Err(header.to_owned());
        }
        let mut bars = Vec::new();
        let mut rejected_rows = 0;
        for line in lines {
            if line.trim().is_empty() {
                continue;
            }
            match parse_row(line, symbol, interval) {
                Some(bar) => bars.push(bar),
                None => {
                    rejected_rows += 1;
                    metrics.record_replay_row_rejected();
                }
            }
        }
        bars.sort_by_key(Bar::open_time);
        let before = bars.len();
        bars.dedup_by_key(|b| b.open_time());
        let duplicates = u64::try_from(before - bars.len()).unwrap_or(u64::MAX);
        for _ in 0..duplicates {
            metrics.record_replay_row_rejected();
        }
        Ok(Self {
            bars,
            rejected_rows: rejected_rows + duplicates,
        })
    }

    /// The bars, oldest first.
    #[must_use]
    pub fn bars(&self) -> &[Bar] {
        &self.bars
    }

    /// Rows skipped (unparsable, invalid, or a repeated open time).
    #[must_use]
    pub const fn rejected_rows(&self) -> u64 {
        self.rejected_rows
    }

    /// The bars as a source released at `speed`.
    #[must_use]
    pub fn into_source(self, speed: ReplaySpeed) -> MarketDataSource {
        MarketDataSource::from_bars(self.bars).paced(speed)
    }
}

fn parse_row(line: &str, symbol: Symbol, interval: Interval) -> Option<Bar> {
    let mut fields = line.trim_end_matches('\r').split(',');
    let open_time = TimestampMs::new(fields.next()?.trim().parse().ok()?);
    let open = Price::from_str(fields.next()?.trim()).ok()?;
    let high = Price::from_str(fields.next()?.trim()).ok()?;
    let low = Price::from_str(fields.next()?.trim()).ok()?;
    let close = Price::from_str(fields.next()?.trim()).ok()?;
    let volume = Quantity::from_str(fields.next()?.trim()).ok()?;
    if fields.next().is_some() {
        return None;
    }
    Bar::new(symbol, interval, open_time, open, high, low, close, volume).ok()
}

/// Releases `source`'s bars at `speed`: bar `i` is due `(open_time_i - open_time_0) / factor`
/// after the first (a schedule, not a sleep per bar, so delays do not accumulate).
pub(crate) fn pace(source: MarketDataSource, speed: ReplaySpeed) -> MarketDataSource {
    let ReplaySpeed::Factor(factor) = speed else {
        return source;
    };
    let factor = if factor.is_finite() && factor > 0.0 {
        factor
    } else {
        1.0
    };
    let state = (source, None::<(Instant, i64)>);
    MarketDataSource::new(futures::stream::unfold(
        state,
        move |(mut source, mut origin)| async move {
            let bar = source.next().await?;
            let t = bar.open_time().as_i64();
            let (start, t0) = *origin.get_or_insert_with(|| (Instant::now(), t));
            let offset_ms = (t.saturating_sub(t0)).max(0) as f64 / factor;
            let due = start + Duration::from_secs_f64((offset_ms / 1000.0).min(1e9));
            tokio::time::sleep_until(due).await;
            Some((bar, (source, origin)))
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use levibot_telemetry::metrics::Registry;
    use rust_decimal_macros::dec;

    fn metrics() -> ExchangeMetrics {
        ExchangeMetrics::new(&Registry::new()).unwrap()
    }

    fn sym() -> Symbol {
        Symbol::new("BTC-PERP").unwrap()
    }

    #[test]
    fn speed_parses() {
        assert_eq!("max".parse::<ReplaySpeed>().unwrap(), ReplaySpeed::Max);
        assert_eq!(
            "60".parse::<ReplaySpeed>().unwrap(),
            ReplaySpeed::Factor(60.0)
        );
        assert_eq!(
            "2.5x".parse::<ReplaySpeed>().unwrap(),
            ReplaySpeed::Factor(2.5)
        );
        assert!("0".parse::<ReplaySpeed>().is_err());
        assert!("-1".parse::<ReplaySpeed>().is_err());
        assert!("fast".parse::<ReplaySpeed>().is_err());
        assert!("inf".parse::<ReplaySpeed>().is_err());
    }

    #[test]
    fn bad_rows_are_counted_and_skipped() {
        let text = "open_time_ms,open,high,low,close,volume\n\
            1640991660000,46319.0,46385.0,46319.0,46377.0,2300413.7295\n\
            1640991720000,46377.0,46411.0,46377.0,46411.0\n\
            1640991780000,46411.0,46400.0,46377.0,46411.0,1\n\
            1640991790000,46411.0,46411.0,46411.0,46411.0,1\n\
            x,1,1,1,1,1\n\
            1640991660000,1,1,1,1,1\n\
            1640991840000,46411.0,46411.0,46411.0,46411.0,1\r\n";
        let m = metrics();
        let replay = CsvReplay::parse(text, sym(), Interval::M1, &m).unwrap();
        let times: Vec<i64> = replay
            .bars()
            .iter()
            .map(|b| b.open_time().as_i64())
            .collect();
        assert_eq!(times, vec![1_640_991_660_000, 1_640_991_840_000]);
        assert_eq!(replay.bars()[0].volume().value(), dec!(2300413.7295));
        // short row, high below open, misaligned, unparsable, duplicate open time
        assert_eq!(replay.rejected_rows(), 5);
        assert_eq!(m.replay_rows_rejected(), 5);
        assert_eq!(
            CsvReplay::parse("a,b\n", sym(), Interval::M1, &m).unwrap_err(),
            "a,b"
        );
    }

    #[tokio::test]
    async fn loads_the_shipped_ftx_file() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../data/klines/ftx_btc-perp_1m_20211231-20220201.csv");
        let m = metrics();
        let replay = CsvReplay::load(&path, sym(), Interval::M1, &m)
            .await
            .unwrap();
        assert_eq!(replay.bars().len(), 45_031);
        assert_eq!(replay.rejected_rows(), 0);
        let first = replay.bars()[0];
        assert_eq!(first.open_time().as_i64(), 1_640_991_660_000);
        assert_eq!(first.open().value(), dec!(46319.0));
        assert!(
            replay
                .bars()
                .windows(2)
                .all(|w| w[1].open_time().as_i64() - w[0].open_time().as_i64() == 60_000)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn speed_factor_spaces_bars_by_their_open_times() {
        let text = "open_time_ms,open,high,low,close,volume\n\
            1640991660000,1,1,1,1,1\n\
            1640991720000,1,1,1,1,1\n\
            1640991840000,1,1,1,1,1\n";
        let replay = CsvReplay::parse(text, sym(), Interval::M1, &metrics()).unwrap();
        let mut source = replay.clone().into_source(ReplaySpeed::Factor(60.0));
        let start = Instant::now();
        let mut at = Vec::new();
        while source.next_bar().await.is_some() {
            at.push(start.elapsed().as_millis());
        }
        // 60x: one minute of bar time is one second
        assert_eq!(at, vec![0, 1000, 3000]);

        let mut source = replay.into_source(ReplaySpeed::Max);
        let start = Instant::now();
        let mut n = 0;
        while source.next_bar().await.is_some() {
            n += 1;
        }
        assert_eq!(n, 3);
        assert_eq!(start.elapsed().as_millis(), 0);
    }

    #[tokio::test]
    async fn speed_factor_in_real_time() {
        // 6000x: 60 s of bar spacing is 10 ms of wall time; 10 gaps are ~100 ms
        let bars: Vec<Bar> = (0..11)
            .map(|i| {
                let p = Price::new(dec!(1)).unwrap();
                Bar::new(
                    sym(),
                    Interval::M1,
                    TimestampMs::new(i * 60_000),
                    p,
                    p,
                    p,
                    p,
                    Quantity::ZERO,
                )
                .unwrap()
            })
            .collect();
        let mut source = MarketDataSource::from_bars(bars).paced(ReplaySpeed::Factor(6000.0));
        let start = std::time::Instant::now();
        let mut n = 0;
        while source.next_bar().await.is_some() {
            n += 1;
        }
        let elapsed = start.elapsed();
        assert_eq!(n, 11);
        assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(1000), "{elapsed:?}");
    }
}
