use std::sync::Arc;

use levibot_config::Config;
use levibot_proto::v1::{self, trade_store_service_server::TradeStoreService};
use levibot_server::status::not_available_yet;
use tonic::{Request, Response, Status};

/// What the RPCs below wait for.
const ARRIVES_WITH: &str = "the trade-store on PostgreSQL (market data issue)";

/// The `levibot.v1.TradeStoreService` implementation.
#[derive(Debug, Clone)]
pub struct TradeStoreApi {
    config: Arc<Config>,
}

impl TradeStoreApi {
    /// The API over `config`.
    pub fn new(config: Arc<Config>) -> Self {
        Self { config }
    }

    /// The configuration the service runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

type BoxStream<T> = std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl TradeStoreService for TradeStoreApi {
    async fn insert_bars(
        &self,
        _request: Request<v1::InsertBarsRequest>,
    ) -> Result<Response<v1::InsertBarsResponse>, Status> {
        Err(not_available_yet(
            "levibot.v1.TradeStoreService/InsertBars",
            ARRIVES_WITH,
        ))
    }

    type QueryBarsStream = BoxStream<v1::Bar>;

    async fn query_bars(
        &self,
        _request: Request<v1::QueryBarsRequest>,
    ) -> Result<Response<Self::QueryBarsStream>, Status> {
        Err(not_available_yet(
            "levibot.v1.TradeStoreService/QueryBars",
            ARRIVES_WITH,
        ))
    }

    async fn record_order(
        &self,
        _request: Request<v1::RecordOrderRequest>,
    ) -> Result<Response<v1::RecordOrderResponse>, Status> {
        Err(not_available_yet(
            "levibot.v1.TradeStoreService/RecordOrder",
            ARRIVES_WITH,
        ))
    }

    async fn record_fills(
        &self,
        _request: Request<v1::RecordFillsRequest>,
    ) -> Result<Response<v1::RecordFillsResponse>, Status> {
        Err(not_available_yet(
            "levibot.v1.TradeStoreService/RecordFills",
            ARRIVES_WITH,
        ))
    }

    async fn query_orders(
        &self,
        _request: Request<v1::QueryOrdersRequest>,
    ) -> Result<Response<v1::QueryOrdersResponse>, Status> {
        Err(not_available_yet(
            "levibot.v1.TradeStoreService/QueryOrders",
            ARRIVES_WITH,
        ))
    }

    async fn query_fills(
        &self,
        _request: Request<v1::QueryFillsRequest>,
    ) -> Result<Response<v1::QueryFillsResponse>, Status> {
        Err(not_available_yet(
            "levibot.v1.TradeStoreService/QueryFills",
            ARRIVES_WITH,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rpcs_that_have_not_landed_say_so_instead_of_answering_empty() {
        let api = TradeStoreApi::new(Arc::new(Config::default()));
        let status = api
            .insert_bars(Request::new(v1::InsertBarsRequest::default()))
            .await
            .err()
            .unwrap();
        assert_eq!(status.code(), tonic::Code::Unimplemented);
        assert!(
            status.message().contains("InsertBars"),
            "{}",
            status.message()
        );
    }
}
