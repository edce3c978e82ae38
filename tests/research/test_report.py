"""report/index.html: opened offline in headless Chromium, its tables read back equal metrics.json's numbers; each
seed traded alone (an ensemble only when asked); the paired test and the no-trade counts on rows made by hand."""

from __future__ import annotations

import html
import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from signalstack.research import report
from signalstack.research.experiment import load_experiment
from signalstack.research.layouts import layout_of
from signalstack.research.run import run_experiment
from signalstack.research.summary import verdicts

from ..support import offline_chromium
from .support import ar1_bars, read_tables, write_experiment

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
"""Where the screenshot is kept for a person to look at (git-ignored)."""
BASELINES = ["majority", "logistic", "buy_and_hold"]


def shown(cell: str) -> float:
    return math.nan if cell in ("-", "") else float(cell)


def same(cell: str, value: float | None, places: int = 4) -> bool:
    """Whether a cell shows `value` (None or NaN as "-") rounded to `places`."""
    if value is None or not math.isfinite(value):
        return cell == "-"
    return abs(shown(cell) - value) <= 0.5 * 10.0**-places + 1e-12


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    path = write_experiment(folder, ar1_bars(1300, 0.3, seed=5), seeds=2, surrogates={"n": 3}, baselines=BASELINES)
    return run_experiment(load_experiment(path), folder / "runs")


