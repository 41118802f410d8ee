//! [`Responder`]: sends parts of the answer to the client while the bot is still working.

use crate::bindings::poe::bot::responder::emit;
use crate::{
    BotError, BotResult, ContentType, ErrorResponse, ErrorType, FileAttachment, MetaResponse, PartialResponse,
};

/// The bot's line to the client. Every method sends one Poe event at once.
///
/// Each fails once the client has gone ([`BotError::is_closed`]): pass it on with `?` and
/// the bot stops cleanly.
///
/// ```no_run
/// # fn demo(out: &poe_bot::Responder) -> poe_bot::BotResult {
/// out.text("Thinking")?;
/// out.replace_response("Done.")?;
/// out.suggested_reply("Tell me more")?;
/// # Ok(())
/// # }
/// ```
pub struct Responder {
    _private: (),
}

impl Responder {
    #[doc(hidden)]
    pub fn __new() -> Self {
        Self { _private: () }
    }

    /// Send any part of the answer.
    pub fn emit(&self, part: &PartialResponse) -> BotResult {
        emit(part).map_err(BotError::from_emit)
    }

    /// Append text to the answer (`text` event).
    pub fn text(&self, text: impl Into<String>) -> BotResult {
        self.emit(&PartialResponse::Text(text.into()))
    }

    /// Replace everything sent so far with `text` (`replace_response` event).
    pub fn replace_response(&self, text: impl Into<String>) -> BotResult {
        self.emit(&PartialResponse::ReplaceResponse(text.into()))
    }

    /// Offer a follow-up button (`suggested_reply` event).
    pub fn suggested_reply(&self, text: impl Into<String>) -> BotResult {
        self.emit(&PartialResponse::SuggestedReply(text.into()))
    }

    /// Set rendering options (`meta` event). Only valid before any other output.
    pub fn meta(&self, meta: MetaResponse) -> BotResult {
        self.emit(&PartialResponse::Meta(meta))
    }

    /// Store a string on this message; Poe passes it back later as the message's
    /// `metadata` (`data` event). Only the last one counts.
    pub fn data(&self, metadata: impl Into<String>) -> BotResult {
        self.emit(&PartialResponse::Data(metadata.into()))
    }

    /// Send a JSON object (`json` event). The host refuses anything but an object.
    pub fn json(&self, value: &serde_json::Value) -> BotResult {
        self.emit(&PartialResponse::Json(value.to_string()))
    }

    /// Attach a file (`file` event). With an `inline_ref`, markdown `![alt][ref]` shows it inline.
    pub fn attachment(
        &self,
        url: impl Into<String>,
        content_type: impl Into<String>,
        name: impl Into<String>,
        inline_ref: Option<&str>,
    ) -> BotResult {
        self.emit(&PartialResponse::File(FileAttachment {
            url: url.into(),
            content_type: content_type.into(),
            name: name.into(),
            inline_ref: inline_ref.map(str::to_owned),
        }))
    }

    /// Report a failure to the user (`error` event). See [`ErrorResponse::new`].
    pub fn error(&self, error: ErrorResponse) -> BotResult {
        self.emit(&PartialResponse::Error(error))
    }
}

impl MetaResponse {
    /// fastapi_poe's defaults: markdown, linkify on, Poe's suggested replies on.
    pub fn new() -> Self {
        Self {
            content_type: ContentType::TextMarkdown,
            suggested_replies: true,
            linkify: true,
            refetch_settings: false,
        }
    }
}

impl Default for MetaResponse {
    fn default() -> Self {
        Self::new()
    }
}

impl ErrorResponse {
    /// An error Poe may retry (fastapi_poe's default), with no category.
    ///
    /// ```
    /// use poe_bot::{ErrorResponse, ErrorType};
    /// let e = ErrorResponse::new("too long").no_retry().of_type(ErrorType::UserMessageTooLong);
    /// assert!(!e.allow_retry);
    /// ```
    pub fn new(text: impl Into<String>) -> Self {
        Self { text: text.into(), allow_retry: true, error_type: None, raw_response: None }
    }

    /// Forbid Poe from retrying.
    pub fn no_retry(mut self) -> Self {
        self.allow_retry = false;
        self
    }

    /// Set the category.
    pub fn of_type(mut self, error_type: ErrorType) -> Self {
        self.error_type = Some(error_type);
        self
    }
}
