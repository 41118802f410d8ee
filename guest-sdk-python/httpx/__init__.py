"""httpx for bots run by poe-host: the part of httpx's API bots use, over `wasi:http`.

A bot file that calls a third-party API with `httpx.AsyncClient` (get/post/stream,
`json=`, `params=`, `headers=`, `response.json()`, `aiter_lines()`) runs unchanged: the
requests go out through the host, only to the destinations the bot's sidecar grants
(`allowed_outbound_hosts`), within its bounds. No proxies, transports, cookies, HTTP/2
settings or redirects (the host never follows them). Sync `httpx.get`/`httpx.Client` work
too, blocking the bot's one thread while they wait.
"""

from ._client import AsyncClient, Client, Headers, Request, Response, Timeout, delete, get, patch, post, put, request
from ._errors import (
    ConnectError,
    HTTPError,
    HTTPStatusError,
    ReadError,
    RequestError,
    TimeoutException,
    TransportError,
    UnsupportedProtocol,
)

__all__ = [
    "AsyncClient", "Client", "Headers", "Request", "Response", "Timeout", "delete", "get", "patch", "post",
    "put", "request", "ConnectError", "HTTPError", "HTTPStatusError", "ReadError", "RequestError",
    "TimeoutException", "TransportError", "UnsupportedProtocol",
]
