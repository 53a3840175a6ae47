//! The ledger: positions, cash, realized and unrealized PnL, fees, equity, drawdown, daily PnL
//! and exposure, kept from fills and marked to bar closes. Synchronous and pure: time comes from
//! the events themselves (a fill's exchange time, a bar's close time), so a replay of the same
//! events gives the same books.
//!
//! Conventions (quote asset = the configured cash asset, e.g. USDT):
//!
//! - Average-cost method. A fill that grows a position (or opens one) moves the average price to
//!   the quantity-weighted mean; one that reduces it realizes `(price - average) × closed qty`
//!   (sign-adjusted) and leaves the average unchanged; one that flips it opens the rest at the
//!   fill price.
//! - `realized_pnl` is before fees; fees are summed separately, so
//!   `equity = starting cash + realized - fees + unrealized` holds at every instant.
//! - A fee in the quote asset is paid from cash. A fee in the base asset (Binance charges a buy's
//!   commission in the bought coin) is taken from the position quantity, as the exchange does, so
//!   the books keep matching the exchange's balances; it is counted in `fees` at the fill price.
//!   A fee in any other asset (BNB) is not in the books' currencies: it is recorded as an
//!   [`Anomaly`] and changes nothing.
//! - Spot is long-only: a sell beyond the held quantity still books what the exchange reported
//!   (the position goes negative) and is recorded as an [`Anomaly`]; reconciliation will show it.
//! - A position is marked to the latest bar close of its symbol, or to its last fill price while
//!   no bar has been seen.
//! - Books rebuilt from the stored fills know nothing of the marks the live books had between
//!   fills: [`Books::restore`] takes the peak equity and today's opening equity back from the
//!   stored equity curve ([`EquityHistory`]).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;

use levibot_core::{Fill, FillId, Price, Side, Symbol, TimestampMs};
use rust_decimal::Decimal;

/// How many anomalies the books remember (the count keeps going).
const ANOMALY_MEMORY: usize = 100;

/// Something in a fill the books could not take as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anomaly {
    /// A sell took the position below zero (long-only spot).
    Oversold {
        /// The fill.
        fill_id: FillId,
        /// The symbol.
        symbol: Symbol,
        /// Quantity held before the fill.
        held: Decimal,
        /// Quantity the fill removed (sold quantity plus any base-asset fee).
        sold: Decimal,
    },
    /// The fee was charged in an asset that is neither the quote nor the base asset; it was
    /// not booked.
    ForeignFeeAsset {
        /// The fill.
        fill_id: FillId,
        /// The fee asset.
        asset: String,
        /// The fee, in that asset.
        fee: Decimal,
    },
    /// The symbol is not quoted in the books' quote asset; the fill was not booked.
    NotInQuoteAsset {
        /// The fill.
        fill_id: FillId,
        /// The symbol.
        symbol: Symbol,
    },
    /// An amount would not fit in a decimal; the fill was not booked.
    Overflow {
        /// The fill.
        fill_id: FillId,
    },
}

impl Anomaly {
    /// A stable name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Anomaly::Oversold { .. } => "oversold",
            Anomaly::ForeignFeeAsset { .. } => "foreign_fee_asset",
            Anomaly::NotInQuoteAsset { .. } => "not_in_quote_asset",
            Anomaly::Overflow { .. } => "overflow",
        }
    }
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Anomaly::Oversold {
                fill_id,
                symbol,
                held,
                sold,
            } => write!(
                f,
                "fill {fill_id} sold {sold} {symbol} while {held} was held"
            ),
            Anomaly::ForeignFeeAsset {
                fill_id,
                asset,
                fee,
            } => write!(
                f,
                "fill {fill_id} paid a fee of {fee} {asset}, neither the quote nor the base asset; not booked"
            ),
            Anomaly::NotInQuoteAsset { fill_id, symbol } => write!(
                f,
                "fill {fill_id} trades {symbol}, not quoted in the books' quote asset; not booked"
            ),
            Anomaly::Overflow { fill_id } => {
                write!(
                    f,
                    "fill {fill_id} overflows the books' decimals; not booked"
                )
            }
        }
    }
}

/// What [`Books::apply_fill`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FillOutcome {
    /// Booked, with any anomalies noticed on the way (an oversold position, a fee in a foreign
    /// asset).
    Applied {
        /// Anomalies of the fill (empty for a clean one).
        anomalies: Vec<Anomaly>,
    },
    /// A fill with this id was seen before: nothing changed.
    Duplicate,
    /// Not booked (remembered as seen, so a redelivery changes nothing either).
    Rejected(Anomaly),
}

impl FillOutcome {
    /// The anomalies noticed (the rejection's reason for a rejected fill).
    pub fn anomalies(&self) -> &[Anomaly] {
        match self {
            FillOutcome::Applied { anomalies } => anomalies,
            FillOutcome::Rejected(anomaly) => std::slice::from_ref(anomaly),
            FillOutcome::Duplicate => &[],
        }
    }
}

/// One symbol's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    symbol: Symbol,
    quantity: Decimal,
    average_price: Decimal,
    realized_pnl: Decimal,
    last_fill_price: Decimal,
}

impl Position {
    fn new(symbol: Symbol) -> Self {
        Self {
            symbol,
            quantity: Decimal::ZERO,
            average_price: Decimal::ZERO,
            realized_pnl: Decimal::ZERO,
            last_fill_price: Decimal::ZERO,
        }
    }

    /// The symbol.
    pub fn symbol(&self) -> Symbol {
        self.symbol
    }

    /// Quantity held, in base asset (negative only after an oversell).
    pub fn quantity(&self) -> Decimal {
        self.quantity
    }

    /// Average entry price of the quantity held (0 when flat).
    pub fn average_price(&self) -> Decimal {
        self.average_price
    }

    /// PnL realized on this symbol, before fees.
    pub fn realized_pnl(&self) -> Decimal {
        self.realized_pnl
    }

    /// Whether a quantity is held.
    pub fn is_open(&self) -> bool {
        !self.quantity.is_zero()
    }
}

/// A position with its mark, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkedPosition {
    /// The position.
    pub position: Position,
    /// The price it is marked at.
    pub mark_price: Decimal,
    /// `quantity × (mark - average)`.
    pub unrealized_pnl: Decimal,
    /// `|quantity × mark|`, in quote asset.
    pub exposure: Decimal,
}

