//! [`AppState`]: what every request handler shares — the bots, the loader, and the
//! host-wide bounds. Its own module so `routes` and `admin` both use it without a circle.

use std::sync::Arc;
use std::time::Duration;

use crate::bots::registry::BotRegistry;
use crate::guest::loader::BotLoader;
use crate::http::auth::AccessKey;
use crate::http::body::BodyBudget;
use crate::http::connection::ConnectionCap;
use crate::sandbox::admission::Gate;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The bots being served.
    pub registry: Arc<BotRegistry>,
    /// Compiles bots (and counts cache use, for the admin view).
    pub loader: BotLoader,
    /// Request body size limit, in bytes.
    pub max_body: usize,
    /// How long reading a request body may take (`serve` bounds header reads by it too).
    pub read_timeout: Duration,
    /// Key for `/_admin/*`; `None` turns the admin view off.
    pub admin_key: Option<AccessKey>,
    /// Admission for all calls together (sized to the instance pool).
    pub gate: Arc<Gate>,
    /// Request body bytes all requests together may hold.
    pub bodies: Arc<BodyBudget>,
    /// The open-connection cap and each connection's limits (`serve` applies them).
    pub connections: Arc<ConnectionCap>,
}
