"""Scores and their summaries: directions, chance levels, NaN handling, and where a result falls among surrogates."""

import math

import numpy as np
import pandas as pd
import pytest

from signalstack.core.labels import LabelSpec
from signalstack.research.metrics import aggregate, balanced_accuracy, prediction_frame, score, versus_surrogates

from .support import ar1_bars


def test_the_percentile_and_p_value_follow_each_metrics_direction():
    surrogates = [0.50, 0.52, 0.48, 0.51]
    high = versus_surrogates(0.60, surrogates, "roc_auc")
    assert high["percentile"] == 100 and high["p_value"] == pytest.approx(1 / 5) and not high["significant"]
    assert versus_surrogates(0.60, surrogates, "log_loss")["percentile"] == 0  # lower is better
    assert versus_surrogates(0.51, surrogates, "roc_auc")["percentile"] == pytest.approx(100 * 2.5 / 4)
    many = versus_surrogates(0.60, [0.5] * 19, "roc_auc")
    assert many["p_value"] == pytest.approx(0.05) and many["significant"]
    assert math.isnan(versus_surrogates(float("nan"), surrogates, "ic")["percentile"])


def test_aggregate_counts_finite_values_only():
    assert aggregate([1.0, float("nan"), 3.0]) == {"mean": 2.0, "std": pytest.approx(math.sqrt(2)), "n": 2}
    one = aggregate([float("nan"), 4.0])
    assert one["mean"] == 4.0 and math.isnan(one["std"]) and one["n"] == 1


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
