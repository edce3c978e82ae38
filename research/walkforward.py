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

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from signalstack.core.card import TensorInfo
from signalstack.core.errors import InvalidInput, SettingsError
from signalstack.core.features import FeatureSpec, compute_features
from signalstack.core.labels import LabelSpec, make_labels
from signalstack.models.windows import Dataset, WindowSet, fit_scaler, make_windows

if TYPE_CHECKING:
    from signalstack.models.pipeline import Bars
    from signalstack.models.train import TrainResult

    from .settings import ExperimentFile


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


def walk_forward(
    n: int, *, train: int, test: int, embargo: int, step: int | None = None, expanding: bool = False, val: float = 0.2
) -> list[Fold]:
    """The folds over `n` samples: `test` per fold, every `step` (default `test`), after `train` training samples
    (rolling; expanding windows start at 0), `embargo` samples purged before the test and the validation tail.

    The validation tail is `val` of each training window (at least 2 samples).
    """
    step = test if step is None else step
    if min(train, test, step) < 1 or embargo < 0 or not 0 < val < 1:
        raise SettingsError(
            f"walk-forward train={train}, test={test}, step={step}, embargo={embargo}, val={val}: "
            "expected train, test, step >= 1, embargo >= 0 and 0 < val < 1"
        )
    if step < test:
        raise SettingsError(f"walk-forward step {step}: expected >= test ({test}) so that each sample is tested once")
    first = train + embargo + test
    if n < first:
        raise InvalidInput(
            f"{n} samples: expected at least train + embargo + test = {train} + {embargo} + {test} "
            f"= {first} for one walk-forward fold"
        )
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
            raise InvalidInput(
                f"fold {k}: a training window of {stop - start} samples leaves {fit_stop - start} "
                f"to fit after a validation tail of {tail} and an embargo of {embargo}: expected "
                "at least 2 (a longer walk_forward.train or a smaller val)"
            )
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


def fold_dataset(
    windows: WindowSet, fold: Fold, *, features: FeatureSpec, labels: LabelSpec, window: int, embargo: int
) -> Dataset:
    """The fold's fit / validation / test samples with a scaler fitted on its fit rows only."""
    fit = windows.take(fold.fit)
    return Dataset(
        fit,
        windows.take(fold.val),
        windows.take(fold.test),
        features=features,
        labels=labels,
        window=window,
        embargo=embargo,
        scalers={"features": fit_scaler(fit.x)},
        inputs=(bars_input(features, window),),
    )


# The nets whose samples the train pipeline's builders make (day x intraday blocks, factor images, pairs,
# fundamentals beside windows) are cut by each builder's own split by time (models/windows.split_by_time:
# train, embargo, validation, embargo, test, counting distinct sample times). A fold asks the builder for
# the split whose train part is the fold's fit rows and whose validation part is its validation tail, so
# the builder fits the scalers its own way on the fit rows alone; the test part then runs to the last
# sample and is cut to the fold's test period here.


def distinct_times(part: WindowSet) -> int:
    """The sample times in `part` (a date's pairs share one)."""
    return len(pd.unique(part.times))


def sample_count(dataset: Dataset) -> int:
    """The distinct sample times of a builder's whole set: its three splits and the two embargoes between them."""
    return sum(distinct_times(p) for p in (dataset.train, dataset.val, dataset.test)) + 2 * dataset.embargo


def fold_fractions(n: int, fold: Fold, embargo: int) -> tuple[float, float, float]:
    """The (train, validation, test) fractions with which split_by_time cuts `n` sample times at `fold`'s
    boundaries: train = the fit rows, validation = the tail, test from the fold's test start to the end.

    Half a sample is added to each count, so the builder's int() of n' * fraction gives the count exactly.
    """
    if fold.fit.start != 0:
        raise ValueError(
            f"fold {fold.number} fits from sample {fold.fit.start}: a builder's split trains from the "
            "first sample (expected an expanding walk-forward)"
        )
    usable = n - 2 * embargo
    fit, val = fold.fit.stop, fold.val.stop - fold.val.start
    if fold.val.start != fit + embargo or fold.test.start != fold.val.stop + embargo or fold.test.stop > n:
        raise ValueError(
            f"fold {fold.number} ({fold}) over {n} samples: expected fit, embargo {embargo}, validation, embargo, test"
        )
    train_share, val_share = (fit + 0.5) / usable, (val + 0.5) / usable
    return train_share, val_share, 1.0 - train_share - val_share


