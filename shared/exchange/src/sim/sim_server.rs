use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use levibot_core::{Clock, Interval, LiveClock, Price, Symbol, TimestampMs};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::sim_data::{SimData, SimEvent, SimKline};
use super::sim_symbols::{requested_symbols, symbol_json};
use super::sim_trading::{SimEndpoint, SimFault, SimTrading, SimTradingConfig};
use crate::replay::ReplaySpeed;
use crate::spot::{Balance, PaperBook, SpotCall};

/// How fast the timeline plays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SimPace {
    /// By the messages' own times, at a speed factor (`Max`: no waiting at all, which can
    /// outrun slow clients; they then miss messages, as a lagging client would).
    Speed(ReplaySpeed),
    /// One message every this long, whatever their times (deterministic tests).
    Every(Duration),
}

/// Simulator settings. The fault settings apply to every connection; a [`SimControl`] injects
/// one-off faults.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// How fast the timeline plays.
    pub pace: SimPace,
    /// The server pings every connection this often (Binance: 20 s).
    pub ping_interval: Duration,
    /// A connection whose pong (echoing the ping payload) is this late is closed (Binance: 1 min).
    pub pong_timeout: Duration,
    /// Close every connection (abruptly, no close frame) after this many data messages.
    pub drop_after_messages: Option<u64>,
    /// On every connection, send a malformed frame after each this many data messages (the kinds
    /// take turns).
    pub malformed_every: Option<u64>,
    /// Stop sending anything (data and pings) on a connection after this many data messages,
    /// leaving it open.
    pub stall_after_messages: Option<u64>,
    /// After announcing `serverShutdown`, close the connection this much later.
    pub shutdown_grace: Duration,
    /// Play the timeline again from the start when it ends.
    pub repeat: bool,
    /// Serve a spot account (signed order, account and trade endpoints); `None`: market data
    /// only.
    pub trading: Option<SimTradingConfig>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            pace: SimPace::Speed(ReplaySpeed::Factor(1.0)),
            ping_interval: Duration::from_secs(20),
            pong_timeout: Duration::from_secs(60),
            drop_after_messages: None,
            malformed_every: None,
            stall_after_messages: None,
            shutdown_grace: Duration::from_secs(1),
            repeat: false,
            trading: None,
        }
    }
}

/// A bad frame the simulator can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Malformed {
    /// Truncated JSON.
    MalformedJson,
    /// A trade without its price.
    MissingField,
    /// A trade whose price is a number, not a string.
    WrongType,
    /// A trade with a negative price.
    InvalidValue,
    /// A stream name nobody subscribes to.
    UnknownStream,
}

impl Malformed {
    /// Every kind, in the order `malformed_every` cycles through them.
    pub const ALL: [Self; 5] = [
        Self::MalformedJson,
        Self::MissingField,
        Self::WrongType,
        Self::InvalidValue,
        Self::UnknownStream,
    ];

    /// The frame's text.
    #[must_use]
    pub const fn text(self) -> &'static str {
        match self {
            Self::MalformedJson => r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":17231"#,
            Self::MissingField => {
                r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,"q":"1","T":1,"m":true,"M":true}}"#
            }
            Self::WrongType => {
                r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":61000.5,"q":"1","T":1,"m":true,"M":true}}"#
            }
            Self::InvalidValue => {
                r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"-1","q":"1","T":1,"m":true,"M":true}}"#
            }
            Self::UnknownStream => r#"{"stream":"btcusdt@fundingRate","data":{"e":"fundingRate"}}"#,
        }
    }
}

/// Counters the simulator keeps, for tests and the CLI's summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SimStats {
    /// WebSocket connections accepted.
    pub connections_accepted: u64,
    /// WebSocket connections open now.
    pub connections_open: u64,
    /// Data messages sent, all connections.
    pub messages_sent: u64,
    /// Pings sent.
    pub pings_sent: u64,
    /// Pongs that echoed the outstanding ping.
    pub pongs_ok: u64,
    /// Pongs with another payload.
    pub pongs_mismatched: u64,
    /// Connections closed for not answering a ping in time.
    pub pong_timeouts: u64,
    /// Connections dropped on purpose.
    pub connections_dropped: u64,
    /// Messages a connection missed because it fell behind the timeline.
    pub messages_lagged: u64,
    /// Timeline messages played.
    pub events_played: u64,
    /// `GET /api/v3/klines` requests served (rate-limited ones included).
    pub klines_requests: u64,
    /// `POST /api/v3/order` requests received (faulted and rejected ones included).
    pub order_posts: u64,
    /// Signed trading requests received, all endpoints.
    pub trading_requests: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    connections_accepted: AtomicU64,
    connections_open: AtomicU64,
    messages_sent: AtomicU64,
    pings_sent: AtomicU64,
    pongs_ok: AtomicU64,
    pongs_mismatched: AtomicU64,
    pong_timeouts: AtomicU64,
    connections_dropped: AtomicU64,
    messages_lagged: AtomicU64,
    events_played: AtomicU64,
    klines_requests: AtomicU64,
    pub(crate) order_posts: AtomicU64,
    pub(crate) trading_requests: AtomicU64,
}

