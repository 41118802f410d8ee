"""One HTTP exchange over `wasi:http`: the request out, the response head back, the body as
it arrives.

The host decides every request before any I/O: a destination the bot's sidecar does not
grant fails with `HTTP-request-denied`, and its bounds (requests per answer, body bytes,
timeouts) end a request, not the answer. Waiting goes through the SDK's event loop, so a
bot streaming a response still lets its other tasks run.
"""

import contextvars
import urllib.parse
from typing import Any, AsyncIterator, Optional

from componentize_py_types import Err
from fastapi_poe import _loop
from poe_wit.imports import outgoing_handler, streams
from poe_wit.imports import wasi_http_types as wasi

from ._errors import ConnectError, ReadError, RequestError, TimeoutException, UnsupportedProtocol

_READ_SIZE = 64 * 1024
_NANOS = 1_000_000_000
_METHODS = {
    "GET": wasi.Method_Get(), "HEAD": wasi.Method_Head(), "POST": wasi.Method_Post(),
    "PUT": wasi.Method_Put(), "DELETE": wasi.Method_Delete(), "OPTIONS": wasi.Method_Options(),
    "PATCH": wasi.Method_Patch(),
}


_BLOCKING = contextvars.ContextVar("blocking", default=False)


def run_blocking(coro: Any) -> Any:
    """Run an exchange to the end now, blocking on each wait (httpx's sync API)."""
    token = _BLOCKING.set(True)
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    finally:
        _BLOCKING.reset(token)
    coro.close()
    raise RuntimeError("a blocking HTTP call waited on the event loop")


async def _ready(pollable: Any) -> None:
    """Wait until `pollable` is ready: on the loop, or blocking in a sync call."""
    if _BLOCKING.get():
        pollable.block()
        pollable.__exit__(None, None, None)
    else:
        await _loop.wait_ready(pollable)


async def send(method: str, url: str, headers: list, body: bytes, timeout: Optional[float]):
    """Send the request; its status, headers and body stream once the head arrived."""
    request = _request(method, url, headers)
    outgoing_body = request.body()
    options = _options(timeout)
    try:
        future = outgoing_handler.handle(request, options)
    except Err as error:
        raise _error(error.value, url) from None
    try:
        await _write_body(outgoing_body, body, url)
    except ReadError:
        # A refused request closes its body first: the response says why.
        await _response(future, url)
        raise
    response = await _response(future, url)
    status = response.status()
    entries = [(name, value.decode("latin-1")) for name, value in response.headers().entries()]
    return status, entries, _Body(response.consume(), url)


def _request(method: str, url: str, headers: list):
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsupportedProtocol(f"request URL {url!r} has no http:// or https:// scheme")
    try:
        fields = wasi.Fields.from_list([(k.lower(), v.encode("latin-1")) for k, v in headers])
    except Err as error:
        raise RequestError(f"invalid header: {type(error.value).__name__.removeprefix('HeaderError_')}") from None
    request = wasi.OutgoingRequest(fields)
    request.set_method(_METHODS.get(method.upper()) or wasi.Method_Other(method.upper()))
    request.set_scheme(wasi.Scheme_Https() if parts.scheme == "https" else wasi.Scheme_Http())
    request.set_authority(parts.netloc)
    request.set_path_with_query((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    return request


def _options(timeout: Optional[float]):
    """Per-request timeouts (the connect timeout is the host's own, for every bot)."""
    if timeout is None:
        return None
    options = wasi.RequestOptions()
    nanos = int(timeout * _NANOS)
    for setter in (options.set_first_byte_timeout, options.set_between_bytes_timeout):
        try:
            setter(nanos)
        except Err:
            pass  # over the host's own bound, which then applies
    return options


async def _write_body(outgoing_body, body: bytes, url: str) -> None:
    stream = outgoing_body.write()
    offset = 0
    try:
        while offset < len(body):
            allowed = stream.check_write()
            if allowed == 0:
                await _ready(stream.subscribe())
                continue
            chunk = body[offset:offset + min(allowed, _READ_SIZE)]
            stream.write(chunk)
            offset += len(chunk)
        stream.flush()
    except Err as error:
        raise _stream_error(error.value, url, "writing the request body") from None
    finally:
        stream.__exit__(None, None, None)
    try:
        wasi.OutgoingBody.finish(outgoing_body, None)
    except Err as error:
        raise _error(error.value, url) from None


async def _response(future, url: str):
    while True:
        outcome = future.get()
        if outcome is None:
            await _ready(future.subscribe())
            continue
        future.__exit__(None, None, None)
        if isinstance(outcome, Err):
            raise RequestError(f"the response to {url} was already taken")
        result = outcome.value
        if isinstance(result, Err):
            raise _error(result.value, url)
        return result.value


class _Body:
    """A response body, read chunk by chunk as it arrives."""

    def __init__(self, body, url: str) -> None:
        self._body = body
        self._stream = body.stream()
        self._url = url

    async def chunks(self) -> AsyncIterator[bytes]:
        """Each chunk as it arrives, until the end."""
        try:
            while True:
                try:
                    chunk = self._stream.read(_READ_SIZE)
                except Err as error:
                    if isinstance(error.value, streams.StreamError_Closed):
                        return
                    raise _stream_error(error.value, self._url, "reading the response") from None
                if chunk:
                    yield chunk
                else:
                    await _ready(self._stream.subscribe())
        finally:
            self.close()

    def close(self) -> None:
        """Drop the body: the host closes the connection if it was not read to the end."""
        if self._stream is not None:
            self._stream.__exit__(None, None, None)
            self._body.__exit__(None, None, None)
            self._stream = None


def _error(code, url: str) -> Exception:
    name = type(code).__name__.removeprefix("ErrorCode_")
    host = urllib.parse.urlsplit(url).netloc
    if isinstance(code, wasi.ErrorCode_HttpRequestDenied):
        return ConnectError(f"{host} is not in this bot's allowed_outbound_hosts (HttpRequestDenied)")
    if "Timeout" in name:
        return TimeoutException(f"{name} talking to {host}")
    detail = getattr(code, "value", None)
    message = f"{name} talking to {host}" + (f": {detail}" if detail is not None else "")
    return ConnectError(message) if name.startswith(("Dns", "Destination", "Connection", "Tls")) else RequestError(message)


def _stream_error(error, url: str, doing: str) -> Exception:
    detail = error.value.to_debug_string() if isinstance(error, streams.StreamError_LastOperationFailed) else "closed"
    return ReadError(f"{doing} from {urllib.parse.urlsplit(url).netloc} failed: {detail}")
