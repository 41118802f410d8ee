//! [`Fault`]: how a guest call (or a query, before any guest runs) can fail, and what each
//! failure looks like on the wire.
//!
//! Every fault is a value: the runner classifies wasmtime's error once, logs one line with
//! the specific reason, and ends the stream with the matching `error` event.

use std::fmt;

use wasmtime::Trap;
use wasmtime::component::ResourceTableError;

use crate::guest::bindings::types::ErrorResponse;
use crate::guest::output::OutputCap;
use crate::protocol::sse::UNEXPECTED_ISSUE;

/// The `raw_response` of the error for a query with no messages.
const EMPTY_QUERY: &str = "the query has no messages";
/// Bytes of a bot's returned error kept for the log and the client: enough for any message
/// or traceback, while a bot returning its whole memory costs the host no more than this.
pub const MAX_RETURNED_ERROR: usize = 16 << 10;
/// Addresses this far on either side of 4 GiB are where a shadow stack overflow faults (see
/// [`shadow_stack_overflowed`]): a frame is far smaller, and no memory reaches them.
const STACK_WRAP_WINDOW: u64 = 16 << 20;
/// The end of a 32-bit linear memory's address space.
const ADDRESS_SPACE_END: u64 = 1 << 32;

/// Why a guest call (or a query) did not complete normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The guest returned an error from `get-response`.
    Returned(String),
    /// The guest gave up after Poe refused a cost (fastapi_poe's `InsufficientFundError`).
    InsufficientFunds,
    /// The guest trapped (panic, unreachable, bad memory access, …).
    Trap(String),
    /// The guest overflowed its stack: wasm's native stack, or (a Rust guest) its shadow
    /// stack in linear memory.
    StackOverflow,
    /// The guest tried to grow memory past its cap.
    OutOfMemory,
    /// The guest used up its CPU budget.
    CpuBudget,
    /// The call ran past its wall-clock deadline.
    Timeout,
    /// The guest produced more output than allowed.
    Output(OutputCap),
    /// The guest held more host-side resources (streams, pollables) than a call may.
    Resources,
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
            Some(Trap::MemoryOutOfBounds) if shadow_stack_overflowed(error) => Fault::StackOverflow,
            Some(trap) => Fault::Trap(trap.to_string()),
            None if matches!(error.downcast_ref(), Some(ResourceTableError::Full)) => Fault::Resources,
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
            Fault::InsufficientFunds => {
                let error_type = Some(crate::guest::bindings::types::ErrorType::InsufficientFund);
                return ErrorResponse {
                    text: String::new(),
                    allow_retry: true,
                    error_type,
                    raw_response: None,
                };
            }
            Fault::EmptyQuery => (false, Some(EMPTY_QUERY.into())),
            _ => (false, None),
        };
        ErrorResponse { text: UNEXPECTED_ISSUE.into(), allow_retry, error_type: None, raw_response }
    }
}

/// Whether a memory fault lies within [`STACK_WRAP_WINDOW`] of 4 GiB, where a guest's
/// shadow stack lands when it overflows. A Rust guest's stack sits at the bottom of linear
/// memory and grows down, so a stack pointer run below 0 wraps to just under 4 GiB (and a
/// frame's offsets can take an access just past it), which no memory of at most 4 GiB minus
/// the window reaches. A guest that computes such an address on purpose is reported as
/// overflowing its stack too. wasmtime gives the address only in its message (its
/// `WasmFault` type is private): "memory fault at wasm address 0x… in linear memory of …".
fn shadow_stack_overflowed(error: &wasmtime::Error) -> bool {
    let near_the_end = ADDRESS_SPACE_END - STACK_WRAP_WINDOW..ADDRESS_SPACE_END + STACK_WRAP_WINDOW;
    error.chain().filter_map(|cause| fault_address(&cause.to_string())).any(|a| near_the_end.contains(&a))
}

/// The address in wasmtime's "memory fault at wasm address 0x…" message.
fn fault_address(message: &str) -> Option<u64> {
    let hex = message.strip_prefix("memory fault at wasm address 0x")?;
    let end = hex.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(hex.len());
    u64::from_str_radix(&hex[..end], 16).ok()
}

/// `text` with every run of whitespace (newlines included) folded to one space.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Returned(message) => write!(f, "bot returned an error: {message}"),
            Fault::InsufficientFunds => f.write_str("bot stopped: Poe refused a cost (insufficient funds)"),
            Fault::Trap(trap) => write!(f, "bot trapped: {trap}"),
            Fault::StackOverflow => f.write_str("bot overflowed its stack"),
            Fault::OutOfMemory => f.write_str("bot exceeded its memory limit"),
            Fault::CpuBudget => f.write_str("bot exceeded its CPU budget"),
            Fault::Timeout => f.write_str("bot exceeded its time limit"),
            Fault::Output(OutputCap::Events) => f.write_str("bot exceeded its event limit"),
            Fault::Output(OutputCap::Bytes) => f.write_str("bot exceeded its output size limit"),
            Fault::Resources => f.write_str("bot exceeded its host resource limit"),
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

    /// How wasmtime reports a guest's memory fault: the trap, with the address as context.
    fn memory_fault(address: u64) -> wasmtime::Error {
        let fault = format!("memory fault at wasm address 0x{address:x} in linear memory of size 0x2000000");
        wasmtime::Error::from(Trap::MemoryOutOfBounds).context(fault)
    }

    #[test]
    fn a_fault_where_a_wrapped_shadow_stack_lands_is_a_stack_overflow() {
        let classify = |e: &wasmtime::Error| Fault::from_call_error(e, false, None);
        assert_eq!(classify(&memory_fault(0x1_0000_0110)), Fault::StackOverflow, "the `recurse` fixture's");
        assert_eq!(classify(&memory_fault(0xffff_fe7c)), Fault::StackOverflow, "just below 4 GiB");
        let wild = Fault::Trap("wasm trap: out of bounds memory access".into());
        assert_eq!(classify(&memory_fault(0x0300_0000)), wild, "just past the end of memory");
        assert_eq!(classify(&wasmtime::Error::from(Trap::MemoryOutOfBounds)), wild, "no address known");
    }
}
