"""Echo: answers with the user's last message.

The fastapi_poe quick-start bot, unchanged: `fastapi_poe` runs it as a web server,
`poe-host build echo.py` makes it `echo.wasm` for poe-host.
"""

from __future__ import annotations

from typing import AsyncIterable

import fastapi_poe as fp


class EchoBot(fp.PoeBot):
    async def get_response(
        self, request: fp.QueryRequest
    ) -> AsyncIterable[fp.PartialResponse]:
        last_message = request.query[-1].content
        yield fp.PartialResponse(text=last_message)


if __name__ == "__main__":
    fp.run(EchoBot(), allow_without_key=True)
