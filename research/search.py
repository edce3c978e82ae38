"""The `search:` section of an experiment file: the space `signalstack tune` explores, parsed and checked.

    search:
      trials: 20          the study's total number of trials (`--trials` overrides)
      folds: 1            the first K walk-forward folds whose validation tails make the objective
      seed: 0             the sampler's seed
      pruner: median      median (Optuna's MedianPruner on per-epoch validation loss; on Ray, Ray Tune's ASHA
                          scheduler on the same reports) | none
      startup: 5          trials that finish before the pruner prunes any
      params:             name: [low, high] | [low, high, log] | [a, b, c, ...] | {choices: [a, b]}
        window: [20, 120]
        hidden: [16, 256, log]
        dropout: [0.0, 0.5]
        lr: [0.0001, 0.01, log]
        optimizer: [adam, sgd]
        batch_size: [32, 64, 128]

Two numbers are a range (of integers when both are integers), a third item `log` samples it on a
log scale; any other list is a set of choices (`{choices: [32, 64]}` for two numbers). A name is
`window` (the top-level key), a `train` key (`epochs, batch_size, lr, optimizer, weight_decay,
patience, clip_norm`) or one of the zoo model's parameters (`model.params`); a single number for
a per-layer parameter (`hidden`) sets every layer to it, keeping the layer count.

Importing this module loads nothing heavy: the command line reads its defaults from here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TRIALS = 20
"""Trials of a study when neither the file nor `--trials` says."""

OUT = "tune"
"""The folder `signalstack tune` writes its study, table, plots and best.yaml in."""

PRUNERS = ("median", "none")

SEARCH_KEYS = ("trials", "folds", "seed", "pruner", "startup", "params")

TOP_LEVEL = ("window",)
TRAIN = ("epochs", "batch_size", "lr", "optimizer", "weight_decay", "patience", "clip_norm")
"""The searchable names outside model.params (device and seed are not hyperparameters)."""

_INTS = {"window": 1, "epochs": 1, "batch_size": 1, "patience": 1}
_POSITIVE = ("lr", "clip_norm")


@dataclass(frozen=True)
class Param:
    """One searched name: a range (low, high, log, integer) or choices."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] | None = None

    def to_plain(self) -> Any:
        if self.choices is not None:
            values = list(self.choices)
            numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
            return {"choices": values} if len(values) == 2 and numbers else values
        return [self.low, self.high, "log"] if self.log else [self.low, self.high]

    @property
    def values(self) -> tuple[Any, ...]:
        """The bounds of a range or every choice: what the value checks look at."""
        return self.choices if self.choices is not None else (self.low, self.high)


@dataclass(frozen=True)
class Search:
    params: tuple[Param, ...]
    trials: int = TRIALS
    folds: int = 1
    seed: int = 0
    pruner: str = "median"
    startup: int = 5

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def to_dict(self) -> dict[str, Any]:
        return {"trials": self.trials, "folds": self.folds, "seed": self.seed, "pruner": self.pruner,
                "startup": self.startup, "params": {p.name: p.to_plain() for p in self.params}}


def parse_search(value: Any, model_params: tuple[str, ...]) -> Search:
    """A Search from the `search:` mapping; `model_params` are the model's searchable parameter names.

    Raises ValueError with a message that starts with the key at fault (`search.params.lr: ...`).
    """
    if not isinstance(value, Mapping):
        raise ValueError(  # noqa: TRY004 - parse errors are ValueErrors, turned into ExperimentError
            f"search: {value!r}, expected a mapping with params: {{NAME: [low, high], ...}}")
    for key in value:
        if key not in SEARCH_KEYS:
            raise ValueError(f"search.{key}: unknown key (expected one of {', '.join(SEARCH_KEYS)})")
    params = value.get("params")
    if not isinstance(params, Mapping) or not params:
        raise ValueError(f"search.params: {params!r}, expected a mapping of names to [low, high], "
                         "[low, high, log] or a list of choices")
    valid = TOP_LEVEL + TRAIN + tuple(n for n in model_params if n not in TOP_LEVEL + TRAIN)
    parsed = []
    for name, spec in params.items():
        if name not in valid:
            raise ValueError(f"search.params.{name}: unknown key (expected one of {', '.join(valid)})")
        parsed.append(_param(str(name), spec))
    pruner = value.get("pruner", "median")
    if pruner not in PRUNERS:
        raise ValueError(f"search.pruner: {pruner!r}, expected one of {', '.join(PRUNERS)}")
    return Search(tuple(parsed), trials=_int(value.get("trials", TRIALS), "search.trials", 1),
                  folds=_int(value.get("folds", 1), "search.folds", 1),
                  seed=_int(value.get("seed", 0), "search.seed", 0),
                  pruner=pruner, startup=_int(value.get("startup", 5), "search.startup", 0))


def _param(name: str, spec: Any) -> Param:
    where = f"search.params.{name}"
    expected = "expected [low, high], [low, high, log], a list of choices or {choices: [...]}"
    if isinstance(spec, Mapping):
        if set(spec) != {"choices"}:
            raise ValueError(f"{where}: {dict(spec)!r}, {expected}")
        spec = spec["choices"]
        if not isinstance(spec, list | tuple) or not spec:
            raise ValueError(f"{where}.choices: {spec!r}, expected a non-empty list")
        param = Param(name, choices=tuple(spec))
    elif not isinstance(spec, list | tuple) or not spec:
        raise ValueError(f"{where}: {spec!r}, {expected}")
    elif len(spec) in (2, 3) and all(_is_number(v) for v in spec[:2]) and (len(spec) == 2 or spec[2] == "log"):
        low, high, log = spec[0], spec[1], len(spec) == 3
        if not low < high:
            raise ValueError(f"{where}: {list(spec)!r}, expected low < high")
        if log and low <= 0:
            raise ValueError(f"{where}: {list(spec)!r}, expected low > 0 on a log scale")
        integer = isinstance(low, int) and isinstance(high, int)
        param = Param(name, low=low if integer else float(low), high=high if integer else float(high), log=log,
                      integer=integer)
    else:
        param = Param(name, choices=tuple(spec))
    if param.choices is not None:
        for v in param.choices:
            if not (v is None or isinstance(v, bool | int | float | str)):
                raise ValueError(f"{where}: choice {v!r}, expected numbers, text, true/false or null")
        if len(set(map(repr, param.choices))) != len(param.choices):
            raise ValueError(f"{where}: {list(param.choices)!r}, expected distinct choices")
    _check_values(param, where)
    return param


def _check_values(param: Param, where: str) -> None:
    """The values a searched train or top-level key can take are values that key accepts."""
    name, values = param.name, param.values
    if name in _INTS:
        if param.choices is None and not param.integer:
            raise ValueError(f"{where}: {list(values)!r}, expected integer bounds")
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= _INTS[name] for v in values):
            raise ValueError(f"{where}: {list(values)!r}, expected integers >= {_INTS[name]}")
    elif name == "optimizer":
        if param.choices is None or not set(values) <= {"adam", "sgd"}:
            raise ValueError(f"{where}: {list(values)!r}, expected choices among adam, sgd")
    elif (name in _POSITIVE or name == "weight_decay") and not all(
            _is_number(v) and math.isfinite(v) and (v > 0 or (name == "weight_decay" and v == 0)) for v in values):
        raise ValueError(f"{where}: {list(values)!r}, expected numbers > 0" +
                         (" (or 0)" if name == "weight_decay" else ""))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{where}: {value!r}, expected an integer >= {minimum}")
    return value
