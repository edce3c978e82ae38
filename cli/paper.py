"""`signalstack paper`: trade a model on live feeds with a simulated broker, journaled so a crash loses nothing.

`run` starts a run, `resume` continues one from its journal, `status` reads a journal (also while
its run writes it), `stop` sets a run's kill switch.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from signalstack.plugin import defaults

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
    _strategy_flags(run)
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


def _strategy_flags(p: argparse.ArgumentParser) -> None:
    """SignalStrategy's flags, named and defaulted as `signalstack backtest` names them."""
    p.add_argument("--line", default="p_up", choices=("p_up", "forecast", "score"),
                   help="indicator line the thresholds apply to (forecast for a regression model)")
    p.add_argument("--buy-threshold", type=float, default=defaults.BUY_THRESHOLD,
                   help=f"go long above this (default {defaults.BUY_THRESHOLD})")
    p.add_argument("--sell-threshold", type=float, default=defaults.SELL_THRESHOLD,
                   help=f"exit (or go short) below this (default {defaults.SELL_THRESHOLD})")
    p.add_argument("--allow-short", action="store_true", help="go short below --sell-threshold (default: only exit)")
    p.add_argument("--sizing", choices=("percent", "fixed", "volatility"), default="percent",
                   help="percent: --stake of equity; fixed: --stake units; volatility: --vol-target, at most --stake")
    p.add_argument("--stake", type=float, default=defaults.STAKE,
                   help=f"fraction of equity per position (units with fixed; default {defaults.STAKE})")
    p.add_argument("--vol-target", type=float, default=defaults.VOL_TARGET,
                   help=f"annualised volatility to size for (default {defaults.VOL_TARGET})")
    p.add_argument("--periods-per-year", type=float, metavar="N",
                   help="bars per year for volatility sizing (default: inferred from the bar times)")
    p.add_argument("--stop-loss", type=float, help="exit when a close is this fraction against the entry")
    p.add_argument("--take-profit", type=float, help="exit when a close is this fraction beyond the entry")
    p.add_argument("--hold", default="0", help="bars to hold each position, or 'horizon' for the model's (default 0)")
    p.add_argument("--min-margin", type=float, default=0.0, help="ignore bars with |p_up - p_down| below this")
    p.add_argument("--cash", type=float, default=defaults.CASH, help=f"starting cash of each feed's account (default {defaults.CASH:g})")
    p.add_argument("--commission", type=float, default=defaults.COMMISSION,
                   help=f"fraction of traded value (default {defaults.COMMISSION})")
    p.add_argument("--slippage", type=float, default=defaults.SLIPPAGE,
                   help=f"fraction of price, against the order (default {defaults.SLIPPAGE})")


def _run(args: argparse.Namespace) -> None:
    from signalstack.paper.runner import PaperConfig, run_paper

    strategy = {"line": args.line, "buy_threshold": args.buy_threshold, "sell_threshold": args.sell_threshold,
                "allow_short": args.allow_short, "sizing": args.sizing, "stake": args.stake,
                "vol_target": args.vol_target, "periods_per_year": args.periods_per_year, "stop_loss": args.stop_loss,
                "take_profit": args.take_profit, "hold": args.hold if args.hold == "horizon" else int(args.hold),
                "min_margin": args.min_margin}
    config = PaperConfig(model=args.model, feeds=args.feed, cash=args.cash, commission=args.commission,
                         slippage=args.slippage, strategy=strategy)
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
