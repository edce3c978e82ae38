import numpy as np
import pandas as pd
import pytest

from signalstack.core.labels import LabelSpec, make_labels


def bars(closes):
    index = pd.date_range("2020-01-01", periods=len(closes), freq="D")
    c = np.asarray(closes, float)
    return pd.DataFrame({"open": c, "high": c, "low": c, "close": c, "volume": 1.0}, index=index)


def test_binary_label_is_next_close_above_this_close():
    y = make_labels(bars([10, 11, 11, 10, 12]), LabelSpec("binary", 1))
    assert y.iloc[:4].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert np.isnan(y.iloc[4])


def test_three_class_thresholds_are_asymmetric():
    spec = LabelSpec.three_class(horizon=1)
    y = make_labels(bars([100, 98.9, 101.4, 102, 102]), spec)
    # -1.1% -> down, +2.53% -> up, +0.59% -> flat, 0% -> flat
    assert y.iloc[:4].tolist() == [0.0, 2.0, 1.0, 1.0]
    assert spec.classes == ["down", "flat", "up"] and spec.horizon == 1


def test_regression_label_is_future_return():
    y = make_labels(bars([10, 11, 12.1]), LabelSpec("regression", 2))
    assert y.iloc[0] == pytest.approx(0.21)
    assert y.iloc[1:].isna().all()


def test_labels_read_only_future_bars():
    """A label at t changes when bars after t change and not when bars before t change."""
    base = bars(np.linspace(10, 20, 30))
    spec = LabelSpec("regression", 3)
    y = make_labels(base, spec)
    past = base.copy()
    past.iloc[:10] *= 3
    assert make_labels(past, spec).iloc[10:].equals(y.iloc[10:])


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="label kind 'ternary'"):
        LabelSpec("ternary")
    with pytest.raises(ValueError, match="label horizon 0"):
        LabelSpec("binary", 0)
    with pytest.raises(ValueError, match="expected down < 0 < up"):
        LabelSpec("three", 5, up=-0.01, down=0.02)
    assert LabelSpec.from_dict(LabelSpec.three_class().to_dict()) == LabelSpec.three_class()