/// The books' value at one instant, as stored in the equity curve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EquitySnapshot {
    /// The instant.
    pub at: TimestampMs,
    /// Cash plus marked positions.
    pub equity: Decimal,
    /// Cash (quote asset).
    pub cash: Decimal,
    /// Unrealized PnL.
    pub unrealized_pnl: Decimal,
    /// Realized PnL (before fees).
    pub realized_pnl: Decimal,
}

/// What the stored equity curve tells of the books before a restart, seen from the UTC day of
/// `now`: the highest equity stored, the last snapshot of the previous day and the first of
/// today. Folded one snapshot at a time, in any order, so the curve can be read page by page
/// without being held. [`Books::restore`] takes it into rebuilt books.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EquityHistory {
    today: TimestampMs,
    snapshots: u64,
    peak: Option<Decimal>,
    previous_day_close: Option<(TimestampMs, Decimal)>,
    today_open: Option<(TimestampMs, Decimal)>,
}

impl EquityHistory {
    /// Nothing seen yet; "today" is the UTC day of `now`.
    pub fn new(now: TimestampMs) -> Self {
        Self {
            today: now.utc_day_start(),
            snapshots: 0,
            peak: None,
            previous_day_close: None,
            today_open: None,
        }
    }

    /// The history of `snapshots`, seen at `now`.
    pub fn of<'a>(
        now: TimestampMs,
        snapshots: impl IntoIterator<Item = &'a EquitySnapshot>,
    ) -> Self {
        let mut history = Self::new(now);
        for snapshot in snapshots {
            history.observe(snapshot.at, snapshot.equity);
        }
        history
    }

    /// Takes in one stored snapshot: `equity` at `at`.
    pub fn observe(&mut self, at: TimestampMs, equity: Decimal) {
        self.snapshots += 1;
        self.peak = Some(self.peak.map_or(equity, |peak| peak.max(equity)));
        let day = at.utc_day_start();
        if day == self.today {
            if self.today_open.is_none_or(|(first, _)| at < first) {
                self.today_open = Some((at, equity));
            }
        } else if day.as_i64() == self.today.as_i64().saturating_sub(TimestampMs::MS_PER_DAY)
            && self.previous_day_close.is_none_or(|(last, _)| at > last)
        {
            self.previous_day_close = Some((at, equity));
        }
    }

    /// 00:00 UTC of the day the history is seen from.
    pub fn today(&self) -> TimestampMs {
        self.today
    }

    /// How many snapshots were taken in.
    pub fn snapshots(&self) -> u64 {
        self.snapshots
    }

    /// The highest equity stored.
    pub fn peak_equity(&self) -> Option<Decimal> {
        self.peak
    }

    /// The last snapshot of the previous UTC day: its time and equity.
    pub fn previous_day_close(&self) -> Option<(TimestampMs, Decimal)> {
        self.previous_day_close
    }

    /// The first snapshot of today: its time and equity.
    pub fn today_open(&self) -> Option<(TimestampMs, Decimal)> {
        self.today_open
    }
}

/// Where [`Books::restore`] took today's opening equity from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayOpening {
    /// The last snapshot of the previous UTC day.
    PreviousDayClose {
        /// The snapshot's time.
        at: TimestampMs,
        /// Its equity, today's opening.
        equity: Decimal,
    },
    /// The first snapshot of today, taken before any fill of today.
    TodayFirstSnapshot {
        /// The snapshot's time.
        at: TimestampMs,
        /// Its equity, today's opening.
        equity: Decimal,
    },
    /// The rebuilt books' own: the equity before today's first fill, or, with no fill today,
    /// whatever today's first event will find.
    Rebuilt,
}

/// The ledger. See the module documentation for its conventions.
#[derive(Debug, Clone)]
pub struct Books {
    quote_asset: String,
    starting_cash: Decimal,
    cash: Decimal,
    realized_pnl: Decimal,
    fees: Decimal,
    positions: BTreeMap<Symbol, Position>,
    marks: HashMap<Symbol, (Decimal, TimestampMs)>,
    seen: HashSet<FillId>,
    peak_equity: Decimal,
    day_start: Option<TimestampMs>,
    day_start_equity: Decimal,
    /// The time of the event that opened the current day (or of the snapshot it was restored
    /// from).
    day_opened_at: TimestampMs,
    as_of: TimestampMs,
    anomalies: VecDeque<Anomaly>,
    anomaly_count: u64,
    fills_applied: u64,
}

impl Books {
    /// Empty books holding `starting_cash` of `quote_asset`.
    pub fn new(quote_asset: &str, starting_cash: Decimal) -> Self {
        Self {
            quote_asset: quote_asset.to_owned(),
            starting_cash,
            cash: starting_cash,
            realized_pnl: Decimal::ZERO,
            fees: Decimal::ZERO,
            positions: BTreeMap::new(),
            marks: HashMap::new(),
            seen: HashSet::new(),
            peak_equity: starting_cash,
            day_start: None,
            day_start_equity: starting_cash,
            day_opened_at: TimestampMs::EPOCH,
            as_of: TimestampMs::EPOCH,
            anomalies: VecDeque::new(),
            anomaly_count: 0,
            fills_applied: 0,
        }
    }

