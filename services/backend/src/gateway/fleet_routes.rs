//! The routes that answer from other services over gRPC: the portfolio (`/portfolio`,
//! `/positions`, `/equity`, `/exposure`), the policy-store (`/policy`, `/ess`, `/ess/trip`,
//! `/ess/reset`) and the health-aggregator (`/health/cluster`). Amounts stay the decimal
//! strings the services send; the caller's identity goes to policy-store as the actor, and
//! every ESS call is audited here whatever its outcome.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query, RawQuery, State};
use axum::http::StatusCode;
use levibot_proto::v1;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Principal;
use super::error::ApiError;
use super::{GatewayState, audit};

/// A gRPC refusal as an HTTP error with the service's own message.
fn from_status(service: &str, status: &tonic::Status) -> ApiError {
    use tonic::Code;
    let message = status.message().to_owned();
    match status.code() {
        Code::InvalidArgument | Code::OutOfRange => ApiError::bad_request(message),
        Code::PermissionDenied => ApiError::forbidden(message),
        Code::NotFound => ApiError::new(StatusCode::NOT_FOUND, "not_found", message),
        Code::FailedPrecondition | Code::Aborted => {
            ApiError::new(StatusCode::CONFLICT, "conflict", message)
        }
        code => ApiError::unavailable(format!("{service} answered {code}: {message}")),
    }
}

fn ess_state_name(state: i32) -> &'static str {
    match v1::EssState::try_from(state) {
        Ok(v1::EssState::Armed) => "ARMED",
        Ok(v1::EssState::Tripped) => "TRIPPED",
        Ok(v1::EssState::Resetting) => "RESETTING",
        _ => "UNKNOWN",
    }
}

fn ess_json(status: &v1::EssStatus) -> Value {
    json!({
        "state": ess_state_name(status.state),
        "reason": status.reason,
        "trigger": status.trigger,
        "since_ms": status.since_ms,
        "cooldown_until_ms": status.cooldown_until_ms,
        "seq": status.seq,
        "policy_version": status.policy_version,
        "flatten_on_trip": status.flatten_on_trip,
    })
}

/// `GET /portfolio`: cash, equity, PnL, fees, reconciliation.
pub(super) async fn portfolio(State(state): State<GatewayState>) -> Result<Json<Value>, ApiError> {
    let s = state
        .portfolio
        .clone()
        .get_summary(v1::GetSummaryRequest {})
        .await
        .map_err(|e| from_status("portfolio", &e))?
        .into_inner();
    Ok(Json(json!({
        "cash": s.cash,
        "equity": s.equity,
        "realized_pnl": s.realized_pnl,
        "unrealized_pnl": s.unrealized_pnl,
        "fees": s.fees,
        "quote_asset": s.quote_asset,
        "as_of_ms": s.as_of_ms,
        "reconciled": s.reconciled,
    })))
}

/// `GET /positions`.
pub(super) async fn positions(State(state): State<GatewayState>) -> Result<Json<Value>, ApiError> {
    let positions = state
        .portfolio
        .clone()
        .list_positions(v1::ListPositionsRequest {})
        .await
        .map_err(|e| from_status("portfolio", &e))?
        .into_inner()
        .positions;
    Ok(Json(Value::Array(
        positions
            .iter()
            .map(|p| {
                json!({
                    "symbol": p.symbol,
                    "quantity": p.quantity,
                    "average_price": p.average_price,
                    "mark_price": p.mark_price,
                    "unrealized_pnl": p.unrealized_pnl,
                    "realized_pnl": p.realized_pnl,
                })
            })
            .collect(),
    )))
}

