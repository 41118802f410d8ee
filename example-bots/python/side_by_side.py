"""Side by side: streams two bots at once and shows both answers, each under its name.

Both calls run concurrently (`asyncio.wait` for whichever stream has a message first), so two answers
of a second each take about a second. After every chunk from either bot the whole
side-by-side text is re-sent as a `replace_response`; suggested replies pass through.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterable, AsyncIterator

import fastapi_poe as fp

BOTS = ("GPT-4o-Mini", "Claude-3-Haiku")


async def _next(index: int, stream: AsyncIterator[fp.PartialResponse]):
    try:
        return index, await stream.__anext__()
    except StopAsyncIteration:
        return index, None


def _render(texts: list[str]) -> str:
    return "\n\n".join(f"**{bot}** says:\n{text}" for bot, text in zip(BOTS, texts))


class SideBySideBot(fp.PoeBot):
    async def get_response(
        self, request: fp.QueryRequest
    ) -> AsyncIterable[fp.PartialResponse]:
        streams = {i: fp.stream_request(request, bot, request.access_key) for i, bot in enumerate(BOTS)}
        texts = ["" for _ in BOTS]
        pending = {asyncio.ensure_future(_next(i, s)) for i, s in streams.items()}
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for finished in done:
                index, msg = finished.result()
                if msg is None:
                    continue
                pending.add(asyncio.ensure_future(_next(index, streams[index])))
                if isinstance(msg, fp.MetaResponse):
                    continue
                if msg.is_suggested_reply:
                    yield msg
                    continue
                texts[index] = msg.text if msg.is_replace_response else texts[index] + msg.text
                yield fp.PartialResponse(text=_render(texts), is_replace_response=True)

    async def get_settings(self, setting: fp.SettingsRequest) -> fp.SettingsResponse:
        return fp.SettingsResponse(server_bot_dependencies={bot: 1 for bot in BOTS})


app = fp.make_app(SideBySideBot(), allow_without_key=True)
