//! `levibot exchange-sim`: the Binance-protocol simulator of `levibot-exchange` as a command.
//! It serves raw captures (`--ticks`) and kline CSVs (`--klines`) over the real combined-stream
//! WebSocket and REST interfaces, so the fleet (or anything speaking Binance) can be pointed at
//! `ws://<listen>` and `http://<listen>` instead of the exchange. Faults can be switched on
//! with flags. Stops on SIGINT/SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use levibot_core::{Interval, Symbol};
use levibot_exchange::sim::{SimConfig, SimData, SimPace, SimServer};
use levibot_exchange::{CsvReplay, ExchangeMetrics, ReplaySpeed};
use levibot_server::CancellationToken;
use levibot_telemetry::metrics::Registry;

/// Options of `levibot exchange-sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:9443", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Raw capture to replay, `<local_recv_ns> <json>` per line, `.gz` or plain (repeatable),
    /// e.g. data/ticks/hftbacktest_binance_spot_btcusdt_20240808.raw.gz. Its trades are also
    /// served as 1m klines.
    #[arg(long = "ticks", value_name = "FILE")]
    pub ticks: Vec<PathBuf>,
    /// Kline CSV (`open_time_ms,open,high,low,close,volume`) as `SYMBOL[@INTERVAL]=FILE`
    /// (interval defaults to 1m; repeatable), e.g.
    /// `BTCUSDT=data/klines/ftx_btc-perp_1m_20211231-20220201.csv`.
    #[arg(long = "klines", value_name = "SYMBOL[@INTERVAL]=FILE")]
    pub klines: Vec<String>,
    /// Replay speed: `max`, or a factor of real time (1 = real time, 60 = a minute per second).
    #[arg(long, default_value = "1", value_name = "SPEED")]
    pub speed: String,
    /// Send one message every this many milliseconds, ignoring their times (overrides --speed).
    #[arg(long, value_name = "MS")]
    pub every_ms: Option<u64>,
    /// Start the timeline again when it ends.
    #[arg(long)]
    pub repeat: bool,
    /// Ping every connection this often, in seconds (Binance: 20).
    #[arg(long, default_value_t = 20.0, value_name = "SECS")]
    pub ping_interval_secs: f64,
    /// Close a connection whose pong is this late, in seconds (Binance: 60).
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    pub pong_timeout_secs: f64,
    /// Drop every connection (no close frame) after this many data messages.
    #[arg(long, value_name = "N")]
    pub drop_after: Option<u64>,
    /// Send a malformed frame after every N data messages (malformed JSON, missing field, wrong
    /// type, invalid value, unknown stream, in turn).
    #[arg(long, value_name = "N")]
    pub malformed_every: Option<u64>,
    /// Stop sending anything (data and pings) on a connection after this many data messages.
    #[arg(long, value_name = "N")]
    pub stall_after: Option<u64>,
}

/// Runs the simulator until SIGINT or SIGTERM.
///
/// # Errors
///
/// A message naming what went wrong: bad arguments, unreadable files, a busy address.
pub async fn run(args: Args) -> Result<(), String> {
    let shutdown = CancellationToken::new();
    levibot_server::signals::shutdown_on_signals(shutdown.clone())
        .map_err(|err| format!("cannot listen for shutdown signals: {err}"))?;
    run_until(args, shutdown).await
}

/// Runs the simulator until `shutdown` is cancelled.
///
/// # Errors
///
/// As [`run`].
pub async fn run_until(args: Args, shutdown: CancellationToken) -> Result<(), String> {
    let config = sim_config(&args)?;
    let data = load_data(args.clone()).await?;
    if data.event_count() == 0 {
        return Err("nothing to serve: give --ticks FILE and/or --klines SYMBOL=FILE".to_owned());
    }
    let symbols: Vec<String> = data.symbols().iter().map(ToString::to_string).collect();
    let events = data.event_count();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let server = SimServer::start(listener, data, config)
        .map_err(|e| format!("cannot start the simulator: {e}"))?;
    let addr = server.local_addr();
    let banner = format!(
        "exchange-sim listening: ws://{addr}/stream?streams=<symbol>@trade/<symbol>@kline_1m, \
         http://{addr}/api/v3/klines; {events} messages for {}; the timeline starts with the \
         first connection; Ctrl-C stops\n",
        symbols.join(", ")
    );
    {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    }

    shutdown.cancelled().await;
    let stats = server.control().stats();
    server.shutdown().await;
    tracing::info!(
        connections = stats.connections_accepted,
        messages = stats.messages_sent,
        events = stats.events_played,
        klines_requests = stats.klines_requests,
        dropped = stats.connections_dropped,
        pong_timeouts = stats.pong_timeouts,
        "exchange-sim stopped"
    );
    Ok(())
}

