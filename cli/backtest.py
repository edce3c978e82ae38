"""`signalstack backtest`: a model's signals traded in Backtrader against buy-and-hold, with a report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from signalstack.core.errors import SettingsError
from signalstack.plugin import defaults
from signalstack.plugin.settings import TradingSettings
from signalstack.transport.security import ClientSecurity

from .flags import add_flags, given, settings_from


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backtest",
        help="backtest a model's signals in Backtrader vs buy-and-hold",
        description="Runs SignalStrategy over the model's out-of-sample period (from its "
        "test_range start) unless --start says otherwise. Orders fill at the next bar's open. "
        "Several --data give one report per symbol and a portfolio page; with --top-k they are "
        "traded as one ranked account instead (RankingStrategy); --sweep backtests a grid of "
        "parameters in parallel processes and tabulates them.",
    )
    p.add_argument(
        "--model",
        required=True,
        help="FILE.onnx (in process), FILE.csv of precomputed predictions "
        "(time column, then down/up, forecast or score), grpc://HOST:PORT/MODEL, or a model name "
        "with --server",
    )
    p.add_argument(
        "--data",
        required=True,
        action="append",
        metavar="BARS",
        help="CSV of OHLCV bars, sample:sp500 / sample:nasdaq, or SYMBOL=CSV; repeat for several symbols",
    )
    p.add_argument("--server", metavar="HOST:PORT", help="score through a running signalstack server")
    add_flags(p, ClientSecurity)
    p.add_argument(
        "--out",
        type=Path,
        help="report folder (report.html, PNG charts, trades.csv, stats.json, "
        "config.json; a folder per symbol and index.html for several --data; sweep.csv for --sweep)",
    )
    p.add_argument("--start", help="first decision date (default: the model's test period start)")
    p.add_argument(
        "--fundamentals",
        metavar="CSV",
        help="dated fundamental factors for a two-input model "
        "(the columns its card names; first column: the date each row became known)",
    )
    add_flags(p, TradingSettings)
    p.add_argument(
        "--top-k",
        type=int,
        metavar="K",
        help="rank the --data symbols by the model's score (p_up, or "
        "--line, for a model without one) and hold the best K, equally weighted, in one account",
    )
    p.add_argument(
        "--rebalance",
        type=int,
        metavar="BARS",
        help="with --top-k: bars between rebalances (default: the model's horizon)",
    )
    p.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="NAME=START:STOP:STEP",
        help="sweep a run_backtest parameter (STOP included, or NAME=V1,V2,...); repeat for a grid",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=defaults.SWEEP_WORKERS,
        help=f"processes for --sweep (default {defaults.SWEEP_WORKERS})",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from signalstack.core.bars import load_symbols
    from signalstack.core.fundamentals import load_fundamentals
    from signalstack.plugin.backtest import run_backtest
    from signalstack.plugin.report import format_portfolio, format_report, write_portfolio, write_report
    from signalstack.plugin.sources import open_source
    from signalstack.plugin.sweep import format_sweep, run_sweep, sweep_grid

    spec = f"grpc://{args.server}/{args.model}" if args.server else args.model
    served = bool(args.server or spec.startswith("grpc://"))
    security = ClientSecurity.from_environment(served=served, **given(args, ClientSecurity))
    trading = settings_from(TradingSettings, args)
    settings: dict[str, Any] = {"settings": trading, "start": args.start}
    if args.fundamentals:
        settings["fundamentals"] = load_fundamentals(args.fundamentals)
    universe = load_symbols(args.data)
    if args.top_k is not None:
        _rank(args, spec, security, universe, trading)
        return
    if args.rebalance is not None:
        raise SettingsError(f"--rebalance {args.rebalance}: applies to a ranking backtest (give --top-k)")
    if args.sweep:
        grid = sweep_grid(args.sweep)
        table = run_sweep(
            spec,
            universe if len(universe) > 1 else next(iter(universe.values())),
            grid,
            workers=args.workers,
            security=security,
            **settings,
        )
        print(format_sweep(table, list(grid[0])))
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            table.to_csv(args.out / "sweep.csv", index=False)
            print(f"wrote {args.out / 'sweep.csv'}")
        return
    source = open_source(spec, security=security)
    try:
        results = {name: run_backtest(source, bars, symbol=name, **settings) for name, bars in universe.items()}
    finally:
        getattr(source, "close", lambda: None)()  # a server's channel
    print("\n\n".join(format_report(result) for result in results.values()))
    if len(results) > 1:
        print("\n" + format_portfolio(results))
    if args.out:
        written = (
            write_portfolio(results, args.out)
            if len(results) > 1
            else write_report(next(iter(results.values())), args.out)
        )
        print(f"wrote {written[0]} and {len(written) - 1} more files in {args.out}")


def _rank(
    args: argparse.Namespace, spec: str, security: ClientSecurity, universe: dict[str, Any], trading: TradingSettings
) -> None:
    """`--top-k`: one account holding the best-scored symbols (`run_ranking`)."""
    from signalstack.plugin.ranking import format_ranking, run_ranking, write_ranking
    from signalstack.plugin.sources import open_source

    if args.sweep or args.fundamentals:
        raise SettingsError("--top-k: a ranking backtest takes neither --sweep nor --fundamentals")
    source = open_source(spec, security=security)
    try:
        line = "score" if "score" in source.columns else trading.line
        result = run_ranking(
            source, universe, trading, top_k=args.top_k, rebalance=args.rebalance, line=line, start=args.start
        )
    finally:
        getattr(source, "close", lambda: None)()
    print(format_ranking(result))
    if args.out:
        written = write_ranking(result, args.out)
        print(f"wrote {len(written)} files in {args.out}")
