use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use levibot_config::{Config, ServiceName};
use levibot_server::{CancellationToken, SHUTDOWN_GRACE, ServeError, ServiceListeners};
use tokio::task::{JoinError, JoinSet};

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
    tasks: ServiceTasks,
    /// Services stopped and waited for by [`Fleet::stop_service_and_wait`], not started since.
    stopped: Vec<ServiceName>,
}

/// The service tasks, with the service each task runs (a task that panicked is named by its
/// id only).
#[derive(Debug, Default)]
struct ServiceTasks {
    set: JoinSet<(ServiceName, Result<(), ServeError>)>,
    names: HashMap<tokio::task::Id, ServiceName>,
}

impl ServiceTasks {
    /// Runs `service` on `listeners` until `token` is cancelled.
    fn spawn(
        &mut self,
        service: ServiceName,
        config: Arc<Config>,
        listeners: ServiceListeners,
        token: CancellationToken,
    ) {
        let handle = self.set.spawn(async move {
            (
                service,
                serve_service(service, config, listeners, token).await,
            )
        });
        self.names.insert(handle.id(), service);
    }

    /// The next task to end: its service and how it ended (`Err` for a task that panicked
    /// or was aborted). `None` when no task is left.
    async fn join_next(
        &mut self,
    ) -> Option<(ServiceName, Result<Result<(), ServeError>, JoinError>)> {
        let joined = self.set.join_next_with_id().await?;
        let (id, result) = match joined {
            Ok((id, (_, result))) => (id, Ok(result)),
            Err(err) => (err.id(), Err(err)),
        };
        // every task is spawned by `spawn`, which names it
        let service = self.names.remove(&id).unwrap_or(ServiceName::Backend);
        Some((service, result))
    }
}

/// Why a service task ended, as text.
fn ended(result: Result<Result<(), ServeError>, JoinError>) -> String {
    match result {
        Ok(Ok(())) => "stopped unexpectedly".to_owned(),
        Ok(Err(err)) => err.to_string(),
        Err(err) => format!("the service task died: {err}"),
    }
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
        let mut tasks = ServiceTasks::default();
        let mut addresses = Vec::with_capacity(bound.len());
        let mut service_tokens = Vec::with_capacity(bound.len());
        for (address, listeners) in bound {
            let token = shutdown.child_token();
            let service = address.service;
            let config = Arc::clone(&config);
            tasks.spawn(service, config, listeners, token.clone());
            addresses.push(address);
            service_tokens.push((service, token));
        }
        Ok(Self {
            config,
            addresses,
            shutdown,
            service_tokens,
            tasks,
            stopped: Vec::new(),
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
        self.stop_service_and_wait(service).await?;
        self.start_service(service).await
    }

    /// Stops one service (as a crash or `kill` would) and waits until its task has ended, so
    /// it has let go of its ports; the others keep running. Other services that stopped
    /// meanwhile are reported as errors (the stopped one is then stopped all the same).
    /// A service that is not running (already stopped and waited for) is left as it is.
    pub async fn stop_service_and_wait(&mut self, service: ServiceName) -> Result<(), FleetError> {
        if !self.running(service) {
            return Ok(());
        }
        self.stop_service(service);
        let mut others = Vec::new();
        while let Some((stopped, result)) = self.tasks.join_next().await {
            self.stopped.push(stopped);
            if stopped == service {
                if !matches!(result, Ok(Ok(()))) {
                    tracing::warn!(service = service.as_str(), reason = %ended(result), "service did not stop cleanly");
                }
                break;
            }
            // one stopped earlier with `stop_service` and ending cleanly is no surprise
            if matches!(result, Ok(Ok(()))) && self.cancelled(stopped) {
                continue;
            }
            others.push((stopped, ended(result)));
        }
        if others.is_empty() {
            Ok(())
        } else {
            Err(FleetError::Services(others))
        }
    }

    /// Starts one service that [`stop_service_and_wait`](Self::stop_service_and_wait)
    /// stopped, on the same addresses with the same configuration. Starting a service that
    /// is still running is an error (its ports are taken).
    pub async fn start_service(&mut self, service: ServiceName) -> Result<(), FleetError> {
        if self.running(service) {
            return Err(FleetError::Start(ServeError::Startup {
                service: service.as_str(),
                message: "already running".to_owned(),
            }));
        }
        let listeners = ServiceListeners::bind(self.config.services.endpoint(service)).await?;
        let token = self.shutdown.child_token();
        self.tasks
            .spawn(service, Arc::clone(&self.config), listeners, token.clone());
        for (name, slot) in &mut self.service_tokens {
            if *name == service {
                *slot = token.clone();
            }
        }
        self.stopped.retain(|s| *s != service);
        Ok(())
    }

    /// Whether `service` was asked to stop.
    fn cancelled(&self, service: ServiceName) -> bool {
        self.service_tokens
            .iter()
            .any(|(name, token)| *name == service && token.is_cancelled())
    }

    /// Whether `service`'s task was started and not yet waited for.
    fn running(&self, service: ServiceName) -> bool {
        !self.stopped.contains(&service)
    }

    /// Waits until `until` is cancelled (a signal) or a service stops on its own, which is an
    /// error: a supervisor must not keep a fleet with a hole in it.
    pub async fn run_until(&mut self, until: CancellationToken) -> Result<(), FleetError> {
        tokio::select! {
            () = until.cancelled() => Ok(()),
            Some((service, result)) = self.tasks.join_next() => {
                self.stopped.push(service);
                let reason = ended(result);
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
                Ok(Some((_, Ok(Ok(()))))) => {}
                Ok(Some((service, result))) => failures.push((service, ended(result))),
                Err(_) => {
                    tracing::warn!(
                        left = self.tasks.set.len(),
                        "services did not stop in time; aborting"
                    );
                    self.tasks.set.shutdown().await;
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
