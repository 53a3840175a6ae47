//! A Binance-protocol simulator: recorded market data served over the real combined-stream
//! WebSocket (`/stream?streams=a/b`, `/ws/<stream>`) and REST (`/api/v3/klines`,
//! `/api/v3/ping`, `/api/v3/time`, a minimal `/api/v3/exchangeInfo`), with the keep-alive rules
//! of the real exchange (server pings, disconnect without pong) and faults on demand (dropped
//! connections, malformed frames, stalls, `serverShutdown`, HTTP 429).
//!
//! One timeline of messages ([`SimData`](crate::sim::SimData)) plays from the first WebSocket
//! connection on, at a [`SimPace`](crate::sim::SimPace); every connection sees the messages of
//! its streams as they play, so a client that is disconnected for a while misses what played
//! meanwhile, as with the real exchange.

/// Raw capture files (`<local_recv_ns> <json>` lines).
pub mod capture;
/// The recorded data the simulator serves.
pub mod sim_data;
/// The HTTP and WebSocket server.
pub mod sim_server;

pub use capture::{CaptureLine, load_capture};
pub use sim_data::{SimData, SimEvent, SimKline};
pub use sim_server::{Malformed, SimConfig, SimControl, SimPace, SimServer, SimStats};
