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
/// The market-data feeder: exchange klines to `md.bar`.
pub mod feeder;
pub mod gates;
pub mod gateway;
pub mod trading;
mod wiring;

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

/// Serves the backend service on `listeners` until `shutdown` is cancelled; the REST gateway
/// binds `gateway.listen`.
pub async fn serve(
    config: Arc<Config>,
    listeners: ServiceListeners,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let gateway = tokio::net::TcpListener::bind(config.gateway.listen)
        .await
        .map_err(|e| ServeError::Startup {
            service: SERVICE.as_str(),
            message: format!("cannot bind the gateway on {}: {e}", config.gateway.listen),
        })?;
    serve_with(config, listeners, gateway, shutdown).await
}

/// [`serve`] with the gateway's listener already bound (tests bind port 0 and read it).
pub async fn serve_with(
    config: Arc<Config>,
    listeners: ServiceListeners,
    gateway: tokio::net::TcpListener,
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
    let bus = Bus::open(&config.bus, SERVICE.as_str(), host.registry())
        .await
        .map_err(|e| startup(format!("cannot open the bus: {e}")))?;
    let exchange_metrics = ExchangeMetrics::new(host.registry())
        .map_err(|e| startup(format!("cannot register metrics: {e}")))?;
    if config.market_data.enabled {
        let settings = feeder_settings(&config).map_err(startup)?;
        let (feeder_bus, feeder_stop, metrics) =
            (bus.clone(), stop.clone(), exchange_metrics.clone());
        let source_to_bus = feeder::source_to_bus_histogram(host.registry())
            .map_err(|e| startup(format!("cannot register metrics: {e}")))?;
        tasks.spawn(async move {
            if let Err(err) =
                feeder::run(settings, feeder_bus, metrics, source_to_bus, feeder_stop).await
            {
                tracing::error!(error = %err, "market-data feeder failed");
            }
        });
    }
    let trading = wiring::build(
        &config,
        host.registry(),
        bus.clone(),
        exchange_metrics,
        &stop,
    )
    .map_err(startup)?;
    tasks.spawn(
        trading
            .ess
            .clone()
            .poll(trading.policy.clone(), wiring::ESS_POLL, stop.clone()),
    );
    let instance = format!("{}-{}", SERVICE.as_str(), std::process::id());
    tasks.spawn(
        trading
            .ess
            .clone()
            .follow_events(bus.clone(), instance.clone(), stop.clone()),
    );
    tasks.spawn(Arc::clone(&trading.desk).cancel_on_trip(stop.clone()));
    let mut base_limits = trading.base_limits.clone();
    if config.trading.engines_enabled {
        trading
            .desk
            .load_lot_rules(&mut base_limits)
            .await
            .map_err(startup)?;
    }
    let (policy, watcher) = levibot_policy_store::PolicyWatch::new(trading.policy.clone());
    tasks.spawn(watcher.run(stop.clone()));
    tasks.spawn(Arc::clone(&trading.desk).follow_policy(policy, base_limits, stop.clone()));
    if config.trading.engines_enabled {
        tasks.spawn(trading::runner::route_bars(
            bus.clone(),
            trading.queues.clone(),
            instance,
            stop.clone(),
        ));
        recover(&trading.desk, &stop).await.map_err(startup)?;
        let resumed = trading
            .engines
            .resume()
            .await
            .map_err(|e| startup(format!("cannot resume the engines: {e}")))?;
        tracing::info!(engines = resumed.len(), "engines started");
    }
    let address = gateway.local_addr().ok();
    tracing::info!(?address, "REST gateway listening");
    let (gateway_state, gateway_stop) = (trading.gateway.clone(), stop.clone());
    tasks.spawn(async move {
        if let Err(err) = gateway::serve(gateway, gateway_state, gateway_stop).await {
            tracing::error!(error = %err, "REST gateway failed");
        }
    });
    let served = host
        .serve(
            BackendServiceServer::new(BackendApi::new(
                trading.engines.clone(),
                Arc::clone(&trading.gateway.risk),
                trading.gateway.store.clone(),
                config
                    .trading
                    .engines_enabled
                    .then(|| Arc::clone(&trading.exchange)),
            )),
            listeners,
            shutdown,
        )
        .await;
    stop.cancel();
    trading.queues.close();
    trading.engines.join().await;
    while tasks.join_next().await.is_some() {}
    drop(trading);
    bus.close().await;
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

/// How long start-up recovery keeps retrying an unreachable trade-store.
const RECOVERY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs the desk's start-up recovery, retrying while the trade-store is not reachable yet
/// (it may be starting beside us); no engine runs on a book that forgot its positions.
async fn recover(desk: &trading::TradingDesk, stop: &CancellationToken) -> Result<(), String> {
    let started = std::time::Instant::now();
    loop {
        match desk.recover().await {
            Ok(_) => return Ok(()),
            Err(err) if started.elapsed() < RECOVERY_PATIENCE => {
                tracing::warn!(error = %err, "start-up recovery failed; retrying");
                tokio::select! {
                    () = stop.cancelled() => return Err("stopped during start-up recovery".to_owned()),
                    () = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                }
            }
            Err(err) => return Err(format!("start-up recovery failed: {err}")),
        }
    }
}
