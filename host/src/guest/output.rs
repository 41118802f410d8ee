//! [`Output`]: the response side of a query — turns what the guest emits into SSE events
//! on a bounded channel, enforcing the protocol's ordering rules and the output caps.
//!
//! Events wait in a [`Batch`] until the guest's turn ends (see `batch`). The channel is
//! bounded, so a guest that produces faster than the client reads waits in `emit`; once the
//! client has gone, `emit` fails and the guest can stop.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::guest::batch::{Batch, Handover, MAX_BATCH};
use crate::guest::bindings::types::{EmitError, PartialResponse};
use crate::protocol::sse;
use crate::sandbox::limits::Limits;

/// Batches buffered between the guest and the client before `emit` waits.
pub const OUTPUT_BUFFER: usize = 32;

/// Which output cap a response ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputCap {
    /// Too many events.
    Events,
    /// Too many bytes.
    Bytes,
}

/// The sending half of a query's SSE stream.
pub struct Output {
    bot: Arc<str>,
    tx: mpsc::Sender<Bytes>,
    /// Events of the guest's current turn.
    batch: Batch,
    events: u64,
    bytes: u64,
    max_events: u64,
    max_bytes: u64,
    /// Set once a cap was hit; the call is then stopped.
    pub exceeded: Option<OutputCap>,
}

impl Output {
    /// An output for `bot` writing to `tx`, capped by `limits`.
    pub fn new(bot: Arc<str>, tx: mpsc::Sender<Bytes>, limits: &Limits) -> Self {
        Self {
            bot,
            tx,
            batch: Batch::default(),
            events: 0,
            bytes: 0,
            max_events: limits.max_events,
            max_bytes: limits.max_output_bytes,
            exceeded: None,
        }
    }

    /// Send one part the guest emitted. A `meta` after other output is dropped with a
    /// warning, as Poe would ignore it anyway.
    pub async fn emit(&mut self, part: PartialResponse) -> Result<(), EmitError> {
        if self.exceeded.is_some() {
            return Err(EmitError::Closed);
        }
        if matches!(part, PartialResponse::Meta(_)) && self.events > 0 {
            tracing::warn!(bot = %self.bot, "meta after other output dropped: meta must come first");
            return Ok(());
        }
        // Checked before encoding, so an oversized part costs the host no encoding work.
        if self.bytes + raw_len(&part) > self.max_bytes {
            self.events += 1;
            return self.exceed(OutputCap::Bytes);
        }
        // The encoder builds no event over the budget left (escaping can multiply a text
        // sixfold), so the host holds at most the part and one event within the cap.
        let budget = usize::try_from(self.max_bytes - self.bytes).unwrap_or(usize::MAX);
        let event = sse::encode_partial_within(&part, budget).map_err(EmitError::Invalid)?;
        drop(part); // not held while the send below waits for the client
        self.events += 1;
        let Some(event) = event else { return self.exceed(OutputCap::Bytes) };
        self.bytes += event.len() as u64;
        if self.events > self.max_events {
            return self.exceed(OutputCap::Events);
        }
        if self.tx.is_closed() {
            return Err(EmitError::Closed);
        }
        if event.len() >= MAX_BATCH {
            // On its own, uncopied, after what came before it.
            let before = self.batch.take();
            if !before.is_empty() {
                self.send(before.freeze()).await?;
            }
            return self.send(event).await;
        }
        match self.batch.push(&event) {
            Some(full) => self.send(full).await,
            None => Ok(()),
        }
    }

    async fn send(&self, events: Bytes) -> Result<(), EmitError> {
        self.tx.send(events).await.map_err(|_| EmitError::Closed)
    }

    /// What hands this output's events to the client whenever the guest's call yields.
    pub fn handover(&self) -> Handover {
        Handover::new(self.batch.clone(), self.tx.clone())
    }

    fn exceed(&mut self, cap: OutputCap) -> Result<(), EmitError> {
        self.exceeded = Some(cap);
        Err(EmitError::Closed)
    }

