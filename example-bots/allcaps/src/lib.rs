//! allcaps: forwards the request unchanged to `GPT-4o-Mini` and re-emits every message with
//! its text upper-cased — a replace stays a replace, suggested replies pass through. The
//! smallest bot that calls another bot (fastapi_poe's tutorial wrapper, ported).
//!
//! Build: `cargo build --release -p allcaps --target wasm32-wasip2` (or `cargo component
//! build`), then copy `allcaps.wasm` into the bots directory. It calls Poe with its own
//! access key, so it needs one (`NAME.toml` or `POE_ACCESS_KEY`).
use poe_bot::bot_query::{self, BotMessage};
use poe_bot::{BotResult, PoeBot, QueryRequest, Responder, SettingsRequest, SettingsResponse, export_bot};

/// The bot every answer comes from.
const UPSTREAM: &str = "GPT-4o-Mini";

struct AllCaps;

impl PoeBot for AllCaps {
    fn get_response(&self, request: QueryRequest, out: &Responder) -> BotResult {
        for message in bot_query::stream_request(&request, UPSTREAM)? {
            match message? {
                BotMessage::Text(text) => out.text(text.to_uppercase())?,
                BotMessage::ReplaceResponse(text) => out.replace_response(text.to_uppercase())?,
                BotMessage::SuggestedReply(text) => out.suggested_reply(text)?,
                BotMessage::Meta(_) | BotMessage::Json(_) | BotMessage::File(_) => {}
            }
        }
        Ok(())
    }

    fn get_settings(&self, _request: SettingsRequest) -> SettingsResponse {
        SettingsResponse { server_bot_dependencies: vec![(UPSTREAM.into(), 1)], ..Default::default() }
    }
}

export_bot!(AllCaps);
