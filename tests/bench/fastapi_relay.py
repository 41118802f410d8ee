"""The peer baseline for outbound HTTP: the relay example written with fastapi_poe and httpx,
served by uvicorn.

Usage: python fastapi_relay.py PORT OPENAI_BASE_URL OPENAI_API_KEY ACCESS_KEY
Serves on 127.0.0.1:PORT (0 picks a free port) with the same uvicorn options poe-bench gives
fastapi_echo.py (log level warning, no access log) and prints `listening on http://127.0.0.1:PORT`
once it accepts connections. ACCESS_KEY must be 32 characters (fastapi_poe's own check).

The bot does what example-bots/relay does: it sends the conversation as OpenAI chat `messages`
(role bot -> assistant) with `stream: true` to OPENAI_BASE_URL/chat/completions, Bearer
OPENAI_API_KEY, and yields each `choices[0].delta.content` as text; an error status becomes an
error response naming it. It uses one `httpx.AsyncClient` made at start-up, as a bot author
who cares about speed writes it (pooling connections; a new client per call costs far more).
"""

import asyncio
import json
import sys
from dataclasses import dataclass

import fastapi_poe as fp
import httpx
import uvicorn

ROLES = {"system": "system", "user": "user", "bot": "assistant", "tool": "tool"}


@dataclass
class Relay(fp.PoeBot):
    base_url: str = "https://api.openai.com/v1"
    api_key: str = ""
    client: httpx.AsyncClient | None = None

    async def get_response(self, request: fp.QueryRequest):
        messages = [{"role": ROLES[m.role], "content": m.content} for m in request.query]
        body = {"model": "gpt-4o-mini", "messages": messages, "stream": True}
        headers = {"Authorization": f"Bearer {self.api_key}"}
        url = f"{self.base_url.rstrip('/')}/chat/completions"
        async with self.client.stream("POST", url, json=body, headers=headers) as response:
            if response.status_code != 200:
                yield fp.ErrorResponse(text=f"the model's API answered {response.status_code}")
                return
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                content = json.loads(data)["choices"][0]["delta"].get("content")
                if content:
                    yield fp.PartialResponse(text=content)


async def main() -> None:
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    port, base_url, api_key, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    client = httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=None, max_keepalive_connections=1000))
    app = fp.make_app(Relay(base_url=base_url, api_key=api_key, client=client), access_key=key)
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
