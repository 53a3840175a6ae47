//! Backend service: the REST/WebSocket gateway, one trading engine per symbol, the risk manager and the executor.
//!
//! Today the service runs the market-data feeder when `market_data.enabled` ([`feeder`]) and
//! serves `grpc.health.v1`, gRPC reflection and `/metrics`; the RPCs of
//! `levibot.v1.BackendService` answer `UNIMPLEMENTED`, naming the work that brings them, until
//! that work lands. Nothing here answers with made-up data.

/// The gRPC API.
pub mod api;
pub mod engines;
pub mod events;
pub mod gates;
pub mod gateway;
pub mod trading;
/// The market-data feeder: exchange klines to `md.bar`.
pub mod feeder;

use std::sync::Arc;

use levibot_bus::Bus;
use levibot_config::{Config, ServiceName};
use levibot_core::{Interval, Symbol};
use levibot_exchange::ExchangeMetrics;
use levibot_proto::v1::backend_service_server::BackendServiceServer;
use levibot_server::{CancellationToken, ServeError, ServiceHost, ServiceListeners};
use tokio::task::JoinSet;

pub use api::BackendApi;

/// This service's name.
pub const SERVICE: ServiceName = ServiceName::Backend;

/// Serves the backend service on `listeners` until `shutdown` is cancelled.
pub async fn serve(
    config: Arc<Config>,
    listeners: ServiceListeners,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let host = ServiceHost::new(SERVICE)?;
    let startup = |message: String| ServeError::Startup {
        service: SERVICE.as_str(),
        message,
    };
    // Owned here: stopped and awaited before serve returns, whatever ends the serving.
    let stop = shutdown.child_token();
    let mut tasks = JoinSet::new();
    let mut bus = None;
    if config.market_data.enabled {
        let settings = feeder_settings(&config).map_err(startup)?;
        let opened = Bus::open(&config.bus, SERVICE.as_str(), host.registry())
            .await
            .map_err(|e| startup(format!("cannot open the bus: {e}")))?;
        let metrics = ExchangeMetrics::new(host.registry())
            .map_err(|e| startup(format!("cannot register metrics: {e}")))?;
        let (feeder_bus, feeder_stop) = (opened.clone(), stop.clone());
        tasks.spawn(async move {
            if let Err(err) = feeder::run(settings, feeder_bus, metrics, feeder_stop).await {
                tracing::error!(error = %err, "market-data feeder failed");
            }
        });
        bus = Some(opened);
    }
    let served = host
        .serve(
            BackendServiceServer::new(BackendApi::new(Arc::clone(&config))),
            listeners,
            shutdown,
        )
        .await;
    stop.cancel();
    while tasks.join_next().await.is_some() {}
    if let Some(bus) = bus {
        bus.close().await;
    }
    served
}

fn feeder_settings(config: &Config) -> Result<feeder::FeederSettings, String> {
    let symbols = config
        .risk
        .symbols
        .iter()
        .map(|s| Symbol::new(s).map_err(|e| format!("risk.symbols: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let interval = config
        .market_data
        .interval
        .parse::<Interval>()
        .map_err(|e| format!("market_data.interval: {e}"))?;
    Ok(feeder::FeederSettings {
        ws_url: config.market_data.ws_url.clone(),
        rest_url: config.market_data.rest_url.clone(),
        symbols,
        interval,
        queue_capacity: config.market_data.queue_capacity,
    })
}