/// `GET /exposure`.
pub(super) async fn exposure(State(state): State<GatewayState>) -> Result<Json<Value>, ApiError> {
    let e = state
        .portfolio
        .clone()
        .get_exposure(v1::GetExposureRequest {})
        .await
        .map_err(|e| from_status("portfolio", &e))?
        .into_inner();
    Ok(Json(json!({
        "total_usd": e.total_usd,
        "symbols": e.symbols.iter().map(|s| json!({"symbol": s.symbol, "notional_usd": s.notional_usd})).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EquityParams {
    from: Option<i64>,
    to: Option<i64>,
}

/// `GET /equity?from=&to=` (epoch ms; default: the last 7 days).
pub(super) async fn equity(
    State(state): State<GatewayState>,
    params: Result<Query<EquityParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    const DEFAULT_RANGE_MS: i64 = 7 * 86_400_000;
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let to = params
        .to
        .unwrap_or_else(|| state.clock.now().as_i64().saturating_add(1));
    let from = params
        .from
        .unwrap_or_else(|| to.saturating_sub(DEFAULT_RANGE_MS));
    if from >= to {
        return Err(ApiError::bad_request(format!(
            "from ({from}) must be before to ({to})"
        )));
    }
    let points = state
        .portfolio
        .clone()
        .get_equity_curve(v1::GetEquityCurveRequest {
            range: Some(v1::TimeRange {
                from_ms: from,
                to_ms: to,
            }),
        })
        .await
        .map_err(|e| from_status("portfolio", &e))?
        .into_inner()
        .points;
    Ok(Json(Value::Array(
        points
            .iter()
            .map(|p| json!({"time_ms": p.time_ms, "equity": p.equity}))
            .collect(),
    )))
}

/// `GET /policy`: the risk policy in force.
pub(super) async fn policy(State(state): State<GatewayState>) -> Result<Json<Value>, ApiError> {
    let p = state
        .policy
        .clone()
        .get_policy(v1::GetPolicyRequest {})
        .await
        .map_err(|e| from_status("policy-store", &e))?
        .into_inner();
    Ok(Json(json!({
        "version": p.version,
        "profile": p.profile,
        "symbols": p.symbols,
        "max_positions": p.max_positions,
        "max_position_usd": p.max_position_usd,
        "symbol_caps": p.symbol_caps.iter().map(|c| json!({"symbol": c.symbol, "max_position_usd": c.max_position_usd})).collect::<Vec<_>>(),
        "daily_loss_limit_usd": p.daily_loss_limit_usd,
        "ess_max_drawdown_pct": p.ess_max_drawdown_pct,
        "min_confidence": p.min_confidence,
        "throttle_max_signals": p.throttle_max_signals,
        "throttle_window_ms": p.throttle_window_ms,
        "ensemble_weights": p.ensemble_weights.iter().map(|w| json!({"component": w.component, "weight": w.weight})).collect::<Vec<_>>(),
        "max_total_exposure_usd": p.max_total_exposure_usd,
        "ess_cooldown_ms": p.ess_cooldown_ms,
        "ess_flatten_on_trip": p.ess_flatten_on_trip,
        "updated_ms": p.updated_ms,
        "updated_by": p.updated_by,
        "reason": p.reason,
    })))
}

/// `GET /ess`.
pub(super) async fn ess(State(state): State<GatewayState>) -> Result<Json<Value>, ApiError> {
    let status = state
        .policy
        .clone()
        .get_ess(v1::GetEssRequest {})
        .await
        .map_err(|e| from_status("policy-store", &e))?
        .into_inner();
    Ok(Json(ess_json(&status)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReasonParams {
    #[serde(default)]
    reason: String,
}

fn checked_reason(params: Result<Query<ReasonParams>, QueryRejection>) -> Result<String, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    super::routes::reason(&params.reason)
}

fn actor(principal: &Principal) -> v1::Actor {
    v1::Actor {
        name: format!("{} ({})", principal.name, principal.key_id),
        role: principal.role.as_str().to_owned(),
    }
}

/// Which ESS transition a caller asks for.
#[derive(Debug, Clone, Copy)]
pub(super) enum EssAction {
    Trip,
    Reset,
}

/// `POST /ess/trip?reason=` (trader) and `POST /ess/reset?reason=` (admin; policy-store
/// also refuses during the cooldown or while the breach persists).
pub(super) async fn ess_action(
    state: GatewayState,
    principal: Principal,
    action: EssAction,
    raw: Option<String>,
    params: Result<Query<ReasonParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let (path, result) = match action {
        EssAction::Trip => (
            "POST /ess/trip",
            async {
                let reason = checked_reason(params)?;
                state
                    .policy
                    .clone()
                    .trip_ess(v1::TripEssRequest {
                        reason,
                        actor: Some(actor(&principal)),
                        trigger: "manual".to_owned(),
                        detail_json: String::new(),
                    })
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(|e| from_status("policy-store", &e))
            }
            .await,
        ),
        EssAction::Reset => (
            "POST /ess/reset",
            async {
                let reason = checked_reason(params)?;
                state
                    .policy
                    .clone()
                    .reset_ess(v1::ResetEssRequest {
                        reason,
                        actor: Some(actor(&principal)),
                    })
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(|e| from_status("policy-store", &e))
            }
            .await,
        ),
    };
    state
        .audit
        .record(
            &principal,
            path,
            json!({ "query": audit::clip(raw.as_deref().unwrap_or_default(), 1000) }),
            result.as_ref().map(ess_json),
        )
        .await;
    Ok(Json(ess_json(&result?)))
}

/// `POST /ess/trip` handler.
pub(super) async fn ess_trip(
    State(state): State<GatewayState>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
    params: Result<Query<ReasonParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    ess_action(state, principal, EssAction::Trip, raw, params).await
}

/// `POST /ess/reset` handler.
pub(super) async fn ess_reset(
    State(state): State<GatewayState>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
    params: Result<Query<ReasonParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    ess_action(state, principal, EssAction::Reset, raw, params).await
}

/// `GET /health/cluster`: the health-aggregator's fleet view, run now.
pub(super) async fn cluster_health(
    State(state): State<GatewayState>,
) -> Result<Json<Value>, ApiError> {
    let report = state
        .health
        .clone()
        .get_fleet_health(v1::GetFleetHealthRequest {
            // the aggregator's latest poll, so a burst of callers cannot storm the fleet
            cached: true,
            ..v1::GetFleetHealthRequest::default()
        })
        .await
        .map_err(|e| from_status("health-aggregator", &e))?
        .into_inner();
    let status = match v1::FleetStatus::try_from(report.status) {
        Ok(v1::FleetStatus::Ok) => "OK",
        Ok(v1::FleetStatus::Degraded) => "DEGRADED",
        Ok(v1::FleetStatus::Down) => "DOWN",
        _ => "UNKNOWN",
    };
    let severity = |s: i32| match v1::CheckSeverity::try_from(s) {
        Ok(v1::CheckSeverity::Critical) => "critical",
        Ok(v1::CheckSeverity::Warning) => "warning",
        _ => "unknown",
    };
    Ok(Json(json!({
        "status": status,
        "ok": report.ok,
        "reasons": report.reasons,
        "checked_ms": report.checked_ms,
        "checks": report.checks.iter().map(|c| json!({
            "name": c.name,
            "ok": c.ok,
            "severity": severity(c.severity),
            "detail": c.detail,
            "latency_ms": c.latency_ms,
        })).collect::<Vec<_>>(),
    })))
}
