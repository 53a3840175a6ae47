//! The store API against both backends (a PostgreSQL schema and a SQLite file per test): bars
//! round-trip exactly and in order, upserts are idempotent, orders, fills, signals, equity and
//! the audit log behave the same on both.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

#[macro_use]
mod support;

use futures::{StreamExt, TryStreamExt};
use levibot_core::{
    ClientOrderId, Fill, FillId, FillParts, Interval, Money, OrderRequest, OrderType, Price,
    Quantity, Side, SignalId, TimeInForce, TimestampMs,
};
use levibot_trade_store::{
    StoreError, TradeStore,
    store::{
        AuditEntry, BAR_PAGE_SIZE, EquitySnapshot, Gap, OrderRecord, OrderState, OrderStatus,
        SignalRecord, UpsertReport,
    },
};
use rust_decimal_macros::dec;
use support::{ALL_TIME, bar, sym, text};

const M: i64 = 60_000;
const T0: i64 = 1_640_995_200_000; // 2022-01-01 00:00 UTC

async fn all_bars(store: &TradeStore, symbol: &str, interval: Interval) -> Vec<levibot_core::Bar> {
    store
        .query_bars(sym(symbol), interval, ALL_TIME.0, ALL_TIME.1)
        .try_collect()
        .await
        .unwrap()
}

async fn bars_round_trip_exactly_in_time_order(store: &TradeStore) {
    // inserted out of order, with scales that must survive: trailing zeros, a zero volume
    let bars = vec![
        bar(
            "BTCUSDT",
            Interval::M1,
            T0 + 2 * M,
            ["46216.10", "46300", "46200.5", "46250.00", "0.00"],
        ),
        bar(
            "BTCUSDT",
            Interval::M1,
            T0,
            ["46216.10", "46216.10", "46216.10", "46216.10", "1.000"],
        ),
        bar(
            "BTCUSDT",
            Interval::M1,
            T0 + M,
            [
                "0.00000001",
                "1",
                "0.00000001",
                "0.5",
                "123456789.123456789",
            ],
        ),
        bar(
            "ETHUSDT",
            Interval::M1,
            T0,
            ["3000", "3001", "2999", "3000", "5"],
        ),
        bar("BTCUSDT", Interval::H1, T0, ["1", "2", "1", "2", "3"]),
    ];
    let report = store.upsert_bars(&bars).await.unwrap();
    assert_eq!(
        report,
        UpsertReport {
            inserted: 5,
            updated: 0,
            unchanged: 0
        }
    );

    let got = all_bars(store, "BTCUSDT", Interval::M1).await;
    let expected = vec![bars[1], bars[2], bars[0]];
    assert_eq!(got, expected);
    // scale is kept exactly, not just the value
    let texts: Vec<_> = got.iter().map(text).collect();
    assert_eq!(texts, expected.iter().map(text).collect::<Vec<_>>());
    assert_eq!(got[0].open().to_string(), "46216.10");
    assert_eq!(got[2].volume().to_string(), "0.00");
    assert_eq!(got[1].volume().to_string(), "123456789.123456789");

    // [from, to) is half-open
    let window: Vec<_> = store
        .query_bars(
            sym("BTCUSDT"),
            Interval::M1,
            TimestampMs::new(T0 + M),
            TimestampMs::new(T0 + 2 * M),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(window, vec![bars[2]]);
    let backwards: Result<Vec<_>, _> = store
        .query_bars(
            sym("BTCUSDT"),
            Interval::M1,
            TimestampMs::new(T0 + M),
            TimestampMs::new(T0),
        )
        .try_collect()
        .await;
    assert!(matches!(backwards, Err(StoreError::InvalidInput(_))));
}

async fn upserts_are_idempotent_and_take_corrections(store: &TradeStore) {
    let first = vec![
        bar("BTCUSDT", Interval::M1, T0, ["10", "12", "9", "11", "1"]),
        bar(
            "BTCUSDT",
            Interval::M1,
            T0 + M,
            ["11", "12", "10", "12", "2"],
        ),
    ];
    assert_eq!(store.upsert_bars(&first).await.unwrap().inserted, 2);
    assert_eq!(
        store.upsert_bars(&first).await.unwrap(),
        UpsertReport {
            inserted: 0,
            updated: 0,
            unchanged: 2
        }
    );
    // one corrected bar, one identical, one new
    let corrected = bar(
        "BTCUSDT",
        Interval::M1,
        T0 + M,
        ["11", "13", "10", "13", "2.5"],
    );
    let new = bar(
        "BTCUSDT",
        Interval::M1,
        T0 + 2 * M,
        ["13", "13", "13", "13", "0"],
    );
    let report = store
        .upsert_bars(&[first[0], corrected, new])
        .await
        .unwrap();
    assert_eq!(
        report,
        UpsertReport {
            inserted: 1,
            updated: 1,
            unchanged: 1
        }
    );
    assert_eq!(
        all_bars(store, "BTCUSDT", Interval::M1).await,
        vec![first[0], corrected, new]
    );
    // a change of scale only is a change too, on both backends
    let rescaled = bar("BTCUSDT", Interval::M1, T0, ["10.0", "12", "9", "11", "1"]);
    let report = store.upsert_bars(&[rescaled]).await.unwrap();
    assert_eq!(report.updated, 1);
    assert_eq!(
        all_bars(store, "BTCUSDT", Interval::M1).await[0]
            .open()
            .to_string(),
        "10.0"
    );
}

async fn a_batch_repeating_a_key_is_refused_whole(store: &TradeStore) {
    let a = bar("BTCUSDT", Interval::M1, T0, ["10", "12", "9", "11", "1"]);
    let b = bar(
        "BTCUSDT",
        Interval::M1,
        T0 + M,
        ["10", "12", "9", "11", "1"],
    );
    let err = store.upsert_bars(&[a, b, a]).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err}");
    assert!(err.to_string().contains("bars[2]"), "{err}");
    assert!(all_bars(store, "BTCUSDT", Interval::M1).await.is_empty());
    assert_eq!(
        store.upsert_bars(&[]).await.unwrap(),
        UpsertReport::default()
    );
}

