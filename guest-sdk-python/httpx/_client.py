"""httpx's clients, requests and responses, on the `_transport` exchange.

`AsyncClient` is the real one; `Client` and the module-level `get`/`post` run it to the
end at once, blocking the answer's one thread while they wait (as they would block
fastapi_poe's event loop).
"""

import json as _json
import urllib.parse
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Iterator, Optional

from . import _transport
from ._errors import HTTPStatusError

DEFAULT_TIMEOUT = 5.0  # httpx's default, in seconds
_REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
            403: "Forbidden", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable"}


class Timeout:
    """httpx's `Timeout`: one number for every phase is all the host takes."""

    def __init__(self, timeout: Optional[float] = DEFAULT_TIMEOUT, **phases: Optional[float]) -> None:
        values = [v for v in [timeout, *phases.values()] if v is not None]
        self.seconds = max(values) if values else None


class Headers:
    """Case-insensitive headers that keep repeated names."""

    def __init__(self, items: Any = None) -> None:
        if isinstance(items, Headers):
            items = items.multi_items()
        elif isinstance(items, dict):
            items = list(items.items())
        self._items = [(str(k), str(v)) for k, v in (items or [])]

    def get(self, name: str, default: Any = None) -> Any:
        values = self.get_list(name)
        return ", ".join(values) if values else default

    def get_list(self, name: str) -> list:
        return [v for k, v in self._items if k.lower() == name.lower()]

    def multi_items(self) -> list:
        return list(self._items)

    def items(self) -> list:
        return [(k.lower(), v) for k, v in self._items]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.get_list(name))

    def __setitem__(self, name: str, value: str) -> None:
        self._items = [(k, v) for k, v in self._items if k.lower() != name.lower()] + [(name, value)]

    def update(self, other: Any) -> None:
        for k, v in Headers(other).multi_items():
            self[k] = v

    def __iter__(self) -> Iterator[str]:
        return iter(k.lower() for k, _ in self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class Request:
    """What was sent."""

    def __init__(self, method: str, url: str, headers: Headers, content: bytes) -> None:
        self.method, self.url, self.headers, self.content = method, url, headers, content


class Response:
    """A response: its status and headers, and its body once read."""

    def __init__(self, status_code: int, headers: Headers, request: Request, body: Any) -> None:
        self.status_code = status_code
        self.headers = headers
        self.request = request
        self._body = body
        self._content: Optional[bytes] = None

    @property
    def reason_phrase(self) -> str:
        return _REASONS.get(self.status_code, "")

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def is_error(self) -> bool:
        return self.status_code >= 400

    @property
    def content(self) -> bytes:
        if self._content is None:
            raise RuntimeError("the body has not been read: `await response.aread()` first (inside `stream`)")
        return self._content

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding, errors="replace")

    @property
    def encoding(self) -> str:
        content_type = self.headers.get("content-type", "")
        for part in content_type.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip('"')
        return "utf-8"

    def json(self, **kwargs: Any) -> Any:
        return _json.loads(self.content, **kwargs)

    def raise_for_status(self) -> "Response":
        if self.status_code >= 400:
            kind = "Client error" if self.status_code < 500 else "Server error"
            message = f"{kind} '{self.status_code} {self.reason_phrase}' for url '{self.request.url}'"
            raise HTTPStatusError(message, request=self.request, response=self)
        return self

    async def aread(self) -> bytes:
        if self._content is None:
            self._content = b"".join([chunk async for chunk in self._body.chunks()])
        return self._content

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        if self._content is not None:
            yield self._content
            return
        async for chunk in self._body.chunks():
            yield chunk

    async def aiter_text(self) -> AsyncIterator[str]:
        async for chunk in self.aiter_bytes():
            yield chunk.decode(self.encoding, errors="replace")

    async def aiter_lines(self) -> AsyncIterator[str]:
        pending = ""
        async for text in self.aiter_text():
            pending += text
            *lines, pending = pending.replace("\r\n", "\n").split("\n")
            for line in lines:
                yield line
        if pending:
            yield pending

    async def aclose(self) -> None:
        self._body.close()

    def __repr__(self) -> str:
        return f"<Response [{self.status_code} {self.reason_phrase}]>"


