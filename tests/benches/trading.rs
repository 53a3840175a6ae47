//! Trading hot-path benchmarks on the whole fleet (real Redis, PostgreSQL, gRPC):
//!
//! - `trading.bar_to_order`: 50 symbols replay real FTX 1m bars at once (the same bars under
//!   50 names); each bar is published on the bus as `md.bar`, routed to its engine, stepped
//!   through the EMA cross, the risk manager and the executor (signal and order recorded in the
//!   trade-store over gRPC first) and accepted by the paper exchange. The latency is read from
//!   the backend's `executor_order_latency_seconds` histogram (bar taken off the bus → order
//!   acknowledged), plus the bus's own publish→deliver latency from `make bench`'s bus lines.
//! - `market_data.source_to_bus`: the simulator replays FTX 1m klines over Binance's combined
//!   WebSocket stream; the backend's feeder times each closed bar from leaving the source (after
//!   gap backfill) to its `md.bar` publish being acknowledged by Redis
//!   (`feeder_source_to_bus_seconds`).
//! - `trading.rss_500_engines`: the resident memory of this process (the whole fleet, the
//!   backend included) with 500 running engines, after they have each stepped bars.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    missing_docs,
    reason = "a benchmark binary: it prints its figures and fails loudly"
)]

use std::time::{Duration, Instant};

use levibot_bus::{Bus, Envelope, EventBus, Topic};
use levibot_config::ServiceName;
use levibot_core::{Bar, Interval, Symbol};
use levibot_exchange::{CsvReplay, ExchangeMetrics};
use levibot_proto::v1;
use levibot_telemetry::metrics::Registry;
use levibot_tests::{Sandbox, scrape_metrics};

fn ftx_bars(take: usize) -> Vec<Bar> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data/klines/ftx_btc-perp_1m_20211231-20220201.csv");
    let metrics = ExchangeMetrics::new(&Registry::new()).unwrap();
    let runtime = tokio::runtime::Handle::current();
    let replay = tokio::task::block_in_place(|| {
        runtime.block_on(CsvReplay::load(
            &path,
            Symbol::new("BTCUSDT").unwrap(),
            Interval::M1,
            &metrics,
        ))
    })
    .unwrap();
    replay.bars().iter().take(take).copied().collect()
}

fn relabel(bar: &Bar, symbol: Symbol) -> Bar {
    Bar::new(
        symbol,
        bar.interval(),
        bar.open_time(),
        bar.open(),
        bar.high(),
        bar.low(),
        bar.close(),
        bar.volume(),
    )
    .unwrap()
}

fn symbols(n: usize) -> Vec<Symbol> {
    (0..n)
        .map(|i| Symbol::new(&format!("S{i:03}USDT")).unwrap())
        .collect()
}

async fn fleet(symbols: &[Symbol], synchronous_commit: bool) -> Sandbox {
    let list = symbols
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    Sandbox::start_with(&[
        ("risk.symbols", &list),
        ("risk.min_confidence", "0"),
        ("risk.max_positions", "1000"),
        ("trading.engines_enabled", "true"),
        ("trading.signal_source", "ema_cross"),
        ("trading.stale_after_ms", "1000000000000"),
        ("trading.throttle_max_signals", "100000"),
        ("trading.max_exposure_usd", "100000000"),
        ("trading.paper_cash_usd", "100000000"),
        // the books start from what the paper exchange holds, or reconciliation trips the ESS
        ("portfolio.starting_cash_usd", "100000000"),
        ("market_data.queue_capacity", "100000"),
        (
            "store.synchronous_commit",
            if synchronous_commit { "true" } else { "false" },
        ),
    ])
    .await
}

/// Publishes `rounds` minutes; symbol `i` replays the file from bar `7 × i`, so the symbols
/// trade at different moments as real markets would.
async fn publish_rounds(
    bus: &Bus,
    bars: &[Bar],
    rounds: usize,
    symbols: &[Symbol],
    pause: Duration,
) {
    for round in 0..rounds {
        for (i, &symbol) in symbols.iter().enumerate() {
            let source = &bars[(round + 7 * i) % bars.len()];
            let mut bar = relabel(source, symbol);
            // keep each symbol's series increasing in time
            bar = Bar::new(
                symbol,
                bar.interval(),
                bars[round].open_time(),
                bar.open(),
                bar.high(),
                bar.low(),
                bar.close(),
                bar.volume(),
            )
            .unwrap();
            let envelope = Envelope::new(&v1::Bar::from(&bar), "bench", bar.close_time());
            bus.publish(Topic::MdBar, &envelope).await.unwrap();
        }
        tokio::time::sleep(pause).await;
    }
}

/// Quantiles from a Prometheus histogram's cumulative buckets (upper bounds).
fn histogram_quantile(metrics: &str, name: &str, q: f64) -> Option<f64> {
    let mut buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(&format!("{name}_bucket{{le=\""))?;
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.trim().parse().ok()?))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    buckets
        .iter()
        .find(|(_, c)| *c >= q * total)
        .map(|(le, _)| *le)
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    kb / 1024.0
}

