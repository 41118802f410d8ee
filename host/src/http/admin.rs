//! The operator's status view, `GET /_admin/bots`: every bot file with its hash, load time
//! and last error, plus calls in flight, open connections, free body budget and cache
//! counters. Off unless `POE_HOST_ADMIN_KEY` is set; never shows
//! access keys. Bot names cannot start with `_`, so `/_admin` never collides with a bot.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;

use crate::bots::registry::BotStatus;
use crate::http::auth::authorize;
use crate::http::error::HttpError;
use crate::http::state::AppState;

#[derive(Serialize)]
struct BotView {
    name: String,
    path: String,
    serving: bool,
    hash: Option<String>,
    loaded_at: Option<String>,
    load_ms: Option<f64>,
    keyless: Option<bool>,
    in_flight: Option<usize>,
    last_error: Option<String>,
    last_error_at: Option<String>,
}

#[derive(Serialize)]
struct CacheView {
    hits: u64,
    compiles: u64,
    rejected: u64,
    evicted: u64,
}

/// The JSON status body.
#[derive(Serialize)]
pub struct AdminView {
    in_flight: usize,
    connections: usize,
    body_bytes_free: usize,
    bots: Vec<BotView>,
    cache: CacheView,
}

/// `GET /_admin/bots`.
pub async fn bots(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<AdminView>, HttpError> {
    let key = state.admin_key.as_ref().ok_or(HttpError::NotFound)?;
    authorize(&headers, Some(key))?;
    let stats = &state.loader.cache().stats;
    Ok(Json(AdminView {
        in_flight: state.gate.in_use(),
        connections: state.connections.open(),
        body_bytes_free: state.bodies.available(),
        bots: state.registry.statuses().iter().map(view).collect(),
        cache: CacheView {
            hits: stats.hits.load(Ordering::Relaxed),
            compiles: stats.compiles.load(Ordering::Relaxed),
            rejected: stats.rejected.load(Ordering::Relaxed),
            evicted: stats.evicted.load(Ordering::Relaxed),
        },
    }))
}

fn view(s: &BotStatus) -> BotView {
    let bot = s.bot.as_deref();
    BotView {
        name: s.name.clone(),
        path: s.path.display().to_string(),
        serving: bot.is_some(),
        hash: bot.map(|b| b.hash.clone()),
        loaded_at: bot.map(|b| rfc3339(b.loaded_at)),
        load_ms: bot.map(|b| (b.compile_time.as_secs_f64() * 1e4).round() / 10.0),
        keyless: bot.map(|b| b.config.access_key.is_none()),
        in_flight: bot.map(|b| b.gate.in_use()),
        last_error: s.last_error.as_ref().map(|(e, _)| e.clone()),
        last_error_at: s.last_error.as_ref().map(|(_, t)| rfc3339(*t)),
    }
}

fn rfc3339(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
