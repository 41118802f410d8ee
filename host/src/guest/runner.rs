//! Running guest calls: one fresh instance per call from the bot's pre-linked template,
//! bounded by its limits, with every failure turned into a [`Fault`].
//!
//! A query runs on its own task and writes SSE events into a bounded channel that the
//! HTTP response streams; the other calls return their value directly.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;
use wasmtime::Store;
use wasmtime::component::{ComponentNamedList, Instance, Lift, Lower};

use crate::capabilities::bot_query::BotQueryCtx;
use crate::capabilities::platform::PlatformCtx;
use crate::guest::bindings::types as wit;
use crate::guest::ctx::BotCtx;
use crate::guest::exports::Export;
use crate::guest::fault::Fault;
use crate::guest::loader::LoadedBot;
use crate::guest::output::{OUTPUT_BUFFER, Output};
use crate::protocol::sse;
use crate::sandbox::admission::Admitted;
use crate::sandbox::fairness::HeavySlot;
use crate::sandbox::lane;

/// How long past its deadline a response may wait for the client to take its last events.
const FINAL_EVENTS_GRACE: Duration = Duration::from_secs(2);

/// Start answering `request` with `bot`. Returns the stream of SSE events; it always ends
/// with `done` (preceded by an `error` if the bot failed), unless the client goes away.
/// `admitted` is held until the call ends, freeing its slots.
///
/// The call runs on its own task, and moves to the background `lane` if it turns out to be
/// CPU-bound. Measured: running its first poll inline in the connection
/// task instead (no spawn for answers that complete at once) was slower, 27k against 33k
/// echo req/s, since the spawned call overlaps with the connection's HTTP work on the other
/// worker.
pub fn start_query(
    bot: Arc<LoadedBot>,
    request: wit::QueryRequest,
    admitted: Admitted,
) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(OUTPUT_BUFFER);
    let slot = HeavySlot::default();
    let run = {
        let slot = slot.clone();
        async move {
            run_query(bot, request, tx, slot).await;
            drop(admitted); // after the store: an admitted call always finds a free instance
        }
    };
    tokio::spawn(lane::run(slot, run.in_current_span()));
    rx
}

async fn run_query(
    bot: Arc<LoadedBot>,
    request: wit::QueryRequest,
    tx: mpsc::Sender<Bytes>,
    slot: HeavySlot,
) {
    let limits = bot.config.limits;
    let deadline = Instant::now() + limits.timeout;
    let output = Output::new(bot.name.clone(), tx.clone(), &limits);
    let handover = output.handover();
    let config = &bot.config;
    let bot_query = BotQueryCtx::for_query(config.bot_query.clone(), config.access_key.clone());
    let platform = PlatformCtx::for_query(
        config.platform.clone(),
        config.access_key.clone(),
        request.bot_query_id.clone(),
    );
    let mut store = new_store(&bot, Some(output), slot, bot_query, platform);
    let get_response = handover.around(call(&bot, &mut store, &bot.exports.get_response, (request,)));
    let result = tokio::select! {
        biased;
        () = tx.closed() => {
            tracing::info!("client disconnected; bot stopped");
            return;
        }
        result = tokio::time::timeout_at(deadline, get_response) => {
            result.unwrap_or(Err(Fault::Timeout)).and_then(|(r,)| r.map_err(Fault::returned))
        }
    };
    // A bot giving up after Poe refused a cost ends as fastapi_poe's InsufficientFundError.
    let refused = store.data().platform.cost_refused();
    let result = result
        .map_err(|f| if refused && matches!(f, Fault::Returned(_)) { Fault::InsufficientFunds } else { f });
    let output = store.data_mut().output.take().expect("query stores have an output");
    drop(store); // the instance goes back to the pool before the last events wait for the client
    let error = error_event(result, &output);
    // A client that stopped reading would hold the call's slots forever: the deadline
    // (and a moment for the error event itself) bounds the ending too.
    if tokio::time::timeout_at(deadline + FINAL_EVENTS_GRACE, output.end(error)).await.is_err() {
        tracing::info!("client stopped reading; response abandoned at its deadline");
    }
}

