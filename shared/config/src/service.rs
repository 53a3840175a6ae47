use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ParseNameError;

/// One of the seven LeviBot services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceName {
    /// The trading backend (also serves the REST gateway).
    Backend,
    /// Model inference.
    AiEngine,
    /// Positions and exposure.
    Portfolio,
    /// Persistence of trades and fills.
    TradeStore,
    /// Scheduled model retraining.
    AutomlCron,
    /// Storage of trading policies.
    PolicyStore,
    /// Fleet health roll-up.
    HealthAggregator,
}

impl ServiceName {
    /// Every service, in port order.
    pub const ALL: [ServiceName; 7] = [
        Self::Backend,
        Self::AiEngine,
        Self::Portfolio,
        Self::TradeStore,
        Self::AutomlCron,
        Self::PolicyStore,
        Self::HealthAggregator,
    ];

    /// The kebab-case name used on the command line and in metrics, e.g. `ai-engine`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Backend => "backend",
            Self::AiEngine => "ai-engine",
            Self::Portfolio => "portfolio",
            Self::TradeStore => "trade-store",
            Self::AutomlCron => "automl-cron",
            Self::PolicyStore => "policy-store",
            Self::HealthAggregator => "health-aggregator",
        }
    }

    /// The snake_case key of this service under `services` in the configuration,
    /// e.g. `ai_engine` (so `LEVIBOT__SERVICES__AI_ENGINE__GRPC_LISTEN`).
    pub const fn config_key(self) -> &'static str {
        match self {
            Self::Backend => "backend",
            Self::AiEngine => "ai_engine",
            Self::Portfolio => "portfolio",
            Self::TradeStore => "trade_store",
            Self::AutomlCron => "automl_cron",
            Self::PolicyStore => "policy_store",
            Self::HealthAggregator => "health_aggregator",
        }
    }

    const fn index(self) -> u16 {
        match self {
            Self::Backend => 1,
            Self::AiEngine => 2,
            Self::Portfolio => 3,
            Self::TradeStore => 4,
            Self::AutomlCron => 5,
            Self::PolicyStore => 6,
            Self::HealthAggregator => 7,
        }
    }

    /// The default gRPC port: 50051 for the backend up to 50057 for the health aggregator.
    pub const fn default_grpc_port(self) -> u16 {
        50050 + self.index()
    }

    /// The default Prometheus metrics port: 9101 for the backend up to 9107.
    pub const fn default_metrics_port(self) -> u16 {
        9100 + self.index()
    }

    /// The embedded default endpoint: both ports on 127.0.0.1, no explicit URL.
    pub const fn default_endpoint(self) -> ServiceEndpoint {
        ServiceEndpoint {
            grpc_listen: loopback(self.default_grpc_port()),
            metrics_listen: loopback(self.default_metrics_port()),
            grpc_url: None,
        }
    }
}

const fn loopback(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServiceName {
    type Err = ParseNameError;

    /// Accepts the kebab-case (`ai-engine`) or snake_case (`ai_engine`) name, ignoring
    /// case and surrounding whitespace.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().replace('_', "-");
        Self::ALL
            .into_iter()
            .find(|name| name.as_str().eq_ignore_ascii_case(&wanted))
            .ok_or_else(|| ParseNameError {
                kind: "service",
                value: s.to_owned(),
                expected: Self::ALL.iter().map(|name| name.as_str()).collect(),
            })
    }
}

impl Serialize for ServiceName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ServiceName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// Where one service listens and how the others reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceEndpoint {
    /// Address the gRPC server binds. Port 0 picks a free port (used by tests).
    pub grpc_listen: SocketAddr,
    /// Address the Prometheus metrics endpoint binds.
    pub metrics_listen: SocketAddr,
    /// URL other services use to reach this one; derived from `grpc_listen` when unset.
    pub grpc_url: Option<String>,
}

impl Default for ServiceEndpoint {
    /// Loopback with port 0 on both listeners.
    ///
    /// Only used when an endpoint is deserialized on its own with fields missing; the
    /// [`ServicesConfig`] defaults and the loader use each service's own default ports.
    fn default() -> Self {
        Self {
            grpc_listen: loopback(0),
            metrics_listen: loopback(0),
            grpc_url: None,
        }
    }
}

impl ServiceEndpoint {
    /// The URL clients should dial: `grpc_url` if set, else `http://{grpc_listen}` with an
    /// unspecified address (`0.0.0.0` or `::`) replaced by 127.0.0.1.
    pub fn grpc_url(&self) -> String {
        if let Some(url) = &self.grpc_url {
            return url.clone();
        }
        let mut addr = self.grpc_listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        format!("http://{addr}")
    }
}

/// The endpoints of all seven services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServicesConfig {
    /// The trading backend.
    pub backend: ServiceEndpoint,
    /// Model inference.
    pub ai_engine: ServiceEndpoint,
    /// Positions and exposure.
    pub portfolio: ServiceEndpoint,
    /// Trade persistence.
    pub trade_store: ServiceEndpoint,
    /// Scheduled retraining.
    pub automl_cron: ServiceEndpoint,
    /// Trading policies.
    pub policy_store: ServiceEndpoint,
    /// Fleet health roll-up.
    pub health_aggregator: ServiceEndpoint,
}

