//! The `levibot.v1.PolicyStoreService` gRPC API: thin handlers over [`PolicyStore`].

use std::pin::Pin;

use futures::{Stream, StreamExt};
use levibot_proto::v1::{self, policy_store_service_server::PolicyStoreService};
use tonic::{Request, Response, Status};

use crate::service::PolicyStore;
use crate::storage::transition_to_wire;

/// The `levibot.v1.PolicyStoreService` implementation.
#[derive(Debug, Clone)]
pub struct PolicyStoreApi {
    store: PolicyStore,
}

impl PolicyStoreApi {
    /// Serves `store`.
    pub fn new(store: PolicyStore) -> Self {
        Self { store }
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
        let policy = self.store.policy().await?;
        Ok(Response::new(policy.to_proto()))
    }

    async fn watch_policy(
        &self,
        _request: Request<v1::WatchPolicyRequest>,
    ) -> Result<Response<Self::WatchPolicyStream>, Status> {
        let stream = self
            .store
            .watch_policy()
            .map(|policy| Ok(policy.to_proto()));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn put_policy(
        &self,
        request: Request<v1::PutPolicyRequest>,
    ) -> Result<Response<v1::RiskPolicy>, Status> {
        let stored = self.store.put_policy(request.into_inner()).await?;
        Ok(Response::new(stored.to_proto()))
    }

    async fn get_ess(
        &self,
        _request: Request<v1::GetEssRequest>,
    ) -> Result<Response<v1::EssStatus>, Status> {
        Ok(Response::new(self.store.ess_status()?))
    }

    async fn trip_ess(
        &self,
        request: Request<v1::TripEssRequest>,
    ) -> Result<Response<v1::EssStatus>, Status> {
        Ok(Response::new(self.store.trip(request.into_inner()).await?))
    }

    async fn reset_ess(
        &self,
        request: Request<v1::ResetEssRequest>,
    ) -> Result<Response<v1::EssStatus>, Status> {
        Ok(Response::new(self.store.reset(request.into_inner()).await?))
    }

    async fn list_policy_history(
        &self,
        request: Request<v1::ListPolicyHistoryRequest>,
    ) -> Result<Response<v1::ListPolicyHistoryResponse>, Status> {
        let versions = self
            .store
            .policy_history(request.into_inner().limit)
            .await?;
        Ok(Response::new(v1::ListPolicyHistoryResponse {
            versions: versions.iter().map(|p| p.to_proto()).collect(),
        }))
    }

    async fn list_ess_transitions(
        &self,
        request: Request<v1::ListEssTransitionsRequest>,
    ) -> Result<Response<v1::ListEssTransitionsResponse>, Status> {
        let transitions = self
            .store
            .ess_transitions(request.into_inner().limit)
            .await?;
        Ok(Response::new(v1::ListEssTransitionsResponse {
            transitions: transitions
                .iter()
                .map(|t| {
                    let wire = transition_to_wire(t);
                    v1::EssTransitionInfo {
                        seq: wire.seq,
                        from_state: wire.from_state,
                        to_state: wire.to_state,
                        trigger: wire.trigger,
                        reason: wire.reason,
                        actor: wire.actor,
                        at_ms: wire.at_ms,
                        detail_json: wire.detail_json,
                    }
                })
                .collect(),
        }))
    }
}
