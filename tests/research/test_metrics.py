"""Scores and their summaries: directions, chance levels, undefined values and folds that did not trade counted,
and where a result falls among surrogates."""

import math

import numpy as np
import pandas as pd
import pytest

from signalstack.core.labels import LabelSpec
from signalstack.research.experiment import parse_experiment
from signalstack.research.layouts import Task, TaskResult
from signalstack.research.metrics import aggregate, balanced_accuracy, prediction_frame, score, trade, versus_surrogates
from signalstack.research.run import collect
from signalstack.research.settings import Backtest
from signalstack.research.summary import verdicts

from .support import TINY, ar1_bars


def test_the_percentile_and_p_value_follow_each_metrics_direction():
    surrogates = [0.50, 0.52, 0.48, 0.51]
    high = versus_surrogates(0.60, surrogates, "roc_auc")
    assert high["percentile"] == 100 and high["p_value"] == pytest.approx(1 / 5) and not high["significant"]
    assert versus_surrogates(0.60, surrogates, "log_loss")["percentile"] == 0  # lower is better
    assert versus_surrogates(0.51, surrogates, "roc_auc")["percentile"] == pytest.approx(100 * 2.5 / 4)
    many = versus_surrogates(0.60, [0.5] * 19, "roc_auc")
    assert many["p_value"] == pytest.approx(0.05) and many["significant"]
    assert math.isnan(versus_surrogates(float("nan"), surrogates, "ic")["percentile"])


def test_a_constant_guess_has_chance_balanced_accuracy_whatever_the_base_rate():
    y = np.array([1, 1, 1, 1, 0])
    assert balanced_accuracy(np.ones(5, int), y) == 0.5
    assert balanced_accuracy(y, y) == 1.0


def test_perfect_foresight_scores_perfectly_and_ic_reads_forward_returns():
    bars = ar1_bars(300, 0.0, seed=2)
    labels = LabelSpec()
    forward = (bars["close"].shift(-1) / bars["close"] - 1).iloc[50:250]
    y = (forward > 0).to_numpy(float)
    frame = prediction_frame(y.reshape(-1, 1), forward.index, labels)  # a sigmoid's P(up), as the mlp gives
    assert list(frame.columns) == ["down", "up"]
    scores = score(frame, y, labels, bars)
    assert scores["accuracy"] == 1 and scores["roc_auc"] == 1 and scores["brier"] == 0
    assert scores["rank_ic"] == pytest.approx(np.sqrt(3) / 2, abs=0.05)  # a 0/1 score against a continuous return
    regression = LabelSpec("regression")
    exact = score(prediction_frame(forward.to_numpy(), forward.index, regression), forward.to_numpy(), regression, bars)
    assert exact["mae"] == 0 and exact["ic"] == pytest.approx(1) and exact["rank_ic"] == pytest.approx(1)


def test_prediction_frames_refuse_the_wrong_number_of_columns():
    with pytest.raises(ValueError, match="predictions with 2 columns: expected 3 \\(down, flat, up\\)"):
        prediction_frame(np.zeros((4, 2)), pd.bdate_range("2020-01-01", periods=4), LabelSpec("three"))


# ------------------------------------------------------------------ honest aggregates (issue 22, defect 1)


def _frame(p_up: np.ndarray, times: pd.DatetimeIndex) -> pd.DataFrame:
    return prediction_frame(p_up, times, LabelSpec())


def _fold_row(bars: pd.DataFrame, p_up: np.ndarray, surrogate: int | None) -> dict:
    """A model fold's row as a task makes it: fixed skill scores, the trading scores of a real backtest of `p_up`."""
    times = bars.index[50 : 50 + len(p_up)]
    trading = trade(_frame(p_up, times), bars, LabelSpec(), Backtest().keywords())
    skill = {
        "accuracy": 0.5,
        "balanced_accuracy": 0.5,
        "roc_auc": 0.5,
        "log_loss": 0.69,
        "brier": 0.25,
        "ic": 0.01 if surrogate is None else 0.0,
        "rank_ic": 0.0,
    }
    return {
        "model": "lstm" if surrogate is None else "surrogate",
        "surrogate": surrogate,
        "fold": 0,
        "seed": 0,
        "train": ["a", "b"],
        "val": ["c", "d"],
        "test": [str(times[0]), str(times[-1])],
        **skill,
        **trading,
        "best_epoch": 1,
    }


