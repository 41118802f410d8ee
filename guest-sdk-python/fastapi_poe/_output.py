"""What a bot yields and returns, as the host's `poe:bot` records.

`events` follows fastapi_poe 0.0.83's `handle_query` rule by rule: an attachment on a
part is its own `file` event first, then the part's kind decides the event (error, meta,
data, suggested reply, replace, text). `settings_to_wit` turns a `SettingsResponse` and
its parameter controls into the host's record, which the host serialises as fastapi_poe
would.
"""

from typing import Any, Iterator, Optional

from poe_wit.imports import poe_bot_types as wit

from . import _wit
from . import types as fp


def events(part: Any) -> Iterator[Any]:
    """The host's `partial-response`s for one yielded part, in order."""
    if isinstance(part, fp.PartialResponse) and part.attachment is not None:
        a = part.attachment
        yield wit.PartialResponse_File(wit.FileAttachment(
            url=a.url, content_type=a.content_type, name=a.name, inline_ref=a.inline_ref))
    if isinstance(part, fp.ErrorResponse):
        yield error_event(part.text, part.allow_retry, part.error_type, part.raw_response)
    elif isinstance(part, fp.MetaResponse):
        yield wit.PartialResponse_Meta(wit.MetaResponse(
            content_type=_wit.WIT_CONTENT_TYPES[part.content_type],
            suggested_replies=part.suggested_replies,
            linkify=part.linkify,
            refetch_settings=part.refetch_settings,
        ))
    elif isinstance(part, fp.DataResponse):
        yield wit.PartialResponse_Data(part.metadata)
    elif not isinstance(part, fp.PartialResponse):
        raise TypeError(f"a bot yields PartialResponse, ErrorResponse, MetaResponse or DataResponse, not {type(part).__name__}")
    elif part.is_suggested_reply:
        yield wit.PartialResponse_SuggestedReply(part.text)
    elif part.is_replace_response:
        yield wit.PartialResponse_ReplaceResponse(part.text)
    else:
        yield wit.PartialResponse_Text(part.text)


def error_event(text: Optional[str], allow_retry: bool, error_type: Optional[str], raw: object) -> Any:
    """An `error` part; `raw` is shown as fastapi_poe shows it (its `repr`)."""
    return wit.PartialResponse_Error(wit.ErrorResponse(
        text="" if text is None else text,
        allow_retry=allow_retry,
        error_type=None if error_type is None else wit.ErrorType[error_type.upper()],
        raw_response=None if raw is None else repr(raw),
    ))


def settings_to_wit(s: fp.SettingsResponse) -> Any:
    """The host's `settings-response` from a `SettingsResponse` model."""
    if isinstance(s, dict):
        s = fp.SettingsResponse(**s)
    controls = s.parameter_controls
    if isinstance(controls, dict):
        controls = fp.ParameterControls(**controls)
    return wit.SettingsResponse(
        response_version=s.response_version,
        context_clear_window_secs=s.context_clear_window_secs,
        allow_user_context_clear=s.allow_user_context_clear,
        custom_rate_card=s.custom_rate_card,
        server_bot_dependencies=[(name, int(count)) for name, count in s.server_bot_dependencies.items()],
        allow_attachments=s.allow_attachments,
        introduction_message=s.introduction_message,
        expand_text_attachments=s.expand_text_attachments,
        enable_image_comprehension=s.enable_image_comprehension,
        enforce_author_role_alternation=s.enforce_author_role_alternation,
        enable_multi_bot_chat_prompting=s.enable_multi_bot_chat_prompting,
        enable_multi_entity_prompting=s.enable_multi_entity_prompting,
        rate_card=s.rate_card,
        cost_label=s.cost_label,
        parameter_controls=None if controls is None else wit.ParameterControls(
            sections=[_section(x) for x in controls.sections]),
    )


def _section(s: fp.Section) -> Any:
    return wit.Section(
        name=s.name,
        controls=None if s.controls is None else [_section_control(c) for c in s.controls],
        tabs=None if s.tabs is None else [
            wit.Tab(name=t.name, controls=[_section_control(c) for c in t.controls]) for t in s.tabs],
        collapsed_by_default=s.collapsed_by_default,
    )


def _section_control(c: Any) -> Any:
    if isinstance(c, fp.ConditionallyRenderControls):
        condition = wit.Condition(
            comparator=wit.Comparator[c.condition.comparator.upper()],
            left=_operand(c.condition.left),
            right=_operand(c.condition.right),
        )
        return wit.SectionControl_Condition(wit.ConditionControls(
            condition=condition, controls=[_control(x) for x in c.controls]))
    return wit.SectionControl_Control(_control(c))


def _operand(v: Any) -> Any:
    if isinstance(v, fp.ParameterValue):
        return wit.Operand_ParameterName(v.parameter_name)
    value = v.literal
    if isinstance(value, bool):
        return wit.Operand_Literal(wit.Literal_Boolean(value))
    if isinstance(value, (int, float)):
        return wit.Operand_Literal(wit.Literal_Number(float(value)))
    return wit.Operand_Literal(wit.Literal_Text(value))


def _text_field(c: Any) -> Any:
    return wit.TextField(label=c.label, description=c.description, parameter_name=c.parameter_name,
                         default_value=c.default_value, placeholder=c.placeholder)


def _control(c: Any) -> Any:
    if isinstance(c, fp.Divider):
        return wit.Control_Divider()
    if isinstance(c, fp.TextField):
        return wit.Control_TextField(_text_field(c))
    if isinstance(c, fp.TextArea):
        return wit.Control_TextArea(_text_field(c))
    if isinstance(c, fp.DropDown):
        return wit.Control_DropDown(wit.DropDown(
            label=c.label, description=c.description, parameter_name=c.parameter_name,
            default_value=c.default_value,
            options=[wit.ValueNamePair(value=o.value, name=o.name) for o in c.options]))
    if isinstance(c, fp.ToggleSwitch):
        return wit.Control_ToggleSwitch(wit.ToggleSwitch(
            label=c.label, description=c.description, parameter_name=c.parameter_name,
            default_value=c.default_value))
    if isinstance(c, fp.Slider):
        return wit.Control_Slider(wit.Slider(
            label=c.label, description=c.description, parameter_name=c.parameter_name,
            default_value=None if c.default_value is None else float(c.default_value),
            min_value=float(c.min_value), max_value=float(c.max_value), step=float(c.step)))
    if isinstance(c, fp.AspectRatio):
        return wit.Control_AspectRatio(wit.AspectRatio(
            label=c.label, description=c.description, parameter_name=c.parameter_name,
            default_value=c.default_value,
            options=[wit.AspectRatioOption(value=o.value, width=float(o.width), height=float(o.height))
                     for o in c.options]))
    raise TypeError(f"unknown parameter control {type(c).__name__}")
