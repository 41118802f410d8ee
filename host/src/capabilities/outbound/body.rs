//! [`RelayedBody`]: a response body as the guest reads it. A small task on the host's runtime
//! reads the upstream body ahead of the guest, bounded — at most [`READ_AHEAD`] bytes waiting,
//! the bot's byte cap in all, never an upstream silent longer than the between-bytes timeout
//! — and the guest takes everything read so far in one read.
//!
//! Why a task: the HTTP client hands a body over one chunk at a time (its connection task
//! decodes the next chunk only once the last was taken), and an LLM's SSE is a burst of small
//! chunks. Polled by the guest itself, every chunk cost a round trip through the guest's
//! call (its fiber, the call's timers and spans) and its own turn, so its own write to the
//! client: `scripts/bench.sh --only http-relay` measured about 13 µs of host CPU per chunk.
//! The reader takes the chunks instead, and wakes the guest once they stop coming: when the
//! upstream still has nothing after one more round of the scheduler (the next chunk, already
//! on its way through the client's task, gets that round to arrive). A burst reaches the
//! guest as one read; a chunk that travels alone is a round (microseconds) later.
//!
//! The request's concurrency permit is held until the upstream body ends or the body is
//! dropped (the guest dropped it, or the call ended and its store went), whichever comes
//! first: at once, so a guest may open another request right after. Dropping the body also
//! aborts the task, which closes the upstream connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};
use wasmtime_wasi::runtime::AbortOnDropJoinHandle;
use wasmtime_wasi_http::Error;

use crate::guest::batch::defer;

/// Bytes read ahead of a guest that is slow to take them (plus at most one frame).
pub const READ_AHEAD: usize = 16 * 1024;

type Item = Result<Frame<Bytes>, Error>;

/// How one body is bounded.
pub struct BodyBounds {
    /// Bytes in all.
    pub max_bytes: u64,
    /// Longest silence of the upstream while the reader waits for its next frame.
    pub between_bytes: Duration,
}

/// The guest's side of a relayed body.
pub struct RelayedBody {
    ahead: Arc<Ahead>,
    _reader: AbortOnDropJoinHandle<()>,
}

impl RelayedBody {
    /// Start reading `upstream` on the current runtime, within `bounds`, holding `permit`
    /// until it ends or the body is dropped.
    pub fn spawn(upstream: reqwest::Body, bounds: BodyBounds, permit: OwnedSemaphorePermit) -> Self {
        let ahead = Arc::new(Ahead(Mutex::new(State { permit: Some(permit), ..State::default() })));
        let silence = Box::pin(tokio::time::sleep(bounds.between_bytes));
        let reader = Reader {
            upstream,
            ahead: ahead.clone(),
            bounds,
            read: 0,
            silence,
            waiting: false,
            unannounced: false,
            deferred: false,
        };
        let task = tokio::spawn(tracing::Instrument::in_current_span(reader));
        Self { ahead, _reader: AbortOnDropJoinHandle::from(task) }
    }
}

impl Drop for RelayedBody {
    fn drop(&mut self) {
        self.ahead.lock().permit = None;
    }
}

