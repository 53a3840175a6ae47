//! Rows to domain values and back, shared by both backends. Decimals cross the SQL boundary as
//! their canonical strings (rust_decimal's `Display`, scale kept): PostgreSQL casts them to and
//! from NUMERIC in the statement, SQLite stores the text as is.

use std::{fmt::Display, str::FromStr};

use levibot_core::{
    Actor, Bar, ClientOrderId, Fill, FillParts, Interval, KeyId, Money, OrderRequest, OrderType,
    Price, Quantity, Role, Side, SignalId, Symbol, TimeInForce, TimestampMs,
};

use super::{
    ApiKey, AuditEntry, AuditRecord, EquitySnapshot, EssTransition, NewPolicyVersion, OrderRecord,
    OrderState, OrderStatus, PolicyVersion, RiskDecision, SignalRecord, StoreError,
};

fn parse<T>(table: &'static str, column: &str, value: &str) -> Result<T, StoreError>
where
    T: FromStr,
    T::Err: Display,
{
    value
        .parse()
        .map_err(|err| StoreError::corrupt(table, format!("{column} {value:?}: {err}")))
}

fn parse_opt<T>(
    table: &'static str,
    column: &str,
    value: Option<&str>,
) -> Result<Option<T>, StoreError>
where
    T: FromStr,
    T::Err: Display,
{
    value.map(|v| parse(table, column, v)).transpose()
}

/// A stored bar from its open time and its open, high, low, close and volume as text.
pub(crate) fn bar_from_text(
    symbol: Symbol,
    interval: Interval,
    open_time: i64,
    [open, high, low, close, volume]: [&str; 5],
) -> Result<Bar, StoreError> {
    bar_from_decimals(
        symbol,
        interval,
        open_time,
        [
            parse("bars", "open", open)?,
            parse("bars", "high", high)?,
            parse("bars", "low", low)?,
            parse("bars", "close", close)?,
            parse("bars", "volume", volume)?,
        ],
    )
}

/// A stored bar from its open time and its open, high, low, close and volume. Validated like
/// any bar (positive prices, OHLC order, aligned open time): PostgreSQL's CHECK constraints
/// guarantee most of it, but SQLite stores text without such checks, and at about 0.1 µs a
/// bar the check is not worth skipping.
pub(crate) fn bar_from_decimals(
    symbol: Symbol,
    interval: Interval,
    open_time: i64,
    [open, high, low, close, volume]: [rust_decimal::Decimal; 5],
) -> Result<Bar, StoreError> {
    let corrupt = |err: String| StoreError::corrupt("bars", format!("bar at {open_time}: {err}"));
    let price = |name: &str, value| {
        Price::new(value).map_err(|err| corrupt(format!("{name} {value}: {err}")))
    };
    Bar::new(
        symbol,
        interval,
        TimestampMs::new(open_time),
        price("open", open)?,
        price("high", high)?,
        price("low", low)?,
        price("close", close)?,
        Quantity::new(volume).map_err(|err| corrupt(format!("volume {volume}: {err}")))?,
    )
    .map_err(|err| corrupt(err.to_string()))
}

/// The bars of a batch as column arrays, decimals as canonical text.
#[derive(Debug, Default)]
pub(crate) struct BarColumns {
    pub(crate) symbol: Vec<String>,
    pub(crate) interval: Vec<String>,
    pub(crate) open_time: Vec<i64>,
    pub(crate) open: Vec<String>,
    pub(crate) high: Vec<String>,
    pub(crate) low: Vec<String>,
    pub(crate) close: Vec<String>,
    pub(crate) volume: Vec<String>,
}

/// One stored order, columns as the backends read them.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct OrderRow {
    pub(crate) client_order_id: String,
    pub(crate) symbol: String,
    pub(crate) side: String,
    pub(crate) order_type: String,
    pub(crate) quantity: String,
    pub(crate) limit_price: Option<String>,
    pub(crate) time_in_force: Option<String>,
    pub(crate) signal_id: Option<String>,
    pub(crate) created_ms: i64,
    pub(crate) status: String,
    pub(crate) exchange_order_id: Option<String>,
    pub(crate) filled_quantity: String,
    pub(crate) average_price: Option<String>,
    pub(crate) reject_reason: Option<String>,
    pub(crate) updated_ms: i64,
}

