//! Binance spot market-stream messages, parsed straight from the text of a WebSocket frame.
//!
//! The parser borrows every string from the input (no `serde_json::Value`, no allocation on
//! success) and parses decimals from their strings. It accepts the combined-stream envelope
//! `{"stream":"<name>","data":{…}}` and raw payloads (what `/ws/<stream>` sends), and sorts what
//! it cannot use into [`RejectReason`]s so callers count and skip bad input.

use std::fmt;
use std::str::FromStr;

use levibot_core::{Bar, Interval, Price, Quantity, Symbol, TimestampMs};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use thiserror::Error;

/// Why a message was rejected (the `reason` label of `exchange_messages_rejected_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Not valid JSON.
    MalformedJson,
    /// A required field is absent (or `null`).
    MissingField,
    /// A field has the wrong JSON type (a number where a string is expected, …).
    WrongType,
    /// A field has the right type but an unusable value (a negative price, a bar whose high is
    /// below its low, an unknown interval, a symbol that does not match the stream, …).
    InvalidValue,
    /// A stream or event type this parser does not know.
    UnknownStream,
}

impl RejectReason {
    /// Every reason, in label order.
    pub const ALL: [Self; 5] = [
        Self::MalformedJson,
        Self::MissingField,
        Self::WrongType,
        Self::InvalidValue,
        Self::UnknownStream,
    ];

    /// The label value, e.g. `malformed_json`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed_json",
            Self::MissingField => "missing_field",
            Self::WrongType => "wrong_type",
            Self::InvalidValue => "invalid_value",
            Self::UnknownStream => "unknown_stream",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message that could not be turned into a [`MarketEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("message rejected ({reason}): {detail}")]
pub struct ParseError {
    /// Why, as a metric label.
    pub reason: RejectReason,
    /// What exactly, for logs.
    pub detail: String,
}

impl ParseError {
    /// Builds an error.
    #[must_use]
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }

    fn missing(field: &str) -> Self {
        Self::new(
            RejectReason::MissingField,
            format!("missing field {field:?}"),
        )
    }

    fn invalid(detail: impl Into<String>) -> Self {
        Self::new(RejectReason::InvalidValue, detail)
    }

    /// Sorts a serde_json error into a reason. serde_json does not expose the kind of a data
    /// error, but serde's own messages are stable (`invalid type: …`, `missing field …`).
    fn from_json(err: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        let detail = err.to_string();
        let reason = match err.classify() {
            Category::Syntax | Category::Eof | Category::Io => RejectReason::MalformedJson,
            Category::Data if detail.starts_with("invalid type") => RejectReason::WrongType,
            Category::Data if detail.starts_with("missing field") => RejectReason::MissingField,
            Category::Data => RejectReason::InvalidValue,
        };
        Self { reason, detail }
    }
}

/// One public trade (`<symbol>@trade`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Trade {
    /// The symbol.
    pub symbol: Symbol,
    /// The exchange's trade id (gap-free per symbol).
    pub trade_id: u64,
    /// The price.
    pub price: Price,
    /// The base-asset quantity.
    pub quantity: Quantity,
    /// Whether the buyer was the maker (the taker sold).
    pub buyer_is_maker: bool,
    /// When the trade happened (exchange time).
    pub trade_time: TimestampMs,
    /// When the exchange sent the event.
    pub event_time: TimestampMs,
    /// When we received it (local clock).
    pub received_at: TimestampMs,
}

/// An update of a kline that has not closed yet (`k.x == false`). Its prices are validated one
/// by one but it is not a [`Bar`]: only closed klines are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KlineUpdate {
    /// The symbol.
    pub symbol: Symbol,
    /// The kline interval.
    pub interval: Interval,
    /// When the kline opened.
    pub open_time: TimestampMs,
    /// Open so far.
    pub open: Price,
    /// High so far.
    pub high: Price,
    /// Low so far.
    pub low: Price,
    /// Last price.
    pub close: Price,
    /// Base-asset volume so far.
    pub volume: Quantity,
    /// Trades so far.
    pub trade_count: u64,
    /// When the exchange sent the event.
    pub event_time: TimestampMs,
    /// When we received it.
    pub received_at: TimestampMs,
}

/// A closed kline (`k.x == true`), validated through [`Bar::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BarEvent {
    /// The bar.
    pub bar: Bar,
    /// Trades in the bar.
    pub trade_count: u64,
    /// When the exchange sent the event.
    pub event_time: TimestampMs,
    /// When we received it.
    pub received_at: TimestampMs,
}

/// The server announced it is about to shut the connection down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerShutdown {
    /// When the exchange sent the event, if it said.
    pub event_time: Option<TimestampMs>,
    /// When we received it.
    pub received_at: TimestampMs,
}

/// A stream we recognise but do not use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IgnoredStream {
    /// `<symbol>@bookTicker`.
    BookTicker,
    /// `<symbol>@depth…` (diff or partial book).
    Depth,
    /// A REST depth snapshot (`{"lastUpdateId":…,"bids":…,"asks":…}`), as found in captures.
    DepthSnapshot,
}

