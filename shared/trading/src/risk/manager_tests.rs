use super::*;
use crate::data_quality::DataQuality;
use crate::gates::EssState;
use crate::prediction::Prediction;
use crate::risk::account::PositionView;
use crate::risk::limits::ThrottleLimits;
use rstest::rstest;
use rust_decimal_macros::dec;

/// 2022-01-01T00:00:00Z
const T0: i64 = 1_640_995_200_000;

fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

fn eth() -> Symbol {
    Symbol::new("ETHUSDT").unwrap()
}

fn position(qty: Decimal, notional: Decimal) -> PositionView {
    PositionView {
        quantity: Quantity::new(qty).unwrap(),
        notional,
    }
}

/// Everything one evaluation needs; each case mutates the defaults.
struct Setup {
    limits: RiskLimits,
    symbol: Symbol,
    side: Side,
    probability_up: f64,
    confidence: f64,
    payoff: Option<f64>,
    quality: DataQuality,
    bar_time: i64,
    price: Decimal,
    vol: Option<f64>,
    account: AccountView,
    gates: Gates,
    now: i64,
}

impl Setup {
    fn new() -> Self {
        let mut limits = RiskLimits::new([btc(), eth()]);
        limits.throttle = ThrottleLimits {
            max_signals: 100,
            window_ms: 60_000,
        };
        Self {
            limits,
            symbol: btc(),
            side: Side::Buy,
            probability_up: 0.6,
            confidence: 0.8,
            payoff: None,
            quality: DataQuality::Ok,
            bar_time: T0,
            price: dec!(40000),
            vol: Some(0.004),
            account: AccountView::with_cash(dec!(10000)),
            gates: Gates::OPEN,
            now: T0 + 60_000,
        }
    }

    fn signal(&self) -> Signal {
        let mut p =
            Prediction::new(self.probability_up, self.confidence, "test", self.quality).unwrap();
        if let Some(b) = self.payoff {
            p = p.with_payoff_ratio(b).unwrap();
        }
        Signal::new(
            self.symbol,
            TimestampMs::new(self.bar_time),
            self.side,
            p,
            TimestampMs::new(self.now),
        )
        .unwrap()
    }

    fn run(&self, rm: &mut RiskManager) -> Result<RiskApproved<OrderRequest>, Rejection> {
        rm.evaluate(
            &self.signal(),
            MarketSnapshot {
                price: Price::new(self.price).unwrap(),
                realized_vol: self.vol,
            },
            &self.account,
            self.gates,
            TimestampMs::new(self.now),
        )
    }

    fn evaluate(&self) -> Result<RiskApproved<OrderRequest>, Rejection> {
        let mut rm = RiskManager::new(self.limits.clone()).unwrap();
        self.run(&mut rm)
    }
}

