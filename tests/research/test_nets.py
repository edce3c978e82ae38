"""`signalstack run` for the nets whose samples are not one window of bars: two inputs (bars and fundamentals),
day x intraday blocks of intraday bars, several heads (multitask), factor images (inception) and pairs (rank);
each fold built by the train pipeline's builder with the fold's split, on data the tests make."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from signalstack.core.bars import load_bars
from signalstack.core.errors import SettingsError
from signalstack.models.windows import fit_scaler
from signalstack.research.experiment import load_experiment, parse_experiment
from signalstack.research.layouts import layout_of
from signalstack.research.layouts.series import session_bars
from signalstack.research.metrics import TRADING_METRICS
from signalstack.research.run import run_experiment

from ..support import walk_bars
from .support import TINY, ar1_bars

pytestmark = pytest.mark.slow  # trains real (tiny) nets end to end

FEATURES = TINY["features"]
CLASS_METRICS = {
    "accuracy",
    "balanced_accuracy",
    "roc_auc",
    "log_loss",
    "brier",
    "ic",
    "rank_ic",
    "total_return",
    "sharpe",
    "max_drawdown",
}


def minute_bars(days: int = 120, per_day: int = 12, seed: int = 3) -> pd.DataFrame:
    """`days` business days of half-hour bars, 09:30 .. 15:00 (12 a day)."""
    stamps = [
        d + pd.Timedelta(hours=9, minutes=30 + 30 * m)
        for d in pd.bdate_range("2021-03-01", periods=days)
        for m in range(per_day)
    ]
    return walk_bars(pd.DatetimeIndex(stamps), seed)


def factors(bars: pd.DataFrame, every: str = "20D") -> pd.DataFrame:
    """Three dated factors, a row every `every` from the first bar (as published on those dates)."""
    dates = pd.date_range(bars.index[0], bars.index[-1], freq=every, name="date")
    return pd.DataFrame(np.random.default_rng(0).normal(size=(len(dates), 3)), index=dates, columns=["pe", "pb", "roe"])


def write(folder, doc: dict) -> object:
    path = folder / "exp.yaml"
    path.write_text(
        yaml.safe_dump({**TINY, "baselines": ["majority", "logistic", "buy_and_hold"], **doc}, sort_keys=False)
    )
    return path


@pytest.fixture(scope="module")
def daily(tmp_path_factory):
    """bars.csv (700 daily bars) and fundamentals.csv beside it."""
    folder = tmp_path_factory.mktemp("daily")
    bars = ar1_bars(700, 0.0, seed=1)
    bars.to_csv(folder / "bars.csv")
    factors(bars).to_csv(folder / "fundamentals.csv")
    return folder


@pytest.fixture(scope="module")
def minutes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("minutes")
    minute_bars().to_csv(folder / "bars.csv")
    return folder


@pytest.fixture(scope="module")
def symbols(tmp_path_factory):
    """A.csv, B.csv, C.csv: three symbols' daily bars on the same dates."""
    folder = tmp_path_factory.mktemp("symbols")
    for i, name in enumerate("ABC"):
        ar1_bars(600, 0.0, seed=i).to_csv(folder / f"{name}.csv")
    return folder


TWO_INPUT = {
    "data": {"path": "bars.csv"},
    "fundamentals": "fundamentals.csv",
    "labels": {"kind": "binary", "horizon": 2},
    "model": {"name": "dual_rnn", "params": {"dense": [4], "recurrent": [4]}},
    "walk_forward": {"train": 250, "test": 150, "expanding": True},
}
INTRADAY = {
    "data": {"path": "bars.csv"},
    "model": {"name": "hier_lstm", "params": {"intraday": [3], "daily": [3]}},
    "intraday": {"days": 3},
    "walk_forward": {"train": 50, "test": 25, "expanding": True},
}


def check_shape(metrics: dict, names: set[str], folds: int = 2) -> None:
    """metrics.json's documented shape: {"model": {METRIC: {mean, std, n, undefined}}, ...}, with no_trade beside a
    trading metric's, over `folds` folds x 1 seed."""
    assert set(metrics["model"]) == names and metrics["run"]["metrics"] == list(metrics["model"])
    assert all(
        summary.keys() == {"mean", "std", "n", "undefined", *(["no_trade"] if name in TRADING_METRICS else [])}
        for name, summary in metrics["model"].items()
    )
    assert metrics["model"]["roc_auc"]["n"] == folds and [row["fold"] for row in metrics["folds"]] == list(range(folds))


