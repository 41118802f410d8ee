"""Showcase: one command per Poe event kind, chosen by the first word of the message.

Try `stream 3`, `replace`, `suggest`, `meta`, `data`, `error`, `raise`, `attach`,
`inspect`, `ids`, `sleep 100`, `gather 3`, `race 3`, `upload NAME TEXT` or `cost N`. A plain
fastapi_poe file: the tests serve it with fastapi_poe and, built with
`poe-host build showcase.py`, with poe-host, and compare the events.
"""

from __future__ import annotations

import asyncio
import json
from typing import AsyncIterable

import fastapi_poe as fp

INTRODUCTION = (
    "Hi! Try: stream 3, replace, suggest, meta, data, error, raise, attach, inspect, ids, "
    "sleep 100, gather 3, race 3."
)


class ShowcaseBot(fp.PoeBot):
    async def get_response(
        self, request: fp.QueryRequest
    ) -> AsyncIterable[fp.PartialResponse]:
        words = request.query[-1].content.split()
        command, args = (words[0], words[1:]) if words else ("", [])
        if command == "stream":
            for i in range(int(args[0]) if args else 3):
                yield fp.PartialResponse(text=f"{i} ")
        elif command == "replace":
            yield fp.PartialResponse(text="draft")
            yield fp.PartialResponse(text="final", is_replace_response=True)
        elif command == "suggest":
            yield fp.PartialResponse(text="Pick one")
            yield fp.PartialResponse(text="yes", is_suggested_reply=True)
            yield fp.PartialResponse(text="no", is_suggested_reply=True)
        elif command == "meta":
            yield fp.MetaResponse(
                text="", content_type="text/plain", suggested_replies=False
            )
            yield fp.PartialResponse(text="plain *text*")
        elif command == "data":
            yield fp.PartialResponse(text="saved")
            yield fp.DataResponse(metadata="counter=1")
        elif command == "error":
            yield fp.PartialResponse(text="partial")
            yield fp.ErrorResponse(
                text="refused", allow_retry=False, error_type="user_caused_error"
            )
        elif command == "raise":
            yield fp.PartialResponse(text="about to fail")
            raise ValueError("showcase was asked to raise")
        elif command == "attach":
            attachment = fp.Attachment(
                url="https://example.com/cat.png",
                content_type="image/png",
                name="cat.png",
                inline_ref="cat",
            )
            yield fp.PartialResponse(text="![cat][cat]", attachment=attachment)
        elif command == "inspect":
            messages = [{"role": m.role, "content": m.content} for m in request.query]
            yield fp.PartialResponse(text=json.dumps(messages))
        elif command == "ids":
            yield fp.PartialResponse(
                text=f"{request.user_id} {request.conversation_id} {request.message_id}"
            )
        elif command == "sleep":
            await asyncio.sleep(int(args[0]) / 1000 if args else 0.1)
            yield fp.PartialResponse(text="woke")
        elif command == "gather":
            n = int(args[0]) if args else 3
            results = await asyncio.gather(*(_later(i, n) for i in range(n)))
            yield fp.PartialResponse(text=" ".join(results))
        elif command == "race":
            n = int(args[0]) if args else 3
            for finished in asyncio.as_completed([_later(i, n) for i in range(n)]):
                yield fp.PartialResponse(text=await finished + " ")
        elif command == "upload":
            name = args[0] if args else "file.txt"
            contents = " ".join(args[1:]).encode()
            uploaded = await self.post_message_attachment(
                message_id=request.message_id, file_data=contents, filename=name
            )
            yield fp.PartialResponse(
                text=f"uploaded {uploaded.attachment_url} {uploaded.mime_type}"
            )
        elif command == "cost":
            amount = [fp.CostItem(amount_usd_milli_cents=int(args[0]) if args else 1000)]
            await self.authorize_cost(request, amount)
            await self.capture_cost(request, amount)
            yield fp.PartialResponse(text=f"charged {amount[0].amount_usd_milli_cents}")
        else:
            yield fp.PartialResponse(text=f"unknown command: {command}")

    async def get_settings(self, setting: fp.SettingsRequest) -> fp.SettingsResponse:
        return fp.SettingsResponse(
            introduction_message=INTRODUCTION,
            allow_attachments=True,
            expand_text_attachments=True,
            server_bot_dependencies={"GPT-4o-Mini": 1},
            parameter_controls=fp.ParameterControls(
                sections=[
                    fp.Section(
                        name="Style",
                        controls=[
                            fp.DropDown(
                                label="Tone",
                                parameter_name="tone",
                                default_value="plain",
                                options=[
                                    fp.ValueNamePair(value="plain", name="Plain"),
                                    fp.ValueNamePair(value="fancy", name="Fancy"),
                                ],
                            ),
                            fp.Slider(
                                label="Length",
                                parameter_name="length",
                                default_value=3,
                                min_value=1,
                                max_value=10,
                                step=1,
                            ),
                            fp.ConditionallyRenderControls(
                                condition=fp.ComparatorCondition(
                                    comparator="eq",
                                    left=fp.ParameterValue(parameter_name="tone"),
                                    right=fp.LiteralValue(literal="fancy"),
                                ),
                                controls=[fp.ToggleSwitch(label="Emoji", parameter_name="emoji")],
                            ),
                        ],
                    )
                ]
            ),
        )


async def _later(i: int, n: int) -> str:
    await asyncio.sleep((n - i) * 0.01)
    return str(i)


bot = ShowcaseBot()
app = fp.make_app(bot, allow_without_key=True)
