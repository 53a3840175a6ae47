//! What the end-to-end trading tests share: a fleet trading the FTX 1m replay, the
//! trade-store's view of it, and a bare HTTP client for the gateway.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test loudly; each test binary uses some of them"
)]

use std::time::Duration;

use levibot_core::{Interval, Symbol};
use levibot_exchange::{
    CsvReplay, ExchangeMetrics,
    sim::{SimConfig, SimData, SimPace, SimServer, SimTradingConfig},
};
use levibot_proto::v1::{
    self, QueryFillsRequest, QueryOrdersRequest, TimeRange,
    trade_store_service_client::TradeStoreServiceClient,
};
use levibot_telemetry::metrics::Registry;
use levibot_tests::Sandbox;

pub(crate) const BARS: usize = 3_000;

pub(crate) fn ftx_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data/klines/ftx_btc-perp_1m_20211231-20220201.csv")
}

pub(crate) type Store = TradeStoreServiceClient<levibot_tests::TracedChannel>;

/// Every stored BTCUSDT order.
pub(crate) async fn btc_orders(store: &Store) -> Vec<v1::Order> {
    let mut store = store.clone();
    store
        .query_orders(QueryOrdersRequest {
            symbol: "BTCUSDT".into(),
            range: everything(),
        })
        .await
        .unwrap()
        .into_inner()
        .orders
}

/// Every stored BTCUSDT fill.
pub(crate) async fn btc_fills(store: &Store) -> Vec<v1::Fill> {
    let mut store = store.clone();
    store
        .query_fills(QueryFillsRequest {
            symbol: "BTCUSDT".into(),
            range: everything(),
        })
        .await
        .unwrap()
        .into_inner()
        .fills
}

pub(crate) fn everything() -> Option<TimeRange> {
    Some(TimeRange {
        from_ms: 0,
        to_ms: i64::MAX,
    })
}

/// A fleet trading BTCUSDT with the EMA cross on paper, fed `BARS` FTX bars by the simulator
/// (every `pace`), with its REST gateway on `gateway`.
pub(crate) async fn trading_fleet(pace: Duration, gateway: &str) -> (Sandbox, SimServer) {
    trading_fleet_with(pace, gateway, None, &[]).await
}

/// [`trading_fleet`] with the simulator's trading endpoints and extra settings.
pub(crate) async fn trading_fleet_with(
    pace: Duration,
    gateway: &str,
    trading: Option<SimTradingConfig>,
    extra: &[(&str, &str)],
) -> (Sandbox, SimServer) {
    let path = ftx_path();
    let symbol = Symbol::new("BTCUSDT").unwrap();
    let metrics = ExchangeMetrics::new(&Registry::new()).unwrap();
    let replay = CsvReplay::load(&path, symbol, Interval::M1, &metrics)
        .await
        .unwrap();
    let mut data = SimData::new();
    data.add_bars(replay.bars().iter().take(BARS).copied());
    let config = SimConfig {
        pace: SimPace::Every(pace),
        trading,
        ..SimConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = SimServer::start(listener, data, config).unwrap();
    let (ws, rest) = (sim.ws_base_url(), sim.rest_base_url());
    let mut settings = vec![
        ("market_data.enabled", "true"),
        ("market_data.ws_url", &ws),
        ("market_data.rest_url", &rest),
        ("trading.binance_rest_url", &rest),
        ("risk.symbols", "BTCUSDT"),
        ("trading.engines_enabled", "true"),
        ("trading.signal_source", "ema_cross"),
        // the bars are from 2022: a live clock would call every one stale
        ("trading.stale_after_ms", "1000000000000"),
        ("trading.throttle_max_signals", "1000"),
        ("gateway.listen", gateway),
    ];
    settings.extend_from_slice(extra);
    let sandbox = Sandbox::start_with(&settings).await;
    (sandbox, sim)
}

/// A free loopback port for the gateway (bound, read, released).
pub(crate) async fn free_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().to_string()
}

/// One HTTP/1.1 request; returns the status code and body.
pub(crate) async fn http(addr: &str, method: &str, path: &str, key: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}
