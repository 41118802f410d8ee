"""httpx's exception classes, the ones bots catch."""


class HTTPError(Exception):
    """Any error of a request."""


class RequestError(HTTPError):
    """The request could not be made or its response read."""


class TransportError(RequestError):
    """A connection-level failure."""


class ConnectError(TransportError):
    """The destination could not be reached, or the bot may not reach it."""


class ReadError(TransportError):
    """The response could not be read to the end."""


class TimeoutException(TransportError):
    """A timeout passed (connecting, the first byte, or between bytes)."""


class UnsupportedProtocol(TransportError):
    """The URL is not http:// or https://."""


class HTTPStatusError(HTTPError):
    """`raise_for_status` on a 4xx or 5xx response."""

    def __init__(self, message: str, *, request: object, response: object) -> None:
        super().__init__(message)
        self.request = request
        self.response = response
