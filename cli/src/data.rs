//! `levibot data`: the stored market data. `list` shows every stored bar series, `import` loads
//! a kline CSV file (ours or Binance's) into the store of `store.database_url`, `gaps` lists the
//! missing bars of a series. Times are shown and read as UTC.

use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
};

use clap::Subcommand;
use levibot_config::{Config, redact_url};
use levibot_core::{Interval, Symbol, TimestampMs};
use levibot_trade_store::{ImportReport, TradeStore, import_csv, store::Gap};

/// What `levibot data` does.
#[derive(Debug, Clone, Subcommand)]
pub enum DataCommand {
    /// List the stored bar series: symbol, interval, first and last bar (UTC), count.
    List,
    /// Import a kline CSV file: ours (`open_time_ms,open,high,low,close,volume`) or Binance's
    /// 12-column klines (open time in ms or µs). Bad lines are reported and skipped; importing
    /// the same file again changes nothing.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// The symbol the bars are of, e.g. BTCUSDT.
        #[arg(long)]
        symbol: Symbol,
        /// The bar interval: 1s, 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, 1d, 3d, 1w.
        #[arg(long, default_value = "1m")]
        interval: Interval,
    },
    /// Fetch a range of bars from the exchange's REST klines endpoint (`GET /api/v3/klines`,
    /// paged by 1000) and store the closed ones; stored bars that agree are left unchanged.
    Backfill {
        /// The symbol, e.g. BTCUSDT.
        symbol: Symbol,
        /// The bar interval.
        #[arg(long, default_value = "1m")]
        interval: Interval,
        /// First open time: `YYYY-MM-DD`, `YYYY-MM-DD HH:MM` (UTC) or epoch milliseconds.
        #[arg(long, value_parser = parse_time)]
        from: TimestampMs,
        /// End, exclusive, in the same forms.
        #[arg(long, value_parser = parse_time)]
        to: TimestampMs,
        /// REST base URL: Binance live (the default), the testnet, or a local
        /// `levibot exchange-sim` (`http://127.0.0.1:9443`).
        #[arg(long, default_value = levibot_exchange::binance::LIVE_REST_URL)]
        base_url: String,
    },
    /// List the missing bars of a series, as ranges of open times (UTC).
    Gaps {
        /// The symbol, e.g. BTCUSDT.
        symbol: Symbol,
        /// The bar interval.
        #[arg(long, default_value = "1m")]
        interval: Interval,
        /// First open time to check: `YYYY-MM-DD`, `YYYY-MM-DD HH:MM` (UTC) or epoch
        /// milliseconds. Default: the first stored bar.
        #[arg(long, value_parser = parse_time)]
        from: Option<TimestampMs>,
        /// End of the check, exclusive, in the same forms. Default: just after the last stored
        /// bar.
        #[arg(long, value_parser = parse_time)]
        to: Option<TimestampMs>,
    },
}

/// Runs `command` against the store of `config`; returns what to print on stdout. `import`
/// shows its progress on stderr when stderr is a terminal.
pub async fn run(config: &Config, command: DataCommand) -> Result<String, String> {
    let url = &config.store.database_url;
    let store = TradeStore::connect(url)
        .await
        .map_err(|err| format!("cannot open the store at {}: {err}", redact_url(url)))?;
    let result = match command {
        DataCommand::List => list(&store).await,
        DataCommand::Import {
            file,
            symbol,
            interval,
        } => import(&store, file, symbol, interval).await,
        DataCommand::Gaps {
            symbol,
            interval,
            from,
            to,
        } => gaps(&store, symbol, interval, from, to).await,
        DataCommand::Backfill {
            symbol,
            interval,
            from,
            to,
            base_url,
        } => backfill(&store, symbol, interval, from, to, &base_url).await,
    };
    store.close().await;
    result
}

