"""Conversions between the host's `poe:bot` records and fastapi_poe's models.

The host hands a bot WIT records (enums, JSON objects as text, lists of pairs); a
fastapi_poe bot expects `QueryRequest` with strings and dicts, and yields
`PartialResponse`s. Each direction lives here, so the rest of the SDK speaks models only.
"""

import json
from typing import Any, Optional

from poe_wit.imports import poe_bot_types as wit

from . import types as fp


def _enum_name(value: Any) -> str:
    return value.name.lower()


CONTENT_TYPES = {
    wit.ContentType.TEXT_MARKDOWN: "text/markdown",
    wit.ContentType.TEXT_PLAIN: "text/plain",
}
"""The host's content types as fastapi_poe names them."""
WIT_CONTENT_TYPES = {name: value for value, name in CONTENT_TYPES.items()}
"""fastapi_poe's content types as the host's enum."""


def _json_object(text: Optional[str]) -> Optional[dict]:
    return None if text is None else json.loads(text)


# -- requests: host → bot -------------------------------------------------------------


def query_from_wit(request: Any) -> fp.QueryRequest:
    """A `QueryRequest` model from the host's `query-request`."""
    return fp.QueryRequest(
        version=request.version,
        type="query",
        query=[_message(m) for m in request.query],
        user_id=request.user_id,
        conversation_id=request.conversation_id,
        message_id=request.message_id,
        metadata=request.metadata,
        temperature=request.temperature,
        skip_system_prompt=request.skip_system_prompt,
        logit_bias=dict(request.logit_bias),
        stop_sequences=list(request.stop_sequences),
        language_code=request.language_code,
        adopt_current_bot_name=request.adopt_current_bot_name,
        bot_query_id=request.bot_query_id,
        users=[fp.User(id=u.id, name=u.name) for u in request.users],
        tools=None if request.tools is None else [_tool(t) for t in request.tools],
        tool_calls=None if request.tool_calls is None else [_tool_call(c) for c in request.tool_calls],
        tool_results=None if request.tool_results is None else [_tool_result(r) for r in request.tool_results],
        query_creation_time=request.query_creation_time,
        extra_params=_json_object(request.extra_params),
    )


def _message(m: Any) -> fp.ProtocolMessage:
    referenced = getattr(m, "referenced_message", None)
    return fp.ProtocolMessage(
        role=_enum_name(m.role),
        message_type=None if m.message_type is None else _enum_name(m.message_type),
        sender_id=m.sender_id,
        sender=None if m.sender is None else fp.Sender(id=m.sender.id, name=m.sender.name),
        content=m.content,
        parameters=json.loads(m.parameters) if m.parameters else {},
        content_type=CONTENT_TYPES[m.content_type],
        timestamp=m.timestamp,
        message_id=m.message_id,
        feedback=[fp.MessageFeedback(type=_enum_name(f.type), reason=f.reason) for f in m.feedback],
        attachments=[_attachment(a) for a in m.attachments],
        metadata=m.metadata,
        referenced_message=None if referenced is None else _message(referenced),
        reactions=[fp.MessageReaction(user_id=r.user_id, reaction=r.reaction) for r in m.reactions],
    )


def _attachment(a: Any) -> fp.Attachment:
    return fp.Attachment(
        url=a.url, content_type=a.content_type, name=a.name,
        inline_ref=a.inline_ref, parsed_content=a.parsed_content,
    )


def _tool(t: Any) -> fp.ToolDefinition:
    p = t.function.parameters
    parameters = fp.ParametersDefinition(type=p.type, properties=json.loads(p.properties), required=p.required)
    function = fp.FunctionDefinition(name=t.function.name, description=t.function.description, parameters=parameters)
    return fp.ToolDefinition(type=t.type, function=function)


def _tool_call(c: Any) -> fp.ToolCallDefinition:
    function = fp.FunctionCallDefinition(name=c.function.name, arguments=c.function.arguments)
    return fp.ToolCallDefinition(id=c.id, type=c.type, function=function)


def _tool_result(r: Any) -> fp.ToolResultDefinition:
    return fp.ToolResultDefinition(role=r.role, name=r.name, tool_call_id=r.tool_call_id, content=r.content)


def settings_request_from_wit(request: Any) -> fp.SettingsRequest:
    """A `SettingsRequest` model from the host's `settings-request`."""
    return fp.SettingsRequest(version=request.version, type="settings")


def feedback_from_wit(request: Any) -> fp.ReportFeedbackRequest:
    """A `ReportFeedbackRequest` model from the host's record."""
    return fp.ReportFeedbackRequest(
        version=request.version, type="report_feedback", message_id=request.message_id,
        user_id=request.user_id, conversation_id=request.conversation_id,
        feedback_type=_enum_name(request.feedback_type),
    )


