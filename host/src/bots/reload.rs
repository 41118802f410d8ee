//! Hot reload: keep the registry in step with the bots directory while serving.
//!
//! File events on bot and sidecar files (the `notify` crate; other files are ignored) and a
//! periodic poll (for filesystems that deliver no events) both trigger a scan, which
//! compares each bot's [`Fingerprint`] with what was last loaded. Each changed bot settles
//! on its own: it is loaded once its fingerprint has held still for [`SETTLE`] (`cp`
//! truncates, then writes), so a file written without pause delays only its own bot, and a
//! removed bot goes at once. Loading runs off the runtime, the bots due in one scan
//! concurrently (one per core: a Python bot takes ~20 s of CPU to compile), and each is
//! installed or reported as soon as it is done; a failure keeps the previous version serving
//! and is retried when the files change.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::bots::fingerprint::Fingerprint;
use crate::bots::registry::{BotRegistry, bot_files, bot_of};
use crate::guest::loader::{BotLoader, LoadError, LoadedBot};

/// How long a changed bot's files must stay unchanged before it is loaded.
pub const SETTLE: Duration = Duration::from_millis(150);
/// How often the directory is rescanned even without file events.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A bot whose files changed and held still: to be loaded.
#[derive(Debug)]
struct Due {
    name: String,
    path: PathBuf,
    fingerprint: Fingerprint,
}

/// A finished load: what was due, the version served when it started, and the outcome.
struct Loaded {
    due: Due,
    previous: Option<Arc<LoadedBot>>,
    result: Result<LoadedBot, LoadError>,
}

/// A changed bot waiting for its files to hold still.
#[derive(Debug, Clone, Copy)]
struct Settling {
    fingerprint: Fingerprint,
    since: Instant,
}

/// Keeps the registry in step with the bots directory.
pub struct Reloader {
    dir: PathBuf,
    loader: BotLoader,
    registry: Arc<BotRegistry>,
    /// What each bot's files looked like when last loaded (or tried).
    seen: HashMap<String, Fingerprint>,
    settling: HashMap<String, Settling>,
}

impl Reloader {
    /// A reloader for `dir`, loading with `loader` into `registry`.
    pub fn new(dir: PathBuf, loader: BotLoader, registry: Arc<BotRegistry>) -> Self {
        Self { dir, loader, registry, seen: HashMap::new(), settling: HashMap::new() }
    }

    /// Bring the registry in line with the directory: drop removed bots, load new and
    /// changed ones. With `settle`, a changed bot is loaded only once its files have held
    /// still for [`SETTLE`]; until then a later call picks it up.
    pub async fn reconcile(&mut self, settle: bool) -> std::io::Result<()> {
        let files = bot_files(&self.dir)?;
        self.remove_missing(&files);
        let now = Instant::now();
        let mut due = Vec::new();
        for (name, path) in files {
            let Some(fingerprint) = Fingerprint::of(&path) else { continue };
            if self.seen.get(&name) == Some(&fingerprint) {
                self.settling.remove(&name);
            } else if !settle || self.has_settled(&name, fingerprint, now) {
                self.settling.remove(&name);
                due.push(Due { name, path, fingerprint });
            }
        }
        let mut loads = self.load_all(due);
        while let Some(loaded) = loads.next().await {
            self.finish(loaded);
        }
        Ok(())
    }

    /// Load `due` bots, [`loads_at_once`] at a time, yielding each as soon as it is done (a
    /// bot that loads fast is not held back by one compiling). The stream owns what it
    /// needs, so each result can be installed while others still load.
    fn load_all(&self, due: Vec<Due>) -> impl futures::Stream<Item = Loaded> + use<> {
        let (loader, registry) = (self.loader.clone(), self.registry.clone());
        let loads = due.into_iter().map(move |due| {
            // Read when the load starts, not when the scan listed it.
            let (loader, previous) = (loader.clone(), registry.get(&due.name));
            async move {
                let result = load_blocking(&loader, &due.name, &due.path, previous.clone()).await;
                Loaded { due, previous, result }
            }
        });
        futures::stream::iter(loads).buffer_unordered(loads_at_once())
    }

