"""Calling other Poe bots (`stream_request`, `get_final_response`, `get_bot_response`).

The host makes the call with this bot's own access key (the `api_key` / `access_key` a
file passes is ignored: the key never enters the sandbox), retries and reports errors as
fastapi_poe's client does, and hands back the answer message by message. Each message is
awaited on the SDK's loop, so several streams run at once under `asyncio.gather` or
`create_task`, each waking its task only when it has something.
"""

import json
from typing import Any, AsyncGenerator, Callable, Optional

from componentize_py_types import Err
from poe_wit.imports import bot_query

from . import _loop, _wit
from .types import Attachment, MetaResponse, PartialResponse, ProtocolMessage, QueryRequest, ToolDefinition

BotMessage = PartialResponse
MetaMessage = MetaResponse
PROTOCOL_VERSION = "1.0"


class BotError(Exception):
    """The called bot answered with an error (retrying may help)."""


class BotErrorNoRetry(BotError):
    """The called bot answered with an error it says not to retry."""


async def stream_request(
    request: QueryRequest,
    bot_name: str,
    api_key: str = "",
    *,
    tools: Optional[list] = None,
    tool_executables: Optional[list] = None,
    access_key: str = "",
    access_key_deprecation_warning_stacklevel: int = 2,
    session: Any = None,
    on_error: Any = None,
    num_tries: int = 2,
    retry_sleep_time: float = 0.5,
    base_url: str = "",
    extra_headers: Optional[dict] = None,
) -> AsyncGenerator[BotMessage, None]:
    """Stream `bot_name`'s answer to `request`, message by message."""
    if tool_executables is not None:
        async for message in _stream_with_tools(request, bot_name, tools or [], tool_executables):
            yield message
        return
    async for message in _stream(request, bot_name, tools=tools):
        yield message


async def _stream(request: QueryRequest, bot_name: str, **options: Any) -> AsyncGenerator[BotMessage, None]:
    wit_options = bot_query.QueryOptions(
        tools=_wit.tools_to_wit(options.get("tools")),
        tool_calls=_wit.tool_calls_to_wit(options.get("tool_calls")),
        tool_results=_wit.tool_results_to_wit(options.get("tool_results")),
        temperature=None, skip_system_prompt=None, logit_bias=None, stop_sequences=None,
        adopt_current_bot_name=None,
    )
    try:
        stream = bot_query.stream_request(bot_name, _wit.query_to_wit(request), wit_options)
    except Err as error:
        raise _query_error(error.value) from None
    with stream:
        while True:
            item = stream.try_next()
            if item is None:
                await _loop.wait_ready(stream.subscribe())
                continue
            if isinstance(item, Err):
                raise _query_error(item.value)
            message = item.value
            if message is None:
                return
            yield _bot_message(message)


def _bot_message(m: Any) -> BotMessage:
    if isinstance(m, bot_query.BotMessage_Text):
        return BotMessage(text=m.value, raw_response={"type": "text", "text": json.dumps({"text": m.value})})
    if isinstance(m, bot_query.BotMessage_ReplaceResponse):
        return BotMessage(text=m.value, is_replace_response=True,
                          raw_response={"type": "replace_response", "text": json.dumps({"text": m.value})})
    if isinstance(m, bot_query.BotMessage_SuggestedReply):
        return BotMessage(text=m.value, is_suggested_reply=True,
                          raw_response={"type": "suggested_reply", "text": json.dumps({"text": m.value})})
    if isinstance(m, bot_query.BotMessage_Meta):
        meta = m.value
        return MetaMessage(text="", linkify=meta.linkify, suggested_replies=meta.suggested_replies,
                           content_type=_wit.CONTENT_TYPES[meta.content_type])
    if isinstance(m, bot_query.BotMessage_Json):
        return BotMessage(text="", data=json.loads(m.value))
    f = m.value
    return BotMessage(text="", attachment=Attachment(url=f.url, content_type=f.content_type, name=f.name,
                                                     inline_ref=f.inline_ref))


def _query_error(error: Any) -> Exception:
    if isinstance(error, bot_query.QueryError_BotError):
        detail = error.value
        return (BotError if detail.allow_retry else BotErrorNoRetry)(detail.data)
    if isinstance(error, bot_query.QueryError_NoAccessKey):
        return BotError("this bot has no access key, so it cannot call other bots (set access_key in its sidecar)")
    return BotError(f"{type(error).__name__.removeprefix('QueryError_')}: {error.value}")