async fn backfill(
    store: &TradeStore,
    symbol: Symbol,
    interval: Interval,
    from: TimestampMs,
    to: TimestampMs,
    base_url: &str,
) -> Result<String, String> {
    use levibot_core::{Clock, LiveClock};
    use levibot_exchange::{
        ExchangeMetrics,
        binance::{RestClient, RestConfig},
    };

    if to <= from {
        return Err(format!(
            "--to ({}) must be after --from ({})",
            format_utc(to),
            format_utc(from)
        ));
    }
    let registry = levibot_telemetry::metrics::Registry::new();
    let metrics = ExchangeMetrics::new(&registry).map_err(|err| err.to_string())?;
    let config = RestConfig {
        base_url: base_url.to_owned(),
        ..RestConfig::default()
    };
    let client = RestClient::new(&config, metrics).map_err(|err| err.to_string())?;
    let last = to.checked_sub_ms(1).unwrap_or(to);
    let fetched = client
        .klines(symbol, interval, from, last)
        .await
        .map_err(|err| format!("cannot fetch klines from {base_url}: {err}"))?;
    // a bar whose period has not ended is still changing: only closed bars are stored
    let now = LiveClock::new().now();
    let closed: Vec<_> = fetched
        .iter()
        .copied()
        .filter(|bar| bar.close_time() < now)
        .collect();
    let (mut inserted, mut updated, mut unchanged) = (0, 0, 0);
    for chunk in closed.chunks(10_000) {
        let report = store
            .upsert_bars(chunk)
            .await
            .map_err(|err| err.to_string())?;
        inserted += report.inserted;
        updated += report.updated;
        unchanged += report.unchanged;
    }
    Ok(format!(
        "backfilled {symbol} {interval} from {} to {} (exclusive) from {base_url}: {} bars fetched, {} still open skipped, {inserted} new, {updated} updated, {unchanged} unchanged\n",
        format_utc(from),
        format_utc(to),
        fetched.len(),
        fetched.len() - closed.len(),
    ))
}

async fn list(store: &TradeStore) -> Result<String, String> {
    let series = store.series().await.map_err(|err| err.to_string())?;
    if series.is_empty() {
        return Ok(format!(
            "no bars stored ({} store)\n",
            store.backend().as_str()
        ));
    }
    let rows: Vec<[String; 5]> = series
        .iter()
        .map(|s| {
            [
                s.symbol.to_string(),
                s.interval.to_string(),
                format_utc(s.first),
                format_utc(s.last),
                s.count.to_string(),
            ]
        })
        .collect();
    Ok(table(
        ["SYMBOL", "INTERVAL", "FIRST", "LAST", "COUNT"],
        &rows,
    ))
}

async fn import(
    store: &TradeStore,
    file: PathBuf,
    symbol: Symbol,
    interval: Interval,
) -> Result<String, String> {
    let show_progress = std::io::stderr().is_terminal();
    let name = file.display().to_string();
    let report = import_csv(store, &file, symbol, interval, |done, total| {
        if show_progress {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\rimporting {name}: {done}/{total} lines");
            let _ = err.flush();
        }
    })
    .await;
    if show_progress {
        eprintln!();
    }
    let report = report.map_err(|err| err.to_string())?;
    Ok(import_summary(&name, symbol, interval, &report))
}

fn import_summary(name: &str, symbol: Symbol, interval: Interval, report: &ImportReport) -> String {
    let mut text = format!(
        "imported {name} as {symbol} {interval} ({} format): {} new, {} updated, {} unchanged, {} rejected\n",
        report.format,
        report.imported,
        report.updated,
        report.unchanged,
        report.rejected.len()
    );
    for rejected in &report.rejected {
        text.push_str(&format!("  line {}: {}\n", rejected.line, rejected.reason));
    }
    text
}

async fn gaps(
    store: &TradeStore,
    symbol: Symbol,
    interval: Interval,
    from: Option<TimestampMs>,
    to: Option<TimestampMs>,
) -> Result<String, String> {
    let (from, to) = match (from, to) {
        (Some(from), Some(to)) => (from, to),
        (from, to) => {
            let series = store.series().await.map_err(|err| err.to_string())?;
            let Some(stored) = series
                .iter()
                .find(|s| s.symbol == symbol && s.interval == interval)
            else {
                return Err(format!(
                    "no {symbol} {interval} bars stored; give --from and --to to check a range anyway"
                ));
            };
            let after_last = stored
                .last
                .checked_add_ms(interval.duration_ms())
                .unwrap_or(stored.last);
            (from.unwrap_or(stored.first), to.unwrap_or(after_last))
        }
    };
    if from > to {
        return Err(format!(
            "--from {} is after --to {}",
            format_utc(from),
            format_utc(to)
        ));
    }
    let gaps = store
        .gaps(symbol, interval, from, to)
        .await
        .map_err(|err| err.to_string())?;
    Ok(gaps_report(symbol, interval, from, to, &gaps))
}

