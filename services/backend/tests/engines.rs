//! The engines manager: crash restarts with backoff and cap, hangs, stop/start, and the
//! registry that lets a restarted backend resume its engines.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test loudly; one engine panics on purpose"
)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use levibot_backend::engines::{
    EngineContext, EngineError, EngineManager, EngineRunner, EngineState, ManagerSettings,
    RestartPolicy,
};
use levibot_core::{Clock, LiveClock, Symbol};
use levibot_telemetry::metrics::Registry;
use tokio_util::sync::CancellationToken;

/// What the test engine does on each run.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Heartbeats until stopped.
    Healthy,
    /// Fails at once with an error.
    Fails,
    /// Panics at once.
    Panics,
    /// Never heartbeats and ignores its stop token.
    Hangs,
}

struct TestRunner {
    behaviour: Behaviour,
    runs: AtomicU32,
}

impl EngineRunner for TestRunner {
    fn run(&self, ctx: EngineContext) -> BoxFuture<'static, Result<(), String>> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let behaviour = self.behaviour;
        Box::pin(async move {
            match behaviour {
                Behaviour::Healthy => loop {
                    ctx.stats.heartbeat(LiveClock.now());
                    tokio::select! {
                        () = ctx.stop.cancelled() => return Ok(()),
                        () = tokio::time::sleep(Duration::from_millis(5)) => {}
                    }
                },
                Behaviour::Fails => Err("exchange said no".to_owned()),
                Behaviour::Panics => panic!("engine bug"),
                Behaviour::Hangs => {
                    std::future::pending::<()>().await;
                    Ok(())
                }
            }
        })
    }
}

fn policy() -> RestartPolicy {
    RestartPolicy {
        initial_backoff: Duration::from_millis(40),
        max_backoff: Duration::from_millis(160),
        max_restarts: 3,
        window: Duration::from_secs(3600),
        heartbeat_timeout: Duration::from_millis(200),
        error_spike: 100,
    }
}

fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

fn eth() -> Symbol {
    Symbol::new("ETHUSDT").unwrap()
}

fn manager(
    behaviour: Behaviour,
    dir: &std::path::Path,
    shutdown: &CancellationToken,
) -> (EngineManager, Arc<TestRunner>) {
    let runner = Arc::new(TestRunner {
        behaviour,
        runs: AtomicU32::new(0),
    });
    let settings = ManagerSettings {
        policy: policy(),
        symbols: BTreeSet::from([btc(), eth()]),
        registry: Some(dir.join("engines.json")),
        journal_dir: dir.join("logs"),
    };
    let manager = EngineManager::new(
        settings,
        Arc::clone(&runner) as Arc<dyn EngineRunner>,
        Arc::new(LiveClock),
        &Registry::new(),
        shutdown.clone(),
    )
    .unwrap();
    (manager, runner)
}