    /// The base asset of `symbol` (`BTC` for `BTCUSDT`), when it is quoted in the quote asset.
    pub fn base_asset<'a>(&self, symbol: &'a Symbol) -> Option<&'a str> {
        base_asset(symbol.as_str(), &self.quote_asset)
    }

    /// Books `fill`, once: a fill whose id was seen before changes nothing.
    pub fn apply_fill(&mut self, fill: &Fill) -> FillOutcome {
        let id = fill.fill_id();
        if !self.seen.insert(id) {
            return FillOutcome::Duplicate;
        }
        let symbol = fill.symbol();
        let Some(base) = base_asset(symbol.as_str(), &self.quote_asset) else {
            return self.reject(Anomaly::NotInQuoteAsset {
                fill_id: id,
                symbol,
            });
        };
        self.roll_day(fill.exchange_time());
        let mut anomalies = Vec::new();
        let Some(change) = self.fill_change(fill, base, &mut anomalies) else {
            return self.reject(Anomaly::Overflow { fill_id: id });
        };
        let held = self.position(&symbol).map_or(Decimal::ZERO, |p| p.quantity);
        if fill.side() == Side::Sell && change.position.quantity < Decimal::ZERO {
            anomalies.push(Anomaly::Oversold {
                fill_id: id,
                symbol,
                held,
                sold: -change.delta,
            });
        }
        self.cash = change.cash;
        self.realized_pnl = change.realized_pnl;
        self.fees = change.fees;
        self.positions.insert(symbol, change.position);
        self.as_of = self.as_of.max(fill.exchange_time());
        self.fills_applied += 1;
        for anomaly in &anomalies {
            self.remember(anomaly.clone());
        }
        self.update_peak();
        FillOutcome::Applied { anomalies }
    }

    /// Marks `symbol` at `close` (a bar's close) as of `at`. A mark older than the one held is
    /// ignored; returns whether this one was taken.
    pub fn mark(&mut self, symbol: Symbol, close: Price, at: TimestampMs) -> bool {
        if self.marks.get(&symbol).is_some_and(|(_, t)| *t > at) {
            return false;
        }
        self.roll_day(at);
        self.marks.insert(symbol, (close.value(), at));
        self.as_of = self.as_of.max(at);
        self.update_peak();
        true
    }

    /// The quote asset.
    pub fn quote_asset(&self) -> &str {
        &self.quote_asset
    }

    /// Cash the books started from.
    pub fn starting_cash(&self) -> Decimal {
        self.starting_cash
    }

    /// Cash, in quote asset.
    pub fn cash(&self) -> Decimal {
        self.cash
    }

    /// Realized PnL, before fees.
    pub fn realized_pnl(&self) -> Decimal {
        self.realized_pnl
    }

    /// Fees paid, in quote asset (negative for net rebates).
    pub fn fees(&self) -> Decimal {
        self.fees
    }

    /// The time of the latest event booked.
    pub fn as_of(&self) -> TimestampMs {
        self.as_of
    }

    /// How many fills were booked.
    pub fn fills_applied(&self) -> u64 {
        self.fills_applied
    }

    /// The most recent anomalies (at most 100) and how many there were in all.
    pub fn anomalies(&self) -> (impl Iterator<Item = &Anomaly>, u64) {
        (self.anomalies.iter(), self.anomaly_count)
    }

    /// The position in `symbol`, if it was ever traded.
    pub fn position(&self, symbol: &Symbol) -> Option<&Position> {
        self.positions.get(symbol)
    }

    /// Every symbol ever traded, flat ones included.
    pub fn positions(&self) -> impl Iterator<Item = &Position> {
        self.positions.values()
    }

    /// The price `symbol` is marked at: the latest bar close, else the last fill price.
    pub fn mark_price(&self, symbol: &Symbol) -> Decimal {
        match self.marks.get(symbol) {
            Some((price, _)) => *price,
            None => self
                .positions
                .get(symbol)
                .map_or(Decimal::ZERO, |p| p.last_fill_price),
        }
    }

    /// The open positions with their marks, by symbol.
    pub fn open_positions(&self) -> Vec<MarkedPosition> {
        self.positions
            .values()
            .filter(|p| p.is_open())
            .map(|p| {
                let mark = self.mark_price(&p.symbol);
                MarkedPosition {
                    position: p.clone(),
                    mark_price: mark,
                    unrealized_pnl: p
                        .quantity
                        .saturating_mul(mark.saturating_sub(p.average_price)),
                    exposure: p.quantity.saturating_mul(mark).abs(),
                }
            })
            .collect()
    }

    /// Unrealized PnL of every open position.
    pub fn unrealized_pnl(&self) -> Decimal {
        self.open_positions()
            .iter()
            .fold(Decimal::ZERO, |sum, p| sum.saturating_add(p.unrealized_pnl))
    }

    /// Cash plus every position at its mark.
    pub fn equity(&self) -> Decimal {
        self.positions.values().fold(self.cash, |sum, p| {
            sum.saturating_add(p.quantity.saturating_mul(self.mark_price(&p.symbol)))
        })
    }

    /// Exposure per open symbol (`|qty × mark|`), by symbol.
    pub fn exposure(&self) -> Vec<(Symbol, Decimal)> {
        self.open_positions()
            .into_iter()
            .map(|p| (p.position.symbol, p.exposure))
            .collect()
    }

    /// Exposure of every open position together.
    pub fn total_exposure(&self) -> Decimal {
        self.exposure()
            .iter()
            .fold(Decimal::ZERO, |sum, (_, e)| sum.saturating_add(*e))
    }

    /// The highest equity the books have had.
    pub fn peak_equity(&self) -> Decimal {
        self.peak_equity
    }

    /// `(peak - equity) / peak × 100`; 0 when the peak is not positive.
    pub fn drawdown_pct(&self) -> Decimal {
        if self.peak_equity <= Decimal::ZERO {
            return Decimal::ZERO;
        }
        self.peak_equity
            .saturating_sub(self.equity())
            .checked_div(self.peak_equity)
            .and_then(|share| share.checked_mul(Decimal::ONE_HUNDRED))
            .map_or(Decimal::ZERO, |pct| pct.max(Decimal::ZERO))
    }

    /// Equity now minus equity at the start of the UTC day of the latest event (the equity
    /// just before that day's first event).
    pub fn daily_pnl(&self) -> Decimal {
        self.equity().saturating_sub(self.day_start_equity)
    }

    /// [`daily_pnl`](Self::daily_pnl) seen at `now`: 0 once a new UTC day has begun without an
    /// event yet.
    pub fn daily_pnl_at(&self, now: TimestampMs) -> Decimal {
        match self.day_start {
            Some(day) if now.utc_day_start() > day => Decimal::ZERO,
            _ => self.daily_pnl(),
        }
    }

    /// The UTC day [`daily_pnl`](Self::daily_pnl) counts from, and the equity it opened at
    /// (`None` before any event).
    pub fn day_opening(&self) -> Option<(TimestampMs, Decimal)> {
        self.day_start.map(|day| (day, self.day_start_equity))
    }

    /// Takes back, into books just rebuilt from the stored fills, what the fills alone cannot
    /// give: the rebuild replays the fills without the bar marks the live books had in between,
    /// so its peak misses every high reached on a mark, and its day opening is taken at stale
    /// marks (or not at all when no fill fell today). `history` is the stored equity curve, made
    /// of what the live books valued themselves at.
    ///
    /// - Peak: the higher of the rebuilt peak and the highest stored equity. The rebuilt peak
    ///   is at least the equity now and the starting cash (the live books' first peak), and
    ///   keeps the highs reached on fills (exact when flat); it may exceed the live one where a
    ///   replayed fill valued an open position at its fill price, which errs toward tripping.
    ///   Highs between two snapshots (at most `portfolio.snapshot_interval_ms` apart while bars
    ///   flow) are lost.
    /// - Today's opening equity. The live books open a UTC day at the equity just before its
    ///   first event (fill or mark); the best stored estimate of that is, in order:
    ///   1. the last snapshot of the previous UTC day: the live books' own value at the latest
    ///      recorded instant before today (events after it and before midnight are lost). An
    ///      older snapshot is not used: a whole day without one means the service or its
    ///      market data was down, and fills and marks since may have moved the equity;
    ///   2. else the first snapshot of today, when it was taken before the first fill of today
    ///      replayed (or there is none): the equity after today's first recorded mark, which
    ///      misses only what moved between midnight and that mark;
    ///   3. else the rebuilt books' own opening: the equity just before the first fill of today
    ///      (exact when the books were flat then, else at the previous fills' prices);
    ///   4. with no fill today either, the day opens as in live books, on its first event.
    ///
    /// Books whose latest event is on a later day than `history`'s today (a clock behind the
    /// exchange's) keep their own opening.
    pub fn restore(&mut self, history: &EquityHistory) -> DayOpening {
        if let Some(peak) = history.peak_equity() {
            self.peak_equity = self.peak_equity.max(peak);
        }
        let today = history.today();
        if self.day_start.is_some_and(|day| day > today) {
            return DayOpening::Rebuilt;
        }
        let fill_today = self.day_start == Some(today);
        let (opening, at, equity) = if let Some((at, equity)) = history.previous_day_close {
            (DayOpening::PreviousDayClose { at, equity }, at, equity)
        } else if let Some((at, equity)) = history.today_open
            && (!fill_today || at < self.day_opened_at)
        {
            (DayOpening::TodayFirstSnapshot { at, equity }, at, equity)
        } else {
            return DayOpening::Rebuilt;
        };
        self.day_start = Some(today);
        self.day_start_equity = equity;
        self.day_opened_at = at;
        opening
    }

    /// The books' value now, stamped `at`.
    pub fn snapshot(&self, at: TimestampMs) -> EquitySnapshot {
        EquitySnapshot {
            at,
            equity: self.equity(),
            cash: self.cash,
            unrealized_pnl: self.unrealized_pnl(),
            realized_pnl: self.realized_pnl,
        }
    }

    fn reject(&mut self, anomaly: Anomaly) -> FillOutcome {
        self.remember(anomaly.clone());
        FillOutcome::Rejected(anomaly)
    }

    fn remember(&mut self, anomaly: Anomaly) {
        self.anomaly_count += 1;
        self.anomalies.push_back(anomaly);
        while self.anomalies.len() > ANOMALY_MEMORY {
            self.anomalies.pop_front();
        }
    }

    /// Starts a new UTC day when `at` falls after the current one: its opening equity is the
    /// equity before `at`'s event.
    fn roll_day(&mut self, at: TimestampMs) {
        let day = at.utc_day_start();
        if self.day_start.is_none_or(|current| day > current) {
            self.day_start = Some(day);
            self.day_start_equity = self.equity();
            self.day_opened_at = at;
        }
    }

    fn update_peak(&mut self) {
        self.peak_equity = self.peak_equity.max(self.equity());
    }

    /// The books after `fill`, computed with checked arithmetic; `None` on overflow.
    fn fill_change(
        &self,
        fill: &Fill,
        base: &str,
        anomalies: &mut Vec<Anomaly>,
    ) -> Option<FillChange> {
        let price = fill.price().value();
        let quantity = fill.quantity().value();
        let notional = price.checked_mul(quantity)?;
        let fee = fill.fee().value();
        let asset = fill.fee_asset();
        let (fee_from_cash, fee_from_base, fee_value) = if asset == self.quote_asset {
            (fee, Decimal::ZERO, fee)
        } else if asset == base {
            (Decimal::ZERO, fee, fee.checked_mul(price)?)
        } else {
            anomalies.push(Anomaly::ForeignFeeAsset {
                fill_id: fill.fill_id(),
                asset: asset.to_owned(),
                fee,
            });
            (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO)
        };
        let (delta, cash) = match fill.side() {
            Side::Buy => (
                quantity.checked_sub(fee_from_base)?,
                self.cash
                    .checked_sub(notional)?
                    .checked_sub(fee_from_cash)?,
            ),
            Side::Sell => (
                -quantity.checked_add(fee_from_base)?,
                self.cash
                    .checked_add(notional)?
                    .checked_sub(fee_from_cash)?,
            ),
        };
        let symbol = fill.symbol();
        let mut position = self
            .positions
            .get(&symbol)
            .cloned()
            .unwrap_or_else(|| Position::new(symbol));
        let realized = trade(&mut position, delta, price)?;
        position.realized_pnl = position.realized_pnl.checked_add(realized)?;
        position.last_fill_price = price;
        Some(FillChange {
            cash,
            realized_pnl: self.realized_pnl.checked_add(realized)?,
            fees: self.fees.checked_add(fee_value)?,
            position,
            delta,
        })
    }
}

