"""All caps: asks GPT-4o-Mini and streams its answer back upper-cased.

The fastapi_poe tutorial's wrapper bot. Under poe-host the call to the other bot is made
by the host with this bot's access key (from its sidecar or POE_ACCESS_KEY): the
`request.access_key` passed here is fastapi_poe's way and is ignored inside the sandbox.
"""

from __future__ import annotations

from typing import AsyncIterable

import fastapi_poe as fp

UPSTREAM = "GPT-4o-Mini"


class AllCapsBot(fp.PoeBot):
    async def get_response(
        self, request: fp.QueryRequest
    ) -> AsyncIterable[fp.PartialResponse]:
        async for msg in fp.stream_request(request, UPSTREAM, request.access_key):
            yield msg.model_copy(update={"text": msg.text.upper()})

    async def get_settings(self, setting: fp.SettingsRequest) -> fp.SettingsResponse:
        return fp.SettingsResponse(server_bot_dependencies={UPSTREAM: 1})


app = fp.make_app(AllCapsBot(), allow_without_key=True)