async fn large_series_page_through_in_order(store: &TradeStore) {
    let n = BAR_PAGE_SIZE * 2 + 7;
    let bars: Vec<_> = (0..n)
        .map(|i| {
            let price = format!("{}.{:02}", 100 + i, i % 100);
            bar(
                "BTCUSDT",
                Interval::M1,
                T0 + i as i64 * M,
                [&price, &price, &price, &price, "1"],
            )
        })
        .collect();
    assert_eq!(store.upsert_bars(&bars).await.unwrap().inserted, n as u64);
    let got = all_bars(store, "BTCUSDT", Interval::M1).await;
    assert_eq!(got.len(), n);
    assert_eq!(got, bars);
    // a reader that stops after the first page (the next one is being read ahead) leaves the
    // store as usable as before
    let first: Vec<_> = store
        .query_bars(sym("BTCUSDT"), Interval::M1, ALL_TIME.0, ALL_TIME.1)
        .take(BAR_PAGE_SIZE + 1)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(first, bars[..=BAR_PAGE_SIZE]);
    assert_eq!(all_bars(store, "BTCUSDT", Interval::M1).await.len(), n);
}

async fn concurrent_writers_of_the_same_bars_agree(store: &TradeStore) {
    // both see free key ranges and race to store the same new bars: one wins, the other
    // finds them stored (on PostgreSQL the loser's COPY fails and is retried with ON CONFLICT)
    let bars: Vec<_> = (0..20_000)
        .map(|i| {
            bar(
                "BTCUSDT",
                Interval::M1,
                T0 + i * M,
                ["1", "2", "1", "2", "3"],
            )
        })
        .collect();
    let (a, b) = tokio::join!(
        tokio::spawn({
            let (store, bars) = (store.clone(), bars.clone());
            async move { store.upsert_bars(&bars).await }
        }),
        tokio::spawn({
            let (store, bars) = (store.clone(), bars.clone());
            async move { store.upsert_bars(&bars).await }
        }),
    );
    let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
    assert_eq!(a.inserted + b.inserted, 20_000, "{a:?} {b:?}");
    assert_eq!(a.unchanged + b.unchanged, 20_000, "{a:?} {b:?}");
    assert_eq!(all_bars(store, "BTCUSDT", Interval::M1).await, bars);
}