pub(crate) fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// What the player and the control handle send to every connection.
#[derive(Debug, Clone)]
enum Frame {
    Event(Arc<SimEvent>),
    Raw(&'static str),
    Stall,
    ServerShutdown,
    Drop,
}

/// Everything the simulator's handlers share.
pub(crate) struct SimState {
    config: SimConfig,
    klines: HashMap<(Symbol, Interval), Vec<SimKline>>,
    frames: broadcast::Sender<Frame>,
    start: Notify,
    started: std::sync::atomic::AtomicBool,
    drop_countdown: AtomicI64,
    rate_limited: Mutex<(u32, u64)>,
    weight: Mutex<(i64, u64)>,
    pub(crate) counters: Counters,
    clock: LiveClock,
    clock_offset_ms: AtomicI64,
    pub(crate) trading: Option<SimTrading>,
    pub(crate) shutdown: CancellationToken,
}

impl SimState {
    /// The server clock: the wall clock moved by the control's offset.
    pub(crate) fn now(&self) -> TimestampMs {
        let offset = self.clock_offset_ms.load(Ordering::Relaxed);
        TimestampMs::new(self.clock.now().as_i64().saturating_add(offset))
    }

    fn start_playing(&self) {
        if !self.started.swap(true, Ordering::AcqRel) {
            self.start.notify_one();
        }
    }
}

/// Handle to steer a running simulator (cloneable).
#[derive(Clone)]
pub struct SimControl {
    state: Arc<SimState>,
}

impl std::fmt::Debug for SimControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimControl")
            .field("stats", &self.stats())
            .finish()
    }
}

impl SimControl {
    /// Starts the timeline now instead of at the first connection.
    pub fn start(&self) {
        self.state.start_playing();
    }

    /// The connection that sends the `n`-th data message from now on is then dropped
    /// (abruptly, without a close frame). One-shot.
    pub fn drop_connection_after(&self, n: u64) {
        self.state.drop_countdown.store(
            i64::try_from(n.max(1)).unwrap_or(i64::MAX),
            Ordering::Release,
        );
    }

    /// Drops every open connection now.
    pub fn drop_connections(&self) {
        let _ = self.state.frames.send(Frame::Drop);
    }

    /// Sends `kind` to every open connection.
    pub fn send_malformed(&self, kind: Malformed) {
        let _ = self.state.frames.send(Frame::Raw(kind.text()));
    }

    /// Open connections stop sending anything (data and pings) and stay open.
    pub fn stall(&self) {
        let _ = self.state.frames.send(Frame::Stall);
    }

    /// Open connections get `{"e":"serverShutdown"}` and are closed after the grace period.
    pub fn server_shutdown(&self) {
        let _ = self.state.frames.send(Frame::ServerShutdown);
    }

    /// The next `n` klines requests get HTTP 429 with `Retry-After: retry_after_secs`.
    pub fn rate_limit_next(&self, n: u32, retry_after_secs: u64) {
        *self
            .state
            .rate_limited
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = (n, retry_after_secs);
    }

    /// The next `n` order placements (`POST /api/v3/order`) fail with `fault`. Faults queue
    /// up in the order given. Needs trading enabled ([`SimConfig::trading`]).
    pub fn fail_next_orders(&self, n: u32, fault: SimFault) {
        self.fail_next_requests(Some(SimEndpoint::PlaceOrder), n, fault);
    }

    /// The next `n` trading requests to `endpoint` (any signed trading endpoint with `None`)
    /// fail with `fault`.
    pub fn fail_next_requests(&self, endpoint: Option<SimEndpoint>, n: u32, fault: SimFault) {
        if let Some(trading) = &self.state.trading {
            trading.add_fault(endpoint, n, fault);
        }
    }