/// What one message said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarketEvent {
    /// A trade.
    Trade(Trade),
    /// A kline still in progress.
    KlineUpdate(KlineUpdate),
    /// A closed kline.
    Bar(BarEvent),
    /// `serverShutdown`: reconnect.
    ServerShutdown(ServerShutdown),
    /// A stream we recognise and skip.
    Ignored(IgnoredStream),
}

/// The kind of a stream, from the part of its name after the symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamKind {
    Trade,
    Kline,
    BookTicker,
    Depth,
}

fn stream_kind(name: &str) -> Option<(&str, StreamKind)> {
    let (symbol, rest) = name.split_once('@')?;
    let kind = if rest == "trade" {
        StreamKind::Trade
    } else if rest.starts_with("kline_") {
        StreamKind::Kline
    } else if rest == "bookTicker" {
        StreamKind::BookTicker
    } else if rest.starts_with("depth") {
        StreamKind::Depth
    } else {
        return None;
    };
    Some((symbol, kind))
}

/// The top level of any message: an envelope (`stream` + `data`) or a raw payload (`e`, or the
/// fields that identify the payloads without an event type).
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow)]
    stream: Option<&'a str>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    e: Option<&'a str>,
    #[serde(rename = "lastUpdateId")]
    last_update_id: Option<IgnoredAny>,
    u: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct EventType<'a> {
    #[serde(borrow)]
    e: Option<&'a str>,
    #[serde(rename = "E")]
    event_time: Option<i64>,
}

#[derive(Deserialize)]
struct TradePayload<'a> {
    #[serde(borrow)]
    e: Option<&'a str>,
    #[serde(rename = "E")]
    event_time: Option<i64>,
    #[serde(rename = "s", borrow)]
    symbol: Option<&'a str>,
    #[serde(rename = "t")]
    trade_id: Option<u64>,
    #[serde(rename = "p", borrow)]
    price: Option<&'a str>,
    #[serde(rename = "q", borrow)]
    quantity: Option<&'a str>,
    #[serde(rename = "T")]
    trade_time: Option<i64>,
    #[serde(rename = "m")]
    buyer_is_maker: Option<bool>,
}

#[derive(Deserialize)]
struct KlinePayload<'a> {
    #[serde(borrow)]
    e: Option<&'a str>,
    #[serde(rename = "E")]
    event_time: Option<i64>,
    #[serde(rename = "s", borrow)]
    symbol: Option<&'a str>,
    #[serde(borrow)]
    k: Option<KlineFields<'a>>,
}

#[derive(Deserialize)]
struct KlineFields<'a> {
    #[serde(rename = "t")]
    open_time: Option<i64>,
    #[serde(rename = "i", borrow)]
    interval: Option<&'a str>,
    #[serde(rename = "o", borrow)]
    open: Option<&'a str>,
    #[serde(rename = "h", borrow)]
    high: Option<&'a str>,
    #[serde(rename = "l", borrow)]
    low: Option<&'a str>,
    #[serde(rename = "c", borrow)]
    close: Option<&'a str>,
    #[serde(rename = "v", borrow)]
    volume: Option<&'a str>,
    #[serde(rename = "n")]
    trade_count: Option<u64>,
    #[serde(rename = "x")]
    closed: Option<bool>,
}

