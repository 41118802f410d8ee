//! Building a running host from its configuration, and serving it until shutdown.
//!
//! `main` and the integration tests both go through [`build_state`] and [`serve`], so the
//! tests exercise exactly what the binary runs.
//!
//! [`serve`] is hyper-util's connection builder and graceful shutdown rather than
//! `axum::serve`, which sets no timer: with it, a client that never finished its request
//! headers held its connection for ever. Each connection also lives within
//! [`ConnectionLimits`] (see `connection`): a host-wide cap, an idle timeout that runs
//! whatever the client sends, and a write timeout.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::serve::{Listener, ListenerExt};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket};

use crate::bots::cache::ArtifactCache;
use crate::bots::registry::BotRegistry;
use crate::bots::reload::Reloader;
use crate::bots::sidecar::HostDefaults;
use crate::guest::engine::{EngineOptions, new_engine, new_linker, spawn_epoch_ticker};
use crate::guest::loader::BotLoader;
use crate::http::auth::AccessKey;
use crate::http::body::BodyBudget;
use crate::http::connection::{
    Activity, ConnectionCap, ConnectionLimits, Expiry, InFlight, REFUSAL, Watched,
};
use crate::http::routes::app;
use crate::http::state::AppState;
use crate::sandbox::admission::Gate;

/// How long in-flight responses may run on after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Connections the kernel may hold for the host before it accepts them (capped by
/// `net.core.somaxconn`). Tokio's `TcpListener::bind` asks for 128, as std does; with 1,000
/// clients connecting at once the kernel's listen-overflow counter rose, and a client whose
/// handshake is dropped only retries after a second.
pub const LISTEN_BACKLOG: u32 = 8192;

/// Bind `addr` for serving, with [`LISTEN_BACKLOG`].
pub fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() };
    let socket = socket.with_context(|| format!("cannot create a socket for {addr}"))?;
    socket.set_reuseaddr(true).context("cannot set SO_REUSEADDR")?;
    socket.bind(addr).with_context(|| format!("cannot bind {addr}"))?;
    socket.listen(LISTEN_BACKLOG).with_context(|| format!("cannot listen on {addr}"))
}

/// Everything needed to start a host.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Directory of `NAME.wasm` (+ optional `NAME.toml`) files.
    pub bots_dir: PathBuf,
    /// Keys and limits every bot starts from.
    pub defaults: HostDefaults,
    /// Engine sizing and cache.
    pub engine: EngineOptions,
    /// Request body size limit.
    pub max_body: usize,
    /// How long a client may take to send a request's headers (the connection is closed
    /// beyond it), and again its body (408 beyond it).
    pub read_timeout: Duration,
    /// Largest bot file loaded (checked before it is read).
    pub max_bot_bytes: u64,
    /// Watch the bots directory and reload changes.
    pub watch: bool,
    /// Key for the admin view; `None` turns it off.
    pub admin_key: Option<AccessKey>,
    /// Niceness of the background lane's threads (see `lane`).
    pub lane_niceness: i32,
    /// Open connections, idle and write timeouts.
    pub connections: ConnectionLimits,
    /// Request body bytes the host holds at once, all requests together.
    pub body_bytes_in_flight: usize,
}

/// Build the engine, load every bot in the bots directory, start watching it (if asked),
/// and return the handler state.
pub async fn build_state(config: &HostConfig) -> anyhow::Result<AppState> {
    let engine = new_engine(&config.engine)?;
    spawn_epoch_ticker(&engine);
    crate::sandbox::lane::start(config.lane_niceness);
    let linker = new_linker(&engine)?;
    let cache = ArtifactCache::new(&engine, config.engine.cache_dir.clone(), config.engine.cache_max_bytes)?;
    let loader = BotLoader::new(engine, linker, config.defaults.clone(), cache)
        .with_max_file_bytes(config.max_bot_bytes);
    let registry = Arc::new(BotRegistry::default());
    let dir = &config.bots_dir;
    let mut reloader = Reloader::new(dir.clone(), loader.clone(), registry.clone());
    reloader
        .reconcile(false)
        .await
        .with_context(|| format!("cannot read bots directory {}", dir.display()))?;
    if registry.names().is_empty() {
        tracing::warn!(dir = %dir.display(), "no bots loaded yet: put NAME.wasm files in the bots directory");
    }
    loader.cache().evict(wasm_hashes_served(&registry)).await;
    if config.watch {
        reloader.spawn();
        let (loader, registry) = (loader.clone(), registry.clone());
        tokio::spawn(
            async move { loader.cache().evict_after_writes(|| wasm_hashes_served(&registry)).await },
        );
    }
    let gate = Arc::new(Gate::new(config.engine.pool_size as usize, config.defaults.queue));
    Ok(AppState {
        registry,
        loader,
        max_body: config.max_body,
        read_timeout: config.read_timeout,
        admin_key: config.admin_key.clone(),
        gate,
        bodies: Arc::new(BodyBudget::new(config.body_bytes_in_flight)),
        connections: Arc::new(ConnectionCap::new(config.connections)),
    })
}

/// The SHA-256 of every bot version being served: their cache entries are never evicted.
fn wasm_hashes_served(registry: &BotRegistry) -> Vec<String> {
    registry.statuses().into_iter().filter_map(|s| s.bot.map(|b| b.hash.clone())).collect()
}

/// Serve `state` on `listener` until `shutdown` resolves; in-flight responses then get
/// [`SHUTDOWN_GRACE`] to finish.
///
/// Every connection is bounded by `state.connections`: past its cap a new one
/// gets a 503 and is closed; one with no request in flight for `idle_timeout` (from its
/// start, so also one that sends nothing or only part of a preface) is closed; one whose
/// writes stay blocked for `write_timeout` is dropped. An HTTP/1 client also has
/// `state.read_timeout` to send each request's headers.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // SSE writes many small chunks: without TCP_NODELAY, Nagle's algorithm holds each one
    // back until the client's delayed ACK, about 40 ms per response.
    let mut listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!("cannot set TCP_NODELAY: {e}");
        }
    });
    let cap = state.connections.clone();
    let limits = cap.limits;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(state.read_timeout);
    let router = app(state);
    let connections = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // `accept` logs and waits out errors such as running out of file descriptors.
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let Some(place) = cap.admit() else {
            refuse(tcp);
            continue;
        };
        let activity = Activity::new();
        let io = TokioIo::new(Watched::new(tcp, activity.clone()));
        let service = TowerToHyperService::new(InFlight::new(router.clone(), activity.clone()));
        let connection = connections.watch(builder.serve_connection(io, service).into_owned());
        tokio::spawn(async move {
            tokio::select! {
                ended = connection => if let Err(e) = ended {
                    tracing::debug!("connection ended with an error: {e}");
                },
                expiry = activity.expired(&limits) => log_expiry(expiry, &limits),
            }
            drop(place);
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight responses");
    tokio::select! {
        () = connections.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("shutdown grace period over: dropping remaining responses");
        }
    }
    Ok(())
}

/// Answer a connection past the cap with [`REFUSAL`] if its socket takes it at once, and
/// close it: a clear answer costs nothing, waiting for a slow client would.
fn refuse(tcp: tokio::net::TcpStream) {
    let _ = tcp.try_write(REFUSAL);
}

fn log_expiry(expiry: Expiry, limits: &ConnectionLimits) {
    match expiry {
        Expiry::Idle => tracing::debug!(timeout = ?limits.idle_timeout, "closing an idle connection"),
        Expiry::WriteStalled => tracing::info!(
            timeout = ?limits.write_timeout,
            "dropping a connection whose client stopped reading its response"
        ),
    }
}
