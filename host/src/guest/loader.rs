//! [`BotLoader`]: turns a `NAME.wasm` (and its sidecar) into a [`LoadedBot`] — compiled,
//! checked against the `poe:bot` world and pre-linked, ready to instantiate per request.
//!
//! Compiling is CPU-heavy, so callers on the async runtime run [`BotLoader::load`] in
//! `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::{InstancePre, Linker};

use crate::bots::cache::{ArtifactCache, CacheOutcome};
use crate::bots::regular_file::{FileError, RegularFile};
use crate::bots::sidecar::{BotConfig, ConfigError, HostDefaults, load_config};
use crate::guest::ctx::BotCtx;
use crate::guest::engine::{CORE_INSTANCES_PER_COMPONENT, MEMORIES_PER_COMPONENT, TABLES_PER_COMPONENT};
use crate::guest::exports::{HANDLER_EXPORT, HandlerExports};
use crate::guest::fault::one_line;
use crate::sandbox::admission::Gate;

/// Largest bot file loaded, checked before it is read: real components are a few MiB (one
/// bundling a whole language runtime a few tens), it is read into memory whole, and
/// compiling it takes several times its size.
pub const DEFAULT_MAX_BOT_BYTES: u64 = 64 << 20;

/// Bytes read to check a bot file's header before the rest: magic and version.
const HEADER_LEN: u64 = 8;

/// A bot ready to serve: compiled once, instantiated per request.
pub struct LoadedBot {
    /// The name it is served under (`/NAME`).
    pub name: Arc<str>,
    /// The file it came from.
    pub path: PathBuf,
    /// SHA-256 of the wasm file, hex.
    pub hash: String,
    /// When it was loaded.
    pub loaded_at: SystemTime,
    /// How long compiling (or loading from cache) and linking took.
    pub compile_time: Duration,
    /// Whether the code came from the cache, was compiled, or was reused from the
    /// previous version (`None`: only the sidecar changed).
    pub origin: Option<CacheOutcome>,
    /// Its configuration (key, attachment insertion, limits).
    pub config: BotConfig,
    /// The pre-linked component.
    pub pre: InstancePre<BotCtx>,
    /// Its `handler` functions, type-checked.
    pub exports: HandlerExports,
    /// Admission for this bot's calls (its concurrency cap and queue). A new version with
    /// the same cap shares its predecessor's gate, so calls still running on the old version
    /// count against the cap: it holds across a swap instead of doubling for a while.
    pub gate: Arc<Gate>,
}

impl std::fmt::Debug for LoadedBot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedBot").field("name", &self.name).field("hash", &self.hash).finish()
    }
}

/// Why a bot file cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file cannot be read, is not a regular file, or is too large.
    #[error(transparent)]
    File(#[from] FileError),
    /// The file is a core wasm module, not a component.
    #[error(
        "{path} is a core wasm module, not a component: build it with `cargo component build` or `--target wasm32-wasip2`"
    )]
    CoreModule {
        /// The file.
        path: String,
    },
    /// The file is not valid wasm, or failed to compile.
    #[error("{path} is not a valid wasm component: {message}")]
    Compile {
        /// The file.
        path: String,
        /// Wasmtime's reason.
        message: String,
    },
    /// The component has more core instances, memories or tables than a pool slot holds.
    #[error(
        "{path} is larger than a poe-host instance slot ({CORE_INSTANCES_PER_COMPONENT} core instances, {MEMORIES_PER_COMPONENT} memories, {TABLES_PER_COMPONENT} tables per bot): {message}"
    )]
    TooManyInstances {
        /// The file.
        path: String,
        /// Wasmtime's reason, naming the count and the cap.
        message: String,
    },
    /// The component imports something the host does not provide.
    #[error("{path} needs an import poe-host does not provide: {message}")]
    Link {
        /// The file.
        path: String,
        /// Wasmtime's reason.
        message: String,
    },
    /// The component does not implement the `poe:bot` world.
    #[error("{path} does not export {HANDLER_EXPORT}: {message}")]
    WrongWorld {
        /// The file.
        path: String,
        /// Wasmtime's reason.
        message: String,
    },
    /// The sidecar config is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Loading panicked (a bug in poe-host or wasmtime): the bot is not served, the host
    /// and its watcher go on.
    #[error("{path}: loading failed unexpectedly: {message}")]
    Panicked {
        /// The file.
        path: String,
        /// The panic's message.
        message: String,
    },
}

/// Compiles and links bots with the shared engine.
#[derive(Clone)]
pub struct BotLoader {
    engine: Engine,
    linker: Arc<Linker<BotCtx>>,
    defaults: Arc<HostDefaults>,
    cache: Arc<ArtifactCache>,
    max_file_bytes: u64,
}

