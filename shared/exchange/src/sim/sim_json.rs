use levibot_core::{OrderType, TimestampMs};
use serde_json::{Value, json};

use crate::spot::{Balance, OrderReport, PaperTrade};

/// `newOrderRespType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RespType {
    Ack,
    Result,
    Full,
}

impl RespType {
    pub(crate) fn parse(text: Option<&str>) -> Option<Self> {
        match text {
            None | Some("FULL") => Some(Self::Full),
            Some("RESULT") => Some(Self::Result),
            Some("ACK") => Some(Self::Ack),
            Some(_) => None,
        }
    }
}

fn type_fields(report: &OrderReport) -> (&'static str, String, &'static str) {
    match report.order_type {
        Some(OrderType::Limit {
            price,
            time_in_force,
        }) => ("LIMIT", price.value().to_string(), time_in_force.as_str()),
        _ => ("MARKET", "0.00000000".to_owned(), "GTC"),
    }
}

/// The answer of `POST /api/v3/order` in the asked-for shape; `FULL` lists `trades`.
pub(crate) fn placed(
    report: &OrderReport,
    trades: &[PaperTrade],
    resp: RespType,
    now: TimestampMs,
) -> Value {
    let mut value = json!({
        "symbol": report.symbol.as_str(),
        "orderId": report.order_id,
        "orderListId": -1,
        "clientOrderId": report.client_order_id.as_str(),
        "transactTime": now.as_i64(),
    });
    if resp == RespType::Ack {
        return value;
    }
    let (kind, price, tif) = type_fields(report);
    if let Value::Object(map) = &mut value {
        let rest = json!({
            "price": price,
            "origQty": report.orig_qty.value().to_string(),
            "executedQty": report.executed_qty.value().to_string(),
            "origQuoteOrderQty": "0.00000000",
            "cummulativeQuoteQty": report.cumulative_quote_qty.to_string(),
            "status": report.status.as_str(),
            "timeInForce": tif,
            "type": kind,
            "side": report.side.as_str(),
            "workingTime": now.as_i64(),
            "selfTradePreventionMode": "NONE",
        });
        if let Value::Object(rest) = rest {
            map.extend(rest);
        }
        if resp == RespType::Full {
            let fills: Vec<Value> = trades
                .iter()
                .map(|t| {
                    json!({
                        "price": t.fill.price().value().to_string(),
                        "qty": t.fill.quantity().value().to_string(),
                        "commission": t.fill.fee().value().to_string(),
                        "commissionAsset": t.fill.fee_asset(),
                        "tradeId": t.trade_id,
                    })
                })
                .collect();
            map.insert("fills".to_owned(), Value::Array(fills));
        }
    }
    value
}

/// An order as `GET /api/v3/order` and `GET /api/v3/openOrders` show it.
pub(crate) fn queried(report: &OrderReport) -> Value {
    let (kind, price, tif) = type_fields(report);
    let time = report.update_time.as_i64();
    json!({
        "symbol": report.symbol.as_str(),
        "orderId": report.order_id,
        "orderListId": -1,
        "clientOrderId": report.client_order_id.as_str(),
        "price": price,
        "origQty": report.orig_qty.value().to_string(),
        "executedQty": report.executed_qty.value().to_string(),
        "cummulativeQuoteQty": report.cumulative_quote_qty.to_string(),
        "status": report.status.as_str(),
        "timeInForce": tif,
        "type": kind,
        "side": report.side.as_str(),
        "stopPrice": "0.00000000",
        "icebergQty": "0.00000000",
        "time": time,
        "updateTime": time,
        "isWorking": true,
        "workingTime": time,
        "origQuoteOrderQty": "0.00000000",
        "selfTradePreventionMode": "NONE",
    })
}

/// The answer of `DELETE /api/v3/order`; `clientOrderId` is the cancel's own id.
pub(crate) fn cancelled(report: &OrderReport, cancel_id: &str, now: TimestampMs) -> Value {
    let (kind, price, tif) = type_fields(report);
    json!({
        "symbol": report.symbol.as_str(),
        "origClientOrderId": report.client_order_id.as_str(),
        "orderId": report.order_id,
        "orderListId": -1,
        "clientOrderId": cancel_id,
        "transactTime": now.as_i64(),
        "price": price,
        "origQty": report.orig_qty.value().to_string(),
        "executedQty": report.executed_qty.value().to_string(),
        "origQuoteOrderQty": "0.00000000",
        "cummulativeQuoteQty": report.cumulative_quote_qty.to_string(),
        "status": report.status.as_str(),
        "timeInForce": tif,
        "type": kind,
        "side": report.side.as_str(),
        "selfTradePreventionMode": "NONE",
    })
}

/// One row of `GET /api/v3/myTrades`.
pub(crate) fn trade(report: &OrderReport, trade: &PaperTrade) -> Value {
    let f = &trade.fill;
    json!({
        "symbol": report.symbol.as_str(),
        "id": trade.trade_id,
        "orderId": report.order_id,
        "orderListId": -1,
        "price": f.price().value().to_string(),
        "qty": f.quantity().value().to_string(),
        "quoteQty": f.notional().to_string(),
        "commission": f.fee().value().to_string(),
        "commissionAsset": f.fee_asset(),
        "time": f.exchange_time().as_i64(),
        "isBuyer": f.side() == levibot_core::Side::Buy,
        "isMaker": f.is_maker(),
        "isBestMatch": true,
    })
}

/// `GET /api/v3/account`.
pub(crate) fn account(
    balances: &[Balance],
    fee_bps: rust_decimal::Decimal,
    now: TimestampMs,
) -> Value {
    let rate = (fee_bps / rust_decimal::Decimal::new(10_000, 0)).to_string();
    let balances: Vec<Value> = balances
        .iter()
        .map(|b| json!({"asset": b.asset, "free": b.free.to_string(), "locked": b.locked.to_string()}))
        .collect();
    json!({
        "makerCommission": 10,
        "takerCommission": 10,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {"maker": rate, "taker": rate, "buyer": "0.00000000", "seller": "0.00000000"},
        "canTrade": true,
        "canWithdraw": true,
        "canDeposit": true,
        "brokered": false,
        "requireSelfTradePrevention": false,
        "preventSor": false,
        "updateTime": now.as_i64(),
        "accountType": "SPOT",
        "balances": balances,
        "permissions": ["SPOT"],
        "uid": 1,
    })
}
