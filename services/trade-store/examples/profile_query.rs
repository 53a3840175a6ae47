//! Throwaway profiling of the 45k-bar query path (not committed).
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]
use futures::TryStreamExt;
use levibot_core::{Bar, Interval, Price, Quantity, Symbol, TimestampMs};
use levibot_trade_store::{TradeStore, import_csv, testing::TestSchema};
use rust_decimal::Decimal;
use sqlx::{Row, postgres::PgPoolCopyExt};

fn numeric(b: &[u8]) -> Decimal {
    let n = i16::from_be_bytes([b[0], b[1]]) as usize;
    let weight = i16::from_be_bytes([b[2], b[3]]) as i32;
    let sign = u16::from_be_bytes([b[4], b[5]]);
    let dscale = u16::from_be_bytes([b[6], b[7]]) as i32;
    let mut m: i128 = 0;
    for i in 0..n { m = m * 10_000 + i16::from_be_bytes([b[8 + 2 * i], b[9 + 2 * i]]) as i128; }
    let exp = 4 * (weight - n as i32 + 1) + dscale;
    if exp >= 0 { m *= 10i128.pow(exp as u32); } else { m /= 10i128.pow((-exp) as u32); }
    if sign == 0x4000 { m = -m; }
    Decimal::from_i128_with_scale(m, dscale as u32)
}

/// binary array of int8 or numeric: ndim, hasnull, elemtype, (dim, lbound), elements
fn array_elems(b: &[u8]) -> Vec<&[u8]> {
    let ndim = i32::from_be_bytes(b[0..4].try_into().unwrap());
    if ndim == 0 { return vec![]; }
    let n = i32::from_be_bytes(b[12..16].try_into().unwrap()) as usize;
    let mut p = 20;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n { let len = i32::from_be_bytes(b[p..p + 4].try_into().unwrap()) as usize; out.push(&b[p + 4..p + 4 + len]); p += 4 + len; }
    out
}

