use tokio_util::sync::CancellationToken;

/// Exit code when a second signal forces the process down (128 + SIGINT).
pub const FORCED_EXIT_CODE: i32 = 130;

/// Spawns the task that turns SIGINT/SIGTERM into a graceful shutdown: the first signal
/// cancels `shutdown`; a second one exits the process at once. Only binaries call this.
pub fn shutdown_on_signals(shutdown: CancellationToken) {
    tokio::spawn(async move {
        if wait_for_signal().await.is_err() {
            tracing::error!("cannot listen for shutdown signals");
            return;
        }
        tracing::info!("shutdown requested; a second signal forces exit");
        shutdown.cancel();
        if wait_for_signal().await.is_ok() {
            tracing::warn!("second signal: forcing exit");
            std::process::exit(FORCED_EXIT_CODE);
        }
    });
}

#[cfg(unix)]
async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_signal() -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}