def fold_of_split(dataset: Dataset, fold: Fold) -> Dataset:
    """A builder's set split by `fold_fractions`, its test part cut to the fold's test samples; each part's
    size checked against the fold, so a builder that split otherwise fails here rather than leaking."""
    test_times = pd.unique(dataset.test.times)
    size = fold.test.stop - fold.test.start
    found = (distinct_times(dataset.train), distinct_times(dataset.val), len(test_times))
    if found[0] != fold.fit.stop or found[1] != fold.val.stop - fold.val.start or found[2] < size:
        raise ValueError(
            f"fold {fold.number}: the builder's split has {found} sample times in train, validation "
            f"and test, expected ({fold.fit.stop}, {fold.val.stop - fold.val.start}, >= {size})"
        )
    test = dataset.test.take(np.asarray(dataset.test.times.isin(test_times[:size])))
    return replace(dataset, test=test)


def built_samples(
    experiment: ExperimentFile,
    data: Bars,
    keywords: Mapping[str, Any],
    split: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3),
) -> Dataset:
    """The set `signalstack train` builds for the experiment's net (pipeline.dataset_for) from `data` (one series,
    or {symbol: bars} for images and pairs) with the layout's `keywords`, split by `split` with the experiment's
    embargo."""
    from signalstack.models.pipeline import dataset_for  # torch: only where a net's set is built

    return dataset_for(
        experiment.model.name,
        data,
        features=experiment.features.spec,
        labels=experiment.labels.spec,
        window=experiment.window,
        fractions=split,
        embargo=experiment.embargo,
        **keywords,
    )


def plan_built(experiment: ExperimentFile, data: Bars, keywords: Mapping[str, Any]) -> tuple[int, list[Fold]]:
    """The sample times of the net's set over `data` and the experiment's walk-forward folds over them."""
    wf = experiment.walk_forward
    try:
        n = sample_count(built_samples(experiment, data, keywords))
    except ValueError as exc:
        if "too few for splits" not in str(exc):
            raise
        needed = wf.train + experiment.embargo + wf.test
        raise InvalidInput(
            f"the samples of model {experiment.model.name}: {str(exc).split(':')[0]}, expected at least "
            f"train + embargo + test = {needed} for one walk-forward fold"
        ) from None
    return n, plan_folds(experiment, n)


def built_fold(
    experiment: ExperimentFile, data: Bars, keywords: Mapping[str, Any], number: int
) -> tuple[Dataset, Fold]:
    """Fold `number`'s set, built by the net's builder with the fold's split (scalers fitted on its fit rows)."""
    n, folds = plan_built(experiment, data, keywords)
    fold = folds[number]
    dataset = built_samples(experiment, data, keywords, fold_fractions(n, fold, experiment.embargo))
    return fold_of_split(dataset, fold), fold


def plan_folds(experiment: ExperimentFile, samples: int) -> list[Fold]:
    """The experiment's walk-forward folds over `samples` samples."""
    wf = experiment.walk_forward
    return walk_forward(
        samples,
        train=wf.train,
        test=wf.test,
        step=wf.step,
        embargo=experiment.embargo,
        expanding=wf.expanding,
        val=wf.val,
    )


def train_fold(
    experiment: ExperimentFile,
    dataset: Dataset,
    *,
    fold: int,
    seed: int,
    models: Path | None,
    data_source: str = "",
    extra: Mapping[str, Any] | None = None,
    data_digest: Mapping[str, str] | None = None,
) -> TrainResult:
    """Train the experiment's net on a fold's set with `seed`; with `models` (a real run that exports) also
    write it as models/fold{fold}_seed{seed}.onnx with its card (`extra`: more card fields; `data_digest`: the
    fingerprint of the data the run read)."""
    # Imported here: torch and the exporter (onnx, onnxruntime) load only in the processes that train.
    from signalstack.models.train import train

    config = experiment.train.config(seed)
    params = dict(experiment.model.params)
    if models is None:
        return train(dataset, experiment.model.name, config, **params)
    from signalstack.models.pipeline import train_dataset_and_export

    return train_dataset_and_export(
        dataset,
        models / f"fold{fold}_seed{seed}.onnx",
        architecture=experiment.model.name,
        config=config,
        data_source=data_source,
        params=params,
        extra=extra,
        data_digest=data_digest,
    ).result
