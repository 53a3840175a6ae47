//! The paper exchange with hand-checked numbers: market orders fill on the next bar's open with
//! slippage and fees, limit orders when a bar trades through their price, the volume cap
//! splits fills over several bars, balances are reserved and released, and the rejections
//! are Binance's (insufficient balance, duplicate client order id, unknown order).

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test on broken fixtures"
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use levibot_core::{
    Bar, ClientOrderId, HistoricalClock, Interval, OrderRequest, OrderType, Price, Quantity, Side,
    Symbol, TimeInForce, TimestampMs,
};
use levibot_exchange::spot::{
    Balance, ExchangeError, OrderRef, OrderStatus, PaperBook, PaperConfig, PaperExchange,
    SpotExchange,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

const T0: i64 = 1_700_000_040_000;
const NOW: TimestampMs = TimestampMs::new(1_700_000_000_000);

fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

/// 10 bps fee, 10 bps slippage, 10 % of a bar's volume, the given balances.
fn config(balances: &[(&str, Decimal)], share: Option<Decimal>) -> PaperConfig {
    PaperConfig {
        fee_bps: dec!(10),
        slippage_bps: dec!(10),
        max_volume_share: share,
        initial_balances: balances
            .iter()
            .map(|(asset, amount)| ((*asset).to_owned(), *amount))
            .collect::<BTreeMap<_, _>>(),
        ..PaperConfig::default()
    }
}

fn book(balances: &[(&str, Decimal)], share: Option<Decimal>) -> PaperBook {
    PaperBook::new(config(balances, share)).unwrap()
}

/// The `n`-th 1m bar after T0.
fn bar(n: i64, open: Decimal, high: Decimal, low: Decimal, close: Decimal, volume: Decimal) -> Bar {
    let p = |v| Price::new(v).unwrap();
    Bar::new(
        btc(),
        Interval::M1,
        TimestampMs::new(T0 + n * 60_000),
        p(open),
        p(high),
        p(low),
        p(close),
        Quantity::new(volume).unwrap(),
    )
    .unwrap()
}

/// A flat bar at `price` with `volume`.
fn flat(n: i64, price: Decimal, volume: Decimal) -> Bar {
    bar(n, price, price, price, price, volume)
}

fn request(id: &str, side: Side, order_type: OrderType, qty: Decimal) -> OrderRequest {
    OrderRequest::new(
        ClientOrderId::new(id).unwrap(),
        btc(),
        side,
        order_type,
        Quantity::new(qty).unwrap(),
        None,
        NOW,
    )
    .unwrap()
}

fn market(id: &str, side: Side, qty: Decimal) -> OrderRequest {
    request(id, side, OrderType::Market, qty)
}

fn limit(id: &str, side: Side, price: Decimal, tif: TimeInForce, qty: Decimal) -> OrderRequest {
    let order_type = OrderType::Limit {
        price: Price::new(price).unwrap(),
        time_in_force: tif,
    };
    request(id, side, order_type, qty)
}

fn client(id: &str) -> OrderRef {
    OrderRef::ClientId(ClientOrderId::new(id).unwrap())
}

fn balance(book: &PaperBook, asset: &str) -> (Decimal, Decimal) {
    let Balance { free, locked, .. } = book.balance(asset);
    (free, locked)
}

#[test]
fn market_buy_fills_at_the_next_open_plus_slippage_and_pays_the_fee() {
    let mut book = book(&[("USDT", dec!(100000))], Some(dec!(0.1)));
    let placed = book
        .place(&market("m1", Side::Buy, dec!(0.5)), NOW)
        .unwrap();
    assert_eq!(placed.status, OrderStatus::New);
    assert!(placed.fills.is_empty());
    // no reference price yet: nothing reserved
    assert_eq!(balance(&book, "USDT"), (dec!(100000), dec!(0)));

    let fills = book.on_bar(&flat(1, dec!(20000), dec!(10)), NOW);
    // 20000 × 1.001 = 20020; notional 0.5 × 20020 = 10010; fee 10.010
    assert_eq!(fills.len(), 1);
    let fill = &fills[0];
    assert_eq!(fill.price().value(), dec!(20020));
    assert_eq!(fill.quantity().value(), dec!(0.5));
    assert_eq!(fill.fee().value(), dec!(10.010));
    assert_eq!(fill.fee_asset(), "USDT");
    assert!(!fill.is_maker());
    assert_eq!(fill.exchange_time().as_i64(), T0 + 60_000);
    assert_eq!(fill.client_order_id().as_str(), "m1");
    assert_eq!(balance(&book, "USDT"), (dec!(89979.990), dec!(0)));
    assert_eq!(balance(&book, "BTC"), (dec!(0.5), dec!(0)));

    let report = book.query(btc(), &client("m1")).unwrap();
    assert_eq!(report.status, OrderStatus::Filled);
    assert_eq!(report.executed_qty.value(), dec!(0.5));
    assert_eq!(report.cumulative_quote_qty, dec!(10010));
    assert_eq!(report.fills, fills);
}

#[test]
fn a_large_market_order_fills_over_several_bars_within_the_volume_cap() {
    let mut book = book(&[("USDT", dec!(100000))], Some(dec!(0.1)));
    // sets the reference price (20000) for the reservation
    assert!(book.on_bar(&flat(0, dec!(20000), dec!(10)), NOW).is_empty());
    let placed = book.place(&market("big", Side::Buy, dec!(3)), NOW).unwrap();
    assert_eq!(placed.status, OrderStatus::New);
    // 3 × 20000 × 1.001 × 1.001 = 60120.06 reserved
    assert_eq!(balance(&book, "USDT"), (dec!(39879.94), dec!(60120.06)));

    // 10 % of volume 10 = 1 BTC per bar
    let f1 = book.on_bar(&flat(1, dec!(20000), dec!(10)), NOW);
    assert_eq!(f1[0].quantity().value(), dec!(1));
    assert_eq!(f1[0].price().value(), dec!(20020));
    let after1 = book
        .query(btc(), &OrderRef::ExchangeId(placed.order_id))
        .unwrap();
    assert_eq!(after1.status, OrderStatus::PartiallyFilled);
    assert_eq!(after1.executed_qty.value(), dec!(1));
    // 20020 + 20.02 fee = 20040.02 taken from the reservation
    assert_eq!(balance(&book, "USDT"), (dec!(39879.94), dec!(40080.04)));

    let f2 = book.on_bar(&flat(2, dec!(21000), dec!(10)), NOW);
    // 21000 × 1.001 = 21021; + 21.021 fee = 21042.021
    assert_eq!(f2[0].price().value(), dec!(21021));
    assert_eq!(f2[0].fee().value(), dec!(21.021));
    assert_eq!(balance(&book, "USDT"), (dec!(39879.94), dec!(19038.019)));

    let f3 = book.on_bar(&flat(3, dec!(18000), dec!(10)), NOW);
    // 18018 + 18.018 = 18036.018; the 1002.001 left over is released
    assert_eq!(f3[0].price().value(), dec!(18018));
    assert_eq!(balance(&book, "USDT"), (dec!(40881.941), dec!(0)));
    assert_eq!(balance(&book, "BTC"), (dec!(3), dec!(0)));

    let done = book.query(btc(), &client("big")).unwrap();
    assert_eq!(done.status, OrderStatus::Filled);
    assert_eq!(done.cumulative_quote_qty, dec!(59059));
    assert_eq!(done.fills.len(), 3);
    assert_eq!(done.average_price(), Some(dec!(59059) / dec!(3)));
    // nothing more happens on later bars
    assert!(book.on_bar(&flat(4, dec!(18000), dec!(10)), NOW).is_empty());
}

#[test]
fn orders_of_a_symbol_share_the_bar_volume_oldest_first() {
    let mut book = book(&[("BTC", dec!(5))], Some(dec!(0.1)));
    book.place(&market("s1", Side::Sell, dec!(1.5)), NOW)
        .unwrap();
    book.place(&market("s2", Side::Sell, dec!(1)), NOW).unwrap();
    // 10 % of 20 = 2 BTC: s1 gets 1.5, s2 the remaining 0.5
    let fills = book.on_bar(&flat(1, dec!(100), dec!(20)), NOW);
    let got: Vec<(&str, Decimal)> = fills
        .iter()
        .map(|f| (f.client_order_id().as_str(), f.quantity().value()))
        .collect();
    assert_eq!(got, vec![("s1", dec!(1.5)), ("s2", dec!(0.5))]);
    // sells fill 10 bps below the open: 99.9
    assert_eq!(fills[0].price().value(), dec!(99.9));
    let fills = book.on_bar(&flat(2, dec!(100), dec!(20)), NOW);
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].quantity().value(), dec!(0.5));
    // proceeds 2.5 × 99.9 = 249.75, fees 0.24975
    assert_eq!(balance(&book, "USDT"), (dec!(249.50025), dec!(0)));
    assert_eq!(balance(&book, "BTC"), (dec!(2.5), dec!(0)));
}

