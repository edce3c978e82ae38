"""Naive baselines, fitted on each fold's training window only and scored like the model.

A model is worth what it adds to the obvious: the base rate, a linear model and a tree ensemble on
the newest bar's features, and holding the asset. Each fits the whole training window of its fold
(fit rows and validation tail, both before the embargo that precedes the test period; none needs
early stopping), on the newest feature row of each window standardised by the fold's scaler (fitted
on the fit rows), and predicts the fold's test samples. For the other nets' samples the newest
slice of each input, standardised by that input's scaler, stands in for it (`newest_rows`): the
newest day's block of day x intraday samples, the newest day's factors of every symbol of a factor
image (an image reshaped by `image:` gives its last row), the fundamentals vector beside the
newest bar's features, both stocks' factor rows of a pair; a net's first target (the class head
of multitask) is the one fitted.

- majority (classes): the training class frequencies as probabilities for every sample.
- logistic (classes): scikit-learn's LogisticRegression; ridge (returns): Ridge.
- gbm: HistGradientBoostingClassifier / Regressor, seeded, without early stopping.
- mean (returns): the training mean return as every forecast (of each step, for a path).
- buy_and_hold: buy at the first test bar's next open and hold; trading metrics only.
"""

from __future__ import annotations

import numpy as np

from signalstack.core.labels import LabelSpec
from signalstack.models.windows import Dataset, WindowSet

CLASSIFIERS = ("majority", "logistic", "gbm")
REGRESSORS = ("mean", "ridge", "gbm")
BUY_AND_HOLD = "buy_and_hold"


def baseline_names(labels: LabelSpec) -> tuple[str, ...]:
    """The baselines that fit these labels, buy-and-hold last."""
    return (CLASSIFIERS if labels.is_classification else REGRESSORS) + (BUY_AND_HOLD,)


def newest_rows(dataset: Dataset, part: WindowSet) -> np.ndarray:
    """(samples, values): each input's newest slice (a window's newest feature row, its own bar's; a vector
    input whole), standardised by that input's scaler, flattened and side by side in input order."""
    columns = []
    for name, x in dataset.x_of(part).items():
        scaler = dataset.scalers.get(name)
        scaled = scaler.transform(x) if scaler is not None else x
        newest = scaled[:, -1] if scaled.ndim > 2 else scaled
        columns.append(newest.reshape(len(newest), -1))
    return np.concatenate(columns, axis=1)


def first_target(dataset: Dataset, part: WindowSet) -> np.ndarray:
    """A split's labels of the net's first target (the only one, or multitask's class head)."""
    return dataset.y_of(part)[next(iter(dataset.targets))]


def baseline_predictions(name: str, dataset: Dataset) -> np.ndarray:
    """Baseline `name`'s predictions for the fold's test samples: (N, classes) probabilities, or (N, 1) forecasts.

    A classifier whose training window holds a single class predicts it with certainty.
    """
    # Imported here: experiment files read the names above, and model tasks in worker processes
    # never fit a baseline, so neither pays for loading scikit-learn.
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.multioutput import MultiOutputRegressor

    labels = next(iter(dataset.targets.values()))
    valid = baseline_names(labels)[:-1]
    if name not in valid:
        raise ValueError(f"baseline {name!r}: expected one of {', '.join(valid)} for {labels.kind} labels")
    x = np.concatenate([newest_rows(dataset, dataset.train), newest_rows(dataset, dataset.val)])
    y = np.concatenate([first_target(dataset, dataset.train), first_target(dataset, dataset.val)])
    test = newest_rows(dataset, dataset.test)
    if not labels.is_classification:
        if name == "mean":  # per step for a path
            return np.tile(np.atleast_1d(y.mean(axis=0)), (len(test), 1))
        gbm = HistGradientBoostingRegressor(early_stopping=False, random_state=0)
        model = Ridge(alpha=1.0) if name == "ridge" else gbm if y.ndim == 1 else MultiOutputRegressor(gbm)
        return model.fit(x, y).predict(test).reshape(len(test), -1)
    y = y.astype(int)
    n_classes = len(labels.classes)
    if name == "majority" or len(np.unique(y)) < 2:
        frequencies = np.bincount(y, minlength=n_classes) / len(y)
        return np.tile(frequencies, (len(test), 1))
    model = (
        LogisticRegression(max_iter=1000)
        if name == "logistic"
        else HistGradientBoostingClassifier(early_stopping=False, random_state=0)
    )
    fitted = model.fit(x, y).predict_proba(test)
    probs = np.zeros((len(test), n_classes))
    probs[:, model.classes_] = fitted  # a class absent from training gets probability 0
    return probs
