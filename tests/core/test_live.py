"""A live feed scored bar by bar through `LiveWindow` gives the batched path's features and outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from signalstack.core.bars import COLUMNS
from signalstack.core.errors import InvalidInput
from signalstack.core.features import Feature, FeatureSpec, LiveFeatures, feature_kinds, feature_matrix
from signalstack.core.fundamentals import fundamentals_at, load_fundamentals
from signalstack.core.live import LiveWindow
from signalstack.core.model import OnnxModel

from ..support import handmade_model, walk_with_flat_volume

OLD = Path(__file__).resolve().parents[1] / "data" / "v0_1_0"

EVERY_KIND = FeatureSpec(
    (
        Feature("ret", {"n": 1}),
        Feature("ret", {"n": 7}),
        Feature("ma_ratio", {"n": 4}),
        Feature("ema_ratio", {"n": 2}),
        Feature("ema_ratio", {"n": 26}),
        Feature("macd"),
        Feature("rsi", {"n": 2}),
        Feature("rsi", {"n": 14}),
        Feature("kdj", {"n": 5, "k": 2, "d": 4}),
        Feature("bbands", {"n": 10, "dev": 1.5}),
        Feature("atr", {"n": 3}),
        Feature("willr"),
        Feature("obv", {"n": 3}),
        Feature("volume_z", {"n": 6}),
        Feature("volatility", {"n": 5}),
    )
)
"""Every kind of feature, recursive and windowed, some with parameters other than the defaults."""

# A swapped MACD (fast > slow): TA-Lib swaps the periods, and the live path must too.
SWAPPED = FeatureSpec((Feature("macd", {"fast": 10, "slow": 4, "signal": 3}), Feature("rsi", {"n": 3})))


def test_every_feature_kind_is_covered() -> None:
    assert sorted({f.kind for f in EVERY_KIND.features}) == feature_kinds()


def _push_all(live: LiveFeatures, bars: pd.DataFrame) -> np.ndarray:
    return np.array([live.push(tuple(row)) for row in bars[list(COLUMNS)].to_numpy().tolist()])


@pytest.mark.parametrize("spec", [EVERY_KIND, FeatureSpec.default(), SWAPPED], ids=["every-kind", "default", "swapped"])
def test_live_feature_rows_equal_the_feature_matrix(spec: FeatureSpec) -> None:
    bars = walk_with_flat_volume(900, seed=1)
    batched = feature_matrix(bars, spec)
    live = _push_all(LiveFeatures(spec), bars)
    assert np.array_equal(np.isnan(live), np.isnan(batched))  # NaN exactly where each indicator warms up
    np.testing.assert_allclose(live, batched, rtol=0, atol=1e-9)


def test_flat_prices_give_the_feature_matrix_s_zeros() -> None:
    flat = pd.DataFrame({c: np.full(120, 20.0) for c in COLUMNS[:4]} | {"volume": np.full(120, 5e5)})
    np.testing.assert_array_equal(_push_all(LiveFeatures(EVERY_KIND), flat), feature_matrix(flat, EVERY_KIND))


@pytest.mark.parametrize(
    ("price", "volume"), [(1e-15, 1.0), (1.0, 1e9), (1e6, 1e-6)], ids=["sub-picodollar", "huge-volume", "tiny-volume"]
)
def test_rescaled_series_give_the_feature_matrix_s_rows(price: float, volume: float) -> None:
    """Scale-free features stay so live: TA-Lib's flat-range and zero-variance rules are relative to
    the window (a fixed band would zero every range and deviation of a series quoted at 1e-14)."""
    bars = walk_with_flat_volume(300, seed=11)
    bars[["open", "high", "low", "close"]] *= price
    bars["volume"] *= volume
    batched = feature_matrix(bars, EVERY_KIND)
    live = _push_all(LiveFeatures(EVERY_KIND), bars)
    assert np.array_equal(np.isnan(live), np.isnan(batched))
    np.testing.assert_allclose(live, batched, rtol=0, atol=1e-9)


def test_near_zero_deviations_fall_on_the_feature_matrix_s_side_of_each_threshold() -> None:
    """Closes and volumes a few ulps apart (dyadic, so every sum is exact both ways): Bollinger's
    deviation (variance ~1e-18, far under TA-Lib's old fixed 1e-14) is kept, and volume_z's
    deviation is kept at 2e-9 of the mean and zeroed at 5e-10 of it, as `feature_matrix` does."""
    rng = np.random.default_rng(12)
    n = 200
    close = 16.0 + 2.0**-30 * rng.integers(-3, 4, n)
    jitter = np.where(np.arange(n) < n // 2, 2.0**-9, 2.0**-11)  # std / mean 1.9e-9, then 4.7e-10
    volume = 2.0**20 + jitter * rng.choice([-1.0, 1.0], n)
    bars = pd.DataFrame(
        {"open": close, "high": close + 2.0**-28, "low": close - 2.0**-28, "close": close, "volume": volume}
    )
    batched = feature_matrix(bars, EVERY_KIND)
    live = _push_all(LiveFeatures(EVERY_KIND), bars)
    assert np.array_equal(np.isnan(live), np.isnan(batched))
    np.testing.assert_allclose(live, batched, rtol=0, atol=1e-9)
    columns = EVERY_KIND.columns
    z, width = live[:, columns.index("volume_z6")], live[:, columns.index("bb_width")]
    assert (z[10 : n // 2] != 0).mean() > 0.5 and (z[n // 2 + 6 :] == 0).all()  # 0 above: a window of one sign
    assert ((width[10:] > 0) & (width[10:] < 1e-8)).all()


def test_a_replaced_bar_gives_the_row_of_the_bar_that_replaced_it() -> None:
    bars = walk_with_flat_volume(400, seed=2)
    batched = feature_matrix(bars, EVERY_KIND)
    live = LiveFeatures(EVERY_KIND)
    rows = []
    for row in bars[list(COLUMNS)].to_numpy().tolist():
        forming = (row[0], max(row[0], row[3]) * 1.01, min(row[0], row[3]) * 0.98, row[3] * 1.003, row[4] / 3)
        live.push(forming)  # the bar while it forms, then twice replaced: the last one counts
        live.push(tuple(row), replace=True)
        rows.append(live.push(tuple(row), replace=True))
    assert live.count == len(bars)
    np.testing.assert_allclose(np.array(rows), batched, rtol=0, atol=1e-9)


def test_replacing_before_any_bar_is_refused() -> None:
    with pytest.raises(ValueError, match="no bar to replace yet"):
        LiveFeatures(EVERY_KIND).push((1.0, 1.0, 1.0, 1.0, 1.0), replace=True)


def _push_series(live: LiveWindow, bars: pd.DataFrame, tensors: dict[str, np.ndarray] | None = None) -> list:
    """Each bar's outputs (None where there are none), pushed one at a time with its tensor rows."""
    out = []
    for i, (time, row) in enumerate(zip(bars.index, bars[list(COLUMNS)].to_numpy())):
        rows = {name: x[i : i + 1] for name, x in (tensors or {}).items()}
        known = all(np.isfinite(x).all() for x in rows.values())
        out.append(live.push(time, row, rows, score=known))
    return out


def _scored(outputs: list, columns: list[str], index: pd.Index) -> pd.DataFrame:
    """The pushed outputs as predict_series' frame: from the first bar with enough history, NaN without."""
    first = next(i for i, x in enumerate(outputs) if x is not None)
    rows = [x if x is not None else np.full(len(columns), np.nan) for x in outputs[first:]]
    return pd.DataFrame(np.array(rows, dtype=np.float32), index=index[first:], columns=columns)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, OnnxModel]:
    folder = tmp_path_factory.mktemp("live_models")
    default = handmade_model(folder / "default.onnx", FeatureSpec.default(), 20, seed=1)
    one_row = handmade_model(folder / "one_row.onnx", EVERY_KIND, 1, flat=True, seed=2)
    return {
        "every-kind": OnnxModel(handmade_model(folder / "every.onnx", EVERY_KIND, 12), device="cpu"),
        "default": OnnxModel(default, device="cpu"),
        "one-row": OnnxModel(one_row, device="cpu"),
        "lstm-0.1.0": OnnxModel(OLD / "lstm_v0_1_0.onnx", device="cpu"),
    }


