use std::time::Duration;

use futures::Stream;
use tokio::sync::mpsc;

/// Coalesces events into frames of at most `max_events`, sending a frame as soon as it is full
/// or `max_delay` after its first event, whichever comes first: a WebSocket client gets one
/// frame per burst instead of one per event, and never waits more than `max_delay` for one.
///
/// The stream ends when `events` is closed, after the last partial frame.
pub fn batch_frames<T: Send + 'static>(
    events: mpsc::Receiver<T>,
    max_events: usize,
    max_delay: Duration,
) -> impl Stream<Item = Vec<T>> + Send {
    let max_events = max_events.max(1);
    futures::stream::unfold(events, move |mut events| async move {
        let first = events.recv().await?;
        let mut frame = Vec::with_capacity(max_events.min(1024));
        frame.push(first);
        let deadline = tokio::time::Instant::now() + max_delay;
        while frame.len() < max_events {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(event)) => frame.push(event),
                Ok(None) | Err(_) => break,
            }
        }
        Some((frame, events))
    })
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn full_frames_go_at_once_and_partial_ones_after_the_delay() {
        let (tx, rx) = mpsc::channel(100);
        let mut frames = Box::pin(batch_frames(rx, 3, Duration::from_millis(50)));
        for n in 0..7 {
            tx.send(n).await.unwrap();
        }
        let started = tokio::time::Instant::now();
        assert_eq!(frames.next().await.unwrap(), [0, 1, 2]);
        assert_eq!(frames.next().await.unwrap(), [3, 4, 5]);
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(frames.next().await.unwrap(), [6]);
        assert_eq!(started.elapsed(), Duration::from_millis(50));
        drop(tx);
        assert_eq!(frames.next().await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_partial_frame_is_flushed_when_the_source_closes() {
        let (tx, rx) = mpsc::channel(10);
        let mut frames = Box::pin(batch_frames(rx, 100, Duration::from_secs(60)));
        tx.send("a").await.unwrap();
        tx.send("b").await.unwrap();
        drop(tx);
        assert_eq!(frames.next().await.unwrap(), ["a", "b"]);
        assert_eq!(frames.next().await, None);
    }
}