impl Body for RelayedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let mut state = self.ahead.lock();
        if !state.data.is_empty() {
            let data = state.data.split().freeze();
            if let Some(reader) = state.reader.take() {
                reader.wake(); // there is room again
            }
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        match state.end.take() {
            None => {
                if !state.guest.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    state.guest = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            Some(end) => {
                state.end = Some(End::Over);
                match end {
                    End::Trailers(trailers) => {
                        state.end = Some(End::Complete);
                        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
                    }
                    End::Complete | End::Over => Poll::Ready(None),
                    End::Failed(error) => Poll::Ready(Some(Err(error))),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        let state = self.ahead.lock();
        state.data.is_empty() && matches!(state.end, Some(End::Complete | End::Over))
    }
}

/// What the reader has read and the guest not yet taken, shared by the two.
struct Ahead(Mutex<State>);

#[derive(Default)]
struct State {
    data: BytesMut,
    /// How the body ended, after `data`; `None` while it is open.
    end: Option<End>,
    /// The guest, waiting for data.
    guest: Option<Waker>,
    /// The reader, waiting for room.
    reader: Option<Waker>,
    /// The request's place among the response's open requests, while the body is open.
    permit: Option<OwnedSemaphorePermit>,
}

enum End {
    /// Trailers, then the end.
    Trailers(HeaderMap),
    /// The end.
    Complete,
    /// An error the guest gets after the data.
    Failed(Error),
    /// Handed over.
    Over,
}

impl Ahead {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section is a copy, a split or a swap, which leaves no torn state.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The task reading ahead.
struct Reader {
    upstream: reqwest::Body,
    ahead: Arc<Ahead>,
    bounds: BodyBounds,
    /// Bytes read so far.
    read: u64,
    /// Armed when the reader starts waiting on an upstream with nothing to give.
    silence: Pin<Box<Sleep>>,
    waiting: bool,
    /// Data was added since the guest was last woken.
    unannounced: bool,
    /// The reader has given the upstream one more round since its last frame.
    deferred: bool,
}

impl Future for Reader {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        loop {
            if !this.has_room(cx) {
                this.announce();
                return Poll::Pending;
            }
            match Pin::new(&mut this.upstream).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    (this.waiting, this.deferred) = (false, false);
                    if let Err(end) = this.add(frame) {
                        return this.finish(end);
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    tracing::info!(error = %crate::logtext::escape_line(&e.to_string(), 256), "outbound response body broke off");
                    return this.finish(End::Failed(Error::HttpResponseIncomplete));
                }
                Poll::Ready(None) => return this.finish(End::Complete),
                Poll::Pending => return this.wait(cx),
            }
        }
    }
}

impl Reader {
    /// Whether the guest has room for more; if not, the reader is woken when it has.
    fn has_room(&self, cx: &mut Context<'_>) -> bool {
        let mut state = self.ahead.lock();
        if state.data.len() < READ_AHEAD {
            return true;
        }
        state.reader = Some(cx.waker().clone());
        false
    }

    /// Keep `frame` for the guest; the end instead if it breaks the byte cap or ends the body.
    fn add(&mut self, frame: Frame<Bytes>) -> Result<(), End> {
        let frame = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => return Err(frame.into_trailers().map_or(End::Complete, End::Trailers)),
        };
        self.read += frame.len() as u64;
        if self.read > self.bounds.max_bytes {
            tracing::info!(
                max = self.bounds.max_bytes,
                "outbound response body too large (outbound_http.max_response_mib)"
            );
            return Err(End::Failed(Error::HttpResponseBodySize(Some(self.bounds.max_bytes))));
        }
        self.ahead.lock().data.extend_from_slice(&frame);
        self.unannounced = true;
        Ok(())
    }

    /// The upstream has nothing now: give it one more round if the guest has data it was not
    /// told of, then tell the guest and wait, at most the between-bytes timeout.
    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.unannounced {
            if !self.deferred {
                self.deferred = true;
                defer(cx);
                return Poll::Pending;
            }
            self.announce();
        }
        if !self.waiting {
            self.waiting = true;
            let deadline = Instant::now() + self.bounds.between_bytes;
            self.silence.as_mut().reset(deadline);
        }
        if self.silence.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        tracing::info!("outbound response body silent too long (outbound_http.between_bytes_timeout_secs)");
        self.finish(End::Failed(Error::ConnectionReadTimeout))
    }

    /// Wake the guest if it waits.
    fn announce(&mut self) {
        self.unannounced = false;
        if let Some(guest) = self.ahead.lock().guest.take() {
            guest.wake();
        }
    }

    /// The body is over: no more reading, the permit goes back, the guest learns it.
    fn finish(&mut self, end: End) -> Poll<()> {
        let mut state = self.ahead.lock();
        state.permit = None;
        state.end = Some(end);
        drop(state);
        self.announce();
        Poll::Ready(())
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use tokio::sync::{Semaphore, mpsc};

    use super::*;

    /// An upstream body fed by the test.
    struct Upstream(mpsc::UnboundedReceiver<Result<Frame<Bytes>, std::io::Error>>);

    impl Body for Upstream {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            self.0.poll_recv(cx)
        }
    }

    type Feed = mpsc::UnboundedSender<Result<Frame<Bytes>, std::io::Error>>;

    fn relayed(max_bytes: u64, between_bytes: Duration) -> (Feed, RelayedBody, Arc<Semaphore>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let open = Arc::new(Semaphore::new(1));
        let permit = open.clone().try_acquire_owned().unwrap();
        let bounds = BodyBounds { max_bytes, between_bytes };
        (tx, RelayedBody::spawn(reqwest::Body::wrap(Upstream(rx)), bounds, permit), open)
    }

    fn chunk(data: &'static str) -> Result<Frame<Bytes>, std::io::Error> {
        Ok(Frame::data(Bytes::from_static(data.as_bytes())))
    }

    async fn next_data(body: &mut RelayedBody) -> Bytes {
        body.frame().await.unwrap().unwrap().into_data().unwrap()
    }

    const LONG: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn a_burst_reaches_the_guest_as_one_read_and_the_end_frees_the_permit() {
        let (tx, mut body, open) = relayed(1 << 20, LONG);
        for c in ["data: a\n\n", "data: b\n\n", "data: c\n\n"] {
            tx.send(chunk(c)).unwrap();
        }
        assert_eq!(next_data(&mut body).await, "data: a\n\ndata: b\n\ndata: c\n\n");
        assert_eq!(open.available_permits(), 0, "held while the upstream is open");
        drop(tx);
        assert!(body.frame().await.is_none());
        assert!(body.is_end_stream());
        assert_eq!(open.available_permits(), 1);
    }

    #[tokio::test]
    async fn the_reader_stops_at_read_ahead_until_the_guest_takes() {
        let (tx, mut body, _open) = relayed(1 << 20, LONG);
        let large: &'static str = "x".repeat(READ_AHEAD).leak();
        tx.send(chunk(large)).unwrap();
        tx.send(chunk("y")).unwrap();
        assert_eq!(next_data(&mut body).await.len(), READ_AHEAD);
        assert_eq!(next_data(&mut body).await, "y");
    }

    #[tokio::test]
    async fn past_the_byte_cap_the_guest_gets_what_fit_then_the_error() {
        let (tx, mut body, open) = relayed(4, LONG);
        tx.send(chunk("abc")).unwrap();
        tx.send(chunk("de")).unwrap();
        assert_eq!(next_data(&mut body).await, "abc");
        let error = body.frame().await.unwrap().unwrap_err();
        assert!(matches!(error, Error::HttpResponseBodySize(Some(4))), "{error:?}");
        assert!(body.frame().await.is_none());
        assert_eq!(open.available_permits(), 1, "the permit goes back with the error");
    }

    #[tokio::test(start_paused = true)]
    async fn an_upstream_silent_past_the_between_bytes_timeout_ends_the_body() {
        let (tx, mut body, _open) = relayed(1 << 20, Duration::from_secs(5));
        tx.send(chunk("a")).unwrap();
        assert_eq!(next_data(&mut body).await, "a");
        let started = Instant::now();
        let error = body.frame().await.unwrap().unwrap_err();
        assert!(matches!(error, Error::ConnectionReadTimeout), "{error:?}");
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test]
    async fn dropping_the_body_closes_the_upstream() {
        let (tx, body, open) = relayed(1 << 20, LONG);
        drop(body);
        assert_eq!(open.available_permits(), 1, "at once: the guest may open another request");
        tx.closed().await; // the reader, and the upstream it held, are gone
    }
}
