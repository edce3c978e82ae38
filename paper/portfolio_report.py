"""`paper report` of a `--top-k` run: its one account from the journal, beside `run_ranking` of the same bars.

The run's `RankingResult` is made from the journal alone (the account after each step, the fills, the
trades Backtrader closed and those still open, the bars each feed delivered) and written as `backtest
--top-k --out` writes one (`write_ranking`), with `comparison.json`: the run against `run_ranking` over
the journaled bars with the journaled configuration, from the run's first step, compared as a plain run
is (`paper.report.compare`). A replay at pace 0 shows no difference; late bars, stale-signal gaps or a
changed model show where the run parted. A served run's backtest ranks the signals it journaled.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from signalstack.core.errors import InvalidInput
from signalstack.plugin.ranking import RankingResult, run_ranking, write_ranking
from signalstack.plugin.sources import OnnxSource, SignalSource
from signalstack.plugin.stats import performance

from .events import RunConfig
from .journal import Journal
from .report import TOLERANCE, compare, journaled_source, write_paper_report
from .runner import model_file
from .status import bar_frames, equity_frame, fills_frame, trades_frame

ACCOUNT = "portfolio"
"""The name of a `--top-k` run's one account in `equity_frame` and comparison.json."""


def portfolio_results(journal_path: str | Path) -> tuple[RankingResult, RankingResult, dict[str, Any]]:
    """The run's `RankingResult`, `run_ranking`'s over the same bars, and the comparison (comparison.json's
    document: run id, tolerance, `same`, and the account's `compare` figures under "symbols")."""
    with Journal(journal_path, readonly=True) as journal:
        run, signals = journal.config(), journal.events(("signal",))
        bars, fills, trades, equity = (
            bar_frames(journal),
            fills_frame(journal),
            trades_frame(journal),
            equity_frame(journal),
        )
    assert run.ranking is not None
    curve = equity.loc[equity["symbol"] == ACCOUNT]
    if curve.empty:
        raise InvalidInput(
            f"journal {journal_path}: no step of the run has finished yet (expected a run that traded at least one bar)"
        )
    source: SignalSource | dict[str, SignalSource] = (
        OnnxSource(model_file(run))
        if run.server is None
        else {symbol: journaled_source(signals, symbol) for symbol in run.symbols}
    )  # a served run: its signals again
    backtest = run_ranking(
        source,
        {symbol: bars[symbol] for symbol in run.symbols if symbol in bars},
        start=curve["time"].iloc[0],
        cash=run.cash,
        commission=run.commission,
        slippage=run.slippage,
        **_ranking_keywords(run),
    )
    live = _live(
        run,
        backtest,
        pd.Series(curve["value"].to_numpy(), index=pd.DatetimeIndex(curve["time"]), name="strategy"),
        trades,
        fills.drop(columns="order_id"),
    )
    compared = compare(live, backtest)  # type: ignore[arg-type]  # a RankingResult has the figures it reads
    return (
        live,
        backtest,
        {
            "run_id": run.run_id,
            "tolerance": TOLERANCE,
            "same": compared["same"],
            "symbols": {ACCOUNT: compared | {"risk_events": 0}},
        },
    )


def write_portfolio_report(journal_path: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the run's ranking report (`write_ranking`: equity.png, equity.csv, trades.csv, fills.csv,
    stats.json) and comparison.json into `out_dir`; return the paths, the chart first."""
    live, _, comparison = portfolio_results(journal_path)
    paths = write_ranking(live, out_dir)
    paths.append(Path(out_dir) / "comparison.json")
    paths[-1].write_text(json.dumps(comparison, indent=2, default=str) + "\n")
    return paths


def write_run_report(journal_path: str | Path, out_dir: str | Path) -> list[Path]:
    """`paper report`: the report of any run, `write_portfolio_report`'s for a --top-k run, else
    `write_paper_report`'s (an account per feed); the paths, the first to show first."""
    with Journal(journal_path, readonly=True) as journal:
        ranked = journal.config().ranking is not None
    return (write_portfolio_report if ranked else write_paper_report)(journal_path, out_dir)


def _ranking_keywords(run: RunConfig) -> dict[str, Any]:
    """`run_ranking`'s keywords for the journaled run: its strategy settings, top-k, rebalance and line."""
    assert run.ranking is not None
    return {**run.strategy, "top_k": run.ranking.top_k, "rebalance": run.ranking.rebalance, "line": run.ranking.line}


def _live(
    run: RunConfig, backtest: RankingResult, equity: pd.Series, trades: pd.DataFrame, fills: pd.DataFrame
) -> RankingResult:
    """The run's own result: its account curve, trades and fills, with the backtest's benchmark and sleeves (the
    universe held over the same bars)."""
    stats = performance(equity, trades, backtest.params["periods_per_year"], traded_value=float(sum(fills["value"])))
    # summed in order, as the backtest's ledger sums them, so that turnover is the same to the digit
    return replace(
        backtest,
        stats=stats,
        equity=pd.concat([equity, backtest.equity["equal_weight"]], axis=1),
        trades=trades,
        fills=fills,
        params={**backtest.params, "run_id": run.run_id},
    )


__all__ = ["ACCOUNT", "portfolio_results", "write_portfolio_report", "write_run_report"]
