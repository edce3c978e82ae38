"""Runs side by side: what differs in their experiment files, their headline metrics, and whether a difference
between two runs is more than the spread of their fold results.

Each run is a folder `signalstack run` wrote: its experiment.yaml (the resolved experiment) and metrics.json
are read back, nothing is rerun. The experiment files are lined up key by key (`train.lr`), with the data
fingerprints metrics.json records, so that a change of data shows beside a change of settings. Every run
after the first is compared with the first, metric by metric, on its fold results (metrics.json's `folds`, one
row per fold x seed):

- when both runs tested the same folds (the same test periods), a paired t-test across the folds, each fold's
  value being its mean over the run's seeds: the folds' common market periods cancel out of the difference;
- else Welch's t-test (unpaired, unequal variances) on all their fold x seed values.

A difference is "more than the spread" when the test's two-sided p-value is at most `metrics.SIGNIFICANCE`.
A fold whose value is undefined (null in metrics.json) in either run is left out of the test, and the test's n
says how many went in. `format_comparison` gives the terminal's text, `write_html` a static page (inline style,
no script, nothing fetched) that opens with no network.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy import stats

from signalstack.core.errors import InvalidInput, SignalstackError

from .metrics import SIGNIFICANCE
from .summary import HEADLINE

ABSENT = "(absent)"
"""How a key that one experiment file does not have is shown."""


class NotARun(SignalstackError, ValueError):
    """A folder that is not a run's folder (no metrics.json or experiment.yaml)."""


@dataclass(frozen=True)
class Run:
    """A run's folder, read back."""

    path: Path
    experiment: dict[str, Any]
    """experiment.yaml's document."""
    metrics: dict[str, Any]
    """metrics.json's content (null as None)."""

    @property
    def name(self) -> str:
        return self.path.name

    def fold_values(self, metric: str) -> dict[tuple[str, str], list[float]]:
        """The metric's finite values by fold, the fold known by its test period: one value per seed."""
        values: dict[tuple[str, str], list[float]] = {}
        for row in self.metrics.get("folds", []):
            value = row.get(metric)
            if _finite(value):
                values.setdefault(tuple(row["test"]), []).append(float(value))
        return values

    def folds(self) -> set[tuple[str, str]]:
        """The test periods of the run's folds."""
        return {tuple(row["test"]) for row in self.metrics.get("folds", [])}


@dataclass(frozen=True)
class Difference:
    """One metric of a run against the same metric of the first run."""

    metric: str
    run: str
    reference: str
    delta: float
    """The run's mean less the reference's (NaN when either has no value)."""
    test: str
    """Which test, over what: `paired t-test over 5 folds` or `Welch's t-test over 10 and 6 fold results`; or why
    none ran."""
    p_value: float
    """Two-sided; NaN when no test ran."""

    @property
    def beyond_spread(self) -> bool:
        return bool(self.p_value <= SIGNIFICANCE)


@dataclass(frozen=True)
class Comparison:
    runs: list[Run]
    differing: dict[str, list[str]]
    """Each experiment key whose value is not the same in every run, with its value in each (as text)."""
    same: int
    """How many keys have one value in every run."""
    metrics: list[str]
    """The headline metrics that at least one run has."""
    differences: list[Difference]


def read_run(path: str | Path) -> Run:
    """The run folder at `path`; NotARun when it lacks metrics.json or experiment.yaml."""
    path = Path(path)
    for name in ("metrics.json", "experiment.yaml"):
        if not (path / name).is_file():
            raise NotARun(f"{path}: no {name}, expected a run folder that `signalstack run` wrote")
    return Run(
        path, yaml.safe_load((path / "experiment.yaml").read_text()), json.loads((path / "metrics.json").read_text())
    )


