//! [`FunctionStore`]: Cranelift's incremental compilation cache on disk, one file per
//! compiled function, in the `functions/` directory of the compile cache. The engine
//! consults it for every function it compiles.
//!
//! A Python bot is ~10,000 functions of CPython and a few of its own, so a second Python
//! bot, or a new version of one, finds most of its functions here and compiles only the
//! rest. The machine code in these files runs natively, so they are trusted as cache
//! entries are: a private directory, regular files of this user's that no one else may
//! write (`dir`), and a SHA-256 over the key and the code, checked before Cranelift sees
//! them. Cranelift's key hashes the function's IR with the target and its settings, and
//! Cranelift refuses a value written by another version of itself (a miss, then rewritten).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::CacheStore;

use super::dir::{self, CacheDirError};

/// First bytes of every function file; bump the digit when the layout changes.
const MAGIC: &[u8; 8] = b"POEFUNC1";
const DIGEST_LEN: usize = 32;
/// Largest function file read: a compiled function is a few KiB (CPython's largest, the
/// interpreter loop, is under 1 MiB).
const MAX_FUNCTION_BYTES: u64 = 16 << 20;
/// Extension of a function file.
pub const FUNCTION_EXT: &str = "fn";
/// Name of the directory, inside the cache directory, that holds the functions.
pub const FUNCTIONS_DIR: &str = "functions";
/// Bytes of compiled functions kept (least recently used go first, as entries do; unused
/// for 30 days, they go whatever the budget). Three componentize-py bots' functions took
/// 31 MiB in 14,546 files (74 MB on disk: small files fill whole blocks), almost all of it
/// CPython's, which every Python bot shares; this keeps about four such sets.
pub const FUNCTIONS_MAX_BYTES: u64 = 128 << 20;

/// Counters for the tests and the log.
#[derive(Debug, Default)]
pub struct FunctionStats {
    /// Functions found here (not compiled).
    pub hits: AtomicU64,
    /// Functions looked for and not found (then compiled and stored).
    pub misses: AtomicU64,
    /// Files found corrupt, foreign or unsafe (then compiled and rewritten).
    pub rejected: AtomicU64,
}

/// Compiled functions on disk, keyed by Cranelift's hash of the function and the target.
#[derive(Debug)]
pub struct FunctionStore {
    dir: PathBuf,
    /// Hits, misses and rejections.
    pub stats: FunctionStats,
}

impl FunctionStore {
    /// The store in `cache_dir/functions`, created private to this user if missing; an
    /// existing one is checked like the cache directory (`dir::open_private_dir`).
    pub fn open(cache_dir: &Path) -> Result<Self, CacheDirError> {
        let dir = dir::open_private_dir(&dir::open_private_dir(cache_dir)?.join(FUNCTIONS_DIR))?;
        Ok(Self::new(dir))
    }

    /// A store in `dir`, already checked private.
    fn new(dir: PathBuf) -> Self {
        Self { dir, stats: FunctionStats::default() }
    }

    fn path(&self, key: &[u8]) -> PathBuf {
        self.dir.join(format!("{}.{FUNCTION_EXT}", hex::encode(key)))
    }

    /// SHA-256 over Cranelift's key and the code: a file copied under another key, or
    /// corrupt, does not match.
    fn digest(&self, key: &[u8], value: &[u8]) -> [u8; DIGEST_LEN] {
        let mut hasher = Sha256::new();
        hasher.update((key.len() as u64).to_be_bytes());
        hasher.update(key);
        hasher.update(value);
        hasher.finalize().into()
    }

    fn read(&self, key: &[u8]) -> Option<Vec<u8>> {
        let path = self.path(key);
        let bytes = match dir::read_entry(&path, MAX_FUNCTION_BYTES + 1) {
            Ok(bytes) => bytes?,
            Err(why) => return self.reject(&path, &why),
        };
        let value = bytes.strip_prefix(MAGIC.as_slice()).and_then(|rest| rest.split_at_checked(DIGEST_LEN));
        match value {
            Some((digest, value)) if digest == self.digest(key, value) => {
                dir::touch(&path);
                Some(value.to_vec())
            }
            _ => self.reject(&path, &"checksum mismatch"),
        }
    }

