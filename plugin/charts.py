"""The report's charts as matplotlib figures, drawn with the object API on an Agg canvas.

No pyplot and no GUI backend (importing backtrader.plot would force TkAgg), so reports can be
written from worker processes and headless machines.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .backtest import BacktestResult
from .stats import drawdown

_WIDE = (11.0, 4.5)
_SHADES = ("tab:orange", "tab:red", "tab:purple", "tab:brown")


@dataclass(frozen=True)
class Marks:
    """What a run's time charts show beside its curves: spans of bars shaded by what happened to them (a
    paper run's stale-signal gaps, rejected bars), each with its label, and moments marked by a line (its
    resumes). A span covers its first to its last bar, half a bar's spacing wider on each side."""

    spans: Sequence[tuple[pd.Timestamp, pd.Timestamp, str]] = ()
    moments: Sequence[tuple[pd.Timestamp, str]] = ()


def _mark(ax: Axes, marks: Marks, index: pd.DatetimeIndex, legend: bool = True) -> None:
    """Shade `marks`' spans (one colour per label, labelled once) and draw its moments on `ax`."""
    half = (index.to_series().diff().median() / 2) if len(index) > 1 else pd.Timedelta(hours=12)
    colours: dict[str, str] = {}
    for first, last, label in marks.spans:
        new = label not in colours
        colour = colours.setdefault(label, _SHADES[len(colours) % len(_SHADES)])
        ax.axvspan(
            first - half, last + half, color=colour, alpha=0.25, linewidth=0, label=label if new and legend else None
        )
    for i, (moment, label) in enumerate(marks.moments):
        ax.axvline(moment, color="tab:purple", linestyle=":", linewidth=1.0, label=label if i == 0 and legend else None)


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


def equity_chart(
    result: BacktestResult, marks: Marks = Marks(), others: Mapping[str, pd.Series] | None = None
) -> Figure:
    """Account value of the strategy and of buy-and-hold at each close, and of `others` (label: curve, e.g. a
    paper run's backtest), with `marks`."""
    fig = _figure()
    ax = fig.subplots()
    ax.plot(result.equity.index, result.equity["strategy"], label="strategy", color="tab:blue")
    for (label, curve), style in zip((others or {}).items(), ("--", "-.", ":")):
        ax.plot(curve.index, curve, label=label, color="tab:cyan", linestyle=style)
    ax.plot(result.equity.index, result.equity["buy_and_hold"], label="buy & hold", color="tab:gray")
    _mark(ax, marks, result.equity.index)
    _label(ax, "account value", _title(result, "equity"))
    return fig


def drawdown_chart(result: BacktestResult, marks: Marks = Marks()) -> Figure:
    """Fall from the running peak of the strategy and of buy-and-hold, in percent, with `marks`."""
    fig = _figure((11.0, 3.0))
    ax = fig.subplots()
    for column, color in (("buy_and_hold", "tab:gray"), ("strategy", "tab:red")):
        fall = -100.0 * drawdown(result.equity[column])
        ax.fill_between(
            fall.index,
            fall.to_numpy(),
            0.0,
            color=color,
            alpha=0.35,
            label="buy & hold" if column == "buy_and_hold" else column,
        )
    _mark(ax, marks, result.equity.index)
    _label(ax, "drawdown %", _title(result, "drawdown"), legend="lower left")
    return fig


def price_chart(result: BacktestResult, marks: Marks = Marks()) -> Figure:
    """Closes with the fills marked (buys up, sells down) above the traded signal line and thresholds, with
    `marks`. The signal line is broken where it has no value (a bar without a signal), never drawn across."""
    fig = _figure((11.0, 6.0))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    top.plot(result.bars.index, result.bars["close"], color="black", linewidth=0.8, label="close")
    for side, marker, color in (("buy", "^", "tab:green"), ("sell", "v", "tab:red")):
        fills = result.fills.loc[result.fills["side"] == side]
        top.scatter(fills["time"], fills["price"], marker=marker, color=color, s=36, label=side, zorder=3)
    _mark(top, marks, result.bars.index)
    _label(top, "price", _title(result, "price and fills"))
    output = _traded_output(result)
    bottom.plot(result.probabilities.index, result.probabilities[output], color="tab:green", linewidth=0.8)
    for threshold in (result.params["buy_threshold"], result.params["sell_threshold"]):
        bottom.axhline(threshold, color="black", linestyle="--", linewidth=0.6)
    _mark(bottom, marks, result.bars.index, legend=False)
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