def _encode(params: Any, content: Any, data: Any, json: Any, headers: Headers) -> bytes:
    if json is not None:
        headers.update({"content-type": "application/json"} if "content-type" not in headers else {})
        return _json.dumps(json).encode()
    if data is not None and not isinstance(data, (bytes, str)):
        if "content-type" not in headers:
            headers["content-type"] = "application/x-www-form-urlencoded"
        return urllib.parse.urlencode(data, doseq=True).encode()
    body = content if content is not None else data
    return body.encode() if isinstance(body, str) else (body or b"")


def _with_params(url: str, params: Any) -> str:
    if not params:
        return url
    query = urllib.parse.urlencode(params, doseq=True)
    return url + ("&" if urllib.parse.urlsplit(url).query else "?") + query


class AsyncClient:
    """httpx's `AsyncClient`: `base_url`, default `headers` and `timeout`; no pooling to
    manage (the host pools connections for every bot)."""

    def __init__(self, *, base_url: str = "", headers: Any = None, timeout: Any = DEFAULT_TIMEOUT,
                 params: Any = None, **_ignored: Any) -> None:
        self.base_url = base_url
        self.headers = Headers(headers)
        self.timeout = timeout
        self.params = params

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        pass

    def _build(self, method: str, url: str, params: Any, headers: Any, content: Any, data: Any, json: Any) -> Request:
        full_url = url if "://" in url else self.base_url.rstrip("/") + "/" + url.lstrip("/")
        merged = Headers(self.headers)
        merged.update(headers or {})
        body = _encode(params, content, data, json, merged)
        for name, default in (("user-agent", "poe-host-python"), ("accept", "*/*")):
            if name not in merged:
                merged[name] = default
        full_url = _with_params(_with_params(full_url, self.params), params)
        return Request(method.upper(), full_url, merged, body)

    def _seconds(self, timeout: Any) -> Optional[float]:
        timeout = self.timeout if timeout == "default" else timeout
        return timeout.seconds if isinstance(timeout, Timeout) else timeout

    async def send_request(self, request: Request, timeout: Any = "default") -> Response:
        """Send `request`; the response with its body unread."""
        status, headers, body = await _transport.send(
            request.method, request.url, request.headers.multi_items(), request.content, self._seconds(timeout))
        return Response(status, Headers(headers), request, body)

    async def request(self, method: str, url: str, *, params: Any = None, headers: Any = None, content: Any = None,
                      data: Any = None, json: Any = None, timeout: Any = "default", **_ignored: Any) -> Response:
        """Send a request and read its whole body."""
        response = await self.send_request(self._build(method, url, params, headers, content, data, json), timeout)
        await response.aread()
        return response

    @asynccontextmanager
    async def stream(self, method: str, url: str, *, params: Any = None, headers: Any = None, content: Any = None,
                     data: Any = None, json: Any = None, timeout: Any = "default",
                     **_ignored: Any) -> AsyncIterator[Response]:
        """Send a request; the response's body is read as it arrives (`aiter_lines`, ...)."""
        response = await self.send_request(self._build(method, url, params, headers, content, data, json), timeout)
        try:
            yield response
        finally:
            await response.aclose()

    async def get(self, url: str, **kwargs: Any) -> Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> Response:
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> Response:
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str, **kwargs: Any) -> Response:
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> Response:
        return await self.request("DELETE", url, **kwargs)


class Client:
    """httpx's blocking `Client`: each call runs to the end before returning."""

    def __init__(self, **kwargs: Any) -> None:
        self._client = AsyncClient(**kwargs)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def request(self, method: str, url: str, **kwargs: Any) -> Response:
        return _transport.run_blocking(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> Response:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Response:
        return self.request("DELETE", url, **kwargs)


def request(method: str, url: str, **kwargs: Any) -> Response:
    """Send one request and wait for the whole response."""
    return Client().request(method, url, **kwargs)


def get(url: str, **kwargs: Any) -> Response:
    return request("GET", url, **kwargs)


def post(url: str, **kwargs: Any) -> Response:
    return request("POST", url, **kwargs)


def put(url: str, **kwargs: Any) -> Response:
    return request("PUT", url, **kwargs)


def patch(url: str, **kwargs: Any) -> Response:
    return request("PATCH", url, **kwargs)


def delete(url: str, **kwargs: Any) -> Response:
    return request("DELETE", url, **kwargs)

