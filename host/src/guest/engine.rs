//! The wasmtime [`Engine`] and [`Linker`] shared by every bot, and the epoch ticker that
//! drives time slicing and CPU budgets.
//!
//! One engine serves all bots: compiled code, the instance pool and the epoch counter are
//! shared, so a request costs an instantiation from the pool, never a compile.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

use crate::bots::cache::FunctionStore;
use crate::capabilities::{bot_query, outbound, platform};
use crate::guest::bindings::poe::bot::{logging, responder, types};
use crate::guest::ctx::BotCtx;
pub use crate::sandbox::admission::DEFAULT_POOL_SIZE;
use crate::sandbox::limits::EPOCH_TICK;

/// Core instances a bot component may contain: a Rust bot has 3 (its module, the WASI
/// adapter, shims), a componentize-py bot 14 (libpython, libc, the runtime, WASI shims), so
/// 32 leaves room for a few more shared libraries. In wasmtime 48's pooling allocator this
/// cap is a count checked when a component is compiled, and the pool's total
/// (`pool_size` × 32) a counter of live instances: neither reserves memory (a core
/// instance's `VMContext` is allocated when it is instantiated).
pub const CORE_INSTANCES_PER_COMPONENT: u32 = 32;
/// Tables a bot component may define (a Rust bot has 1–2, a componentize-py bot 2). Unlike
/// core instances, each table in the pool reserves address space for its maximum size:
/// 20,000 elements × 8 bytes, 160 KiB (never committed until used), so 16 per slot is 2.5
/// MiB of address space per slot and 2.5 GiB for the default 1,000 slots.
pub const TABLES_PER_COMPONENT: u32 = 16;
/// Bytes of each linear memory kept resident between uses (dirty pages are reset in place).
/// A Rust guest's stack top sits at 1 MiB, with data and heap above it.
const MEMORY_KEEP_RESIDENT: usize = 2 << 20;
/// Bytes of each table kept resident between uses.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;
/// Linear memories a bot component may contain (its own and, for `cargo component`
/// builds, the WASI adapter's). Each reserves address space in the pool.
pub const MEMORIES_PER_COMPONENT: u32 = 2;

/// How the engine is sized.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Component instances the pool holds (the cap on concurrent calls).
    pub pool_size: u32,
    /// Largest linear memory any instance may have.
    pub max_memory: usize,
    /// Where compiled bots, and their compiled functions, are cached on disk (see `cache`);
    /// `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Bytes of cache entries kept; unused entries beyond it are evicted.
    pub cache_max_bytes: u64,
}

/// Build the engine: component model, epoch interruption, pooling allocator.
pub fn new_engine(options: &EngineOptions) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .concurrency_support(false)
        .cranelift_opt_level(OptLevel::Speed)
        .parallel_compilation(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(options)));
    if let Some(dir) = &options.cache_dir {
        // Functions compiled for one bot are reused for the next: CPython's ~10,000 are the
        // same in every Python bot and every version of one.
        let functions = Arc::new(FunctionStore::open(dir)?);
        config.enable_incremental_compilation(functions).map_err(anyhow::Error::from)?;
    }
    Engine::new(&config).map_err(anyhow::Error::from).context("failed to create the wasmtime engine")
}

fn pooling(options: &EngineOptions) -> PoolingAllocationConfig {
    let n = options.pool_size.max(1);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
        .total_memories(n.saturating_mul(MEMORIES_PER_COMPONENT))
        .total_tables(n.saturating_mul(TABLES_PER_COMPONENT))
        .total_stacks(n)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_memory_size(options.max_memory);
    // Reset only the pages a request dirtied (PAGEMAP_SCAN, Linux 6.7+) and keep them
    // resident: without this, every request's stack and heap pages fault in afresh and are
    // madvised away again, which was half the per-request cost (35 µs → 17 µs measured).
    pool.pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT);
    pool
}

/// A linker with WASI 0.2 (needed by any guest built with std) and the `poe:bot` imports.
pub fn new_linker(engine: &Engine) -> anyhow::Result<Linker<BotCtx>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .map_err(anyhow::Error::from)
        .context("failed to link WASI")?;
    // Interface by interface rather than `Bot::add_to_linker`: each capability registers
    // itself through its own view of the store.
    let poe_bot = |linker: &mut Linker<BotCtx>| -> wasmtime::Result<()> {
        types::add_to_linker::<_, HasSelf<_>>(linker, |ctx| ctx)?;
        responder::add_to_linker::<_, HasSelf<_>>(linker, |ctx| ctx)?;
        logging::add_to_linker::<_, HasSelf<_>>(linker, |ctx| ctx)
    };
    poe_bot(&mut linker).map_err(anyhow::Error::from).context("failed to link poe:bot")?;
    bot_query::add_to_linker(&mut linker).context("failed to link poe:bot/bot-query")?;
    platform::add_to_linker(&mut linker).context("failed to link poe:bot/attachments and poe:bot/cost")?;
    outbound::add_to_linker(&mut linker).context("failed to link wasi:http")?;
    Ok(linker)
}

/// Advance the engine's epoch every [`EPOCH_TICK`] on a background thread, until the
/// engine is dropped.
pub fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("poe-host-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning a thread at startup");
}
