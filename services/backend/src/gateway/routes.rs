//! The REST handlers.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, RawQuery, State};
use axum::http::{Method, StatusCode, Uri};
use levibot_core::Symbol;
use levibot_proto::v1::{self, QueryFillsRequest, QueryOrdersRequest, TimeRange};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::GatewayState;
use super::audit;
use super::auth::Principal;
use super::error::ApiError;
use crate::engines::EngineStatus;
use crate::events::BackendEvent;
use crate::gates::GateState;

/// Longest time range `/orders` and `/fills` answer in one call (31 days).
const MAX_RANGE_MS: i64 = 31 * 86_400_000;
/// Default range: the last 24 hours.
const DEFAULT_RANGE_MS: i64 = 86_400_000;
/// Longest kill-switch reason.
const MAX_REASON_LEN: usize = 500;

/// The risk manager's state as `GET /risk` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskReport {
    /// The trading switches.
    #[serde(flatten)]
    pub gates: GateState,
    /// The ESS state as last read from policy-store (`armed`, `tripped`, `resetting`, or
    /// `unknown` when policy-store cannot be reached — which blocks orders).
    pub ess_state: String,
    /// Whether the daily loss limit stopped trading for the day.
    pub global_stop: bool,
    /// Open positions.
    pub open_positions: u32,
    /// The limit on open positions.
    pub max_positions: u32,
    /// Total exposure in USD (decimal string).
    pub exposure_usd: String,
    /// Today's PnL in USD (decimal string).
    pub daily_pnl_usd: String,
    /// The daily loss limit in USD (decimal string).
    pub daily_loss_limit_usd: String,
    /// Refusals so far, by reason.
    pub rejections: BTreeMap<String, u64>,
    /// The version of the risk policy in force.
    pub policy_version: u64,
}

/// Where `GET /risk` gets its numbers.
pub trait RiskReporter: Send + Sync {
    /// The current report.
    fn report(&self) -> RiskReport;
}

/// Parses a path symbol: 400 if malformed (an unconfigured one is 404 later).
/// A `reason` parameter: required (why the caller does it, for the audit log), at most
/// [`MAX_REASON_LEN`] bytes, no control characters; trimmed.
pub(super) fn reason(text: &str) -> Result<String, ApiError> {
    let reason = text.trim();
    if reason.is_empty() {
        return Err(ApiError::bad_request(
            "reason is required (why, for the audit log)",
        ));
    }
    if reason.len() > MAX_REASON_LEN {
        return Err(ApiError::bad_request(format!(
            "reason is longer than {MAX_REASON_LEN} bytes"
        )));
    }
    if reason.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "reason must not hold control characters",
        ));
    }
    Ok(reason.to_owned())
}

fn symbol(text: &str) -> Result<Symbol, ApiError> {
    Symbol::new(text).map_err(|e| ApiError::bad_request(format!("bad symbol {text:?}: {e}")))
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query.map(|Query(q)| q).map_err(ApiError::from)
}

/// `GET /engines/status`
pub(super) async fn engines_status(State(state): State<GatewayState>) -> Json<Vec<EngineStatus>> {
    Json(state.engines.statuses())
}

/// `GET /engines/status/{symbol}`
pub(super) async fn engine_status(
    State(state): State<GatewayState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<EngineStatus>, ApiError> {
    let Path(text) = path?;
    Ok(Json(state.engines.status(symbol(&text)?)?))
}

/// What `POST /engines/{action}/{symbol}` may do.
#[derive(Debug, Clone, Copy)]
enum EngineAction {
    Start,
    Stop,
    Restart,
}

impl EngineAction {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Restart => "restart",
        }
    }

    fn parse(text: &str) -> Result<Self, ApiError> {
        match text {
            "start" => Ok(Self::Start),
            "stop" => Ok(Self::Stop),
            "restart" => Ok(Self::Restart),
            other => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_action",
                format!(
                    "unknown engine action {:?}: use start, stop or restart",
                    audit::clip(other, 40)
                ),
            )),
        }
    }
}

