use std::collections::BTreeMap;
use std::fmt;

use levibot_core::Symbol;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::exchange_error::ExchangeError;

/// `filterType` of the price rules.
pub const FILTER_PRICE: &str = "PRICE_FILTER";
/// `filterType` of the quantity rules of every order.
pub const FILTER_LOT_SIZE: &str = "LOT_SIZE";
/// `filterType` of the extra quantity rules of `MARKET` orders.
pub const FILTER_MARKET_LOT_SIZE: &str = "MARKET_LOT_SIZE";
/// `filterType` of the notional (quantity × price) range.
pub const FILTER_NOTIONAL: &str = "NOTIONAL";
/// `filterType` of the older minimum-notional filter that `NOTIONAL` replaced.
pub const FILTER_MIN_NOTIONAL: &str = "MIN_NOTIONAL";

/// A symbol's trading status (`status` in `GET /api/v3/exchangeInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SymbolStatus {
    /// `TRADING`: orders are accepted.
    Trading,
    /// `HALT`: trading is suspended.
    Halt,
    /// `BREAK`: the symbol is not trading (e.g. delisted or between sessions).
    Break,
    /// Any other status (`PRE_TRADING`, `POST_TRADING`, `END_OF_DAY`, `AUCTION_MATCH`, …),
    /// verbatim.
    Other(String),
}

impl SymbolStatus {
    /// The status Binance sends as `text`.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        match text {
            "TRADING" => Self::Trading,
            "HALT" => Self::Halt,
            "BREAK" => Self::Break,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Binance's name of the status.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Trading => "TRADING",
            Self::Halt => "HALT",
            Self::Break => "BREAK",
            Self::Other(text) => text,
        }
    }
}

impl fmt::Display for SymbolStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The trading rules of one symbol, from its entry in `GET /api/v3/exchangeInfo`: status,
/// assets, and the filters an order must pass (Binance refuses one that fails with `-1013`
/// "Filter failure: …").
///
/// Decimals are parsed exactly from Binance's strings (`"0.00001000"` is 0.00001) and
/// normalised. Binance disables a rule by sending 0; such rules are `None` here (steps, ticks
/// and maxima) or 0 (minima). Filters this type does not model (`PERCENT_PRICE_BY_SIDE`,
/// `ICEBERG_PARTS`, `MAX_NUM_ORDERS`, `TRAILING_DELTA`, …) are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolRules {
    /// The symbol.
    pub symbol: Symbol,
    /// Its status; orders are accepted only while [`SymbolStatus::Trading`].
    pub status: SymbolStatus,
    /// `isSpotTradingAllowed` (`true` when the answer does not say).
    pub spot_trading_allowed: bool,
    /// The asset bought and sold (`BTC` of `BTCUSDT`).
    pub base_asset: String,
    /// The asset prices and notionals are in (`USDT` of `BTCUSDT`).
    pub quote_asset: String,
    /// `PRICE_FILTER` `tickSize`: prices are multiples of it. `None`: no filter or disabled.
    pub tick_size: Option<Decimal>,
    /// `PRICE_FILTER` `minPrice`. `None`: no filter or disabled.
    pub min_price: Option<Decimal>,
    /// `PRICE_FILTER` `maxPrice`. `None`: no filter or disabled.
    pub max_price: Option<Decimal>,
    /// `LOT_SIZE` `stepSize`: every order's quantity is a multiple of it. `None`: no filter or
    /// disabled.
    pub step_size: Option<Decimal>,
    /// `LOT_SIZE` `minQty`: the smallest quantity of any order (0 without the filter).
    pub min_qty: Decimal,
    /// `LOT_SIZE` `maxQty`: the largest quantity of any order. `None`: no filter or disabled.
    pub max_qty: Option<Decimal>,
    /// `MARKET_LOT_SIZE` `stepSize`, for `MARKET` orders on top of `LOT_SIZE`. `None`: no filter
    /// or disabled (Binance sends `"0.00000000"` for most symbols).
    pub market_step_size: Option<Decimal>,
    /// `MARKET_LOT_SIZE` `minQty` (0 without the filter).
    pub market_min_qty: Decimal,
    /// `MARKET_LOT_SIZE` `maxQty`. `None`: no filter or disabled.
    pub market_max_qty: Option<Decimal>,
    /// The smallest notional (quantity × price, in the quote asset): `NOTIONAL` `minNotional`,
    /// or the older `MIN_NOTIONAL` filter's (the larger when both are sent; 0 without either).
    pub min_notional: Decimal,
    /// Whether `min_notional` also applies to `MARKET` orders (valued at the average price of
    /// the last `avgPriceMins` minutes): `applyMinToMarket` / `applyToMarket` (either, when
    /// both filters are sent), `true` when the filter does not say.
    pub apply_min_to_market: bool,
    /// `NOTIONAL` `maxNotional`. `None`: no filter or disabled.
    pub max_notional: Option<Decimal>,
    /// `NOTIONAL` `applyMaxToMarket`.
    pub apply_max_to_market: bool,
}

