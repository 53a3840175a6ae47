//! The REST + WebSocket gateway end to end, all real: the trade-store service in-process over
//! its own SQLite file (keys and audit log), the engines manager with a heartbeating test
//! engine for BTCUSDT and ETHUSDT, the trading gates, and the gateway on a loopback port,
//! driven over HTTP and WebSocket.
//!
//! Every route refuses a missing, unknown or revoked key (401) and a too-low role (403), and
//! answers the right role; bad input gets a JSON error and changes nothing; the switches and
//! the engines really change; every authenticated mutating call is in the audit log with its
//! outcome; `/ws` pushes batched JSON arrays; `/openapi.json` documents every route.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use levibot_backend::engines::{
    EngineContext, EngineManager, EngineRunner, EngineState, ManagerSettings, RestartPolicy,
};
use levibot_backend::events::{BackendEvent, EventHub};
use levibot_backend::gates::TradingGates;
use levibot_backend::gateway::{
    self, ApiKeyAuth, Audit, GatewayState, RiskReport, RiskReporter, openapi,
};
use levibot_config::ConfigLoader;
use levibot_core::auth::Role;
use levibot_core::{ApiKeySecret, Clock, KeyId, LiveClock, Symbol};
use levibot_proto::convert::role_to_wire;
use levibot_proto::v1::{self, trade_store_service_client::TradeStoreServiceClient};
use levibot_server::{CancellationToken, ServiceListeners};
use levibot_telemetry::InjectTraceContext;
use levibot_telemetry::metrics::{IntCounter, Registry};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};
use tonic::transport::Channel;

type Store = TradeStoreServiceClient<InjectTraceContext<Channel>>;

/// An engine that heartbeats until it is stopped.
struct Heartbeating;

impl EngineRunner for Heartbeating {
    fn run(&self, ctx: EngineContext) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async move {
            loop {
                ctx.stats.heartbeat(LiveClock.now());
                tokio::select! {
                    () = ctx.stop.cancelled() => return Ok(()),
                    () = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
        })
    }
}

/// `GET /risk` from the gates (the rest is fixed: no risk manager in this test).
struct GatesRisk(Arc<TradingGates>);

impl RiskReporter for GatesRisk {
    fn report(&self) -> RiskReport {
        RiskReport {
            gates: self.0.get(),
            ess_state: "armed".to_owned(),
            global_stop: false,
            open_positions: 0,
            max_positions: 3,
            exposure_usd: "0".to_owned(),
            daily_pnl_usd: "0".to_owned(),
            daily_loss_limit_usd: "500".to_owned(),
            rejections: std::collections::BTreeMap::new(),
            policy_version: 1,
        }
    }
}

/// One API key: its plaintext and public id.
struct Key {
    secret: String,
    id: String,
    name: String,
}

/// How a request presents its key.
#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Bearer(&'a str),
    Header(&'a str),
    /// A raw `Authorization` value.
    Authorization(&'a str),
}

/// An answer: status, headers, and the body (JSON when it parses, else a string).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    /// Asserts a JSON error with `status` and `code`, whose message contains `needle`.
    fn assert_error(&self, status: StatusCode, code: &str, needle: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["error"], json!(code), "{}", self.body);
        let message = self.body["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "no message: {}", self.body);
        assert!(message.contains(needle), "{needle:?} not in {message:?}");
        assert_eq!(
            self.headers.get("content-type").unwrap(),
            "application/json",
            "an error is JSON"
        );
    }
}

struct Gateway {
    addr: SocketAddr,
    http: Client<HttpConnector, Full<Bytes>>,
    store: Store,
    viewer: Key,
    trader: Key,
    admin: Key,
    revoked: Key,
    engines: EngineManager,
    gates: Arc<TradingGates>,
    events: EventHub,
    audit_failures: IntCounter,
    started_ms: i64,
    shutdown: CancellationToken,
    store_shutdown: CancellationToken,
    gateway_task: tokio::task::JoinHandle<std::io::Result<()>>,
    store_task: tokio::task::JoinHandle<Result<(), levibot_server::ServeError>>,
    _dir: tempfile::TempDir,
}

fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

fn eth() -> Symbol {
    Symbol::new("ETHUSDT").unwrap()
}

async fn create_key(store: &mut Store, name: &str, role: Role) -> Key {
    let secret = ApiKeySecret::generate().unwrap();
    let id = KeyId::new().to_string();
    store
        .create_api_key(v1::CreateApiKeyRequest {
            key_id: id.clone(),
            name: name.to_owned(),
            role: role_to_wire(role) as i32,
            key_sha256: secret.sha256_hex(),
            actor: Some(v1::Actor {
                name: "test set-up".to_owned(),
                role: "admin".to_owned(),
            }),
        })
        .await
        .unwrap();
    Key {
        secret: secret.expose().to_owned(),
        id,
        name: name.to_owned(),
    }
}