def positions(index: pd.DatetimeIndex, row: dict) -> tuple[int, ...]:
    """Where a fold's fit end, validation start and end, and test start fall in `index`."""
    return tuple(index.get_loc(pd.Timestamp(t)) for t in (row["train"][1], *row["val"], row["test"][0]))


# ------------------------------------------------------------------------------------------- two inputs


def test_a_two_input_net_runs_each_fold_on_bars_and_fundamentals(daily):
    experiment = load_experiment(write(daily, TWO_INPUT))
    assert layout_of(experiment).name == "fundamentals" and experiment.fundamentals == str(daily / "fundamentals.csv")
    result = run_experiment(experiment, daily / "runs")
    check_shape(result.metrics, CLASS_METRICS)
    predictions = pd.read_csv(result.path / "predictions.csv")
    assert list(predictions.columns) == ["time", "down", "up", "fold", "seed", "label", "forward_return"]
    assert len(predictions) == 2 * 150 and predictions["time"].is_unique
    bars = load_bars(daily / "bars.csv")
    for row in result.metrics["folds"]:  # samples are bars here: an embargo of the horizon (2) before each part
        fit_end, val_start, val_end, test_start = positions(bars.index, row)
        assert val_start - fit_end == 3 and test_start - val_end == 3
    assert (result.path / "report" / "index.html").is_file()


def test_a_fold_never_reads_a_test_bar_and_its_scalers_see_its_fit_rows_alone(daily, minutes):
    """Changing every bar (and fundamentals row) from a fold's test start on changes nothing the fold trains or
    stops on; each scaler is the fit rows' own."""
    cases = [
        (load_experiment(write(daily, TWO_INPUT)), "fundamentals"),
        (load_experiment(write(minutes, INTRADAY)), None),
    ]
    for experiment, extra in cases:
        layout = layout_of(experiment)
        bars, fundamentals = layout.load(experiment)
        folds = layout.plan(experiment, bars, fundamentals).folds
        assert len(folds) == 2
        for number in range(2):
            dataset, fold = layout.fold(experiment, bars, fundamentals, number)
            assert len(dataset.train) == fold.fit.stop and len(dataset.test) == fold.test.stop - fold.test.start
            assert dataset.train.times[-1] < dataset.val.times[0] and dataset.val.times[-1] < dataset.test.times[0]
            for name, x in dataset.x_of(dataset.train).items():
                expected = fit_scaler(x)
                np.testing.assert_allclose(dataset.scalers[name].mean, expected.mean, rtol=1e-6)
                np.testing.assert_allclose(dataset.scalers[name].std, expected.std, rtol=1e-6)
            cut = dataset.test.times[0].normalize() if extra is None else dataset.test.times[0]
            later = bars.index >= cut
            changed = bars.copy()  # each later bar moved by its own factor: returns and indicators change
            changed.loc[later, ["open", "high", "low", "close"]] *= np.random.default_rng(number).uniform(
                0.8, 1.2, (int(later.sum()), 1)
            )
            moved = None if fundamentals is None else fundamentals.copy()
            if moved is not None:
                moved.loc[moved.index >= cut] = 99.0
            again, _ = layout.fold(experiment, changed, moved, number)
            for part in ("train", "val"):
                before, after = getattr(dataset, part), getattr(again, part)
                assert before.times.equals(after.times)
                for name, x in dataset.x_of(before).items():
                    np.testing.assert_array_equal(x, again.x_of(after)[name])
                np.testing.assert_array_equal(before.y, after.y)
            test_x = dataset.x_of(dataset.test)["features"]
            assert not np.array_equal(test_x, again.x_of(again.test)["features"])  # the change did reach the test


# --------------------------------------------------------------------------------------------- intraday


def test_a_day_by_intraday_net_runs_on_minute_bars_one_sample_a_day(minutes):
    experiment = load_experiment(write(minutes, {**INTRADAY, "surrogates": {"n": 1}}))
    assert layout_of(experiment).name == "intraday" and experiment.intraday.bars_per_day == "auto"  # session length
    result = run_experiment(experiment, minutes / "runs")
    check_shape(result.metrics, CLASS_METRICS)
    predictions = pd.read_csv(result.path / "predictions.csv", parse_dates=["time"])
    assert list(predictions.columns) == ["time", "down", "up", "fold", "seed", "label", "forward_return"]
    assert (predictions["time"].dt.strftime("%H:%M") == "15:00").all()  # each day's closing bar
    assert len(predictions) == 2 * 25 and predictions["time"].dt.normalize().is_unique
    days = session_bars(load_bars(minutes / "bars.csv")).index
    for row in result.metrics["folds"]:  # positions count days: an embargo of one day (the horizon) before each
        fit_end, val_start, val_end, test_start = positions(days, row)
        assert val_start - fit_end == 2 and test_start - val_end == 2
    stats = json.loads((result.path / "report" / "stats.json").read_text())
    assert list(stats)[:2] == ["seed 0", "buy & hold"]  # the seed's stitched predictions, on the daily bars
    equity = pd.read_csv(result.path / "report" / "equity.csv", parse_dates=["time"])
    assert (equity["time"].dt.strftime("%H:%M") == "15:00").all() and len(equity) == 2 * 25
    assert result.metrics["surrogates"]["roc_auc"]["n"] == 1  # a surrogate of the minute bars ran the same folds


