use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, Stream, StreamExt};
use levibot_core::{Bar, Clock, Interval, LiveClock, Symbol};
use thiserror::Error;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use super::messages::{MarketEvent, ParseError, RejectReason, parse_message};
use super::streams::{StreamName, combined_stream_url, plan_connections};
use crate::metrics::{ExchangeMetrics, ReconnectReason};

/// What the WebSocket source subscribes to and how it keeps connections alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsConfig {
    /// Base URL: [`LIVE_WS_URL`](super::LIVE_WS_URL), [`TESTNET_WS_URL`](super::TESTNET_WS_URL),
    /// or `ws://127.0.0.1:<port>` for the simulator.
    pub base_url: String,
    /// The symbols.
    pub symbols: Vec<Symbol>,
    /// Subscribe to `<symbol>@kline_<interval>` (`None`: no klines).
    pub kline_interval: Option<Interval>,
    /// Subscribe to `<symbol>@trade`.
    pub trades: bool,
    /// Streams per connection; more streams open more connections (Binance allows 1024).
    pub max_streams_per_connection: usize,
    /// Reconnect proactively when a connection is this old (Binance closes them at 24 h).
    pub max_connection_age: Duration,
    /// Reconnect when nothing (data, ping) arrived for this long (Binance pings every 20 s).
    pub idle_timeout: Duration,
    /// Give up a connection attempt after this long.
    pub connect_timeout: Duration,
    /// First reconnect delay; doubles per failed attempt up to `backoff_max`, with jitter.
    pub backoff_initial: Duration,
    /// Largest reconnect delay.
    pub backoff_max: Duration,
    /// Events buffered between the connections and the consumer.
    pub channel_capacity: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            base_url: super::LIVE_WS_URL.to_owned(),
            symbols: Vec::new(),
            kline_interval: Some(Interval::M1),
            trades: true,
            max_streams_per_connection: super::MAX_STREAMS_PER_CONNECTION,
            max_connection_age: Duration::from_secs(23 * 3600 + 30 * 60),
            idle_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            channel_capacity: 65_536,
        }
    }
}

impl WsConfig {
    /// The stream names, per symbol: kline first, then trade.
    #[must_use]
    pub fn streams(&self) -> Vec<StreamName> {
        let mut streams = Vec::new();
        for symbol in &self.symbols {
            if let Some(interval) = self.kline_interval {
                streams.push(StreamName::kline(*symbol, interval));
            }
            if self.trades {
                streams.push(StreamName::trade(*symbol));
            }
        }
        streams
    }
}

/// Why the source could not start.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WsError {
    /// No symbol or no stream kind configured.
    #[error("nothing to subscribe to: configure symbols and klines and/or trades")]
    NoStreams,
    /// The base URL is not `ws://` or `wss://`.
    #[error("websocket base url {0:?} is not ws:// or wss://")]
    InvalidUrl(String),
    /// TLS could not be set up.
    #[error("tls set-up failed: {0}")]
    Tls(String),
}

/// The live Binance market-stream source: one task per connection (streams split by
/// [`WsConfig::max_streams_per_connection`]), all feeding one channel of [`MarketEvent`]s.
///
/// Each connection answers pings with pongs echoing the payload (tungstenite queues the pong
/// when it reads the ping; the source flushes it at once), reconnects with exponential backoff
/// and jitter after a failure, reconnects at once when the server announces `serverShutdown` or
/// the connection reaches its maximum age, and when nothing arrives for the idle timeout. The
/// streams are in the URL, so every reconnect resubscribes to all of them. Messages that fail
/// to parse are counted by reason and skipped; the connection stays up.
///
/// Closed bars missed while disconnected are not recovered here: feed [`bars_only`] into a
/// [`GapFiller`](crate::GapFiller), which backfills them over REST.
#[derive(Debug)]
pub struct BinanceWsSource {
    tasks: JoinSet<()>,
    shutdown: CancellationToken,
}

impl BinanceWsSource {
    /// Starts the connections; events arrive on the returned receiver until `shutdown` is
    /// cancelled (or [`BinanceWsSource::shutdown`] is called).
    ///
    /// # Errors
    ///
    /// Fails if there is nothing to subscribe to, the URL scheme is wrong, or TLS cannot be set
    /// up.
    pub fn start(
        config: WsConfig,
        metrics: &ExchangeMetrics,
        shutdown: CancellationToken,
    ) -> Result<(Self, mpsc::Receiver<MarketEvent>), WsError> {
        let streams = config.streams();
        if streams.is_empty() {
            return Err(WsError::NoStreams);
        }
        let base = config.base_url.trim_end_matches('/');
        if !(base.starts_with("ws://") || base.starts_with("wss://")) {
            return Err(WsError::InvalidUrl(config.base_url.clone()));
        }
        let tls = crate::tls::client_config().map_err(|e| WsError::Tls(e.to_string()))?;
        let connector = Connector::Rustls(Arc::new(tls));
        let (tx, rx) = mpsc::channel(config.channel_capacity.max(1));
        let config = Arc::new(config);
        let clock: Arc<dyn Clock> = Arc::new(LiveClock::new());
        let mut tasks = JoinSet::new();
        for (index, plan) in plan_connections(&streams, config.max_streams_per_connection)
            .into_iter()
            .enumerate()
        {
            let connection = Connection {
                index,
                url: combined_stream_url(&config.base_url, &plan),
                streams: plan.len(),
                config: Arc::clone(&config),
                connector: connector.clone(),
                metrics: metrics.clone(),
                tx: tx.clone(),
                clock: Arc::clone(&clock),
                shutdown: shutdown.clone(),
            };
            tasks.spawn(connection.run());
        }
        Ok((Self { tasks, shutdown }, rx))
    }