/// Parses one WebSocket text message received at `received_at` (local clock).
///
/// # Errors
///
/// Returns a [`ParseError`] whose [`RejectReason`] says why the message is unusable; the
/// caller counts it and skips the message.
pub fn parse_message(text: &str, received_at: TimestampMs) -> Result<MarketEvent, ParseError> {
    expect_object(text)?;
    let probe: Probe<'_> = from_json(text)?;
    if let Some(stream) = probe.stream {
        let data = probe.data.ok_or_else(|| ParseError::missing("data"))?;
        return parse_stream_payload(stream, data.get(), received_at);
    }
    if probe.data.is_some() {
        return Err(ParseError::missing("stream"));
    }
    match probe.e {
        Some("trade") => parse_trade(text, None, received_at).map(MarketEvent::Trade),
        Some("kline") => parse_kline(text, None, received_at),
        Some("serverShutdown") => parse_server_shutdown(text, received_at),
        Some("depthUpdate") => Ok(MarketEvent::Ignored(IgnoredStream::Depth)),
        Some(other) => Err(ParseError::new(
            RejectReason::UnknownStream,
            format!("unknown event type {other:?}"),
        )),
        None if probe.last_update_id.is_some() => {
            Ok(MarketEvent::Ignored(IgnoredStream::DepthSnapshot))
        }
        None if probe.u.is_some() => Ok(MarketEvent::Ignored(IgnoredStream::BookTicker)),
        None => Err(ParseError::missing("stream")),
    }
}

fn parse_stream_payload(
    stream: &str,
    data: &str,
    received_at: TimestampMs,
) -> Result<MarketEvent, ParseError> {
    let Some((stream_symbol, kind)) = stream_kind(stream) else {
        // a server event wrapped in an envelope keeps its meaning whatever the stream is called
        if data.starts_with('{') {
            let event: EventType<'_> = from_json(data)?;
            if event.e == Some("serverShutdown") {
                return parse_server_shutdown(data, received_at);
            }
        }
        return Err(ParseError::new(
            RejectReason::UnknownStream,
            format!("unknown stream {stream:?}"),
        ));
    };
    match kind {
        StreamKind::BookTicker => return Ok(MarketEvent::Ignored(IgnoredStream::BookTicker)),
        StreamKind::Depth => return Ok(MarketEvent::Ignored(IgnoredStream::Depth)),
        StreamKind::Trade | StreamKind::Kline => {}
    }
    expect_object(data)?;
    match kind {
        StreamKind::Trade => {
            parse_trade(data, Some(stream_symbol), received_at).map(MarketEvent::Trade)
        }
        _ => parse_kline(data, Some(stream_symbol), received_at),
    }
}

fn parse_trade(
    json: &str,
    stream_symbol: Option<&str>,
    received_at: TimestampMs,
) -> Result<Trade, ParseError> {
    let p: TradePayload<'_> = from_json(json)?;
    check_event_type(p.e, "trade")?;
    let symbol = parse_symbol(required(p.symbol, "s")?, stream_symbol)?;
    let trade_id = required(p.trade_id, "t")?;
    let price = parse_price(required(p.price, "p")?, "p")?;
    let quantity = parse_quantity(required(p.quantity, "q")?, "q")?;
    let trade_time = TimestampMs::new(required(p.trade_time, "T")?);
    let event_time = TimestampMs::new(required(p.event_time, "E")?);
    let buyer_is_maker = required(p.buyer_is_maker, "m")?;
    Ok(Trade {
        symbol,
        trade_id,
        price,
        quantity,
        buyer_is_maker,
        trade_time,
        event_time,
        received_at,
    })
}