#[rstest]
#[case::trading_disabled(|s: &mut Setup| s.gates.trading_enabled = false, RejectReason::TradingDisabled)]
#[case::kill_switch(|s: &mut Setup| s.gates.kill_switch_engaged = true, RejectReason::KillSwitch)]
#[case::ess_tripped(|s: &mut Setup| s.gates.ess = EssState::Tripped, RejectReason::EssNotArmed(EssState::Tripped))]
#[case::ess_resetting(|s: &mut Setup| s.gates.ess = EssState::Resetting, RejectReason::EssNotArmed(EssState::Resetting))]
#[case::daily_loss(|s: &mut Setup| s.account.pnl_today = dec!(-200), RejectReason::DailyLossLimit)]
#[case::unknown_symbol(|s: &mut Setup| { s.limits.allowed_symbols.remove(&btc()); }, RejectReason::UnknownSymbol)]
#[case::synthetic_data(|s: &mut Setup| s.quality = DataQuality::Synthetic, RejectReason::DataQuality(DataQuality::Synthetic))]
#[case::stale_prediction(|s: &mut Setup| s.quality = DataQuality::Stale, RejectReason::DataQuality(DataQuality::Stale))]
#[case::missing_data(|s: &mut Setup| s.quality = DataQuality::Missing, RejectReason::DataQuality(DataQuality::Missing))]
#[case::constant_data(|s: &mut Setup| s.quality = DataQuality::Constant, RejectReason::DataQuality(DataQuality::Constant))]
#[case::old_signal(|s: &mut Setup| s.limits.max_signal_age_ms = Some(59_999), RejectReason::StaleData)]
#[case::throttled_at_zero_room(|s: &mut Setup| s.limits.throttle.max_signals = 1, RejectReason::DuplicateSignal)]
#[case::min_confidence(|s: &mut Setup| s.confidence = 0.49, RejectReason::MinConfidence)]
#[case::buy_without_edge(|s: &mut Setup| s.probability_up = 0.45, RejectReason::NoEdge)]
#[case::buy_at_even_odds(|s: &mut Setup| s.probability_up = 0.5, RejectReason::NoEdge)]
#[case::sell_without_edge(|s: &mut Setup| s.side = Side::Sell, RejectReason::NoEdge)]
#[case::payoff_kills_edge(|s: &mut Setup| s.payoff = Some(0.5), RejectReason::NoEdge)]
#[case::no_volatility(|s: &mut Setup| s.vol = None, RejectReason::NoVolatility)]
#[case::max_open_positions(|s: &mut Setup| {
    s.limits.max_open_positions = 1;
    s.account.positions.insert(eth(), position(dec!(1), dec!(3000)));
}, RejectReason::MaxOpenPositions)]
#[case::symbol_cap(|s: &mut Setup| {
    s.limits.symbol_caps_usd.insert(btc(), dec!(500));
    s.account.positions.insert(btc(), position(dec!(0.0125), dec!(500)));
}, RejectReason::SymbolCapReached)]
#[case::max_position(|s: &mut Setup| {
    s.account.positions.insert(btc(), position(dec!(0.025), dec!(1000)));
}, RejectReason::MaxPositionUsd)]
#[case::exposure(|s: &mut Setup| {
    s.limits.max_total_exposure_usd = dec!(2000);
    s.account.positions.insert(eth(), position(dec!(1), dec!(2000)));
}, RejectReason::ExposureLimit)]
#[case::no_cash(|s: &mut Setup| s.account.cash = Decimal::ZERO, RejectReason::InsufficientCash)]
#[case::nothing_to_sell(|s: &mut Setup| { s.side = Side::Sell; s.probability_up = 0.4; }, RejectReason::NoPositionToSell)]
#[case::below_min_quantity(|s: &mut Setup| s.limits.default_lot.min_quantity = dec!(1), RejectReason::BelowMinQuantity)]
#[case::dust_rounds_to_zero(|s: &mut Setup| s.limits.default_lot.step = dec!(1), RejectReason::BelowMinQuantity)]
#[case::below_min_notional(|s: &mut Setup| s.limits.default_lot.min_notional = dec!(1000), RejectReason::BelowMinNotional)]
#[case::sell_dust(|s: &mut Setup| {
    s.side = Side::Sell;
    s.probability_up = 0.4;
    s.account.positions.insert(btc(), position(dec!(0.0001), dec!(4)));
}, RejectReason::BelowMinNotional)]
fn each_rule_refuses(#[case] setup: fn(&mut Setup), #[case] expected: RejectReason) {
    let mut s = Setup::new();
    setup(&mut s);
    let mut rm = RiskManager::new(s.limits.clone()).unwrap();
    if expected == RejectReason::DuplicateSignal {
        // the throttle case needs a first signal; replaying that same signal is a duplicate
        s.run(&mut rm).unwrap();
    }
    let rejection = s.run(&mut rm).unwrap_err();
    assert_eq!(rejection.reason, expected, "{rejection}");
    assert_eq!(rm.rejection_counts().get(expected.as_str()), 1);
    assert_eq!(rm.rejection_counts().total(), 1);
    assert!(!rejection.message.is_empty());
    // the detail always names the signal and serializes
    assert_eq!(rejection.detail.signal_id, s.signal().id());
    let json = serde_json::to_value(&rejection).unwrap();
    assert_eq!(json["reason"], expected.as_str());
}

#[test]
fn the_default_setup_is_approved() {
    // so that every refusal above is caused by its own change
    Setup::new().evaluate().unwrap();
}

#[test]
fn kelly_sizing_by_hand() {
    // equity 10,000; p = 0.6, b = 1: kelly = 0.6 − 0.4 / 1 = 0.2
    // × half Kelly 0.5 = 0.1
    // × vol factor min(1, 0.002 / 0.004) = 0.5 → 0.05
    // × confidence 0.8 → fraction 0.04 → 400 USDT
    // at 40,000: 0.01 BTC, already on the 0.00001 step
    let s = Setup::new();
    let approved = s.evaluate().unwrap();
    let order = approved.get();
    assert_eq!(order.quantity().value(), dec!(0.01));
    assert_eq!(order.side(), Side::Buy);
    assert_eq!(order.symbol(), btc());
    assert!(order.order_type().is_market());
    assert_eq!(order.signal_id(), Some(s.signal().id()));
    assert_eq!(
        order.client_order_id(),
        &client_order_id_for(s.signal().id(), OrderLeg::Entry)
    );
    assert_eq!(order.created_at(), TimestampMs::new(s.now));
    let d = approved.detail();
    assert!((d.kelly.unwrap() - 0.2).abs() < 1e-12);
    let sizing = d.sizing.as_ref().unwrap();
    assert!((sizing.vol_factor - 0.5).abs() < 1e-12);
    assert_eq!(sizing.fraction, dec!(0.04));
    assert_eq!(sizing.raw_size_usd, dec!(400));
    assert_eq!(sizing.size_usd, dec!(400));
    assert_eq!(sizing.binding_cap, None);
    assert_eq!(d.notional, Some(dec!(400)));
    // the detail is JSON, to store beside the signal
    let json = serde_json::to_value(approved.detail()).unwrap();
    assert_eq!(json["sizing"]["size_usd"], "400");
    // quantities keep the lot step's scale, as the exchange expects them
    assert_eq!(json["quantity"], "0.01000");
}

