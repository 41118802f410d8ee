"""`PoeBot`, `make_app` and `run`: fastapi_poe's bot class, as poe-host runs it.

A bot file subclasses `PoeBot` and hands an instance to `make_app` or `run`. Under
fastapi_poe those start a web server; inside poe-host the host is the server, so they only
register the bot (at build time, when the file runs), and the host calls it through
`_guest.Handler`. Uploads and costs go through the host, which makes Poe's calls with the
bot's own access key: whatever key the file passes stays unused, and never reaches here.
"""

from dataclasses import dataclass
from typing import Any, AsyncIterable, BinaryIO, Optional, Union

from poe_wit.imports import attachments as wit_attachments
from poe_wit.imports import cost as wit_cost

from .types import (
    AttachmentUploadResponse,
    CostItem,
    ErrorResponse,
    Identifier,
    PartialResponse,
    QueryRequest,
    ReportErrorRequest,
    ReportFeedbackRequest,
    ReportReactionRequest,
    RequestContext,
    SettingsRequest,
    SettingsResponse,
)

POE_API_WEBSERVER_BASE_URL = "https://www.quora.com/poe_api/"


class InvalidParameterError(Exception):
    """A call's arguments are unusable."""


class CostRequestError(Exception):
    """A cost call failed (no key, no `bot_query_id`, Poe unreachable)."""


class InsufficientFundError(Exception):
    """The user cannot or would not pay: the answer ends with `insufficient_fund`."""


class AttachmentUploadError(Exception):
    """An upload failed."""


@dataclass
class PoeBot:
    """The class a bot subclasses: override `get_response` (and optionally the others)."""

    path: str = "/"
    access_key: Optional[str] = None
    bot_name: Optional[str] = None
    should_insert_attachment_messages: bool = True
    concat_attachments_to_message: bool = False

    async def get_response(self, request: QueryRequest) -> AsyncIterable[Any]:
        """Answer `request` by yielding `PartialResponse`s. The default says so."""
        yield self.text_event("hello")  # type: ignore[misc]

    async def get_response_with_context(self, request: QueryRequest, context: RequestContext) -> AsyncIterable[Any]:
        """`get_response` with the request context; a refused cost ends with `insufficient_fund`."""
        try:
            async for event in self.get_response(request):
                yield event
        except InsufficientFundError:
            yield ErrorResponse(error_type="insufficient_fund", text="")

    async def get_settings(self, setting: SettingsRequest) -> SettingsResponse:
        """The bot's settings. The default has none."""
        return SettingsResponse()

    async def get_settings_with_context(self, setting: SettingsRequest, context: RequestContext) -> SettingsResponse:
        """`get_settings` with the request context."""
        return await self.get_settings(setting)

    async def on_feedback(self, feedback_request: ReportFeedbackRequest) -> None:
        """A user liked or disliked a message."""

    async def on_feedback_with_context(self, feedback_request: ReportFeedbackRequest, context: RequestContext) -> None:
        """`on_feedback` with the request context."""
        await self.on_feedback(feedback_request)

    async def on_reaction_with_context(self, reaction_request: ReportReactionRequest, context: RequestContext) -> None:
        """A user reacted to a message."""

    async def on_error(self, error_request: ReportErrorRequest) -> None:
        """Poe reports the bot misused the protocol; logged by the host."""

    async def on_error_with_context(self, error_request: ReportErrorRequest, context: RequestContext) -> None:
        """`on_error` with the request context."""
        await self.on_error(error_request)

    async def post_message_attachment(
        self,
        access_key: Optional[str] = None,
        message_id: Optional[Identifier] = None,
        *,
        download_url: Optional[str] = None,
        download_filename: Optional[str] = None,
        file_data: Optional[Union[bytes, BinaryIO]] = None,
        filename: Optional[str] = None,
        content_type: Optional[str] = None,
        is_inline: bool = False,
        base_url: str = POE_API_WEBSERVER_BASE_URL,
    ) -> AttachmentUploadResponse:
        """Attach a file to the answer: the host uploads it and sends its `file` event
        before the bot's next part. Give `file_data` and `filename`, or `download_url`."""
        name = filename or download_filename
        if file_data is not None:
            if not name:
                raise InvalidParameterError("filename or download_url/download_filename required")
            data = file_data if isinstance(file_data, (bytes, bytearray)) else file_data.read()
            source: Any = wit_attachments.UploadSource_Bytes(bytes(data))
        elif download_url:
            source = wit_attachments.UploadSource_Url(download_url)
        else:
            raise InvalidParameterError("file_data with filename, or download_url, required")
        upload = wit_attachments.Upload(source=source, filename=name, is_inline=is_inline)
        try:
            file = wit_attachments.post_message_attachment(upload)
        except Exception as error:  # componentize_py_types.Err
            raise AttachmentUploadError(_upload_error_text(getattr(error, "value", error))) from None
        return AttachmentUploadResponse(attachment_url=file.url, mime_type=file.content_type, inline_ref=file.inline_ref)

    async def authorize_cost(self, request: QueryRequest, amounts: Union[list, CostItem], base_url: str = "") -> None:
        """Check the user accepts paying `amounts`; `InsufficientFundError` if not."""
        _cost_call(wit_cost.authorize_cost, amounts)

    async def capture_cost(self, request: QueryRequest, amounts: Union[list, CostItem], base_url: str = "") -> None:
        """Charge the user `amounts`; `InsufficientFundError` if refused."""
        _cost_call(wit_cost.capture_cost, amounts)

    @staticmethod
    def text_event(text: str) -> PartialResponse:
        """A text part (fastapi_poe builds an SSE event; here it is the part itself)."""
        return PartialResponse(text=text)

    @staticmethod
    def replace_response_event(text: str) -> PartialResponse:
        """A part replacing the answer so far."""
        return PartialResponse(text=text, is_replace_response=True)

    @staticmethod
    def suggested_reply_event(text: str) -> PartialResponse:
        """A suggested reply."""
        return PartialResponse(text=text, is_suggested_reply=True)

    @staticmethod
    def error_event(text: Optional[str] = None, *, raw_response: Optional[object] = None,
                    allow_retry: bool = True, error_type: Optional[str] = None) -> ErrorResponse:
        """An error ending the answer."""
        return ErrorResponse(text=text or "", raw_response=raw_response, allow_retry=allow_retry, error_type=error_type)