async fn series_and_gaps(store: &TradeStore) {
    let mut bars: Vec<_> = [0, 1, 2, 5, 6, 9]
        .iter()
        .map(|i| {
            bar(
                "BTCUSDT",
                Interval::M1,
                T0 + i * M,
                ["1", "1", "1", "1", "1"],
            )
        })
        .collect();
    bars.push(bar("ETHUSDT", Interval::H4, T0, ["1", "1", "1", "1", "1"]));
    bars.push(bar("BTCUSDT", Interval::H4, T0, ["1", "1", "1", "1", "1"]));
    store.upsert_bars(&bars).await.unwrap();

    let series = store.series().await.unwrap();
    let shape: Vec<_> = series
        .iter()
        .map(|s| {
            (
                s.symbol.as_str().to_owned(),
                s.interval,
                s.first.as_i64(),
                s.last.as_i64(),
                s.count,
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            ("BTCUSDT".to_owned(), Interval::M1, T0, T0 + 9 * M, 6),
            ("BTCUSDT".to_owned(), Interval::H4, T0, T0, 1),
            ("ETHUSDT".to_owned(), Interval::H4, T0, T0, 1),
        ]
    );

    let gap = |from: i64, to: i64, missing: u64| Gap {
        from: TimestampMs::new(T0 + from * M),
        to: TimestampMs::new(T0 + to * M),
        missing,
    };
    let inside = store
        .gaps(
            sym("BTCUSDT"),
            Interval::M1,
            TimestampMs::new(T0),
            TimestampMs::new(T0 + 10 * M),
        )
        .await
        .unwrap();
    assert_eq!(inside, vec![gap(3, 5, 2), gap(7, 9, 2)]);
    // a wider range: missing bars before the first and after the last count too
    let wider = store
        .gaps(
            sym("BTCUSDT"),
            Interval::M1,
            TimestampMs::new(T0 - 2 * M),
            TimestampMs::new(T0 + 12 * M),
        )
        .await
        .unwrap();
    assert_eq!(
        wider,
        vec![gap(-2, 0, 2), gap(3, 5, 2), gap(7, 9, 2), gap(10, 12, 2)]
    );
    let nothing = store
        .gaps(
            sym("SOLUSDT"),
            Interval::M1,
            TimestampMs::new(T0),
            TimestampMs::new(T0 + 3 * M),
        )
        .await
        .unwrap();
    assert_eq!(nothing, vec![gap(0, 3, 3)]);
}

fn limit_order(id: &str, created: i64) -> OrderRequest {
    OrderRequest::new(
        ClientOrderId::new(id).unwrap(),
        sym("BTCUSDT"),
        Side::Buy,
        OrderType::Limit {
            price: Price::new(dec!(46216.10)).unwrap(),
            time_in_force: TimeInForce::Gtc,
        },
        Quantity::new(dec!(0.010)).unwrap(),
        Some(SignalId::new()),
        TimestampMs::new(created),
    )
    .unwrap()
}

async fn orders_are_created_once_and_follow_their_states(store: &TradeStore) {
    let request = limit_order("lb-1", T0);
    let new = OrderRecord::new_order(request.clone());
    assert!(store.record_order(&new).await.unwrap());
    assert!(!store.record_order(&new).await.unwrap());

    let filled = OrderRecord::new(
        request.clone(),
        OrderState {
            status: OrderStatus::Filled,
            exchange_order_id: Some("884221".into()),
            filled_quantity: Quantity::new(dec!(0.010)).unwrap(),
            average_price: Some(Price::new(dec!(46216.05)).unwrap()),
            updated_at: TimestampMs::new(T0 + 500),
            reject_reason: None,
        },
    )
    .unwrap();
    assert!(!store.record_order(&filled).await.unwrap());
    // a late, older state does not undo the newer one
    let stale = OrderRecord::new(
        request.clone(),
        OrderState::new_at(TimestampMs::new(T0 + 100)),
    )
    .unwrap();
    assert!(!store.record_order(&stale).await.unwrap());

    let market = OrderRequest::new(
        ClientOrderId::new("lb-2").unwrap(),
        sym("ETHUSDT"),
        Side::Sell,
        OrderType::Market,
        Quantity::new(dec!(1)).unwrap(),
        None,
        TimestampMs::new(T0 + 1_000),
    )
    .unwrap();
    assert!(
        store
            .record_order(&OrderRecord::new_order(market.clone()))
            .await
            .unwrap()
    );

    let all = store
        .query_orders(None, ALL_TIME.0, ALL_TIME.1, 100)
        .await
        .unwrap();
    assert_eq!(all, vec![filled.clone(), OrderRecord::new_order(market)]);
    assert_eq!(
        all[0].state().average_price.unwrap().to_string(),
        "46216.05"
    );
    assert_eq!(all[0].request().quantity().to_string(), "0.010");
    let btc = store
        .query_orders(
            Some(sym("BTCUSDT")),
            TimestampMs::new(T0),
            TimestampMs::new(T0 + 1),
            100,
        )
        .await
        .unwrap();
    assert_eq!(btc, vec![filled]);
    assert_eq!(
        store
            .query_orders(None, ALL_TIME.0, ALL_TIME.1, 1)
            .await
            .unwrap()
            .len(),
        1
    );

    // the same client order id for another order is refused and changes nothing
    let other = OrderRecord::new_order(limit_order("lb-1", T0 + 7));
    let err = store.record_order(&other).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(
        store
            .query_orders(None, ALL_TIME.0, ALL_TIME.1, 100)
            .await
            .unwrap()
            .len(),
        2
    );
}

fn fill(id: FillId, t: i64, price: &str) -> Fill {
    Fill::new(FillParts {
        fill_id: id,
        client_order_id: ClientOrderId::new("lb-1").unwrap(),
        symbol: sym("BTCUSDT"),
        side: Side::Buy,
        price: price.parse().unwrap(),
        quantity: "0.005".parse().unwrap(),
        fee: Money::new(dec!(-0.0100)),
        fee_asset: "USDT".into(),
        is_maker: true,
        exchange_time: TimestampMs::new(t),
        receive_time: TimestampMs::new(t + 3),
    })
    .unwrap()
}

async fn fills_are_idempotent_by_id(store: &TradeStore) {
    let a = fill(FillId::new(), T0, "46216.10");
    let b = fill(FillId::new(), T0 + 1, "46216.00");
    let report = store.record_fills(&[a.clone(), b.clone()]).await.unwrap();
    assert_eq!((report.inserted, report.duplicates), (2, 0));
    let c = fill(FillId::new(), T0 + 2, "46217");
    let report = store
        .record_fills(&[b.clone(), c.clone(), a.clone()])
        .await
        .unwrap();
    assert_eq!((report.inserted, report.duplicates), (1, 2));
    let all = store
        .query_fills(None, ALL_TIME.0, ALL_TIME.1, 100)
        .await
        .unwrap();
    assert_eq!(all, vec![a.clone(), b, c]);
    assert_eq!(all[0].price().to_string(), "46216.10");
    assert_eq!(all[0].fee().to_string(), "-0.0100");
    let none = store
        .query_fills(Some(sym("ETHUSDT")), ALL_TIME.0, ALL_TIME.1, 100)
        .await
        .unwrap();
    assert!(none.is_empty());
}

async fn signals_equity_and_audit(store: &TradeStore) {
    let signal = SignalRecord {
        signal_id: SignalId::new(),
        symbol: sym("BTCUSDT"),
        bar_open_time: TimestampMs::new(T0),
        side: Side::Buy,
        probability_up: 0.73,
        confidence: 0.61,
        strategy: "ensemble".into(),
        votes: serde_json::json!([{"component": "lightgbm", "probability_up": 0.7}]),
        created_at: TimestampMs::new(T0 + 60_001),
        decision: None,
    };
    assert!(store.record_signal(&signal).await.unwrap());
    assert!(!store.record_signal(&signal).await.unwrap());
    let got = store
        .query_signals(Some(sym("BTCUSDT")), ALL_TIME.0, ALL_TIME.1, 100)
        .await
        .unwrap();
    assert_eq!(got, vec![signal.clone()]);
    let bad = SignalRecord {
        probability_up: 1.5,
        signal_id: SignalId::new(),
        ..signal
    };
    assert!(matches!(
        store.record_signal(&bad).await,
        Err(StoreError::InvalidInput(_))
    ));

    let snapshot = EquitySnapshot {
        at: TimestampMs::new(T0),
        equity: Money::new(dec!(10250.50)),
        cash: Money::new(dec!(9000.00)),
        unrealized_pnl: Money::new(dec!(-12.25)),
        realized_pnl: Money::new(dec!(262.75)),
    };
    assert!(store.record_equity_snapshot(&snapshot).await.unwrap());
    assert!(!store.record_equity_snapshot(&snapshot).await.unwrap());
    let got = store
        .query_equity(ALL_TIME.0, ALL_TIME.1, 100)
        .await
        .unwrap();
    assert_eq!(got, vec![snapshot]);
    assert_eq!(got[0].cash.to_string(), "9000.00");

    let entry = |action: &str| AuditEntry {
        at: TimestampMs::new(T0),
        actor: "operator".into(),
        action: action.into(),
        detail: serde_json::json!({"reason": "drawdown", "limit": "0.03"}),
    };
    let first = store.append_audit(&entry("ess.trip")).await.unwrap();
    let second = store.append_audit(&entry("ess.reset")).await.unwrap();
    assert!(second > first);
    let log = store
        .query_audit(ALL_TIME.0, ALL_TIME.1, 100)
        .await
        .unwrap();
    let actions: Vec<_> = log.iter().map(|r| r.entry.action.as_str()).collect();
    assert_eq!(actions, ["ess.trip", "ess.reset"]);
    assert_eq!(log[0].entry, entry("ess.trip"));
    let empty_actor = AuditEntry {
        actor: " ".into(),
        ..entry("x")
    };
    assert!(matches!(
        store.append_audit(&empty_actor).await,
        Err(StoreError::InvalidInput(_))
    ));
}

on_both_backends!(
    bars_round_trip_exactly_in_time_order,
    upserts_are_idempotent_and_take_corrections,
    a_batch_repeating_a_key_is_refused_whole,
    large_series_page_through_in_order,
    concurrent_writers_of_the_same_bars_agree,
    series_and_gaps,
    orders_are_created_once_and_follow_their_states,
    fills_are_idempotent_by_id,
    signals_equity_and_audit,
);

#[tokio::test]
async fn a_postgres_store_is_a_plain_indexed_table_without_timescaledb() {
    let db = support::TestDb::new(support::Backend::Postgres).await;
    // TimescaleDB is not installed on the test server; the store says which layout runs
    assert!(!db.store().bars_is_hypertable());
    db.finish().await;
}

#[tokio::test]
async fn unknown_urls_are_refused_with_the_url_redacted() {
    let err = TradeStore::connect("mysql://root:secret@localhost/db")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("expected postgres://"), "{text}");
    assert!(!text.contains("secret"), "{text}");
}

