//! [`EventRules`]: fastapi_poe's rules for the events of a called bot's answer (protocol
//! §7.1, `perform_query_request`), one event at a time — what becomes a message, what is
//! skipped, what is reported back to the called bot, and what ends the try.

use serde_json::{Map, Value};

use super::sse_reader::SseEvent;
use crate::guest::bindings::bot_query::{BotError, BotMessage};
use crate::guest::bindings::types::{ContentType, FileAttachment, MetaResponse};

/// A `report_error` call to make to the called bot: fastapi_poe's message and metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The `message` field.
    pub message: String,
    /// The `metadata` object, with fastapi_poe's keys and values.
    pub metadata: Value,
}

/// How one try of a call failed, in fastapi_poe's terms.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The called bot sent an `error` event (`BotError`; `BotErrorNoRetry` when it forbids retries).
    Bot(BotError),
    /// A violation fastapi_poe raises `BotErrorNoRetry` for: never retried.
    NoRetry(String),
    /// A `BotError` fastapi_poe raises itself (data that is not an object): retried like
    /// any error until output has been passed on.
    Retry(String),
    /// Anything else: a status, a connection, a missing field. `protocol` marks a
    /// connection that broke mid-answer (httpx's `RemoteProtocolError`), which fastapi_poe
    /// retries even after output.
    Other {
        /// What happened.
        detail: String,
        /// Retried even after output.
        protocol: bool,
    },
    /// A bound of poe-host's was reached: never retried.
    Limit(String),
}

/// What to do after one event.
#[derive(Debug)]
pub enum Then {
    /// Pass this message to the calling bot.
    Message(BotMessage),
    /// Read on.
    Continue,
    /// The answer is complete.
    Done,
    /// The try failed.
    Fail(Failure),
}

/// An event that ended its handling early: the report and what to do (boxed: it is large,
/// and rare).
type Early = Box<(Option<Report>, Then)>;

/// The state of one try: fastapi_poe starts each try afresh.
pub struct EventRules {
    message_id: String,
    tools: bool,
    events: usize,
    got_text: bool,
    reported: bool,
}

impl EventRules {
    /// Rules for a request with `message_id`; `tools` marks a function-calling request
    /// (whose answer may have no text).
    pub fn new(message_id: &str, tools: bool) -> Self {
        Self { message_id: message_id.to_owned(), tools, events: 0, got_text: false, reported: false }
    }

    /// Apply the rules to `event`: what to do, and a report to send first, if any.
    pub fn handle(&mut self, event: &SseEvent) -> (Option<Report>, Then) {
        self.events += 1;
        // fastapi_poe reads `index` from every event first, so every event's data must be
        // a JSON object, `done` and `ping` included.
        let data = match self.object(&event.data, &event.event) {
            Ok(data) => data,
            Err(failed) => return *failed,
        };
        match event.event.as_str() {
            "done" => (self.no_text_report(), Then::Done),
            "text" | "replace_response" => self.text(event, &data),
            "file" => self.file(event, &data),
            "suggested_reply" => match self.string(event, &data, "suggested_reply", "text") {
                Ok(text) => (None, Then::Message(BotMessage::SuggestedReply(text))),
                Err(failed) => *failed,
            },
            "json" => (None, Then::Message(BotMessage::Json(event.data.clone()))),
            "meta" if self.events != 1 => (None, Then::Continue),
            "meta" => self.meta(&data),
            "error" => (None, Then::Fail(Failure::Bot(bot_error(&event.data, &data)))),
            "ping" => (None, Then::Continue),
            other => {
                self.reported = true;
                let message = format!("Unknown event type: {}", ellipsis(other, 100));
                let metadata = ordered([
                    ("event_data", Value::String(ellipsis(&event.data, 500))),
                    ("message_id", self.id()),
                ]);
                (Some(Report { message, metadata }), Then::Continue)
            }
        }
    }

    /// The report for an answer that ended without `done`.
    pub fn no_done_report(&self) -> Report {
        let metadata = ordered([("message_id", self.id())]);
        Report { message: "Bot exited without sending 'done' event".into(), metadata }
    }

    fn no_text_report(&self) -> Option<Report> {
        if self.got_text || self.reported || self.tools {
            return None;
        }
        let metadata = ordered([("message_id", self.id())]);
        Some(Report { message: "Bot returned no text in response".into(), metadata })
    }

