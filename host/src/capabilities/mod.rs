//! Host interfaces a bot may import beyond answering: one module per WIT interface, each
//! with its `Host` impl, its sidecar keys and limits, and its tests. A capability does not
//! reach into the guest runtime: it defines its per-call state and a view trait for it,
//! which the Store's data implements (as wasmtime-wasi's `WasiView` does).

pub mod bot_query; // poe:bot/bot-query: calling other Poe bots with the bot's own key
pub mod outbound;
pub mod platform; // poe:bot/attachments and poe:bot/cost: Poe's upload and cost APIs, with the bot's key // wasi:http/outgoing-handler: HTTP to the destinations a sidecar grants
