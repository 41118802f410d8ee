//! Hot reload: keep the registry in step with the bots directory while serving.
//!
//! File events (the `notify` crate) and a periodic poll (for filesystems that deliver no
//! events) both trigger [`Reloader::reconcile`], which compares each bot's [`Fingerprint`]
//! with what it last saw. A changed file must hold still for [`SETTLE`] before it is loaded
//! (`cp` truncates, then writes), is compiled off the runtime, and only then swapped in.
//! A file that fails keeps the previous version serving and is retried when it changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::fingerprint::Fingerprint;
use crate::loader::{BotLoader, LoadError, LoadedBot};
use crate::registry::{BotRegistry, bot_files};

/// How long a changed file must stay unchanged before it is loaded.
pub const SETTLE: Duration = Duration::from_millis(150);
/// How often the directory is rescanned even without file events.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Keeps the registry in step with the bots directory.
pub struct Reloader {
    dir: PathBuf,
    loader: BotLoader,
    registry: Arc<BotRegistry>,
    seen: HashMap<String, Fingerprint>,
}

impl Reloader {
    /// A reloader for `dir`, loading with `loader` into `registry`.
    pub fn new(dir: PathBuf, loader: BotLoader, registry: Arc<BotRegistry>) -> Self {
        Self { dir, loader, registry, seen: HashMap::new() }
    }

    /// Bring the registry in line with the directory: load new and changed bots, drop
    /// removed ones. With `settle`, changed files must hold still for [`SETTLE`] first.
    pub async fn reconcile(&mut self, settle: bool) -> std::io::Result<()> {
        let files = bot_files(&self.dir)?;
        self.remove_missing(&files);
        let mut changed: Vec<_> = files
            .into_iter()
            .filter_map(|(name, path)| Fingerprint::of(&path).map(|fp| (name, path, fp)))
            .filter(|(name, _, fp)| self.seen.get(name) != Some(fp))
            .collect();
        if settle && !changed.is_empty() {
            tokio::time::sleep(SETTLE).await;
            changed.retain(|(_, path, fp)| Fingerprint::of(path) == Some(*fp));
        }
        for (name, path, fp) in changed {
            self.load(name, path, fp).await;
        }
        Ok(())
    }

    fn remove_missing(&mut self, files: &[(String, PathBuf)]) {
        let gone: Vec<String> =
            self.seen.keys().filter(|n| !files.iter().any(|(f, _)| f == *n)).cloned().collect();
        for name in gone {
            self.seen.remove(&name);
            if let Some(bot) = self.registry.remove(&name) {
                tracing::info!(bot = %name, hash = &bot.hash[..12], "removed");
            }
        }
    }

    async fn load(&mut self, name: String, path: PathBuf, fp: Fingerprint) {
        let previous = self.registry.get(&name);
        let result = load_blocking(&self.loader, &name, &path, previous.clone()).await;
        if Fingerprint::of(&path) != Some(fp) {
            return; // written to while loading: the next round takes the final content
        }
        self.seen.insert(name.clone(), fp);
        match result {
            Ok(bot) => {
                log_loaded(&bot, previous.as_deref());
                self.registry.install(bot);
            }
            Err(e) => {
                match &previous {
                    Some(p) => {
                        tracing::error!(bot = %name, serving = &p.hash[..12], "reload failed, previous version keeps serving: {e}")
                    }
                    None => tracing::error!(bot = %name, "not serving: {e}"),
                }
                self.registry.record_failure(&name, &path, e.to_string());
            }
        }
    }

    /// Watch the directory and reconcile on every change (and every [`POLL_INTERVAL`])
    /// until the runtime shuts down.
    pub fn spawn(mut self) -> tokio::task::JoinHandle<()> {
        let (tx, mut rx) = mpsc::channel(256);
        let watcher = watch(&self.dir, tx);
        tokio::spawn(async move {
            let _watcher = watcher;
            let mut poll = tokio::time::interval(POLL_INTERVAL);
            loop {
                // After a burst of events the files have already been quiet for SETTLE;
                // a change found by polling has not been watched, so it must settle first.
                let settle = tokio::select! {
                    Some(()) = rx.recv() => { drain_burst(&mut rx).await; false }
                    _ = poll.tick() => true,
                };
                if let Err(e) = self.reconcile(settle).await {
                    tracing::error!(dir = %self.dir.display(), "cannot scan bots directory: {e}");
                }
            }
        })
    }
}

/// Wait until file events stop arriving for [`SETTLE`].
async fn drain_burst(rx: &mut mpsc::Receiver<()>) {
    while let Ok(Some(())) = tokio::time::timeout(SETTLE, rx.recv()).await {}
}

/// A file watcher on `dir` that signals `tx`; `None` (polling only) if events are unavailable.
fn watch(dir: &Path, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    let handler = move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            let _ = tx.try_send(());
        }
    };
    let watcher = notify::recommended_watcher(handler)
        .and_then(|mut w| w.watch(dir, RecursiveMode::NonRecursive).map(|()| w));
    match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), "file events unavailable ({e}); polling every {POLL_INTERVAL:?}");
            None
        }
    }
}

async fn load_blocking(
    loader: &BotLoader,
    name: &str,
    path: &Path,
    previous: Option<Arc<LoadedBot>>,
) -> Result<LoadedBot, LoadError> {
    let (loader, name, shown) = (loader.clone(), name.to_owned(), path.display().to_string());
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || loader.load(&name, &path, previous.as_deref())).await.unwrap_or_else(
        |join| {
            let message = match join.try_into_panic() {
                Ok(panic) => panic_message(panic.as_ref()),
                Err(join) => join.to_string(),
            };
            Err(LoadError::Panicked { path: shown, message })
        },
    )
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text =
        panic.downcast_ref::<&str>().copied().or_else(|| panic.downcast_ref::<String>().map(String::as_str));
    text.unwrap_or("(no message)").to_owned()
}

fn log_loaded(bot: &LoadedBot, previous: Option<&LoadedBot>) {
    let action = if previous.is_some() { "reloaded" } else { "loaded" };
    let origin = match bot.origin {
        Some(crate::cache::CacheOutcome::Hit) => "cache",
        Some(crate::cache::CacheOutcome::Compiled) => "compiled",
        None => "config only",
    };
    let ms = bot.compile_time.as_secs_f64() * 1e3;
    tracing::info!(bot = %bot.name, hash = &bot.hash[..12], origin, ms = format!("{ms:.1}"), "{action}");
    if let Some(key) = &bot.config.access_key
        && !key.looks_like_poe_key()
    {
        tracing::warn!(bot = %bot.name, "access key is not 32 characters: Poe-issued keys are");
    }
}
