use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use http::{HeaderValue, Method};
use http_body_util::{BodyExt, Empty, Limited};
use levibot_core::{Clock, Fill, LiveClock, OrderRequest, OrderType, Symbol, TimestampMs};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;

use super::binance_responses::{AccountJson, OrderJson, ServerTimeJson, TradeJson};
use super::credentials::Credentials;
use super::exchange_error::{CODE_BAD_SYMBOL, ExchangeError};
use super::order_report::{Balance, OrderRef, OrderReport};
use super::signing::{QueryString, SigningKey};
use super::spot_exchange::SpotExchange;
use super::symbol_rules::{SymbolRules, parse_exchange_info};
use crate::binance::rest_client::{
    BinanceErrorBody, DEFAULT_RETRY_AFTER, HttpClient, MAX_BODY_BYTES, error_chain, header_u64,
    http_client,
};

/// Binance's default `recvWindow`.
pub const DEFAULT_RECV_WINDOW: Duration = Duration::from_secs(5);
/// Binance's largest `recvWindow`.
pub const MAX_RECV_WINDOW: Duration = Duration::from_secs(60);
/// The API-key header of SIGNED (and USER_STREAM) endpoints.
pub const API_KEY_HEADER: &str = "X-MBX-APIKEY";
/// Rows asked of `GET /api/v3/myTrades` (its maximum).
const MY_TRADES_LIMIT: u32 = 1000;
const NO_WEIGHT_YET: u64 = u64::MAX;

/// Where and how the spot client connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinanceSpotConfig {
    /// [`LIVE_REST_URL`](crate::binance::LIVE_REST_URL),
    /// [`TESTNET_REST_URL`](crate::binance::TESTNET_REST_URL), or `http://127.0.0.1:<port>`
    /// for the simulator.
    pub base_url: String,
    /// Timeout of one request, body included. Past it the call fails with
    /// [`ExchangeError::Timeout`] (outcome unknown).
    pub timeout: Duration,
    /// `recvWindow` sent with signed requests (at most 60 s).
    pub recv_window: Duration,
}

impl Default for BinanceSpotConfig {
    /// The live exchange, 10 s timeout (Binance's own engine timeout), 5 s `recvWindow`.
    fn default() -> Self {
        Self {
            base_url: crate::binance::LIVE_REST_URL.to_owned(),
            timeout: Duration::from_secs(10),
            recv_window: DEFAULT_RECV_WINDOW,
        }
    }
}

/// Binance spot trading over signed REST (HMAC-SHA256): orders placed with our client order
/// id and `newOrderRespType=FULL`, cancels, queries (fills from `myTrades`), open orders,
/// balances.
///
/// Every request carries `timestamp` = local clock + the server offset measured with
/// `GET /api/v3/time` (before the first signed call, and again after any `-1021`).
/// `X-MBX-USED-WEIGHT-1M` of every answer is kept ([`BinanceSpotClient::used_weight_1m`]).
/// Cloning shares the connection pool, the clock offset and the weight.
#[derive(Clone)]
pub struct BinanceSpotClient {
    base_url: Arc<str>,
    timeout: Duration,
    recv_window_ms: u64,
    http: HttpClient,
    api_key: HeaderValue,
    key: SigningKey,
    offset_ms: Arc<AtomicI64>,
    synced: Arc<AtomicBool>,
    used_weight: Arc<AtomicU64>,
}

impl fmt::Debug for BinanceSpotClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BinanceSpotClient")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("recv_window_ms", &self.recv_window_ms)
            .field("credentials", &"[redacted]")
            .field("offset_ms", &self.server_time_offset_ms())
            .field("used_weight_1m", &self.used_weight_1m())
            .finish_non_exhaustive()
    }
}