/// The quantity and notional limits one kind of order has to meet, combined from a
/// [`SymbolRules`]' filters ([`SymbolRules::limit_order_limits`],
/// [`SymbolRules::market_order_limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderLimits {
    /// Quantities are multiples of this. `None`: no step.
    pub step: Option<Decimal>,
    /// The smallest quantity (0: none).
    pub min_qty: Decimal,
    /// The largest quantity. `None`: no maximum.
    pub max_qty: Option<Decimal>,
    /// The smallest notional, quantity × price in the quote asset (0: none).
    pub min_notional: Decimal,
    /// The largest notional. `None`: no maximum.
    pub max_notional: Option<Decimal>,
}

impl SymbolRules {
    /// Rules with nothing restricted: status `TRADING`, spot trading allowed, no filters.
    /// A base for tests and for paper-exchange configs (set the fields that matter).
    #[must_use]
    pub fn unrestricted(symbol: Symbol, base_asset: &str, quote_asset: &str) -> Self {
        Self {
            symbol,
            status: SymbolStatus::Trading,
            spot_trading_allowed: true,
            base_asset: base_asset.to_owned(),
            quote_asset: quote_asset.to_owned(),
            tick_size: None,
            min_price: None,
            max_price: None,
            step_size: None,
            min_qty: Decimal::ZERO,
            max_qty: None,
            market_step_size: None,
            market_min_qty: Decimal::ZERO,
            market_max_qty: None,
            min_notional: Decimal::ZERO,
            apply_min_to_market: true,
            max_notional: None,
            apply_max_to_market: false,
        }
    }

    /// Whether the symbol takes spot orders now: status `TRADING` and spot trading allowed.
    #[must_use]
    pub fn is_trading(&self) -> bool {
        self.status == SymbolStatus::Trading && self.spot_trading_allowed
    }

    /// What a `LIMIT` order must meet: `LOT_SIZE` and the notional range.
    #[must_use]
    pub const fn limit_order_limits(&self) -> OrderLimits {
        OrderLimits {
            step: self.step_size,
            min_qty: self.min_qty,
            max_qty: self.max_qty,
            min_notional: self.min_notional,
            max_notional: self.max_notional,
        }
    }

    /// What a `MARKET` order with a `quantity` must meet: `LOT_SIZE` and `MARKET_LOT_SIZE`
    /// together (a step that is a multiple of both steps, the larger minimum, the smaller
    /// maximum), and the notional bounds that apply to market orders.
    #[must_use]
    pub fn market_order_limits(&self) -> OrderLimits {
        let step = match (self.step_size, self.market_step_size) {
            (Some(a), Some(b)) => Some(common_step(a, b)),
            (a, b) => a.or(b),
        };
        let max_qty = match (self.max_qty, self.market_max_qty) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        OrderLimits {
            step,
            min_qty: self.min_qty.max(self.market_min_qty),
            max_qty,
            min_notional: if self.apply_min_to_market {
                self.min_notional
            } else {
                Decimal::ZERO
            },
            max_notional: self.max_notional.filter(|_| self.apply_max_to_market),
        }
    }
}

