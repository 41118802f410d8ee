//! [`GuestLog`]: what a guest writes to the host log — stdout, stderr and the `logging`
//! import — as escaped lines in the call's `request` span, within one budget per call.
//!
//! The budget counts what the log receives, not what the guest sent: each line is charged
//! its escaped text plus [`LINE_PREFIX_COST`] for the formatter's prefix, and a call logs at
//! most [`MAX_LINES`] lines, so however a guest splits its output, one call costs the log at
//! most its byte budget, plus one warning line when that runs out.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use tracing::{Level, Span};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use crate::logtext::escape_line;

/// Log bytes charged for each line beyond its message. The plain-text prefix (timestamp,
/// level, `request{bot=… id=…}` span, target) and the `bot` field come to 76 bytes plus
/// twice the bot's name (at most 64 bytes) and the request id (at most 20 digits): 224 at
/// most, rounded up here, so the charge is never below a line's real cost.
pub const LINE_PREFIX_COST: usize = 256;
/// Lines one call may log, however short they are.
pub const MAX_LINES: usize = 256;
/// Longest message logged, escaped; longer ones are cut and marked `…`.
const MAX_LINE: usize = 4096;
/// Bytes the mark `…` adds to a message cut to fit.
const CUT_MARK_BYTES: usize = '…'.len_utf8();

/// A writer that logs each line the guest prints, within the call's log budget.
#[derive(Clone)]
pub struct GuestLog {
    inner: Arc<Mutex<LineBuffer>>,
}

struct LineBuffer {
    bot: Arc<str>,
    /// The call's `request` span (bot and request id), entered for every line: stdout is
    /// written from wasmtime-wasi's own task, outside it.
    span: Span,
    /// The line being written, cut at one byte past [`MAX_LINE`] so a cut can be marked.
    pending: Vec<u8>,
    max_bytes: usize,
    bytes_left: usize,
    lines_left: usize,
    spent: bool,
}

impl GuestLog {
    /// A log for `bot` that writes at most `max_bytes` (prefixes included) and
    /// [`MAX_LINES`] lines per call, each inside `span`, the call's `request` span.
    pub fn new(bot: Arc<str>, max_bytes: usize, span: Span) -> Self {
        let buffer = LineBuffer {
            bot,
            span,
            pending: Vec::new(),
            max_bytes,
            bytes_left: max_bytes,
            lines_left: MAX_LINES,
            spent: false,
        };
        Self { inner: Arc::new(Mutex::new(buffer)) }
    }

    /// Log a message from the `logging` import at `level`: one escaped line, cut to fit,
    /// on the same budget as stdout/stderr.
    pub fn message(&self, level: Level, text: &str) {
        self.lock().log(level, text);
    }

    fn lock(&self) -> MutexGuard<'_, LineBuffer> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl LineBuffer {
    fn write(&mut self, buf: &[u8]) {
        if self.spent {
            return;
        }
        for chunk in buf.split_inclusive(|&b| b == b'\n') {
            let (text, complete) = match chunk.strip_suffix(b"\n") {
                Some(text) => (text, true),
                None => (chunk, false),
            };
            let room = (MAX_LINE + 1).saturating_sub(self.pending.len());
            self.pending.extend_from_slice(&text[..text.len().min(room)]);
            if complete {
                self.flush_line();
            }
        }
    }

    fn flush_line(&mut self) {
        let mut raw = std::mem::take(&mut self.pending);
        let text = String::from_utf8_lossy(&raw);
        // A CRLF ending loses its CR; any other CR is escaped like every control character.
        self.log(Level::INFO, text.strip_suffix('\r').unwrap_or(&text));
        raw.clear();
        self.pending = raw;
    }

    /// Log `text` as one escaped line, cut to the budget left; blank text is not logged.
    fn log(&mut self, level: Level, text: &str) {
        if self.spent || text.trim().is_empty() {
            return;
        }
        let room = self.room();
        if room == 0 {
            return self.spend();
        }
        let line = escape_line(text, room.min(MAX_LINE));
        self.bytes_left -= LINE_PREFIX_COST + line.len();
        self.lines_left -= 1;
        emit(&self.span, level, &self.bot, &line);
        if self.room() == 0 {
            self.spend();
        }
    }

    /// Bytes of message the next line may have (0: no room for another line).
    fn room(&self) -> usize {
        match self.lines_left {
            0 => 0,
            _ => self.bytes_left.saturating_sub(LINE_PREFIX_COST + CUT_MARK_BYTES),
        }
    }

    /// Mark the budget spent, saying so once.
    fn spend(&mut self) {
        self.spent = true;
        let _in_request = self.span.enter();
        tracing::warn!(
            bot = %self.bot,
            "guest output reached its log budget ({} bytes or {MAX_LINES} lines per call); the rest is dropped",
            self.max_bytes
        );
    }
}

