"""Walk-forward folds: train on the past, test on the block that follows, move on by `step`, retrain.

One split by time says how a model did in one period; walk-forward asks the same question of every
period in turn, each with a model that saw only what came before it, which is how a model is used.

Positions count samples, one per bar (a sample is named by its last bar t: features read bars
<= t, the label bars t+1 .. t+h). Within each fold, in time order:

    [ fit rows ][ embargo ][ validation tail ][ embargo ][ test ]
    |<------------ training window ---------->|

The embargo (>= the label horizon h) is purged as in scikit-learn's TimeSeriesSplit(gap) and
skfolio's WalkForward(purged_size): the last fit label reads bars before the validation tail and
the last validation label bars before the test period, so no label the model learns or stops on
reads a bar it is tested on. Folds are anchored at the end of the data, like TimeSeriesSplit: the
last test period ends at the last sample, and spare samples go to the start (unused by rolling
windows, the first window's by expanding ones). The scaler of each fold is fitted on its fit rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from signalstack.core.card import TensorInfo
from signalstack.core.features import FeatureSpec, compute_features
from signalstack.core.labels import LabelSpec, make_labels
from signalstack.models.windows import Dataset, WindowSet, fit_scaler, make_windows


@dataclass(frozen=True)
class Fold:
    """One fold's sample positions; `train` is the whole training window (fit rows, embargo, validation tail)."""

    number: int
    fit: slice
    val: slice
    test: slice

    @property
    def train(self) -> slice:
        return slice(self.fit.start, self.val.stop)


def walk_forward(n: int, *, train: int, test: int, embargo: int, step: int | None = None, expanding: bool = False,
                 val: float = 0.2) -> list[Fold]:
    """The folds over `n` samples: `test` per fold, every `step` (default `test`), after `train` training samples
    (rolling; expanding windows start at 0), `embargo` samples purged before the test and the validation tail.

    The validation tail is `val` of each training window (at least 2 samples).
    """
    step = test if step is None else step
    if min(train, test, step) < 1 or embargo < 0 or not 0 < val < 1:
        raise ValueError(f"walk-forward train={train}, test={test}, step={step}, embargo={embargo}, val={val}: "
                         "expected train, test, step >= 1, embargo >= 0 and 0 < val < 1")
    if step < test:
        raise ValueError(f"walk-forward step {step}: expected >= test ({test}) so that each sample is tested once")
    first = train + embargo + test
    if n < first:
        raise ValueError(f"{n} samples: expected at least train + embargo + test = {train} + {embargo} + {test} "
                         f"= {first} for one walk-forward fold")
    count = (n - first) // step + 1
    offset = n - first - (count - 1) * step
    folds = []
    for k in range(count):
        test_start = offset + train + embargo + k * step
        stop = test_start - embargo
        start = 0 if expanding else stop - train
        tail = max(2, round(val * (stop - start)))
        fit_stop = stop - tail - embargo
        if fit_stop - start < 2:
            raise ValueError(f"fold {k}: a training window of {stop - start} samples leaves {fit_stop - start} to fit "
                             f"after a validation tail of {tail} and an embargo of {embargo}: expected at least 2 "
                             "(a longer walk_forward.train or a smaller val)")
        folds.append(Fold(k, slice(start, fit_stop), slice(stop - tail, stop), slice(test_start, test_start + test)))
    return folds


def sample_windows(bars: pd.DataFrame, features: FeatureSpec, labels: LabelSpec, window: int) -> WindowSet:
    """Every sample of `bars`: features over the whole series (bar t reads bars <= t), labels (bars t+1 .. t+h),
    windows from the end of the features' warm-up, samples whose future is unknown dropped.

    Features computed once over the whole series are causal, so no sample holds anything from after its own bar.
    """
    table = compute_features(bars, features)
    return make_windows(table, make_labels(bars, labels), window, first=features.warmup)


def bars_input(features: FeatureSpec, window: int) -> TensorInfo:
    """The model input made from bars, as the model card describes it."""
    return TensorInfo("features", (window, len(features.columns)), columns=tuple(features.columns), origin="bars")


def fold_dataset(windows: WindowSet, fold: Fold, *, features: FeatureSpec, labels: LabelSpec, window: int,
                 embargo: int) -> Dataset:
    """The fold's fit / validation / test samples with a scaler fitted on its fit rows only."""
    fit = windows.take(fold.fit)
    return Dataset(fit, windows.take(fold.val), windows.take(fold.test), features=features, labels=labels,
                   window=window, embargo=embargo, scalers={"features": fit_scaler(fit.x)},
                   inputs=(bars_input(features, window),))
