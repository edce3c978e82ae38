"""The research report's charts as matplotlib figures, drawn with the object API on an Agg canvas.

No pyplot and no GUI backend, as `plugin.charts`, so a run writes its report in any process and on a headless
machine. Each function takes plain pandas data; `report.py` lays the figures out on the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

SEED = "seed"
ENSEMBLE = "ensemble"
BENCHMARK = "benchmark"
BASELINE = "baseline"
_STYLES = {
    ENSEMBLE: {"color": "black", "linestyle": "--", "linewidth": 1.6},
    BENCHMARK: {"color": "darkgray", "linewidth": 1.6},
    BASELINE: {"color": "black", "linestyle": "-.", "linewidth": 1.0},
}
"""How a curve of each kind is drawn; each seed gets a colour of its own, solid."""


def _figure(size: tuple[float, float]) -> Figure:
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _style(kind: str, number: int) -> dict[str, object]:
    return _STYLES.get(kind, {"color": f"C{number % 10}", "linewidth": 1.0})


def _finish(ax: Axes, ylabel: str, title: str) -> None:
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")


def equity_chart(curves: Sequence[tuple[str, str, pd.Series]], title: str) -> Figure:
    """Account value of each (name, kind, equity) curve at each close; kinds: `SEED`, `ENSEMBLE`, `BENCHMARK`,
    `BASELINE`."""
    fig = _figure((11.0, 4.5))
    ax = fig.subplots()
    for number, (name, kind, equity) in enumerate(curves):
        ax.plot(equity.index, equity.to_numpy(), label=name, **_style(kind, number))
    _finish(ax, "account value", title)
    return fig


def histograms(panels: Sequence[tuple[str, Sequence[float], float]]) -> Figure:
    """Per (title, surrogate runs' values, the real run's value) a histogram of the values with the real one marked by
    a red line, side by side (one figure: one image to draw)."""
    fig = _figure((11.0, 3.4))
    for ax, (title, values, real) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels, strict=True):
        finite = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype="float64")
        if len(finite):
            ax.hist(
                finite,
                bins=max(5, min(20, len(finite) // 2)),
                color="tab:blue",
                alpha=0.6,
                label=f"{len(finite)} surrogate runs",
            )
        if real is not None and np.isfinite(real):
            ax.axvline(real, color="tab:red", linewidth=2.0, label=f"model {real:.4f}")
        ax.tick_params(labelsize="small")
        _finish(ax, "surrogate runs", title)
    return fig


def calibration_chart(tables: Mapping[str, pd.DataFrame], title: str) -> Figure:
    """Observed share of up labels against mean p_up per bucket, one line per {name: table} (columns predicted,
    observed, count), the bucket sizes below."""
    fig = _figure((6.5, 5.5))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    top.plot([0, 1], [0, 1], color="gray", linestyle=":", linewidth=0.8, label="perfectly calibrated")
    width = 0.8 / (10 * max(len(tables), 1))
    for number, (name, table) in enumerate(tables.items()):
        top.plot(table["predicted"], table["observed"], marker="o", label=name, **_style(SEED, number))
        bottom.bar(
            table["low"] + number * width, table["count"], width=width, align="edge", color=f"C{number % 10}", alpha=0.6
        )
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    _finish(top, "observed share up", title)
    bottom.set_xlabel("predicted p_up")
    bottom.set_ylabel("samples")
    bottom.grid(alpha=0.3)
    return fig


def ic_chart(values: pd.DataFrame, title: str, ylabel: str) -> Figure:
    """Each column of `values` (a seed's IC per date) over time, with zero marked."""
    fig = _figure((11.0, 3.8))
    ax = fig.subplots()
    ax.axhline(0.0, color="black", linewidth=0.6)
    for number, name in enumerate(values.columns):
        ax.plot(values.index, values[name].to_numpy(), label=str(name), **_style(SEED, number))
    _finish(ax, ylabel, title)
    return fig
