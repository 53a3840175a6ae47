use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use levibot_core::{Bar, Interval, Price, Quantity, Symbol, TimestampMs};
use serde::Deserialize;
use serde_json::value::RawValue;
use thiserror::Error;

use crate::gap_filler::{BackfillError, BackfillSource};
use crate::metrics::ExchangeMetrics;

/// Binance's maximum `limit` for `GET /api/v3/klines`.
pub const KLINES_MAX_LIMIT: u16 = 1000;
/// Largest response body accepted (1000 klines are about 150 KB).
pub(crate) const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Retry-After used when a 429/418 carries no usable header.
pub(crate) const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The hyper client every REST call goes through: rustls (ring) for `https://`, plain TCP for
/// `http://` (the simulator), HTTP/1.1, bodiless requests (Binance takes every parameter in the
/// query string).
pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Builds an [`HttpClient`] (no connection is made yet).
pub(crate) fn http_client() -> Result<HttpClient, rustls::Error> {
    let tls = crate::tls::client_config()?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// Where and how the REST client connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestConfig {
    /// Base URL: [`LIVE_REST_URL`](super::LIVE_REST_URL), the testnet, or
    /// `http://127.0.0.1:<port>` for the simulator.
    pub base_url: String,
    /// Timeout of one request, body included.
    pub timeout: Duration,
}

