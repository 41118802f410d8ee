"""The standard-library modules every Python bot can import at run time.

A bot has no files at run time: only modules imported while it was built (when its file
runs once and the interpreter's memory is saved) exist when it answers. These are imported
then, for every bot, so `import json` inside a function works; anything else must be
imported at the top of the bot's file. `poe_build` warns about imports inside functions
that are neither. Each module costs snapshot size, so the list holds what bots use.
"""

import importlib

MODULES = (
    "abc", "asyncio", "base64", "binascii", "bisect", "calendar", "collections", "collections.abc",
    "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "enum", "fractions",
    "functools", "hashlib", "heapq", "hmac", "html", "html.parser", "inspect", "io", "itertools", "json",
    "logging", "math", "operator", "os", "os.path", "pprint", "random", "re", "secrets", "statistics",
    "string", "struct", "textwrap", "time", "traceback", "types", "typing", "unicodedata", "urllib",
    "urllib.parse", "uuid", "warnings", "zlib",
)


def preload() -> None:
    """Import every module of `MODULES` (at build time)."""
    for name in MODULES:
        importlib.import_module(name)
