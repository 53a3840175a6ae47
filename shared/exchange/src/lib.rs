//! Binance spot market data for LeviBot: the exchange half of the market-data pipeline.
//!
//! Raw WebSocket messages are parsed without allocation into [`binance::MarketEvent`]s
//! ([`binance::parse_message`]); [`binance::BinanceWsSource`] keeps combined-stream connections
//! alive (ping/pong, reconnect with backoff and jitter, proactive reconnect before 24 h,
//! `serverShutdown`); [`binance::RestClient`] pages `GET /api/v3/klines` and reports rate limits
//! as typed errors; [`GapFiller`] backfills missing bars over REST so consumers see a continuous
//! series. Live and replayed bars reach consumers through one type, [`MarketDataSource`], and
//! [`SymbolQueues`] decouples symbols so a slow one never stalls the others. [`sim`] is a
//! Binance-protocol simulator serving recorded data over the real WebSocket and REST interfaces,
//! for tests and demos, and with trading enabled it also plays a spot account (signed orders,
//! fault injection). [`spot`] executes orders: one trait over a paper exchange and Binance's
//! signed REST API. Every counter goes into the caller's Prometheus registry
//! ([`ExchangeMetrics`]).

/// Binance protocol: message parsing, stream names, the WebSocket source and the REST client.
pub mod binance;
/// Gap detection and REST backfill of closed bars.
pub mod gap_filler;
/// The one stream type both live and replayed bars flow through.
pub mod market_data_source;
/// Prometheus counters of the exchange layer.
pub mod metrics;
/// Bars from a kline CSV at a speed factor.
pub mod replay;
/// A Binance-protocol simulator (WebSocket streams, REST klines, spot trading) over recorded
/// data.
pub mod sim;
/// Spot order execution: the exchange trait, the paper exchange and the signed Binance client.
pub mod spot;
/// Staleness tracking: which symbols have had no bar for too long.
pub mod staleness_tracker;
/// Per-symbol bounded queues that drop the oldest item on overflow.
pub mod symbol_queues;
/// TLS set-up shared by the WebSocket and REST clients (rustls with the ring provider).
pub mod tls;
/// Aggregation of trades into bars.
pub mod trade_bar_aggregator;

pub use gap_filler::{BackfillError, BackfillSource, GapDecision, GapDetector, GapFiller};
pub use market_data_source::MarketDataSource;
pub use metrics::ExchangeMetrics;
pub use replay::{CsvReplay, ReplayError, ReplaySpeed};
pub use staleness_tracker::StalenessTracker;
pub use symbol_queues::{SymbolQueues, SymbolReceiver};
pub use trade_bar_aggregator::{AggregatedBar, TradeBarAggregator};
