"""fastapi_poe's models (`fastapi_poe.types`), with its field names and defaults.

A bot file written for fastapi_poe 0.0.83 constructs and reads these unchanged; they are
plain records (see `_model`), not pydantic models, so nothing validates types.
"""

from typing import Any, Literal, Optional, Union

from ._model import BaseModel, ConfigDict, Field

Identifier = str
FeedbackType = Literal["like", "dislike"]
ContentType = Literal["text/markdown", "text/plain"]
MessageType = Literal["function_call"]
ErrorType = Literal[
    "user_message_too_long",
    "insufficient_fund",
    "user_caused_error",
    "privacy_authorization_error",
]
Number = Union[int, float]
_FORBID = ConfigDict(extra="forbid")


class MessageFeedback(BaseModel):
    """Feedback a user left on a message."""

    type: FeedbackType
    reason: Optional[str]


class CostItem(BaseModel):
    """An amount to authorize or capture, in thousandths of a US cent."""

    amount_usd_milli_cents: int
    description: Optional[str] = None

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        amount = self.amount_usd_milli_cents
        if isinstance(amount, float):
            amount = -int(-amount // 1)  # math.ceil, as fastapi_poe's validator
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise ValueError(
                "Invalid amount: expected an integer for amount_usd_milli_cents, "
                f"got {type(amount)}."
            )
        self.amount_usd_milli_cents = amount


class Attachment(BaseModel):
    """A file attached to a message."""

    url: str
    content_type: str
    name: str
    inline_ref: Optional[str] = None
    parsed_content: Optional[str] = None


class MessageReaction(BaseModel):
    """A reaction a user put on a message."""

    user_id: Identifier
    reaction: str


class Sender(BaseModel):
    """The author of a message."""

    id: Optional[Identifier] = None
    name: Optional[str] = None


class User(BaseModel):
    """A user in the chat."""

    id: Identifier
    name: Optional[str] = None


class ProtocolMessage(BaseModel):
    """A message of the conversation."""

    role: Literal["system", "user", "bot", "tool"]
    message_type: Optional[MessageType] = None
    sender_id: Optional[str] = None
    sender: Optional[Sender] = None
    content: str
    parameters: dict = Field(default_factory=dict)
    content_type: ContentType = "text/markdown"
    timestamp: int = 0
    message_id: str = ""
    feedback: list[MessageFeedback] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    metadata: Optional[str] = None
    referenced_message: Optional["ProtocolMessage"] = None
    reactions: list[MessageReaction] = Field(default_factory=list)


class RequestContext(BaseModel):
    """The HTTP request around a call. Inside poe-host a bot sees no HTTP request."""

    http_request: Any = None


class ParametersDefinition(BaseModel):
    """JSON-schema parameters of a function a model may call."""

    type: str
    properties: dict
    required: Optional[list[str]] = None


class FunctionDefinition(BaseModel):
    """A function a model may call."""

    name: str
    description: str
    parameters: ParametersDefinition


class ToolDefinition(BaseModel):
    """A tool (function) offered to a model."""

    type: str
    function: FunctionDefinition


class FunctionCallDefinition(BaseModel):
    """A function call a model made: its name and JSON arguments."""

    name: str
    arguments: str


class ToolCallDefinition(BaseModel):
    """A tool call a model made."""

    id: str
    type: str
    function: FunctionCallDefinition


class ToolResultDefinition(BaseModel):
    """The result of a tool call, sent back to the model."""

    role: str
    name: str
    tool_call_id: str
    content: str


class FunctionCallDefinitionDelta(BaseModel):
    """Part of a streamed function call."""

    name: Optional[str] = None
    arguments: str


class ToolCallDefinitionDelta(BaseModel):
    """Part of a streamed tool call."""

    index: int = 0
    id: Optional[str] = None
    type: Optional[str] = None
    function: FunctionCallDefinitionDelta


class BaseRequest(BaseModel):
    """Common data of all requests."""

    version: str
    type: Literal["query", "settings", "report_feedback", "report_reaction", "report_error"]


class QueryRequest(BaseRequest):
    """A query: the conversation so far, to answer."""

    query: list[ProtocolMessage]
    user_id: Identifier
    conversation_id: Identifier
    message_id: Identifier
    metadata: Identifier = ""
    api_key: str = "<missing>"
    access_key: str = "<missing>"
    temperature: Optional[float] = None
    skip_system_prompt: bool = False
    logit_bias: dict = Field(default_factory=dict)
    stop_sequences: list[str] = Field(default_factory=list)
    language_code: str = "en"
    adopt_current_bot_name: Optional[bool] = None
    bot_query_id: Identifier = ""
    users: list[User] = Field(default_factory=list)
    tools: Optional[list[ToolDefinition]] = None
    tool_calls: Optional[list[ToolCallDefinition]] = None
    tool_results: Optional[list[ToolResultDefinition]] = None
    query_creation_time: Optional[int] = None
    extra_params: Optional[dict] = None


class SettingsRequest(BaseRequest):
    """A request for the bot's settings."""


class ReportFeedbackRequest(BaseRequest):
    """A user liked or disliked a message."""

    message_id: Identifier
    user_id: Identifier
    conversation_id: Identifier
    feedback_type: FeedbackType


class ReportReactionRequest(BaseRequest):
    """A user reacted to a message."""

    message_id: Identifier
    user_id: Identifier
    conversation_id: Identifier
    reaction: str


class ReportErrorRequest(BaseRequest):
    """Poe reports that the bot misused the protocol."""

    message: str
    metadata: dict


class Divider(BaseModel):
    """A divider between controls."""

    model_config = _FORBID
    control: Literal["divider"] = "divider"


class TextField(BaseModel):
    """A one-line text input."""

    model_config = _FORBID
    control: Literal["text_field"] = "text_field"
    label: str
    description: Optional[str] = None
    parameter_name: str
    default_value: Optional[str] = None
    placeholder: Optional[str] = None


class TextArea(BaseModel):
    """A multi-line text input."""

    model_config = _FORBID
    control: Literal["text_area"] = "text_area"
    label: str
    description: Optional[str] = None
    parameter_name: str
    default_value: Optional[str] = None
    placeholder: Optional[str] = None


class ValueNamePair(BaseModel):
    """One option of a drop-down."""

    model_config = _FORBID
    value: str
    name: str


class DropDown(BaseModel):
    """A choice among options."""

    model_config = _FORBID
    control: Literal["drop_down"] = "drop_down"
    label: str
    description: Optional[str] = None
    parameter_name: str
    default_value: Optional[str] = None
    options: list[ValueNamePair]


class ToggleSwitch(BaseModel):
    """An on/off switch."""

    model_config = _FORBID
    control: Literal["toggle_switch"] = "toggle_switch"
    label: str
    description: Optional[str] = None
    parameter_name: str
    default_value: Optional[bool] = None


class Slider(BaseModel):
    """A number in a range."""

    model_config = _FORBID
    control: Literal["slider"] = "slider"
    label: str
    description: Optional[str] = None
    parameter_name: str
    default_value: Optional[Number] = None
    min_value: Number
    max_value: Number
    step: Number


class AspectRatioOption(BaseModel):
    """One aspect ratio to choose."""

    model_config = _FORBID
    value: Optional[str] = None
    width: Number
    height: Number


class AspectRatio(BaseModel):
    """A choice of aspect ratio."""

    model_config = _FORBID
    control: Literal["aspect_ratio"] = "aspect_ratio"
    label: str
    description: Optional[str] = None
    parameter_name: str
    default_value: Optional[str] = None
    options: list[AspectRatioOption]


BaseControl = Union[Divider, TextField, TextArea, DropDown, ToggleSwitch, Slider, AspectRatio]


class LiteralValue(BaseModel):
    """A constant in a condition."""

    model_config = _FORBID
    literal: Union[str, float, int, bool]


class ParameterValue(BaseModel):
    """A parameter's value in a condition."""

    model_config = _FORBID
    parameter_name: str


class ComparatorCondition(BaseModel):
    """A comparison deciding whether controls show."""

    model_config = _FORBID
    comparator: Literal["eq", "ne", "gt", "ge", "lt", "le"]
    left: Union[LiteralValue, ParameterValue]
    right: Union[LiteralValue, ParameterValue]


class ConditionallyRenderControls(BaseModel):
    """Controls shown only when a condition holds."""

    model_config = _FORBID
    control: Literal["condition"] = "condition"
    condition: ComparatorCondition
    controls: list[BaseControl]


FullControls = Union[
    Divider, TextField, TextArea, DropDown, ToggleSwitch, Slider, AspectRatio,
    ConditionallyRenderControls,
]


class Tab(BaseModel):
    """A tab of controls."""

    model_config = _FORBID
    name: Optional[str] = None
    controls: list[FullControls]


class Section(BaseModel):
    """A section of controls or tabs."""

    model_config = _FORBID
    name: Optional[str] = None
    controls: Optional[list[FullControls]] = None
    tabs: Optional[list[Tab]] = None
    collapsed_by_default: Optional[bool] = None


class ParameterControls(BaseModel):
    """The parameter controls Poe shows for the bot."""

    model_config = _FORBID
    api_version: Literal["2"] = "2"
    sections: list[Section]


class SettingsResponse(BaseModel):
    """The bot's settings."""

    model_config = _FORBID
    response_version: Optional[int] = 2
    context_clear_window_secs: Optional[int] = None
    allow_user_context_clear: Optional[bool] = None
    custom_rate_card: Optional[str] = None
    server_bot_dependencies: dict = Field(default_factory=dict)
    allow_attachments: Optional[bool] = None
    introduction_message: Optional[str] = None
    expand_text_attachments: Optional[bool] = None
    enable_image_comprehension: Optional[bool] = None
    enforce_author_role_alternation: Optional[bool] = None
    enable_multi_bot_chat_prompting: Optional[bool] = None
    enable_multi_entity_prompting: Optional[bool] = None
    rate_card: Optional[str] = None
    cost_label: Optional[str] = None
    parameter_controls: Optional[ParameterControls] = None


class AttachmentUploadResponse(BaseModel):
    """What `post_message_attachment` returns."""

    attachment_url: Optional[str]
    mime_type: Optional[str]
    name: Optional[str] = None
    inline_ref: Optional[str]


class DataResponse(BaseModel):
    """Data kept with the bot's message and sent back in later requests (`metadata`)."""

    model_config = _FORBID
    metadata: str


class PartialResponse(BaseModel):
    """One part of the bot's answer."""

    model_config = _FORBID
    text: str
    data: Optional[dict] = None
    raw_response: object = None
    full_prompt: Optional[str] = None
    request_id: Optional[str] = None
    is_suggested_reply: bool = False
    is_replace_response: bool = False
    attachment: Optional[Attachment] = None
    tool_calls: list[ToolCallDefinitionDelta] = Field(default_factory=list)
    index: Optional[int] = None


class ErrorResponse(PartialResponse):
    """An error ending the answer."""

    allow_retry: bool = True
    error_type: Optional[ErrorType] = None


class MetaResponse(PartialResponse):
    """How Poe should render the answer; only as the first part."""

    linkify: bool = True
    suggested_replies: bool = True
    content_type: ContentType = "text/markdown"
    refetch_settings: bool = False
