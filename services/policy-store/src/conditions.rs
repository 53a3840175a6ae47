//! Where a reset learns whether the tripping condition still holds: [`ConditionSource`],
//! answered by the portfolio service's `GetRiskMetrics` ([`PortfolioConditions`]).

use std::str::FromStr;
use std::time::Duration;

use levibot_proto::v1::{self, portfolio_service_client::PortfolioServiceClient};
use levibot_telemetry::InjectTraceContext;
use rust_decimal::Decimal;
use tonic::transport::Channel;

use crate::ess::RiskReading;

/// How long a reset waits for the portfolio's answer.
pub const READING_TIMEOUT: Duration = Duration::from_secs(3);

/// The current risk measurements; an `Err` says why they could not be had (the reset is then
/// refused: it cannot be verified).
#[tonic::async_trait]
pub trait ConditionSource: Send + Sync + 'static {
    /// The current reading.
    async fn reading(&self) -> Result<RiskReading, String>;
}

/// The portfolio's client type.
pub type PortfolioClient = PortfolioServiceClient<InjectTraceContext<Channel>>;

/// [`ConditionSource`] asking the portfolio service.
#[derive(Debug, Clone)]
pub struct PortfolioConditions {
    client: PortfolioClient,
}

impl PortfolioConditions {
    /// Asks through `client`.
    pub fn new(client: PortfolioClient) -> Self {
        Self { client }
    }
}

fn decimal(field: &str, text: &str) -> Result<Decimal, String> {
    Decimal::from_str(text.trim())
        .map_err(|_| format!("portfolio sent {field} '{text}', not a decimal"))
}

/// The reading in `metrics`.
pub fn reading_from_wire(metrics: &v1::RiskMetrics) -> Result<RiskReading, String> {
    Ok(RiskReading {
        drawdown_pct: decimal("drawdown_pct", &metrics.drawdown_pct)?,
        daily_pnl: decimal("daily_pnl", &metrics.daily_pnl)?,
        total_exposure_usd: decimal("total_exposure_usd", &metrics.total_exposure_usd)?,
        reconciled: metrics.reconciled,
    })
}

#[tonic::async_trait]
impl ConditionSource for PortfolioConditions {
    async fn reading(&self) -> Result<RiskReading, String> {
        let mut client = self.client.clone();
        let answer = tokio::time::timeout(
            READING_TIMEOUT,
            client.get_risk_metrics(v1::GetRiskMetricsRequest {}),
        )
        .await
        .map_err(|_| {
            format!(
                "portfolio did not answer GetRiskMetrics within {} s",
                READING_TIMEOUT.as_secs()
            )
        })?;
        match answer {
            Ok(metrics) => reading_from_wire(&metrics.into_inner()),
            Err(status) => Err(format!(
                "portfolio GetRiskMetrics failed: {}: {}",
                status.code(),
                status.message()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn readings_parse_exactly_and_refuse_garbage() {
        let metrics = v1::RiskMetrics {
            drawdown_pct: "2.50".into(),
            daily_pnl: "-12.3".into(),
            total_exposure_usd: "100".into(),
            reconciled: true,
            ..v1::RiskMetrics::default()
        };
        let reading = reading_from_wire(&metrics).unwrap();
        assert_eq!(reading.drawdown_pct, dec!(2.50));
        assert_eq!(reading.daily_pnl, dec!(-12.3));
        let bad = v1::RiskMetrics {
            daily_pnl: String::new(),
            ..metrics
        };
        assert!(reading_from_wire(&bad).unwrap_err().contains("daily_pnl"));
    }
}