#[test]
fn limit_orders_fill_when_a_bar_trades_through_their_price() {
    let mut book = book(&[("USDT", dec!(50000)), ("BTC", dec!(1))], None);
    book.place(
        &limit("lb", Side::Buy, dec!(19500), TimeInForce::Gtc, dec!(1)),
        NOW,
    )
    .unwrap();
    book.place(
        &limit("ls", Side::Sell, dec!(21000), TimeInForce::Gtc, dec!(1)),
        NOW,
    )
    .unwrap();
    // 19500 × 1.001 = 19519.5 reserved
    assert_eq!(balance(&book, "USDT"), (dec!(30480.5), dec!(19519.5)));
    assert_eq!(balance(&book, "BTC"), (dec!(0), dec!(1)));

    // touching the prices is not trading through them
    let touch = bar(
        1,
        dec!(20000),
        dec!(21000),
        dec!(19500),
        dec!(20000),
        dec!(100),
    );
    assert!(book.on_bar(&touch, NOW).is_empty());

    let through = bar(
        2,
        dec!(19600),
        dec!(19700),
        dec!(19400),
        dec!(19650),
        dec!(100),
    );
    let fills = book.on_bar(&through, NOW);
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].price().value(), dec!(19500));
    assert!(fills[0].is_maker());
    assert_eq!(fills[0].fee().value(), dec!(19.5));
    assert_eq!(balance(&book, "USDT"), (dec!(30480.5), dec!(0)));
    assert_eq!(balance(&book, "BTC"), (dec!(1), dec!(1)));

    // a bar opening above the sell's price fills it at the open
    let gap = bar(
        3,
        dec!(21200),
        dec!(21300),
        dec!(21100),
        dec!(21250),
        dec!(100),
    );
    let fills = book.on_bar(&gap, NOW);
    assert_eq!(fills[0].price().value(), dec!(21200));
    // 21200 − 21.2 fee
    assert_eq!(balance(&book, "USDT"), (dec!(51659.3), dec!(0)));
    assert_eq!(balance(&book, "BTC"), (dec!(1), dec!(0)));
    assert!(book.open_orders(None).is_empty());
}

