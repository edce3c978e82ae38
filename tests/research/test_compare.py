"""`signalstack compare`: run folders side by side, their experiment files' differences, their headline metrics,
and a paired test across matching folds (else an unpaired one, said so), in the terminal and as a static page
read back from headless Chromium."""

import json
import subprocess

import numpy as np
import pytest
import yaml

from signalstack.cli import main
from signalstack.research.compare import compare, flatten, format_comparison
from signalstack.research.experiment import parse_experiment
from signalstack.research.metrics import aggregate

from ..support import CHROMIUM_FLAGS, chromium
from .support import ar1_bars, read_tables, write_experiment

BASE = {"data": {"path": "sample:sp500"}, "seeds": 1}
"""A sample's experiment file: parses with no data file beside it."""


def periods(n: int, offset: int = 0) -> list[list[str]]:
    """n consecutive yearly test periods, the first in 2010 + offset."""
    return [[f"{2010 + offset + k}-01-01T00:00:00", f"{2010 + offset + k}-12-31T00:00:00"] for k in range(n)]


def run_folder(root, name, values, tests, changes=None, surrogate_percentile=None, run=None):
    """A run folder as `signalstack run` writes it: experiment.yaml (BASE with `changes`) and metrics.json whose
    roc_auc fold results are `values` (one list of seed values per fold, None undefined) over the `tests` periods."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "experiment.yaml").write_text(parse_experiment({**BASE, **(changes or {})}).to_yaml())
    folds = [
        {"model": "lstm", "fold": k, "seed": s, "test": tests[k], "roc_auc": v}
        for k, seeds in enumerate(values)
        for s, v in enumerate(seeds)
    ]
    metrics = {
        "run": {
            "id": name,
            "model": "lstm",
            "data": "sample:sp500",
            "folds": len(values),
            "seeds": len(values[0]),
            "surrogates": 0,
            **(run or {}),
        },
        "model": {"roc_auc": aggregate([row["roc_auc"] for row in folds])},
        "baselines": {},
        "surrogates": {},
        "folds": folds,
        "baseline_folds": [],
        "surrogate_runs": [],
    }
    if surrogate_percentile is not None:
        metrics["surrogates"]["roc_auc"] = {
            "mean": 0.5,
            "std": 0.01,
            "n": 19,
            "percentile": surrogate_percentile,
            "p_value": 0.05,
            "significant": True,
        }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_pairing_across_the_same_folds_finds_a_consistent_shift_that_an_unpaired_test_cannot(tmp_path):
    base = [0.40, 0.60, 0.50, 0.70, 0.45, 0.65]  # folds differ far more than the two models do
    shifted = [v + 0.01 + d for v, d in zip(base, [0.001, -0.001, 0.002, 0.0, -0.002, 0.001])]
    a = run_folder(tmp_path, "a", [[v] for v in base], periods(6))
    b = run_folder(tmp_path, "b", [[v] for v in shifted], periods(6), {"train": {"lr": 0.002}})
    (paired,) = compare([a, b]).differences
    assert paired.test == "paired t-test over 6 folds" and paired.beyond_spread and paired.p_value < 0.001
    assert paired.delta == pytest.approx(np.mean(shifted) - np.mean(base))

    moved = run_folder(tmp_path, "moved", [[v] for v in shifted], periods(6, offset=1))  # other test periods
    (unpaired,) = compare([a, moved]).differences
    assert unpaired.test == "Welch's t-test over 6 and 6 fold results (the folds differ)"
    assert not unpaired.beyond_spread and unpaired.p_value > 0.5
    text = format_comparison(compare([a, b, moved]))
    assert "paired t-test over 6 folds" in text and "yes (p = 0.000 <= 0.05)" in text and "C - A" in text


def test_seeds_are_averaged_per_fold_and_an_undefined_fold_is_left_out_of_the_test(tmp_path):
    a = run_folder(tmp_path, "a", [[0.5, 0.7], [0.4, 0.6], [0.55, 0.65], [0.3, 0.5]], periods(4))
    b = run_folder(tmp_path, "b", [[0.6, 0.6], [0.5, 0.5], [0.6, 0.6], [None, None]], periods(4))
    (found,) = compare([a, b]).differences
    assert found.test == "paired t-test over 3 folds"  # the fold with no value in b is out
    assert found.p_value == 1.0 and not found.beyond_spread  # each fold's seed mean is the same in both
    assert "no (p = 1.000 > 0.05)" in format_comparison(compare([a, b]))


def test_the_experiment_differences_name_each_differing_key_with_its_value_in_each_run(tmp_path):
    a = run_folder(tmp_path, "a", [[0.5], [0.6]], periods(2), run={"data_digest": {"bars": "aaaa"}})
    b = run_folder(
        tmp_path,
        "b",
        [[0.5], [0.6]],
        periods(2),
        {"train": {"lr": 0.02}, "model": {"name": "gru"}},
        run={"data_digest": {"bars": "bbbb"}},
    )
    c = run_folder(
        tmp_path,
        "c",
        [[0.5], [0.6]],
        periods(2),
        {"tracking": {"mlflow": "sqlite:///m.db"}},
        run={"data_digest": {"bars": "aaaa"}},
    )
    found = compare([a, b, c])
    assert found.differing == {
        "model.name": ["lstm", "gru", "lstm"],
        "train.lr": ["0.001", "0.02", "0.001"],
        "tracking.mlflow": ["(absent)", "(absent)", "sqlite:///m.db"],
        "run.data_digest.bars": ["aaaa", "bbbb", "aaaa"],
    }
    keys = {*flatten(yaml.safe_load((a / "experiment.yaml").read_text())), "tracking.mlflow", "run.data_digest.bars"}
    assert found.same == len(keys) - 4 and f"({found.same} other keys are the same in every run)" in format_comparison(
        found
    )


def test_the_page_opens_offline_in_headless_chromium_and_its_tables_hold_the_comparison(tmp_path, capsys):
    browser = chromium()
    a = run_folder(tmp_path, "a", [[0.40], [0.60], [0.50]], periods(3), surrogate_percentile=97.0)
    b = run_folder(tmp_path, "b", [[0.42], [0.61], [0.53]], periods(3), {"seeds": 1, "train": {"lr": 0.01}})
    page = tmp_path / "compare.html"
    assert main(["compare", str(a), str(b), "--out", str(page)]) == 0
    printed = capsys.readouterr().out
    assert f"page: {page}" in printed and "paired t-test over 3 folds" in printed
    text = page.read_text()
    assert "<script" not in text and "http" not in text  # nothing to fetch, nothing to run

    dom = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Failed to load" in line]
    assert not console, console
    tables = {name: [list(row.items()) for row in rows] for name, rows in read_tables(dom.stdout).items()}
    assert tables["experiment"] == [[("key", "train.lr"), ("A", "0.001"), ("B", "0.01")]]
    metrics = json.loads((a / "metrics.json").read_text())["model"]["roc_auc"]
    second = [0.42, 0.61, 0.53]
    assert [cell for _, cell in tables["metrics"][0]] == [
        "roc_auc",
        f"{metrics['mean']:.4f} ± {metrics['std']:.4f} (3), pct 97",
        f"{np.mean(second):.4f} ± {np.std(second, ddof=1):.4f} (3)",
    ]
    (row,) = tables["differences"]
    assert row[:4] == [
        ("metric", "roc_auc"),
        ("runs", "B - A"),
        ("difference", f"{np.mean([0.02, 0.01, 0.03]):+.4f}"),
        ("test", "paired t-test over 3 folds"),
    ]
    assert row[4][0] == "more than the spread" and row[4][1].startswith(("yes (p = ", "no (p = "))
    assert [r[0][1] for r in tables["runs"]] == ["A", "B"] and tables["runs"][0][1][1] == str(a)


def test_a_folder_that_is_not_a_run_is_refused_in_one_line(tmp_path, capsys):
    a = run_folder(tmp_path, "a", [[0.5], [0.6]], periods(2))
    assert main(["compare", str(a), str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert (
        err == f"signalstack compare: error: {tmp_path}: no metrics.json, expected a run folder that "
        "`signalstack run` wrote"
    )
    assert main(["compare", str(a)]) == 1
    assert "1 run folder(s), expected at least 2 to compare" in capsys.readouterr().err


@pytest.mark.slow
def test_two_real_runs_on_the_same_folds_are_compared_fold_by_fold(tmp_path, capsys):
    bars = ar1_bars(1400, 0.3, seed=7)
    first = write_experiment(tmp_path / "first", bars, surrogates={"n": 2})
    second = write_experiment(tmp_path / "second", bars, train={"epochs": 3, "lr": 0.02, "batch_size": 64})
    for path in (first, second):
        assert main(["run", str(path), "--out", str(tmp_path / "runs")]) == 0, capsys.readouterr().err
    capsys.readouterr()
    runs = sorted(
        (tmp_path / "runs").iterdir(),
        key=lambda p: yaml.safe_load((p / "experiment.yaml").read_text())["train"]["epochs"],
    )
    assert main(["compare", *map(str, runs), "--out", str(tmp_path / "compare.html")]) == 0
    printed = capsys.readouterr().out
    found = compare(runs)
    assert set(found.differing) == {"data.path", "train.epochs", "train.lr", "surrogates.n"}
    assert found.metrics == ["roc_auc", "ic", "rank_ic", "sharpe"]
    assert all(d.test == "paired t-test over 2 folds" for d in found.differences)
    first_metrics = json.loads((runs[0] / "metrics.json").read_text())
    auc = first_metrics["model"]["roc_auc"]
    assert f"{auc['mean']:.4f} ± {auc['std']:.4f} ({auc['n']}), pct " in printed
    assert printed.count("paired t-test over 2 folds") == 4
    tables = read_tables((tmp_path / "compare.html").read_text())
    assert [next(iter(row.values())) for row in tables["metrics"]] == found.metrics