    /// Moves the server clock (`/api/v3/time`, timestamp checks) `offset_ms` away from the
    /// wall clock, to provoke `-1021`.
    pub fn set_clock_offset_ms(&self, offset_ms: i64) {
        self.state
            .clock_offset_ms
            .store(offset_ms, Ordering::Relaxed);
    }

    /// Orders of `symbol` execute at `price` from now on (whatever the timeline plays);
    /// `None` goes back to the timeline's price.
    pub fn set_price(&self, symbol: Symbol, price: Option<Price>) {
        if let Some(trading) = &self.state.trading {
            trading.set_price(symbol, price);
        }
    }

    /// The price orders of `symbol` execute at now.
    #[must_use]
    pub fn price(&self, symbol: Symbol) -> Option<Price> {
        self.state.trading.as_ref()?.price(symbol)
    }

    /// The account's balances (empty without trading).
    #[must_use]
    pub fn balances(&self) -> Vec<Balance> {
        self.with_book(|book| book.balances()).unwrap_or_default()
    }

    /// Runs `f` on the account's book (deposits, inspection); `None` without trading.
    pub fn with_book<R>(&self, f: impl FnOnce(&mut PaperBook) -> R) -> Option<R> {
        let trading = self.state.trading.as_ref()?;
        Some(f(&mut trading.book()))
    }

    /// The counters now.
    #[must_use]
    pub fn stats(&self) -> SimStats {
        let c = &self.state.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SimStats {
            connections_accepted: get(&c.connections_accepted),
            connections_open: get(&c.connections_open),
            messages_sent: get(&c.messages_sent),
            pings_sent: get(&c.pings_sent),
            pongs_ok: get(&c.pongs_ok),
            pongs_mismatched: get(&c.pongs_mismatched),
            pong_timeouts: get(&c.pong_timeouts),
            connections_dropped: get(&c.connections_dropped),
            messages_lagged: get(&c.messages_lagged),
            events_played: get(&c.events_played),
            klines_requests: get(&c.klines_requests),
            order_posts: get(&c.order_posts),
            trading_requests: get(&c.trading_requests),
        }
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct SimServer {
    addr: SocketAddr,
    control: SimControl,
    tasks: JoinSet<()>,
    shutdown: CancellationToken,
    finished: Arc<Notify>,
}

impl SimServer {
    /// Serves `data` on `listener` (bind it to port 0 in tests) until [`SimServer::shutdown`].
    /// With [`SimConfig::trading`] it also serves the signed spot endpoints.
    ///
    /// # Errors
    ///
    /// Fails if the listener's address cannot be read or the trading config is invalid.
    pub fn start(listener: TcpListener, data: SimData, config: SimConfig) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (events, klines) = data.into_parts();
        let trading = config
            .trading
            .as_ref()
            .map(|trading| SimTrading::new(trading, &klines))
            .transpose()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let (frames, _) = broadcast::channel(65_536);
        let shutdown = CancellationToken::new();
        let state = Arc::new(SimState {
            config,
            klines,
            frames,
            start: Notify::new(),
            started: std::sync::atomic::AtomicBool::new(false),
            drop_countdown: AtomicI64::new(-1),
            rate_limited: Mutex::new((0, 0)),
            weight: Mutex::new((0, 0)),
            counters: Counters::default(),
            clock: LiveClock::new(),
            clock_offset_ms: AtomicI64::new(0),
            trading,
            shutdown: shutdown.clone(),
        });
        let mut router = Router::new()
            .route("/stream", get(combined_stream))
            .route("/ws/{stream}", get(raw_stream))
            .route("/api/v3/klines", get(rest_klines))
            .route("/api/v3/ping", get(ping))
            .route("/api/v3/time", get(time))
            .route("/api/v3/exchangeInfo", get(exchange_info));
        if state.trading.is_some() {
            router = super::sim_trading_routes::add_routes(router);
        }
        let router = router.with_state(Arc::clone(&state));
        let finished = Arc::new(Notify::new());
        let mut tasks = JoinSet::new();
        let stop = shutdown.clone();
        tasks.spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "simulator server failed");
            }
        });
        tasks.spawn(play(Arc::clone(&state), events, Arc::clone(&finished)));
        tracing::info!(%addr, "exchange simulator listening");
        Ok(Self {
            addr,
            control: SimControl { state },
            tasks,
            shutdown,
            finished,
        })
    }

    /// The address it listens on.
    #[must_use]
    pub const fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://<addr>`: the WebSocket base URL for the source.
    #[must_use]
    pub fn ws_base_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// `http://<addr>`: the REST base URL for the client.
    #[must_use]
    pub fn rest_base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The control handle.
    #[must_use]
    pub fn control(&self) -> SimControl {
        self.control.clone()
    }

    /// Resolves when the timeline has played to its end (never with `repeat`).
    pub fn timeline_finished(&self) -> impl Future<Output = ()> + Send + 'static {
        let finished = Arc::clone(&self.finished);
        async move { finished.notified().await }
    }

    /// Stops serving, closes every connection and waits for the server's tasks (at most
    /// about 2 s for connections to wind down).
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.control.stats().connections_open > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Plays the timeline into the broadcast channel, from the first connection on.
async fn play(state: Arc<SimState>, events: Vec<Arc<SimEvent>>, finished: Arc<Notify>) {
    tokio::select! {
        () = state.shutdown.cancelled() => return,
        () = state.start.notified() => {}
    }
    loop {
        let start = Instant::now();
        let t0 = events.first().map_or(0, |e| e.time_ms);
        for (i, event) in events.iter().enumerate() {
            let due = match state.config.pace {
                SimPace::Every(every) => {
                    start + every.saturating_mul(u32::try_from(i).unwrap_or(u32::MAX))
                }
                SimPace::Speed(ReplaySpeed::Max) => start,
                SimPace::Speed(ReplaySpeed::Factor(f)) => {
                    let offset_ms = (event.time_ms - t0).max(0) as f64 / f.max(1e-9);
                    start + Duration::from_secs_f64((offset_ms / 1000.0).min(1e9))
                }
            };
            if due > Instant::now() {
                tokio::select! {
                    () = state.shutdown.cancelled() => return,
                    () = tokio::time::sleep_until(due) => {}
                }
            } else if i % 256 == 0 {
                tokio::task::yield_now().await;
            }
            let _ = state.frames.send(Frame::Event(Arc::clone(event)));
            inc(&state.counters.events_played);
            if let Some(trading) = &state.trading {
                trading.on_event(event, state.now());
            }
        }
        if !state.config.repeat || events.is_empty() {
            break;
        }
    }
    finished.notify_waiters();
    finished.notify_one();
}

