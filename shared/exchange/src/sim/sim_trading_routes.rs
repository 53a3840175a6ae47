use std::str::FromStr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use levibot_core::{
    ClientOrderId, OrderRequest, OrderType, Price, Quantity, Side, Symbol, TimeInForce, TimestampMs,
};
use rust_decimal::Decimal;
use serde_json::Value;

use super::sim_auth::{Params, SimError, authenticate};
use super::sim_json::{self, RespType};
use super::sim_server::{SimState, inc, use_weight};
use super::sim_trading::{SimEndpoint, SimFault, SimTrading};
use crate::spot::{ExchangeError, OrderRef, SpotCall};

/// Adds the signed spot endpoints to the simulator's router.
pub(crate) fn add_routes(router: Router<Arc<SimState>>) -> Router<Arc<SimState>> {
    router
        .route(
            "/api/v3/order",
            post(place_order).get(query_order).delete(cancel_order),
        )
        .route("/api/v3/openOrders", get(open_orders))
        .route("/api/v3/account", get(account))
        .route("/api/v3/myTrades", get(my_trades))
}

/// What one request brought.
struct Call {
    headers: HeaderMap,
    query: String,
    body: String,
}

impl Call {
    fn new(headers: HeaderMap, query: Option<String>, body: &Bytes) -> Self {
        Self {
            headers,
            query: query.unwrap_or_default(),
            body: String::from_utf8_lossy(body).into_owned(),
        }
    }

    fn has_param(&self, key: &str) -> bool {
        let prefix = format!("{key}=");
        self.query
            .split('&')
            .chain(self.body.split('&'))
            .any(|p| p.starts_with(&prefix))
    }
}

async fn place_order(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    inc(&state.counters.order_posts);
    let call = Call::new(headers, query, &body);
    handle(state, SimEndpoint::PlaceOrder, call, place).await
}

async fn query_order(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let call = Call::new(headers, query, &body);
    handle(
        state,
        SimEndpoint::QueryOrder,
        call,
        |trading, params, _| {
            let report = trading
                .book()
                .query(symbol(params)?, &order_ref(params)?)
                .map_err(|e| from_exchange(&e))?;
            Ok(sim_json::queried(&report))
        },
    )
    .await
}

async fn cancel_order(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let call = Call::new(headers, query, &body);
    handle(
        state,
        SimEndpoint::CancelOrder,
        call,
        |trading, params, now| {
            let report = trading
                .book()
                .cancel(symbol(params)?, &order_ref(params)?, now)
                .map_err(|e| from_exchange(&e))?;
            let cancel_id = params
                .get("newClientOrderId")
                .map_or_else(|| trading.generated_id("sim-cancel-"), str::to_owned);
            Ok(sim_json::cancelled(&report, &cancel_id, now))
        },
    )
    .await
}

async fn open_orders(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let call = Call::new(headers, query, &body);
    handle(
        state,
        SimEndpoint::OpenOrders,
        call,
        |trading, params, _| {
            let symbol = params.get("symbol").map(|_| symbol(params)).transpose()?;
            let orders = trading.book().open_orders(symbol);
            Ok(Value::Array(orders.iter().map(sim_json::queried).collect()))
        },
    )
    .await
}

async fn account(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let call = Call::new(headers, query, &body);
    handle(state, SimEndpoint::Account, call, |trading, _, now| {
        let book = trading.book();
        Ok(sim_json::account(
            &book.balances(),
            book.config().fee_bps,
            now,
        ))
    })
    .await
}

async fn my_trades(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let call = Call::new(headers, query, &body);
    handle(state, SimEndpoint::MyTrades, call, |trading, params, _| {
        let symbol = symbol(params)?;
        // only the `orderId` form is simulated
        let order_id: u64 = params
            .require("orderId")?
            .parse()
            .map_err(|_| SimError::mandatory("orderId"))?;
        let book = trading.book();
        let Ok(report) = book.query(symbol, &OrderRef::ExchangeId(order_id)) else {
            return Ok(Value::Array(Vec::new()));
        };
        let rows = book
            .order_trades(order_id)
            .iter()
            .map(|t| sim_json::trade(&report, t))
            .collect();
        Ok(Value::Array(rows))
    })
    .await
}