def test_a_t_by_f_net_with_an_intraday_section_reads_one_day_blocks_of_the_session_length(minutes):
    experiment = load_experiment(
        write(minutes, {**INTRADAY, "intraday": {}, "model": {"name": "cnn1d", "params": {"filters": 2, "pool": 2}}})
    )
    layout = layout_of(experiment)
    assert layout.name == "intraday" and experiment.intraday.days is None
    dataset, _ = layout.fold(experiment, layout.load(experiment)[0], None, 0)
    assert dataset.inputs[0].shape == (12, 3) and dataset.inputs[0].origin == "intraday"
    with pytest.raises(SettingsError, match="intraday.days: 3, not used by this model"):
        parse_experiment({**TINY, **INTRADAY, "model": {"name": "cnn1d"}}, base=minutes)


# ------------------------------------------------------------------------------------------- multitask


def test_a_multitask_net_is_scored_on_each_head(daily):
    doc = {**TWO_INPUT, "model": {"name": "multitask", "params": {"hidden": [4], "joined": [4]}}}
    result = run_experiment(load_experiment(write(daily, doc)), daily / "multitask")
    forecast = {"forecast.mae", "forecast.rmse", "forecast.ic", "forecast.rank_ic"}
    check_shape(result.metrics, CLASS_METRICS | forecast)
    assert all(forecast <= set(row) for row in result.metrics["folds"])
    assert not forecast & set(result.metrics["baselines"]["logistic"])  # baselines fit the class head only
    predictions = pd.read_csv(result.path / "predictions.csv")
    assert list(predictions.columns) == [
        "time",
        "down",
        "up",
        "forecast",
        "fold",
        "seed",
        "label",
        "forecast_label",
        "forward_return",
    ]
    # the forecast head's target is the return over the horizon, which the forward return column also holds
    np.testing.assert_allclose(predictions["forecast_label"], predictions["forward_return"], rtol=1e-5)
    assert "forecast.mae" in (result.path / "report" / "summary.txt").read_text()


def test_a_path_regressor_is_scored_on_every_step_and_traded_on_the_last(daily):
    doc = {
        "data": {"path": "bars.csv"},
        "labels": {"kind": "path", "horizon": 3},
        "baselines": ["mean", "ridge"],
        "model": {"name": "lstm_regressor_seq", "params": {"hidden": [4]}},
        "walk_forward": {"train": 250, "test": 150},
    }
    result = run_experiment(load_experiment(write(daily, doc)), daily / "path")
    assert set(result.metrics["model"]) == {"mae", "rmse", "ic", "rank_ic", "total_return", "sharpe", "max_drawdown"}
    assert result.metrics["model"]["mae"]["n"] == 2 and result.metrics["baselines"]["ridge"]["mae"]["n"] == 2
    predictions = pd.read_csv(result.path / "predictions.csv")
    steps = ["t+1", "t+2", "t+3"]
    assert list(predictions.columns) == [
        "time",
        *steps,
        "fold",
        "seed",
        *[f"label.{c}" for c in steps],
        "forward_return",
    ]
    np.testing.assert_allclose(predictions["label.t+3"], predictions["forward_return"], rtol=1e-5)


# ------------------------------------------------------------------------------------ images and pairs


def test_inception_runs_on_factor_images_of_several_symbols(symbols):
    doc = {
        "data": {"path": ["A.csv", "B.csv", "C.csv"]},
        "window": 56,
        "image": [12, 14],
        "model": {
            "name": "inception",
            "params": {"stem": [4, 4, 8], "modules": [1], "filters": [4] * 6, "final_pool": 2, "dropout": 0.0},
        },
        "walk_forward": {"train": 200, "test": 100, "expanding": True},
    }
    result = run_experiment(load_experiment(write(symbols, doc)), symbols / "inception")
    check_shape(result.metrics, CLASS_METRICS)
    predictions = pd.read_csv(result.path / "predictions.csv")
    assert list(predictions.columns) == ["time", "down", "up", "fold", "seed", "label", "forward_return"]
    assert result.metrics["run"]["layout"] == "images" and len(predictions) == 2 * 100


