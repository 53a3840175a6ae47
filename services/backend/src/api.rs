use std::sync::Arc;

use levibot_config::Config;
use levibot_proto::v1::{self, backend_service_server::BackendService};
use levibot_server::status::not_available_yet;
use tonic::{Request, Response, Status};

/// What the RPCs below wait for.
const ARRIVES_WITH: &str = "the trading core (engines, risk manager, executor)";

/// The `levibot.v1.BackendService` implementation.
#[derive(Debug, Clone)]
pub struct BackendApi {
    config: Arc<Config>,
}

impl BackendApi {
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
impl BackendService for BackendApi {
    async fn list_engines(
        &self,
        _request: Request<v1::ListEnginesRequest>,
    ) -> Result<Response<v1::ListEnginesResponse>, Status> {
        Err(not_available_yet(
            "levibot.v1.BackendService/ListEngines",
            ARRIVES_WITH,
        ))
    }

    async fn start_engine(
        &self,
        _request: Request<v1::EngineRequest>,
    ) -> Result<Response<v1::EngineStatus>, Status> {
        Err(not_available_yet(
            "levibot.v1.BackendService/StartEngine",
            ARRIVES_WITH,
        ))
    }

    async fn stop_engine(
        &self,
        _request: Request<v1::EngineRequest>,
    ) -> Result<Response<v1::EngineStatus>, Status> {
        Err(not_available_yet(
            "levibot.v1.BackendService/StopEngine",
            ARRIVES_WITH,
        ))
    }

    async fn restart_engine(
        &self,
        _request: Request<v1::EngineRequest>,
    ) -> Result<Response<v1::EngineStatus>, Status> {
        Err(not_available_yet(
            "levibot.v1.BackendService/RestartEngine",
            ARRIVES_WITH,
        ))
    }

    async fn get_risk_status(
        &self,
        _request: Request<v1::GetRiskStatusRequest>,
    ) -> Result<Response<v1::RiskStatus>, Status> {
        Err(not_available_yet(
            "levibot.v1.BackendService/GetRiskStatus",
            ARRIVES_WITH,
        ))
    }

    async fn set_trading_enabled(
        &self,
        _request: Request<v1::SetTradingEnabledRequest>,
    ) -> Result<Response<v1::RiskStatus>, Status> {
        Err(not_available_yet(
            "levibot.v1.BackendService/SetTradingEnabled",
            ARRIVES_WITH,
        ))
    }

    async fn list_orders(
        &self,
        _request: Request<v1::ListOrdersRequest>,
    ) -> Result<Response<v1::ListOrdersResponse>, Status> {
        Err(not_available_yet(
            "levibot.v1.BackendService/ListOrders",
            ARRIVES_WITH,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rpcs_that_have_not_landed_say_so_instead_of_answering_empty() {
        let api = BackendApi::new(Arc::new(Config::default()));
        let status = api
            .list_engines(Request::new(v1::ListEnginesRequest::default()))
            .await
            .err()
            .unwrap();
        assert_eq!(status.code(), tonic::Code::Unimplemented);
        assert!(
            status.message().contains("ListEngines"),
            "{}",
            status.message()
        );
    }
}
