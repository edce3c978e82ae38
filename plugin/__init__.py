"""Backtrader plugin: a model's outputs as an indicator, strategies on them, analyzers, backtests and reports.

Data flows one way: `sources` (ONNX in process, gRPC, or a table) -> `indicators` -> `strategies`
(fills and trades in a `ledger`) -> `backtest` (Cerebro, costs, benchmark) with `analyzers` ->
`stats` -> `report` (`charts`, HTML); `sweep` runs many backtests in worker processes. Importing this
package loads Backtrader and pandas, not torch or onnxruntime; a source loads its runtime when it
is made.
"""

from .analyzers import Performance, SignalQuality
from .backtest import BacktestResult, run_backtest
from .feeds import bars_feed, fundamentals_feed, load_symbols
from .indicators import SignalIndicator
from .report import format_portfolio, format_report, write_portfolio, write_report
from .sources import GrpcSource, OnnxSource, PrecomputedSource, SignalSource, open_source
from .stats import (buy_and_hold, calibration, drawdown, equal_weight, monthly_returns, performance,
                    signal_hit_rate, signal_quality)
from .strategies import RankingStrategy, SignalStrategy
from .sweep import run_sweep, sweep_grid

__all__ = [
    "BacktestResult", "GrpcSource", "OnnxSource", "Performance", "PrecomputedSource", "RankingStrategy",
    "SignalIndicator", "SignalQuality", "SignalSource", "SignalStrategy", "bars_feed", "buy_and_hold",
    "calibration", "drawdown", "equal_weight", "fundamentals_feed", "format_portfolio", "format_report", "load_symbols",
    "monthly_returns", "open_source", "performance", "run_backtest", "run_sweep", "signal_hit_rate",
    "signal_quality", "sweep_grid", "write_portfolio", "write_report",
]