impl BinanceSpotClient {
    /// Builds a client (no connection is made yet).
    ///
    /// # Errors
    ///
    /// [`ExchangeError::InvalidRequest`] if the base URL is not `http(s)://`, the `recvWindow`
    /// is 0 or above 60 s, the API key cannot be a header, or TLS cannot be set up.
    pub fn new(
        config: &BinanceSpotConfig,
        credentials: &Credentials,
    ) -> Result<Self, ExchangeError> {
        let base_url = config.base_url.trim_end_matches('/');
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(ExchangeError::InvalidRequest(format!(
                "base url {base_url:?} is not http(s)"
            )));
        }
        if config.recv_window.is_zero() || config.recv_window > MAX_RECV_WINDOW {
            return Err(ExchangeError::InvalidRequest(format!(
                "recvWindow must be within (0, 60 s], got {:?}",
                config.recv_window
            )));
        }
        let mut api_key = HeaderValue::from_str(credentials.api_key()).map_err(|_| {
            ExchangeError::InvalidRequest("the API key is not a valid header value".to_owned())
        })?;
        api_key.set_sensitive(true);
        let http = http_client().map_err(|e| ExchangeError::InvalidRequest(e.to_string()))?;
        Ok(Self {
            base_url: Arc::from(base_url),
            timeout: config.timeout,
            recv_window_ms: u64::try_from(config.recv_window.as_millis()).unwrap_or(60_000),
            http,
            api_key,
            key: SigningKey::new(credentials.api_secret()),
            offset_ms: Arc::new(AtomicI64::new(0)),
            synced: Arc::new(AtomicBool::new(false)),
            used_weight: Arc::new(AtomicU64::new(NO_WEIGHT_YET)),
        })
    }

    /// The base URL requests go to.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `X-MBX-USED-WEIGHT-1M` of the last answer that had it; `None` before the first.
    #[must_use]
    pub fn used_weight_1m(&self) -> Option<u64> {
        match self.used_weight.load(Ordering::Relaxed) {
            NO_WEIGHT_YET => None,
            weight => Some(weight),
        }
    }

    /// Server clock − local clock, ms, as last measured (0 before).
    #[must_use]
    pub fn server_time_offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Measures the server clock offset with `GET /api/v3/time` (weight 1), against the
    /// midpoint of the round trip; returns it.
    ///
    /// # Errors
    ///
    /// See [`ExchangeError`].
    pub async fn sync_time(&self) -> Result<i64, ExchangeError> {
        let clock = LiveClock::new();
        let before = clock.now().as_i64();
        let time: ServerTimeJson = decode(
            &self
                .send(Method::GET, "/api/v3/time", &QueryString::new(), false)
                .await?,
        )?;
        let after = clock.now().as_i64();
        let offset = time.server_time - (before + (after - before) / 2);
        self.offset_ms.store(offset, Ordering::Relaxed);
        self.synced.store(true, Ordering::Relaxed);
        tracing::debug!(offset_ms = offset, "binance server clock offset measured");
        Ok(offset)
    }

    /// `POST /api/v3/order` (weight 1) with `newClientOrderId` = the request's client order id
    /// and `newOrderRespType=FULL`: the report lists the fills made on placement.
    ///
    /// # Errors
    ///
    /// See [`ExchangeError`]; on [`ExchangeError::outcome_unknown`] query by client order id
    /// before retrying.
    pub async fn place_order(&self, request: &OrderRequest) -> Result<OrderReport, ExchangeError> {
        let mut query = QueryString::new();
        query
            .push("symbol", request.symbol())
            .push("side", request.side().as_str());
        match request.order_type() {
            OrderType::Market => {
                query.push("type", "MARKET");
            }
            OrderType::Limit {
                price,
                time_in_force,
            } => {
                query
                    .push("type", "LIMIT")
                    .push("timeInForce", time_in_force.as_str())
                    .push("price", price.value().normalize());
            }
        }
        query
            .push("quantity", request.quantity().value().normalize())
            .push("newClientOrderId", request.client_order_id())
            .push("newOrderRespType", "FULL");
        let body = self.signed(Method::POST, "/api/v3/order", query).await?;
        decode::<OrderJson>(&body)?.into_report(now())
    }

    /// `DELETE /api/v3/order` (weight 1); when the order had fills, also fetches them
    /// (`myTrades`, weight 5).
    ///
    /// # Errors
    ///
    /// [`ExchangeError::CancelRejected`] if the order is not open; see [`ExchangeError`].
    pub async fn cancel_order(
        &self,
        symbol: Symbol,
        order: &OrderRef,
    ) -> Result<OrderReport, ExchangeError> {
        let body = self
            .signed(Method::DELETE, "/api/v3/order", order_query(symbol, order))
            .await?;
        self.with_fills(decode::<OrderJson>(&body)?).await
    }

    /// `GET /api/v3/order` (weight 4); when the order has fills, also fetches them
    /// (`myTrades`, weight 5).
    ///
    /// # Errors
    ///
    /// [`ExchangeError::NoSuchOrder`] if the exchange does not know it; see [`ExchangeError`].
    pub async fn query_order(
        &self,
        symbol: Symbol,
        order: &OrderRef,
    ) -> Result<OrderReport, ExchangeError> {
        let body = self
            .signed(Method::GET, "/api/v3/order", order_query(symbol, order))
            .await?;
        self.with_fills(decode::<OrderJson>(&body)?).await
    }

    /// The fills of the order `report` describes: `GET /api/v3/myTrades?orderId=…`
    /// (weight 5, at most 1000 trades).
    ///
    /// # Errors
    ///
    /// See [`ExchangeError`].
    pub async fn order_fills(&self, report: &OrderReport) -> Result<Vec<Fill>, ExchangeError> {
        let mut query = QueryString::new();
        query
            .push("symbol", report.symbol)
            .push("orderId", report.order_id)
            .push("limit", MY_TRADES_LIMIT);
        let body = self.signed(Method::GET, "/api/v3/myTrades", query).await?;
        let received = now();
        decode::<Vec<TradeJson>>(&body)?
            .into_iter()
            .filter_map(|trade| trade.into_fill(report, received))
            .collect()
    }

    /// `GET /api/v3/openOrders` (weight 6 with a symbol, 80 without), without fills. Orders
    /// LeviBot cannot represent (a client order id outside `[A-Za-z0-9_-]{1,36}`) are skipped
    /// with a warning.
    ///
    /// # Errors
    ///
    /// See [`ExchangeError`].
    pub async fn open_orders(
        &self,
        symbol: Option<Symbol>,
    ) -> Result<Vec<OrderReport>, ExchangeError> {
        let mut query = QueryString::new();
        if let Some(symbol) = symbol {
            query.push("symbol", symbol);
        }
        let body = self
            .signed(Method::GET, "/api/v3/openOrders", query)
            .await?;
        let received = now();
        let mut reports = Vec::new();
        for order in decode::<Vec<OrderJson>>(&body)? {
            let order_id = order.order_id();
            match order.into_report(received) {
                Ok(report) => reports.push(report),
                Err(error) => {
                    tracing::warn!(order_id, %error, "skipping an open order LeviBot cannot read");
                }
            }
        }
        Ok(reports)
    }

    /// `GET /api/v3/account?omitZeroBalances=true` (weight 20): the non-zero balances.
    ///
    /// # Errors
    ///
    /// See [`ExchangeError`].
    pub async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        let mut query = QueryString::new();
        query.push("omitZeroBalances", "true");
        let body = self.signed(Method::GET, "/api/v3/account", query).await?;
        Ok(decode::<AccountJson>(&body)?.into_balances())
    }

    /// The trading rules of `symbols` (duplicates count once): `GET /api/v3/exchangeInfo`
    /// with `symbols=["BTCUSDT",…]` (public, unsigned, weight 20 however many symbols). No
    /// symbols: an empty map, without a request.
    ///
    /// # Errors
    ///
    /// - [`ExchangeError::Api`] with code `-1121` if Binance does not know one of them (its
    ///   message "Invalid symbol." followed by the symbols asked for);
    /// - [`ExchangeError::Decode`] naming the symbols missing from the answer, or the symbol and
    ///   filter that is malformed ([`parse_exchange_info`]);
    /// - otherwise see [`ExchangeError`].
    pub async fn symbol_rules(
        &self,
        symbols: &[Symbol],
    ) -> Result<BTreeMap<Symbol, SymbolRules>, ExchangeError> {
        let wanted: BTreeSet<Symbol> = symbols.iter().copied().collect();
        if wanted.is_empty() {
            return Ok(BTreeMap::new());
        }
        let names: Vec<&str> = wanted.iter().map(Symbol::as_str).collect();
        let mut query = QueryString::new();
        query.push("symbols", format!("[\"{}\"]", names.join("\",\"")));
        let body = match self
            .send(Method::GET, "/api/v3/exchangeInfo", &query, false)
            .await
        {
            Err(ExchangeError::Api {
                status,
                code: Some(CODE_BAD_SYMBOL),
                message,
            }) => {
                return Err(ExchangeError::Api {
                    status,
                    code: Some(CODE_BAD_SYMBOL),
                    message: format!("{message} (exchangeInfo of {})", names.join(", ")),
                });
            }
            other => other?,
        };
        let mut rules = parse_exchange_info(&body)?;
        rules.retain(|symbol, _| wanted.contains(symbol));
        let missing: Vec<&str> = wanted
            .iter()
            .filter(|symbol| !rules.contains_key(*symbol))
            .map(Symbol::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(ExchangeError::Decode(format!(
                "exchangeInfo does not list {}",
                missing.join(", ")
            )));
        }
        Ok(rules)
    }

    async fn with_fills(&self, order: OrderJson) -> Result<OrderReport, ExchangeError> {
        let has_fills = order.executed_qty() > Decimal::ZERO;
        let mut report = order.into_report(now())?;
        if has_fills {
            report.fills = self.order_fills(&report).await?;
        }
        Ok(report)
    }

    /// Signs and sends; on `-1021` re-measures the clock offset and reports it.
    async fn signed(
        &self,
        method: Method,
        path: &str,
        mut query: QueryString,
    ) -> Result<Bytes, ExchangeError> {
        if !self.synced.load(Ordering::Relaxed)
            && let Err(error) = self.sync_time().await
        {
            // not fatal: a wrong offset comes back as -1021, which resyncs
            tracing::warn!(%error, "could not measure the binance server clock offset");
        }
        let timestamp = now().as_i64().saturating_add(self.server_time_offset_ms());
        query
            .push("recvWindow", self.recv_window_ms)
            .push("timestamp", timestamp);
        let signature = self.key.sign(query.as_str());
        query.push("signature", signature);
        match self.send(method, path, &query, true).await {
            Err(ExchangeError::InvalidTimestamp { message, .. }) => {
                let offset = match self.sync_time().await {
                    Ok(offset) => Some(offset),
                    Err(error) => {
                        tracing::warn!(%error, "clock resync after -1021 failed");
                        None
                    }
                };
                Err(ExchangeError::InvalidTimestamp {
                    message,
                    server_time_offset_ms: offset,
                })
            }
            other => other,
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &QueryString,
        with_key: bool,
    ) -> Result<Bytes, ExchangeError> {
        tokio::time::timeout(self.timeout, self.send_inner(method, path, query, with_key))
            .await
            .unwrap_or(Err(ExchangeError::Timeout(self.timeout)))
    }

    async fn send_inner(
        &self,
        method: Method,
        path: &str,
        query: &QueryString,
        with_key: bool,
    ) -> Result<Bytes, ExchangeError> {
        let uri = if query.as_str().is_empty() {
            format!("{}{path}", self.base_url)
        } else {
            format!("{}{path}?{}", self.base_url, query.as_str())
        };
        let mut builder = http::Request::builder().method(method).uri(uri);
        if with_key {
            builder = builder.header(API_KEY_HEADER, self.api_key.clone());
        }
        let request = builder
            .body(Empty::<Bytes>::new())
            .map_err(|e| ExchangeError::InvalidRequest(e.to_string()))?;
        let response = self.http.request(request).await.map_err(|e| {
            if e.is_connect() {
                ExchangeError::Connect(error_chain(&e))
            } else {
                ExchangeError::Transport(error_chain(&e))
            }
        })?;
        let (parts, body) = response.into_parts();
        if let Some(weight) = header_u64(&parts.headers, "x-mbx-used-weight-1m") {
            self.used_weight.store(weight, Ordering::Relaxed);
        }
        let status = parts.status.as_u16();
        let retry_after = header_u64(&parts.headers, "retry-after")
            .map_or(DEFAULT_RETRY_AFTER, Duration::from_secs);
        if matches!(status, 418 | 429) {
            return Err(ExchangeError::from_binance(
                status,
                None,
                String::new(),
                retry_after,
            ));
        }
        let bytes = Limited::new(body, MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|e| ExchangeError::Transport(format!("reading the body: {e}")))?
            .to_bytes();
        if parts.status.is_success() {
            return Ok(bytes);
        }
        let (code, message) = match serde_json::from_slice::<BinanceErrorBody<'_>>(&bytes) {
            Ok(err) => (err.code, err.msg.unwrap_or_default().to_owned()),
            Err(_) => (
                None,
                String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            ),
        };
        Err(ExchangeError::from_binance(
            status,
            code,
            message,
            retry_after,
        ))
    }
}