/// The columns of an order, as the backends bind them.
#[derive(Debug)]
pub(crate) struct OrderColumns {
    pub(crate) client_order_id: String,
    pub(crate) symbol: String,
    pub(crate) side: &'static str,
    pub(crate) order_type: &'static str,
    pub(crate) quantity: String,
    pub(crate) limit_price: Option<String>,
    pub(crate) time_in_force: Option<&'static str>,
    pub(crate) signal_id: Option<String>,
    pub(crate) created_ms: i64,
    pub(crate) status: &'static str,
    pub(crate) exchange_order_id: Option<String>,
    pub(crate) filled_quantity: String,
    pub(crate) average_price: Option<String>,
    pub(crate) reject_reason: Option<String>,
    pub(crate) updated_ms: i64,
}

impl BarColumns {
    pub(crate) fn of(bars: &[Bar]) -> Self {
        let mut columns = Self {
            symbol: Vec::with_capacity(bars.len()),
            interval: Vec::with_capacity(bars.len()),
            open_time: Vec::with_capacity(bars.len()),
            open: Vec::with_capacity(bars.len()),
            high: Vec::with_capacity(bars.len()),
            low: Vec::with_capacity(bars.len()),
            close: Vec::with_capacity(bars.len()),
            volume: Vec::with_capacity(bars.len()),
        };
        for bar in bars {
            columns.symbol.push(bar.symbol().as_str().to_owned());
            columns.interval.push(bar.interval().as_str().to_owned());
            columns.open_time.push(bar.open_time().as_i64());
            columns.open.push(bar.open().to_string());
            columns.high.push(bar.high().to_string());
            columns.low.push(bar.low().to_string());
            columns.close.push(bar.close().to_string());
            columns.volume.push(bar.volume().to_string());
        }
        columns
    }
}

impl OrderColumns {
    pub(crate) fn of(record: &OrderRecord) -> Self {
        let request = record.request();
        let state = record.state();
        let (order_type, limit_price, time_in_force) = match request.order_type() {
            OrderType::Market => ("MARKET", None, None),
            OrderType::Limit {
                price,
                time_in_force,
            } => (
                "LIMIT",
                Some(price.to_string()),
                Some(time_in_force.as_str()),
            ),
        };
        Self {
            client_order_id: request.client_order_id().to_string(),
            symbol: request.symbol().as_str().to_owned(),
            side: request.side().as_str(),
            order_type,
            quantity: request.quantity().to_string(),
            limit_price,
            time_in_force,
            signal_id: request.signal_id().map(|id| id.to_string()),
            created_ms: request.created_at().as_i64(),
            status: state.status.as_str(),
            exchange_order_id: state.exchange_order_id.clone(),
            filled_quantity: state.filled_quantity.to_string(),
            average_price: state.average_price.map(|p| p.to_string()),
            reject_reason: state.reject_reason.clone(),
            updated_ms: state.updated_at.as_i64(),
        }
    }
}

impl OrderRow {
    pub(crate) fn into_record(self) -> Result<OrderRecord, StoreError> {
        const T: &str = "orders";
        let order_type = match (self.order_type.as_str(), self.limit_price.as_deref()) {
            ("MARKET", _) => OrderType::Market,
            ("LIMIT", Some(price)) => OrderType::Limit {
                price: parse(T, "limit_price", price)?,
                time_in_force: parse::<TimeInForce>(
                    T,
                    "time_in_force",
                    self.time_in_force.as_deref().unwrap_or_default(),
                )?,
            },
            (other, _) => {
                return Err(StoreError::corrupt(
                    T,
                    format!("order type {other:?} without a limit price"),
                ));
            }
        };
        let request = OrderRequest::new(
            parse::<ClientOrderId>(T, "client_order_id", &self.client_order_id)?,
            parse::<Symbol>(T, "symbol", &self.symbol)?,
            parse::<Side>(T, "side", &self.side)?,
            order_type,
            parse::<Quantity>(T, "quantity", &self.quantity)?,
            parse_opt::<SignalId>(T, "signal_id", self.signal_id.as_deref())?,
            TimestampMs::new(self.created_ms),
        )
        .map_err(|err| StoreError::corrupt(T, err))?;
        let state = OrderState {
            status: parse::<OrderStatus>(T, "status", &self.status)?,
            exchange_order_id: self.exchange_order_id,
            filled_quantity: parse(T, "filled_quantity", &self.filled_quantity)?,
            average_price: parse_opt::<Price>(T, "average_price", self.average_price.as_deref())?,
            updated_at: TimestampMs::new(self.updated_ms),
            reject_reason: self.reject_reason,
        };
        OrderRecord::new(request, state).map_err(|err| StoreError::corrupt(T, err))
    }

