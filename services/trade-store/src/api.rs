use futures::StreamExt;
use levibot_core::{Bar, Fill, Symbol};
use levibot_proto::{
    convert::interval_from_wire,
    v1::{self, trade_store_service_server::TradeStoreService},
};
use levibot_telemetry::metrics::{PrometheusError, Registry};
use tonic::{Request, Response, Status};

use crate::{
    error::ApiError,
    metrics::StoreMetrics,
    store::TradeStore,
    wire::{order_from_wire, order_to_wire, symbol_filter, time_range},
};

/// Most bars one `InsertBars` call may carry.
pub const MAX_INSERT_BARS: usize = 50_000;
/// Most fills one `RecordFills` call may carry.
pub const MAX_RECORD_FILLS: usize = 10_000;
/// Most rows `QueryOrders` and `QueryFills` answer with; a range holding more is refused with
/// a request to narrow it, never cut silently.
pub const MAX_QUERY_ROWS: usize = 10_000;
/// Largest request message the service decodes: a full [`MAX_INSERT_BARS`] batch fits.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// The `levibot.v1.TradeStoreService` implementation over a [`TradeStore`].
///
/// Every request is converted and validated whole before the store is touched, so a bad
/// request changes nothing. `InsertBars` answers `inserted` = bars written (new or corrected)
/// and `unchanged` = bars already stored with the same values.
#[derive(Debug, Clone)]
pub struct TradeStoreApi {
    store: TradeStore,
    metrics: StoreMetrics,
}

impl TradeStoreApi {
    /// The API over `store`; registers the store metrics in `registry`.
    pub fn new(store: TradeStore, registry: &Registry) -> Result<Self, PrometheusError> {
        Ok(Self::with_metrics(store, StoreMetrics::register(registry)?))
    }

    /// The API over `store`, counting into `metrics` (shared with the bus persistence).
    pub fn with_metrics(store: TradeStore, metrics: StoreMetrics) -> Self {
        Self { store, metrics }
    }

    /// The store it serves.
    pub fn store(&self) -> &TradeStore {
        &self.store
    }

    fn bars_from_wire(&self, bars: &[v1::Bar]) -> Result<Vec<Bar>, ApiError> {
        if bars.len() > MAX_INSERT_BARS {
            self.metrics.rejected("bars", bars.len());
            return Err(ApiError::InvalidArgument(format!(
                "bars: {} bars in one call, the limit is {MAX_INSERT_BARS}; split the batch",
                bars.len()
            )));
        }
        bars.iter()
            .enumerate()
            .map(|(index, wire)| {
                Bar::try_from(wire).map_err(|err| {
                    self.metrics.rejected("bars", bars.len());
                    ApiError::InvalidArgument(format!(
                        "bars[{index}] ({:?} at {}): {err}; nothing was stored",
                        wire.symbol, wire.open_time_ms
                    ))
                })
            })
            .collect()
    }

    fn fills_from_wire(&self, fills: &[v1::Fill]) -> Result<Vec<Fill>, ApiError> {
        if fills.len() > MAX_RECORD_FILLS {
            self.metrics.rejected("fills", fills.len());
            return Err(ApiError::InvalidArgument(format!(
                "fills: {} fills in one call, the limit is {MAX_RECORD_FILLS}; split the batch",
                fills.len()
            )));
        }
        fills
            .iter()
            .enumerate()
            .map(|(index, wire)| {
                Fill::try_from(wire).map_err(|err| {
                    self.metrics.rejected("fills", fills.len());
                    ApiError::InvalidArgument(format!(
                        "fills[{index}] ({:?}): {err}; nothing was stored",
                        wire.fill_id
                    ))
                })
            })
            .collect()
    }

    async fn do_insert_bars(
        &self,
        request: &v1::InsertBarsRequest,
    ) -> Result<v1::InsertBarsResponse, ApiError> {
        let bars = self.bars_from_wire(&request.bars)?;
        let _timer = self.metrics.time("insert_bars");
        let report = self.store.upsert_bars(&bars).await.inspect_err(|err| {
            if !err.is_transient() {
                self.metrics.rejected("bars", bars.len());
            }
        })?;
        self.metrics.bars(&report);
        Ok(v1::InsertBarsResponse {
            inserted: report.written(),
            unchanged: report.unchanged,
        })
    }

    async fn do_record_order(
        &self,
        request: &v1::RecordOrderRequest,
    ) -> Result<v1::RecordOrderResponse, ApiError> {
        let order = request
            .order
            .as_ref()
            .ok_or_else(|| ApiError::InvalidArgument("order: is required".to_owned()))
            .and_then(order_from_wire)
            .inspect_err(|_| self.metrics.rejected("orders", 1))?;
        let _timer = self.metrics.time("record_order");
        let created = self.store.record_order(&order).await?;
        self.metrics.order(created);
        Ok(v1::RecordOrderResponse { created })
    }

