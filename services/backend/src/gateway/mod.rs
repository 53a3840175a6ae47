//! The REST + WebSocket gateway (axum): engines, risk, trading switches, orders, fills, the
//! live event feed and the OpenAPI document. Every route but `/openapi.json` needs an API
//! key; mutating calls are role-checked and audited.

mod audit;
mod auth;
mod error;
pub mod openapi;
mod routes;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Request, State};
use axum::http::header;
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::{get, post};
use futures::StreamExt;
use levibot_core::Clock;
use levibot_core::auth::Role;
use levibot_proto::v1::trade_store_service_client::TradeStoreServiceClient;
use levibot_telemetry::InjectTraceContext;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub use audit::Audit;
pub use auth::{ApiKeyAuth, CACHE_TTL, Principal};
pub use error::ApiError;
pub use routes::{RiskReport, RiskReporter};

use crate::engines::EngineManager;
use crate::events::EventHub;
use crate::gates::TradingGates;

/// Largest request body accepted (no route takes a body today); larger ones get 413.
const MAX_BODY: usize = 16 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct GatewayState {
    /// The engines.
    pub engines: EngineManager,
    /// Trading enabled / kill switch.
    pub gates: Arc<TradingGates>,
    /// Where `GET /risk` comes from.
    pub risk: Arc<dyn RiskReporter>,
    /// The trade-store (orders, fills, keys, audit).
    pub store: TradeStoreServiceClient<InjectTraceContext<Channel>>,
    /// The live event feed.
    pub events: EventHub,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// The audit log writer.
    pub audit: Audit,
    /// Key verification.
    pub auth: ApiKeyAuth,
    /// Ends WebSocket sessions on shutdown.
    pub shutdown: CancellationToken,
}

/// The gateway's routes.
pub fn router(state: GatewayState) -> Router {
    let guard = |role: Role| {
        from_fn_with_state(
            auth::RoleGuard {
                auth: state.auth.clone(),
                required: role,
                audit: state.audit.clone(),
            },
            auth::require_role,
        )
    };
    let viewer = Router::new()
        .route("/engines/status", get(routes::engines_status))
        .route("/engines/status/{symbol}", get(routes::engine_status))
        .route("/risk", get(routes::risk))
        .route("/orders", get(routes::orders))
        .route("/fills", get(routes::fills))
        .route("/ws", get(ws::upgrade))
        .route_layer(guard(Role::Viewer));
    let trader = Router::new()
        .route("/engines/{action}/{symbol}", post(routes::engine_action))
        .route("/live/kill", post(routes::kill))
        .route(
            "/trading/disable",
            post(
                |State(s): State<GatewayState>, Extension(p): Extension<Principal>| {
                    routes::set_trading(s, p, false)
                },
            ),
        )
        .route_layer(guard(Role::Trader));
    let admin = Router::new()
        .route(
            "/trading/enable",
            post(
                |State(s): State<GatewayState>, Extension(p): Extension<Principal>| {
                    routes::set_trading(s, p, true)
                },
            ),
        )
        .route_layer(guard(Role::Admin));
    Router::new()
        .route(
            "/openapi.json",
            get(|| async { axum::Json(openapi::document()) }),
        )
        .merge(viewer)
        .merge(trader)
        .merge(admin)
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .fallback(|| async { ApiError::no_route() })
        .layer(from_fn(limit_body))
        .with_state(state)
}

/// Refuses a body over [`MAX_BODY`] with 413 before anything else runs (so before any
/// handler could act on the call). `DefaultBodyLimit` alone would not do: it only bounds the
/// extractors that read a body, and no route has one, so a huge body was simply accepted.
async fn limit_body(request: Request, next: Next) -> Result<Response, ApiError> {
    if let Some(length) = request.headers().get(header::CONTENT_LENGTH) {
        let length = length
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .ok_or_else(|| ApiError::bad_request("the Content-Length header is not a number"))?;
        if length > MAX_BODY as u64 {
            return Err(ApiError::payload_too_large(MAX_BODY));
        }
    }
    // A body without a length (chunked) is read up to the limit.
    let (parts, body) = request.into_parts();
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
        if bytes.len() + chunk.len() > MAX_BODY {
            return Err(ApiError::payload_too_large(MAX_BODY));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await)
}

/// Serves the gateway on `listener` until `shutdown` is cancelled.
///
/// # Errors
///
/// When the server fails.
pub async fn serve(
    listener: TcpListener,
    state: GatewayState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
