"""The peer baseline: fastapi_poe's echo bot, served by uvicorn (poe-bench starts it).

Same protocol and same answer as example-bots/echo; the key comes from POE_ACCESS_KEY.
"""

import os

import fastapi_poe as fp


class Echo(fp.PoeBot):
    async def get_response(self, request: fp.QueryRequest):
        yield fp.PartialResponse(text=request.query[-1].content)


app = fp.make_app(Echo(), access_key=os.environ["POE_ACCESS_KEY"])
