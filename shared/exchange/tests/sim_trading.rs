//! The signed Binance spot client against the simulator's spot account over real HTTP:
//! place/query/cancel, open orders, balances, used weight, every injected failure mapped to
//! its `ExchangeError`, a lost response recovered by querying the client order id (one POST
//! only), signatures checked, `-1021` re-synchronising the clock. Every test runs its own
//! simulator on port 0.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test on broken fixtures"
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use levibot_core::{
    Bar, ClientOrderId, Interval, OrderRequest, OrderType, Price, Quantity, Side, Symbol,
    TimeInForce, TimestampMs,
};
use levibot_exchange::sim::{
    SimConfig, SimData, SimEndpoint, SimFault, SimPace, SimServer, SimTradingConfig,
};
use levibot_exchange::spot::fill_ids::binance_fill_id;
use levibot_exchange::spot::{
    BinanceSpotClient, BinanceSpotConfig, Credentials, ExchangeError, OrderRef, OrderStatus,
    PaperConfig, SpotCall, SpotExchange,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tokio::net::TcpListener;

const KEY: &str = "sim-api-key";
const SECRET: &str = "sim-api-secret";
const T0: i64 = 1_700_000_040_000;

fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

fn bar(n: i64, open: Decimal, high: Decimal, low: Decimal, close: Decimal) -> Bar {
    let p = |v| Price::new(v).unwrap();
    Bar::new(
        btc(),
        Interval::M1,
        TimestampMs::new(T0 + n * 60_000),
        p(open),
        p(high),
        p(low),
        p(close),
        Quantity::new(dec!(100)).unwrap(),
    )
    .unwrap()
}

/// Three BTCUSDT bars opening at 20000; the first touches 19550, the second trades down to
/// 19400.
fn data() -> SimData {
    let mut data = SimData::new();
    data.add_bars([
        bar(0, dec!(20000), dec!(20100), dec!(19550), dec!(19600)),
        bar(1, dec!(19600), dec!(19700), dec!(19400), dec!(19650)),
        bar(2, dec!(19650), dec!(19800), dec!(19600), dec!(19700)),
    ]);
    data
}

/// 100000 USDT, 10 bps fees, no slippage.
async fn sim() -> SimServer {
    let paper = PaperConfig {
        fee_bps: dec!(10),
        slippage_bps: dec!(0),
        initial_balances: BTreeMap::from([("USDT".to_owned(), dec!(100000))]),
        ..PaperConfig::default()
    };
    let config = SimConfig {
        pace: SimPace::Every(Duration::from_millis(5)),
        trading: Some(SimTradingConfig {
            credentials: Credentials::new(KEY, SECRET),
            paper,
        }),
        ..SimConfig::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    SimServer::start(listener, data(), config).unwrap()
}

fn client_with(
    server: &SimServer,
    key: &str,
    secret: &str,
    timeout: Duration,
) -> BinanceSpotClient {
    let config = BinanceSpotConfig {
        base_url: server.rest_base_url(),
        timeout,
        ..BinanceSpotConfig::default()
    };
    BinanceSpotClient::new(&config, &Credentials::new(key, secret)).unwrap()
}

fn client(server: &SimServer) -> BinanceSpotClient {
    client_with(server, KEY, SECRET, Duration::from_secs(5))
}

fn order(id: &str, side: Side, order_type: OrderType, qty: Decimal) -> OrderRequest {
    OrderRequest::new(
        ClientOrderId::new(id).unwrap(),
        btc(),
        side,
        order_type,
        Quantity::new(qty).unwrap(),
        None,
        TimestampMs::new(T0),
    )
    .unwrap()
}

fn market_buy(id: &str, qty: Decimal) -> OrderRequest {
    order(id, Side::Buy, OrderType::Market, qty)
}

fn limit_buy(id: &str, price: Decimal) -> OrderRequest {
    let order_type = OrderType::Limit {
        price: Price::new(price).unwrap(),
        time_in_force: TimeInForce::Gtc,
    };
    order(id, Side::Buy, order_type, dec!(1))
}

fn by_client(id: &str) -> OrderRef {
    OrderRef::ClientId(ClientOrderId::new(id).unwrap())
}

/// `after` is `before + cost`, or `cost` if the server's minute rolled over in between.
fn assert_weight_grew(before: u64, after: u64, cost: u64) {
    assert!(
        after == before + cost || after == cost,
        "weight went from {before} to {after}, expected +{cost}"
    );
}

#[tokio::test]
async fn place_query_cancel_open_orders_and_balances() {
    let server = sim().await;
    let client = client(&server);
    assert_eq!(client.used_weight_1m(), None);

    let placed = client
        .place_order(&market_buy("buy-1", dec!(0.5)))
        .await
        .unwrap();
    assert_eq!(placed.status, OrderStatus::Filled);
    assert_eq!(placed.client_order_id.as_str(), "buy-1");
    assert_eq!(placed.executed_qty.value(), dec!(0.5));
    assert_eq!(placed.cumulative_quote_qty, dec!(10000));
    assert_eq!(placed.fills.len(), 1);
    let fill = &placed.fills[0];
    assert_eq!(fill.price().value(), dec!(20000));
    assert_eq!(fill.fee().value(), dec!(10));
    assert_eq!(fill.fee_asset(), "USDT");
    assert_eq!(fill.fill_id(), binance_fill_id(btc(), 1));
    // the time sync (1) and the order (1)
    assert_eq!(client.used_weight_1m().map(|w| w >= 1), Some(true));

    // a query finds the same fills (same ids) through myTrades
    let before = client.used_weight_1m().unwrap();
    let queried = client
        .query_order(btc(), &by_client("buy-1"))
        .await
        .unwrap();
    assert_weight_grew(
        before,
        client.used_weight_1m().unwrap(),
        u64::from(SpotCall::QueryOrder.weight() + SpotCall::OrderTrades.weight()),
    );
    assert_eq!(queried.order_id, placed.order_id);
    assert_eq!(queried.status, OrderStatus::Filled);
    assert_eq!(queried.fills.len(), 1);
    assert_eq!(queried.fills[0].fill_id(), fill.fill_id());
    assert_eq!(queried.fills[0].fee(), fill.fee());
    assert_eq!(queried.fills[0].side(), Side::Buy);

    // a limit below the market rests
    let resting = client
        .place_order(&limit_buy("rest-1", dec!(19000)))
        .await
        .unwrap();
    assert_eq!(resting.status, OrderStatus::New);
    assert!(resting.fills.is_empty());
    let before = client.used_weight_1m().unwrap();
    let open = client.open_orders(Some(btc())).await.unwrap();
    assert_weight_grew(before, client.used_weight_1m().unwrap(), 6);
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].client_order_id.as_str(), "rest-1");
    assert_eq!(
        open[0].order_type,
        Some(OrderType::Limit {
            price: Price::new(dec!(19000)).unwrap(),
            time_in_force: TimeInForce::Gtc
        })
    );
    let before = client.used_weight_1m().unwrap();
    assert_eq!(client.open_orders(None).await.unwrap().len(), 1);
    assert_weight_grew(before, client.used_weight_1m().unwrap(), 80);

    // 100000 − 10000 − 10 fee − 19019 reserved for the limit
    let before = client.used_weight_1m().unwrap();
    let balances = client.balances().await.unwrap();
    assert_weight_grew(before, client.used_weight_1m().unwrap(), 20);
    let usdt = balances.iter().find(|b| b.asset == "USDT").unwrap();
    assert_eq!((usdt.free, usdt.locked), (dec!(70971), dec!(19019)));
    let btc_balance = balances.iter().find(|b| b.asset == "BTC").unwrap();
    assert_eq!(btc_balance.free, dec!(0.5));

    let cancelled = client
        .cancel_order(btc(), &OrderRef::ExchangeId(resting.order_id))
        .await
        .unwrap();
    assert_eq!(cancelled.status, OrderStatus::Canceled);
    assert_eq!(cancelled.client_order_id.as_str(), "rest-1");
    assert!(client.open_orders(None).await.unwrap().is_empty());

    let again = client
        .cancel_order(btc(), &by_client("rest-1"))
        .await
        .unwrap_err();
    assert_eq!(again, ExchangeError::unknown_order());
    assert!(again.is_definitive_rejection());
    let missing = client
        .query_order(btc(), &by_client("never-sent"))
        .await
        .unwrap_err();
    assert_eq!(missing, ExchangeError::no_such_order());
    assert_eq!(server.control().stats().order_posts, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn the_client_works_behind_the_trait() {
    let server = sim().await;
    let exchange: Arc<dyn SpotExchange> = Arc::new(client(&server));
    assert_eq!(exchange.name(), "binance");
    assert_eq!(exchange.call_weight(SpotCall::Account), 20);
    let report = exchange
        .place_order(&market_buy("trait-1", dec!(0.1)))
        .await
        .unwrap();
    assert_eq!(report.status, OrderStatus::Filled);
    let queried = exchange
        .query_order(btc(), &by_client("trait-1"))
        .await
        .unwrap();
    assert_eq!(queried.fills.len(), 1);
    assert!(exchange.used_weight_1m().is_some());
    server.shutdown().await;
}

#[tokio::test]
async fn duplicate_client_order_ids_are_rejected() {
    let server = sim().await;
    let client = client(&server);
    client
        .place_order(&limit_buy("dup-1", dec!(19000)))
        .await
        .unwrap();
    let err = client
        .place_order(&limit_buy("dup-1", dec!(19000)))
        .await
        .unwrap_err();
    assert_eq!(err, ExchangeError::duplicate_order());
    assert!(err.is_definitive_rejection());
    assert_eq!(client.open_orders(None).await.unwrap().len(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn insufficient_balance_real_and_injected() {
    let server = sim().await;
    let client = client(&server);
    let err = client
        .place_order(&market_buy("big", dec!(10)))
        .await
        .unwrap_err();
    assert_eq!(err, ExchangeError::insufficient_balance());
    server
        .control()
        .fail_next_orders(1, SimFault::InsufficientBalance);
    let err = client
        .place_order(&market_buy("small", dec!(0.01)))
        .await
        .unwrap_err();
    assert_eq!(err, ExchangeError::insufficient_balance());
    assert!(err.is_definitive_rejection() && !err.outcome_unknown());
    // not executed
    assert_eq!(
        client
            .query_order(btc(), &by_client("small"))
            .await
            .unwrap_err(),
        ExchangeError::no_such_order()
    );
    // the fault is used up
    client
        .place_order(&market_buy("small", dec!(0.01)))
        .await
        .unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn server_errors_are_outcome_unknown_and_not_executed() {
    let server = sim().await;
    let client = client(&server);
    server.control().fail_next_orders(1, SimFault::ServerError);
    let err = client
        .place_order(&market_buy("s500", dec!(0.1)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ExchangeError::ServerError {
                status: 500,
                code: Some(-1001),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.outcome_unknown());
    assert!(!err.is_definitive_rejection());
    assert_eq!(
        client
            .query_order(btc(), &by_client("s500"))
            .await
            .unwrap_err(),
        ExchangeError::no_such_order()
    );
    // faults on another endpoint
    server
        .control()
        .fail_next_requests(Some(SimEndpoint::QueryOrder), 1, SimFault::ServerError);
    assert!(matches!(
        client.query_order(btc(), &by_client("s500")).await,
        Err(ExchangeError::ServerError { .. })
    ));
    server.shutdown().await;
}

#[tokio::test]
async fn execution_unknown_means_query_first_and_the_order_is_there() {
    let server = sim().await;
    let client = client(&server);
    server
        .control()
        .fail_next_orders(1, SimFault::ExecutionUnknown);
    let err = client
        .place_order(&market_buy("t1007", dec!(0.1)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ExchangeError::ExecutionUnknown { code: -1007, .. }),
        "{err:?}"
    );
    assert!(err.outcome_unknown());
    let found = client
        .query_order(btc(), &by_client("t1007"))
        .await
        .unwrap();
    assert_eq!(found.status, OrderStatus::Filled);
    assert_eq!(found.fills.len(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn a_stall_past_the_timeout_is_a_timeout_with_unknown_outcome() {
    let server = sim().await;
    let slow = client_with(&server, KEY, SECRET, Duration::from_millis(300));
    // sync the clock first so the stall hits the order itself
    slow.sync_time().await.unwrap();
    server
        .control()
        .fail_next_orders(1, SimFault::Stall(Duration::from_millis(1500)));
    let err = slow
        .place_order(&market_buy("stall", dec!(0.1)))
        .await
        .unwrap_err();
    assert_eq!(err, ExchangeError::Timeout(Duration::from_millis(300)));
    assert!(err.outcome_unknown());
    // the exchange executes it late: querying (not re-POSTing) finds it
    let client = client(&server);
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match client.query_order(btc(), &by_client("stall")).await {
                Ok(report) => break report,
                Err(ExchangeError::NoSuchOrder { .. }) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(other) => panic!("query failed: {other}"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(found.status, OrderStatus::Filled);
    assert_eq!(server.control().stats().order_posts, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn rate_limits_and_bans_carry_retry_after() {
    let server = sim().await;
    let client = client(&server);
    client.sync_time().await.unwrap();
    let control = server.control();
    control.fail_next_orders(
        1,
        SimFault::RateLimited {
            retry_after_secs: 7,
        },
    );
    control.fail_next_orders(
        1,
        SimFault::IpBanned {
            retry_after_secs: 120,
        },
    );
    let limited = client
        .place_order(&market_buy("r1", dec!(0.1)))
        .await
        .unwrap_err();
    assert_eq!(
        limited,
        ExchangeError::RateLimited {
            retry_after: Duration::from_secs(7)
        }
    );
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(7)));
    assert!(limited.is_retryable() && !limited.outcome_unknown());
    let banned = client
        .place_order(&market_buy("r1", dec!(0.1)))
        .await
        .unwrap_err();
    assert_eq!(
        banned,
        ExchangeError::IpBanned {
            retry_after: Duration::from_secs(120)
        }
    );
    assert!(client.used_weight_1m().is_some());
    // neither was executed
    assert_eq!(
        client
            .query_order(btc(), &by_client("r1"))
            .await
            .unwrap_err(),
        ExchangeError::no_such_order()
    );
    server.shutdown().await;
}

/// What the executor does with an order whose answer it never got: query by client order id
/// and re-send only if the exchange does not know it.
async fn place_idempotently(
    exchange: &dyn SpotExchange,
    request: &OrderRequest,
) -> Result<levibot_exchange::spot::OrderReport, ExchangeError> {
    match exchange.place_order(request).await {
        Err(err) if err.outcome_unknown() => {
            let order = OrderRef::ClientId(request.client_order_id().clone());
            match exchange.query_order(request.symbol(), &order).await {
                Err(ExchangeError::NoSuchOrder { .. }) => exchange.place_order(request).await,
                other => other,
            }
        }
        other => other,
    }
}

#[tokio::test]
async fn a_lost_response_is_recovered_by_querying_the_client_order_id() {
    let server = sim().await;
    let client = client(&server);
    client.sync_time().await.unwrap();
    server.control().fail_next_orders(1, SimFault::ResponseLost);
    let request = market_buy("lost-1", dec!(0.25));
    let err = client.place_order(&request).await.unwrap_err();
    assert!(matches!(err, ExchangeError::Transport(_)), "{err:?}");
    assert!(err.outcome_unknown());
    assert_eq!(server.control().stats().order_posts, 1);

    let found = client
        .query_order(btc(), &by_client("lost-1"))
        .await
        .unwrap();
    assert_eq!(found.status, OrderStatus::Filled);
    assert_eq!(found.executed_qty.value(), dec!(0.25));
    assert_eq!(found.fills.len(), 1);

    // the whole executor pattern: one POST, the order found by query
    server.control().fail_next_orders(1, SimFault::ResponseLost);
    let request = market_buy("lost-2", dec!(0.25));
    let report = place_idempotently(&client, &request).await.unwrap();
    assert_eq!(report.client_order_id.as_str(), "lost-2");
    assert_eq!(report.status, OrderStatus::Filled);
    assert_eq!(server.control().stats().order_posts, 2);
    // 100000 − 2 × (5000 + 5 fee)
    let usdt = server
        .control()
        .balances()
        .into_iter()
        .find(|b| b.asset == "USDT")
        .unwrap();
    assert_eq!(usdt.free, dec!(89990));
    server.shutdown().await;
}

#[tokio::test]
async fn bad_signatures_and_keys_are_rejected() {
    let server = sim().await;
    let wrong_secret = client_with(&server, KEY, "not-the-secret", Duration::from_secs(5));
    let err = wrong_secret
        .place_order(&market_buy("sig", dec!(0.1)))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ExchangeError::InvalidSignature {
            message: "Signature for this request is not valid.".into()
        }
    );
    assert!(err.is_definitive_rejection());
    let wrong_key = client_with(&server, "other-key", SECRET, Duration::from_secs(5));
    let err = wrong_key.balances().await.unwrap_err();
    assert!(
        matches!(
            err,
            ExchangeError::Api {
                status: 401,
                code: Some(-2015),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        server
            .control()
            .balances()
            .iter()
            .all(|b| b.asset == "USDT")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_timestamps_resync_the_clock_and_the_retry_succeeds() {
    let server = sim().await;
    let client = client(&server);
    client
        .place_order(&market_buy("ts-0", dec!(0.01)))
        .await
        .unwrap();
    assert!(client.server_time_offset_ms().abs() < 1000);

    // the server's clock runs 10 s ahead: our timestamps are outside recvWindow (5 s)
    server.control().set_clock_offset_ms(10_000);
    let err = client
        .place_order(&market_buy("ts-1", dec!(0.01)))
        .await
        .unwrap_err();
    let ExchangeError::InvalidTimestamp {
        message,
        server_time_offset_ms: Some(offset),
    } = &err
    else {
        panic!("expected -1021, got {err:?}");
    };
    assert_eq!(
        message,
        "Timestamp for this request is outside of the recvWindow."
    );
    assert!((9_000..11_000).contains(offset), "offset {offset}");
    assert!(err.is_retryable() && !err.outcome_unknown());
    assert_eq!(client.server_time_offset_ms(), *offset);
    client
        .place_order(&market_buy("ts-1", dec!(0.01)))
        .await
        .unwrap();

    // now it runs 10 s behind: our timestamps are ahead of it
    server.control().set_clock_offset_ms(-10_000);
    let err = client
        .place_order(&market_buy("ts-2", dec!(0.01)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExchangeError::InvalidTimestamp { message, .. } if message.contains("ahead")),
        "{err:?}"
    );
    client
        .place_order(&market_buy("ts-2", dec!(0.01)))
        .await
        .unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn resting_limits_fill_when_the_timeline_trades_through_them() {
    let server = sim().await;
    let client = client(&server);
    let resting = client
        .place_order(&limit_buy("dip", dec!(19500)))
        .await
        .unwrap();
    assert_eq!(resting.status, OrderStatus::New);
    server.control().start();
    let report = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let report = client.query_order(btc(), &by_client("dip")).await.unwrap();
            if report.status == OrderStatus::Filled {
                break report;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    // bar 1 opens at 19600 and trades down to 19400: filled at the limit, as a maker
    assert_eq!(report.fills.len(), 1);
    assert_eq!(report.fills[0].price().value(), dec!(19500));
    assert!(report.fills[0].is_maker());
    assert_eq!(report.fills[0].fee().value(), dec!(19.5));
    // later orders execute at the timeline's latest price (the last close, 19700)
    server.timeline_finished().await;
    assert_eq!(server.control().price(btc()).unwrap().value(), dec!(19700));
    let later = client
        .place_order(&market_buy("later", dec!(1)))
        .await
        .unwrap();
    assert_eq!(later.fills[0].price().value(), dec!(19700));
    server.shutdown().await;
}
