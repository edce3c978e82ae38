"""`signalstack summary`: a Keras-style table of a model's layers, output shapes and parameter counts."""

from __future__ import annotations

import argparse

from .common import key_value, parse_params


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "summary",
        help="a Keras-style table of a model's layers and parameters",
        description="MODEL is a zoo name (input shapes default to the reference post's) or a "
        "spec file (.yaml/.yml/.json). Parameter counts are given for torch and Keras: torch's "
        "recurrent layers carry two bias vectors where Keras has one.",
    )
    p.add_argument("model", metavar="MODEL", help="zoo name or spec file")
    p.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME=D1,D2",
        help="input shape without the batch axis, e.g. --input features=60,21; repeatable",
    )
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="architecture parameter")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from signalstack.models.zoo import summary

    inputs = {
        name: tuple(int(d) for d in dims.split(","))
        for name, dims in (key_value(text, "--input") for text in args.input)
    }
    print(summary(args.model, inputs or None, **parse_params(args.param)))
