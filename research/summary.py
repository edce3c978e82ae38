"""A run's numbers as text: the model beside its baselines and its surrogates, and a verdict in words.

What the terminal shows and summary.txt holds. The verdict is about chance, not about zero: a
skill metric is called distinguishable from chance only when the surrogate p-value is at most
`metrics.SIGNIFICANCE`, and the text says so plainly when it is not, or when too few surrogates
ran to tell.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .metrics import SIGNIFICANCE

HEADLINE = ("roc_auc", "ic", "rank_ic", "sharpe")
"""The metrics the verdict speaks about (those a run has)."""


def format_table(metrics: Mapping[str, Any]) -> str:
    """Metric by metric: the model's mean ± std (n) over folds x seeds, each baseline's mean (n) over folds, and
    the surrogate runs' mean ± std (n) with the real run's percentile and p-value among them; a count of values
    that were undefined, or of backtests that did not trade, follows its n."""
    baselines = list(metrics["baselines"])
    surrogates = metrics["surrogates"]
    header = ["metric", "model", *baselines] + (["surrogates", "pct", "p"] if surrogates else [])
    rows = [header]
    for name, summary in metrics["model"].items():
        row = [name, _cell(summary)]
        row += [_cell(metrics["baselines"][b].get(name), spread=False) for b in baselines]
        if surrogates:
            s = surrogates.get(name)
            row += (
                ["-", "-", "-"]
                if s is None
                else [_cell(s), _number(s["percentile"], "{:.0f}"), _number(s["p_value"], "{:.3f}")]
            )
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
        for row in rows
    )


def _cell(summary: Mapping[str, Any] | None, spread: bool = True) -> str:
    """`mean ± std (n)`, or `mean (n)`; `; k undefined` and `; k no trade` inside the brackets when there are."""
    if summary is None:
        return "-"
    counts = [str(summary["n"])] + [
        f"{summary[key]} {words}"
        for key, words in (("undefined", "undefined"), ("no_trade", "no trade"))
        if summary.get(key)
    ]
    value = f"{_number(summary['mean'])} ± {_number(summary['std'])}" if spread else _number(summary["mean"])
    return f"{value} ({'; '.join(counts)})"


def verdicts(metrics: Mapping[str, Any]) -> list[str]:
    """One line per headline metric: whether the real result stands out from the surrogates, in words."""
    run = metrics["run"]
    surrogates = metrics["surrogates"]
    if not surrogates:
        return ["no surrogates ran (surrogates.n: 0): whether this skill is more than chance is untested"]
    lines = []
    for name in HEADLINE:
        if name not in surrogates:
            continue
        s, real = surrogates[name], metrics["model"][name]
        compared = s["n"] - s["undefined"]
        among = f"{s['n']} {run['surrogate_kind']} surrogates" + (
            f", {s['undefined']} of them without a value" if s["undefined"] else ""
        )
        if not math.isfinite(real["mean"]):
            lines.append(f"{name}: not comparable (undefined in all {real['n']} folds x seeds of the run)")
        elif not compared:
            lines.append(
                f"{name} {_number(real['mean'])}: not comparable (none of the {s['n']} surrogates has a value)"
            )
        elif s["significant"]:
            lines.append(
                f"{name} {_number(real['mean'])}: above chance (percentile {s['percentile']:.0f} among "
                f"{among}, p = {s['p_value']:.3f} <= {SIGNIFICANCE})"
            )
        else:
            needed = round(1 / SIGNIFICANCE) - 1  # p >= 1 / (compared + 1)
            reach = (
                ""
                if compared >= needed
                else (f"; {compared} compared surrogates cannot give p <= {SIGNIFICANCE}: run at least {needed}")
            )
            lines.append(
                f"{name} {_number(real['mean'])}: INDISTINGUISHABLE FROM CHANCE (percentile "
                f"{s['percentile']:.0f} among {among}, p = {s['p_value']:.3f} > {SIGNIFICANCE}{reach})"
            )
    return lines


def summary_text(metrics: Mapping[str, Any], backtest: str) -> str:
    """summary.txt: what ran, the table, the verdicts, and the stitched out-of-sample backtest's report."""
    run = metrics["run"]
    folds = metrics["folds"]
    what = (
        f"run {run['id']}: {run['model']} on {run['data']}, {run['folds']} walk-forward folds x {run['seeds']} "
        f"seed(s), embargo {run['embargo']}, {run['surrogates']} surrogate series"
    )
    where = (
        f"out of sample: {folds[0]['test'][0][:10]} .. {folds[-1]['test'][1][:10]}; every number below is "
        "measured on test periods only; baselines are fitted per fold on training rows only"
    )
    lines = [what, where, "", format_table(metrics), "", *verdicts(metrics), "", backtest]
    return "\n".join(lines) + "\n"


def _number(value: Any, fmt: str = "{:.4f}") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return fmt.format(value)


def write_folds(metrics: Mapping[str, Any], path: Path) -> None:
    """`folds.csv`: a row per model and baseline fold of `metrics`, each [first, last] range as two columns."""
    table = pd.DataFrame([_fold_row(row) for row in [*metrics["folds"], *metrics["baseline_folds"]]])
    # Baselines have no seed nor epoch, and those that do not trade no fills: blank, not NaN floats.
    table = table.astype({key: "Int64" for key in ("seed", "best_epoch", "fills") if key in table})
    table.to_csv(path, index=False)


def _fold_row(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, list):
            out[f"{key}_start"], out[f"{key}_end"] = value
        else:
            out[key] = value
    return out
