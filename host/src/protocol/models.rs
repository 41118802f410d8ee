//! Request models as fastapi_poe defines them (protocol §3): required fields, defaults,
//! and accepted values. Unknown keys are ignored at every level, as the spec asks.
//!
//! Free-form JSON objects are kept as raw JSON text ([`JsonObject`]) so they reach the
//! guest without being re-serialised.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// A JSON object kept as its original text.
#[derive(Debug, Clone)]
pub struct JsonObject(pub Box<RawValue>);

impl<'de> Deserialize<'de> for JsonObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        if !raw.get().starts_with('{') {
            return Err(serde::de::Error::custom("expected a JSON object"));
        }
        Ok(Self(raw))
    }
}

impl JsonObject {
    /// The object's JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }
}

impl Default for JsonObject {
    fn default() -> Self {
        Self(RawValue::from_string("{}".into()).expect("{} is valid JSON"))
    }
}

/// `role` of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[expect(missing_docs, reason = "the protocol's own role names")]
pub enum Role {
    System,
    User,
    Bot,
    Tool,
}

/// `content_type` of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum ContentType {
    /// `text/markdown` (the default).
    #[default]
    #[serde(rename = "text/markdown")]
    Markdown,
    /// `text/plain`.
    #[serde(rename = "text/plain")]
    Plain,
}

/// `like` or `dislike`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[expect(missing_docs, reason = "the protocol's own feedback names")]
pub enum FeedbackType {
    Like,
    Dislike,
}

/// `message_type`: only `function_call` exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[expect(missing_docs, reason = "the protocol's own message type names")]
pub enum MessageType {
    FunctionCall,
}

