use std::collections::{BTreeSet, HashMap};

use levibot_core::Symbol;

use crate::spot::exchange_error::CODE_BAD_SYMBOL;

/// Binance's `-1100 ILLEGAL_CHARS`.
const CODE_ILLEGAL_CHARS: i64 = -1100;
/// Binance's `-1128 OPTIONAL_PARAMS_BAD_COMBO`.
const CODE_BAD_PARAMETER_COMBINATION: i64 = -1128;

/// Quote assets worth about one US dollar: their symbols get Binance's USDT-market filters.
const DOLLAR_QUOTES: [&str; 7] = ["USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USD", "EUR"];

/// Filter values of one symbol, as Binance writes them (8 decimals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SimFilters {
    /// `PRICE_FILTER` `tickSize`, also its `minPrice`.
    pub(crate) tick_size: &'static str,
    /// `PRICE_FILTER` `maxPrice`.
    pub(crate) max_price: &'static str,
    /// `LOT_SIZE` `stepSize`, also its `minQty`.
    pub(crate) step_size: &'static str,
    /// `LOT_SIZE` `maxQty`.
    pub(crate) max_qty: &'static str,
    /// `MARKET_LOT_SIZE` `maxQty` (its step and minimum are 0, disabled, as on Binance).
    pub(crate) market_max_qty: &'static str,
    /// `NOTIONAL` `minNotional` (applied to market orders too).
    pub(crate) min_notional: &'static str,
}

impl SimFilters {
    /// Binance-like filters of `base`/`quote`: the live values of the major USDT markets
    /// (`BTCUSDT`: tick 0.01, step and minimum 0.00001, minimum notional 5), the same lot for
    /// other quotes, and for unknown assets a lot of 0.001 and a tick of 10⁻⁸ (valid for any
    /// price).
    pub(crate) fn of(base: &str, quote: &str) -> Self {
        let (step_size, max_qty, market_max_qty) = match base {
            "BTC" => ("0.00001000", "9000.00000000", "100.00000000"),
            "ETH" => ("0.00010000", "9000.00000000", "2000.00000000"),
            "BNB" | "SOL" | "LTC" => ("0.00100000", "9000.00000000", "5000.00000000"),
            "XRP" | "ADA" => ("0.10000000", "9000000.00000000", "1000000.00000000"),
            "DOGE" => ("1.00000000", "9000000.00000000", "5000000.00000000"),
            _ => ("0.00100000", "9000000.00000000", "100000.00000000"),
        };
        let dollar = DOLLAR_QUOTES.contains(&quote);
        let (tick_size, max_price) = match base {
            "BTC" | "ETH" | "BNB" | "SOL" | "LTC" if dollar => ("0.01000000", "1000000.00000000"),
            "XRP" | "ADA" if dollar => ("0.00010000", "10000.00000000"),
            "DOGE" if dollar => ("0.00001000", "1000.00000000"),
            _ if dollar => ("0.00000001", "1000000.00000000"),
            _ => ("0.00000001", "1000.00000000"),
        };
        let min_notional = match quote {
            _ if dollar => "5.00000000",
            "BTC" => "0.00010000",
            "ETH" => "0.00100000",
            "BNB" => "0.01000000",
            _ => "1.00000000",
        };
        Self {
            tick_size,
            max_price,
            step_size,
            max_qty,
            market_max_qty,
            min_notional,
        }
    }
}

/// One entry of exchangeInfo's `symbols`, in Binance's shape, with the filters of
/// [`SimFilters::of`] and the order types the simulator executes.
pub(crate) fn symbol_json(symbol: Symbol, base: &str, quote: &str) -> String {
    let f = SimFilters::of(base, quote);
    format!(
        concat!(
            "{{\"symbol\":\"{symbol}\",\"status\":\"TRADING\",",
            "\"baseAsset\":\"{base}\",\"baseAssetPrecision\":8,",
            "\"quoteAsset\":\"{quote}\",\"quotePrecision\":8,\"quoteAssetPrecision\":8,",
            "\"baseCommissionPrecision\":8,\"quoteCommissionPrecision\":8,",
            "\"orderTypes\":[\"LIMIT\",\"MARKET\"],\"icebergAllowed\":false,",
            "\"ocoAllowed\":false,\"quoteOrderQtyMarketAllowed\":false,",
            "\"isSpotTradingAllowed\":true,\"isMarginTradingAllowed\":false,",
            "\"filters\":[",
            "{{\"filterType\":\"PRICE_FILTER\",\"minPrice\":\"{tick}\",\"maxPrice\":\"{max_price}\",\"tickSize\":\"{tick}\"}},",
            "{{\"filterType\":\"LOT_SIZE\",\"minQty\":\"{step}\",\"maxQty\":\"{max_qty}\",\"stepSize\":\"{step}\"}},",
            "{{\"filterType\":\"MARKET_LOT_SIZE\",\"minQty\":\"0.00000000\",\"maxQty\":\"{market_max_qty}\",\"stepSize\":\"0.00000000\"}},",
            "{{\"filterType\":\"NOTIONAL\",\"minNotional\":\"{min_notional}\",\"applyMinToMarket\":true,",
            "\"maxNotional\":\"9000000.00000000\",\"applyMaxToMarket\":false,\"avgPriceMins\":5}},",
            "{{\"filterType\":\"MAX_NUM_ORDERS\",\"maxNumOrders\":200}},",
            "{{\"filterType\":\"MAX_NUM_ALGO_ORDERS\",\"maxNumAlgoOrders\":5}}",
            "],\"permissions\":[],\"permissionSets\":[[\"SPOT\"]]}}"
        ),
        symbol = symbol,
        base = base,
        quote = quote,
        tick = f.tick_size,
        max_price = f.max_price,
        step = f.step_size,
        max_qty = f.max_qty,
        market_max_qty = f.market_max_qty,
        min_notional = f.min_notional,
    )
}