def _upload_error_text(error: Any) -> str:
    detail = getattr(error, "value", None)
    kind = type(error).__name__.removeprefix("UploadError_")
    return kind if detail is None else f"{kind}: {detail}"


def _cost_call(call: Any, amounts: Union[list, CostItem]) -> None:
    items = [amounts] if isinstance(amounts, CostItem) else list(amounts)
    wit_items = [wit_cost.CostItem(amount_usd_milli_cents=i.amount_usd_milli_cents, description=i.description)
                 for i in items]
    try:
        call(wit_items)
    except Exception as error:  # componentize_py_types.Err
        reason = getattr(error, "value", error)
        if isinstance(reason, wit_cost.CostError_InsufficientFunds):
            raise InsufficientFundError() from None
        if isinstance(reason, wit_cost.CostError_NoBotQueryId):
            raise InvalidParameterError("bot_query_id is required to make cost requests.") from None
        detail = getattr(reason, "value", None)
        raise CostRequestError(detail or type(reason).__name__.removeprefix("CostError_")) from None


class _App:
    """What `make_app` returns: nothing to serve, the host serves the bot."""

    def __init__(self, bot: PoeBot) -> None:
        self.bot = bot


def make_app(bot: Union[PoeBot, list], access_key: str = "", *, bot_name: str = "",
             api_key: str = "", allow_without_key: bool = False, app: Any = None, **_ignored: Any) -> _App:
    """Register `bot` as the one this component serves (the arguments about keys and
    servers are fastapi_poe's; poe-host takes the key from its own configuration)."""
    from . import _guest

    bots = bot if isinstance(bot, list) else [bot]
    if len(bots) != 1:
        raise ValueError(f"poe-host serves one bot per file; make_app got {len(bots)}")
    _guest.register(bots[0])
    return _App(bots[0])


def run(bot: Union[PoeBot, list], access_key: str = "", *, bot_name: str = "", api_key: str = "",
        allow_without_key: bool = False, app: Any = None, **_ignored: Any) -> None:
    """Register `bot` (under fastapi_poe this starts a server; the host is the server here)."""
    make_app(bot)
