//! `RiskManager`: sizes each signal and checks it against every limit; the only source of
//! [`RiskApproved`] orders.

use std::collections::{HashMap, VecDeque};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use levibot_core::{OrderRequest, OrderType, Price, Quantity, Side, SignalId, Symbol, TimestampMs};

use crate::bounded_id_set::BoundedIdSet;
use crate::execution::client_order_id::{OrderLeg, client_order_id_for};
use crate::gates::{ClosedGate, Gates};
use crate::label_counts::LabelCounts;
use crate::risk::account::AccountView;
use crate::risk::approved::RiskApproved;
use crate::risk::decision_detail::{CapKind, DecisionDetail, SizingDetail};
use crate::risk::limits::{RiskLimits, RiskLimitsError};
use crate::risk::reject_reason::{RejectReason, Rejection};
use crate::risk::sizing::{factor_to_decimal, kelly_fraction, round_down_to_step, vol_factor};
use crate::signal::Signal;

const DAY_MS: i64 = 86_400_000;

/// What the market looks like for the signal's symbol at evaluation time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarketSnapshot {
    /// The price used for sizing (the bar close).
    pub price: Price,
    /// The realized per-bar return standard deviation ([`crate::RollingVolatility::stdev`]);
    /// `None` while the window fills, and a BUY is then refused.
    pub realized_vol: Option<f64>,
}

/// The global stop entered when the daily loss limit was breached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyStop {
    /// The UTC day (days since the epoch) it applies to; the next day lifts it.
    pub utc_day: i64,
    /// When it was entered.
    pub since: TimestampMs,
    /// Today's PnL that breached the limit.
    pub pnl_today: Decimal,
}

/// Sizes signals (Kelly × volatility target × confidence, capped) and checks every limit of
/// [`RiskLimits`]; returns a [`RiskApproved`] market order or a [`Rejection`].
///
/// State: the signal ids seen (duplicate check), the per-symbol throttle windows, the daily
/// stop, and refusal counts. Time comes only from the `now` arguments.
#[derive(Debug)]
pub struct RiskManager {
    limits: RiskLimits,
    seen: BoundedIdSet<SignalId>,
    throttle: HashMap<Symbol, VecDeque<TimestampMs>>,
    daily_stop: Option<DailyStop>,
    counts: LabelCounts,
    approvals: u64,
}

impl RiskManager {
    /// A manager enforcing `limits`.
    ///
    /// # Errors
    ///
    /// [`RiskLimitsError`] listing every invalid field.
    pub fn new(limits: RiskLimits) -> Result<Self, RiskLimitsError> {
        limits.validate()?;
        Ok(Self {
            seen: BoundedIdSet::new(limits.dedupe_capacity),
            limits,
            throttle: HashMap::new(),
            daily_stop: None,
            counts: LabelCounts::default(),
            approvals: 0,
        })
    }

    /// The limits in force.
    #[must_use]
    pub const fn limits(&self) -> &RiskLimits {
        &self.limits
    }

    /// Replaces the limits (a policy update), keeping the seen ids, throttle windows, daily
    /// stop and counts.
    ///
    /// # Errors
    ///
    /// [`RiskLimitsError`] if the new limits are invalid; the old ones stay.
    pub fn set_limits(&mut self, limits: RiskLimits) -> Result<(), RiskLimitsError> {
        limits.validate()?;
        self.limits = limits;
        Ok(())
    }

    /// The daily stop, if one is on (it may have lapsed with the UTC day; see
    /// [`RiskManager::is_stopped`]).
    #[must_use]
    pub const fn daily_stop(&self) -> Option<&DailyStop> {
        self.daily_stop.as_ref()
    }

    /// Whether the daily stop refuses everything at `now`.
    #[must_use]
    pub fn is_stopped(&self, now: TimestampMs) -> bool {
        self.daily_stop
            .is_some_and(|s| s.utc_day >= now.as_i64().div_euclid(DAY_MS))
    }

    /// Lifts the daily stop (an operator's explicit reset).
    pub fn reset_daily_stop(&mut self) {
        self.daily_stop = None;
    }

