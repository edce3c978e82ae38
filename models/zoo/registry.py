"""The model registry: `@register_model` on a spec builder; `create_model` and `list_models` are the doors.

Every named architecture is a spec (see `spec.py`) written by a Python function of its sizes,
so named nets and nets declared in a file share one interpreter, one shape check and one
summary. `create_model` also takes the path of a .yaml/.yml/.json spec file.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signalstack.core.errors import NotFound, SettingsError

from .spec import SPEC_SUFFIXES, Spec, SpecError, SpecModel, build, is_spec_path, load_spec

Outputs = int | Mapping[str, int]
"""Units per output: an int for single-output nets, {output name: units} for multi-output ones."""

Builder = Callable[..., Spec]
"""builder(inputs={name: shape without batch}, n_outputs=units, **params) -> Spec.

The built module's forward takes one tensor per input, in spec order, and returns a tuple of
raw outputs (logits for classifiers, values for regressors); `SignalNet` adds scaling and heads.
"""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Builder
    summary: str
    inputs: Mapping[str, tuple[int, ...]]
    """The reference post's input shapes: the defaults of `summary` and the benchmark."""
    n_outputs: Outputs

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(self.inputs)

    @property
    def defaults(self) -> dict[str, Any]:
        """The builder's tunable parameters with their defaults."""
        return {
            p.name: p.default
            for p in inspect.signature(self.builder).parameters.values()
            if p.default is not inspect.Parameter.empty and p.kind is p.KEYWORD_ONLY
        }


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str, inputs: Mapping[str, tuple[int, ...]] | None = None, n_outputs: Outputs = 3
) -> Callable[[Builder], Builder]:
    """Register a spec builder under `name` with the post's input shapes (default one (60, 30) window).

    The builder's docstring's first line is the listing's summary.
    """

    def register(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice ({_REGISTRY[name].builder.__module__})")
        summary = (inspect.getdoc(builder) or "").splitlines()[0] if builder.__doc__ else ""
        _REGISTRY[name] = ModelEntry(name, builder, summary, dict(inputs or {"features": (60, 30)}), n_outputs)
        return builder

    return register


def get_entry(name: str) -> ModelEntry:
    if name not in _REGISTRY:
        raise NotFound(
            f"unknown model {name!r} (expected one of {', '.join(list_models())}, "
            f"or a {'/'.join(SPEC_SUFFIXES)} spec file)"
        )
    return _REGISTRY[name]


def model_spec(model: str | Path, inputs: Mapping[str, tuple[int, ...]], n_outputs: Outputs = 1, **params: Any) -> Spec:
    """The spec of a registered model for these input shapes, or of a spec file with its sizes filled in.

    A spec file fixes its own output sizes (`n_outputs` is not used for it; training checks
    them against the labels) and takes no parameters.
    """
    if is_spec_path(model):
        if params:
            raise SettingsError(f"spec file {model}: takes no parameters, got {sorted(params)}")
        return load_spec(model).with_shapes(inputs)
    entry = get_entry(str(model))
    if set(inputs) != set(entry.input_names):
        raise SettingsError(f"model {model!r} takes inputs {entry.input_names}, got {tuple(inputs)}")
    unknown = set(params) - set(entry.defaults)
    if unknown:
        raise SettingsError(
            f"model {model!r}: unknown parameter(s) {sorted(unknown)} (expected some of {sorted(entry.defaults)})"
        )
    shapes = {name: tuple(int(d) for d in inputs[name]) for name in entry.input_names}
    return entry.builder(inputs=shapes, n_outputs=n_outputs, **_as_declared(entry, params))


def _as_declared(entry: ModelEntry, params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` with a single number given for a per-layer tuple made a one-layer tuple (`--param hidden=32`)."""
    return {
        key: (value,) if isinstance(entry.defaults[key], tuple) and isinstance(value, int | float) else value
        for key, value in params.items()
    }


def create_model(
    model: str | Path, inputs: Mapping[str, tuple[int, ...]], n_outputs: Outputs = 1, **params: Any
) -> SpecModel:
    """Build the registered model (or spec file) `model` for the given input shapes (batch axis excluded)."""
    spec = model_spec(model, inputs, n_outputs, **params)
    try:
        return build(spec)
    except SpecError as exc:
        raise SpecError(f"model {model}: {exc}") from None


def list_models() -> list[str]:
    return sorted(_REGISTRY)
