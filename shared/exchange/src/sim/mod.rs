//! A Binance-protocol simulator: recorded market data served over the real combined-stream
//! WebSocket (`/stream?streams=a/b`, `/ws/<stream>`) and REST (`/api/v3/klines`,
//! `/api/v3/ping`, `/api/v3/time`, `/api/v3/exchangeInfo` with Binance-like filters per symbol),
//! with the keep-alive rules of the real exchange (server pings, disconnect without pong) and
//! faults on demand (dropped connections, malformed frames, stalls, `serverShutdown`, HTTP 429).
//!
//! With [`SimConfig::trading`](crate::sim::SimConfig::trading) it also plays a Binance spot
//! account: `POST`/`GET`/`DELETE /api/v3/order`, `GET /api/v3/openOrders`, `/api/v3/account`
//! and `/api/v3/myTrades` (the `orderId` form), checked like Binance (`X-MBX-APIKEY`, the
//! HMAC-SHA256 signature, `timestamp` within `recvWindow`), answered in Binance's JSON with
//! `X-MBX-USED-WEIGHT-1M`. Orders execute on a [`PaperBook`](crate::spot::PaperBook) at the
//! latest price of the timeline. [`SimControl`](crate::sim::SimControl) injects trading faults
//! ([`SimFault`](crate::sim::SimFault): 500, `-1007`, stalls, 429/418, `-2010`, lost responses),
//! skews the server clock and pins prices.
//!
//! One timeline of messages ([`SimData`](crate::sim::SimData)) plays from the first WebSocket
//! connection on, at a [`SimPace`](crate::sim::SimPace); every connection sees the messages of
//! its streams as they play, so a client that is disconnected for a while misses what played
//! meanwhile, as with the real exchange.

/// Raw capture files (`<local_recv_ns> <json>` lines).
pub mod capture;
/// Signature, API-key and timestamp checks of signed requests.
mod sim_auth;
/// The recorded data the simulator serves.
pub mod sim_data;
/// Binance's JSON shapes of order, trade and account answers.
mod sim_json;
/// The HTTP and WebSocket server.
pub mod sim_server;
/// The symbols' entries in `GET /api/v3/exchangeInfo`: filters and request parameters.
mod sim_symbols;
/// The spot account: settings, faults, the paper book behind it.
pub mod sim_trading;
/// The signed trading endpoints.
mod sim_trading_routes;

pub use capture::{CaptureLine, load_capture};
pub use sim_data::{SimData, SimEvent, SimKline};
pub use sim_server::{Malformed, SimConfig, SimControl, SimPace, SimServer, SimStats};
pub use sim_trading::{SimEndpoint, SimFault, SimTradingConfig};
