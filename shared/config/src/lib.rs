//! Configuration for the LeviBot services.
//!
//! One [`Config`] describes the whole fleet: risk limits (preset by a [`LaunchProfile`]),
//! storage, the event bus, telemetry, exchange credentials and the listen addresses of the
//! seven gRPC services. [`ConfigLoader`] builds it in layers (embedded defaults, launch
//! profile preset, YAML file, `LEVIBOT__*` environment variables, `--set key=value`
//! overrides) and reports every problem it finds at once, each with its dotted key and,
//! for unknown keys, where the key came from.
//!
//! ```
//! use levibot_config::{ConfigLoader, LaunchProfile, ServiceName};
//!
//! let config = ConfigLoader::new()
//!     .set("profile", "expansion")
//!     .set("services.backend.grpc_listen", "0.0.0.0:50051")
//!     .load()
//!     .unwrap();
//! assert_eq!(config.profile, LaunchProfile::Expansion);
//! assert_eq!(config.risk.max_positions, 10);
//! assert_eq!(
//!     config.services.endpoint(ServiceName::Backend).grpc_url(),
//!     "http://127.0.0.1:50051"
//! );
//! ```

mod decimal_serde;
/// Errors and the individual problems a configuration can have.
pub mod error;
/// Layering of defaults, profile preset, file, environment and CLI overrides.
pub mod loader;
/// The configuration structs and their embedded defaults.
pub mod model;
/// Launch profiles and their risk presets.
pub mod profile;
/// Secrets that never print, and redaction of passwords inside URLs.
pub mod secret;
/// The seven services, their names and their network endpoints.
pub mod service;
mod tree;
/// Semantic validation of a loaded configuration.
pub mod validate;

pub use error::{ConfigError, ParseNameError, Problem};
pub use loader::{ConfigLoader, ENV_PREFIX};
pub use model::{
    BusConfig, Config, ExchangeConfig, ExchangeKind, GatewayConfig, HealthConfig, LogFormat,
    MarketDataConfig, ModelsConfig, PortfolioConfig, RiskConfig, SignalSourceKind, StoreConfig,
    TelemetryConfig, TradingConfig,
};
pub use profile::LaunchProfile;
pub use secret::{Secret, redact_url};
pub use service::{ServiceEndpoint, ServiceName, ServicesConfig};