fn now() -> TimestampMs {
    LiveClock::new().now()
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ExchangeError> {
    serde_json::from_slice(body).map_err(|e| ExchangeError::Decode(e.to_string()))
}

fn order_query(symbol: Symbol, order: &OrderRef) -> QueryString {
    let mut query = QueryString::new();
    query.push("symbol", symbol);
    match order {
        OrderRef::ExchangeId(id) => query.push("orderId", id),
        OrderRef::ClientId(id) => query.push("origClientOrderId", id),
    };
    query
}

impl SpotExchange for BinanceSpotClient {
    fn name(&self) -> &'static str {
        "binance"
    }

    fn place_order<'a>(
        &'a self,
        request: &'a OrderRequest,
    ) -> BoxFuture<'a, Result<OrderReport, ExchangeError>> {
        Self::place_order(self, request).boxed()
    }

    fn cancel_order<'a>(
        &'a self,
        symbol: Symbol,
        order: &'a OrderRef,
    ) -> BoxFuture<'a, Result<OrderReport, ExchangeError>> {
        Self::cancel_order(self, symbol, order).boxed()
    }

    fn query_order<'a>(
        &'a self,
        symbol: Symbol,
        order: &'a OrderRef,
    ) -> BoxFuture<'a, Result<OrderReport, ExchangeError>> {
        Self::query_order(self, symbol, order).boxed()
    }

    fn open_orders(
        &self,
        symbol: Option<Symbol>,
    ) -> BoxFuture<'_, Result<Vec<OrderReport>, ExchangeError>> {
        Self::open_orders(self, symbol).boxed()
    }

    fn balances(&self) -> BoxFuture<'_, Result<Vec<Balance>, ExchangeError>> {
        Self::balances(self).boxed()
    }

    fn symbol_rules<'a>(
        &'a self,
        symbols: &'a [Symbol],
    ) -> BoxFuture<'a, Result<BTreeMap<Symbol, SymbolRules>, ExchangeError>> {
        Self::symbol_rules(self, symbols).boxed()
    }

    fn used_weight_1m(&self) -> Option<u64> {
        Self::used_weight_1m(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials::new("key", "secret")
    }

    #[test]
    fn rejects_bad_settings() {
        let ftp = BinanceSpotConfig {
            base_url: "ftp://x".into(),
            ..BinanceSpotConfig::default()
        };
        assert!(matches!(
            BinanceSpotClient::new(&ftp, &creds()),
            Err(ExchangeError::InvalidRequest(_))
        ));
        let window = BinanceSpotConfig {
            recv_window: Duration::from_secs(61),
            ..BinanceSpotConfig::default()
        };
        assert!(BinanceSpotClient::new(&window, &creds()).is_err());
        let bad_key = Credentials::new("a\nb", "s");
        assert!(BinanceSpotClient::new(&BinanceSpotConfig::default(), &bad_key).is_err());
    }

    #[test]
    fn debug_hides_the_credentials() {
        let client = BinanceSpotClient::new(
            &BinanceSpotConfig::default(),
            &Credentials::new("my-api-key", "my-secret"),
        )
        .unwrap();
        let shown = format!("{client:?}");
        assert!(!shown.contains("my-api-key") && !shown.contains("my-secret"));
        assert!(shown.contains("[redacted]"));
        assert_eq!(client.used_weight_1m(), None);
        assert_eq!(client.base_url(), "https://api.binance.com");
    }

    #[test]
    fn order_queries_name_the_order_the_binance_way() {
        let sym = Symbol::new("BTCUSDT").unwrap();
        assert_eq!(
            order_query(sym, &OrderRef::ExchangeId(12)).as_str(),
            "symbol=BTCUSDT&orderId=12"
        );
        let id = levibot_core::ClientOrderId::new("levi-1").unwrap();
        assert_eq!(
            order_query(sym, &OrderRef::ClientId(id)).as_str(),
            "symbol=BTCUSDT&origClientOrderId=levi-1"
        );
    }
}
