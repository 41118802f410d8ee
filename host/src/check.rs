//! `poe-host check FILE.wasm`: compile a bot and check it against the `poe:bot` world,
//! saying exactly what is wrong, without starting a server. With `--cache-dir` the
//! compiled bot is kept there, so a deploy can warm a host's cache before it starts (a
//! Python bot then loads in milliseconds instead of compiling for seconds).

use std::path::{Path, PathBuf};

use crate::bots::cache::ArtifactCache;
use crate::bots::sidecar::HostDefaults;
use crate::guest::engine::{EngineOptions, new_engine, new_linker};
use crate::guest::exports::HANDLER_EXPORT;
use crate::guest::loader::{BotLoader, DEFAULT_MAX_BOT_BYTES, read_wasm, wasm_hash};
use crate::sandbox::limits::DEFAULT_MAX_MEMORY;

/// Check `path`; `Ok` carries a one-line summary, `Err` the reason it cannot be served.
pub fn check_file(path: &Path) -> anyhow::Result<String> {
    check_file_into(path, None)
}

/// Check `path`, keeping the compiled bot in `cache_dir` (the directory `serve` uses).
pub fn check_file_into(path: &Path, cache_dir: Option<PathBuf>) -> anyhow::Result<String> {
    let cache_max_bytes = crate::bots::cache::DEFAULT_MAX_BYTES;
    let options = EngineOptions { pool_size: 1, max_memory: DEFAULT_MAX_MEMORY, cache_dir, cache_max_bytes };
    let engine = new_engine(&options)?;
    let linker = new_linker(&engine)?;
    let cache = ArtifactCache::new(&engine, options.cache_dir.clone(), cache_max_bytes)?;
    let loader = BotLoader::new(engine, linker, HostDefaults::default(), cache);
    let bytes = read_wasm(path, DEFAULT_MAX_BOT_BYTES)?;
    let ((pre, _), _) = loader.compile(path, &bytes, &wasm_hash(&bytes))?;
    let (engine, ty) = (pre.engine(), pre.component().component_type());
    // The names the bot was built with: an older bot exports an older `handler` version.
    let export = ty.exports(engine).map(|(name, _)| name).find(|n| n.starts_with("poe:bot/handler@"));
    let imports: Vec<&str> =
        ty.imports(engine).map(|(name, _)| name).filter(|n| n.starts_with("poe:bot/")).collect();
    let (export, kib) = (export.unwrap_or(HANDLER_EXPORT), bytes.len() / 1024);
    Ok(format!("ok: {} exports {export}, imports [{}] ({kib} KiB)", path.display(), imports.join(", ")))
}