#[test]
fn a_limit_buy_filled_below_its_price_releases_the_rest_of_its_reservation() {
    let mut book = book(&[("USDT", dec!(20000))], None);
    book.place(
        &limit("lb", Side::Buy, dec!(19500), TimeInForce::Gtc, dec!(1)),
        NOW,
    )
    .unwrap();
    let gap_down = bar(
        1,
        dec!(19000),
        dec!(19100),
        dec!(18900),
        dec!(19050),
        dec!(100),
    );
    let fills = book.on_bar(&gap_down, NOW);
    assert_eq!(fills[0].price().value(), dec!(19000));
    // 20000 − 19000 − 19 fee
    assert_eq!(balance(&book, "USDT"), (dec!(981), dec!(0)));
}

#[test]
fn cancel_after_a_partial_fill_keeps_the_fill_and_frees_the_rest() {
    let mut book = book(&[("USDT", dec!(50000))], Some(dec!(0.1)));
    let placed = book
        .place(
            &limit("p1", Side::Buy, dec!(19500), TimeInForce::Gtc, dec!(2)),
            NOW,
        )
        .unwrap();
    // 2 × 19519.5 reserved
    assert_eq!(balance(&book, "USDT"), (dec!(10961), dec!(39039)));
    let through = bar(
        1,
        dec!(19600),
        dec!(19700),
        dec!(19400),
        dec!(19650),
        dec!(10),
    );
    let fills = book.on_bar(&through, NOW);
    assert_eq!(fills[0].quantity().value(), dec!(1));
    let open = book.open_orders(Some(btc()));
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].status, OrderStatus::PartiallyFilled);
    assert!(open[0].fills.is_empty());
    assert_eq!(open[0].remaining_qty(), dec!(1));

    let cancelled = book.cancel(btc(), &client("p1"), NOW).unwrap();
    assert_eq!(cancelled.status, OrderStatus::Canceled);
    assert_eq!(cancelled.order_id, placed.order_id);
    assert_eq!(cancelled.executed_qty.value(), dec!(1));
    assert_eq!(cancelled.fills.len(), 1);
    // 50000 − 19519.5
    assert_eq!(balance(&book, "USDT"), (dec!(30480.5), dec!(0)));
    assert_eq!(balance(&book, "BTC"), (dec!(1), dec!(0)));

    assert_eq!(
        book.cancel(btc(), &client("p1"), NOW),
        Err(ExchangeError::unknown_order())
    );
    assert_eq!(
        book.cancel(btc(), &OrderRef::ExchangeId(999), NOW),
        Err(ExchangeError::unknown_order())
    );
    assert!(book.on_bar(&through, NOW).is_empty());
}