def compare(paths: Sequence[str | Path]) -> Comparison:
    """The runs at `paths` side by side, each after the first compared with the first."""
    if len(paths) < 2:
        raise InvalidInput(f"{len(paths)} run folder(s), expected at least 2 to compare")
    runs = [read_run(p) for p in paths]
    documents = [{**flatten(run.experiment), **fingerprints(run.metrics)} for run in runs]
    keys = list(dict.fromkeys(key for document in documents for key in document))
    differing, same = {}, 0
    for key in keys:
        values = [shown(document[key]) if key in document else ABSENT for document in documents]
        if len(set(values)) > 1:
            differing[key] = values
        else:
            same += 1
    metrics = [m for m in HEADLINE if any(m in run.metrics.get("model", {}) for run in runs)]
    differences = [difference(runs[0], run, m) for run in runs[1:] for m in metrics]
    return Comparison(runs, differing, same, metrics, differences)


def difference(reference: Run, run: Run, metric: str) -> Difference:
    """`run`'s `metric` against `reference`'s: paired across their folds when they tested the same ones."""
    mine, theirs = run.fold_values(metric), reference.fold_values(metric)
    delta = _mean(run, metric) - _mean(reference, metric)
    if run.folds() == reference.folds():
        common = sorted(set(mine) & set(theirs))
        if len(common) < 2:
            return Difference(
                metric,
                run.name,
                reference.name,
                delta,
                f"paired: {len(common)} fold(s) with a value in both, expected 2",
                math.nan,
            )
        a = np.array([np.mean(theirs[f]) for f in common])
        b = np.array([np.mean(mine[f]) for f in common])
        return Difference(
            metric,
            run.name,
            reference.name,
            delta,
            f"paired t-test over {len(common)} folds",
            _p_value(stats.ttest_rel(b, a).pvalue, same=bool(np.allclose(b, a))),
        )
    a = [v for values in theirs.values() for v in values]
    b = [v for values in mine.values() for v in values]
    if min(len(a), len(b)) < 2:
        return Difference(
            metric,
            run.name,
            reference.name,
            delta,
            f"unpaired: {len(b)} and {len(a)} fold results, expected 2 each",
            math.nan,
        )
    test = f"Welch's t-test over {len(b)} and {len(a)} fold results (the folds differ)"
    return Difference(
        metric,
        run.name,
        reference.name,
        delta,
        test,
        _p_value(
            stats.ttest_ind(b, a, equal_var=False).pvalue,
            same=len(a) == len(b) and bool(np.allclose(sorted(a), sorted(b))),
        ),
    )


def _p_value(p_value: float, *, same: bool) -> float:
    """The test's p-value, but 1 when the values compared are the `same` up to rounding (where the test would read
    rounding errors as a difference, or be undefined), and 0 where it is undefined for values that differ with no
    spread at all (a difference with no spread is more than its spread)."""
    if same:
        return 1.0
    return float(p_value) if math.isfinite(p_value) else 0.0


def _mean(run: Run, metric: str) -> float:
    value = run.metrics.get("model", {}).get(metric, {}).get("mean")
    return float(value) if _finite(value) else math.nan