async fn bar_to_order(synchronous_commit: bool) {
    let symbols = symbols(50);
    let sandbox = fleet(&symbols, synchronous_commit).await;
    let mode = if synchronous_commit {
        "store.synchronous_commit=true: each order record waits for its disk flush"
    } else {
        "store.synchronous_commit=false"
    };
    let bus = Bus::open(&sandbox.config().bus, "bench", &Registry::new())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bars = ftx_bars(2_000);
    let rounds = 600;
    let started = Instant::now();
    publish_rounds(&bus, &bars, rounds, &symbols, Duration::from_millis(20)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let metrics = scrape_metrics(sandbox.metrics_addr(ServiceName::Backend)).await;
    let name = "levibot_executor_order_latency_seconds";
    let count = levibot_tests::sample(&metrics, &format!("{name}_count")).unwrap_or(0.0);
    let p50 = histogram_quantile(&metrics, name, 0.50).unwrap_or(f64::NAN) * 1e3;
    let p99 = histogram_quantile(&metrics, name, 0.99).unwrap_or(f64::NAN) * 1e3;
    let record_p50 = histogram_quantile(&metrics, "levibot_executor_record_order_seconds", 0.50)
        .unwrap_or(f64::NAN)
        * 1e3;
    let record_p99 = histogram_quantile(&metrics, "levibot_executor_record_order_seconds", 0.99)
        .unwrap_or(f64::NAN)
        * 1e3;
    println!(
        "bench trading.bar_to_order.record_order: RecordOrder to the trade-store before sending p50 <= {record_p50} ms, p99 <= {record_p99} ms ({mode})"
    );
    println!(
        "bench trading.bar_to_order: 50 symbols x {} bars in {:.1} s, {count} orders accepted by the paper exchange; latency bus->engine->risk->executor->exchange p50 <= {p50} ms, p99 <= {p99} ms (histogram bucket bounds; {mode})",
        rounds,
        started.elapsed().as_secs_f64()
    );
    bus.close().await;
    sandbox.shutdown().await.unwrap();
}

async fn rss_500_engines() {
    let before = rss_mb();
    let symbols = symbols(500);
    let sandbox = fleet(&symbols, true).await;
    let bus = Bus::open(&sandbox.config().bus, "bench", &Registry::new())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let bars = ftx_bars(4_000);
    publish_rounds(&bus, &bars, 30, &symbols, Duration::from_millis(50)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let metrics = scrape_metrics(sandbox.metrics_addr(ServiceName::Backend)).await;
    let stepped: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("levibot_engine_bars_total{"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum();
    let after = rss_mb();
    println!(
        "bench trading.rss_500_engines: {after:.0} MB resident for the whole fleet in one process with 500 engines ({:.0} MB before the fleet started; {stepped} bars stepped)",
        before
    );
    bus.close().await;
    sandbox.shutdown().await.unwrap();
}

async fn source_to_bus() {
    use levibot_exchange::sim::{SimConfig, SimData, SimPace, SimServer};
    let mut data = SimData::new();
    data.add_bars(ftx_bars(3_000));
    let config = SimConfig {
        pace: SimPace::Every(Duration::from_millis(1)),
        ..SimConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = SimServer::start(listener, data, config).unwrap();
    let (ws, rest) = (sim.ws_base_url(), sim.rest_base_url());
    // The backend alone (with Redis), as it runs in its own pod: the rest of the fleet is not
    // on this path.
    let buffer = tempfile::tempdir().unwrap();
    let prefix = format!("bench-{}:", std::process::id());
    let config = levibot_tests::test_config_with(
        // the backend alone never opens the store
        "sqlite://unused.db",
        &prefix,
        buffer.path(),
        &[
            ("telemetry.log_filter", "error"),
            ("market_data.enabled", "true"),
            ("market_data.ws_url", &ws),
            ("market_data.rest_url", &rest),
            ("risk.symbols", "BTCUSDT"),
        ],
    );
    let listeners = levibot_server::ServiceListeners::ephemeral().await.unwrap();
    let metrics_addr = listeners.metrics_addr().unwrap();
    let gateway = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = levibot_server::CancellationToken::new();
    let backend = tokio::spawn(levibot_backend::serve_with(
        std::sync::Arc::new(config),
        listeners,
        gateway,
        shutdown.clone(),
    ));
    let name = "levibot_feeder_source_to_bus_seconds";
    let started = Instant::now();
    let mut count = 0.0;
    while started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let metrics = scrape_metrics(metrics_addr).await;
        count = levibot_tests::sample(&metrics, &format!("{name}_count")).unwrap_or(0.0);
        if count >= 2_990.0 {
            break;
        }
    }
    let metrics = scrape_metrics(metrics_addr).await;
    let p50 = histogram_quantile(&metrics, name, 0.50).unwrap_or(f64::NAN) * 1e3;
    let p99 = histogram_quantile(&metrics, name, 0.99).unwrap_or(f64::NAN) * 1e3;
    println!(
        "bench market_data.source_to_bus: {count} bars (1 per ms over the WebSocket, backend alone); source->bus (Redis) p50 <= {p50} ms, p99 <= {p99} ms (histogram bucket bounds)"
    );
    shutdown.cancel();
    backend.await.unwrap().unwrap();
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        source_to_bus().await;
        bar_to_order(false).await;
        bar_to_order(true).await;
        rss_500_engines().await;
    });
}
