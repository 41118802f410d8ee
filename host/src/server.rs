//! Building a running host from its configuration, and serving it until shutdown.
//!
//! `main` and the integration tests both go through [`build_state`] and [`serve`], so the
//! tests exercise exactly what the binary runs.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::engine::{EngineOptions, new_engine, new_linker, spawn_epoch_ticker};
use crate::loader::BotLoader;
use crate::registry::BotRegistry;
use crate::routes::{AppState, app};
use crate::sidecar::HostDefaults;

/// How long in-flight responses may run on after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

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
}

/// A host ready to serve: engine built, bots loaded.
pub struct Host {
    /// Shared handler state.
    pub state: AppState,
    /// Compiles bots for this host's engine.
    pub loader: BotLoader,
}

/// Build the engine, load every bot in the bots directory, and return the handler state.
pub async fn build_state(config: &HostConfig) -> anyhow::Result<Host> {
    let engine = new_engine(&config.engine)?;
    spawn_epoch_ticker(&engine);
    let linker = new_linker(&engine)?;
    let loader = BotLoader::new(engine, linker, config.defaults.clone());
    let registry = Arc::new(BotRegistry::default());
    let dir = &config.bots_dir;
    let loaded = registry
        .load_dir(&loader, dir)
        .await
        .with_context(|| format!("cannot load bots from {}", dir.display()))?;
    if loaded == 0 {
        tracing::warn!(dir = %dir.display(), "no bots loaded: put NAME.wasm files in the bots directory");
    }
    Ok(Host { state: AppState { registry, max_body: config.max_body }, loader })
}

/// Serve `state` on `listener` until `shutdown` resolves; in-flight responses then get
/// [`SHUTDOWN_GRACE`] to finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (signal_tx, signal_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight responses");
        let _ = signal_tx.send(());
    };
    let server = axum::serve(listener, app(state)).with_graceful_shutdown(shutdown);
    tokio::select! {
        result = server => result.context("server failed"),
        () = async { let _ = signal_rx.await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
            tracing::warn!("shutdown grace period over: dropping remaining responses");
            Ok(())
        }
    }
}
