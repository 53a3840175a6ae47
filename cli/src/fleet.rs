use std::{net::SocketAddr, sync::Arc};

use levibot_config::{Config, ServiceName};
use levibot_server::{CancellationToken, SHUTDOWN_GRACE, ServeError, ServiceListeners};
use tokio::task::JoinSet;

/// Runs service `name` on `listeners` until `shutdown` is cancelled.
pub async fn serve_service(
    name: ServiceName,
    config: Arc<Config>,
    listeners: ServiceListeners,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    match name {
        ServiceName::Backend => levibot_backend::serve(config, listeners, shutdown).await,
        ServiceName::AiEngine => levibot_ai_engine::serve(config, listeners, shutdown).await,
        ServiceName::Portfolio => levibot_portfolio::serve(config, listeners, shutdown).await,
        ServiceName::TradeStore => levibot_trade_store::serve(config, listeners, shutdown).await,
        ServiceName::AutomlCron => levibot_automl_cron::serve(config, listeners, shutdown).await,
        ServiceName::PolicyStore => levibot_policy_store::serve(config, listeners, shutdown).await,
        ServiceName::HealthAggregator => {
            levibot_health_aggregator::serve(config, listeners, shutdown).await
        }
    }
}

/// Where the fleet's services listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bind {
    /// The addresses in the configuration (`levibot up`).
    Configured,
    /// Ephemeral loopback ports (tests); the fleet's config is rewritten to point at them.
    Ephemeral,
}

/// One running service's addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceAddress {
    /// The service.
    pub service: ServiceName,
    /// Its gRPC address.
    pub grpc: SocketAddr,
    /// Its `/metrics` address.
    pub metrics: SocketAddr,
}

/// The fleet did not run or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// A service could not start.
    #[error(transparent)]
    Start(#[from] ServeError),
    /// Services failed or stopped on their own; each named with its reason.
    #[error("{}", .0.iter().map(|(s, e)| format!("{}: {e}", s.as_str())).collect::<Vec<_>>().join("; "))]
    Services(Vec<(ServiceName, String)>),
}

/// The seven services running in this process, each on its own listeners, talking real gRPC.
///
/// Every service task is owned here: [`shutdown`](Self::shutdown) cancels them all and waits
/// for each to finish, so nothing keeps running after it returns.
#[derive(Debug)]
pub struct Fleet {
    config: Arc<Config>,
    addresses: Vec<ServiceAddress>,
    shutdown: CancellationToken,
    service_tokens: Vec<(ServiceName, CancellationToken)>,
    tasks: JoinSet<(ServiceName, Result<(), ServeError>)>,
}

impl Fleet {
    /// Binds every service's listeners (all of them before any service starts, so a taken
    /// port fails fast and every address is known), then starts the seven services.
    pub async fn start(mut config: Config, bind: Bind) -> Result<Self, FleetError> {
        let mut bound = Vec::with_capacity(ServiceName::ALL.len());
        for service in ServiceName::ALL {
            let listeners = match bind {
                Bind::Configured => {
                    ServiceListeners::bind(config.services.endpoint(service)).await?
                }
                Bind::Ephemeral => ServiceListeners::ephemeral().await?,
            };
            let (Some(grpc), Some(metrics)) = (listeners.grpc_addr(), listeners.metrics_addr())
            else {
                return Err(FleetError::Start(ServeError::Startup {
                    service: service.as_str(),
                    message: "bound listener has no local address".to_owned(),
                }));
            };
            let endpoint = config.services.endpoint_mut(service);
            endpoint.grpc_listen = grpc;
            endpoint.metrics_listen = metrics;
            if bind == Bind::Ephemeral {
                endpoint.grpc_url = Some(format!("http://{grpc}"));
            }
            bound.push((
                ServiceAddress {
                    service,
                    grpc,
                    metrics,
                },
                listeners,
            ));
        }
        let config = Arc::new(config);
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let mut addresses = Vec::with_capacity(bound.len());
        let mut service_tokens = Vec::with_capacity(bound.len());
        for (address, listeners) in bound {
            let token = shutdown.child_token();
            let service = address.service;
            let config = Arc::clone(&config);
            let task_token = token.clone();
            tasks.spawn(async move {
                (
                    service,
                    serve_service(service, config, listeners, task_token).await,
                )
            });
            addresses.push(address);
            service_tokens.push((service, token));
        }
        Ok(Self {
            config,
            addresses,
            shutdown,
            service_tokens,
            tasks,
        })
    }

