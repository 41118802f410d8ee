//! [`ArtifactCache`]: compiled bots kept on disk, so a restart with many bots compiles
//! nothing that did not change. The loader calls it; the server runs its eviction.
//!
//! Loading native code from disk is unsafe by nature, so the cache only trusts files it
//! wrote itself: the directory must be private to this user (`dir`), and each entry's label
//! names the wasm's SHA-256 and the engine it was compiled for (`entry`), checked before
//! wasmtime sees the artifact, which is then mapped rather than read (`artifact`). Any
//! mismatch, truncation or corruption means "recompile and rewrite", never a crash.
//! Entries no loaded bot uses are evicted (`evict`). Beside the entries, `functions/` holds
//! Cranelift's compiled functions (`functions`), so a bot sharing most of its code with one
//! compiled before (a Python bot: CPython) compiles only what is new.

mod artifact;
mod dir;
mod entry;
mod evict;
mod functions;

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
pub use functions::{FUNCTIONS_MAX_BYTES, FunctionStore};

use entry::{ARTIFACT_EXT, EntryKey, LABEL_EXT, LABEL_LEN, Rejection};

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
    /// Entries no loaded bot used and stale temporary files evicted (an entry's artifact
    /// and label count once).
    pub evicted: AtomicU64,
}

/// The on-disk cache of compiled components (or none: always compile).
#[derive(Debug)]
pub struct ArtifactCache {
    dir: Option<PathBuf>,
    engine_key: u64,
    max_bytes: u64,
    /// Stems of entries handed out since the last eviction: a bot being loaded is not in the
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

