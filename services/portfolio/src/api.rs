use levibot_proto::v1::{self, portfolio_service_server::PortfolioService};
use rust_decimal::Decimal;
use tonic::{Request, Response, Status};

use crate::runtime::Runtime;

/// Decimal places of a reported drawdown percentage (the division is otherwise 28 digits long).
const DRAWDOWN_DP: u32 = 8;

/// The `levibot.v1.PortfolioService` implementation. Every amount is a decimal string in the
/// quote asset. Until the books are rebuilt from the trade-store at start-up, every RPC but
/// `Reconcile` answers `UNAVAILABLE` rather than report empty books.
#[derive(Debug, Clone)]
pub struct PortfolioApi {
    runtime: Runtime,
}

impl PortfolioApi {
    /// The API over `runtime`.
    pub fn new(runtime: Runtime) -> Self {
        Self { runtime }
    }

    fn ready(&self) -> Result<std::sync::MutexGuard<'_, crate::Portfolio>, Status> {
        let portfolio = self.runtime.portfolio();
        if portfolio.is_ready() {
            Ok(portfolio)
        } else {
            Err(Status::unavailable(
                "the books are being rebuilt from the trade-store; try again shortly",
            ))
        }
    }
}

fn s(value: Decimal) -> String {
    value.normalize().to_string()
}

#[tonic::async_trait]
impl PortfolioService for PortfolioApi {
    async fn get_summary(
        &self,
        _request: Request<v1::GetSummaryRequest>,
    ) -> Result<Response<v1::PortfolioSummary>, Status> {
        let portfolio = self.ready()?;
        let books = portfolio.books();
        Ok(Response::new(v1::PortfolioSummary {
            cash: s(books.cash()),
            equity: s(books.equity()),
            realized_pnl: s(books.realized_pnl()),
            unrealized_pnl: s(books.unrealized_pnl()),
            fees: s(books.fees()),
            quote_asset: books.quote_asset().to_owned(),
            as_of_ms: books.as_of().as_i64(),
            reconciled: portfolio.reconciled(),
        }))
    }

    async fn list_positions(
        &self,
        _request: Request<v1::ListPositionsRequest>,
    ) -> Result<Response<v1::ListPositionsResponse>, Status> {
        let portfolio = self.ready()?;
        let positions = portfolio
            .books()
            .open_positions()
            .into_iter()
            .map(|p| v1::Position {
                symbol: p.position.symbol().to_string(),
                quantity: s(p.position.quantity()),
                average_price: s(p.position.average_price()),
                mark_price: s(p.mark_price),
                unrealized_pnl: s(p.unrealized_pnl),
                realized_pnl: s(p.position.realized_pnl()),
            })
            .collect();
        Ok(Response::new(v1::ListPositionsResponse { positions }))
    }

    /// The stored equity snapshots over the range (the whole history when unset), from the
    /// trade-store; its errors are passed on.
    async fn get_equity_curve(
        &self,
        request: Request<v1::GetEquityCurveRequest>,
    ) -> Result<Response<v1::EquityCurve>, Status> {
        let range = request.into_inner().range.unwrap_or(v1::TimeRange {
            from_ms: 0,
            to_ms: self.runtime.now().as_i64().saturating_add(1),
        });
        if range.from_ms > range.to_ms {
            return Err(Status::invalid_argument(format!(
                "range: from_ms {} is after to_ms {}",
                range.from_ms, range.to_ms
            )));
        }
        let snapshots = self
            .runtime
            .clients()
            .trade_store
            .clone()
            .query_equity(v1::QueryEquityRequest { range: Some(range) })
            .await?
            .into_inner()
            .snapshots;
        Ok(Response::new(v1::EquityCurve {
            points: snapshots
                .into_iter()
                .map(|snapshot| v1::EquityPoint {
                    time_ms: snapshot.at_ms,
                    // the store's decimal, in the same canonical form as every other amount
                    equity: snapshot
                        .equity
                        .parse::<Decimal>()
                        .map_or(snapshot.equity, s),
                })
                .collect(),
        }))
    }

    async fn get_exposure(
        &self,
        _request: Request<v1::GetExposureRequest>,
    ) -> Result<Response<v1::Exposure>, Status> {
        let portfolio = self.ready()?;
        let books = portfolio.books();
        Ok(Response::new(v1::Exposure {
            symbols: books
                .exposure()
                .into_iter()
                .map(|(symbol, notional)| v1::SymbolExposure {
                    symbol: symbol.to_string(),
                    notional_usd: s(notional),
                })
                .collect(),
            total_usd: s(books.total_exposure()),
        }))
    }

    async fn get_risk_metrics(
        &self,
        _request: Request<v1::GetRiskMetricsRequest>,
    ) -> Result<Response<v1::RiskMetrics>, Status> {
        let now = self.runtime.now();
        let portfolio = self.ready()?;
        let m = portfolio.measurement(now);
        Ok(Response::new(v1::RiskMetrics {
            equity: s(m.equity),
            peak_equity: s(m.peak_equity),
            drawdown_pct: s(m.drawdown_pct.round_dp(DRAWDOWN_DP)),
            daily_pnl: s(m.daily_pnl),
            total_exposure_usd: s(m.total_exposure),
            reconciled: portfolio.reconciled(),
            as_of_ms: now.as_i64(),
        }))
    }

    /// Reconciles now and returns the report (a mismatch is re-checked two seconds later
    /// before it is reported, so the call takes that long then).
    async fn reconcile(
        &self,
        _request: Request<v1::ReconcileRequest>,
    ) -> Result<Response<v1::ReconciliationReport>, Status> {
        if !self.runtime.portfolio().is_ready() {
            return Err(Status::unavailable(
                "the books are being rebuilt from the trade-store; try again shortly",
            ));
        }
        Ok(Response::new(self.runtime.reconcile().await.to_wire()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use levibot_config::Config;
    use levibot_core::LiveClock;
    use levibot_telemetry::metrics::service_registry;

    use super::*;

    #[tokio::test]
    async fn the_books_are_not_reported_before_they_are_rebuilt() {
        let runtime =
            Runtime::new(&Config::default(), &service_registry(), Arc::new(LiveClock)).unwrap();
        let api = PortfolioApi::new(runtime.clone());
        let status = api
            .get_summary(Request::new(v1::GetSummaryRequest::default()))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        runtime
            .portfolio()
            .rebuilt(crate::Books::new("USDT", Decimal::from(10_000)));
        let summary = api
            .get_summary(Request::new(v1::GetSummaryRequest::default()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(summary.cash, "10000");
        assert_eq!(summary.equity, "10000");
        assert!(!summary.reconciled);
        let metrics = api
            .get_risk_metrics(Request::new(v1::GetRiskMetricsRequest::default()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(metrics.drawdown_pct, "0");
        assert_eq!(metrics.peak_equity, "10000");
    }
}
