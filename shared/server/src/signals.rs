use tokio_util::sync::CancellationToken;

/// Exit code when a second signal forces the process down (128 + SIGINT).
pub const FORCED_EXIT_CODE: i32 = 130;

/// Turns SIGINT/SIGTERM into a graceful shutdown: the first signal cancels `shutdown`; a
/// second one exits the process at once. Only binaries call this, inside the runtime.
///
/// The handlers are registered before this returns, and once for both signals, so a binary
/// that calls it before announcing it is ready cannot be killed by the default action of an
/// early signal, and a quick second signal is never lost between two registrations.
pub fn shutdown_on_signals(shutdown: CancellationToken) -> std::io::Result<()> {
    let mut signals = Signals::register()?;
    tokio::spawn(async move {
        signals.recv().await;
        tracing::info!("shutdown requested; a second signal forces exit");
        shutdown.cancel();
        signals.recv().await;
        tracing::warn!("second signal: forcing exit");
        std::process::exit(FORCED_EXIT_CODE);
    });
    Ok(())
}

/// SIGINT and SIGTERM, registered once.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn register() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    #[cfg(not(unix))]
    fn register() -> std::io::Result<Self> {
        Ok(Self {})
    }

    #[cfg(unix)]
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }

    #[cfg(not(unix))]
    async fn recv(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
