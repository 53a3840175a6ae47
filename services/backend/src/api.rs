//! The `levibot.v1.BackendService` gRPC API: engine status, risk status and orders for other
//! services and tools. Mutations (start/stop/restart, trading on/off) go through the REST
//! gateway, which authenticates, role-checks and audits them; over gRPC they are refused.

use std::sync::Arc;

use levibot_core::{Clock, LiveClock};
use levibot_exchange::spot::SpotExchange;
use levibot_proto::convert::side_to_wire;
use levibot_proto::v1::{self, backend_service_server::BackendService};
use tonic::{Request, Response, Status};

use crate::engines::EngineManager;
use crate::gateway::RiskReporter;

/// The gRPC API over the running engines and risk manager.
#[derive(Clone)]
pub struct BackendApi {
    engines: EngineManager,
    risk: Arc<dyn RiskReporter>,
    store: v1::trade_store_service_client::TradeStoreServiceClient<
        levibot_telemetry::InjectTraceContext<tonic::transport::Channel>,
    >,
    exchange: Option<Arc<dyn SpotExchange>>,
}

impl std::fmt::Debug for BackendApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendApi").finish_non_exhaustive()
    }
}

impl BackendApi {
    /// The API over `engines`, `risk`, the trade-store and the exchange the desk trades on
    /// (`None` when the backend runs no engines).
    pub fn new(
        engines: EngineManager,
        risk: Arc<dyn RiskReporter>,
        store: v1::trade_store_service_client::TradeStoreServiceClient<
            levibot_telemetry::InjectTraceContext<tonic::transport::Channel>,
        >,
        exchange: Option<Arc<dyn SpotExchange>>,
    ) -> Self {
        Self {
            engines,
            risk,
            store,
            exchange,
        }
    }
}

fn mutation_refused(rpc: &str) -> Status {
    Status::permission_denied(format!(
        "{rpc} changes trading state: use the REST gateway (POST /engines/..., /trading/...), which authenticates, role-checks and audits the call"
    ))
}

#[tonic::async_trait]
impl BackendService for BackendApi {
    async fn list_engines(
        &self,
        _request: Request<v1::ListEnginesRequest>,
    ) -> Result<Response<v1::ListEnginesResponse>, Status> {
        Ok(Response::new(v1::ListEnginesResponse {
            engines: self
                .engines
                .statuses()
                .iter()
                .map(|s| s.to_proto())
                .collect(),
        }))
    }

    async fn start_engine(
        &self,
        _request: Request<v1::EngineRequest>,
    ) -> Result<Response<v1::EngineStatus>, Status> {
        Err(mutation_refused("StartEngine"))
    }

    async fn stop_engine(
        &self,
        _request: Request<v1::EngineRequest>,
    ) -> Result<Response<v1::EngineStatus>, Status> {
        Err(mutation_refused("StopEngine"))
    }

    async fn restart_engine(
        &self,
        _request: Request<v1::EngineRequest>,
    ) -> Result<Response<v1::EngineStatus>, Status> {
        Err(mutation_refused("RestartEngine"))
    }

    async fn get_risk_status(
        &self,
        _request: Request<v1::GetRiskStatusRequest>,
    ) -> Result<Response<v1::RiskStatus>, Status> {
        let report = self.risk.report();
        let ess_state = match report.ess_state.as_str() {
            "armed" | "not_served_yet" => v1::EssState::Armed,
            "tripped" => v1::EssState::Tripped,
            "resetting" => v1::EssState::Resetting,
            _ => v1::EssState::Unspecified,
        };
        Ok(Response::new(v1::RiskStatus {
            trading_enabled: report.gates.trading_enabled && !report.gates.kill_switch,
            ess_state: ess_state as i32,
            open_positions: report.open_positions,
            max_positions: report.max_positions,
            exposure_usd: report.exposure_usd,
            daily_pnl_usd: report.daily_pnl_usd,
            daily_loss_limit_usd: report.daily_loss_limit_usd,
            rejections: report
                .rejections
                .into_iter()
                .map(|(reason, count)| v1::RiskRejectionCount { reason, count })
                .collect(),
            policy_version: report.policy_version,
        }))
    }

    async fn set_trading_enabled(
        &self,
        _request: Request<v1::SetTradingEnabledRequest>,
    ) -> Result<Response<v1::RiskStatus>, Status> {
        Err(mutation_refused("SetTradingEnabled"))
    }

    async fn get_exchange_account(
        &self,
        _request: Request<v1::GetExchangeAccountRequest>,
    ) -> Result<Response<v1::ExchangeAccount>, Status> {
        let Some(exchange) = &self.exchange else {
            return Err(Status::unavailable(
                "the backend runs no exchange (trading.engines_enabled is false)",
            ));
        };
        let as_of_ms = LiveClock.now().as_i64();
        let (balances, open_orders) =
            tokio::try_join!(exchange.balances(), exchange.open_orders(None)).map_err(|err| {
                Status::unavailable(format!(
                    "{} exchange did not answer: {err}",
                    exchange.name()
                ))
            })?;
        Ok(Response::new(v1::ExchangeAccount {
            exchange: exchange.name().to_owned(),
            balances: balances
                .into_iter()
                .map(|b| v1::AssetBalance {
                    asset: b.asset,
                    free: b.free.to_string(),
                    locked: b.locked.to_string(),
                })
                .collect(),
            open_orders: open_orders
                .into_iter()
                .map(|o| v1::ExchangeOpenOrder {
                    symbol: o.symbol.to_string(),
                    client_order_id: o.client_order_id.to_string(),
                    side: side_to_wire(o.side) as i32,
                    quantity: o.orig_qty.to_string(),
                    filled_quantity: o.executed_qty.to_string(),
                })
                .collect(),
            as_of_ms,
        }))
    }

    async fn list_orders(
        &self,
        request: Request<v1::ListOrdersRequest>,
    ) -> Result<Response<v1::ListOrdersResponse>, Status> {
        let request = request.into_inner();
        let mut store = self.store.clone();
        let mut orders = store
            .query_orders(v1::QueryOrdersRequest {
                symbol: request.symbol,
                range: request.range,
            })
            .await?
            .into_inner()
            .orders;
        if request.limit > 0 {
            orders.truncate(request.limit as usize);
        }
        Ok(Response::new(v1::ListOrdersResponse { orders }))
    }
}