    async fn do_record_fills(
        &self,
        request: &v1::RecordFillsRequest,
    ) -> Result<v1::RecordFillsResponse, ApiError> {
        let fills = self.fills_from_wire(&request.fills)?;
        let _timer = self.metrics.time("record_fills");
        let report = self.store.record_fills(&fills).await?;
        self.metrics.fills(&report);
        Ok(v1::RecordFillsResponse {
            inserted: report.inserted,
            duplicates: report.duplicates,
        })
    }

    async fn do_query_orders(
        &self,
        request: &v1::QueryOrdersRequest,
    ) -> Result<v1::QueryOrdersResponse, ApiError> {
        let symbol = symbol_filter(&request.symbol)?;
        let (from, to) = time_range(request.range.as_ref())?;
        let _timer = self.metrics.time("query_orders");
        let orders = self
            .store
            .query_orders(symbol, from, to, MAX_QUERY_ROWS + 1)
            .await?;
        if orders.len() > MAX_QUERY_ROWS {
            return Err(too_many("orders"));
        }
        Ok(v1::QueryOrdersResponse {
            orders: orders.iter().map(order_to_wire).collect(),
        })
    }

    async fn do_query_fills(
        &self,
        request: &v1::QueryFillsRequest,
    ) -> Result<v1::QueryFillsResponse, ApiError> {
        let symbol = symbol_filter(&request.symbol)?;
        let (from, to) = time_range(request.range.as_ref())?;
        let _timer = self.metrics.time("query_fills");
        let fills = self
            .store
            .query_fills(symbol, from, to, MAX_QUERY_ROWS + 1)
            .await?;
        if fills.len() > MAX_QUERY_ROWS {
            return Err(too_many("fills"));
        }
        Ok(v1::QueryFillsResponse {
            fills: fills.iter().map(v1::Fill::from).collect(),
        })
    }
}

fn too_many(what: &str) -> ApiError {
    ApiError::InvalidArgument(format!(
        "range: more than {MAX_QUERY_ROWS} {what} match; narrow the range or filter by symbol"
    ))
}

type BoxStream<T> = std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl TradeStoreService for TradeStoreApi {
    async fn insert_bars(
        &self,
        request: Request<v1::InsertBarsRequest>,
    ) -> Result<Response<v1::InsertBarsResponse>, Status> {
        Ok(Response::new(self.do_insert_bars(request.get_ref()).await?))
    }

    type QueryBarsStream = BoxStream<v1::Bar>;

    async fn query_bars(
        &self,
        request: Request<v1::QueryBarsRequest>,
    ) -> Result<Response<Self::QueryBarsStream>, Status> {
        let request = request.into_inner();
        let symbol: Symbol = if request.symbol.is_empty() {
            return Err(ApiError::InvalidArgument("symbol: is required".to_owned()).into());
        } else {
            request
                .symbol
                .parse()
                .map_err(|err| ApiError::InvalidArgument(format!("symbol: {err}")))?
        };
        let interval = interval_from_wire("interval", request.interval).map_err(ApiError::from)?;
        let (from, to) = time_range(request.range.as_ref())?;
        let timer = self.metrics.time("query_bars");
        let bars = self
            .store
            .query_bars(symbol, interval, from, to)
            .map(move |bar| {
                // the timer lives as long as the stream: it measures the whole answer
                let _timer = &timer;
                bar.map(|bar| v1::Bar::from(&bar))
                    .map_err(|err| Status::from(ApiError::from(err)))
            });
        Ok(Response::new(Box::pin(bars)))
    }

    async fn record_order(
        &self,
        request: Request<v1::RecordOrderRequest>,
    ) -> Result<Response<v1::RecordOrderResponse>, Status> {
        Ok(Response::new(
            self.do_record_order(request.get_ref()).await?,
        ))
    }

    async fn record_fills(
        &self,
        request: Request<v1::RecordFillsRequest>,
    ) -> Result<Response<v1::RecordFillsResponse>, Status> {
        Ok(Response::new(
            self.do_record_fills(request.get_ref()).await?,
        ))
    }

    async fn query_orders(
        &self,
        request: Request<v1::QueryOrdersRequest>,
    ) -> Result<Response<v1::QueryOrdersResponse>, Status> {
        Ok(Response::new(
            self.do_query_orders(request.get_ref()).await?,
        ))
    }

    async fn query_fills(
        &self,
        request: Request<v1::QueryFillsRequest>,
    ) -> Result<Response<v1::QueryFillsResponse>, Status> {
        Ok(Response::new(self.do_query_fills(request.get_ref()).await?))
    }
}
