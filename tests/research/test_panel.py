"""Panel data: several symbols train one model; cross-sectional labels, date-aligned folds, per-date IC and a
RankingStrategy backtest of the stitched scores, on panels the tests make."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from signalstack.core.errors import SettingsError
from signalstack.research.experiment import load_experiment, parse_experiment
from signalstack.research.layouts.panel import (
    align,
    cross_sectional_labels,
    daily_ic,
    ic_summary,
    panel_dataset,
    panel_windows,
    trade_panel,
)
from signalstack.research.run import run_experiment
from signalstack.research.settings import Backtest
from signalstack.research.walkforward import plan_folds

from ..support import SMALL
from .support import TINY, ar1_bars, read_tables

SYMBOLS = ("AAA", "BBB", "CCC", "DDD")


def make_panel(phi: float, n: int = 1000, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Four symbols on the same dates; with phi > 0 each one's return carries into the next bar, so the symbol
    with the higher last return tends to beat the others next (a momentum visible in the `ret` feature)."""
    return {s: ar1_bars(n, phi, seed=seed * 10 + i) for i, s in enumerate(SYMBOLS)}


def write_panel(folder, panel, **changes) -> object:
    folder.mkdir(parents=True, exist_ok=True)
    for symbol, bars in panel.items():
        bars.to_csv(folder / f"{symbol}.csv")
    doc = {
        **TINY,
        "data": {"path": [f"{s}.csv" for s in panel]},
        "labels": {"kind": "cross_sectional", "horizon": 1},
        "walk_forward": {"train": 400, "test": 200},
        "baselines": ["logistic", "buy_and_hold"],
        "backtest": {"top_k": 2, "rebalance": 1},
        **changes,
    }
    path = folder / "exp.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


# ------------------------------------------------------------------------------------------ labels


def test_cross_sectional_labels_beat_the_median_and_read_only_bars_up_to_t_plus_h() -> None:
    h = 3
    panel = make_panel(0.0, n=300, seed=1)
    labels = cross_sectional_labels(panel, h)
    close = pd.DataFrame({s: b["close"] for s, b in panel.items()})
    forward = close.shift(-h) / close - 1
    expected = forward.gt(forward.median(axis=1), axis=0).astype(float)
    assert labels.iloc[:-h].equals(expected.iloc[:-h])
    assert labels.iloc[-h:].isna().all().all()
    assert (labels.iloc[:-h].sum(axis=1) == 2).all()  # four symbols: two above the median each date

    t = 150
    changed = {s: b.copy() for s, b in panel.items()}
    rng = np.random.default_rng(5)
    for b in changed.values():  # every bar after t + h, every symbol
        b.iloc[t + h + 1 :, :4] *= rng.uniform(0.5, 1.5, size=(len(b) - t - h - 1, 1))
    after = cross_sectional_labels(changed, h)
    assert after.iloc[: t + 1].equals(labels.iloc[: t + 1])
    assert not after.iloc[t + 1 : -h].equals(labels.iloc[t + 1 : -h])  # later labels do read those bars


# ------------------------------------------------------------------------------------------- folds


def test_folds_split_by_date_and_no_training_label_reads_a_test_date(tmp_path) -> None:
    experiment = load_experiment(
        write_panel(tmp_path, make_panel(0.0, n=1000, seed=2), labels={"kind": "cross_sectional", "horizon": 5})
    )
    panel = {s: ar1_bars(1000, 0.0, seed=20 + i) for i, s in enumerate(SYMBOLS)}
    labels = experiment.labels.spec
    pw = panel_windows(panel, SMALL, labels, experiment.window, cross_sectional=True)
    assert len(pw.windows) == 4 * len(pw.dates)  # every date a full cross-section
    folds = plan_folds(experiment, len(pw.dates))
    assert len(folds) >= 2
    rng = np.random.default_rng(9)
    for fold in folds:
        dataset, symbols = panel_dataset(
            pw, fold, features=SMALL, labels=labels, window=experiment.window, embargo=experiment.embargo
        )
        fit, val, test = (set(part.times) for part in (dataset.train, dataset.val, dataset.test))
        assert not (fit & val or fit & test or val & test)  # one date never in two parts
        test_start = pw.dates[fold.test.start]
        assert pw.dates[(pw.dates > max(val)) & (pw.dates < test_start)].size == experiment.embargo
        assert sorted(symbols[:4]) == list(SYMBOLS)

        perturbed = {}
        for s, b in panel.items():  # every symbol's bars from the first test date on
            b = b.copy()
            late = b.index >= test_start
            b.loc[late, ["open", "high", "low", "close"]] *= rng.uniform(0.5, 1.5, size=(int(late.sum()), 1))
            perturbed[s] = b
        again, _ = panel_dataset(
            panel_windows(perturbed, SMALL, labels, experiment.window, True),
            fold,
            features=SMALL,
            labels=labels,
            window=experiment.window,
            embargo=experiment.embargo,
        )
        for before, after in ((dataset.train, again.train), (dataset.val, again.val)):
            np.testing.assert_array_equal(before.x, after.x)
            np.testing.assert_array_equal(before.y, after.y)
        assert not np.array_equal(dataset.test.y, again.test.y)