@pytest.mark.parametrize("name", ["every-kind", "default", "one-row", "lstm-0.1.0"])
def test_live_outputs_equal_predict_series_bar_by_bar(models: dict[str, OnnxModel], name: str) -> None:
    model = models[name]
    bars = walk_with_flat_volume(model.bars_required + 150, seed=3)
    outputs = _push_series(LiveWindow(model), bars)
    expected = model.predict_series(bars)
    assert all(x is None for x in outputs[: model.bars_required - 1]) and outputs[model.bars_required - 1] is not None
    got = _scored(outputs, model.columns, bars.index)
    pd.testing.assert_index_equal(got.index, expected.index)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-6)


def test_a_feed_started_mid_series_equals_the_full_history_after_its_warm_up(models: dict[str, OnnxModel]) -> None:
    """The recursive indicators' seeds differ (this feed's first bar is bar 500), by less than the warm-up allows."""
    model = models["default"]
    bars = walk_with_flat_volume(model.bars_required + 700, seed=4)
    outputs = _push_series(LiveWindow(model), bars.iloc[500:])
    expected = model.predict_series(bars).iloc[500:]
    np.testing.assert_allclose(
        _scored(outputs, model.columns, bars.index[500:]).to_numpy(), expected.to_numpy(), rtol=0, atol=1e-6
    )