/// The smallest positive decimal that is a multiple of both `a` and `b` (both > 0). Binance's
/// steps are powers of ten, where this is the larger one; that is also the answer should the
/// exact multiple not fit a `Decimal`.
fn common_step(a: Decimal, b: Decimal) -> Decimal {
    let (a, b) = (a.normalize(), b.normalize());
    let scale = a.scale().max(b.scale());
    let integer = |mut d: Decimal| {
        d.rescale(scale);
        d.mantissa()
    };
    let (x, y) = (integer(a), integer(b));
    let (mut p, mut q) = (x, y);
    while q != 0 {
        (p, q) = (q, p % q);
    }
    let lcm = if p == 0 { None } else { (x / p).checked_mul(y) };
    lcm.and_then(|m| Decimal::try_from_i128_with_scale(m, scale).ok())
        .map_or_else(|| a.max(b), |m| m.normalize())
}

/// Parses the answer of `GET /api/v3/exchangeInfo` into each listed symbol's rules.
///
/// Symbols whose name LeviBot cannot hold (see [`Symbol::new`]) are skipped with a warning;
/// unknown filter types are ignored.
///
/// # Errors
///
/// [`ExchangeError::Decode`] if the answer is not exchangeInfo's JSON, or a symbol entry or
/// one of the filters read here is malformed (missing field, a number where Binance sends a
/// decimal string, a negative value); the message names the symbol and the filter, e.g.
/// `exchangeInfo BTCUSDT: malformed LOT_SIZE filter: stepSize "abc" is not a decimal`.
pub fn parse_exchange_info(body: &[u8]) -> Result<BTreeMap<Symbol, SymbolRules>, ExchangeError> {
    let document: Value = serde_json::from_slice(body)
        .map_err(|e| ExchangeError::Decode(format!("exchangeInfo: {e}")))?;
    let entries = document
        .get("symbols")
        .and_then(Value::as_array)
        .ok_or_else(|| ExchangeError::Decode("exchangeInfo: no \"symbols\" array".to_owned()))?;
    let mut rules = BTreeMap::new();
    for entry in entries {
        if let Some(parsed) = parse_symbol(entry)? {
            rules.insert(parsed.symbol, parsed);
        }
    }
    Ok(rules)
}

/// One entry of exchangeInfo's `symbols`; `None` for a name LeviBot cannot hold.
fn parse_symbol(entry: &Value) -> Result<Option<SymbolRules>, ExchangeError> {
    let object = entry.as_object().ok_or_else(|| {
        ExchangeError::Decode(format!(
            "exchangeInfo: a symbol entry is not an object: {entry}"
        ))
    })?;
    let name = string(object, "symbol")
        .map_err(|problem| ExchangeError::Decode(format!("exchangeInfo: {problem}")))?;
    let symbol = match Symbol::new(name) {
        Ok(symbol) => symbol,
        Err(error) => {
            tracing::warn!(name, %error, "exchangeInfo lists a symbol LeviBot cannot hold");
            return Ok(None);
        }
    };
    let malformed =
        |problem: String| ExchangeError::Decode(format!("exchangeInfo {name}: {problem}"));
    let mut rules = SymbolRules::unrestricted(
        symbol,
        string(object, "baseAsset").map_err(malformed)?,
        string(object, "quoteAsset").map_err(malformed)?,
    );
    rules.status = SymbolStatus::parse(string(object, "status").map_err(malformed)?);
    rules.spot_trading_allowed =
        boolean(object, "isSpotTradingAllowed", true).map_err(malformed)?;
    let filters = match object.get("filters") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(filters)) => filters.as_slice(),
        Some(other) => return Err(malformed(format!("filters is not an array: {other}"))),
    };
    let mut legacy_min_notional: Option<(Decimal, bool)> = None;
    for filter in filters {
        let Some(filter) = filter.as_object() else {
            return Err(malformed(format!("a filter is not an object: {filter}")));
        };
        let Some(kind) = filter.get("filterType").and_then(Value::as_str) else {
            return Err(malformed(format!(
                "a filter has no filterType: {}",
                Value::Object(filter.clone())
            )));
        };
        apply_filter(&mut rules, &mut legacy_min_notional, kind, filter)
            .map_err(|problem| malformed(format!("malformed {kind} filter: {problem}")))?;
    }
    if let Some((min, to_market)) = legacy_min_notional {
        if min > rules.min_notional {
            rules.min_notional = min;
        }
        rules.apply_min_to_market |= to_market;
    }
    Ok(Some(rules))
}