    /// Whether `name` has shown `fp` for [`SETTLE`]; a new `fp` starts its wait.
    fn has_settled(&mut self, name: &str, fp: Fingerprint, now: Instant) -> bool {
        match self.settling.get(name) {
            Some(s) if s.fingerprint == fp => now.duration_since(s.since) >= SETTLE,
            _ => {
                self.settling.insert(name.to_owned(), Settling { fingerprint: fp, since: now });
                false
            }
        }
    }

    /// When the first settling bot will have held still for [`SETTLE`].
    fn next_settled(&self) -> Option<Instant> {
        self.settling.values().map(|s| s.since + SETTLE).min()
    }

    fn remove_missing(&mut self, files: &[(String, PathBuf)]) {
        let listed = |name: &String| files.iter().any(|(f, _)| f == name);
        self.settling.retain(|name, _| listed(name));
        let gone: Vec<String> = self.seen.keys().filter(|n| !listed(n)).cloned().collect();
        for name in gone {
            self.seen.remove(&name);
            if let Some(bot) = self.registry.remove(&name) {
                tracing::info!(bot = %name, hash = &bot.hash[..12], "removed");
            }
        }
    }

    /// Install a loaded bot, or record why it failed, and remember what its files were.
    fn finish(&mut self, loaded: Loaded) {
        let Loaded { due: Due { name, path, fingerprint }, previous, result } = loaded;
        if Fingerprint::of(&path) != Some(fingerprint) {
            return; // written to while loading: the next round takes the final content
        }
        self.seen.insert(name.clone(), fingerprint);
        match result {
            Ok(bot) => {
                log_loaded(&bot, previous.as_deref());
                self.registry.install(bot);
                if let Some(bot) = self.registry.get(&name) {
                    crate::sync_settings::after_load(bot);
                }
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

    /// Watch the directory and reconcile on every change to a bot's files, when a settling
    /// bot is due, and every [`POLL_INTERVAL`], until the runtime shuts down.
    pub fn spawn(mut self) -> tokio::task::JoinHandle<()> {
        let (tx, mut rx) = mpsc::channel(256);
        let watcher = watch(&self.dir, tx);
        tokio::spawn(async move {
            let _watcher = watcher;
            let mut next_poll = Instant::now() + POLL_INTERVAL;
            loop {
                let wake = self.next_settled().map_or(next_poll, |due| due.min(next_poll));
                tokio::select! {
                    Some(()) = rx.recv() => {}
                    () = tokio::time::sleep_until(wake.into()) => {}
                }
                while rx.try_recv().is_ok() {} // one scan covers every event so far
                if Instant::now() >= next_poll {
                    next_poll = Instant::now() + POLL_INTERVAL;
                }
                if let Err(e) = self.reconcile(true).await {
                    tracing::error!(dir = %self.dir.display(), "cannot scan bots directory: {e}");
                }
            }
        })
    }
}

/// A file watcher on `dir` that signals `tx` when a bot's files may have changed; `None`
/// (polling only) if events are unavailable.
fn watch(dir: &Path, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    let handler = move |event: notify::Result<notify::Event>| {
        if event.as_ref().map_or(true, concerns_bots) {
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

/// Whether `event` may change a bot: it names a bot or sidecar file, or asks for a rescan.
/// A log file written next to the bots must not keep the reloader busy.
fn concerns_bots(event: &notify::Event) -> bool {
    event.need_rescan() || event.paths.is_empty() || event.paths.iter().any(|p| bot_of(p).is_some())
}

/// How many bots load at once: one per core. Compiling is CPU-bound (and wasmtime already
/// spreads one compile's functions over the cores), so more would only slow each down; the
/// gain is overlapping each load's serial parts (reading, hashing, linking, cache writes).
pub fn loads_at_once() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
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
        Some(crate::bots::cache::CacheOutcome::Hit) => "cache",
        Some(crate::bots::cache::CacheOutcome::Compiled) => "compiled",
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
