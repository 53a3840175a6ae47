//! `levibot replay FILE`: publishes a kline CSV's bars as `md.bar` into a running fleet, as the
//! live feed would, at full speed or paced by the bars' own times.

use std::{path::PathBuf, time::Instant};

use levibot_bus::{Bus, Envelope, EventBus, Topic};
use levibot_config::Config;
use levibot_core::{Interval, Symbol};
use levibot_exchange::{CsvReplay, ExchangeMetrics, ReplaySpeed};
use levibot_proto::v1;
use levibot_telemetry::metrics::Registry;

/// Bars per publish at `--speed max`.
const BATCH: usize = 1_000;

/// Options of `levibot replay`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// Kline CSV: `open_time_ms,open,high,low,close,volume` with that header line.
    pub file: PathBuf,
    /// The symbol the bars are published as.
    #[arg(long)]
    pub symbol: Symbol,
    /// The bars' interval.
    #[arg(long, default_value = "1m")]
    pub interval: Interval,
    /// `max`, or a factor of real time (60 = one hour of bars per minute).
    #[arg(long, default_value = "max")]
    pub speed: ReplaySpeed,
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// Bars published.
    pub published: u64,
    /// CSV rows skipped (unparsable, invalid or a repeated time).
    pub rejected_rows: u64,
}

/// Publishes the file's bars on `md.bar` through the configured Redis bus.
pub async fn run(config: &Config, args: ReplayArgs) -> Result<ReplayReport, String> {
    if config.bus.redis_url.is_none() {
        return Err(
            "replay publishes into a running fleet through Redis: set bus.redis_url \
                    (the in-process bus exists only inside `levibot up`)"
                .to_owned(),
        );
    }
    let registry = Registry::new();
    let metrics = ExchangeMetrics::new(&registry).map_err(|e| e.to_string())?;
    let replay = CsvReplay::load(&args.file, args.symbol, args.interval, &metrics)
        .await
        .map_err(|e| e.to_string())?;
    let rejected_rows = replay.rejected_rows();
    let bus = Bus::open(&config.bus, "replay", &registry)
        .await
        .map_err(|e| e.to_string())?;
    let envelope =
        |bar: &levibot_core::Bar| Envelope::new(&v1::Bar::from(bar), "replay", bar.close_time());
    let started = Instant::now();
    let mut published = 0u64;
    let result = async {
        match args.speed {
            ReplaySpeed::Max => {
                for chunk in replay.bars().chunks(BATCH) {
                    let events: Vec<Envelope> = chunk.iter().map(envelope).collect();
                    bus.publish_batch(Topic::MdBar, &events).await?;
                    published += events.len() as u64;
                }
            }
            ReplaySpeed::Factor(_) => {
                let mut source = replay.into_source(args.speed);
                while let Some(bar) = source.next_bar().await {
                    bus.publish(Topic::MdBar, &envelope(&bar)).await?;
                    published += 1;
                }
            }
        }
        Ok::<(), levibot_bus::BusError>(())
    }
    .await;
    bus.close().await;
    result.map_err(|e| format!("replay stopped after {published} bars: {e}"))?;
    tracing::info!(
        published,
        rejected_rows,
        seconds = started.elapsed().as_secs_f64(),
        "replay finished"
    );
    Ok(ReplayReport {
        published,
        rejected_rows,
    })
}