/// Reads one filter into `rules`; the problem, without the symbol, when it is malformed.
fn apply_filter(
    rules: &mut SymbolRules,
    legacy_min_notional: &mut Option<(Decimal, bool)>,
    kind: &str,
    filter: &Map<String, Value>,
) -> Result<(), String> {
    match kind {
        FILTER_PRICE => {
            rules.min_price = enabled(decimal(filter, "minPrice")?);
            rules.max_price = enabled(decimal(filter, "maxPrice")?);
            rules.tick_size = enabled(decimal(filter, "tickSize")?);
        }
        FILTER_LOT_SIZE => {
            rules.min_qty = decimal(filter, "minQty")?;
            rules.max_qty = enabled(decimal(filter, "maxQty")?);
            rules.step_size = enabled(decimal(filter, "stepSize")?);
        }
        FILTER_MARKET_LOT_SIZE => {
            rules.market_min_qty = decimal(filter, "minQty")?;
            rules.market_max_qty = enabled(decimal(filter, "maxQty")?);
            rules.market_step_size = enabled(decimal(filter, "stepSize")?);
        }
        FILTER_NOTIONAL => {
            rules.min_notional = decimal(filter, "minNotional")?;
            rules.apply_min_to_market = boolean(filter, "applyMinToMarket", true)?;
            rules.max_notional = match filter.get("maxNotional") {
                None => None,
                Some(_) => enabled(decimal(filter, "maxNotional")?),
            };
            rules.apply_max_to_market = boolean(filter, "applyMaxToMarket", false)?;
        }
        FILTER_MIN_NOTIONAL => {
            *legacy_min_notional = Some((
                decimal(filter, "minNotional")?,
                boolean(filter, "applyToMarket", true)?,
            ));
        }
        _ => {}
    }
    Ok(())
}

/// 0 disables a rule.
fn enabled(value: Decimal) -> Option<Decimal> {
    (!value.is_zero()).then_some(value)
}

fn string<'v>(object: &'v Map<String, Value>, key: &str) -> Result<&'v str, String> {
    match object.get(key) {
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(format!("{key} is not a string: {other}")),
        None => Err(format!("missing {key}")),
    }
}

/// A non-negative decimal sent as a string, parsed exactly.
fn decimal(object: &Map<String, Value>, key: &str) -> Result<Decimal, String> {
    let text = match object.get(key) {
        Some(Value::String(text)) => text,
        Some(other) => return Err(format!("{key} is not a decimal string: {other}")),
        None => return Err(format!("missing {key}")),
    };
    let value = Decimal::from_str_exact(text)
        .map_err(|e| format!("{key} {text:?} is not a decimal: {e}"))?;
    if value.is_sign_negative() && !value.is_zero() {
        return Err(format!("{key} {text:?} is negative"));
    }
    Ok(value.normalize())
}

