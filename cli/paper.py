"""`signalstack paper`: trade a model on live feeds with a simulated broker, journaled so a crash loses nothing.

`run` starts a run (flags, or a YAML file of them with --config), `resume` continues one from its
journal, `status` reads a journal (also while its run writes it), `stop` sets a run's kill switch,
`report` writes a run's report folder beside a backtest of the same bars, `watch` serves a live page of runs.
`run` and `resume` print, when they end, the status read from the journal after their last event.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from signalstack.paper.config import PaperFile, WatchSettings
from signalstack.transport.security import ClientSecurity, ClientTls

from .flags import add_flags, settings_from

if TYPE_CHECKING:
    from signalstack.paper.runner import PaperResult

_FEED_HELP = (
    "replay:FILE.csv[?pace=SECONDS][&start=DATE]: a finished file's bars, one every pace seconds (0: at "
    "once), ending with the file; tail:FILE.csv[?idle=SECONDS][&start=DATE]: rows another process appends "
    "to the file, as tail -f; SYMBOL=grpc:HOST:PORT[?idle=SECONDS][&start=DATE]: bars pushed to the BarFeed "
    "gRPC service the run serves there (feeds naming one address share it, bars routed by symbol). Bars "
    "before start are warm-up history; tail and grpc feeds end on `paper stop`, SIGTERM or after idle "
    "seconds without a bar. SYMBOL=SPEC names the symbol (default: the file stem); repeat for several "
    "symbols, each traded in an account of its own as backtest's --data are (with --top-k: one ranked "
    "account)"
)


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "paper",
        help="paper-trade a model on live feeds, journaled and resumable",
        description="Runs SignalStrategy on live feeds with Backtrader's simulated broker: the costs "
        "and next-bar-open fills of `backtest`, every step journaled (SQLite) before it is taken, so "
        "`paper resume` continues a crashed or stopped run from its journal alone.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    run = actions.add_parser(
        "run",
        help="start a paper run",
        description="Start a paper run; it ends when its "
        "feeds end, on `paper stop`, SIGTERM or Ctrl-C (a second Ctrl-C exits at once), and "
        "prints its status. One process writes a journal at a time.",
    )
    add_flags(
        run, PaperFile, skip=("feeds",), metavars={"server": "HOST:PORT", "signal_timeout": "SECONDS", "notify": "URL"}
    )
    run.add_argument(
        "--feed", dest="feeds", action="append", default=argparse.SUPPRESS, metavar="SPEC", help=_FEED_HELP
    )
    add_flags(run, ClientSecurity, only=("token",))
    run.add_argument(
        "--config",
        type=Path,
        metavar="FILE.yaml",
        help="settings as YAML, keys named as these flags "
        "(feeds: a list of --feed specs; `signalstack schema paper` lists them); flags given here "
        "override the file",
    )
    run.set_defaults(run=_run)

    resume = actions.add_parser(
        "resume",
        help="continue a run from its journal",
        description="Continue a run from its journal alone (configuration, account, "
        "pending orders, history for the model's warm-up) at the first bar it had not "
        "finished; orders already journaled are never placed twice. Refused while the run's "
        "process lives; a run whose process died is taken over.",
    )
    resume.add_argument("--journal", required=True, type=Path, help="the run's FILE.sqlite")
    add_flags(resume, ClientSecurity, only=("token",))
    add_flags(resume, PaperFile, only=("notify",), metavars={"notify": "URL"})
    resume.set_defaults(run=_resume)

    status = actions.add_parser(
        "status",
        help="where a run stands, from its journal",
        description="Its state (running, stopping, stopped or crashed, with its process "
        "and heartbeat), cash, equity, positions with entry price and unrealised P&L, open "
        "orders, counts of bars, signals, orders, fills and rejected bars, the last bar and "
        "signal per symbol; readable while the run writes.",
    )
    status.add_argument("--journal", required=True, type=Path, help="the run's FILE.sqlite")
    status.add_argument("--json", action="store_true", help="print the status as one JSON object")
    status.set_defaults(run=_status)

    stop = actions.add_parser(
        "stop",
        help="set a run's kill switch",
        description="Write the kill-switch file beside the journal of a running run; it "
        "looks for it every 0.1 s and stops at its next bar (a later `paper resume` trades on). "
        "A run that is not running is left as it is.",
    )
    stop.add_argument("--journal", required=True, type=Path, help="the run's FILE.sqlite")
    stop.add_argument("--flatten", action="store_true", help="close every position before stopping")
    stop.set_defaults(run=_stop)

    report = actions.add_parser(
        "report",
        help="a run's report folder, compared with its backtest",
        description="From the journal alone: the report folder `backtest --out` writes "
        "(report.html, PNG charts, trades.csv, stats.json, config.json; a folder per symbol "
        "and index.html for several feeds) and comparison.json, the run against a backtest "
        "of the bars it saw with its configuration: fills, trades, total return, the largest "
        "equity difference and the first divergence.",
    )
    report.add_argument("--journal", required=True, type=Path, help="the run's FILE.sqlite")
    report.add_argument("--out", required=True, type=Path, help="report folder (created)")
    report.set_defaults(run=_paper_report)

    watch = actions.add_parser(
        "watch",
        help="a live page of runs, from their journals",
        description="Serve one page that follows runs while they trade, read-only on their "
        "journals: state, equity against buy-and-hold, positions, recent orders and fills, the "
        "last signal per symbol with its model and version, stale-signal gaps, rejected bars "
        "and risk events. Its JSON (api/status) is `paper status --json` per journal. Nothing "
        "is loaded from outside this machine.",
    )
    add_flags(
        watch, WatchSettings, metavars={"journal": "FILE.sqlite", "host": "HOST", "port": "PORT", "refresh": "SECONDS"}
    )
    watch.set_defaults(run=_watch)


def _run(args: argparse.Namespace) -> None:
    from signalstack.core.settings import SettingsError, load_yaml
    from signalstack.paper.runner import run_paper

    file = load_yaml(PaperFile, args.config) if args.config is not None else PaperFile()
    settings = settings_from(
        PaperFile,
        args,
        file.model_dump(exclude_unset=True),
        source="flags" if args.config is None else f"{args.config} and flags",
    )
    missing = [
        flag
        for flag, value in (("--model", settings.model), ("--feed", settings.feeds), ("--journal", settings.journal))
        if value is None
    ]
    if missing:
        raise SettingsError(f"{', '.join(missing)}: not given (expected on the command line or in a --config file)")
    if "signal_timeout" in settings.model_fields_set and settings.server is None:
        raise SettingsError(f"--signal-timeout {settings.signal_timeout:g}: applies to signals from a --server only")
    security = ClientSecurity.from_environment(
        getattr(args, "token", None), served=settings.server is not None, **settings.subset(ClientTls).model_dump()
    )
    _report(run_paper(settings.config(security), settings.journal))


def _resume(args: argparse.Namespace) -> None:
    from signalstack.paper.runner import resume_paper

    _report(
        resume_paper(
            args.journal,
            token=ClientSecurity.from_environment(getattr(args, "token", None)).token,
            notify=getattr(args, "notify", ()),
        )
    )


def _report(result: PaperResult) -> None:
    from signalstack.paper.status import format_status

    print(format_status(result.status))
    print(f"session ended: {result.stopped}; journal {result.journal}")


def _status(args: argparse.Namespace) -> None:
    from signalstack.paper.status import format_status, read_status

    status = read_status(args.journal)
    print(json.dumps(status.as_dict(), indent=2) if args.json else format_status(status))


def _paper_report(args: argparse.Namespace) -> None:
    from signalstack.paper.portfolio_report import write_run_report

    written = write_run_report(args.journal, args.out)
    comparison = json.loads(written[-1].read_text())
    for symbol, c in comparison["symbols"].items():
        first = c["first_divergence"]
        print(
            f"{symbol}: fills {c['fills']['live']} / {c['fills']['backtest']} backtest, total return "
            f"{c['total_return']['live']:.2%} / {c['total_return']['backtest']:.2%}, max |equity difference| "
            f"{c['max_abs_equity_difference']}, first divergence: "
            + ("none" if first is None else f"{first['what']} at {first['time']}: {first['cause']}")
        )
    print(f"wrote {written[0]} and {len(written) - 1} more files in {args.out}")


def _stop(args: argparse.Namespace) -> None:
    from signalstack.paper.kill_switch import NotRunning, request_stop
    from signalstack.paper.status import read_status

    try:
        switch = request_stop(args.journal, flatten=args.flatten)
    except NotRunning as exc:
        print(f"{exc}; state: {read_status(args.journal).describe_state()}")
        return
    print(
        f"stop requested ({switch}): the run stops at its next bar"
        + (" once its positions are closed" if args.flatten else "")
    )


def _watch(args: argparse.Namespace) -> None:
    from signalstack.paper.watch import WatchServer
    from signalstack.transport.guard import read_tokens

    settings = settings_from(WatchSettings, args)
    tokens = read_tokens(settings.token_file) if settings.token_file is not None else ()
    server = WatchServer(
        settings.journal, host=settings.host, port=settings.port, tokens=tokens, refresh=settings.refresh
    )
    print(
        f"watching {len(settings.journal)} journal{'s' if len(settings.journal) > 1 else ''} at {server.url}"
        + (" (open it with ?token=TOKEN, a token of --token-file)" if tokens else "")
        + "; Ctrl-C stops",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