/// Log how the call ended; the `error` event to send if it failed.
fn error_event(result: Result<(), Fault>, output: &Output) -> Option<Bytes> {
    match result {
        Ok(()) if output.is_empty() => {
            tracing::info!("bot sent nothing: Poe expects at least one text or error event");
            None
        }
        Ok(()) => {
            tracing::debug!("response complete");
            None
        }
        Err(fault) => {
            tracing::warn!(reason = %fault, "response ended with an error");
            Some(sse::error_event(&fault.error_response()))
        }
    }
}

/// Call `export` of a fresh instance of `bot` in `store`.
async fn call<Params, Return>(
    bot: &LoadedBot,
    store: &mut Store<BotCtx>,
    export: &Export<Params, Return>,
    params: Params,
) -> Result<Return, Fault>
where
    Params: ComponentNamedList + Lower + Send + Sync,
    Return: ComponentNamedList + Lift + Send + Sync + 'static,
{
    let instance = instantiate(bot, store).await?;
    let func = export
        .func(&mut *store, &instance)
        .ok_or_else(|| Fault::Instantiate("the instance lacks the checked export".into()))?;
    let result = func.call_async(&mut *store, params).await;
    settle(result, store)
}

/// Ask the bot for its settings.
pub async fn get_settings(
    bot: &LoadedBot,
    request: wit::SettingsRequest,
) -> Result<wit::SettingsResponse, Fault> {
    let slot = HeavySlot::default();
    let mut store = new_store(bot, None, slot.clone(), BotQueryCtx::disabled(), PlatformCtx::disabled());
    let settings = call(bot, &mut store, &bot.exports.get_settings, (request,));
    let (settings,) = bounded(bot, slot.drive(settings)).await?;
    Ok(settings)
}

/// A report Poe sends about the bot's messages; the bot's handler returns nothing.
#[derive(Debug)]
pub enum Report {
    /// `report_feedback`.
    Feedback(wit::ReportFeedbackRequest),
    /// `report_reaction`.
    Reaction(wit::ReportReactionRequest),
    /// `report_error`.
    Error(wit::ReportErrorRequest),
}

/// Deliver a report to the bot.
pub async fn report(bot: &LoadedBot, report: Report) -> Result<(), Fault> {
    let slot = HeavySlot::default();
    let mut store = new_store(bot, None, slot.clone(), BotQueryCtx::disabled(), PlatformCtx::disabled());
    let exports = &bot.exports;
    let store = &mut store;
    let delivered = async {
        match report {
            Report::Feedback(r) => call(bot, store, &exports.on_feedback, (r,)).await,
            Report::Reaction(r) => call(bot, store, &exports.on_reaction, (r,)).await,
            Report::Error(r) => call(bot, store, &exports.on_error, (r,)).await,
        }
    };
    bounded(bot, slot.drive(delivered)).await
}

async fn bounded<T>(bot: &LoadedBot, call: impl Future<Output = Result<T, Fault>>) -> Result<T, Fault> {
    let result = tokio::time::timeout(bot.config.limits.timeout, call).await.unwrap_or(Err(Fault::Timeout));
    if let Err(fault) = &result {
        tracing::warn!(reason = %fault, "call failed");
    }
    result
}

fn new_store(
    bot: &LoadedBot,
    output: Option<Output>,
    slot: HeavySlot,
    bot_query: BotQueryCtx,
    platform: PlatformCtx,
) -> Store<BotCtx> {
    let config = &bot.config;
    let outbound = config.outbound.clone();
    let ctx = BotCtx::new(
        bot.name.clone(),
        &config.env,
        outbound,
        &config.limits,
        output,
        slot,
        bot_query,
        platform,
    );
    let mut store = Store::new(bot.pre.engine(), ctx);
    BotCtx::install_limits(&mut store);
    store
}

async fn instantiate(bot: &LoadedBot, store: &mut Store<BotCtx>) -> Result<Instance, Fault> {
    bot.pre.instantiate_async(store).await.map_err(|e| Fault::Instantiate(format!("{e:#}")))
}

/// Turn wasmtime's result into ours, using what the store knows about why it stopped.
fn settle<T>(result: wasmtime::Result<T>, store: &Store<BotCtx>) -> Result<T, Fault> {
    result.map_err(|e| {
        let ctx = store.data();
        Fault::from_call_error(&e, ctx.cpu_exhausted(), ctx.output.as_ref().and_then(|o| o.exceeded))
    })
}