impl Gateway {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = ConfigLoader::new()
            .set(
                "store.database_url",
                &format!("sqlite://{}/store/levibot.db", dir.path().display()),
            )
            .set("telemetry.log_filter", "warn")
            .load()
            .unwrap();
        let listeners = ServiceListeners::ephemeral().await.unwrap();
        let grpc = listeners.grpc_addr().unwrap();
        let store_shutdown = CancellationToken::new();
        let store_task = tokio::spawn(levibot_trade_store::serve(
            Arc::new(config),
            listeners,
            store_shutdown.clone(),
        ));
        let channel = Channel::from_shared(format!("http://{grpc}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut store = TradeStoreServiceClient::new(InjectTraceContext::new(channel));

        let viewer = create_key(&mut store, "dashboard", Role::Viewer).await;
        let trader = create_key(&mut store, "desk", Role::Trader).await;
        let admin = create_key(&mut store, "ops", Role::Admin).await;
        // Revoked before its first use: the gateway never saw (or cached) it.
        let revoked = create_key(&mut store, "old laptop", Role::Admin).await;
        store
            .revoke_api_key(v1::RevokeApiKeyRequest {
                key_id: revoked.id.clone(),
                actor: Some(v1::Actor {
                    name: "test set-up".to_owned(),
                    role: "admin".to_owned(),
                }),
            })
            .await
            .unwrap();

        let shutdown = CancellationToken::new();
        let clock: Arc<dyn Clock> = Arc::new(LiveClock);
        let engines = EngineManager::new(
            ManagerSettings {
                policy: RestartPolicy {
                    initial_backoff: Duration::from_millis(50),
                    max_backoff: Duration::from_millis(200),
                    max_restarts: 3,
                    window: Duration::from_secs(3600),
                    heartbeat_timeout: Duration::from_secs(5),
                    error_spike: 100,
                },
                symbols: BTreeSet::from([btc(), eth()]),
                registry: Some(dir.path().join("engines.json")),
                journal_dir: dir.path().join("logs"),
            },
            Arc::new(Heartbeating),
            Arc::clone(&clock),
            &Registry::new(),
            shutdown.clone(),
        )
        .unwrap();
        let mut resumed = engines.resume().await.unwrap();
        resumed.sort();
        assert_eq!(resumed, vec![btc(), eth()]);
        let gates = Arc::new(TradingGates::new(true));
        let events = EventHub::new(1024);
        let audit_failures =
            IntCounter::new("gateway_audit_failures_total", "audit writes that failed").unwrap();
        let state = GatewayState {
            engines: engines.clone(),
            gates: Arc::clone(&gates),
            risk: Arc::new(GatesRisk(Arc::clone(&gates))),
            store: store.clone(),
            events: events.clone(),
            clock: Arc::clone(&clock),
            audit: Audit::new(store.clone(), Arc::clone(&clock), audit_failures.clone()),
            auth: ApiKeyAuth::new(store.clone()),
            shutdown: shutdown.clone(),
            // Nothing listens there: the routes answered by these services are tested with
            // the whole fleet (levibot-tests); here they must still authenticate and refuse.
            portfolio: v1::portfolio_service_client::PortfolioServiceClient::new(nowhere()),
            policy: v1::policy_store_service_client::PolicyStoreServiceClient::new(nowhere()),
            health: v1::health_aggregator_service_client::HealthAggregatorServiceClient::new(
                nowhere(),
            ),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let gateway_task = tokio::spawn(gateway::serve(listener, state, shutdown.clone()));
        let http = Client::builder(TokioExecutor::new()).build_http();
        let gateway = Self {
            addr,
            http,
            store,
            viewer,
            trader,
            admin,
            revoked,
            engines,
            gates,
            events,
            audit_failures,
            started_ms: clock.now().as_i64(),
            shutdown,
            store_shutdown,
            gateway_task,
            store_task,
            _dir: dir,
        };
        gateway.wait_engine(btc(), EngineState::Running).await;
        gateway.wait_engine(eth(), EngineState::Running).await;
        gateway
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.gateway_task)
            .await
            .expect("the gateway stops on shutdown")
            .unwrap()
            .unwrap();
        self.engines.join().await;
        self.store_shutdown.cancel();
        self.store_task.await.unwrap().unwrap();
    }

    fn key(&self, role: Role) -> &Key {
        match role {
            Role::Viewer => &self.viewer,
            Role::Trader => &self.trader,
            Role::Admin => &self.admin,
        }
    }

    async fn send(&self, method: Method, path: &str, auth: Auth<'_>, body: Vec<u8>) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        request = match auth {
            Auth::None => request,
            Auth::Bearer(key) => request.header("authorization", format!("Bearer {key}")),
            Auth::Header(key) => request.header("x-api-key", key),
            Auth::Authorization(value) => request.header("authorization", value),
        };
        let response = tokio::time::timeout(
            Duration::from_secs(10),
            self.http
                .request(request.body(Full::new(Bytes::from(body))).unwrap()),
        )
        .await
        .expect("the gateway answers")
        .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn call(&self, method: Method, path: &str, auth: Auth<'_>) -> Answer {
        self.send(method, path, auth, Vec::new()).await
    }

    async fn get(&self, path: &str, role: Role) -> Answer {
        self.call(Method::GET, path, Auth::Bearer(&self.key(role).secret))
            .await
    }

    async fn post(&self, path: &str, role: Role) -> Answer {
        self.call(Method::POST, path, Auth::Bearer(&self.key(role).secret))
            .await
    }

    async fn risk(&self) -> Value {
        let answer = self.get("/risk", Role::Viewer).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body
    }

    async fn wait_engine(&self, symbol: Symbol, state: EngineState) {
        let started = std::time::Instant::now();
        while self.engines.status(symbol).unwrap().state != state {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{symbol} never reached {state:?}: {:?}",
                self.engines.status(symbol)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every audit entry written since the gateway started.
    async fn audit_log(&self) -> Vec<v1::AuditEntry> {
        let mut store = self.store.clone();
        store
            .query_audit(v1::QueryAuditRequest {
                range: Some(v1::TimeRange {
                    from_ms: self.started_ms - 1,
                    to_ms: i64::MAX,
                }),
                limit: 0,
            })
            .await
            .unwrap()
            .into_inner()
            .entries
    }

    async fn ws(
        &self,
        auth: Auth<'_>,
    ) -> Result<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        tungstenite::Error,
    > {
        let mut request = format!("ws://{}/ws", self.addr)
            .into_client_request()
            .unwrap();
        match auth {
            Auth::None => {}
            Auth::Bearer(key) => {
                request
                    .headers_mut()
                    .insert("authorization", format!("Bearer {key}").parse().unwrap());
            }
            Auth::Header(key) => {
                request
                    .headers_mut()
                    .insert("x-api-key", key.parse().unwrap());
            }
            Auth::Authorization(value) => {
                request
                    .headers_mut()
                    .insert("authorization", value.parse().unwrap());
            }
        }
        tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(request),
        )
        .await
        .expect("the handshake ends")
        .map(|(socket, _)| socket)
    }
}

/// The least role a documented role name stands for.
/// A lazy channel to a closed port.
fn nowhere() -> InjectTraceContext<Channel> {
    InjectTraceContext::new(
        tonic::transport::Endpoint::from_static("http://127.0.0.1:9")
            .connect_timeout(Duration::from_millis(200))
            .connect_lazy(),
    )
}

fn role_named(name: &str) -> Role {
    name.parse().unwrap()
}

/// A concrete, valid request path for a documented route.
fn concrete(path: &str) -> String {
    let path = path.replace("{symbol}", "BTCUSDT");
    if path == "/live/kill" {
        // Engaging is the trader's part; releasing (admin) is tested on its own.
        format!("{path}?on=true&reason=drill")
    } else if path.starts_with("/ess/") {
        format!("{path}?reason=drill")
    } else {
        path
    }
}

fn method(name: &str) -> Method {
    name.to_uppercase().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_needs_a_valid_key_and_the_right_role() {
    let gw = Gateway::start().await;
    let unknown = ApiKeySecret::generate().unwrap();
    for route in openapi::ROUTES {
        let path = concrete(route.path);
        let verb = method(route.method);
        let Some(required) = route.role else {
            // The only public route.
            assert_eq!(route.path, "/openapi.json");
            let answer = gw.call(verb, &path, Auth::None).await;
            assert_eq!(answer.status, StatusCode::OK);
            continue;
        };
        let required = role_named(required);
        let what = format!("{} {path}", route.method);

        // No key, an unknown key, a revoked key, a malformed header: 401, and a challenge.
        let refusals = [
            (Auth::None, "missing API key"),
            (Auth::Bearer(unknown.expose()), "unknown API key"),
            (Auth::Header(unknown.expose()), "unknown API key"),
            (Auth::Bearer(&gw.revoked.secret), "revoked"),
            (Auth::Header(&gw.revoked.secret), "revoked"),
            (Auth::Authorization("Basic dXNlcjpwYXNz"), "Bearer <key>"),
            (Auth::Bearer(""), "missing API key"),
        ];
        for (auth, needle) in refusals {
            let answer = gw.call(verb.clone(), &path, auth).await;
            answer.assert_error(StatusCode::UNAUTHORIZED, "unauthenticated", needle);
            assert_eq!(
                answer.headers.get("www-authenticate").unwrap(),
                "Bearer",
                "{what}"
            );
        }
        // The WebSocket handshake is refused the same way.
        if route.path == "/ws" {
            let err = gw.ws(Auth::None).await.unwrap_err();
            assert!(
                matches!(&err, tungstenite::Error::Http(r) if r.status() == StatusCode::UNAUTHORIZED),
                "{err:?}"
            );
            let err = gw.ws(Auth::Bearer(&gw.revoked.secret)).await.unwrap_err();
            assert!(
                matches!(&err, tungstenite::Error::Http(r) if r.status() == StatusCode::UNAUTHORIZED),
                "{err:?}"
            );
        }

        for role in Role::ALL {
            let key = &gw.key(role).secret;
            if !role.allows(required) {
                let answer = gw.call(verb.clone(), &path, Auth::Bearer(key)).await;
                answer.assert_error(StatusCode::FORBIDDEN, "forbidden", required.as_str());
                continue;
            }
            if route.path == "/ws" {
                let mut socket = gw.ws(Auth::Bearer(key)).await.unwrap();
                socket.close(None).await.unwrap();
                let mut socket = gw.ws(Auth::Header(key)).await.unwrap();
                socket.close(None).await.unwrap();
                continue;
            }
            if let Some(upstream) = route.upstream {
                // Authenticated and allowed, then refused by the missing service: a 503
                // naming it (the 200s are tested with the fleet).
                let answer = gw.call(verb.clone(), &path, Auth::Bearer(key)).await;
                answer.assert_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", upstream);
                continue;
            }
            // Both ways of presenting a key work.
            for auth in [Auth::Bearer(key), Auth::Header(key)] {
                let answer = gw.call(verb.clone(), &path, auth).await;
                assert_eq!(
                    answer.status,
                    StatusCode::OK,
                    "{what} as {role}: {}",
                    answer.body
                );
                assert!(
                    answer.body.is_object() || answer.body.is_array(),
                    "{what}: {}",
                    answer.body
                );
            }
        }
    }
    // The scheme is case-insensitive.
    let answer = gw
        .call(
            Method::GET,
            "/risk",
            Auth::Authorization(&format!("bearer {}", gw.viewer.secret)),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);

    // Releasing the kill switch is the admin's: a trader is refused and it stays on.
    assert_eq!(gw.risk().await["kill_switch"], json!(true));
    gw.post("/live/kill?on=false&reason=all%20clear", Role::Trader)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden", "admin");
    assert_eq!(gw.risk().await["kill_switch"], json!(true));
    let answer = gw
        .post("/live/kill?on=false&reason=all%20clear", Role::Admin)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(gw.risk().await["kill_switch"], json!(false));
    assert_eq!(gw.audit_failures.get(), 0);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_json_error_and_changes_nothing() {
    let gw = Gateway::start().await;
    let before_gates = gw.gates.get();
    let before_engines = gw.get("/engines/status", Role::Viewer).await.body;

    // Symbols: malformed is 400, well-formed but not configured is 404.
    for path in [
        "/engines/status/BTC$USDT",
        "/engines/status/ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    ] {
        gw.get(path, Role::Viewer).await.assert_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "bad symbol",
        );
    }
    gw.get("/engines/status/DOGEUSDT", Role::Viewer)
        .await
        .assert_error(StatusCode::NOT_FOUND, "unknown_symbol", "DOGEUSDT");
    gw.post("/engines/start/BTC$USDT", Role::Trader)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request", "bad symbol");
    for action in ["start", "stop", "restart"] {
        gw.post(&format!("/engines/{action}/DOGEUSDT"), Role::Trader)
            .await
            .assert_error(StatusCode::NOT_FOUND, "unknown_symbol", "DOGEUSDT");
    }
    // An unknown action is named, whatever the symbol.
    gw.post("/engines/launch/BTCUSDT", Role::Trader)
        .await
        .assert_error(StatusCode::NOT_FOUND, "unknown_action", "launch");
    gw.post("/engines/launch/BTC$USDT", Role::Trader)
        .await
        .assert_error(
            StatusCode::NOT_FOUND,
            "unknown_action",
            "start, stop or restart",
        );
    // Whatever the client sends, the audit entry fits the store's limits (256 characters).
    let long_action = "a".repeat(300);
    gw.post(&format!("/engines/{long_action}/BTCUSDT"), Role::Trader)
        .await
        .assert_error(
            StatusCode::NOT_FOUND,
            "unknown_action",
            "start, stop or restart",
        );
    // A path segment that is not UTF-8 once decoded.
    gw.post("/engines/start/%FF", Role::Trader)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request", "bad path");

    // The kill switch: `on` and `reason` are required, `on` is a boolean.
    for (query, needle) in [
        ("", "on"),
        ("?reason=drill", "on"),
        ("?on=maybe&reason=drill", "on"),
        ("?on=1&reason=drill", "on"),
        ("?on=true", "reason is required"),
        ("?on=true&reason=%20%20", "reason is required"),
        ("?on=true&reason=a%0Ab", "control characters"),
        ("?on=true&reason=drill&force=yes", "force"),
    ] {
        gw.post(&format!("/live/kill{query}"), Role::Trader)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "bad_request", needle);
    }
    let long = "x".repeat(501);
    gw.post(&format!("/live/kill?on=true&reason={long}"), Role::Trader)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request", "longer than 500");

    // Orders and fills: from < to, at most 31 days, integers.
    for route in ["/orders", "/fills"] {
        for (query, needle) in [
            ("?from=1000&to=1000", "must be before"),
            ("?from=2000&to=1000", "must be before"),
            ("?from=0&to=2678400001", "longer than 31 days"),
            ("?from=abc", "from"),
            ("?from=1.5&to=3", "from"),
            ("?symbol=BTC$USDT", "bad symbol"),
            ("?limit=5", "limit"),
        ] {
            gw.get(&format!("{route}{query}"), Role::Viewer)
                .await
                .assert_error(StatusCode::BAD_REQUEST, "bad_request", needle);
        }
        // exactly 31 days is fine
        let answer = gw
            .get(&format!("{route}?from=0&to=2678400000"), Role::Viewer)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.body, json!([]));
    }

    // Unknown routes and methods: JSON too.
    for path in ["/nope", "/engines", "/engines/status/BTCUSDT/extra", "/"] {
        gw.get(path, Role::Admin).await.assert_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "/openapi.json",
        );
    }
    gw.call(Method::GET, "/nope", Auth::None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found", "/openapi.json");
    gw.post("/risk", Role::Admin).await.assert_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method",
    );
    gw.get("/trading/enable", Role::Admin).await.assert_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method",
    );
    // `/ws` without the upgrade handshake.
    let answer = gw.get("/ws", Role::Viewer).await;
    assert!(answer.status.is_client_error(), "{}", answer.status);
    assert!(answer.body["error"].is_string(), "{}", answer.body);

    // An oversized body is refused before anything acts on it, declared or chunked.
    let big = vec![b'x'; 20 * 1024];
    let trader = gw.trader.secret.as_str();
    gw.send(
        Method::POST,
        "/live/kill?on=true&reason=drill",
        Auth::Bearer(trader),
        big.clone(),
    )
    .await
    .assert_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "16384 bytes",
    );
    gw.send(
        Method::POST,
        "/trading/disable",
        Auth::Bearer(trader),
        big.clone(),
    )
    .await
    .assert_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "16384 bytes",
    );
    gw.send(
        Method::POST,
        "/engines/stop/BTCUSDT",
        Auth::Bearer(trader),
        big,
    )
    .await
    .assert_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "16384 bytes",
    );
    let answer = chunked_post(&gw, "/trading/disable", trader, 20 * 1024).await;
    assert_eq!(answer.0, StatusCode::PAYLOAD_TOO_LARGE, "{}", answer.1);
    // Without a key it is a 401 (the caller is checked first); public routes refuse it too.
    gw.send(
        Method::POST,
        "/trading/disable",
        Auth::None,
        vec![b'x'; 20 * 1024],
    )
    .await
    .assert_error(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "missing API key",
    );
    gw.send(
        Method::GET,
        "/openapi.json",
        Auth::None,
        vec![b'x'; 20 * 1024],
    )
    .await
    .assert_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "16384 bytes",
    );
    gw.send(Method::POST, "/nope", Auth::None, vec![b'x'; 20 * 1024])
        .await
        .assert_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "16384 bytes",
        );
    // A small body is ignored, not refused.
    let answer = gw
        .send(
            Method::GET,
            "/risk",
            Auth::Bearer(&gw.viewer.secret),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);

    // Nothing changed.
    assert_eq!(gw.gates.get(), before_gates);
    assert_eq!(
        gw.get("/engines/status", Role::Viewer)
            .await
            .body
            .as_array()
            .map(Vec::len),
        before_engines.as_array().map(Vec::len)
    );
    for symbol in [btc(), eth()] {
        assert_eq!(
            gw.engines.status(symbol).unwrap().state,
            EngineState::Running
        );
    }
    assert!(gw.engines.status(Symbol::new("DOGEUSDT").unwrap()).is_err());

    // Each refused mutating call that reached the gateway's checks is audited with its outcome.
    let log = gw.audit_log().await;
    let refused: Vec<Value> = log
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.detail_json).unwrap())
        .collect();
    assert!(
        refused.iter().all(|d| d["ok"] == json!(false)),
        "{refused:?}"
    );
    let launch = log
        .iter()
        .find(|e| e.action == "POST /engines/launch/BTCUSDT")
        .expect("the unknown action is audited");
    assert!(
        launch.actor.contains(&gw.trader.id) && launch.actor.contains("desk"),
        "{}",
        launch.actor
    );
    let detail: Value = serde_json::from_str(&launch.detail_json).unwrap();
    assert_eq!(detail["status"], json!(404));
    assert_eq!(detail["error"], json!("unknown_action"));
    let maybe = log
        .iter()
        .find(|e| e.action == "POST /live/kill" && e.detail_json.contains("on=maybe"))
        .expect("the bad kill call is audited with what was asked");
    let detail: Value = serde_json::from_str(&maybe.detail_json).unwrap();
    assert_eq!(detail["status"], json!(400));
    let kill_refusals = log.iter().filter(|e| e.action == "POST /live/kill").count();
    assert_eq!(kill_refusals, 10, "every refused kill call");
    // The oversized calls of a known caller are audited as refused with 413.
    let too_large: Vec<&str> = log
        .iter()
        .filter(|e| e.detail_json.contains("\"status\":413"))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        too_large,
        [
            "POST /live/kill",
            "POST /trading/disable",
            "POST /engines/stop/BTCUSDT",
            "POST /trading/disable"
        ]
    );
    assert!(
        log.iter()
            .any(|e| e.action == "POST /engines/start/BTC$USDT")
    );
    assert!(log.iter().any(|e| e.action == "POST /engines/start/%FF"));
    assert!(
        log.iter()
            .any(|e| e.action.starts_with("POST /engines/aaaa") && e.action.ends_with("...")),
        "the long action is audited, cut"
    );
    assert_eq!(gw.audit_failures.get(), 0);
    gw.stop().await;
}

