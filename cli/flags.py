"""Flags made from typed settings: a setting is declared once (a field of a `Settings` class) and its flag,
help text and default follow from it.

`add_flags` adds `--field-name` for each field, with the field's docstring as help and its default shown
(argparse itself keeps no default, so that `given` can tell a flag on the command line from one left out:
flags override a settings file, and a file overrides the field's default). `settings_from` builds the
settings from the flags given and a document (a file's) underneath.
"""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from signalstack.core.settings import parse

S = TypeVar("S", bound=BaseModel)


def add_flags(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    model: type[BaseModel],
    *,
    only: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    metavars: Mapping[str, str] | None = None,
) -> None:
    """A flag for each of `model`'s fields (`only` these, less `skip`), helped and defaulted by the field."""
    skipped = set(skip)
    names = list(only) if only is not None else [name for name in model.model_fields if name not in skipped]
    for name in names:
        field = model.model_fields[name]
        kwargs: dict[str, Any] = {
            "default": argparse.SUPPRESS,
            "dest": name,
            "help": _help(field.description, field.default, field.is_required()),
        }
        inner = _optional_inner(field.annotation)
        if typing.get_origin(inner) in (list, tuple):  # a flag given once per item
            kwargs["action"] = "append"
            inner = typing.get_args(inner)[0]
        metavar = (metavars or {}).get(name, _metavar(inner))
        if inner is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(inner) is Literal:
            kwargs["choices"] = typing.get_args(inner)
        else:
            kwargs["type"] = _converter(inner)
            if metavar is not None:
                kwargs["metavar"] = metavar
        parser.add_argument("--" + name.replace("_", "-"), **kwargs)


def given(args: argparse.Namespace, model: type[BaseModel]) -> dict[str, Any]:
    """The values of `model`'s flags that were given on the command line."""
    return {name: getattr(args, name) for name in model.model_fields if hasattr(args, name)}


def settings_from(
    model: type[S], args: argparse.Namespace, base: Mapping[str, Any] | None = None, *, source: str = "flags"
) -> S:
    """`model` from `base` (a settings file's mapping, or nothing) with the flags given on top."""
    return parse(model, {**(base or {}), **given(args, model)}, source=source, strict=False)


def _help(description: str | None, default: Any, required: bool) -> str:
    text = " ".join((description or "").split())
    if required or default is None or isinstance(default, bool | tuple | list) and not default:
        return text
    shown = f"{default:g}" if isinstance(default, float) else str(default)
    return f"{text} (default {shown})" if text else f"default {shown}"


def _optional_inner(annotation: Any) -> Any:
    """`X` of `X | None`; the annotation itself otherwise."""
    args = typing.get_args(annotation)
    if (typing.get_origin(annotation) in (typing.Union, types.UnionType)) and type(None) in args:
        rest = tuple(a for a in args if a is not type(None))
        return rest[0] if len(rest) == 1 else typing.Union[rest]  # noqa: UP007 - built from a tuple
    return annotation


def _converter(tp: Any) -> Any:
    """argparse's `type`: int, float and Path convert; a union (e.g. bars or 'horizon') stays text for the
    settings to read leniently."""
    return tp if tp in (int, float, Path) else str


def _metavar(tp: Any) -> str | None:
    return "FILE" if tp is Path else "N" if tp is int else None
