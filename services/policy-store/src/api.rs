use std::pin::Pin;

use futures::{Stream, StreamExt, stream};
use levibot_config::Config;
use levibot_core::{Clock, LiveClock};
use levibot_proto::v1::{self, policy_store_service_server::PolicyStoreService};
use levibot_server::{CancellationToken, status::not_available_yet};
use tonic::{Request, Response, Status};

use crate::policy::policy_from_config;

/// What the RPCs that are not served yet wait for.
const ARRIVES_WITH: &str =
    "the policy-store work (versioned policy in the database, the ESS state machine)";

/// The `levibot.v1.PolicyStoreService` implementation.
#[derive(Debug, Clone)]
pub struct PolicyStoreApi {
    policy: v1::RiskPolicy,
    shutdown: CancellationToken,
}

impl PolicyStoreApi {
    /// Serves the policy of `config`; open watch streams end when `shutdown` is cancelled.
    pub fn new(config: &Config, shutdown: CancellationToken) -> Self {
        Self {
            policy: policy_from_config(config, LiveClock::new().now().as_i64()),
            shutdown,
        }
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl PolicyStoreService for PolicyStoreApi {
    type WatchPolicyStream = BoxStream<v1::RiskPolicy>;

    async fn get_policy(
        &self,
        _request: Request<v1::GetPolicyRequest>,
    ) -> Result<Response<v1::RiskPolicy>, Status> {
        Ok(Response::new(self.policy.clone()))
    }

    async fn watch_policy(
        &self,
        _request: Request<v1::WatchPolicyRequest>,
    ) -> Result<Response<Self::WatchPolicyStream>, Status> {
        let current = stream::once(std::future::ready(Ok(self.policy.clone())));
        // The policy cannot change yet, so after the current version the stream waits for
        // shutdown and ends: a watcher sees the end instead of a connection reset.
        let shutdown = self.shutdown.clone();
        let until_shutdown = stream::once(async move { shutdown.cancelled_owned().await })
            .filter_map(|()| std::future::ready(None::<Result<v1::RiskPolicy, Status>>));
        Ok(Response::new(Box::pin(current.chain(until_shutdown))))
    }

    async fn put_policy(
        &self,
        _request: Request<v1::PutPolicyRequest>,
    ) -> Result<Response<v1::RiskPolicy>, Status> {
        Err(not_available_yet(
            "levibot.v1.PolicyStoreService/PutPolicy",
            ARRIVES_WITH,
        ))
    }

    async fn get_ess(
        &self,
        _request: Request<v1::GetEssRequest>,
    ) -> Result<Response<v1::EssStatus>, Status> {
        Err(not_available_yet(
            "levibot.v1.PolicyStoreService/GetEss",
            ARRIVES_WITH,
        ))
    }

    async fn trip_ess(
        &self,
        _request: Request<v1::TripEssRequest>,
    ) -> Result<Response<v1::EssStatus>, Status> {
        Err(not_available_yet(
            "levibot.v1.PolicyStoreService/TripEss",
            ARRIVES_WITH,
        ))
    }

    async fn reset_ess(
        &self,
        _request: Request<v1::ResetEssRequest>,
    ) -> Result<Response<v1::EssStatus>, Status> {
        Err(not_available_yet(
            "levibot.v1.PolicyStoreService/ResetEss",
            ARRIVES_WITH,
        ))
    }
    async fn list_policy_history(
        &self,
        _request: Request<v1::ListPolicyHistoryRequest>,
    ) -> Result<Response<v1::ListPolicyHistoryResponse>, Status> {
        Err(Status::unimplemented("TODO(helper): list_policy_history"))
    }

    async fn list_ess_transitions(
        &self,
        _request: Request<v1::ListEssTransitionsRequest>,
    ) -> Result<Response<v1::ListEssTransitionsResponse>, Status> {
        Err(Status::unimplemented("TODO(helper): list_ess_transitions"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn watch_sends_the_policy_then_ends_at_shutdown() {
        let shutdown = CancellationToken::new();
        let api = PolicyStoreApi::new(&Config::default(), shutdown.clone());
        let mut watch = api
            .watch_policy(Request::new(v1::WatchPolicyRequest {}))
            .await
            .unwrap()
            .into_inner();
        let first = watch.next().await.unwrap().unwrap();
        assert_eq!(first.profile, "conservative");
        assert_eq!(first.max_positions, 3);
        shutdown.cancel();
        assert!(watch.next().await.is_none());
    }

    #[tokio::test]
    async fn ess_is_not_reported_before_it_exists() {
        let api = PolicyStoreApi::new(&Config::default(), CancellationToken::new());
        let status = api
            .get_ess(Request::new(v1::GetEssRequest {}))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unimplemented);
    }
}
