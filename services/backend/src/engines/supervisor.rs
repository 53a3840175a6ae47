//! One engine's supervision loop: run, watch the heartbeat, restart after a crash with
//! backoff, give up at the hourly cap.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::restart_policy::RestartHistory;
use super::status::EngineState;
use super::{EngineContext, Shared};

/// How one run of the engine ended.
enum RunEnd {
    /// Asked to stop.
    Stopped,
    /// Failed (error, panic, unexpected exit, heartbeat timeout).
    Crashed(String),
}

/// Supervises `ctx.symbol`'s engine until `stop` is cancelled or the restart cap is hit.
pub(super) async fn supervise(shared: Arc<Shared>, ctx: EngineContext, stop: CancellationToken) {
    let stats = Arc::clone(&ctx.stats);
    let symbol = ctx.symbol;
    let policy = &shared.policy;
    let mut history = RestartHistory::default();
    loop {
        stats.set_state(EngineState::Starting);
        let run_stop = stop.child_token();
        let run_ctx = EngineContext {
            stop: run_stop.clone(),
            ..ctx.clone()
        };
        stats.heartbeat(shared.clock.now());
        let started = Instant::now();
        journal(&shared, &ctx, "started", &json!({}));
        let end = run_once(&shared, run_ctx, &run_stop, &stop).await;
        let reason = match end {
            RunEnd::Stopped => break,
            RunEnd::Crashed(reason) => reason,
        };
        stats.error(&reason);
        shared
            .metrics
            .crashes
            .with_label_values(&[symbol.as_str()])
            .inc();
        tracing::error!(%symbol, %reason, "engine crashed");
        journal(&shared, &ctx, "crashed", &json!({ "reason": reason }));
        if started.elapsed() >= policy.max_backoff.saturating_mul(2) {
            history.recovered();
        }
        let Some(wait) = history.next_backoff(policy, shared.started.elapsed()) else {
            stats.set_state(EngineState::Crashed);
            tracing::error!(%symbol, max = policy.max_restarts, "engine crashed too often; not restarting until started again");
            journal(
                &shared,
                &ctx,
                "gave_up",
                &json!({ "max_restarts": policy.max_restarts }),
            );
            return;
        };
        stats.set_state(EngineState::BackingOff);
        journal(
            &shared,
            &ctx,
            "backing_off",
            &json!({ "wait_ms": duration_ms(wait) }),
        );
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
        history.record_restart(shared.started.elapsed());
        stats.restarted();
        shared
            .metrics
            .restarts
            .with_label_values(&[symbol.as_str()])
            .inc();
    }
    stats.set_state(EngineState::Stopped);
    journal(&shared, &ctx, "stopped", &json!({}));
}

/// Runs the engine once, watching its heartbeat and error rate.
async fn run_once(
    shared: &Shared,
    ctx: EngineContext,
    run_stop: &CancellationToken,
    stop: &CancellationToken,
) -> RunEnd {
    let stats = Arc::clone(&ctx.stats);
    let policy = &shared.policy;
    let future = shared.runner.run(ctx);
    stats.set_state(EngineState::Running);
    let mut task = tokio::spawn(AssertUnwindSafe(future).catch_unwind());
    let tick = (policy.heartbeat_timeout / 4).max(Duration::from_millis(10));
    let mut errors: VecDeque<(Instant, u64)> = VecDeque::new();
    let timeout_ms = i64::try_from(policy.heartbeat_timeout.as_millis()).unwrap_or(i64::MAX);
    loop {
        tokio::select! {
            joined = &mut task => {
                return match joined {
                    _ if stop.is_cancelled() => RunEnd::Stopped,
                    Ok(Ok(Ok(()))) => RunEnd::Crashed("engine exited without being asked to stop".to_owned()),
                    Ok(Ok(Err(error))) => RunEnd::Crashed(error),
                    Ok(Err(panic)) => RunEnd::Crashed(format!("engine panicked: {}", panic_message(&*panic))),
                    Err(join) => RunEnd::Crashed(format!("engine task failed: {join}")),
                };
            }
            () = tokio::time::sleep(tick) => {
                let now = shared.clock.now();
                let silent_ms = now.as_i64().saturating_sub(stats.last_heartbeat().as_i64());
                if silent_ms > timeout_ms {
                    run_stop.cancel();
                    // A hung task may never look at its token: give it a moment, then abort.
                    if tokio::time::timeout(Duration::from_secs(1), &mut task).await.is_err() {
                        task.abort();
                    }
                    if stop.is_cancelled() {
                        return RunEnd::Stopped;
                    }
                    return RunEnd::Crashed(format!("no heartbeat for {silent_ms} ms"));
                }
                let sampled = Instant::now();
                errors.push_back((sampled, stats.errors()));
                while errors.front().is_some_and(|(at, _)| sampled.duration_since(*at) > Duration::from_secs(60)) {
                    errors.pop_front();
                }
                let recent = match (errors.front(), errors.back()) {
                    (Some((_, first)), Some((_, last))) => last - first,
                    _ => 0,
                };
                stats.set_error_spike(recent >= u64::from(policy.error_spike));
            }
        }
    }
}

fn journal(shared: &Shared, ctx: &EngineContext, event: &str, detail: &serde_json::Value) {
    if let Err(err) = ctx.journal.write(shared.clock.now(), event, detail) {
        tracing::warn!(symbol = %ctx.symbol, error = %err, "cannot write the engine journal");
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
