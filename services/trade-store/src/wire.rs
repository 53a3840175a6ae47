//! Wire messages of the trade-store contract to store values and back, for what
//! `levibot_proto::convert` does not cover (orders with their state, time ranges, filters).

use levibot_core::{Actor, Money, OrderRequest, Price, Quantity, SignalId, Symbol, TimestampMs};
use levibot_proto::{
    ConversionError,
    convert::{role_to_wire, side_from_wire, side_to_wire},
    v1::{self, OrderStatus as WireStatus},
};
use serde_json::{Map, Value, json};

use crate::{
    error::ApiError,
    store::{
        ApiKey, AuditEntry, EquitySnapshot, EssState, EssTransition, NewPolicyVersion, OrderRecord,
        OrderState, OrderStatus, PolicyVersion, RiskDecision, SignalRecord, StoreError,
    },
};

/// Largest `detail_json` (of a decision or an audit entry) accepted, in bytes.
pub const MAX_DETAIL_JSON_BYTES: usize = 64 * 1024;
/// Longest audit `actor` and `action`, in characters.
pub const MAX_AUDIT_TEXT_CHARS: usize = 256;
/// Most component votes one signal may carry.
pub const MAX_VOTES: usize = 64;
/// Largest policy `document_json` accepted, in bytes.
pub const MAX_POLICY_DOCUMENT_BYTES: usize = 256 * 1024;
/// Longest free-text `reason` of a policy version or an ESS transition, in characters.
pub const MAX_REASON_TEXT_CHARS: usize = 1_024;

const STATUSES: [(OrderStatus, WireStatus); 6] = [
    (OrderStatus::New, WireStatus::New),
    (OrderStatus::PartiallyFilled, WireStatus::PartiallyFilled),
    (OrderStatus::Filled, WireStatus::Filled),
    (OrderStatus::Canceled, WireStatus::Canceled),
    (OrderStatus::Rejected, WireStatus::Rejected),
    (OrderStatus::Expired, WireStatus::Expired),
];

fn invalid(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::InvalidArgument(format!("{field}: {message}"))
}

fn status_from_wire(value: i32) -> Result<OrderStatus, ApiError> {
    STATUSES
        .iter()
        .find(|(_, wire)| *wire as i32 == value)
        .map(|(status, _)| *status)
        .ok_or_else(|| invalid("order.status", format!("unknown order status {value}")))
}

fn status_to_wire(status: OrderStatus) -> WireStatus {
    STATUSES
        .iter()
        .find(|(domain, _)| *domain == status)
        .map_or(WireStatus::Unspecified, |(_, wire)| *wire)
}

fn optional(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// An order with its state from the wire. An empty filled quantity means nothing filled; empty
/// strings mean "none" for the exchange order id, average price and reject reason.
pub(crate) fn order_from_wire(order: &v1::Order) -> Result<OrderRecord, ApiError> {
    let request = order
        .request
        .as_ref()
        .ok_or_else(|| invalid("order.request", "is required"))?;
    let request =
        OrderRequest::try_from(request).map_err(|e: ConversionError| ApiError::from(e))?;
    let filled_quantity = if order.filled_quantity.is_empty() {
        Quantity::ZERO
    } else {
        order
            .filled_quantity
            .parse()
            .map_err(|err| invalid("order.filled_quantity", err))?
    };
    let average_price = if order.average_price.is_empty() {
        None
    } else {
        Some(
            order
                .average_price
                .parse::<Price>()
                .map_err(|err| invalid("order.average_price", err))?,
        )
    };
    let state = OrderState {
        status: status_from_wire(order.status)?,
        exchange_order_id: optional(&order.exchange_order_id),
        filled_quantity,
        average_price,
        updated_at: TimestampMs::new(order.updated_ms),
        reject_reason: optional(&order.reject_reason),
    };
    OrderRecord::new(request, state).map_err(|err| invalid("order", err))
}

/// The wire form of a stored order.
pub(crate) fn order_to_wire(record: &OrderRecord) -> v1::Order {
    let state = record.state();
    v1::Order {
        request: Some(v1::OrderRequest::from(record.request())),
        exchange_order_id: state.exchange_order_id.clone().unwrap_or_default(),
        status: status_to_wire(state.status) as i32,
        filled_quantity: state.filled_quantity.to_string(),
        average_price: state
            .average_price
            .map(|p| p.to_string())
            .unwrap_or_default(),
        updated_ms: state.updated_at.as_i64(),
        reject_reason: state.reject_reason.clone().unwrap_or_default(),
    }
}

/// `[from, to)` of a request; no range means all time.
pub(crate) fn time_range(
    range: Option<&v1::TimeRange>,
) -> Result<(TimestampMs, TimestampMs), ApiError> {
    let Some(range) = range else {
        return Ok((TimestampMs::new(i64::MIN), TimestampMs::new(i64::MAX)));
    };
    if range.from_ms > range.to_ms {
        return Err(invalid(
            "range",
            format!("from_ms {} is after to_ms {}", range.from_ms, range.to_ms),
        ));
    }
    Ok((
        TimestampMs::new(range.from_ms),
        TimestampMs::new(range.to_ms),
    ))
}

/// A symbol filter: empty means every symbol.
pub(crate) fn symbol_filter(value: &str) -> Result<Option<Symbol>, ApiError> {
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|err| invalid("symbol", err))
}