    /// Refusals so far, by [`RejectReason::as_str`] label.
    #[must_use]
    pub const fn rejection_counts(&self) -> &LabelCounts {
        &self.counts
    }

    /// Approvals so far.
    #[must_use]
    pub const fn approvals(&self) -> u64 {
        self.approvals
    }

    /// Evaluates `signal` against the limits at `now`.
    ///
    /// Checks, in order: the gates (trading enabled, kill switch, ESS armed), the daily stop
    /// (entered here when `account.pnl_today` loses `daily_loss_limit_usd` or more), allowed
    /// symbol, the prediction's data quality, signal age, duplicate id, throttle, minimum
    /// confidence, Kelly edge; then a SELL closes the whole held quantity (refused if none),
    /// and a BUY checks the open-positions limit, needs a realized volatility, and is sized
    /// `equity × kelly × kelly_multiplier × min(1, vol_target / vol) × confidence`, capped by
    /// the room left under the symbol cap, the position limit, the exposure limit and cash,
    /// then rounded down to the lot step and checked against the lot minimums.
    ///
    /// A signal that reaches the duplicate check is remembered whatever the outcome, and one
    /// that passes it counts toward the throttle.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] naming the first failed check, with the numbers.
    pub fn evaluate(
        &mut self,
        signal: &Signal,
        market: MarketSnapshot,
        account: &AccountView,
        gates: Gates,
        now: TimestampMs,
    ) -> Result<RiskApproved<OrderRequest>, Rejection> {
        let symbol = signal.symbol();
        let prediction = signal.prediction();
        let held = account.position(symbol);
        let price = market.price.value();
        let mut detail = DecisionDetail {
            signal_id: signal.id(),
            symbol,
            side: signal.side(),
            evaluated_at: now,
            price,
            probability_up: prediction.probability_up(),
            confidence: prediction.confidence(),
            data_quality: prediction.data_quality(),
            equity: account.equity,
            cash: account.cash,
            pnl_today: account.pnl_today,
            held_quantity: held.quantity.value(),
            held_notional: held.notional,
            open_positions: account.open_positions(),
            total_exposure: account.total_exposure(),
            payoff_ratio: None,
            p_win: None,
            kelly: None,
            sizing: None,
            quantity: None,
            notional: None,
            flatten: None,
        };

        if let Some(closed) = gates.first_closed() {
            let (reason, message) = match closed {
                ClosedGate::TradingDisabled => (
                    RejectReason::TradingDisabled,
                    "trading is disabled".to_owned(),
                ),
                ClosedGate::KillSwitch => (
                    RejectReason::KillSwitch,
                    "the kill switch is engaged".to_owned(),
                ),
                ClosedGate::Ess(state) => (
                    RejectReason::EssNotArmed(state),
                    format!("the emergency stop switch is {state}"),
                ),
            };
            return Err(self.reject(reason, message, detail));
        }

        if let Some(message) = self.check_daily_loss(account, now) {
            return Err(self.reject(RejectReason::DailyLossLimit, message, detail));
        }

        if !self.limits.allowed_symbols.contains(&symbol) {
            let message = format!("{symbol} is not an allowed symbol");
            return Err(self.reject(RejectReason::UnknownSymbol, message, detail));
        }

        let quality = prediction.data_quality();
        if !quality.is_tradable() {
            let message = format!("prediction data quality is {quality}");
            return Err(self.reject(RejectReason::DataQuality(quality), message, detail));
        }

        if let Some(max_age) = self.limits.max_signal_age_ms {
            let age = now.as_i64().saturating_sub(signal.bar_open_time().as_i64());
            if age > max_age {
                let message = format!("bar opened {age} ms ago, max signal age {max_age} ms");
                return Err(self.reject(RejectReason::StaleData, message, detail));
            }
        }

        if !self.seen.insert(signal.id()) {
            let message = format!("signal {} was already evaluated", signal.id());
            return Err(self.reject(RejectReason::DuplicateSignal, message, detail));
        }

        if let Some(message) = self.check_throttle(symbol, now) {
            return Err(self.reject(RejectReason::Throttled, message, detail));
        }

        let confidence = prediction.confidence();
        if confidence < self.limits.min_confidence {
            let message = format!(
                "confidence {confidence:.4} below min {:.4}",
                self.limits.min_confidence
            );
            return Err(self.reject(RejectReason::MinConfidence, message, detail));
        }

        let b = prediction.payoff_ratio().unwrap_or(1.0);
        let p_win = match signal.side() {
            Side::Buy => prediction.probability_up(),
            Side::Sell => 1.0 - prediction.probability_up(),
        };
        let kelly = kelly_fraction(p_win, b);
        detail.payoff_ratio = Some(b);
        detail.p_win = Some(p_win);
        detail.kelly = Some(kelly);
        if kelly.is_nan() || kelly <= 0.0 {
            let message = format!("kelly {kelly:.4} <= 0 (p_win {p_win:.4}, b {b:.4})");
            return Err(self.reject(RejectReason::NoEdge, message, detail));
        }

        let quantity = match signal.side() {
            Side::Sell => self.size_sell(account, symbol),
            Side::Buy => self.size_buy(market, account, symbol, kelly, confidence, &mut detail),
        };
        let quantity = match quantity {
            Ok(q) => q,
            Err((reason, message)) => return Err(self.reject(reason, message, detail)),
        };

        let lot = *self.limits.lot(symbol);
        let notional = quantity * price;
        detail.quantity = Some(quantity);
        detail.notional = Some(notional);
        if quantity.is_zero() || quantity < lot.min_quantity {
            let message = format!("quantity {quantity} below min {}", lot.min_quantity);
            return Err(self.reject(RejectReason::BelowMinQuantity, message, detail));
        }
        if notional < lot.min_notional {
            let message = format!("notional {notional} below min {}", lot.min_notional);
            return Err(self.reject(RejectReason::BelowMinNotional, message, detail));
        }

        let order = Quantity::positive(quantity).ok().and_then(|q| {
            OrderRequest::new(
                client_order_id_for(signal.id(), OrderLeg::Entry),
                symbol,
                signal.side(),
                OrderType::Market,
                q,
                Some(signal.id()),
                now,
            )
            .ok()
        });
        let Some(order) = order else {
            // unreachable: the quantity was checked positive above
            let message = format!("quantity {quantity} is not a valid order size");
            return Err(self.reject(RejectReason::BelowMinQuantity, message, detail));
        };
        self.approvals = self.approvals.saturating_add(1);
        Ok(RiskApproved::new(order, detail))
    }

