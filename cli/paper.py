"""`signalstack paper`: trade a model on live feeds with a simulated broker, journaled so a crash loses nothing.

`run` starts a run (flags, or a YAML file of them with --config), `resume` continues one from its
journal, `status` reads a journal (also while its run writes it), `stop` sets a run's kill switch,
`report` writes a run's report folder beside a backtest of the same bars.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .trading import add_trading_flags, strategy_settings

if TYPE_CHECKING:
    from signalstack.paper.runner import PaperResult

_FEED_HELP = ("replay:FILE.csv[?pace=SECONDS][&start=DATE]: a finished file's bars, one every pace seconds (0: at "
              "once), ending with the file; tail:FILE.csv[?idle=SECONDS][&start=DATE]: rows another process appends "
              "to the file, as tail -f; SYMBOL=grpc:HOST:PORT[?idle=SECONDS][&start=DATE]: bars pushed to the BarFeed "
              "gRPC service the run serves there (feeds naming one address share it, bars routed by symbol). Bars "
              "before start are warm-up history; tail and grpc feeds end on `paper stop`, SIGTERM or after idle "
              "seconds without a bar. SYMBOL=SPEC names the symbol (default: the file stem); repeat for several "
              "symbols, each traded in an account of its own as backtest's --data are")


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("paper", help="paper-trade a model on live feeds, journaled and resumable",
                       description="Runs SignalStrategy on live feeds with Backtrader's simulated broker: the costs "
                       "and next-bar-open fills of `backtest`, every step journaled (SQLite) before it is taken, so "
                       "`paper resume` continues a crashed or stopped run from its journal alone.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    run = actions.add_parser("run", help="start a paper run", description="Start a paper run; it ends when its "
                             "feeds end, on `paper stop` or on SIGTERM, and prints its status.")
    run.add_argument("--model", help="FILE.onnx, run in process; with --server, the NAME of a model "
                     "that server serves (its newest version, picked up as new versions are served)")
    run.add_argument("--server", metavar="HOST:PORT", help="take signals from `signalstack serve` there: one "
                     "StreamSignals stream per symbol, reconnected with backoff if it drops")
    run.add_argument("--signal-timeout", type=float, metavar="SECONDS", help="with --server: how long a live bar "
                     "waits for its signal; a bar without one by then is a stale-signal gap, journaled, with no new "
                     "entry (stops and exits still act) (default 2)")
    run.add_argument("--token", help="with --server: its bearer token (default: $SIGNALSTACK_TOKEN); never "
                     "journaled, so `paper resume` needs it again")
    run.add_argument("--tls-ca", type=Path, metavar="PEM", help="with --server: the CA certificate of the server: "
                     "connect with TLS")
    run.add_argument("--tls-cert", type=Path, metavar="PEM", help="with --tls-ca: client certificate, for servers "
                     "that verify clients")
    run.add_argument("--tls-key", type=Path, metavar="PEM", help="client private key, with --tls-cert")
    run.add_argument("--feed", action="append", metavar="SPEC", help=_FEED_HELP)
    run.add_argument("--journal", type=Path, help="FILE.sqlite to create (a new file)")
    add_trading_flags(run)
    run.add_argument("--max-position", type=float, metavar="FRACTION", help="risk limit: a symbol's position at "
                     "most this fraction of its account's equity; larger entries are cut down (default: no limit)")
    run.add_argument("--max-gross", type=float, metavar="FRACTION", help="risk limit: gross exposure of the run, "
                     "sum of |position value| / sum of equity over its accounts (default: no limit)")
    run.add_argument("--daily-loss-limit", type=float, metavar="FRACTION", help="risk limit: once the run's equity "
                     "is this fraction below the day's start, no entry for the rest of that day; exits still trade "
                     "(default: no limit)")
    run.add_argument("--config", type=Path, metavar="FILE.yaml", help="settings as YAML, keys named as these flags "
                     "(feeds: a list of --feed specs); flags given here override the file")
    _defer_to_config(run)
    run.set_defaults(run=_run)

    resume = actions.add_parser("resume", help="continue a run from its journal",
                                description="Continue a run from its journal alone (configuration, account, "
                                "pending orders, history for the model's warm-up) at the first bar it had not "
                                "finished; orders already journaled are never placed twice.")
    resume.add_argument("--journal", required=True, type=Path, help="the run's FILE.sqlite")
    resume.add_argument("--token", help="the server's bearer token, for a run that used one (default: "
                        "$SIGNALSTACK_TOKEN)")
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
                              "looks for it every 0.1 s and stops at its next bar (a later `paper resume` trades on).")
    stop.add_argument("--journal", required=True, type=Path, help="the run's FILE.sqlite")
    stop.add_argument("--flatten", action="store_true", help="close every position before stopping")
    stop.set_defaults(run=_stop)

    report = actions.add_parser("report", help="a run's report folder, compared with its backtest",
                                description="From the journal alone: the report folder `backtest --out` writes "
                                "(report.html, PNG charts, trades.csv, stats.json, config.json; a folder per symbol "
                                "and index.html for several feeds) and comparison.json, the run against a backtest "
                                "of the bars it saw with its configuration: fills, trades, total return, the largest "
                                "equity difference and the first divergence.")
    report.add_argument("--journal", required=True, type=Path, help="the run's FILE.sqlite")
    report.add_argument("--out", required=True, type=Path, help="report folder (created)")
    report.set_defaults(run=_paper_report)


def _defer_to_config(run: argparse.ArgumentParser) -> None:
    """Let `--config` fill the flags the command line leaves out: each flag's default is kept aside and
    the flag defaults to None (not given) until `_settle` merges the file in."""
    kept = {a.dest: a.default for a in run._actions if a.option_strings and a.dest not in ("help", "config", "token")}
    run.set_defaults(**dict.fromkeys(kept), flag_defaults=kept)


_PATHS = ("journal", "tls_ca", "tls_cert", "tls_key")
"""Settings that are files: a --config file's text becomes a Path, as the flag's would."""


def _settle(args: argparse.Namespace) -> None:
    """Each flag's value: the command line's, else the --config file's, else the flag's default."""
    from signalstack.paper.config import read_config

    settings = read_config(args.config) if args.config is not None else {}
    if "feeds" in settings:
        settings["feed"] = settings.pop("feeds")
    for dest, default in args.flag_defaults.items():
        if getattr(args, dest) is None:
            value = settings.get(dest, default)
            setattr(args, dest, Path(value) if dest in _PATHS and value is not None else value)
    missing = [flag for flag, dest in (("--model", "model"), ("--feed", "feed"), ("--journal", "journal"))
               if getattr(args, dest) is None]
    if missing:
        raise ValueError(f"{', '.join(missing)}: not given (expected on the command line or in a --config file)")


def _run(args: argparse.Namespace) -> None:
    from signalstack.paper.risk import RiskLimits
    from signalstack.paper.runner import PaperConfig, run_paper

    _settle(args)
    if args.signal_timeout is not None and args.server is None:
        raise ValueError(f"--signal-timeout {args.signal_timeout:g}: applies to signals from a --server only")
    served = {} if args.signal_timeout is None else {"signal_timeout": args.signal_timeout}
    token = (args.token or os.environ.get("SIGNALSTACK_TOKEN")) if args.server else args.token
    config = PaperConfig(model=args.model if args.server else Path(args.model), feeds=args.feed, cash=args.cash,
                         commission=args.commission, slippage=args.slippage, strategy=strategy_settings(args),
                         server=args.server, risk=RiskLimits(args.max_position, args.max_gross,
                                                             args.daily_loss_limit),
                         token=token, tls_ca=args.tls_ca, tls_cert=args.tls_cert, tls_key=args.tls_key, **served)
    _report(run_paper(config, args.journal))


def _resume(args: argparse.Namespace) -> None:
    from signalstack.paper.runner import resume_paper

    _report(resume_paper(args.journal, token=args.token or os.environ.get("SIGNALSTACK_TOKEN")))


def _report(result: PaperResult) -> None:
    from signalstack.paper.status import format_status

    print(format_status(result.status))
    print(f"session ended: {result.stopped}; journal {result.journal}")


def _status(args: argparse.Namespace) -> None:
    from signalstack.paper.status import format_status, read_status

    status = read_status(args.journal)
    print(json.dumps(status.as_dict(), indent=2) if args.json else format_status(status))


def _paper_report(args: argparse.Namespace) -> None:
    from signalstack.paper.report import write_paper_report

    written = write_paper_report(args.journal, args.out)
    comparison = json.loads(written[-1].read_text())
    for symbol, c in comparison["symbols"].items():
        first = c["first_divergence"]
        print(f"{symbol}: fills {c['fills']['live']} / {c['fills']['backtest']} backtest, total return "
              f"{c['total_return']['live']:.2%} / {c['total_return']['backtest']:.2%}, max |equity difference| "
              f"{c['max_abs_equity_difference']}, first divergence: "
              + ("none" if first is None else f"{first['what']} at {first['time']}"))
    print(f"wrote {written[0]} and {len(written) - 1} more files in {args.out}")


def _stop(args: argparse.Namespace) -> None:
    from signalstack.paper.kill_switch import request_stop

    switch = request_stop(args.journal, flatten=args.flatten)
    print(f"stop requested ({switch}): the run stops at its next bar"
          + (" once its positions are closed" if args.flatten else ""))
