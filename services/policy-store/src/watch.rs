//! The client side of `WatchPolicy`, for every service that trades under the policy:
//! [`PolicyWatch`] holds the version in force (validated, typed), [`PolicyWatcher`] keeps the
//! stream open, reconnecting with backoff.
//!
//! ```no_run
//! # async fn demo(config: &levibot_config::Config, tasks: &mut tokio::task::JoinSet<()>,
//! #     shutdown: tokio_util::sync::CancellationToken) -> Result<(), String> {
//! use levibot_policy_store::watch::{PolicyWatch, policy_store_client};
//!
//! let (policy, watcher) = PolicyWatch::new(policy_store_client(config)?);
//! tasks.spawn(watcher.run(shutdown.clone()));
//! // wherever the policy is needed:
//! if let Some(current) = policy.current() {
//!     let _limit = current.document.max_position_usd;
//! }
//! // or react to each new version:
//! let mut changes = policy.subscribe();
//! while changes.changed().await.is_ok() {
//!     let _newest = changes.borrow_and_update().clone();
//! }
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use levibot_config::{Config, ServiceName};
use levibot_proto::v1::{self, policy_store_service_client::PolicyStoreServiceClient};
use levibot_server::CancellationToken;
use levibot_telemetry::InjectTraceContext;
use tokio::sync::watch;
use tonic::transport::Channel;

use crate::policy::StoredPolicy;

/// The policy-store's client type.
pub type PolicyStoreClient = PolicyStoreServiceClient<InjectTraceContext<Channel>>;

/// First wait before reconnecting.
pub const RECONNECT_MIN: Duration = Duration::from_millis(200);
/// Longest wait between reconnects.
pub const RECONNECT_MAX: Duration = Duration::from_secs(10);

/// A client of the policy-store of `config` (`services.policy-store`), connecting lazily,
/// carrying the trace context.
pub fn policy_store_client(config: &Config) -> Result<PolicyStoreClient, String> {
    Ok(PolicyStoreServiceClient::new(
        levibot_server::peers::streaming_channel(config, ServiceName::PolicyStore)?,
    ))
}

/// The policy version in force, as the policy-store last said; clones share it. `None`
/// until the first version arrives: callers that must not trade without a policy fail closed.
#[derive(Debug, Clone)]
pub struct PolicyWatch {
    current: watch::Receiver<Option<Arc<StoredPolicy>>>,
}

/// Keeps a `WatchPolicy` stream open and feeds its [`PolicyWatch`]; run it as an owned task.
#[derive(Debug)]
pub struct PolicyWatcher {
    client: PolicyStoreClient,
    current: watch::Sender<Option<Arc<StoredPolicy>>>,
}

impl PolicyWatch {
    /// A watch fed by the returned watcher through `client`.
    pub fn new(client: PolicyStoreClient) -> (Self, PolicyWatcher) {
        let (sender, current) = watch::channel(None);
        (
            Self { current },
            PolicyWatcher {
                client,
                current: sender,
            },
        )
    }

    /// A watch that always holds `policy` (tests, tools).
    pub fn fixed(policy: StoredPolicy) -> Self {
        let (_sender, current) = watch::channel(Some(Arc::new(policy)));
        Self { current }
    }

    /// The version in force, if one arrived.
    pub fn current(&self) -> Option<Arc<StoredPolicy>> {
        self.current.borrow().clone()
    }

    /// Its version number, 0 before the first.
    pub fn version(&self) -> u64 {
        self.current.borrow().as_ref().map_or(0, |p| p.version)
    }

    /// Waits up to `timeout` for a first version.
    pub async fn wait_for_first(&self, timeout: Duration) -> Option<Arc<StoredPolicy>> {
        let mut current = self.current.clone();
        match tokio::time::timeout(timeout, current.wait_for(Option::is_some)).await {
            Ok(Ok(policy)) => policy.clone(),
            _ => None,
        }
    }

    /// A receiver told of every change (`changed().await`).
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<StoredPolicy>>> {
        self.current.clone()
    }
}

impl PolicyWatcher {
    /// Watches until `shutdown`: (re)connects with backoff from [`RECONNECT_MIN`] to
    /// [`RECONNECT_MAX`] (reset once a version arrives); a version that does not validate is
    /// logged and skipped, the previous one stays in force.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut backoff = RECONNECT_MIN;
        loop {
            let received = tokio::select! {
                () = shutdown.cancelled() => return,
                received = self.follow() => received,
            };
            if received {
                backoff = RECONNECT_MIN;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(RECONNECT_MAX);
        }
    }

    /// Follows one stream until it ends; says whether any version arrived.
    async fn follow(&mut self) -> bool {
        let mut stream = match self.client.watch_policy(v1::WatchPolicyRequest {}).await {
            Ok(stream) => stream.into_inner(),
            Err(status) => {
                tracing::warn!(code = %status.code(), message = status.message(), "cannot watch the policy; retrying");
                return false;
            }
        };
        let mut received = false;
        loop {
            match stream.message().await {
                Ok(Some(policy)) => {
                    received = true;
                    self.take(&policy);
                }
                Ok(None) => {
                    tracing::info!("the policy watch ended; reconnecting");
                    return received;
                }
                Err(status) => {
                    tracing::warn!(code = %status.code(), message = status.message(), "the policy watch failed; reconnecting");
                    return received;
                }
            }
        }
    }

    fn take(&self, policy: &v1::RiskPolicy) {
        match StoredPolicy::from_proto(policy) {
            Ok(policy) => {
                let changed = self
                    .current
                    .borrow()
                    .as_ref()
                    .is_none_or(|held| **held != policy);
                if changed {
                    tracing::info!(version = policy.version, profile = %policy.document.profile, "policy version in force");
                    self.current.send_replace(Some(Arc::new(policy)));
                }
            }
            Err(err) => {
                tracing::warn!(version = policy.version, error = %err, "ignoring a policy version that does not validate");
            }
        }
    }
}
