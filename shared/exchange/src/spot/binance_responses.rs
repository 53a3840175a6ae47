use std::str::FromStr;

use levibot_core::{
    ClientOrderId, Fill, FillParts, Money, OrderType, Price, Quantity, Side, Symbol, TimeInForce,
    TimestampMs,
};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::exchange_error::ExchangeError;
use super::fill_ids::binance_fill_id;
use super::order_report::{Balance, OrderReport, OrderStatus};

/// An order as `POST`, `GET` and `DELETE /api/v3/order` and `GET /api/v3/openOrders` answer
/// it (the fields LeviBot reads).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrderJson {
    symbol: String,
    order_id: u64,
    client_order_id: String,
    /// Present in cancel answers, where `clientOrderId` is the cancel's own id.
    #[serde(default)]
    orig_client_order_id: Option<String>,
    #[serde(default)]
    price: Option<Decimal>,
    orig_qty: Decimal,
    executed_qty: Decimal,
    cummulative_quote_qty: Decimal,
    status: String,
    #[serde(default)]
    time_in_force: Option<String>,
    #[serde(rename = "type")]
    order_type: String,
    side: String,
    #[serde(default)]
    transact_time: Option<i64>,
    #[serde(default)]
    update_time: Option<i64>,
    #[serde(default)]
    time: Option<i64>,
    /// `newOrderRespType=FULL` only.
    #[serde(default)]
    fills: Vec<FullFillJson>,
}

/// One entry of a `FULL` placement answer's `fills`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FullFillJson {
    price: Decimal,
    qty: Decimal,
    commission: Decimal,
    commission_asset: String,
    trade_id: u64,
}

/// One row of `GET /api/v3/myTrades`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TradeJson {
    id: u64,
    order_id: u64,
    price: Decimal,
    qty: Decimal,
    commission: Decimal,
    commission_asset: String,
    time: i64,
    is_buyer: bool,
    is_maker: bool,
}

/// `GET /api/v3/account` (the balances).
#[derive(Debug, Deserialize)]
pub(crate) struct AccountJson {
    balances: Vec<BalanceJson>,
}

#[derive(Debug, Deserialize)]
struct BalanceJson {
    asset: String,
    free: Decimal,
    locked: Decimal,
}

/// `GET /api/v3/time`.
#[derive(Debug, Deserialize)]
pub(crate) struct ServerTimeJson {
    #[serde(rename = "serverTime")]
    pub(crate) server_time: i64,
}

fn decode(what: &str, detail: impl std::fmt::Display) -> ExchangeError {
    ExchangeError::Decode(format!("{what}: {detail}"))
}

fn positive_price(value: Option<Decimal>) -> Option<Price> {
    value
        .filter(|p| *p > Decimal::ZERO)
        .and_then(|p| Price::new(p).ok())
}

impl OrderJson {
    /// The order's id as the caller knows it: `origClientOrderId` in cancel answers.
    pub(crate) fn client_order_id_text(&self) -> &str {
        self.orig_client_order_id
            .as_deref()
            .unwrap_or(&self.client_order_id)
    }

    /// The exchange's order id.
    pub(crate) const fn order_id(&self) -> u64 {
        self.order_id
    }

    /// The executed quantity.
    pub(crate) const fn executed_qty(&self) -> Decimal {
        self.executed_qty
    }

