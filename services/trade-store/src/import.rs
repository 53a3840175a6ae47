use std::{
    fmt,
    path::{Path, PathBuf},
    str::FromStr,
};

use levibot_core::{Bar, Interval, Price, Quantity, Symbol, TimestampMs};
use tokio::task::JoinSet;

use crate::store::{StoreError, TradeStore, UpsertReport};

/// Bars per store round trip during an import.
pub const IMPORT_BATCH: usize = 10_000;

/// Our header: `open_time_ms,open,high,low,close,volume`.
pub const LEVIBOT_HEADER: &str = "open_time_ms,open,high,low,close,volume";

/// Binance kline open times above this are microseconds (Binance's spot dumps since 2025),
/// below it milliseconds: 10^14 ms is in the year 5138, 10^14 µs in 1973.
const MICROS_THRESHOLD: i64 = 100_000_000_000_000;

/// Which kline CSV dialect a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvFormat {
    /// Ours: [`LEVIBOT_HEADER`], 6 columns, open time in ms.
    Levibot,
    /// Binance's kline dumps: 12 columns (open time, OHLCV, close time, quote volume, trades,
    /// taker buy base and quote volume, ignore), usually without a header; open and close
    /// times in ms, or in µs in newer dumps.
    Binance,
}

impl CsvFormat {
    const fn columns(self) -> usize {
        match self {
            Self::Levibot => 6,
            Self::Binance => 12,
        }
    }

    /// A short name: `levibot` or `binance`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Levibot => "levibot",
            Self::Binance => "binance",
        }
    }
}

impl fmt::Display for CsvFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A line that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedLine {
    /// Its 1-based line number in the file.
    pub line: usize,
    /// Why.
    pub reason: String,
}

/// What [`import_csv`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// The dialect the file was read as.
    pub format: CsvFormat,
    /// Bars not stored before.
    pub imported: u64,
    /// Bars stored before with other values, now overwritten.
    pub updated: u64,
    /// Bars stored before with exactly these values.
    pub unchanged: u64,
    /// Lines not imported, in file order.
    pub rejected: Vec<RejectedLine>,
}

/// Why an import stopped. Bad lines do not stop it (they are in
/// [`ImportReport::rejected`]); these do.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a kline CSV this importer knows.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The store failed; batches stored before the failure stay stored (a re-import
    /// completes the file), the ones still in flight are aborted.
    #[error("store failed after {imported} new bars: {source}")]
    Store {
        /// New bars stored before the failure.
        imported: u64,
        /// The store error.
        source: StoreError,
    },
}

/// Imports the kline CSV at `path` as bars of `symbol` and `interval`.
///
/// Reads our format ([`LEVIBOT_HEADER`]) or Binance's 12-column klines (open times in ms or
/// µs, detected by magnitude). Each line is checked (numbers, OHLC invariants, volume ≥ 0,
/// alignment to `interval`, open times strictly increasing through the file, and for Binance
/// a close time that matches `interval`); bad lines are reported with their line number and
/// reason, the rest is stored in batches of [`IMPORT_BATCH`], on owned tasks that overlap with
/// the parsing of the next batch (up to [`TradeStore::write_parallelism`] at once).
/// Idempotent: importing the same file again stores nothing new. `progress(done, total)` is
/// called as batches complete, with data lines handled so far and in all.
pub async fn import_csv(
    store: &TradeStore,
    path: &Path,
    symbol: Symbol,
    interval: Interval,
    mut progress: impl FnMut(u64, u64),
) -> Result<ImportReport, ImportError> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|source| ImportError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let lines: Vec<(usize, &[u8])> = text
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(index, line)| (index + 1, line.strip_suffix(b"\r").unwrap_or(line)))
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .collect();
    let (format, has_header) = detect_format(&lines).map_err(|reason| ImportError::Format {
        path: path.to_path_buf(),
        reason,
    })?;
    let data = lines.get(usize::from(has_header)..).unwrap_or_default();
    let total = count(data.len());

    let mut report = ImportReport {
        format,
        imported: 0,
        updated: 0,
        unchanged: 0,
        rejected: Vec::new(),
    };
    // Parsing and storing overlap: full batches are stored by owned tasks while the next batch
    // is parsed, at most `store.write_parallelism()` at a time.
    let mut writer = BatchWriter::new(store, total);
    let mut batch = Vec::with_capacity(IMPORT_BATCH.min(data.len()));
    let mut batch_lines = 0u64;
    let mut previous: Option<TimestampMs> = None;
    for &(line_no, line) in data {
        match parse_line(line, format, symbol, interval) {
            Ok(bar) => match previous {
                Some(prev) if bar.open_time() <= prev => report.rejected.push(RejectedLine {
                    line: line_no,
                    reason: format!(
                        "open time {} is not after the previous bar's {prev} (duplicate or out of order)",
                        bar.open_time()
                    ),
                }),
                _ => {
                    previous = Some(bar.open_time());
                    batch.push(bar);
                }
            },
            Err(reason) => report.rejected.push(RejectedLine {
                line: line_no,
                reason,
            }),
        }
        batch_lines += 1;
        if batch.len() == IMPORT_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(IMPORT_BATCH));
            writer.submit(full, batch_lines, &mut progress).await?;
            batch_lines = 0;
        }
    }
    writer.submit(batch, batch_lines, &mut progress).await?;
    let stored = writer.finish(&mut progress).await?;
    report.imported = stored.inserted;
    report.updated = stored.updated;
    report.unchanged = stored.unchanged;
    Ok(report)
}

