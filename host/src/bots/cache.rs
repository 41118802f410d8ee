//! [`ArtifactCache`]: compiled bots kept on disk, so a restart with many bots compiles
//! nothing that did not change. The loader calls it; the server runs its eviction.
//!
//! Loading native code from disk is unsafe by nature, so the cache only trusts files it
//! wrote itself: the directory must be private to this user (`dir`), and each entry
//! names the wasm's SHA-256 and the engine it was compiled for in its header (`entry`),
//! checked before wasmtime sees it. Any mismatch, truncation or corruption means
//! "recompile and rewrite", never a crash. Entries no loaded bot uses are evicted (`evict`).

mod dir;
mod entry;
mod evict;

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use wasmtime::Engine;
use wasmtime::component::Component;

pub use dir::CacheDirError;
pub use evict::DEFAULT_MAX_BYTES;

use entry::{EntryKey, Rejection};

/// How long after a new entry is written eviction runs: a burst of reloads is evicted
/// after once, and by then the reloader has installed the new versions.
const EVICT_DELAY: Duration = Duration::from_secs(1);

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from a verified cache entry.
    Hit,
    /// Compiled (and stored, if a cache directory is set).
    Compiled,
}

/// Counters for the admin view and the tests.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Components loaded from disk.
    pub hits: AtomicU64,
    /// Components compiled.
    pub compiles: AtomicU64,
    /// Entries found corrupt, stale, mislabeled or unsafe, and replaced.
    pub rejected: AtomicU64,
    /// Files evicted (entries no loaded bot used, stale temporary files).
    pub evicted: AtomicU64,
}

/// The on-disk cache of compiled components (or none: always compile).
#[derive(Debug)]
pub struct ArtifactCache {
    dir: Option<PathBuf>,
    engine_key: u64,
    max_bytes: u64,
    /// Entries handed out since the last eviction: a bot being loaded is not in the
    /// registry yet, and its entry must survive an eviction that runs meanwhile.
    recent: Mutex<HashSet<String>>,
    written: Notify,
    /// Hit, compile, rejection and eviction counts.
    pub stats: CacheStats,
}

impl ArtifactCache {
    /// A cache in `dir` for components of `engine`, evicting unused entries beyond
    /// `max_bytes`. A missing directory is created private to this user; an existing one
    /// that others may write to, or that another user owns, is refused.
    pub fn new(engine: &Engine, dir: Option<PathBuf>, max_bytes: u64) -> Result<Self, CacheDirError> {
        let dir = dir.as_deref().map(dir::open_private_dir).transpose()?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        let (engine_key, recent, stats) = (hasher.finish(), Mutex::default(), CacheStats::default());
        Ok(Self { dir, engine_key, max_bytes, recent, written: Notify::new(), stats })
    }

    /// The component for `wasm` (whose SHA-256 is `wasm_hash`), from cache or compiled.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        wasm_hash: &str,
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let key = EntryKey::new(wasm_hash, self.engine_key);
        let entry = self.dir.as_ref().zip(key).map(|(dir, key)| (dir.join(key.file_name()), key));
        if let Some((_, key)) = &entry {
            self.recent.lock().unwrap_or_else(|p| p.into_inner()).insert(key.file_name());
        }
        if let Some((path, key)) = &entry
            && let Some(component) = self.read(engine, path, key)
        {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            return Ok((component, CacheOutcome::Hit));
        }
        let component = Component::new(engine, wasm)?;
        self.stats.compiles.fetch_add(1, Ordering::Relaxed);
        if let Some((path, key)) = &entry {
            self.write(path, key, &component.serialize()?);
        }
        Ok((component, CacheOutcome::Compiled))
    }

    fn read(&self, engine: &Engine, path: &Path, key: &EntryKey) -> Option<Component> {
        let component = dir::read_entry(path).and_then(|bytes| {
            let Some(bytes) = bytes else { return Ok(None) };
            let artifact = key.verify(&bytes)?;
            deserialize(engine, artifact).map(Some).map_err(|e| Rejection::Deserialize(format!("{e:#}")))
        });
        match component {
            Ok(Some(component)) => {
                dir::touch(path);
                Some(component)
            }
            Ok(None) => None,
            Err(why) => {
                self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(path = %path.display(), "discarding cache entry ({why}); recompiling");
                let _ = std::fs::remove_file(path);
                None
            }
        }
    }

    fn write(&self, path: &Path, key: &EntryKey, artifact: &[u8]) {
        match dir::write_entry(path, &[&key.header(artifact), artifact]) {
            Ok(()) => self.written.notify_one(),
            Err(e) => tracing::warn!(path = %path.display(), "could not write the compile cache: {e}"),
        }
    }

    /// Evict what no loaded bot uses; `wasm_hashes` are the SHA-256s (hex) of the loaded
    /// bots, and entries handed out since the last eviction are kept too (their bots may be
    /// loading). Runs on the blocking pool and logs what it deleted.
    pub async fn evict(&self, wasm_hashes: Vec<String>) {
        let Some(dir) = &self.dir else { return };
        let mut in_use = std::mem::take(&mut *self.recent.lock().unwrap_or_else(|p| p.into_inner()));
        let served = wasm_hashes.iter().filter_map(|hash| EntryKey::new(hash, self.engine_key));
        in_use.extend(served.map(|key| key.file_name()));
        let (path, max_bytes, shown) = (dir.clone(), self.max_bytes, dir.display().to_string());
        let evicting = move || evict::evict(&path, &in_use, max_bytes, SystemTime::now());
        match tokio::task::spawn_blocking(evicting).await {
            Ok(Ok(evicted)) => self.log_eviction(&shown, evicted),
            Ok(Err(e)) => tracing::warn!(dir = %shown, "cannot evict from the compile cache: {e}"),
            Err(e) => tracing::warn!(dir = %shown, "compile cache eviction failed: {e}"),
        }
    }

    fn log_eviction(&self, dir: &str, evicted: evict::Evicted) {
        self.stats.evicted.fetch_add(evicted.files, Ordering::Relaxed);
        let evict::Evicted { files, bytes, kept_bytes } = evicted;
        if files > 0 {
            tracing::info!(dir, files, bytes, kept_bytes, "compile cache: evicted");
        }
        if kept_bytes > self.max_bytes {
            tracing::warn!(
                dir,
                kept_bytes,
                max_bytes = self.max_bytes,
                "compile cache is over its budget with entries in use alone"
            );
        }
    }

    /// Run [`ArtifactCache::evict`] [`EVICT_DELAY`] after every burst of new entries, for
    /// ever; `wasm_hashes` says which bots are loaded at the time.
    pub async fn evict_after_writes(&self, wasm_hashes: impl Fn() -> Vec<String>) {
        if self.dir.is_none() {
            return;
        }
        loop {
            self.written.notified().await;
            tokio::time::sleep(EVICT_DELAY).await;
            self.evict(wasm_hashes()).await;
        }
    }
}