    /// Connections (tasks) this source runs.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.tasks.len()
    }

    /// Stops every connection (closing the sockets) and waits for the tasks to end.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// The closed bars among `events` (trades, kline updates and the rest are dropped), ready for
/// [`GapFiller::fill`](crate::GapFiller::fill).
pub fn bars_only(events: mpsc::Receiver<MarketEvent>) -> impl Stream<Item = Bar> + Send {
    tokio_stream::wrappers::ReceiverStream::new(events).filter_map(|event| async move {
        match event {
            MarketEvent::Bar(bar) => Some(bar.bar),
            _ => None,
        }
    })
}

/// How one connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Shutdown,
    Reconnect(ReconnectReason),
}

struct Connection {
    index: usize,
    url: String,
    streams: usize,
    config: Arc<WsConfig>,
    connector: Connector,
    metrics: ExchangeMetrics,
    tx: mpsc::Sender<MarketEvent>,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
}

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

impl Connection {
    async fn run(self) {
        let mut backoff = self.config.backoff_initial;
        let mut first = true;
        loop {
            if self.shutdown.is_cancelled() {
                return;
            }
            let socket = tokio::select! {
                () = self.shutdown.cancelled() => return,
                socket = self.connect() => socket,
            };
            let socket = match socket {
                Ok(socket) => socket,
                Err(error) => {
                    tracing::warn!(
                        connection = self.index,
                        %error,
                        delay_ms = millis(backoff),
                        "websocket connect failed",
                    );
                    self.metrics
                        .record_reconnect(ReconnectReason::ConnectFailed);
                    if !self.sleep(jitter(backoff)).await {
                        return;
                    }
                    backoff = (backoff * 2).min(self.config.backoff_max);
                    continue;
                }
            };
            tracing::info!(
                connection = self.index,
                streams = self.streams,
                resubscribed = !first,
                "websocket connected"
            );
            first = false;
            self.metrics.connection_opened();
            let connected_at = Instant::now();
            let ended = self.pump(socket, connected_at).await;
            self.metrics.connection_closed();
            let reason = match ended {
                Ended::Shutdown => return,
                Ended::Reconnect(reason) => reason,
            };
            self.metrics.record_reconnect(reason);
            // a connection that lived a while resets the backoff: this is a new incident
            if connected_at.elapsed() >= self.config.backoff_max.max(Duration::from_secs(1)) {
                backoff = self.config.backoff_initial;
            }
            match reason {
                ReconnectReason::MaxAge | ReconnectReason::ServerShutdown => {
                    tracing::info!(
                        connection = self.index,
                        reason = reason.as_str(),
                        "websocket reconnecting"
                    );
                    backoff = self.config.backoff_initial;
                }
                _ => {
                    tracing::warn!(
                        connection = self.index,
                        reason = reason.as_str(),
                        delay_ms = millis(backoff),
                        "websocket lost, reconnecting"
                    );
                    if !self.sleep(jitter(backoff)).await {
                        return;
                    }
                    backoff = (backoff * 2).min(self.config.backoff_max);
                }
            }
        }
    }

