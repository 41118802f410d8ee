//! relay: streams a chat completion from an OpenAI-compatible endpoint — the shape of a
//! third of fastapi_poe's tutorial bots, which call a non-Poe API with a key.
//!
//! Its sidecar supplies everything through `[env]`, and lets it reach that endpoint only:
//!
//! ```toml
//! allowed_outbound_hosts = ["https://api.openai.com"]
//!
//! [env]
//! OPENAI_API_KEY = { from_env = "OPENAI_API_KEY" }
//! OPENAI_BASE_URL = "https://api.openai.com/v1"   # the default
//! OPENAI_MODEL = "gpt-4o-mini"                    # the default
//! ```
//!
//! The conversation goes as OpenAI `messages` (role `bot` becomes `assistant`; `system`
//! and `user` stay), with `stream: true`; each `choices[0].delta.content` becomes a text
//! event as it arrives. An error status from the endpoint ends the answer with an error
//! event naming the status.
use poe_bot::http;
use poe_bot::{BotResult, ErrorResponse, PoeBot, QueryRequest, Responder, Role, export_bot};
use serde_json::{Value, json};

const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
const DEFAULT_MODEL: &str = "gpt-4o-mini";

/// Bytes of an error answer shown in the error event.
const ERROR_BODY_SHOWN: usize = 500;

struct Relay;

impl PoeBot for Relay {
    fn get_response(&self, request: QueryRequest, out: &Responder) -> BotResult {
        let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        let base = var("OPENAI_BASE_URL", DEFAULT_BASE_URL);
        let url = format!("{}/chat/completions", base.trim_end_matches('/'));
        let body = json!({"model": var("OPENAI_MODEL", DEFAULT_MODEL), "messages": messages(&request), "stream": true});
        let response = http::post(&url).bearer(&var("OPENAI_API_KEY", "")).json(&body).send()?;
        if !response.is_success() {
            let status = response.status();
            let detail = response.text().unwrap_or_default();
            let detail: String = detail.chars().take(ERROR_BODY_SHOWN).collect();
            return out.error(ErrorResponse::new(format!("the model's API answered {status}: {detail}")));
        }
        for event in response.events() {
            let event = event?;
            if event.data == "[DONE]" {
                break;
            }
            let chunk: Value = serde_json::from_str(&event.data)?;
            let text = chunk.pointer("/choices/0/delta/content").and_then(Value::as_str);
            if let Some(text) = text.filter(|t| !t.is_empty()) {
                out.text(text)?;
            }
        }
        Ok(())
    }
}

/// The conversation as OpenAI chat messages.
fn messages(request: &QueryRequest) -> Vec<Value> {
    let role = |role: Role| match role {
        Role::System => "system",
        Role::User => "user",
        Role::Bot => "assistant",
        Role::Tool => "tool",
    };
    request.query.iter().map(|m| json!({"role": role(m.role), "content": m.content})).collect()
}

export_bot!(Relay);