impl BotLoader {
    /// A loader using `engine` and `linker`, applying `defaults` to every bot and keeping
    /// compiled code in `cache`.
    pub fn new(engine: Engine, linker: Linker<BotCtx>, defaults: HostDefaults, cache: ArtifactCache) -> Self {
        let (linker, defaults, cache) = (Arc::new(linker), Arc::new(defaults), Arc::new(cache));
        Self { engine, linker, defaults, cache, max_file_bytes: DEFAULT_MAX_BOT_BYTES }
    }

    /// The same loader refusing bot files larger than `bytes` (default
    /// [`DEFAULT_MAX_BOT_BYTES`]).
    pub fn with_max_file_bytes(self, bytes: u64) -> Self {
        Self { max_file_bytes: bytes, ..self }
    }

    /// The compile cache (for its counters).
    pub fn cache(&self) -> &ArtifactCache {
        &self.cache
    }

    /// The engine bots are compiled for.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Load the bot at `path`, served as `name`. Blocking: may compile the component.
    /// When `previous` has the same code, its compiled form is reused.
    pub fn load(
        &self,
        name: &str,
        path: &Path,
        previous: Option<&LoadedBot>,
    ) -> Result<LoadedBot, LoadError> {
        let config = load_config(path, &self.defaults)?;
        let bytes = read_wasm(path, self.max_file_bytes)?;
        let hash = wasm_hash(&bytes);
        let started = Instant::now();
        let ((pre, exports), origin) = match previous.filter(|p| p.hash == hash) {
            Some(previous) => ((previous.pre.clone(), previous.exports.clone()), None),
            None => self.compile(path, &bytes, &hash).map(|(linked, outcome)| (linked, Some(outcome)))?,
        };
        let (capacity, queue) = (config.limits.max_concurrent, self.defaults.queue);
        let gate = match previous.filter(|p| p.gate.admits_like(capacity, queue)) {
            Some(previous) => previous.gate.clone(),
            None => Arc::new(Gate::new(capacity, queue)),
        };
        Ok(LoadedBot {
            name: name.into(),
            path: path.to_owned(),
            hash,
            loaded_at: SystemTime::now(),
            compile_time: started.elapsed(),
            origin,
            gate,
            config,
            pre,
            exports,
        })
    }

    /// Compile `bytes` (SHA-256 `hash`), via the cache, and check them against the world.
    pub fn compile(
        &self,
        path: &Path,
        bytes: &[u8],
        hash: &str,
    ) -> Result<((InstancePre<BotCtx>, HandlerExports), CacheOutcome), LoadError> {
        check_header(path, bytes)?;
        let (component, outcome) =
            self.cache.load_or_compile(&self.engine, bytes, hash).map_err(|e| compile_error(path, &e))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link { path: shown(path), message: one_line(&format!("{e:#}")) })?;
        let exports = HandlerExports::new(&pre)
            .map_err(|e| LoadError::WrongWorld { path: shown(path), message: one_line(&format!("{e:#}")) })?;
        Ok(((pre, exports), outcome))
    }
}

/// The SHA-256 of a bot's wasm, in hex: what names its compile-cache entry and tells a
/// reload whether the code changed.
pub fn wasm_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The bot file at `path`, if it is a regular file of at most `limit` bytes that starts like
/// a component: the type, size and header are checked before the rest is read.
pub fn read_wasm(path: &Path, limit: u64) -> Result<Vec<u8>, LoadError> {
    let mut file = RegularFile::open(path, limit)?;
    let mut bytes = Vec::new();
    file.read_some(&mut bytes, HEADER_LEN)?;
    check_header(path, &bytes)?;
    file.read_rest(&mut bytes)?;
    Ok(bytes)
}

/// Refuse what is not wasm, or is a core module, from its first [`HEADER_LEN`] bytes.
fn check_header(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    if !bytes.starts_with(b"\0asm") {
        let message = "not a wasm file (no \\0asm header)".to_owned();
        return Err(LoadError::Compile { path: shown(path), message });
    }
    if is_core_module(bytes) {
        return Err(LoadError::CoreModule { path: shown(path) });
    }
    Ok(())
}

/// A compile failure as a [`LoadError`]: a component over the pool's per-slot caps is told
/// apart (wasmtime's pooling allocator says so in its message) from one that is invalid.
fn compile_error(path: &Path, error: &wasmtime::Error) -> LoadError {
    let message = one_line(&format!("{error:#}"));
    if message.contains(POOL_LIMIT_MARK) {
        return LoadError::TooManyInstances { path: shown(path), message };
    }
    LoadError::Compile { path: shown(path), message }
}

/// What wasmtime 48's pooling allocator says when a component exceeds a per-component cap
/// ("… which exceeds the configured maximum of 32 in the pooling allocator").
const POOL_LIMIT_MARK: &str = "in the pooling allocator";

fn shown(path: &Path) -> String {
    path.display().to_string()
}

/// A core module has wasm version 1; components use a different layer/version word.
fn is_core_module(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0]
}
