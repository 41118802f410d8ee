//! [`BotRegistry`]: the bots being served, by name, and loading them from the bots directory.
//!
//! Lookups clone an `Arc`, so a request keeps the version it started with even if the
//! bot is replaced or removed meanwhile.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::loader::{BotLoader, LoadError, LoadedBot};

/// Longest bot name served.
pub const MAX_NAME_LEN: usize = 64;

/// The bots being served.
#[derive(Default)]
pub struct BotRegistry {
    bots: RwLock<BTreeMap<String, Arc<LoadedBot>>>,
}

impl BotRegistry {
    /// The bot served as `name`, if any.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedBot>> {
        self.bots.read().expect("registry lock poisoned").get(name).cloned()
    }

    /// Serve `bot` under its name, replacing any previous version.
    pub fn insert(&self, bot: LoadedBot) -> Option<Arc<LoadedBot>> {
        let name = bot.name.to_string();
        self.bots.write().expect("registry lock poisoned").insert(name, Arc::new(bot))
    }

    /// Stop serving `name`.
    pub fn remove(&self, name: &str) -> Option<Arc<LoadedBot>> {
        self.bots.write().expect("registry lock poisoned").remove(name)
    }

    /// The names being served, sorted.
    pub fn names(&self) -> Vec<String> {
        self.bots.read().expect("registry lock poisoned").keys().cloned().collect()
    }

    /// Load every `*.wasm` in `dir`. Bots that fail are logged and skipped; returns how
    /// many were loaded.
    pub async fn load_dir(&self, loader: &BotLoader, dir: &Path) -> anyhow::Result<usize> {
        let mut loaded = 0;
        for (name, path) in bot_files(dir)? {
            match load_blocking(loader, &name, &path).await {
                Ok(bot) => {
                    log_loaded(&bot);
                    self.insert(bot);
                    loaded += 1;
                }
                Err(e) => tracing::error!(bot = %name, "not serving: {e}"),
            }
        }
        Ok(loaded)
    }
}

/// Load a bot on the blocking pool, off the async runtime.
pub async fn load_blocking(loader: &BotLoader, name: &str, path: &Path) -> Result<LoadedBot, LoadError> {
    let (loader, name, path) = (loader.clone(), name.to_owned(), path.to_owned());
    tokio::task::spawn_blocking(move || loader.load(&name, &path)).await.expect("bot loading panicked")
}

fn log_loaded(bot: &LoadedBot) {
    tracing::info!(
        bot = %bot.name,
        hash = &bot.hash[..12],
        compile_ms = bot.compile_time.as_millis() as u64,
        keyless = bot.config.access_key.is_none(),
        "loaded"
    );
    if let Some(key) = &bot.config.access_key
        && !key.looks_like_poe_key()
    {
        tracing::warn!(bot = %bot.name, "access key is not 32 characters: Poe-issued keys are");
    }
}

/// The `(name, path)` of every bot file in `dir`, sorted by name. Files whose names are not
/// valid bot names are skipped with a warning.
pub fn bot_files(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    use anyhow::Context;
    let mut files = Vec::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read bots directory {}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "wasm") || !path.is_file() {
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

/// Whether `name` may be served: 1–64 ASCII letters, digits, `_` or `-`, not starting
/// with `_` (reserved for the host) or `-`. Rules out every path trick.
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
}