/// Stores batches on owned tasks, a bounded number at a time, and keeps the tally.
struct BatchWriter {
    store: TradeStore,
    tasks: JoinSet<(Result<UpsertReport, StoreError>, u64)>,
    parallelism: usize,
    stored: UpsertReport,
    done: u64,
    total: u64,
}

impl BatchWriter {
    fn new(store: &TradeStore, total: u64) -> Self {
        Self {
            store: store.clone(),
            tasks: JoinSet::new(),
            parallelism: store.write_parallelism().max(1),
            stored: UpsertReport::default(),
            done: 0,
            total,
        }
    }

    /// Starts storing `bars` (which cover `lines` data lines), first waiting for a slot.
    async fn submit(
        &mut self,
        bars: Vec<Bar>,
        lines: u64,
        progress: &mut impl FnMut(u64, u64),
    ) -> Result<(), ImportError> {
        while self.tasks.len() >= self.parallelism {
            self.collect_one(progress).await?;
        }
        if bars.is_empty() {
            // only rejected lines since the last batch: nothing to store, still progress
            if lines > 0 {
                self.done += lines;
                progress(self.done, self.total);
            }
            return Ok(());
        }
        let store = self.store.clone();
        self.tasks
            .spawn(async move { (store.upsert_bars(&bars).await, lines) });
        Ok(())
    }

    async fn collect_one(
        &mut self,
        progress: &mut impl FnMut(u64, u64),
    ) -> Result<(), ImportError> {
        let Some(joined) = self.tasks.join_next().await else {
            return Ok(());
        };
        let (result, lines) = joined.map_err(|err| ImportError::Store {
            imported: self.stored.inserted,
            source: StoreError::Task(err.to_string()),
        })?;
        // on error the JoinSet is dropped with the writer, aborting the batches in flight
        let report = result.map_err(|source| ImportError::Store {
            imported: self.stored.inserted,
            source,
        })?;
        self.stored.absorb(report);
        self.done += lines;
        progress(self.done, self.total);
        Ok(())
    }

    async fn finish(
        mut self,
        progress: &mut impl FnMut(u64, u64),
    ) -> Result<UpsertReport, ImportError> {
        while !self.tasks.is_empty() {
            self.collect_one(progress).await?;
        }
        Ok(self.stored)
    }
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn is_integer(field: &[u8]) -> bool {
    std::str::from_utf8(field)
        .ok()
        .is_some_and(|s| s.trim().parse::<i64>().is_ok())
}

/// The dialect, and whether the first line is a header.
fn detect_format(lines: &[(usize, &[u8])]) -> Result<(CsvFormat, bool), String> {
    let Some(&(_, first)) = lines.first() else {
        return Err("the file has no lines".to_owned());
    };
    let columns = |line: &[u8]| line.split(|&b| b == b',').count();
    let first_field = first.split(|&b| b == b',').next().unwrap_or_default();
    if !is_integer(first_field) {
        let header = String::from_utf8_lossy(first);
        return match columns(first) {
            6 if header.trim() == LEVIBOT_HEADER => Ok((CsvFormat::Levibot, true)),
            12 => Ok((CsvFormat::Binance, true)),
            _ => Err(format!(
                "unknown header {:?}: expected {LEVIBOT_HEADER:?}, a 12-column Binance kline header, or no header",
                header.trim()
            )),
        };
    }
    lines
        .iter()
        .find_map(|&(_, line)| match columns(line) {
            6 => Some((CsvFormat::Levibot, false)),
            12 => Some((CsvFormat::Binance, false)),
            _ => None,
        })
        .ok_or_else(|| {
            "no line has 6 (open_time_ms,open,high,low,close,volume) or 12 (Binance kline) columns"
                .to_owned()
        })
}

fn number<T>(text: &str, name: &str) -> Result<T, String>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    text.parse().map_err(|err| format!("{name}: {err}"))
}

fn timestamp(text: &str, name: &str) -> Result<i64, String> {
    text.parse()
        .map_err(|_| format!("{name}: {text:?} is not an integer"))
}

/// Most columns a line may have (Binance's 12).
const MAX_COLUMNS: usize = 12;

