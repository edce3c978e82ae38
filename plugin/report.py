"""A backtest's report: a text table for the terminal, and a folder of PNG, CSV and JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .backtest import BacktestResult

# (label, stat key, format) per table row; percentages are of fractions.
_ROWS = (
    ("total return", "total_return", "{:.2%}"),
    ("CAGR", "cagr", "{:.2%}"),
    ("Sharpe", "sharpe", "{:.2f}"),
    ("max drawdown", "max_drawdown", "{:.2%}"),
    ("trades", "trades", "{:.0f}"),
    ("win rate", "win_rate", "{:.1%}"),
    ("exposure", "exposure", "{:.1%}"),
    ("signal hit rate", "signal_hit_rate", "{:.1%}"),
)


def format_report(result: BacktestResult) -> str:
    """The strategy's statistics next to buy-and-hold's, with the period and costs, as text."""
    p = result.params
    period = "out of sample" if p["out_of_sample"] else "NOT out of sample: includes training/validation bars"
    side = "long/short" if p["allow_short"] else "long only"
    lines = [
        f"backtest of {p['source']}: {p['start'][:10]} .. {p['end'][:10]}, {len(result.equity)} bars ({period})",
        f"{side}, stake {p['stake']:.0%}; buy p_up >= {p['buy_threshold']}, sell p_up <= {p['sell_threshold']}; "
        f"commission {p['commission']:.3%}, slippage {p['slippage']:.3%}",
        "",
        f"{'':<16}{'strategy':>12}{'buy & hold':>12}",
    ]
    for label, key, fmt in _ROWS:
        lines.append(f"{label:<16}{_cell(result.stats, key, fmt):>12}{_cell(result.benchmark, key, fmt):>12}")
    return "\n".join(lines)


def _cell(stats: pd.Series, key: str, fmt: str) -> str:
    value = stats.get(key, math.nan)
    return "-" if pd.isna(value) else fmt.format(value)


def write_report(result: BacktestResult, out_dir: str | Path) -> list[Path]:
    """Write equity.png, trades.csv and stats.json into `out_dir` (created); return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "equity.png", out / "trades.csv", out / "stats.json"]
    _plot(result, paths[0])
    result.trades.to_csv(paths[1], index=False)
    doc = {"strategy": _plain(result.stats), "buy_and_hold": _plain(result.benchmark), "params": result.params}
    paths[2].write_text(json.dumps(doc, indent=2) + "\n")
    return paths


def _plain(stats: pd.Series) -> dict[str, Any]:
    """Stats as JSON values: NaN becomes null."""
    return {key: None if pd.isna(value) else float(value) for key, value in stats.items()}


def _plot(result: BacktestResult, path: Path) -> None:
    """Equity of the strategy and buy-and-hold above the model's p_up with the thresholds.

    Drawn with matplotlib's object API on an Agg canvas: no pyplot, no GUI backend.
    """
    fig = Figure(figsize=(11, 6.5), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    top.plot(result.equity.index, result.equity["strategy"], label="strategy", color="tab:blue")
    top.plot(result.equity.index, result.equity["buy_and_hold"], label="buy & hold", color="tab:gray")
    top.set_ylabel("account value")
    top.set_title(f"{result.params['source']}: {result.params['start'][:10]} .. {result.params['end'][:10]}")
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    bottom.plot(result.probabilities.index, result.probabilities["up"], color="tab:green", linewidth=0.8)
    for threshold in (result.params["buy_threshold"], result.params["sell_threshold"]):
        bottom.axhline(threshold, color="black", linestyle="--", linewidth=0.6)
    bottom.set_ylabel("p_up")
    bottom.grid(alpha=0.3)
    fig.savefig(path, dpi=100)