/// One guest line in the host log, inside the call's `span`.
fn emit(span: &Span, level: Level, bot: &str, line: &str) {
    let _in_request = span.enter();
    match level {
        Level::TRACE => tracing::trace!(target: "poe_host::guest", bot = %bot, "{line}"),
        Level::DEBUG => tracing::debug!(target: "poe_host::guest", bot = %bot, "{line}"),
        Level::INFO => tracing::info!(target: "poe_host::guest", bot = %bot, "{line}"),
        Level::WARN => tracing::warn!(target: "poe_host::guest", bot = %bot, "{line}"),
        Level::ERROR => tracing::error!(target: "poe_host::guest", bot = %bot, "{line}"),
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
        self.lock().write(buf);
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
    use std::io::Write;

    use super::*;
    use crate::sandbox::limits::DEFAULT_MAX_LOG_BYTES;

    /// What a plain-text subscriber, formatted as `main` sets it up (with timestamps or
    /// without), wrote while `f` ran.
    fn captured(timestamps: bool, f: impl FnOnce()) -> String {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let buffer = buffer.clone();
            move || Capture(buffer.clone())
        };
        let fmt = tracing_subscriber::fmt().with_ansi(false).with_max_level(Level::TRACE).with_writer(writer);
        if timestamps {
            tracing::subscriber::with_default(fmt.finish(), f);
        } else {
            tracing::subscriber::with_default(fmt.without_time().finish(), f);
        }
        String::from_utf8(buffer.lock().unwrap().clone()).unwrap()
    }

    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn guest_log(bot: &str, id: u64, max_bytes: usize) -> GuestLog {
        GuestLog::new(bot.into(), max_bytes, tracing::info_span!("request", bot = %bot, id))
    }

    #[test]
    fn a_carriage_return_cannot_forge_a_line_and_stdout_lines_carry_the_request_id() {
        let log = captured(false, || {
            let guest = guest_log("echo", 7, DEFAULT_MAX_LOG_BYTES);
            guest.lock().write(b"x\rFORGED  INFO poe_host::bots::reload: removed bot=echo\r\n");
            guest.message(Level::WARN, "y\r\u{1b}[2KFORGED\nz");
            guest.lock().write(b"no newline at the end\x07");
        });
        assert_eq!(
            log,
            " INFO request{bot=echo id=7}: poe_host::guest: x\\rFORGED  INFO poe_host::bots::reload: removed bot=echo bot=echo\n \
             WARN request{bot=echo id=7}: poe_host::guest: y\\r\\u{1b}[2KFORGED\\nz bot=echo\n \
             INFO request{bot=echo id=7}: poe_host::guest: no newline at the end\\u{7} bot=echo\n"
        );
    }

    /// The floods, measured with the longest bot name and request id: 40,000
    /// two-byte stdout lines (2.1 MB and 32,781 lines before) and 70,000 one-character
    /// `log` calls (6.2 MB and 65,551 lines before).
    #[test]
    fn a_flood_of_tiny_lines_costs_the_log_no_more_than_its_budget_prefixes_included() {
        let bot = "b".repeat(64);
        let stdout = captured(true, || {
            let guest = guest_log(&bot, u64::MAX, DEFAULT_MAX_LOG_BYTES);
            (0..40_000).for_each(|_| guest.lock().write(b"x\n"));
        });
        let messages = captured(true, || {
            let guest = guest_log(&bot, u64::MAX, DEFAULT_MAX_LOG_BYTES);
            (0..70_000).for_each(|_| guest.message(Level::INFO, "x"));
        });
        for log in [stdout, messages] {
            let (guest, host): (Vec<&str>, Vec<&str>) =
                log.split_inclusive('\n').partition(|l| l.contains(" poe_host::guest: "));
            let guest_bytes: usize = guest.iter().map(|l| l.len()).sum();
            println!("{} guest lines, {guest_bytes} bytes; then {host:?}", guest.len());
            assert!(guest.len() <= MAX_LINES, "{} lines", guest.len());
            assert!(guest_bytes <= DEFAULT_MAX_LOG_BYTES, "{guest_bytes} bytes");
            assert!(
                guest.iter().all(|l| l.len() <= LINE_PREFIX_COST + 1),
                "a prefix costs more: {}",
                guest[0]
            );
            assert_eq!(host.len(), 1, "one warning when the budget runs out");
            assert!(host[0].contains("WARN") && host[0].contains("reached its log budget"), "{}", host[0]);
            assert!(host[0].len() < 350, "the warning is {} bytes", host[0].len());
        }
    }

    #[test]
    fn stdout_and_log_messages_share_one_budget_and_the_line_that_exhausts_it_is_cut() {
        let log = captured(false, || {
            let guest = guest_log("t", 1, 2 * LINE_PREFIX_COST + 10);
            guest.lock().write(b"0123456789\n"); // leaves 256 + 0 bytes
            guest.message(Level::INFO, "one more");
        });
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 2, "{log}");
        assert!(lines[0].ends_with("poe_host::guest: 0123456789 bot=t"), "{log}");
        assert!(lines[1].contains("reached its log budget"), "{log}");

        let log = captured(false, || {
            let guest = guest_log("t", 1, LINE_PREFIX_COST + 10);
            guest.message(Level::INFO, "aéééé"); // room for 7 of its 9 bytes: cut at a character
            guest.message(Level::INFO, "dropped");
        });
        assert!(log.lines().next().unwrap().ends_with("poe_host::guest: aééé… bot=t"), "{log}");
        assert_eq!(log.lines().count(), 2, "{log}");
    }
}
