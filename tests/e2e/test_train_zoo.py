"""Every zoo model from bars, from the command line: `train` builds what each architecture's inputs ask
for (pairs of a panel for rank, factor images of stacked symbols for inception, day x intraday blocks of
minute bars for the intraday nets), never choosing by the architecture's name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ..support import SMALL, walk_bars
from .test_cli import run

N_FEATURES = 21  # FeatureSpec.default(), what `signalstack train` computes


def daily_bars(seed: int, days: int = 700) -> pd.DataFrame:
    """A random walk of business-day bars from 2015 (enough for the default features' warm-up of ~400 bars)."""
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2015-01-01", periods=days, name="date")
    close = 50 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, days)))
    open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0, 0.003, days))
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.005, days))),
            "low": np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.005, days))),
            "close": close,
            "volume": rng.integers(100_000, 1_000_000, days).astype(float),
        },
        index=index,
    )


def five_minute_bars(days: int = 40, per_day: int = 78, seed: int = 7) -> pd.DataFrame:
    """`days` business days of 5-minute bars, 09:35 .. 16:00 (78 a day); the tenth day closes early."""
    stamps = [
        d + pd.Timedelta(hours=9, minutes=35 + 5 * m)
        for k, d in enumerate(pd.bdate_range("2021-03-01", periods=days))
        for m in range(per_day if k != 9 else per_day // 2)
    ]
    return walk_bars(pd.DatetimeIndex(stamps, name="time"), seed)


@pytest.fixture(scope="module")
def csvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A.csv, B.csv, C.csv (daily bars of three symbols on the same dates) and minutes.csv."""
    folder = tmp_path_factory.mktemp("zoo_data")
    paths = {}
    for seed, name in enumerate("ABC"):
        daily_bars(seed).to_csv(folder / f"{name}.csv")
        paths[name] = folder / f"{name}.csv"
    five_minute_bars().to_csv(folder / "minutes.csv")
    paths["minutes"] = folder / "minutes.csv"
    return paths


def card(path: Path) -> dict:
    return json.loads(run("info", str(path)).stdout)


def inputs(doc: dict) -> list[tuple]:
    return [(i["name"], i["source"], i["shape"]) for i in doc["inputs"]]


@pytest.mark.slow
def test_rank_trains_on_pairs_of_three_series_and_backtests_them(csvs, tmp_path):
    out = tmp_path / "rank.onnx"
    panel = ["--data", str(csvs["A"]), "--data", str(csvs["B"]), "--data", str(csvs["C"])]
    done = run(
        "train", "--model", "rank", *panel, "--out", str(out), "--horizon", "5", "--param", "hidden=4", "--epochs", "1"
    )
    assert "out of sample" in done.stdout
    doc = card(out)
    assert doc["architecture"] == "rank" and doc["label"]["kind"] == "pair" and doc["label"]["horizon"] == 5
    assert inputs(doc) == [("factors", "bars", [N_FEATURES])]  # the scorer alone: one stock's newest factor row
    assert [(o["name"], o["columns"]) for o in doc["outputs"]] == [("score", ["score"])]
    assert doc["data_source"] == " ".join(panel[1::2])
    report = run(
        "backtest", "--model", str(out), *panel, "--line", "score", "--buy-threshold=-1e9", "--sell-threshold=-2e9"
    ).stdout
    assert "backtest of A with rank" in report and "backtest of C with rank" in report
    assert "portfolio" in report and "buy & hold" in report
    ranked = run(
        "backtest", "--model", str(out), *panel, "--top-k", "1", "--rebalance", "5", "--out", str(tmp_path / "ranked")
    ).stdout
    assert "ranking A, B, C: top 1 by score of rank" in ranked and "equal weight" in ranked
    stats = json.loads((tmp_path / "ranked" / "stats.json").read_text())
    assert stats["params"]["top_k"] == 1 and stats["params"]["rebalance"] == 5 and stats["params"]["out_of_sample"]


@pytest.mark.slow
def test_inception_trains_on_factor_images_of_three_series(csvs, tmp_path):
    out = tmp_path / "inception.onnx"
    tiny = [
        "--param",
        "stem=4,4,8",
        "--param",
        "modules=1",
        "--param",
        "filters=4,4,4,4,4,4",
        "--param",
        "final_pool=2",
        "--param",
        "dropout=0",
    ]
    run(
        "train",
        "--model",
        "inception",
        "--data",
        f"spx={csvs['A']}",
        "--data",
        str(csvs["B"]),
        "--data",
        str(csvs["C"]),
        "--window",
        "8",
        "--image",
        "12,14",
        "--labels",
        "three",
        "--horizon",
        "5",
        *tiny,
        "--epochs",
        "1",
        "--out",
        str(out),
    )
    doc = card(out)
    assert inputs(doc) == [("images", "tensor", [12, 14, 3])]  # 8 days x 21 factors as 12 x 14, a channel each
    assert doc["inputs"][0]["columns"] == ["spx", "B", "C"] and doc["window"] == 8
    assert doc["outputs"][0]["columns"] == ["down", "flat", "up"]


@pytest.mark.slow
def test_hier_lstm_trains_on_day_blocks_of_five_minute_bars(csvs, tmp_path):
    out = tmp_path / "hier.onnx"
    # Each day's last 24 of its 78 bars (the session length is the default, checked in process below;
    # 24 keeps the unrolled LSTM's export quick).
    run(
        "train",
        "--model",
        "hier_lstm",
        "--data",
        str(csvs["minutes"]),
        "--days",
        "3",
        "--bars-per-day",
        "24",
        "--param",
        "intraday=3",
        "--param",
        "daily=3",
        "--epochs",
        "1",
        "--out",
        str(out),
    )
    doc = card(out)
    assert inputs(doc) == [("features", "intraday", [3, 24, N_FEATURES])]
    assert doc["window"] == 3 and doc["test_range"][0].endswith("16:00:00")  # each day's closing bar


# In process from here: no training, the dispatch and its one-line errors.


def sets_by_layout(name: str, layout: str, minutes: pd.DataFrame, panel: dict[str, pd.DataFrame]):
    from signalstack.models.pipeline import FUNDAMENTALS, IMAGES, INTRADAY, PAIRS, dataset_for

    if layout in (IMAGES, PAIRS):
        return dataset_for(name, panel, features=SMALL, window=12)
    if layout == INTRADAY:
        return dataset_for(name, minutes, features=SMALL, days=2)
    if layout == FUNDAMENTALS:
        bars = panel["A"]
        dates = pd.date_range(bars.index[0], bars.index[-1], freq="20D")
        factors = pd.DataFrame(np.random.default_rng(0).normal(size=(len(dates), 4)), index=dates)
        return dataset_for(name, bars, features=SMALL, fundamentals=factors, window=12)
    return dataset_for(name, panel["A"], features=SMALL, window=12)


def test_every_zoo_model_gets_the_set_its_declared_inputs_ask_for():
    from signalstack.models.pipeline import declared_inputs, input_layout
    from signalstack.models.zoo import create_model, list_models

    minutes = five_minute_bars(days=30, per_day=24)
    panel = {name: daily_bars(seed, days=160) for seed, name in enumerate("ABC")}
    layouts = {}
    for name in list_models():
        declared = declared_inputs(name)
        layouts[name] = input_layout(declared)
        dataset = sets_by_layout(name, layouts[name], minutes, panel)
        shapes = {k: a.shape[1:] for k, a in dataset.x_of(dataset.train).items()}
        assert set(shapes) == set(declared), name
        assert all(len(shapes[k]) == len(declared[k]) or len(declared[k]) == 1 for k in declared), name
        n_outputs = {k: s.n_outputs for k, s in dataset.targets.items()}
        create_model(name, shapes, next(iter(n_outputs.values())) if len(n_outputs) == 1 else n_outputs)
    assert {name for name, layout in layouts.items() if layout != "windows"} == {
        "rank",
        "inception",
        "hier_lstm",
        "td_cnn_lstm",
        "dual_rnn",
        "dual_lstm",
        "multitask",
    }
    assert layouts["rank"] == "pairs" and layouts["inception"] == "images" and layouts["hier_lstm"] == "intraday"


def test_a_t_by_f_net_given_bars_per_day_reads_one_day_blocks_and_spec_files_dispatch_alike(tmp_path):
    from signalstack.models.pipeline import dataset_for

    minutes = five_minute_bars(days=40, per_day=24)
    one_day = dataset_for("cnn1d", minutes, features=SMALL, bars_per_day=20)
    assert one_day.inputs[0].shape == (20, 3) and one_day.inputs[0].origin == "intraday"
    spec = tmp_path / "day_net.yaml"
    spec.write_text(
        "inputs:\n  - {name: features, shape: [null, null, null]}\nlayers:\n"
        "  - {name: flat, type: Flatten, inputs: features}\n  - {name: head, type: Dense, "
        "params: {units: 2}, inputs: flat}\noutputs:\n  - {layer: head, loss: crossentropy}\n"
    )
    blocks = dataset_for(spec, minutes, features=SMALL)
    assert blocks.inputs[0].shape == (10, 24, 3) and blocks.window == 10  # 10 days of full 24-bar sessions
    assert blocks.inputs[0].origin == "intraday" and len(blocks.train) + len(blocks.val) + len(blocks.test) < 30


def test_symbols_are_named_by_stem_or_as_given(tmp_path):
    from signalstack.core.bars import load_symbols

    (tmp_path / "x").mkdir()
    for path in (tmp_path / "A.csv", tmp_path / "x" / "A.csv", tmp_path / "B.csv"):
        daily_bars(0, days=30).to_csv(path)
    panel = load_symbols([str(tmp_path / "A.csv"), str(tmp_path / "x" / "A.csv"), f"spx={tmp_path / 'B.csv'}"])
    assert list(panel) == ["A", "A_2", "spx"]


@pytest.mark.parametrize(
    ("model", "data", "extra", "message"),
    [
        ("rank", "A", [], "--model rank needs at least 2 --data series, got 1"),
        (
            "lstm",
            "ABC",
            [],
            (
                "--model lstm reads (window, features) windows of one bar series, got 3 --data; several "
                "are for nets with an images input or a pair of inputs (inception, rank)"
            ),
        ),
        (
            "hier_lstm",
            "A",
            [],
            (
                "--model hier_lstm reads day x intraday blocks of one series of intraday bars: the bars "
                "have 1 bar per day (expected intraday bars, several per day, such as 5-minute bars)"
            ),
        ),
        (
            "lstm",
            "A",
            ["--days", "3"],
            ("--days 3: not used by --model lstm, which reads (window, features) windows of one bar series"),
        ),
        (
            "cnn1d",
            "minutes",
            ["--bars-per-day", "20", "--days", "3"],
            "--days 3: not used by --model cnn1d, which reads one day's block (bars per day, features)",
        ),
        ("hier_lstm", "minutes", ["--days", "0"], "--days 0: expected a positive integer"),
        (
            "rank",
            "ABC",
            ["--labels", "three"],
            (
                "--labels three: --model rank trains on pair labels (1 when the first "
                "stock's return over --horizon bars beats the second's); expected the "
                "default labels"
            ),
        ),
        (
            "inception",
            "ABC",
            ["--image", "5x"],
            ("--image 5x: expected HEIGHT,WIDTH, two positive integers such as 224,224"),
        ),
        ("dual_rnn", "A", [], "--model dual_rnn needs --fundamentals CSV (its inputs: fundamentals, features)"),
    ],
    ids=[
        "rank-one-series",
        "lstm-panel",
        "daily-bars-for-intraday",
        "unused-days",
        "one-day-days",
        "zero-days",
        "rank-labels",
        "bad-image",
        "no-fundamentals",
    ],
)
def test_a_bad_combination_is_one_line_naming_it(csvs, tmp_path, capsys, model, data, extra, message):
    from signalstack.cli import main

    series = ["minutes"] if data == "minutes" else list(data)
    args = [a for name in series for a in ("--data", str(csvs[name]))]
    assert main(["train", "--model", model, *args, *extra, "--out", str(tmp_path / "never.onnx")]) == 1
    done = capsys.readouterr()
    assert done.err.splitlines()[-1] == f"signalstack train: error: {message}"
    assert not (tmp_path / "never.onnx").exists()
