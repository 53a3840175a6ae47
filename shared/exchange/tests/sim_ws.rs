//! The WebSocket source and the REST client against the Binance-protocol simulator: dropped
//! connections are backfilled with no bar lost, bad frames are counted and skipped on a live
//! connection, pings keep connections up, `serverShutdown`, stalls and old connections trigger
//! reconnects, rate limits come back typed. Every test runs its own simulator on port 0.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test on broken fixtures"
)]

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use levibot_core::{Bar, Interval, Symbol, TimestampMs};
use levibot_exchange::binance::{
    BinanceWsSource, MarketEvent, RejectReason, RestClient, RestConfig, RestError, WsConfig,
    bars_only, parse_message,
};
use levibot_exchange::metrics::ReconnectReason;
use levibot_exchange::sim::{Malformed, SimConfig, SimData, SimPace, SimServer};
use levibot_exchange::{CsvReplay, ExchangeMetrics, GapFiller, MarketDataSource, ReplaySpeed};
use levibot_telemetry::metrics::Registry;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_secs(20);

fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

/// The first `n` 1m bars of the FTX file, relabelled as `symbol`.
fn ftx_bars(symbol: Symbol, n: usize) -> Vec<Bar> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/klines/ftx_btc-perp_1m_20211231-20220201.csv");
    let text = std::fs::read_to_string(path).unwrap();
    let metrics = metrics();
    let replay = CsvReplay::parse(&text, symbol, Interval::M1, &metrics).unwrap();
    replay.bars()[..n].to_vec()
}

fn metrics() -> ExchangeMetrics {
    ExchangeMetrics::new(&Registry::new()).unwrap()
}

async fn sim(data: SimData, config: SimConfig) -> SimServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    SimServer::start(listener, data, config).unwrap()
}

fn sim_config(every_ms: u64) -> SimConfig {
    SimConfig {
        pace: SimPace::Every(Duration::from_millis(every_ms)),
        ping_interval: Duration::from_secs(1),
        pong_timeout: Duration::from_secs(5),
        shutdown_grace: Duration::from_millis(300),
        ..SimConfig::default()
    }
}

fn ws_config(server: &SimServer, symbols: Vec<Symbol>) -> WsConfig {
    WsConfig {
        base_url: server.ws_base_url(),
        symbols,
        kline_interval: Some(Interval::M1),
        trades: false,
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        idle_timeout: Duration::from_secs(5),
        ..WsConfig::default()
    }
}

fn rest(server: &SimServer, metrics: &ExchangeMetrics) -> RestClient {
    let config = RestConfig {
        base_url: server.rest_base_url(),
        timeout: Duration::from_secs(5),
    };
    RestClient::new(&config, metrics.clone()).unwrap()
}

/// Live bars from the simulator, gap-filled over REST from the same simulator.
fn live_source(
    server: &SimServer,
    config: WsConfig,
    metrics: &ExchangeMetrics,
) -> (BinanceWsSource, MarketDataSource) {
    let (source, events) =
        BinanceWsSource::start(config, metrics, CancellationToken::new()).unwrap();
    let filler = GapFiller::new(rest(server, metrics), metrics.clone());
    (source, filler.fill(bars_only(events)))
}

