//! [`HandlerExports`]: the bot's `handler` functions, found and type-checked once per
//! loaded bot rather than on every instantiation.
//!
//! The generated `BotPre::instantiate` looks up and type-checks all five exports on each
//! call, walking every record and variant of the world and comparing field names. Profiled
//! under load that was about 7% of the host's CPU, most of it for `get-settings`, which a
//! query never calls. An export's type belongs to the component, so it cannot differ between
//! two instances of one `InstancePre`: checking it once at load is enough, and a call then
//! takes its one function by index.

use std::marker::PhantomData;

use anyhow::{anyhow, bail};
use wasmtime::AsContextMut;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{
    ComponentExportIndex, ComponentNamedList, Instance, InstancePre, Lift, Lower, TypedFunc,
};

use crate::guest::bindings::types as wit;
use crate::guest::ctx::BotCtx;

/// The export every bot must provide. Bots built against an earlier `0.1.x` export it
/// under their version; wasmtime finds those by semver, as it does their imports.
pub const HANDLER_EXPORT: &str = "poe:bot/handler@0.1.2";

/// The `handler` interface's functions, each checked against its WIT type.
#[derive(Clone)]
pub struct HandlerExports {
    /// `get-response`.
    pub get_response: Export<(wit::QueryRequest,), (Result<(), String>,)>,
    /// `get-settings`.
    pub get_settings: Export<(wit::SettingsRequest,), (wit::SettingsResponse,)>,
    /// `on-feedback`.
    pub on_feedback: Export<(wit::ReportFeedbackRequest,), ()>,
    /// `on-reaction`.
    pub on_reaction: Export<(wit::ReportReactionRequest,), ()>,
    /// `on-error`.
    pub on_error: Export<(wit::ReportErrorRequest,), ()>,
}

impl HandlerExports {
    /// Find the handler's functions in `pre`'s component and check their types; the error
    /// names the missing or mistyped export.
    pub fn new(pre: &InstancePre<BotCtx>) -> anyhow::Result<Self> {
        let handler = pre
            .component()
            .get_export_index(None, HANDLER_EXPORT)
            .ok_or_else(|| anyhow!("no exported instance named `{HANDLER_EXPORT}`"))?;
        Ok(Self {
            get_response: Export::checked(pre, &handler, "get-response")?,
            get_settings: Export::checked(pre, &handler, "get-settings")?,
            on_feedback: Export::checked(pre, &handler, "on-feedback")?,
            on_reaction: Export::checked(pre, &handler, "on-reaction")?,
            on_error: Export::checked(pre, &handler, "on-error")?,
        })
    }
}

/// One exported function whose type was checked to be `Params -> Return`.
pub struct Export<Params, Return> {
    index: ComponentExportIndex,
    types: PhantomData<fn(Params) -> Return>,
}

impl<Params, Return> Export<Params, Return>
where
    Params: ComponentNamedList + Lower,
    Return: ComponentNamedList + Lift,
{
    fn checked(
        pre: &InstancePre<BotCtx>,
        handler: &ComponentExportIndex,
        name: &str,
    ) -> anyhow::Result<Self> {
        let (item, index) = pre
            .component()
            .get_export(Some(handler), name)
            .ok_or_else(|| anyhow!("`{HANDLER_EXPORT}` has no export `{name}`"))?;
        let ComponentItem::ComponentFunc(func) = item else {
            bail!("`{HANDLER_EXPORT}` export `{name}` is not a function");
        };
        func.typecheck::<Params, Return>(&pre.instance_type())
            .map_err(|e| anyhow!("type-checking `{HANDLER_EXPORT}` export `{name}`: {e:#}"))?;
        Ok(Self { index, types: PhantomData })
    }

    /// The function in `instance`, ready to call; `None` if `instance` is not of the
    /// component this export was checked in.
    pub fn func(&self, store: impl AsContextMut, instance: &Instance) -> Option<TypedFunc<Params, Return>> {
        // `get_func` refuses an index from another component, so `func` is this export.
        let func = instance.get_func(store, self.index)?;
        // SAFETY: `checked` verified that this export of this component has type
        // `Params -> Return`, and an export's type is fixed by the component (the world
        // has no resources, whose types could differ between linkers).
        #[expect(unsafe_code, reason = "the type was checked once, at load")]
        Some(unsafe { TypedFunc::new_unchecked(func) })
    }
}

impl<Params, Return> Clone for Export<Params, Return> {
    fn clone(&self) -> Self {
        Self { index: self.index, types: PhantomData }
    }
}
