//! The market-data feeder: closed klines of the configured symbols from the exchange's
//! combined WebSocket streams, gaps backfilled over REST before a later bar goes out (so
//! consumers see a continuous series), queued per symbol (a slow symbol drops its own oldest
//! bars, counted, and never holds the others up), and published as `md.bar`.

use std::{sync::Arc, time::Duration, time::Instant};

use futures::StreamExt;
use levibot_telemetry::metrics::Histogram;

use levibot_bus::{Bus, Envelope, EventBus, Topic};
use levibot_core::{Bar, Interval, Symbol};
use levibot_exchange::{
    ExchangeMetrics, GapFiller, SymbolQueues,
    binance::{BinanceWsSource, RestClient, RestConfig, WsConfig, bars_only},
};
use levibot_proto::v1;
use levibot_server::CancellationToken;
use tokio::task::JoinSet;

/// What the feeder reads and how much it queues.
#[derive(Debug, Clone)]
pub struct FeederSettings {
    /// WebSocket base URL.
    pub ws_url: String,
    /// REST base URL for backfill.
    pub rest_url: String,
    /// The symbols.
    pub symbols: Vec<Symbol>,
    /// The kline interval.
    pub interval: Interval,
    /// Bars queued per symbol.
    pub queue_capacity: usize,
}

/// Runs the feeder until `shutdown` is cancelled; every task it starts is stopped and awaited
/// before it returns.
pub async fn run(
    settings: FeederSettings,
    bus: Bus,
    metrics: ExchangeMetrics,
    source_to_bus: Histogram,
    shutdown: CancellationToken,
) -> Result<(), String> {
    let ws = WsConfig {
        base_url: settings.ws_url.clone(),
        symbols: settings.symbols.clone(),
        kline_interval: Some(settings.interval),
        trades: false,
        ..WsConfig::default()
    };
    let rest = RestClient::new(
        &RestConfig {
            base_url: settings.rest_url.clone(),
            timeout: Duration::from_secs(10),
        },
        metrics.clone(),
    )
    .map_err(|e| {
        format!(
            "cannot build the rest client for {}: {e}",
            settings.rest_url
        )
    })?;
    let stop = shutdown.child_token();
    let (source, events) = BinanceWsSource::start(ws, &metrics, stop.clone()).map_err(|e| {
        format!(
            "cannot start the websocket source at {}: {e}",
            settings.ws_url
        )
    })?;
    let mut bars = GapFiller::new(rest, metrics.clone()).fill(bars_only(events));
    let queues: Arc<SymbolQueues<(Bar, Instant)>> =
        Arc::new(SymbolQueues::new(settings.queue_capacity, metrics));
    let mut publishers = JoinSet::new();
    for symbol in &settings.symbols {
        let mut queue = queues.subscribe(*symbol);
        let bus = bus.clone();
        let source_to_bus = source_to_bus.clone();
        publishers.spawn(async move {
            while let Some((bar, produced)) = queue.recv().await {
                let envelope = Envelope::new(&v1::Bar::from(&bar), "backend", bar.close_time());
                match bus.publish(Topic::MdBar, &envelope).await {
                    Ok(()) => source_to_bus.observe(produced.elapsed().as_secs_f64()),
                    Err(err) => {
                        tracing::error!(symbol = %bar.symbol(), error = %err, "cannot publish a bar");
                    }
                }
            }
        });
    }
    tracing::info!(symbols = settings.symbols.len(), ws = %settings.ws_url, "market-data feeder running");
    // Each bar is stamped as it leaves the source (after gap backfill) so the publisher can
    // time source -> bus (`levibot_feeder_source_to_bus_seconds`).
    let mut pumped = 0_u64;
    loop {
        let bar = tokio::select! {
            () = stop.cancelled() => break,
            bar = bars.next() => bar,
        };
        let Some(bar) = bar else { break };
        queues.push(bar.symbol(), (bar, Instant::now()));
        pumped += 1;
    }
    stop.cancel();
    queues.close();
    while publishers.join_next().await.is_some() {}
    source.shutdown().await;
    tracing::info!(bars = pumped, "market-data feeder stopped");
    Ok(())
}

/// Registers `feeder_source_to_bus_seconds`: a bar leaving the source (after backfill) to its
/// `md.bar` publish being acknowledged.
///
/// # Errors
///
/// When the name is taken in `registry`.
pub fn source_to_bus_histogram(
    registry: &levibot_telemetry::metrics::Registry,
) -> Result<Histogram, levibot_telemetry::metrics::PrometheusError> {
    let histogram = Histogram::with_opts(
        levibot_telemetry::metrics::HistogramOpts::new(
            "feeder_source_to_bus_seconds",
            "A bar leaving the market-data source to its md.bar publish acknowledged",
        )
        .buckets(vec![
            0.0001, 0.0002, 0.0003, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.005, 0.01, 0.05, 0.1,
        ]),
    )?;
    registry.register(Box::new(histogram.clone()))?;
    Ok(histogram)
}
