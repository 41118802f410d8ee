//! The [`PoeBot`] trait bot authors implement, and the error type its methods return.

use std::fmt;

use crate::{
    EmitError, QueryRequest, ReportErrorRequest, ReportFeedbackRequest, ReportReactionRequest, Responder,
    SettingsRequest, SettingsResponse,
};

/// A Poe bot, in the spirit of fastapi_poe's `PoeBot`.
///
/// Only [`get_response`](PoeBot::get_response) is required. Every call runs in a fresh
/// instance, so keep no state in `self` between calls.
///
/// ```no_run
/// use poe_bot::{export_bot, BotResult, PoeBot, QueryRequest, Responder};
///
/// struct Echo;
///
/// impl PoeBot for Echo {
///     fn get_response(&self, request: QueryRequest, out: &Responder) -> BotResult {
///         out.text(request.last_message_text())
///     }
/// }
///
/// export_bot!(Echo);
/// ```
pub trait PoeBot {
    /// Answer `request`, sending each part through `responder` as soon as it is ready.
    ///
    /// Returning an error ends the response with Poe's generic error event; the error's
    /// text goes to the host log.
    fn get_response(&self, request: QueryRequest, responder: &Responder) -> BotResult;

    /// The bot's settings. The default leaves every setting to Poe.
    fn get_settings(&self, _request: SettingsRequest) -> SettingsResponse {
        SettingsResponse::default()
    }

    /// A user liked or disliked one of the bot's messages. Ignored by default.
    fn on_feedback(&self, _request: ReportFeedbackRequest) {}

    /// A user reacted to one of the bot's messages. Ignored by default.
    fn on_reaction(&self, _request: ReportReactionRequest) {}

    /// Poe reports a protocol misuse by the bot. Logged by default.
    fn on_error(&self, request: ReportErrorRequest) {
        crate::log::warn(&format!("error from Poe server: {}", request.message));
    }
}

/// What [`PoeBot::get_response`] returns.
pub type BotResult = Result<(), BotError>;

/// Why a bot gave up on a response.
///
/// Anything that displays converts into it, so `?` works on most errors.
/// ```
/// fn parse(n: &str) -> Result<u32, poe_bot::BotError> {
///     Ok(n.parse::<u32>()?)
/// }
/// assert!(parse("x").is_err());
/// ```
pub struct BotError {
    message: String,
    closed: bool,
}

impl BotError {
    pub(crate) fn from_emit(error: EmitError) -> Self {
        match error {
            EmitError::Closed => Self { message: "the client has gone".into(), closed: true },
            EmitError::Invalid(why) => Self { message: format!("invalid output: {why}"), closed: false },
        }
    }

    /// True when the error means the client has gone: nothing more can be sent.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The error's message, as logged by the host.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl<E: fmt::Display> From<E> for BotError {
    fn from(error: E) -> Self {
        Self { message: error.to_string(), closed: false }
    }
}

impl fmt::Debug for BotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
