"""Serve one fastapi_poe bot file with real fastapi_poe, for differential tests against poe-host.

Usage: python fp_serve_file.py BOT.py ACCESS_KEY [POE_API_BASE]
Loads BOT.py (as a module, not as __main__, so its own `fp.run` does not start), takes the one
`PoeBot` subclass it defines, and serves an instance with `fp.make_app(bot, access_key=KEY)` under
uvicorn on 127.0.0.1 port 0. Prints `listening on http://127.0.0.1:PORT` once it accepts
connections, and exits when its stdin reaches EOF. With POE_API_BASE (the stand-in's
`http://127.0.0.1:PORT`), the bot's calls to other bots and Poe's upload and cost APIs go there,
as poe-host's `--poe-api-base` / `--poe-upload-base` send them, and `request.access_key` is KEY.
"""

import asyncio
import runpy
import sys
import threading

import fastapi_poe as fp
import fastapi_poe.client
import uvicorn


def redirect_poe_apis(base: str) -> None:
    """Point fastapi_poe's default URLs at the stand-in."""
    for function in (fastapi_poe.client.stream_request, fastapi_poe.client.get_final_response):
        function.__kwdefaults__["base_url"] = f"{base}/bot/"
    upload = fp.PoeBot.post_message_attachment
    upload.__kwdefaults__["base_url"] = f"{base}/poe_api/"
    for cost in (fp.PoeBot.authorize_cost, fp.PoeBot.capture_cost):
        defaults = list(cost.__defaults__)
        defaults[-1] = f"{base}/"
        cost.__defaults__ = tuple(defaults)


def the_bot(path: str) -> fp.PoeBot:
    namespace = runpy.run_path(path, run_name="bot_under_test")
    classes = [v for v in namespace.values()
               if isinstance(v, type) and issubclass(v, fp.PoeBot) and v.__module__ == "bot_under_test"]
    if len(classes) != 1:
        sys.exit(f"{path} defines {len(classes)} PoeBot subclasses; expected one")
    return classes[0]()


async def main() -> None:
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    path, key = sys.argv[1], sys.argv[2]
    if len(sys.argv) == 4:
        redirect_poe_apis(sys.argv[3].rstrip("/"))
    app = fp.make_app(the_bot(path), access_key=key)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            sys.exit("uvicorn did not start")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    stdin_closed = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()
    threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stdin_closed.set_result, None)),
                     daemon=True).start()
    await stdin_closed
    server.should_exit = True
    await serving


if __name__ == "__main__":
    asyncio.run(main())
