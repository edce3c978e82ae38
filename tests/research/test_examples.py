"""The experiment files in examples/: each parses with the experiment loader, the README lists each one,
and two of them (daily bars that ship with a dependency; minute bars the user supplies) run end to end
with their sizes cut down to seconds."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from signalstack.research.experiment import load_experiment
from signalstack.research.run import run_experiment
from signalstack.research.settings import ExperimentFile

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILES = sorted(EXAMPLES.glob("*.yaml"))


def test_there_is_an_example_per_recipe_of_the_reference_posts():
    stems = {path.stem for path in FILES}
    for prefix in ("000_", "001_", "003_", "004_"):
        assert any(stem.startswith(prefix) for stem in stems), (prefix, sorted(stems))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_example_parses_with_the_experiment_loader(path):
    experiment = load_experiment(path)  # an unknown key, a bad value or an unknown model raises SettingsError
    assert isinstance(experiment, ExperimentFile)
    if path.name.startswith("003_"):  # the post tunes its hyperparameters: `signalstack tune` reads this space
        assert experiment.search is not None and "window" in experiment.search.params


def test_the_readme_describes_every_example():
    readme = (EXAMPLES / "README.md").read_text()
    for path in FILES:
        assert path.name in readme, f"examples/README.md does not mention {path.name}"


def _data_or_skip(experiment: ExperimentFile) -> None:
    for path in experiment.data.paths:
        if not path.startswith("sample:") and not Path(path).is_file():
            pytest.skip(f"{path} not present: the example reads data the user supplies (see examples/README.md)")


@pytest.mark.slow
def test_the_lstm_trading_example_runs_end_to_end_when_cut_down(tmp_path):
    experiment = load_experiment(EXAMPLES / "003_lstm_updown.yaml")
    _data_or_skip(experiment)
    tiny = experiment.replaced(
        data={"path": experiment.data.path, "start": "2013-01-01", "end": "2016-12-31"},
        model={"name": experiment.model.name, "params": {"hidden": (4,), "dropout": 0.0}},
        train={**experiment.train.model_dump(), "epochs": 1},
        walk_forward={"train": 300, "test": 150},
        surrogates={"n": 1},
        baselines=["majority", "buy_and_hold"],
    )
    result = run_experiment(tiny, tmp_path)
    metrics = result.metrics
    assert metrics["run"]["folds"] >= 2 and metrics["run"]["surrogates"] == 1
    assert len(metrics["folds"]) == metrics["run"]["folds"] == metrics["model"]["roc_auc"]["n"]
    assert 0.0 <= metrics["model"]["roc_auc"]["mean"] <= 1.0 and math.isfinite(metrics["model"]["ic"]["mean"])
    assert set(metrics["baselines"]) == {"majority", "buy_and_hold"}
    assert (result.path / "report" / "summary.txt").is_file() and (result.path / "predictions.csv").is_file()


@pytest.mark.slow
def test_the_minute_bar_conv1d_example_runs_end_to_end_when_cut_down(tmp_path):
    experiment = load_experiment(EXAMPLES / "000_cnn1d_minutes.yaml")
    _data_or_skip(experiment)
    tiny = experiment.replaced(
        train={**experiment.train.model_dump(), "epochs": 1}, surrogates={"n": 0}, baselines=["majority"]
    )
    metrics = run_experiment(tiny, tmp_path).metrics
    assert metrics["run"]["folds"] >= 2 and len(metrics["folds"]) == metrics["run"]["folds"]
    assert 0.0 <= metrics["model"]["roc_auc"]["mean"] <= 1.0
