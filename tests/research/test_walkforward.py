"""Walk-forward folds: the embargo holds for any layout, and nothing a fold learns from reads its test bars."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import TimeSeriesSplit

from signalstack.core.labels import LabelSpec
from signalstack.research.walkforward import fold_dataset, sample_windows, walk_forward

from ..support import SMALL
from .support import ar1_bars


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(10, 3000),
    train=st.integers(4, 800),
    test=st.integers(1, 300),
    extra=st.integers(0, 100),
    embargo=st.integers(0, 30),
    expanding=st.booleans(),
    val=st.floats(0.05, 0.5),
)
def test_folds_keep_the_embargo_the_sizes_and_the_time_order(n, train, test, extra, embargo, expanding, val):
    step = test + extra
    try:
        folds = walk_forward(n, train=train, test=test, step=step, embargo=embargo, expanding=expanding, val=val)
    except ValueError as exc:  # only for layouts that do not fit: too few samples, or too few to fit
        assert "expected at least" in str(exc)
        assert n < train + embargo + test or "to fit" in str(exc)
        return
    assert folds[-1].test.stop == n  # anchored at the end, like TimeSeriesSplit
    for k, fold in enumerate(folds):
        assert fold.number == k
        assert 0 <= fold.fit.start < fold.fit.stop and fold.fit.stop - fold.fit.start >= 2
        assert fold.val.start - fold.fit.stop >= embargo  # purged before the validation tail
        assert fold.test.start - fold.val.stop >= embargo  # purged before the test
        assert fold.test.start - fold.val.stop == embargo and fold.test.stop - fold.test.start == test
        assert fold.val.stop - fold.val.start >= 2
        if expanding:
            assert fold.train.start == 0
        else:
            assert fold.train.stop - fold.train.start == train
        if k:
            assert fold.test.start - folds[k - 1].test.start == step  # retrained every step
            assert fold.test.start >= folds[k - 1].test.stop  # each sample tested at most once


@pytest.mark.parametrize("expanding", [False, True])
def test_folds_are_scikit_learns_time_series_split_with_a_gap(expanding):
    n, train, test, embargo = 1000, 300, 120, 5
    folds = walk_forward(n, train=train, test=test, embargo=embargo, expanding=expanding)
    reference = TimeSeriesSplit(
        n_splits=len(folds), test_size=test, gap=embargo, max_train_size=None if expanding else train
    )
    for fold, (train_rows, test_rows) in zip(folds, reference.split(np.zeros(n)), strict=True):
        np.testing.assert_array_equal(np.arange(n)[fold.train], train_rows)
        np.testing.assert_array_equal(np.arange(n)[fold.test], test_rows)


def test_too_few_samples_are_refused_with_the_numbers():
    with pytest.raises(ValueError, match=r"99 samples: expected at least train \+ embargo \+ test = 80 \+ 1 \+ 20"):
        walk_forward(99, train=80, test=20, embargo=1)
    with pytest.raises(ValueError, match="leaves 1 to fit after a validation tail of 2 and an embargo of 2"):
        walk_forward(100, train=5, test=20, embargo=2)


@pytest.mark.parametrize("horizon", [1, 5])
def test_no_fold_learns_from_a_bar_of_its_test_period(horizon):
    """Rewrite every bar from a fold's first test bar on: its fit and validation samples (x and y) and its
    scaler must not move, while its test labels do."""
    bars = ar1_bars(900, 0.0, seed=3)
    labels = LabelSpec("binary", horizon)
    specs = {"features": SMALL, "labels": labels, "window": 10, "embargo": horizon}
    windows = sample_windows(bars, SMALL, labels, 10)
    folds = walk_forward(len(windows), train=300, test=150, embargo=horizon)
    assert len(folds) >= 2
    rng = np.random.default_rng(0)
    for fold in folds:
        before = fold_dataset(windows, fold, **specs)
        later = bars.index >= before.test.times[0]
        rewritten = bars.copy()
        factors = np.exp(rng.normal(0.0, 0.05, later.sum()))  # each bar's OHLC scaled alike: still valid bars
        for column in ("open", "high", "low", "close"):
            rewritten.loc[later, column] *= factors
        rewritten.loc[later, "volume"] *= 3
        after = fold_dataset(sample_windows(rewritten, SMALL, labels, 10), fold, **specs)
        for part in ("train", "val"):
            np.testing.assert_array_equal(getattr(before, part).x, getattr(after, part).x)
            np.testing.assert_array_equal(getattr(before, part).y, getattr(after, part).y)
            assert getattr(before, part).times.equals(getattr(after, part).times)
        assert before.scaler == after.scaler
        assert not np.array_equal(before.test.y, after.test.y)  # the rewrite reached the test period


def test_the_scaler_is_fitted_on_the_fit_rows_only():
    bars = ar1_bars(700, 0.0, seed=4)
    labels = LabelSpec()
    windows = sample_windows(bars, SMALL, labels, 10)
    fold = walk_forward(len(windows), train=300, test=100, embargo=1)[0]
    dataset = fold_dataset(windows, fold, features=SMALL, labels=labels, window=10, embargo=1)
    newest = windows.x[:, -1]
    np.testing.assert_allclose(dataset.scaler.mean, newest[fold.fit].mean(axis=0), rtol=1e-5)
    assert not np.allclose(dataset.scaler.mean, newest[fold.fit.start : fold.test.stop].mean(axis=0), rtol=1e-3)
