"""`paper run --config paper.yaml`: the file's settings, the command line over them, unknown keys refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from signalstack.cli import main
from signalstack.core.settings import SettingsError, json_schema, load_yaml
from signalstack.paper.config import PaperFile
from signalstack.paper.journal import Journal


def _write(path: Path, settings: dict) -> Path:
    path.write_text(yaml.safe_dump(settings))
    return path


def test_a_run_takes_its_settings_from_the_file_and_flags_override_them(
    paper_model: Path,
    replay_csv: Path,
    start: str,
    thresholds: dict[str, float],
    journal_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _write(
        journal_dir / "paper.yaml",
        {
            "model": str(paper_model),
            "feeds": [f"SPX=replay:{replay_csv}?start={start}"],
            "journal": str(journal_dir / "from-file.sqlite"),
            "buy-threshold": thresholds["buy_threshold"],
            "sell_threshold": thresholds["sell_threshold"],
            "allow_short": True,
            "stake": 0.5,
            "hold": 3,
            "cash": 50_000,
            "commission": 0.002,
            "max_position": 0.3,
            "daily_loss_limit": 0.1,
        },
    )
    override = journal_dir / "override.sqlite"
    assert (
        main(
            [
                "paper",
                "run",
                "--config",
                str(config),
                "--journal",
                str(override),
                "--stake",
                "0.95",
                "--commission",
                "0.001",
                "--max-gross",
                "1.5",
            ]
        )
        == 0
    )
    assert "session ended: feeds ended" in capsys.readouterr().out
    assert not (journal_dir / "from-file.sqlite").exists()  # --journal overrode the file's journal
    with Journal(override, readonly=True) as journal:
        run = journal.config()
        risks = journal.events(("risk",))
    assert run.symbols == ["SPX"] and run.model == str(paper_model.resolve())
    assert (run.cash, run.commission) == (50_000, 0.001)  # the file's cash, the flag's commission
    assert run.strategy | {"stake": None} == {
        "line": "p_up",
        "buy_threshold": thresholds["buy_threshold"],
        "sell_threshold": thresholds["sell_threshold"],
        "allow_short": True,
        "sizing": "percent",
        "stake": None,
        "vol_target": 0.15,
        "periods_per_year": None,
        "vol_window": 20,
        "stop_loss": None,
        "take_profit": None,
        "hold": 3,
        "min_margin": 0.0,
    }
    assert run.strategy["stake"] == 0.95
    assert run.risk == {"max_position": 0.3, "max_gross": 1.5, "daily_loss_limit": 0.1}
    assert risks and {e.payload.limit for e in risks} <= {"max_position", "max_gross", "daily_loss_limit"}


def test_flags_alone_still_need_model_feed_and_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _write(tmp_path / "partial.yaml", {"stake": 0.5})
    assert main(["paper", "run", "--config", str(config), "--model", "m.onnx"]) == 1
    assert (
        "--feed, --journal: not given (expected on the command line or in a --config file)" in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        (
            {"max_loss": 0.1},
            "max_loss: unknown key (did you mean 'max_gross'? expected one of model, server, "
            "signal_timeout, feeds, journal, notify, tls_ca, tls_cert, tls_key, line, ",
        ),
        ({"feed": "replay:x.csv"}, "feed: unknown key (did you mean 'feeds'? expected one of"),
        ({"stake": "lots"}, "stake: 'lots', expected a number"),
        ({"allow_short": "yes"}, "allow_short: 'yes', expected true or false"),
        ({"hold": -1}, "hold: -1, expected >= 0 or 'horizon'"),
        ({"feeds": []}, "feeds: [], expected text or a list of at least 1 item"),
        ({"stake": 2}, "stake 2.0 with percent sizing: expected a fraction of equity in (0, 1]"),
    ],
    ids=["unknown", "feed-not-feeds", "number", "bool", "hold", "feeds", "stake"],
)
def test_a_bad_key_or_value_is_an_error_naming_it(
    tmp_path: Path, settings: dict, error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write(tmp_path / "bad.yaml", settings)
    with pytest.raises(SettingsError, match=r"^\S*bad\.yaml: ") as raised:
        load_yaml(PaperFile, config)
    assert error in str(raised.value)
    assert main(["paper", "run", "--config", str(config)]) == 1
    assert error in capsys.readouterr().err


def test_the_file_is_read_as_documented(tmp_path: Path) -> None:
    from signalstack.paper import config as module

    example = "\n".join(
        line.split("#")[0].removeprefix("    ") for line in module.__doc__.splitlines() if line.startswith("    ")
    )
    settings = load_yaml(PaperFile, _write(tmp_path / "doc.yaml", yaml.safe_load(example)))
    assert settings.feeds == ["SPX=replay:spx.csv?pace=0&start=2018-06-01"] and settings.max_gross == 1.0
    one = load_yaml(PaperFile, _write(tmp_path / "one.yaml", {"feeds": "replay:a.csv", "stop_loss": None}))
    assert one.model_dump(exclude_unset=True) == {"feeds": ["replay:a.csv"], "stop_loss": None}
    assert one.model_dump(exclude_defaults=True) == {"feeds": ["replay:a.csv"]}
    (tmp_path / "list.yaml").write_text("- model\n")
    with pytest.raises(SettingsError, match="a list at the top, expected a mapping of settings"):
        load_yaml(PaperFile, tmp_path / "list.yaml")
    with pytest.raises(SettingsError, match="no such file"):
        load_yaml(PaperFile, tmp_path / "missing.yaml")


def test_every_key_is_documented_in_the_schema() -> None:
    properties = json_schema(PaperFile)["properties"]
    assert set(properties) == set(PaperFile.model_fields)
    assert all(spec.get("description") for spec in properties.values())


def test_the_keys_are_the_flags_of_paper_run() -> None:
    import argparse

    from signalstack.cli import _parser

    def subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
        actions = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return actions.choices[name]

    run = subparser(subparser(_parser(), "paper"), "run")
    flags = {a.dest for a in run._actions if a.option_strings} - {"help", "config"}
    assert set(PaperFile.model_fields) == flags - {"token"}  # a secret stays out of files: --token or the env