def flatten(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level of dotted keys (`train.lr`, `model.params.hidden`); other values as they are."""
    flat: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def fingerprints(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The data fingerprints in metrics.json's run section (its `data_digest`, flattened), as
    `run.data_digest.<bars|fundamentals>`: the data a run read, beside its experiment file's keys."""
    return {
        f"run.{key}": value
        for key, value in flatten(metrics.get("run", {})).items()
        if key.split(".")[0] == "data_digest"
    }


def shown(value: Any) -> str:
    """Text as it is; any other value as JSON (numbers, true, null, lists)."""
    return value if isinstance(value, str) else json.dumps(value)


def summary_cell(run: Run, metric: str) -> str:
    """`mean ± std (n)` of the run's metric, then its surrogate percentile when it had surrogates."""
    found = run.metrics.get("model", {}).get(metric)
    if found is None:
        return "-"
    text = f"{_number(found.get('mean'))} ± {_number(found.get('std'))} ({found.get('n', '-')})"
    surrogate = run.metrics.get("surrogates", {}).get(metric)
    if surrogate:
        text += f", pct {_number(surrogate.get('percentile'), '{:.0f}')}"
    return text


def verdict_cell(found: Difference) -> str:
    if not math.isfinite(found.p_value):
        return "untested"
    word = "yes" if found.beyond_spread else "no"
    sign = "<=" if found.beyond_spread else ">"
    return f"{word} (p = {found.p_value:.3f} {sign} {SIGNIFICANCE})"


def tables(comparison: Comparison) -> dict[str, tuple[list[str], list[list[str]]]]:
    """The comparison as titled tables of text (header, rows): what both the terminal and the page show."""
    runs = comparison.runs
    letters = [_letter(i) for i in range(len(runs))]
    out: dict[str, tuple[list[str], list[list[str]]]] = {}
    out["runs"] = (
        ["run", "folder", "model", "data", "folds", "seeds", "surrogates"],
        [
            [letter, str(run.path), *(_shown_run(run, k) for k in ("model", "data", "folds", "seeds", "surrogates"))]
            for letter, run in zip(letters, runs)
        ],
    )
    out["experiment"] = (["key", *letters], [[key, *values] for key, values in comparison.differing.items()])
    out["metrics"] = (["metric", *letters], [[m, *(summary_cell(run, m) for run in runs)] for m in comparison.metrics])
    letter_of = {run.name: letter for run, letter in zip(runs, letters)}
    out["differences"] = (
        ["metric", "runs", "difference", "test", "more than the spread"],
        [
            [d.metric, f"{letter_of[d.run]} - A", _number(d.delta, "{:+.4f}"), d.test, verdict_cell(d)]
            for d in comparison.differences
        ],
    )
    return out


TITLES = {
    "runs": "Runs",
    "experiment": "What differs in the experiment files",
    "metrics": "Headline metrics: mean ± std (n) over folds x seeds, surrogate percentile",
    "differences": "Differences against run A: more than the spread of the fold results?",
}


def format_comparison(comparison: Comparison) -> str:
    """The comparison as the terminal shows it: the four tables, aligned."""
    parts = []
    for name, (header, rows) in tables(comparison).items():
        parts.append(TITLES[name])
        if name == "experiment" and not rows:
            parts.append(f"  nothing: the {comparison.same} keys are the same in every run")
        else:
            parts.append(_aligned([header, *rows]))
            if name == "experiment":
                parts.append(f"  ({comparison.same} other keys are the same in every run)")
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def write_html(comparison: Comparison, path: str | Path) -> Path:
    """The comparison as one static HTML page at `path` (inline style, no script, nothing fetched)."""
    path = Path(path)
    sections = []
    for name, (header, rows) in tables(comparison).items():
        body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
        head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
        note = ""
        if name == "experiment":
            note = f"<p>{comparison.same} other keys are the same in every run.</p>"
        sections.append(
            f'<h2>{html.escape(TITLES[name])}</h2>\n<table id="{name}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>{note}"
        )
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>signalstack compare: '
        f"{html.escape(', '.join(run.name for run in comparison.runs))}</title><style>{_STYLE}</style></head>"
        f"<body><h1>signalstack compare</h1>\n{chr(10).join(sections)}\n</body></html>\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0}"
    "th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;font-variant-numeric:tabular-nums}"
    "th{background:#f2f2f2}h2{font-size:1.1em;margin-top:1.6em}"
)


def _letter(index: int) -> str:
    return chr(ord("A") + index) if index < 26 else f"R{index + 1}"


def _shown_run(run: Run, key: str) -> str:
    value = run.metrics.get("run", {}).get(key)
    return "-" if value is None else shown(value)


def _aligned(rows: Iterable[list[str]]) -> str:
    rows = list(rows)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def _number(value: Any, fmt: str = "{:.4f}") -> str:
    return fmt.format(value) if _finite(value) else "-"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