impl Default for RestConfig {
    fn default() -> Self {
        Self {
            base_url: super::LIVE_REST_URL.to_owned(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// A failed REST call. [`RestError::retry_after`] says when the caller may try again after a
/// rate limit; [`RestError::is_transient`] which errors are worth retrying at all.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RestError {
    /// HTTP 429: a request-rate limit was broken; back off for `retry_after`.
    #[error("rate limited (HTTP 429), retry after {retry_after:?}")]
    RateLimited {
        /// From the `Retry-After` header (60 s when absent).
        retry_after: Duration,
    },
    /// HTTP 418: the IP is banned for continuing after 429s; the ban ends after `retry_after`.
    #[error("IP banned (HTTP 418), retry after {retry_after:?}")]
    Banned {
        /// From the `Retry-After` header (60 s when absent).
        retry_after: Duration,
    },
    /// Any other non-success status; `code` and `message` come from Binance's error body.
    #[error("HTTP {status}: {message} (code {code:?})")]
    Status {
        /// The HTTP status.
        status: u16,
        /// Binance's error code, e.g. -1121 for an invalid symbol.
        code: Option<i64>,
        /// Binance's message, or the start of the body.
        message: String,
    },
    /// No complete response within the configured timeout.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// Connecting, TLS or reading failed.
    #[error("transport error: {0}")]
    Transport(String),
    /// The body was not what the endpoint returns.
    #[error("undecodable response: {0}")]
    Decode(String),
    /// The client could not be built or the URL is unusable.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl RestError {
    /// How long the exchange asked us to wait, for 429 and 418.
    #[must_use]
    pub const fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::Banned { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// Whether trying again later may succeed (rate limits, timeouts, transport errors, 5xx).
    #[must_use]
    pub const fn is_transient(&self) -> bool {
        match self {
            Self::RateLimited { .. }
            | Self::Banned { .. }
            | Self::Timeout(_)
            | Self::Transport(_) => true,
            Self::Status { status, .. } => *status >= 500,
            Self::Decode(_) | Self::InvalidRequest(_) => false,
        }
    }

    const fn outcome(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::Banned { .. } => "banned",
            Self::Status { .. } => "http_error",
            Self::Timeout(_) | Self::Transport(_) | Self::InvalidRequest(_) => "transport_error",
            Self::Decode(_) => "decode_error",
        }
    }
}

/// A Binance spot REST client for market data: klines (paged), ping and server time.
///
/// Reads `X-MBX-USED-WEIGHT-1M` from every response ([`RestClient::used_weight_1m`], and the
/// `exchange_rest_used_weight_1m` gauge). Cloning shares the connection pool.
#[derive(Debug, Clone)]
pub struct RestClient {
    base_url: Arc<str>,
    timeout: Duration,
    http: HttpClient,
    used_weight: Arc<AtomicU64>,
    metrics: ExchangeMetrics,
}

/// Binance's error body, `{"code":-1121,"msg":"Invalid symbol."}`.
#[derive(Deserialize)]
pub(crate) struct BinanceErrorBody<'a> {
    pub(crate) code: Option<i64>,
    #[serde(borrow)]
    pub(crate) msg: Option<&'a str>,
}

#[derive(Deserialize)]
struct ServerTime {
    #[serde(rename = "serverTime")]
    server_time: i64,
}

impl RestClient {
    /// Builds a client (no connection is made yet).
    ///
    /// # Errors
    ///
    /// Fails if the base URL is not `http://` or `https://`, or TLS cannot be set up.
    pub fn new(config: &RestConfig, metrics: ExchangeMetrics) -> Result<Self, RestError> {
        let base_url = config.base_url.trim_end_matches('/');
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(RestError::InvalidRequest(format!(
                "base url {base_url:?} is not http(s)"
            )));
        }
        let http = http_client().map_err(|e| RestError::InvalidRequest(e.to_string()))?;
        Ok(Self {
            base_url: Arc::from(base_url),
            timeout: config.timeout,
            http,
            used_weight: Arc::new(AtomicU64::new(0)),
            metrics,
        })
    }

    /// The base URL requests go to.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The request weight used in the current minute, as of the last response
    /// (`X-MBX-USED-WEIGHT-1M`); 0 before the first.
    #[must_use]
    pub fn used_weight_1m(&self) -> u64 {
        self.used_weight.load(Ordering::Relaxed)
    }

    /// `GET /api/v3/ping`.
    ///
    /// # Errors
    ///
    /// See [`RestError`].
    pub async fn ping(&self) -> Result<(), RestError> {
        self.get("/api/v3/ping").await.map(drop)
    }

    /// `GET /api/v3/time`: the exchange's clock.
    ///
    /// # Errors
    ///
    /// See [`RestError`].
    pub async fn server_time(&self) -> Result<TimestampMs, RestError> {
        let body = self.get("/api/v3/time").await?;
        let time: ServerTime =
            serde_json::from_slice(&body).map_err(|e| RestError::Decode(e.to_string()))?;
        Ok(TimestampMs::new(time.server_time))
    }

    /// One page of `GET /api/v3/klines` (at most [`KLINES_MAX_LIMIT`] rows), oldest first, and
    /// the number of rows the exchange returned. Rows that do not make a valid bar are skipped
    /// and counted (`outcome="bad_row"`). Without `start`, Binance returns the newest rows.
    ///
    /// # Errors
    ///
    /// See [`RestError`]; 429 and 418 come back as [`RestError::RateLimited`] and
    /// [`RestError::Banned`] with the server's `Retry-After`.
    pub async fn klines_page(
        &self,
        symbol: Symbol,
        interval: Interval,
        start: Option<TimestampMs>,
        end: Option<TimestampMs>,
        limit: u16,
    ) -> Result<(Vec<Bar>, usize), RestError> {
        let mut path = format!(
            "/api/v3/klines?symbol={}&interval={}&limit={}",
            symbol.as_str(),
            interval.as_str(),
            limit.clamp(1, KLINES_MAX_LIMIT)
        );
        if let Some(start) = start {
            path.push_str(&format!("&startTime={start}"));
        }
        if let Some(end) = end {
            path.push_str(&format!("&endTime={end}"));
        }
        let body = self.get(&path).await?;
        let rows: Vec<Vec<&RawValue>> =
            serde_json::from_slice(&body).map_err(|e| RestError::Decode(e.to_string()))?;
        let row_count = rows.len();
        let mut bars = Vec::with_capacity(row_count);
        for row in &rows {
            match parse_kline_row(row, symbol, interval) {
                Some(bar) => bars.push(bar),
                None => {
                    tracing::warn!(
                        %symbol,
                        %interval,
                        "skipping a kline row that is not a valid bar",
                    );
                    self.metrics.record_rest_request("bad_row");
                }
            }
        }
        Ok((bars, row_count))
    }

    /// Every kline of `symbol` and `interval` whose open time is in `start..=end`, paging by
    /// 1000 from `start`. A page with fewer rows than asked for ends the walk. Bars whose
    /// period has not ended yet are not filtered out: ask for ranges in the past.
    ///
    /// # Errors
    ///
    /// The first failing page's error; bars of earlier pages are dropped with it (the caller
    /// retries the whole range).
    pub async fn klines(
        &self,
        symbol: Symbol,
        interval: Interval,
        start: TimestampMs,
        end: TimestampMs,
    ) -> Result<Vec<Bar>, RestError> {
        let mut out: Vec<Bar> = Vec::new();
        let mut cursor = start;
        while cursor <= end {
            let (page, rows) = self
                .klines_page(symbol, interval, Some(cursor), Some(end), KLINES_MAX_LIMIT)
                .await?;
            let next = page
                .last()
                .and_then(|b| b.open_time().checked_add_ms(interval.duration_ms()));
            out.extend(
                page.into_iter()
                    .filter(|b| b.open_time() >= cursor && b.open_time() <= end),
            );
            match next {
                Some(next) if next > cursor && rows >= usize::from(KLINES_MAX_LIMIT) => {
                    cursor = next;
                }
                _ => break,
            }
        }
        Ok(out)
    }

    async fn get(&self, path_and_query: &str) -> Result<Bytes, RestError> {
        let result = tokio::time::timeout(self.timeout, self.get_inner(path_and_query))
            .await
            .unwrap_or(Err(RestError::Timeout(self.timeout)));
        match &result {
            Ok(_) => self.metrics.record_rest_request("ok"),
            Err(err) => self.metrics.record_rest_request(err.outcome()),
        }
        result
    }

    async fn get_inner(&self, path_and_query: &str) -> Result<Bytes, RestError> {
        let uri: http::Uri = format!("{}{path_and_query}", self.base_url)
            .parse()
            .map_err(|e: http::uri::InvalidUri| RestError::InvalidRequest(e.to_string()))?;
        let response = self
            .http
            .get(uri)
            .await
            .map_err(|e| RestError::Transport(error_chain(&e)))?;
        let (parts, body) = response.into_parts();
        if let Some(weight) = header_u64(&parts.headers, "x-mbx-used-weight-1m") {
            self.used_weight.store(weight, Ordering::Relaxed);
            self.metrics.set_rest_used_weight(weight);
        }
        let retry_after = header_u64(&parts.headers, "retry-after")
            .map_or(DEFAULT_RETRY_AFTER, Duration::from_secs);
        match parts.status.as_u16() {
            429 => return Err(RestError::RateLimited { retry_after }),
            418 => return Err(RestError::Banned { retry_after }),
            _ => {}
        }
        let bytes = Limited::new(body, MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|e| RestError::Transport(e.to_string()))?
            .to_bytes();
        if !parts.status.is_success() {
            let (code, message) = match serde_json::from_slice::<BinanceErrorBody<'_>>(&bytes) {
                Ok(err) => (err.code, err.msg.unwrap_or_default().to_owned()),
                Err(_) => (
                    None,
                    String::from_utf8_lossy(&bytes).chars().take(200).collect(),
                ),
            };
            return Err(RestError::Status {
                status: parts.status.as_u16(),
                code,
                message,
            });
        }
        Ok(bytes)
    }
}