fn decode_copy(buf: &[u8]) -> Vec<(i64, [Decimal; 5])> {
    let mut out = Vec::with_capacity(50_000);
    let mut p = 19;
    loop {
        let fields = i16::from_be_bytes([buf[p], buf[p + 1]]);
        p += 2;
        if fields == -1 { break; }
        let mut field = || { let len = i32::from_be_bytes(buf[p..p + 4].try_into().unwrap()) as usize; let f = &buf[p + 4..p + 4 + len]; p += 4 + len; f };
        let t = i64::from_be_bytes(field().try_into().unwrap());
        let d = [numeric(field()), numeric(field()), numeric(field()), numeric(field()), numeric(field())];
        out.push((t, d));
    }
    out
}
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
    let spool = sqlx::sqlite::SqlitePoolOptions::new().connect(&format!("sqlite://{}/p.db", dir.path().display())).await.unwrap();
    import_csv(&sqlite, &file, sym, Interval::M1, |_, _| {})
        .await
        .unwrap();
    for round in 0..3 {
        println!("--- round {round}");
        for page in [10_000i64, 50_000] {
            let t = Instant::now();
            let mut q = 0.0; let mut total = 0; let mut bytes = 0;
            let mut from = 0i64;
            let mut parse_ms = 0.0;
            loop {
                let tq = Instant::now();
                let (n, text): (i64, Option<String>) = sqlx::query_as("SELECT count(*), group_concat(open_time_ms || ',' || open || ',' || high || ',' || low || ',' || close || ',' || volume, ';' ORDER BY open_time_ms) FROM (SELECT open_time_ms, open, high, low, close, volume FROM bars WHERE symbol = ? AND interval = ? AND open_time_ms >= ? ORDER BY open_time_ms LIMIT ?)").bind("BTC-PERP").bind("1m").bind(from).bind(page).fetch_one(&spool).await.unwrap();
                q += ms(tq);
                let Some(text) = text else { break };
                bytes += text.len();
                let tp = Instant::now();
                let mut last = 0;
                let mut out = Vec::with_capacity(n as usize);
                for rec in text.split(';') {
                    let mut f = rec.split(',');
                    let t: i64 = f.next().unwrap().parse().unwrap();
                    let d: [Decimal; 5] = [f.next().unwrap().parse().unwrap(), f.next().unwrap().parse().unwrap(), f.next().unwrap().parse().unwrap(), f.next().unwrap().parse().unwrap(), f.next().unwrap().parse().unwrap()];
                    let _bar = Bar::new(sym, Interval::M1, TimestampMs::new(t), Price::new(d[0]).unwrap(), Price::new(d[1]).unwrap(), Price::new(d[2]).unwrap(), Price::new(d[3]).unwrap(), Quantity::new(d[4]).unwrap()).unwrap();
                    out.push(_bar); last = t;
                }
                parse_ms += ms(tp);
                total += out.len();
                from = last + 1;
                if n < page { break; }
            }
            println!("sqlite group_concat pages of {page}: {:.1} ms total, {q:.1} ms in queries, {parse_ms:.1} ms parse+Bar ({total}, {bytes} bytes)", ms(t));
        }
        let v: String = sqlx::query_scalar("SELECT sqlite_version()").fetch_one(&spool).await.unwrap();
        println!("sqlite version {v}");
        for (label, expr) in [
            ("|| ordered", "group_concat(open_time_ms || ',' || open || ',' || high || ',' || low || ',' || close || ',' || volume, ';' ORDER BY open_time_ms)"),
            ("|| unordered", "group_concat(open_time_ms || ',' || open || ',' || high || ',' || low || ',' || close || ',' || volume, ';')"),
            ("concat_ws unordered", "group_concat(concat_ws(',', open_time_ms, open, high, low, close, volume), ';')"),
            ("concat_ws ordered", "group_concat(concat_ws(',', open_time_ms, open, high, low, close, volume), ';' ORDER BY open_time_ms)"),
        ] {
            for page in [10_000i64, 50_000] {
                let t = Instant::now();
                let mut from = 0i64; let mut total = 0;
                loop {
                    let (n, text): (i64, Option<String>) = sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT count(*), {expr} FROM (SELECT open_time_ms, open, high, low, close, volume FROM bars WHERE symbol = ? AND interval = ? AND open_time_ms >= ? ORDER BY open_time_ms LIMIT ?)"))).bind("BTC-PERP").bind("1m").bind(from).bind(page).fetch_one(&spool).await.unwrap();
                    let Some(text) = text else { break };
                    let last: i64 = text.rsplit(';').next().unwrap().split(',').next().unwrap().parse().unwrap();
                    total += n; from = last + 1;
                    if n < page { break; }
                }
                println!("sqlite {label} pages of {page}: {:.1} ms ({total})", ms(t));
            }
        }
        let t = Instant::now();
        let rows: Vec<(i64, String, String, String, String, String)> = sqlx::query_as("SELECT open_time_ms, open, high, low, close, volume FROM bars WHERE symbol = ? AND interval = ? ORDER BY open_time_ms").bind("BTC-PERP").bind("1m").fetch_all(&spool).await.unwrap();
        println!("sqlite plain rows fetch_all: {:.1} ms ({})", ms(t), rows.len());
        let t = Instant::now();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM (SELECT open_time_ms, open, high, low, close, volume FROM bars WHERE symbol = ? AND interval = ? ORDER BY open_time_ms)").bind("BTC-PERP").bind("1m").fetch_one(&spool).await.unwrap();
        println!("sqlite scan count only: {:.1} ms ({n})", ms(t));
        let t = Instant::now();
        let n: i64 = sqlx::query_scalar("SELECT sum(length(open_time_ms || ',' || open || ',' || high || ',' || low || ',' || close || ',' || volume)) FROM bars WHERE symbol = ? AND interval = ?").bind("BTC-PERP").bind("1m").fetch_one(&spool).await.unwrap();
        println!("sqlite scan + concat, no group: {:.1} ms ({n})", ms(t));
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
        let mut stream = pool.copy_out_raw("COPY (SELECT open_time_ms, open, high, low, close, volume FROM bars WHERE symbol = 'BTC-PERP' AND interval = '1m' ORDER BY open_time_ms) TO STDOUT WITH (FORMAT binary)").await.unwrap();
        let mut buf = Vec::with_capacity(4 << 20);
        let mut chunks = 0;
        while let Some(c) = stream.try_next().await.unwrap() { buf.extend_from_slice(&c); chunks += 1; }
        drop(stream);
        let copy_ms = ms(t);
        let decoded = decode_copy(&buf);
        println!("pg copy out binary: {copy_ms:.1} ms transfer ({} bytes, {chunks} chunks), total with decode {:.1} ms ({}) check {}", buf.len(), ms(t), decoded.len(), decoded[0].1[0]);

        let t = Instant::now();
        let mut rows = sqlx::query("SELECT open_time_ms, open, high, low, close, volume FROM bars WHERE symbol = $1 AND interval = $2 ORDER BY open_time_ms").bind("BTC-PERP").bind("1m").fetch(&pool);
        let mut out = Vec::with_capacity(50_000);
        while let Some(r) = rows.try_next().await.unwrap() {
            let raw = |i: usize| numeric(r.try_get_raw(i).unwrap().as_bytes().unwrap());
            out.push((r.get::<i64, _>(0), [raw(1), raw(2), raw(3), raw(4), raw(5)]));
        }
        drop(rows);
        println!("pg fetch stream + own numeric decode: {:.1} ms ({})", ms(t), out.len());

        for page in [10_000i64, 50_000] {
            let t = Instant::now();
            let mut total = 0;
            let mut from = 0i64;
            loop {
                let row = sqlx::query("SELECT count(*), array_agg(open_time_ms ORDER BY open_time_ms), array_agg(open ORDER BY open_time_ms), array_agg(high ORDER BY open_time_ms), array_agg(low ORDER BY open_time_ms), array_agg(close ORDER BY open_time_ms), array_agg(volume ORDER BY open_time_ms) FROM (SELECT * FROM bars WHERE symbol = $1 AND interval = $2 AND open_time_ms >= $3 ORDER BY open_time_ms LIMIT $4) AS page").bind("BTC-PERP").bind("1m").bind(from).bind(page).fetch_one(&pool).await.unwrap();
                let n: i64 = row.get(0);
                if n == 0 { break; }
                let times: Vec<i64> = array_elems(row.try_get_raw(1).unwrap().as_bytes().unwrap()).iter().map(|b| i64::from_be_bytes((*b).try_into().unwrap())).collect();
                let cols: Vec<Vec<Decimal>> = (2..7).map(|i| array_elems(row.try_get_raw(i).unwrap().as_bytes().unwrap()).iter().map(|b| numeric(b)).collect()).collect();
                total += times.len() + cols[4].len() - cols[4].len();
                from = times[times.len() - 1] + 1;
                if n < page { break; }
            }
            println!("pg array_agg pages of {page}: {:.1} ms ({total})", ms(t));
        }
        for page in [10_000i64, 50_000] {
            for ordered in [true, false] {
            let t = Instant::now();
            let mut total = 0;
            let mut from = 0i64;
            let agg = if ordered { "string_agg(int8send(open_time_ms) || numeric_send(open) || numeric_send(high) || numeric_send(low) || numeric_send(close) || numeric_send(volume), ''::bytea ORDER BY open_time_ms)" } else { "string_agg(int8send(open_time_ms) || numeric_send(open) || numeric_send(high) || numeric_send(low) || numeric_send(close) || numeric_send(volume), ''::bytea)" };
            loop {
                let (n, bytes): (i64, Option<Vec<u8>>) = sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT count(*), {agg} FROM (SELECT * FROM bars WHERE symbol = $1 AND interval = $2 AND open_time_ms >= $3 ORDER BY open_time_ms LIMIT $4) AS page"))).bind("BTC-PERP").bind("1m").bind(from).bind(page).fetch_one(&pool).await.unwrap();
                if n == 0 { break; }
                let b = bytes.unwrap();
                let mut p = 0;
                let mut last = 0;
                let mut out = Vec::with_capacity(n as usize);
                while p < b.len() {
                    let t = i64::from_be_bytes(b[p..p + 8].try_into().unwrap()); p += 8;
                    let mut d = [Decimal::ZERO; 5];
                    for k in 0..5 { let nd = u16::from_be_bytes([b[p], b[p + 1]]) as usize; let len = 8 + 2 * nd; d[k] = numeric(&b[p..p + len]); p += len; }
                    out.push((t, d)); last = t;
                }
                total += out.len();
                from = last + 1;
                if n < page { break; }
            }
            println!("pg bytea string_agg pages of {page} ordered={ordered}: {:.1} ms ({total})", ms(t));
            }
        }
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
