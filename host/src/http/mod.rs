//! The HTTP surface: the axum router and its handlers, access keys, request bodies,
//! per-connection bounds, the response stream and the admin view.

pub mod admin; // GET /_admin/bots: operator status view
pub mod auth; // access keys, constant-time check, fastapi_poe's 401 rules
pub mod body; // request bodies: size, read time, host-wide byte budget
pub mod connection; // per-connection bounds: cap, idle and write-stall timeouts
pub mod error; // HttpError: status codes and bodies for failed requests
pub mod routes; // the axum Router: fn app(state)
pub mod server; // build the host from config and serve until shutdown
pub mod state; // AppState: what every handler shares
pub mod stream; // the response body: events + keep-alive comments
