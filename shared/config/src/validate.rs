use std::net::SocketAddr;

use rust_decimal::Decimal;

use crate::error::{ConfigError, Problem};
use crate::model::Config;
use crate::secret::{REDACTED, Secret, redact_url};
use crate::service::ServiceName;

/// Longest accepted symbol, in characters.
const MAX_SYMBOL_LEN: usize = 20;

impl Config {
    /// Checks every semantic rule and reports all failures at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Every semantic problem of this configuration; empty when it is valid.
    ///
    /// Checked: symbols (charset, length, duplicates, at least one), position and loss
    /// limits, drawdown and confidence ranges, URL schemes of the database, Redis, OTLP
    /// and gRPC URLs, non-empty paths and log filter, exchange credentials set as a pair,
    /// and that no two listeners share an address (port 0 excepted).
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        self.check_risk(&mut problems);
        self.check_urls(&mut problems);
        self.check_paths(&mut problems);
        self.check_trading(&mut problems);
        self.check_portfolio_and_health(&mut problems);
        self.check_exchange(&mut problems);
        self.check_listeners(&mut problems);
        problems
    }

    fn check_risk(&self, problems: &mut Vec<Problem>) {
        let risk = &self.risk;
        if risk.symbols.is_empty() {
            problems.push(Problem::new(
                "risk.symbols",
                "must list at least one symbol",
            ));
        }
        let mut seen: Vec<String> = Vec::new();
        for symbol in &risk.symbols {
            let upper = symbol.to_ascii_uppercase();
            if !is_valid_symbol(&upper) {
                problems.push(Problem::new(
                    "risk.symbols",
                    format!(
                        "invalid symbol `{symbol}`: expected 1 to {MAX_SYMBOL_LEN} characters of A-Z 0-9 . _ -"
                    ),
                ));
            } else if seen.contains(&upper) {
                problems.push(Problem::new(
                    "risk.symbols",
                    format!("duplicate symbol `{upper}`"),
                ));
            } else {
                seen.push(upper);
            }
        }
        if risk.max_positions < 1 {
            problems.push(Problem::new(
                "risk.max_positions",
                format!("must be at least 1, got {}", risk.max_positions),
            ));
        }
        positive(problems, "risk.max_position_usd", risk.max_position_usd);
        positive(
            problems,
            "risk.daily_loss_limit_usd",
            risk.daily_loss_limit_usd,
        );
        let drawdown = risk.ess_max_drawdown_pct;
        if drawdown <= Decimal::ZERO || drawdown > Decimal::ONE_HUNDRED {
            problems.push(Problem::new(
                "risk.ess_max_drawdown_pct",
                format!("must be greater than 0 and at most 100, got {drawdown}"),
            ));
        }
        let confidence = risk.min_confidence;
        if !(0.0..=1.0).contains(&confidence) {
            problems.push(Problem::new(
                "risk.min_confidence",
                format!("must be between 0 and 1, got {confidence}"),
            ));
        }
    }

    fn check_urls(&self, problems: &mut Vec<Problem>) {
        let database_url = &self.store.database_url;
        // `sqlite::memory:` is sqlx's spelling of an in-memory database.
        if database_url != "sqlite::memory:"
            && !has_scheme(database_url, &["postgres://", "postgresql://", "sqlite://"])
        {
            problems.push(bad_url(
                "store.database_url",
                database_url,
                "a postgres://, postgresql:// or sqlite://",
            ));
        }
        if let Some(url) = &self.bus.redis_url
            && !has_scheme(url, &["redis://", "rediss://"])
        {
            problems.push(bad_url("bus.redis_url", url, "a redis:// or rediss://"));
        }
        if let Some(url) = &self.telemetry.otlp_endpoint
            && !has_scheme(url, &["http://", "https://"])
        {
            problems.push(bad_url(
                "telemetry.otlp_endpoint",
                url,
                "an http:// or https://",
            ));
        }
        for (name, endpoint) in self.services.iter() {
            if let Some(url) = &endpoint.grpc_url
                && !has_scheme(url, &["http://", "https://"])
            {
                problems.push(bad_url(
                    &format!("services.{}.grpc_url", name.config_key()),
                    url,
                    "an http:// or https://",
                ));
            }
        }
    }

    fn check_portfolio_and_health(&self, problems: &mut Vec<Problem>) {
        let p = &self.portfolio;
        if p.quote_asset.is_empty()
            || !p
                .quote_asset
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            problems.push(Problem::new(
                "portfolio.quote_asset",
                "must be an upper-case asset code such as USDT",
            ));
        }
        positive(problems, "portfolio.starting_cash_usd", p.starting_cash_usd);
        let h = &self.health;
        for (key, value) in [
            ("portfolio.reconcile_interval_ms", p.reconcile_interval_ms),
            ("portfolio.snapshot_interval_ms", p.snapshot_interval_ms),
            ("health.poll_interval_ms", h.poll_interval_ms),
            ("health.check_timeout_ms", h.check_timeout_ms),
            ("health.model_max_age_hours", h.model_max_age_hours),
        ] {
            if value == 0 {
                problems.push(Problem::new(key, "must be greater than 0"));
            }
        }
        if h.market_data_stale_after_ms <= 0 {
            problems.push(Problem::new(
                "health.market_data_stale_after_ms",
                "must be greater than 0",
            ));
        }
        if let Some(url) = &h.webhook_url {
            let url = url.expose();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problems.push(Problem::new(
                    "health.webhook_url",
                    "must be an http:// or https:// URL",
                ));
            }
        }
    }

    fn check_trading(&self, problems: &mut Vec<Problem>) {
        let t = &self.trading;
        if !(t.binance_rest_url.starts_with("http://")
            || t.binance_rest_url.starts_with("https://"))
        {
            problems.push(bad_url(
                "trading.binance_rest_url",
                &t.binance_rest_url,
                "an http:// or https://",
            ));
        }
        positive(problems, "trading.paper_cash_usd", t.paper_cash_usd);
        positive(problems, "trading.max_exposure_usd", t.max_exposure_usd);
        for (field, bps) in [
            ("trading.paper_fee_bps", t.paper_fee_bps),
            ("trading.paper_slippage_bps", t.paper_slippage_bps),
        ] {
            if bps < Decimal::ZERO || bps > Decimal::from(1_000) {
                problems.push(Problem::new(
                    field,
                    format!("must be between 0 and 1000, got {bps}"),
                ));
            }
        }
        let share = t.paper_max_volume_share;
        if share <= Decimal::ZERO || share > Decimal::ONE {
            problems.push(Problem::new(
                "trading.paper_max_volume_share",
                format!("must be in (0, 1], got {share}"),
            ));
        }
        if !(t.kelly_multiplier > 0.0 && t.kelly_multiplier <= 1.0) {
            problems.push(Problem::new(
                "trading.kelly_multiplier",
                format!("must be in (0, 1], got {}", t.kelly_multiplier),
            ));
        }
        if !(t.volatility_target > 0.0 && t.volatility_target.is_finite()) {
            problems.push(Problem::new(
                "trading.volatility_target",
                format!("must be greater than 0, got {}", t.volatility_target),
            ));
        }
        if t.throttle_max_signals < 1 {
            problems.push(Problem::new(
                "trading.throttle_max_signals",
                "must be at least 1",
            ));
        }
        for (field, ms) in [
            ("trading.throttle_window_ms", t.throttle_window_ms),
            ("trading.stale_after_ms", t.stale_after_ms),
        ] {
            if ms < 1 {
                problems.push(Problem::new(field, format!("must be at least 1, got {ms}")));
            }
        }
        if t.state_dir.as_os_str().is_empty() {
            problems.push(Problem::new("trading.state_dir", "must not be empty"));
        }
        if t.restart_initial_backoff_ms < 1
            || t.restart_max_backoff_ms < t.restart_initial_backoff_ms
        {
            problems.push(Problem::new(
                "trading.restart_max_backoff_ms",
                format!(
                    "must be at least restart_initial_backoff_ms ({}) and that at least 1, got {}",
                    t.restart_initial_backoff_ms, t.restart_max_backoff_ms
                ),
            ));
        }
        if t.heartbeat_timeout_ms < 10 {
            problems.push(Problem::new(
                "trading.heartbeat_timeout_ms",
                format!("must be at least 10, got {}", t.heartbeat_timeout_ms),
            ));
        }
        if t.exchange == crate::model::ExchangeKind::Binance
            && (self.exchange.api_key.is_none() || self.exchange.api_secret.is_none())
        {
            problems.push(Problem::new(
                "trading.exchange",
                "binance needs exchange.api_key and exchange.api_secret",
            ));
        }
    }

    fn check_paths(&self, problems: &mut Vec<Problem>) {
        let md = &self.market_data;
        if !(md.ws_url.starts_with("ws://") || md.ws_url.starts_with("wss://")) {
            problems.push(bad_url(
                "market_data.ws_url",
                &md.ws_url,
                "a ws:// or wss://",
            ));
        }
        if !(md.rest_url.starts_with("http://") || md.rest_url.starts_with("https://")) {
            problems.push(bad_url(
                "market_data.rest_url",
                &md.rest_url,
                "an http:// or https://",
            ));
        }
        const INTERVALS: [&str; 15] = [
            "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d",
            "1w",
        ];
        if !INTERVALS.contains(&md.interval.as_str()) {
            problems.push(Problem::new(
                "market_data.interval",
                format!(
                    "must be one of {}, got {:?}",
                    INTERVALS.join(", "),
                    md.interval
                ),
            ));
        }
        if !(1..=1_000_000).contains(&md.queue_capacity) {
            problems.push(Problem::new(
                "market_data.queue_capacity",
                format!("must be between 1 and 1000000, got {}", md.queue_capacity),
            ));
        }
        let prefix = &self.bus.key_prefix;
        if prefix.is_empty() || prefix.len() > 64 || !prefix.bytes().all(|b| b.is_ascii_graphic()) {
            problems.push(Problem::new(
                "bus.key_prefix",
                format!("must be 1 to 64 printable characters without spaces, got {prefix:?}"),
            ));
        }
        if !(1..=1_048_576).contains(&self.bus.buffer_max_mb) {
            problems.push(Problem::new(
                "bus.buffer_max_mb",
                format!(
                    "must be between 1 and 1048576, got {}",
                    self.bus.buffer_max_mb
                ),
            ));
        }
        if self.bus.buffer_dir.as_os_str().is_empty() {
            problems.push(Problem::new("bus.buffer_dir", "must not be empty"));
        }
        if self.models.dir.as_os_str().is_empty() {
            problems.push(Problem::new("models.dir", "must not be empty"));
        }
        if self.telemetry.log_filter.trim().is_empty() {
            problems.push(Problem::new("telemetry.log_filter", "must not be empty"));
        }
    }

    fn check_exchange(&self, problems: &mut Vec<Problem>) {
        let exchange = &self.exchange;
        for (key, secret) in [
            ("exchange.api_key", &exchange.api_key),
            ("exchange.api_secret", &exchange.api_secret),
        ] {
            match secret.as_ref().map(Secret::expose) {
                Some("") => problems.push(Problem::new(key, "must not be empty when set")),
                Some(REDACTED) => problems.push(Problem::new(
                    key,
                    "is the redaction placeholder `***` from a dumped config, not a real secret",
                )),
                _ => {}
            }
        }
        match (&exchange.api_key, &exchange.api_secret) {
            (Some(_), None) => problems.push(Problem::new(
                "exchange.api_secret",
                "must be set when exchange.api_key is set",
            )),
            (None, Some(_)) => problems.push(Problem::new(
                "exchange.api_key",
                "must be set when exchange.api_secret is set",
            )),
            _ => {}
        }
    }

    fn check_listeners(&self, problems: &mut Vec<Problem>) {
        let mut listeners: Vec<(String, SocketAddr)> =
            vec![("gateway.listen".to_owned(), self.gateway.listen)];
        for name in ServiceName::ALL {
            let endpoint = self.services.endpoint(name);
            let key = name.config_key();
            listeners.push((format!("services.{key}.grpc_listen"), endpoint.grpc_listen));
            listeners.push((
                format!("services.{key}.metrics_listen"),
                endpoint.metrics_listen,
            ));
        }
        for (index, (key, addr)) in listeners.iter().enumerate() {
            if addr.port() == 0 {
                continue;
            }
            if let Some((first, _)) = listeners[..index].iter().find(|(_, other)| other == addr) {
                problems.push(Problem::new(
                    key.clone(),
                    format!("address {addr} is already used by {first}"),
                ));
            }
        }
    }
}

