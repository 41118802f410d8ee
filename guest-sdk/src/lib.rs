//! Write Poe chat bots as WebAssembly components for [poe-host].
//!
//! Implement [`PoeBot`], export it with [`export_bot!`], and build with
//! `cargo component build --release` or `cargo build --release --target wasm32-wasip2`.
//! Drop the resulting `NAME.wasm` into the host's bots directory and it is served at `/NAME`.
//!
//! ```no_run
//! use poe_bot::{export_bot, BotResult, PoeBot, QueryRequest, Responder};
//!
//! struct Echo;
//!
//! impl PoeBot for Echo {
//!     fn get_response(&self, request: QueryRequest, out: &Responder) -> BotResult {
//!         out.text(request.last_message_text())
//!     }
//! }
//!
//! export_bot!(Echo);
//! ```
//!
//! [poe-host]: https://github.com/poe-host/poe-host

extern crate self as poe_bot;

pub mod attachments;
pub mod bindings;
mod bot;
pub mod bot_query;
pub mod cost;
pub mod http;
pub mod log;
mod request;
mod responder;
mod settings;

pub use bindings::poe::bot::types::*;
pub use bot::{BotError, BotResult, PoeBot};
pub use responder::Responder;

/// Export a [`PoeBot`] as the component's `poe:bot/handler`.
///
/// Takes an expression that builds the bot; it is evaluated for every call
/// (each call runs in a fresh instance anyway). Use it once per crate.
///
/// ```no_run
/// # use poe_bot::*;
/// struct Shout;
/// impl PoeBot for Shout {
///     fn get_response(&self, request: QueryRequest, out: &Responder) -> BotResult {
///         out.text(request.last_message_text().to_uppercase())
///     }
/// }
/// poe_bot::export_bot!(Shout);
/// ```
#[macro_export]
macro_rules! export_bot {
    ($bot:expr) => {
        #[doc(hidden)]
        struct __PoeBotExports;

        impl $crate::bindings::exports::poe::bot::handler::Guest for __PoeBotExports {
            fn get_response(request: $crate::QueryRequest) -> ::core::result::Result<(), String> {
                $crate::__private::get_response(&$bot, request)
            }
            fn get_settings(request: $crate::SettingsRequest) -> $crate::SettingsResponse {
                $crate::PoeBot::get_settings(&$bot, request)
            }
            fn on_feedback(request: $crate::ReportFeedbackRequest) {
                $crate::PoeBot::on_feedback(&$bot, request)
            }
            fn on_reaction(request: $crate::ReportReactionRequest) {
                $crate::PoeBot::on_reaction(&$bot, request)
            }
            fn on_error(request: $crate::ReportErrorRequest) {
                $crate::PoeBot::on_error(&$bot, request)
            }
        }

        $crate::bindings::__export_bot_world!(__PoeBotExports with_types_in $crate::bindings);
    };
}

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    use crate::{PoeBot, QueryRequest, Responder};

    pub fn get_response(bot: &impl PoeBot, request: QueryRequest) -> Result<(), String> {
        bot.get_response(request, &Responder::__new()).map_err(|e| e.message().to_owned())
    }
}
