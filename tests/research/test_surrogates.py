"""Surrogate series: valid bars on the data's clock and scale, reproducible, with the planted dependence gone."""

import numpy as np
import pytest

from signalstack.core.bars import validate_bars
from signalstack.research.surrogates import bar_shapes, make_surrogate

from .support import ar1_bars

BARS = ar1_bars(2000, 0.5, seed=1)


def lag1(returns: np.ndarray) -> float:
    return float(np.corrcoef(returns[:-1], returns[1:])[0, 1])


@pytest.mark.parametrize("kind", ["random_walk", "block_shuffle"])
def test_surrogates_are_valid_bars_on_the_datas_times_and_scale(kind):
    surrogate = make_surrogate(BARS, kind, 0, block=20)
    validate_bars(surrogate, kind)
    assert surrogate.index.equals(BARS.index) and surrogate.iloc[0].equals(BARS.iloc[0])
    real, drawn = bar_shapes(BARS)["ret"], bar_shapes(surrogate)["ret"]
    assert drawn.std() == pytest.approx(real.std(), rel=0.1)
    assert not np.allclose(surrogate["close"], BARS["close"])


@pytest.mark.parametrize("kind", ["random_walk", "block_shuffle"])
def test_a_surrogate_is_fixed_by_its_number_and_seed(kind):
    first = make_surrogate(BARS, kind, 3, block=10, seed=1)
    assert first.equals(make_surrogate(BARS, kind, 3, block=10, seed=1))
    assert not first.equals(make_surrogate(BARS, kind, 4, block=10, seed=1))
    assert not first.equals(make_surrogate(BARS, kind, 3, block=10, seed=2))


def test_random_walk_removes_the_dependence_and_block_shuffle_keeps_what_is_shorter_than_a_block():
    assert lag1(bar_shapes(BARS)["ret"].to_numpy()) > 0.4  # the planted AR(1)
    walk = bar_shapes(make_surrogate(BARS, "random_walk", 0))["ret"].to_numpy()
    assert abs(lag1(walk)) < 0.08
    blocks = bar_shapes(make_surrogate(BARS, "block_shuffle", 0, block=50))
    assert lag1(blocks["ret"].to_numpy()) > 0.4  # within blocks the order is kept
    np.testing.assert_allclose(np.sort(blocks["ret"]), np.sort(bar_shapes(BARS)["ret"]), atol=1e-12)
    single = bar_shapes(make_surrogate(BARS, "block_shuffle", 0, block=1))["ret"].to_numpy()
    assert abs(lag1(single)) < 0.08


def test_an_unknown_kind_is_named():
    with pytest.raises(ValueError, match="surrogate kind 'phase': expected one of random_walk, block_shuffle"):
        make_surrogate(BARS, "phase", 0)