    fn text(&mut self, event: &SseEvent, data: &Map<String, Value>) -> (Option<Report>, Then) {
        let text = match self.string(event, data, &event.event, "text") {
            Ok(text) => text,
            Err(failed) => return *failed,
        };
        self.got_text = true;
        let message = match event.event.as_str() {
            "text" => BotMessage::Text(text),
            _ => BotMessage::ReplaceResponse(text),
        };
        (None, Then::Message(message))
    }

    fn file(&mut self, event: &SseEvent, data: &Map<String, Value>) -> (Option<Report>, Then) {
        let mut field = |name| self.string(event, data, "file", name);
        let (url, content_type, name) = match (field("url"), field("content_type"), field("name")) {
            (Ok(u), Ok(c), Ok(n)) => (u, c, n),
            (Err(failed), ..) | (_, Err(failed), _) | (.., Err(failed)) => return *failed,
        };
        let inline_ref = data.get("inline_ref").and_then(Value::as_str).map(str::to_owned);
        (None, Then::Message(BotMessage::File(FileAttachment { url, content_type, name, inline_ref })))
    }

    fn meta(&mut self, data: &Map<String, Value>) -> (Option<Report>, Then) {
        let linkify = data.get("linkify").unwrap_or(&Value::Bool(false));
        let suggested = data.get("suggested_replies").unwrap_or(&Value::Bool(false));
        let content_type = data.get("content_type").cloned().unwrap_or_else(|| "text/markdown".into());
        for (field, value) in
            [("linkify", linkify), ("suggested_replies", suggested), ("content_type", &content_type)]
        {
            let ok = if field == "content_type" { value.is_string() } else { value.is_boolean() };
            if !ok {
                self.reported = true;
                let message = format!("Invalid {field} value in 'meta' event");
                let metadata = ordered([("message_id", self.id()), (field, value.clone())]);
                return (Some(Report { message, metadata }), Then::Continue);
            }
        }
        let content_type = match content_type.as_str() {
            Some("text/plain") => ContentType::TextPlain,
            _ => ContentType::TextMarkdown,
        };
        let meta = MetaResponse {
            content_type,
            suggested_replies: suggested.as_bool().unwrap_or(false),
            linkify: linkify.as_bool().unwrap_or(false),
            refetch_settings: false,
        };
        (None, Then::Message(BotMessage::Meta(meta)))
    }

    /// `data` as a JSON object, or the report and failure fastapi_poe makes of it.
    fn object(&mut self, data: &str, event: &str) -> Result<Map<String, Value>, Early> {
        let context = py_repr(event);
        let fail = |this: &Self, message: String, failure: Failure| {
            let metadata = ordered([("data", Value::String(data.to_owned())), ("message_id", this.id())]);
            Err(Box::new((Some(Report { message, metadata }), Then::Fail(failure))))
        };
        match serde_json::from_str::<Value>(data) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => {
                let message = format!("Expected JSON dict in {context} event");
                fail(self, message.clone(), Failure::Retry(message))
            }
            Err(_) => {
                let message = format!("Invalid JSON in {context} event");
                fail(self, message.clone(), Failure::NoRetry(message))
            }
        }
    }

    /// A required string field: missing is fastapi_poe's `KeyError` (retried, no report),
    /// not a string is reported and never retried.
    fn string(
        &mut self,
        event: &SseEvent,
        data: &Map<String, Value>,
        context: &str,
        field: &str,
    ) -> Result<String, Early> {
        match data.get(field) {
            Some(Value::String(text)) => Ok(text.clone()),
            None => {
                let detail = format!("the '{}' event has no '{field}' field", ellipsis(&event.event, 100));
                Err(Box::new((None, Then::Fail(Failure::Other { detail, protocol: false }))))
            }
            Some(_) => {
                let message = format!("Expected string in '{field}' field for '{context}' event");
                let object = serde_json::from_str(&event.data).unwrap_or(Value::Null);
                let metadata = ordered([("data", object), ("message_id", self.id())]);
                let failure = Failure::NoRetry(format!("Expected string in '{context}' event"));
                Err(Box::new((Some(Report { message, metadata }), Then::Fail(failure))))
            }
        }
    }

    fn id(&self) -> Value {
        Value::String(self.message_id.clone())
    }
}