    fn reject(&self, path: &Path, why: &dyn std::fmt::Display) -> Option<Vec<u8>> {
        self.stats.rejected.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(path = %path.display(), "discarding a cached function ({why}); recompiling it");
        let _ = std::fs::remove_file(path);
        None
    }
}

impl CacheStore for FunctionStore {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let found = self.read(key);
        let counter = if found.is_some() { &self.stats.hits } else { &self.stats.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found.map(Cow::Owned)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let digest = self.digest(key, &value);
        // Not synced: a file torn by a crash fails its checksum and is compiled again.
        match dir::write_file(&self.path(key), &[MAGIC, &digest, &value], false) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(dir = %self.dir.display(), "could not store a compiled function: {e}");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> FunctionStore {
        FunctionStore::new(dir.to_owned())
    }

    #[test]
    fn a_stored_function_comes_back_and_a_missing_one_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        assert_eq!(store.get(b"key"), None);
        assert!(store.insert(b"key", b"code".to_vec()));
        assert_eq!(store.get(b"key").as_deref(), Some(b"code".as_slice()));
        assert_eq!(store.stats.hits.load(Ordering::Relaxed), 1);
        assert_eq!(store.stats.misses.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_function_copied_under_another_key_or_corrupt_is_refused_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        store.insert(b"one", b"code of one".to_vec());
        std::fs::copy(store.path(b"one"), store.path(b"two")).unwrap();
        assert_eq!(store.get(b"two"), None, "copied under another key");
        assert!(!store.path(b"two").exists(), "and deleted");
        let mut bytes = std::fs::read(store.path(b"one")).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(store.path(b"one"), bytes).unwrap();
        assert_eq!(store.get(b"one"), None, "corrupt");
        assert_eq!(store.stats.rejected.load(Ordering::Relaxed), 2);
        assert_eq!(store.stats.hits.load(Ordering::Relaxed), 0);
    }

    /// `(func (result i32) i32.const 42)`, alone and then with an export: two modules
    /// sharing one function.
    const MODULE: &[u8] =
        b"\0asm\x01\0\0\0\x01\x05\x01\x60\x00\x01\x7f\x03\x02\x01\x00\x0a\x06\x01\x04\x00\x41\x2a\x0b";
    const MODULE_WITH_EXPORT: &[u8] = b"\0asm\x01\0\0\0\x01\x05\x01\x60\x00\x01\x7f\x03\x02\x01\x00\x07\x05\x01\x01f\x00\x00\x0a\x06\x01\x04\x00\x41\x2a\x0b";

    #[test]
    fn an_engine_compiles_a_function_once_for_two_modules_that_share_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(store(dir.path()));
        let mut config = wasmtime::Config::new();
        config.enable_incremental_compilation(store.clone()).unwrap();
        let engine = wasmtime::Engine::new(&config).unwrap();
        let counts =
            || (store.stats.hits.load(Ordering::Relaxed), store.stats.misses.load(Ordering::Relaxed));
        wasmtime::Module::new(&engine, MODULE).unwrap();
        let (hits, compiled) = counts();
        assert_eq!(hits, 0);
        assert!(compiled > 0);
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files as u64, compiled, "each compiled function is stored");
        wasmtime::Module::new(&engine, MODULE_WITH_EXPORT).unwrap();
        // What the first module compiled (its function and a trampoline) now comes from the
        // store; only what the export adds is compiled.
        assert_eq!(counts().0, compiled, "{:?}", counts());
    }

    #[test]
    fn a_function_file_others_may_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        store.insert(b"key", b"code".to_vec());
        std::fs::set_permissions(store.path(b"key"), std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(store.get(b"key"), None);
        assert_eq!(store.stats.rejected.load(Ordering::Relaxed), 1);
    }
}
