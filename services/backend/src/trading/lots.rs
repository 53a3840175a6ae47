//! The exchange's own lot rules. Binance refuses an order whose quantity is not a multiple of
//! the symbol's step, or is under its minimum quantity or notional (`-1013 Filter failure`),
//! so before the engines run the desk asks the exchange for each symbol's rules
//! (`exchangeInfo`) and sizes orders by them. The paper exchange answers with the rules it was
//! configured with (none by default: the risk manager's defaults then apply).

use std::collections::BTreeMap;

use levibot_core::Symbol;
use levibot_exchange::spot::SymbolRules;
use levibot_trading::RiskLimits;
use levibot_trading::risk::LotRules;

use super::TradingDesk;

/// The lot rules of a market order under `rules`; `fallback` supplies a step the exchange
/// does not set.
#[must_use]
pub(crate) fn lot_rules(rules: &SymbolRules, fallback: &LotRules) -> LotRules {
    let market = rules.market_order_limits();
    LotRules {
        step: market.step.unwrap_or(fallback.step),
        min_quantity: market.min_qty,
        // the symbol's minimum even where Binance does not apply it to market orders: it
        // values them at a recent average price, not at our bar's close
        min_notional: rules.min_notional,
    }
}

impl TradingDesk {
    /// Asks the exchange for the rules of `limits`' symbols and puts them in `limits` (a
    /// symbol the exchange does not trade now is taken off the allowed symbols), then in the
    /// risk manager.
    ///
    /// # Errors
    ///
    /// The exchange could not be asked, or the limits became invalid.
    pub async fn load_lot_rules(&self, limits: &mut RiskLimits) -> Result<(), String> {
        let symbols: Vec<Symbol> = limits.allowed_symbols.iter().copied().collect();
        let rules: BTreeMap<Symbol, SymbolRules> = self
            .exchange
            .symbol_rules(&symbols)
            .await
            .map_err(|err| format!("cannot read the symbols' trading rules: {err}"))?;
        for (symbol, rules) in &rules {
            if !rules.is_trading() {
                tracing::warn!(%symbol, status = %rules.status, "the exchange does not trade this symbol now; it is not traded");
                limits.allowed_symbols.remove(symbol);
                continue;
            }
            let lot = lot_rules(rules, &limits.default_lot);
            tracing::info!(%symbol, step = %lot.step, min_quantity = %lot.min_quantity, min_notional = %lot.min_notional, "exchange lot rules");
            limits.symbol_lots.insert(*symbol, lot);
        }
        self.core()
            .risk
            .set_limits(limits.clone())
            .map_err(|err| err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use levibot_exchange::spot::parse_exchange_info;
    use rust_decimal::Decimal;

    use super::*;

    #[test]
    fn market_orders_take_the_stricter_of_both_lot_filters_and_the_symbols_minimum_notional() {
        let body = br#"{"symbols":[{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT","isSpotTradingAllowed":true,"filters":[
            {"filterType":"PRICE_FILTER","minPrice":"0.01000000","maxPrice":"1000000.00000000","tickSize":"0.01000000"},
            {"filterType":"LOT_SIZE","minQty":"0.00001000","maxQty":"9000.00000000","stepSize":"0.00001000"},
            {"filterType":"MARKET_LOT_SIZE","minQty":"0.00010000","maxQty":"100.00000000","stepSize":"0.00000000"},
            {"filterType":"NOTIONAL","minNotional":"5.00000000","applyMinToMarket":false,"maxNotional":"9000000.00000000","applyMaxToMarket":false,"avgPriceMins":5}]}]}"#;
        let rules = parse_exchange_info(body).unwrap();
        let btc = &rules[&Symbol::new("BTCUSDT").unwrap()];
        let fallback = RiskLimits::new([]).default_lot;
        let lot = lot_rules(btc, &fallback);
        assert_eq!(lot.step, Decimal::new(1, 5));
        assert_eq!(lot.min_quantity, Decimal::new(1, 4));
        assert_eq!(lot.min_notional, Decimal::from(5));
    }
}
