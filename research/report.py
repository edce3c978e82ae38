"""report/index.html: a run's research on one static page that opens with no internet (styles inline, charts as
inline PNG images drawn by `charts.py`).

Top to bottom, the page shows:
- the run's verdict (`summary.verdicts`) in one paragraph;
- per metric, the model beside each baseline (mean, std, n over folds x seeds, the values that were undefined and
  the backtests that never traded), and a Wilcoxon signed-rank test of the model against the best baseline across
  folds (`paired_test`);
- the surrogate distribution of each headline metric, the model's value marked with its percentile and p-value;
- the layout's section (`LayoutReport`, from `Layout.write_report`): each seed's stitched out-of-sample predictions
  backtested alone beside buy-and-hold and the best fitted baseline (and the seeds' mean only when the experiment
  asks for an ensemble, labelled so), and the IC over time as the layout defines it per date;
- the calibration of p_up against the labels, per seed;
- per-seed and per-fold tables.

Every number is computed from the rows of each fold (metrics.json's "folds", "baseline_folds" and
"surrogate_runs") with the functions metrics.json's summaries come from, so that the page and the file agree.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from signalstack.plugin.charts import png_bytes
from signalstack.plugin.stats import reliability

from . import charts
from .metrics import LOWER_IS_BETTER, TRADING_METRICS, aggregate
from .settings import ExperimentFile
from .summary import HEADLINE, verdicts

INDEX = "index.html"
CURVE_STATS = ("total_return", "cagr", "sharpe", "max_drawdown", "exposure", "trades")
"""The statistics of a stitched backtest the page and stats.json show, beside its fills."""
BEST_BY = "sharpe"
"""The metric that picks the fitted baseline whose stitched backtest is drawn beside the model's."""


@dataclass(frozen=True)
class Results:
    """What a finished run hands its report."""

    experiment: ExperimentFile
    bars: Any
    """The bars the run read (one series, or {symbol: bars})."""
    metrics: Mapping[str, Any]
    """metrics.json's content: run, model, baselines, surrogates, folds, baseline_folds, surrogate_runs."""
    predictions: pd.DataFrame
    """The model's stitched out-of-sample predictions of every seed (predictions.csv)."""
    baseline_predictions: pd.DataFrame | None
    """The fitted baselines' test predictions of every fold, a `baseline` column naming each; None without any."""


@dataclass(frozen=True)
class Curve:
    """One stitched out-of-sample backtest: the account value at each close and its statistics."""

    name: str
    kind: str
    """charts.SEED, ENSEMBLE, BENCHMARK or BASELINE."""
    equity: pd.Series
    stats: dict[str, float]
    """`CURVE_STATS` and fills (orders filled)."""
    trades: pd.DataFrame | None = None
    fills: pd.DataFrame | None = None

    @classmethod
    def of(
        cls,
        name: str,
        kind: str,
        equity: pd.Series,
        stats: pd.Series,
        trades: pd.DataFrame | None = None,
        fills: pd.DataFrame | None = None,
    ) -> Curve:
        """A curve from a backtest's equity and `performance` stats (a benchmark has no trades nor fills)."""
        found = {key: float(stats.get(key, math.nan)) for key in CURVE_STATS}
        found["fills"] = float(len(fills)) if fills is not None else math.nan
        return cls(name, kind, equity.rename(name), found, trades, fills)


@dataclass(frozen=True)
class ICOverTime:
    """Each seed's information coefficient per date, as a layout defines it."""

    values: pd.DataFrame
    """Dates x seeds: what the chart draws."""
    summary: pd.DataFrame
    """Per seed (the index): `ic_statistics` of the values the ICIR is taken over."""
    definition: str
    """What an IC of a date is here, and what the ICIR is taken over, in words."""


@dataclass(frozen=True)
class LayoutReport:
    """A layout's section of the page: its stitched backtests and its IC over time."""

    title: str
    description: str
    """How the backtests were made, in words."""
    text: str
    """The backtests as text, for summary.txt."""
    curves: list[Curve]
    ic: ICOverTime
    notes: tuple[str, ...] = field(default=())
    """What the section could not show, and why."""


class Reporter(Protocol):
    """What `write_report` needs of a layout (`layouts.Layout`, which imports this module)."""

    def write_report(self, results: Results, folder: Path) -> LayoutReport: ...


