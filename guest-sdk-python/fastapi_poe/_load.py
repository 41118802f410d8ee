"""Loading the bot's file at build time, as `python bot.py` would run it.

The file runs as `__main__`, so both ways fastapi_poe files start a bot register it:
`app = fp.make_app(bot)` at the top level and `fp.run(bot)` under
`if __name__ == "__main__":`. A file written for Modal (the quick start's tutorial bots)
calls `make_app` inside a function under `@asgi_app()`: the `modal` stand-in remembers those
functions and they are called here. A file that does none of these but defines exactly one
`PoeBot` subclass gets that class, constructed with no arguments.
"""

import runpy

from . import _guest
from .base import PoeBot


def load_bot(module: str) -> None:
    """Run `module` as the main program and make sure it registered one bot."""
    namespace = runpy.run_module(module, run_name="__main__")
    if _guest.registered() is None:
        _call_modal_apps()
    if _guest.registered() is not None:
        return
    classes = [
        value for value in namespace.values()
        if isinstance(value, type) and issubclass(value, PoeBot) and value is not PoeBot
        and value.__module__ == "__main__"
    ]
    if len(classes) != 1:
        raise RuntimeError(
            f"{module}.py registers no bot: call fastapi_poe.make_app(bot) or fastapi_poe.run(bot) "
            f"(it defines {len(classes)} PoeBot subclasses, so none can be picked)"
        )
    _guest.register(classes[0]())


def _call_modal_apps() -> None:
    """Call the functions a Modal file put under `@asgi_app()` (they call `make_app`)."""
    import sys

    modal = sys.modules.get("modal")
    for function in getattr(modal, "ASGI_FUNCTIONS", []):
        function()
