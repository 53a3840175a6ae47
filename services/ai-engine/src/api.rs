use std::sync::Arc;

use levibot_config::Config;
use levibot_proto::v1::{self, ai_engine_service_server::AiEngineService};
use levibot_server::status::not_available_yet;
use tonic::{Request, Response, Status};

/// What the RPCs below wait for.
const ARRIVES_WITH: &str =
    "the AI engine (feature store, LightGBM, ONNX sequence model, sentiment, ensemble)";

/// The `levibot.v1.AiEngineService` implementation.
#[derive(Debug, Clone)]
pub struct AiEngineApi {
    config: Arc<Config>,
}

impl AiEngineApi {
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
impl AiEngineService for AiEngineApi {
    async fn predict(
        &self,
        _request: Request<v1::PredictRequest>,
    ) -> Result<Response<v1::Prediction>, Status> {
        Err(not_available_yet(
            "levibot.v1.AiEngineService/Predict",
            ARRIVES_WITH,
        ))
    }

    async fn predict_batch(
        &self,
        _request: Request<v1::PredictBatchRequest>,
    ) -> Result<Response<v1::PredictBatchResponse>, Status> {
        Err(not_available_yet(
            "levibot.v1.AiEngineService/PredictBatch",
            ARRIVES_WITH,
        ))
    }

    async fn get_model_card(
        &self,
        _request: Request<v1::GetModelCardRequest>,
    ) -> Result<Response<v1::ModelCard>, Status> {
        Err(not_available_yet(
            "levibot.v1.AiEngineService/GetModelCard",
            ARRIVES_WITH,
        ))
    }

    async fn ingest_headline(
        &self,
        _request: Request<v1::IngestHeadlineRequest>,
    ) -> Result<Response<v1::SentimentScore>, Status> {
        Err(not_available_yet(
            "levibot.v1.AiEngineService/IngestHeadline",
            ARRIVES_WITH,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rpcs_that_have_not_landed_say_so_instead_of_answering_empty() {
        let api = AiEngineApi::new(Arc::new(Config::default()));
        let status = api
            .predict(Request::new(v1::PredictRequest::default()))
            .await
            .err()
            .unwrap();
        assert_eq!(status.code(), tonic::Code::Unimplemented);
        assert!(status.message().contains("Predict"), "{}", status.message());
    }
}
