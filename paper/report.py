"""`paper report`: a paper run's report folder from its journal, beside a backtest of the same bars.

`paper_results` makes, for each symbol of a run, what `run_backtest` returns (`BacktestResult`, through
the same `backtest_result`) from the journal alone: the bars the run saw, its signals, its fills, the
trades Backtrader closed (and the one still open) and its account after each live bar.
`write_paper_report` writes them as `backtest --out` does (`plugin.report`: report.html, PNG charts,
trades.csv, stats.json, config.json; a folder per symbol and index.html for several) and adds
`comparison.json`, with a section of it on the page: the run against `run_backtest` of the journaled
bars with the journaled configuration (the same model file, thresholds, sizing, costs, from each
feed's first live bar). A replay at pace 0 without risk limits shows no difference; risk limits,
rejected or late bars, stale-signal gaps or a changed model show where the run parted.

A run that scored through `signalstack serve` has no model file to re-run: its backtest trades the
signals the run journaled (at horizon 1 for the signal-quality figures).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from signalstack.plugin.backtest import BacktestResult, backtest_result, run_backtest
from signalstack.plugin.report import Section, write_portfolio, write_report
from signalstack.plugin.sources import OnnxSource, PrecomputedSource

from .events import Signal
from .journal import Event, Journal
from .runner import model_file
from .status import bar_frames, equity_frame, fills_frame, trades_frame

TOLERANCE = 1e-9
"""Relative difference below which a price, size, commission or account value counts as the same."""


@dataclass(frozen=True)
class PaperReport:
    """A run's results per symbol, the backtests they are compared with, and the comparison."""

    live: dict[str, BacktestResult]
    backtest: dict[str, BacktestResult]
    comparison: dict[str, Any]
    """As comparison.json: run id, tolerance, and per symbol the figures of `compare`."""


def paper_results(journal_path: str | Path) -> PaperReport:
    """Each symbol's paper result and its backtest over the same bars, from the journal at `journal_path`."""
    with Journal(journal_path, readonly=True) as journal:
        run, signals = journal.config(), journal.events(("signal",))
        risks = Counter(e.symbol for e in journal.events(("risk",)))
        bars, fills, trades, equity = bar_frames(journal), fills_frame(journal), trades_frame(journal), equity_frame(
            journal)
    traded = [symbol for symbol in run.symbols if (equity["symbol"] == symbol).any()]
    if not traded:
        raise ValueError(f"journal {journal_path}: no symbol has a finished live bar yet (expected a run that traded "
                         "at least one bar)")
    source = None if run.server else OnnxSource(model_file(run))  # a served run's backtest replays its signals
    live, backtest, compared = {}, {}, {}
    for symbol in traded:
        curve = equity.loc[equity["symbol"] == symbol]
        start = curve["time"].iloc[0]
        outputs = _signals(signals, symbol)
        backtest[symbol] = run_backtest(source if source is not None else _replayed(outputs), bars[symbol],
                                        start=start, symbol=symbol, cash=run.cash, commission=run.commission,
                                        slippage=run.slippage, **run.strategy)
        live[symbol] = backtest_result(
            {**backtest[symbol].params, "run_id": run.run_id}, bars[symbol],
            pd.Series(curve["value"].to_numpy(), index=pd.DatetimeIndex(curve["time"]), name="strategy"),
            _of(trades, symbol), _of(fills, symbol).drop(columns="order_id"), outputs)
        compared[symbol] = compare(live[symbol], backtest[symbol]) | {"risk_events": risks.get(symbol, 0)}
    comparison = {"run_id": run.run_id, "tolerance": TOLERANCE, "same": all(c["same"] for c in compared.values()),
                  "symbols": compared}
    return PaperReport(live=live, backtest=backtest, comparison=comparison)