/// The books' new figures after one fill.
struct FillChange {
    cash: Decimal,
    realized_pnl: Decimal,
    fees: Decimal,
    position: Position,
    delta: Decimal,
}

/// Changes `position` by the signed quantity `delta` traded at `price` (average-cost method);
/// returns the PnL it realizes. `None` on overflow.
fn trade(position: &mut Position, delta: Decimal, price: Decimal) -> Option<Decimal> {
    let held = position.quantity;
    if delta.is_zero() {
        return Some(Decimal::ZERO);
    }
    let after = held.checked_add(delta)?;
    let grows = held.is_zero() || held.is_sign_positive() == delta.is_sign_positive();
    if grows {
        let cost = held
            .checked_mul(position.average_price)?
            .checked_add(delta.checked_mul(price)?)?;
        position.average_price = cost.checked_div(after)?;
        position.quantity = after;
        return Some(Decimal::ZERO);
    }
    let closed = delta.abs().min(held.abs());
    let per_unit = price.checked_sub(position.average_price)?;
    let realized = if held.is_sign_positive() {
        closed.checked_mul(per_unit)?
    } else {
        -closed.checked_mul(per_unit)?
    };
    position.quantity = after;
    if after.is_zero() {
        position.average_price = Decimal::ZERO;
    } else if after.is_sign_positive() != held.is_sign_positive() {
        // flipped: the rest is a new position opened at this price
        position.average_price = price;
    }
    Some(realized)
}

