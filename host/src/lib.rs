//! poe-host: serve Poe chat bots compiled as sandboxed WebAssembly components.
//!
//! A request flows `http` (routes, auth, body) → `protocol` (parse, convert, attachments) →
//! `guest` (a fresh instance from the bot's `InstancePre`, its output as SSE) → back to
//! `http` as the response stream. `sandbox` bounds every call, `bots` keeps the loaded bots
//! and swaps in new versions, and `capabilities` holds one module per host interface a bot
//! may import beyond its answer (calling other bots). Arrows run one way: `http` → `guest`
//! → `capabilities` / `sandbox` → `protocol`.
#![deny(unsafe_code)] // two exceptions, each argued where it is: bots::cache::artifact::deserialize, guest::exports::Export::func

pub mod bots; // the bots directory: files, sidecars, compile cache, registry, reload
pub mod build; // `poe-host build SRC`: a Python file or Rust crate into NAME.wasm
pub mod capabilities; // host interfaces a bot may import, one module each
pub mod check; // `poe-host check FILE.wasm`
pub mod cli; // clap flags and their env vars
pub mod guest; // the wasm runtime: engine, loading, the Store's data, calls, output
pub mod http; // the HTTP surface: server, routes, auth, bodies, connections, admin
pub mod logtext; // untrusted text cut and escaped for one log line
pub mod protocol; // Poe's wire formats: request models, WIT conversion, SSE, settings, attachments
pub mod sandbox; // what bounds a call: limits, admission, CPU fairness, the background lane
pub mod sync_settings; // `poe-host sync-settings NAME`, and a sidecar's `sync_settings = true`