/// The symbols an exchangeInfo request asks for, as Binance reads `symbol` / `symbols`
/// (`symbols=["BTCUSDT","ETHUSDT"]`): every known symbol without either, sorted, duplicates
/// once. Otherwise Binance's error code and message: `-1121` "Invalid symbol." for one the
/// simulator does not know, `-1100` for a `symbols` that is not a JSON array of strings,
/// `-1128` for both parameters at once.
pub(crate) fn requested_symbols(
    query: &HashMap<String, String>,
    known: &BTreeSet<Symbol>,
) -> Result<Vec<Symbol>, (i64, &'static str)> {
    let names = match (query.get("symbol"), query.get("symbols")) {
        (Some(_), Some(_)) => {
            return Err((
                CODE_BAD_PARAMETER_COMBINATION,
                "Combination of optional parameters invalid.",
            ));
        }
        (Some(one), None) => vec![one.clone()],
        (None, Some(list)) => serde_json::from_str::<Vec<String>>(list).map_err(|_| {
            (
                CODE_ILLEGAL_CHARS,
                "Illegal characters found in parameter 'symbols'.",
            )
        })?,
        (None, None) => return Ok(known.iter().copied().collect()),
    };
    let mut symbols = BTreeSet::new();
    for name in &names {
        let symbol = Symbol::new(name)
            .ok()
            .filter(|symbol| known.contains(symbol))
            .ok_or((CODE_BAD_SYMBOL, "Invalid symbol."))?;
        symbols.insert(symbol);
    }
    Ok(symbols.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spot::{SymbolStatus, parse_exchange_info};
    use rust_decimal_macros::dec;

    fn sym(name: &str) -> Symbol {
        Symbol::new(name).unwrap()
    }

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn symbol_entries_parse_into_btcusdt_like_rules() {
        let body = format!(
            "{{\"symbols\":[{},{}]}}",
            symbol_json(sym("BTCUSDT"), "BTC", "USDT"),
            symbol_json(sym("ETHBTC"), "ETH", "BTC")
        );
        let rules = parse_exchange_info(body.as_bytes()).unwrap();
        let btc = &rules[&sym("BTCUSDT")];
        assert_eq!(btc.status, SymbolStatus::Trading);
        assert_eq!(btc.tick_size, Some(dec!(0.01)));
        assert_eq!(btc.step_size, Some(dec!(0.00001)));
        assert_eq!(btc.min_qty, dec!(0.00001));
        assert_eq!(btc.max_qty, Some(dec!(9000)));
        assert_eq!(btc.market_step_size, None);
        assert_eq!(btc.market_max_qty, Some(dec!(100)));
        assert_eq!(btc.min_notional, dec!(5));
        assert!(btc.apply_min_to_market);
        let eth_btc = &rules[&sym("ETHBTC")];
        assert_eq!(eth_btc.step_size, Some(dec!(0.0001)));
        assert_eq!(eth_btc.tick_size, Some(dec!(0.00000001)));
        assert_eq!(eth_btc.min_notional, dec!(0.0001));
    }

    #[test]
    fn every_lot_step_is_its_minimum_and_a_power_of_ten() {
        for base in [
            "BTC", "ETH", "BNB", "SOL", "XRP", "DOGE", "ADA", "LTC", "XYZ",
        ] {
            for quote in ["USDT", "BTC", "EUR", "XYZ"] {
                let f = SimFilters::of(base, quote);
                let step: rust_decimal::Decimal = f.step_size.parse().unwrap();
                let tick: rust_decimal::Decimal = f.tick_size.parse().unwrap();
                for value in [step, tick] {
                    let digits = value.normalize().mantissa();
                    assert_eq!(digits, 1, "{base}{quote}: {value} is not a power of ten");
                }
            }
        }
    }

    #[test]
    fn requests_follow_binance() {
        let known = BTreeSet::from([sym("BTCUSDT"), sym("ETHUSDT")]);
        let all = vec![sym("BTCUSDT"), sym("ETHUSDT")];
        assert_eq!(requested_symbols(&query(&[]), &known), Ok(all.clone()));
        assert_eq!(
            requested_symbols(&query(&[("symbol", "ETHUSDT")]), &known),
            Ok(vec![sym("ETHUSDT")])
        );
        assert_eq!(
            requested_symbols(
                &query(&[("symbols", r#"["ETHUSDT","BTCUSDT","ETHUSDT"]"#)]),
                &known
            ),
            Ok(all)
        );
        assert_eq!(
            requested_symbols(&query(&[("symbols", r#"["BTCUSDT","NOPEUSDT"]"#)]), &known),
            Err((-1121, "Invalid symbol."))
        );
        assert_eq!(
            requested_symbols(&query(&[("symbol", "NOPEUSDT")]), &known),
            Err((-1121, "Invalid symbol."))
        );
        assert_eq!(
            requested_symbols(&query(&[("symbols", "BTCUSDT")]), &known).map_err(|e| e.0),
            Err(-1100)
        );
        assert_eq!(
            requested_symbols(
                &query(&[("symbol", "BTCUSDT"), ("symbols", r#"["BTCUSDT"]"#)]),
                &known
            )
            .map_err(|e| e.0),
            Err(-1128)
        );
    }
}