def test_the_two_input_net_takes_its_fundamentals_bar_by_bar() -> None:
    """The 0.1.0 multitask net (fundamentals + bars, two heads): NaN-free rows only once published."""
    model = OnnxModel(OLD / "multitask_v0_1_0.onnx", device="cpu")
    bars = walk_with_flat_volume(model.bars_required + 200, seed=5, start="2013-10-01")
    factors = load_fundamentals(OLD / "factors.csv")
    tensors = {i.name: fundamentals_at(factors, bars.index, i.columns) for i in model.tensor_inputs}
    assert not np.isfinite(tensors["fundamentals"][: model.bars_required]).all()  # published during the feed
    outputs = _push_series(LiveWindow(model), bars, tensors)
    expected = model.predict_series(bars, tensors=tensors)
    got = _scored(outputs, model.columns, bars.index)
    assert list(got.columns) == ["down", "flat", "up", "forecast"] and got.notna().all(axis=1).sum() > 100
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-6)


def test_outputs_up_to_a_bar_ignore_the_bars_after_it(models: dict[str, OnnxModel]) -> None:
    model = models["every-kind"]
    bars = walk_with_flat_volume(model.bars_required + 120, seed=6)
    cut = model.bars_required + 60
    future = bars.copy()
    rng = np.random.default_rng(7)
    scale = rng.uniform(0.6, 1.4, len(bars) - cut - 1)
    for column in ("open", "high", "low", "close"):
        future.iloc[cut + 1 :, future.columns.get_loc(column)] *= scale
    future.iloc[cut + 1 :, future.columns.get_loc("volume")] *= scale[::-1]
    before, after = _push_series(LiveWindow(model), bars), _push_series(LiveWindow(model), future)
    scored = range(model.bars_required - 1, len(bars))
    assert all(np.array_equal(before[i], after[i]) for i in scored if i <= cut)
    assert not any(np.array_equal(before[i], after[i]) for i in scored if i > cut)


def test_a_bar_still_forming_is_replaced_by_the_bar_at_the_same_time(models: dict[str, OnnxModel]) -> None:
    """Each bar arrives first as a partial bar, then as its final values at the same time: the
    outputs are those of the final bars, and the partial bars leave nothing behind."""
    model = models["every-kind"]
    bars = walk_with_flat_volume(model.bars_required + 80, seed=8)
    live = LiveWindow(model)
    outputs = []
    for time, row in zip(bars.index, bars[list(COLUMNS)].to_numpy()):
        partial = np.array([row[0], max(row[0], row[3]) * 1.02, min(row[0], row[3]) * 0.97, row[3] * 0.99, row[4] / 2])
        first = live.push(time, partial)
        outputs.append(live.push(time, row))
        assert (first is None) == (outputs[-1] is None)
        if first is not None:
            assert not np.allclose(first, outputs[-1], rtol=0, atol=1e-6)  # the partial bar was scored as such
    expected = model.predict_series(bars)
    np.testing.assert_allclose(
        _scored(outputs, model.columns, bars.index).to_numpy(), expected.to_numpy(), rtol=0, atol=1e-6
    )


def test_a_warm_up_shorter_than_bars_required_scores_nothing(models: dict[str, OnnxModel]) -> None:
    model = models["default"]
    bars = walk_with_flat_volume(model.bars_required, seed=9)
    live = LiveWindow(model)
    outputs = _push_series(live, bars.iloc[:-1])
    assert outputs == [None] * (model.bars_required - 1)
    last = bars.iloc[-1]
    assert live.push(bars.index[-1], last[list(COLUMNS)].to_numpy(), score=False) is None  # history only
    scored = live.push(bars.index[-1], last[list(COLUMNS)].to_numpy())  # the same bar again, now scored
    np.testing.assert_allclose(scored, model.predict_series(bars).to_numpy()[0], rtol=0, atol=1e-6)


def test_bad_bars_and_tensors_are_named(models: dict[str, OnnxModel]) -> None:
    model = models["every-kind"]
    live = LiveWindow(model)
    with pytest.raises(InvalidInput, match=r"live bar 2020-01-02 00:00:00: low 12, expected low <= min"):
        live.push(pd.Timestamp("2020-01-02"), np.array([10.0, 13.0, 12.0, 11.0, 100.0]))
    two_inputs = OnnxModel(OLD / "multitask_v0_1_0.onnx", device="cpu")
    live = LiveWindow(two_inputs)
    bars = walk_with_flat_volume(two_inputs.bars_required, seed=10)
    _push_series(live, bars.iloc[:-1])
    row = bars[list(COLUMNS)].to_numpy()[-1]
    with pytest.raises(InvalidInput, match=r"tensor inputs \[\]: model multitask_v0_1_0 takes \['fundamentals'\]"):
        live.push(bars.index[-1], row)
    with pytest.raises(InvalidInput, match="input 'fundamentals': NaN or infinite values"):
        live.push(bars.index[-1], row, {"fundamentals": np.array([[np.nan, 1.0]])})
    with pytest.raises(
        InvalidInput, match=r"live bar .*: input 'fundamentals' of shape \[1, 3\]: expected \[N >= 1, 2\]"
    ):
        live.push(bars.index[-1], row, {"fundamentals": np.ones((1, 3))})