#[test]
fn kelly_sizing_with_payoff_ratio_and_rounding() {
    // p = 0.4, b = 2: kelly = 0.4 − 0.6 / 2 = 0.1; × 0.5 = 0.05
    // vol 0.001 below the 0.002 target: factor 1; confidence 1 → fraction 0.05 → 500 USDT
    // at 30,000: 0.016666… BTC, rounded down to 0.01666 (notional 499.80)
    let mut s = Setup::new();
    s.probability_up = 0.4;
    s.payoff = Some(2.0);
    s.confidence = 1.0;
    s.vol = Some(0.001);
    s.price = dec!(30000);
    let approved = s.evaluate().unwrap();
    assert_eq!(approved.get().quantity().value(), dec!(0.01666));
    assert_eq!(approved.detail().notional, Some(dec!(499.80)));
    assert!((approved.detail().sizing.as_ref().unwrap().vol_factor - 1.0).abs() < 1e-12);
}

#[rstest]
// held 900 of a 1,000 position limit: 100 USDT left → 0.0025 BTC at 40,000
#[case::max_position(|s: &mut Setup| {
    s.account.positions.insert(btc(), position(dec!(0.0225), dec!(900)));
}, CapKind::MaxPositionUsd, dec!(0.0025))]
// a 250 symbol cap: 250 → 0.00625 BTC
#[case::symbol_cap(|s: &mut Setup| {
    s.limits.symbol_caps_usd.insert(btc(), dec!(250));
}, CapKind::SymbolCap, dec!(0.00625))]
// 2,900 of 3,000 exposure used elsewhere: 100 → 0.0025
#[case::exposure(|s: &mut Setup| {
    s.account.positions.insert(eth(), position(dec!(1), dec!(2900)));
}, CapKind::ExposureLimit, dec!(0.0025))]
// 123.45 cash: 0.00308625 → 0.00308
#[case::cash(|s: &mut Setup| s.account.cash = dec!(123.45), CapKind::Cash, dec!(0.00308))]
fn caps_bind(#[case] setup: fn(&mut Setup), #[case] cap: CapKind, #[case] qty: Decimal) {
    let mut s = Setup::new();
    setup(&mut s);
    let approved = s.evaluate().unwrap();
    assert_eq!(approved.get().quantity().value(), qty);
    let sizing = approved.detail().sizing.as_ref().unwrap();
    assert_eq!(sizing.binding_cap, Some(cap));
    assert_eq!(sizing.raw_size_usd, dec!(400));
    assert!(sizing.size_usd < dec!(400));
}

#[test]
fn sell_closes_the_held_quantity_on_the_lot_step() {
    let mut s = Setup::new();
    s.side = Side::Sell;
    s.probability_up = 0.4;
    // fees left an off-step remainder: sell what the step allows
    s.account
        .positions
        .insert(btc(), position(dec!(0.012345678), dec!(493.83)));
    let approved = s.evaluate().unwrap();
    assert_eq!(approved.get().side(), Side::Sell);
    assert_eq!(approved.get().quantity().value(), dec!(0.01234));
    assert!(approved.detail().sizing.is_none());
    // an ETH position does not make a BTC sell possible
    let mut s = Setup::new();
    s.side = Side::Sell;
    s.probability_up = 0.4;
    s.account
        .positions
        .insert(eth(), position(dec!(1), dec!(3000)));
    assert_eq!(
        s.evaluate().unwrap_err().reason,
        RejectReason::NoPositionToSell
    );
}

#[test]
fn adding_to_a_held_symbol_is_not_an_extra_open_position() {
    let mut s = Setup::new();
    s.limits.max_open_positions = 1;
    s.account
        .positions
        .insert(btc(), position(dec!(0.005), dec!(200)));
    // room 800 > 400: unchanged size
    assert_eq!(s.evaluate().unwrap().get().quantity().value(), dec!(0.01));
}

