"""A small stand-in for pydantic's `BaseModel`, enough for fastapi_poe's models.

pydantic v2 is a native extension with no WebAssembly build, so it cannot run inside a
bot. Bots only construct these models with keywords, read their fields, and call
`model_copy(update=...)` / `model_dump()`; this class gives exactly that, with
fastapi_poe's field names and defaults, and turns nested dicts into models where a field
is declared as one.
"""

import copy
import inspect
import typing
from typing import Any, ClassVar, Optional

_MISSING = object()


class _FieldInfo:
    """What `Field(...)` returns: a default or a factory for one."""

    def __init__(self, default: Any, default_factory: Any, alias: Optional[str]) -> None:
        self.default = default
        self.default_factory = default_factory
        self.alias = alias

    def make_default(self) -> Any:
        if self.default_factory is not None:
            return self.default_factory()
        return copy.copy(self.default)


def Field(  # noqa: N802 (pydantic's name)
    default: Any = _MISSING,
    *,
    default_factory: Any = None,
    alias: Optional[str] = None,
    **_ignored: Any,
) -> Any:
    """Declare a field's default (`default` or `default_factory`), as pydantic's `Field`."""
    return _FieldInfo(default, default_factory, alias)


class ConfigDict(dict):
    """pydantic's `ConfigDict`: only `extra="forbid"` changes anything here."""


class BaseModel:
    """Keyword-constructed records with defaults, copies and dumps, like pydantic's."""

    model_config: ClassVar[dict] = {}
    _fields: ClassVar[dict] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict = {}
        for base in reversed(cls.__bases__):
            fields.update(getattr(base, "_fields", {}))
        for name, annotation in _own_annotations(cls).items():
            if name.startswith("_") or typing.get_origin(annotation) is ClassVar:
                continue
            default = cls.__dict__.get(name, _MISSING)
            info = default if isinstance(default, _FieldInfo) else _FieldInfo(default, None, None)
            # Only fields that can hold models need converting: decided once, per class.
            fields[name] = (annotation, info, _holds_models(annotation))
            if isinstance(default, _FieldInfo):
                delattr(cls, name)
        cls._fields = fields

    def __init__(self, **data: Any) -> None:
        for name, (annotation, info, convert) in self._fields.items():
            key = info.alias if info.alias is not None and info.alias in data else name
            if key in data:
                value = data.pop(key)
                if convert:
                    value = _coerce(annotation, value)
            elif info.default is _MISSING and info.default_factory is None:
                raise TypeError(f"{type(self).__name__}: field {name!r} is required")
            else:
                value = info.make_default()
            object.__setattr__(self, name, value)
        if data and self.model_config.get("extra") == "forbid":
            unknown = ", ".join(sorted(data))
            raise TypeError(f"{type(self).__name__}: unknown field(s) {unknown}")

    @classmethod
    def model_validate(cls, data: Any) -> Any:
        """Build from a dict (or return a model of this class unchanged)."""
        if isinstance(data, cls):
            return data
        return cls(**dict(data))

    def model_copy(self, *, update: Optional[dict] = None, deep: bool = False) -> Any:
        """A copy with the fields in `update` replaced, as pydantic's `model_copy`."""
        new = copy.deepcopy(self) if deep else copy.copy(self)
        for name, value in (update or {}).items():
            object.__setattr__(new, name, value)
        return new

    def copy(self, *, update: Optional[dict] = None, deep: bool = False) -> Any:
        """pydantic v1's name for `model_copy`."""
        return self.model_copy(update=update, deep=deep)

    def model_dump(self, *, exclude_none: bool = False, by_alias: bool = False) -> dict:
        """The fields as a dict, nested models included, as pydantic's `model_dump`."""
        out = {}
        for name, (_, info, _) in self._fields.items():
            value = _dump(getattr(self, name), exclude_none)
            if exclude_none and value is None:
                continue
            out[info.alias if by_alias and info.alias else name] = value
        return out

    def dict(self, **kwargs: Any) -> dict:
        """pydantic v1's name for `model_dump`."""
        return self.model_dump(**kwargs)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.model_dump() == other.model_dump()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({fields})"


def _holds_models(annotation: Any) -> bool:
    """Whether a value of `annotation` may contain models (dicts to convert)."""
    if isinstance(annotation, type):
        return issubclass(annotation, BaseModel)
    return any(_holds_models(arg) for arg in typing.get_args(annotation))


def _own_annotations(klass: type) -> dict:
    """`klass`'s own field annotations. Python 3.14 (the bots' interpreter) evaluates them
    lazily and keeps no `__annotations__` in the class dict; a name not defined yet stays a
    forward reference instead of failing."""
    if klass is object or "__module__" not in klass.__dict__:
        return {}
    try:
        import annotationlib
    except ImportError:  # Python before 3.14
        return dict(inspect.get_annotations(klass))
    return annotationlib.get_annotations(klass, format=annotationlib.Format.FORWARDREF)


def _dump(value: Any, exclude_none: bool) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_none=exclude_none)
    if isinstance(value, list):
        return [_dump(item, exclude_none) for item in value]
    if isinstance(value, dict):
        return {key: _dump(item, exclude_none) for key, item in value.items()}
    return value


def _coerce(annotation: Any, value: Any) -> Any:
    """Turn dicts into the models `annotation` names (also inside lists and Optionals)."""
    if isinstance(value, dict) and isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation(**value)
    origin = typing.get_origin(annotation)
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(annotation) or (Any,)
        return [_coerce(item, v) for v in value]
    if origin is typing.Union and isinstance(value, dict):
        for option in typing.get_args(annotation):
            if isinstance(option, type) and issubclass(option, BaseModel) and _literals_match(option, value):
                try:
                    return option(**value)
                except TypeError:
                    continue
    if origin is typing.Union and isinstance(value, list):
        for option in typing.get_args(annotation):
            if typing.get_origin(option) is list:
                return _coerce(option, value)
    return value


def _literals_match(model: type, value: dict) -> bool:
    """Whether `value` agrees with `model`'s `Literal` fields (pydantic's discriminator)."""
    for name, (annotation, _, _) in model._fields.items():  # type: ignore[attr-defined]
        if typing.get_origin(annotation) is typing.Literal and name in value:
            if value[name] not in typing.get_args(annotation):
                return False
    return True
