use std::sync::Arc;

use levibot_config::Config;
use levibot_proto::v1::{self, portfolio_service_server::PortfolioService};
use levibot_server::status::not_available_yet;
use tonic::{Request, Response, Status};

/// What the RPCs below wait for.
const ARRIVES_WITH: &str = "the portfolio (positions, exact PnL, reconciliation)";

/// The `levibot.v1.PortfolioService` implementation.
#[derive(Debug, Clone)]
pub struct PortfolioApi {
    config: Arc<Config>,
}

impl PortfolioApi {
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
impl PortfolioService for PortfolioApi {
    async fn get_summary(
        &self,
        _request: Request<v1::GetSummaryRequest>,
    ) -> Result<Response<v1::PortfolioSummary>, Status> {
        Err(not_available_yet(
            "levibot.v1.PortfolioService/GetSummary",
            ARRIVES_WITH,
        ))
    }

    async fn list_positions(
        &self,
        _request: Request<v1::ListPositionsRequest>,
    ) -> Result<Response<v1::ListPositionsResponse>, Status> {
        Err(not_available_yet(
            "levibot.v1.PortfolioService/ListPositions",
            ARRIVES_WITH,
        ))
    }

    async fn get_equity_curve(
        &self,
        _request: Request<v1::GetEquityCurveRequest>,
    ) -> Result<Response<v1::EquityCurve>, Status> {
        Err(not_available_yet(
            "levibot.v1.PortfolioService/GetEquityCurve",
            ARRIVES_WITH,
        ))
    }

    async fn get_exposure(
        &self,
        _request: Request<v1::GetExposureRequest>,
    ) -> Result<Response<v1::Exposure>, Status> {
        Err(not_available_yet(
            "levibot.v1.PortfolioService/GetExposure",
            ARRIVES_WITH,
        ))
    }
    async fn get_risk_metrics(
        &self,
        _request: Request<v1::GetRiskMetricsRequest>,
    ) -> Result<Response<v1::RiskMetrics>, Status> {
        Err(Status::unimplemented("TODO(helper): get_risk_metrics"))
    }

    async fn reconcile(
        &self,
        _request: Request<v1::ReconcileRequest>,
    ) -> Result<Response<v1::ReconciliationReport>, Status> {
        Err(Status::unimplemented("TODO(helper): reconcile"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rpcs_that_have_not_landed_say_so_instead_of_answering_empty() {
        let api = PortfolioApi::new(Arc::new(Config::default()));
        let status = api
            .get_summary(Request::new(v1::GetSummaryRequest::default()))
            .await
            .err()
            .unwrap();
        assert_eq!(status.code(), tonic::Code::Unimplemented);
        assert!(
            status.message().contains("GetSummary"),
            "{}",
            status.message()
        );
    }
}