fn parse_kline(
    json: &str,
    stream_symbol: Option<&str>,
    received_at: TimestampMs,
) -> Result<MarketEvent, ParseError> {
    let p: KlinePayload<'_> = from_json(json)?;
    check_event_type(p.e, "kline")?;
    let symbol = parse_symbol(required(p.symbol, "s")?, stream_symbol)?;
    let event_time = TimestampMs::new(required(p.event_time, "E")?);
    let k = required(p.k, "k")?;
    let interval_str = required(k.interval, "k.i")?;
    let interval =
        Interval::from_str(interval_str).map_err(|e| ParseError::invalid(e.to_string()))?;
    let open_time = TimestampMs::new(required(k.open_time, "k.t")?);
    let open = parse_price(required(k.open, "k.o")?, "k.o")?;
    let high = parse_price(required(k.high, "k.h")?, "k.h")?;
    let low = parse_price(required(k.low, "k.l")?, "k.l")?;
    let close = parse_price(required(k.close, "k.c")?, "k.c")?;
    let volume = parse_quantity(required(k.volume, "k.v")?, "k.v")?;
    let trade_count = required(k.trade_count, "k.n")?;
    if required(k.closed, "k.x")? {
        let bar = Bar::new(symbol, interval, open_time, open, high, low, close, volume)
            .map_err(|e| ParseError::invalid(e.to_string()))?;
        Ok(MarketEvent::Bar(BarEvent {
            bar,
            trade_count,
            event_time,
            received_at,
        }))
    } else {
        Ok(MarketEvent::KlineUpdate(KlineUpdate {
            symbol,
            interval,
            open_time,
            open,
            high,
            low,
            close,
            volume,
            trade_count,
            event_time,
            received_at,
        }))
    }
}

fn parse_server_shutdown(json: &str, received_at: TimestampMs) -> Result<MarketEvent, ParseError> {
    let event: EventType<'_> = from_json(json)?;
    Ok(MarketEvent::ServerShutdown(ServerShutdown {
        event_time: event.event_time.map(TimestampMs::new),
        received_at,
    }))
}

fn from_json<'a, T: Deserialize<'a>>(json: &'a str) -> Result<T, ParseError> {
    serde_json::from_str(json).map_err(|e| ParseError::from_json(&e))
}

/// serde's derived structs also accept JSON arrays (positionally): refuse anything but an
/// object up front, telling malformed text from well-formed JSON of the wrong type.
fn expect_object(json: &str) -> Result<(), ParseError> {
    if json.trim_start().starts_with('{') {
        return Ok(());
    }
    match serde_json::from_str::<IgnoredAny>(json) {
        Ok(_) => Err(ParseError::new(
            RejectReason::WrongType,
            "expected a JSON object",
        )),
        Err(e) => Err(ParseError::from_json(&e)),
    }
}

fn required<T>(value: Option<T>, field: &str) -> Result<T, ParseError> {
    value.ok_or_else(|| ParseError::missing(field))
}

fn check_event_type(e: Option<&str>, expected: &str) -> Result<(), ParseError> {
    match e {
        Some(e) if e == expected => Ok(()),
        Some(e) => Err(ParseError::invalid(format!(
            "event type {e:?} on a {expected} stream"
        ))),
        None => Err(ParseError::missing("e")),
    }
}

fn parse_symbol(s: &str, stream_symbol: Option<&str>) -> Result<Symbol, ParseError> {
    if let Some(stream_symbol) = stream_symbol
        && !stream_symbol.eq_ignore_ascii_case(s)
    {
        return Err(ParseError::invalid(format!(
            "symbol {s:?} on stream of {stream_symbol:?}"
        )));
    }
    Symbol::new(s).map_err(|e| ParseError::invalid(e.to_string()))
}

fn parse_price(s: &str, field: &str) -> Result<Price, ParseError> {
    Price::from_str(s).map_err(|e| ParseError::invalid(format!("{field}: {e}")))
}

