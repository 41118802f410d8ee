//! [`SseStream`]: the body of a query response — the runner's events, interleaved with a
//! keep-alive comment every [`KEEPALIVE_INTERVAL`] from the start of the stream.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use tokio::sync::mpsc;
use tokio::time::{Interval, MissedTickBehavior, interval_at};

use crate::sse;

/// Time between keep-alive comments, as fastapi_poe (sse-starlette) sends them.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// The SSE body: ends when the runner drops its sender (after `done`).
pub struct SseStream {
    events: mpsc::Receiver<Bytes>,
    keepalive: Interval,
}

impl SseStream {
    /// A body streaming `events`, with keep-alives every `every`.
    pub fn new(events: mpsc::Receiver<Bytes>, every: Duration) -> Self {
        let mut keepalive = interval_at(tokio::time::Instant::now() + every, every);
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self { events, keepalive }
    }
}

impl Stream for SseStream {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.events.poll_recv(cx) {
            Poll::Ready(Some(event)) => return Poll::Ready(Some(Ok(event))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        match self.keepalive.poll_tick(cx) {
            Poll::Ready(_) => Poll::Ready(Some(Ok(sse::ping_comment(time::OffsetDateTime::now_utc())))),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn keepalive_comes_every_interval_and_stream_ends_with_sender() {
        let (tx, rx) = mpsc::channel(4);
        let mut body = SseStream::new(rx, KEEPALIVE_INTERVAL);
        let start = tokio::time::Instant::now();
        let first = body.next().await.unwrap().unwrap();
        assert!(first.starts_with(b": ping - "), "{first:?}");
        assert_eq!(start.elapsed(), KEEPALIVE_INTERVAL);
        tx.send(sse::done_event()).await.unwrap();
        drop(tx);
        assert_eq!(body.next().await.unwrap().unwrap(), sse::done_event());
        assert!(body.next().await.is_none());
    }
}
