use prometheus::{Encoder, TextEncoder};

pub use prometheus::Error as PrometheusError;
pub use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, core::Collector,
};

/// A registry for one service: every metric name gets the `levibot_` prefix. Each service in a
/// process has its own, so `levibot up` keeps the seven services' metrics apart.
pub fn service_registry() -> Registry {
    // `new_custom` fails only for an invalid prefix, and this one is a valid metric name.
    Registry::new_custom(Some("levibot".to_owned()), None).unwrap_or_default()
}

/// Renders `registry` in the Prometheus text exposition format.
pub fn encode_text(registry: &Registry) -> Result<String, prometheus::Error> {
    let mut buf = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut buf)?;
    String::from_utf8(buf).map_err(|err| prometheus::Error::Msg(err.to_string()))
}

/// The content type of [`encode_text`]'s output.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_prefixes_and_encodes() {
        let registry = service_registry();
        let counter = IntCounter::new("bars_total", "bars seen").unwrap();
        registry.register(Box::new(counter.clone())).unwrap();
        counter.inc_by(3);
        let text = encode_text(&registry).unwrap();
        assert!(text.contains("levibot_bars_total 3"), "{text}");
        assert!(
            text.contains("# HELP levibot_bars_total bars seen"),
            "{text}"
        );
    }
}