    /// Converts to a report whose fills are the answer's `FULL` fills (none for other
    /// answers), received at `received`.
    pub(crate) fn into_report(self, received: TimestampMs) -> Result<OrderReport, ExchangeError> {
        let symbol = Symbol::new(&self.symbol).map_err(|e| decode("symbol", e))?;
        let client_order_id = ClientOrderId::new(self.client_order_id_text())
            .map_err(|e| decode("clientOrderId", e))?;
        let side = Side::from_str(&self.side).map_err(|e| decode("side", e))?;
        let status = OrderStatus::from_str(&self.status).map_err(|e| decode("status", e))?;
        let order_type = match self.order_type.as_str() {
            "MARKET" => Some(OrderType::Market),
            "LIMIT" => match (
                positive_price(self.price),
                self.time_in_force.as_deref().map(TimeInForce::from_str),
            ) {
                (Some(price), Some(Ok(time_in_force))) => Some(OrderType::Limit {
                    price,
                    time_in_force,
                }),
                _ => None,
            },
            _ => None,
        };
        let time = TimestampMs::new(
            self.transact_time
                .or(self.update_time)
                .or(self.time)
                .unwrap_or_else(|| received.as_i64()),
        );
        let fills = self
            .fills
            .into_iter()
            .map(|f| {
                fill(FillParts {
                    fill_id: binance_fill_id(symbol, f.trade_id),
                    client_order_id: client_order_id.clone(),
                    symbol,
                    side,
                    price: Price::new(f.price).map_err(|e| decode("fill price", e))?,
                    quantity: Quantity::new(f.qty).map_err(|e| decode("fill qty", e))?,
                    fee: Money::new(f.commission),
                    fee_asset: f.commission_asset,
                    // fills in a placement's answer took liquidity
                    is_maker: false,
                    exchange_time: time,
                    receive_time: received,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OrderReport {
            symbol,
            order_id: self.order_id,
            client_order_id,
            side,
            order_type,
            status,
            orig_qty: Quantity::new(self.orig_qty).map_err(|e| decode("origQty", e))?,
            executed_qty: Quantity::new(self.executed_qty).map_err(|e| decode("executedQty", e))?,
            cumulative_quote_qty: self.cummulative_quote_qty,
            fills,
            update_time: time,
        })
    }
}

fn fill(parts: FillParts) -> Result<Fill, ExchangeError> {
    Fill::new(parts).map_err(|e| decode("fill", e))
}

impl TradeJson {
    /// The trade as a fill of the order `report` describes (`None` if it belongs to another
    /// order).
    pub(crate) fn into_fill(
        self,
        report: &OrderReport,
        received: TimestampMs,
    ) -> Option<Result<Fill, ExchangeError>> {
        if self.order_id != report.order_id {
            return None;
        }
        let parts = || -> Result<FillParts, ExchangeError> {
            Ok(FillParts {
                fill_id: binance_fill_id(report.symbol, self.id),
                client_order_id: report.client_order_id.clone(),
                symbol: report.symbol,
                side: if self.is_buyer { Side::Buy } else { Side::Sell },
                price: Price::new(self.price).map_err(|e| decode("trade price", e))?,
                quantity: Quantity::new(self.qty).map_err(|e| decode("trade qty", e))?,
                fee: Money::new(self.commission),
                fee_asset: self.commission_asset.clone(),
                is_maker: self.is_maker,
                exchange_time: TimestampMs::new(self.time),
                receive_time: received,
            })
        };
        Some(parts().and_then(fill))
    }
}

impl AccountJson {
    /// The non-zero balances, by asset.
    pub(crate) fn into_balances(self) -> Vec<Balance> {
        let mut balances: Vec<Balance> = self
            .balances
            .into_iter()
            .filter(|b| !b.free.is_zero() || !b.locked.is_zero())
            .map(|b| Balance {
                asset: b.asset,
                free: b.free,
                locked: b.locked,
            })
            .collect();
        balances.sort_by(|a, b| a.asset.cmp(&b.asset));
        balances
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    /// The `FULL` example of Binance's docs (fills shortened to two).
    const FULL: &str = r#"{"symbol":"BTCUSDT","orderId":28,"orderListId":-1,"clientOrderId":"6gCrw2kRUAF9CvJDGP16IP","transactTime":1507725176595,"price":"0.00000000","origQty":"10.00000000","executedQty":"10.00000000","origQuoteOrderQty":"0.000000","cummulativeQuoteQty":"39999.00000000","status":"FILLED","timeInForce":"GTC","type":"MARKET","side":"SELL","workingTime":1507725176595,"selfTradePreventionMode":"NONE","fills":[{"price":"4000.00000000","qty":"1.00000000","commission":"4.00000000","commissionAsset":"USDT","tradeId":56},{"price":"3999.00000000","qty":"9.00000000","commission":"35.99100000","commissionAsset":"USDT","tradeId":57}]}"#;

    #[test]
    fn decodes_a_full_placement_answer() {
        let json: OrderJson = serde_json::from_str(FULL).unwrap();
        let report = json.into_report(TimestampMs::new(1)).unwrap();
        assert_eq!(report.order_id, 28);
        assert_eq!(report.client_order_id.as_str(), "6gCrw2kRUAF9CvJDGP16IP");
        assert_eq!(report.status, OrderStatus::Filled);
        assert_eq!(report.order_type, Some(OrderType::Market));
        assert_eq!(report.side, Side::Sell);
        assert_eq!(report.executed_qty.value(), dec!(10));
        assert_eq!(report.fills.len(), 2);
        let f = &report.fills[1];
        assert_eq!(f.price().value(), dec!(3999));
        assert_eq!(f.fee().value(), dec!(35.991));
        assert_eq!(f.fee_asset(), "USDT");
        assert_eq!(f.exchange_time().as_i64(), 1_507_725_176_595);
        assert_eq!(f.fill_id(), binance_fill_id(report.symbol, 57));
    }

    #[test]
    fn a_cancel_answer_reports_the_cancelled_orders_client_id() {
        let cancel = r#"{"symbol":"LTCBTC","origClientOrderId":"myOrder1","orderId":4,"orderListId":-1,"clientOrderId":"cancelMyOrder1","transactTime":1684804350068,"price":"2.00000000","origQty":"1.00000000","executedQty":"0.00000000","origQuoteOrderQty":"0.000000","cummulativeQuoteQty":"0.00000000","status":"CANCELED","timeInForce":"GTC","type":"LIMIT","side":"BUY","selfTradePreventionMode":"NONE"}"#;
        let report = serde_json::from_str::<OrderJson>(cancel)
            .unwrap()
            .into_report(TimestampMs::new(1))
            .unwrap();
        assert_eq!(report.client_order_id.as_str(), "myOrder1");
        assert_eq!(report.status, OrderStatus::Canceled);
        assert_eq!(
            report.order_type,
            Some(OrderType::Limit {
                price: Price::new(dec!(2)).unwrap(),
                time_in_force: TimeInForce::Gtc
            })
        );
        assert!(report.fills.is_empty());
    }

    #[test]
    fn unknown_types_are_none_and_bad_statuses_fail() {
        let stop = r#"{"symbol":"LTCBTC","orderId":1,"clientOrderId":"x","price":"0.1","origQty":"1.0","executedQty":"0.0","cummulativeQuoteQty":"0.0","status":"NEW","timeInForce":"GTC","type":"STOP_LOSS_LIMIT","side":"BUY","time":1499827319559,"updateTime":1499827319559}"#;
        let report = serde_json::from_str::<OrderJson>(stop)
            .unwrap()
            .into_report(TimestampMs::new(1))
            .unwrap();
        assert_eq!(report.order_type, None);
        assert_eq!(report.update_time.as_i64(), 1_499_827_319_559);
        let bad = stop.replace("\"NEW\"", "\"WEIRD\"");
        assert!(matches!(
            serde_json::from_str::<OrderJson>(&bad)
                .unwrap()
                .into_report(TimestampMs::new(1)),
            Err(ExchangeError::Decode(_))
        ));
    }

    #[test]
    fn account_balances_skip_zeros() {
        let account = r#"{"makerCommission":15,"canTrade":true,"balances":[{"asset":"USDT","free":"10.5","locked":"1"},{"asset":"BTC","free":"0.00000000","locked":"0.00000000"},{"asset":"BNB","free":"2","locked":"0"}],"permissions":["SPOT"]}"#;
        let balances = serde_json::from_str::<AccountJson>(account)
            .unwrap()
            .into_balances();
        assert_eq!(balances.len(), 2);
        assert_eq!(balances[0].asset, "BNB");
        assert_eq!(balances[1].total(), dec!(11.5));
    }
}