/// The base asset of `symbol` quoted in `quote` (`BTC` for `BTCUSDT`).
pub fn base_asset<'a>(symbol: &'a str, quote: &str) -> Option<&'a str> {
    symbol.strip_suffix(quote).filter(|base| !base.is_empty())
}

#[cfg(test)]
mod tests {
    use levibot_core::{ClientOrderId, FillParts, Money, Quantity};
    use rstest::rstest;
    use rust_decimal_macros::dec;

    use super::*;

    const T0: i64 = 1_700_000_000_000;

    fn btc() -> Symbol {
        Symbol::new("BTCUSDT").unwrap()
    }

    fn fill(n: u128, side: Side, price: Decimal, qty: Decimal, fee: Decimal, asset: &str) -> Fill {
        fill_at(n, side, price, qty, fee, asset, T0 + n as i64)
    }

    fn fill_at(
        n: u128,
        side: Side,
        price: Decimal,
        qty: Decimal,
        fee: Decimal,
        asset: &str,
        at: i64,
    ) -> Fill {
        Fill::new(FillParts {
            fill_id: FillId::from(ulid::Ulid::from(n)),
            client_order_id: ClientOrderId::new(&format!("c{n}")).unwrap(),
            symbol: btc(),
            side,
            price: Price::new(price).unwrap(),
            quantity: Quantity::new(qty).unwrap(),
            fee: Money::new(fee),
            fee_asset: asset.to_owned(),
            is_maker: false,
            exchange_time: TimestampMs::new(at),
            receive_time: TimestampMs::new(at),
        })
        .unwrap()
    }

    fn books() -> Books {
        Books::new("USDT", dec!(10000))
    }

    fn applied(outcome: FillOutcome) {
        let FillOutcome::Applied { anomalies } = outcome else {
            panic!("not applied: {outcome:?}")
        };
        assert!(anomalies.is_empty(), "{anomalies:?}");
    }

    /// `equity = starting cash + realized - fees + unrealized`.
    fn assert_identity(b: &Books) {
        assert_eq!(
            b.equity(),
            b.starting_cash() + b.realized_pnl() - b.fees() + b.unrealized_pnl(),
            "books identity"
        );
    }

    #[test]
    fn buy_add_partial_sell_full_sell_by_hand() {
        let mut b = books();
        // buy 0.5 @ 20000, fee 10 USDT: cash 10000 - 10000 - 10 = -10
        applied(b.apply_fill(&fill(
            1,
            Side::Buy,
            dec!(20000),
            dec!(0.5),
            dec!(10),
            "USDT",
        )));
        let p = b.position(&btc()).unwrap();
        assert_eq!((p.quantity(), p.average_price()), (dec!(0.5), dec!(20000)));
        assert_eq!(b.cash(), dec!(-10));
        assert_eq!(b.fees(), dec!(10));
        // marked at the last fill price: equity = -10 + 0.5 × 20000
        assert_eq!(b.equity(), dec!(9990));
        assert_identity(&b);

        // add 0.5 @ 22000, fee 11: avg (10000 + 11000) / 1 = 21000; cash -10 - 11000 - 11
        applied(b.apply_fill(&fill(
            2,
            Side::Buy,
            dec!(22000),
            dec!(0.5),
            dec!(11),
            "USDT",
        )));
        let p = b.position(&btc()).unwrap();
        assert_eq!((p.quantity(), p.average_price()), (dec!(1.0), dec!(21000)));
        assert_eq!(b.cash(), dec!(-11021));
        assert_identity(&b);

        // sell 0.4 @ 25000, fee 10: realized 0.4 × 4000 = 1600; cash -11021 + 10000 - 10
        applied(b.apply_fill(&fill(
            3,
            Side::Sell,
            dec!(25000),
            dec!(0.4),
            dec!(10),
            "USDT",
        )));
        let p = b.position(&btc()).unwrap();
        assert_eq!((p.quantity(), p.average_price()), (dec!(0.6), dec!(21000)));
        assert_eq!(b.realized_pnl(), dec!(1600));
        assert_eq!(b.cash(), dec!(-1031));
        assert_eq!(b.fees(), dec!(31));
        // marked at 25000: unrealized 0.6 × 4000 = 2400; equity -1031 + 15000
        assert_eq!(b.unrealized_pnl(), dec!(2400));
        assert_eq!(b.equity(), dec!(13969));
        assert_identity(&b);

        // sell the rest 0.6 @ 20000, fee 12: realized 0.6 × -1000 = -600
        applied(b.apply_fill(&fill(
            4,
            Side::Sell,
            dec!(20000),
            dec!(0.6),
            dec!(12),
            "USDT",
        )));
        let p = b.position(&btc()).unwrap();
        assert_eq!((p.quantity(), p.average_price()), (dec!(0), dec!(0)));
        assert_eq!(p.realized_pnl(), dec!(1000));
        assert_eq!(b.realized_pnl(), dec!(1000));
        assert_eq!(b.fees(), dec!(43));
        assert_eq!(b.cash(), dec!(10957));
        assert_eq!(b.equity(), dec!(10957));
        assert_eq!(b.unrealized_pnl(), dec!(0));
        assert!(b.open_positions().is_empty());
        assert_eq!(b.total_exposure(), dec!(0));
        assert_identity(&b);
        assert_eq!(b.fills_applied(), 4);
    }

    #[test]
    fn a_duplicate_fill_changes_nothing() {
        let mut b = books();
        let f = fill(1, Side::Buy, dec!(100), dec!(2), dec!(0.2), "USDT");
        applied(b.apply_fill(&f));
        let cash = b.cash();
        assert_eq!(b.apply_fill(&f), FillOutcome::Duplicate);
        assert_eq!(b.cash(), cash);
        assert_eq!(b.position(&btc()).unwrap().quantity(), dec!(2));
        assert_eq!(b.fills_applied(), 1);
    }