async fn wait_for_state(manager: &EngineManager, symbol: Symbol, state: EngineState) -> Duration {
    let started = std::time::Instant::now();
    loop {
        if manager.status(symbol).unwrap().state == state {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never reached {state:?}: {:?}",
            manager.status(symbol)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn a_failing_engine_is_restarted_with_growing_backoff_until_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let (manager, runner) = manager(Behaviour::Fails, dir.path(), &shutdown);
    manager.start(btc()).await.unwrap();
    // 40 + 80 + 160 ms of backoff between the four runs, then it gives up.
    let took = wait_for_state(&manager, btc(), EngineState::Crashed).await;
    let status = manager.status(btc()).unwrap();
    assert_eq!(status.restarts, 3);
    assert_eq!(runner.runs.load(Ordering::SeqCst), 4);
    assert_eq!(status.errors, 4);
    assert_eq!(status.last_error, "exchange said no");
    assert!(
        took >= Duration::from_millis(280),
        "backoff not respected: {took:?}"
    );
    // It stays crashed: no fifth run.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(runner.runs.load(Ordering::SeqCst), 4);
    // A manual start gives it a fresh budget.
    manager.start(btc()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(runner.runs.load(Ordering::SeqCst), 5);
    let journal = std::fs::read_dir(dir.path().join("logs")).unwrap().count();
    assert_eq!(journal, 1, "one JSONL file for the symbol and day");
    shutdown.cancel();
    manager.join().await;
}

#[tokio::test]
async fn a_panicking_engine_is_caught_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let (manager, runner) = manager(Behaviour::Panics, dir.path(), &shutdown);
    manager.start(eth()).await.unwrap();
    wait_for_state(&manager, eth(), EngineState::Crashed).await;
    let status = manager.status(eth()).unwrap();
    assert_eq!(runner.runs.load(Ordering::SeqCst), 4);
    assert!(
        status.last_error.contains("engine panicked: engine bug"),
        "{}",
        status.last_error
    );
    shutdown.cancel();
    manager.join().await;
}

#[tokio::test]
async fn a_hung_engine_is_detected_by_its_heartbeat_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let (manager, runner) = manager(Behaviour::Hangs, dir.path(), &shutdown);
    manager.start(btc()).await.unwrap();
    let started = std::time::Instant::now();
    while runner.runs.load(Ordering::SeqCst) < 2 {
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let status = manager.status(btc()).unwrap();
    assert!(
        status.last_error.starts_with("no heartbeat for"),
        "{}",
        status.last_error
    );
    assert_eq!(status.restarts, 1);
    shutdown.cancel();
    manager.join().await;
}

#[tokio::test]
async fn stop_start_restart_and_a_restarted_backend_resumes_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let (manager, runner) = manager(Behaviour::Healthy, dir.path(), &shutdown);
    // No registry yet: every configured symbol starts.
    let mut resumed = manager.resume().await.unwrap();
    resumed.sort();
    assert_eq!(resumed, vec![btc(), eth()]);
    wait_for_state(&manager, btc(), EngineState::Running).await;
    assert_eq!(
        manager.stop(eth()).await.unwrap().state,
        EngineState::Stopped
    );
    let restarted = manager.restart(btc()).await.unwrap();
    assert_eq!(restarted.restarts, 0, "a requested restart is not a crash");
    wait_for_state(&manager, btc(), EngineState::Running).await;
    assert_eq!(runner.runs.load(Ordering::SeqCst), 3);
    let unknown = Symbol::new("DOGEUSDT").unwrap();
    assert_eq!(
        manager.start(unknown).await.unwrap_err(),
        EngineError::UnknownSymbol(unknown)
    );
    shutdown.cancel();
    manager.join().await;

    // The backend restarts: BTC resumes, ETH stays stopped as the operator left it.
    let shutdown = CancellationToken::new();
    let (again, runner) = self::manager(Behaviour::Healthy, dir.path(), &shutdown);
    assert_eq!(again.resume().await.unwrap(), vec![btc()]);
    wait_for_state(&again, btc(), EngineState::Running).await;
    assert_eq!(again.status(eth()).unwrap().state, EngineState::Stopped);
    assert_eq!(runner.runs.load(Ordering::SeqCst), 1);
    shutdown.cancel();
    again.join().await;
    assert_eq!(
        again.status(btc()).map(|s| s.state),
        Err(EngineError::ShuttingDown)
    );
}

#[tokio::test]
async fn a_broken_registry_is_refused_rather_than_guessed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("engines.json"),
        "{\"engines\": {\"btc usdt\": \"running\"}}",
    )
    .unwrap();
    let shutdown = CancellationToken::new();
    let (manager, runner) = manager(Behaviour::Healthy, dir.path(), &shutdown);
    let err = manager.resume().await.unwrap_err();
    assert!(matches!(err, EngineError::Registry(_)), "{err}");
    assert_eq!(runner.runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn stopping_an_engine_that_never_ran_is_refused_and_leaves_the_registry_alone() {
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let (manager, _runner) = manager(Behaviour::Healthy, dir.path(), &shutdown);
    assert_eq!(
        manager.stop(btc()).await.unwrap_err(),
        EngineError::NotFound(btc())
    );
    assert!(
        !dir.path().join("engines.json").exists(),
        "the registry was written"
    );
    // so a restarted backend still starts every configured engine
    let mut resumed = manager.resume().await.unwrap();
    resumed.sort();
    assert_eq!(resumed, vec![btc(), eth()]);
    shutdown.cancel();
    manager.join().await;
}
