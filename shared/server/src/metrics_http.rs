use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use levibot_telemetry::metrics::{Registry, TEXT_CONTENT_TYPE, encode_text};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves `GET /metrics` (Prometheus text format) from `registry` on `listener` until
/// `shutdown` is cancelled.
pub async fn serve_metrics(
    listener: TcpListener,
    registry: Registry,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(registry);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

async fn metrics(State(registry): State<Registry>) -> impl IntoResponse {
    match encode_text(&registry) {
        Ok(text) => (
            StatusCode::OK,
            [(http::header::CONTENT_TYPE, TEXT_CONTENT_TYPE)],
            text,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "cannot encode metrics");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics").into_response()
        }
    }
}