# ----------------------------------------------------------------------------------------- metrics


def test_daily_ic_is_computed_across_symbols_per_date() -> None:
    times = pd.DatetimeIndex(["2020-01-01"] * 4 + ["2020-01-02"] * 4 + ["2020-01-03"] * 4)
    frame = pd.DataFrame(
        {
            "score": [1, 2, 3, 4, 4, 3, 2, 1, 1, 2, 3, 4],
            "forward_return": [0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.1, 0.3, 0.2, 0.4],
        },
        index=times,
    )
    found = ic_summary(frame)
    daily_rank = np.array([1.0, -1.0, 0.8])
    assert found["rank_ic"] == pytest.approx(daily_rank.mean())
    assert found["rank_icir"] == pytest.approx(daily_rank.mean() / daily_rank.std(ddof=1))
    assert found["ic"] == pytest.approx(np.mean([1.0, -1.0, np.corrcoef([1, 2, 3, 4], [0.1, 0.3, 0.2, 0.4])[0, 1]]))


def test_ranking_backtest_holds_the_top_scored_symbols() -> None:
    panel = align(make_panel(0.0, n=60, seed=3))
    index = next(iter(panel.values())).index[10:]
    scores = pd.DataFrame({"AAA": 0.9, "BBB": 0.1, "CCC": 0.8, "DDD": 0.2}, index=index)
    found, account = trade_panel(scores, panel, Backtest(top_k=2, rebalance=5, commission=0.0), horizon=1)
    assert set(account.fills["symbol"]) == {"AAA", "CCC"}
    assert np.isfinite(found["total_return"])


# ------------------------------------------------------------------------------------ experiments


def test_experiment_files_take_a_panel_and_cross_sectional_labels(tmp_path) -> None:
    path = write_panel(tmp_path, make_panel(0.0, n=50))
    experiment = load_experiment(path)
    assert experiment.data.is_panel and experiment.cross_sectional
    assert [p.rsplit("/", 1)[1] for p in experiment.data.path] == [f"{s}.csv" for s in SYMBOLS]
    assert parse_experiment(yaml.safe_load(experiment.to_yaml())) == experiment
    doc = yaml.safe_load(path.read_text())
    with pytest.raises(SettingsError, match="cross_sectional.*panel"):
        parse_experiment({**doc, "data": {"path": "AAA.csv"}}, base=tmp_path)
    with pytest.raises(SettingsError, match="backtest.buy_threshold: unknown key.*top_k"):
        parse_experiment({**doc, "backtest": {"buy_threshold": 0.6}}, base=tmp_path)
    with pytest.raises(SettingsError, match="data.path"):
        parse_experiment({**doc, "data": {"path": ["AAA.csv"]}}, base=tmp_path)


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("panel_planted")
    return run_experiment(load_experiment(write_panel(folder, make_panel(0.4, seed=4))), folder / "runs")


@pytest.fixture(scope="module")
def random_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("panel_random")
    return run_experiment(load_experiment(write_panel(folder, make_panel(0.0, seed=5))), folder / "runs")


def test_a_planted_cross_sectional_signal_is_found(planted_run) -> None:
    model = planted_run.metrics["model"]
    print("planted:", {m: round(model[m]["mean"], 4) for m in ("ic", "rank_ic", "icir", "roc_auc", "sharpe")})
    assert model["ic"]["mean"] > 0.15 and model["rank_ic"]["mean"] > 0.15 and model["icir"]["mean"] > 0.1
    assert model["roc_auc"]["mean"] > 0.58
    assert planted_run.metrics["baselines"]["logistic"]["ic"]["mean"] > 0.15


def test_a_panel_of_random_walks_gives_chance_level_ic(random_run) -> None:
    model = random_run.metrics["model"]
    print("random:", {m: round(model[m]["mean"], 4) for m in ("ic", "rank_ic", "icir", "roc_auc", "sharpe")})
    dates = sum(1 for _ in random_run.metrics["folds"]) * 200
    bound = 4 * 0.6 / np.sqrt(dates)  # four standard errors of a mean of daily ICs over four symbols
    assert abs(model["ic"]["mean"]) < bound and abs(model["rank_ic"]["mean"]) < bound
    assert abs(model["roc_auc"]["mean"] - 0.5) < 0.05


