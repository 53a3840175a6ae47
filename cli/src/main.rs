//! `levibot`: run the whole fleet in one process (`up`), one service as a pod would (`serve`),
//! check a running fleet (`sanity-check`), operate its emergency stop (`ess`) and risk policy
//! (`policy`), or print the effective configuration (`config show`). `levibot --help` lists
//! everything.

use std::{io::Write, path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use levibot_cli::{Bind, Fleet, sanity};
use levibot_config::{Config, ServiceName};
use levibot_server::{CONFIG_EXIT_CODE, CancellationToken, ServiceArgs, run_main, signals};

#[derive(Debug, Parser)]
#[command(
    name = "levibot",
    version,
    about = "LeviBot: an AI crypto trading fleet"
)]
struct Cli {
    /// YAML configuration file (defaults are embedded; env `LEVIBOT__SECTION__KEY` overrides
    /// the file).
    #[arg(long, global = true, env = "LEVIBOT_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Override one key after the file and the environment, e.g. `--set bus.redis_url=redis://
    /// 127.0.0.1:6379` (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    set: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run all seven services in this process, each on its own port, talking real gRPC.
    Up,
    /// Run one service (as a Kubernetes pod does).
    Serve {
        /// backend, ai-engine, portfolio, trade-store, automl-cron, policy-store or
        /// health-aggregator.
        service: ServiceName,
    },
    /// Check Redis, the database and every service's health, in parallel; exit 1 naming what
    /// failed.
    SanityCheck {
        /// Print `{"ok": bool, "checks": [{"name", "ok", "detail", "latency_ms"}]}`.
        #[arg(long)]
        json: bool,
        /// Timeout of each check, in milliseconds.
        #[arg(long, default_value_t = 3000, value_name = "MS")]
        timeout_ms: u64,
    },
    /// Stored market data: list the series, import a kline CSV, find gaps.
    Data {
        #[command(subcommand)]
        command: levibot_cli::data::DataCommand,
    },
    /// API keys of the REST gateway: create one (its secret printed once), list, revoke.
    Apikey {
        #[command(subcommand)]
        command: levibot_cli::apikey::ApiKeyCommand,
    },
    /// The emergency stop system of a running fleet: status, trip, reset (admin, after the
    /// cooldown, once the tripping condition is gone), history.
    Ess {
        #[command(subcommand)]
        command: levibot_cli::ess::EssCommand,
    },
    /// The risk policy of a running fleet: show, history, load a launch profile, set from a
    /// JSON file (each change a new, validated, audited version).
    Policy {
        #[command(subcommand)]
        command: levibot_cli::policy::PolicyCommand,
    },
    /// Publish a kline CSV's bars as `md.bar` into a running fleet (needs `bus.redis_url`).
    Replay(levibot_cli::replay::ReplayArgs),
    /// Serve recorded market data over Binance's WebSocket and REST protocols (a local
    /// stand-in for the exchange).
    ExchangeSim(levibot_cli::exchange_sim::Args),
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Print the effective configuration as YAML, secrets redacted.
    Show,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = ServiceArgs {
        config: cli.config,
        set: cli.set,
    };
    let config = match args.load_config() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("levibot: {err}");
            return ExitCode::from(CONFIG_EXIT_CODE);
        }
    };
    match cli.command {
        Command::Up => run_main("levibot", config, |config, telemetry| async move {
            let result = up(Config::clone(&config)).await;
            telemetry.shutdown().await;
            result
        }),
        Command::Serve { service } => {
            levibot_server::serve_main(service, config, move |config, listeners, shutdown| {
                levibot_cli::serve_service(service, config, listeners, shutdown)
            })
        }
        Command::SanityCheck { json, timeout_ms } => sanity_check(&config, json, timeout_ms),
        Command::Data { command } => run_main("data", config, |config, telemetry| async move {
            let result = levibot_cli::data::run(&config, command).await;
            telemetry.shutdown().await;
            print_line(result?.trim_end());
            Ok(())
        }),
        Command::Apikey { command } => run_main("apikey", config, |config, telemetry| async move {
            let result = levibot_cli::apikey::run(&config, command).await;
            telemetry.shutdown().await;
            print_line(result?.trim_end());
            Ok(())
        }),
        Command::Ess { command } => run_main("ess", config, |config, telemetry| async move {
            let result = levibot_cli::ess::run(&config, command).await;
            telemetry.shutdown().await;
            print_line(result?.trim_end());
            Ok(())
        }),
        Command::Policy { command } => run_main("policy", config, |config, telemetry| async move {
            let result = levibot_cli::policy::run(&config, command).await;
            telemetry.shutdown().await;
            print_line(result?.trim_end());
            Ok(())
        }),
        Command::Replay(args) => run_main("replay", config, |config, telemetry| async move {
            let file = args.file.display().to_string();
            let (symbol, interval) = (args.symbol, args.interval);
            let result = levibot_cli::replay::run(&config, args).await;
            telemetry.shutdown().await;
            let report = result?;
            print_line(&format!(
                "replayed {} {symbol} {interval} bars from {file} onto md.bar ({} rows rejected)",
                report.published, report.rejected_rows
            ));
            Ok(())
        }),
        Command::ExchangeSim(args) => {
            run_main("exchange-sim", config, |_config, telemetry| async move {
                let result = levibot_cli::exchange_sim::run(args).await;
                telemetry.shutdown().await;
                result
            })
        }
        Command::Config {
            action: ConfigAction::Show,
        } => print_or_fail(config.to_yaml().as_bytes()),
    }
}

async fn up(config: Config) -> Result<(), String> {
    // registered before the fleet says it is up, so an early Ctrl-C is a clean stop
    let until = CancellationToken::new();
    signals::shutdown_on_signals(until.clone())
        .map_err(|err| format!("cannot listen for shutdown signals: {err}"))?;
    let mut fleet = Fleet::start(config, Bind::Configured)
        .await
        .map_err(|e| e.to_string())?;
    let mut text = format!(
        "levibot fleet is up (profile {}):\n",
        fleet.config().profile
    );
    for address in fleet.addresses() {
        text.push_str(&format!(
            "  {:<18} grpc {:<21} metrics http://{}/metrics\n",
            address.service.as_str(),
            address.grpc,
            address.metrics
        ));
    }
    text.push_str("Ctrl-C (SIGINT) or SIGTERM stops it.\n");
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    drop(out);

    let ran = fleet.run_until(until).await;
    let stopped = fleet.shutdown().await;
    tracing::info!("levibot fleet stopped");
    ran.and(stopped).map_err(|e| e.to_string())
}

fn sanity_check(config: &Config, json: bool, timeout_ms: u64) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("levibot: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let timeout = Duration::from_millis(timeout_ms);
    let report = runtime.block_on(sanity::run(config, timeout));
    let mut out = Vec::new();
    let written = if json {
        sanity::write_json(&mut out, &report)
    } else {
        sanity::write_table(&mut out, &report)
    };
    if written.is_err() {
        return ExitCode::FAILURE;
    }
    let printed = print_or_fail(&out);
    if !report.ok {
        eprintln!("levibot sanity-check failed: {}", sanity::summary(&report));
        return ExitCode::FAILURE;
    }
    printed
}

fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

fn print_or_fail(bytes: &[u8]) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}
