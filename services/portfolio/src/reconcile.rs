//! Reconciliation: the books against the exchange. [`compare`] is the pure comparison; the
//! service feeds it the exchange's account (backend `GetExchangeAccount`) and the orders the
//! trade-store believes open.
//!
//! Balances are compared exactly ([`BALANCE_TOLERANCE`] is zero): both exchanges the backend
//! trades on report each fill's fee as exactly what they debited (the paper exchange charges
//! `notional × fee_bps / 10000` in the quote asset, unrounded, and reports that same amount in
//! the fill; Binance reports the commission it took), and the books debit exactly the reported
//! fee from the asset it was charged in (see [`crate::books`]). Any difference is therefore a
//! fill the books did not see, or one the exchange did not make.

use std::collections::{BTreeMap, BTreeSet};

use levibot_core::{Symbol, TimestampMs};
use levibot_proto::v1;
use rust_decimal::Decimal;

use crate::books::{Books, base_asset};

/// The largest difference between a balance and the books that still matches: none.
pub const BALANCE_TOLERANCE: Decimal = Decimal::ZERO;

/// One asset's balance on the exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetBalance {
    /// The asset (`BTC`, `USDT`).
    pub asset: String,
    /// Available.
    pub free: Decimal,
    /// Reserved by open orders.
    pub locked: Decimal,
}

/// An order open on the exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeOpenOrder {
    /// The symbol.
    pub symbol: String,
    /// Our client order id.
    pub client_order_id: String,
}

/// What the exchange holds for us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeAccount {
    /// `paper` or `binance`.
    pub exchange: String,
    /// Balances per asset.
    pub balances: Vec<AssetBalance>,
    /// Open orders.
    pub open_orders: Vec<ExchangeOpenOrder>,
}

impl TryFrom<&v1::ExchangeAccount> for ExchangeAccount {
    type Error = String;

    fn try_from(account: &v1::ExchangeAccount) -> Result<Self, Self::Error> {
        let decimal = |asset: &str, field: &str, value: &str| {
            value
                .parse::<Decimal>()
                .map_err(|err| format!("balance of {asset}: {field} {value:?}: {err}"))
        };
        let balances = account
            .balances
            .iter()
            .map(|b| {
                Ok(AssetBalance {
                    asset: b.asset.clone(),
                    free: decimal(&b.asset, "free", &b.free)?,
                    locked: decimal(&b.asset, "locked", &b.locked)?,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            exchange: account.exchange.clone(),
            balances,
            open_orders: account
                .open_orders
                .iter()
                .map(|o| ExchangeOpenOrder {
                    symbol: o.symbol.clone(),
                    client_order_id: o.client_order_id.clone(),
                })
                .collect(),
        })
    }
}

/// What the books say, for the comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BooksView {
    /// The quote asset.
    pub quote_asset: String,
    /// Cash, in quote asset.
    pub cash: Decimal,
    /// Quantity per symbol (every symbol ever traded, and every tradable one, flat ones as 0).
    pub quantities: BTreeMap<Symbol, Decimal>,
}

impl BooksView {
    /// The view of `books`, with `tradable` symbols added as flat when never traded.
    pub fn of(books: &Books, tradable: &[Symbol]) -> Self {
        let mut quantities: BTreeMap<Symbol, Decimal> =
            tradable.iter().map(|s| (*s, Decimal::ZERO)).collect();
        for position in books.positions() {
            quantities.insert(position.symbol(), position.quantity());
        }
        Self {
            quote_asset: books.quote_asset().to_owned(),
            cash: books.cash(),
            quantities,
        }
    }
}

/// One difference between the books and the exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// `balance:BTC`, `open_order:<client order id>`.
    pub item: String,
    /// What the books (or the trade-store) say.
    pub expected: String,
    /// What the exchange says.
    pub actual: String,
}

/// How one reconciliation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReconciliationOutcome {
    /// The books match the exchange.
    Matched,
    /// They differ.
    Mismatched(Vec<Mismatch>),
    /// The exchange (or the trade-store) could not be asked.
    NotRun(String),
}

