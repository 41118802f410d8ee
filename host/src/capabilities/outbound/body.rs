//! [`RelayedBody`]: a response body as the guest reads it. A task on the host's runtime
//! reads the upstream body, bounded — at most the bot's byte cap, never silent longer than
//! its between-bytes timeout — and hands frames over a small channel, so an LLM's SSE
//! reaches the guest chunk by chunk. The task holds the request's concurrency permit and
//! ends, closing the upstream connection, as soon as the guest drops the body (or the
//! call ends and its store goes).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use wasmtime_wasi_http::Error;

/// Frames read ahead of a guest that is slow to take them.
const FRAMES_AHEAD: usize = 4;

type Item = Result<Frame<Bytes>, Error>;

/// The guest's side of a relayed body.
pub struct RelayedBody {
    rx: mpsc::Receiver<Item>,
}

/// How one body is bounded.
pub struct BodyBounds {
    /// Bytes in all.
    pub max_bytes: u64,
    /// Longest wait for the next frame.
    pub between_bytes: Duration,
}

impl RelayedBody {
    /// Start relaying `upstream` on the current runtime, within `bounds`, holding `permit`.
    pub fn spawn(upstream: reqwest::Body, bounds: BodyBounds, permit: OwnedSemaphorePermit) -> Self {
        let (tx, rx) = mpsc::channel(FRAMES_AHEAD);
        let task = relay(upstream, tx, bounds, permit);
        tokio::spawn(tracing::Instrument::in_current_span(task));
        Self { rx }
    }
}

impl http_body::Body for RelayedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        self.rx.poll_recv(cx)
    }
}

async fn relay(
    mut upstream: reqwest::Body,
    tx: mpsc::Sender<Item>,
    bounds: BodyBounds,
    permit: OwnedSemaphorePermit,
) {
    let _permit = permit;
    let mut read = 0u64;
    loop {
        let next = tokio::select! {
            () = tx.closed() => return, // the guest dropped the body
            next = tokio::time::timeout(bounds.between_bytes, upstream.frame()) => next,
        };
        let item = match next {
            Err(_) => {
                tracing::info!(
                    "outbound response body silent too long (outbound_http.between_bytes_timeout_secs)"
                );
                Err(Error::ConnectionReadTimeout)
            }
            Ok(None) => return,
            Ok(Some(Err(e))) => {
                tracing::info!(error = %crate::logtext::escape_line(&e.to_string(), 256), "outbound response body broke off");
                Err(Error::HttpResponseIncomplete)
            }
            Ok(Some(Ok(frame))) => {
                read += frame.data_ref().map_or(0, |d| d.len() as u64);
                if read > bounds.max_bytes {
                    tracing::info!(
                        max = bounds.max_bytes,
                        "outbound response body too large (outbound_http.max_response_mib)"
                    );
                    Err(Error::HttpResponseBodySize(Some(bounds.max_bytes)))
                } else {
                    Ok(frame)
                }
            }
        };
        let failed = item.is_err();
        if tx.send(item).await.is_err() || failed {
            return;
        }
    }
}