    #[test]
    fn marks_drive_unrealized_equity_peak_drawdown_and_exposure() {
        let mut b = books();
        applied(b.apply_fill(&fill(1, Side::Buy, dec!(100), dec!(10), dec!(0), "USDT")));
        assert!(b.mark(
            btc(),
            Price::new(dec!(120)).unwrap(),
            TimestampMs::new(T0 + 60_000)
        ));
        assert_eq!(b.unrealized_pnl(), dec!(200));
        assert_eq!(b.equity(), dec!(10200));
        assert_eq!(b.peak_equity(), dec!(10200));
        assert_eq!(b.drawdown_pct(), dec!(0));
        assert_eq!(b.exposure(), vec![(btc(), dec!(1200))]);
        // down to 69: equity 9690, drawdown 510 / 10200 = 5 %
        assert!(b.mark(
            btc(),
            Price::new(dec!(69)).unwrap(),
            TimestampMs::new(T0 + 120_000)
        ));
        assert_eq!(b.equity(), dec!(9690));
        assert_eq!(b.peak_equity(), dec!(10200));
        assert_eq!(b.drawdown_pct(), dec!(5));
        assert_eq!(b.total_exposure(), dec!(690));
        // an older mark arriving late is ignored
        assert!(!b.mark(
            btc(),
            Price::new(dec!(500)).unwrap(),
            TimestampMs::new(T0 + 60_000)
        ));
        assert_eq!(b.mark_price(&btc()), dec!(69));
        assert_identity(&b);
    }

    #[test]
    fn a_mark_before_the_position_is_used_for_it() {
        let mut b = books();
        assert!(b.mark(btc(), Price::new(dec!(110)).unwrap(), TimestampMs::new(T0)));
        applied(b.apply_fill(&fill(1, Side::Buy, dec!(100), dec!(1), dec!(0), "USDT")));
        assert_eq!(b.unrealized_pnl(), dec!(10));
    }

    #[test]
    fn a_base_asset_fee_is_taken_from_the_quantity_and_valued_at_the_fill_price() {
        let mut b = books();
        // buy 1 BTC @ 100, fee 0.001 BTC: holds 0.999, paid 100 cash, fee worth 0.1
        applied(b.apply_fill(&fill(1, Side::Buy, dec!(100), dec!(1), dec!(0.001), "BTC")));
        let p = b.position(&btc()).unwrap();
        assert_eq!((p.quantity(), p.average_price()), (dec!(0.999), dec!(100)));
        assert_eq!(b.cash(), dec!(9900));
        assert_eq!(b.fees(), dec!(0.1));
        assert_eq!(b.equity(), dec!(9999.9));
        assert_identity(&b);
        // sell 0.5 @ 110, fee 0.0005 BTC: 0.5005 leaves, realized 0.5005 × 10
        applied(b.apply_fill(&fill(
            2,
            Side::Sell,
            dec!(110),
            dec!(0.5),
            dec!(0.0005),
            "BTC",
        )));
        let p = b.position(&btc()).unwrap();
        assert_eq!(p.quantity(), dec!(0.4985));
        assert_eq!(b.realized_pnl(), dec!(5.005));
        assert_eq!(b.fees(), dec!(0.155));
        assert_eq!(b.cash(), dec!(9955));
        assert_identity(&b);
    }

    #[test]
    fn a_fee_in_a_third_asset_is_an_anomaly_and_not_booked() {
        let mut b = books();
        let outcome = b.apply_fill(&fill(1, Side::Buy, dec!(100), dec!(1), dec!(0.01), "BNB"));
        let FillOutcome::Applied { anomalies } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(anomalies.len(), 1);
        assert_eq!(anomalies[0].kind(), "foreign_fee_asset");
        assert_eq!(b.cash(), dec!(9900));
        assert_eq!(b.fees(), dec!(0));
        assert_eq!(b.anomalies().1, 1);
    }

    #[test]
    fn selling_more_than_held_is_an_anomaly_not_a_panic() {
        let mut b = books();
        applied(b.apply_fill(&fill(1, Side::Buy, dec!(100), dec!(1), dec!(0), "USDT")));
        let outcome = b.apply_fill(&fill(2, Side::Sell, dec!(120), dec!(1.5), dec!(0), "USDT"));
        assert_eq!(
            outcome,
            FillOutcome::Applied {
                anomalies: vec![Anomaly::Oversold {
                    fill_id: FillId::from(ulid::Ulid::from(2u128)),
                    symbol: btc(),
                    held: dec!(1),
                    sold: dec!(1.5),
                }]
            }
        );
        let p = b.position(&btc()).unwrap();
        // the held unit realized 20; the extra half is booked as reported, at 120
        assert_eq!((p.quantity(), p.average_price()), (dec!(-0.5), dec!(120)));
        assert_eq!(b.realized_pnl(), dec!(20));
        assert_eq!(b.cash(), dec!(10080));
        assert_identity(&b);
    }

    #[test]
    fn a_symbol_in_another_quote_is_rejected_once() {
        let mut b = Books::new("EUR", dec!(100));
        let f = fill(1, Side::Buy, dec!(1), dec!(1), dec!(0), "EUR");
        assert!(matches!(
            b.apply_fill(&f),
            FillOutcome::Rejected(Anomaly::NotInQuoteAsset { .. })
        ));
        assert_eq!(b.apply_fill(&f), FillOutcome::Duplicate);
        assert_eq!(b.cash(), dec!(100));
    }

    #[test]
    fn daily_pnl_counts_from_the_equity_before_the_days_first_event() {
        let day = TimestampMs::MS_PER_DAY;
        let d1 = 19_700 * day; // 00:00 UTC of some day
        let mut b = books();
        applied(b.apply_fill(&fill_at(
            1,
            Side::Buy,
            dec!(100),
            dec!(10),
            dec!(1),
            "USDT",
            d1 + 1000,
        )));
        // first event of the day: the day opened at the starting cash
        assert_eq!(b.daily_pnl(), dec!(-1));
        assert!(b.mark(
            btc(),
            Price::new(dec!(90)).unwrap(),
            TimestampMs::new(d1 + 3_600_000)
        ));
        assert_eq!(b.daily_pnl(), dec!(-101));
        // next day: opens at yesterday's closing equity 9899, then marks at 95
        assert_eq!(b.daily_pnl_at(TimestampMs::new(d1 + day + 5)), dec!(0));
        assert!(b.mark(
            btc(),
            Price::new(dec!(95)).unwrap(),
            TimestampMs::new(d1 + day + 60_000)
        ));
        assert_eq!(b.equity(), dec!(9949));
        assert_eq!(b.daily_pnl(), dec!(50));
        assert_eq!(
            b.daily_pnl_at(TimestampMs::new(d1 + day + 70_000)),
            dec!(50)
        );
    }