fn boolean(object: &Map<String, Value>, key: &str, absent: bool) -> Result<bool, String> {
    match object.get(key) {
        None => Ok(absent),
        Some(Value::Bool(value)) => Ok(*value),
        Some(other) => Err(format!("{key} is not a boolean: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    /// ETHBTC as Binance's `exchangeInfo` documentation shows it, with each filter's
    /// documented `/exchangeInfo format` (the filters page) in its `filters` — `NOTIONAL` and
    /// the older `MIN_NOTIONAL` both, as during the switch-over, and filters not modelled here.
    const DOCUMENTED: &str = r#"{
      "timezone": "UTC",
      "serverTime": 1565246363776,
      "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}],
      "exchangeFilters": [],
      "symbols": [
        {
          "symbol": "ETHBTC",
          "status": "TRADING",
          "baseAsset": "ETH",
          "baseAssetPrecision": 8,
          "quoteAsset": "BTC",
          "quotePrecision": 8,
          "quoteAssetPrecision": 8,
          "baseCommissionPrecision": 8,
          "quoteCommissionPrecision": 8,
          "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"],
          "icebergAllowed": true,
          "ocoAllowed": true,
          "quoteOrderQtyMarketAllowed": true,
          "allowTrailingStop": false,
          "cancelReplaceAllowed": false,
          "isSpotTradingAllowed": true,
          "isMarginTradingAllowed": true,
          "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.00000100", "maxPrice": "100000.00000000", "tickSize": "0.00000100"},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.3000", "multiplierDown": "0.7000", "avgPriceMins": 5},
            {"filterType": "LOT_SIZE", "minQty": "0.00100000", "maxQty": "100000.00000000", "stepSize": "0.00100000"},
            {"filterType": "MIN_NOTIONAL", "minNotional": "0.00100000", "applyToMarket": true, "avgPriceMins": 5},
            {"filterType": "NOTIONAL", "minNotional": "10.00000000", "applyMinToMarket": false, "maxNotional": "10000.00000000", "applyMaxToMarket": false, "avgPriceMins": 5},
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00100000", "maxQty": "100000.00000000", "stepSize": "0.00100000"},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 25},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
            {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10, "maxTrailingAboveDelta": 2000, "minTrailingBelowDelta": 10, "maxTrailingBelowDelta": 2000}
          ],
          "permissions": [],
          "permissionSets": [["SPOT", "MARGIN"]],
          "defaultSelfTradePreventionMode": "NONE",
          "allowedSelfTradePreventionModes": ["NONE"]
        }
      ]
    }"#;

    /// BNBUSDT as a live answer quoted on Binance's developer forum (dev.binance.vision,
    /// "Symbol Exchange info"): the older `MIN_NOTIONAL` filter, `MARKET_LOT_SIZE` disabled by
    /// zeros, no `NOTIONAL`.
    const FORUM_BNBUSDT: &str = r#"{"symbols":[{"symbol":"BNBUSDT","status":"TRADING","baseAsset":"BNB","baseAssetPrecision":8,"quoteAsset":"USDT","quotePrecision":8,"quoteAssetPrecision":8,"baseCommissionPrecision":8,"quoteCommissionPrecision":8,"orderTypes":["LIMIT","LIMIT_MAKER","MARKET","STOP_LOSS_LIMIT","TAKE_PROFIT_LIMIT"],"icebergAllowed":true,"ocoAllowed":true,"quoteOrderQtyMarketAllowed":true,"isSpotTradingAllowed":true,"isMarginTradingAllowed":false,"filters":[{"filterType":"PRICE_FILTER","minPrice":"0.01000000","maxPrice":"10000.00000000","tickSize":"0.01000000"},{"filterType":"PERCENT_PRICE","multiplierUp":"5","multiplierDown":"0.2","avgPriceMins":5},{"filterType":"LOT_SIZE","minQty":"0.01000000","maxQty":"9000.00000000","stepSize":"0.01000000"},{"filterType":"MIN_NOTIONAL","minNotional":"10.00000000","applyToMarket":true,"avgPriceMins":5},{"filterType":"ICEBERG_PARTS","limit":10},{"filterType":"MARKET_LOT_SIZE","minQty":"0.00000000","maxQty":"1000.00000000","stepSize":"0.00000000"},{"filterType":"MAX_NUM_ORDERS","maxNumOrders":200},{"filterType":"MAX_NUM_ALGO_ORDERS","maxNumAlgoOrders":5}],"permissions":["SPOT"]}]}"#;

    fn sym(name: &str) -> Symbol {
        Symbol::new(name).unwrap()
    }

    fn one(body: &str) -> SymbolRules {
        let mut all = parse_exchange_info(body.as_bytes()).unwrap();
        assert_eq!(all.len(), 1);
        all.pop_first().unwrap().1
    }

    fn error(body: &str) -> String {
        match parse_exchange_info(body.as_bytes()) {
            Err(ExchangeError::Decode(message)) => message,
            other => panic!("expected a decode error, got {other:?}"),
        }
    }

    /// A BTCUSDT entry with `filter` as its only filter.
    fn with_filter(filter: &str) -> String {
        format!(
            r#"{{"symbols":[{{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT","filters":[{filter}]}}]}}"#
        )
    }

    #[test]
    fn parses_the_documented_example() {
        let rules = one(DOCUMENTED);
        assert_eq!(rules.symbol, sym("ETHBTC"));
        assert_eq!(rules.status, SymbolStatus::Trading);
        assert!(rules.is_trading());
        assert_eq!(
            (rules.base_asset.as_str(), rules.quote_asset.as_str()),
            ("ETH", "BTC")
        );
        assert_eq!(rules.tick_size, Some(dec!(0.000001)));
        assert_eq!(rules.min_price, Some(dec!(0.000001)));
        assert_eq!(rules.max_price, Some(dec!(100000)));
        assert_eq!(rules.step_size, Some(dec!(0.001)));
        assert_eq!(rules.min_qty, dec!(0.001));
        assert_eq!(rules.max_qty, Some(dec!(100000)));
        assert_eq!(rules.market_step_size, Some(dec!(0.001)));
        assert_eq!(rules.market_min_qty, dec!(0.001));
        assert_eq!(rules.market_max_qty, Some(dec!(100000)));
        // NOTIONAL (10, not on market orders) and MIN_NOTIONAL (0.001, on market orders):
        // the larger minimum, applied to market orders if either says so
        assert_eq!(rules.min_notional, dec!(10));
        assert!(rules.apply_min_to_market);
        assert_eq!(rules.max_notional, Some(dec!(10000)));
        assert!(!rules.apply_max_to_market);
        // exact and normalised: "0.00100000" is 0.001 with scale 3
        assert_eq!(rules.step_size.unwrap().to_string(), "0.001");
    }

    #[test]
    fn parses_a_live_answer_with_the_older_min_notional_filter() {
        let rules = one(FORUM_BNBUSDT);
        assert_eq!(rules.symbol, sym("BNBUSDT"));
        assert_eq!(rules.tick_size, Some(dec!(0.01)));
        assert_eq!(rules.step_size, Some(dec!(0.01)));
        assert_eq!(rules.min_qty, dec!(0.01));
        assert_eq!(rules.max_qty, Some(dec!(9000)));
        // MARKET_LOT_SIZE's zeros disable its step and minimum
        assert_eq!(rules.market_step_size, None);
        assert_eq!(rules.market_min_qty, Decimal::ZERO);
        assert_eq!(rules.market_max_qty, Some(dec!(1000)));
        assert_eq!(rules.min_notional, dec!(10));
        assert!(rules.apply_min_to_market);
        assert_eq!(rules.max_notional, None);
        let market = rules.market_order_limits();
        assert_eq!(
            market,
            OrderLimits {
                step: Some(dec!(0.01)),
                min_qty: dec!(0.01),
                max_qty: Some(dec!(1000)),
                min_notional: dec!(10),
                max_notional: None,
            }
        );
        assert_eq!(rules.limit_order_limits().max_qty, Some(dec!(9000)));
    }

    #[test]
    fn market_limits_combine_both_lot_filters_and_the_market_flags() {
        let mut rules = SymbolRules::unrestricted(sym("BTCUSDT"), "BTC", "USDT");
        rules.step_size = Some(dec!(0.00001));
        rules.market_step_size = Some(dec!(0.001));
        rules.min_qty = dec!(0.00001);
        rules.market_min_qty = dec!(0.0001);
        rules.max_qty = Some(dec!(9000));
        rules.market_max_qty = Some(dec!(100));
        rules.min_notional = dec!(5);
        rules.apply_min_to_market = false;
        rules.max_notional = Some(dec!(9000000));
        rules.apply_max_to_market = true;
        let market = rules.market_order_limits();
        assert_eq!(market.step, Some(dec!(0.001)));
        assert_eq!(market.min_qty, dec!(0.0001));
        assert_eq!(market.max_qty, Some(dec!(100)));
        assert_eq!(market.min_notional, Decimal::ZERO);
        assert_eq!(market.max_notional, Some(dec!(9000000)));
        let limit = rules.limit_order_limits();
        assert_eq!(limit.step, Some(dec!(0.00001)));
        assert_eq!(limit.min_notional, dec!(5));
        // steps that are not powers of ten: the least common multiple
        assert_eq!(common_step(dec!(0.04), dec!(0.06)), dec!(0.12));
        assert_eq!(common_step(dec!(0.5), dec!(0.2)), dec!(1));
    }

    #[test]
    fn unknown_filters_statuses_and_missing_filters_are_tolerated() {
        let rules = one(&with_filter(r#"{"filterType":"SOMETHING_NEW","x":"1"}"#));
        assert_eq!(
            rules,
            SymbolRules::unrestricted(sym("BTCUSDT"), "BTC", "USDT")
        );
        let halted = one(
            r#"{"symbols":[{"symbol":"LUNAUSDT","status":"BREAK","baseAsset":"LUNA","quoteAsset":"USDT","isSpotTradingAllowed":false}]}"#,
        );
        assert_eq!(halted.status, SymbolStatus::Break);
        assert!(!halted.is_trading());
        assert_eq!(SymbolStatus::parse("PRE_TRADING").as_str(), "PRE_TRADING");
        let odd_name = parse_exchange_info(
            br#"{"symbols":[{"symbol":"A B","status":"TRADING","baseAsset":"A","quoteAsset":"B"}]}"#,
        )
        .unwrap();
        assert!(odd_name.is_empty());
    }

    #[test]
    fn malformed_filters_are_refused_naming_the_symbol_and_the_filter() {
        for (filter, expected) in [
            (
                r#"{"filterType":"LOT_SIZE","minQty":"0.00001000","maxQty":"9000.00000000","stepSize":"abc"}"#,
                r#"exchangeInfo BTCUSDT: malformed LOT_SIZE filter: stepSize "abc" is not a decimal"#,
            ),
            (
                r#"{"filterType":"LOT_SIZE","minQty":"0.00001000","maxQty":"9000.00000000"}"#,
                "exchangeInfo BTCUSDT: malformed LOT_SIZE filter: missing stepSize",
            ),
            (
                r#"{"filterType":"PRICE_FILTER","minPrice":"0.01","maxPrice":"1000000","tickSize":0.01}"#,
                "exchangeInfo BTCUSDT: malformed PRICE_FILTER filter: tickSize is not a decimal string: 0.01",
            ),
            (
                r#"{"filterType":"NOTIONAL","minNotional":"-5.00000000","applyMinToMarket":true}"#,
                r#"exchangeInfo BTCUSDT: malformed NOTIONAL filter: minNotional "-5.00000000" is negative"#,
            ),
            (
                r#"{"filterType":"NOTIONAL","minNotional":"5.00000000","applyMinToMarket":"yes"}"#,
                r#"exchangeInfo BTCUSDT: malformed NOTIONAL filter: applyMinToMarket is not a boolean: "yes""#,
            ),
            (
                r#"{"filterType":"MARKET_LOT_SIZE","minQty":"0","maxQty":"1e400","stepSize":"0"}"#,
                r#"exchangeInfo BTCUSDT: malformed MARKET_LOT_SIZE filter: maxQty "1e400" is not a decimal"#,
            ),
            (
                r#"{"filterType":"MIN_NOTIONAL"}"#,
                "exchangeInfo BTCUSDT: malformed MIN_NOTIONAL filter: missing minNotional",
            ),
            (
                r#"{"minQty":"1"}"#,
                r#"exchangeInfo BTCUSDT: a filter has no filterType: {"minQty":"1"}"#,
            ),
        ] {
            let message = error(&with_filter(filter));
            assert!(
                message.starts_with(expected),
                "{filter}: got {message:?}, expected it to start with {expected:?}"
            );
        }
    }

    #[test]
    fn malformed_documents_and_entries_are_refused() {
        assert!(error("not json").starts_with("exchangeInfo: "));
        assert_eq!(
            error(r#"{"timezone":"UTC"}"#),
            "exchangeInfo: no \"symbols\" array"
        );
        assert_eq!(
            error(r#"{"symbols":[{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC"}]}"#),
            "exchangeInfo BTCUSDT: missing quoteAsset"
        );
        assert_eq!(
            error(r#"{"symbols":[{"status":"TRADING"}]}"#),
            "exchangeInfo: missing symbol"
        );
        assert!(
            error(&with_filter(r#""LOT_SIZE""#))
                .starts_with("exchangeInfo BTCUSDT: a filter is not an object")
        );
    }
}
