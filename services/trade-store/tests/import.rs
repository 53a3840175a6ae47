//! CSV import against both backends: the shipped kline files import exactly, a re-import is a
//! no-op, broken lines are named with their line number and reason while the rest imports,
//! and the gaps of the Coinbase file are the ones its README lists.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

#[macro_use]
mod support;

use futures::TryStreamExt;
use levibot_core::{Interval, TimestampMs};
use levibot_trade_store::{CsvFormat, ImportError, TradeStore, import_csv, store::Gap};
use support::{ALL_TIME, COINBASE_BTC, FTX, csv_rows, klines, sym, text};

async fn ftx_imports_exactly_and_reimports_as_a_no_op(store: &TradeStore) {
    let mut calls = Vec::new();
    let report = import_csv(
        store,
        &klines(FTX),
        sym("BTC-PERP"),
        Interval::M1,
        |done, total| {
            calls.push((done, total));
        },
    )
    .await
    .unwrap();
    assert_eq!(report.format, CsvFormat::Levibot);
    assert_eq!(
        (report.imported, report.updated, report.unchanged),
        (45_031, 0, 0)
    );
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(calls.last(), Some(&(45_031, 45_031)));
    assert!(calls.windows(2).all(|w| w[0].0 < w[1].0), "{calls:?}");

    // exactly the file, in order, every decimal with its scale
    let stored: Vec<_> = store
        .query_bars(sym("BTC-PERP"), Interval::M1, ALL_TIME.0, ALL_TIME.1)
        .try_collect()
        .await
        .unwrap();
    let stored: Vec<_> = stored.iter().map(text).collect();
    assert_eq!(stored.len(), 45_031);
    assert_eq!(stored, csv_rows(FTX));

    let again = import_csv(
        store,
        &klines(FTX),
        sym("BTC-PERP"),
        Interval::M1,
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(
        (again.imported, again.updated, again.unchanged),
        (0, 0, 45_031)
    );
    assert!(again.rejected.is_empty());

    let series = store.series().await.unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].count, 45_031);
    assert_eq!(series[0].first.as_i64(), 1_640_991_660_000); // 2021-12-31 23:01
    assert_eq!(series[0].last.as_i64(), 1_643_693_460_000); // 2022-02-01 05:31
    let gaps = store
        .gaps(
            sym("BTC-PERP"),
            Interval::M1,
            series[0].first,
            TimestampMs::new(series[0].last.as_i64() + 1),
        )
        .await
        .unwrap();
    assert!(gaps.is_empty(), "{gaps:?}");
}

async fn coinbase_has_the_three_gaps_of_the_readme(store: &TradeStore) {
    let report = import_csv(
        store,
        &klines(COINBASE_BTC),
        sym("BTC-USD"),
        Interval::H4,
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(report.imported, 20_695);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);

    // what the file itself says: consecutive open times more than 4 h apart
    const H4: i64 = 14_400_000;
    let rows = csv_rows(COINBASE_BTC);
    let from_file: Vec<Gap> = rows
        .windows(2)
        .filter(|w| w[1].0 - w[0].0 > H4)
        .map(|w| Gap {
            from: TimestampMs::new(w[0].0 + H4),
            to: TimestampMs::new(w[1].0),
            missing: ((w[1].0 - w[0].0) / H4 - 1) as u64,
        })
        .collect();

    let first = rows[0].0;
    let last = rows[rows.len() - 1].0;
    let gaps = store
        .gaps(
            sym("BTC-USD"),
            Interval::H4,
            TimestampMs::new(first),
            TimestampMs::new(last + 1),
        )
        .await
        .unwrap();
    assert_eq!(gaps, from_file);
    let shape: Vec<_> = gaps
        .iter()
        .map(|g| (g.from.as_i64(), g.to.as_i64(), g.missing))
        .collect();
    assert_eq!(
        shape,
        vec![
            (1_488_312_000_000, 1_488_326_400_000, 1), // 2017-02-28 20:00
            (1_533_873_600_000, 1_533_916_800_000, 3), // 2018-08-10 04:00 .. 12:00
            (1_761_408_000_000, 1_761_422_400_000, 1), // 2025-10-25 16:00
        ]
    );
    assert_eq!(gaps.iter().map(|g| g.missing).sum::<u64>(), 5);
}

