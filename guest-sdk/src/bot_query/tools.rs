//! Function calling through another bot, as fastapi_poe's `stream_request` does it when
//! given `tools`: the called model answers with OpenAI-style chunks (`json` messages), whose
//! tool-call deltas are collected by index; with executables, the calls are run here and a
//! second request carries `tool_calls` and `tool_results` for the model's final answer.

use serde_json::Value;

use super::{BotMessage, BotStream, QueryError, QueryOptions, stream_request_with};
use crate::{FunctionCall, QueryRequest, ToolCallDefinition, ToolDefinition, ToolResultDefinition};

/// One piece of a tool call as the model streams it (fastapi_poe `ToolCallDefinitionDelta`).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCallDelta {
    /// Which call of the answer this piece belongs to.
    pub index: u64,
    /// The call's id (first piece only).
    pub id: Option<String>,
    /// Usually `function` (first piece only).
    pub kind: Option<String>,
    /// The function's name (first piece only).
    pub name: Option<String>,
    /// The next fragment of the JSON arguments.
    pub arguments: String,
}

/// What a function-calling answer yields when the caller runs the tools itself.
#[derive(Debug, Clone)]
pub enum ToolMessage {
    /// A message of the answer (text from `delta.content` arrives as [`BotMessage::Text`]).
    Message(BotMessage),
    /// Tool-call pieces of one chunk.
    ToolCalls(Vec<ToolCallDelta>),
}

/// Call `bot_name` offering `tools`, and yield its answer with the tool-call chunks decoded
/// (fastapi_poe's `stream_request(..., tools=...)` without executables): the caller runs
/// the calls and asks again with [`QueryOptions`]' `tool_calls` and `tool_results`.
///
/// ```no_run
/// # fn demo(request: poe_bot::QueryRequest, tools: Vec<poe_bot::ToolDefinition>) -> Result<(), poe_bot::bot_query::QueryError> {
/// use poe_bot::bot_query::tools::{stream_request_with_tools, ToolCalls, ToolMessage};
/// let mut calls = ToolCalls::default();
/// for message in stream_request_with_tools(&request, "GPT-4o-Mini", &tools)? {
///     if let ToolMessage::ToolCalls(deltas) = message? {
///         calls.add(deltas);
///     }
/// }
/// let calls = calls.into_calls(); // run them, then ask again with tool_calls and tool_results
/// # Ok(()) }
/// ```
pub fn stream_request_with_tools(
    request: &QueryRequest,
    bot_name: &str,
    tools: &[ToolDefinition],
) -> Result<ToolStream, QueryError> {
    let options = QueryOptions { tools: Some(tools.to_vec()), ..Default::default() };
    Ok(ToolStream { inner: stream_request_with(request, bot_name, options)? })
}

/// The iterator [`stream_request_with_tools`] returns.
pub struct ToolStream {
    inner: BotStream,
}

impl Iterator for ToolStream {
    type Item = Result<ToolMessage, QueryError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let message = match self.inner.next()? {
                Ok(message) => message,
                Err(error) => return Some(Err(error)),
            };
            if let Some(decoded) = decode(message) {
                return Some(Ok(decoded));
            }
        }
    }
}

/// fastapi_poe's reading of one message of a function-calling answer; `None` skips it.
fn decode(message: BotMessage) -> Option<ToolMessage> {
    let BotMessage::Json(text) = &message else { return Some(ToolMessage::Message(message)) };
    let data: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let Some(choice) = data.get("choices").and_then(Value::as_array).and_then(|c| c.first()) else {
        return Some(ToolMessage::Message(message));
    };
    if !choice.get("finish_reason").is_none_or(Value::is_null) {
        return None;
    }
    let delta = choice.get("delta")?;
    if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
        return Some(ToolMessage::ToolCalls(calls.iter().map(tool_call_delta).collect()));
    }
    let content = delta.get("content")?;
    Some(ToolMessage::Message(BotMessage::Text(content.as_str().unwrap_or_default().to_owned())))
}

fn tool_call_delta(call: &Value) -> ToolCallDelta {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let function = call.get("function");
    ToolCallDelta {
        index: call.get("index").and_then(Value::as_u64).unwrap_or(0),
        id: text(call.get("id")),
        kind: text(call.get("type")),
        name: text(function.and_then(|f| f.get("name"))),
        arguments: text(function.and_then(|f| f.get("arguments"))).unwrap_or_default(),
    }
}

/// Tool calls collected by index, as fastapi_poe collects them: the first piece of an
/// index must name the id, type and function, or that call is dropped.
#[derive(Debug, Default)]
pub struct ToolCalls {
    calls: Vec<(u64, ToolCallDefinition)>,
}