    /// The component for `wasm` (whose SHA-256 is `wasm_hash`), from cache or compiled. A
    /// compiled component is stored, then served from its stored entry, mapped.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        wasm_hash: &str,
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let key = EntryKey::new(wasm_hash, self.engine_key);
        let entry = self.dir.as_ref().zip(key).map(|(dir, key)| Entry::new(dir, key));
        if let Some(entry) = &entry {
            self.recent.lock().unwrap_or_else(|p| p.into_inner()).insert(entry.key.stem());
            if let Some(component) = self.read(engine, entry) {
                self.stats.hits.fetch_add(1, Ordering::Relaxed);
                return Ok((component, CacheOutcome::Hit));
            }
        }
        let component = Component::new(engine, wasm)?;
        self.stats.compiles.fetch_add(1, Ordering::Relaxed);
        if let Some(entry) = &entry
            && self.write(entry, &component.serialize()?)
            && let Some(mapped) = self.read(engine, entry)
        {
            // The compiled code in memory is dropped: the mapped copy costs no private memory.
            return Ok((mapped, CacheOutcome::Compiled));
        }
        Ok((component, CacheOutcome::Compiled))
    }

    fn read(&self, engine: &Engine, entry: &Entry) -> Option<Component> {
        match entry.load(engine) {
            Ok(Some(component)) => {
                dir::touch(&entry.artifact);
                Some(component)
            }
            Ok(None) => None,
            Err(why) => {
                self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(path = %entry.artifact.display(), "discarding cache entry ({why}); recompiling");
                entry.remove();
                None
            }
        }
    }

    /// Store `artifact` and its label; whether both were written. The artifact goes first: a
    /// load in between finds it unlabeled (or under a stale label) and recompiles.
    fn write(&self, entry: &Entry, artifact: &[u8]) -> bool {
        let label = entry.key.label(artifact);
        let written = dir::write_entry(&entry.artifact, &[artifact])
            .and_then(|()| dir::write_entry(&entry.label, &[&label]));
        match written {
            Ok(()) => {
                self.written.notify_one();
                true
            }
            Err(e) => {
                tracing::warn!(path = %entry.artifact.display(), "could not write the compile cache: {e}");
                false
            }
        }
    }

    /// Evict what no loaded bot uses; `wasm_hashes` are the SHA-256s (hex) of the loaded
    /// bots, and entries handed out since the last eviction are kept too (their bots may be
    /// loading). Compiled functions are evicted to fit [`FUNCTIONS_MAX_BYTES`]. Runs on the
    /// blocking pool and logs what it deleted.
    pub async fn evict(&self, wasm_hashes: Vec<String>) {
        let Some(dir) = &self.dir else { return };
        let mut in_use = std::mem::take(&mut *self.recent.lock().unwrap_or_else(|p| p.into_inner()));
        let served = wasm_hashes.iter().filter_map(|hash| EntryKey::new(hash, self.engine_key));
        in_use.extend(served.map(|key| key.stem()));
        let evicted = self.evict_from(dir.clone(), in_use, self.max_bytes).await;
        self.stats.evicted.fetch_add(evicted.files, Ordering::Relaxed);
        let functions = dir.join(functions::FUNCTIONS_DIR);
        if functions.is_dir() {
            self.evict_from(functions, HashSet::new(), FUNCTIONS_MAX_BYTES).await;
        }
    }

    /// Evict from `dir` down to `max_bytes`, logging what went.
    async fn evict_from(&self, dir: PathBuf, in_use: HashSet<String>, max_bytes: u64) -> evict::Evicted {
        let shown = dir.display().to_string();
        let evicting = move || evict::evict(&dir, &in_use, max_bytes, SystemTime::now());
        match tokio::task::spawn_blocking(evicting).await {
            Ok(Ok(evicted)) => {
                log_eviction(&shown, evicted, max_bytes);
                return evicted;
            }
            Ok(Err(e)) => tracing::warn!(dir = %shown, "cannot evict from the compile cache: {e}"),
            Err(e) => tracing::warn!(dir = %shown, "compile cache eviction failed: {e}"),
        }
        evict::Evicted::default()
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

fn log_eviction(dir: &str, evicted: evict::Evicted, max_bytes: u64) {
    let evict::Evicted { files, bytes, kept_bytes } = evicted;
    if files > 0 {
        tracing::info!(dir, files, bytes, kept_bytes, "compile cache: evicted");
    }
    if kept_bytes > max_bytes {
        tracing::warn!(
            dir,
            kept_bytes,
            max_bytes,
            "compile cache is over its budget with entries in use alone"
        );
    }
}

/// Where one entry's files are.
struct Entry {
    key: EntryKey,
    artifact: PathBuf,
    label: PathBuf,
}

impl Entry {
    fn new(dir: &Path, key: EntryKey) -> Self {
        let stem = key.stem();
        let artifact = dir.join(format!("{stem}.{ARTIFACT_EXT}"));
        let label = dir.join(format!("{stem}.{LABEL_EXT}"));
        Self { key, artifact, label }
    }

    /// The component stored here; `None` if there is none. Each file must pass `dir`'s
    /// checks, and the label must name this key, before wasmtime sees the artifact.
    fn load(&self, engine: &Engine) -> Result<Option<Component>, Rejection> {
        let Some(artifact) = dir::open_entry(&self.artifact)? else { return Ok(None) };
        let Some(label) = dir::read_entry(&self.label, LABEL_LEN as u64 + 1)? else {
            return Err(entry::unlabeled(&artifact::sniff(&artifact)?));
        };
        let digest = self.key.verify(&label)?;
        artifact::load(engine, artifact, &digest).map(Some)
    }

    /// Delete both files (either may be missing).
    fn remove(&self) {
        let _ = std::fs::remove_file(&self.artifact);
        let _ = std::fs::remove_file(&self.label);
    }
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

    /// The entry for `wasm_hash` (in the cache's directory, resolved as the cache uses it).
    fn entry(cache: &ArtifactCache, wasm_hash: &str) -> Entry {
        Entry::new(cache.dir.as_ref().unwrap(), EntryKey::new(wasm_hash, cache.engine_key).unwrap())
    }

    #[test]
    fn a_compiled_component_is_a_hit_next_time() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, cache) = cache(dir.path());
        assert_eq!(outcome(&cache, &engine, &hash("echo")), CacheOutcome::Compiled);
        assert_eq!(outcome(&cache, &engine, &hash("echo")), CacheOutcome::Hit);
        assert_eq!(cache.stats.rejected.load(Ordering::Relaxed), 0);
    }

    /// What is served from the cache (and after a compile) is the entry's file, mapped: the
    /// host's private memory does not hold a copy of it.
    #[test]
    fn a_served_entry_is_mapped_from_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, cache) = cache(dir.path());
        let artifact = entry(&cache, &hash("echo")).artifact;
        let mapped = || {
            let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
            maps.lines().filter(|l| l.ends_with(&*artifact.to_string_lossy())).count()
        };
        let (compiled, _) = cache.load_or_compile(&engine, EMPTY_COMPONENT, &hash("echo")).unwrap();
        assert!(mapped() > 0, "the compiled component is served from its new entry");
        let (hit, outcome) = cache.load_or_compile(&engine, EMPTY_COMPONENT, &hash("echo")).unwrap();
        assert_eq!(outcome, CacheOutcome::Hit);
        drop(compiled);
        assert!(mapped() > 0, "the hit maps the entry");
        drop(hit);
        assert_eq!(mapped(), 0, "unmapped with the last component using it");
    }

    #[test]
    fn an_entry_copied_under_another_wasms_name_is_rejected_by_its_label_and_recompiled() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, cache) = cache(dir.path());
        outcome(&cache, &engine, &hash("echo"));
        let (echo, showcase) = (entry(&cache, &hash("echo")), entry(&cache, &hash("showcase")));
        std::fs::copy(&echo.artifact, &showcase.artifact).unwrap();
        std::fs::copy(&echo.label, &showcase.label).unwrap();
        let refused = showcase.load(&engine).map(|_| ()).unwrap_err();
        assert!(matches!(refused, Rejection::OtherWasm { .. }), "{refused}");
        assert_eq!(outcome(&cache, &engine, &hash("showcase")), CacheOutcome::Compiled);
        assert_eq!(cache.stats.rejected.load(Ordering::Relaxed), 1);
        assert_eq!(outcome(&cache, &engine, &hash("showcase")), CacheOutcome::Hit, "rewritten");
    }

    /// The label is checked before wasmtime sees the artifact: garbage under a label of
    /// another wasm is refused by the label, and under its own label by wasmtime.
    #[test]
    fn a_planted_artifact_is_refused_by_its_label_before_wasmtime_and_else_by_wasmtime() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, cache) = cache(dir.path());
        let (echo, other) = (entry(&cache, &hash("echo")), entry(&cache, &hash("other")));
        dir::write_entry(&echo.artifact, &[b"garbage"]).unwrap();
        dir::write_entry(&echo.label, &[&other.key.label(b"garbage")]).unwrap();
        let refused = echo.load(&engine).map(|_| ()).unwrap_err();
        assert!(matches!(refused, Rejection::OtherWasm { .. }), "{refused}");
        dir::write_entry(&echo.label, &[&echo.key.label(b"garbage")]).unwrap();
        let refused = echo.load(&engine).map(|_| ()).unwrap_err();
        assert!(matches!(refused, Rejection::Deserialize(_)), "{refused}");
        assert_eq!(outcome(&cache, &engine, &hash("echo")), CacheOutcome::Compiled);
        assert_eq!(cache.stats.rejected.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_corrupt_artifact_fails_its_checksum_and_an_unlabeled_or_old_entry_is_recompiled() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, cache) = cache(dir.path());
        outcome(&cache, &engine, &hash("echo"));
        let echo = entry(&cache, &hash("echo"));
        let mut bytes = std::fs::read(&echo.artifact).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&echo.artifact, &bytes).unwrap();
        assert!(matches!(echo.load(&engine).map(|_| ()), Err(Rejection::Checksum)));
        std::fs::remove_file(&echo.label).unwrap();
        assert!(matches!(echo.load(&engine).map(|_| ()), Err(Rejection::Unlabeled)));
        std::fs::write(&echo.artifact, b"POEHOST2 and the rest of an old entry").unwrap();
        let old = echo.load(&engine).map(|_| ()).unwrap_err();
        assert!(matches!(&old, Rejection::OldLayout(layout) if layout == "POEHOST2"), "{old}");
        assert_eq!(outcome(&cache, &engine, &hash("echo")), CacheOutcome::Compiled);
        assert_eq!(outcome(&cache, &engine, &hash("echo")), CacheOutcome::Hit);
        assert_eq!(cache.stats.rejected.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn eviction_keeps_the_entries_of_loaded_bots_and_takes_both_files_of_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = ArtifactCache::new(&engine, Some(dir.path().to_owned()), 0).unwrap();
        outcome(&cache, &engine, &hash("old"));
        outcome(&cache, &engine, &hash("new"));
        cache.evict(Vec::new()).await;
        assert_eq!(cache.stats.evicted.load(Ordering::Relaxed), 0, "both may be loading still");
        cache.evict(vec![hash("new")]).await;
        assert_eq!(cache.stats.evicted.load(Ordering::Relaxed), 1);
        let old = entry(&cache, &hash("old"));
        assert!(!old.artifact.exists() && !old.label.exists(), "artifact and label go together");
        assert_eq!(outcome(&cache, &engine, &hash("new")), CacheOutcome::Hit);
        assert_eq!(outcome(&cache, &engine, &hash("old")), CacheOutcome::Compiled);
    }
}
