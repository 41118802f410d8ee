//! poe-host integration tests: one binary (wasmtime links once), one module per area.
//!
//! Every test starts a real host on `127.0.0.1:0` serving guest bots built by `build.rs`.

mod attachments;
mod bot_query;
mod check;
mod component_build;
mod conformance;
mod edges;
mod harness;
mod interop;
mod old_bots;
mod outbound;
mod platform;
mod python;
mod raw_http;
mod reload;
mod sandbox;
mod showcase;