def test_rank_runs_on_pairs_and_ranks_the_symbols_by_its_scorer(symbols):
    doc = {
        "data": {"path": ["A.csv", "B.csv", "C.csv"]},
        "model": {"name": "rank", "params": {"hidden": [4]}},
        "backtest": {"top_k": 1, "rebalance": 1},
        "walk_forward": {"train": 250, "test": 120, "expanding": True},
        "surrogates": {"n": 1},
    }
    result = run_experiment(load_experiment(write(symbols, doc)), symbols / "rank")
    check_shape(result.metrics, CLASS_METRICS | {"icir", "rank_icir"})
    assert result.metrics["run"]["labels"]["kind"] == "pair"
    predictions = pd.read_csv(result.path / "predictions.csv")
    assert list(predictions.columns) == ["time", "symbol", "score", "forward_return", "fold", "seed"]
    assert len(predictions) == 2 * 120 * 3 and set(predictions["symbol"]) == {"A", "B", "C"}
    assert "RankingStrategy over 3 symbols" in (result.path / "report" / "summary.txt").read_text()
    assert result.metrics["surrogates"]["icir"]["n"] == 1


# ------------------------------------------------------------------------------------ cards and errors


def test_a_cross_sectional_panel_model_card_records_the_cross_sectional_rule(symbols):
    from signalstack.core.model import OnnxModel

    doc = {
        "data": {"path": ["A.csv", "B.csv", "C.csv"]},
        "labels": {"kind": "cross_sectional", "horizon": 1},
        "baselines": [],
        "export": True,
        "train": {"epochs": 1},
        "walk_forward": {"train": 300, "test": 150},
    }
    result = run_experiment(load_experiment(write(symbols, doc)), symbols / "cross")
    card = OnnxModel(result.path / "models" / "fold0_seed0.onnx", device="cpu").card
    assert card.extra["label_kind"] == "cross_sectional" and card.extra["label_horizon"] == 1
    assert "beats the universe's median" in card.extra["label_rule"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({**TWO_INPUT, "walk_forward": {"train": 250, "test": 150}}, "walk_forward.expanding: false"),
        ({"fundamentals": "fundamentals.csv"}, "fundamentals: not used by this model, which reads"),
        ({**TWO_INPUT, "fundamentals": None}, "fundamentals: None, expected the CSV of dated factors"),
        (
            {**TWO_INPUT, "model": {"name": "multitask"}, "labels": {"kind": "regression"}, "baselines": []},
            "labels.kind: 'regression', but model multitask has a class head",
        ),
        ({"model": {"name": "rank"}, "walk_forward": {"expanding": True}}, "data.path: one file, but model rank reads"),
        ({"model": {"name": "inception"}, "image": [5]}, r"image: \[5\], expected \[HEIGHT, WIDTH\]"),
    ],
    ids=["rolling", "unused-fundamentals", "no-fundamentals", "multitask-regression", "rank-one-file", "bad-image"],
)
def test_a_combination_a_net_cannot_run_is_refused_naming_it(daily, changes, message):
    with pytest.raises(SettingsError, match=message):
        parse_experiment({**TINY, "data": {"path": "bars.csv"}, **changes}, base=daily)


def test_each_nets_experiment_reads_back_from_its_written_copy(daily, minutes, symbols):
    docs = [
        (daily, TWO_INPUT),
        (minutes, INTRADAY),
        (minutes, {**INTRADAY, "intraday": {"bars_per_day": 10}, "model": {"name": "cnn1d"}}),
        (
            symbols,
            {
                "data": {"path": ["A.csv", "B.csv"]},
                "model": {"name": "inception"},
                "image": [4, 6],
                "window": 8,
                "walk_forward": {"expanding": True},
            },
        ),
        (
            symbols,
            {
                "data": {"path": ["A.csv", "B.csv"]},
                "model": {"name": "rank"},
                "pairs_per_date": 1,
                "walk_forward": {"expanding": True},
                "backtest": {"top_k": 1},
            },
        ),
    ]
    for folder, doc in docs:
        experiment = parse_experiment({**TINY, **doc}, base=folder)
        assert parse_experiment(yaml.safe_load(experiment.to_yaml())) == experiment, doc["model"]
