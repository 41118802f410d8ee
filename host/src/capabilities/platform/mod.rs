//! `poe:bot/attachments` and `poe:bot/cost`: Poe's own APIs beside the Bot Query API,
//! called by the host with the bot's access key — which never enters the guest — exactly
//! as fastapi_poe's `PoeBot` methods call them (protocol §7.2, §7.3).
//!
//! Both need what only a query has (its `bot_query_id`, its answer to attach files to),
//! so their state exists only while answering one. Requests run on the host's runtime,
//! as bot queries do (the guest's call may be on the CPU lane, which has no I/O driver),
//! and are cancelled with the call.

pub mod attachments; // post-message-attachment: the upload, the file event
pub mod config; // the base URLs, --poe-upload-base
pub mod cost; // authorize-cost and capture-cost

use std::sync::Arc;

use wasmtime::component::{HasData, Linker};

use self::config::PlatformConfig;
use crate::guest::bindings::poe::bot::{attachments as wit_attachments, cost as wit_cost};
use crate::guest::output::Output;
use crate::http::auth::AccessKey;

/// One call's state for these capabilities.
pub struct PlatformCtx {
    /// `None` outside a query.
    query: Option<QueryState>,
}

struct QueryState {
    runtime: tokio::runtime::Handle,
    config: Arc<PlatformConfig>,
    key: Option<AccessKey>,
    bot_query_id: String,
    /// Files attached so far.
    files: u32,
    /// Whether Poe refused a cost: an error the bot then returns becomes Poe's
    /// `insufficient_fund` event, as fastapi_poe's `InsufficientFundError` does.
    refused: bool,
}

impl PlatformCtx {
    /// State for answering a query with `bot_query_id`, with the bot's `key`. Must be made
    /// on the host's runtime.
    pub fn for_query(config: Arc<PlatformConfig>, key: Option<AccessKey>, bot_query_id: String) -> Self {
        let runtime = tokio::runtime::Handle::current();
        Self { query: Some(QueryState { runtime, config, key, bot_query_id, files: 0, refused: false }) }
    }

    /// State for a call that is not a query.
    pub fn disabled() -> Self {
        Self { query: None }
    }

    /// Whether Poe refused a cost during this call.
    pub fn cost_refused(&self) -> bool {
        self.query.as_ref().is_some_and(|q| q.refused)
    }
}

/// The capabilities' view of a store: their state and the answer files go into.
pub struct PlatformCtxView<'a> {
    /// The state.
    pub ctx: &'a mut PlatformCtx,
    /// The answer, when the call has one.
    pub output: Option<&'a mut Output>,
}

/// Implemented by the Store's data to give these capabilities their view.
pub trait PlatformView: Send {
    /// The view.
    fn platform(&mut self) -> PlatformCtxView<'_>;
}

struct Platform;

impl HasData for Platform {
    type Data<'a> = PlatformCtxView<'a>;
}

/// Register `poe:bot/attachments` and `poe:bot/cost` in `linker`.
pub fn add_to_linker<T: PlatformView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    wit_attachments::add_to_linker::<T, Platform>(linker, T::platform).map_err(anyhow::Error::from)?;
    wit_cost::add_to_linker::<T, Platform>(linker, T::platform).map_err(anyhow::Error::from)
}
