"""Day x intraday models from minute bars: served from raw bars with their times, and traded on a
daily clock in Backtrader with the minute feed as the model's input (multi-timeframe)."""

from __future__ import annotations

from collections.abc import Iterator

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from signalstack.core.labels import LabelSpec
from signalstack.plugin import GrpcSource, OnnxSource, SignalIndicator, SignalSource, bars_feed

from ..support import SMALL, serving, walk_bars

DAYS, PER_DAY = 3, 12


def minute_bars(days: int = 60, per_day: int = 20, seed: int = 3) -> pd.DataFrame:
    """A random walk of `per_day` one-minute bars per business day from 09:31; every 7th day is short."""
    stamps = [
        d + pd.Timedelta(hours=9, minutes=31 + m)
        for k, d in enumerate(pd.bdate_range("2021-03-01", periods=days))
        for m in range(per_day if k % 7 != 6 else PER_DAY - 4)
    ]
    index = pd.DatetimeIndex(stamps, name="time")
    return walk_bars(index, seed)


@pytest.fixture(scope="module")
def minutes() -> pd.DataFrame:
    return minute_bars()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, minutes: pd.DataFrame):
    from signalstack.models.config import TrainConfig
    from signalstack.models.intraday import intraday_dataset
    from signalstack.models.pipeline import train_dataset_and_export

    dataset = intraday_dataset(minutes, SMALL, LabelSpec(), days=DAYS, bars_per_day=PER_DAY)
    out = tmp_path_factory.mktemp("intraday") / "hier.onnx"
    model = train_dataset_and_export(
        dataset,
        out,
        architecture="hier_lstm",
        params={"intraday": (3, 3), "daily": (3,)},
        config=TrainConfig(epochs=1, progress=False),
    )
    return model, dataset


@pytest.fixture(scope="module")
def target(trained) -> Iterator[str]:
    with serving(trained[0].path.parent) as served:
        yield served


def test_served_from_raw_minute_bars_like_the_training_samples(trained, minutes: pd.DataFrame) -> None:
    model, dataset = trained
    source = OnnxSource(model.path)
    assert source.intraday and source.card.inputs[0].origin == "intraday"
    assert source.card.bars_required == SMALL.warmup + DAYS * PER_DAY
    series = source.predict_series(minutes).dropna()
    times = pd.DatetimeIndex(np.concatenate([part.times for part in (dataset.train, dataset.val, dataset.test)]))
    x = np.concatenate([part.x for part in (dataset.train, dataset.val, dataset.test)])
    assert set(times) <= set(series.index)  # a sample at every day the training set has
    expected = source.model.predict({"features": x})["probabilities"]
    np.testing.assert_allclose(series.loc[times].to_numpy(), expected, rtol=0, atol=1e-6)
    for t in times[-3:]:  # the live path: the minute bars of the last few days up to a day's close
        recent = minutes.loc[(minutes.index <= t) & (minutes.index >= t.normalize() - pd.Timedelta(days=14))]
        np.testing.assert_allclose(source.predict_last(recent), series.loc[t].to_numpy(), rtol=0, atol=1e-6)


def test_short_days_get_no_sample_and_minute_bars_between_closes_no_prediction(trained, minutes) -> None:
    source = OnnxSource(trained[0].path)
    series = source.predict_series(minutes)
    scored = series.dropna().index
    assert (scored == scored.normalize() + pd.Timedelta(hours=9, minutes=30 + 20)).all()  # each day's close
    short = {d for d in minutes.index.normalize().unique() if (minutes.index.normalize() == d).sum() < PER_DAY}
    assert short and not short & set(scored.normalize())


def test_grpc_serves_intraday_models_with_bar_times(trained, target: str, minutes: pd.DataFrame) -> None:
    import grpc

    from signalstack.transport.client import SignalClient

    local = OnnxSource(trained[0].path)
    with GrpcSource(target, "hier") as served:
        assert served.intraday
        pd.testing.assert_frame_equal(served.predict_series(minutes), local.predict_series(minutes), atol=1e-6)
        window = minutes.iloc[-200:]
        np.testing.assert_allclose(served.predict_last(window), local.predict_last(window), atol=1e-6)
    with SignalClient(target) as client, pytest.raises(grpc.RpcError) as info:
        client.predict_series("hier", {c: minutes[c].to_numpy() for c in minutes.columns})  # no times
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "no bar times: an intraday model groups bars into days" in info.value.details()


class _Daily(bt.Strategy):
    """The daily data (resampled from the minute feed) as the clock, the minute feed as the model's input."""

    params = (("source", None),)

    def __init__(self) -> None:
        self.signal = SignalIndicator(self.datas[1], self.datas[0], source=self.p.source)


def daily_lines(source: SignalSource, minutes: pd.DataFrame, preload: bool = True) -> pd.Series:
    cerebro = bt.Cerebro(stdstats=False, preload=preload, runonce=preload)
    feed = bars_feed(minutes)
    cerebro.adddata(feed)
    cerebro.resampledata(feed, timeframe=bt.TimeFrame.Days, compression=1)
    cerebro.addstrategy(_Daily, source=source)
    return cerebro.run()[0].signal.probabilities()["up"]


def test_a_daily_strategy_gets_each_days_prediction_at_its_close(trained, target: str, minutes) -> None:
    local = OnnxSource(trained[0].path)
    p_up = daily_lines(local, minutes)
    assert p_up.index.normalize().is_unique and len(p_up) == minutes.index.normalize().nunique()
    expected = local.predict_series(minutes)["up"].dropna()
    got = p_up.dropna()
    assert len(got) == len(expected) > 20
    np.testing.assert_array_equal(got.index.normalize(), expected.index.normalize())
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-7)
    with GrpcSource(target, "hier") as served:
        live = daily_lines(served, minutes, preload=False)
    pd.testing.assert_series_equal(live, p_up, rtol=0, atol=1e-6)


def test_rewriting_later_minute_bars_leaves_earlier_daily_signals(trained, minutes: pd.DataFrame) -> None:
    local = OnnxSource(trained[0].path)
    before = daily_lines(local, minutes)
    cut = minutes.index.normalize().unique()[40]
    rewritten = minutes.copy()
    later = rewritten.index >= cut
    rewritten.loc[later, ["open", "high", "low", "close"]] *= np.linspace(0.8, 1.2, int(later.sum()))[:, None]
    after = daily_lines(local, rewritten)
    pd.testing.assert_series_equal(after.loc[after.index < cut], before.loc[before.index < cut])
    assert not np.allclose(after.loc[after.index >= cut].dropna(), before.loc[before.index >= cut].dropna())


def test_an_intraday_model_without_its_intraday_data_is_refused(trained, minutes: pd.DataFrame) -> None:
    class _One(bt.Strategy):
        def __init__(self) -> None:
            SignalIndicator(self.data, source=OnnxSource(trained[0].path))

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bars_feed(minutes))
    cerebro.addstrategy(_One)
    with pytest.raises(ValueError, match="expected the intraday data as the indicator's second data"):
        cerebro.run()
