//! Bars published on the bus reach the database through the trade-store: every bar of real
//! data once (republishing changes nothing), in order, queryable over gRPC; a bar breaking
//! the OHLC rules is parked in the dead-letter stream, not stored.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test loudly"
)]

use std::time::{Duration, Instant};

use levibot_bus::{BusMetrics, Envelope, EventBus, RedisBus, RedisBusOptions, Topic};
use levibot_config::ServiceName;
use levibot_core::TimestampMs;
use levibot_proto::v1::{
    self, QueryBarsRequest, TimeRange, trade_store_service_client::TradeStoreServiceClient,
};
use levibot_tests::{Sandbox, test_redis_url};
use tokio_stream::StreamExt;

/// The first `n` rows of the FTX 1m file as wire bars.
fn ftx_bars(n: usize) -> Vec<v1::Bar> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data/klines/ftx_btc-perp_1m_20211231-20220201.csv");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .take(n)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            v1::Bar {
                symbol: "BTCUSDT".into(),
                interval: v1::Interval::Interval1m as i32,
                open_time_ms: f[0].parse().unwrap(),
                open: f[1].into(),
                high: f[2].into(),
                low: f[3].into(),
                close: f[4].into(),
                volume: f[5].into(),
            }
        })
        .collect()
}

async fn stored(
    client: &mut TradeStoreServiceClient<levibot_tests::TracedChannel>,
) -> Vec<v1::Bar> {
    let request = QueryBarsRequest {
        symbol: "BTCUSDT".into(),
        interval: v1::Interval::Interval1m as i32,
        range: Some(TimeRange {
            from_ms: 0,
            to_ms: i64::MAX,
        }),
    };
    let mut stream = client.query_bars(request).await.unwrap().into_inner();
    let mut bars = Vec::new();
    while let Some(bar) = stream.next().await {
        bars.push(bar.unwrap());
    }
    bars
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bars_on_the_bus_are_stored_once_and_bad_ones_parked() {
    let sandbox = Sandbox::start().await;
    let buffer = tempfile::tempdir().unwrap();
    let mut options = RedisBusOptions::new(test_redis_url(), buffer.path());
    options.key_prefix = sandbox.key_prefix().to_owned();
    let bus = RedisBus::open(options, BusMetrics::unregistered().unwrap())
        .await
        .unwrap();

    let bars = ftx_bars(3_000);
    let envelope = |bar: &v1::Bar| Envelope::new(bar, "test", TimestampMs::new(bar.open_time_ms));
    let events: Vec<Envelope> = bars.iter().map(envelope).collect();
    for chunk in events.chunks(500) {
        bus.publish_batch(Topic::MdBar, chunk).await.unwrap();
    }
    // a publisher's retry of the same events, and a bar that breaks the rules
    bus.publish_batch(Topic::MdBar, &events[..100])
        .await
        .unwrap();
    let mut bad = bars[0].clone();
    bad.open_time_ms = bars[2_999].open_time_ms + 60_000;
    bad.high = "1".into(); // below its low
    bus.publish(Topic::MdBar, &envelope(&bad)).await.unwrap();

    let mut client = TradeStoreServiceClient::new(sandbox.channel(ServiceName::TradeStore).await);
    let deadline = Instant::now() + Duration::from_secs(30);
    let got = loop {
        let got = stored(&mut client).await;
        if got.len() >= 3_000 || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(got.len(), 3_000, "every bar stored once");
    assert_eq!(
        got, bars,
        "exactly the published bars, in time order, decimals intact"
    );

    // the bad bar was parked, with its reason
    let client = redis::Client::open(test_redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let parked: Vec<redis::Value> = redis::cmd("XRANGE")
            .arg(format!("{}dead-letter", sandbox.key_prefix()))
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .unwrap();
        if parked.len() == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the invalid bar was not dead-lettered: {parked:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bus.close().await;
    sandbox.shutdown().await.unwrap();
}
