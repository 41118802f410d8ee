//! versus: streams `GPT-4o-Mini` and `Claude-3-Haiku` at the same time and shows both
//! answers side by side, updated after every chunk from either (fastapi_poe's
//! turbo-vs-claude tutorial bot, ported). Two 1-second answers take about 1 second.
//!
//! After each chunk it emits `replace_response` with `**GPT-4o-Mini** says:\n` + the first
//! answer so far + `\n\n**Claude-3-Haiku** says:\n` + the second (a replace from a bot
//! resets its text); suggested replies pass through.
//!
//! Build: `cargo build --release -p versus --target wasm32-wasip2`, then copy `versus.wasm`
//! into the bots directory (it needs an access key, as every bot that calls bots does).
use poe_bot::bot_query::{self, BotMessage};
use poe_bot::{BotResult, PoeBot, QueryRequest, Responder, SettingsRequest, SettingsResponse, export_bot};

/// The bots compared, in the order they are shown.
const BOTS: [&str; 2] = ["GPT-4o-Mini", "Claude-3-Haiku"];

struct Versus;

impl PoeBot for Versus {
    fn get_response(&self, request: QueryRequest, out: &Responder) -> BotResult {
        let streams =
            BOTS.iter().map(|bot| bot_query::stream_request(&request, bot)).collect::<Result<_, _>>()?;
        let mut texts = [String::new(), String::new()];
        for (index, message) in bot_query::merge(streams) {
            match message? {
                BotMessage::Text(text) => texts[index].push_str(&text),
                BotMessage::ReplaceResponse(text) => texts[index] = text,
                BotMessage::SuggestedReply(text) => {
                    out.suggested_reply(text)?;
                    continue;
                }
                BotMessage::Meta(_) | BotMessage::Json(_) | BotMessage::File(_) => continue,
            }
            out.replace_response(side_by_side(&texts))?;
        }
        Ok(())
    }

    fn get_settings(&self, _request: SettingsRequest) -> SettingsResponse {
        let server_bot_dependencies = BOTS.iter().map(|bot| (bot.to_string(), 1)).collect();
        SettingsResponse { server_bot_dependencies, ..Default::default() }
    }
}

/// Both answers under their labels.
fn side_by_side(texts: &[String; 2]) -> String {
    format!("**{}** says:\n{}\n\n**{}** says:\n{}", BOTS[0], texts[0], BOTS[1], texts[1])
}

export_bot!(Versus);
