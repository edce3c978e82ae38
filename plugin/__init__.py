"""Backtrader plugin: a model's outputs as an indicator, strategies on them, analyzers, backtests and reports.

Data flows one way: `sources` (ONNX in process, gRPC, or a table) and `feeds` (bars as Backtrader
data) -> `indicators` -> `strategies` (fills and trades in a `ledger`) -> `backtest` (Cerebro, costs,
benchmark) or `ranking` (the top-k of a universe in one account) with `analyzers` -> `stats` ->
`report` (`charts`, HTML); `sweep` runs many backtests in worker processes; `settings` and
`defaults` hold the trading settings and their defaults. Importing this package loads nothing; each
name below loads its module (Backtrader, pandas, matplotlib) when first used, never torch, and a
source loads its runtime (onnxruntime, or a gRPC channel) when it is made.
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = {
    "analyzers": ("Performance", "SignalQuality"),
    "backtest": ("BacktestResult", "run_backtest"),
    "feeds": ("bars_feed", "fundamentals_feed"),
    "indicators": ("SignalIndicator",),
    "ranking": ("RankingResult", "format_ranking", "run_ranking", "write_ranking"),
    "report": ("format_portfolio", "format_report", "write_portfolio", "write_report"),
    "sources": ("GrpcSource", "OnnxSource", "PrecomputedSource", "SignalSource", "open_source"),
    "stats": (
        "buy_and_hold",
        "calibration",
        "drawdown",
        "equal_weight",
        "monthly_returns",
        "performance",
        "signal_hit_rate",
        "signal_quality",
    ),
    "strategies": ("RankingStrategy", "SignalStrategy"),
    "sweep": ("run_sweep", "sweep_grid"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    """The public name `name`, imported from its module on first use."""
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