#[test]
fn short_balances_are_binance_insufficient_balance_and_change_nothing() {
    let mut book = book(&[("USDT", dec!(10000))], None);
    let err = book
        .place(
            &limit("b", Side::Buy, dec!(20000), TimeInForce::Gtc, dec!(1)),
            NOW,
        )
        .unwrap_err();
    assert_eq!(err, ExchangeError::insufficient_balance());
    assert_eq!(
        err.to_string(),
        "insufficient balance (-2010): Account has insufficient balance for requested action."
    );
    assert!(err.is_definitive_rejection());
    let err = book
        .place(&market("s", Side::Sell, dec!(0.1)), NOW)
        .unwrap_err();
    assert!(matches!(err, ExchangeError::InsufficientBalance { .. }));
    // a market buy is checked against the last close
    book.on_bar(&flat(0, dec!(20000), dec!(1)), NOW);
    assert!(matches!(
        book.place(&market("m", Side::Buy, dec!(0.5)), NOW),
        Err(ExchangeError::InsufficientBalance { .. })
    ));
    assert_eq!(balance(&book, "USDT"), (dec!(10000), dec!(0)));
    assert!(book.open_orders(None).is_empty());
    assert_eq!(
        book.query(btc(), &client("b")),
        Err(ExchangeError::no_such_order())
    );
}

#[test]
fn a_market_buy_that_gaps_past_its_funds_buys_what_they_afford_and_expires() {
    let mut book = book(&[("USDT", dec!(1000))], None);
    book.on_bar(&flat(0, dec!(100), dec!(1000)), NOW);
    book.place(&market("g", Side::Buy, dec!(9.9)), NOW).unwrap();
    // 9.9 × 100.1 × 1.001 reserved
    assert_eq!(balance(&book, "USDT"), (dec!(8.01901), dec!(991.98099)));
    let fills = book.on_bar(&flat(1, dec!(200), dec!(1000)), NOW);
    // 1000 / (200.2 × 1.001) = 4.99001498… rounded down to 8 decimals
    assert_eq!(fills[0].quantity().value(), dec!(4.99001498));
    assert_eq!(fills[0].price().value(), dec!(200.2));
    let report = book.query(btc(), &client("g")).unwrap();
    assert_eq!(report.status, OrderStatus::Expired);
    assert_eq!(report.executed_qty.value(), dec!(4.99001498));
    // 1000 − 4.99001498 × 200.4002
    assert_eq!(balance(&book, "USDT"), (dec!(0.000000005004), dec!(0)));
}

#[test]
fn duplicate_client_order_ids_are_rejected_while_the_first_is_open() {
    let mut book = book(&[("USDT", dec!(100000))], None);
    let order = limit("dup", Side::Buy, dec!(100), TimeInForce::Gtc, dec!(1));
    let first = book.place(&order, NOW).unwrap();
    let err = book.place(&order, NOW).unwrap_err();
    assert_eq!(err, ExchangeError::duplicate_order());
    assert_eq!(
        err.to_string(),
        "duplicate client order id (-2010): Duplicate order sent."
    );
    // as on Binance, the id is free again once the first order is no longer open
    book.cancel(btc(), &client("dup"), NOW).unwrap();
    let second = book.place(&order, NOW).unwrap();
    assert_ne!(second.order_id, first.order_id);
    assert_eq!(
        book.query(btc(), &client("dup")).unwrap().order_id,
        second.order_id
    );
    assert_eq!(
        book.query(btc(), &OrderRef::ExchangeId(first.order_id))
            .unwrap()
            .status,
        OrderStatus::Canceled
    );
    // another symbol does not know the order
    assert_eq!(
        book.query(Symbol::new("ETHUSDT").unwrap(), &client("dup")),
        Err(ExchangeError::no_such_order())
    );
}

#[test]
fn ioc_and_fok_get_one_bar() {
    let mut book = book(&[("BTC", dec!(10))], Some(dec!(0.1)));
    book.place(
        &limit("ioc", Side::Sell, dec!(100), TimeInForce::Ioc, dec!(3)),
        NOW,
    )
    .unwrap();
    book.place(
        &limit("fok", Side::Sell, dec!(100), TimeInForce::Fok, dec!(3)),
        NOW,
    )
    .unwrap();
    book.place(
        &limit("far", Side::Sell, dec!(500), TimeInForce::Ioc, dec!(1)),
        NOW,
    )
    .unwrap();
    // 10 % of 20 = 2: IOC fills 2 and expires the rest; FOK cannot fill 3 and expires whole;
    // the far IOC is not reached and expires
    let b = bar(1, dec!(101), dec!(102), dec!(99), dec!(101), dec!(20));
    let fills = book.on_bar(&b, NOW);
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].quantity().value(), dec!(2));
    assert_eq!(fills[0].price().value(), dec!(101));
    for (id, status, executed) in [
        ("ioc", OrderStatus::Expired, dec!(2)),
        ("fok", OrderStatus::Expired, dec!(0)),
        ("far", OrderStatus::Expired, dec!(0)),
    ] {
        let r = book.query(btc(), &client(id)).unwrap();
        assert_eq!(
            (r.status, r.executed_qty.value()),
            (status, executed),
            "{id}"
        );
    }
    assert_eq!(balance(&book, "BTC"), (dec!(8), dec!(0)));
}

