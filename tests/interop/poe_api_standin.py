"""A stand-in for Poe's Bot Query API: real fastapi_poe bots, recording what they receive.

Usage: python poe_api_standin.py ACCESS_KEY
Binds 127.0.0.1 port 0, prints one line `listening on http://127.0.0.1:PORT` once it accepts
connections, and serves until killed or until its stdin reaches EOF (so keep stdin a pipe: a
test that dies closes it, and the stand-in exits with it). Point poe-host at it with
`--poe-api-base http://127.0.0.1:PORT/bot/`.

Bots, at `/bot/GPT-4o-Mini` and `/bot/Claude-3-Haiku`, are fastapi_poe 0.0.83 `PoeBot`s served by
`fp.make_app`; fastapi_poe itself checks `Authorization: Bearer ACCESS_KEY` (401 otherwise).
Both behave alike, driven by the content of the last user message:

  anything else         text in word chunks ("hello big world" -> "hello ", "big ", "world"),
                        then suggested_reply "more"
  slow MS N             N text chunks "chunk i " (i = 0..N-1), each after MS ms of asyncio.sleep
  events                meta {text/plain, linkify true, suggested_replies true}, text "draft",
                        replace_response "final ", text "answer", suggested_reply "more",
                        file cat.png (PartialResponse.attachment: fastapi_poe writes the file event
                        and then an empty text event), json {"answer": 42, "list": [1, 2]}
  fail-retry            text "partial ", then error {"allow_retry": true, "text": "upstream failed"}
  fail-noretry          text "partial ", then error {"allow_retry": false, "text": "upstream failed"}
  fail-retry-first      the error alone, allow_retry true
  fail-noretry-first    the error alone, allow_retry false
  flaky                 the first query with a given message_id gets HTTP 500 (text/plain, no SSE);
                        later ones get text "second try"
  tools                 with `tools` and no `tool_results`: OpenAI-style function-call chunks as
                        `json` events, calling the first tool with {"city": "Paris"}; with
                        `tool_results`: text "result: " + the first result's content;
                        with neither: text "no tools"
  no-text               only suggested_reply "more" (fastapi_poe's client reports "Bot returned no
                        text in response")
  data                  text "saved", then data {"metadata": "state-1"} (unknown to the client)

Poe's other APIs, as fastapi_poe's client calls them:

  POST /poe_api/file_upload_3RD_PARTY_POST   the upload API: 200 {"attachment_url":
                        "https://files.test/NAME", "mime_type": the part's content type, or
                        "text/html" for a URL}; with the file name "fail.txt", 500 every time
  POST /bot/cost/ID/authorize|capture   the cost API, answering an event stream: `result`
                        {"status": "success"}, or {"status": "insufficient funds"} when an amount
                        exceeds 100000; for ID "broken", 500 with two `message` events

  POST /bot/update_settings/NAME/KEY/1.2, /bot/fetch_settings/NAME/KEY/1.2   settings sync:
                        200 {"status": "ok"} with the stand-in's key, else 403

Every HTTP request is recorded before fastapi_poe sees it (report_error POSTs included):
`GET /_received` returns them as a JSON list of {"method", "path", "headers" (names lower-cased),
"body" (parsed JSON, or null), "raw_body" (the body as text, for field order), "form" (an upload's fields, each
{"name", "filename", "content_type", "value"}, or null)}; `DELETE /_received`
clears the list and the `flaky` counts. Neither needs the key.
"""

import asyncio
import email
import email.policy
import json
import re
import sys
import threading
import urllib.parse
from collections import Counter

import fastapi_poe as fp
import uvicorn
from sse_starlette.event import ServerSentEvent

BOT_NAMES = ("GPT-4o-Mini", "Claude-3-Haiku")
FAILURE = fp.ErrorResponse(text="upstream failed", allow_retry=True)


def last_user_message(request: fp.QueryRequest) -> str:
    return next((m.content for m in reversed(request.query) if m.role == "user"), "")


def json_event(data: dict) -> ServerSentEvent:
    """fastapi_poe writes `event: json` only for a raw ServerSentEvent (PartialResponse.data is dropped)."""
    return ServerSentEvent(data=json.dumps(data), event="json")