/// Runs the request to its end in a task of its own, so that a client that hangs up (after a
/// timeout) does not cancel it: like the real matching engine, the simulator still executes
/// what it received.
async fn handle(
    state: Arc<SimState>,
    endpoint: SimEndpoint,
    call: Call,
    op: impl FnOnce(&SimTrading, &Params, TimestampMs) -> Result<Value, SimError> + Send + 'static,
) -> Response {
    let task = tokio::spawn(async move { process(&state, endpoint, &call, op).await });
    task.await
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Weight, faults, authentication, then `op`; every answer carries `X-MBX-USED-WEIGHT-1M`.
async fn process(
    state: &SimState,
    endpoint: SimEndpoint,
    call: &Call,
    op: impl FnOnce(&SimTrading, &Params, TimestampMs) -> Result<Value, SimError>,
) -> Response {
    inc(&state.counters.trading_requests);
    let Some(trading) = state.trading.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let cost = if endpoint == SimEndpoint::OpenOrders && !call.has_param("symbol") {
        SpotCall::OpenOrdersAllSymbols.weight()
    } else {
        endpoint.call().weight()
    };
    let weight = use_weight(state, u64::from(cost));
    let fault = trading.take_fault(endpoint);
    match fault {
        Some(SimFault::RateLimited { retry_after_secs }) => {
            let msg = "Too many requests; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.";
            let error = SimError::new(StatusCode::TOO_MANY_REQUESTS, -1003, msg);
            return retry_after(error_response(&error, weight), retry_after_secs);
        }
        Some(SimFault::IpBanned { retry_after_secs }) => {
            let until = state.now().as_i64()
                + i64::try_from(retry_after_secs.saturating_mul(1000)).unwrap_or(i64::MAX / 2);
            let msg = format!(
                "Way too much request weight used; IP banned until {until}. Please use WebSocket Streams for live updates to avoid bans."
            );
            let status = StatusCode::from_u16(418).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
            let error = SimError::new(status, -1003, msg);
            return retry_after(error_response(&error, weight), retry_after_secs);
        }
        Some(SimFault::ServerError) => {
            let msg = "Internal error; unable to process your request. Please try again.";
            let error = SimError::new(StatusCode::INTERNAL_SERVER_ERROR, -1001, msg);
            return error_response(&error, weight);
        }
        Some(SimFault::Stall(duration)) => {
            tokio::select! {
                () = state.shutdown.cancelled() => {
                    return StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
                () = tokio::time::sleep(duration) => {}
            }
        }
        _ => {}
    }
    let now = state.now();
    let params = match authenticate(
        trading,
        &call.headers,
        &call.query,
        &call.body,
        now.as_i64(),
    ) {
        Ok(params) => params,
        Err(error) => return error_response(&error, weight),
    };
    if fault == Some(SimFault::InsufficientBalance) {
        return error_response(
            &from_exchange(&ExchangeError::insufficient_balance()),
            weight,
        );
    }
    let result = op(trading, &params, now);
    match fault {
        Some(SimFault::ExecutionUnknown) => {
            let msg = "Timeout waiting for response from backend server. Send status unknown; execution status unknown.";
            error_response(
                &SimError::new(StatusCode::REQUEST_TIMEOUT, -1007, msg),
                weight,
            )
        }
        Some(SimFault::ResponseLost) => lost_response(),
        Some(SimFault::StallAfterExecution(duration)) => {
            tokio::select! {
                () = state.shutdown.cancelled() => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                () = tokio::time::sleep(duration) => match result {
                    Ok(value) => json_response(StatusCode::OK, &value, weight),
                    Err(error) => error_response(&error, weight),
                },
            }
        }
        _ => match result {
            Ok(value) => json_response(StatusCode::OK, &value, weight),
            Err(error) => error_response(&error, weight),
        },
    }
}

fn place(trading: &SimTrading, params: &Params, now: TimestampMs) -> Result<Value, SimError> {
    let symbol = symbol(params)?;
    let price = trading.price(symbol).ok_or_else(invalid_symbol)?;
    let side = Side::from_str(params.require("side")?).map_err(|_| SimError::mandatory("side"))?;
    let order_type = match params.require("type")? {
        "MARKET" => OrderType::Market,
        "LIMIT" => OrderType::Limit {
            price: decimal(params, "price").and_then(|d| {
                Price::new(d).map_err(|_| SimError::bad_request(-1013, "Invalid price."))
            })?,
            time_in_force: TimeInForce::from_str(params.require("timeInForce")?)
                .map_err(|_| SimError::mandatory("timeInForce"))?,
        },
        _ => return Err(SimError::bad_request(-1116, "Invalid orderType.")),
    };
    let quantity = decimal(params, "quantity").and_then(|d| {
        Quantity::positive(d).map_err(|_| SimError::bad_request(-1013, "Invalid quantity."))
    })?;
    let client_id = params
        .get("newClientOrderId")
        .map_or_else(|| trading.generated_id("sim-"), str::to_owned);
    let client_id = ClientOrderId::new(&client_id).map_err(|_| {
        SimError::bad_request(
            -1100,
            "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_]{1,36}$'.",
        )
    })?;
    let resp = RespType::parse(params.get("newOrderRespType"))
        .ok_or_else(|| SimError::mandatory("newOrderRespType"))?;
    let request = OrderRequest::new(client_id, symbol, side, order_type, quantity, None, now)
        .map_err(|_| SimError::bad_request(-1013, "Invalid quantity."))?;
    let mut book = trading.book();
    let report = book
        .place_at_price(&request, price, now)
        .map_err(|e| from_exchange(&e))?;
    Ok(sim_json::placed(
        &report,
        book.order_trades(report.order_id),
        resp,
        now,
    ))
}

fn symbol(params: &Params) -> Result<Symbol, SimError> {
    Symbol::new(params.require("symbol")?).map_err(|_| invalid_symbol())
}

fn invalid_symbol() -> SimError {
    SimError::bad_request(-1121, "Invalid symbol.")
}

fn decimal(params: &Params, key: &str) -> Result<Decimal, SimError> {
    Decimal::from_str(params.require(key)?).map_err(|_| SimError::mandatory(key))
}

fn order_ref(params: &Params) -> Result<OrderRef, SimError> {
    if let Some(id) = params.get("orderId") {
        return id
            .parse()
            .map(OrderRef::ExchangeId)
            .map_err(|_| SimError::mandatory("orderId"));
    }
    match params.get("origClientOrderId").map(ClientOrderId::new) {
        Some(Ok(id)) => Ok(OrderRef::ClientId(id)),
        // Binance answers an id it never issued as an unknown order
        Some(Err(_)) => Err(from_exchange(&ExchangeError::no_such_order())),
        None => Err(SimError::bad_request(
            -1102,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        )),
    }
}

/// The answer Binance gives for what the paper book refused.
fn from_exchange(error: &ExchangeError) -> SimError {
    let message = match error {
        ExchangeError::InsufficientBalance { message }
        | ExchangeError::DuplicateOrder { message }
        | ExchangeError::OrderRejected { message }
        | ExchangeError::CancelRejected { message }
        | ExchangeError::NoSuchOrder { message }
        | ExchangeError::Api { message, .. } => message.clone(),
        other => other.to_string(),
    };
    SimError::bad_request(error.code().unwrap_or(-1000), message)
}

fn json_response(status: StatusCode, value: &Value, weight: u64) -> Response {
    let mut response = (status, value.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(value) = HeaderValue::from_str(&weight.to_string()) {
        headers.insert("x-mbx-used-weight-1m", value);
    }
    response
}

fn error_response(error: &SimError, weight: u64) -> Response {
    let body = serde_json::json!({"code": error.code, "msg": error.msg});
    json_response(error.status, &body, weight)
}

fn retry_after(mut response: Response, secs: u64) -> Response {
    if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert("retry-after", value);
    }
    response
}

/// A response whose body fails at once: the server drops the connection and the client
/// never gets an answer.
fn lost_response() -> Response {
    let body = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("simulated lost response"))
    });
    Response::new(Body::from_stream(body))
}