#[test]
fn place_at_price_fills_at_once_for_the_simulator() {
    let mut book = book(&[("USDT", dec!(1000))], None);
    let p = Price::new(dec!(100)).unwrap();
    let report = book
        .place_at_price(&market("now", Side::Buy, dec!(2)), p, NOW)
        .unwrap();
    assert_eq!(report.status, OrderStatus::Filled);
    assert_eq!(report.fills[0].price().value(), dec!(100.1));
    assert_eq!(report.fills[0].exchange_time(), NOW);
    // 200.2 + 0.2002
    assert_eq!(balance(&book, "USDT"), (dec!(799.5998), dec!(0)));
    let trades = book.order_trades(report.order_id);
    assert_eq!(trades.len(), 1);
    assert_eq!(trades[0].trade_id, 1);
    let resting = book
        .place_at_price(
            &limit("rest", Side::Buy, dec!(90), TimeInForce::Gtc, dec!(1)),
            p,
            NOW,
        )
        .unwrap();
    assert_eq!(resting.status, OrderStatus::New);
    let ioc = book
        .place_at_price(
            &limit("ioc", Side::Buy, dec!(90), TimeInForce::Ioc, dec!(1)),
            p,
            NOW,
        )
        .unwrap();
    assert_eq!(ioc.status, OrderStatus::Expired);
}

#[test]
fn unknown_quote_assets_are_an_invalid_symbol() {
    let mut book = book(&[("USDT", dec!(10))], None);
    let order = OrderRequest::new(
        ClientOrderId::new("x").unwrap(),
        Symbol::new("ABCXYZ").unwrap(),
        Side::Buy,
        OrderType::Market,
        Quantity::new(dec!(1)).unwrap(),
        None,
        NOW,
    )
    .unwrap();
    assert_eq!(
        book.place(&order, NOW),
        Err(ExchangeError::invalid_symbol())
    );
}

#[tokio::test]
async fn the_paper_exchange_works_behind_the_trait_with_an_injected_clock() {
    let clock = Arc::new(HistoricalClock::new(TimestampMs::new(T0)));
    let paper = PaperExchange::new(config(&[("USDT", dec!(1000))], None), clock.clone()).unwrap();
    let exchange: Arc<dyn SpotExchange> = Arc::new(paper);
    assert_eq!(exchange.name(), "paper");
    assert_eq!(exchange.used_weight_1m(), None);
    let order = market("t1", Side::Buy, dec!(1));
    let placed = exchange.place_order(&order).await.unwrap();
    assert_eq!(placed.update_time.as_i64(), T0);
    clock.advance_ms(90_000).unwrap();
    let open = exchange.open_orders(Some(btc())).await.unwrap();
    assert_eq!(open.len(), 1);

    // bars reach the concrete type (the backend keeps both handles)
    let paper = PaperExchange::new(config(&[("USDT", dec!(1000))], None), clock.clone()).unwrap();
    paper.place_order(&order).await.unwrap();
    let fills = paper.on_bar(&flat(1, dec!(100), dec!(10)));
    assert_eq!(fills[0].receive_time().as_i64(), T0 + 90_000);
    assert_eq!(fills[0].exchange_time().as_i64(), T0 + 60_000);
    let report = paper.query_order(btc(), &client("t1")).await.unwrap();
    assert_eq!(report.status, OrderStatus::Filled);
    // 1000 − 100.1 − 0.1001
    let balances = paper.balances().await.unwrap();
    assert_eq!(
        balances,
        vec![
            Balance {
                asset: "BTC".into(),
                free: dec!(1),
                locked: dec!(0)
            },
            Balance {
                asset: "USDT".into(),
                free: dec!(899.7999),
                locked: dec!(0)
            },
        ]
    );
    assert!(matches!(
        paper.cancel_order(btc(), &client("t1")).await,
        Err(ExchangeError::CancelRejected { .. })
    ));
}