/// A POST whose body is sent chunked (no Content-Length), over a raw connection.
async fn chunked_post(gw: &Gateway, path: &str, key: &str, size: usize) -> (StatusCode, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        gw.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'x'; 1024];
    for _ in 0..size / 1024 {
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(&chunk);
        frame.extend_from_slice(b"\r\n");
        if stream.write_all(&frame).await.is_err() {
            break; // the server answered and closed early
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .map(|code| StatusCode::from_u16(code).unwrap())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    (status, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_and_engines_really_change_and_every_mutating_call_is_audited() {
    let gw = Gateway::start().await;
    let risk = gw.risk().await;
    assert_eq!(risk["trading_enabled"], json!(true));
    assert_eq!(risk["kill_switch"], json!(false));
    assert_eq!(risk["ess_state"], json!("armed"));

    // The kill switch: a trader engages it, only an admin releases it.
    let answer = gw
        .post("/live/kill?on=true&reason=exchange%20outage", Role::Trader)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["kill_switch"], json!(true));
    let risk = gw.risk().await;
    assert_eq!(risk["kill_switch"], json!(true));
    assert_eq!(risk["kill_reason"], json!("exchange outage"));
    assert!(
        risk["changed_by"].as_str().unwrap().contains(&gw.trader.id),
        "{risk}"
    );
    assert!(!gw.gates.open(), "no order may pass");
    gw.post("/live/kill?on=false&reason=back", Role::Trader)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden", "admin");
    assert!(gw.gates.get().kill_switch);
    let answer = gw
        .post("/live/kill?on=false&reason=back", Role::Admin)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(gw.risk().await["kill_switch"], json!(false));
    assert!(gw.gates.open());

    // Trading: a trader disables, only an admin enables; a viewer does neither.
    gw.post("/trading/disable", Role::Viewer)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden", "trader");
    assert_eq!(gw.risk().await["trading_enabled"], json!(true));
    let answer = gw.post("/trading/disable", Role::Trader).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(gw.risk().await["trading_enabled"], json!(false));
    assert!(!gw.gates.open());
    gw.post("/trading/enable", Role::Trader).await.assert_error(
        StatusCode::FORBIDDEN,
        "forbidden",
        "admin",
    );
    assert_eq!(gw.risk().await["trading_enabled"], json!(false));
    let answer = gw.post("/trading/enable", Role::Admin).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(gw.risk().await["trading_enabled"], json!(true));

    // Engines: stop and start really change them.
    gw.post("/engines/stop/ETHUSDT", Role::Viewer)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden", "trader");
    assert_eq!(
        gw.engines.status(eth()).unwrap().state,
        EngineState::Running
    );
    let answer = gw.post("/engines/stop/ethusdt", Role::Trader).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["state"], json!("stopped"));
    assert_eq!(
        gw.engines.status(eth()).unwrap().state,
        EngineState::Stopped
    );
    let status = gw.get("/engines/status/ETHUSDT", Role::Viewer).await;
    assert_eq!(status.body["state"], json!("stopped"));
    assert_eq!(status.body["symbol"], json!("ETHUSDT"));
    // Stopped for good: still stopped a little later, BTC untouched.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        gw.engines.status(eth()).unwrap().state,
        EngineState::Stopped
    );
    assert_eq!(
        gw.engines.status(btc()).unwrap().state,
        EngineState::Running
    );
    let answer = gw.post("/engines/start/ETHUSDT", Role::Trader).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    gw.wait_engine(eth(), EngineState::Running).await;
    let answer = gw.post("/engines/restart/BTCUSDT", Role::Admin).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    gw.wait_engine(btc(), EngineState::Running).await;
    let all = gw.get("/engines/status", Role::Viewer).await.body;
    let states: Vec<(&str, &str)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["symbol"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, vec![("BTCUSDT", "running"), ("ETHUSDT", "running")]);

    // Reads are not audited; every mutating call is, with its actor, action and outcome.
    let log = gw.audit_log().await;
    let entries: Vec<(String, String, Value)> = log
        .iter()
        .map(|e| {
            (
                e.actor.clone(),
                e.action.clone(),
                serde_json::from_str(&e.detail_json).unwrap(),
            )
        })
        .collect();
    let expected: [(&Key, &str, Option<u16>); 11] = [
        (&gw.trader, "POST /live/kill", None),
        (&gw.trader, "POST /live/kill", Some(403)),
        (&gw.admin, "POST /live/kill", None),
        (&gw.viewer, "POST /trading/disable", Some(403)),
        (&gw.trader, "POST /trading/disable", None),
        (&gw.trader, "POST /trading/enable", Some(403)),
        (&gw.admin, "POST /trading/enable", None),
        (&gw.viewer, "POST /engines/stop/ETHUSDT", Some(403)),
        (&gw.trader, "POST /engines/stop/ETHUSDT", None),
        (&gw.trader, "POST /engines/start/ETHUSDT", None),
        (&gw.admin, "POST /engines/restart/BTCUSDT", None),
    ];
    assert_eq!(entries.len(), expected.len(), "{entries:#?}");
    for ((actor, action, detail), (key, want_action, refused)) in entries.iter().zip(expected) {
        assert_eq!(action, want_action);
        assert!(
            actor.contains(&key.name) && actor.contains(&key.id),
            "{actor} is not {}",
            key.name
        );
        match refused {
            None => assert_eq!(detail["ok"], json!(true), "{action}: {detail}"),
            Some(status) => {
                assert_eq!(detail["ok"], json!(false), "{action}: {detail}");
                assert_eq!(detail["status"], json!(status), "{action}: {detail}");
                assert!(
                    detail["message"].as_str().is_some_and(|m| !m.is_empty()),
                    "{detail}"
                );
            }
        }
    }
    assert_eq!(entries[0].2["params"]["reason"], json!("exchange outage"));
    assert_eq!(entries[0].2["result"]["kill_switch"], json!(true));
    assert_eq!(entries[4].2["result"]["trading_enabled"], json!(false));
    assert_eq!(entries[8].2["result"]["state"], json!("stopped"));
    assert!(
        log.windows(2).all(|w| w[0].at_ms <= w[1].at_ms),
        "oldest first"
    );
    assert_eq!(gw.audit_failures.get(), 0);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_on_the_websocket_gets_batched_json_arrays() {
    let gw = Gateway::start().await;
    let mut socket = gw.ws(Auth::Bearer(&gw.viewer.secret)).await.unwrap();
    // The subscription exists once the handshake is done; flip a gate through the API.
    let answer = gw
        .post("/live/kill?on=true&reason=drill", Role::Trader)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let batch = next_batch(&mut socket).await;
    assert!(
        batch.contains(&json!({"type": "gates", "trading_enabled": true, "kill_switch": true})),
        "{batch:?}"
    );

    // Events close together arrive as one array.
    gw.events.publish(BackendEvent::Engine {
        symbol: "BTCUSDT".to_owned(),
        state: "running".to_owned(),
    });
    gw.events.publish(BackendEvent::Gates {
        trading_enabled: false,
        kill_switch: true,
    });
    let batch = next_batch(&mut socket).await;
    assert_eq!(
        batch,
        vec![
            json!({"type": "engine", "symbol": "BTCUSDT", "state": "running"}),
            json!({"type": "gates", "trading_enabled": false, "kill_switch": true}),
        ]
    );

    // An engine action shows up too.
    let answer = gw.post("/engines/stop/ETHUSDT", Role::Trader).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let batch = next_batch(&mut socket).await;
    assert!(
        batch.contains(&json!({"type": "engine", "symbol": "ETHUSDT", "state": "stopped"})),
        "{batch:?}"
    );

    // Shutdown closes the socket and the gateway stops.
    gw.shutdown.cancel();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the socket is closed on shutdown");
    gw.stop().await;
}

async fn next_batch(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Vec<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a batch arrives")
            .expect("the socket is open")
            .unwrap();
        match message {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(text.as_str()).unwrap();
                return value.as_array().expect("a batch is a JSON array").clone();
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_json_documents_every_route() {
    let gw = Gateway::start().await;
    let answer = gw.call(Method::GET, "/openapi.json", Auth::None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.headers.get("content-type").unwrap(),
        "application/json"
    );
    let doc = answer.body;
    assert_eq!(doc["openapi"], json!("3.1.0"));
    let paths = doc["paths"].as_object().expect("paths");
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(|m| (path.clone(), m.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let routes: BTreeSet<(String, String)> = openapi::ROUTES
        .iter()
        .map(|r| (r.path.to_owned(), r.method.to_owned()))
        .collect();
    assert_eq!(documented, routes);
    for route in openapi::ROUTES {
        let op = &paths[route.path][route.method];
        assert_eq!(op["summary"], json!(route.summary));
        match route.role {
            Some(role) => {
                assert_eq!(op["x-required-role"], json!(role), "{}", route.path);
                for status in ["401", "403", "503"] {
                    assert!(
                        op["responses"][status].is_object(),
                        "{} {status}",
                        route.path
                    );
                }
            }
            None => assert!(op.get("security").is_none()),
        }
        // Every referenced component exists.
        for response in op["responses"].as_object().unwrap().values() {
            if let Some(target) = response["$ref"].as_str() {
                let name = target.trim_start_matches("#/components/responses/");
                assert!(doc["components"]["responses"][name].is_object(), "{target}");
            }
        }
    }
    // The symbol pattern admits what the gateway admits.
    let pattern = &paths["/engines/status/{symbol}"]["get"]["parameters"][0]["schema"]["pattern"];
    assert_eq!(pattern, &json!("^[A-Za-z0-9._-]{1,20}$"));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_is_a_503_not_a_401() {
    let mut gw = Gateway::start().await;
    // The viewer's key is verified (and cached); the trader's is never used before the store
    // is gone.
    assert_eq!(gw.get("/risk", Role::Viewer).await.status, StatusCode::OK);
    gw.store_shutdown.cancel();
    let store_task = std::mem::replace(&mut gw.store_task, tokio::spawn(async { Ok(()) }));
    tokio::time::timeout(Duration::from_secs(10), store_task)
        .await
        .expect("the store stops")
        .unwrap()
        .unwrap();
    gw.get("/risk", Role::Trader).await.assert_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "cannot verify",
    );
    gw.post("/trading/disable", Role::Trader)
        .await
        .assert_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "cannot verify",
        );
    assert!(gw.gates.get().trading_enabled, "nothing changed");
    // A key verified within the cache's lifetime still reads.
    assert_eq!(gw.get("/risk", Role::Viewer).await.status, StatusCode::OK);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ess_calls_need_a_reason_and_are_audited_even_when_refused() {
    let gw = Gateway::start().await;
    for (path, role) in [("/ess/trip", Role::Trader), ("/ess/reset", Role::Admin)] {
        gw.post(path, role).await.assert_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "reason is required",
        );
        gw.post(&format!("{path}?reason=%20%20"), role)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "bad_request", "reason is required");
        gw.post(&format!("{path}?reason={}", "x".repeat(501)), role)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "bad_request", "longer than");
        gw.post(&format!("{path}?reason=ok&bogus=1"), role)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "bad_request", "bogus");
    }
    let audit = gw.audit_log().await;
    let ess_entries = audit
        .iter()
        .filter(|e| e.action.starts_with("POST /ess/"))
        .count();
    assert_eq!(ess_entries, 8, "{audit:?}");
    gw.stop().await;
}