def write_report(layout: Reporter, results: Results, folder: Path) -> str:
    """report/: the layout's files (`Layout.write_report`) and index.html; returns the backtests as text."""
    folder.mkdir(parents=True, exist_ok=True)
    section = layout.write_report(results, folder)
    (folder / INDEX).write_text(page(results, section), encoding="utf-8")
    return section.text


# ------------------------------------------------------------------------------------- what layouts use


def stitched_runs(results: Results) -> dict[str, tuple[str, pd.DataFrame]]:
    """The stitched predictions to backtest, {curve name: (kind, rows)}: each seed's own ("seed 0", ...); the
    seeds' mean when the experiment asks for an ensemble ("ensemble of 3 seeds"); the fitted baseline with the
    best mean `BEST_BY` ("baseline gbm"). Rows keep predictions.csv's columns (a panel's `symbol` among them)."""
    predictions = results.predictions
    runs = {f"seed {seed}": (charts.SEED, rows) for seed, rows in predictions.groupby("seed", sort=True)}
    if results.experiment.ensemble:
        keys = [predictions.index, *(["symbol"] if "symbol" in predictions else [])]
        mean = predictions.groupby(keys, sort=True).mean(numeric_only=True).drop(columns="seed")
        if "symbol" in predictions:
            mean = mean.reset_index("symbol")
        runs[f"ensemble of {results.experiment.seeds} seeds"] = (charts.ENSEMBLE, mean.rename_axis("time"))
    fitted = results.baseline_predictions
    best = None if fitted is None else best_baseline(results.metrics, BEST_BY, among=set(fitted["baseline"]))
    if best is not None:
        runs[f"baseline {best}"] = (charts.BASELINE, fitted.loc[fitted["baseline"] == best])
    return runs


def unfitted_note(results: Results) -> tuple[str, ...]:
    """Why no fitted baseline is drawn, when none is."""
    fitted = results.baseline_predictions
    if fitted is not None and best_baseline(results.metrics, BEST_BY, among=set(fitted["baseline"])):
        return ()
    names = ", ".join(results.experiment.baselines) or "none"
    note = (
        f"no fitted baseline's predictions could be traded here (baselines: {names}; a fitted baseline needs a "
        f"finite mean {BEST_BY}): only buy & hold is drawn beside the model"
    )
    return (note,)


def best_baseline(metrics: Mapping[str, Any], metric: str, among: Iterable[str] | None = None) -> str | None:
    """The baseline (of `among`, default all) with the best finite mean `metric`: highest, or lowest for
    `LOWER_IS_BETTER` metrics; the first listed on a tie. None when no baseline has a finite mean."""
    names = [name for name in metrics["baselines"] if among is None or name in set(among)]
    scored = [(name, _mean(metrics["baselines"][name].get(metric))) for name in names]
    scored = [(name, mean) for name, mean in scored if math.isfinite(mean)]
    if not scored:
        return None
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    return max(scored, key=lambda item: sign * item[1])[0]