def reaction_from_wit(request: Any) -> fp.ReportReactionRequest:
    """A `ReportReactionRequest` model from the host's record."""
    return fp.ReportReactionRequest(
        version=request.version, type="report_reaction", message_id=request.message_id,
        user_id=request.user_id, conversation_id=request.conversation_id, reaction=request.reaction,
    )


def error_report_from_wit(request: Any) -> fp.ReportErrorRequest:
    """A `ReportErrorRequest` model from the host's record."""
    return fp.ReportErrorRequest(
        version=request.version, type="report_error", message=request.message,
        metadata=json.loads(request.metadata) if request.metadata else {},
    )


# -- requests: bot → host (calling other bots) -----------------------------------------


def query_to_wit(request: fp.QueryRequest) -> Any:
    """The host's `query-request` from a `QueryRequest` model (for `stream_request`)."""
    return wit.QueryRequest(
        version=request.version,
        query=[_message_to_wit(m) for m in request.query],
        user_id=request.user_id,
        conversation_id=request.conversation_id,
        message_id=request.message_id,
        metadata=request.metadata,
        temperature=request.temperature,
        skip_system_prompt=request.skip_system_prompt,
        logit_bias=[(k, float(v)) for k, v in request.logit_bias.items()],
        stop_sequences=list(request.stop_sequences),
        language_code=request.language_code,
        adopt_current_bot_name=request.adopt_current_bot_name,
        bot_query_id=request.bot_query_id,
        users=[wit.User(id=u.id, name=u.name) for u in request.users],
        tools=tools_to_wit(request.tools),
        tool_calls=tool_calls_to_wit(request.tool_calls),
        tool_results=tool_results_to_wit(request.tool_results),
        query_creation_time=request.query_creation_time,
        extra_params=None if request.extra_params is None else json.dumps(request.extra_params),
    )


def _message_fields(m: fp.ProtocolMessage) -> dict:
    return dict(
        role=wit.Role[m.role.upper()],
        content=m.content,
        content_type=WIT_CONTENT_TYPES[m.content_type],
        timestamp=m.timestamp,
        message_id=m.message_id,
        sender_id=m.sender_id,
        sender=None if m.sender is None else wit.Sender(id=m.sender.id, name=m.sender.name),
        message_type=None if m.message_type is None else wit.MessageType[m.message_type.upper()],
        parameters=json.dumps(m.parameters),
        feedback=[wit.MessageFeedback(type=wit.FeedbackType[f.type.upper()], reason=f.reason) for f in m.feedback],
        attachments=[
            wit.Attachment(url=a.url, content_type=a.content_type, name=a.name,
                           inline_ref=a.inline_ref, parsed_content=a.parsed_content)
            for a in m.attachments
        ],
        metadata=m.metadata,
        reactions=[wit.MessageReaction(user_id=r.user_id, reaction=r.reaction) for r in m.reactions],
    )


def _message_to_wit(m: fp.ProtocolMessage) -> Any:
    referenced = m.referenced_message
    return wit.ProtocolMessage(
        **_message_fields(m),
        referenced_message=None if referenced is None else wit.ReferencedMessage(**_message_fields(referenced)),
    )


def tools_to_wit(tools: Optional[list]) -> Optional[list]:
    """The host's `tool-definition`s from models (or dicts)."""
    if tools is None:
        return None
    out = []
    for t in tools:
        t = fp.ToolDefinition.model_validate(t)
        f = t.function
        p = fp.ParametersDefinition.model_validate(f.parameters)
        parameters = wit.ParametersDefinition(type=p.type, properties=json.dumps(p.properties), required=p.required)
        out.append(wit.ToolDefinition(
            type=t.type, function=wit.FunctionDefinition(name=f.name, description=f.description, parameters=parameters)))
    return out


def tool_calls_to_wit(calls: Optional[list]) -> Optional[list]:
    """The host's `tool-call-definition`s from models (or dicts)."""
    if calls is None:
        return None
    out = []
    for c in calls:
        c = fp.ToolCallDefinition.model_validate(c)
        f = fp.FunctionCallDefinition.model_validate(c.function)
        out.append(wit.ToolCallDefinition(id=c.id, type=c.type, function=wit.FunctionCall(name=f.name, arguments=f.arguments)))
    return out


def tool_results_to_wit(results: Optional[list]) -> Optional[list]:
    """The host's `tool-result-definition`s from models (or dicts)."""
    if results is None:
        return None
    return [
        wit.ToolResultDefinition(role=r.role, name=r.name, tool_call_id=r.tool_call_id, content=r.content)
        for r in (fp.ToolResultDefinition.model_validate(r) for r in results)
    ]