#[expect(unsafe_code, reason = "deserializing native code; the bytes were checked above")]
fn deserialize(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `artifact` is a `Component::serialize` output this host wrote itself: the
    // entry is a regular file of this user's in a directory only this user may write, its
    // header names this wasm's SHA-256 and this engine, and its SHA-256 matched. wasmtime
    // re-checks its own header.
    unsafe { Component::deserialize(engine, artifact) }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    /// The smallest component: a header and nothing else.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";

    fn hash(text: &str) -> String {
        hex::encode(Sha256::digest(text))
    }

    fn cache(dir: &Path) -> (Engine, ArtifactCache) {
        let engine = Engine::default();
        let cache = ArtifactCache::new(&engine, Some(dir.to_owned()), DEFAULT_MAX_BYTES).unwrap();
        (engine, cache)
    }

    fn outcome(cache: &ArtifactCache, engine: &Engine, wasm_hash: &str) -> CacheOutcome {
        cache.load_or_compile(engine, EMPTY_COMPONENT, wasm_hash).unwrap().1
    }

    #[test]
    fn a_compiled_component_is_a_hit_next_time() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, cache) = cache(dir.path());
        assert_eq!(outcome(&cache, &engine, &hash("echo")), CacheOutcome::Compiled);
        assert_eq!(outcome(&cache, &engine, &hash("echo")), CacheOutcome::Hit);
        assert_eq!(cache.stats.rejected.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn an_entry_copied_under_another_wasms_name_is_rejected_and_recompiled() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, cache) = cache(dir.path());
        outcome(&cache, &engine, &hash("echo"));
        let name = |h: &str| EntryKey::new(h, cache.engine_key).unwrap().file_name();
        std::fs::copy(dir.path().join(name(&hash("echo"))), dir.path().join(name(&hash("showcase"))))
            .unwrap();
        assert_eq!(outcome(&cache, &engine, &hash("showcase")), CacheOutcome::Compiled);
        assert_eq!(cache.stats.rejected.load(Ordering::Relaxed), 1);
        assert_eq!(outcome(&cache, &engine, &hash("showcase")), CacheOutcome::Hit, "rewritten");
    }

    #[test]
    fn a_planted_entry_with_a_valid_header_but_garbage_is_rejected_by_wasmtime() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, cache) = cache(dir.path());
        let key = EntryKey::new(&hash("echo"), cache.engine_key).unwrap();
        dir::write_entry(&dir.path().join(key.file_name()), &[&key.header(b"garbage"), b"garbage"]).unwrap();
        assert_eq!(outcome(&cache, &engine, &hash("echo")), CacheOutcome::Compiled);
        assert_eq!(cache.stats.rejected.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn eviction_keeps_the_entries_of_loaded_bots() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = ArtifactCache::new(&engine, Some(dir.path().to_owned()), 0).unwrap();
        outcome(&cache, &engine, &hash("old"));
        outcome(&cache, &engine, &hash("new"));
        cache.evict(Vec::new()).await;
        assert_eq!(cache.stats.evicted.load(Ordering::Relaxed), 0, "both may be loading still");
        cache.evict(vec![hash("new")]).await;
        assert_eq!(cache.stats.evicted.load(Ordering::Relaxed), 1);
        assert_eq!(outcome(&cache, &engine, &hash("new")), CacheOutcome::Hit);
        assert_eq!(outcome(&cache, &engine, &hash("old")), CacheOutcome::Compiled);
    }
}
