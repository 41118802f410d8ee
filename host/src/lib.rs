//! poe-host: serve Poe chat bots compiled as sandboxed WebAssembly components.
//!
//! A request flows `routes` → `auth` → `protocol` (parse, convert) → `attachments` →
//! `runner` (fresh instance from the bot's `InstancePre`) → `output`/`sse` → `stream`.
//! Bots are compiled once by the `loader` and kept in the `registry`.
#![deny(unsafe_code)] // two exceptions, each argued where it is: cache::deserialize, exports::Export::func

pub mod admin; // GET /_admin/bots: operator status view
pub mod admission; // concurrency caps with a short bounded queue, then 503
pub mod attachments; // attachment-message insertion (protocol §6.1)
pub mod auth; // access keys, constant-time check, fastapi_poe's 401 rules
pub mod bindings; // wasmtime bindgen! output for the poe:bot world
pub mod body; // request bodies: size, read time, host-wide byte budget
pub mod cache; // on-disk compiled-bot cache: private, bound to each wasm, evicted when unused
pub mod check; // `poe-host check FILE.wasm`
pub mod cli; // clap flags and their env vars
pub mod connection; // per-connection bounds: cap, idle and write-stall timeouts
pub mod ctx; // the Store's data: WASI ctx, limits, host side of the imports
pub mod engine; // the shared Engine (pooling, epochs) and Linker
pub mod error; // HttpError: status codes and bodies for failed requests
pub mod exports; // the handler's functions, type-checked once per bot
pub mod fairness; // CPU-bound calls take turns on cores - 1 heavy slots
pub mod fault; // Fault: guest failures as values and their error events
pub mod fingerprint; // what a bot's files looked like: size, mtime, inode, ctime
pub mod guest_log; // guest stdout/stderr into the host log, capped
pub mod lane; // the low-priority runtime CPU-bound calls move to
pub mod limits; // time, CPU, memory and output limits
pub mod loader; // compile + validate + pre-link a NAME.wasm
pub mod logtext; // untrusted text cut and escaped for one log line
pub mod output; // emitted parts → SSE events, ordering rules, output caps
pub mod protocol; // request models, parsing, WIT conversion, settings JSON
pub mod registry; // the bots being served, by name
pub mod regular_file; // bots-directory files read safely: regular, non-blocking, bounded
pub mod reload; // watch the bots directory, swap versions in atomically
pub mod routes; // the axum Router: fn app(state)
pub mod runner; // one guest call: instantiate, call, classify faults
pub mod server; // build the host from config and serve until shutdown
pub mod sidecar; // NAME.toml per-bot config
pub mod sse; // the SSE wire format and event JSON
pub mod stream; // the response body: events + keep-alive comments
