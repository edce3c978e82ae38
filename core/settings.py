"""Typed settings: frozen models parsed once where they enter (a YAML file, flags, keywords), passed inward as objects.

Every settings class of signalstack (trading, client security, serving, the experiment file, the search
space, `paper.yaml`, a net's spec) derives from `Settings`, a pydantic v2 model that is frozen and refuses
unknown keys. `parse` and `load_yaml` turn a document into one, or raise a `SettingsError` whose one line
names every bad value by its path and what was expected (`backtest.commission: -0.1, expected >= 0`); an
unknown key gets a "did you mean" when one of the valid keys is close. A key may be written with dashes
or underscores (`buy-threshold` or `buy_threshold`), as flags are. `json_schema` is what `signalstack
schema` prints, so editors complete and check the YAML files.

Files are read as JSON is, strictly (`0.5` is a number, `"0.5"` is not; `1` is not `true`; text is a path or a
date, a list a tuple); flags, which argparse has already typed or left as text, and Python keywords are read
leniently (`"horizon"` or `"5"` for an int-or-word field): `Model.of(**keywords)`.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import pydantic_core
import yaml
from pydantic import AliasChoices, AliasGenerator, BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from .errors import SettingsError

__all__ = ["Settings", "SettingsError", "invalid", "json_schema", "load_yaml", "parse", "unknown_key"]


def _names(field: str) -> AliasChoices:
    return AliasChoices(field, field.replace("_", "-"))


class Settings(BaseModel):
    """A frozen, typed group of settings: unknown keys are refused, each field documented where it is declared.

    A field's docstring (the string after it) is its description: the `--help` of its flag, the JSON Schema's
    description and the reference's text, written once.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        use_attribute_docstrings=True,
        alias_generator=AliasGenerator(validation_alias=_names),
        populate_by_name=True,
        arbitrary_types_allowed=True,
    )

    @classmethod
    def of(cls, **keywords: Any) -> typing.Self:
        """Settings from a Python caller's keywords, read leniently; a bad one is a `SettingsError` named by the
        class (constructing the class directly raises pydantic's own error)."""
        return parse(cls, keywords, source=cls.__name__, strict=False)

    def subset(self, model: type[S]) -> S:
        """The fields of `model` among these settings (a flat file's trading part, say) as a `model`."""
        return parse(
            model, {name: getattr(self, name) for name in model.model_fields}, source=model.__name__, strict=False
        )

    def replaced(self, **changes: Any) -> typing.Self:
        """A copy with `changes` applied and checked as a document would be (leniently, as flags are)."""
        return parse(type(self), {**self.model_dump(), **changes}, source=type(self).__name__, strict=False)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON/YAML values (tuples as lists), every field written out."""
        return self.model_dump(mode="json")


S = TypeVar("S", bound=BaseModel)


def parse(model: type[S], doc: Any, *, source: str, strict: bool = True, context: Any = None) -> S:
    """`doc` (a mapping, usually read from YAML) as `model`, checked; raises `SettingsError` naming `source`,
    each bad value's path and what was expected. `strict` reads `doc` as JSON strictly (text is no number, a
    number no boolean); `context` reaches the model's validators (e.g. the folder relative paths are read from)."""
    if doc is None:
        doc = {}
    try:
        if strict:  # as JSON: YAML's dates and lists read as the fields' dates, paths and tuples, still strictly
            text = pydantic_core.to_json(doc, inf_nan_mode="constants", serialize_unknown=True)
            return model.model_validate_json(text, strict=True, context=context)
        return model.model_validate(doc, context=context)
    except ValidationError as exc:
        raise SettingsError(f"{source}: {describe_errors(model, exc)}") from None


