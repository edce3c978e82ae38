"""The report's charts as matplotlib figures, drawn with the object API on an Agg canvas.

No pyplot and no GUI backend (importing backtrader.plot would force TkAgg), so reports can be
written from worker processes and headless machines.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .backtest import BacktestResult
from .stats import drawdown

_WIDE = (11.0, 4.5)


def _figure(size: tuple[float, float] = _WIDE) -> Figure:
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes, at 100 dpi."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _title(result: BacktestResult, what: str) -> str:
    p = result.params
    name = p["symbol"] or p["source"]
    return f"{name}: {what}, {p['start'][:10]} .. {p['end'][:10]}"


def _label(ax: Axes, ylabel: str, title: str | None = None, legend: str | None = "upper left") -> None:
    """Axis label, optional title and legend, light grid: the same on every chart."""
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if legend:
        ax.legend(loc=legend, fontsize="small")
    ax.grid(alpha=0.3)


def equity_chart(result: BacktestResult) -> Figure:
    """Account value of the strategy and of buy-and-hold at each close."""
    fig = _figure()
    ax = fig.subplots()
    ax.plot(result.equity.index, result.equity["strategy"], label="strategy", color="tab:blue")
    ax.plot(result.equity.index, result.equity["buy_and_hold"], label="buy & hold", color="tab:gray")
    _label(ax, "account value", _title(result, "equity"))
    return fig


def drawdown_chart(result: BacktestResult) -> Figure:
    """Fall from the running peak of the strategy and of buy-and-hold, in percent."""
    fig = _figure((11.0, 3.0))
    ax = fig.subplots()
    for column, color in (("buy_and_hold", "tab:gray"), ("strategy", "tab:red")):
        fall = -100.0 * drawdown(result.equity[column])
        ax.fill_between(fall.index, fall.to_numpy(), 0.0, color=color, alpha=0.35,
                        label="buy & hold" if column == "buy_and_hold" else column)
    _label(ax, "drawdown %", _title(result, "drawdown"), legend="lower left")
    return fig


def price_chart(result: BacktestResult) -> Figure:
    """Closes with the fills marked (buys up, sells down) above the traded signal line and thresholds."""
    fig = _figure((11.0, 6.0))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    top.plot(result.bars.index, result.bars["close"], color="black", linewidth=0.8, label="close")
    for side, marker, color in (("buy", "^", "tab:green"), ("sell", "v", "tab:red")):
        fills = result.fills.loc[result.fills["side"] == side]
        top.scatter(fills["time"], fills["price"], marker=marker, color=color, s=36, label=side, zorder=3)
    _label(top, "price", _title(result, "price and fills"))
    output = _traded_output(result)
    bottom.plot(result.probabilities.index, result.probabilities[output], color="tab:green", linewidth=0.8)
    for threshold in (result.params["buy_threshold"], result.params["sell_threshold"]):
        bottom.axhline(threshold, color="black", linestyle="--", linewidth=0.6)
    _label(bottom, "p_up" if output == "up" else output, legend=None)
    return fig


def _traded_output(result: BacktestResult) -> str:
    """The source output behind the strategy's line: 'up' for p_up, else the line's name."""
    line = result.params["line"]
    return line.removeprefix("p_") if line.startswith("p_") else line


def calibration_chart(result: BacktestResult) -> Figure:
    """Observed share of up outcomes against mean p_up per bucket, with the bucket sizes below."""
    table = result.calibration
    fig = _figure((6.5, 6.0))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    top.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=0.8, label="perfectly calibrated")
    top.plot(table["predicted"], table["observed"], marker="o", color="tab:blue", label="model")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    _label(top, "observed share up", _title(result, f"calibration at horizon {result.params['horizon']}"))
    width = table["high"] - table["low"]
    bottom.bar(table["low"], table["count"], width=width, align="edge", color="tab:blue", alpha=0.5)
    bottom.set_xlabel("predicted p_up")
    _label(bottom, "bars", legend=None)
    return fig


def portfolio_chart(portfolio: pd.DataFrame, sleeves: Mapping[str, pd.Series]) -> Figure:
    """The portfolio against its buy-and-hold, above each symbol's curve as growth of 1."""
    fig = _figure((11.0, 7.0))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    top.plot(portfolio.index, portfolio["strategy"], color="tab:blue", label="portfolio")
    top.plot(portfolio.index, portfolio["buy_and_hold"], color="tab:gray", label="buy & hold")
    _label(top, "account value", f"portfolio of {len(sleeves)} symbols, equal weight")
    for name, curve in sleeves.items():
        bottom.plot(curve.index, curve / curve.iloc[0], linewidth=0.8, label=name)
    _label(bottom, "growth of 1", legend=None)
    bottom.legend(loc="upper left", fontsize="small", ncols=min(len(sleeves), 6))
    return fig
