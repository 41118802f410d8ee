//! [`Output`]: the response side of a query — turns what the guest emits into SSE events
//! on a bounded channel, enforcing the protocol's ordering rules and the output caps.
//!
//! The channel is bounded, so a guest that produces faster than the client reads waits in
//! `emit`; once the client has gone, `emit` fails and the guest can stop.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::guest::bindings::types::{EmitError, PartialResponse};
use crate::protocol::sse;
use crate::sandbox::limits::Limits;

/// Events buffered between the guest and the client before `emit` waits.
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
        self.tx.send(event).await.map_err(|_| EmitError::Closed)
    }

    fn exceed(&mut self, cap: OutputCap) -> Result<(), EmitError> {
        self.exceeded = Some(cap);
        Err(EmitError::Closed)
    }

    /// Whether the guest produced any event.
    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// End the stream: `error` (if the call failed; it bypasses the caps), then `done`.
    /// Ignored if the client has gone.
    pub async fn end(self, error: Option<Bytes>) {
        if let Some(error) = error {
            let _ = self.tx.send(error).await;
        }
        let _ = self.tx.send(sse::done_event()).await;
    }

    /// Resolves once the client has gone.
    pub async fn closed(&self) {
        self.tx.closed().await
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
        let (mut out, mut rx) = output(100);
        assert!(out.emit(PartialResponse::Text("x".repeat(40))).await.is_ok());
        assert!(rx.try_recv().is_ok());
        // 20 more bytes of text fit the budget left, but not once framed as an event.
        assert!(matches!(out.emit(PartialResponse::Text("x".repeat(20))).await, Err(EmitError::Closed)));
        assert_eq!(out.exceeded, Some(OutputCap::Bytes));
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
