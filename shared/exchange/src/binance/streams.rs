use std::fmt;

use levibot_core::{Interval, Symbol};

/// A Binance market stream name such as `btcusdt@kline_1m` (symbols are lowercase on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamName(String);

impl StreamName {
    /// `<symbol>@kline_<interval>`.
    #[must_use]
    pub fn kline(symbol: Symbol, interval: Interval) -> Self {
        Self(format!(
            "{}@kline_{}",
            symbol.to_lowercase_stream_name(),
            interval.as_str()
        ))
    }

    /// `<symbol>@trade`.
    #[must_use]
    pub fn trade(symbol: Symbol) -> Self {
        Self(format!("{}@trade", symbol.to_lowercase_stream_name()))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The combined-stream URL for `streams` on `base_url` (e.g. `wss://stream.binance.com:9443`):
/// `<base>/stream?streams=a/b/c`. A trailing `/` or `/stream` on the base is tolerated.
#[must_use]
pub fn combined_stream_url(base_url: &str, streams: &[StreamName]) -> String {
    let base = base_url.trim_end_matches('/');
    let base = base.strip_suffix("/stream").unwrap_or(base);
    let mut url = String::with_capacity(base.len() + 16 + streams.len() * 24);
    url.push_str(base);
    url.push_str("/stream?streams=");
    for (i, stream) in streams.iter().enumerate() {
        if i > 0 {
            url.push('/');
        }
        url.push_str(stream.as_str());
    }
    url
}

/// Splits `streams` into connections of at most `max_per_connection` streams each (Binance
/// allows 1024), keeping a symbol's streams together when they fit, so one connection's
/// outage affects as few symbols as possible. `max_per_connection` of 0 is treated as 1.
#[must_use]
pub fn plan_connections(streams: &[StreamName], max_per_connection: usize) -> Vec<Vec<StreamName>> {
    let max = max_per_connection.max(1);
    let mut plans: Vec<Vec<StreamName>> = Vec::new();
    let mut current: Vec<StreamName> = Vec::new();
    let mut start = 0;
    while start < streams.len() {
        // the run of streams of the same symbol (the part before '@')
        let symbol = symbol_part(&streams[start]);
        let mut end = start + 1;
        while end < streams.len() && symbol_part(&streams[end]) == symbol {
            end += 1;
        }
        let group = &streams[start..end];
        if current.len() + group.len() > max && !current.is_empty() {
            plans.push(std::mem::take(&mut current));
        }
        for stream in group {
            if current.len() == max {
                plans.push(std::mem::take(&mut current));
            }
            current.push(stream.clone());
        }
        start = end;
    }
    if !current.is_empty() {
        plans.push(current);
    }
    plans
}

fn symbol_part(stream: &StreamName) -> &str {
    stream.as_str().split('@').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(s: &str) -> Symbol {
        Symbol::new(s).unwrap()
    }

    #[test]
    fn names_and_url() {
        let streams = vec![
            StreamName::kline(sym("BTCUSDT"), Interval::M1),
            StreamName::trade(sym("BTCUSDT")),
        ];
        assert_eq!(streams[0].as_str(), "btcusdt@kline_1m");
        assert_eq!(streams[1].as_str(), "btcusdt@trade");
        let want = "wss://stream.binance.com:9443/stream?streams=btcusdt@kline_1m/btcusdt@trade";
        assert_eq!(
            combined_stream_url("wss://stream.binance.com:9443", &streams),
            want
        );
        assert_eq!(
            combined_stream_url("wss://stream.binance.com:9443/stream/", &streams),
            want
        );
        assert_eq!(
            combined_stream_url("ws://127.0.0.1:1234/", &streams[..1]),
            "ws://127.0.0.1:1234/stream?streams=btcusdt@kline_1m"
        );
    }

    #[test]
    fn splits_above_the_limit_keeping_symbols_together() {
        let mut streams = Vec::new();
        for i in 0..1500 {
            let s = sym(&format!("S{i}USDT"));
            streams.push(StreamName::kline(s, Interval::M1));
            streams.push(StreamName::trade(s));
        }
        let plans = plan_connections(&streams, 1024);
        assert_eq!(plans.len(), 3);
        assert!(plans.iter().all(|p| p.len() <= 1024));
        assert_eq!(plans.iter().map(Vec::len).sum::<usize>(), 3000);
        assert_eq!(plans[0].len(), 1024);
        // every symbol's two streams are on one connection
        for plan in &plans {
            assert_eq!(plan.len() % 2, 0);
        }
        let flat: Vec<_> = plans.concat();
        assert_eq!(flat, streams);
    }

    #[test]
    fn small_sets_use_one_connection_and_tiny_limits_still_work() {
        let streams = vec![
            StreamName::kline(sym("BTCUSDT"), Interval::M1),
            StreamName::trade(sym("BTCUSDT")),
            StreamName::trade(sym("ETHUSDT")),
        ];
        assert_eq!(plan_connections(&streams, 1024).len(), 1);
        let plans = plan_connections(&streams, 1);
        assert_eq!(plans.len(), 3);
        let plans = plan_connections(&streams, 2);
        assert_eq!(plans, vec![streams[..2].to_vec(), streams[2..].to_vec()]);
        assert!(plan_connections(&[], 5).is_empty());
    }
}
