use std::{future::Future, path::PathBuf, process::ExitCode, sync::Arc};

use clap::Parser;
use levibot_config::{Config, ConfigError, ConfigLoader, LogFormat, ServiceName};
use levibot_telemetry::{TelemetryHandle, TelemetrySettings};
use tokio_util::sync::CancellationToken;

use crate::{ServeError, ServiceListeners, signals::shutdown_on_signals};

/// Exit code for a configuration the service refuses to start with.
pub const CONFIG_EXIT_CODE: u8 = 2;

/// Command-line arguments every service binary takes.
#[derive(Debug, Clone, Default, Parser)]
pub struct ServiceArgs {
    /// YAML configuration file (defaults are embedded; env `LEVIBOT__SECTION__KEY` overrides
    /// the file).
    #[arg(long, env = "LEVIBOT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override one key, after the file and the environment (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

impl ServiceArgs {
    /// Loads defaults → file → environment → `--set`, and validates the result.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let mut loader = ConfigLoader::new().env_from_process();
        if let Some(path) = &self.config {
            loader = loader.file(path);
        }
        for arg in &self.set {
            loader = loader.set_arg(arg);
        }
        loader.load()
    }
}

/// The telemetry settings a process named `service_name` runs with under `config`.
pub fn telemetry_settings(config: &Config, service_name: &str) -> TelemetrySettings {
    TelemetrySettings {
        service_name: service_name.to_owned(),
        log_format: match config.telemetry.log_format {
            LogFormat::Pretty => levibot_telemetry::LogFormat::Pretty,
            LogFormat::Json => levibot_telemetry::LogFormat::Json,
        },
        log_filter: config.telemetry.log_filter.clone(),
        otlp_endpoint: config.telemetry.otlp_endpoint.clone(),
    }
}

/// Starts the Tokio runtime and telemetry, reads the configuration, and logs `error` when
/// `run` fails. The shared body of every binary's `main`.
pub fn run_main<F, Fut>(process_name: &str, config: Config, run: F) -> ExitCode
where
    F: FnOnce(Arc<Config>, TelemetryHandle) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{process_name}: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let telemetry = match levibot_telemetry::init(&telemetry_settings(&config, process_name)) {
            Ok(handle) => handle,
            Err(err) => {
                eprintln!("{process_name}: {err}");
                return ExitCode::from(CONFIG_EXIT_CODE);
            }
        };
        match run(Arc::new(config), telemetry).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                tracing::error!(error = %message, "{process_name} failed");
                eprintln!("{process_name}: {message}");
                ExitCode::FAILURE
            }
        }
    })
}

/// The whole `main` of a service binary: parse [`ServiceArgs`], load and validate the config
/// (printing every problem and exiting 2 when it is invalid), start telemetry, bind the
/// service's listeners, serve until SIGINT/SIGTERM, flush telemetry.
pub fn service_main<F, Fut>(name: ServiceName, serve: F) -> ExitCode
where
    F: FnOnce(Arc<Config>, ServiceListeners, CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), ServeError>>,
{
    let args = ServiceArgs::parse();
    let config = match args.load_config() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{}: {err}", name.as_str());
            return ExitCode::from(CONFIG_EXIT_CODE);
        }
    };
    serve_main(name, config, serve)
}

/// [`service_main`] after the configuration is loaded (`levibot serve SERVICE` uses it).
pub fn serve_main<F, Fut>(name: ServiceName, config: Config, serve: F) -> ExitCode
where
    F: FnOnce(Arc<Config>, ServiceListeners, CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), ServeError>>,
{
    run_main(name.as_str(), config, |config, telemetry| async move {
        let shutdown = CancellationToken::new();
        shutdown_on_signals(shutdown.clone())
            .map_err(|err| format!("cannot listen for shutdown signals: {err}"))?;
        let listeners = ServiceListeners::bind(config.services.endpoint(name))
            .await
            .map_err(|err| err.to_string())?;
        tracing::info!(
            service = name.as_str(),
            grpc = ?listeners.grpc_addr(),
            metrics = ?listeners.metrics_addr(),
            "serving"
        );
        let result = serve(config, listeners, shutdown).await;
        telemetry.shutdown().await;
        result.map_err(|err| err.to_string())
    })
}
