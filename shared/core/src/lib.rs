//! Validated domain types shared by every LeviBot service.
//!
//! Everything that crosses a crate or process boundary (symbols, kline bars,
//! prices, quantities, orders, fills, ids, clocks) lives here. Every
//! constructor checks its invariants and returns a `Result`, and every serde
//! `Deserialize` impl goes through the same checks, so a value of one of these
//! types is always valid. Prices, quantities and money use
//! [`rust_decimal::Decimal`], never floats.

mod serde_str;

/// Validation errors shared by [`Price`], [`Quantity`] and [`Money`].
pub mod amount;
/// API keys and roles: [`Role`], [`ApiKeySecret`], [`KeyId`], [`Actor`], [`api_key_sha256`].
pub mod auth;
/// Kline bars (OHLCV candles).
pub mod bar;
/// Exchange client order ids.
pub mod client_order_id;
/// Time sources: wall clock for live trading, settable clock for replays.
pub mod clock;
/// Trade executions reported by an exchange.
pub mod fill;
/// ULID-based identifiers for events, signals, fills and orders.
pub mod id;
/// Binance kline intervals.
pub mod interval;
/// Signed money amounts (PnL, cash, fees).
pub mod money;
/// Order requests, order types and time-in-force policies.
pub mod order;
/// Strictly positive prices.
pub mod price;
/// Non-negative quantities.
pub mod quantity;
/// Order and trade sides.
pub mod side;
/// Exchange symbols.
pub mod symbol;
/// UTC epoch millisecond timestamps.
pub mod timestamp;

pub use amount::AmountError;
pub use auth::{
    Actor, ActorError, ApiKeySecret, KeyId, KeyIdParseError, RandomUnavailable, Role,
    RoleParseError, api_key_sha256,
};
pub use bar::{Bar, BarError};
pub use client_order_id::{ClientOrderId, ClientOrderIdError};
pub use clock::{Clock, ClockError, HistoricalClock, LiveClock};
pub use fill::{Fill, FillError, FillParts};
pub use id::{EventId, FillId, IdParseError, OrderId, SignalId};
pub use interval::{Interval, IntervalParseError};
pub use money::Money;
pub use order::{OrderRequest, OrderRequestError, OrderType, TimeInForce, TimeInForceParseError};
pub use price::Price;
pub use quantity::Quantity;
pub use side::{Side, SideParseError};
pub use symbol::{Symbol, SymbolError};
pub use timestamp::TimestampMs;
