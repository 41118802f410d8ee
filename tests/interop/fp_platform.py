"""fastapi_poe's own calls to Poe's upload and cost APIs, against the stand-in.

Usage: python fp_platform.py BASE KEY COMMAND ARG...
  upload NAME TEXT      fp.upload_file(file=TEXT bytes, file_name=NAME) via post_message_attachment
  upload-url URL [NAME] post_message_attachment(download_url=URL, download_filename=NAME)
  cost ID N             PoeBot.authorize_cost then capture_cost(CostItem(N)) for bot_query_id ID
  sync NAME [SETTINGS]  fp.sync_bot_settings(NAME, KEY, settings=SETTINGS JSON): update_settings,
                        or without SETTINGS fetch_settings

BASE is the stand-in's `http://127.0.0.1:PORT`. Prints one JSON line (last): the file event
fastapi_poe queued (upload), {"charged": N}, {"synced": NAME} or {"error": "<exception class>: <message>"}.
"""

import asyncio
import json
import sys

import fastapi_poe as fp


async def main() -> None:
    base, key, command, *args = sys.argv[1:]
    bot = fp.PoeBot(access_key=key)
    try:
        if command in ("upload", "upload-url"):
            kwargs = {"file_data": args[1].encode(), "filename": args[0]} if command == "upload" else {
                "download_url": args[0], "download_filename": args[1] if len(args) > 1 else None}
            await bot.post_message_attachment(message_id="m-1", base_url=f"{base}/poe_api/", **kwargs)
            event = bot._file_events_to_yield["m-1"][0]
            print(json.dumps({"event": event.event, "data": json.loads(event.data)}))
        elif command == "cost":
            request = fp.QueryRequest(version="1.2", type="query", query=[], user_id="u", conversation_id="c",
                                      message_id="m", bot_query_id=args[0])
            amount = fp.CostItem(amount_usd_milli_cents=int(args[1]), description="showcase")
            await bot.authorize_cost(request, amount, base_url=f"{base}/")
            await bot.capture_cost(request, amount, base_url=f"{base}/")
            print(json.dumps({"charged": int(args[1])}))
        elif command == "sync":
            settings = json.loads(args[1]) if len(args) > 1 else None
            fp.sync_bot_settings(args[0], key, settings=settings, base_url=f"{base}/bot/")
            print(json.dumps({"synced": args[0]}))
        else:
            sys.exit(__doc__)
    except Exception as e:  # the test compares the failure's kind
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))


asyncio.run(main())
