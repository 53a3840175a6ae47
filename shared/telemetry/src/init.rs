use std::{fmt, io::IsTerminal, str::FromStr};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

/// The environment variable that switches OTLP export on, as the OpenTelemetry spec names it.
pub const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable, coloured when stderr is a terminal.
    #[default]
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

impl FromStr for LogFormat {
    type Err = TelemetryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pretty" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            other => Err(TelemetryError::InvalidSetting(format!(
                "log format must be pretty or json, got {other:?}"
            ))),
        }
    }
}

/// What [`init`] needs to know.
#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    /// `service.name` of the exported spans (e.g. `backend`, or `levibot` for the whole fleet).
    pub service_name: String,
    /// Log line format.
    pub log_format: LogFormat,
    /// An `EnvFilter` directive such as `info,levibot_backend=debug`; `RUST_LOG` overrides it.
    pub log_filter: String,
    /// OTLP gRPC endpoint; when `None`, [`OTLP_ENDPOINT_ENV`] is consulted, and when that is
    /// unset too, spans still get trace ids (so propagation works) but are not exported.
    pub otlp_endpoint: Option<String>,
}

/// Telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A setting had a value that cannot work.
    #[error("invalid telemetry setting: {0}")]
    InvalidSetting(String),
    /// The OTLP exporter could not be built.
    #[error("cannot build the otlp exporter for {endpoint}: {message}")]
    Exporter {
        /// The endpoint it was built for.
        endpoint: String,
        /// Why it failed.
        message: String,
    },
}

/// Keeps the tracer provider alive; [`shutdown`](Self::shutdown) flushes buffered spans.
pub struct TelemetryHandle {
    provider: SdkTracerProvider,
    exporting_to: Option<String>,
}

impl fmt::Debug for TelemetryHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryHandle")
            .field("exporting_to", &self.exporting_to)
            .finish()
    }
}

impl TelemetryHandle {
    /// The OTLP endpoint spans are exported to, if any.
    pub fn exporting_to(&self) -> Option<&str> {
        self.exporting_to.as_deref()
    }

    /// Flushes buffered spans and stops the exporter. Blocking work runs off the async threads.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let flushed = tokio::task::spawn_blocking(move || {
            let _ = provider.force_flush();
            provider.shutdown()
        })
        .await;
        if let Ok(Err(err)) = flushed {
            tracing::warn!(error = %err, "telemetry shutdown did not complete");
        }
    }
}

/// Installs the global subscriber: an `EnvFilter`, the formatter and the OpenTelemetry layer.
///
/// Must run inside a Tokio runtime when an OTLP endpoint is configured (the exporter is a tonic
/// client). Calling it twice in one process keeps the first subscriber and returns a handle to
/// a provider that is not wired to it (tests that start many services hit this).
pub fn init(settings: &TelemetrySettings) -> Result<TelemetryHandle, TelemetryError> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log_filter))
        .map_err(|err| {
            TelemetryError::InvalidSetting(format!(
                "log filter {:?} is not valid: {err}",
                settings.log_filter
            ))
        })?;
    let endpoint = settings
        .otlp_endpoint
        .clone()
        .or_else(|| std::env::var(OTLP_ENDPOINT_ENV).ok())
        .filter(|e| !e.trim().is_empty());
    let provider = tracer_provider(&settings.service_name, endpoint.as_deref())?;
    let tracer = provider.tracer("levibot");
    let otel = tracing_opentelemetry::layer().with_tracer(tracer);
    let fmt = match settings.log_format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init();
    if installed.is_err() {
        tracing::debug!("a global subscriber was already installed; keeping it");
    }
    if let Some(endpoint) = &endpoint {
        tracing::info!(%endpoint, "exporting traces over otlp");
    }
    Ok(TelemetryHandle {
        provider,
        exporting_to: endpoint,
    })
}

fn tracer_provider(
    service_name: &str,
    endpoint: Option<&str>,
) -> Result<SdkTracerProvider, TelemetryError> {
    let resource = Resource::builder()
        .with_service_name(service_name.to_owned())
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let Some(endpoint) = endpoint else {
        return Ok(builder.build());
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|err| TelemetryError::Exporter {
            endpoint: endpoint.to_owned(),
            message: err.to_string(),
        })?;
    Ok(builder.with_batch_exporter(exporter).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_format_parses_known_names_only() {
        assert_eq!("json".parse::<LogFormat>().unwrap(), LogFormat::Json);
        assert_eq!("pretty".parse::<LogFormat>().unwrap(), LogFormat::Pretty);
        let err = "xml".parse::<LogFormat>().unwrap_err().to_string();
        assert!(err.contains("xml"), "{err}");
    }

    #[tokio::test]
    async fn bad_filter_is_reported_with_its_text() {
        let settings = TelemetrySettings {
            service_name: "t".into(),
            log_format: LogFormat::Json,
            log_filter: "info,[[[".into(),
            otlp_endpoint: None,
        };
        // RUST_LOG would take precedence over the setting; this test relies on it being unset.
        if std::env::var_os("RUST_LOG").is_none() {
            let err = init(&settings).unwrap_err().to_string();
            assert!(err.contains("[[["), "{err}");
        }
    }
}
