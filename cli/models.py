"""`signalstack models`: the zoo's architectures and their parameters."""

from __future__ import annotations

import argparse


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the zoo's architectures and their parameters")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from signalstack.models.zoo import get_entry, list_models

    for name in list_models():
        entry = get_entry(name)
        params = ", ".join(f"{k}={v!r}" for k, v in entry.defaults.items())
        print(f"{name:<16} {entry.summary}\n{'':<16} inputs: {', '.join(entry.input_names)}; params: {params}")