fn bot_error(text: &str, data: &Map<String, Value>) -> BotError {
    BotError {
        text: data.get("text").and_then(Value::as_str).unwrap_or_default().to_owned(),
        allow_retry: data.get("allow_retry").is_none_or(truthy),
        data: text.to_owned(),
    }
}

/// Python's truth value of a JSON value (`if data.get("allow_retry", True)`).
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// fastapi_poe's `_safe_ellipsis`: at most `limit` characters, the last three `...` if cut.
fn ellipsis(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let kept: String = text.chars().take(limit.saturating_sub(3)).collect();
    kept + "..."
}

/// Python's `repr` of a string, as fastapi_poe's `{context!r}` writes it.
fn py_repr(text: &str) -> String {
    if text.contains('\'') && !text.contains('"') {
        return format!("\"{text}\"");
    }
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A JSON object of `pairs` (its keys end up sorted: their order carries no meaning).
fn ordered<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut map = Map::new();
    for (key, value) in pairs {
        map.insert(key.to_owned(), value);
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, data: &str) -> SseEvent {
        SseEvent { event: name.into(), data: data.into() }
    }

    #[test]
    fn meta_counts_only_as_the_first_event() {
        let mut rules = EventRules::new("m", false);
        let meta = event("meta", r#"{"content_type":"text/plain","linkify":true}"#);
        assert!(matches!(rules.handle(&meta), (None, Then::Message(BotMessage::Meta(m))) if m.linkify));
        assert!(matches!(rules.handle(&meta), (None, Then::Continue)), "a second meta is skipped");
    }

    #[test]
    fn data_that_is_not_an_object_is_reported_and_fails_as_fastapi_poe_fails() {
        let mut rules = EventRules::new("m-1", false);
        let (report, then) = rules.handle(&event("done", ""));
        assert_eq!(report.unwrap().message, "Invalid JSON in 'done' event");
        assert!(matches!(then, Then::Fail(Failure::NoRetry(_))));
        let (report, then) = rules.handle(&event("text", "[1]"));
        assert_eq!(report.unwrap().metadata, serde_json::json!({"data": "[1]", "message_id": "m-1"}));
        assert!(matches!(then, Then::Fail(Failure::Retry(_))), "fastapi_poe raises a plain BotError");
        let (report, then) = rules.handle(&event("text", r#"{"text": 5}"#));
        assert_eq!(report.unwrap().message, "Expected string in 'text' field for 'text' event");
        assert!(matches!(then, Then::Fail(Failure::NoRetry(_))));
        assert!(matches!(
            rules.handle(&event("text", "{}")),
            (None, Then::Fail(Failure::Other { protocol: false, .. }))
        ));
    }

    #[test]
    fn allow_retry_is_read_with_pythons_truth() {
        for (data, retry) in [
            ("{}", true),
            (r#"{"allow_retry":null}"#, false),
            (r#"{"allow_retry":0}"#, false),
            (r#"{"allow_retry":"y"}"#, true),
        ] {
            let (_, then) = EventRules::new("m", false).handle(&event("error", data));
            assert!(matches!(then, Then::Fail(Failure::Bot(e)) if e.allow_retry == retry), "{data}");
        }
    }

    #[test]
    fn unknown_events_are_reported_cut_as_fastapi_poe_cuts_them() {
        let name = "x".repeat(150);
        let (report, then) =
            EventRules::new("m", false).handle(&event(&name, &format!("{{\"a\":\"{}\"}}", "y".repeat(600))));
        let report = report.unwrap();
        assert_eq!(report.message, format!("Unknown event type: {}...", "x".repeat(97)));
        assert_eq!(report.metadata["event_data"].as_str().unwrap().chars().count(), 500);
        assert!(matches!(then, Then::Continue));
    }

    #[test]
    fn done_without_text_is_reported_unless_tools_were_offered() {
        let mut rules = EventRules::new("m", false);
        rules.handle(&event("suggested_reply", r#"{"text":"x"}"#));
        assert_eq!(rules.handle(&event("done", "{}")).0.unwrap().message, "Bot returned no text in response");
        assert!(EventRules::new("m", true).handle(&event("done", "{}")).0.is_none());
    }
}