async fn combined_stream(
    State(state): State<Arc<SimState>>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let streams: HashSet<String> = query
        .get("streams")
        .map(|s| {
            s.split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    upgrade.on_upgrade(move |socket| serve_connection(state, socket, streams, true))
}

async fn raw_stream(
    State(state): State<Arc<SimState>>,
    Path(stream): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let streams = HashSet::from([stream]);
    upgrade.on_upgrade(move |socket| serve_connection(state, socket, streams, false))
}

#[derive(Deserialize)]
struct ControlRequest {
    method: String,
    #[serde(default)]
    params: Vec<String>,
    id: Option<serde_json::Value>,
}

/// One WebSocket connection: forwards the timeline's messages of its streams, pings, applies
/// faults, answers `SUBSCRIBE`/`UNSUBSCRIBE`.
async fn serve_connection(
    state: Arc<SimState>,
    mut socket: WebSocket,
    mut streams: HashSet<String>,
    combined: bool,
) {
    let counters = &state.counters;
    inc(&counters.connections_accepted);
    counters.connections_open.fetch_add(1, Ordering::Relaxed);
    let mut frames = state.frames.subscribe();
    state.start_playing();
    let config = &state.config;
    let tick_every =
        (config.ping_interval.min(config.pong_timeout) / 4).max(Duration::from_millis(5));
    let mut tick = tokio::time::interval(tick_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_ping = Instant::now();
    let mut outstanding: Option<(Bytes, Instant)> = None;
    let mut ping_seq: u64 = 0;
    let mut sent: u64 = 0;
    let mut stalled = false;
    let mut close_at: Option<Instant> = None;
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => {
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(Message::Pong(payload))) => {
                    match &outstanding {
                        Some((expected, _)) if *expected == payload => {
                            inc(&counters.pongs_ok);
                            outstanding = None;
                        }
                        _ => inc(&counters.pongs_mismatched),
                    }
                }
                Some(Ok(Message::Text(text))) => {
                    if let Ok(request) = serde_json::from_str::<ControlRequest>(text.as_str()) {
                        match request.method.as_str() {
                            "SUBSCRIBE" => streams.extend(request.params),
                            "UNSUBSCRIBE" => {
                                for s in &request.params {
                                    streams.remove(s);
                                }
                            }
                            _ => {}
                        }
                        let id = request.id.unwrap_or(serde_json::Value::Null);
                        let reply = format!("{{\"result\":null,\"id\":{id}}}");
                        if socket.send(Message::Text(reply.into())).await.is_err() {
                            break;
                        }
                    }
                }
                Some(Ok(_)) => {}
            },
            _ = tick.tick() => {
                if close_at.is_some_and(|at| Instant::now() >= at) {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
                if stalled {
                    continue;
                }
                if let Some((_, at)) = &outstanding {
                    if at.elapsed() > config.pong_timeout {
                        tracing::info!("simulator closing a connection that did not pong");
                        inc(&counters.pong_timeouts);
                        let _ = socket.send(Message::Close(None)).await;
                        break;
                    }
                } else if last_ping.elapsed() >= config.ping_interval {
                    ping_seq += 1;
                    let payload = Bytes::from(format!("sim-ping-{ping_seq}"));
                    if socket.send(Message::Ping(payload.clone())).await.is_err() {
                        break;
                    }
                    inc(&counters.pings_sent);
                    last_ping = Instant::now();
                    outstanding = Some((payload, last_ping));
                }
            },
            frame = frames.recv(), if !stalled => {
                let frame = match frame {
                    Ok(frame) => frame,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        counters.messages_lagged.fetch_add(n, Ordering::Relaxed);
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                match frame {
                    Frame::Event(event) => {
                        if !streams.contains(&event.stream) {
                            continue;
                        }
                        let text = if combined { event.envelope() } else { event.data.clone() };
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            break;
                        }
                        sent += 1;
                        inc(&counters.messages_sent);
                        if should_drop(&state, sent) {
                            inc(&counters.connections_dropped);
                            // no close frame: the client sees the TCP connection end
                            break;
                        }
                        if let Some(every) = config.malformed_every
                            && sent.is_multiple_of(every.max(1))
                        {
                            let turn = usize::try_from(sent / every.max(1)).unwrap_or(0);
                            let kind = Malformed::ALL[turn % Malformed::ALL.len()];
                            if socket.send(Message::Text(kind.text().into())).await.is_err() {
                                break;
                            }
                        }
                        if config.stall_after_messages.is_some_and(|n| sent >= n) {
                            stalled = true;
                        }
                    }
                    Frame::Raw(text) => {
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            break;
                        }
                    }
                    Frame::Stall => stalled = true,
                    Frame::Drop => {
                        inc(&counters.connections_dropped);
                        break;
                    }
                    Frame::ServerShutdown => {
                        let now = state.now();
                        let text = format!("{{\"e\":\"serverShutdown\",\"E\":{now}}}");
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            break;
                        }
                        close_at = Some(Instant::now() + config.shutdown_grace);
                    }
                }
            }
        }
    }
    counters.connections_open.fetch_sub(1, Ordering::Relaxed);
}