    fn reject(
        &mut self,
        reason: RejectReason,
        message: String,
        detail: DecisionDetail,
    ) -> Rejection {
        self.counts.record(reason.as_str());
        Rejection {
            reason,
            message,
            detail: Box::new(detail),
        }
    }

    /// Lifts a stop from an earlier UTC day, enters one on a breach; the message when stopped.
    fn check_daily_loss(&mut self, account: &AccountView, now: TimestampMs) -> Option<String> {
        let today = now.as_i64().div_euclid(DAY_MS);
        if self.daily_stop.is_some_and(|s| s.utc_day < today) {
            self.daily_stop = None;
        }
        let loss = -account.pnl_today;
        let limit = self.limits.daily_loss_limit_usd;
        if self.daily_stop.is_none() && loss > Decimal::ZERO && loss >= limit {
            self.daily_stop = Some(DailyStop {
                utc_day: today,
                since: now,
                pnl_today: account.pnl_today,
            });
        }
        self.daily_stop.map(|s| {
            format!(
                "daily loss limit {limit} breached (pnl today {}), stopped since {} until the next utc day",
                s.pnl_today, s.since
            )
        })
    }

    /// Counts the signal in its symbol's window; the message when the window is full.
    fn check_throttle(&mut self, symbol: Symbol, now: TimestampMs) -> Option<String> {
        let limits = self.limits.throttle;
        let window = self.throttle.entry(symbol).or_default();
        let horizon = now.as_i64().saturating_sub(limits.window_ms);
        while window.front().is_some_and(|t| t.as_i64() <= horizon) {
            window.pop_front();
        }
        if window.len() >= usize::try_from(limits.max_signals).unwrap_or(usize::MAX) {
            return Some(format!(
                "{} signals for {symbol} in the last {} ms, max {}",
                window.len(),
                limits.window_ms,
                limits.max_signals
            ));
        }
        window.push_back(now);
        None
    }