fn gaps_report(
    symbol: Symbol,
    interval: Interval,
    from: TimestampMs,
    to: TimestampMs,
    gaps: &[Gap],
) -> String {
    let missing: u64 = gaps.iter().map(|g| g.missing).sum();
    let mut text = format!(
        "{symbol} {interval} from {} to {} (exclusive): {}, {}\n",
        format_utc(from),
        format_utc(to),
        plural(gaps.len() as u64, "gap"),
        plural(missing, "missing bar"),
    );
    if !gaps.is_empty() {
        let rows: Vec<[String; 3]> = gaps
            .iter()
            .map(|g| [format_utc(g.from), format_utc(g.to), g.missing.to_string()])
            .collect();
        text.push_str(&table(["MISSING FROM", "UNTIL (EXCLUSIVE)", "BARS"], &rows));
    }
    text
}

/// `1 gap`, `3 gaps`.
fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("{n} {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// An aligned text table, columns separated by two spaces.
pub(crate) fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut text = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  "));
            }
        }
        text.push_str(out.trim_end());
        text.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    text
}

const MS_PER_MINUTE: i64 = 60_000;
const MS_PER_DAY: i64 = 86_400_000;

/// `ms` as `YYYY-MM-DD HH:MM` (UTC).
pub(crate) fn format_utc(ms: TimestampMs) -> String {
    let (year, month, day) = ms.utc_date();
    let minutes = ms.as_i64().rem_euclid(MS_PER_DAY) / MS_PER_MINUTE;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        minutes / 60,
        minutes % 60
    )
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DD HH:MM`, `YYYY-MM-DDTHH:MM` (UTC) or epoch milliseconds.
fn parse_time(text: &str) -> Result<TimestampMs, String> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(TimestampMs::new(ms));
    }
    let bad =
        || format!("{text:?} is not YYYY-MM-DD, YYYY-MM-DD HH:MM (UTC) or epoch milliseconds");
    let (date, time) = match text.split_once([' ', 'T']) {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let mut parts = date.splitn(3, '-');
    let mut number = |max: i64| -> Result<i64, String> {
        let value: i64 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        if (0..=max).contains(&value) {
            Ok(value)
        } else {
            Err(bad())
        }
    };
    let (year, month, day) = (number(9_999)?, number(12)?, number(31)?);
    if month == 0 || day == 0 || day > days_in_month(year, month) {
        return Err(bad());
    }
    let minutes = match time {
        None => 0,
        Some(time) => {
            let (hours, minutes) = time.split_once(':').ok_or_else(bad)?;
            let hours: i64 = hours.parse().map_err(|_| bad())?;
            let minutes: i64 = minutes.parse().map_err(|_| bad())?;
            if !(0..24).contains(&hours) || !(0..60).contains(&minutes) {
                return Err(bad());
            }
            hours * 60 + minutes
        }
    };
    Ok(TimestampMs::new(
        days_from_civil(year, month, day) * MS_PER_DAY + minutes * MS_PER_MINUTE,
    ))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use levibot_trade_store::{CsvFormat, RejectedLine};

    use super::*;

    #[test]
    fn utc_times_format_and_parse_back() {
        for (ms, text) in [
            (0, "1970-01-01 00:00"),
            (1_640_991_660_000, "2021-12-31 23:01"),
            (1_643_693_460_000, "2022-02-01 05:31"),
            (1_709_164_800_000, "2024-02-29 00:00"),
            (-60_000, "1969-12-31 23:59"),
        ] {
            assert_eq!(format_utc(TimestampMs::new(ms)), text);
            assert_eq!(parse_time(text).unwrap().as_i64(), ms, "{text}");
        }
        assert_eq!(
            parse_time("2022-01-01").unwrap().as_i64(),
            1_640_995_200_000
        );
        assert_eq!(
            parse_time("2022-01-01T00:01").unwrap().as_i64(),
            1_640_995_260_000
        );
        assert_eq!(
            parse_time("1640995200000").unwrap().as_i64(),
            1_640_995_200_000
        );
        for bad in [
            "2022-02-30",
            "2022-13-01",
            "2022-01-01 24:00",
            "yesterday",
            "2022-01",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tables_align_their_columns() {
        let rows = [
            ["BTC-PERP".to_owned(), "1m".to_owned(), "45031".to_owned()],
            ["ETHUSDT".to_owned(), "4h".to_owned(), "7".to_owned()],
        ];
        assert_eq!(
            table(["SYMBOL", "INTERVAL", "COUNT"], &rows),
            "SYMBOL    INTERVAL  COUNT\nBTC-PERP  1m        45031\nETHUSDT   4h        7\n"
        );
    }

    #[test]
    fn reports_name_rejected_lines_and_gaps() {
        let report = ImportReport {
            format: CsvFormat::Levibot,
            imported: 4,
            updated: 0,
            unchanged: 1,
            rejected: vec![RejectedLine {
                line: 3,
                reason: "volume: quantity must not be negative, got -1".into(),
            }],
        };
        let symbol = Symbol::new("BTCUSDT").unwrap();
        let text = import_summary("x.csv", symbol, Interval::M1, &report);
        assert_eq!(
            text,
            "imported x.csv as BTCUSDT 1m (levibot format): 4 new, 0 updated, 1 unchanged, 1 rejected\n  line 3: volume: quantity must not be negative, got -1\n"
        );
        let gap = Gap {
            from: TimestampMs::new(1_488_312_000_000),
            to: TimestampMs::new(1_488_326_400_000),
            missing: 1,
        };
        let text = gaps_report(
            symbol,
            Interval::H4,
            TimestampMs::new(1_463_544_000_000),
            TimestampMs::new(1_761_667_200_000),
            &[gap],
        );
        assert!(
            text.starts_with("BTCUSDT 4h from 2016-05-18 04:00 to"),
            "{text}"
        );
        assert!(text.contains(": 1 gap, 1 missing bar\n"), "{text}");
        assert!(
            text.contains("2017-02-28 20:00  2017-03-01 00:00   1"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn list_import_and_gaps_run_against_a_store() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.store.database_url = format!("sqlite://{}/levibot.db", dir.path().display());
        let empty = run(&config, DataCommand::List).await.unwrap();
        assert_eq!(empty, "no bars stored (sqlite store)\n");

        let file = dir.path().join("bars.csv");
        std::fs::write(
            &file,
            "open_time_ms,open,high,low,close,volume\n\
             1640995200000,1,1,1,1,1\n\
             1640995260000,1,1,1,1,-1\n\
             1640995380000,1,1,1,1,1\n",
        )
        .unwrap();
        let import = DataCommand::Import {
            file: file.clone(),
            symbol: Symbol::new("BTCUSDT").unwrap(),
            interval: Interval::M1,
        };
        let text = run(&config, import.clone()).await.unwrap();
        assert!(
            text.contains(": 2 new, 0 updated, 0 unchanged, 1 rejected"),
            "{text}"
        );
        assert!(text.contains("  line 3: volume"), "{text}");
        let again = run(&config, import).await.unwrap();
        assert!(again.contains(": 0 new, 0 updated, 2 unchanged"), "{again}");

        let list = run(&config, DataCommand::List).await.unwrap();
        assert_eq!(
            list,
            "SYMBOL   INTERVAL  FIRST             LAST              COUNT\n\
             BTCUSDT  1m        2022-01-01 00:00  2022-01-01 00:03  2\n"
        );
        let gaps = DataCommand::Gaps {
            symbol: Symbol::new("BTCUSDT").unwrap(),
            interval: Interval::M1,
            from: None,
            to: None,
        };
        let text = run(&config, gaps).await.unwrap();
        assert!(text.contains(": 1 gap, 2 missing bars\n"), "{text}");
        assert!(
            text.contains("2022-01-01 00:01  2022-01-01 00:03   2"),
            "{text}"
        );

        let unknown = DataCommand::Gaps {
            symbol: Symbol::new("ETHUSDT").unwrap(),
            interval: Interval::M1,
            from: None,
            to: None,
        };
        assert!(
            run(&config, unknown)
                .await
                .unwrap_err()
                .contains("no ETHUSDT 1m bars stored")
        );
    }
}
