//! The first step of a bar's flow: the backend's feeder reads closed klines from a server
//! speaking Binance's protocol (the simulator, replaying the real FTX 1m file), publishes
//! them as `md.bar`, and the trade-store stores a continuous series.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test loudly"
)]

use std::time::{Duration, Instant};

use levibot_config::ServiceName;
use levibot_core::{Interval, Symbol};
use levibot_exchange::{
    CsvReplay, ExchangeMetrics,
    sim::{SimConfig, SimData, SimPace, SimServer},
};
use levibot_proto::v1::{
    self, QueryBarsRequest, TimeRange, trade_store_service_client::TradeStoreServiceClient,
};
use levibot_telemetry::metrics::Registry;
use levibot_tests::Sandbox;
use tokio_stream::StreamExt;

async fn feed_and_check(drop_after: Option<u64>, want: usize) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data/klines/ftx_btc-perp_1m_20211231-20220201.csv");
    let symbol = Symbol::new("BTCUSDT").unwrap();
    let metrics = ExchangeMetrics::new(&Registry::new()).unwrap();
    let replay = CsvReplay::load(&path, symbol, Interval::M1, &metrics)
        .await
        .unwrap();
    let mut data = SimData::new();
    data.add_bars(replay.bars().iter().take(2_000).copied());
    let config = SimConfig {
        pace: SimPace::Every(Duration::from_micros(500)),
        ..SimConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = SimServer::start(listener, data, config).unwrap();
    if let Some(n) = drop_after {
        sim.control().drop_connection_after(n);
    }

    let (ws, rest) = (sim.ws_base_url(), sim.rest_base_url());
    let sandbox = Sandbox::start_with(&[
        ("market_data.enabled", "true"),
        ("market_data.ws_url", &ws),
        ("market_data.rest_url", &rest),
        ("risk.symbols", "BTCUSDT"),
    ])
    .await;

    let mut client = TradeStoreServiceClient::new(sandbox.channel(ServiceName::TradeStore).await);
    let request = || QueryBarsRequest {
        symbol: "BTCUSDT".into(),
        interval: v1::Interval::Interval1m as i32,
        range: Some(TimeRange {
            from_ms: 0,
            to_ms: i64::MAX,
        }),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let stored = loop {
        let mut stream = client.query_bars(request()).await.unwrap().into_inner();
        let mut bars = Vec::new();
        while let Some(bar) = stream.next().await {
            bars.push(bar.unwrap());
        }
        if bars.len() >= want || Instant::now() > deadline {
            break bars;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(stored.len() >= want, "only {} bars stored", stored.len());
    if drop_after.is_some() {
        assert!(
            sim.control().stats().connections_dropped >= 1,
            "the connection was never dropped"
        );
    }
    for pair in stored.windows(2) {
        assert_eq!(
            pair[1].open_time_ms - pair[0].open_time_ms,
            60_000,
            "a gap in the stored series"
        );
    }
    // the stored values are the file's, exactly
    let first = replay
        .bars()
        .iter()
        .position(|b| b.open_time().as_i64() == stored[0].open_time_ms)
        .unwrap();
    for (stored, original) in stored.iter().zip(&replay.bars()[first..]) {
        assert_eq!(stored, &v1::Bar::from(original));
    }
    sandbox.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feeder_turns_exchange_klines_into_a_continuous_stored_series() {
    feed_and_check(None, 500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_loses_no_bar() {
    // the simulator cuts the connection after 400 messages; the feeder reconnects and
    // backfills the bars it missed over REST before publishing later ones
    feed_and_check(Some(400), 900).await;
}