    const DAY: i64 = TimestampMs::MS_PER_DAY;
    const HOUR: i64 = 3_600_000;
    /// 00:00 UTC of "today" in the restore tests; they are seen at 10:00.
    const TODAY: i64 = 19_700 * DAY;

    fn now() -> TimestampMs {
        TimestampMs::new(TODAY + 10 * HOUR)
    }

    fn snapshot(at: i64, equity: Decimal) -> EquitySnapshot {
        EquitySnapshot {
            at: TimestampMs::new(at),
            equity,
            cash: Decimal::ZERO,
            unrealized_pnl: Decimal::ZERO,
            realized_pnl: Decimal::ZERO,
        }
    }

    /// Rebuilt from one fill yesterday at noon: buy 10 @ 100, fee 50. Cash 8950, equity 9950
    /// (marked at the fill price), peak 10000 (the starting cash), yesterday opened at 10000.
    fn rebuilt_from_yesterday() -> Books {
        let mut b = books();
        applied(b.apply_fill(&fill_at(
            1,
            Side::Buy,
            dec!(100),
            dec!(10),
            dec!(50),
            "USDT",
            TODAY - 12 * HOUR,
        )));
        assert_eq!((b.equity(), b.peak_equity()), (dec!(9950), dec!(10000)));
        b
    }

    /// `rebuilt_from_yesterday` plus a fill today at 02:00: buy 10 @ 110, fee 0. Today opened
    /// at 9950 (before that fill); cash 7850 + 20 × 110 = equity 10050.
    fn rebuilt_with_a_fill_today() -> Books {
        let mut b = rebuilt_from_yesterday();
        applied(b.apply_fill(&fill_at(
            2,
            Side::Buy,
            dec!(110),
            dec!(10),
            dec!(0),
            "USDT",
            TODAY + 2 * HOUR,
        )));
        assert_eq!(b.equity(), dec!(10050));
        assert_eq!(b.daily_pnl_at(now()), dec!(100));
        b
    }

    #[rstest]
    // no snapshots: the rebuilt peak, the starting cash; drawdown 50 / 10000
    #[case::no_snapshots(&[], dec!(10000), dec!(0.5))]
    // a stored high below the equity now changes nothing
    #[case::history_lower_than_now(&[dec!(9900), dec!(9940)], dec!(10000), dec!(0.5))]
    // a stored high above: drawdown (12500 - 9950) / 12500 = 20.4 %
    #[case::history_higher_than_now(&[dec!(9980), dec!(12500), dec!(11000)], dec!(12500), dec!(20.4))]
    fn the_peak_is_the_higher_of_the_rebuilt_one_and_the_stored_one(
        #[case] equities: &[Decimal],
        #[case] peak: Decimal,
        #[case] drawdown: Decimal,
    ) {
        let mut b = rebuilt_from_yesterday();
        let snapshots: Vec<EquitySnapshot> = equities
            .iter()
            .enumerate()
            .map(|(i, e)| snapshot(TODAY - 11 * HOUR + i as i64 * 60_000, *e))
            .collect();
        b.restore(&EquityHistory::of(now(), &snapshots));
        assert_eq!(b.peak_equity(), peak);
        assert_eq!(b.drawdown_pct(), drawdown);
        assert_eq!(b.equity(), dec!(9950));
        // a later mark at 90 (equity 9850) is judged from the restored peak
        assert!(b.mark(
            btc(),
            Price::new(dec!(90)).unwrap(),
            TimestampMs::new(TODAY + 10 * HOUR)
        ));
        assert_eq!(b.peak_equity(), peak);
        assert_eq!(b.drawdown_pct(), (peak - dec!(9850)) / peak * dec!(100));
    }

    #[test]
    fn an_equity_now_above_every_stored_one_is_the_peak() {
        // buy 10 @ 100, sell 10 @ 120 yesterday: flat, equity 10200
        let mut b = books();
        for (n, side, price) in [(1, Side::Buy, dec!(100)), (2, Side::Sell, dec!(120))] {
            applied(b.apply_fill(&fill_at(
                n,
                side,
                price,
                dec!(10),
                dec!(0),
                "USDT",
                TODAY - 12 * HOUR + n as i64,
            )));
        }
        let snapshots = [
            snapshot(TODAY - 2 * HOUR, dec!(10150)),
            snapshot(TODAY + HOUR, dec!(10100)),
        ];
        b.restore(&EquityHistory::of(now(), &snapshots));
        assert_eq!((b.peak_equity(), b.drawdown_pct()), (dec!(10200), dec!(0)));
    }

    #[test]
    fn no_snapshots_leave_the_rebuilt_books_as_they_were() {
        for rebuilt in [rebuilt_from_yesterday(), rebuilt_with_a_fill_today()] {
            let mut b = rebuilt.clone();
            let history = EquityHistory::of(now(), &[]);
            assert_eq!(history.snapshots(), 0);
            assert_eq!(b.restore(&history), DayOpening::Rebuilt);
            assert_eq!(b.peak_equity(), rebuilt.peak_equity());
            assert_eq!(b.day_opening(), rebuilt.day_opening());
            assert_eq!(b.daily_pnl_at(now()), rebuilt.daily_pnl_at(now()));
        }
    }

    /// Snapshots from (ms after today's 00:00, equity) pairs.
    fn curve(curve: &[(i64, Decimal)]) -> Vec<EquitySnapshot> {
        curve
            .iter()
            .map(|(at, equity)| snapshot(TODAY + at, *equity))
            .collect()
    }

