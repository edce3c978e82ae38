"""The model registry: `@register_model` on a builder; `create_model` and `list_models` are the doors."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

Builder = Callable[..., nn.Module]
"""builder(inputs={name: shape without batch}, n_outputs=C, **params) -> nn.Module.

The module's forward takes one tensor per input, in `inputs` order, and returns raw outputs
(logits for classifiers, values for regressors); `SignalNet` adds scaling and the head.
"""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Builder
    summary: str
    input_names: tuple[str, ...]

    @property
    def defaults(self) -> dict[str, Any]:
        """The builder's tunable parameters with their defaults."""
        return {p.name: p.default for p in inspect.signature(self.builder).parameters.values()
                if p.default is not inspect.Parameter.empty and p.kind is p.KEYWORD_ONLY}


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, input_names: tuple[str, ...] = ("features",)) -> Callable[[Builder], Builder]:
    """Register a builder under `name`; its docstring's first line is the listing's summary."""
    def register(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice ({_REGISTRY[name].builder.__module__})")
        summary = (inspect.getdoc(builder) or "").splitlines()[0] if builder.__doc__ else ""
        _REGISTRY[name] = ModelEntry(name, builder, summary, input_names)
        return builder
    return register


def get_entry(name: str) -> ModelEntry:
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r} (expected one of {', '.join(list_models())})")
    return _REGISTRY[name]


def create_model(name: str, inputs: Mapping[str, tuple[int, ...]], n_outputs: int, **params: Any) -> nn.Module:
    """Build the registered model `name` for the given input shapes (batch axis excluded)."""
    entry = get_entry(name)
    if tuple(inputs) != entry.input_names:
        raise ValueError(f"model {name!r} takes inputs {entry.input_names}, got {tuple(inputs)}")
    unknown = set(params) - set(entry.defaults)
    if unknown:
        raise ValueError(f"model {name!r}: unknown parameter(s) {sorted(unknown)} "
                         f"(expected some of {sorted(entry.defaults)})")
    return entry.builder(inputs=dict(inputs), n_outputs=n_outputs, **params)


def list_models() -> list[str]:
    return sorted(_REGISTRY)