fn should_drop(state: &SimState, sent: u64) -> bool {
    if state.config.drop_after_messages.is_some_and(|n| sent >= n) {
        return true;
    }
    // one-shot countdown shared by all connections: whoever sends the n-th message drops
    let mut current = state.drop_countdown.load(Ordering::Acquire);
    while current > 0 {
        match state.drop_countdown.compare_exchange(
            current,
            current - 1,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => return current == 1,
            Err(actual) => current = actual,
        }
    }
    false
}

fn binance_error(status: StatusCode, code: i64, msg: &str) -> Response {
    let body = format!("{{\"code\":{code},\"msg\":\"{msg}\"}}");
    (status, [("content-type", "application/json")], body).into_response()
}

fn json(body: String, weight: u64) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(value) = HeaderValue::from_str(&weight.to_string()) {
        headers.insert("x-mbx-used-weight-1m", value);
    }
    (StatusCode::OK, headers, body).into_response()
}

/// Adds `cost` to the weight of the current minute; returns the minute's total.
pub(crate) fn use_weight(state: &SimState, cost: u64) -> u64 {
    let minute = state.now().as_i64().div_euclid(60_000);
    let mut weight = state.weight.lock().unwrap_or_else(PoisonError::into_inner);
    if weight.0 != minute {
        *weight = (minute, 0);
    }
    weight.1 += cost;
    weight.1
}

