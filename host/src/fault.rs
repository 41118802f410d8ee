//! [`Fault`]: how a guest call (or a query, before any guest runs) can fail, and what each
//! failure looks like on the wire.
//!
//! Every fault is a value: the runner classifies wasmtime's error once, logs one line with
//! the specific reason, and ends the stream with the matching `error` event.

use std::fmt;

use wasmtime::Trap;

use crate::bindings::types::ErrorResponse;
use crate::output::OutputCap;
use crate::sse::UNEXPECTED_ISSUE;

/// The `raw_response` of the error for a query with no messages.
const EMPTY_QUERY: &str = "the query has no messages";
/// Bytes of a bot's returned error kept for the log and the client: enough for any message
/// or traceback, while a bot returning its whole memory costs the host no more than this.
pub const MAX_RETURNED_ERROR: usize = 16 << 10;

/// Why a guest call (or a query) did not complete normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The guest returned an error from `get-response`.
    Returned(String),
    /// The guest trapped (panic, unreachable, bad memory access, …).
    Trap(String),
    /// The guest overflowed its stack.
    StackOverflow,
    /// The guest tried to grow memory past its cap.
    OutOfMemory,
    /// The guest used up its CPU budget.
    CpuBudget,
    /// The call ran past its wall-clock deadline.
    Timeout,
    /// The guest produced more output than allowed.
    Output(OutputCap),
    /// No instance could be created (the pool is full, or instantiation failed).
    Instantiate(String),
    /// The query had no messages, so no guest was called. fastapi_poe fails it inside the
    /// stream, like a bot error, rather than with an HTTP status.
    EmptyQuery,
}

impl Fault {
    /// The error a bot returned, cut to [`MAX_RETURNED_ERROR`] bytes (at a character
    /// boundary, marked with `…`).
    pub fn returned(mut message: String) -> Self {
        if message.len() > MAX_RETURNED_ERROR {
            message.truncate(message.floor_char_boundary(MAX_RETURNED_ERROR));
            message.shrink_to_fit();
            message.push('…');
        }
        Fault::Returned(message)
    }

    /// Classify an error from a guest call. `cpu_exhausted` and `output_cap` come from
    /// the store, which knows why it interrupted the guest.
    pub fn from_call_error(
        error: &wasmtime::Error,
        cpu_exhausted: bool,
        output_cap: Option<OutputCap>,
    ) -> Self {
        if let Some(cap) = output_cap {
            return Fault::Output(cap);
        }
        // The full chain carries a multi-line wasm backtrace: keep it for debug logs only.
        tracing::debug!("guest call failed: {error:?}");
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) if cpu_exhausted => Fault::CpuBudget,
            Some(Trap::StackOverflow) => Fault::StackOverflow,
            Some(trap) => Fault::Trap(trap.to_string()),
            None if format!("{error:#}").contains("forcing trap when growing memory") => Fault::OutOfMemory,
            None => Fault::Trap(one_line(&error.root_cause().to_string())),
        }
    }

    /// The `error` event the client gets. Faults caused by load rather than by the bot
    /// allow a retry; everything the bot did itself does not (fastapi_poe's behaviour).
    pub fn error_response(&self) -> ErrorResponse {
        let (allow_retry, raw_response) = match self {
            Fault::Returned(message) => (false, Some(message.clone())),
            Fault::Instantiate(_) => (true, None),
            Fault::EmptyQuery => (false, Some(EMPTY_QUERY.into())),
            _ => (false, None),
        };
        ErrorResponse { text: UNEXPECTED_ISSUE.into(), allow_retry, error_type: None, raw_response }
    }
}

/// `text` with every run of whitespace (newlines included) folded to one space.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Returned(message) => write!(f, "bot returned an error: {message}"),
            Fault::Trap(trap) => write!(f, "bot trapped: {trap}"),
            Fault::StackOverflow => f.write_str("bot overflowed its stack"),
            Fault::OutOfMemory => f.write_str("bot exceeded its memory limit"),
            Fault::CpuBudget => f.write_str("bot exceeded its CPU budget"),
            Fault::Timeout => f.write_str("bot exceeded its time limit"),
            Fault::Output(OutputCap::Events) => f.write_str("bot exceeded its event limit"),
            Fault::Output(OutputCap::Bytes) => f.write_str("bot exceeded its output size limit"),
            Fault::Instantiate(why) => write!(f, "could not instantiate the bot: {why}"),
            Fault::EmptyQuery => f.write_str(EMPTY_QUERY),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_returned_error_is_cut_at_a_character_boundary() {
        let short = Fault::returned("bad input".into());
        assert_eq!(short, Fault::Returned("bad input".into()));
        let Fault::Returned(cut) = Fault::returned("é".repeat(MAX_RETURNED_ERROR)) else { unreachable!() };
        assert!(cut.len() <= MAX_RETURNED_ERROR + '…'.len_utf8(), "{}", cut.len());
        assert!(cut.ends_with("é…"), "cut between characters, then marked");
    }
}