fn sim_config(args: &Args) -> Result<SimConfig, String> {
    let pace = match args.every_ms {
        Some(ms) => SimPace::Every(Duration::from_millis(ms.max(1))),
        None => SimPace::Speed(ReplaySpeed::from_str(&args.speed).map_err(|e| e.to_string())?),
    };
    let secs = |name: &str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(Duration::from_secs_f64(v))
        } else {
            Err(format!(
                "--{name} must be a positive number of seconds, got {v}"
            ))
        }
    };
    Ok(SimConfig {
        pace,
        ping_interval: secs("ping-interval-secs", args.ping_interval_secs)?,
        pong_timeout: secs("pong-timeout-secs", args.pong_timeout_secs)?,
        drop_after_messages: args.drop_after,
        malformed_every: args.malformed_every,
        stall_after_messages: args.stall_after,
        repeat: args.repeat,
        ..SimConfig::default()
    })
}

/// `SYMBOL[@INTERVAL]=FILE`.
fn parse_klines_arg(arg: &str) -> Result<(Symbol, Interval, PathBuf), String> {
    let (key, file) = arg
        .split_once('=')
        .ok_or_else(|| format!("--klines {arg:?}: expected SYMBOL[@INTERVAL]=FILE"))?;
    let (symbol, interval) = key.split_once('@').unwrap_or((key, "1m"));
    let symbol = Symbol::new(symbol).map_err(|e| format!("--klines {arg:?}: {e}"))?;
    let interval = Interval::from_str(interval).map_err(|e| format!("--klines {arg:?}: {e}"))?;
    Ok((symbol, interval, PathBuf::from(file)))
}

async fn load_data(args: Args) -> Result<SimData, String> {
    let klines = args
        .klines
        .iter()
        .map(|arg| parse_klines_arg(arg))
        .collect::<Result<Vec<_>, _>>()?;
    // file reading and decompression are blocking
    tokio::task::spawn_blocking(move || {
        let metrics = ExchangeMetrics::new(&Registry::new()).map_err(|e| e.to_string())?;
        let mut data = SimData::new();
        for path in &args.ticks {
            let added = data
                .add_capture(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            tracing::info!(file = %path.display(), messages = added, "capture loaded");
        }
        for (symbol, interval, path) in klines {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let replay = CsvReplay::parse(&text, symbol, interval, &metrics).map_err(|found| {
                format!(
                    "{}: expected the header open_time_ms,open,high,low,close,volume, found {found:?}",
                    path.display()
                )
            })?;
            tracing::info!(
                file = %path.display(),
                %symbol,
                %interval,
                bars = replay.bars().len(),
                skipped = replay.rejected_rows(),
                "klines loaded",
            );
            data.add_bars(replay.bars().iter().copied());
        }
        Ok(data)
    })
    .await
    .map_err(|e| format!("loading data failed: {e}"))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn klines_argument_forms() {
        let (s, i, p) = parse_klines_arg("BTCUSDT=data/x.csv").unwrap();
        assert_eq!(
            (s.as_str(), i, p),
            ("BTCUSDT", Interval::M1, PathBuf::from("data/x.csv"))
        );
        let (s, i, _) = parse_klines_arg("ethusd@4h=a.csv").unwrap();
        assert_eq!((s.as_str(), i), ("ETHUSD", Interval::H4));
        assert!(parse_klines_arg("BTCUSDT").is_err());
        assert!(parse_klines_arg("BTC/USDT=a.csv").is_err());
        assert!(parse_klines_arg("BTCUSDT@7m=a.csv").is_err());
    }

    #[test]
    fn flags_map_to_the_config() {
        let cli = Cli::parse_from([
            "x",
            "--speed",
            "60",
            "--drop-after",
            "100",
            "--malformed-every",
            "7",
            "--ping-interval-secs",
            "0.5",
        ]);
        let config = sim_config(&cli.args).unwrap();
        assert_eq!(config.pace, SimPace::Speed(ReplaySpeed::Factor(60.0)));
        assert_eq!(config.drop_after_messages, Some(100));
        assert_eq!(config.malformed_every, Some(7));
        assert_eq!(config.ping_interval, Duration::from_millis(500));
        let cli = Cli::parse_from(["x", "--speed", "fast"]);
        assert!(sim_config(&cli.args).is_err());
        let cli = Cli::parse_from(["x", "--every-ms", "5", "--speed", "fast"]);
        assert_eq!(
            sim_config(&cli.args).unwrap().pace,
            SimPace::Every(Duration::from_millis(5))
        );
    }

    #[tokio::test]
    async fn serves_klines_until_cancelled() {
        let csv = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../data/klines/ftx_btc-perp_1m_20211231-20220201.csv");
        let cli = Cli::parse_from([
            "x".to_owned(),
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--klines".to_owned(),
            format!("BTCUSDT={}", csv.display()),
        ]);
        let shutdown = CancellationToken::new();
        let run = tokio::spawn(run_until(cli.args, shutdown.clone()));
        tokio::time::sleep(Duration::from_millis(300)).await;
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let cli = Cli::parse_from(["x", "--listen", "127.0.0.1:0"]);
        let err = run_until(cli.args, CancellationToken::new())
            .await
            .unwrap_err();
        assert!(err.starts_with("nothing to serve"), "{err}");
    }
}