#[test]
fn throttle_and_duplicates() {
    let mut s = Setup::new();
    s.limits.throttle = ThrottleLimits {
        max_signals: 2,
        window_ms: 180_000,
    };
    let mut rm = RiskManager::new(s.limits.clone()).unwrap();
    let at = |s: &mut Setup, rm: &mut RiskManager, bar: i64| {
        s.bar_time = T0 + bar * 60_000;
        s.now = s.bar_time + 60_000;
        s.run(rm).map(|_| ()).map_err(|r| r.reason)
    };
    assert_eq!(at(&mut s, &mut rm, 0), Ok(()));
    assert_eq!(at(&mut s, &mut rm, 1), Ok(()));
    // the third signal within 3 minutes
    assert_eq!(at(&mut s, &mut rm, 2), Err(RejectReason::Throttled));
    // the same bar replayed: duplicate, whatever happened to it first
    assert_eq!(at(&mut s, &mut rm, 2), Err(RejectReason::DuplicateSignal));
    assert_eq!(at(&mut s, &mut rm, 0), Err(RejectReason::DuplicateSignal));
    // bar 3 at now = T0 + 4 min: the window (T0 + 1 min, T0 + 4 min] holds bar 1's signal
    // only (refused signals do not count)
    assert_eq!(at(&mut s, &mut rm, 3), Ok(()));
    // bar 4 early, at T0 + 4.5 min: bar 1's (T0 + 2 min) and bar 3's (T0 + 4 min) are inside
    s.bar_time = T0 + 4 * 60_000;
    s.now = T0 + 270_000;
    assert_eq!(s.run(&mut rm).unwrap_err().reason, RejectReason::Throttled);
    // another symbol has its own window
    s.symbol = eth();
    assert_eq!(at(&mut s, &mut rm, 4), Ok(()));
    let counts = rm.rejection_counts();
    assert_eq!(counts.get("throttled"), 2);
    assert_eq!(counts.get("duplicate_signal"), 2);
    assert_eq!(rm.approvals(), 4);
}

#[test]
fn daily_loss_stops_everything_until_the_next_utc_day() {
    let mut s = Setup::new();
    let mut rm = RiskManager::new(s.limits.clone()).unwrap();
    // 199.99 lost: still trading
    s.account.pnl_today = dec!(-199.99);
    s.run(&mut rm).unwrap();
    // 200 lost: stopped
    s.bar_time += 60_000;
    s.now += 60_000;
    s.account.pnl_today = dec!(-200);
    assert_eq!(
        s.run(&mut rm).unwrap_err().reason,
        RejectReason::DailyLossLimit
    );
    let stop = *rm.daily_stop().unwrap();
    assert_eq!(stop.pnl_today, dec!(-200));
    assert_eq!(stop.since, TimestampMs::new(s.now));
    assert!(rm.is_stopped(TimestampMs::new(s.now)));
    // the PnL recovers the same day, another symbol asks, a SELL asks: all refused
    s.account.pnl_today = Decimal::ZERO;
    for (symbol, side, p) in [
        (btc(), Side::Buy, 0.6),
        (eth(), Side::Buy, 0.6),
        (btc(), Side::Sell, 0.4),
    ] {
        s.bar_time += 60_000;
        s.now += 60_000;
        s.symbol = symbol;
        s.side = side;
        s.probability_up = p;
        assert_eq!(
            s.run(&mut rm).unwrap_err().reason,
            RejectReason::DailyLossLimit
        );
    }
    // the next UTC day lifts it
    s.symbol = btc();
    s.side = Side::Buy;
    s.probability_up = 0.6;
    s.bar_time = T0 + 86_400_000;
    s.now = s.bar_time + 60_000;
    assert!(!rm.is_stopped(TimestampMs::new(s.now)));
    s.run(&mut rm).unwrap();
    assert!(rm.daily_stop().is_none());
    // a new breach, then an explicit reset
    s.bar_time += 60_000;
    s.now += 60_000;
    s.account.pnl_today = dec!(-500);
    assert_eq!(
        s.run(&mut rm).unwrap_err().reason,
        RejectReason::DailyLossLimit
    );
    rm.reset_daily_stop();
    s.account.pnl_today = dec!(-10);
    s.bar_time += 60_000;
    s.now += 60_000;
    s.run(&mut rm).unwrap();
    assert_eq!(rm.rejection_counts().get("daily_loss_limit"), 5);
}

#[test]
fn invalid_limits_are_refused() {
    let mut l = RiskLimits::new([btc()]);
    l.kelly_multiplier = 0.0;
    assert!(RiskManager::new(l.clone()).is_err());
    let mut rm = RiskManager::new(RiskLimits::new([btc()])).unwrap();
    assert!(rm.set_limits(l).is_err());
    assert!((rm.limits().kelly_multiplier - 0.5).abs() < f64::EPSILON);
}
