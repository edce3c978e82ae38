"""`signalstack compare`: run folders side by side, and whether their differences are more than their spread."""

from __future__ import annotations

import argparse
from pathlib import Path


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="runs side by side: experiment differences, metrics, tests",
        description="Read back the folders `signalstack run` wrote and print them side by side: the "
        "keys whose values differ in their experiment files, each headline metric as mean ± std (n) "
        "over folds x seeds with its surrogate percentile, and, for each run after the first against "
        "the first, whether the difference is more than the spread of their fold results: a paired "
        "t-test across the folds when both tested the same folds, else Welch's t-test on all fold "
        "results (the table says which).",
    )
    p.add_argument(
        "runs",
        nargs="+",
        type=Path,
        metavar="RUN_DIR",
        help="run folders (at least two); the first is the one the others are compared with",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="FILE.html",
        help="also write the comparison as a static HTML page (opens with no network)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from signalstack.research.compare import compare, format_comparison, write_html

    comparison = compare(args.runs)
    print(format_comparison(comparison), end="")
    if args.out is not None:
        print(f"page: {write_html(comparison, args.out)}")