    #[rstest]
    // yesterday's last snapshot (23:59:59.999) opens today: daily 9950 - 9800; today's are
    // ignored, an older day's too
    #[case::previous_day_close(
        &[(HOUR, dec!(9700)), (-1, dec!(9800)), (-2 * HOUR, dec!(9900)), (-30 * HOUR, dec!(9000))],
        Some((-1, dec!(9800))),
        dec!(150)
    )]
    // nothing from yesterday: today's first snapshot (00:00:00.000 is today's) opens it
    #[case::first_snapshot_of_today(
        &[(HOUR, dec!(9600)), (0, dec!(9700)), (-30 * HOUR, dec!(9000))],
        Some((0, dec!(9700))),
        dec!(250)
    )]
    // only a snapshot older than yesterday: stale, not used; no fill today, so today opens on
    // its first event and the daily PnL is 0 until then
    #[case::only_older_days(&[(-DAY - 1, dec!(9800))], None, dec!(0))]
    fn today_opens_at_yesterdays_last_snapshot_else_todays_first(
        #[case] curve_at: &[(i64, Decimal)],
        #[case] opened: Option<(i64, Decimal)>,
        #[case] daily_pnl: Decimal,
    ) {
        let mut b = rebuilt_from_yesterday();
        let snapshots = curve(curve_at);
        let history = EquityHistory::of(now(), &snapshots);
        // the fold does not depend on the order
        assert_eq!(history, EquityHistory::of(now(), snapshots.iter().rev()));
        let opening = b.restore(&history);
        match opened {
            Some((at, equity)) => {
                let at = TimestampMs::new(TODAY + at);
                let expected = if at.as_i64() < TODAY {
                    DayOpening::PreviousDayClose { at, equity }
                } else {
                    DayOpening::TodayFirstSnapshot { at, equity }
                };
                assert_eq!(opening, expected);
                assert_eq!(b.day_opening(), Some((TimestampMs::new(TODAY), equity)));
            }
            None => {
                assert_eq!(opening, DayOpening::Rebuilt);
                assert_eq!(
                    b.day_opening(),
                    Some((TimestampMs::new(TODAY - DAY), dec!(10000)))
                );
            }
        }
        assert_eq!(b.daily_pnl_at(now()), daily_pnl);
    }

    #[rstest]
    // a snapshot at 01:00, before the 02:00 fill, opens today: daily 10050 - 9990
    #[case::snapshot_before_the_fill(&[(HOUR, dec!(9990))], dec!(60))]
    // one at 03:00 came after it: the rebuilt opening, 9950 before the fill, is kept
    #[case::snapshot_after_the_fill(&[(3 * HOUR, dec!(10020))], dec!(100))]
    // yesterday's close is preferred to either: daily 10050 - 9800
    #[case::previous_day_close(&[(3 * HOUR, dec!(10020)), (-HOUR, dec!(9800))], dec!(250))]
    fn with_a_fill_today_a_snapshot_of_today_opens_the_day_only_if_taken_before_it(
        #[case] curve_at: &[(i64, Decimal)],
        #[case] daily_pnl: Decimal,
    ) {
        let mut b = rebuilt_with_a_fill_today();
        b.restore(&EquityHistory::of(now(), &curve(curve_at)));
        assert_eq!(b.daily_pnl_at(now()), daily_pnl);
        assert_eq!(b.daily_pnl(), daily_pnl);
    }

    #[test]
    fn a_restored_day_rolls_over_as_a_live_one() {
        let mut b = rebuilt_from_yesterday();
        b.restore(&EquityHistory::of(
            now(),
            &[snapshot(TODAY - 1, dec!(9800))],
        ));
        assert_eq!(b.daily_pnl_at(now()), dec!(150));
        // a mark today stays in the restored day: 10 × 95 + 8950 = 9900, daily 100
        assert!(b.mark(
            btc(),
            Price::new(dec!(95)).unwrap(),
            TimestampMs::new(TODAY + 11 * HOUR)
        ));
        assert_eq!(b.daily_pnl(), dec!(100));
        // tomorrow: 0 until its first event, which opens it at 9900
        let tomorrow = TimestampMs::new(TODAY + DAY + 60_000);
        assert_eq!(b.daily_pnl_at(tomorrow), dec!(0));
        assert!(b.mark(btc(), Price::new(dec!(90)).unwrap(), tomorrow));
        assert_eq!(
            b.day_opening(),
            Some((TimestampMs::new(TODAY + DAY), dec!(9900)))
        );
        assert_eq!(b.daily_pnl_at(tomorrow), dec!(-50));
    }

    #[test]
    fn books_already_on_a_later_day_keep_their_opening_but_take_the_peak() {
        // a fill stamped tomorrow (the exchange's clock ahead of ours)
        let mut b = rebuilt_from_yesterday();
        applied(b.apply_fill(&fill_at(
            2,
            Side::Sell,
            dec!(100),
            dec!(1),
            dec!(0),
            "USDT",
            TODAY + DAY + HOUR,
        )));
        let before = b.day_opening();
        let opening = b.restore(&EquityHistory::of(
            now(),
            &[snapshot(TODAY - 1, dec!(11000))],
        ));
        assert_eq!(opening, DayOpening::Rebuilt);
        assert_eq!(b.day_opening(), before);
        assert_eq!(b.peak_equity(), dec!(11000));
    }

    #[rstest]
    #[case("BTCUSDT", "USDT", Some("BTC"))]
    #[case("USDT", "USDT", None)]
    #[case("ETHBTC", "USDT", None)]
    fn base_assets(#[case] symbol: &str, #[case] quote: &str, #[case] base: Option<&str>) {
        assert_eq!(base_asset(symbol, quote), base);
    }

    proptest::proptest! {
        /// A round trip realizes the price difference times the quantity, and equity ends at
        /// starting cash + that - fees.
        #[test]
        fn round_trip_pnl_is_price_difference_times_quantity_minus_fees(
            buy in 1u32..1_000_000, sell in 1u32..1_000_000, qty in 1u32..100_000,
            fee_bps in 0u32..100,
        ) {
            let (buy, sell) = (Decimal::new(i64::from(buy), 2), Decimal::new(i64::from(sell), 2));
            let qty = Decimal::new(i64::from(qty), 4);
            let rate = Decimal::new(i64::from(fee_bps), 4);
            let (fee_in, fee_out) = (buy * qty * rate, sell * qty * rate);
            let mut b = books();
            b.apply_fill(&fill(1, Side::Buy, buy, qty, fee_in, "USDT"));
            b.apply_fill(&fill(2, Side::Sell, sell, qty, fee_out, "USDT"));
            proptest::prop_assert_eq!(b.realized_pnl(), (sell - buy) * qty);
            proptest::prop_assert_eq!(b.equity(), dec!(10000) + (sell - buy) * qty - fee_in - fee_out);
            proptest::prop_assert_eq!(b.cash(), b.equity());
        }
    }
}