    /// Whether the guest produced any event.
    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// End the stream: what the last turn emitted, `error` (if the call failed; it bypasses
    /// the caps), then `done`, in one send. Ignored if the client has gone.
    pub async fn end(self, error: Option<Bytes>) {
        let mut last = self.batch.take();
        if let Some(error) = error {
            last.extend_from_slice(&error);
        }
        last.extend_from_slice(&sse::done_event());
        let _ = self.tx.send(last.freeze()).await;
    }
}

/// The bytes of text in `part`: what the guest sent, which the encoded event only adds to
/// (a `json` part may shrink when re-encoded; it is checked at the size sent).
fn raw_len(part: &PartialResponse) -> u64 {
    let len = match part {
        PartialResponse::Text(s)
        | PartialResponse::ReplaceResponse(s)
        | PartialResponse::SuggestedReply(s)
        | PartialResponse::Data(s)
        | PartialResponse::Json(s) => s.len(),
        PartialResponse::File(f) => {
            f.url.len() + f.content_type.len() + f.name.len() + f.inline_ref.as_ref().map_or(0, String::len)
        }
        PartialResponse::Error(e) => e.text.len() + e.raw_response.as_ref().map_or(0, String::len),
        PartialResponse::Meta(_) => 0,
    };
    len as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(max_bytes: u64) -> (Output, mpsc::Receiver<Bytes>) {
        let (tx, rx) = mpsc::channel(OUTPUT_BUFFER);
        let limits = Limits { max_output_bytes: max_bytes, ..Limits::default() };
        (Output::new("t".into(), tx, &limits), rx)
    }

    #[tokio::test]
    async fn a_part_larger_than_the_byte_budget_is_refused_before_encoding() {
        let (mut out, mut rx) = output(100);
        assert!(matches!(out.emit(PartialResponse::Text("x".repeat(101))).await, Err(EmitError::Closed)));
        assert_eq!(out.exceeded, Some(OutputCap::Bytes));
        assert!(rx.try_recv().is_err(), "nothing was sent");
    }

    #[tokio::test]
    async fn the_byte_budget_counts_encoded_events() {
        let (mut out, _rx) = output(100);
        assert!(out.emit(PartialResponse::Text("x".repeat(40))).await.is_ok());
        assert!(!out.batch.take().is_empty(), "the event waits for the end of the turn");
        // 20 more bytes of text fit the budget left, but not once framed as an event.
        assert!(matches!(out.emit(PartialResponse::Text("x".repeat(20))).await, Err(EmitError::Closed)));
        assert_eq!(out.exceeded, Some(OutputCap::Bytes));
    }

    #[tokio::test]
    async fn the_last_turn_leaves_with_done_in_one_send() {
        let (mut out, mut rx) = output(1000);
        out.emit(PartialResponse::Text("a".into())).await.unwrap();
        out.end(None).await;
        let sent = rx.recv().await.unwrap();
        assert_eq!(
            sent,
            [sse::encode_partial(&PartialResponse::Text("a".into())).unwrap(), sse::done_event()].concat()
        );
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn a_large_event_goes_on_its_own_after_the_batch_before_it() {
        let (mut out, mut rx) = output(1 << 20);
        out.emit(PartialResponse::Text("a".into())).await.unwrap();
        out.emit(PartialResponse::Text("x".repeat(MAX_BATCH))).await.unwrap();
        assert!(rx.recv().await.unwrap().ends_with(b"{\"text\":\"a\"}\r\n\r\n"));
        assert!(rx.recv().await.unwrap().len() > MAX_BATCH);
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn emit_fails_once_the_client_has_gone() {
        let (mut out, rx) = output(1000);
        drop(rx);
        assert!(matches!(out.emit(PartialResponse::Text("a".into())).await, Err(EmitError::Closed)));
    }

    #[tokio::test]
    async fn a_text_that_escapes_past_the_budget_is_refused_and_nothing_is_sent() {
        let (mut out, mut rx) = output(1000);
        // 200 bytes of text, 1,200 once each control character is escaped as \u0001.
        assert!(matches!(out.emit(PartialResponse::Text("\u{1}".repeat(200))).await, Err(EmitError::Closed)));
        assert_eq!(out.exceeded, Some(OutputCap::Bytes));
        assert!(rx.try_recv().is_err(), "nothing was sent");
    }
}
