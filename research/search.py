"""The `search:` section of an experiment file, typed: the space `signalstack tune` explores.

Importing this module loads nothing heavy: the command line reads its defaults from here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema, field_validator, model_serializer, model_validator

from signalstack.core.settings import Settings, invalid, unknown_key

TRIALS = 20
"""Trials of a study when neither the file nor `--trials` says."""

OUT = "tune"
"""The folder `signalstack tune` writes its study, table, plots and best.yaml in."""

TOP_LEVEL = ("window",)
TRAIN = ("epochs", "batch_size", "lr", "optimizer", "weight_decay", "patience", "clip_norm")
"""The searchable names outside model.params (device and seed are not hyperparameters)."""

_INTS = {"window": 1, "epochs": 1, "batch_size": 1, "patience": 1}
_POSITIVE = ("lr", "clip_norm")
_WRITTEN = "expected [low, high], [low, high, log], a list of choices or {choices: [...]}"


class Param(Settings):
    """One searched name: a range (low, high, on a log scale or not, of integers when both bounds are) or choices.

    Written `[low, high]`, `[low, high, log]`, a list of choices (`[adam, sgd]`), or `{choices: [32, 64]}` for two
    numbers, which would read as a range."""

    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[bool | int | float | str | None, ...] | None = None

    @model_validator(mode="before")
    @classmethod
    def _written(cls, spec: Any) -> Any:
        """The fields of the written forms."""
        if isinstance(spec, Mapping):
            if set(spec) != {"choices"}:
                raise ValueError(f"{dict(spec)!r}, {_WRITTEN}")
            spec = spec["choices"]
            if not isinstance(spec, list | tuple) or not spec:
                raise ValueError(f"{{'choices': {spec!r}}}, expected a non-empty list of choices")
            return {"choices": tuple(spec)}
        if not isinstance(spec, list | tuple) or not spec:
            raise ValueError(f"{spec!r}, {_WRITTEN}")
        if not (len(spec) in (2, 3) and all(_is_number(v) for v in spec[:2]) and (len(spec) == 2 or spec[2] == "log")):
            return {"choices": tuple(spec)}
        low, high, log = spec[0], spec[1], len(spec) == 3
        if not low < high:
            raise ValueError(f"{list(spec)!r}, expected low < high")
        if log and low <= 0:
            raise ValueError(f"{list(spec)!r}, expected low > 0 on a log scale")
        integer = isinstance(low, int) and isinstance(high, int)
        return {
            "low": low if integer else float(low),
            "high": high if integer else float(high),
            "log": log,
            "integer": integer,
        }

    @field_validator("choices")
    @classmethod
    def _distinct(cls, choices: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
        if choices is not None and len(set(map(repr, choices))) != len(choices):
            raise ValueError(f"{list(choices)!r}, expected distinct choices")
        return choices

    @model_serializer
    def _plain(self) -> Any:
        """The form it is written in, so that a written search reads back the same."""
        if self.choices is not None:
            values = list(self.choices)
            numbers = all(_is_number(v) for v in values)
            return {"choices": values} if len(values) == 2 and numbers else values
        return [self.low, self.high, "log"] if self.log else [self.low, self.high]

    @property
    def values(self) -> tuple[Any, ...]:
        """The bounds of a range or every choice: what the value checks look at."""
        return self.choices if self.choices is not None else (self.low, self.high)


_PARAM_SCHEMA = {
    "anyOf": [
        {"type": "array", "minItems": 1},
        {
            "type": "object",
            "properties": {"choices": {"type": "array", "minItems": 1}},
            "required": ["choices"],
            "additionalProperties": False,
        },
    ],
    "description": "[low, high], [low, high, log] (on a log scale), a list of choices, or "
    "{choices: [a, b]} for two numbers",
}


class Search(Settings):
    """The `search:` section: the space `signalstack tune` explores (`signalstack run` ignores it)."""

    trials: int = Field(TRIALS, ge=1)
    """The study's total number of trials (`--trials` overrides)."""
    folds: int = Field(1, ge=1)
    """The first K walk-forward folds whose validation tails make the objective."""
    seed: int = Field(0, ge=0)
    """The sampler's seed."""
    pruner: Literal["median", "none"] = "median"
    """median: Optuna's MedianPruner on per-epoch validation loss (on Ray, Ray Tune's ASHA scheduler on the same
    reports); none: every trial runs to its end."""
    startup: int = Field(5, ge=0)
    """Trials that finish before the pruner prunes any."""
    params: dict[str, Annotated[Param, WithJsonSchema(_PARAM_SCHEMA)]]
    """Name: [low, high] | [low, high, log] | [a, b, c, ...] | {choices: [a, b]}. A name is `window`, a `train` key
    (epochs, batch_size, lr, optimizer, weight_decay, patience, clip_norm) or one of the zoo model's parameters; a
    single number for a per-layer parameter (`hidden`) sets every layer to it, keeping the layer count."""

    @field_validator("params")
    @classmethod
    def _some(cls, params: dict[str, Param]) -> dict[str, Param]:
        if not params:
            raise ValueError("{}, expected a mapping of names to [low, high], [low, high, log] or a list of choices")
        return params

    @model_validator(mode="after")
    def _values(self) -> Search:
        """The values a searched train or top-level key can take are values that key accepts."""
        for name, param in self.params.items():
            values = list(param.values)
            if name in _INTS:
                if param.choices is None and not param.integer:
                    raise invalid(f"params.{name}", f"{values!r}, expected integer bounds")
                if not all(isinstance(v, int) and not isinstance(v, bool) and v >= _INTS[name] for v in values):
                    raise invalid(f"params.{name}", f"{values!r}, expected integers >= {_INTS[name]}")
            elif name == "optimizer" and (param.choices is None or not set(values) <= {"adam", "sgd"}):
                raise invalid(f"params.{name}", f"{values!r}, expected choices among adam, sgd")
            elif name in (*_POSITIVE, "weight_decay") and not all(
                _is_number(v) and math.isfinite(v) and (v > 0 or (name == "weight_decay" and v == 0)) for v in values
            ):
                raise invalid(
                    f"params.{name}",
                    f"{values!r}, expected numbers > 0" + (" (or 0)" if name == "weight_decay" else ""),
                )
        return self

    def check_names(self, model_params: tuple[str, ...]) -> None:
        """Every searched name is window, a train key or one of `model_params` (the zoo model's)."""
        valid = TOP_LEVEL + TRAIN + tuple(n for n in model_params if n not in TOP_LEVEL + TRAIN)
        for name in self.params:
            if name not in valid:
                raise ValueError(f"search.params.{name}: {unknown_key(name, valid)}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