@pytest.mark.slow
def test_the_report_opens_offline_and_its_tables_show_the_runs_numbers(run, tmp_path) -> None:
    page = run.path / "report" / "index.html"
    text = page.read_text()
    assert "http://" not in text and "https://" not in text  # no script, style, font or image from elsewhere
    browser = offline_chromium(tmp_path / "profile")
    dom = subprocess.run(
        [*browser, "--dump-dom", page.as_uri()], check=False, capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    tables = read_tables(dom.stdout)
    metrics = json.loads((run.path / "metrics.json").read_text())
    folds, baseline_folds = metrics["folds"], metrics["baseline_folds"]

    assert html.escape(". ".join(verdicts(metrics)), quote=False) in " ".join(dom.stdout.split())
    for name, summary in metrics["model"].items():  # the model and each baseline, per metric
        rows = {row[""]: row for row in tables[f"metric-{name}"]}
        assert same(rows["model"]["mean"], summary["mean"]) and same(rows["model"]["std"], summary["std"])
        assert shown(rows["model"]["n"]) == len(folds) == 4
        assert shown(rows["model"]["undefined"]) == sum(row[name] is None for row in folds)
        for baseline, found in metrics["baselines"].items():
            if name in found:
                assert same(rows[baseline]["mean"], found[name]["mean"]), (name, baseline)
                assert shown(rows[baseline]["n"]) == 2
    no_trade = {row[""]: shown(row["no trade"]) for row in tables["metric-sharpe"]}
    assert no_trade["buy_and_hold"] == 0 and set(no_trade) == {"model", *BASELINES}

    assert "against logistic: mean difference" in dom.stdout and "over n = 2 folds; Wilcoxon signed-rank" in dom.stdout

    for shown_row, row in zip(tables["folds-table"], folds, strict=True):
        assert (shown(shown_row["fold"]), shown(shown_row["seed"])) == (row["fold"], row["seed"])
        assert all(same(shown_row[name], row[name]) for name in metrics["model"]), (shown_row, row)
    assert len(tables["baseline-folds-table"]) == len(baseline_folds)
    for seed_row in tables["seeds-table"]:
        seed = int(seed_row["seed"].split()[1])
        mine = [row for row in folds if row["seed"] == seed]
        assert same(seed_row["roc_auc"], float(np.mean([row["roc_auc"] for row in mine])))

    surrogates = {row["metric"]: row for row in tables["surrogates-table"]}
    for name, found in metrics["surrogates"].items():
        assert same(surrogates[name]["percentile"], found["percentile"], 0)
        assert same(surrogates[name]["p"], found["p_value"], 3) and shown(surrogates[name]["n"]) == 3
    assert 'alt="roc_auc: percentile 100, p = 0.250; ic: percentile' in dom.stdout  # the histograms, one image

    stats = json.loads((run.path / "report" / "stats.json").read_text())
    curves = {row["curve"]: row for row in tables["curves"]}
    assert list(curves) == list(stats) == ["seed 0", "seed 1", "buy & hold", "baseline logistic"]
    for name, found in stats.items():
        assert same(curves[name]["total_return"], found["total_return"]) and same(
            curves[name]["sharpe"], found["sharpe"]
        )
    equity = pd.read_csv(run.path / "report" / "equity.csv", index_col="time", parse_dates=True)
    assert list(equity.columns) == list(stats)
    predictions = pd.read_csv(run.path / "predictions.csv", index_col="time", parse_dates=True)
    assert equity.index[0] == predictions.index.min() and equity.index[-1] == predictions.index.max()

    ic = {row[""]: row for row in tables["ic-table"]}
    assert set(ic) == {"seed 0", "seed 1"} and shown(ic["seed 0"]["n"]) == (2 * 300) // 63  # non-overlapping windows
    calibration = tables["calibration-table"]
    assert sum(shown(row["seed 0 n"]) for row in calibration) == 2 * 300  # every out-of-sample sample of seed 0

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "research_report.png"
    shot.unlink(missing_ok=True)
    taken = subprocess.run(
        [*browser, "--window-size=1280,5200", f"--screenshot={shot}", page.as_uri()],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert taken.returncode == 0 and shot.is_file(), taken.stderr[-2000:]
    pixels = imread(shot)
    assert pixels.shape[:2] == (5200, 1280) and pixels[..., :3].std() > 0.05  # text, tables and charts
    assert len(np.unique(pixels[..., :3].reshape(-1, 3), axis=0)) > 100


@pytest.mark.slow
def test_each_seed_is_traded_alone_and_their_mean_only_when_the_experiment_asks_for_an_ensemble(run, tmp_path):
    experiment = load_experiment(run.path / "experiment.yaml")
    assert not experiment.ensemble and "ensemble" not in experiment.to_dict()  # off: the digest is unchanged
    layout = layout_of(experiment)
    bars, _ = layout.load(experiment)
    predictions = pd.read_csv(run.path / "predictions.csv", index_col="time", parse_dates=True)
    asked = experiment.replaced(ensemble=True)
    section = layout.write_report(report.Results(asked, bars, run.metrics, predictions, None), tmp_path)
    names = [curve.name for curve in section.curves]
    assert names == ["seed 0", "seed 1", "ensemble of 2 seeds", "buy & hold"]
    assert "ensemble: true" in section.description and "no fitted baseline" in section.notes[0]
    seeds = json.loads((run.path / "report" / "stats.json").read_text())
    found = {curve.name: curve.stats for curve in section.curves}
    assert found["seed 0"]["total_return"] == pytest.approx(seeds["seed 0"]["total_return"])  # the same backtest
    assert found["ensemble of 2 seeds"]["total_return"] not in (
        found["seed 0"]["total_return"],
        found["seed 1"]["total_return"],
    )


def _metrics(model: list[float], baselines: dict[str, list[float]], metric: str = "roc_auc") -> dict:
    folds = [{"fold": k, "seed": s, metric: v} for k, values in enumerate(model) for s, v in enumerate([values])]
    rows = [{"model": name, "fold": k, metric: v} for name, values in baselines.items() for k, v in enumerate(values)]
    summaries = {name: {metric: {"mean": float(np.mean(values))}} for name, values in baselines.items()}
    return {"folds": folds, "baseline_folds": rows, "baselines": summaries}


def test_the_paired_test_meets_the_best_baseline_fold_by_fold_with_an_exact_wilcoxon():
    metrics = _metrics(
        [0.60, 0.61, 0.62, 0.58, 0.63, 0.645], {"majority": [0.5] * 6, "logistic": [0.55, 0.56, 0.57, 0.50, 0.51, 0.52]}
    )
    test = report.paired_test(metrics, "roc_auc")
    assert test.baseline == "logistic" and test.n == 6
    assert test.p_value == pytest.approx(2 / 2**6) == test.smallest_p  # every fold better: the exact extreme
    assert test.difference == pytest.approx(np.mean([0.05, 0.05, 0.05, 0.08, 0.12, 0.125]))
    lower = report.paired_test(_metrics([0.6] * 3, {"a": [0.7] * 3, "b": [0.65] * 3}, "log_loss"), "log_loss")
    assert lower.baseline == "b" and lower.smallest_p == pytest.approx(0.25)  # lower is better; 3 folds: p >= 0.25
    assert math.isnan(report.paired_test(_metrics([0.5] * 3, {"a": [0.5] * 3}), "roc_auc").p_value)  # nothing differs
    assert report.paired_test(_metrics([0.5], {}), "roc_auc") is None


def test_summaries_count_every_row_and_say_which_were_undefined_or_never_traded():
    rows = [
        {"total_return": 0.0, "sharpe": None},  # flat: no fills recorded, no Sharpe
        {"total_return": 0.1, "sharpe": 1.2},
        {"total_return": 0.0, "sharpe": 0.0, "fills": 0},
        {"total_return": -0.2, "sharpe": -0.5, "fills": 4},
    ]
    sharpe = report.summarised(rows, "sharpe")
    assert sharpe["n"] == 4 and sharpe["undefined"] == 1 and sharpe["no_trade"] == 2
    assert sharpe["mean"] == pytest.approx((1.2 + 0.0 - 0.5) / 3)
    assert "no_trade" not in report.summarised([{"ic": float("nan")}], "ic")
