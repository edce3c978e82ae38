"""Typed settings: bad values named by their path with what was expected, unknown keys with a suggestion."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import Field

from signalstack.cli.flags import add_flags, settings_from
from signalstack.core.settings import Settings, SettingsError, json_schema, load_yaml, parse


class Inner(Settings):
    ratio: float = Field(0.5, ge=0, le=1)
    """A share."""
    hold: Annotated[int, Field(ge=0)] | Literal["horizon"] = 0
    """Bars, or horizon."""
    side: Literal["long", "short"] = "long"
    """Which way."""
    on: bool = False
    """A switch."""


class Outer(Settings):
    inner: Inner = Inner()
    items: list[Inner] = []


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"inner": {"ratio": -0.1}}, "doc.yaml: inner.ratio: -0.1, expected >= 0"),
        ({"inner": {"ratio": "0.5"}}, "doc.yaml: inner.ratio: '0.5', expected a number"),
        ({"inner": {"on": 1}}, "doc.yaml: inner.on: 1, expected true or false"),
        ({"inner": {"hold": "later"}}, "doc.yaml: inner.hold: 'later', expected an integer or 'horizon'"),
        ({"inner": {"side": "up"}}, "doc.yaml: inner.side: 'up', expected one of 'long', 'short'"),
        (
            {"inner": {"raito": 1}},
            "doc.yaml: inner.raito: unknown key (did you mean 'ratio'? expected one of ratio, hold, side, on)",
        ),
        (
            {"items": [{"ratio": 1}, {"zzz": 2}]},
            "doc.yaml: items[1].zzz: unknown key (expected one of ratio, hold, side, on)",
        ),
        ({"inner": 3}, "doc.yaml: inner: 3, expected a mapping of settings"),
    ],
)
def test_bad_values_are_named_by_path(doc: dict, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse(Outer, doc, source="doc.yaml")
    assert str(caught.value) == message


def test_dashes_and_underscores_name_the_same_key() -> None:
    assert parse(Inner, {"hold": "horizon"}, source="x") == Inner(hold="horizon")
    assert parse(Outer, {"inner": {"ratio": 1}}, source="x").inner.ratio == 1.0


def test_a_file_reads_strictly_and_missing_files_are_one_line(tmp_path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("inner: {ratio: 0.25, hold: 3}\n")
    assert load_yaml(Outer, path).inner == Inner(ratio=0.25, hold=3)
    with pytest.raises(SettingsError, match="no such file"):
        load_yaml(Outer, tmp_path / "absent.yaml")
    path.write_text("- a list\n")
    with pytest.raises(SettingsError, match="a list at the top, expected a mapping"):
        load_yaml(Outer, path)


def test_flags_come_from_the_fields_and_override_a_file() -> None:
    parser = argparse.ArgumentParser()
    add_flags(parser, Inner)
    help_text = parser.format_help()
    assert "--ratio" in help_text and "A share. (default 0.5)" in " ".join(help_text.split())
    args = parser.parse_args(["--hold", "horizon", "--on"])
    settings = settings_from(Inner, args, {"ratio": 0.75, "hold": 4})
    assert settings == Inner(ratio=0.75, hold="horizon", on=True)
    with pytest.raises(SettingsError, match="ratio: 2.0, expected <= 1"):
        settings_from(Inner, parser.parse_args(["--ratio", "2"]))


def test_json_schema_carries_descriptions_and_refuses_unknown_keys() -> None:
    schema = json_schema(Inner)
    assert schema["properties"]["ratio"]["description"] == "A share."
    assert schema["additionalProperties"] is False


class Files(Settings):
    path: Path | None = None
    """A file."""
    when: date | None = None
    """A day."""
    sizes: tuple[int, ...] = ()
    """Sizes."""


def test_a_file_reads_paths_dates_and_lists_as_json_does(tmp_path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("path: ca.pem\nwhen: 2020-01-02\nsizes: [1, 2]\n")
    assert load_yaml(Files, path) == Files(path=Path("ca.pem"), when=date(2020, 1, 2), sizes=(1, 2))
    with pytest.raises(SettingsError, match=r"^x: sizes\[1\]: '2', expected an integer$"):
        parse(Files, {"sizes": [1, "2"]}, source="x")


def test_keywords_read_leniently_and_the_error_names_the_class() -> None:
    assert Inner.of(hold="3", on="true") == Inner(hold=3, on=True)
    with pytest.raises(SettingsError, match=r"^Inner: ratio: 2, expected <= 1$"):
        Inner.of(ratio=2)


def test_a_subset_takes_the_fields_of_a_part() -> None:
    class Wide(Inner):
        extra: int = 1

    assert Wide(ratio=0.25, extra=2).subset(Inner) == Inner(ratio=0.25)