    /// The configuration the services run with (listen addresses and, for
    /// [`Bind::Ephemeral`], gRPC URLs rewritten to the bound ports).
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Every service's addresses, in [`ServiceName::ALL`] order.
    pub fn addresses(&self) -> &[ServiceAddress] {
        &self.addresses
    }

    /// The addresses of one service.
    pub fn address(&self, service: ServiceName) -> Option<ServiceAddress> {
        self.addresses
            .iter()
            .copied()
            .find(|a| a.service == service)
    }

    /// Stops one service (as a crash or `kill` would); the others keep running.
    pub fn stop_service(&self, service: ServiceName) {
        for (name, token) in &self.service_tokens {
            if *name == service {
                token.cancel();
            }
        }
    }

    /// Stops one service, waits until it has let go of its ports, and starts it again on
    /// the same addresses with the same configuration (a process restart, as Kubernetes
    /// does after a crash). Services that stopped meanwhile are reported as errors.
    pub async fn restart_service(&mut self, service: ServiceName) -> Result<(), FleetError> {
        self.stop_service(service);
        let mut others = Vec::new();
        loop {
            match self.tasks.join_next().await {
                Some(Ok((stopped, _))) if stopped == service => break,
                Some(Ok((stopped, result))) => others.push((
                    stopped,
                    result.map_or_else(|e| e.to_string(), |()| "stopped unexpectedly".to_owned()),
                )),
                Some(Err(err)) => others.push((service, format!("a service task died: {err}"))),
                None => break,
            }
        }
        if !others.is_empty() {
            return Err(FleetError::Services(others));
        }
        let listeners = ServiceListeners::bind(self.config.services.endpoint(service)).await?;
        let token = self.shutdown.child_token();
        let (config, task_token) = (Arc::clone(&self.config), token.clone());
        self.tasks.spawn(async move {
            (
                service,
                serve_service(service, config, listeners, task_token).await,
            )
        });
        for (name, slot) in &mut self.service_tokens {
            if *name == service {
                *slot = token.clone();
            }
        }
        Ok(())
    }

    /// Waits until `until` is cancelled (a signal) or a service stops on its own, which is an
    /// error: a supervisor must not keep a fleet with a hole in it.
    pub async fn run_until(&mut self, until: CancellationToken) -> Result<(), FleetError> {
        tokio::select! {
            () = until.cancelled() => Ok(()),
            Some(joined) = self.tasks.join_next() => {
                let (service, reason) = match joined {
                    Ok((service, Ok(()))) => (service, "stopped unexpectedly".to_owned()),
                    Ok((service, Err(err))) => (service, err.to_string()),
                    Err(err) => (ServiceName::Backend, format!("a service task died: {err}")),
                };
                tracing::error!(service = service.as_str(), %reason, "service stopped");
                Err(FleetError::Services(vec![(service, reason)]))
            }
        }
    }

    /// Stops every service and waits for all of them. Each service bounds its own shutdown
    /// by [`SHUTDOWN_GRACE`]; a task still running a second later is aborted.
    pub async fn shutdown(mut self) -> Result<(), FleetError> {
        self.shutdown.cancel();
        let mut failures = Vec::new();
        let deadline =
            tokio::time::Instant::now() + SHUTDOWN_GRACE + std::time::Duration::from_secs(1);
        loop {
            match tokio::time::timeout_at(deadline, self.tasks.join_next()).await {
                Ok(None) => break,
                Ok(Some(Ok((_, Ok(()))))) => {}
                Ok(Some(Ok((service, Err(err))))) => failures.push((service, err.to_string())),
                Ok(Some(Err(err))) => {
                    failures.push((ServiceName::Backend, format!("a service task died: {err}")));
                }
                Err(_) => {
                    tracing::warn!(
                        left = self.tasks.len(),
                        "services did not stop in time; aborting"
                    );
                    self.tasks.shutdown().await;
                    break;
                }
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(FleetError::Services(failures))
        }
    }
}