def write_curves(curves: Sequence[Curve], folder: Path) -> None:
    """equity.csv (a column per curve), stats.json ({curve: stats}) and trades.csv, fills.csv (a `curve` column
    naming each's) into `folder`."""
    pd.concat([c.equity for c in curves], axis=1).rename_axis("time").to_csv(folder / "equity.csv")
    stats = {c.name: {k: (v if math.isfinite(v) else None) for k, v in c.stats.items()} for c in curves}
    (folder / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    for name in ("trades", "fills"):
        frames = [getattr(c, name).assign(curve=c.name) for c in curves if getattr(c, name) is not None]
        (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()).to_csv(folder / f"{name}.csv", index=False)


def curves_text(curves: Sequence[Curve]) -> str:
    """The curves' statistics as a text table."""
    keys = ("total_return", "sharpe", "max_drawdown", "trades", "fills")
    width = max(len(c.name) for c in curves) + 2
    lines = [f"{'':<{width}}" + "".join(f"{key:>14}" for key in keys)]
    lines += [
        f"{c.name:<{width}}" + "".join(f"{_number(c.stats[key], _FORMATS.get(key, '{:.4f}')):>14}" for key in keys)
        for c in curves
    ]
    return "\n".join(lines)


def line_name(column: str) -> str:
    """A predictions column as the page names it: p_up for the up class's probability."""
    return "p_up" if column == "up" else column


def ic_statistics(values: Sequence[float]) -> dict[str, float]:
    """{ic, std, icir, n, undefined} of ICs: their mean, std (ddof 1), mean / std, how many there are and how many
    of them are undefined (NaN: constant predictions or returns), which the mean and std leave out."""
    found = aggregate(values)
    finite = [v for v in values if v is not None and math.isfinite(v)]
    std = found["std"]
    return {
        "ic": found["mean"],
        "std": std,
        "icir": found["mean"] / std if std and math.isfinite(std) else math.nan,
        "n": float(len(values)),
        "undefined": float(len(values) - len(finite)),
    }


# ------------------------------------------------------------------------------------------ the numbers


@dataclass(frozen=True)
class Paired:
    """The model against one baseline across folds."""

    baseline: str
    n: int
    """Folds where both have a value (the model's: its mean over the fold's seeds)."""
    difference: float
    """The mean of model - baseline over those folds."""
    statistic: float
    p_value: float
    """Two-sided, of scipy's Wilcoxon signed-rank test (folds without a difference dropped; exact for small n); NaN
    when no fold differs."""
    smallest_p: float
    """The smallest two-sided p the test can give with the folds that differ, m of them: 2 / 2**m."""


def paired_test(metrics: Mapping[str, Any], metric: str) -> Paired | None:
    """The model's per-fold values (the mean over each fold's seeds) against the best baseline's of `metric`, by
    the Wilcoxon signed-rank test; None when no baseline has the metric."""
    from scipy.stats import wilcoxon  # only a report needs it

    best = best_baseline(metrics, metric)
    if best is None:
        return None
    model: dict[int, list[float]] = {}
    for row in metrics["folds"]:
        if _finite(row.get(metric)):
            model.setdefault(row["fold"], []).append(row[metric])
    baseline = {
        row["fold"]: row[metric]
        for row in metrics["baseline_folds"]
        if row["model"] == best and _finite(row.get(metric))
    }
    folds = sorted(set(model) & set(baseline))
    differences = np.asarray([np.mean(model[k]) - baseline[k] for k in folds], dtype="float64")
    n = len(folds)
    statistic = p_value = math.nan
    if np.any(differences != 0):
        test = wilcoxon(differences, alternative="two-sided")
        statistic, p_value = float(test.statistic), float(test.pvalue)
    differ = int(np.count_nonzero(differences))
    return Paired(
        best,
        n,
        float(differences.mean()) if n else math.nan,
        statistic,
        p_value,
        2.0 / 2.0**differ if differ else math.nan,
    )


def predictor_rows(metrics: Mapping[str, Any], predictor: str) -> list[Mapping[str, Any]]:
    """The fold rows of the model ("model": every fold x seed) or of one baseline (every fold)."""
    if predictor == "model":
        return list(metrics["folds"])
    return [row for row in metrics["baseline_folds"] if row["model"] == predictor]


def summarised(rows: Sequence[Mapping[str, Any]], metric: str) -> dict[str, float]:
    """mean and std (`metrics.aggregate`, as metrics.json's) of `metric` over `rows`; n: the rows; undefined:
    those without a value, which the mean leaves out; no_trade (trading metrics): those whose backtest never
    traded."""
    values = [row.get(metric) for row in rows]
    found = aggregate(values)
    summary = {
        "mean": found["mean"],
        "std": found["std"],
        "n": float(len(rows)),
        "undefined": float(sum(not _finite(v) for v in values)),
    }
    if metric in TRADING_METRICS:
        summary["no_trade"] = float(sum(_no_trade(row) for row in rows))
    return summary


def _no_trade(row: Mapping[str, Any]) -> bool:
    """Whether a fold's backtest filled no order: its `fills` where the row counts them, else a flat curve (a
    total return of exactly 0 and no Sharpe)."""
    if "fills" in row:
        return row["fills"] == 0
    return row.get("total_return") == 0.0 and not _finite(row.get("sharpe"))


def calibration(predictions: pd.DataFrame, up: int, buckets: int = 10) -> pd.DataFrame:
    """p_up against the share of labels that are `up` (the class index), in `buckets` equal bins over [0, 1]
    (`plugin.stats.reliability`: low, high, count, predicted, observed)."""
    known = predictions[["up", "label"]].dropna()
    return reliability(known["up"], known["label"] == up, buckets)


# --------------------------------------------------------------------------------------------- the page

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto; max-width: 1240px;
       color: #222; padding: 0 16px; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.6em; }
h3 { margin-bottom: 0.3em; font-size: 1.05em; }
p.meta { color: #555; margin-top: 0; } p.note { color: #555; font-size: 0.9em; }
p.verdict { background: #f5f5f0; border-left: 4px solid #888; padding: 10px 14px; }
table { border-collapse: collapse; font-size: 0.85em; margin: 6px 0 12px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; white-space: nowrap; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
.scroll { overflow-x: auto; } img { max-width: 100%; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 4px 24px; }
.grid > div { min-width: 0; overflow-x: auto; } .grid th { white-space: normal; }
.grid table { font-size: 0.8em; } .grid td, .grid th { padding: 2px 5px; }
nav a { margin-right: 12px; }
"""


def page(results: Results, section: LayoutReport) -> str:
    """The whole index.html."""
    metrics = results.metrics
    run = metrics["run"]
    parts = [
        ("verdict", "Verdict", _verdict(metrics)),
        ("baselines", "Model against the baselines", _against_baselines(metrics)),
        ("surrogates", "Surrogates", _surrogates(metrics)),
        ("backtests", section.title, _backtests(section)),
        ("calibration", "Calibration", _calibration(results)),
        ("ic", "IC over time", _ic(section)),
        ("seeds", "Per seed", _per_seed(metrics)),
        ("folds", "Per fold", _per_fold(metrics)),
    ]
    title = f"Research run {run['id']}"
    nav = " ".join(f'<a href="#{key}">{html.escape(name)}</a>' for key, name, _ in parts)
    body = "\n".join(
        f'<section id="{key}">\n<h2>{html.escape(name)}</h2>\n{content}\n</section>' for key, name, content in parts
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f'<h1>{html.escape(title)}</h1>\n<p class="meta">{html.escape(_what(metrics))}</p>\n'
        f"<nav>{nav}</nav>\n{body}\n</body>\n</html>\n"
    )


def _what(metrics: Mapping[str, Any]) -> str:
    run, folds = metrics["run"], metrics["folds"]
    period = f"out of sample {folds[0]['test'][0][:10]} .. {folds[-1]['test'][1][:10]}" if folds else ""
    return (
        f"{run['model']} on {run['data']} ({run['layout']}), {run['folds']} walk-forward folds x {run['seeds']} "
        f"seed(s), embargo {run['embargo']}, {run['surrogates']} {run['surrogate_kind']} surrogate series; "
        f"{period}; signalstack {run['version']}, digest {run['digest']}"
    )


def _verdict(metrics: Mapping[str, Any]) -> str:
    return (
        f'<p class="verdict">{html.escape(". ".join(verdicts(metrics)))}.</p>\n'
        '<p class="note">Every number on this page is measured on test periods only; baselines are fitted per '
        "fold on its training rows only.</p>"
    )


def _against_baselines(metrics: Mapping[str, Any]) -> str:
    predictors = ["model", *metrics["baselines"]]
    blocks = []
    for metric in metrics["model"]:
        rows = []
        for predictor in predictors:
            fold_rows = predictor_rows(metrics, predictor)
            if not fold_rows or metric not in fold_rows[0]:
                continue
            s = summarised(fold_rows, metric)
            rows.append(
                [
                    predictor,
                    _number(s["mean"]),
                    _number(s["std"]),
                    _count(s["n"]),
                    _count(s["undefined"]),
                    *([_count(s["no_trade"])] if "no_trade" in s else []),
                ]
            )
        header = ["", "mean", "std", "n", "undefined", *(["no trade"] if metric in TRADING_METRICS else [])]
        better = "lower" if metric in LOWER_IS_BETTER else "higher"
        blocks.append(
            f"<div><h3>{html.escape(metric)} <small>({better} is better)</small></h3>\n"
            + _table(header, rows, f"metric-{metric}")
            + _paired_text(paired_test(metrics, metric))
            + "</div>"
        )
    return (
        '<p class="note">mean and std (ddof 1) over every fold x seed of the model and every fold of a baseline; '
        "n counts them all; undefined: values that do not exist (an IC of constant predictions, an AUC on one "
        "class), left out of the mean; no trade: backtests that never filled an order. The paired test: the "
        "model's value of each fold (the mean over its seeds) against the best baseline's (by mean), Wilcoxon "
        "signed-rank, two-sided.</p>\n" + '<div class="grid">' + "\n".join(blocks) + "</div>"
    )


def _paired_text(test: Paired | None) -> str:
    if test is None:
        return '<p class="note">no baseline has this metric</p>'
    if not math.isfinite(test.p_value):
        result = "no test: the model and the baseline are equal in every fold" if test.n else "no fold to pair"
    else:
        result = (
            f"W = {test.statistic:.1f}, p = {test.p_value:.3f} (the smallest p these folds can give: "
            f"{test.smallest_p:.3f})"
        )
    return (
        f'<p class="note">against {html.escape(test.baseline)}: '
        f"mean difference {_number(test.difference)} over n = {test.n} folds; Wilcoxon signed-rank {result}</p>"
    )


def _surrogates(metrics: Mapping[str, Any]) -> str:
    surrogates, runs, run = metrics["surrogates"], metrics["surrogate_runs"], metrics["run"]
    if not surrogates:
        return (
            "<p>No surrogates ran (surrogates.n: 0): whether this skill is more than chance is untested; p <= "
            "0.05 needs at least 19 surrogate series.</p>"
        )
    panels = [
        (
            f"{name}: percentile {_number(s['percentile'], '{:.0f}')}, p = {_number(s['p_value'], '{:.3f}')}",
            [r[name] for r in runs],
            _mean(metrics["model"].get(name)),
        )
        for name in HEADLINE
        if (s := surrogates.get(name)) is not None
    ]
    figure = _image(charts.histograms(panels), "; ".join(title for title, _, _ in panels)) if panels else ""
    rows = [
        [
            name,
            _number(_mean(metrics["model"][name])),
            _number(s["mean"]),
            _number(s["std"]),
            _count(s["n"]),
            _number(s["percentile"], "{:.0f}"),
            _number(s["p_value"], "{:.3f}"),
            "yes" if s["significant"] else "no",
        ]
        for name, s in surrogates.items()
    ]
    return (
        f'<p class="note">Each of {len(runs)} {html.escape(run["surrogate_kind"])} surrogate series ran through '
        "the same folds and seeds; a surrogate run's value is its mean over them. Percentile: the share of "
        "surrogate runs the model beats (ties half); p = (1 + runs at least as good) / (n + 1). The histograms "
        "show each headline metric's surrogate runs, the red line the model's value.</p>\n"
        f"{figure}\n"
        + _table(
            ["metric", "model", "surrogate mean", "std", "n", "percentile", "p", "p <= 0.05"], rows, "surrogates-table"
        )
    )


def _backtests(section: LayoutReport) -> str:
    curves = section.curves
    chart = charts.equity_chart([(c.name, c.kind, c.equity) for c in curves], section.title)
    keys = (*CURVE_STATS, "fills")
    rows = [[c.name, *(_number(c.stats[key], _FORMATS.get(key, "{:.4f}")) for key in keys)] for c in curves]
    notes = "".join(f'<p class="note">{html.escape(note)}</p>' for note in section.notes)
    return (
        f'<p class="note">{html.escape(section.description)}</p>\n{_image(chart, section.title)}\n'
        + _table(["curve", *keys], rows, "curves")
        + notes
    )


def _calibration(results: Results) -> str:
    labels = results.experiment.labels.spec
    predictions = results.predictions
    if not {"up", "label"} <= set(predictions.columns):
        return (
            '<p class="note">No calibration: predictions.csv holds no p_up beside a class label (a forecast, or '
            "a ranking score, is not a probability).</p>"
        )
    up = labels.classes.index("up")
    tables = {f"seed {seed}": calibration(rows, up) for seed, rows in predictions.groupby("seed", sort=True)}
    title = f"p_up against the share of labels up ({labels.kind}, horizon {labels.horizon})"
    rows = [
        [
            f"{t.low:.1f} .. {t.high:.1f}",
            *(
                cell
                for table in tables.values()
                for cell in (
                    _count(table["count"].iloc[i]),
                    _number(table["predicted"].iloc[i], "{:.3f}"),
                    _number(table["observed"].iloc[i], "{:.3f}"),
                )
            ),
        ]
        for i, t in enumerate(next(iter(tables.values())).itertuples())
        if any(table["count"].iloc[i] for table in tables.values())
    ]
    header = ["p_up", *(f"{name} {what}" for name in tables for what in ("n", "mean p_up", "share up"))]
    return (
        '<p class="note">Each seed\'s stitched out-of-sample p_up, in ten equal buckets, against the share of '
        "those samples whose label is up: a calibrated model lies on the diagonal (the table leaves out the "
        "buckets no seed predicted in).</p>\n"
        f"{_image(charts.calibration_chart(tables, title), title)}\n"
        + f'<div class="scroll">{_table(header, rows, "calibration-table")}</div>'
    )


def _ic(section: LayoutReport) -> str:
    ic = section.ic
    rows = [
        [str(seed), _number(s["ic"]), _number(s["std"]), _number(s["icir"]), _count(s["n"]), _count(s["undefined"])]
        for seed, s in ic.summary.iterrows()
    ]
    return (
        f'<p class="note">{html.escape(ic.definition)}</p>\n'
        f"{_image(charts.ic_chart(ic.values, 'IC over time', 'IC'), 'IC over time')}\n"
        + _table(["", "mean IC", "std", "ICIR", "n", "undefined"], rows, "ic-table")
    )


def _per_seed(metrics: Mapping[str, Any]) -> str:
    names = list(metrics["model"])
    by_seed: dict[Any, list[Mapping[str, Any]]] = {}
    for row in metrics["folds"]:
        by_seed.setdefault(row["seed"], []).append(row)
    rows = [
        [f"seed {seed}", _count(len(rows)), *(_number(summarised(rows, m)["mean"]) for m in names)]
        for seed, rows in sorted(by_seed.items())
    ]
    return (
        '<p class="note">Each seed\'s mean over the folds (n: folds) of the per-fold metrics; the spread across '
        "seeds is what retraining alone changes.</p>\n"
        f'<div class="scroll">{_table(["seed", "n", *names], rows, "seeds-table")}</div>'
    )


def _per_fold(metrics: Mapping[str, Any]) -> str:
    names = list(metrics["model"])
    extra = [key for key in ("fills", "best_epoch") if any(key in row for row in metrics["folds"])]
    rows = [
        [
            _count(row["fold"]),
            _count(row["seed"]),
            f"{row['test'][0][:10]} .. {row['test'][1][:10]}",
            *(_number(row.get(m)) for m in names),
            *(_count(row.get(k)) for k in extra),
        ]
        for row in metrics["folds"]
    ]
    baseline_rows = [
        [_count(row["fold"]), row["model"], *(_number(row[m]) if m in row else "" for m in names)]
        for row in metrics["baseline_folds"]
    ]
    text = (
        '<h3>Model</h3>\n<div class="scroll">'
        + _table(["fold", "seed", "test", *names, *extra], rows, "folds-table")
        + "</div>"
    )
    if baseline_rows:
        text += (
            '\n<h3>Baselines</h3>\n<div class="scroll">'
            + _table(["fold", "baseline", *names], baseline_rows, "baseline-folds-table")
            + "</div>"
        )
    return text


# ----------------------------------------------------------------------------------------------- helpers

_FORMATS = {"trades": "{:.0f}", "fills": "{:.0f}"}


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], ident: str) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table id="{html.escape(ident)}">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>\n'


def _image(fig: Figure, alt: str) -> str:
    data = base64.b64encode(png_bytes(fig)).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _finite(value: Any) -> bool:
    return value is not None and isinstance(value, int | float | np.number) and math.isfinite(value)


def _mean(summary: Mapping[str, Any] | None) -> float:
    value = None if summary is None else summary.get("mean")
    return float(value) if _finite(value) else math.nan


def _number(value: Any, fmt: str = "{:.4f}") -> str:
    return fmt.format(value) if _finite(value) else "-"


def _count(value: Any) -> str:
    return "" if value is None else _number(value, "{:.0f}")