    /// Whether this stored order was made from the same request as `new` (decimals compared by
    /// value).
    pub(crate) fn same_request(&self, new: &OrderColumns) -> bool {
        let same_decimal = |a: &str, b: &str| match (
            rust_decimal::Decimal::from_str(a),
            rust_decimal::Decimal::from_str(b),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        };
        let same_opt_decimal = |a: Option<&str>, b: Option<&str>| match (a, b) {
            (Some(a), Some(b)) => same_decimal(a, b),
            (None, None) => true,
            _ => false,
        };
        self.symbol == new.symbol
            && self.side == new.side
            && self.order_type == new.order_type
            && same_decimal(&self.quantity, &new.quantity)
            && same_opt_decimal(self.limit_price.as_deref(), new.limit_price.as_deref())
            && self.time_in_force.as_deref() == new.time_in_force
            && self.signal_id == new.signal_id
            && self.created_ms == new.created_ms
    }
}

/// One stored fill.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct FillRow {
    pub(crate) fill_id: String,
    pub(crate) client_order_id: String,
    pub(crate) symbol: String,
    pub(crate) side: String,
    pub(crate) price: String,
    pub(crate) quantity: String,
    pub(crate) fee: String,
    pub(crate) fee_asset: String,
    pub(crate) is_maker: bool,
    pub(crate) exchange_time_ms: i64,
    pub(crate) receive_time_ms: i64,
}

impl FillRow {
    pub(crate) fn into_fill(self) -> Result<Fill, StoreError> {
        const T: &str = "fills";
        Fill::new(FillParts {
            fill_id: parse(T, "fill_id", &self.fill_id)?,
            client_order_id: parse(T, "client_order_id", &self.client_order_id)?,
            symbol: parse(T, "symbol", &self.symbol)?,
            side: parse(T, "side", &self.side)?,
            price: parse(T, "price", &self.price)?,
            quantity: parse(T, "quantity", &self.quantity)?,
            fee: Money::new(parse(T, "fee", &self.fee)?),
            fee_asset: self.fee_asset,
            is_maker: self.is_maker,
            exchange_time: TimestampMs::new(self.exchange_time_ms),
            receive_time: TimestampMs::new(self.receive_time_ms),
        })
        .map_err(|err| StoreError::corrupt(T, err))
    }
}

/// The fills of a batch as column arrays.
#[derive(Debug, Default)]
pub(crate) struct FillColumns {
    pub(crate) fill_id: Vec<String>,
    pub(crate) client_order_id: Vec<String>,
    pub(crate) symbol: Vec<String>,
    pub(crate) side: Vec<String>,
    pub(crate) price: Vec<String>,
    pub(crate) quantity: Vec<String>,
    pub(crate) fee: Vec<String>,
    pub(crate) fee_asset: Vec<String>,
    pub(crate) is_maker: Vec<bool>,
    pub(crate) exchange_time_ms: Vec<i64>,
    pub(crate) receive_time_ms: Vec<i64>,
}

impl FillColumns {
    pub(crate) fn of(fills: &[Fill]) -> Self {
        let mut c = Self::default();
        for fill in fills {
            c.fill_id.push(fill.fill_id().to_string());
            c.client_order_id.push(fill.client_order_id().to_string());
            c.symbol.push(fill.symbol().as_str().to_owned());
            c.side.push(fill.side().as_str().to_owned());
            c.price.push(fill.price().to_string());
            c.quantity.push(fill.quantity().to_string());
            c.fee.push(fill.fee().to_string());
            c.fee_asset.push(fill.fee_asset().to_owned());
            c.is_maker.push(fill.is_maker());
            c.exchange_time_ms.push(fill.exchange_time().as_i64());
            c.receive_time_ms.push(fill.receive_time().as_i64());
        }
        c
    }
}

