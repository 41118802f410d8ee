//! showcase: one command per Poe event kind, chosen by the first word of the message.
//!
//! Try `stream 3`, `replace`, `suggest`, `meta`, `data`, `error`, `panic`, `attach`, `json`,
//! `inspect`, `ids` or `sleep 100`. The integration tests use it to check every event on the
//! wire. Three commands call Poe's own APIs with the bot's access key: `upload NAME TEXT`
//! (a file of that text; `upload-inline` shows it inline), `upload-url URL [NAME]`, and
//! `cost N` (authorize, then capture N milli-cents). Build: `cargo component build --release -p showcase` or
//! `cargo build --release -p showcase --target wasm32-wasip2`.
use std::time::Duration;

use poe_bot::attachments::{self, Upload};
use poe_bot::cost::{self, CostItem};
use poe_bot::{
    BotResult, ContentType, ErrorResponse, ErrorType, MetaResponse, PoeBot, QueryRequest, Responder,
    SettingsRequest, SettingsResponse, export_bot,
};

struct Showcase;

impl PoeBot for Showcase {
    fn get_response(&self, request: QueryRequest, out: &Responder) -> BotResult {
        let text = request.last_message_text();
        let mut words = text.split_whitespace();
        let command = words.next().unwrap_or_default();
        let arg = words.next();
        match command {
            "stream" => stream(out, arg.and_then(|n| n.parse().ok()).unwrap_or(3)),
            "replace" => {
                out.text("draft")?;
                out.replace_response("final")
            }
            "suggest" => {
                out.text("Pick one")?;
                out.suggested_reply("yes")?;
                out.suggested_reply("no")
            }
            "meta" => {
                let meta = MetaResponse {
                    content_type: ContentType::TextPlain,
                    suggested_replies: false,
                    ..MetaResponse::new()
                };
                out.meta(meta)?;
                out.text("plain *text*")
            }
            "data" => {
                out.text("saved")?;
                out.data("counter=1")
            }
            "error" => {
                out.text("partial")?;
                out.error(ErrorResponse::new("refused").no_retry().of_type(ErrorType::UserCausedError))
            }
            "panic" => {
                out.text("about to fail")?;
                panic!("showcase was asked to panic");
            }
            "attach" => {
                out.attachment("https://example.com/cat.png", "image/png", "cat.png", Some("cat"))?;
                out.text("![cat][cat]")
            }
            "json" => out.json(&serde_json::json!({"tool": "calc", "args": [1, 2]})),
            "inspect" => out.text(inspect(&request)),
            "ids" => {
                out.text(format!("{} {} {}", request.user_id, request.conversation_id, request.message_id))
            }
            "sleep" => {
                let ms = arg.and_then(|n| n.parse().ok()).unwrap_or(100);
                std::thread::sleep(Duration::from_millis(ms));
                out.text("woke")
            }
            "upload" | "upload-inline" => {
                let (name, contents) = (arg.unwrap_or("file.txt"), text.splitn(3, ' ').nth(2).unwrap_or(""));
                let mut upload = Upload::bytes(contents.as_bytes().to_vec(), name);
                if command == "upload-inline" {
                    upload = upload.inline();
                }
                uploaded(out, attachments::post_message_attachment(upload)?)
            }
            "upload-url" => {
                let mut upload = Upload::url(arg.unwrap_or_default());
                if let Some(name) = words.next() {
                    upload = upload.named(name);
                }
                uploaded(out, attachments::post_message_attachment(upload)?)
            }
            "cost" => {
                let amount =
                    [CostItem::new(arg.and_then(|n| n.parse().ok()).unwrap_or(1000)).described("showcase")];
                cost::authorize_cost(&amount)?;
                cost::capture_cost(&amount)?;
                out.text(format!("charged {}", amount[0].amount_usd_milli_cents))
            }
            other => out.text(format!("unknown command: {other}")),
        }
    }

    fn get_settings(&self, _request: SettingsRequest) -> SettingsResponse {
        SettingsResponse {
            introduction_message: Some(
                "Hi! Try: stream 3, replace, suggest, meta, data, error, panic, attach, json, inspect, ids, sleep 100."
                    .into(),
            ),
            allow_attachments: Some(true),
            expand_text_attachments: Some(true),
            ..Default::default()
        }
    }
}

fn stream(out: &Responder, n: u32) -> BotResult {
    for i in 0..n {
        out.text(format!("{i} "))?;
    }
    Ok(())
}

/// The conversation as the bot received it: `[{"role": …, "content": …}, …]`.
fn inspect(request: &QueryRequest) -> String {
    let messages: Vec<_> = request
        .query
        .iter()
        .map(|m| serde_json::json!({"role": m.role.as_str(), "content": m.content}))
        .collect();
    serde_json::Value::Array(messages).to_string()
}

/// Say where an upload went: its URL and type, or its inline reference.
fn uploaded(out: &Responder, file: poe_bot::FileAttachment) -> BotResult {
    match file.inline_ref {
        Some(r) => out.text(format!("![{}][{r}]", file.name)),
        None => out.text(format!("uploaded {} {}", file.url, file.content_type)),
    }
}

export_bot!(Showcase);