fn positive(problems: &mut Vec<Problem>, key: &str, value: Decimal) {
    if value <= Decimal::ZERO {
        problems.push(Problem::new(
            key,
            format!("must be greater than 0, got {value}"),
        ));
    }
}

/// Whether `url` starts with one of `schemes` (ignoring case) and has something after it.
fn has_scheme(url: &str, schemes: &[&str]) -> bool {
    schemes.iter().any(|scheme| {
        url.len() > scheme.len()
            && url
                .get(..scheme.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
    })
}

fn bad_url(key: &str, url: &str, expected: &str) -> Problem {
    Problem::new(
        key,
        format!("expected {expected} url, got `{}`", redact_url(url)),
    )
}

/// The symbol rule shared with `levibot-core`: 1 to 20 characters of `A-Z 0-9 . _ -`
/// (callers upper-case first).
fn is_valid_symbol(symbol: &str) -> bool {
    (1..=MAX_SYMBOL_LEN).contains(&symbol.len())
        && symbol.bytes().all(|b| {
            b.is_ascii_uppercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("BTCUSDT", true)]
    #[case("BTC-PERP", true)]
    #[case("1000PEPE.P_X", true)]
    #[case("ABCDEFGHIJKLMNOPQRST", true)]
    #[case("ABCDEFGHIJKLMNOPQRSTU", false)]
    #[case("", false)]
    #[case("BTC/USDT", false)]
    #[case("BTC USDT", false)]
    #[case("btcusdt", false)]
    #[case("ÄBC", false)]
    fn symbol_rule(#[case] symbol: &str, #[case] valid: bool) {
        assert_eq!(is_valid_symbol(symbol), valid);
    }

    #[rstest]
    #[case("postgres://h/db", true)]
    #[case("POSTGRES://h/db", true)]
    #[case("postgres://", false)]
    #[case("mysql://h/db", false)]
    #[case("", false)]
    fn scheme_rule(#[case] url: &str, #[case] ok: bool) {
        assert_eq!(
            has_scheme(url, &["postgres://", "postgresql://", "sqlite://"]),
            ok
        );
    }
}
