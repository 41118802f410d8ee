"""A stand-in for Modal's deployment API, so fastapi_poe's tutorial files build unchanged.

Every bot in Poe's server-bot quick start carries Modal boilerplate: an `App`, an `Image`
with its pip installs, and a function under `@app.function` / `@asgi_app()` that calls
`fp.make_app(bot)`. Under poe-host the host is the deployment, so all of it is inert here:
each builder returns itself, the decorators return the function unchanged, and the
functions under `@asgi_app()` are remembered so the build can call them to register the
bot. Secrets and environment come from the bot's sidecar (`[env]`), not from Modal.
"""

from typing import Any, Callable

ASGI_FUNCTIONS: list = []


class _Inert:
    """Anything Modal builds: every attribute and call gives the same inert object."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _chain

    def __call__(self, *args: Any, **kwargs: Any) -> "_Inert":
        return self


def _chain(*args: Any, **kwargs: Any) -> "_Inert":
    return _Inert()


class App(_Inert):
    """`modal.App`: `@app.function(...)` and `@app.cls(...)` leave what they decorate as it is."""

    def function(self, *args: Any, **kwargs: Any) -> Callable:
        return _identity

    def cls(self, *args: Any, **kwargs: Any) -> Callable:
        return _identity

    def local_entrypoint(self, *args: Any, **kwargs: Any) -> Callable:
        return _identity


Stub = App


class Image(_Inert):
    """`modal.Image.debian_slim().pip_install(...)` and friends: inert."""

    @classmethod
    def debian_slim(cls, *args: Any, **kwargs: Any) -> "_Inert":
        return _Inert()

    @classmethod
    def from_registry(cls, *args: Any, **kwargs: Any) -> "_Inert":
        return _Inert()


class Secret(_Inert):
    """`modal.Secret.from_name(...)`: under poe-host, secrets come from the sidecar's `[env]`."""

    @classmethod
    def from_name(cls, *args: Any, **kwargs: Any) -> "_Inert":
        return _Inert()

    @classmethod
    def from_dict(cls, *args: Any, **kwargs: Any) -> "_Inert":
        return _Inert()


Mount = Volume = Dict = NetworkFileSystem = _Inert


def _identity(function: Callable) -> Callable:
    return function


def asgi_app(*args: Any, **kwargs: Any) -> Callable:
    """`@asgi_app()`: remember the function; the build calls it to register the bot."""

    def remember(function: Callable) -> Callable:
        ASGI_FUNCTIONS.append(function)
        return function

    return remember


def concurrent(*args: Any, **kwargs: Any) -> Callable:
    return _identity


web_endpoint = fastapi_endpoint = concurrent