/// `POST /engines/{start|stop|restart}/{symbol}`
pub(super) async fn engine_action(
    State(state): State<GatewayState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    uri: Uri,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<EngineStatus>, ApiError> {
    // Audited as called (the raw path) until the call is understood, then canonically
    // (`POST /engines/stop/ETHUSDT` however the symbol was spelled).
    let mut audit_action = audit::action(&method, uri.path());
    let result = async {
        let Path((action, text)) = path?;
        let action = EngineAction::parse(&action)?;
        let symbol = symbol(&text)?;
        audit_action = format!("{method} /engines/{}/{symbol}", action.as_str());
        let status = match action {
            EngineAction::Start => state.engines.start(symbol).await?,
            EngineAction::Stop => state.engines.stop(symbol).await?,
            EngineAction::Restart => state.engines.restart(symbol).await?,
        };
        state.events.publish(BackendEvent::Engine {
            symbol: symbol.to_string(),
            state: status.state.as_str().to_owned(),
        });
        Ok(status)
    }
    .await;
    state
        .audit
        .record(
            &principal,
            &audit_action,
            json!({}),
            result.as_ref().map(|s| json!({"state": s.state})),
        )
        .await;
    result.map(Json)
}

/// `GET /risk`
pub(super) async fn risk(State(state): State<GatewayState>) -> Json<RiskReport> {
    Json(state.risk.report())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KillParams {
    on: bool,
    #[serde(default)]
    reason: String,
}

/// `POST /live/kill?on=true|false&reason=...` — a trader may engage it; only an admin may
/// release it.
pub(super) async fn kill(
    State(state): State<GatewayState>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
    params: Result<Query<KillParams>, QueryRejection>,
) -> Result<Json<GateState>, ApiError> {
    let result = (|| {
        let params = query(params)?;
        let reason = reason(&params.reason)?;
        let reason = reason.as_str();
        if !params.on && !principal.role.allows(levibot_core::auth::Role::Admin) {
            return Err(ApiError::forbidden(
                "releasing the kill switch needs the admin role",
            ));
        }
        let gates = state.gates.set_kill_switch(
            params.on,
            reason,
            &principal.describe(),
            state.clock.now(),
        );
        Ok((params.on, gates))
    })();
    // What was asked, even when it was refused (the raw query when it did not parse).
    let detail = match &result {
        Ok((on, gates)) => json!({ "on": on, "reason": gates.kill_reason }),
        Err(_) => json!({ "query": audit::clip(raw.as_deref().unwrap_or_default(), 1000) }),
    };
    state
        .audit
        .record(
            &principal,
            "POST /live/kill",
            detail,
            result
                .as_ref()
                .map(|(_, g)| json!({"kill_switch": g.kill_switch, "reason": g.kill_reason})),
        )
        .await;
    let (_, gates) = result?;
    publish_gates(&state, &gates);
    Ok(Json(gates))
}

/// `POST /trading/enable` (admin) and `POST /trading/disable` (trader).
pub(super) async fn set_trading(
    state: GatewayState,
    principal: Principal,
    enabled: bool,
) -> Result<Json<GateState>, ApiError> {
    let gates = state
        .gates
        .set_trading_enabled(enabled, &principal.describe(), state.clock.now());
    let action = if enabled {
        "POST /trading/enable"
    } else {
        "POST /trading/disable"
    };
    state
        .audit
        .record(
            &principal,
            action,
            json!({}),
            Ok(json!({"trading_enabled": gates.trading_enabled})),
        )
        .await;
    publish_gates(&state, &gates);
    Ok(Json(gates))
}

fn publish_gates(state: &GatewayState, gates: &GateState) {
    state.events.publish(BackendEvent::Gates {
        trading_enabled: gates.trading_enabled,
        kill_switch: gates.kill_switch,
    });
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RangeParams {
    symbol: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
}

impl RangeParams {
    fn resolve(self, now: i64) -> Result<(String, TimeRange), ApiError> {
        let symbol = match self.symbol.as_deref() {
            None | Some("") => String::new(),
            Some(text) => symbol(text)?.to_string(),
        };
        let to = self.to.unwrap_or(now.saturating_add(1));
        let from = self.from.unwrap_or(to.saturating_sub(DEFAULT_RANGE_MS));
        if from >= to {
            return Err(ApiError::bad_request(format!(
                "from ({from}) must be before to ({to})"
            )));
        }
        if to.saturating_sub(from) > MAX_RANGE_MS {
            return Err(ApiError::bad_request(format!(
                "the range is longer than {} days; page through it",
                MAX_RANGE_MS / 86_400_000
            )));
        }
        Ok((
            symbol,
            TimeRange {
                from_ms: from,
                to_ms: to,
            },
        ))
    }
}

/// `GET /orders?symbol=&from=&to=` (epoch ms; default: the last 24 hours).
pub(super) async fn orders(
    State(state): State<GatewayState>,
    params: Result<Query<RangeParams>, QueryRejection>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let (symbol, range) = query(params)?.resolve(state.clock.now().as_i64())?;
    let mut store = state.store.clone();
    let orders = store
        .query_orders(QueryOrdersRequest {
            symbol,
            range: Some(range),
        })
        .await
        .map_err(|status| store_error(&status))?
        .into_inner()
        .orders;
    Ok(Json(orders.iter().map(order_json).collect()))
}

/// `GET /fills?symbol=&from=&to=` (epoch ms; default: the last 24 hours).
pub(super) async fn fills(
    State(state): State<GatewayState>,
    params: Result<Query<RangeParams>, QueryRejection>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let (symbol, range) = query(params)?.resolve(state.clock.now().as_i64())?;
    let mut store = state.store.clone();
    let fills = store
        .query_fills(QueryFillsRequest {
            symbol,
            range: Some(range),
        })
        .await
        .map_err(|status| store_error(&status))?
        .into_inner()
        .fills;
    Ok(Json(fills.iter().map(fill_json).collect()))
}

fn store_error(status: &tonic::Status) -> ApiError {
    match status.code() {
        tonic::Code::InvalidArgument | tonic::Code::OutOfRange | tonic::Code::ResourceExhausted => {
            ApiError::bad_request(status.message().to_owned())
        }
        code => ApiError::unavailable(format!("trade-store answered {code}: {}", status.message())),
    }
}

fn side_name(side: i32) -> &'static str {
    match v1::Side::try_from(side) {
        Ok(v1::Side::Buy) => "BUY",
        Ok(v1::Side::Sell) => "SELL",
        _ => "UNSPECIFIED",
    }
}

fn order_json(order: &v1::Order) -> Value {
    let request = order.request.clone().unwrap_or_default();
    let status = v1::OrderStatus::try_from(order.status)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("ORDER_STATUS_")
                .to_owned()
        })
        .unwrap_or_default();
    json!({
        "client_order_id": request.client_order_id,
        "symbol": request.symbol,
        "side": side_name(request.side),
        "quantity": request.quantity,
        "limit_price": request.limit_price,
        "signal_id": request.signal_id,
        "created_ms": request.created_ms,
        "exchange_order_id": order.exchange_order_id,
        "status": status,
        "filled_quantity": order.filled_quantity,
        "average_price": order.average_price,
        "updated_ms": order.updated_ms,
        "reject_reason": order.reject_reason,
    })
}

fn fill_json(fill: &v1::Fill) -> Value {
    json!({
        "fill_id": fill.fill_id,
        "client_order_id": fill.client_order_id,
        "symbol": fill.symbol,
        "side": side_name(fill.side),
        "price": fill.price,
        "quantity": fill.quantity,
        "fee": fill.fee,
        "fee_asset": fill.fee_asset,
        "is_maker": fill.is_maker,
        "exchange_time_ms": fill.exchange_time_ms,
        "receive_time_ms": fill.receive_time_ms,
    })
}