/// A reconciliation's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconciliationReport {
    /// When it ran.
    pub at: TimestampMs,
    /// How it ended.
    pub outcome: ReconciliationOutcome,
}

impl ReconciliationReport {
    /// Whether the books matched.
    pub fn ok(&self) -> bool {
        self.outcome == ReconciliationOutcome::Matched
    }

    /// The wire form.
    pub fn to_wire(&self) -> v1::ReconciliationReport {
        let (mismatches, error) = match &self.outcome {
            ReconciliationOutcome::Matched => (Vec::new(), String::new()),
            ReconciliationOutcome::Mismatched(items) => (
                items
                    .iter()
                    .map(|m| v1::ReconciliationMismatch {
                        item: m.item.clone(),
                        expected: m.expected.clone(),
                        actual: m.actual.clone(),
                    })
                    .collect(),
                String::new(),
            ),
            ReconciliationOutcome::NotRun(error) => (Vec::new(), error.clone()),
        };
        v1::ReconciliationReport {
            ok: self.ok(),
            mismatches,
            at_ms: self.at.as_i64(),
            error,
        }
    }
}

/// Compares the books with the exchange's account and the orders the trade-store believes open
/// (`store_open_orders`, client order ids):
///
/// - each base asset of a symbol in the books (`BTC` for `BTCUSDT`): balance `free + locked`
///   against the position quantity (a missing balance is 0);
/// - the quote asset's balance against cash;
/// - open orders, both ways, by client order id.
///
/// Assets the books do not trade are not compared (an account may hold other coins).
pub fn compare(
    books: &BooksView,
    account: &ExchangeAccount,
    store_open_orders: &BTreeSet<String>,
) -> Vec<Mismatch> {
    let mut held: BTreeMap<&str, Decimal> = BTreeMap::new();
    for balance in &account.balances {
        let total = held.entry(balance.asset.as_str()).or_default();
        *total = total
            .saturating_add(balance.free)
            .saturating_add(balance.locked);
    }
    let mut mismatches = Vec::new();
    let mut check = |asset: &str, expected: Decimal| {
        let actual = held.get(asset).copied().unwrap_or_default();
        if expected.saturating_sub(actual).abs() > BALANCE_TOLERANCE {
            mismatches.push(Mismatch {
                item: format!("balance:{asset}"),
                expected: expected.normalize().to_string(),
                actual: actual.normalize().to_string(),
            });
        }
    };
    let mut bases: BTreeMap<&str, Decimal> = BTreeMap::new();
    for (symbol, quantity) in &books.quantities {
        if let Some(base) = base_asset(symbol.as_str(), &books.quote_asset) {
            let total = bases.entry(base).or_default();
            *total = total.saturating_add(*quantity);
        }
    }
    for (base, quantity) in bases {
        check(base, quantity);
    }
    check(&books.quote_asset, books.cash);
    let on_exchange: BTreeMap<&str, &str> = account
        .open_orders
        .iter()
        .map(|o| (o.client_order_id.as_str(), o.symbol.as_str()))
        .collect();
    for (id, symbol) in &on_exchange {
        if !store_open_orders.contains(*id) {
            mismatches.push(Mismatch {
                item: format!("open_order:{id}"),
                expected: "not open".to_owned(),
                actual: format!("open ({symbol})"),
            });
        }
    }
    for id in store_open_orders {
        if !on_exchange.contains_key(id.as_str()) {
            mismatches.push(Mismatch {
                item: format!("open_order:{id}"),
                expected: "open".to_owned(),
                actual: "not open".to_owned(),
            });
        }
    }
    mismatches
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn view(btc: Decimal, cash: Decimal) -> BooksView {
        BooksView {
            quote_asset: "USDT".into(),
            cash,
            quantities: [
                (Symbol::new("BTCUSDT").unwrap(), btc),
                (Symbol::new("ETHUSDT").unwrap(), dec!(0)),
            ]
            .into(),
        }
    }

    fn balance(asset: &str, free: Decimal, locked: Decimal) -> AssetBalance {
        AssetBalance {
            asset: asset.into(),
            free,
            locked,
        }
    }

    fn account(balances: Vec<AssetBalance>, open: &[&str]) -> ExchangeAccount {
        ExchangeAccount {
            exchange: "paper".into(),
            balances,
            open_orders: open
                .iter()
                .map(|id| ExchangeOpenOrder {
                    symbol: "BTCUSDT".into(),
                    client_order_id: (*id).into(),
                })
                .collect(),
        }
    }

    fn ids(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn matching_books_have_no_mismatch() {
        // free + locked, other coins ignored, trailing zeros irrelevant
        let acct = account(
            vec![
                balance("BTC", dec!(0.3), dec!(0.2000)),
                balance("USDT", dec!(9000), dec!(0)),
                balance("DOGE", dec!(5), dec!(0)),
            ],
            &["lb-1"],
        );
        assert_eq!(
            compare(&view(dec!(0.5), dec!(9000.00)), &acct, &ids(&["lb-1"])),
            vec![]
        );
    }

    #[test]
    fn a_missing_balance_counts_as_zero() {
        let acct = account(vec![balance("USDT", dec!(9000), dec!(0))], &[]);
        assert_eq!(
            compare(&view(dec!(0.5), dec!(9000)), &acct, &ids(&[])),
            vec![Mismatch {
                item: "balance:BTC".into(),
                expected: "0.5".into(),
                actual: "0".into(),
            }]
        );
        // flat books and no balance: a match
        assert_eq!(
            compare(&view(dec!(0), dec!(9000)), &acct, &ids(&[])),
            vec![]
        );
    }

    #[test]
    fn an_extra_open_order_either_way_is_a_mismatch() {
        let acct = account(
            vec![
                balance("BTC", dec!(0.5), dec!(0)),
                balance("USDT", dec!(9000), dec!(0)),
            ],
            &["lb-1", "lb-2"],
        );
        assert_eq!(
            compare(&view(dec!(0.5), dec!(9000)), &acct, &ids(&["lb-1", "lb-3"])),
            vec![
                Mismatch {
                    item: "open_order:lb-2".into(),
                    expected: "not open".into(),
                    actual: "open (BTCUSDT)".into(),
                },
                Mismatch {
                    item: "open_order:lb-3".into(),
                    expected: "open".into(),
                    actual: "not open".into(),
                },
            ]
        );
    }

    #[test]
    fn a_quantity_off_by_one_step_or_a_cent_is_a_mismatch() {
        let acct = account(
            vec![
                balance("BTC", dec!(0.50000001), dec!(0)),
                balance("USDT", dec!(8999.99), dec!(0)),
            ],
            &[],
        );
        let items: Vec<String> = compare(&view(dec!(0.5), dec!(9000)), &acct, &ids(&[]))
            .into_iter()
            .map(|m| format!("{} {} {}", m.item, m.expected, m.actual))
            .collect();
        assert_eq!(
            items,
            vec!["balance:BTC 0.5 0.50000001", "balance:USDT 9000 8999.99"]
        );
    }

    #[test]
    fn the_wire_account_parses_and_bad_decimals_are_refused() {
        let wire = v1::ExchangeAccount {
            exchange: "paper".into(),
            balances: vec![v1::AssetBalance {
                asset: "BTC".into(),
                free: "1.5".into(),
                locked: "0".into(),
            }],
            open_orders: vec![],
            as_of_ms: 1,
        };
        let acct = ExchangeAccount::try_from(&wire).unwrap();
        assert_eq!(acct.balances, vec![balance("BTC", dec!(1.5), dec!(0))]);
        let mut bad = wire;
        bad.balances[0].locked = "x".into();
        let err = ExchangeAccount::try_from(&bad).unwrap_err();
        assert!(err.contains("locked"), "{err}");
    }

    #[test]
    fn reports_go_on_the_wire() {
        let report = ReconciliationReport {
            at: TimestampMs::new(5),
            outcome: ReconciliationOutcome::NotRun("no exchange".into()),
        };
        let wire = report.to_wire();
        assert!(!wire.ok);
        assert_eq!(wire.error, "no exchange");
        assert_eq!(wire.at_ms, 5);
    }
}