    async fn connect(&self) -> Result<Socket, String> {
        let connect = tokio_tungstenite::connect_async_tls_with_config(
            self.url.as_str(),
            Some(WebSocketConfig::default()),
            true,
            Some(self.connector.clone()),
        );
        match tokio::time::timeout(self.config.connect_timeout, connect).await {
            Ok(Ok((socket, _response))) => Ok(socket),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!("timed out after {:?}", self.config.connect_timeout)),
        }
    }

    /// Reads one connection until it must be replaced or the source stops.
    async fn pump(&self, mut socket: Socket, connected_at: Instant) -> Ended {
        let max_age = tokio::time::sleep_until(connected_at + self.config.max_connection_age);
        tokio::pin!(max_age);
        let idle = tokio::time::sleep(self.config.idle_timeout);
        tokio::pin!(idle);
        loop {
            let message = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => {
                    close(&mut socket).await;
                    return Ended::Shutdown;
                }
                () = &mut max_age => {
                    close(&mut socket).await;
                    return Ended::Reconnect(ReconnectReason::MaxAge);
                }
                () = &mut idle => {
                    tracing::warn!(
                        connection = self.index,
                        timeout_ms = millis(self.config.idle_timeout),
                        "websocket idle, reconnecting",
                    );
                    return Ended::Reconnect(ReconnectReason::Idle);
                }
                message = socket.next() => message,
            };
            idle.as_mut()
                .reset(Instant::now() + self.config.idle_timeout);
            let message = match message {
                None => return Ended::Reconnect(ReconnectReason::Disconnected),
                Some(Err(error)) => {
                    tracing::warn!(connection = self.index, %error, "websocket read failed");
                    return Ended::Reconnect(ReconnectReason::Disconnected);
                }
                Some(Ok(message)) => message,
            };
            match message {
                Message::Text(text) => {
                    let parsed = parse_message(text.as_str(), self.clock.now());
                    self.metrics.record_parse(&parsed);
                    match parsed {
                        Ok(MarketEvent::ServerShutdown(event)) => {
                            tracing::info!(connection = self.index, "server announced shutdown");
                            let _ = self.tx.try_send(MarketEvent::ServerShutdown(event));
                            close(&mut socket).await;
                            return Ended::Reconnect(ReconnectReason::ServerShutdown);
                        }
                        Ok(MarketEvent::Ignored(_)) => {}
                        Ok(event) => {
                            let sent = tokio::select! {
                                () = self.shutdown.cancelled() => Err(()),
                                sent = self.tx.send(event) => sent.map_err(drop),
                            };
                            if sent.is_err() {
                                close(&mut socket).await;
                                return Ended::Shutdown;
                            }
                        }
                        Err(err) => {
                            tracing::debug!(
                                connection = self.index,
                                reason = err.reason.as_str(),
                                detail = %err.detail,
                                "message rejected",
                            );
                        }
                    }
                }
                Message::Ping(_) => {
                    // tungstenite queued the pong (same payload) while reading; send it now
                    if let Err(error) = socket.flush().await {
                        tracing::warn!(connection = self.index, %error, "pong failed");
                        return Ended::Reconnect(ReconnectReason::Disconnected);
                    }
                }
                Message::Binary(_) => {
                    self.metrics.record_parse(&Err(ParseError::new(
                        RejectReason::WrongType,
                        "binary frame",
                    )));
                }
                Message::Close(frame) => {
                    tracing::info!(
                        connection = self.index,
                        ?frame,
                        "server closed the websocket"
                    );
                    return Ended::Reconnect(ReconnectReason::Disconnected);
                }
                Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    /// Sleeps unless the source stops first; returns whether to go on.
    async fn sleep(&self, delay: Duration) -> bool {
        tokio::select! {
            () = self.shutdown.cancelled() => false,
            () = tokio::time::sleep(delay) => true,
        }
    }
}

async fn close(socket: &mut Socket) {
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.close(None)).await;
}

/// Equal jitter: half the delay, plus a random part of the other half.
fn jitter(delay: Duration) -> Duration {
    delay / 2 + delay.mul_f64(fastrand::f64() / 2.0)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use levibot_telemetry::metrics::Registry;

    #[test]
    fn jitter_stays_within_half_and_full() {
        for _ in 0..1000 {
            let d = jitter(Duration::from_millis(1000));
            assert!(
                d >= Duration::from_millis(500) && d <= Duration::from_millis(1000),
                "{d:?}"
            );
        }
    }

    #[test]
    fn streams_per_symbol() {
        let config = WsConfig {
            symbols: vec![
                Symbol::new("BTCUSDT").unwrap(),
                Symbol::new("ETHUSDT").unwrap(),
            ],
            ..WsConfig::default()
        };
        let names: Vec<String> = config.streams().iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "btcusdt@kline_1m",
                "btcusdt@trade",
                "ethusdt@kline_1m",
                "ethusdt@trade"
            ]
        );
    }

    #[tokio::test]
    async fn refuses_bad_configs() {
        let metrics = ExchangeMetrics::new(&Registry::new()).unwrap();
        let none = WsConfig::default();
        assert_eq!(
            BinanceWsSource::start(none, &metrics, CancellationToken::new()).unwrap_err(),
            WsError::NoStreams
        );
        let http = WsConfig {
            base_url: "http://x".into(),
            symbols: vec![Symbol::new("BTCUSDT").unwrap()],
            ..WsConfig::default()
        };
        assert!(matches!(
            BinanceWsSource::start(http, &metrics, CancellationToken::new()),
            Err(WsError::InvalidUrl(_))
        ));
    }

    #[tokio::test]
    async fn splits_connections_and_stops_on_shutdown() {
        let metrics = ExchangeMetrics::new(&Registry::new()).unwrap();
        // nothing listens on port 9 of localhost: connections fail and back off
        let config = WsConfig {
            base_url: "ws://127.0.0.1:9".into(),
            symbols: vec![
                Symbol::new("BTCUSDT").unwrap(),
                Symbol::new("ETHUSDT").unwrap(),
            ],
            max_streams_per_connection: 2,
            backoff_initial: Duration::from_millis(10),
            ..WsConfig::default()
        };
        let (source, _rx) =
            BinanceWsSource::start(config, &metrics, CancellationToken::new()).unwrap();
        assert_eq!(source.connections(), 2);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(metrics.reconnects(ReconnectReason::ConnectFailed) >= 2);
        tokio::time::timeout(Duration::from_secs(2), source.shutdown())
            .await
            .unwrap();
    }
}