    /// Spot, long-only: a SELL closes what is held, rounded down to the lot step.
    fn size_sell(
        &self,
        account: &AccountView,
        symbol: Symbol,
    ) -> Result<Decimal, (RejectReason, String)> {
        let held = account.position(symbol).quantity.value();
        if held <= Decimal::ZERO {
            return Err((
                RejectReason::NoPositionToSell,
                format!("no {symbol} position to sell"),
            ));
        }
        Ok(round_down_to_step(held, self.limits.lot(symbol).step))
    }

    fn size_buy(
        &self,
        market: MarketSnapshot,
        account: &AccountView,
        symbol: Symbol,
        kelly: f64,
        confidence: f64,
        detail: &mut DecisionDetail,
    ) -> Result<Decimal, (RejectReason, String)> {
        let limits = &self.limits;
        let held = account.position(symbol);
        let max_open = usize::try_from(limits.max_open_positions).unwrap_or(usize::MAX);
        if held.quantity.is_zero() && detail.open_positions >= max_open {
            return Err((
                RejectReason::MaxOpenPositions,
                format!(
                    "{} open positions, max {}",
                    detail.open_positions, limits.max_open_positions
                ),
            ));
        }
        let Some(realized_vol) = market.realized_vol else {
            return Err((
                RejectReason::NoVolatility,
                "no realized volatility yet (window filling)".to_owned(),
            ));
        };
        let vf = vol_factor(limits.vol_target, realized_vol);
        let fraction_f = kelly.min(1.0) * limits.kelly_multiplier * vf * confidence;
        // the one float → decimal conversion before money is multiplied
        let fraction = factor_to_decimal(fraction_f).unwrap_or(Decimal::ZERO);
        let raw_size_usd = (account.equity.max(Decimal::ZERO) * fraction).normalize();

        let symbol_cap_room = limits
            .symbol_caps_usd
            .get(&symbol)
            .map(|cap| *cap - held.notional);
        let max_position_room = limits.max_position_usd - held.notional;
        let exposure_room = limits.max_total_exposure_usd - detail.total_exposure;
        let cash_room = account.cash;
        let mut sizing = SizingDetail {
            vol_factor: vf,
            realized_vol,
            vol_target: limits.vol_target,
            kelly_multiplier: limits.kelly_multiplier,
            fraction,
            raw_size_usd,
            symbol_cap_room_usd: symbol_cap_room,
            max_position_room_usd: max_position_room,
            exposure_room_usd: exposure_room,
            cash_room_usd: cash_room,
            size_usd: Decimal::ZERO,
            binding_cap: None,
        };

        let rooms = [
            (
                symbol_cap_room,
                CapKind::SymbolCap,
                RejectReason::SymbolCapReached,
            ),
            (
                Some(max_position_room),
                CapKind::MaxPositionUsd,
                RejectReason::MaxPositionUsd,
            ),
            (
                Some(exposure_room),
                CapKind::ExposureLimit,
                RejectReason::ExposureLimit,
            ),
            (
                Some(cash_room),
                CapKind::Cash,
                RejectReason::InsufficientCash,
            ),
        ];
        let mut size = raw_size_usd;
        for (room, kind, reason) in rooms {
            let Some(room) = room else { continue };
            if room <= Decimal::ZERO {
                let message = format!("no room under {}: {room} left", kind.as_str());
                detail.sizing = Some(sizing);
                return Err((reason, message));
            }
            if room < size {
                size = room;
                sizing.binding_cap = Some(kind);
            }
        }
        sizing.size_usd = size;
        detail.sizing = Some(sizing);
        Ok(round_down_to_step(
            size / market.price.value(),
            limits.lot(symbol).step,
        ))
    }
}

#[cfg(test)]
#[path = "manager_tests.rs"]
mod tests;
