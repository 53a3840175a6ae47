//! Per-symbol trading rules from `GET /api/v3/exchangeInfo`: the signed spot client against the
//! simulator over real HTTP (rules, unknown symbols, request weight), the simulator's answer to
//! the parameters Binance takes, and the paper exchange's rules from its config. Every test
//! runs its own simulator on port 0.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test on broken fixtures"
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use levibot_core::{Bar, Interval, LiveClock, Price, Quantity, Symbol, TimestampMs};
use levibot_exchange::sim::{SimConfig, SimData, SimPace, SimServer};
use levibot_exchange::spot::{
    BinanceSpotClient, BinanceSpotConfig, Credentials, ExchangeError, OrderLimits, PaperConfig,
    PaperExchange, SpotCall, SpotExchange, SymbolRules, SymbolStatus, parse_exchange_info,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const T0: i64 = 1_700_000_040_000;

fn sym(name: &str) -> Symbol {
    Symbol::new(name).unwrap()
}

fn bar(symbol: Symbol, n: i64, price: Decimal) -> Bar {
    let p = Price::new(price).unwrap();
    Bar::new(
        symbol,
        Interval::M1,
        TimestampMs::new(T0 + n * 60_000),
        p,
        p,
        p,
        p,
        Quantity::new(dec!(10)).unwrap(),
    )
    .unwrap()
}

/// A market-data-only simulator knowing BTCUSDT, ETHUSDT and DOGEUSDT (exchangeInfo is public).
async fn sim() -> SimServer {
    let mut data = SimData::new();
    data.add_bars([
        bar(sym("BTCUSDT"), 0, dec!(60000)),
        bar(sym("ETHUSDT"), 0, dec!(3000)),
        bar(sym("DOGEUSDT"), 0, dec!(0.15)),
    ]);
    let config = SimConfig {
        pace: SimPace::Every(Duration::from_millis(5)),
        ..SimConfig::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    SimServer::start(listener, data, config).unwrap()
}

fn client(server: &SimServer) -> BinanceSpotClient {
    let config = BinanceSpotConfig {
        base_url: server.rest_base_url(),
        timeout: Duration::from_secs(5),
        ..BinanceSpotConfig::default()
    };
    BinanceSpotClient::new(&config, &Credentials::new("unused-key", "unused-secret")).unwrap()
}

/// The weight grew by `cost`, or the minute rolled over in between and it restarted.
fn assert_weight_grew(before: u64, after: u64, cost: u64) {
    assert!(
        after == before + cost || after <= cost,
        "weight went from {before} to {after}, expected +{cost}"
    );
}

/// A plain HTTP/1.1 GET; the status code and the body.
async fn http_get(server: &SimServer, path_and_query: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let request =
        format!("GET {path_and_query} HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

#[tokio::test]
async fn the_client_reads_each_symbols_rules_from_the_simulator() {
    let server = sim().await;
    let client = client(&server);
    let rules = client
        .symbol_rules(&[sym("ETHUSDT"), sym("BTCUSDT"), sym("ETHUSDT")])
        .await
        .unwrap();
    assert_eq!(
        rules.keys().copied().collect::<Vec<_>>(),
        [sym("BTCUSDT"), sym("ETHUSDT")]
    );
    let btc = &rules[&sym("BTCUSDT")];
    assert_eq!(btc.symbol, sym("BTCUSDT"));
    assert_eq!(btc.status, SymbolStatus::Trading);
    assert!(btc.is_trading());
    assert_eq!(
        (btc.base_asset.as_str(), btc.quote_asset.as_str()),
        ("BTC", "USDT")
    );
    assert_eq!(btc.tick_size, Some(dec!(0.01)));
    assert_eq!(btc.min_price, Some(dec!(0.01)));
    assert_eq!(btc.step_size, Some(dec!(0.00001)));
    assert_eq!(btc.min_qty, dec!(0.00001));
    assert_eq!(btc.max_qty, Some(dec!(9000)));
    assert_eq!(btc.market_step_size, None);
    assert_eq!(btc.market_min_qty, Decimal::ZERO);
    assert_eq!(btc.market_max_qty, Some(dec!(100)));
    assert_eq!(btc.min_notional, dec!(5));
    assert!(btc.apply_min_to_market);
    assert_eq!(
        btc.market_order_limits(),
        OrderLimits {
            step: Some(dec!(0.00001)),
            min_qty: dec!(0.00001),
            max_qty: Some(dec!(100)),
            min_notional: dec!(5),
            max_notional: None,
        }
    );
    let eth = &rules[&sym("ETHUSDT")];
    assert_eq!(eth.step_size, Some(dec!(0.0001)));
    assert_eq!(eth.tick_size, Some(dec!(0.01)));
    assert_eq!(eth.min_notional, dec!(5));
    let doge = client.symbol_rules(&[sym("DOGEUSDT")]).await.unwrap();
    assert_eq!(doge[&sym("DOGEUSDT")].step_size, Some(dec!(1)));
    assert_eq!(doge[&sym("DOGEUSDT")].tick_size, Some(dec!(0.00001)));
    server.shutdown().await;
}

#[tokio::test]
async fn exchange_info_costs_weight_20_however_many_symbols() {
    let server = sim().await;
    let client = client(&server);
    assert_eq!(SpotCall::ExchangeInfo.weight(), 20);
    assert!(client.symbol_rules(&[]).await.unwrap().is_empty());
    assert_eq!(client.used_weight_1m(), None, "no symbols, no request");
    client.symbol_rules(&[sym("BTCUSDT")]).await.unwrap();
    let first = client.used_weight_1m().unwrap();
    assert_eq!(first, 20);
    client
        .symbol_rules(&[sym("BTCUSDT"), sym("ETHUSDT"), sym("DOGEUSDT")])
        .await
        .unwrap();
    assert_weight_grew(first, client.used_weight_1m().unwrap(), 20);
    // an unknown symbol is charged too
    let before = client.used_weight_1m().unwrap();
    assert!(client.symbol_rules(&[sym("NOPEUSDT")]).await.is_err());
    client.symbol_rules(&[sym("ETHUSDT")]).await.unwrap();
    assert_weight_grew(before, client.used_weight_1m().unwrap(), 40);
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_symbols_are_binances_invalid_symbol_naming_what_was_asked() {
    let server = sim().await;
    let client = client(&server);
    for asked in [vec![sym("NOPEUSDT")], vec![sym("BTCUSDT"), sym("NOPEUSDT")]] {
        let error = client.symbol_rules(&asked).await.unwrap_err();
        let ExchangeError::Api {
            status,
            code,
            message,
        } = &error
        else {
            panic!("expected -1121, got {error:?}");
        };
        assert_eq!((*status, *code), (400, Some(-1121)));
        assert!(message.starts_with("Invalid symbol."), "{message}");
        assert!(message.contains("NOPEUSDT"), "{message}");
        assert!(error.is_definitive_rejection());
        assert!(!error.is_retryable());
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_client_works_behind_the_trait() {
    let server = sim().await;
    let exchange: Arc<dyn SpotExchange> = Arc::new(client(&server));
    assert_eq!(exchange.call_weight(SpotCall::ExchangeInfo), 20);
    let rules = exchange.symbol_rules(&[sym("BTCUSDT")]).await.unwrap();
    assert_eq!(rules[&sym("BTCUSDT")].step_size, Some(dec!(0.00001)));
    server.shutdown().await;
}

#[tokio::test]
async fn the_simulator_answers_the_parameters_binance_takes() {
    let server = sim().await;
    // no parameters: every symbol, with the fields it always had
    let (status, body) = http_get(&server, "/api/v3/exchangeInfo").await;
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["timezone"], "UTC");
    assert!(info["serverTime"].is_i64());
    assert_eq!(info["rateLimits"][0]["rateLimitType"], "REQUEST_WEIGHT");
    assert_eq!(info["rateLimits"][0]["limit"], 6000);
    assert_eq!(info["exchangeFilters"], serde_json::json!([]));
    let names: Vec<&str> = info["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["BTCUSDT", "DOGEUSDT", "ETHUSDT"]);
    let btc = &info["symbols"][0];
    assert_eq!(btc["status"], "TRADING");
    assert_eq!(btc["baseAsset"], "BTC");
    assert_eq!(btc["quoteAsset"], "USDT");
    assert_eq!(btc["isSpotTradingAllowed"], true);
    let filter = |kind: &str| {
        btc["filters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["filterType"] == kind)
            .cloned()
            .unwrap()
    };
    assert_eq!(filter("PRICE_FILTER")["tickSize"], "0.01000000");
    assert_eq!(filter("LOT_SIZE")["stepSize"], "0.00001000");
    assert_eq!(filter("LOT_SIZE")["minQty"], "0.00001000");
    assert_eq!(filter("MARKET_LOT_SIZE")["stepSize"], "0.00000000");
    assert_eq!(filter("NOTIONAL")["minNotional"], "5.00000000");
    assert_eq!(filter("NOTIONAL")["applyMinToMarket"], true);
    assert_eq!(parse_exchange_info(body.as_bytes()).unwrap().len(), 3);

    // `symbol` and `symbols`, encoded as the client sends it and as in Binance's curl example
    // (the HTTP layer refuses an unencoded `"`, which Binance's `curl -g` example sends)
    let (status, body) = http_get(&server, "/api/v3/exchangeInfo?symbol=ETHUSDT").await;
    assert_eq!(status, 200);
    let one = parse_exchange_info(body.as_bytes()).unwrap();
    assert_eq!(one.keys().copied().collect::<Vec<_>>(), [sym("ETHUSDT")]);
    for list in [
        "%5B%22DOGEUSDT%22%2C%22BTCUSDT%22%5D",
        "%5B%22DOGEUSDT%22,%22BTCUSDT%22%5D",
    ] {
        let (status, body) =
            http_get(&server, &format!("/api/v3/exchangeInfo?symbols={list}")).await;
        assert_eq!(status, 200, "{list}");
        let two = parse_exchange_info(body.as_bytes()).unwrap();
        assert_eq!(
            two.keys().copied().collect::<Vec<_>>(),
            [sym("BTCUSDT"), sym("DOGEUSDT")]
        );
    }

    // Binance's errors
    for (query, code) in [
        ("symbol=NOPEUSDT", -1121),
        ("symbols=%5B%22BTCUSDT%22%2C%22NOPEUSDT%22%5D", -1121),
        ("symbols=BTCUSDT", -1100),
        ("symbol=BTCUSDT&symbols=%5B%22BTCUSDT%22%5D", -1128),
    ] {
        let (status, body) = http_get(&server, &format!("/api/v3/exchangeInfo?{query}")).await;
        assert_eq!(status, 400, "{query}");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["code"], code, "{query}: {body}");
    }
    let (_, body) = http_get(&server, "/api/v3/exchangeInfo?symbol=NOPEUSDT").await;
    assert_eq!(body, r#"{"code":-1121,"msg":"Invalid symbol."}"#);
    server.shutdown().await;
}

#[tokio::test]
async fn the_paper_exchange_reports_the_rules_of_its_config() {
    let clock = Arc::new(LiveClock::new());
    let plain = PaperExchange::new(PaperConfig::default(), clock.clone()).unwrap();
    let none = plain.symbol_rules(&[sym("BTCUSDT")]).await.unwrap();
    assert!(none.is_empty(), "no configured rules: use the defaults");

    let mut btc = SymbolRules::unrestricted(sym("BTCUSDT"), "BTC", "USDT");
    btc.step_size = Some(dec!(0.00001));
    btc.min_qty = dec!(0.00001);
    btc.min_notional = dec!(5);
    let config = PaperConfig {
        symbol_rules: BTreeMap::from([(sym("BTCUSDT"), btc.clone())]),
        ..PaperConfig::default()
    };
    let paper: Arc<dyn SpotExchange> = Arc::new(PaperExchange::new(config, clock).unwrap());
    let rules = paper
        .symbol_rules(&[sym("BTCUSDT"), sym("ETHUSDT")])
        .await
        .unwrap();
    assert_eq!(rules, BTreeMap::from([(sym("BTCUSDT"), btc)]));
    assert_eq!(paper.call_weight(SpotCall::ExchangeInfo), 0);
}
