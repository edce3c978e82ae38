"""`paper report`: a paper run's report folder from its journal, beside a backtest of the same bars.

`paper_results` rebuilds, for each symbol of a run, what `run_backtest` returns (`BacktestResult`)
from the journal alone: the bars the run saw, its signals, its fills, the round trips they make
(as Backtrader counts them: a reversal closes one trade and opens the next) and its account after
each live bar. `write_paper_report` writes them as `backtest --out` does (`plugin.report`: report.html,
PNG charts, trades.csv, stats.json, config.json; a folder per symbol and index.html for several) and
adds `comparison.json`, with a table of it in the page: the run against `run_backtest` of the
journaled bars with the journaled configuration (the same model file, thresholds, sizing, costs,
from each feed's first live bar). A replay at pace 0 without risk limits shows no difference; risk
limits, rejected or late bars, stale-signal gaps or a changed model show where the run parted.

A run that scored through `signalstack serve` has no model file to re-run: its backtest trades the
signals the run journaled (at horizon 1 for the signal-quality figures).
"""

from __future__ import annotations

import hashlib
import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from signalstack.core.bars import COLUMNS
from signalstack.plugin.backtest import BacktestResult, run_backtest
from signalstack.plugin.indicators import OUTPUT_LINES
from signalstack.plugin.ledger import TRADE_COLUMNS
from signalstack.plugin.report import write_portfolio, write_report
from signalstack.plugin.sources import OnnxSource, PrecomputedSource, SignalSource
from signalstack.plugin.stats import buy_and_hold, calibration, performance, signal_quality

from .journal import Event, Journal
from .status import fills_frame

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
        config = journal.config()
        events = journal.events(("bar", "signal", "snapshot", "risk"))
        fills = fills_frame(journal).drop(columns="order_id")
    by_symbol: dict[str, dict[str, list[Event]]] = {}
    for event in events:
        by_symbol.setdefault(event.symbol or "", {}).setdefault(event.kind, []).append(event)
    traded = [feed["symbol"] for feed in config["feeds"] if by_symbol.get(feed["symbol"], {}).get("snapshot")]
    if not traded:
        raise ValueError(f"journal {journal_path}: no symbol has a finished live bar yet (expected a run that traded "
                         "at least one bar)")
    signals = {s: _signals(by_symbol[s].get("signal", [])) for s in traded}
    source = _backtest_source(config, signals)
    live, backtest, compared = {}, {}, {}
    for symbol in traded:
        events_of = by_symbol[symbol]
        bars = _bars(events_of["bar"])
        start = pd.Timestamp(events_of["snapshot"][0].time)
        backtest[symbol] = run_backtest(source if source is not None else _replayed(signals[symbol]), bars,
                                        start=start, symbol=symbol, cash=config["cash"],
                                        commission=config["commission"], slippage=config["slippage"],
                                        **config["strategy"])
        live[symbol] = _live_result(config, symbol, bars, start, events_of["snapshot"], signals[symbol],
                                    fills.loc[fills["symbol"] == symbol].reset_index(drop=True), backtest[symbol])
        compared[symbol] = compare(live[symbol], backtest[symbol]) | {"risk_events": len(events_of.get("risk", []))}
    comparison = {"run_id": config["run_id"], "tolerance": TOLERANCE, "same": all(c["same"] for c in compared.values()),
                  "symbols": compared}
    return PaperReport(live=live, backtest=backtest, comparison=comparison)


