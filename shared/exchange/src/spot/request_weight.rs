/// One kind of spot REST call, to know its request weight before sending it
/// (`X-MBX-USED-WEIGHT-1M` counts against 6,000/min today; read the live limit from
/// `GET /api/v3/exchangeInfo`).
///
/// Binance announced that successful `POST`/`DELETE /api/v3/order` cost 0 from 2026-04-02
/// (failed ones are still charged); the weights here are the charged ones, an upper bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpotCall {
    /// `POST /api/v3/order`.
    PlaceOrder,
    /// `DELETE /api/v3/order`.
    CancelOrder,
    /// `GET /api/v3/order`.
    QueryOrder,
    /// `GET /api/v3/openOrders` for one symbol.
    OpenOrdersForSymbol,
    /// `GET /api/v3/openOrders` for every symbol.
    OpenOrdersAllSymbols,
    /// `GET /api/v3/account`.
    Account,
    /// `GET /api/v3/myTrades` with `orderId` (the fills of one order).
    OrderTrades,
    /// `GET /api/v3/time`.
    ServerTime,
    /// `GET /api/v3/exchangeInfo` (any number of symbols, or all).
    ExchangeInfo,
}

impl SpotCall {
    /// The call's request weight.
    #[must_use]
    pub const fn weight(self) -> u32 {
        match self {
            Self::PlaceOrder | Self::CancelOrder | Self::ServerTime => 1,
            Self::QueryOrder => 4,
            Self::OrderTrades => 5,
            Self::OpenOrdersForSymbol => 6,
            Self::Account | Self::ExchangeInfo => 20,
            Self::OpenOrdersAllSymbols => 80,
        }
    }

    /// `GET /api/v3/openOrders` with or without a symbol.
    #[must_use]
    pub const fn open_orders(for_one_symbol: bool) -> Self {
        if for_one_symbol {
            Self::OpenOrdersForSymbol
        } else {
            Self::OpenOrdersAllSymbols
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SpotCall;

    #[test]
    fn weights_follow_binance() {
        assert_eq!(SpotCall::PlaceOrder.weight(), 1);
        assert_eq!(SpotCall::CancelOrder.weight(), 1);
        assert_eq!(SpotCall::QueryOrder.weight(), 4);
        assert_eq!(SpotCall::open_orders(true).weight(), 6);
        assert_eq!(SpotCall::open_orders(false).weight(), 80);
        assert_eq!(SpotCall::Account.weight(), 20);
        assert_eq!(SpotCall::OrderTrades.weight(), 5);
        assert_eq!(SpotCall::ExchangeInfo.weight(), 20);
    }
}