async def _stream_with_tools(request: QueryRequest, bot_name: str, tools: list,
                             executables: list) -> AsyncGenerator[BotMessage, None]:
    """fastapi_poe's function-calling loop: collect the model's tool calls, run them, and
    ask again with their results, streaming the second answer."""
    calls: dict = {}
    async for message in _stream(request, bot_name, tools=tools):
        for delta in _tool_call_deltas(message):
            call = calls.setdefault(delta.get("index", 0), {"id": None, "type": None, "name": "", "arguments": ""})
            call["id"] = delta.get("id") or call["id"]
            call["type"] = delta.get("type") or call["type"]
            function = delta.get("function") or {}
            call["name"] += function.get("name") or ""
            call["arguments"] += function.get("arguments") or ""
        if message.data is None:
            yield message
    if not calls:
        return
    by_name = {f.__name__: f for f in executables}
    tool_calls, tool_results = [], []
    for call in (calls[i] for i in sorted(calls)):
        tool_calls.append({"id": call["id"], "type": call["type"] or "function",
                           "function": {"name": call["name"], "arguments": call["arguments"]}})
        result = by_name[call["name"]](**json.loads(call["arguments"] or "{}"))
        if hasattr(result, "__await__"):
            result = await result
        tool_results.append({"role": "tool", "name": call["name"], "tool_call_id": call["id"],
                             "content": json.dumps(result)})
    async for message in _stream(request, bot_name, tools=tools, tool_calls=tool_calls, tool_results=tool_results):
        yield message


def _tool_call_deltas(message: BotMessage) -> list:
    if not message.data:
        return []
    choices = message.data.get("choices") or [{}]
    return (choices[0].get("delta") or {}).get("tool_calls") or []


async def get_final_response(request: QueryRequest, bot_name: str, api_key: str = "", *,
                             access_key: str = "", session: Any = None, on_error: Any = None,
                             num_tries: int = 2, retry_sleep_time: float = 0.5, base_url: str = "") -> str:
    """Wait for `bot_name`'s whole answer and return its text."""
    chunks: list = []
    async for message in stream_request(request, bot_name):
        if isinstance(message, MetaMessage) or message.is_suggested_reply:
            continue
        if message.is_replace_response:
            chunks.clear()
        chunks.append(message.text)
    if not chunks:
        raise BotError(f"Bot {bot_name} sent no response")
    return "".join(chunks)


def get_bot_response(messages: list, bot_name: str, api_key: str = "", *, tools: Optional[list] = None,
                     tool_executables: Optional[list] = None, temperature: Optional[float] = None,
                     skip_system_prompt: Optional[bool] = None, adopt_current_bot_name: Optional[bool] = None,
                     logit_bias: Optional[dict] = None, stop_sequences: Optional[list] = None,
                     base_url: str = "", session: Any = None) -> AsyncGenerator[BotMessage, None]:
    """Call `bot_name` with a list of `ProtocolMessage`s (outside any query)."""
    extra: dict = {}
    for name, value in (("temperature", temperature), ("skip_system_prompt", skip_system_prompt),
                        ("logit_bias", logit_bias), ("stop_sequences", stop_sequences),
                        ("adopt_current_bot_name", adopt_current_bot_name)):
        if value is not None:
            extra[name] = value
    query = QueryRequest(query=[ProtocolMessage.model_validate(m) for m in messages], user_id="",
                         conversation_id="", message_id="", version=PROTOCOL_VERSION, type="query", **extra)
    return stream_request(query, bot_name, tools=tools, tool_executables=tool_executables)


def _unsupported(name: str) -> Callable:
    def call(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"fastapi_poe.{name} is not available inside poe-host: {_WHY[name]}")
    call.__name__ = name
    return call


_WHY = {
    "get_bot_response_sync": "a bot runs on an event loop; use `await get_final_response(...)`",
    "sync_bot_settings": "run `poe-host sync-settings NAME` on the host",
    "upload_file": "use `await self.post_message_attachment(...)`",
    "upload_file_sync": "use `await self.post_message_attachment(...)`",
}
get_bot_response_sync = _unsupported("get_bot_response_sync")
sync_bot_settings = _unsupported("sync_bot_settings")
upload_file = _unsupported("upload_file")
upload_file_sync = _unsupported("upload_file_sync")

__all__ = ["BotError", "BotErrorNoRetry", "BotMessage", "MetaMessage", "ToolDefinition", "get_bot_response",
           "get_final_response", "stream_request"]