def write_paper_report(journal_path: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the run's report folder (as `backtest --out` does) and comparison.json into `out_dir`;
    return the paths, the page first."""
    report = paper_results(journal_path)
    out, sections = Path(out_dir), [_comparison_section(report.comparison)]
    if len(report.live) > 1:
        paths = write_portfolio(report.live, out, "Paper run", sections)
    else:
        paths = write_report(next(iter(report.live.values())), out, "Paper run", sections)
    paths.append(out / "comparison.json")
    paths[-1].write_text(json.dumps(report.comparison, indent=2, default=str) + "\n")
    return paths


def compare(live: BacktestResult, backtest: BacktestResult) -> dict[str, Any]:
    """The run against its backtest: fills and closed trades counted, total returns, the largest gap
    between the equity curves, the first fill or account value that differs (None: none), `same`."""
    divergence = _first_fill_difference(live.fills, backtest.fills)
    curves = pd.concat({"live": live.equity["strategy"], "backtest": backtest.equity["strategy"]}, axis=1)
    gap = (curves["live"] - curves["backtest"]).abs()
    worst = float(gap.max()) if gap.notna().any() else None  # None: the curves share no bar
    if divergence is None:
        off = curves.index[curves.isna().any(axis=1) | (gap > TOLERANCE * curves["backtest"].abs())]
        if len(off):
            at = off[0]
            divergence = {"what": "equity", "time": at.isoformat(), "live": _value(curves.at[at, "live"]),
                          "backtest": _value(curves.at[at, "backtest"])}
    return {
        "fills": {"live": len(live.fills), "backtest": len(backtest.fills)},
        "trades": {"live": int(live.stats["trades"]), "backtest": int(backtest.stats["trades"])},
        "total_return": {"live": float(live.stats["total_return"]), "backtest": float(backtest.stats["total_return"])},
        "max_abs_equity_difference": worst,
        "first_divergence": divergence,
        "same": divergence is None,
    }


def _first_fill_difference(live: pd.DataFrame, backtest: pd.DataFrame) -> dict[str, Any] | None:
    """The first fill (in order) that the run and the backtest do not share, or None."""
    for i in range(max(len(live), len(backtest))):
        ours = live.iloc[i] if i < len(live) else None
        theirs = backtest.iloc[i] if i < len(backtest) else None
        if ours is not None and theirs is not None and ours["time"] == theirs["time"] \
                and ours["side"] == theirs["side"] and all(
                    math.isclose(ours[k], theirs[k], rel_tol=TOLERANCE, abs_tol=TOLERANCE)
                    for k in ("size", "price", "commission")):
            continue
        first = ours if ours is not None else theirs
        return {"what": "fill", "number": i + 1, "time": pd.Timestamp(first["time"]).isoformat(),
                "live": _fill(ours), "backtest": _fill(theirs)}
    return None


def _fill(row: pd.Series | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"time": pd.Timestamp(row["time"]).isoformat(), "side": row["side"], "size": float(row["size"]),
            "price": float(row["price"]), "commission": float(row["commission"])}


def _value(value: float) -> float | None:
    return None if pd.isna(value) else float(value)


def _of(frame: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """The rows of `symbol`, numbered from 0."""
    return frame.loc[frame["symbol"] == symbol].reset_index(drop=True)


def _signals(events: Sequence[Event[Signal]], symbol: str) -> pd.DataFrame:
    """`symbol`'s journaled signals, one column per output column of the model."""
    rows = {pd.Timestamp(e.time): e.payload.outputs for e in events if e.symbol == symbol}
    return pd.DataFrame.from_dict(rows, orient="index", dtype=np.float64).sort_index()


def _replayed(signals: pd.DataFrame) -> PrecomputedSource:
    if signals.empty:
        raise ValueError("no journaled signals to replay: expected a served run that scored at least one bar")
    return PrecomputedSource(signals, name="journaled signals")


def _comparison_section(comparison: Mapping[str, Any]) -> Section:
    """The comparison as a report section: one row per symbol."""
    def pair(value: Mapping[str, Any], fmt: str) -> str:
        return f"{fmt.format(value['live'])} / {fmt.format(value['backtest'])}"

    rows = [[symbol, pair(c["fills"], "{}"), pair(c["trades"], "{}"), pair(c["total_return"], "{:.2%}"),
             _difference(c["max_abs_equity_difference"]), str(c["risk_events"]),
             "none" if c["first_divergence"] is None else f"{c['first_divergence']['what']} at "
                                                           f"{c['first_divergence']['time']}"]
            for symbol, c in comparison["symbols"].items()]
    verdict = "the run traded as its backtest" if comparison["same"] else "the run and its backtest differ"
    return Section(f"Paper run {comparison['run_id']} against its backtest",
                   [f"{verdict} (tolerance {comparison['tolerance']:g}; details in comparison.json)"],
                   ["symbol", "fills (run / backtest)", "trades (run / backtest)", "total return (run / backtest)",
                    "max |equity difference|", "risk events", "first divergence"], rows)


def _difference(value: float | None) -> str:
    return "no common bar" if value is None else f"{value:,.6g}"


__all__ = ["TOLERANCE", "PaperReport", "compare", "paper_results", "write_paper_report"]
