//! Spot order execution: one trait, [`SpotExchange`](crate::spot::SpotExchange), over two
//! exchanges, the deterministic [`PaperExchange`](crate::spot::PaperExchange) (sync core
//! [`PaperBook`](crate::spot::PaperBook)) and Binance's signed REST API
//! ([`BinanceSpotClient`](crate::spot::BinanceSpotClient)), with one report type
//! ([`OrderReport`](crate::spot::OrderReport)) and one error type
//! ([`ExchangeError`](crate::spot::ExchangeError)) that maps Binance's documented failures and
//! tells the executor what it may do next. Each exchange also answers with the trading rules of
//! symbols ([`SymbolRules`](crate::spot::SymbolRules): lot size, tick size, minimum notional)
//! to size orders the exchange will accept.
//!
//! Pick the exchange at run time and hold it as `Arc<dyn SpotExchange>`:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use levibot_core::LiveClock;
//! # use levibot_exchange::spot::*;
//! # fn pick(credentials: Option<(&str, &str)>) -> Result<Arc<dyn SpotExchange>, Box<dyn std::error::Error>> {
//! let exchange: Arc<dyn SpotExchange> = match credentials {
//!     Some((key, secret)) => Arc::new(BinanceSpotClient::new(
//!         &BinanceSpotConfig::default(), // or base_url: TESTNET_REST_URL / the simulator
//!         &Credentials::new(key, secret),
//!     )?),
//!     None => Arc::new(PaperExchange::new(PaperConfig::default(), Arc::new(LiveClock::new()))?),
//! };
//! # Ok(exchange) }
//! ```

/// Splitting a symbol into base and quote assets.
pub mod asset_pair;
/// JSON answers of Binance's order and account endpoints.
mod binance_responses;
/// The signed Binance spot REST client.
pub mod binance_spot_client;
/// API key and secret that never print.
pub mod credentials;
/// The error type and Binance's error codes.
pub mod exchange_error;
/// Deterministic fill ids for exchange trades.
pub mod fill_ids;
/// Order reports, statuses, order references, balances.
pub mod order_report;
/// The paper exchange's synchronous core.
pub mod paper_book;
/// Paper exchange settings.
pub mod paper_config;
/// The paper exchange behind the trait.
pub mod paper_exchange;
/// Request weights of the spot calls.
pub mod request_weight;
/// HMAC-SHA256 request signing and query strings.
pub mod signing;
/// The exchange trait.
pub mod spot_exchange;
/// Per-symbol trading rules (lot size, tick size, notional) from `GET /api/v3/exchangeInfo`.
pub mod symbol_rules;

pub use crate::binance::{LIVE_REST_URL, TESTNET_REST_URL};
pub use asset_pair::{AssetPair, DEFAULT_QUOTE_ASSETS};
pub use binance_spot_client::{BinanceSpotClient, BinanceSpotConfig};
pub use credentials::{Credentials, Redacted};
pub use exchange_error::ExchangeError;
pub use order_report::{Balance, OrderRef, OrderReport, OrderStatus};
pub use paper_book::{PaperBook, PaperTrade};
pub use paper_config::{PaperConfig, PaperConfigError};
pub use paper_exchange::PaperExchange;
pub use request_weight::SpotCall;
pub use signing::{QueryString, SigningKey};
pub use spot_exchange::SpotExchange;
pub use symbol_rules::{OrderLimits, SymbolRules, SymbolStatus, parse_exchange_info};