def test_the_run_folder_holds_stacked_predictions_and_the_ranking_backtest(planted_run) -> None:
    path = planted_run.path
    predictions = pd.read_csv(path / "predictions.csv", index_col=0, parse_dates=True)
    assert set(predictions["symbol"]) == set(SYMBOLS)
    assert {"up", "down", "fold", "seed", "label", "forward_return"} <= set(predictions.columns)
    assert predictions.groupby(level=0).size().eq(4).all()
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["run"]["symbols"] == list(SYMBOLS) and metrics["run"]["labels"]["kind"] == "cross_sectional"
    assert {"ic", "icir", "rank_icir", "sharpe"} <= set(metrics["model"])
    assert set(metrics["baselines"]) == {"logistic", "buy_and_hold"}
    for name in ("index.html", "equity.csv", "fills.csv", "stats.json", "folds.csv", "summary.txt"):
        assert (path / "report" / name).is_file()
    assert "RankingStrategy over 4 symbols" in (path / "report" / "summary.txt").read_text()


def test_the_panel_report_ranks_each_seeds_stitched_scores_and_its_ic_is_taken_across_the_symbols(planted_run):
    path = planted_run.path / "report"
    page = (path / "index.html").read_text()
    tables = read_tables(page)
    stats = json.loads((path / "stats.json").read_text())
    assert list(stats) == ["seed 0", "buy & hold (equal weight)", "baseline logistic"]  # the ranking of each
    assert [row["curve"] for row in tables["curves"]] == list(stats)
    equal = stats["buy & hold (equal weight)"]
    assert equal["fills"] is None and equal["total_return"] is not None
    fills = pd.read_csv(path / "fills.csv")
    assert set(fills["curve"]) <= {"seed 0", "baseline logistic"} and len(fills) > 0
    assert "across the 4 symbols" in page and "RankingStrategy over 4 symbols" in page
    predictions = pd.read_csv(planted_run.path / "predictions.csv", index_col=0, parse_dates=True)
    ic = tables["ic-table"][0]
    assert int(ic["n"]) == predictions.index.nunique()  # one IC a test date
    daily = daily_ic(predictions, "up")["ic"]
    assert abs(float(ic["mean IC"]) - daily.mean()) < 5e-5 and daily.mean() > 0.15  # the planted signal, date by date


# ---------------------------------------------------------------------------- export and embedding


def test_a_panel_run_exports_each_fold_model(tmp_path) -> None:
    path = write_panel(
        tmp_path,
        make_panel(0.0, n=720, seed=6),
        export=True,
        baselines=[],
        walk_forward={"train": 400, "test": 200},
        train={"epochs": 1, "batch_size": 64},
    )
    result = run_experiment(load_experiment(path), tmp_path / "runs")
    assert len(result.metrics["folds"]) == 1
    assert (result.path / "models" / "fold0_seed0.onnx").is_file()


def drift_panel(n: int = 1000, drift: float = 0.008) -> dict[str, pd.DataFrame]:
    """Four random walks, the first one drifting up `drift` a bar: only knowing the symbol tells its labels."""
    panel = make_panel(0.0, n=n, seed=7)
    grow = np.exp(drift * np.arange(n))[:, None]
    first = panel[SYMBOLS[0]].copy()
    first[["open", "high", "low", "close"]] *= grow
    return {**panel, SYMBOLS[0]: first}


def test_a_symbol_embedding_adds_one_hot_symbol_channels_and_still_finds_the_signal(tmp_path) -> None:
    panel = drift_panel()
    experiment = load_experiment(write_panel(tmp_path, panel, symbol_embedding=True, baselines=[]))
    assert experiment.symbol_embedding
    pw = panel_windows(panel, SMALL, experiment.labels.spec, experiment.window, True, embedding=True)
    assert pw.columns[-4:] == tuple(f"symbol={s}" for s in SYMBOLS) and pw.windows.x.shape[2] == 3 + 4
    np.testing.assert_array_equal(
        pw.windows.x[pw.symbols == "BBB"][:, :, 3:],
        np.eye(4)[1][None, None].repeat(int((pw.symbols == "BBB").sum()), 0).repeat(experiment.window, 1),
    )
    found = run_experiment(experiment, tmp_path / "runs").metrics["model"]
    print("embedding:", {m: round(found[m]["mean"], 4) for m in ("ic", "rank_ic", "roc_auc")})
    assert found["roc_auc"]["mean"] > 0.6
    doc = yaml.safe_load((tmp_path / "exp.yaml").read_text())
    with pytest.raises(SettingsError, match="symbol_embedding.*export: false"):
        parse_experiment({**doc, "export": True}, base=tmp_path)
