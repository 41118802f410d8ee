//! Conversions from the parsed request models to the WIT types a guest receives.
//!
//! Everything is moved, not cloned: a request is converted once, right before the call.

use crate::guest::bindings::types as wit;

use super::models::*;

impl From<QueryRequest> for wit::QueryRequest {
    fn from(q: QueryRequest) -> Self {
        Self {
            version: q.version,
            query: q.query.into_iter().map(Into::into).collect(),
            user_id: q.user_id,
            conversation_id: q.conversation_id,
            message_id: q.message_id,
            metadata: q.metadata,
            temperature: q.temperature,
            skip_system_prompt: q.skip_system_prompt,
            logit_bias: q.logit_bias.into_iter().collect(),
            stop_sequences: q.stop_sequences,
            language_code: q.language_code,
            adopt_current_bot_name: q.adopt_current_bot_name,
            bot_query_id: q.bot_query_id,
            users: q.users.into_iter().map(|u| wit::User { id: u.id, name: u.name }).collect(),
            tools: q.tools.map(|t| t.into_iter().map(Into::into).collect()),
            tool_calls: q.tool_calls.map(|t| t.into_iter().map(Into::into).collect()),
            tool_results: q.tool_results.map(|t| t.into_iter().map(Into::into).collect()),
            query_creation_time: q.query_creation_time,
            extra_params: q.extra_params.map(|p| p.as_str().to_owned()),
        }
    }
}

impl From<ProtocolMessage> for wit::ProtocolMessage {
    fn from(m: ProtocolMessage) -> Self {
        Self {
            role: m.role.into(),
            content: m.content,
            content_type: m.content_type.into(),
            timestamp: m.timestamp,
            message_id: m.message_id,
            sender_id: m.sender_id,
            sender: m.sender.map(Into::into),
            message_type: m.message_type.map(|MessageType::FunctionCall| wit::MessageType::FunctionCall),
            parameters: m.parameters.as_str().to_owned(),
            feedback: m.feedback.into_iter().map(Into::into).collect(),
            attachments: m.attachments.into_iter().map(Into::into).collect(),
            metadata: m.metadata,
            referenced_message: m.referenced_message.map(|r| referenced(*r)),
            reactions: m.reactions.into_iter().map(Into::into).collect(),
        }
    }
}

/// A quoted message; a quote inside the quote is dropped (WIT types cannot nest).
fn referenced(m: ProtocolMessage) -> wit::ReferencedMessage {
    let m = wit::ProtocolMessage::from(ProtocolMessage { referenced_message: None, ..m });
    wit::ReferencedMessage {
        role: m.role,
        content: m.content,
        content_type: m.content_type,
        timestamp: m.timestamp,
        message_id: m.message_id,
        sender_id: m.sender_id,
        sender: m.sender,
        message_type: m.message_type,
        parameters: m.parameters,
        feedback: m.feedback,
        attachments: m.attachments,
        metadata: m.metadata,
        reactions: m.reactions,
    }
}

impl From<Role> for wit::Role {
    fn from(r: Role) -> Self {
        match r {
            Role::System => wit::Role::System,
            Role::User => wit::Role::User,
            Role::Bot => wit::Role::Bot,
            Role::Tool => wit::Role::Tool,
        }
    }
}

impl From<ContentType> for wit::ContentType {
    fn from(c: ContentType) -> Self {
        match c {
            ContentType::Markdown => wit::ContentType::TextMarkdown,
            ContentType::Plain => wit::ContentType::TextPlain,
        }
    }
}

impl From<FeedbackType> for wit::FeedbackType {
    fn from(f: FeedbackType) -> Self {
        match f {
            FeedbackType::Like => wit::FeedbackType::Like,
            FeedbackType::Dislike => wit::FeedbackType::Dislike,
        }
    }
}

impl From<Sender> for wit::Sender {
    fn from(s: Sender) -> Self {
        Self { id: s.id, name: s.name }
    }
}

impl From<MessageFeedback> for wit::MessageFeedback {
    fn from(f: MessageFeedback) -> Self {
        Self { type_: f.kind.into(), reason: f.reason }
    }
}

impl From<Attachment> for wit::Attachment {
    fn from(a: Attachment) -> Self {
        Self {
            url: a.url,
            content_type: a.content_type,
            name: a.name,
            inline_ref: a.inline_ref,
            parsed_content: a.parsed_content,
        }
    }
}

impl From<MessageReaction> for wit::MessageReaction {
    fn from(r: MessageReaction) -> Self {
        Self { user_id: r.user_id, reaction: r.reaction }
    }
}

impl From<ToolDefinition> for wit::ToolDefinition {
    fn from(t: ToolDefinition) -> Self {
        let f = t.function;
        Self {
            type_: t.kind,
            function: wit::FunctionDefinition {
                name: f.name,
                description: f.description,
                parameters: wit::ParametersDefinition {
                    type_: f.parameters.kind,
                    properties: f.parameters.properties.as_str().to_owned(),
                    required: f.parameters.required,
                },
            },
        }
    }
}

impl From<ToolCallDefinition> for wit::ToolCallDefinition {
    fn from(t: ToolCallDefinition) -> Self {
        Self {
            id: t.id,
            type_: t.kind,
            function: wit::FunctionCall { name: t.function.name, arguments: t.function.arguments },
        }
    }
}

impl From<ToolResultDefinition> for wit::ToolResultDefinition {
    fn from(t: ToolResultDefinition) -> Self {
        Self { role: t.role, name: t.name, tool_call_id: t.tool_call_id, content: t.content }
    }
}

impl From<SettingsRequest> for wit::SettingsRequest {
    fn from(s: SettingsRequest) -> Self {
        Self { version: s.version }
    }
}

impl From<ReportFeedbackRequest> for wit::ReportFeedbackRequest {
    fn from(r: ReportFeedbackRequest) -> Self {
        Self {
            version: r.version,
            message_id: r.message_id,
            user_id: r.user_id,
            conversation_id: r.conversation_id,
            feedback_type: r.feedback_type.into(),
        }
    }
}

impl From<ReportReactionRequest> for wit::ReportReactionRequest {
    fn from(r: ReportReactionRequest) -> Self {
        Self {
            version: r.version,
            message_id: r.message_id,
            user_id: r.user_id,
            conversation_id: r.conversation_id,
            reaction: r.reaction,
        }
    }
}

impl From<ReportErrorRequest> for wit::ReportErrorRequest {
    fn from(r: ReportErrorRequest) -> Self {
        Self { version: r.version, message: r.message, metadata: r.metadata.as_str().to_owned() }
    }
}
