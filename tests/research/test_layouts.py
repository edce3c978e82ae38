"""The layout registry: every layout registered once, chosen by the model's declared inputs and the number of files
(never by the model's name), and each one's keys refused by the others."""

import re

import pytest

from signalstack.core.errors import SettingsError
from signalstack.research.experiment import parse_experiment
from signalstack.research.layouts import Layout, layout_of, list_layouts, register_layout
from signalstack.research.layouts.series import Series
from signalstack.research.settings import ExperimentFile

from .support import TINY

ONE = {"data": {"path": "sample:sp500"}}
TWO = {"data": {"path": ["sample:sp500", "sample:nasdaq"]}}
BUILT = {"walk_forward": {"expanding": True}}


def test_every_layout_is_registered_once():
    assert list_layouts() == ["fundamentals", "images", "intraday", "pairs", "panel", "windows"]
    with pytest.raises(ValueError, match="layout 'windows' is registered twice"):
        register_layout(type("Again", (Series,), {}))


@pytest.mark.parametrize(
    ("doc", "layout"),
    [
        ({**ONE}, "windows"),
        ({**TWO}, "panel"),
        ({**TWO, "model": {"name": "rank"}, **BUILT}, "pairs"),
        ({**ONE, "model": {"name": "inception"}, **BUILT}, "images"),
        ({**TWO, "model": {"name": "inception"}, **BUILT}, "images"),
        ({**ONE, "model": {"name": "hier_lstm"}, **BUILT}, "intraday"),
        ({**ONE, "model": {"name": "cnn1d"}, "intraday": {}, **BUILT}, "intraday"),
        ({**ONE, "model": {"name": "cnn1d"}}, "windows"),
    ],
    ids=["series", "panel", "pairs", "images-one", "images-several", "day-by-intraday", "one-day", "t-by-f"],
)
def test_the_layout_is_the_one_that_reads_the_models_declared_inputs(doc, layout):
    found = layout_of(parse_experiment({**TINY, **doc}))
    assert isinstance(found, Layout) and found.name == layout


def test_a_layouts_own_key_is_refused_by_the_others_naming_both(tmp_path):
    (tmp_path / "factors.csv").write_text("date,pe\n2001-01-01,1.0\n")
    cases = [
        (
            {"image": [4, 6]},
            "image: not used by this model, which reads (window, features) windows of one bar "
            "series (expected image only for a net that reads factor images",
        ),
        ({"fundamentals": "factors.csv"}, "fundamentals: not used by this model"),
        (
            {**TWO, "pairs_per_date": 2},
            "pairs_per_date: not used by this model, which reads (window, features) windows of every symbol of a panel",
        ),
        (
            {"model": {"name": "inception"}, **BUILT, **TWO, "symbol_embedding": True, "export": False},
            "symbol_embedding: not used by this model, which reads factor images",
        ),
    ]
    for change, message in cases:
        with pytest.raises(SettingsError, match=f"^exp.yaml: {re.escape(message)}"):
            parse_experiment({**TINY, **ONE, **change}, base=tmp_path, source="exp.yaml")


def test_a_parsed_file_is_checked_against_its_layout_when_it_runs(tmp_path):
    experiment = ExperimentFile.model_validate({**TINY, **ONE, "model": {"name": "rank"}, **BUILT})  # not checked
    with pytest.raises(SettingsError, match="^data.path: one file, but model rank reads pairs of the data's symbols"):
        layout_of(experiment)
