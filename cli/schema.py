"""`signalstack schema`: the JSON Schema of a settings file, so that editors complete and check the YAML, and the
one reference of its keys (each with its description, written where the setting is declared)."""

from __future__ import annotations

import argparse

KINDS = {
    "experiment": ("signalstack.research.settings", "ExperimentFile", "a research experiment (`signalstack run`)"),
    "paper": ("signalstack.paper.config", "PaperFile", "a `paper run --config` file"),
    "trading": ("signalstack.plugin.settings", "TradingSettings", "the trading settings of backtest and paper runs"),
    "spec": ("signalstack.models.zoo.spec", "Spec", "a net declared layer by layer (`train --model net.yaml`)"),
}
"""Each file kind: the module and the settings class that reads it (imported when asked for), and what it is."""


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "schema",
        help="print the JSON Schema of a settings file kind",
        description="Prints the JSON Schema of a settings file: "
        + "; ".join(f"{kind}: {what}" for kind, (_, _, what) in KINDS.items())
        + ". Point an editor's YAML support at it to complete and check the file.",
    )
    p.add_argument("kind", choices=list(KINDS), help="which file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    import importlib
    import json

    from signalstack.core.settings import json_schema

    module, name, _ = KINDS[args.kind]
    print(json.dumps(json_schema(getattr(importlib.import_module(module), name)), indent=2))