/// One stored signal.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SignalRow {
    pub(crate) signal_id: String,
    pub(crate) symbol: String,
    pub(crate) bar_open_time_ms: i64,
    pub(crate) side: String,
    pub(crate) probability_up: f64,
    pub(crate) confidence: f64,
    pub(crate) strategy: String,
    pub(crate) votes: String,
    pub(crate) created_ms: i64,
    pub(crate) approved: Option<bool>,
    pub(crate) reason: Option<String>,
    pub(crate) decision_detail: Option<String>,
    pub(crate) decided_ms: Option<i64>,
}

impl SignalRow {
    pub(crate) fn into_record(self) -> Result<SignalRecord, StoreError> {
        const T: &str = "signals";
        Ok(SignalRecord {
            signal_id: parse(T, "signal_id", &self.signal_id)?,
            symbol: parse(T, "symbol", &self.symbol)?,
            bar_open_time: TimestampMs::new(self.bar_open_time_ms),
            side: parse(T, "side", &self.side)?,
            probability_up: self.probability_up,
            confidence: self.confidence,
            strategy: self.strategy,
            votes: serde_json::from_str(&self.votes).map_err(|err| StoreError::corrupt(T, err))?,
            created_at: TimestampMs::new(self.created_ms),
            decision: match (self.approved, self.decision_detail, self.decided_ms) {
                (Some(approved), Some(detail), Some(decided_ms)) => Some(RiskDecision {
                    approved,
                    reason: self.reason,
                    detail: serde_json::from_str(&detail)
                        .map_err(|err| StoreError::corrupt(T, format!("decision_detail: {err}")))?,
                    decided_at: TimestampMs::new(decided_ms),
                }),
                (None, None, None) => None,
                _ => {
                    return Err(StoreError::corrupt(
                        T,
                        format!("signal {}: a partial risk decision", self.signal_id),
                    ));
                }
            },
        })
    }
}

/// The decision columns of a signal as the backends bind them: approved, reason, detail as
/// JSON text, decided time.
pub(crate) type DecisionColumns = (Option<bool>, Option<String>, Option<String>, Option<i64>);

pub(crate) fn decision_columns(decision: Option<&RiskDecision>) -> DecisionColumns {
    match decision {
        Some(d) => (
            Some(d.approved),
            d.reason.clone(),
            Some(d.detail.to_string()),
            Some(d.decided_at.as_i64()),
        ),
        None => (None, None, None, None),
    }
}

/// Checks what the schema cannot: probabilities in `0..=1` and finite, a strategy, and a
/// consistent decision (a reason exactly when refused, in the stable-name alphabet; the detail
/// a JSON object).
pub(crate) fn check_signal(signal: &SignalRecord) -> Result<(), StoreError> {
    let invalid = |message: String| {
        Err(StoreError::InvalidInput(format!(
            "signal {}: {message}",
            signal.signal_id
        )))
    };
    for (name, value) in [
        ("probability_up", signal.probability_up),
        ("confidence", signal.confidence),
    ] {
        if !(0.0..=1.0).contains(&value) {
            return invalid(format!("{name} must be within 0..=1, got {value}"));
        }
    }
    if signal.strategy.trim().is_empty() {
        return invalid("strategy is required".to_owned());
    }
    let Some(decision) = &signal.decision else {
        return Ok(());
    };
    match (decision.approved, decision.reason.as_deref()) {
        (true, Some(reason)) => {
            return invalid(format!(
                "decision.reason must be empty when approved, got {reason:?}"
            ));
        }
        (false, None) => {
            return invalid("decision.reason is required when refused".to_owned());
        }
        (false, Some(reason)) => {
            if let Err(message) = RiskDecision::check_reason(reason) {
                return invalid(format!("decision.reason {reason:?}: {message}"));
            }
        }
        (true, None) => {}
    }
    if !decision.detail.is_object() {
        return invalid("decision.detail_json must be a JSON object".to_owned());
    }
    Ok(())
}