def write_paper_report(journal_path: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the run's report folder (as `backtest --out` does) and comparison.json into `out_dir`;
    return the paths, the page first."""
    report = paper_results(journal_path)
    out = Path(out_dir)
    if len(report.live) > 1:
        paths = write_portfolio(report.live, out, "Paper run")
    else:
        paths = write_report(next(iter(report.live.values())), out, "Paper run")
    paths.append(out / "comparison.json")
    paths[-1].write_text(json.dumps(report.comparison, indent=2, default=str) + "\n")
    page = paths[0].read_text()
    paths[0].write_text(page.replace("</body>", _comparison_section(report.comparison) + "\n</body>", 1))
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


def _bars(events: Sequence[Event]) -> pd.DataFrame:
    """The bars a feed delivered (history and live), as `load_bars` gives them."""
    frame = pd.DataFrame([[e.payload[c] for c in COLUMNS] for e in events], columns=list(COLUMNS),
                         index=pd.DatetimeIndex([pd.Timestamp(e.time) for e in events], name="datetime"),
                         dtype=np.float64)
    return frame.sort_index()


def _signals(events: Sequence[Event]) -> pd.DataFrame:
    """The journaled signals, one column per output column of the model."""
    rows = {pd.Timestamp(e.time): {k: v for k, v in e.payload.items() if k in OUTPUT_LINES} for e in events}
    return pd.DataFrame.from_dict(rows, orient="index", dtype=np.float64).sort_index()


def _backtest_source(config: Mapping[str, Any], signals: Mapping[str, pd.DataFrame]) -> SignalSource | None:
    """The run's model file, unchanged since the run began; None for a served model (its signals are replayed)."""
    if config.get("server"):
        return None
    model = Path(config["model"])
    if not model.is_file() or hashlib.sha256(model.read_bytes()).hexdigest() != config["model_sha256"]:
        raise ValueError(f"model {model}: {'changed' if model.is_file() else 'missing'} since run {config['run_id']} "
                         f"began (expected the file with sha256 {config['model_sha256']} to backtest against)")
    return OnnxSource(model)


def _replayed(signals: pd.DataFrame) -> PrecomputedSource:
    if signals.empty:
        raise ValueError("no journaled signals to replay: expected a served run that scored at least one bar")
    return PrecomputedSource(signals, name="journaled signals")


def _live_result(config: Mapping[str, Any], symbol: str, bars: pd.DataFrame, start: pd.Timestamp,
                 snapshots: Sequence[Event], signals: pd.DataFrame, fills: pd.DataFrame,
                 backtest: BacktestResult) -> BacktestResult:
    """What the run did with `symbol`, in a backtest's terms; statistics computed as `run_backtest` does."""
    params = {**backtest.params, "run_id": config["run_id"]}
    periods = params["periods_per_year"]
    equity = pd.Series([e.payload["value"] for e in snapshots], name="strategy",
                       index=pd.DatetimeIndex([pd.Timestamp(e.time) for e in snapshots]))
    trades = round_trips(fills, bars.index, config["commission"])
    stats = performance(equity, trades, periods, traded_value=float(fills.loc[fills["time"] >= start, "value"].sum()))
    line = params["line"]
    output = next((column for column, name in OUTPUT_LINES.items() if name == line), line)
    score = signals[output].loc[start:] if output in signals else pd.Series(dtype=np.float64)
    probability = line.startswith("p_")
    quality = signal_quality(score, bars["close"], params["horizon"], 0.5 if probability else 0.0,
                             probability=probability)
    stats["signal_hit_rate"] = quality["hit_rate"]
    benchmark = buy_and_hold(bars, start, config["cash"], config["commission"])
    return BacktestResult(
        stats=stats, benchmark=performance(benchmark, None, periods), equity=pd.concat([equity, benchmark], axis=1),
        trades=trades, fills=fills, probabilities=signals.loc[start:], params=params, quality=quality,
        calibration=calibration(score, bars["close"], params["horizon"]) if probability else pd.DataFrame(),
        bars=bars.loc[start:])


def round_trips(fills: pd.DataFrame, bar_index: pd.DatetimeIndex, commission: float) -> pd.DataFrame:
    """The round trips of one symbol's fills, as Backtrader's trades make them and `Ledger.trades` rows
    them: a fill against the position closes it (a reversal's opening part starts the next trade, with
    the commission of each part); entry price is the average of the adding fills; `bars` counts the
    bars of `bar_index` from the entry fill to the exit fill."""
    rows: list[dict[str, Any]] = []
    trade: dict[str, Any] | None = None
    for fill in fills.itertuples(index=False):
        size, price = fill.size, float(fill.price)  # sizes keep their type: whole units stay integers
        position = trade["held"] if trade else 0.0
        if position and (position > 0) != (size > 0):
            closed = -position if abs(size) >= abs(position) else size
            opened = size - closed
            charge = fill.commission if not opened else abs(closed) * commission * price
            _update(trade, closed, price, charge, fill.time)
            if not trade["held"]:
                trade.update(exit_time=fill.time, exit_price=price, bars=float(
                    bar_index.get_loc(fill.time) - bar_index.get_loc(trade["entry_time"])))
                rows.append(trade)
                trade = None
            if opened:
                trade = _opened(fill, opened, price, abs(opened) * commission * price)
        elif trade:
            _update(trade, size, price, fill.commission, fill.time)
        else:
            trade = _opened(fill, size, price, fill.commission)
    if trade is not None:
        rows.append(trade | {"pnl": math.nan})  # still open: no pnl yet, as the ledger rows it
    frame = pd.DataFrame([{c: row.get(c, math.nan) for c in TRADE_COLUMNS} for row in rows], columns=list(TRADE_COLUMNS))
    for column in ("entry_time", "exit_time"):
        frame[column] = pd.to_datetime(frame[column])
    return frame.sort_values("entry_time", kind="stable").reset_index(drop=True)


def _opened(fill: Any, size: float, price: float, charge: float) -> dict[str, Any]:
    return {"symbol": fill.symbol, "entry_time": fill.time, "direction": "long" if size > 0 else "short",
            "held": size, "size": abs(size), "entry_price": price, "commission": charge, "pnl": 0.0,
            "exit_time": pd.NaT, "exit_price": math.nan, "pnl_net": math.nan, "bars": math.nan}


def _update(trade: dict[str, Any], size: float, price: float, charge: float, time: pd.Timestamp) -> None:
    """Backtrader's `Trade.update`: commission first, then the average price or the realised pnl."""
    trade["commission"] += charge
    old = trade["held"]
    trade["held"] = old + size
    if abs(trade["held"]) > abs(old):
        trade["entry_price"] = (old * trade["entry_price"] + size * price) / trade["held"]
    else:
        trade["pnl"] += -size * (price - trade["entry_price"])
    trade["size"] = max(trade["size"], abs(trade["held"]))
    if not trade["held"]:
        trade["pnl_net"] = trade["pnl"] - trade["commission"]


def _comparison_section(comparison: Mapping[str, Any]) -> str:
    """The comparison as an HTML section: one row per symbol."""
    def pair(value: Mapping[str, Any], fmt: str) -> str:
        return f"{fmt.format(value['live'])} / {fmt.format(value['backtest'])}"

    rows = []
    for symbol, c in comparison["symbols"].items():
        first = c["first_divergence"]
        said = "none" if first is None else f"{first['what']} at {first['time']}"
        cells = [symbol, pair(c["fills"], "{}"), pair(c["trades"], "{}"), pair(c["total_return"], "{:.2%}"),
                 _difference(c["max_abs_equity_difference"]), str(c["risk_events"]), said]
        rows.append("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>")
    header = "".join(f"<th>{h}</th>" for h in ("symbol", "fills (run / backtest)", "trades (run / backtest)",
                                               "total return (run / backtest)", "max |equity difference|",
                                               "risk events", "first divergence"))
    verdict = "the run traded as its backtest" if comparison["same"] else "the run and its backtest differ"
    return (f"<h2>Paper run {html.escape(comparison['run_id'])} against its backtest</h2>\n"
            f'<p class="meta">{verdict} (tolerance {comparison["tolerance"]:g}; details in comparison.json)</p>\n'
            f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _difference(value: float | None) -> str:
    return "no common bar" if value is None else f"{value:,.6g}"


__all__ = ["TOLERANCE", "PaperReport", "compare", "paper_results", "round_trips", "write_paper_report"]
