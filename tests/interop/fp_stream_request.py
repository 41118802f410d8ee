"""Call a bot with fastapi_poe's own Bot Query API client and print what it yields.

Usage: python fp_stream_request.py BASE_URL BOT_NAME ACCESS_KEY < request.json
stdin: {"request": <QueryRequest JSON as Poe sends it>, "tools": [...] | null,
        "tool_calls": [...] | null, "tool_results": [...] | null} (the last three may be left out).
The request goes through `fp.QueryRequest.model_validate` unchanged: fastapi_poe's server would
have set its `access_key` and `api_key` to the bot's own key on receipt, so put them there to
mimic a fastapi_poe bot forwarding its request.

Without tool_calls/tool_results this is `fp.stream_request(request, BOT_NAME, api_key=ACCESS_KEY,
base_url=BASE_URL, tools=tools)` with every other argument at its default (2 tries, 0.5 s apart,
its own httpx client). With them it is `stream_request_base(..., tools, tool_calls, tool_results)`,
the call fastapi_poe makes for the second round of a tool call (`stream_request` cannot pass them).

stdout: one JSON line per yielded message, checked in this order:
  {"kind": "meta", "content_type", "linkify", "suggested_replies"}           MetaResponse
  {"kind": "file", "url", "content_type", "name", "inline_ref", "index"}    .attachment set
  {"kind": "tool_calls", "tool_calls": [ToolCallDefinitionDelta], "index"}  .tool_calls non-empty
  {"kind": "json", "data", "index"}                                        .data set
  {"kind": "suggested" | "replace" | "text", "text", "index"}
then {"kind": "end"}, or {"kind": "error", "error": <exception class name, e.g. BotError,
BotErrorNoRetry>, "message": str(e)} if the stream raised. The exit status is 0 either way.
The client's on_error callbacks (retries, protocol reports) go to stderr.
"""

import asyncio
import json
import sys

import fastapi_poe as fp
from fastapi_poe.client import stream_request_base


def describe(message: fp.PartialResponse) -> dict:
    """The stable, documented shape of one yielded message."""
    if isinstance(message, fp.MetaResponse):
        return {"kind": "meta", "content_type": message.content_type, "linkify": message.linkify, "suggested_replies": message.suggested_replies}
    if message.attachment is not None:
        return {"kind": "file", **message.attachment.model_dump(include={"url", "content_type", "name", "inline_ref"}), "index": message.index}
    if message.tool_calls:
        return {"kind": "tool_calls", "tool_calls": [call.model_dump() for call in message.tool_calls], "index": message.index}
    if message.data is not None:
        return {"kind": "json", "data": message.data, "index": message.index}
    kind = "suggested" if message.is_suggested_reply else "replace" if message.is_replace_response else "text"
    return {"kind": kind, "text": message.text, "index": message.index}


def log_error(error: Exception, message: str) -> None:
    print(f"on_error: {message} ({error!r})", file=sys.stderr, flush=True)


def messages(args: dict, base_url: str, bot: str, key: str):
    request = fp.QueryRequest.model_validate(args["request"])
    tools = parse(fp.ToolDefinition, args.get("tools"))
    tool_calls = parse(fp.ToolCallDefinition, args.get("tool_calls"))
    tool_results = parse(fp.ToolResultDefinition, args.get("tool_results"))
    common = {"api_key": key, "base_url": base_url, "tools": tools, "on_error": log_error}
    if tool_calls is None and tool_results is None:
        return fp.stream_request(request, bot, **common)
    return stream_request_base(request, bot, tool_calls=tool_calls, tool_results=tool_results, **common)


def parse(model, items: list | None) -> list | None:
    return None if items is None else [model.model_validate(item) for item in items]


def emit(line: dict) -> None:
    print(json.dumps(line, ensure_ascii=False), flush=True)


async def main() -> None:
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    base_url, bot, key = sys.argv[1:]
    stream = messages(json.load(sys.stdin), base_url, bot, key)
    try:
        async for message in stream:
            emit(describe(message))
    except Exception as e:
        emit({"kind": "error", "error": type(e).__name__, "message": str(e)})
        return
    emit({"kind": "end"})


asyncio.run(main())