async fn rest_klines(
    State(state): State<Arc<SimState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    inc(&state.counters.klines_requests);
    {
        let mut limited = state
            .rate_limited
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if limited.0 > 0 {
            limited.0 -= 1;
            let retry = limited.1.to_string();
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", retry.as_str()), ("content-type", "application/json")],
                "{\"code\":-1003,\"msg\":\"Too many requests; current limit is 6000 request weight per 1 MINUTE.\"}",
            )
                .into_response();
        }
    }
    let weight = use_weight(&state, 2);
    let Some(symbol) = query.get("symbol").and_then(|s| Symbol::new(s).ok()) else {
        return binance_error(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.");
    };
    let Some(interval) = query
        .get("interval")
        .and_then(|s| Interval::from_str(s).ok())
    else {
        return binance_error(StatusCode::BAD_REQUEST, -1120, "Invalid interval.");
    };
    let number = |key: &str| -> Result<Option<i64>, ()> {
        query.get(key).map(|v| v.parse()).transpose().map_err(drop)
    };
    let (Ok(start), Ok(end), Ok(limit)) = (number("startTime"), number("endTime"), number("limit"))
    else {
        return binance_error(
            StatusCode::BAD_REQUEST,
            -1100,
            "Illegal characters found in parameter.",
        );
    };
    let limit = usize::try_from(limit.unwrap_or(500).clamp(1, 1000)).unwrap_or(500);
    let Some(series) = state.klines.get(&(symbol, interval)) else {
        if state.klines.keys().any(|(s, _)| *s == symbol) {
            return json("[]".to_owned(), weight);
        }
        return binance_error(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.");
    };
    let in_range = |k: &&SimKline| {
        let t = k.bar.open_time().as_i64();
        start.is_none_or(|s| t >= s) && end.is_none_or(|e| t <= e)
    };
    let rows: Vec<&SimKline> = if start.is_some() {
        series.iter().filter(in_range).take(limit).collect()
    } else {
        // without startTime Binance answers with the newest rows
        let matching: Vec<&SimKline> = series.iter().filter(in_range).collect();
        let skip = matching.len().saturating_sub(limit);
        matching.into_iter().skip(skip).collect()
    };
    let mut body = String::with_capacity(rows.len() * 160 + 2);
    body.push('[');
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        row.write_rest_row(&mut body);
    }
    body.push(']');
    json(body, weight)
}

async fn ping(State(state): State<Arc<SimState>>) -> Response {
    json("{}".to_owned(), use_weight(&state, 1))
}

async fn time(State(state): State<Arc<SimState>>) -> Response {
    let body = format!("{{\"serverTime\":{}}}", state.now());
    json(body, use_weight(&state, 1))
}

/// `GET /api/v3/exchangeInfo` (weight 20): the symbols with klines, or those of `symbol` /
/// `symbols`, with Binance-like filters ([`super::sim_symbols`]).
async fn exchange_info(
    State(state): State<Arc<SimState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let weight = use_weight(&state, u64::from(SpotCall::ExchangeInfo.weight()));
    let known: BTreeSet<Symbol> = state.klines.keys().map(|(s, _)| *s).collect();
    let symbols = match requested_symbols(&query, &known) {
        Ok(symbols) => symbols,
        Err((code, message)) => return binance_error(StatusCode::BAD_REQUEST, code, message),
    };
    let mut list = String::new();
    for (i, symbol) in symbols.iter().enumerate() {
        if i > 0 {
            list.push(',');
        }
        let (base, quote) = split_symbol(symbol.as_str());
        list.push_str(&symbol_json(*symbol, base, quote));
    }
    let body = format!(
        "{{\"timezone\":\"UTC\",\"serverTime\":{},\"rateLimits\":[{{\"rateLimitType\":\"REQUEST_WEIGHT\",\"interval\":\"MINUTE\",\"intervalNum\":1,\"limit\":6000}},{{\"rateLimitType\":\"ORDERS\",\"interval\":\"SECOND\",\"intervalNum\":10,\"limit\":50}},{{\"rateLimitType\":\"RAW_REQUESTS\",\"interval\":\"MINUTE\",\"intervalNum\":5,\"limit\":300000}}],\"exchangeFilters\":[],\"symbols\":[{list}]}}",
        state.now()
    );
    json(body, weight)
}

fn split_symbol(symbol: &str) -> (&str, &str) {
    for quote in [
        "USDT", "USDC", "FDUSD", "BUSD", "BTC", "ETH", "BNB", "EUR", "USD",
    ] {
        if let Some(base) = symbol.strip_suffix(quote)
            && !base.is_empty()
        {
            return (base, quote);
        }
    }
    (symbol, "")
}
