//! [`GuestLog`]: a guest's stdout/stderr, turned into host log lines tagged with the bot name.
//!
//! Output is split into lines and capped per call, so a chatty or hostile guest cannot
//! flood the log. Messages from the `logging` import draw on the same budget.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Longest line logged; longer lines are cut.
const MAX_LINE: usize = 4096;

/// A writer that logs each line the guest prints, up to a byte budget per call.
#[derive(Clone)]
pub struct GuestLog {
    inner: Arc<Mutex<LineBuffer>>,
}

struct LineBuffer {
    bot: Arc<str>,
    pending: Vec<u8>,
    remaining: usize,
    truncated: bool,
}

impl GuestLog {
    /// A log for `bot` that keeps at most `max_bytes` of output per call.
    pub fn new(bot: Arc<str>, max_bytes: usize) -> Self {
        let buffer = LineBuffer { bot, pending: Vec::new(), remaining: max_bytes, truncated: false };
        Self { inner: Arc::new(Mutex::new(buffer)) }
    }

    /// A message from the `logging` import, charged to the same budget as stdout/stderr:
    /// cut to the budget left and to one line's length, with line breaks escaped so that it
    /// cannot pass for other log lines. `None` once the budget is spent.
    pub fn message(&self, text: &str) -> Option<String> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let text = &text[..text.floor_char_boundary(inner.charge(text.len()).min(MAX_LINE))];
        (!text.is_empty()).then(|| text.replace('\n', "\\n").replace('\r', "\\r"))
    }
}

impl LineBuffer {
    /// Take up to `len` bytes from the budget; returns how many were granted.
    fn charge(&mut self, len: usize) -> usize {
        if len > self.remaining && !self.truncated {
            self.truncated = true;
            tracing::warn!(bot = %self.bot, "guest output over its log budget; the rest is dropped");
        }
        let granted = len.min(self.remaining);
        self.remaining -= granted;
        granted
    }

    fn write(&mut self, buf: &[u8]) {
        let buf = &buf[..self.charge(buf.len())];
        for chunk in buf.split_inclusive(|&b| b == b'\n') {
            if chunk.ends_with(b"\n") {
                self.pending.extend_from_slice(&chunk[..chunk.len() - 1]);
                self.flush_line();
            } else if self.pending.len() < MAX_LINE {
                let room = MAX_LINE - self.pending.len();
                self.pending.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
        }
    }

    fn flush_line(&mut self) {
        let line = String::from_utf8_lossy(&self.pending);
        let line = line.trim_end_matches('\r');
        if !line.trim().is_empty() {
            tracing::info!(target: "poe_host::guest", bot = %self.bot, "{line}");
        }
        self.pending.clear();
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            self.flush_line();
        }
    }
}

impl AsyncWrite for GuestLog {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if let Ok(mut inner) = self.inner.lock() {
            inner.write(buf);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_messages_share_the_output_budget_and_cannot_forge_lines() {
        let log = GuestLog::new("t".into(), 40);
        assert_eq!(log.message("one\nINFO poe_host: forged").as_deref(), Some("one\\nINFO poe_host: forged"));
        log.inner.lock().unwrap().write(b"0123456789\n"); // stdout: 25 + 11 of 40 bytes used
        assert_eq!(log.message("aéé").as_deref(), Some("aé"), "4 bytes left, cut between characters");
        assert_eq!(log.message("more"), None, "the budget is spent");
    }
}