/// A required, non-zero time in ms.
fn required_ms(field: &str, value: i64) -> Result<TimestampMs, ApiError> {
    if value == 0 {
        return Err(invalid(field, "is required"));
    }
    Ok(TimestampMs::new(value))
}

fn probability(field: &str, value: f64) -> Result<f64, ApiError> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            field,
            format!("must be within [0, 1], got {value}"),
        ))
    }
}

/// A `detail_json` field: a JSON object of at most [`MAX_DETAIL_JSON_BYTES`]; empty means `{}`.
pub(crate) fn json_object(field: &str, text: &str) -> Result<Value, ApiError> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    if text.len() > MAX_DETAIL_JSON_BYTES {
        return Err(invalid(
            field,
            format!(
                "is {} bytes, the limit is {MAX_DETAIL_JSON_BYTES}",
                text.len()
            ),
        ));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|err| invalid(field, format!("invalid JSON: {err}")))?;
    if !value.is_object() {
        return Err(invalid(field, "must be a JSON object"));
    }
    Ok(value)
}

/// The votes of a wire signal as the JSON array the store keeps.
fn votes_from_wire(votes: &[v1::ComponentVote]) -> Result<Value, ApiError> {
    if votes.len() > MAX_VOTES {
        return Err(invalid(
            "signal.votes",
            format!("{} votes, the limit is {MAX_VOTES}", votes.len()),
        ));
    }
    votes
        .iter()
        .enumerate()
        .map(|(i, vote)| {
            let field = |name: &str| format!("signal.votes[{i}].{name}");
            if vote.component.trim().is_empty() {
                return Err(invalid(&field("component"), "is required"));
            }
            probability(&field("probability_up"), vote.probability_up)?;
            if !(vote.weight.is_finite() && vote.weight >= 0.0) {
                return Err(invalid(
                    &field("weight"),
                    format!("must be finite and not negative, got {}", vote.weight),
                ));
            }
            Ok(json!({
                "component": vote.component,
                "probability_up": vote.probability_up,
                "weight": vote.weight,
                "model_version": vote.model_version,
                "available": vote.available,
            }))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// The wire votes of a stored signal; fields a stored vote lacks take their defaults.
fn votes_to_wire(votes: &Value) -> Result<Vec<v1::ComponentVote>, StoreError> {
    let corrupt = |reason: &str| StoreError::corrupt("signals", format!("votes: {reason}"));
    let Value::Array(votes) = votes else {
        return Err(corrupt("not a JSON array"));
    };
    votes
        .iter()
        .map(|vote| {
            let Value::Object(vote) = vote else {
                return Err(corrupt("a vote is not a JSON object"));
            };
            let text = |key: &str| vote.get(key).and_then(Value::as_str).unwrap_or_default();
            let number = |key: &str| vote.get(key).and_then(Value::as_f64).unwrap_or_default();
            Ok(v1::ComponentVote {
                component: text("component").to_owned(),
                probability_up: number("probability_up"),
                weight: number("weight"),
                model_version: text("model_version").to_owned(),
                available: vote
                    .get("available")
                    .and_then(Value::as_bool)
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// A signal and its decision from a `RecordSignal` request, every field checked.
pub(crate) fn signal_from_wire(
    request: &v1::RecordSignalRequest,
) -> Result<SignalRecord, ApiError> {
    let signal = request
        .signal
        .as_ref()
        .ok_or_else(|| invalid("signal", "is required"))?;
    let decision = request
        .decision
        .as_ref()
        .ok_or_else(|| invalid("decision", "is required"))?;
    if signal.signal_id.is_empty() {
        return Err(invalid("signal.signal_id", "is required"));
    }
    let signal_id: SignalId = signal
        .signal_id
        .parse()
        .map_err(|err| invalid("signal.signal_id", err))?;
    let symbol: Symbol = signal
        .symbol
        .parse()
        .map_err(|err| invalid("signal.symbol", err))?;
    if signal.strategy.trim().is_empty() {
        return Err(invalid("signal.strategy", "is required"));
    }
    let reason = match (decision.approved, decision.reason.trim()) {
        (true, "") => None,
        (true, reason) => {
            return Err(invalid(
                "decision.reason",
                format!("must be empty when approved, got {reason:?}"),
            ));
        }
        (false, "") => return Err(invalid("decision.reason", "is required when refused")),
        (false, reason) => {
            RiskDecision::check_reason(reason)
                .map_err(|message| invalid("decision.reason", format!("{reason:?} {message}")))?;
            Some(reason.to_owned())
        }
    };
    let record = SignalRecord {
        signal_id,
        symbol,
        bar_open_time: TimestampMs::new(signal.bar_open_time_ms),
        side: side_from_wire("signal.side", signal.side)?,
        probability_up: probability("signal.probability_up", signal.probability_up)?,
        confidence: probability("signal.confidence", signal.confidence)?,
        strategy: signal.strategy.clone(),
        votes: votes_from_wire(&signal.votes)?,
        created_at: required_ms("signal.created_ms", signal.created_ms)?,
        decision: Some(RiskDecision {
            approved: decision.approved,
            reason,
            detail: json_object("decision.detail_json", &decision.detail_json)?,
            decided_at: required_ms("decision.decided_ms", decision.decided_ms)?,
        }),
    };
    Ok(record)
}

/// The wire form of a stored signal and its decision (none for a signal stored without one).
pub(crate) fn signal_to_wire(record: &SignalRecord) -> Result<v1::SignalRecord, StoreError> {
    Ok(v1::SignalRecord {
        signal: Some(v1::Signal {
            signal_id: record.signal_id.to_string(),
            symbol: record.symbol.as_str().to_owned(),
            bar_open_time_ms: record.bar_open_time.as_i64(),
            side: side_to_wire(record.side) as i32,
            probability_up: record.probability_up,
            confidence: record.confidence,
            strategy: record.strategy.clone(),
            votes: votes_to_wire(&record.votes)?,
            created_ms: record.created_at.as_i64(),
        }),
        decision: record.decision.as_ref().map(|d| v1::RiskDecision {
            approved: d.approved,
            reason: d.reason.clone().unwrap_or_default(),
            detail_json: d.detail.to_string(),
            decided_ms: d.decided_at.as_i64(),
        }),
    })
}

/// The caller of an audited RPC; required.
pub(crate) fn actor_from_wire(actor: Option<&v1::Actor>) -> Result<Actor, ApiError> {
    let actor = actor.ok_or_else(|| invalid("actor", "is required"))?;
    Ok(Actor::try_from(actor)?)
}

/// The wire form of a stored key.
pub(crate) fn api_key_to_wire(key: &ApiKey) -> v1::ApiKeyInfo {
    v1::ApiKeyInfo {
        key_id: key.key_id.to_string(),
        name: key.name.clone(),
        role: role_to_wire(key.role) as i32,
        created_ms: key.created_at.as_i64(),
        revoked_ms: key.revoked_at.map_or(0, TimestampMs::as_i64),
    }
}

fn audit_text(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid(field, "is required"));
    }
    if value.chars().count() > MAX_AUDIT_TEXT_CHARS {
        return Err(invalid(
            field,
            format!("is longer than {MAX_AUDIT_TEXT_CHARS} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not hold control characters"));
    }
    Ok(value.to_owned())
}

/// An audit entry from the wire, every field checked.
pub(crate) fn audit_from_wire(entry: Option<&v1::AuditEntry>) -> Result<AuditEntry, ApiError> {
    let entry = entry.ok_or_else(|| invalid("entry", "is required"))?;
    Ok(AuditEntry {
        at: required_ms("entry.at_ms", entry.at_ms)?,
        actor: audit_text("entry.actor", &entry.actor)?,
        action: audit_text("entry.action", &entry.action)?,
        detail: json_object("entry.detail_json", &entry.detail_json)?,
    })
}

/// The wire form of a stored audit entry.
pub(crate) fn audit_to_wire(entry: &AuditEntry) -> v1::AuditEntry {
    v1::AuditEntry {
        at_ms: entry.at.as_i64(),
        actor: entry.actor.clone(),
        action: entry.action.clone(),
        detail_json: entry.detail.to_string(),
    }
}

/// An optional free text (a reason): at most [`MAX_REASON_TEXT_CHARS`], no control characters
/// but line breaks and tabs; trimmed.
fn reason_text(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.chars().count() > MAX_REASON_TEXT_CHARS {
        return Err(invalid(
            field,
            format!("is longer than {MAX_REASON_TEXT_CHARS} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(invalid(field, "must not hold control characters"));
    }
    Ok(value.to_owned())
}

/// A policy document: a JSON object of at most [`MAX_POLICY_DOCUMENT_BYTES`]; required.
fn policy_document(field: &str, text: &str) -> Result<Value, ApiError> {
    if text.trim().is_empty() {
        return Err(invalid(field, "is required"));
    }
    if text.len() > MAX_POLICY_DOCUMENT_BYTES {
        return Err(invalid(
            field,
            format!(
                "is {} bytes, the limit is {MAX_POLICY_DOCUMENT_BYTES}",
                text.len()
            ),
        ));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|err| invalid(field, format!("invalid JSON: {err}")))?;
    if !value.is_object() {
        return Err(invalid(field, "must be a JSON object"));
    }
    Ok(value)
}

/// A new policy version from an `AppendPolicyVersion` request, every field checked.
pub(crate) fn policy_version_from_wire(
    request: &v1::AppendPolicyVersionRequest,
) -> Result<NewPolicyVersion, ApiError> {
    Ok(NewPolicyVersion {
        profile: audit_text("profile", &request.profile)?,
        document: policy_document("document_json", &request.document_json)?,
        created_at: required_ms("created_ms", request.created_ms)?,
        actor: actor_from_wire(request.actor.as_ref())?,
        reason: reason_text("reason", &request.reason)?,
    })
}

/// The wire form of a stored policy version; the document as compact JSON.
pub(crate) fn policy_version_to_wire(version: &PolicyVersion) -> v1::PolicyVersionRecord {
    let policy = &version.policy;
    v1::PolicyVersionRecord {
        version: version.version,
        profile: policy.profile.clone(),
        document_json: policy.document.to_string(),
        created_ms: policy.created_at.as_i64(),
        actor: Some(v1::Actor::from(&policy.actor)),
        reason: policy.reason.clone(),
    }
}

const ESS_STATES: [(EssState, v1::EssState); 3] = [
    (EssState::Armed, v1::EssState::Armed),
    (EssState::Tripped, v1::EssState::Tripped),
    (EssState::Resetting, v1::EssState::Resetting),
];

fn ess_state_from_wire(field: &str, value: i32) -> Result<EssState, ApiError> {
    if value == v1::EssState::Unspecified as i32 {
        return Err(invalid(field, "is required"));
    }
    ESS_STATES
        .iter()
        .find(|(_, wire)| *wire as i32 == value)
        .map(|(state, _)| *state)
        .ok_or_else(|| invalid(field, format!("unknown ess state {value}")))
}

fn ess_state_to_wire(state: EssState) -> v1::EssState {
    ESS_STATES
        .iter()
        .find(|(domain, _)| *domain == state)
        .map_or(v1::EssState::Unspecified, |(_, wire)| *wire)
}

/// An ESS transition from an `AppendEssTransition` request, every field checked.
pub(crate) fn ess_transition_from_wire(
    transition: Option<&v1::EssTransition>,
) -> Result<EssTransition, ApiError> {
    let t = transition.ok_or_else(|| invalid("transition", "is required"))?;
    if t.seq == 0 {
        return Err(invalid("transition.seq", "must be 1 or more"));
    }
    if i64::try_from(t.seq).is_err() {
        return Err(invalid(
            "transition.seq",
            format!("{} is out of range", t.seq),
        ));
    }
    let cooldown_until = match t.cooldown_until_ms {
        0 => None,
        ms if ms < 0 => {
            return Err(invalid(
                "transition.cooldown_until_ms",
                format!("must be 0 (none) or a positive time, got {ms}"),
            ));
        }
        ms => Some(TimestampMs::new(ms)),
    };
    let actor = actor_from_wire(t.actor.as_ref()).map_err(|err| match err {
        ApiError::InvalidArgument(message) => {
            ApiError::InvalidArgument(format!("transition.{message}"))
        }
        other => other,
    })?;
    Ok(EssTransition {
        seq: t.seq,
        from: ess_state_from_wire("transition.from_state", t.from_state)?,
        to: ess_state_from_wire("transition.to_state", t.to_state)?,
        trigger: audit_text("transition.trigger", &t.trigger)?,
        reason: reason_text("transition.reason", &t.reason)?,
        actor,
        at: required_ms("transition.at_ms", t.at_ms)?,
        cooldown_until,
        detail: json_object("transition.detail_json", &t.detail_json)?,
    })
}

/// The wire form of a stored ESS transition.
pub(crate) fn ess_transition_to_wire(t: &EssTransition) -> v1::EssTransition {
    v1::EssTransition {
        seq: t.seq,
        from_state: ess_state_to_wire(t.from) as i32,
        to_state: ess_state_to_wire(t.to) as i32,
        trigger: t.trigger.clone(),
        reason: t.reason.clone(),
        actor: Some(v1::Actor::from(&t.actor)),
        at_ms: t.at.as_i64(),
        cooldown_until_ms: t.cooldown_until.map_or(0, TimestampMs::as_i64),
        detail_json: t.detail.to_string(),
    }
}

/// Snapshot `index` of a `RecordEquitySnapshots` request, every field checked; a bad field is
/// named with its index (`snapshots[3].cash: ...`).
pub(crate) fn equity_snapshot_from_wire(
    index: usize,
    wire: &v1::EquitySnapshot,
) -> Result<EquitySnapshot, ApiError> {
    let field = |name: &str| format!("snapshots[{index}].{name}");
    let money = |name: &str, value: &str| -> Result<Money, ApiError> {
        if value.is_empty() {
            return Err(invalid(&field(name), "is required"));
        }
        value.parse().map_err(|err| invalid(&field(name), err))
    };
    if wire.at_ms <= 0 {
        return Err(invalid(
            &field("at_ms"),
            format!("must be a positive time in ms, got {}", wire.at_ms),
        ));
    }
    Ok(EquitySnapshot {
        at: TimestampMs::new(wire.at_ms),
        equity: money("equity", &wire.equity)?,
        cash: money("cash", &wire.cash)?,
        unrealized_pnl: money("unrealized_pnl", &wire.unrealized_pnl)?,
        realized_pnl: money("realized_pnl", &wire.realized_pnl)?,
    })
}

/// The wire form of a stored equity snapshot, decimals with their stored scale.
pub(crate) fn equity_snapshot_to_wire(s: &EquitySnapshot) -> v1::EquitySnapshot {
    v1::EquitySnapshot {
        at_ms: s.at.as_i64(),
        equity: s.equity.to_string(),
        cash: s.cash.to_string(),
        unrealized_pnl: s.unrealized_pnl.to_string(),
        realized_pnl: s.realized_pnl.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire_order() -> v1::Order {
        v1::Order {
            request: Some(v1::OrderRequest {
                client_order_id: "lb-1".into(),
                symbol: "BTCUSDT".into(),
                side: v1::Side::Buy as i32,
                quantity: "0.010".into(),
                limit_price: "46216.10".into(),
                time_in_force: v1::TimeInForce::Gtc as i32,
                signal_id: String::new(),
                created_ms: 1_000,
            }),
            exchange_order_id: "884".into(),
            status: WireStatus::PartiallyFilled as i32,
            filled_quantity: "0.004".into(),
            average_price: "46216.00".into(),
            updated_ms: 2_000,
            reject_reason: String::new(),
        }
    }

    #[test]
    fn orders_round_trip() {
        let wire = wire_order();
        let record = order_from_wire(&wire).unwrap();
        assert_eq!(record.state().status, OrderStatus::PartiallyFilled);
        assert_eq!(order_to_wire(&record), wire);
    }

    #[test]
    fn bad_orders_name_the_field() {
        let mut no_request = wire_order();
        no_request.request = None;
        let mut overfilled = wire_order();
        overfilled.filled_quantity = "1".into();
        let mut no_status = wire_order();
        no_status.status = 0;
        let mut negative = wire_order();
        negative.filled_quantity = "-1".into();
        for (order, field) in [
            (no_request, "order.request"),
            (overfilled, "order: filled quantity"),
            (no_status, "order.status"),
            (negative, "order.filled_quantity"),
        ] {
            let err = order_from_wire(&order).unwrap_err().to_string();
            assert!(err.starts_with(field), "{err}");
        }
    }

    #[test]
    fn ranges_and_filters() {
        assert_eq!(
            time_range(None).unwrap(),
            (TimestampMs::new(i64::MIN), TimestampMs::new(i64::MAX))
        );
        let backwards = v1::TimeRange {
            from_ms: 2,
            to_ms: 1,
        };
        assert!(time_range(Some(&backwards)).is_err());
        assert_eq!(symbol_filter("").unwrap(), None);
        assert!(symbol_filter("BTC/USDT").is_err());
    }
}
