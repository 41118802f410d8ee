//! [`ArtifactCache`]: compiled bots kept on disk, so a restart with many bots compiles
//! nothing that did not change.
//!
//! Loading native code from disk is unsafe by nature, so the cache only trusts files it
//! wrote itself: each entry is named by the wasm's SHA-256 and the engine's compatibility
//! hash, and carries a SHA-256 of the artifact that is verified before wasmtime sees it.
//! Any mismatch, truncation or corruption means "recompile and rewrite", never a crash.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// First bytes of every cache entry; bump the digit when the layout changes.
const MAGIC: &[u8; 8] = b"POEHOST1";
const DIGEST_LEN: usize = 32;

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
    /// Entries found corrupt or stale and replaced.
    pub rejected: AtomicU64,
}

/// The on-disk cache of compiled components (or none: always compile).
#[derive(Debug)]
pub struct ArtifactCache {
    dir: Option<PathBuf>,
    engine_key: String,
    /// Hit, compile and rejection counts.
    pub stats: CacheStats,
}

impl ArtifactCache {
    /// A cache in `dir` (created private to this user) for components of `engine`.
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> anyhow::Result<Self> {
        if let Some(dir) = &dir {
            create_private_dir(dir)?;
        }
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        Ok(Self { dir, engine_key: format!("{:016x}", hasher.finish()), stats: CacheStats::default() })
    }

    /// The component for `wasm` (whose SHA-256 is `wasm_hash`), from cache or compiled.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        wasm_hash: &str,
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let entry = self.dir.as_ref().map(|d| d.join(format!("{wasm_hash}-{}.cwasm", self.engine_key)));
        if let Some(entry) = &entry
            && let Some(component) = self.read(engine, entry)
        {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            return Ok((component, CacheOutcome::Hit));
        }
        let component = Component::new(engine, wasm)?;
        self.stats.compiles.fetch_add(1, Ordering::Relaxed);
        if let Some(entry) = &entry
            && let Err(e) = write_entry(entry, &component.serialize()?)
        {
            tracing::warn!(path = %entry.display(), "could not write the compile cache: {e}");
        }
        Ok((component, CacheOutcome::Compiled))
    }

    fn read(&self, engine: &Engine, entry: &Path) -> Option<Component> {
        let bytes = std::fs::read(entry).ok()?;
        let Some(artifact) = verified_artifact(&bytes) else {
            self.reject(entry, "checksum mismatch");
            return None;
        };
        match deserialize(engine, artifact) {
            Ok(component) => Some(component),
            Err(e) => {
                self.reject(entry, &format!("{e:#}"));
                None
            }
        }
    }

    fn reject(&self, entry: &Path, why: &str) {
        self.stats.rejected.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(path = %entry.display(), "discarding cache entry ({why}); recompiling");
        let _ = std::fs::remove_file(entry);
    }
}

/// The artifact inside a cache entry, if its header and checksum are intact.
fn verified_artifact(bytes: &[u8]) -> Option<&[u8]> {
    let rest = bytes.strip_prefix(MAGIC.as_slice())?;
    let (digest, artifact) = rest.split_at_checked(DIGEST_LEN)?;
    (Sha256::digest(artifact).as_slice() == digest).then_some(artifact)
}

#[expect(unsafe_code, reason = "deserializing native code; the bytes were checksummed above")]
fn deserialize(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `artifact` is a `Component::serialize` output this host wrote itself (the
    // entry sits in a private directory and its SHA-256 matched), for an engine with the
    // same compatibility hash (part of the entry's name). wasmtime re-checks the header.
    unsafe { Component::deserialize(engine, artifact) }
}

/// Write an entry atomically: a temporary file renamed into place.
fn write_entry(entry: &Path, artifact: &[u8]) -> std::io::Result<()> {
    let tmp = entry.with_extension(format!("tmp{}", std::process::id()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(MAGIC)?;
    file.write_all(&Sha256::digest(artifact))?;
    file.write_all(artifact)?;
    file.sync_all()?;
    std::fs::rename(&tmp, entry)
}

/// Create `dir` for this user only. Compiled code from the cache runs as native code, so a
/// directory someone else owns or may write to is refused rather than trusted.
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create cache directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        let meta = std::fs::metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        #[cfg(target_os = "linux")]
        anyhow::ensure!(
            meta.uid() == rustix::process::geteuid().as_raw(),
            "cache directory {} belongs to another user; pass --cache-dir with a directory of your own, or none",
            dir.display()
        );
        anyhow::ensure!(
            meta.mode() & 0o022 == 0,
            "cache directory {} is writable by other users; make it private (chmod 700) or pass --cache-dir none",
            dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_verify_their_checksum() {
        let mut entry = MAGIC.to_vec();
        entry.extend_from_slice(&Sha256::digest(b"code"));
        entry.extend_from_slice(b"code");
        assert_eq!(verified_artifact(&entry), Some(&b"code"[..]));
        let last = entry.len() - 1;
        entry[last] ^= 1;
        assert_eq!(verified_artifact(&entry), None);
        assert_eq!(verified_artifact(b"POEHOST1short"), None);
        assert_eq!(verified_artifact(b""), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_cache_directory_of_another_user_is_refused() {
        let dir = std::env::temp_dir().join(format!("poe-host-cache-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        create_private_dir(&dir).expect("a fresh directory of our own is fine");
        if std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).is_err() {
            eprintln!("skipped the foreign-owner case: changing an owner needs root");
        } else {
            let err = create_private_dir(&dir).unwrap_err().to_string();
            assert!(err.contains("belongs to another user"), "{err}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
