//! [`RelayedBody`]: a response body as the guest reads it. It wraps the upstream body and is
//! polled by the guest's own reads (no task in between: each chunk of an LLM's SSE reaches
//! the guest with one wake-up, not two), bounded — at most the bot's byte cap, and the guest
//! never waits longer than the between-bytes timeout for the next frame. It holds the
//! request's concurrency permit until the upstream body ends, and dropping it (the guest
//! dropped the body, or the call ended and its store went) closes the upstream connection.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::Error;

type Item = Result<Frame<Bytes>, Error>;

/// How one body is bounded.
pub struct BodyBounds {
    /// Bytes in all.
    pub max_bytes: u64,
    /// Longest wait for the next frame.
    pub between_bytes: Duration,
}

/// The guest's side of a relayed body.
pub struct RelayedBody {
    upstream: reqwest::Body,
    bounds: BodyBounds,
    read: u64,
    /// Armed when the guest starts waiting on an upstream with nothing to give (not when a
    /// frame is handed over: a guest busy elsewhere must not use up the upstream's time).
    silence: Pin<Box<Sleep>>,
    waiting: bool,
    /// Held while the upstream body is open; `None` once it has ended.
    permit: Option<OwnedSemaphorePermit>,
}

impl RelayedBody {
    /// Relay `upstream` within `bounds`, holding `permit` until it ends.
    pub fn new(upstream: reqwest::Body, bounds: BodyBounds, permit: OwnedSemaphorePermit) -> Self {
        let silence = Box::pin(tokio::time::sleep(bounds.between_bytes));
        Self { upstream, bounds, read: 0, silence, waiting: false, permit: Some(permit) }
    }

    fn frame(&mut self, frame: Frame<Bytes>) -> Item {
        self.read += frame.data_ref().map_or(0, |d| d.len() as u64);
        if self.read > self.bounds.max_bytes {
            tracing::info!(
                max = self.bounds.max_bytes,
                "outbound response body too large (outbound_http.max_response_mib)"
            );
            return self.end(Error::HttpResponseBodySize(Some(self.bounds.max_bytes)));
        }
        self.waiting = false;
        Ok(frame)
    }

    /// The body is over, with `error`: nothing more is read.
    fn end(&mut self, error: Error) -> Item {
        self.permit = None;
        Err(error)
    }

    /// Whether the guest has now waited longer than the between-bytes timeout for the next
    /// frame (registering a wake-up if not).
    fn silent_too_long(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.waiting {
            self.waiting = true;
            let deadline = Instant::now() + self.bounds.between_bytes;
            self.silence.as_mut().reset(deadline);
        }
        self.silence.as_mut().poll(cx).is_ready()
    }
}

impl Body for RelayedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let this = &mut *self;
        if this.permit.is_none() {
            return Poll::Ready(None); // ended, with the end already handed over
        }
        match Pin::new(&mut this.upstream).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(this.frame(frame))),
            Poll::Ready(Some(Err(e))) => {
                tracing::info!(error = %crate::logtext::escape_line(&e.to_string(), 256), "outbound response body broke off");
                Poll::Ready(Some(this.end(Error::HttpResponseIncomplete)))
            }
            Poll::Ready(None) => {
                this.permit = None;
                Poll::Ready(None)
            }
            Poll::Pending => {
                if !this.silent_too_long(cx) {
                    return Poll::Pending;
                }
                tracing::info!(
                    "outbound response body silent too long (outbound_http.between_bytes_timeout_secs)"
                );
                Poll::Ready(Some(this.end(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.permit.is_none()
    }
}
