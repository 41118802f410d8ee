"""Talk to a running poe-host with fastapi_poe's own client and check every answer.

Usage: python fastapi_poe_client.py BASE_URL ACCESS_KEY
Exits non-zero (with the reason) on any mismatch or unexpected protocol error report.
The client's `report_error` calls are recorded: fastapi_poe reports protocol mistakes
it sees in a bot's stream that way, so none may appear except the ones its own rules
produce for valid streams (no text in a json-only answer; `data` is unknown to it).
"""

import asyncio
import json
import sys

import fastapi_poe as fp
import httpx

BASE_URL, KEY = sys.argv[1].rstrip("/") + "/", sys.argv[2]
reports: list[str] = []


def record(error: Exception, message: str) -> None:
    reports.append(str(error))


def request(text: str) -> fp.QueryRequest:
    return fp.QueryRequest(
        version="1.2",
        type="query",
        query=[fp.ProtocolMessage(role="user", content=text)],
        user_id="u-1",
        conversation_id="c-1",
        message_id="m-1",
    )


async def stream(bot: str, text: str) -> list:
    async with httpx.AsyncClient(timeout=30) as session:
        return [
            m
            async for m in fp.stream_request(
                request(text), bot, KEY, base_url=BASE_URL, num_tries=1, on_error=record, session=session
            )
        ]


def check(name: str, ok: bool, detail: object) -> None:
    if not ok:
        raise SystemExit(f"FAIL {name}: {detail!r}")
    print(f"ok   {name}")


async def expect_reports(name: str, expected: list[str], coro) -> object:
    reports.clear()
    result = await coro
    check(f"{name} protocol reports", reports == expected, reports)
    return result


async def main() -> None:
    final = await expect_reports("echo", [], fp.get_final_response(request("héllo ✓"), "echo", KEY, base_url=BASE_URL, num_tries=1, on_error=record))
    check("echo final response", final == "héllo ✓", final)

    msgs = await expect_reports("stream", [], stream("showcase", "stream 5"))
    check("stream chunks", [m.text for m in msgs] == [f"{i} " for i in range(5)], msgs)

    msgs = await expect_reports("replace", [], stream("showcase", "replace"))
    check("replace", [(m.text, m.is_replace_response) for m in msgs] == [("draft", False), ("final", True)], msgs)

    msgs = await expect_reports("suggest", [], stream("showcase", "suggest"))
    check("suggest", [(m.text, m.is_suggested_reply) for m in msgs] == [("Pick one", False), ("yes", True), ("no", True)], msgs)

    msgs = await expect_reports("meta", [], stream("showcase", "meta"))
    meta = msgs[0]
    check("meta first", isinstance(meta, fp.MetaResponse) and meta.content_type == "text/plain" and meta.linkify and not meta.suggested_replies, meta)
    check("meta text", msgs[1].text == "plain *text*", msgs)

    msgs = await expect_reports("attach", [], stream("showcase", "attach"))
    att = msgs[0].attachment
    check("file event", (att.url, att.content_type, att.name, att.inline_ref) == ("https://example.com/cat.png", "image/png", "cat.png", "cat"), att)
    check("text after file", msgs[1].text == "![cat][cat]", msgs)

    msgs = await expect_reports("json", ["Bot returned no text in response"], stream("showcase", "json"))
    check("json event", msgs[0].data == {"tool": "calc", "args": [1, 2]}, msgs)

    msgs = await expect_reports("data", ["Unknown event type: data"], stream("showcase", "data"))
    check("data beside text", [m.text for m in msgs] == ["saved"], msgs)

    for command, text in [("error", "refused"), ("panic", "The bot encountered an unexpected issue.")]:
        try:
            await expect_reports(command, [], stream("showcase", command))
            check(f"{command} raises", False, "no exception")
        except fp.client.BotErrorNoRetry as e:
            data = json.loads(str(e))
            check(f"{command} error event", data["text"] == text and data["allow_retry"] is False, data)

    msgs = await expect_reports("ids", [], stream("showcase", "ids"))
    check("ids", msgs[0].text == "u-1 c-1 m-1", msgs)

    try:
        async with httpx.AsyncClient(timeout=30) as session:
            async for _ in fp.stream_request(request("x"), "echo", "wrong-key", base_url=BASE_URL, num_tries=1, on_error=record, session=session):
                pass
        check("wrong key fails", False, "no exception")
    except fp.client.BotError as e:
        check("wrong key fails", "Error communicating with bot echo" in str(e) or "401" in str(e), str(e))
    print("all fastapi_poe interop checks passed")


asyncio.run(main())
