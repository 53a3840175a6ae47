//! The REST + WebSocket gateway (axum): engines, risk, trading switches, orders, fills, the
//! live event feed and the OpenAPI document, plus the portfolio, policy, ESS and cluster
//! health answered by their services over gRPC. Every route but `/openapi.json` needs an API
//! key; mutating calls are role-checked and audited.

mod audit;
mod auth;
mod error;
mod fleet_routes;
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
use levibot_proto::v1::health_aggregator_service_client::HealthAggregatorServiceClient;
use levibot_proto::v1::policy_store_service_client::PolicyStoreServiceClient;
use levibot_proto::v1::portfolio_service_client::PortfolioServiceClient;
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
    /// The portfolio service (`/portfolio`, `/positions`, `/equity`, `/exposure`).
    pub portfolio: PortfolioServiceClient<InjectTraceContext<Channel>>,
    /// The policy-store (`/policy`, `/ess`).
    pub policy: PolicyStoreServiceClient<InjectTraceContext<Channel>>,
    /// The health-aggregator (`/health/cluster`).
    pub health: HealthAggregatorServiceClient<InjectTraceContext<Channel>>,
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
        .route("/portfolio", get(fleet_routes::portfolio))
        .route("/positions", get(fleet_routes::positions))
        .route("/equity", get(fleet_routes::equity))
        .route("/exposure", get(fleet_routes::exposure))
        .route("/policy", get(fleet_routes::policy))
        .route("/ess", get(fleet_routes::ess))
        .route("/health/cluster", get(fleet_routes::cluster_health))
        .route_layer(guard(Role::Viewer));
    let trader = Router::new()
        .route("/engines/{action}/{symbol}", post(routes::engine_action))
        .route("/live/kill", post(routes::kill))
        .route("/ess/trip", post(fleet_routes::ess_trip))
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
        .route("/ess/reset", post(fleet_routes::ess_reset))
        .route_layer(guard(Role::Admin));
    let public = Router::new()
        .route(
            "/openapi.json",
            get(|| async { axum::Json(openapi::document()) }),
        )
        .route_layer(from_fn(refuse_oversized));
    Router::new()
        .merge(public)
        .merge(viewer)
        .merge(trader)
        .merge(admin)
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .fallback(|oversized: Option<Extension<BodyTooLarge>>| async move {
            match oversized {
                Some(_) => ApiError::payload_too_large(MAX_BODY),
                None => ApiError::no_route(),
            }
        })
        .layer(from_fn(limit_body))
        .with_state(state)
}

/// Marks a request whose body was over [`MAX_BODY`] (and was dropped): the role guard
/// answers it 413 once the caller is known, so the refusal of a mutating call is audited;
/// the public routes answer 413 at once.
#[derive(Debug, Clone, Copy)]
struct BodyTooLarge;

/// Bounds every request body to [`MAX_BODY`]: a larger one (by its `Content-Length`, or read
/// up to the limit when chunked) is dropped unread and the request marked [`BodyTooLarge`],
/// so no handler ever runs on it. `DefaultBodyLimit` alone would not do: it only bounds the
/// extractors that read a body, and no route has one, so a huge body was simply accepted.
async fn limit_body(request: Request, next: Next) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    if let Some(length) = parts.headers.get(header::CONTENT_LENGTH) {
        let length = length
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .ok_or_else(|| ApiError::bad_request("the Content-Length header is not a number"))?;
        if length > MAX_BODY as u64 {
            parts.extensions.insert(BodyTooLarge);
            return Ok(next.run(Request::from_parts(parts, Body::empty())).await);
        }
    }
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
        if bytes.len() + chunk.len() > MAX_BODY {
            parts.extensions.insert(BodyTooLarge);
            return Ok(next.run(Request::from_parts(parts, Body::empty())).await);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await)
}

/// 413 for a [`BodyTooLarge`] request on a public route.
async fn refuse_oversized(request: Request, next: Next) -> Result<Response, ApiError> {
    if request.extensions().get::<BodyTooLarge>().is_some() {
        return Err(ApiError::payload_too_large(MAX_BODY));
    }
    Ok(next.run(request).await)
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