fn parse_quantity(s: &str, field: &str) -> Result<Quantity, ParseError> {
    Quantity::from_str(s).map_err(|e| ParseError::invalid(format!("{field}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    const RECV: TimestampMs = TimestampMs::new(1_723_161_254_087);

    const TRADE: &str = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}"#;

    fn kline(x: bool, o: &str, h: &str, l: &str, c: &str) -> String {
        format!(
            r#"{{"stream":"btcusdt@kline_1m","data":{{"e":"kline","E":1723161300001,"s":"BTCUSDT","k":{{"t":1723161240000,"T":1723161299999,"s":"BTCUSDT","i":"1m","f":1,"L":2,"o":"{o}","c":"{c}","h":"{h}","l":"{l}","v":"12.5","n":42,"x":{x},"q":"1000","V":"1","Q":"2","B":"0"}}}}}}"#
        )
    }

    #[test]
    fn parses_a_trade() {
        let MarketEvent::Trade(t) = parse_message(TRADE, RECV).unwrap() else {
            panic!("not a trade");
        };
        assert_eq!(t.symbol.as_str(), "BTCUSDT");
        assert_eq!(t.trade_id, 3_735_683_259);
        assert_eq!(t.price.value(), dec!(61837.63));
        assert_eq!(t.quantity.value(), dec!(0.02));
        assert!(t.buyer_is_maker);
        assert_eq!(t.trade_time.as_i64(), 1_723_161_255_342);
        assert_eq!(t.event_time.as_i64(), 1_723_161_255_343);
        assert_eq!(t.received_at, RECV);
    }

    #[test]
    fn parses_a_raw_trade_payload() {
        let raw = &TRADE[33..TRADE.len() - 1];
        assert!(raw.starts_with("{\"e\""), "{raw}");
        let MarketEvent::Trade(t) = parse_message(raw, RECV).unwrap() else {
            panic!("not a trade");
        };
        assert_eq!(t.trade_id, 3_735_683_259);
    }

    #[test]
    fn closed_kline_becomes_a_bar() {
        let msg = kline(true, "100.5", "110", "90", "105");
        let MarketEvent::Bar(b) = parse_message(&msg, RECV).unwrap() else {
            panic!("not a bar");
        };
        assert_eq!(b.bar.symbol().as_str(), "BTCUSDT");
        assert_eq!(b.bar.interval(), Interval::M1);
        assert_eq!(b.bar.open_time().as_i64(), 1_723_161_240_000);
        assert_eq!(b.bar.open().value(), dec!(100.5));
        assert_eq!(b.bar.high().value(), dec!(110));
        assert_eq!(b.bar.low().value(), dec!(90));
        assert_eq!(b.bar.close().value(), dec!(105));
        assert_eq!(b.bar.volume().value(), dec!(12.5));
        assert_eq!(b.trade_count, 42);
        assert_eq!(b.event_time.as_i64(), 1_723_161_300_001);
    }

    #[test]
    fn open_kline_is_an_update_not_a_bar() {
        let msg = kline(false, "100", "101", "99", "100.5");
        let MarketEvent::KlineUpdate(k) = parse_message(&msg, RECV).unwrap() else {
            panic!("not an update");
        };
        assert_eq!(k.close.value(), dec!(100.5));
        assert_eq!(k.trade_count, 42);
    }

    #[test]
    fn closed_kline_breaking_ohlc_is_invalid() {
        let msg = kline(true, "100", "90", "110", "100");
        let err = parse_message(&msg, RECV).unwrap_err();
        assert_eq!(err.reason, RejectReason::InvalidValue, "{err}");
    }

    #[rstest]
    #[case::book_ticker(
        r#"{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT","b":"1","B":"1","a":"1","A":"1"}}"#,
        IgnoredStream::BookTicker
    )]
    #[case::depth(
        r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}}"#,
        IgnoredStream::Depth
    )]
    #[case::raw_depth(
        r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}"#,
        IgnoredStream::Depth
    )]
    #[case::raw_book_ticker(
        r#"{"u":1,"s":"BTCUSDT","b":"1","B":"1","a":"1","A":"1"}"#,
        IgnoredStream::BookTicker
    )]
    #[case::snapshot(
        r#"{"lastUpdateId":5,"bids":[["1","2"]],"asks":[]}"#,
        IgnoredStream::DepthSnapshot
    )]
    fn ignored_streams(#[case] msg: &str, #[case] expected: IgnoredStream) {
        assert_eq!(
            parse_message(msg, RECV).unwrap(),
            MarketEvent::Ignored(expected)
        );
    }

    #[rstest]
    #[case::raw(r#"{"e":"serverShutdown","E":1723161255343}"#)]
    #[case::wrapped(
        r#"{"stream":"serverShutdown","data":{"e":"serverShutdown","E":1723161255343}}"#
    )]
    fn server_shutdown(#[case] msg: &str) {
        let MarketEvent::ServerShutdown(s) = parse_message(msg, RECV).unwrap() else {
            panic!("not a shutdown");
        };
        assert_eq!(s.event_time, Some(TimestampMs::new(1_723_161_255_343)));
    }

    #[rstest]
    #[case::not_json("{\"stream\":\"btcusdt@trade\",", RejectReason::MalformedJson)]
    #[case::garbage("hello", RejectReason::MalformedJson)]
    #[case::empty("", RejectReason::MalformedJson)]
    #[case::array("[1,2,3]", RejectReason::WrongType)]
    #[case::data_array(r#"{"stream":"btcusdt@trade","data":[1]}"#, RejectReason::WrongType)]
    #[case::no_data(r#"{"stream":"btcusdt@trade"}"#, RejectReason::MissingField)]
    #[case::no_stream(r#"{"data":{}}"#, RejectReason::MissingField)]
    #[case::empty_object("{}", RejectReason::MissingField)]
    #[case::missing_price(
        r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,"q":"1","T":1,"m":true}}"#,
        RejectReason::MissingField
    )]
    #[case::null_price(
        r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":null,"q":"1","T":1,"m":true}}"#,
        RejectReason::MissingField
    )]
    #[case::numeric_price(
        r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":1.5,"q":"1","T":1,"m":true}}"#,
        RejectReason::WrongType
    )]
    #[case::string_id(
        r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":"1","p":"1","q":"1","T":1,"m":true}}"#,
        RejectReason::WrongType
    )]
    #[case::string_bool(
        r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":1,"m":"true"}}"#,
        RejectReason::WrongType
    )]
    #[case::negative_id(
        r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":-1,"p":"1","q":"1","T":1,"m":true}}"#,
        RejectReason::InvalidValue
    )]
    #[case::zero_price(
        r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"0","q":"1","T":1,"m":true}}"#,
        RejectReason::InvalidValue
    )]
    #[case::nan_price(
        r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"NaN","q":"1","T":1,"m":true}}"#,
        RejectReason::InvalidValue
    )]
    #[case::negative_qty(
        r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"-1","T":1,"m":true}}"#,
        RejectReason::InvalidValue
    )]
    #[case::symbol_mismatch(
        r#"{"stream":"ethusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":1,"m":true}}"#,
        RejectReason::InvalidValue
    )]
    #[case::wrong_event(
        r#"{"stream":"btcusdt@trade","data":{"e":"kline","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":1,"m":true}}"#,
        RejectReason::InvalidValue
    )]
    #[case::bad_interval(
        r#"{"stream":"btcusdt@kline_1M","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":0,"i":"1M","o":"1","h":"1","l":"1","c":"1","v":"1","n":1,"x":true}}}"#,
        RejectReason::InvalidValue
    )]
    #[case::misaligned_bar(
        r#"{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":1,"i":"1m","o":"1","h":"1","l":"1","c":"1","v":"1","n":1,"x":true}}}"#,
        RejectReason::InvalidValue
    )]
    #[case::kline_without_k(
        r#"{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT"}}"#,
        RejectReason::MissingField
    )]
    #[case::unknown_stream(
        r#"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade"}}"#,
        RejectReason::UnknownStream
    )]
    #[case::stream_without_at(r#"{"stream":"btcusdt","data":{}}"#, RejectReason::UnknownStream)]
    #[case::unknown_event(r#"{"e":"24hrTicker","E":1}"#, RejectReason::UnknownStream)]
    #[case::stream_not_string(r#"{"stream":5,"data":{}}"#, RejectReason::WrongType)]
    fn rejections(#[case] msg: &str, #[case] expected: RejectReason) {
        let err = parse_message(msg, RECV).unwrap_err();
        assert_eq!(err.reason, expected, "{err}");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(s in "\\PC{0,200}") {
            let _ = parse_message(&s, RECV);
        }

        #[test]
        fn never_panics_on_mutated_messages(cut in 0usize..TRADE.len(), byte in 0u8..128) {
            let mut bytes = TRADE.as_bytes().to_vec();
            bytes[cut] = byte;
            if let Ok(text) = std::str::from_utf8(&bytes) {
                let _ = parse_message(text, RECV);
            }
        }
    }
}
