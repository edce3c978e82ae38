"""Data builders for the zoo's shapes, on real and generated bars: layouts, alignment and no look-ahead."""

import numpy as np
import pandas as pd
import pytest

from signalstack.core.bars import load_bars
from signalstack.core.features import FeatureSpec, compute_features
from signalstack.core.fundamentals import fundamentals_at
from signalstack.core.labels import LabelSpec, make_labels
from signalstack.models.fundamentals import fundamental_dataset
from signalstack.models.images import factor_images, render_image
from signalstack.models.intraday import intraday_dataset
from signalstack.models.pairs import rank_pairs
from signalstack.models.windows import Dataset, build_dataset

from ..support import SMALL, shared_csv
from .conftest import fundamentals_for, minute_bars


def samples(dataset: Dataset) -> dict:
    """time -> (inputs, targets) over all splits; pairs keep their first sample per time."""
    out = {}
    for part in (dataset.train, dataset.val, dataset.test):
        x, y = dataset.x_of(part), dataset.y_of(part)
        for i, t in enumerate(part.times):
            out.setdefault(t, ({k: v[i] for k, v in x.items()}, {k: v[i] for k, v in y.items()}))
    return out


def rewrite_after(bars: pd.DataFrame, t: pd.Timestamp, seed: int = 0) -> pd.DataFrame:
    """The same bars up to t; every price and volume after t rescaled at random."""
    out = bars.copy()
    later = out.index > t
    scale = np.random.default_rng(seed).uniform(0.7, 1.3, int(later.sum()))
    for col in ("open", "high", "low", "close", "volume"):
        out.loc[later, col] = out.loc[later, col].to_numpy() * scale
    return out


def assert_no_look_ahead(before: Dataset, after: Dataset, t: pd.Timestamp, label_clear: pd.Timestamp) -> None:
    """Inputs at times <= t are unchanged, so are labels whose horizon ends before `label_clear`."""
    old, new = samples(before), samples(after)
    checked = [s for s in old if s <= t]
    assert checked, "no sample at or before t"
    for s in checked:
        for name in old[s][0]:
            np.testing.assert_array_equal(old[s][0][name], new[s][0][name], err_msg=f"input {name} at {s}")
        if s < label_clear:
            for name in old[s][1]:
                np.testing.assert_array_equal(old[s][1][name], new[s][1][name], err_msg=f"label {name} at {s}")
    later = [s for s in old if s > t]
    assert any(not all(np.array_equal(old[s][0][k], new[s][0][k]) for k in old[s][0]) for s in later), (
        "rewriting the future changed no later input: the check is vacuous"
    )


def test_intraday_windows_from_real_five_minute_bars():
    bars = load_bars(shared_csv("2006-min-005.csv"))
    dataset = intraday_dataset(bars, SMALL, LabelSpec(), days=3, bars_per_day=48)
    x = dataset.train.x
    assert x.shape[1:] == (3, 48, 3) and dataset.inputs[0].shape == (3, 48, 3)
    table = compute_features(bars, SMALL)
    t = dataset.train.times[2]
    day = bars.index[bars.index.normalize() == t.normalize()]
    assert t == day[-1]  # a sample is named by the closing bar of its newest day
    np.testing.assert_array_equal(x[2, -1], table.loc[day[-48:]].to_numpy("float32"))
    daily_close = bars["close"].groupby(bars.index.normalize()).last()
    position = daily_close.index.get_loc(t.normalize())
    assert dataset.train.y[2] == float(daily_close.iloc[position + 1] > daily_close.iloc[position])


def test_one_day_windows_from_real_one_minute_bars_skip_short_sessions():
    bars = load_bars(shared_csv("2006-01-02-volume-min-001.csv"))
    dataset = intraday_dataset(bars, FeatureSpec.default(), LabelSpec(), days=None, bars_per_day=240)
    assert dataset.train.x.shape[1:] == (240, len(FeatureSpec.default().columns))
    assert np.isfinite(dataset.train.x).all()
    days = bars.index.normalize().nunique()
    assert len(dataset.train) + len(dataset.val) + len(dataset.test) + 2 * dataset.embargo <= days


