"""`signalstack paper`: trade a model on live feeds with a simulated broker, journaled so a crash loses nothing.

`run` starts a run, `resume` continues one from its journal, `status` reads a journal (also while
its run writes it), `stop` sets a run's kill switch.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from .trading import add_trading_flags, strategy_settings

if TYPE_CHECKING:
    from signalstack.paper.runner import PaperResult

_FEED_HELP = ("replay:FILE.csv[?pace=SECONDS][&start=DATE]: the file's bars as a live feed, bars before start as "
              "warm-up history, then one bar every pace seconds (0: at once); SYMBOL=SPEC names the symbol "
              "(default: the file stem); repeat for several symbols, each traded in an account of its own as backtest's "
              "--data are")


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("paper", help="paper-trade a model on live feeds, journaled and resumable",
                       description="Runs SignalStrategy on live feeds with Backtrader's simulated broker: the costs "
                       "and next-bar-open fills of `backtest`, every step journaled (SQLite) before it is taken, so "
                       "`paper resume` continues a crashed or stopped run from its journal alone.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    run = actions.add_parser("run", help="start a paper run", description="Start a paper run; it ends when its "
                             "feeds end, on `paper stop` or on SIGTERM, and prints its status.")
    run.add_argument("--model", required=True, type=Path, help="FILE.onnx, run in process")
    run.add_argument("--feed", required=True, action="append", metavar="SPEC", help=_FEED_HELP)
    run.add_argument("--journal", required=True, type=Path, help="FILE.sqlite to create (a new file)")
    add_trading_flags(run)
    run.set_defaults(run=_run)

    resume = actions.add_parser("resume", help="continue a run from its journal",
                                description="Continue a run from its journal alone (configuration, account, "
                                "pending orders, history for the model's warm-up) at the first bar it had not "
                                "finished; orders already journaled are never placed twice.")
    resume.add_argument("--journal", required=True, type=Path, help="the run's FILE.sqlite")
    resume.set_defaults(run=_resume)

    status = actions.add_parser("status", help="where a run stands, from its journal",
                                description="Cash, equity, positions, open orders, counts of bars, signals, "
                                "orders, fills and rejected bars, the last bar and signal per symbol; readable while "
                                "the run writes.")
    status.add_argument("--journal", required=True, type=Path, help="the run's FILE.sqlite")
    status.add_argument("--json", action="store_true", help="print the status as one JSON object")
    status.set_defaults(run=_status)

    stop = actions.add_parser("stop", help="set a run's kill switch",
                              description="Write the kill-switch file beside the journal; the running strategy "
                              "checks it each bar and stops (a later `paper resume` trades on).")
    stop.add_argument("--journal", required=True, type=Path, help="the run's FILE.sqlite")
    stop.add_argument("--flatten", action="store_true", help="close every position before stopping")
    stop.set_defaults(run=_stop)


def _run(args: argparse.Namespace) -> None:
    from signalstack.paper.runner import PaperConfig, run_paper

    config = PaperConfig(model=args.model, feeds=args.feed, cash=args.cash, commission=args.commission,
                         slippage=args.slippage, strategy=strategy_settings(args))
    _report(run_paper(config, args.journal))


def _resume(args: argparse.Namespace) -> None:
    from signalstack.paper.runner import resume_paper

    _report(resume_paper(args.journal))


def _report(result: PaperResult) -> None:
    from signalstack.paper.status import format_status

    print(format_status(result.status))
    print(f"session ended: {result.stopped}; journal {result.journal}")


def _status(args: argparse.Namespace) -> None:
    from signalstack.paper.status import format_status, read_status

    status = read_status(args.journal)
    print(json.dumps(status, indent=2) if args.json else format_status(status))


def _stop(args: argparse.Namespace) -> None:
    from signalstack.paper.kill_switch import request_stop

    switch = request_stop(args.journal, flatten=args.flatten)
    print(f"stop requested ({switch}): the run stops at its next bar"
          + (" once its positions are closed" if args.flatten else ""))
