//! Where an engine's predictions come from: the ai-engine over gRPC, or the EMA-cross
//! reference strategy.

use std::time::Duration;

use levibot_core::Bar;
use levibot_proto::v1::ai_engine_service_client::AiEngineServiceClient;
use levibot_proto::v1::{self, PredictRequest};
use levibot_telemetry::InjectTraceContext;
use levibot_trading::{DataQuality, Prediction};
use tonic::transport::Channel;

/// How long an engine waits for a prediction before skipping the bar.
const PREDICT_TIMEOUT: Duration = Duration::from_millis(500);

/// Why no prediction came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Unavailable {
    /// The ai-engine is down, slow, or does not serve predictions yet.
    Service(String),
    /// It answered something unusable (probability out of range...).
    BadAnswer(String),
}

impl Unavailable {
    /// A stable label for metrics.
    #[must_use]
    pub(super) const fn label(&self) -> &'static str {
        match self {
            Self::Service(_) => "ai_unavailable",
            Self::BadAnswer(_) => "ai_bad_answer",
        }
    }
}

/// Asks the ai-engine for the prediction after `bar`.
pub(super) async fn predict(
    client: &AiEngineServiceClient<InjectTraceContext<Channel>>,
    bar: &Bar,
) -> Result<Prediction, Unavailable> {
    let mut client = client.clone();
    let request = PredictRequest {
        symbol: bar.symbol().to_string(),
        as_of_ms: bar.open_time().as_i64(),
    };
    let answer = tokio::time::timeout(PREDICT_TIMEOUT, client.predict(request))
        .await
        .map_err(|_| Unavailable::Service(format!("no answer within {PREDICT_TIMEOUT:?}")))?
        .map_err(|status| Unavailable::Service(format!("{}: {}", status.code(), status.message())))?
        .into_inner();
    let quality = match answer.data_quality() {
        v1::DataQualityVerdict::Ok => DataQuality::Ok,
        v1::DataQualityVerdict::Stale => DataQuality::Stale,
        v1::DataQualityVerdict::Missing | v1::DataQualityVerdict::Unspecified => {
            DataQuality::Missing
        }
        v1::DataQualityVerdict::Constant => DataQuality::Constant,
        v1::DataQualityVerdict::Synthetic => DataQuality::Synthetic,
    };
    Prediction::new(answer.probability_up, answer.confidence, "ai", quality)
        .map_err(|e| Unavailable::BadAnswer(e.to_string()))
}
