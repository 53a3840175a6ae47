//! Shared by the integration tests: a store per test, isolated (its own PostgreSQL schema or
//! its own SQLite file), and a macro running one test body against both backends.

#![allow(
    dead_code,
    unused_macros,
    unreachable_pub,
    reason = "each test crate uses a different part of the support module"
)]

use std::path::PathBuf;

use levibot_core::{Bar, Interval, Price, Quantity, Symbol, TimestampMs};
use levibot_trade_store::{TradeStore, testing::TestSchema};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

enum Guard {
    Postgres(TestSchema),
    Sqlite(tempfile::TempDir),
}

/// A store of its own for one test.
pub struct TestDb {
    store: TradeStore,
    url: String,
    guard: Guard,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let (url, guard) = match backend {
            Backend::Postgres => {
                let schema = TestSchema::create().await.unwrap();
                (schema.url().to_owned(), Guard::Postgres(schema))
            }
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                // a directory that does not exist yet: the store creates it
                let url = format!("sqlite://{}/nested/levibot.db", dir.path().display());
                (url, Guard::Sqlite(dir))
            }
        };
        let store = TradeStore::connect(&url).await.unwrap();
        Self { store, url, guard }
    }

    pub fn store(&self) -> &TradeStore {
        &self.store
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn finish(self) {
        self.store.close().await;
        match self.guard {
            Guard::Postgres(schema) => schema.drop_schema().await.unwrap(),
            Guard::Sqlite(dir) => drop(dir),
        }
    }
}

/// Runs each named `async fn(&TradeStore)` as two tests, `postgres::name` and `sqlite::name`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::support::TestDb::new($crate::support::Backend::Postgres).await;
                    super::$name(db.store()).await;
                    db.finish().await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::support::TestDb::new($crate::support::Backend::Sqlite).await;
                    super::$name(db.store()).await;
                    db.finish().await;
                }
            )*
        }
    };
}

/// A file of the repository's `data/klines`.
pub fn klines(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/klines")
        .join(name)
}

pub const FTX: &str = "ftx_btc-perp_1m_20211231-20220201.csv";
pub const COINBASE_BTC: &str = "coinbase_btc-usd_4h_20160518-20251028.csv";

pub fn sym(s: &str) -> Symbol {
    Symbol::new(s).unwrap()
}

/// A valid bar from text fields.
pub fn bar(symbol: &str, interval: Interval, t: i64, ohlcv: [&str; 5]) -> Bar {
    let p = |s: &str| s.parse::<Price>().unwrap();
    Bar::new(
        sym(symbol),
        interval,
        TimestampMs::new(t),
        p(ohlcv[0]),
        p(ohlcv[1]),
        p(ohlcv[2]),
        p(ohlcv[3]),
        ohlcv[4].parse::<Quantity>().unwrap(),
    )
    .unwrap()
}

/// A bar as comparable text: open time and the five decimals exactly as displayed.
pub fn text(bar: &Bar) -> (i64, String, String, String, String, String) {
    (
        bar.open_time().as_i64(),
        bar.open().to_string(),
        bar.high().to_string(),
        bar.low().to_string(),
        bar.close().to_string(),
        bar.volume().to_string(),
    )
}

/// The data lines of one of our CSV files, as [`text`] tuples.
pub fn csv_rows(name: &str) -> Vec<(i64, String, String, String, String, String)> {
    std::fs::read_to_string(klines(name))
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            (
                f[0].parse().unwrap(),
                f[1].to_owned(),
                f[2].to_owned(),
                f[3].to_owned(),
                f[4].to_owned(),
                f[5].to_owned(),
            )
        })
        .collect()
}

pub const ALL_TIME: (TimestampMs, TimestampMs) =
    (TimestampMs::new(i64::MIN), TimestampMs::new(i64::MAX));
