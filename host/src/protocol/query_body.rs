//! The JSON body of a bot query (protocol §7.1): the guest's `query-request` written as
//! fastapi_poe's `QueryRequest.model_dump()` writes it — every field, in its order, nulls
//! included — with the options applied as `stream_request` applies them.
//!
//! Both key fields (`access_key`, `api_key`) carry the calling bot's own key, as in a
//! fastapi_poe bot (its server overwrites both with the bot's key when a request arrives).
//! The guest never sees the key, so the host adds it here.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::guest::bindings::types as wit;

/// What `stream_request` changes in the request before sending it; each `Some` replaces.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `tools`.
    pub tools: Option<Vec<wit::ToolDefinition>>,
    /// `tool_calls`.
    pub tool_calls: Option<Vec<wit::ToolCallDefinition>>,
    /// `tool_results`.
    pub tool_results: Option<Vec<wit::ToolResultDefinition>>,
    /// `temperature`.
    pub temperature: Option<f64>,
    /// `skip_system_prompt`.
    pub skip_system_prompt: Option<bool>,
    /// `logit_bias`.
    pub logit_bias: Option<Vec<(String, f64)>>,
    /// `stop_sequences`.
    pub stop_sequences: Option<Vec<String>>,
    /// `adopt_current_bot_name`.
    pub adopt_current_bot_name: Option<bool>,
}

/// A JSON-text field the guest filled that is not a JSON object; the text names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a JSON object")]
pub struct NotAnObject(pub String);

/// The body to POST: `request` with `overrides` applied and the calling bot's `key` added.
pub fn query_body(
    request: &wit::QueryRequest,
    overrides: &Overrides,
    key: &str,
) -> Result<Vec<u8>, NotAnObject> {
    let body = Body::new(request, overrides, key)?;
    Ok(serde_json::to_vec(&body).expect("a body of strings, numbers and raw JSON serialises"))
}

#[derive(Serialize)]
struct Body<'a> {
    version: &'a str,
    r#type: &'static str,
    query: Vec<Message<'a>>,
    user_id: &'a str,
    conversation_id: &'a str,
    message_id: &'a str,
    metadata: &'a str,
    api_key: &'a str,
    access_key: &'a str,
    temperature: Option<f64>,
    skip_system_prompt: bool,
    logit_bias: Pairs<'a>,
    stop_sequences: &'a [String],
    language_code: &'a str,
    adopt_current_bot_name: Option<bool>,
    bot_query_id: &'a str,
    users: Vec<User<'a>>,
    tools: Option<Vec<Tool<'a>>>,
    tool_calls: Option<Vec<ToolCall<'a>>>,
    tool_results: Option<Vec<ToolResult<'a>>>,
    query_creation_time: Option<i64>,
    extra_params: Option<&'a RawValue>,
}

impl<'a> Body<'a> {
    fn new(r: &'a wit::QueryRequest, o: &'a Overrides, key: &'a str) -> Result<Self, NotAnObject> {
        let query = r.query.iter().enumerate().map(|(i, m)| Message::new(m, i)).collect::<Result<_, _>>()?;
        let tools = o.tools.as_ref().or(r.tools.as_ref());
        Ok(Self {
            version: &r.version,
            r#type: "query",
            query,
            user_id: &r.user_id,
            conversation_id: &r.conversation_id,
            message_id: &r.message_id,
            metadata: &r.metadata,
            api_key: key,
            access_key: key,
            temperature: o.temperature.or(r.temperature),
            skip_system_prompt: o.skip_system_prompt.unwrap_or(r.skip_system_prompt),
            logit_bias: Pairs(o.logit_bias.as_deref().unwrap_or(&r.logit_bias)),
            stop_sequences: o.stop_sequences.as_deref().unwrap_or(&r.stop_sequences),
            language_code: &r.language_code,
            adopt_current_bot_name: o.adopt_current_bot_name.or(r.adopt_current_bot_name),
            bot_query_id: &r.bot_query_id,
            users: r.users.iter().map(|u| User { id: &u.id, name: u.name.as_deref() }).collect(),
            tools: tools.map(|t| t.iter().map(Tool::new).collect::<Result<_, _>>()).transpose()?,
            tool_calls: o
                .tool_calls
                .as_ref()
                .or(r.tool_calls.as_ref())
                .map(|c| c.iter().map(ToolCall::new).collect()),
            tool_results: o
                .tool_results
                .as_ref()
                .or(r.tool_results.as_ref())
                .map(|t| t.iter().map(ToolResult::new).collect()),
            query_creation_time: r.query_creation_time,
            extra_params: r.extra_params.as_deref().map(|p| object(p, "extra-params")).transpose()?,
        })
    }
}

/// `text` as raw JSON, if it is an object.
fn object<'a>(text: &'a str, what: &str) -> Result<&'a RawValue, NotAnObject> {
    let raw: &RawValue = serde_json::from_str(text).map_err(|_| NotAnObject(what.to_owned()))?;
    if !raw.get().starts_with('{') {
        return Err(NotAnObject(what.to_owned()));
    }
    Ok(raw)
}

/// A list of pairs written as a JSON object, in the list's order.
struct Pairs<'a>(&'a [(String, f64)]);

impl Serialize for Pairs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    message_type: Option<&'static str>,
    sender_id: Option<&'a str>,
    sender: Option<Sender<'a>>,
    content: &'a str,
    parameters: &'a RawValue,
    content_type: &'static str,
    timestamp: i64,
    message_id: &'a str,
    feedback: Vec<Feedback<'a>>,
    attachments: Vec<Attachment<'a>>,
    metadata: Option<&'a str>,
    referenced_message: Option<Box<Message<'a>>>,
    reactions: Vec<Reaction<'a>>,
}