#[tokio::test]
async fn an_in_memory_sqlite_store_works() {
    let store = TradeStore::connect("sqlite::memory:").await.unwrap();
    let b = bar("BTCUSDT", Interval::M1, T0, ["1", "1", "1", "1", "1"]);
    assert_eq!(store.upsert_bars(&[b]).await.unwrap().inserted, 1);
    assert_eq!(all_bars(&store, "BTCUSDT", Interval::M1).await, vec![b]);
}

#[tokio::test]
async fn migrations_apply_once_inside_the_schema_of_the_url() {
    let db = support::TestDb::new(support::Backend::Postgres).await;
    // a second start finds everything applied
    let again = TradeStore::connect(db.url()).await.unwrap();
    again.close().await;
    let schema = db.url().rsplit("search_path%3D").next().unwrap().to_owned();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(
        &levibot_trade_store::testing::test_database_url(),
    )
    .await
    .unwrap();
    let mut tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
    )
    .bind(&schema)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    tables.sort();
    assert_eq!(
        tables,
        [
            "_trade_store_migrations",
            "api_keys",
            "audit_log",
            "bars",
            "equity_snapshots",
            "ess_transitions",
            "fills",
            "model_champions",
            "model_registry",
            "orders",
            "policy_versions",
            "signals",
        ]
    );
    let applied: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {schema}._trade_store_migrations WHERE success"
    )))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(applied, 7);
    db.finish().await;
}

#[tokio::test]
async fn a_sqlite_file_is_reopened_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/a/b/levibot.db", dir.path().display());
    let store = TradeStore::connect(&url).await.unwrap();
    let b = bar(
        "BTCUSDT",
        Interval::M1,
        T0,
        ["1.10", "1.10", "1.10", "1.10", "0.00"],
    );
    store.upsert_bars(&[b]).await.unwrap();
    store.close().await;
    let store = TradeStore::connect(&url).await.unwrap();
    let got = all_bars(&store, "BTCUSDT", Interval::M1).await;
    assert_eq!(got.iter().map(text).collect::<Vec<_>>(), vec![text(&b)]);
    store.close().await;
}
