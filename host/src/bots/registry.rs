//! [`BotRegistry`]: the bots being served, by name, with each file's last load error.
//!
//! Lookups clone an `Arc`, so a request keeps the version it started with even if the bot
//! is replaced or removed meanwhile; a swap is one map insert under a write lock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use crate::guest::loader::LoadedBot;

/// Longest bot name served.
pub const MAX_NAME_LEN: usize = 64;

#[derive(Default)]
struct Entry {
    path: PathBuf,
    bot: Option<Arc<LoadedBot>>,
    error: Option<(String, SystemTime)>,
}

/// What the admin view shows for one bot file.
#[derive(Debug, Clone)]
pub struct BotStatus {
    /// Name served (or that would be served).
    pub name: String,
    /// The `.wasm` file.
    pub path: PathBuf,
    /// The version being served, if any.
    pub bot: Option<Arc<LoadedBot>>,
    /// The last load failure since the last success, and when it happened.
    pub last_error: Option<(String, SystemTime)>,
}

/// The bots being served.
#[derive(Default)]
pub struct BotRegistry {
    entries: RwLock<BTreeMap<String, Entry>>,
}

impl BotRegistry {
    /// The bot served as `name`, if any.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedBot>> {
        self.read().get(name).and_then(|e| e.bot.clone())
    }

    /// Serve `bot` under its name, replacing any previous version; clears its error.
    pub fn install(&self, bot: LoadedBot) -> Option<Arc<LoadedBot>> {
        let mut entries = self.write();
        let entry = entries.entry(bot.name.to_string()).or_default();
        entry.path = bot.path.clone();
        entry.error = None;
        entry.bot.replace(Arc::new(bot))
    }

    /// Record that loading `name` from `path` failed; a version already served stays.
    pub fn record_failure(&self, name: &str, path: &Path, error: String) {
        let mut entries = self.write();
        let entry = entries.entry(name.to_owned()).or_default();
        entry.path = path.to_owned();
        entry.error = Some((error, SystemTime::now()));
    }

    /// Forget `name` entirely (its file is gone).
    pub fn remove(&self, name: &str) -> Option<Arc<LoadedBot>> {
        self.write().remove(name).and_then(|e| e.bot)
    }

    /// The names being served, sorted.
    pub fn names(&self) -> Vec<String> {
        self.read().iter().filter(|(_, e)| e.bot.is_some()).map(|(n, _)| n.clone()).collect()
    }

    /// Every known bot file with what is served and its last error.
    pub fn statuses(&self) -> Vec<BotStatus> {
        let entries = self.read();
        let status = |(name, e): (&String, &Entry)| BotStatus {
            name: name.clone(),
            path: e.path.clone(),
            bot: e.bot.clone(),
            last_error: e.error.clone(),
        };
        entries.iter().map(status).collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Entry>> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// The `(name, path)` of every bot file in `dir`, sorted by name. Files whose names are not
/// valid bot names are skipped with a warning. A FIFO or device named like a bot is listed,
/// so that loading it fails with a reason the operator sees.
pub fn bot_files(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let path = entry.path();
        // `metadata` follows symlinks and never blocks, even on a FIFO.
        let is_wasm = path.extension().is_some_and(|e| e == "wasm");
        if !is_wasm || !std::fs::metadata(&path).is_ok_and(|m| !m.is_dir()) {
            continue;
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        if is_valid_name(&stem) {
            files.push((stem, path));
        } else {
            tracing::warn!(file = %path.display(), "skipped: a bot name is 1-64 of [A-Za-z0-9_-], not starting with _ or -");
        }
    }
    files.sort();
    Ok(files)
}

/// The bot a file in the bots directory belongs to: `NAME` of `NAME.wasm` or its sidecar
/// `NAME.toml`; `None` for any other file, which the reloader ignores.
pub fn bot_of(path: &Path) -> Option<&str> {
    let ext = path.extension()?;
    let name = path.file_stem()?.to_str()?;
    ((ext == "wasm" || ext == "toml") && is_valid_name(name)).then_some(name)
}

/// Whether `name` may be served: 1–64 ASCII letters, digits, `_` or `-`, not starting
/// with `_` (reserved for the host, e.g. `/_admin`) or `-`. Rules out every path trick.
pub fn is_valid_name(name: &str) -> bool {
    let first_ok = name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    first_ok
        && name.len() <= MAX_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reject_path_tricks_and_reserved_prefixes() {
        for ok in ["echo", "Echo-2", "a_b", "x"] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "..", "a/b", "a.b", "_admin", "-x", "a b", "é", &"a".repeat(65)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn only_bot_files_and_sidecars_belong_to_a_bot() {
        assert_eq!(bot_of(Path::new("/bots/echo.wasm")), Some("echo"));
        assert_eq!(bot_of(Path::new("/bots/echo.toml")), Some("echo"));
        for other in
            ["/bots/noise.log", "/bots/echo.wasm.partial", "/bots/.echo.toml.swp", "/bots/_x.wasm", "/bots"]
        {
            assert_eq!(bot_of(Path::new(other)), None, "{other}");
        }
    }
}
