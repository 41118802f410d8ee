//! [`Output`]: the response side of a query — turns what the guest emits into SSE events
//! on a bounded channel, enforcing the protocol's ordering rules and the output caps.
//!
//! The channel is bounded, so a guest that produces faster than the client reads waits in
//! `emit`; once the client has gone, `emit` fails and the guest can stop.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::bindings::types::{EmitError, PartialResponse};
use crate::limits::Limits;
use crate::sse;

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
        let event = sse::encode_partial(&part).map_err(EmitError::Invalid)?;
        self.events += 1;
        self.bytes += event.len() as u64;
        if self.events > self.max_events {
            return self.exceed(OutputCap::Events);
        }
        if self.bytes > self.max_bytes {
            return self.exceed(OutputCap::Bytes);
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

    /// Send a final event (an error), bypassing the caps; ignored if the client has gone.
    pub async fn send_final(&self, event: Bytes) {
        let _ = self.tx.send(event).await;
    }

    /// End the stream with `done`.
    pub async fn finish(self) {
        let _ = self.tx.send(sse::done_event()).await;
    }

    /// Resolves once the client has gone.
    pub async fn closed(&self) {
        self.tx.closed().await
    }
}
