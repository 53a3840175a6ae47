//! Throwaway profiling of the 45k-bar query path (not committed).
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]
use futures::TryStreamExt;
use levibot_core::{Bar, Interval, Price, Quantity, Symbol, TimestampMs};
use levibot_trade_store::{TradeStore, import_csv, testing::TestSchema};
use rust_decimal::Decimal;
use sqlx::Row;
use std::time::Instant;

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let file = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/klines/ftx_btc-perp_1m_20211231-20220201.csv");
    let sym = Symbol::new("BTC-PERP").unwrap();
    let schema = TestSchema::create().await.unwrap();
    let store = TradeStore::connect(schema.url()).await.unwrap();
    import_csv(&store, &file, sym, Interval::M1, |_, _| {})
        .await
        .unwrap();
    let pool = sqlx::PgPool::connect(schema.url()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = TradeStore::connect(&format!("sqlite://{}/p.db", dir.path().display()))
        .await
        .unwrap();
    import_csv(&sqlite, &file, sym, Interval::M1, |_, _| {})
        .await
        .unwrap();
    for round in 0..3 {
        println!("--- round {round}");
        let t = Instant::now();
        let bars: Vec<Bar> = store
            .query_bars(
                sym,
                Interval::M1,
                TimestampMs::new(0),
                TimestampMs::new(i64::MAX),
            )
            .try_collect()
            .await
            .unwrap();
        println!("store.query_bars pg: {:.1} ms ({} bars)", ms(t), bars.len());
        let t = Instant::now();
        let bars: Vec<Bar> = sqlite
            .query_bars(
                sym,
                Interval::M1,
                TimestampMs::new(0),
                TimestampMs::new(i64::MAX),
            )
            .try_collect()
            .await
            .unwrap();
        println!(
            "store.query_bars sqlite: {:.1} ms ({} bars)",
            ms(t),
            bars.len()
        );

        let t = Instant::now();
        let rows: Vec<(i64, String, String, String, String, String)> = sqlx::query_as("SELECT open_time_ms, open::text, high::text, low::text, close::text, volume::text FROM bars WHERE symbol = $1 AND interval = $2 ORDER BY open_time_ms").bind("BTC-PERP").bind("1m").fetch_all(&pool).await.unwrap();
        println!("pg fetch text, one query: {:.1} ms ({})", ms(t), rows.len());
        let t = Instant::now();
        let parsed: Vec<[Decimal; 5]> = rows
            .iter()
            .map(|r| {
                [
                    r.1.parse().unwrap(),
                    r.2.parse().unwrap(),
                    r.3.parse().unwrap(),
                    r.4.parse().unwrap(),
                    r.5.parse().unwrap(),
                ]
            })
            .collect();
        println!("  parse decimals: {:.1} ms", ms(t));
        let t = Instant::now();
        let bars: Vec<Bar> = rows
            .iter()
            .zip(&parsed)
            .map(|(r, d)| {
                Bar::new(
                    sym,
                    Interval::M1,
                    TimestampMs::new(r.0),
                    Price::new(d[0]).unwrap(),
                    Price::new(d[1]).unwrap(),
                    Price::new(d[2]).unwrap(),
                    Price::new(d[3]).unwrap(),
                    Quantity::new(d[4]).unwrap(),
                )
                .unwrap()
            })
            .collect();
        println!("  Bar::new: {:.1} ms ({})", ms(t), bars.len());

        let t = Instant::now();
        let rows: Vec<(i64, Decimal, Decimal, Decimal, Decimal, Decimal)> = sqlx::query_as("SELECT open_time_ms, open, high, low, close, volume FROM bars WHERE symbol = $1 AND interval = $2 ORDER BY open_time_ms").bind("BTC-PERP").bind("1m").fetch_all(&pool).await.unwrap();
        println!(
            "pg fetch binary numeric (sqlx Decimal), one query: {:.1} ms ({})",
            ms(t),
            rows.len()
        );

        let t = Instant::now();
        let rows = sqlx::query("SELECT open_time_ms, open, high, low, close, volume FROM bars WHERE symbol = $1 AND interval = $2 ORDER BY open_time_ms").bind("BTC-PERP").bind("1m").fetch_all(&pool).await.unwrap();
        println!(
            "pg fetch raw rows binary, no decode: {:.1} ms ({})",
            ms(t),
            rows.len()
        );
        let t = Instant::now();
        let n: usize = rows
            .iter()
            .map(|r| r.try_get_raw(1).map(|_| 1).unwrap_or(0))
            .sum();
        println!("  touch: {:.1} ms {n}", ms(t));

        let t = Instant::now();
        let text: String = sqlx::query_scalar("SELECT string_agg(open_time_ms || ',' || open || ',' || high || ',' || low || ',' || close || ',' || volume, ';' ORDER BY open_time_ms) FROM bars WHERE symbol = $1 AND interval = $2").bind("BTC-PERP").bind("1m").fetch_one(&pool).await.unwrap();
        println!(
            "pg string_agg one row: {:.1} ms ({} bytes)",
            ms(t),
            text.len()
        );
    }
    store.close().await;
    schema.drop_schema().await.unwrap();
}
