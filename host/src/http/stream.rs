//! [`SseStream`]: the body of a query response — the runner's events, interleaved with a
//! keep-alive comment every [`KEEPALIVE_INTERVAL`] from the start of the stream.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use tokio::sync::mpsc;
use tokio::time::{Interval, MissedTickBehavior, interval_at};

use crate::protocol::sse;

/// Time between keep-alive comments, as fastapi_poe (sse-starlette) sends them.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// How long the response headers wait for the bot's first event, so that a fast answer
/// leaves in one write with them; slower bots get their headers after this (fastapi_poe: 2 ms).
pub const FIRST_EVENT_GRACE: Duration = Duration::from_millis(1);

/// The SSE body: ends when the runner drops its sender (after `done`).
pub struct SseStream {
    events: mpsc::Receiver<Bytes>,
    keepalive: Interval,
    first: Option<Bytes>,
}

impl SseStream {
    /// A body streaming `events`, with keep-alives every `every`.
    pub fn new(events: mpsc::Receiver<Bytes>, every: Duration) -> Self {
        let mut keepalive = interval_at(tokio::time::Instant::now() + every, every);
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self { events, keepalive, first: None }
    }

    /// A body whose first event arrived within [`FIRST_EVENT_GRACE`] (or `None` if it did not).
    pub async fn after_first_event(mut events: mpsc::Receiver<Bytes>, every: Duration) -> Self {
        let first = tokio::time::timeout(FIRST_EVENT_GRACE, events.recv()).await.ok().flatten();
        Self { first, ..Self::new(events, every) }
    }
}

/// Events already waiting are sent as one chunk up to this size, the size of a turn's
/// batch. A larger event goes out on its own, so batching never copies it (a copy would
/// double what the host holds).
pub const COALESCE_LIMIT: usize = crate::guest::batch::MAX_BATCH;

impl SseStream {
    /// `first` plus every event already waiting, as one chunk of at most
    /// [`COALESCE_LIMIT`]: one write (and one TCP segment) instead of one per event,
    /// without ever waiting for more. An event that does not fit is kept for the next chunk.
    fn coalesce(&mut self, first: Bytes) -> Bytes {
        if first.len() >= COALESCE_LIMIT {
            return first;
        }
        let mut batch: Option<BytesMut> = None;
        while let Ok(next) = self.events.try_recv() {
            let len = batch.as_ref().map_or(first.len(), BytesMut::len);
            if len + next.len() > COALESCE_LIMIT {
                self.first = Some(next);
                break;
            }
            let batch = batch.get_or_insert_with(|| {
                let mut batch = BytesMut::with_capacity(first.len() + next.len() + 64);
                batch.extend_from_slice(&first);
                batch
            });
            batch.extend_from_slice(&next);
        }
        batch.map_or(first, BytesMut::freeze)
    }
}

impl Stream for SseStream {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(self.coalesce(first))));
        }
        match self.events.poll_recv(cx) {
            Poll::Ready(Some(event)) => return Poll::Ready(Some(Ok(self.coalesce(event)))),
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

    #[tokio::test]
    async fn events_already_waiting_go_out_as_one_chunk() {
        let (tx, rx) = mpsc::channel(4);
        let mut body = SseStream::new(rx, KEEPALIVE_INTERVAL);
        tx.send(Bytes::from_static(b"a")).await.unwrap();
        tx.send(Bytes::from_static(b"b")).await.unwrap();
        assert_eq!(body.next().await.unwrap().unwrap(), Bytes::from_static(b"ab"));
        tx.send(Bytes::from_static(b"c")).await.unwrap();
        drop(tx);
        assert_eq!(body.next().await.unwrap().unwrap(), Bytes::from_static(b"c"));
        assert!(body.next().await.is_none());
    }

    #[tokio::test]
    async fn a_large_event_is_not_copied_into_a_batch() {
        let (tx, rx) = mpsc::channel(4);
        let mut body = SseStream::new(rx, KEEPALIVE_INTERVAL);
        let large = Bytes::from(vec![b'x'; COALESCE_LIMIT]);
        for event in
            [Bytes::from_static(b"a"), large.clone(), Bytes::from_static(b"b"), Bytes::from_static(b"c")]
        {
            tx.send(event).await.unwrap();
        }
        drop(tx);
        assert_eq!(body.next().await.unwrap().unwrap(), Bytes::from_static(b"a"));
        let sent = body.next().await.unwrap().unwrap();
        assert_eq!(sent.as_ptr(), large.as_ptr(), "the large event itself, not a copy");
        assert_eq!(body.next().await.unwrap().unwrap(), Bytes::from_static(b"bc"));
        assert!(body.next().await.is_none());
    }
}