/// `sender` of a message.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[expect(missing_docs, reason = "mirrors fastapi_poe's Sender")]
pub struct Sender {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// One feedback entry on a message.
#[derive(Debug, Clone, Deserialize)]
#[expect(missing_docs, reason = "mirrors fastapi_poe's MessageFeedback")]
pub struct MessageFeedback {
    #[serde(rename = "type")]
    pub kind: FeedbackType,
    #[serde(default)]
    pub reason: Option<String>,
}

/// A file attached to a message.
#[derive(Debug, Clone, Deserialize)]
#[expect(missing_docs, reason = "mirrors fastapi_poe's Attachment")]
pub struct Attachment {
    pub url: String,
    pub content_type: String,
    pub name: String,
    #[serde(default)]
    pub inline_ref: Option<String>,
    #[serde(default)]
    pub parsed_content: Option<String>,
}

/// A reaction on a message.
#[derive(Debug, Clone, Deserialize)]
#[expect(missing_docs, reason = "mirrors fastapi_poe's MessageReaction")]
pub struct MessageReaction {
    pub user_id: String,
    pub reaction: String,
}

/// A conversation message (fastapi_poe `ProtocolMessage`).
#[derive(Debug, Clone, Deserialize)]
#[expect(missing_docs, reason = "mirrors fastapi_poe's ProtocolMessage; see wit/types.wit")]
pub struct ProtocolMessage {
    pub role: Role,
    pub content: String,
    #[serde(default)]
    pub content_type: ContentType,
    #[serde(default)]
    pub timestamp: i64,
    #[serde(default)]
    pub message_id: String,
    #[serde(default)]
    pub sender_id: Option<String>,
    #[serde(default)]
    pub sender: Option<Sender>,
    #[serde(default)]
    pub message_type: Option<MessageType>,
    #[serde(default)]
    pub parameters: JsonObject,
    #[serde(default)]
    pub feedback: Vec<MessageFeedback>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    #[serde(default)]
    pub metadata: Option<String>,
    #[serde(default)]
    pub referenced_message: Option<Box<ProtocolMessage>>,
    #[serde(default)]
    pub reactions: Vec<MessageReaction>,
}

impl ProtocolMessage {
    /// A user message with every other field at its default, as fastapi_poe builds the
    /// messages it inserts.
    pub fn user(content: String) -> Self {
        Self {
            role: Role::User,
            content,
            content_type: ContentType::Markdown,
            timestamp: 0,
            message_id: String::new(),
            sender_id: None,
            sender: Some(Sender::default()),
            message_type: None,
            parameters: JsonObject::default(),
            feedback: Vec::new(),
            attachments: Vec::new(),
            metadata: None,
            referenced_message: None,
            reactions: Vec::new(),
        }
    }
}

/// A chat user.
#[derive(Debug, Clone, Deserialize)]
#[expect(missing_docs, reason = "mirrors fastapi_poe's User")]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// Tool parameter schema.
#[derive(Debug, Clone, Deserialize)]
#[expect(missing_docs, reason = "mirrors fastapi_poe's ParametersDefinition")]
pub struct ParametersDefinition {
    #[serde(rename = "type")]
    pub kind: String,
    pub properties: JsonObject,
    #[serde(default)]
    pub required: Option<Vec<String>>,
}

/// Tool function.
#[derive(Debug, Clone, Deserialize)]
#[expect(missing_docs, reason = "mirrors fastapi_poe's FunctionDefinition")]
pub struct FunctionDefinition {
    pub name: String,
    pub description: String,
    pub parameters: ParametersDefinition,
}

/// OpenAI-style tool definition.
#[derive(Debug, Clone, Deserialize)]
#[expect(missing_docs, reason = "mirrors fastapi_poe's ToolDefinition")]
pub struct ToolDefinition {
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionDefinition,
}

/// The function part of a tool call.
#[derive(Debug, Clone, Deserialize)]
#[expect(missing_docs, reason = "mirrors fastapi_poe's FunctionCallDefinition")]
pub struct FunctionCall {
    pub name: String,
    pub arguments: String,
}

/// A tool call.
#[derive(Debug, Clone, Deserialize)]
#[expect(missing_docs, reason = "mirrors fastapi_poe's ToolCallDefinition")]
pub struct ToolCallDefinition {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionCall,
}

/// A tool result.
#[derive(Debug, Clone, Deserialize)]
#[expect(missing_docs, reason = "mirrors fastapi_poe's ToolResultDefinition")]
pub struct ToolResultDefinition {
    pub role: String,
    pub name: String,
    pub tool_call_id: String,
    pub content: String,
}

fn default_language() -> String {
    "en".into()
}

/// A `query` request (fastapi_poe `QueryRequest`). `access_key`/`api_key` in the body are
/// ignored: the guest never sees a key.
#[derive(Debug, Clone, Deserialize)]
#[expect(missing_docs, reason = "mirrors fastapi_poe's QueryRequest; see wit/types.wit")]
pub struct QueryRequest {
    pub version: String,
    pub query: Vec<ProtocolMessage>,
    pub user_id: String,
    pub conversation_id: String,
    pub message_id: String,
    #[serde(default)]
    pub metadata: String,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub skip_system_prompt: bool,
    #[serde(default)]
    pub logit_bias: BTreeMap<String, f64>,
    #[serde(default)]
    pub stop_sequences: Vec<String>,
    #[serde(default = "default_language")]
    pub language_code: String,
    #[serde(default)]
    pub adopt_current_bot_name: Option<bool>,
    #[serde(default)]
    pub bot_query_id: String,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub tools: Option<Vec<ToolDefinition>>,
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCallDefinition>>,
    #[serde(default)]
    pub tool_results: Option<Vec<ToolResultDefinition>>,
    #[serde(default)]
    pub query_creation_time: Option<i64>,
    #[serde(default)]
    pub extra_params: Option<JsonObject>,
}

/// A `settings` request.
#[derive(Debug, Clone, Deserialize)]
pub struct SettingsRequest {
    /// Protocol version.
    pub version: String,
}

/// A `report_feedback` request.
#[derive(Debug, Clone, Deserialize)]
#[expect(missing_docs, reason = "mirrors fastapi_poe's ReportFeedbackRequest")]
pub struct ReportFeedbackRequest {
    pub version: String,
    pub message_id: String,
    pub user_id: String,
    pub conversation_id: String,
    pub feedback_type: FeedbackType,
}

/// A `report_reaction` request.
#[derive(Debug, Clone, Deserialize)]
#[expect(missing_docs, reason = "mirrors fastapi_poe's ReportReactionRequest")]
pub struct ReportReactionRequest {
    pub version: String,
    pub message_id: String,
    pub user_id: String,
    pub conversation_id: String,
    pub reaction: String,
}

/// A `report_error` request.
#[derive(Debug, Clone, Deserialize)]
#[expect(missing_docs, reason = "mirrors fastapi_poe's ReportErrorRequest")]
pub struct ReportErrorRequest {
    pub version: String,
    pub message: String,
    pub metadata: JsonObject,
}