async fn broken_lines_are_named_and_the_rest_imports(store: &TradeStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.csv");
    let t = |i: i64| 1_640_995_200_000 + i * 60_000;
    let lines = [
        "open_time_ms,open,high,low,close,volume".to_owned(), // 1
        format!("{},100.5,101,99.5,100.75,12.5", t(0)),       // 2 ok
        format!("{},100.5,1O1,99.5,100.75,12.5", t(1)),       // 3 bad number (letter O)
        format!("{},100,99,101,100,1", t(1)),                 // 4 high < low
        format!("{},100,101,99,100,-1", t(1)),                // 5 negative volume
        format!("{},100,101,99,100,1", t(1)),                 // 6 ok
        format!("{},100,101,99,100,1", t(1)),                 // 7 duplicate time
        format!("{},100,101,99,100,1", t(0)),                 // 8 decreasing time
        format!("{},100,101,99,100", t(2)),                   // 9 wrong column count
        format!("{},100,101,99,100,1", t(2) + 1_000),         // 10 misaligned
        format!("{},100,101,99,100,1", t(2)),                 // 11 ok
        String::new(),                                        // 12 blank: skipped
        format!("{},100,101,99,100,1,extra", t(3)),           // 13 wrong column count
        format!("{},100,101,99,100,0", t(3)),                 // 14 ok (zero volume)
    ];
    std::fs::write(&path, lines.join("\r\n") + "\r\n").unwrap();

    let report = import_csv(store, &path, sym("BTCUSDT"), Interval::M1, |_, _| {})
        .await
        .unwrap();
    assert_eq!(report.imported, 4);
    let rejected: Vec<(usize, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    let expected = [
        (3, "high: invalid decimal \"1O1\""),
        (4, "bar low 101 is above high 99"),
        (5, "volume: quantity must not be negative, got -1"),
        (7, "is not after the previous bar's"),
        (8, "is not after the previous bar's"),
        (9, "expected 6 columns, found 5"),
        (10, "is not aligned to interval 1m"),
        (13, "expected 6 columns, found 7"),
    ];
    assert_eq!(rejected.len(), expected.len(), "{rejected:#?}");
    for ((line, reason), (want_line, want)) in rejected.iter().zip(expected) {
        assert_eq!(*line, want_line, "{rejected:#?}");
        assert!(reason.contains(want), "line {line}: {reason}");
    }
    let stored: Vec<_> = store
        .query_bars(sym("BTCUSDT"), Interval::M1, ALL_TIME.0, ALL_TIME.1)
        .try_collect()
        .await
        .unwrap();
    let times: Vec<_> = stored.iter().map(|b| b.open_time().as_i64()).collect();
    assert_eq!(times, vec![t(0), t(1), t(2), t(3)]);
    assert_eq!(stored[0].close().to_string(), "100.75");
}

async fn binance_klines_in_ms_and_us_import(store: &TradeStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("BTCUSDT-1m-2025-01.csv");
    // no header; the first two lines in ms (2024 dumps), the last in µs (2025 dumps)
    let text = "\
1735689480000,93530.01,93576.00,93530.00,93576.00,3.94735000,1735689539999,369273.51,1030,2.02,189161.99,0
1735689540000,93576.00,93576.00,93550.00,93550.01,2.04912000,1735689599999,191740.31,660,0.88,82315.68,0
1735689600000000,93576.00,93610.93,93537.50,93610.93,8.21827000,1735689659999999,768978.99,2101,4.09,382890.26,0
1735689660000000,93610.93,93610.93,93610.93,93610.93,1,1735689959999999,1,1,1,1,0
";
    std::fs::write(&path, text).unwrap();
    let report = import_csv(store, &path, sym("BTCUSDT"), Interval::M1, |_, _| {})
        .await
        .unwrap();
    assert_eq!(report.format, CsvFormat::Binance);
    assert_eq!(report.imported, 3);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].line, 4);
    assert!(
        report.rejected[0].reason.contains("wrong interval"),
        "{:?}",
        report.rejected
    );
    let stored: Vec<_> = store
        .query_bars(sym("BTCUSDT"), Interval::M1, ALL_TIME.0, ALL_TIME.1)
        .try_collect()
        .await
        .unwrap();
    let times: Vec<_> = stored.iter().map(|b| b.open_time().as_i64()).collect();
    assert_eq!(
        times,
        vec![1_735_689_480_000, 1_735_689_540_000, 1_735_689_600_000]
    );
    assert_eq!(stored[2].volume().to_string(), "8.21827000");
}

on_both_backends!(
    ftx_imports_exactly_and_reimports_as_a_no_op,
    coinbase_has_the_three_gaps_of_the_readme,
    broken_lines_are_named_and_the_rest_imports,
    binance_klines_in_ms_and_us_import,
);

#[tokio::test]
async fn unreadable_and_unknown_files_stop_the_import() {
    let store = TradeStore::connect("sqlite::memory:").await.unwrap();
    let err = import_csv(
        &store,
        "/nonexistent/x.csv".as_ref(),
        sym("BTCUSDT"),
        Interval::M1,
        |_, _| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ImportError::Read { .. }), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trades.csv");
    std::fs::write(
        &path,
        "trade_time_ms,local_recv_ns,trade_id,price,qty,is_buyer_maker\n1,2,3,4,5,true\n",
    )
    .unwrap();
    let err = import_csv(&store, &path, sym("BTCUSDT"), Interval::M1, |_, _| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown header"), "{err}");
}