/// One data line to a bar, or why not.
fn parse_line(
    line: &[u8],
    format: CsvFormat,
    symbol: Symbol,
    interval: Interval,
) -> Result<Bar, String> {
    let text = std::str::from_utf8(line).map_err(|_| "the line is not utf-8".to_owned())?;
    let mut fields = [""; MAX_COLUMNS];
    let mut columns = 0;
    for field in text.split(',') {
        if let Some(slot) = fields.get_mut(columns) {
            *slot = field.trim();
        }
        columns += 1;
    }
    if columns != format.columns() {
        return Err(format!(
            "expected {} columns, found {columns}",
            format.columns()
        ));
    }
    let [open_time, open, high, low, close, volume, close_time, ..] = fields;
    let mut open_time = timestamp(open_time, "open time")?;
    if format == CsvFormat::Binance {
        let mut close_time = timestamp(close_time, "close time")?;
        if open_time >= MICROS_THRESHOLD {
            if open_time % 1_000 != 0 {
                return Err(format!(
                    "open time {open_time} µs is not a whole millisecond"
                ));
            }
            open_time /= 1_000;
            close_time = close_time.div_euclid(1_000);
        }
        let expected = open_time.checked_add(interval.duration_ms() - 1);
        if expected != Some(close_time) {
            return Err(format!(
                "close time {close_time} does not close a {interval} bar opening at {open_time} (wrong interval?)"
            ));
        }
    }
    Bar::new(
        symbol,
        interval,
        TimestampMs::new(open_time),
        number::<Price>(open, "open")?,
        number::<Price>(high, "high")?,
        number::<Price>(low, "low")?,
        number::<Price>(close, "close")?,
        number::<Quantity>(volume, "volume")?,
    )
    .map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn btc() -> Symbol {
        Symbol::new("BTCUSDT").unwrap()
    }

    fn parse(line: &str, format: CsvFormat) -> Result<Bar, String> {
        parse_line(line.as_bytes(), format, btc(), Interval::M1)
    }

    #[test]
    fn our_line_parses_exactly() {
        let bar = parse(
            "1640991660000,46319.0,46385.0,46319.0,46377.10,2300413.7295",
            CsvFormat::Levibot,
        )
        .unwrap();
        assert_eq!(bar.open_time().as_i64(), 1_640_991_660_000);
        assert_eq!(bar.close().to_string(), "46377.10");
        assert_eq!(bar.volume().to_string(), "2300413.7295");
    }

    #[test]
    fn binance_lines_in_ms_and_us_parse_to_the_same_bar() {
        let ms = "1735689600000,93576.00,93610.93,93537.50,93610.93,8.21827000,1735689659999,768978.99,2101,4.09,382890.26,0";
        let us = "1735689600000000,93576.00,93610.93,93537.50,93610.93,8.21827000,1735689659999999,768978.99,2101,4.09,382890.26,0";
        let a = parse(ms, CsvFormat::Binance).unwrap();
        let b = parse(us, CsvFormat::Binance).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.open_time().as_i64(), 1_735_689_600_000);
        assert_eq!(a.volume().to_string(), "8.21827000");
    }

    #[test]
    fn binance_close_time_must_match_the_interval() {
        let five_minutes = "1735689600000,1,1,1,1,1,1735689899999,1,1,1,1,0";
        let err = parse(five_minutes, CsvFormat::Binance).unwrap_err();
        assert!(err.contains("wrong interval"), "{err}");
    }

    #[test]
    fn bad_lines_say_why() {
        let cases = [
            ("1640991660000,abc,1,1,1,1", "open: invalid decimal \"abc\""),
            ("1640991660000,1,1,2,1,1", "bar low 2 is above high 1"),
            (
                "1640991660000,1,1,1,1,-5",
                "volume: quantity must not be negative",
            ),
            ("1640991660000,1,1,1,1", "expected 6 columns, found 5"),
            ("1640991660001,1,1,1,1,1", "not aligned to interval 1m"),
            ("x,1,1,1,1,1", "open time: \"x\" is not an integer"),
            ("1640991660000,0,1,1,1,1", "open: price must be positive"),
        ];
        for (line, expected) in cases {
            let err = parse(line, CsvFormat::Levibot).unwrap_err();
            assert!(err.contains(expected), "{line}: {err}");
        }
    }

    #[test]
    fn formats_are_detected() {
        let lines = |text: &'static str| -> Vec<(usize, &'static [u8])> {
            text.lines()
                .enumerate()
                .map(|(i, l)| (i + 1, l.as_bytes()))
                .collect()
        };
        assert_eq!(
            detect_format(&lines(
                "open_time_ms,open,high,low,close,volume\n1,1,1,1,1,1"
            )),
            Ok((CsvFormat::Levibot, true))
        );
        assert_eq!(
            detect_format(&lines("1,1,1,1,1,1,1,1,1,1,1,1")),
            Ok((CsvFormat::Binance, false))
        );
        assert_eq!(
            detect_format(&lines("1,1\n1,1,1,1,1,1")),
            Ok((CsvFormat::Levibot, false))
        );
        assert!(detect_format(&lines("time,o,h,l,c,v\n")).is_err());
        assert!(detect_format(&[]).is_err());
    }
}
