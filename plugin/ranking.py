"""`run_ranking`: hold the top-k symbols of a universe by a model's score, in one account.

Where `run_backtest` trades each symbol in an account of its own on thresholds, a ranking model
(or any model, by p_up) is traded across symbols: every `rebalance` bars `RankingStrategy` holds
the `top_k` best-scored symbols, equally weighted, and closes the rest. The benchmark is the
universe held equally weighted (each sleeve bought at the open after `start`, as a backtest's
buy-and-hold is). Orders decided on a bar's close fill at the next bar's open.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import backtrader as bt
import pandas as pd

from signalstack.core.errors import InvalidInput

from .analyzers import Performance
from .backtest import configure_broker
from .charts import png_bytes, portfolio_chart
from .feeds import bars_feed
from .report import plain_stats
from .settings import TradingSettings
from .sources import SignalSource
from .stats import buy_and_hold, equal_weight, performance
from .strategies import RankingStrategy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RankingResult:
    """What a ranking backtest produced; every frame covers [start, end] only."""

    stats: pd.Series
    """The account's `performance`."""
    benchmark: pd.Series
    """`performance` of the universe held equally weighted over the same bars and costs."""
    equity: pd.DataFrame
    """Columns strategy and equal_weight: account value at each close."""
    sleeves: pd.DataFrame
    """Each symbol bought and held with the whole cash, one column per symbol: the benchmark's parts."""
    trades: pd.DataFrame
    fills: pd.DataFrame
    params: dict[str, Any]


def run_ranking(
    source: SignalSource | Mapping[str, SignalSource],
    universe: Mapping[str, pd.DataFrame],
    settings: TradingSettings | None = None,
    *,
    top_k: int = 1,
    rebalance: int | None = None,
    line: str | None = None,
    start: str | date | datetime | pd.Timestamp | None = None,
    **trading: Any,
) -> RankingResult:
    """Trade `RankingStrategy` over `universe` ({symbol: bars}) and compare it with holding all symbols.

    Of `settings` (default `TradingSettings()`, with keywords named as its fields applied over them) the
    stake, cash, costs and periods_per_year apply. `rebalance` defaults to the model's horizon, `line` to
    "score" for a ranking model, else p_up; `start` (default: the model's test period start) is the first
    decision time. The clock is the union of the symbols' bar times, from the first at/after `start` to the
    last bar of any symbol: at each time the symbols with a bar then are ranked, and one that is suspended,
    not yet listed or delisted is skipped (see `RankingStrategy`). Raises InvalidInput for a symbol with no
    bar at or after the start (it could be neither traded nor held).
    """
    if len(universe) < 2:
        raise InvalidInput(f"ranking over {len(universe)} symbol(s): expected at least 2 (repeat --data)")
    settings = (settings or TradingSettings()).replaced(**trading)
    stake, cash, commission, slippage, periods_per_year = (
        settings.stake,
        settings.cash,
        settings.commission,
        settings.slippage,
        settings.periods_per_year,
    )
    first = source if not isinstance(source, Mapping) else next(iter(source.values()))
    rebalance = first.horizon if rebalance is None else rebalance
    begin = pd.Timestamp(start) if start is not None else first.test_start
    traded = {symbol: bars.index[bars.index >= begin] for symbol, bars in universe.items()}
    ended = [f"{symbol} (last bar {universe[symbol].index[-1]})" for symbol, times in traded.items() if not len(times)]
    if ended:
        raise InvalidInput(
            f"start {begin}: {', '.join(ended)} end before it, expected every symbol to have a bar at "
            "or after the start"
        )
    start_bar, end = min(times[0] for times in traded.values()), max(times[-1] for times in traded.values())
    cerebro = bt.Cerebro(stdstats=False)
    for symbol, bars in universe.items():
        cerebro.adddata(bars_feed(bars, symbol))
    configure_broker(cerebro.broker, cash, commission, slippage)
    cerebro.addstrategy(
        RankingStrategy, source=source, line=line, top_k=top_k, rebalance=rebalance, stake=stake, start=start_bar
    )
    cerebro.addanalyzer(Performance, _name="performance", start=start_bar, periods_per_year=periods_per_year)
    run = cerebro.run()[0]
    account = run.analyzers.performance
    sleeves = {s: buy_and_hold(bars, start_bar, cash, commission) for s, bars in universe.items()}
    benchmark = equal_weight(sleeves, cash).loc[start_bar:].rename("equal_weight")
    names = first.name if not isinstance(source, Mapping) else ", ".join(s.name for s in source.values())
    params = {
        "symbols": list(universe),
        "source": names,
        "start": start_bar.isoformat(),
        "end": end.isoformat(),
        "out_of_sample": bool(start_bar >= first.test_start),
        "top_k": top_k,
        "rebalance": rebalance,
        "stake": stake,
        "line": run.p.line or ("score" if "score" in first.columns else "p_up"),
        "cash": cash,
        "commission": commission,
        "slippage": slippage,
        "periods_per_year": periods_per_year,
    }
    log.info("ranking backtest of %s over %d symbols from %s", names, len(universe), start_bar.date())
    return RankingResult(
        stats=account.stats,
        benchmark=performance(benchmark, None, periods_per_year),
        equity=pd.concat([account.equity, benchmark], axis=1),
        sleeves=pd.concat(sleeves, axis=1, sort=True).loc[start_bar:],
        trades=account.trades,
        fills=account.fills,
        params=params,
    )


def format_ranking(result: RankingResult) -> str:
    """A terminal table: the account against the universe held equally weighted."""
    p = result.params
    rows = [
        ("total return", "total_return", "{:.2%}"),
        ("CAGR", "cagr", "{:.2%}"),
        ("Sharpe", "sharpe", "{:.2f}"),
        ("max drawdown", "max_drawdown", "{:.2%}"),
        ("turnover / year", "turnover", "{:.1f}x"),
        ("trades", "trades", "{:.0f}"),
    ]
    lines = [
        f"ranking {', '.join(p['symbols'])}: top {p['top_k']} by {p['line']} of {p['source']}, rebalanced every "
        f"{p['rebalance']} bars, {p['start'][:10]} .. {p['end'][:10]}"
        + ("" if p["out_of_sample"] else " (includes bars the model was trained or validated on)"),
        f"{'':18}{'strategy':>12}{'equal weight':>14}",
    ]
    for label, key, fmt in rows:
        cells = [fmt.format(s[key]) if key in s and pd.notna(s[key]) else "-" for s in (result.stats, result.benchmark)]
        lines.append(f"{label:18}{cells[0]:>12}{cells[1]:>14}")
    return "\n".join(lines)


def write_ranking(result: RankingResult, out_dir: str | Path) -> list[Path]:
    """Write equity.png, equity.csv, trades.csv, fills.csv and stats.json into `out_dir` (created)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "equity.png", out / "equity.csv", out / "trades.csv", out / "fills.csv", out / "stats.json"]
    portfolio = result.equity.rename(columns={"equal_weight": "buy_and_hold"})
    sleeves = {symbol: result.sleeves[symbol] for symbol in result.sleeves.columns}
    paths[0].write_bytes(png_bytes(portfolio_chart(portfolio, sleeves)))
    result.equity.rename_axis("time").to_csv(paths[1])
    result.trades.to_csv(paths[2], index=False)
    result.fills.to_csv(paths[3], index=False)
    doc = {
        "strategy": plain_stats(result.stats),
        "equal_weight": plain_stats(result.benchmark),
        "params": result.params,
    }
    paths[4].write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return paths
