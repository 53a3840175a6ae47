/// Parsing of WebSocket market-stream messages into typed events.
pub mod messages;
/// `GET /api/v3/klines` and the other REST calls, with rate-limit handling.
pub mod rest_client;
/// Stream names and combined-stream URLs.
pub mod streams;
/// The live WebSocket source: connections, keep-alive, reconnects.
pub mod ws_source;

pub use messages::{
    BarEvent, IgnoredStream, KlineUpdate, MarketEvent, ParseError, RejectReason, ServerShutdown,
    Trade, parse_message,
};
pub use rest_client::{RestClient, RestConfig, RestError};
pub use streams::{StreamName, combined_stream_url, plan_connections};
pub use ws_source::{BinanceWsSource, WsConfig, WsError, bars_only};

/// Live Binance spot WebSocket base URL.
pub const LIVE_WS_URL: &str = "wss://stream.binance.com:9443";
/// Binance spot testnet WebSocket base URL.
pub const TESTNET_WS_URL: &str = "wss://stream.testnet.binance.vision";
/// Live Binance spot REST base URL.
pub const LIVE_REST_URL: &str = "https://api.binance.com";
/// Binance spot testnet REST base URL.
pub const TESTNET_REST_URL: &str = "https://testnet.binance.vision";
/// Binance's limit of streams on one connection.
pub const MAX_STREAMS_PER_CONNECTION: usize = 1024;
