"""Reading an experiment file: typed by `settings.ExperimentFile` (each key documented there), then checked against
the layout its model reads (`layouts.layout_of`): every mistake is one line naming the file, the key and what was
expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from signalstack.core.errors import SettingsError
from signalstack.core.settings import load_yaml, parse

from .layouts import layout_of
from .settings import ExperimentFile


def load_experiment(path: str | Path) -> ExperimentFile:
    """The YAML experiment file at `path`; relative paths in it are read from its folder."""
    path = Path(path)
    return _checked(load_yaml(ExperimentFile, path, context=path.resolve().parent), str(path))


def parse_experiment(doc: Any, base: str | Path = ".", source: str = "experiment") -> ExperimentFile:
    """An experiment from a parsed YAML document; `base` is the folder relative paths are read from."""
    return _checked(parse(ExperimentFile, doc, source=source, context=Path(base)), source)


def _checked(experiment: ExperimentFile, source: str) -> ExperimentFile:
    try:
        layout_of(experiment)
    except SettingsError as exc:
        raise SettingsError(f"{source}: {exc}") from None
    return experiment
