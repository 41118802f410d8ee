//! The wasm runtime: the shared engine and linker, loading a bot into a pre-linked
//! template, the Store's data, one call from instantiation to its faults, and the output
//! side that turns emitted parts into SSE events.

pub mod batch; // a turn's events handed to the client together when the guest yields
pub mod bindings; // wasmtime bindgen! output for the poe:bot world
pub mod ctx; // the Store's data: WASI ctx, limits, host side of the imports
pub mod engine; // the shared Engine (pooling, epochs) and Linker
pub mod exports; // the handler's functions, type-checked once per bot
pub mod fault; // Fault: guest failures as values and their error events
pub mod guest_log; // guest stdout/stderr into the host log, capped
pub mod loader; // compile + validate + pre-link a NAME.wasm
pub mod output; // emitted parts → SSE events, ordering rules, output caps
pub mod runner; // one guest call: instantiate, call, classify faults
