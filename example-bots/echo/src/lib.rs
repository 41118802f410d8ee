//! echo: answers every message with its own text, in one `text` event. Default settings.
//!
//! The smallest useful bot. Build: `cargo component build --release -p echo` or
//! `cargo build --release -p echo --target wasm32-wasip2`, then copy `echo.wasm` into the bots directory.
use poe_bot::{BotResult, PoeBot, QueryRequest, Responder, export_bot};

struct Echo;

impl PoeBot for Echo {
    fn get_response(&self, request: QueryRequest, out: &Responder) -> BotResult {
        out.text(request.last_message_text())
    }
}

export_bot!(Echo);