/// Bars until one with `last` open time has arrived.
async fn collect_until(source: &mut MarketDataSource, last: TimestampMs) -> Vec<Bar> {
    let mut out = Vec::new();
    tokio::time::timeout(TIMEOUT, async {
        while let Some(bar) = source.next_bar().await {
            out.push(bar);
            if bar.open_time() >= last {
                break;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out after {} bars", out.len()));
    out
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    tokio::time::timeout(TIMEOUT, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

#[tokio::test]
async fn dropped_connection_is_backfilled_with_no_bar_lost() {
    let bars = ftx_bars(btc(), 150);
    let mut data = SimData::new();
    data.add_bars(bars.clone());
    let server = sim(data, sim_config(2)).await;
    server.control().drop_connection_after(60);
    let metrics = metrics();
    let (source, mut live) = live_source(&server, ws_config(&server, vec![btc()]), &metrics);

    let got = collect_until(&mut live, bars[149].open_time()).await;

    assert_eq!(got, bars, "the series must be complete and in order");
    let stats = server.control().stats();
    assert_eq!(stats.connections_dropped, 1);
    assert_eq!(stats.connections_accepted, 2);
    assert_eq!(metrics.reconnects(ReconnectReason::Disconnected), 1);
    assert!(metrics.gaps_found() >= 1);
    assert!(
        metrics.bars_backfilled() >= 1,
        "the drop must have cost live bars"
    );
    assert!(stats.klines_requests >= 1);
    assert_eq!(
        metrics.bars_parsed() + metrics.bars_backfilled(),
        150,
        "every bar came either live or from REST"
    );
    source.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn bad_frames_are_counted_and_skipped_on_a_live_connection() {
    let bars = ftx_bars(btc(), 60);
    let mut data = SimData::new();
    data.add_bars(bars.clone());
    let server = sim(data, sim_config(5)).await;
    let metrics = metrics();
    let (source, mut events) = BinanceWsSource::start(
        ws_config(&server, vec![btc()]),
        &metrics,
        CancellationToken::new(),
    )
    .unwrap();

    let mut got = Vec::new();
    let mut injected = false;
    tokio::time::timeout(TIMEOUT, async {
        while let Some(event) = events.recv().await {
            if let MarketEvent::Bar(bar) = event {
                got.push(bar.bar);
                if !injected {
                    for kind in Malformed::ALL {
                        server.control().send_malformed(kind);
                    }
                    injected = true;
                }
                if got.len() == bars.len() {
                    break;
                }
            }
        }
    })
    .await
    .unwrap();

    assert_eq!(got, bars, "no bar lost, no reconnect needed");
    for reason in [
        RejectReason::MalformedJson,
        RejectReason::MissingField,
        RejectReason::WrongType,
        RejectReason::InvalidValue,
        RejectReason::UnknownStream,
    ] {
        assert_eq!(metrics.messages_rejected(reason), 1, "{reason}");
    }
    assert_eq!(metrics.reconnects_total(), 0);
    assert_eq!(server.control().stats().connections_accepted, 1);
    assert_eq!(metrics.messages_received(), 120 + 5);
    source.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_every_n_keeps_the_connection() {
    let bars = ftx_bars(btc(), 40);
    let mut data = SimData::new();
    data.add_bars(bars.clone());
    let config = SimConfig {
        malformed_every: Some(4),
        ..sim_config(2)
    };
    let server = sim(data, config).await;
    let metrics = metrics();
    let (source, mut live) = live_source(&server, ws_config(&server, vec![btc()]), &metrics);
    let got = collect_until(&mut live, bars[39].open_time()).await;
    assert_eq!(got, bars);
    // 80 data messages, a bad frame after every 4th (the last one follows the last bar)
    let rejected = || -> u64 {
        RejectReason::ALL
            .iter()
            .map(|r| metrics.messages_rejected(*r))
            .sum()
    };
    wait_for("20 rejections", || rejected() >= 20).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(rejected(), 20);
    for reason in RejectReason::ALL {
        assert_eq!(metrics.messages_rejected(reason), 4, "{reason}");
    }
    assert_eq!(metrics.reconnects_total(), 0);
    assert_eq!(metrics.bars_backfilled(), 0);
    source.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn pings_are_answered_and_keep_the_connection() {
    let mut data = SimData::new();
    data.add_bars(ftx_bars(btc(), 5));
    let config = SimConfig {
        ping_interval: Duration::from_millis(40),
        pong_timeout: Duration::from_millis(150),
        ..sim_config(1000)
    };
    let server = sim(data, config).await;
    let metrics = metrics();
    let (source, _events) = BinanceWsSource::start(
        ws_config(&server, vec![btc()]),
        &metrics,
        CancellationToken::new(),
    )
    .unwrap();
    let control = server.control();
    wait_for("six pongs", || control.stats().pongs_ok >= 6).await;
    let stats = control.stats();
    assert_eq!(stats.pong_timeouts, 0);
    assert_eq!(stats.pongs_mismatched, 0);
    assert_eq!(stats.connections_accepted, 1);
    assert_eq!(metrics.reconnects_total(), 0);
    source.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_that_does_not_pong_is_disconnected() {
    let mut data = SimData::new();
    data.add_bars(ftx_bars(btc(), 5));
    let config = SimConfig {
        ping_interval: Duration::from_millis(30),
        pong_timeout: Duration::from_millis(100),
        ..sim_config(1000)
    };
    let server = sim(data, config).await;
    let url = format!("{}/ws/btcusdt@kline_1m", server.ws_base_url());
    // a client that never reads never answers pings
    let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let control = server.control();
    wait_for("the pong timeout", || control.stats().pong_timeouts == 1).await;
    wait_for("the close", || control.stats().connections_open == 0).await;
    drop(socket);
    server.shutdown().await;
}

#[tokio::test]
async fn raw_stream_endpoint_sends_unwrapped_payloads() {
    let bars = ftx_bars(btc(), 3);
    let mut data = SimData::new();
    data.add_bars(bars.clone());
    let server = sim(data, sim_config(2)).await;
    let url = format!("{}/ws/btcusdt@kline_1m", server.ws_base_url());
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(TIMEOUT, async {
        while got.len() < 3 {
            let message = socket.next().await.unwrap().unwrap();
            let Ok(text) = message.to_text() else {
                continue;
            };
            assert!(text.starts_with("{\"e\":\"kline\""), "{text}");
            if let MarketEvent::Bar(bar) = parse_message(text, TimestampMs::new(0)).unwrap() {
                got.push(bar.bar);
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(got, bars);
    server.shutdown().await;
}

#[tokio::test]
async fn server_shutdown_triggers_a_reconnect() {
    let bars = ftx_bars(btc(), 100);
    let mut data = SimData::new();
    data.add_bars(bars.clone());
    let server = sim(data, sim_config(3)).await;
    let metrics = metrics();
    let (source, mut live) = live_source(&server, ws_config(&server, vec![btc()]), &metrics);
    let first = collect_until(&mut live, bars[0].open_time()).await;
    server.control().server_shutdown();
    let rest = collect_until(&mut live, bars[99].open_time()).await;
    let got: Vec<Bar> = first.into_iter().chain(rest).collect();
    assert_eq!(got, bars);
    assert_eq!(metrics.reconnects(ReconnectReason::ServerShutdown), 1);
    assert_eq!(metrics.reconnects_total(), 1);
    assert_eq!(server.control().stats().connections_accepted, 2);
    source.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_stalled_connection_is_replaced_after_the_idle_timeout() {
    let bars = ftx_bars(btc(), 120);
    let mut data = SimData::new();
    data.add_bars(bars.clone());
    let server = sim(data, sim_config(3)).await;
    let metrics = metrics();
    let config = WsConfig {
        idle_timeout: Duration::from_millis(150),
        ..ws_config(&server, vec![btc()])
    };
    let (source, mut live) = live_source(&server, config, &metrics);
    let first = collect_until(&mut live, bars[0].open_time()).await;
    server.control().stall();
    let rest = collect_until(&mut live, bars[119].open_time()).await;
    let got: Vec<Bar> = first.into_iter().chain(rest).collect();
    assert_eq!(got, bars);
    assert_eq!(metrics.reconnects(ReconnectReason::Idle), 1);
    assert!(metrics.bars_backfilled() >= 1);
    source.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn connections_are_replaced_before_their_maximum_age() {
    let bars = ftx_bars(btc(), 150);
    let mut data = SimData::new();
    data.add_bars(bars.clone());
    let server = sim(data, sim_config(3)).await;
    let metrics = metrics();
    let config = WsConfig {
        max_connection_age: Duration::from_millis(200),
        ..ws_config(&server, vec![btc()])
    };
    let (source, mut live) = live_source(&server, config, &metrics);
    let got = collect_until(&mut live, bars[149].open_time()).await;
    assert_eq!(got, bars);
    assert!(metrics.reconnects(ReconnectReason::MaxAge) >= 1);
    assert_eq!(
        metrics.reconnects_total(),
        metrics.reconnects(ReconnectReason::MaxAge)
    );
    source.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn streams_are_split_across_connections() {
    let eth = Symbol::new("ETHUSDT").unwrap();
    let btc_bars = ftx_bars(btc(), 30);
    let eth_bars = ftx_bars(eth, 30);
    let mut data = SimData::new();
    data.add_bars(btc_bars.clone());
    data.add_bars(eth_bars.clone());
    let server = sim(data, sim_config(2)).await;
    let metrics = metrics();
    let config = WsConfig {
        max_streams_per_connection: 1,
        ..ws_config(&server, vec![btc(), eth])
    };
    let (source, mut events) =
        BinanceWsSource::start(config, &metrics, CancellationToken::new()).unwrap();
    assert_eq!(source.connections(), 2);
    let (mut got_btc, mut got_eth) = (Vec::new(), Vec::new());
    tokio::time::timeout(TIMEOUT, async {
        while got_btc.len() < 30 || got_eth.len() < 30 {
            if let Some(MarketEvent::Bar(bar)) = events.recv().await {
                if bar.bar.symbol() == eth {
                    got_eth.push(bar.bar);
                } else {
                    got_btc.push(bar.bar);
                }
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(got_btc, btc_bars);
    assert_eq!(got_eth, eth_bars);
    assert_eq!(server.control().stats().connections_accepted, 2);
    assert_eq!(metrics.connections_open(), 2);
    source.shutdown().await;
    assert_eq!(metrics.connections_open(), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn capture_trades_stream_through_the_simulator() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/ticks/hftbacktest_binance_spot_btcusdt_20240808.raw.gz");
    let mut data = SimData::new();
    assert_eq!(data.add_capture(&path).unwrap(), 41_248);
    assert_eq!(data.skipped_lines(), 1, "the REST depth snapshot");
    let server = sim(
        data,
        SimConfig {
            pace: SimPace::Speed(ReplaySpeed::Factor(2000.0)),
            ..sim_config(1)
        },
    )
    .await;
    let metrics = metrics();
    let config = WsConfig {
        trades: true,
        ..ws_config(&server, vec![btc()])
    };
    let (source, mut events) =
        BinanceWsSource::start(config, &metrics, CancellationToken::new()).unwrap();
    let (mut trades, mut bars) = (0, Vec::new());
    let mut last_id = 0;
    let finished = server.timeline_finished();
    tokio::pin!(finished);
    tokio::time::timeout(TIMEOUT, async {
        let mut done = false;
        loop {
            tokio::select! {
                () = &mut finished, if !done => done = true,
                event = events.recv() => match event {
                    Some(MarketEvent::Trade(t)) => {
                        assert!(t.trade_id > last_id);
                        last_id = t.trade_id;
                        trades += 1;
                    }
                    Some(MarketEvent::Bar(b)) => bars.push(b.bar),
                    Some(_) => {}
                    None => break,
                },
                () = tokio::time::sleep(Duration::from_millis(300)), if done => break,
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(trades, 9_757);
    assert_eq!(server.control().stats().messages_lagged, 0);
    // the trades' minutes 23:54 … 23:59 closed inside the capture, 00:00 at its end
    assert_eq!(bars.len(), 7, "{bars:?}");
    assert!(
        bars.windows(2)
            .all(|w| w[1].open_time().as_i64() - w[0].open_time().as_i64() == 60_000)
    );
    assert_eq!(metrics.messages_rejected(RejectReason::MalformedJson), 0);
    source.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn rest_klines_page_through_the_simulator() {
    let bars = ftx_bars(btc(), 2500);
    let mut data = SimData::new();
    data.add_bars(bars.clone());
    let server = sim(data, sim_config(1000)).await;
    let metrics = metrics();
    let client = rest(&server, &metrics);
    client.ping().await.unwrap();
    let now = client.server_time().await.unwrap();
    assert!(now.as_i64() > 1_700_000_000_000);

    let got = client
        .klines(
            btc(),
            Interval::M1,
            bars[0].open_time(),
            bars[2499].open_time(),
        )
        .await
        .unwrap();
    assert_eq!(got, bars);
    assert_eq!(server.control().stats().klines_requests, 3);
    assert!(client.used_weight_1m() >= 6, "{}", client.used_weight_1m());

    // a sub-range, and the newest rows without startTime
    let got = client
        .klines(
            btc(),
            Interval::M1,
            bars[10].open_time(),
            bars[19].open_time(),
        )
        .await
        .unwrap();
    assert_eq!(got, bars[10..20]);
    let (page, rows) = client
        .klines_page(btc(), Interval::M1, None, None, 5)
        .await
        .unwrap();
    assert_eq!(rows, 5);
    assert_eq!(page, bars[2495..]);

    server.control().rate_limit_next(1, 7);
    let err = client
        .klines(
            btc(),
            Interval::M1,
            bars[0].open_time(),
            bars[9].open_time(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        RestError::RateLimited {
            retry_after: Duration::from_secs(7)
        }
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(metrics.rest_requests("rate_limited"), 1);

    let err = client
        .klines(
            Symbol::new("NOPEUSDT").unwrap(),
            Interval::M1,
            bars[0].open_time(),
            bars[9].open_time(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RestError::Status {
                status: 400,
                code: Some(-1121),
                ..
            }
        ),
        "{err:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn gap_filler_waits_out_a_rate_limit_from_the_simulator() {
    let bars = ftx_bars(btc(), 10);
    let mut data = SimData::new();
    data.add_bars(bars.clone());
    let server = sim(data, sim_config(1000)).await;
    server.control().rate_limit_next(1, 1);
    let metrics = metrics();
    let filler = GapFiller::new(rest(&server, &metrics), metrics.clone());
    let (tx, rx) = mpsc::channel(4);
    let mut out = filler.fill(tokio_stream::wrappers::ReceiverStream::new(rx));
    tx.send(bars[0]).await.unwrap();
    tx.send(bars[9]).await.unwrap();
    drop(tx);
    let started = std::time::Instant::now();
    let got: Vec<Bar> = tokio::time::timeout(TIMEOUT, (&mut out).collect())
        .await
        .unwrap();
    assert_eq!(got, bars);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited Retry-After"
    );
    assert_eq!(metrics.rest_requests("rate_limited"), 1);
    assert_eq!(metrics.bars_backfilled(), 8);
    server.shutdown().await;
}
