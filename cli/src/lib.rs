//! The `levibot` command as a library: [`fleet::Fleet`] runs the seven services in one process,
//! each on its own listeners and still talking real gRPC (it is what `levibot up` and the
//! integration-test sandbox use); [`sanity`] renders `levibot sanity-check`.

/// `levibot apikey`: create (shown once), list and revoke the gateway's API keys.
pub mod apikey;
/// `levibot data`: list, import and find gaps in stored bars.
pub mod data;
/// `levibot ess`: status, trip, reset and history of the emergency stop system.
pub mod ess;
/// `levibot exchange-sim`: the Binance-protocol simulator as a command.
pub mod exchange_sim;
/// The in-process fleet supervisor.
pub mod fleet;
/// `levibot policy`: show, history, load a launch profile, set from a JSON file.
pub mod policy;
/// `levibot replay`: publish a kline CSV as `md.bar`.
pub mod replay;
/// `levibot sanity-check` output.
pub mod sanity;

pub use fleet::{Bind, Fleet, FleetError, ServiceAddress, serve_service};