impl ToolCalls {
    /// Add the pieces of one chunk.
    pub fn add(&mut self, deltas: Vec<ToolCallDelta>) {
        for delta in deltas {
            if let Some((_, call)) = self.calls.iter_mut().find(|(i, _)| *i == delta.index) {
                call.function.arguments.push_str(&delta.arguments);
                continue;
            }
            let (Some(id), Some(kind), Some(name)) = (delta.id, delta.kind, delta.name) else { continue };
            let function = FunctionCall { name, arguments: delta.arguments };
            self.calls.push((delta.index, ToolCallDefinition { id, type_: kind, function }));
        }
    }

    /// The calls, in the order their first pieces arrived.
    pub fn into_calls(self) -> Vec<ToolCallDefinition> {
        self.calls.into_iter().map(|(_, call)| call).collect()
    }
}

/// The whole function-calling loop (fastapi_poe's `stream_request` with `tools` and
/// `tool_executables`): call `bot_name` with `tools`, pass its text on through `on_message`
/// as it arrives, run each tool call with `execute(name, arguments)`, then call again
/// with the calls and their results and pass that answer on too.
///
/// `execute` gets the JSON-decoded arguments and returns the result, which is sent as
/// JSON text written as Python's `json.dumps` writes it.
///
/// ```no_run
/// # fn demo(request: poe_bot::QueryRequest, tools: Vec<poe_bot::ToolDefinition>, out: &poe_bot::Responder) -> poe_bot::BotResult {
/// use poe_bot::bot_query::{tools::call_with_tools, BotMessage};
/// call_with_tools(&request, "GPT-4o-Mini", &tools, |name, args| {
///     serde_json::json!({"city": args["city"], "forecast": "sunny"})
/// }, |message| match message {
///     BotMessage::Text(text) => out.text(text),
///     _ => Ok(()),
/// })?;
/// # Ok(()) }
/// ```
pub fn call_with_tools<E>(
    request: &QueryRequest,
    bot_name: &str,
    tools: &[ToolDefinition],
    mut execute: impl FnMut(&str, Value) -> Value,
    mut on_message: impl FnMut(BotMessage) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<QueryError>,
{
    let mut calls = ToolCalls::default();
    for message in stream_request_with_tools(request, bot_name, tools)? {
        match message? {
            ToolMessage::ToolCalls(deltas) => calls.add(deltas),
            ToolMessage::Message(message) => on_message(message)?,
        }
    }
    let calls = calls.into_calls();
    if calls.is_empty() {
        return Ok(());
    }
    let results = calls.iter().map(|call| run_tool(call, &mut execute)).collect();
    let options = QueryOptions {
        tools: Some(tools.to_vec()),
        tool_calls: Some(calls),
        tool_results: Some(results),
        ..Default::default()
    };
    for message in stream_request_with(request, bot_name, options)? {
        on_message(message?)?;
    }
    Ok(())
}

fn run_tool(
    call: &ToolCallDefinition,
    execute: &mut impl FnMut(&str, Value) -> Value,
) -> ToolResultDefinition {
    let arguments = serde_json::from_str(&call.function.arguments).unwrap_or(Value::Null);
    let result = execute(&call.function.name, arguments);
    ToolResultDefinition {
        role: "tool".into(),
        name: call.function.name.clone(),
        tool_call_id: call.id.clone(),
        content: python_json(&result),
    }
}

/// `value` as Python's `json.dumps` writes it: `", "` and `": "` separators, non-ASCII
/// escaped as `\uXXXX`.
pub fn python_json(value: &Value) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    serde::Serialize::serialize(value, &mut ser).expect("a JSON value serialises");
    let text = String::from_utf8(out).expect("serde_json writes UTF-8");
    let mut ascii = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                ascii.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    ascii
}

struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_written_as_python_json_dumps_writes_them() {
        let value =
            serde_json::json!({"city": "Zürich", "temps": [1, 2.5], "ok": true, "n": null, "e": "😀"});
        // serde_json's map is sorted, like `json.dumps(..., sort_keys=True)`.
        assert_eq!(
            python_json(&value),
            r#"{"city": "Z\u00fcrich", "e": "\ud83d\ude00", "n": null, "ok": true, "temps": [1, 2.5]}"#
        );
        assert_eq!(python_json(&serde_json::json!("sunny")), r#""sunny""#);
    }

    #[test]
    fn tool_call_pieces_are_joined_by_index_and_headless_ones_dropped() {
        let piece = |index, id: Option<&str>, arguments: &str| ToolCallDelta {
            index,
            id: id.map(Into::into),
            kind: id.map(|_| "function".into()),
            name: id.map(|_| "get_weather".into()),
            arguments: arguments.into(),
        };
        let mut calls = ToolCalls::default();
        calls.add(vec![piece(0, Some("call_1"), ""), piece(1, None, "lost")]);
        calls.add(vec![piece(0, None, "{\"city\":"), piece(0, None, " \"Paris\"}")]);
        let calls = calls.into_calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(
            (calls[0].id.as_str(), calls[0].function.arguments.as_str()),
            ("call_1", "{\"city\": \"Paris\"}")
        );
    }
}