def load_yaml(model: type[S], path: str | Path, *, context: Any = None) -> S:
    """The YAML file at `path` as `model`; a missing file, bad YAML or a bad value is one `SettingsError`."""
    path = Path(path)
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except FileNotFoundError:
        raise SettingsError(f"{path}: no such file (expected a YAML file of {model.__name__} settings)") from None
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if doc is not None and not isinstance(doc, Mapping):
        raise SettingsError(f"{path}: a {type(doc).__name__} at the top, expected a mapping of settings")
    return parse(model, doc, source=str(path), context=context)


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, but a date that does not exist (`2016-13-45`) stays text, so that the field that reads it
    names it (YAML's own error says only "month must be in 1..12")."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of `model`'s documents (what a YAML file of it may hold), with every field's description."""
    return model.model_json_schema(mode="validation")


def describe_errors(model: type[BaseModel], exc: ValidationError) -> str:
    """Every error of `exc` as `path: value, expected ...`, one per bad value, joined with '; '."""
    grouped: dict[tuple[str | int, ...], tuple[Any, list[ErrorDetails]]] = {}
    for error in exc.errors(include_url=False):
        path, at = _field_path(model, error["loc"])
        grouped.setdefault(path, (at, []))[1].append(error)
    return "; ".join(_describe(path, at, errors) for path, (at, errors) in grouped.items())


def _describe(path: tuple[str | int, ...], at: Any, errors: list[ErrorDetails]) -> str:
    where = _dotted(path)
    first = errors[0]
    if first["type"] == "extra_forbidden":
        return f"{where}: {unknown_key(str(path[-1]), list(_model_fields(at) or ()))}"
    if first["type"] == "missing":
        return f"{where}: missing"
    expected = " or ".join(dict.fromkeys(_expected(error) for error in errors))
    if first["type"] in ("value_error", "assertion_error") and len(errors) == 1:
        return f"{where}: {expected}" if where else expected
    return f"{where or 'the document'}: {_shown(first['input'])}, expected {expected}"


def invalid(path: str, message: str) -> ValidationError:
    """The error a validator raises for the value at `path` below the one it checks (`params.hiden`), in its own
    words: it reads `<the checked value's path>.<path>: <message>`."""
    loc = tuple(int(part) if part.isdigit() else part for part in path.split("."))
    error = PydanticCustomError("value_error", "{message}", {"message": message})
    return ValidationError.from_exception_data("Settings", [{"type": error, "loc": loc, "input": None}])


def unknown_key(key: str, valid: typing.Sequence[str]) -> str:
    """What an unknown key is told: `unknown key (did you mean 'x'? expected one of ...)`."""
    close = difflib.get_close_matches(key.replace("-", "_"), valid, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key ({hint}expected one of {', '.join(valid)})"


def _expected(error: Mapping[str, Any]) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if kind in bounds:
        bound = next(iter(ctx.values()))
        return f"{bounds[kind]} {bound:g}" if isinstance(bound, float) else f"{bounds[kind]} {bound}"
    simple = {
        "int_type": "an integer",
        "int_parsing": "an integer",
        "int_from_float": "an integer",
        "float_type": "a number",
        "float_parsing": "a number",
        "bool_type": "true or false",
        "bool_parsing": "true or false",
        "string_type": "text",
        "list_type": "a list",
        "tuple_type": "a list",
        "dict_type": "a mapping",
        "model_type": "a mapping of settings",
        "model_attributes_type": "a mapping of settings",
        "finite_number": "a finite number",
        "date_type": "a date such as 2010-01-04",
        "date_parsing": "a date such as 2010-01-04",
        "datetime_type": "a date or time such as 2010-01-04 09:30",
        "datetime_parsing": "a date or time such as 2010-01-04 09:30",
        "none_required": "nothing (null)",
    }
    if kind in simple:
        return simple[kind]
    if kind == "literal_error":
        choices = str(ctx.get("expected", ""))
        return f"one of {choices.replace(' or ', ', ')}" if " or " in choices else choices
    if kind in ("too_short", "too_long", "string_too_short", "string_too_long"):
        bound = ctx.get("min_length", ctx.get("max_length"))
        what, unit = ("text", "character") if kind.startswith("string") else ("a list", "item")
        return f"{what} of at {'least' if 'short' in kind else 'most'} {bound} {unit}{'s' * (bound != 1)}"
    if kind in ("value_error", "assertion_error"):
        return str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return str(error["msg"]).replace("Input should be", "").strip() or kind


def _field_path(model: type[BaseModel], loc: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], Any]:
    """The part of a pydantic error location that names keys and list positions (not union members' tags), and
    the type at its end (for an unknown key, the settings class it is no field of)."""
    path: list[str | int] = []
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            current = _item_type(current)
        elif (fields := _model_fields(current)) is not None:
            name = part.replace("-", "_")
            if name not in fields:  # an unknown key: the last part worth naming
                path.append(part)
                break
            current = fields[name].annotation
        elif (value := _value_type(current)) is not None:
            current = value
        else:  # a union member's tag
            break
        path.append(part)
    return tuple(path), current


def _model_fields(tp: Any) -> dict[str, Any] | None:
    for candidate in _members(tp):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate.model_fields
    return None


def _members(tp: Any) -> tuple[Any, ...]:
    """A type and, for a union or an Optional, its members."""
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Union or type(tp).__name__ == "UnionType":
        return args
    return (tp,)


def _item_type(tp: Any) -> Any:
    for member in _members(tp):
        args = typing.get_args(member)
        if typing.get_origin(member) in (list, tuple, typing.Sequence) and args:
            return args[0]
        if _model_fields(member) is not None:
            return member
    return None


def _value_type(tp: Any) -> Any:
    """The value type of a mapping type (or of a union's mapping member); None for no mapping."""
    for member in _members(tp):
        if typing.get_origin(member) in (dict, Mapping):
            return typing.get_args(member)[1]
    return None


def _dotted(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