/// One stored API key (never its hash).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    pub(crate) key_id: String,
    pub(crate) name: String,
    pub(crate) role: String,
    pub(crate) created_ms: i64,
    pub(crate) revoked_ms: Option<i64>,
}

impl ApiKeyRow {
    pub(crate) fn into_api_key(self) -> Result<ApiKey, StoreError> {
        const T: &str = "api_keys";
        Ok(ApiKey {
            key_id: parse::<KeyId>(T, "key_id", &self.key_id)?,
            name: self.name,
            role: parse::<Role>(T, "role", &self.role)?,
            created_at: TimestampMs::new(self.created_ms),
            revoked_at: self.revoked_ms.map(TimestampMs::new),
        })
    }
}

/// One stored equity snapshot.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EquityRow {
    pub(crate) at_ms: i64,
    pub(crate) equity: String,
    pub(crate) cash: String,
    pub(crate) unrealized_pnl: String,
    pub(crate) realized_pnl: String,
}

impl EquityRow {
    pub(crate) fn into_snapshot(self) -> Result<EquitySnapshot, StoreError> {
        const T: &str = "equity_snapshots";
        Ok(EquitySnapshot {
            at: TimestampMs::new(self.at_ms),
            equity: parse(T, "equity", &self.equity)?,
            cash: parse(T, "cash", &self.cash)?,
            unrealized_pnl: parse(T, "unrealized_pnl", &self.unrealized_pnl)?,
            realized_pnl: parse(T, "realized_pnl", &self.realized_pnl)?,
        })
    }
}

/// The columns of a batch of equity snapshots, decimals as text (PostgreSQL binds them as
/// arrays, SQLite row by row).
#[derive(Debug, Default)]
pub(crate) struct EquityColumns {
    pub(crate) at_ms: Vec<i64>,
    pub(crate) equity: Vec<String>,
    pub(crate) cash: Vec<String>,
    pub(crate) unrealized_pnl: Vec<String>,
    pub(crate) realized_pnl: Vec<String>,
}

impl EquityColumns {
    pub(crate) fn of(snapshots: &[EquitySnapshot]) -> Self {
        let mut c = Self::default();
        for s in snapshots {
            c.at_ms.push(s.at.as_i64());
            c.equity.push(s.equity.to_string());
            c.cash.push(s.cash.to_string());
            c.unrealized_pnl.push(s.unrealized_pnl.to_string());
            c.realized_pnl.push(s.realized_pnl.to_string());
        }
        c
    }
}

fn actor(table: &'static str, name: &str, role: &str) -> Result<Actor, StoreError> {
    Actor::new(name, parse(table, "actor_role", role)?)
        .map_err(|err| StoreError::corrupt(table, err))
}

fn json_object(
    table: &'static str,
    column: &str,
    text: &str,
) -> Result<serde_json::Value, StoreError> {
    match serde_json::from_str(text) {
        Ok(value @ serde_json::Value::Object(_)) => Ok(value),
        Ok(_) => Err(StoreError::corrupt(
            table,
            format!("{column}: not a JSON object"),
        )),
        Err(err) => Err(StoreError::corrupt(table, format!("{column}: {err}"))),
    }
}

fn positive(table: &'static str, column: &str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| StoreError::corrupt(table, format!("{column} {value} is not positive")))
}

/// A number the store hands out (policy version, ESS seq) as the database's BIGINT.
pub(crate) fn as_bigint(field: &str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::InvalidInput(format!("{field}: {value} is out of range")))
}

/// What a compare-and-set append (policy version, ESS transition) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Append {
    /// Stored.
    Stored,
    /// The latest stored number was not the one the writer expected: this one is.
    Stale { latest: i64 },
}

/// One stored policy version.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PolicyVersionRow {
    pub(crate) version: i64,
    pub(crate) profile: String,
    pub(crate) document: String,
    pub(crate) created_ms: i64,
    pub(crate) actor_name: String,
    pub(crate) actor_role: String,
    pub(crate) reason: String,
}