impl Default for ServicesConfig {
    fn default() -> Self {
        Self {
            backend: ServiceName::Backend.default_endpoint(),
            ai_engine: ServiceName::AiEngine.default_endpoint(),
            portfolio: ServiceName::Portfolio.default_endpoint(),
            trade_store: ServiceName::TradeStore.default_endpoint(),
            automl_cron: ServiceName::AutomlCron.default_endpoint(),
            policy_store: ServiceName::PolicyStore.default_endpoint(),
            health_aggregator: ServiceName::HealthAggregator.default_endpoint(),
        }
    }
}

impl ServicesConfig {
    /// The endpoint of `service`.
    pub fn endpoint(&self, service: ServiceName) -> &ServiceEndpoint {
        match service {
            ServiceName::Backend => &self.backend,
            ServiceName::AiEngine => &self.ai_engine,
            ServiceName::Portfolio => &self.portfolio,
            ServiceName::TradeStore => &self.trade_store,
            ServiceName::AutomlCron => &self.automl_cron,
            ServiceName::PolicyStore => &self.policy_store,
            ServiceName::HealthAggregator => &self.health_aggregator,
        }
    }

    /// The endpoint of `service`, mutably (e.g. for tests that bind port 0).
    pub fn endpoint_mut(&mut self, service: ServiceName) -> &mut ServiceEndpoint {
        match service {
            ServiceName::Backend => &mut self.backend,
            ServiceName::AiEngine => &mut self.ai_engine,
            ServiceName::Portfolio => &mut self.portfolio,
            ServiceName::TradeStore => &mut self.trade_store,
            ServiceName::AutomlCron => &mut self.automl_cron,
            ServiceName::PolicyStore => &mut self.policy_store,
            ServiceName::HealthAggregator => &mut self.health_aggregator,
        }
    }

    /// Every service with its endpoint, in [`ServiceName::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (ServiceName, &ServiceEndpoint)> {
        ServiceName::ALL
            .into_iter()
            .map(move |name| (name, self.endpoint(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(ServiceName::Backend, "backend", "backend", 50051, 9101)]
    #[case(ServiceName::AiEngine, "ai-engine", "ai_engine", 50052, 9102)]
    #[case(ServiceName::Portfolio, "portfolio", "portfolio", 50053, 9103)]
    #[case(ServiceName::TradeStore, "trade-store", "trade_store", 50054, 9104)]
    #[case(ServiceName::AutomlCron, "automl-cron", "automl_cron", 50055, 9105)]
    #[case(ServiceName::PolicyStore, "policy-store", "policy_store", 50056, 9106)]
    #[case(
        ServiceName::HealthAggregator,
        "health-aggregator",
        "health_aggregator",
        50057,
        9107
    )]
    fn service_names_round_trip(
        #[case] service: ServiceName,
        #[case] kebab: &str,
        #[case] snake: &str,
        #[case] grpc_port: u16,
        #[case] metrics_port: u16,
    ) {
        assert_eq!(service.as_str(), kebab);
        assert_eq!(service.to_string(), kebab);
        assert_eq!(service.config_key(), snake);
        assert_eq!(kebab.parse::<ServiceName>().unwrap(), service);
        assert_eq!(snake.parse::<ServiceName>().unwrap(), service);
        assert_eq!(
            kebab.to_uppercase().parse::<ServiceName>().unwrap(),
            service
        );
        let json = serde_json::to_string(&service).unwrap();
        assert_eq!(json, format!("\"{kebab}\""));
        assert_eq!(serde_json::from_str::<ServiceName>(&json).unwrap(), service);

        let services = ServicesConfig::default();
        let endpoint = services.endpoint(service);
        assert_eq!(endpoint.grpc_listen.port(), grpc_port);
        assert_eq!(endpoint.metrics_listen.port(), metrics_port);
        assert_eq!(endpoint.grpc_url(), format!("http://127.0.0.1:{grpc_port}"));
    }

    #[test]
    fn all_lists_every_service_once() {
        let mut names: Vec<_> = ServiceName::ALL.iter().map(|s| s.as_str()).collect();
        names.dedup();
        assert_eq!(names.len(), 7);
        let services = ServicesConfig::default();
        assert_eq!(services.iter().count(), 7);
    }

    #[test]
    fn unknown_service_lists_valid_names() {
        let err = "frontend".parse::<ServiceName>().unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("unknown service `frontend`"),
            "{message}"
        );
        for name in ServiceName::ALL {
            assert!(message.contains(name.as_str()), "{message}");
        }
    }

    #[rstest]
    #[case("0.0.0.0:50051", None, "http://127.0.0.1:50051")]
    #[case("[::]:50052", None, "http://127.0.0.1:50052")]
    #[case("10.1.2.3:50053", None, "http://10.1.2.3:50053")]
    #[case("[::1]:50054", None, "http://[::1]:50054")]
    #[case(
        "0.0.0.0:50055",
        Some("http://portfolio.svc:50055"),
        "http://portfolio.svc:50055"
    )]
    fn grpc_url_derivation(
        #[case] listen: &str,
        #[case] explicit: Option<&str>,
        #[case] expected: &str,
    ) {
        let endpoint = ServiceEndpoint {
            grpc_listen: listen.parse().unwrap(),
            metrics_listen: "127.0.0.1:0".parse().unwrap(),
            grpc_url: explicit.map(str::to_owned),
        };
        assert_eq!(endpoint.grpc_url(), expected);
    }

    #[test]
    fn endpoint_mut_edits_the_right_service() {
        let mut services = ServicesConfig::default();
        services.endpoint_mut(ServiceName::TradeStore).grpc_listen = loopback(0);
        assert_eq!(services.trade_store.grpc_listen.port(), 0);
        assert_eq!(services.backend.grpc_listen.port(), 50051);
    }
}
