//! The market-data feeder: closed klines of the configured symbols from the exchange's
//! combined WebSocket streams, gaps backfilled over REST before a later bar goes out (so
//! consumers see a continuous series), queued per symbol (a slow symbol drops its own oldest
//! bars, counted, and never holds the others up), and published as `md.bar`.

use std::{sync::Arc, time::Duration};

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
    let bars = GapFiller::new(rest, metrics.clone()).fill(bars_only(events));
    let queues: Arc<SymbolQueues<Bar>> =
        Arc::new(SymbolQueues::new(settings.queue_capacity, metrics));
    let mut publishers = JoinSet::new();
    for symbol in &settings.symbols {
        let mut queue = queues.subscribe(*symbol);
        let bus = bus.clone();
        publishers.spawn(async move {
            while let Some(bar) = queue.recv().await {
                let envelope = Envelope::new(&v1::Bar::from(&bar), "backend", bar.close_time());
                if let Err(err) = bus.publish(Topic::MdBar, &envelope).await {
                    tracing::error!(symbol = %bar.symbol(), error = %err, "cannot publish a bar");
                }
            }
        });
    }
    tracing::info!(symbols = settings.symbols.len(), ws = %settings.ws_url, "market-data feeder running");
    let pumped = queues.pump(bars, stop.clone()).await;
    stop.cancel();
    queues.close();
    while publishers.join_next().await.is_some() {}
    source.shutdown().await;
    tracing::info!(bars = pumped, "market-data feeder stopped");
    Ok(())
}
