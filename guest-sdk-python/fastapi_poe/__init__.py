"""fastapi_poe for bots run by poe-host: the same names, inside the sandbox.

A bot file written for fastapi_poe 0.0.83 (`import fastapi_poe as fp`, a `PoeBot`
subclass, `fp.make_app(bot)`) builds with `poe-host build bot.py` and runs unchanged. The
host is the web server, so there is no FastAPI app, no `RequestContext.http_request` and
no key handling here: the host checks Poe's key, and calls other bots, uploads files and
charges costs with the bot's own key, which never enters the sandbox.
"""

from .base import (
    AttachmentUploadError,
    CostRequestError,
    InsufficientFundError,
    InvalidParameterError,
    PoeBot,
    make_app,
    run,
)
from .client import (
    BotError,
    BotErrorNoRetry,
    get_bot_response,
    get_bot_response_sync,
    get_final_response,
    stream_request,
    sync_bot_settings,
    upload_file,
    upload_file_sync,
)
from .types import (
    AspectRatio,
    AspectRatioOption,
    Attachment,
    AttachmentUploadResponse,
    BaseControl,
    ComparatorCondition,
    ConditionallyRenderControls,
    CostItem,
    DataResponse,
    Divider,
    DropDown,
    ErrorResponse,
    FullControls,
    LiteralValue,
    MessageFeedback,
    MessageReaction,
    MetaResponse,
    Number,
    ParameterControls,
    ParameterValue,
    PartialResponse,
    ProtocolMessage,
    QueryRequest,
    ReportErrorRequest,
    ReportFeedbackRequest,
    ReportReactionRequest,
    RequestContext,
    Section,
    Sender,
    SettingsRequest,
    SettingsResponse,
    Slider,
    Tab,
    TextArea,
    TextField,
    ToggleSwitch,
    ToolCallDefinition,
    ToolDefinition,
    ToolResultDefinition,
    User,
    ValueNamePair,
)

__all__ = [
    "PoeBot", "run", "make_app", "stream_request", "get_bot_response", "get_bot_response_sync",
    "get_final_response", "BotError", "BotErrorNoRetry", "Attachment", "ProtocolMessage", "Sender",
    "User", "MessageReaction", "QueryRequest", "SettingsRequest", "ReportFeedbackRequest",
    "ReportReactionRequest", "ReportErrorRequest", "SettingsResponse", "PartialResponse",
    "ErrorResponse", "MetaResponse", "DataResponse", "AttachmentUploadResponse", "RequestContext",
    "ToolDefinition", "ToolCallDefinition", "ToolResultDefinition", "MessageFeedback",
    "sync_bot_settings", "CostItem", "InsufficientFundError", "CostRequestError", "upload_file",
    "upload_file_sync", "ParameterControls", "Section", "Tab", "FullControls",
    "ConditionallyRenderControls", "ComparatorCondition", "ParameterValue", "LiteralValue",
    "BaseControl", "AspectRatio", "AspectRatioOption", "Slider", "ToggleSwitch", "DropDown",
    "ValueNamePair", "TextArea", "TextField", "Divider", "Number", "AttachmentUploadError",
    "InvalidParameterError",
]
