"""Out-of-sample skill metrics for classifiers and regressors (numpy only)."""

from __future__ import annotations

import numpy as np


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve via the rank-sum statistic, ties given half credit; NaN if one class."""
    positive = positive.astype(bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype="float64")
    sorted_scores = scores[order]
    # Average ranks over runs of equal scores.
    _, start, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = start + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def classification_metrics(probs: np.ndarray, y: np.ndarray, classes: list[str]) -> dict[str, float]:
    """accuracy, ROC AUC (up vs rest), log-loss, and the majority-class baseline, on one split."""
    y = y.astype(int)
    eps = 1e-7
    up = classes.index("up")
    counts = np.bincount(y, minlength=len(classes))
    return {
        "accuracy": float((probs.argmax(axis=1) == y).mean()),
        "roc_auc": roc_auc(probs[:, up], y == up),
        "log_loss": float(-np.log(np.clip(probs[np.arange(len(y)), y], eps, 1.0)).mean()),
        "baseline_accuracy": float(counts.max() / len(y)),
        "up_rate": float(counts[up] / len(y)),
        "samples": float(len(y)),
    }


def regression_metrics(forecast: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and sign accuracy, with the zero-forecast MAE and the up-rate as baselines.

    A path forecast (N, h) is scored over all its steps; `samples` counts rows.
    """
    samples = len(y)
    forecast, y = forecast.reshape(-1), y.reshape(-1)
    return {
        "mae": float(np.abs(forecast - y).mean()),
        "rmse": float(np.sqrt(((forecast - y) ** 2).mean())),
        "direction_accuracy": float(((forecast > 0) == (y > 0)).mean()),
        "baseline_mae": float(np.abs(y).mean()),
        "up_rate": float((y > 0).mean()),
        "samples": float(samples),
    }