def test_intraday_windows_do_not_look_ahead():
    bars = minute_bars(days=30, per_day=24)

    def build(b):
        return intraday_dataset(b, SMALL, LabelSpec("regression", 2), days=2, bars_per_day=12)

    before = build(bars)
    t = before.val.times[0]
    clear = bars.index.normalize().unique()
    clear = clear[clear.get_loc(t.normalize()) - 2]
    assert_no_look_ahead(before, build(rewrite_after(bars, t)), t, clear)


def test_factor_images_stack_assets_as_channels(sp500, nasdaq, tmp_path):
    assets = {"sp500": sp500.iloc[:400], "nasdaq": nasdaq.iloc[:400]}
    dataset = factor_images(assets, SMALL, LabelSpec.three_class(5), days=8)
    x, t = dataset.train.x, dataset.train.times[5]
    assert x.shape[1:] == (8, 3, 2) and dataset.inputs[0].columns == ("sp500", "nasdaq")
    nasdaq_rows = compute_features(assets["nasdaq"], SMALL)
    end = nasdaq_rows.index.get_loc(t)
    np.testing.assert_array_equal(x[5, :, :, 1], nasdaq_rows.iloc[end - 7 : end + 1].to_numpy("float32"))
    assert dataset.train.y[5] == make_labels(assets["sp500"], LabelSpec.three_class(5)).loc[t]
    assert dataset.scaler.mean.shape == (3, 2)  # one scale per (factor, asset)
    png = render_image(
        x[5], tmp_path / "image.png", channels=["sp500", "nasdaq"], factors=SMALL.columns, scaler=dataset.scaler
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reshaped_images_keep_values_and_their_per_factor_scale(sp500, nasdaq):
    assets = {"sp500": sp500.iloc[:400], "nasdaq": nasdaq.iloc[:400]}
    plain = factor_images(assets, SMALL, LabelSpec(), days=8)
    square = factor_images(assets, SMALL, LabelSpec(), days=8, shape=(4, 6))
    assert square.train.x.shape[1:] == (4, 6, 2)
    np.testing.assert_array_equal(square.train.x.reshape(plain.train.x.shape), plain.train.x)
    np.testing.assert_allclose(
        square.scaler.transform(square.train.x).reshape(plain.train.x.shape), plain.scaler.transform(plain.train.x)
    )
    with pytest.raises(ValueError, match=r"expected height \* width = 8 days \* 3 factors"):
        factor_images(assets, SMALL, LabelSpec(), days=8, shape=(5, 5))


def test_factor_images_do_not_look_ahead(sp500, nasdaq):
    assets = {"sp500": sp500.iloc[:400], "nasdaq": nasdaq.iloc[:400]}
    before = factor_images(assets, SMALL, LabelSpec("regression", 3), days=8)
    t = before.val.times[0]
    after = factor_images(
        {k: rewrite_after(v, t, seed=i) for i, (k, v) in enumerate(assets.items())},
        SMALL,
        LabelSpec("regression", 3),
        days=8,
    )
    assert_no_look_ahead(before, after, t, sp500.index[sp500.index.get_loc(t) - 3])


def universe(sp500, nasdaq):
    return {
        "sp500": sp500.iloc[:300],
        "nasdaq": nasdaq.iloc[:300],
        "sp500_late": sp500.iloc[300:600].set_axis(sp500.index[:300]),
    }


def test_pairs_are_labelled_by_who_does_better(sp500, nasdaq):
    assets = universe(sp500, nasdaq)
    dataset = rank_pairs(assets, SMALL, horizon=5)
    x, y, times = dataset.train.x, dataset.train.y, dataset.train.times
    assert set(x) == {"stock_a", "stock_b"} and x["stock_a"].shape[1:] == (3,)
    assert dataset.scalers["stock_a"] is dataset.scalers["stock_b"]
    ahead = {n: b["close"].shift(-5) / b["close"] - 1 for n, b in assets.items()}
    rows = {n: compute_features(b, SMALL) for n, b in assets.items()}
    for i in (0, 7, 100):
        a = next(n for n in assets if np.array_equal(rows[n].loc[times[i]].to_numpy("float32"), x["stock_a"][i]))
        b = next(n for n in assets if np.array_equal(rows[n].loc[times[i]].to_numpy("float32"), x["stock_b"][i]))
        assert a != b and y[i] == float(ahead[a].loc[times[i]] > ahead[b].loc[times[i]])
    assert dataset.train.times.max() < dataset.val.times.min()  # a date's pairs stay in one split
    assert len(rank_pairs(assets, SMALL, horizon=5, pairs_per_date=2).train) < len(dataset.train)


def test_pairs_do_not_look_ahead(sp500, nasdaq):
    assets = universe(sp500, nasdaq)
    before = rank_pairs(assets, SMALL, horizon=5)
    t = before.val.times[0]
    after = rank_pairs({k: rewrite_after(v, t, seed=i) for i, (k, v) in enumerate(assets.items())}, SMALL, horizon=5)
    assert_no_look_ahead(before, after, t, sp500.index[sp500.index.get_loc(t) - 5])


def test_fundamentals_are_taken_as_of_each_window(sp500):
    bars = sp500.iloc[:400]
    fundamentals = fundamentals_for(bars)
    dataset = fundamental_dataset(bars, fundamentals, SMALL, LabelSpec(), window=6)
    x, times = dataset.train.x, dataset.train.times
    assert x["features"].shape[1:] == (6, 3) and x["fundamentals"].shape[1:] == (4,)
    for i in (0, 50, 150):
        known = fundamentals.loc[: times[i]].iloc[-1].to_numpy("float32")
        np.testing.assert_array_equal(x["fundamentals"][i], known)
    assert times[0] >= fundamentals.index[0]
    daily = build_dataset(bars, SMALL, LabelSpec(), window=6)
    np.testing.assert_array_equal(
        x["features"][-1], daily.x_of(daily.train)["features"][daily.train.times.get_loc(times[-1])]
    )


def test_fundamentals_do_not_look_ahead(sp500):
    bars = sp500.iloc[:400]
    fundamentals = fundamentals_for(bars)
    labels = {"probabilities": LabelSpec.three_class(5), "forecast": LabelSpec("regression", 5)}
    before = fundamental_dataset(bars, fundamentals, SMALL, labels, window=6)
    t = before.val.times[0]
    future = fundamentals.copy()
    future.loc[future.index > t] += 10.0
    after = fundamental_dataset(rewrite_after(bars, t), future, SMALL, labels, window=6)
    assert_no_look_ahead(before, after, t, bars.index[bars.index.get_loc(t) - 5])
    assert set(before.y_of(before.train)) == {"probabilities", "forecast"}


def test_fundamentals_must_be_keyed_by_date(sp500):
    frame = pd.DataFrame({"pe": [10.0, 11.0]})
    with pytest.raises(ValueError, match="fundamentals index is RangeIndex: expected a DatetimeIndex"):
        fundamental_dataset(sp500.iloc[:200], frame, SMALL, LabelSpec(), window=6)


def test_serve_time_fundamentals_follow_the_training_rule_and_the_cards_column_order():
    frame = pd.DataFrame({"pe": [10.0, 12.0], "pb": [1.0, 2.0]}, index=pd.to_datetime(["2020-01-02", "2020-02-03"]))
    times = pd.DatetimeIndex(["2020-01-01 00:00", "2020-01-31 15:00", "2020-02-03 00:00", "2020-03-01 00:00"])
    got = fundamentals_at(frame, times, columns=("pb", "pe"))
    np.testing.assert_array_equal(got[1:], [[1.0, 10.0], [2.0, 12.0], [2.0, 12.0]])
    assert np.isnan(got[0]).all()
    with pytest.raises(ValueError, match=r"fundamentals lack column\(s\) \['roe'\]"):
        fundamentals_at(frame, times, columns=("roe",))


def test_path_labels_hold_each_step_ahead():
    index = pd.date_range("2020-01-01", periods=6, freq="D")
    close = np.array([10.0, 11, 12, 9, 10, 10])
    bars = pd.DataFrame({"open": close, "high": close, "low": close, "close": close, "volume": 1.0}, index=index)
    path = make_labels(bars, LabelSpec("path", 3))
    np.testing.assert_allclose(path.iloc[0], [0.1, 0.2, -0.1])
    assert path.iloc[3:].isna().all().all() and list(path.columns) == ["t+1", "t+2", "t+3"]
    assert LabelSpec("path", 3).n_outputs == 3 and LabelSpec("pair", 5).classes == ["down", "up"]
    with pytest.raises(ValueError, match="pair labels compare two stocks"):
        make_labels(bars, LabelSpec("pair", 1))
