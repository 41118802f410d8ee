"""The peer baseline for the Bot Query API: fastapi_poe's allcaps bot, served by uvicorn.

Usage: python fastapi_allcaps.py PORT POE_API_BASE ACCESS_KEY [shared]
Serves on 127.0.0.1:PORT (0 picks a free port) with the same uvicorn options poe-bench gives
fastapi_echo.py (log level warning, no access log) and prints `listening on http://127.0.0.1:PORT`
once it accepts connections. ACCESS_KEY must be 32 characters (fastapi_poe's own check).

The bot is the quick-start's turbo_allcapsbot: it forwards the request unchanged to GPT-4o-Mini at
POE_API_BASE (e.g. tests/interop/poe_api_standin.py's `http://127.0.0.1:PORT/bot/`) and re-yields
every message with its text upper-cased, flags kept. fastapi_poe 0.0.83's `stream_request` does not
read `request.access_key` itself (its `api_key` defaults to "" and becomes `Bearer `), so the key is
passed as a bot author does: `request.access_key`, which fastapi_poe's server has set to the bot's key.

As the tutorial writes it, `stream_request` gets no `session`, and fastapi_poe then opens a new
`httpx.AsyncClient` for every call (client.py: `if session is None: ... httpx.AsyncClient(timeout=600)`),
whose set-up (an SSL context with certifi's roots) dominates its cost. With `shared`, every call
uses one client made at start-up instead: fastapi_poe at its best, reported beside the tutorial's.
"""

import asyncio
import sys
from dataclasses import dataclass

from typing import Optional

import fastapi_poe as fp
import httpx
import uvicorn

UPSTREAM = "GPT-4o-Mini"


@dataclass
class AllCaps(fp.PoeBot):
    poe_api_base: str = "https://api.poe.com/bot/"
    session: Optional[httpx.AsyncClient] = None

    async def get_response(self, request: fp.QueryRequest):
        messages = fp.stream_request(
            request, UPSTREAM, api_key=request.access_key, base_url=self.poe_api_base, session=self.session
        )
        async for message in messages:
            yield message.model_copy(update={"text": message.text.upper()})

    async def get_settings(self, setting: fp.SettingsRequest) -> fp.SettingsResponse:
        return fp.SettingsResponse(server_bot_dependencies={UPSTREAM: 1})


async def main() -> None:
    if len(sys.argv) not in (4, 5) or sys.argv[4:] not in ([], ["shared"]):
        sys.exit(__doc__)
    port, poe_api_base, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    session = httpx.AsyncClient(timeout=600) if sys.argv[4:] == ["shared"] else None
    app = fp.make_app(AllCaps(poe_api_base=poe_api_base, session=session), access_key=key)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            sys.exit("uvicorn did not start")
        await asyncio.sleep(0.01)
    print(f"listening on http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", flush=True)
    await serving


asyncio.run(main())