/// A `Message` from a `protocol-message` or a `referenced-message`: the same fields, two
/// WIT types (a quote cannot hold a quote).
macro_rules! message {
    ($m:expr, $parameters:expr, $referenced:expr) => {
        Message {
            role: role($m.role),
            message_type: $m.message_type.map(|wit::MessageType::FunctionCall| "function_call"),
            sender_id: $m.sender_id.as_deref(),
            sender: $m.sender.as_ref().map(Sender::new),
            content: &$m.content,
            parameters: $parameters,
            content_type: content_type($m.content_type),
            timestamp: $m.timestamp,
            message_id: &$m.message_id,
            feedback: $m.feedback.iter().map(Feedback::new).collect(),
            attachments: $m.attachments.iter().map(Attachment::new).collect(),
            metadata: $m.metadata.as_deref(),
            referenced_message: $referenced,
            reactions: $m.reactions.iter().map(Reaction::new).collect(),
        }
    };
}

impl<'a> Message<'a> {
    fn new(m: &'a wit::ProtocolMessage, i: usize) -> Result<Self, NotAnObject> {
        let referenced = m.referenced_message.as_ref().map(|r| Self::referenced(r, i)).transpose()?;
        let parameters = object(&m.parameters, &format!("query[{i}].parameters"))?;
        Ok(message!(m, parameters, referenced.map(Box::new)))
    }

    fn referenced(m: &'a wit::ReferencedMessage, i: usize) -> Result<Self, NotAnObject> {
        let parameters = object(&m.parameters, &format!("query[{i}].referenced-message.parameters"))?;
        Ok(message!(m, parameters, None))
    }
}

fn role(role: wit::Role) -> &'static str {
    match role {
        wit::Role::System => "system",
        wit::Role::User => "user",
        wit::Role::Bot => "bot",
        wit::Role::Tool => "tool",
    }
}

fn content_type(c: wit::ContentType) -> &'static str {
    match c {
        wit::ContentType::TextMarkdown => "text/markdown",
        wit::ContentType::TextPlain => "text/plain",
    }
}

#[derive(Serialize)]
struct Sender<'a> {
    id: Option<&'a str>,
    name: Option<&'a str>,
}

impl<'a> Sender<'a> {
    fn new(s: &'a wit::Sender) -> Self {
        Self { id: s.id.as_deref(), name: s.name.as_deref() }
    }
}

#[derive(Serialize)]
struct Feedback<'a> {
    r#type: &'static str,
    reason: Option<&'a str>,
}

impl<'a> Feedback<'a> {
    fn new(f: &'a wit::MessageFeedback) -> Self {
        let kind = match f.type_ {
            wit::FeedbackType::Like => "like",
            wit::FeedbackType::Dislike => "dislike",
        };
        Self { r#type: kind, reason: f.reason.as_deref() }
    }
}

#[derive(Serialize)]
struct Attachment<'a> {
    url: &'a str,
    content_type: &'a str,
    name: &'a str,
    inline_ref: Option<&'a str>,
    parsed_content: Option<&'a str>,
}

impl<'a> Attachment<'a> {
    fn new(a: &'a wit::Attachment) -> Self {
        Self {
            url: &a.url,
            content_type: &a.content_type,
            name: &a.name,
            inline_ref: a.inline_ref.as_deref(),
            parsed_content: a.parsed_content.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct Reaction<'a> {
    user_id: &'a str,
    reaction: &'a str,
}

impl<'a> Reaction<'a> {
    fn new(r: &'a wit::MessageReaction) -> Self {
        Self { user_id: &r.user_id, reaction: &r.reaction }
    }
}

#[derive(Serialize)]
struct User<'a> {
    id: &'a str,
    name: Option<&'a str>,
}

#[derive(Serialize)]
struct Tool<'a> {
    r#type: &'a str,
    function: Function<'a>,
}

#[derive(Serialize)]
struct Function<'a> {
    name: &'a str,
    description: &'a str,
    parameters: Parameters<'a>,
}

#[derive(Serialize)]
struct Parameters<'a> {
    r#type: &'a str,
    properties: &'a RawValue,
    required: Option<&'a [String]>,
}

impl<'a> Tool<'a> {
    fn new(t: &'a wit::ToolDefinition) -> Result<Self, NotAnObject> {
        let f = &t.function;
        let what = format!("tool {:?} parameters.properties", f.name);
        Ok(Self {
            r#type: &t.type_,
            function: Function {
                name: &f.name,
                description: &f.description,
                parameters: Parameters {
                    r#type: &f.parameters.type_,
                    properties: object(&f.parameters.properties, &what)?,
                    required: f.parameters.required.as_deref(),
                },
            },
        })
    }
}

#[derive(Serialize)]
struct ToolCall<'a> {
    id: &'a str,
    r#type: &'a str,
    function: FunctionCall<'a>,
}

#[derive(Serialize)]
struct FunctionCall<'a> {
    name: &'a str,
    arguments: &'a str,
}

impl<'a> ToolCall<'a> {
    fn new(c: &'a wit::ToolCallDefinition) -> Self {
        let function = FunctionCall { name: &c.function.name, arguments: &c.function.arguments };
        Self { id: &c.id, r#type: &c.type_, function }
    }
}

#[derive(Serialize)]
struct ToolResult<'a> {
    role: &'a str,
    name: &'a str,
    tool_call_id: &'a str,
    content: &'a str,
}

impl<'a> ToolResult<'a> {
    fn new(r: &'a wit::ToolResultDefinition) -> Self {
        Self { role: &r.role, name: &r.name, tool_call_id: &r.tool_call_id, content: &r.content }
    }
}
