"""Relay: streams a chat completion from an OpenAI-compatible API, with httpx.

Its key comes from the environment, which under poe-host is what the bot's sidecar grants,
and it may reach only the API its sidecar lists:

    allowed_outbound_hosts = ["https://api.openai.com"]

    [env]
    OPENAI_API_KEY = { from_env = "OPENAI_API_KEY" }
    OPENAI_BASE_URL = "https://api.openai.com/v1"   # the default
    OPENAI_MODEL = "gpt-4o-mini"                    # the default

Read variables inside `get_response`, not at import: a bot's top level runs when it is
built, where the environment is empty. The conversation goes as OpenAI `messages` (role
`bot` becomes `assistant`), with `stream: true`; each `choices[0].delta.content` becomes
text as it arrives, and an error status ends the answer with an error naming it.
"""

from __future__ import annotations

import json
import os
from typing import AsyncIterable

import fastapi_poe as fp
import httpx

ROLES = {"system": "system", "user": "user", "bot": "assistant", "tool": "tool"}


class RelayBot(fp.PoeBot):
    async def get_response(
        self, request: fp.QueryRequest
    ) -> AsyncIterable[fp.PartialResponse]:
        base = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")
        body = {
            "model": os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
            "messages": [{"role": ROLES[m.role], "content": m.content} for m in request.query],
            "stream": True,
        }
        headers = {"authorization": f"Bearer {os.environ.get('OPENAI_API_KEY', '')}"}
        async with httpx.AsyncClient(timeout=600) as client:
            async with client.stream("POST", f"{base}/chat/completions", json=body, headers=headers) as response:
                if response.status_code != 200:
                    detail = (await response.aread()).decode(errors="replace")[:500]
                    yield fp.ErrorResponse(
                        text=f"the model's API answered {response.status_code}: {detail}"
                    )
                    return
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[len("data:"):].strip()
                    if data == "[DONE]":
                        break
                    delta = json.loads(data)["choices"][0].get("delta", {})
                    if delta.get("content"):
                        yield fp.PartialResponse(text=delta["content"])


app = fp.make_app(RelayBot(), allow_without_key=True)
