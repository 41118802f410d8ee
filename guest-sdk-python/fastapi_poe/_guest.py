"""The component's export: the host calls `Handler`, which runs the registered bot.

A call runs the bot's coroutine or async generator on the SDK's loop (`_loop`) and sends
each yielded part to the host at once. An exception in the bot ends the answer as
fastapi_poe ends it (`The bot encountered an unexpected issue.`, the exception's `repr` as
`raw_response`, no retry), and the whole traceback goes to the host's log, never to the
client.
"""

import os
import traceback
from typing import Any, Optional

from componentize_py_types import Err
from poe_wit.imports import environment
from poe_wit.imports import logging as wit_logging
from poe_wit.imports import poe_bot_types as types
from poe_wit.imports import responder

from . import _loop, _output, _wit
from .base import PoeBot
from .types import RequestContext

_BOT: Optional[PoeBot] = None
_CONTEXT = RequestContext()
UNEXPECTED_ISSUE = "The bot encountered an unexpected issue."


def register(bot: PoeBot) -> None:
    """Make `bot` the one this component serves (called by `make_app` and `run`)."""
    global _BOT
    if not isinstance(bot, PoeBot):
        raise TypeError(f"make_app takes a fastapi_poe.PoeBot, not {type(bot).__name__}")
    if _BOT is not None and _BOT is not bot:
        raise ValueError("poe-host serves one bot per file, and this file registers a second")
    _BOT = bot


def registered() -> Optional[PoeBot]:
    """The registered bot, if any."""
    return _BOT


def _bot() -> PoeBot:
    if _BOT is None:
        raise RuntimeError("no bot registered: call fastapi_poe.make_app(bot) in the bot's file")
    return _BOT


def _refresh_environ() -> None:
    """`os.environ` as the sidecar grants it now: CPython read its environment when the bot
    was built, where it was empty."""
    os.environ.clear()
    os.environ.update(dict(environment.get_environment()))


def _log_exception(what: str) -> None:
    wit_logging.log(wit_logging.Level.ERROR, f"{what}:\n{traceback.format_exc()}")


class _ClientGone(Exception):
    """The client went away: stop the bot."""


def _emit(part: Any) -> None:
    try:
        responder.emit(part)
    except Err as error:
        if isinstance(error.value, types.EmitError_Closed):
            raise _ClientGone() from None
        raise ValueError(f"the host refused a part: {error.value.value}") from None


async def _answer(request: Any) -> None:
    bot = _bot()
    stream = bot.get_response_with_context(_wit.query_from_wit(request), _CONTEXT)
    try:
        async for part in stream:
            for event in _output.events(part):
                _emit(event)
    except _ClientGone:
        await stream.aclose()
    except Exception as error:
        _log_exception("get_response failed")
        try:
            _emit(_output.error_event(UNEXPECTED_ISSUE, False, None, error))
        except _ClientGone:
            pass


class Handler:
    """The `poe:bot/handler` export, as componentize-py expects it."""

    def get_response(self, request: Any) -> None:
        _refresh_environ()
        _loop.run(_answer(request))

    def get_settings(self, request: Any) -> Any:
        _refresh_environ()
        settings = _loop.run(_bot().get_settings_with_context(_wit.settings_request_from_wit(request), _CONTEXT))
        return _output.settings_to_wit(settings)

    def on_feedback(self, request: Any) -> None:
        _loop.run(_bot().on_feedback_with_context(_wit.feedback_from_wit(request), _CONTEXT))

    def on_reaction(self, request: Any) -> None:
        _loop.run(_bot().on_reaction_with_context(_wit.reaction_from_wit(request), _CONTEXT))

    def on_error(self, request: Any) -> None:
        _loop.run(_bot().on_error_with_context(_wit.error_report_from_wit(request), _CONTEXT))
