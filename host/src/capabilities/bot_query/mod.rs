//! `poe:bot/bot-query`: a bot calls other Poe bots through the host (protocol §7.1).
//!
//! The guest hands over a request and gets a [`BotStream`]; a task the stream owns makes the
//! HTTP call with the bot's access key — which never enters the guest — and parses the
//! answer with fastapi_poe's rules. Each response has its own [`CallBudget`]; its streams
//! live in the call's resource table, so when the response ends (done, deadline, client
//! gone) the store drops them and their requests are cancelled at once.

pub mod budget; // calls, streams at once and bytes read, per response
pub mod call; // one call's task: tries, retries, report_error
pub mod client; // the shared HTTP client and Poe's two requests
pub mod config; // defaults, sidecar [bot_query], callable bots
pub mod events; // fastapi_poe's rules for each event of an answer
pub mod sse_reader; // the answer's bytes → events, bounded
pub mod stream; // the bot-stream resource the guest holds

use bytes::Bytes;
use tokio::sync::mpsc;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::DynPollable;

use self::budget::CallBudget;
use self::call::Call;
use self::config::BotQueryConfig;
pub use self::stream::BotStream;
use crate::guest::bindings::bot_query::{self, QueryError, QueryOptions};
use crate::guest::bindings::types::QueryRequest;
use crate::http::auth::AccessKey;
use crate::logtext;
use crate::protocol::query_body::{Overrides, query_body};

/// Messages a call buffers ahead of a guest that is slow to read them.
const STREAM_BUFFER: usize = 16;

/// Longest bot name accepted.
const MAX_BOT_NAME: usize = 128;

/// One call's state for this capability.
pub struct BotQueryCtx {
    /// `None` outside a query (settings and reports cannot call bots).
    query: Option<QueryState>,
}

struct QueryState {
    /// The host's runtime, where calls run: the guest's own call may move to the CPU lane,
    /// whose runtime has no I/O driver (see `sandbox::lane`).
    runtime: tokio::runtime::Handle,
    config: BotQueryConfig,
    key: Option<AccessKey>,
    budget: CallBudget,
}

impl BotQueryCtx {
    /// State for answering a query: the bot's `config` and its access `key`. Must be made
    /// on the host's runtime, where its calls will run.
    pub fn for_query(config: BotQueryConfig, key: Option<AccessKey>) -> Self {
        let budget = CallBudget::new(config.limits);
        let runtime = tokio::runtime::Handle::current();
        Self { query: Some(QueryState { runtime, config, key, budget }) }
    }

    /// State for a call that may not call bots.
    pub fn disabled() -> Self {
        Self { query: None }
    }
}

/// The capability's view of a store: its state and the resource table.
pub struct BotQueryCtxView<'a> {
    /// This capability's state.
    pub ctx: &'a mut BotQueryCtx,
    /// The call's resource table, where streams live.
    pub table: &'a mut ResourceTable,
}

/// Implemented by the Store's data to give this capability its view.
pub trait BotQueryView: Send {
    /// The view.
    fn bot_query(&mut self) -> BotQueryCtxView<'_>;
}

struct BotQuery;

impl HasData for BotQuery {
    type Data<'a> = BotQueryCtxView<'a>;
}

/// Register `poe:bot/bot-query` in `linker`.
pub fn add_to_linker<T: BotQueryView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    bot_query::add_to_linker::<T, BotQuery>(linker, T::bot_query).map_err(anyhow::Error::from)
}

impl bot_query::Host for BotQueryCtxView<'_> {
    async fn stream_request(
        &mut self,
        bot_name: String,
        request: QueryRequest,
        options: QueryOptions,
    ) -> wasmtime::Result<Result<Resource<BotStream>, QueryError>> {
        let (call, permit, runtime) = match self.prepare(bot_name, &request, options) {
            Ok(prepared) => prepared,
            Err(error) => return Ok(Err(error)),
        };
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let task = runtime.spawn(tracing::Instrument::in_current_span(call::run(call, tx, permit)));
        Ok(Ok(self.table.push(BotStream::new(rx, task))?))
    }
}

impl BotQueryCtxView<'_> {
    fn prepare(
        &mut self,
        target: String,
        request: &QueryRequest,
        options: QueryOptions,
    ) -> Result<(Call, tokio::sync::OwnedSemaphorePermit, tokio::runtime::Handle), QueryError> {
        let Some(state) = &mut self.ctx.query else {
            return Err(QueryError::NotAllowed("bots can be called only while answering a query".into()));
        };
        check_name(&target)?;
        if !state.config.may_call(&target) {
            return Err(QueryError::NotAllowed(format!(
                "{target} is not in this bot's bot_query.callable_bots"
            )));
        }
        let key = state.key.clone().ok_or(QueryError::NoAccessKey)?;
        let overrides = overrides(options);
        let tools = overrides.tools.as_ref().or(request.tools.as_ref()).is_some();
        let body = query_body(request, &overrides, key.secret())
            .map_err(|e| QueryError::Failed(format!("invalid request: {e}")))?;
        let (permit, bytes) = state.budget.start_call().map_err(|e| QueryError::LimitReached(e.0))?;
        let max_event = usize::try_from(state.config.limits.max_read_bytes).unwrap_or(usize::MAX);
        let call = Call {
            api: state.config.api.clone(),
            target,
            key,
            body: Bytes::from(body),
            message_id: request.message_id.clone(),
            tools,
            bytes,
            max_event,
        };
        Ok((call, permit, state.runtime.clone()))
    }
}

/// Bot names go into the URL unescaped, as fastapi_poe puts them: only characters Poe
/// allows in names, so a name cannot reach another path or host.
fn check_name(name: &str) -> Result<(), QueryError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_BOT_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.starts_with('.');
    if ok {
        return Ok(());
    }
    Err(QueryError::NotAllowed(format!("invalid bot name \"{}\"", logtext::escape_line(name, 140))))
}

fn overrides(o: QueryOptions) -> Overrides {
    Overrides {
        tools: o.tools,
        tool_calls: o.tool_calls,
        tool_results: o.tool_results,
        temperature: o.temperature,
        skip_system_prompt: o.skip_system_prompt,
        logit_bias: o.logit_bias,
        stop_sequences: o.stop_sequences,
        adopt_current_bot_name: o.adopt_current_bot_name,
    }
}

impl bot_query::HostBotStream for BotQueryCtxView<'_> {
    async fn next(&mut self, stream: Resource<BotStream>) -> wasmtime::Result<stream::Next> {
        Ok(self.table.get_mut(&stream)?.next().await)
    }

    async fn try_next(&mut self, stream: Resource<BotStream>) -> wasmtime::Result<Option<stream::Next>> {
        Ok(self.table.get_mut(&stream)?.try_next())
    }

    async fn subscribe(&mut self, stream: Resource<BotStream>) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi::p2::subscribe(self.table, stream)
    }

    async fn drop(&mut self, stream: Resource<BotStream>) -> wasmtime::Result<()> {
        self.table.delete(stream)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_names_that_could_leave_the_api_path_are_refused() {
        for good in ["GPT-4o-Mini", "Claude-3.5-Sonnet", "a_b"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in
            ["", "../admin", "a/b", "a?x=1", "a#b", "x@evil.com", ".hidden", "a b", "é", &"a".repeat(129)]
        {
            assert!(matches!(check_name(bad), Err(QueryError::NotAllowed(_))), "{bad}");
        }
    }
}