pub(crate) fn header_u64(headers: &http::HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// `[openTime, open, high, low, close, volume, closeTime, …]` → a bar.
fn parse_kline_row(row: &[&RawValue], symbol: Symbol, interval: Interval) -> Option<Bar> {
    let field = |i: usize| row.get(i).map(|raw| raw.get());
    let open_time: i64 = serde_json::from_str(field(0)?).ok()?;
    let decimal = |i: usize| -> Option<&str> { serde_json::from_str::<&str>(field(i)?).ok() };
    Bar::new(
        symbol,
        interval,
        TimestampMs::new(open_time),
        Price::from_str(decimal(1)?).ok()?,
        Price::from_str(decimal(2)?).ok()?,
        Price::from_str(decimal(3)?).ok()?,
        Price::from_str(decimal(4)?).ok()?,
        Quantity::from_str(decimal(5)?).ok()?,
    )
    .ok()
}

impl BackfillSource for RestClient {
    async fn fetch_bars(
        &self,
        symbol: Symbol,
        interval: Interval,
        start: TimestampMs,
        end: TimestampMs,
    ) -> Result<Vec<Bar>, BackfillError> {
        self.klines(symbol, interval, start, end)
            .await
            .map_err(|err| match err.retry_after() {
                Some(retry_after) => BackfillError::RateLimited { retry_after },
                None => BackfillError::Failed(err.to_string()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binance_rows() {
        let json = r#"[[1499040000000,"0.01634790","0.80000000","0.01575800","0.01577100","148976.11427815",1499644799999,"2434.19055334",308,"1756.87402397","28.46694368","0"],[1,"x"]]"#;
        let rows: Vec<Vec<&RawValue>> = serde_json::from_str(json).unwrap();
        let sym = Symbol::new("LTCBTC").unwrap();
        let bar = parse_kline_row(&rows[0], sym, Interval::M1).unwrap();
        assert_eq!(bar.open_time().as_i64(), 1_499_040_000_000);
        assert_eq!(bar.high().to_string(), "0.80000000");
        assert_eq!(bar.volume().to_string(), "148976.11427815");
        assert!(parse_kline_row(&rows[1], sym, Interval::M1).is_none());
    }

    #[test]
    fn errors_say_when_to_retry() {
        let limited = RestError::RateLimited {
            retry_after: Duration::from_secs(3),
        };
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
        assert!(limited.is_transient());
        let bad = RestError::Status {
            status: 400,
            code: Some(-1121),
            message: "Invalid symbol.".into(),
        };
        assert_eq!(bad.retry_after(), None);
        assert!(!bad.is_transient());
        assert_eq!(
            bad.to_string(),
            "HTTP 400: Invalid symbol. (code Some(-1121))"
        );
    }

    #[test]
    fn rejects_non_http_base_urls() {
        let metrics = ExchangeMetrics::new(&levibot_telemetry::metrics::Registry::new()).unwrap();
        let config = RestConfig {
            base_url: "ftp://x".into(),
            ..RestConfig::default()
        };
        assert!(matches!(
            RestClient::new(&config, metrics),
            Err(RestError::InvalidRequest(_))
        ));
    }
}