impl PolicyVersionRow {
    pub(crate) fn of(version: i64, policy: &NewPolicyVersion) -> Self {
        Self {
            version,
            profile: policy.profile.clone(),
            document: policy.document.to_string(),
            created_ms: policy.created_at.as_i64(),
            actor_name: policy.actor.name().to_owned(),
            actor_role: policy.actor.role().as_str().to_owned(),
            reason: policy.reason.clone(),
        }
    }

    pub(crate) fn into_policy_version(self) -> Result<PolicyVersion, StoreError> {
        const T: &str = "policy_versions";
        Ok(PolicyVersion {
            version: positive(T, "version", self.version)?,
            policy: NewPolicyVersion {
                profile: self.profile,
                document: json_object(T, "document", &self.document)?,
                created_at: TimestampMs::new(self.created_ms),
                actor: actor(T, &self.actor_name, &self.actor_role)?,
                reason: self.reason,
            },
        })
    }
}

/// One stored ESS transition.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EssTransitionRow {
    pub(crate) seq: i64,
    pub(crate) from_state: String,
    pub(crate) to_state: String,
    pub(crate) trigger: String,
    pub(crate) reason: String,
    pub(crate) actor_name: String,
    pub(crate) actor_role: String,
    pub(crate) at_ms: i64,
    pub(crate) cooldown_until_ms: Option<i64>,
    pub(crate) detail: String,
}

impl EssTransitionRow {
    pub(crate) fn of(seq: i64, t: &EssTransition) -> Self {
        Self {
            seq,
            from_state: t.from.as_str().to_owned(),
            to_state: t.to.as_str().to_owned(),
            trigger: t.trigger.clone(),
            reason: t.reason.clone(),
            actor_name: t.actor.name().to_owned(),
            actor_role: t.actor.role().as_str().to_owned(),
            at_ms: t.at.as_i64(),
            cooldown_until_ms: t.cooldown_until.map(TimestampMs::as_i64),
            detail: t.detail.to_string(),
        }
    }

    pub(crate) fn into_transition(self) -> Result<EssTransition, StoreError> {
        const T: &str = "ess_transitions";
        Ok(EssTransition {
            seq: positive(T, "seq", self.seq)?,
            from: parse(T, "from_state", &self.from_state)?,
            to: parse(T, "to_state", &self.to_state)?,
            trigger: self.trigger,
            reason: self.reason,
            actor: actor(T, &self.actor_name, &self.actor_role)?,
            at: TimestampMs::new(self.at_ms),
            cooldown_until: self.cooldown_until_ms.map(TimestampMs::new),
            detail: json_object(T, "detail", &self.detail)?,
        })
    }
}

/// One stored audit entry.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AuditRow {
    pub(crate) id: i64,
    pub(crate) at_ms: i64,
    pub(crate) actor: String,
    pub(crate) action: String,
    pub(crate) detail: String,
}

impl AuditRow {
    pub(crate) fn into_record(self) -> Result<AuditRecord, StoreError> {
        Ok(AuditRecord {
            id: self.id,
            entry: AuditEntry {
                at: TimestampMs::new(self.at_ms),
                actor: self.actor,
                action: self.action,
                detail: serde_json::from_str(&self.detail)
                    .map_err(|err| StoreError::corrupt("audit_log", err))?,
            },
        })
    }
}

/// Checks what the schema cannot: actor and action are not empty.
pub(crate) fn check_audit(entry: &AuditEntry) -> Result<(), StoreError> {
    if entry.actor.trim().is_empty() || entry.action.trim().is_empty() {
        return Err(StoreError::InvalidInput(
            "an audit entry needs an actor and an action".to_owned(),
        ));
    }
    Ok(())
}

/// A new API key's columns, as the backends bind them.
#[derive(Debug)]
pub(crate) struct NewApiKeyRow<'a> {
    pub(crate) key_id: String,
    pub(crate) name: String,
    pub(crate) role: &'static str,
    pub(crate) key_sha256: &'a str,
    pub(crate) created_ms: i64,
}

/// What inserting an API key found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyInsert {
    /// Stored.
    Inserted,
    /// Another key has this id.
    IdTaken,
    /// Another key has this hash.
    HashTaken,
}