def tool_chunk(delta: dict, finish_reason: str | None = None) -> ServerSentEvent:
    return json_event({"choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]})


def echo(text: str):
    for word in re.findall(r"\S+\s*|\s+", text):
        yield fp.PartialResponse(text=word)
    yield fp.PartialResponse(text="more", is_suggested_reply=True)


async def slow(ms: int, n: int):
    for i in range(n):
        await asyncio.sleep(ms / 1000)
        yield fp.PartialResponse(text=f"chunk {i} ")


def events():
    yield fp.MetaResponse(text="", content_type="text/plain", linkify=True, suggested_replies=True)
    yield fp.PartialResponse(text="draft")
    yield fp.PartialResponse(text="final ", is_replace_response=True)
    yield fp.PartialResponse(text="answer")
    yield fp.PartialResponse(text="more", is_suggested_reply=True)
    cat = fp.Attachment(url="https://example.com/cat.png", content_type="image/png", name="cat.png", inline_ref="cat")
    yield fp.PartialResponse(text="", attachment=cat)
    yield json_event({"answer": 42, "list": [1, 2]})


def fail(command: str):
    if not command.endswith("-first"):
        yield fp.PartialResponse(text="partial ")
    yield FAILURE.model_copy(update={"allow_retry": command.startswith("fail-retry")})


def tools(request: fp.QueryRequest):
    if request.tool_results:
        yield fp.PartialResponse(text="result: " + request.tool_results[0].content)
    elif request.tools:
        call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": request.tools[0].function.name, "arguments": ""}}
        yield tool_chunk({"tool_calls": [call]})
        for fragment in ('{"city":', ' "Paris"}'):
            yield tool_chunk({"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]})
        yield tool_chunk({}, "tool_calls")
    else:
        yield fp.PartialResponse(text="no tools")


def answer(request: fp.QueryRequest):
    """The responses for one query, chosen by the command language in the module docstring."""
    text = last_user_message(request)
    words = text.split()
    if len(words) == 3 and words[0] == "slow" and words[1].isdigit() and words[2].isdigit():
        return slow(int(words[1]), int(words[2]))
    if text == "events":
        return events()
    if text in ("fail-retry", "fail-noretry", "fail-retry-first", "fail-noretry-first"):
        return fail(text)
    if text == "flaky":
        return iter([fp.PartialResponse(text="second try")])
    if text == "tools":
        return tools(request)
    if text == "no-text":
        return iter([fp.PartialResponse(text="more", is_suggested_reply=True)])
    if text == "data":
        return iter([fp.PartialResponse(text="saved"), fp.DataResponse(metadata="state-1")])
    return echo(text)


class StandInBot(fp.PoeBot):
    async def get_response(self, request: fp.QueryRequest):
        responses = answer(request)
        if hasattr(responses, "__aiter__"):
            async for response in responses:
                yield response
        else:
            for response in responses:
                yield response


class Recorder:
    """ASGI middleware: records each request, serves /_received, and fails first `flaky` queries."""

    def __init__(self, app, access_key: str):
        self.app, self.access_key = app, access_key
        self.received: list[dict] = []
        self.flaky_tries: Counter[str] = Counter()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"] == "/_received":
            return await self.serve_received(scope, send)
        body = await read_body(receive)
        record = {
            "method": scope["method"],
            "path": scope["path"],
            "headers": headers_of(scope),
            "body": parse_json(body),
            "raw_body": body.decode("utf-8", "replace"),
        }
        record["form"] = form_of(record["headers"].get("content-type", ""), body)
        self.received.append(record)
        if scope["path"] == "/poe_api/file_upload_3RD_PARTY_POST":
            return await upload_answer(send, record)
        if scope["path"].startswith(("/bot/update_settings/", "/bot/fetch_settings/")):
            known = scope["path"].split("/")[4] == self.access_key
            return await respond(send, 200 if known else 403, "application/json", b'{"status": "ok"}' if known else b'{"error": "bad key"}')
        if scope["path"].startswith("/bot/cost/"):
            return await cost_answer(send, scope["path"], record["body"])
        if self.first_flaky_try(record):
            return await respond(send, 500, "text/plain; charset=utf-8", b"Internal Server Error")
        await self.app(scope, replay(body, receive), send)

    def first_flaky_try(self, record: dict) -> bool:
        body = record["body"]
        if record["headers"].get("authorization") != f"Bearer {self.access_key}" or not isinstance(body, dict):
            return False
        if body.get("type") != "query":
            return False
        try:
            if last_user_message(fp.QueryRequest.model_validate(body)) != "flaky":
                return False
        except ValueError:
            return False
        self.flaky_tries[body["message_id"]] += 1
        return self.flaky_tries[body["message_id"]] == 1

    async def serve_received(self, scope, send):
        if scope["method"] == "DELETE":
            self.received.clear()
            self.flaky_tries.clear()
        elif scope["method"] != "GET":
            return await respond(send, 405, "text/plain", b"GET or DELETE")
        await respond(send, 200, "application/json", json.dumps(self.received).encode())


async def read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def replay(body: bytes, receive):
    """A receive channel that hands the app the body we already read, then the real channel."""
    sent = False

    async def replayed():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def form_of(content_type: str, body: bytes) -> list[dict] | None:
    """An upload's fields in order, by the standard library's parsers (not httpx's or ours)."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        pairs = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True)
        return [{"name": k, "filename": None, "content_type": None, "value": v} for k, v in pairs]
    if content_type.startswith("multipart/form-data"):
        message = email.message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body, policy=email.policy.HTTP)
        return [
            {
                "name": part.get_param("name", header="content-disposition"),
                "filename": part.get_filename(),
                "content_type": part.get_content_type() if part.get("content-type") else None,
                "value": part.get_payload(decode=True).decode("utf-8", "replace"),
            }
            for part in message.iter_parts()
        ]
    return None


async def upload_answer(send, record: dict) -> None:
    form = {f["name"]: f for f in record["form"] or []}
    if "file" in form and form["file"]["filename"] == "fail.txt":
        return await respond(send, 500, "text/plain", b"upload broke")
    name = form["file"]["filename"] if "file" in form else form.get("download_filename", {}).get("value", "download")
    mime = form["file"]["content_type"] if "file" in form else "text/html"
    answer = {"attachment_url": f"https://files.test/{name}", "mime_type": mime}
    await respond(send, 200, "application/json", json.dumps(answer).encode())


async def cost_answer(send, path: str, body) -> None:
    if path.split("/")[3] == "broken":
        events = b'event: error\r\ndata: {"message": "cost "}\r\n\r\nevent: error\r\ndata: {"message": "broke"}\r\n\r\n'
        return await respond(send, 500, "text/event-stream", events)
    amounts = body.get("amounts", []) if isinstance(body, dict) else []
    refused = any(a.get("amount_usd_milli_cents", 0) > 100000 for a in amounts)
    status = "insufficient funds" if refused else "success"
    events = f'event: result\r\ndata: {json.dumps({"status": status})}\r\n\r\n'.encode()
    await respond(send, 200, "text/event-stream", events)


def headers_of(scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        name, value = name.decode("latin-1").lower(), value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def parse_json(body: bytes):
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


async def respond(send, status: int, content_type: str, body: bytes) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def exit_on_stdin_eof(loop: asyncio.AbstractEventLoop, server: uvicorn.Server) -> None:
    def watch():
        while sys.stdin.buffer.read(4096):
            pass
        loop.call_soon_threadsafe(setattr, server, "should_exit", True)

    threading.Thread(target=watch, daemon=True).start()


async def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    key = sys.argv[1]
    bots = [StandInBot(path=f"/bot/{name}", access_key=key) for name in BOT_NAMES]
    app = Recorder(fp.make_app(bots), key)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False, timeout_graceful_shutdown=1))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            sys.exit("the stand-in did not start")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    exit_on_stdin_eof(asyncio.get_running_loop(), server)
    await serving


asyncio.run(main())
