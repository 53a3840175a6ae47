use std::sync::Arc;

use levibot_config::Config;
use levibot_proto::v1::{self, auto_ml_service_server::AutoMlService};
use levibot_server::status::not_available_yet;
use tonic::{Request, Response, Status};

/// What the RPCs below wait for.
const ARRIVES_WITH: &str = "AutoML (nightly retraining, model registry, promotion and rollback)";

/// The `levibot.v1.AutoMlService` implementation.
#[derive(Debug, Clone)]
pub struct AutoMlApi {
    config: Arc<Config>,
}

impl AutoMlApi {
    /// The API over `config`.
    pub fn new(config: Arc<Config>) -> Self {
        Self { config }
    }

    /// The configuration the service runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

#[tonic::async_trait]
impl AutoMlService for AutoMlApi {
    async fn trigger_run(
        &self,
        _request: Request<v1::TriggerRunRequest>,
    ) -> Result<Response<v1::TrainingRun>, Status> {
        Err(not_available_yet(
            "levibot.v1.AutoMlService/TriggerRun",
            ARRIVES_WITH,
        ))
    }

    async fn get_run(
        &self,
        _request: Request<v1::GetRunRequest>,
    ) -> Result<Response<v1::TrainingRun>, Status> {
        Err(not_available_yet(
            "levibot.v1.AutoMlService/GetRun",
            ARRIVES_WITH,
        ))
    }

    async fn list_models(
        &self,
        _request: Request<v1::ListModelsRequest>,
    ) -> Result<Response<v1::ListModelsResponse>, Status> {
        Err(not_available_yet(
            "levibot.v1.AutoMlService/ListModels",
            ARRIVES_WITH,
        ))
    }

    async fn promote(
        &self,
        _request: Request<v1::PromoteRequest>,
    ) -> Result<Response<v1::RegisteredModel>, Status> {
        Err(not_available_yet(
            "levibot.v1.AutoMlService/Promote",
            ARRIVES_WITH,
        ))
    }

    async fn rollback(
        &self,
        _request: Request<v1::RollbackRequest>,
    ) -> Result<Response<v1::RegisteredModel>, Status> {
        Err(not_available_yet(
            "levibot.v1.AutoMlService/Rollback",
            ARRIVES_WITH,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rpcs_that_have_not_landed_say_so_instead_of_answering_empty() {
        let api = AutoMlApi::new(Arc::new(Config::default()));
        let status = api
            .trigger_run(Request::new(v1::TriggerRunRequest::default()))
            .await
            .err()
            .unwrap();
        assert_eq!(status.code(), tonic::Code::Unimplemented);
        assert!(
            status.message().contains("TriggerRun"),
            "{}",
            status.message()
        );
    }
}
