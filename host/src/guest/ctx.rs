//! [`BotCtx`]: the data of one call's wasmtime `Store` — WASI context, resource table,
//! limits, and the output side of the response.
//!
//! It implements the host side of the world's own imports (`responder`, `logging`), gives
//! each capability its view (`bot-query`), and holds the epoch callback that yields to tokio and enforces the CPU budget.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bots::guest_env::GuestEnv;
use crate::capabilities::bot_query::{BotQueryCtx, BotQueryCtxView, BotQueryView};
use crate::capabilities::outbound::OutboundHooks;
use crate::capabilities::outbound::config::OutboundConfig;
use crate::capabilities::platform::{PlatformCtx, PlatformCtxView, PlatformView};
use crate::guest::bindings::{Level, poe::bot::logging, poe::bot::responder, types};
use crate::guest::guest_log::GuestLog;
use crate::guest::output::Output;
use crate::sandbox::fairness::{HeavySlot, LIGHT_TICKS};
use crate::sandbox::limits::Limits;

/// Entries one call's resource table may hold at once. They live in host memory, outside
/// the guest's memory cap; real bots hold a handful. A stream, or a pollable on one, is one
/// entry; a clock pollable is two (wasmtime-wasi keeps its timer as an entry of its own), so
/// a call can hold 5,000 of those.
const MAX_RESOURCES: usize = 10_000;

/// Per-call state stored in the wasmtime `Store`.
pub struct BotCtx {
    /// Name of the bot, for log lines.
    pub bot: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    /// Where stdout, stderr and `logging` messages go, within one budget.
    log: GuestLog,
    store_limits: StoreLimits,
    /// Where `emit` sends the response; `None` for calls that do not stream.
    pub output: Option<Output>,
    /// Epoch ticks of CPU time used so far.
    ticks: u64,
    /// CPU budget in ticks.
    max_ticks: u64,
    /// The heavy slot this call holds once it has computed past `fairness::LIGHT_TICKS`.
    heavy: HeavySlot,
    /// Calls to other bots (`poe:bot/bot-query`).
    bot_query: BotQueryCtx,
    /// Uploads and costs (`poe:bot/attachments`, `poe:bot/cost`).
    pub platform: PlatformCtx,
    /// Outbound HTTP (`wasi:http`): header limits, and the policy every request passes.
    http: WasiHttpCtx,
    outbound: OutboundHooks,
}

impl BotCtx {
    /// A context with no ambient authority: no files, args, sockets or stdin, and only the
    /// environment variables the bot's sidecar grants (`env`);
    /// stdout and stderr go to the host log. `heavy` is the call's claim on CPU beyond its
    /// light phase (see `fairness`).
    /// `bot_query` is the state of the bot-query capability (disabled outside queries);
    /// `platform` that of uploads and costs; `outbound` the bot's outbound HTTP policy.
    #[expect(clippy::too_many_arguments, reason = "one per part of the call's state")]
    pub fn new(
        bot: Arc<str>,
        env: &GuestEnv,
        outbound: Arc<OutboundConfig>,
        limits: &Limits,
        output: Option<Output>,
        heavy: HeavySlot,
        bot_query: BotQueryCtx,
        platform: PlatformCtx,
    ) -> Self {
        // Built inside the call's `request` span, which the log carries to stdout's task.
        let log = GuestLog::new(bot.clone(), limits.max_log_bytes, tracing::Span::current());
        let wasi = WasiCtxBuilder::new()
            .envs(env.vars())
            .stdout(log.clone())
            .stderr(log.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        let store_limits = StoreLimitsBuilder::new()
            .memory_size(limits.max_memory)
            .instances(64)
            .tables(64)
            .memories(16)
            .trap_on_grow_failure(true)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let max_ticks = limits.cpu_ticks();
        let outbound = OutboundHooks::new(bot.clone(), outbound);
        let http = WasiHttpCtx::new();
        Self {
            bot,
            wasi,
            table,
            log,
            store_limits,
            output,
            ticks: 0,
            max_ticks,
            heavy,
            bot_query,
            platform,
            http,
            outbound,
        }
    }

    /// Wire `store` to this context's limits: memory caps, and an epoch callback that
    /// yields to tokio every tick, makes long computations wait their turn for a heavy
    /// slot (see `fairness`), and traps once the CPU budget is spent.
    pub fn install_limits(store: &mut Store<BotCtx>) {
        store.limiter(|ctx| &mut ctx.store_limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut store| {
            let ctx = store.data_mut();
            // A tick is charged once the call has computed past the ticks already charged:
            // when the deadline passed while it waited (sleep, I/O, its turn), it has not. At
            // most one per callback, so time the OS took the thread away is not charged.
            if ctx.heavy.computed_ticks().is_some_and(|computed| computed <= ctx.ticks) {
                return Ok(UpdateDeadline::Continue(1));
            }
            ctx.ticks += 1;
            if ctx.ticks > ctx.max_ticks {
                return Ok(UpdateDeadline::Interrupt);
            }
            if ctx.ticks <= LIGHT_TICKS {
                return Ok(UpdateDeadline::Yield(1));
            }
            Ok(UpdateDeadline::YieldCustom(1, ctx.heavy.next_turn()))
        });
    }

    /// Whether the call ran out of CPU budget.
    pub fn cpu_exhausted(&self) -> bool {
        self.ticks > self.max_ticks
    }
}

impl WasiView for BotCtx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl BotQueryView for BotCtx {
    fn bot_query(&mut self) -> BotQueryCtxView<'_> {
        BotQueryCtxView { ctx: &mut self.bot_query, table: &mut self.table }
    }
}

impl PlatformView for BotCtx {
    fn platform(&mut self) -> PlatformCtxView<'_> {
        PlatformCtxView { ctx: &mut self.platform, output: self.output.as_mut() }
    }
}

impl WasiHttpView for BotCtx {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.outbound }
    }
}

impl types::Host for BotCtx {}

impl responder::Host for BotCtx {
    /// Traps once an output cap is exceeded, so even a guest that ignores errors stops.
    async fn emit(&mut self, part: types::PartialResponse) -> wasmtime::Result<Result<(), types::EmitError>> {
        let Some(output) = &mut self.output else {
            let why = "this call cannot send a response".to_owned();
            return Ok(Err(types::EmitError::Invalid(why)));
        };
        let sent = output.emit(part).await;
        match output.exceeded {
            Some(cap) => Err(wasmtime::Error::msg(format!("output cap exceeded: {cap:?}"))),
            None => Ok(sent),
        }
    }
}

impl logging::Host for BotCtx {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Trace => tracing::Level::TRACE,
            Level::Debug => tracing::Level::DEBUG,
            Level::Info => tracing::Level::INFO,
            Level::Warn => tracing::Level::WARN,
            Level::Error => tracing::Level::ERROR,
        };
        self.log.message(level, &message);
        Ok(())
    }
}
