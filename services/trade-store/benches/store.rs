//! Trade-store benchmarks (no harness): CSV import rows/s into PostgreSQL (a fresh schema per
//! run) and SQLite (a fresh file per run), and the time to stream a 45,000-bar range back.
//! `cargo bench -p levibot-trade-store --bench store`; PostgreSQL from
//! `LEVIBOT_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark binary: fails loudly, prints its results"
)]

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use futures::TryStreamExt;
use levibot_core::{Interval, Symbol, TimestampMs};
use levibot_trade_store::{TradeStore, import_csv, testing::TestSchema};

const RUNS: usize = 5;
const FILE: &str = "ftx_btc-perp_1m_20211231-20220201.csv";

fn file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/klines")
        .join(FILE)
}

fn symbol() -> Symbol {
    Symbol::new("BTC-PERP").unwrap()
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A fresh store and what must happen after the run to clean it up.
enum Fresh {
    Postgres(TestSchema),
    Sqlite(tempfile::TempDir),
}

async fn fresh(postgres: bool) -> (TradeStore, Fresh) {
    if postgres {
        let schema = TestSchema::create().await.unwrap();
        let store = TradeStore::connect(schema.url()).await.unwrap();
        (store, Fresh::Postgres(schema))
    } else {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/bench.db", dir.path().display());
        let store = TradeStore::connect(&url).await.unwrap();
        (store, Fresh::Sqlite(dir))
    }
}

async fn cleanup(store: TradeStore, fresh: Fresh) {
    store.close().await;
    match fresh {
        Fresh::Postgres(schema) => schema.drop_schema().await.unwrap(),
        Fresh::Sqlite(dir) => dir.close().unwrap(),
    }
}

async fn bench(name: &str, postgres: bool) {
    let mut imports = Vec::new();
    let mut rows = 0;
    let mut queries = Vec::new();
    let mut bars = 0;
    for run in 0..RUNS {
        let (store, fresh) = fresh(postgres).await;
        let started = Instant::now();
        let report = import_csv(&store, &file(), symbol(), Interval::M1, |_, _| {})
            .await
            .unwrap();
        imports.push(started.elapsed());
        rows = report.imported;
        assert!(report.rejected.is_empty());
        if run == 0 {
            // query timing on one store: the first read warms the caches like a live service
            let _: Vec<_> = store
                .query_bars(
                    symbol(),
                    Interval::M1,
                    TimestampMs::new(0),
                    TimestampMs::new(i64::MAX),
                )
                .try_collect()
                .await
                .unwrap();
            for _ in 0..RUNS {
                let started = Instant::now();
                let got: Vec<_> = store
                    .query_bars(
                        symbol(),
                        Interval::M1,
                        TimestampMs::new(0),
                        TimestampMs::new(i64::MAX),
                    )
                    .try_collect()
                    .await
                    .unwrap();
                queries.push(started.elapsed());
                bars = got.len();
            }
        }
        cleanup(store, fresh).await;
    }
    let import = median(imports);
    let rate = (rows as f64 / import.as_secs_f64()) as u64;
    println!(
        "bench trade_store.import_{name}: {} rows/s ({} rows, median of {RUNS} fresh imports, {:.0} ms)",
        grouped(rate),
        grouped(rows),
        import.as_secs_f64() * 1_000.0
    );
    println!(
        "bench trade_store.query_{name}: {:.1} ms ({} bars, median of {RUNS})",
        median(queries).as_secs_f64() * 1_000.0,
        grouped(bars as u64)
    );
}

/// The server's ceiling at the moment: a raw text `COPY` of the same rows into a fresh `bars`
/// (no parsing, no validation, no idempotency check), to read the import rate against.
async fn copy_baseline() {
    use sqlx::Connection;
    let tsv: String = std::fs::read_to_string(file())
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| format!("BTC-PERP\t1m\t{}\n", line.replace(',', "\t")))
        .collect();
    let rows = tsv.lines().count() as u64;
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let (store, fresh) = fresh(true).await;
        let Fresh::Postgres(schema) = &fresh else {
            unreachable!()
        };
        let mut conn = sqlx::PgConnection::connect(schema.url()).await.unwrap();
        let started = Instant::now();
        let mut copy = conn
            .copy_in_raw(
                "COPY bars (symbol, interval, open_time_ms, open, high, low, close, volume) FROM STDIN",
            )
            .await
            .unwrap();
        copy.send(tsv.as_bytes()).await.unwrap();
        assert_eq!(copy.finish().await.unwrap(), rows);
        runs.push(started.elapsed());
        conn.close().await.unwrap();
        cleanup(store, fresh).await;
    }
    let took = median(runs);
    println!(
        "bench trade_store.copy_baseline_pg: {} rows/s (raw COPY of the same rows into a fresh bars, median of {RUNS}: the server's ceiling right now)",
        grouped((rows as f64 / took.as_secs_f64()) as u64)
    );
}

#[tokio::main]
async fn main() {
    // the machine is shared: its load says how much of it the figures below had
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    println!(
        "machine: {} cores, load average {load}; postgresql at {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        levibot_config::redact_url(&levibot_trade_store::testing::test_database_url())
    );
    copy_baseline().await;
    bench("pg", true).await;
    bench("sqlite", false).await;
}
