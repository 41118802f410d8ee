//! Request bodies: read within the per-request size limit and read timeout, and within a
//! host-wide budget of body bytes, so that N clients cannot make the host hold N × 16 MiB.
//!
//! Parsing is charged to the same budget (by the number of JSON values, see
//! `protocol::shape`), so it bounds the host's request memory, not just raw bytes.
//! A request's share of the budget is held until its call ends, because the host keeps the
//! request (parsed, then as WIT values) for that long. Past the budget a request gets 503 at
//! once rather than waiting: clients that each held part of the budget while waiting for
//! the rest could otherwise all stall until their read timeouts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::http::error::HttpError;

/// Body bytes all requests together may hold by default: 32 maximal bodies, or thousands
/// of real ones (a long chat is tens of KiB). Parsing and the WIT copy take the host's
/// memory for requests to about three times this (see `protocol::budget`).
pub const DEFAULT_BODY_BYTES_IN_FLIGHT: usize = 512 << 20;

/// The host-wide budget of request body bytes.
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    total: usize,
    /// Requests refused since the budget last had room (0: it has), so that a flood is
    /// logged once.
    refused: AtomicU64,
}

/// A request body and its share of the [`BodyBudget`], given back on drop.
pub struct HeldBody {
    /// The body.
    pub bytes: Bytes,
    /// Its share of the budget; keep it while the request is alive in any form.
    pub share: BodyShare,
}

/// Bytes of the [`BodyBudget`] held by one request.
#[derive(Debug)]
pub struct BodyShare(Option<OwnedSemaphorePermit>);

impl BodyBudget {
    /// A budget of `total` bytes.
    pub fn new(total: usize) -> Self {
        let total = total.min(Semaphore::MAX_PERMITS);
        Self { bytes: Arc::new(Semaphore::new(total)), total, refused: AtomicU64::new(0) }
    }

    /// Add `len` bytes to a request's `share` (as its body arrives, then what parsing it
    /// will cost), or refuse with 503: the budget is spent.
    pub fn charge(&self, share: &mut BodyShare, len: usize) -> Result<(), HttpError> {
        if len == 0 {
            return Ok(());
        }
        let permit = u32::try_from(len).ok().and_then(|n| self.bytes.clone().try_acquire_many_owned(n).ok());
        let Some(permit) = permit else {
            if self.refused.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::warn!(
                    budget = self.total,
                    "request bodies in flight are at their limit: answering 503"
                );
            }
            return Err(HttpError::HostBusy);
        };
        if self.refused.swap(0, Ordering::Relaxed) > 0 {
            tracing::info!("request bodies in flight are under their limit again");
        }
        match &mut share.0 {
            Some(held) => held.merge(permit),
            None => share.0 = Some(permit),
        }
        Ok(())
    }

    /// Bytes not held by any request (for the admin view and the tests).
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }
}

/// Read `body` whole: at most `max` bytes, within `timeout`, each byte counted against
/// `budget` as it arrives (all at once when the length is declared).
pub async fn read_body(
    body: Body,
    max: usize,
    timeout: Duration,
    budget: &BodyBudget,
) -> Result<HeldBody, HttpError> {
    match tokio::time::timeout(timeout, read_within(body, max, budget)).await {
        Ok(read) => read,
        Err(_) => {
            tracing::info!(?timeout, "rejected: the body did not arrive in time");
            Err(HttpError::BodyTimeout(timeout))
        }
    }
}

async fn read_within(mut body: Body, max: usize, budget: &BodyBudget) -> Result<HeldBody, HttpError> {
    let mut share = BodyShare(None);
    let declared = axum::body::HttpBody::size_hint(&body).exact();
    if let Some(len) = declared {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > max {
            return Err(HttpError::BodyTooLarge(max));
        }
        budget.charge(&mut share, len)?;
    }
    // A declared length is allocated once: growing by doubling would peak at twice it.
    let mut bytes = BytesMut::with_capacity(declared.map_or(0, |len| len as usize));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| HttpError::BodyUnreadable)?;
        let Ok(data) = frame.into_data() else { continue };
        if bytes.len() + data.len() > max {
            return Err(HttpError::BodyTooLarge(max));
        }
        if declared.is_none() {
            budget.charge(&mut share, data.len())?;
        }
        bytes.extend_from_slice(&data);
    }
    Ok(HeldBody { bytes: bytes.freeze(), share })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streamed(chunks: &[&'static [u8]]) -> Body {
        let frames =
            chunks.iter().map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c))).collect::<Vec<_>>();
        Body::from_stream(futures::stream::iter(frames))
    }

    const NO_HURRY: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_body_holds_its_bytes_of_the_budget_until_dropped() {
        let budget = BodyBudget::new(10);
        let held = read_body(Body::from("abcdef"), 100, NO_HURRY, &budget).await.unwrap();
        assert_eq!(&held.bytes[..], b"abcdef");
        assert_eq!(budget.available(), 4);
        let streamed_body = read_body(streamed(&[b"ab", b"cd"]), 100, NO_HURRY, &budget).await.unwrap();
        assert_eq!(budget.available(), 0);
        drop((held, streamed_body));
        assert_eq!(budget.available(), 10);
    }

    #[tokio::test]
    async fn past_the_budget_a_request_is_refused_at_once_and_keeps_nothing() {
        let budget = BodyBudget::new(5);
        let err = read_body(Body::from("abcdef"), 100, NO_HURRY, &budget).await.err().unwrap();
        assert!(matches!(err, HttpError::HostBusy), "{err:?}");
        let err = read_body(streamed(&[b"abc", b"def"]), 100, NO_HURRY, &budget).await.err().unwrap();
        assert!(matches!(err, HttpError::HostBusy), "{err:?}");
        assert_eq!(budget.available(), 5, "what a refused body had taken is given back");
    }

    #[tokio::test]
    async fn the_size_limit_holds_for_declared_and_streamed_bodies() {
        let budget = BodyBudget::new(100);
        let declared = read_body(Body::from("abcdef"), 5, NO_HURRY, &budget).await.err().unwrap();
        assert!(matches!(declared, HttpError::BodyTooLarge(5)), "{declared:?}");
        let streamed = read_body(streamed(&[b"abc", b"def"]), 5, NO_HURRY, &budget).await.err().unwrap();
        assert!(matches!(streamed, HttpError::BodyTooLarge(5)), "{streamed:?}");
        assert_eq!(budget.available(), 100);
    }
}