def _experiment(bars: pd.DataFrame, folder, **changes):
    bars.to_csv(folder / "bars.csv")
    return parse_experiment({"data": {"path": "bars.csv"}, **TINY, "baselines": [], **changes}, base=folder)


def _traded(n: int, seed: int) -> np.ndarray:
    """p_up that crosses the default thresholds every few bars."""
    return np.random.default_rng(seed).uniform(0.3, 0.7, n)


def test_a_backtest_that_never_trades_has_a_flat_curve_whose_sharpe_is_zero():
    bars = ar1_bars(300, 0.0, seed=3)
    row = _fold_row(bars, np.full(200, 0.5), None)  # between the thresholds: never buys
    assert row["total_return"] == 0.0 and row["max_drawdown"] == 0.0
    assert row["sharpe"] == 0.0 and row["fills"] == 0
    traded = _fold_row(bars, _traded(200, 1), None)
    assert traded["fills"] > 0 and traded["sharpe"] != 0.0


def test_folds_that_did_not_trade_count_in_the_sharpe_mean_and_are_counted(tmp_path):
    """Defect 1: 4 folds, 2 of which never traded, reported a Sharpe mean over the 2 that did."""
    bars = ar1_bars(300, 0.0, seed=3)
    rows = [_fold_row(bars, p, None) for p in (_traded(200, 1), np.full(200, 0.5), _traded(200, 2), np.full(200, 0.5))]
    results = [TaskResult(Task("model", k, 0), [{**row, "fold": k}], None, 1.0) for k, row in enumerate(rows)]
    found = collect(_experiment(bars, tmp_path), results)["model"]
    traded = [rows[0]["sharpe"], rows[2]["sharpe"]]
    assert found["sharpe"]["n"] == 4 and found["sharpe"]["no_trade"] == 2 and found["sharpe"]["undefined"] == 0
    assert found["sharpe"]["mean"] == pytest.approx(sum(traded) / 4)
    assert found["total_return"]["n"] == 4 and found["total_return"]["no_trade"] == 2
    assert "no_trade" not in found["roc_auc"]


def test_surrogates_that_did_not_trade_are_counted_in_the_verdict(tmp_path):
    """Defect 1: with n: 19, four surrogates that never traded made the verdict say 'among 15'."""
    bars = ar1_bars(300, 0.0, seed=3)
    experiment = _experiment(bars, tmp_path, surrogates={"n": 19})
    results = [TaskResult(Task("model", 0, 0), [_fold_row(bars, _traded(200, 99), None)], None, 1.0)]
    for number in range(19):
        p_up = np.full(200, 0.5) if number < 4 else _traded(200, number)
        results.append(TaskResult(Task("model", 0, 0, number), [_fold_row(bars, p_up, number)], None, 1.0))
    metrics = collect(experiment, results)
    sharpe = metrics["surrogates"]["sharpe"]
    assert sharpe["n"] == 19 and sharpe["undefined"] == 0 and sharpe["no_trade"] == 4
    metrics["run"] = {"surrogate_kind": "random_walk"}
    (line,) = [v for v in verdicts(metrics) if v.startswith("sharpe")]
    assert "among 19 random_walk surrogates" in line and "run at least" not in line


def test_an_undefined_value_is_counted_in_n_and_shown_as_undefined():
    found = aggregate([1.0, float("nan"), 3.0, None])
    assert found == {"mean": 2.0, "std": pytest.approx(math.sqrt(2)), "n": 4, "undefined": 2}
    none = aggregate([float("nan")])
    assert math.isnan(none["mean"]) and none["n"] == 1 and none["undefined"] == 1
    s = versus_surrogates(0.6, [0.5, float("nan"), 0.55], "roc_auc")
    assert s["n"] == 3 and s["undefined"] == 1 and s["percentile"] == 100 and s["p_value"] == pytest.approx(1 / 3)


def test_the_verdict_names_the_side_that_has_no_value():
    nan = float("nan")
    surrogates = {
        "sharpe": versus_surrogates(0.8, [nan, nan, nan], "sharpe"),
        "ic": versus_surrogates(nan, [0.1, 0.2], "ic"),
    }
    metrics = {
        "run": {"surrogate_kind": "random_walk"},
        "surrogates": surrogates,
        "model": {"sharpe": aggregate([0.8, 0.8]), "ic": aggregate([nan, nan])},
    }
    assert verdicts(metrics) == [
        "ic: not comparable (undefined in all 2 folds x seeds of the run)",
        "sharpe 0.8000: not comparable (none of the 3 surrogates has a value)",
    ]
