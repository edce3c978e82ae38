import numpy as np
import pandas as pd
import pytest

from signalstack.core.features import Feature, FeatureSpec, compute_features, feature_kinds

SPEC = FeatureSpec.default()


def test_default_spec_has_the_reference_indicators():
    cols = SPEC.columns
    for name in (
        "ret_1",
        "ret_5",
        "ret_10",
        "ma3_ratio",
        "ma10_ratio",
        "macd",
        "macd_signal",
        "macd_hist",
        "rsi14",
        "kdj_k",
        "kdj_d",
        "kdj_j",
        "bb_pctb",
        "bb_width",
        "atr14",
        "willr14",
        "obv10_change",
        "volume_z20",
        "vol20",
    ):
        assert name in cols
    assert SPEC.warmup >= 26 + 9  # MACD's lookback at least, plus convergence


def test_spec_round_trips_through_json_dict():
    assert FeatureSpec.from_dict(SPEC.to_dict()) == SPEC


def test_unknown_kind_and_parameter_are_named():
    with pytest.raises(ValueError, match="unknown feature kind 'rsx'"):
        Feature("rsx")
    with pytest.raises(ValueError, match=r"feature 'rsi': unknown parameter\(s\) \['period'\]"):
        Feature("rsi", {"period": 3})
    assert "macd" in feature_kinds()


@pytest.mark.parametrize(
    ("kind", "params", "expected"),
    [
        ("rsi", {"n": 1}, "feature 'rsi': n 1, expected an integer >= 2"),
        ("ret", {"n": 2.5}, "feature 'ret': n 2.5, expected an integer >= 1"),
        ("macd", {"signal": True}, "feature 'macd': signal True, expected an integer >= 2"),
        ("bbands", {"dev": float("nan")}, "feature 'bbands': dev nan, expected a finite number"),
    ],
)
def test_parameter_values_out_of_range_are_named(kind: str, params: dict, expected: str):
    """TA-Lib refuses these periods (or a warm-up cannot converge): said when the spec is read, not when computed."""
    with pytest.raises(ValueError) as error:
        Feature(kind, params)
    assert str(error.value) == expected


def test_kdj_j_is_three_k_minus_two_d(sp500):
    table = compute_features(sp500.iloc[:300], FeatureSpec((Feature("kdj"),)))
    k, d, j = (table[c] + 0.5 for c in ("kdj_k", "kdj_d", "kdj_j"))
    np.testing.assert_allclose(j.dropna(), (3 * k - 2 * d).dropna())


@pytest.mark.parametrize("t", [500, 2000, 4000])
def test_features_ignore_future_bars(sp500, t):
    """Rewriting every bar after t (prices and volume) leaves features at bars <= t unchanged."""
    before = compute_features(sp500, SPEC)
    future = sp500.copy()
    rng = np.random.default_rng(t)
    scale = rng.uniform(0.5, 1.5, size=len(future) - t - 1)
    for col in ("open", "high", "low", "close"):
        future.iloc[t + 1 :, future.columns.get_loc(col)] *= scale
    future.iloc[t + 1 :, future.columns.get_loc("volume")] *= scale[::-1]
    after = compute_features(future, SPEC)
    pd.testing.assert_frame_equal(before.iloc[: t + 1], after.iloc[: t + 1])
    assert not before.iloc[t + 1 :].equals(after.iloc[t + 1 :])


@pytest.mark.parametrize("end", [600, 2500, 5030])
def test_recent_window_with_warmup_matches_full_history(sp500, end):
    """Serve time sees only `warmup + window` bars; its features equal training's for the same bars."""
    window = 60
    full = compute_features(sp500, SPEC)
    recent = compute_features(sp500.iloc[end - SPEC.warmup - window + 1 : end + 1], SPEC)
    np.testing.assert_allclose(
        recent.iloc[-window:].to_numpy(), full.iloc[end - window + 1 : end + 1].to_numpy(), rtol=0, atol=1e-9
    )


def test_features_are_finite_after_warmup_even_without_volume(sp500):
    flat = sp500.assign(volume=0.0)
    table = compute_features(flat, SPEC).iloc[SPEC.warmup :]
    assert np.isfinite(table.to_numpy()).all()
    assert (table["volume_z20"] == 0).all() and (table["obv10_change"] == 0).all()
