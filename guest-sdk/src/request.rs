//! Conveniences on the request types bot authors read most.

use crate::{ProtocolMessage, QueryRequest, Role};

impl QueryRequest {
    /// The message to answer: the last one of the conversation.
    pub fn last_message(&self) -> Option<&ProtocolMessage> {
        self.query.last()
    }

    /// The text of the message to answer, or `""` for an empty conversation.
    ///
    /// ```no_run
    /// # fn demo(request: poe_bot::QueryRequest) {
    /// let command = request.last_message_text().split_whitespace().next();
    /// # }
    /// ```
    pub fn last_message_text(&self) -> &str {
        self.last_message().map_or("", |m| m.content.as_str())
    }
}

impl ProtocolMessage {
    /// The parameter-control values as JSON (`{}` when none or unparsable).
    pub fn parameters_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.parameters)
            .unwrap_or_else(|_| serde_json::Value::Object(Default::default()))
    }
}

impl Role {
    /// The protocol's name for the role: `system`, `user`, `bot` or `tool`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Bot => "bot",
            Role::Tool => "tool",
        }
    }
}
